//! [`Workspace`]: the one owner of a workspace folder's sync in this process — its
//! `.ferry/` lock, its [`StatusHub`] and `.ferry/status.json`, and one [`SyncTask`] per
//! sync path with its control channel. `ferry sync` and `ferry lsp` both go through it;
//! neither assembles a sync of its own.
//!
//! Sync paths are identified by their *slot* (their place in the config, from 0) within
//! one workspace, never by name: two workspaces may each have a path called `web`.
//!
//! Life: [`Workspace::open`] (state folder, lock, hub, status file writer) →
//! [`Workspace::start`] (the tasks) → [`Workspace::changed`], [`Workspace::resync`] while
//! it runs → [`Workspace::stop`] (every task told to stop at its next batch boundary,
//! waited for, the last status written, the lock released) or, for `--once`,
//! [`Workspace::finish`] (waits for the tasks to end by themselves).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::connect::KubeConnector;
use super::endpoint::{self, PathHandle, Served};
use super::replicas::Supervisor;
use super::resolve::{OpenConflict, Resolve};
use super::status::{status_file, write_status_file};
use super::task::{Control, EngineError, EngineOptions, RunSummary, SyncTask};
use super::StatusHub;
use crate::config::{Replicas, SyncPath};
use crate::core::RelPath;
use crate::state::lock::{LockError, WorkspaceLock};
use crate::target::KubeOverrides;

/// How long a sync path may take to answer a request (it answers between batches).
const CONTROL_ANSWER: Duration = Duration::from_secs(30);

/// How often `.ferry/status.json` may be rewritten at most.
const STATUS_FILE_GAP: Duration = Duration::from_millis(100);

/// How a workspace syncs.
#[derive(Clone, Debug)]
pub struct WorkspaceOptions {
    /// Kubeconfig, context and namespace overrides.
    pub kube: KubeOverrides,
    /// Whether ferry watches the local folders itself (see
    /// [`EngineOptions::watch_local`]).
    pub watch_local: bool,
}

impl Default for WorkspaceOptions {
    fn default() -> Self {
        WorkspaceOptions {
            kube: KubeOverrides::default(),
            watch_local: true,
        }
    }
}

/// Why a workspace could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// `.ferry/` could not be created.
    #[error("cannot create {dir}: {source}")]
    StateDir { dir: String, source: std::io::Error },
    /// Another process owns the workspace.
    #[error("{0}")]
    Locked(LockError),
    /// The lock file could not be used.
    #[error("{0}")]
    Lock(LockError),
}

/// One running sync path.
struct SyncPathRun {
    slot: usize,
    sync: SyncPath,
    control: mpsc::UnboundedSender<Control>,
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<RunSummary, EngineError>>,
}

/// A sync path that could not be started (its excludes do not compile, …).
#[derive(Debug)]
pub struct StartError {
    /// Its slot.
    pub slot: usize,
    /// The sync path.
    pub sync: SyncPath,
    /// Why.
    pub error: EngineError,
}

/// How the sync paths of a workspace ended.
#[derive(Debug, Default)]
pub struct Finished {
    /// Per slot: the task's summary, or `None` when it failed or was aborted.
    pub summaries: Vec<(usize, Option<RunSummary>)>,
}

/// The owner of one workspace folder's sync (see the module doc).
pub struct Workspace {
    root: PathBuf,
    state_dir: PathBuf,
    lock: Option<WorkspaceLock>,
    hub: Arc<StatusHub>,
    opts: Arc<EngineOptions>,
    paths: Vec<SyncPathRun>,
    writer: JoinHandle<()>,
    /// What the control endpoint sees of the running paths, and the endpoint's task.
    served: Served,
    endpoint: Option<JoinHandle<()>>,
}

impl Workspace {
    /// Opens the workspace at `root` for `owner` (what the lock file names, e.g.
    /// `ferry sync`): creates `.ferry/`, takes its lock, starts the status file writer.
    /// Must run inside a tokio runtime.
    pub fn open(
        root: &Path,
        owner: &str,
        options: WorkspaceOptions,
    ) -> Result<Workspace, OpenError> {
        let state_dir = crate::state::state_dir(root).map_err(|source| OpenError::StateDir {
            dir: root.join(crate::state::STATE_DIR).display().to_string(),
            source,
        })?;
        let lock = WorkspaceLock::acquire(&state_dir, owner).map_err(|e| match e {
            LockError::Held(_) | LockError::HeldUnknown => OpenError::Locked(e),
            e => OpenError::Lock(e),
        })?;
        let hub = StatusHub::new();
        let writer = crate::logging::spawn_scoped(write_status_file(
            hub.clone(),
            state_dir.clone(),
            STATUS_FILE_GAP,
        ));
        let mut opts = EngineOptions::new(state_dir.clone());
        opts.kube = options.kube;
        opts.watch_local = options.watch_local;
        let served = Served {
            hub: hub.clone(),
            paths: Arc::default(),
        };
        let endpoint = endpoint::serve(&state_dir, served.clone());
        Ok(Workspace {
            root: root.to_path_buf(),
            state_dir,
            lock: Some(lock),
            hub,
            opts: Arc::new(opts),
            paths: Vec::new(),
            writer,
            served,
            endpoint,
        })
    }

    /// Starts one task per sync path (slots in config order); `once` ends each after its
    /// initial sync. Returns the paths that could not start; the others run.
    pub fn start(&mut self, sync: Vec<SyncPath>, once: bool) -> Vec<StartError> {
        let mut errors = Vec::new();
        for (slot, sync) in sync.into_iter().enumerate() {
            match self.spawn_path(slot, &sync, once) {
                Ok((control, stop, task)) => {
                    self.served
                        .paths
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(PathHandle {
                            slot,
                            sync: sync.clone(),
                            requester: Requester {
                                name: sync.name.clone(),
                                control: control.clone(),
                            },
                            stop: stop.clone(),
                        });
                    self.paths.push(SyncPathRun {
                        slot,
                        sync,
                        control,
                        stop,
                        task,
                    });
                }
                Err(error) => errors.push(StartError { slot, sync, error }),
            }
        }
        errors
    }

    /// Starts the task of sync path `slot`: a [`SyncTask`], or for `replicas: all` the
    /// [`Supervisor`] of its replicas. Returns its control sender, stop switch and task.
    #[allow(clippy::type_complexity)]
    fn spawn_path(
        &self,
        slot: usize,
        sync: &SyncPath,
        once: bool,
    ) -> Result<
        (
            mpsc::UnboundedSender<Control>,
            watch::Sender<bool>,
            JoinHandle<Result<RunSummary, EngineError>>,
        ),
        EngineError,
    > {
        let (stop, stopped) = watch::channel(false);
        match sync.replicas {
            Replicas::One => {
                let mut task =
                    SyncTask::new(slot, sync.clone(), self.opts.clone(), self.hub.clone())?;
                let control = task.controller();
                let run = crate::logging::spawn_scoped(task.run(once, stopped));
                Ok((control, stop, run))
            }
            Replicas::All => {
                let connector = Arc::new(KubeConnector::new(self.opts.kube.clone()));
                let (supervisor, control, primary) = Supervisor::new(
                    slot,
                    sync.clone(),
                    self.opts.clone(),
                    self.hub.clone(),
                    connector,
                )?;
                let run = crate::logging::spawn_scoped(supervisor.run(primary, once, stopped));
                Ok((control, stop, run))
            }
        }
    }

    /// The workspace folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Its `.ferry/` folder.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// Its live status.
    pub fn hub(&self) -> &Arc<StatusHub> {
        &self.hub
    }

    /// The running sync paths: slot and config entry.
    pub fn sync_paths(&self) -> impl Iterator<Item = (usize, &SyncPath)> {
        self.paths.iter().map(|p| (p.slot, &p.sync))
    }

    /// Whether a sync path has ended (stopped by [`Workspace::stop_path`], or failed for
    /// good): starting the workspace again resumes it.
    pub fn has_ended_paths(&self) -> bool {
        self.paths.iter().any(|p| p.task.is_finished())
    }

    /// Stops sync path `slot` at its next batch boundary (its index saved there, its
    /// state `stopped`); the others go on.
    pub fn stop_path(&self, slot: usize) {
        if let Some(p) = self.paths.iter().find(|p| p.slot == slot) {
            let _ = p.stop.send(true);
        }
    }

    /// Tells the sync path that holds the absolute `path` that it changed (a save in
    /// the editor, a change the client's watcher saw). Returns whether one holds it.
    pub fn changed(&self, path: &Path) -> bool {
        // ferry's own writes, reported back by a client's `**/*` watcher.
        if path.starts_with(&self.state_dir) {
            return false;
        }
        let mut held = false;
        for p in &self.paths {
            let Ok(rel) = path.strip_prefix(&p.sync.local_path) else {
                continue;
            };
            if let Ok(rel) = RelPath::from_path(rel) {
                held = true;
                let _ = p.control.send(Control::Changed(vec![rel]));
            }
        }
        held
    }

    /// A handle to ask sync path `slot` things (conflicts, resolutions) from a task of
    /// its own; `None` when no such path runs.
    pub fn requester(&self, slot: usize) -> Option<Requester> {
        self.paths
            .iter()
            .find(|p| p.slot == slot)
            .map(|p| Requester {
                name: p.sync.name.clone(),
                control: p.control.clone(),
            })
    }

    /// Asks every sync path to compare both sides again.
    pub fn resync(&self) {
        for p in &self.paths {
            let _ = p.control.send(Control::Rescan);
        }
    }

    /// A handle that asks every sync path to stop at its next batch boundary (for a
    /// signal handler; [`Workspace::finish`] then waits for them).
    pub fn stopper(&self) -> Stopper {
        Stopper(self.paths.iter().map(|p| p.stop.clone()).collect())
    }

    /// Waits for every sync path to end by itself (`--once`, or after a
    /// [`Stopper::stop`]), writes the last status and releases the lock.
    pub async fn finish(mut self) -> Finished {
        let mut out = Finished::default();
        for p in std::mem::take(&mut self.paths) {
            out.summaries
                .push((p.slot, p.task.await.ok().and_then(Result::ok)));
        }
        self.close().await;
        out
    }

    /// Stops every sync path (each saves its index at its next batch boundary; one that
    /// does not end within `grace` is aborted), writes the last status and releases the
    /// lock.
    pub async fn stop(mut self, grace: Duration) {
        self.stopper().stop();
        for p in std::mem::take(&mut self.paths) {
            let mut task = p.task;
            if tokio::time::timeout(grace, &mut task).await.is_err() {
                tracing::warn!(
                    "{}: sync path {} did not stop within {grace:?}; aborted",
                    self.root.display(),
                    p.sync.name
                );
                task.abort();
            }
        }
        self.close().await;
    }

    /// The last status file (the writer has ended first, so it cannot overwrite it or
    /// race it for the temporary file) and the lock.
    async fn close(&mut self) {
        if let Some(e) = self.endpoint.take() {
            e.abort();
            endpoint::remove(&self.state_dir);
        }
        self.writer.abort();
        let _ = (&mut self.writer).await;
        if let Ok(json) = serde_json::to_vec_pretty(&self.hub.report()) {
            if let Err(e) = crate::state::write_atomic(&status_file(&self.state_dir), &json) {
                tracing::warn!("cannot write the last status: {e}");
            }
        }
        if let Some(lock) = self.lock.take() {
            lock.release();
        }
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        self.stopper().stop();
        self.writer.abort();
        if let Some(e) = &self.endpoint {
            e.abort();
        }
    }
}

/// Asks a [`Workspace`]'s sync paths to stop (cloneable, for signal handlers).
#[derive(Clone)]
pub struct Stopper(Vec<watch::Sender<bool>>);

impl Stopper {
    /// Stop at the next batch boundary.
    pub fn stop(&self) {
        for s in &self.0 {
            let _ = s.send(true);
        }
    }
}

/// Asks one sync path for what only it knows (it answers between batches).
#[derive(Clone)]
pub struct Requester {
    name: String,
    control: mpsc::UnboundedSender<Control>,
}

impl Requester {
    /// Asks it to compare both sides again.
    pub fn resync(&self) {
        let _ = self.control.send(Control::Rescan);
    }

    /// Its open conflicts (empty when it does not answer `within`).
    pub async fn conflicts(&self, within: Duration) -> Vec<OpenConflict> {
        let (tx, rx) = oneshot::channel();
        if self.control.send(Control::Conflicts(tx)).is_err() {
            return Vec::new();
        }
        tokio::time::timeout(within, rx)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default()
    }

    /// Fetches the container's version of `path` into `.ferry/compare/`: where it is.
    pub async fn container_version(&self, path: RelPath) -> Result<PathBuf, String> {
        self.ask(|tx| Control::ContainerVersion(path, tx)).await
    }

    /// Resolves a conflict: what was done, or why not (nothing moved then).
    pub async fn resolve(&self, r: Resolve) -> Result<String, String> {
        self.ask(|tx| Control::Resolve(r, tx)).await
    }

    /// Sends the request `make` builds and waits (up to [`CONTROL_ANSWER`]) for its
    /// answer; every way it can go wrong is an error saying what to do.
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, String>>) -> Control,
    ) -> Result<T, String> {
        let (tx, rx) = oneshot::channel();
        self.control
            .send(make(tx))
            .map_err(|_| format!("sync path {} has stopped", self.name))?;
        match tokio::time::timeout(CONTROL_ANSWER, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(format!(
                "sync path {} is reconnecting; try again once it syncs",
                self.name
            )),
            Err(_) => Err(format!(
                "sync path {} did not answer within {CONTROL_ANSWER:?} (a long transfer?); \
                 try again",
                self.name
            )),
        }
    }
}
