//! [`SyncTask`]: one sync path from connection to shutdown (see the module docs of
//! [`super`] for the life cycle).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, oneshot, watch};

use super::status::ProblemKind;
use crate::config::{Pattern, SyncPath};
use crate::core::{
    plan_local_changes, plan_remote_changes, Action, ExcludeError, ExcludeSet, Index, Plan,
    RelPath, Resolution, Snapshot, Tolerance,
};
use crate::local::{self, LocalBatch, LocalError, LocalWatcher};
use crate::remote::{
    LaunchError, Launcher, RemoteWatcher, Session, SessionError, SessionOptions, WatchEvent,
    WatchMode, WatchOptions,
};
use crate::target::{KubeOverrides, TargetError};

use super::changes::{self, is_own, Hints};
use super::connect::{Connector, KubeConnector};
use super::execute::{Executor, Failure, Outcome, Progress, Retry};
use super::hooks::Hooks;
use super::identity::Identity;
use super::status::{now_ms, FileProblem, Notice, PathState, PathStatus, StatusHub, StatusKey};
use super::store::IndexStore;

/// Settings shared by the sync tasks of one process.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// The workspace's state folder (`.ferry/`).
    pub state_dir: PathBuf,
    /// Kubeconfig, context and namespace overrides.
    pub kube: KubeOverrides,
    /// Settings of the container sessions.
    pub session: SessionOptions,
    /// Local changes: a batch ends when no event came for this long…
    pub local_quiet: Duration,
    /// …or this long after its first event.
    pub local_max_wait: Duration,
    /// Remote changes: a batch ends when no event came for this long.
    pub remote_quiet: Duration,
    /// Polling interval in the container when it has no inotifywait (or `polling: true`).
    pub poll_interval: Duration,
    /// How often failed transfers are retried.
    pub retry_every: Duration,
    /// Back-off between connection attempts: from the first value, doubling, up to the
    /// second.
    pub reconnect: (Duration, Duration),
    /// A dry run (`ferry sync --dry-run`): connect, list both sides, plan the initial
    /// sync and report the plan ([`RunSummary::dry_run`]); nothing is written on either
    /// side (the container session is read-only, the index is not saved).
    pub dry_run: bool,
    /// Whether the engine watches the local folders itself (`notify`). Off for editors
    /// that report every change (`ferry lsp` setting `localWatcher: false`): then only
    /// [`Control::Changed`] and rescans find local changes.
    pub watch_local: bool,
}

impl EngineOptions {
    /// Defaults for the workspace state folder `state_dir`.
    pub fn new(state_dir: PathBuf) -> EngineOptions {
        EngineOptions {
            state_dir,
            kube: KubeOverrides::default(),
            session: SessionOptions::default(),
            local_quiet: Duration::from_millis(10),
            local_max_wait: Duration::from_millis(300),
            remote_quiet: Duration::from_millis(20),
            poll_interval: Duration::from_millis(400),
            retry_every: Duration::from_secs(3),
            reconnect: (Duration::from_secs(1), Duration::from_secs(10)),
            dry_run: false,
            watch_local: true,
        }
    }
}

/// Why a sync path cannot sync (each message says what to check).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// An exclude pattern does not compile.
    #[error(transparent)]
    Exclude(#[from] ExcludeError),
    /// No cluster, no pod, no container.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The exec into the container failed.
    #[error(transparent)]
    Launch(#[from] LaunchError),
    /// The session in the container failed.
    #[error("{0}")]
    Session(#[from] SessionError),
    /// The local folder cannot be read or watched.
    #[error("the local folder: {0}")]
    Local(#[from] LocalError),
    /// Anything else, said plainly.
    #[error("{0}")]
    Other(String),
}

/// The result of a finished run (`--once`, or a shutdown).
#[derive(Debug, Default, Clone)]
pub struct RunSummary {
    /// Files uploaded.
    pub uploaded: u64,
    /// Files downloaded.
    pub downloaded: u64,
    /// Paths deleted.
    pub deleted: u64,
    /// Per-file problems left (errors, conflicts, newer remote files).
    pub problems: Vec<FileProblem>,
    /// A dry run's plan, a line each (empty otherwise).
    pub dry_run: Vec<String>,
    /// The initial sync was stopped before its end (Ctrl-C); what completed is recorded.
    pub interrupted: bool,
}

/// Requests from a front end to a running sync path (`ferry lsp`).
#[derive(Debug)]
pub enum Control {
    /// These local paths changed (an editor saved them): sync them now, without waiting
    /// for the watcher.
    Changed(Vec<RelPath>),
    /// Compare both sides in full (a resync).
    Rescan,
    /// Resolve a conflict; the answer is what was done, or why not.
    Resolve(
        super::resolve::Resolve,
        oneshot::Sender<Result<String, String>>,
    ),
    /// List the open conflicts.
    Conflicts(oneshot::Sender<Vec<super::resolve::OpenConflict>>),
    /// Fetch the container's version of a file for a comparison; the answer is where it
    /// was put.
    ContainerVersion(RelPath, oneshot::Sender<Result<PathBuf, String>>),
}

/// What an execution keeps in the trash besides the local files it deletes or overwrites.
#[derive(Clone, Copy)]
pub(super) struct Safety<'a> {
    /// Why local deletions happen.
    pub deletion_reason: local::Reason,
    /// The container's state the plan was made from (see
    /// [`super::execute::Keep::remote_before`]).
    pub remote_before: Option<&'a Snapshot>,
}

impl Safety<'_> {
    /// Live changes: deletions come from the container; the index is trusted.
    pub const LIVE: Safety<'static> = Safety {
        deletion_reason: local::Reason::DeletedInContainer,
        remote_before: None,
    };
}

/// How one connection ended.
enum Ended {
    /// `--once`: the initial sync is done.
    Done,
    /// Asked to stop.
    Shutdown,
    /// A secondary replica was asked to compare both sides again: it mirrors the local
    /// folder anew in a new connection's initial sync.
    Again,
}

/// One sync path.
pub struct SyncTask {
    /// Where it reports in the hub: its sync path's slot, and the pod UID of a secondary
    /// replica.
    pub(super) key: StatusKey,
    pub(super) sync: SyncPath,
    pub(super) opts: Arc<EngineOptions>,
    pub(super) hub: Arc<StatusHub>,
    pub(super) excludes: ExcludeSet,
    /// The local links `symlinks: follow` follows, as the last scan found them; their
    /// subtrees are upload-only in `excludes` ([`SyncTask::set_followed`]).
    pub(super) followed: super::links::Followed,
    /// The files that configure ferry inside the local folder: download-excluded, and a
    /// container's attempt to change one is reported (see [`SyncPath::protected`]).
    pub(super) protected: Vec<RelPath>,
    pub(super) connector: Arc<dyn Connector>,
    pub(super) index: Index,
    /// The container folder's identity the index is recorded with (`None` until the
    /// first initial sync decided it; never saved without one).
    pub(super) identity: Option<Identity>,
    /// Files were downloaded since the index was last saved: the local file system is
    /// flushed before the index that records them is written.
    pub(super) unflushed: bool,
    /// Racy paths to check again once their window has passed (see [`super::racy`]).
    pub(super) racy_queue: BTreeSet<RelPath>,
    /// The workspace's trash: every local file ferry deletes or overwrites goes there
    /// first.
    pub(super) trash: local::Trash,
    pub(super) problems: BTreeMap<String, Failure>,
    /// The local copies holding the container's version of conflicting files, by path.
    pub(super) conflict_copies: BTreeMap<String, RelPath>,
    pub(super) summary: RunSummary,
    hooks: Hooks,
    /// The last connection error logged at warn (see [`SyncTask::fail`]).
    last_failure: std::sync::Mutex<Option<String>>,
    launcher: Option<Arc<dyn Launcher>>,
    control: Option<mpsc::UnboundedReceiver<Control>>,
}

/// The protected files of `sync` (config, `.env`, exclude files) that lie inside its
/// local folder, relative to it.
fn protected_paths(sync: &SyncPath) -> Vec<RelPath> {
    let mut out: Vec<RelPath> = sync
        .protected
        .iter()
        .filter_map(|p| p.strip_prefix(&sync.local_path).ok())
        .filter_map(|p| p.to_str())
        .filter_map(|p| RelPath::new(p).ok())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// A gitignore pattern that matches exactly `path` (anchored, special characters
/// escaped).
fn literal_pattern(path: &RelPath) -> String {
    let mut out = String::from("/");
    for c in path.as_str().chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\' | '!' | '#' | ' ') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The built-in patterns added to every sync path's excludes.
const BUILTIN_BOTH: [&str; 2] = ["*.ferry-tmp-*", ".ferry-tmp-*"];
const BUILTIN_UPLOAD: [&str; 1] = ["*.ferry-conflict-*"];

impl SyncTask {
    /// A task for sync path number `slot` of the config (its key in `hub`).
    pub fn new(
        slot: usize,
        sync: SyncPath,
        opts: Arc<EngineOptions>,
        hub: Arc<StatusHub>,
    ) -> Result<SyncTask, EngineError> {
        SyncTask::new_at(StatusKey::path(slot), sync, opts, hub)
    }

    /// A task for the secondary replica with pod UID `pod_uid` of sync path `slot`
    /// (`replicas: all`; see [`super::replicas`]): one way, made to mirror the local
    /// folder. It keeps no index on disk (each connection compares both sides in full),
    /// never downloads, and does not keep the container's versions it replaces.
    pub fn secondary(
        slot: usize,
        mut sync: SyncPath,
        pod_uid: &str,
        pod: &str,
        opts: Arc<EngineOptions>,
        hub: Arc<StatusHub>,
    ) -> Result<SyncTask, EngineError> {
        sync.name = format!("{}@{pod}", sync.name);
        sync.download = false;
        sync.initial_sync = crate::config::InitialSync::MirrorLocal;
        let key = StatusKey {
            slot,
            replica: Some(pod_uid.to_string()),
        };
        let task = SyncTask::new_at(key, sync, opts, hub)?;
        task.hub
            .update_at(&task.key, |p| p.pod = Some(pod.to_string()));
        Ok(task)
    }

    /// Whether this task is a secondary replica (see [`SyncTask::secondary`]).
    pub(super) fn is_secondary(&self) -> bool {
        self.key.replica.is_some()
    }

    fn new_at(
        key: StatusKey,
        sync: SyncPath,
        opts: Arc<EngineOptions>,
        hub: Arc<StatusHub>,
    ) -> Result<SyncTask, EngineError> {
        let mut excludes = sync.excludes.clone();
        let builtin = |t: &str| Pattern {
            text: t.to_string(),
            span: None,
        };
        excludes
            .both
            .extend(BUILTIN_BOTH.iter().map(|t| builtin(t)));
        excludes
            .upload
            .extend(BUILTIN_UPLOAD.iter().map(|t| builtin(t)));
        let protected = protected_paths(&sync);
        excludes
            .download
            .extend(protected.iter().map(|p| builtin(&literal_pattern(p))));
        let excludes = ExcludeSet::new(&excludes)?;
        let hooks = Hooks::new(&sync.on_upload);
        // Registered as connecting: the task runs as soon as it is made, and a first
        // report that read `stopped` would be a state the path is never in.
        hub.register_at(
            &key,
            PathStatus {
                state: PathState::Connecting,
                ..PathStatus::new(
                    &sync.name,
                    &sync.local_path.display().to_string(),
                    &sync.container_path,
                )
            },
        );
        let connector = Arc::new(KubeConnector::new(opts.kube.clone()));
        let trash = local::Trash::new(&opts.state_dir);
        Ok(SyncTask {
            key,
            sync,
            opts,
            hub,
            excludes,
            followed: super::links::Followed::default(),
            protected,
            connector,
            index: Index::new(),
            identity: None,
            unflushed: false,
            racy_queue: BTreeSet::new(),
            trash,
            problems: BTreeMap::new(),
            conflict_copies: BTreeMap::new(),
            summary: RunSummary::default(),
            hooks,
            last_failure: std::sync::Mutex::new(None),
            launcher: None,
            control: None,
        })
    }

    /// Uses `connector` to find the container instead of the Kubernetes API (tests drive
    /// the task against an in-memory container this way).
    pub fn with_connector(mut self, connector: Arc<dyn Connector>) -> SyncTask {
        self.connector = connector;
        self
    }

    /// A channel for [`Control`] requests to this task (save events, resyncs). Requests
    /// sent while it is not connected are covered by the next initial sync.
    pub fn controller(&mut self) -> mpsc::UnboundedSender<Control> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.control = Some(rx);
        tx
    }

    /// The sync path's name.
    pub fn name(&self) -> &str {
        &self.sync.name
    }

    pub(super) fn state(&self, state: PathState) {
        if state == PathState::Watching {
            *self.last_failure.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
        self.hub.update_at(&self.key, |p| {
            p.state = state;
            if !matches!(state, PathState::Error) {
                p.last_error = None;
            }
            if matches!(state, PathState::Watching | PathState::Stopped) {
                p.pending = 0;
                p.pending_up = 0;
                p.pending_down = 0;
                p.total = 0;
            }
        });
    }

    pub(super) fn message(&self, text: String, problem: bool) {
        if problem {
            tracing::warn!(sync = %self.sync.name, "{text}");
        } else {
            tracing::info!(sync = %self.sync.name, "{text}");
        }
        self.hub.notice(Notice::Message {
            name: self.sync.name.clone(),
            text,
            problem,
        });
    }

    /// Runs the sync path: with `once`, the initial sync and then return; otherwise
    /// until `shutdown` turns true, reconnecting after failures.
    pub async fn run(
        mut self,
        once: bool,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<RunSummary, EngineError> {
        let root = self.sync.local_path.clone();
        // A dry run leaves a missing local folder missing.
        let create = !self.opts.dry_run || root.exists();
        if let Err(e) = if create {
            std::fs::create_dir_all(&root)
        } else {
            Ok(())
        } {
            let e = EngineError::Other(format!(
                "cannot create the local folder {}: {e}",
                root.display()
            ));
            self.fail(&e);
            return Err(e);
        }
        self.prune_trash();
        // Start watching before the first scan, so no change falls between the two.
        let mut local_rx = if once || !self.opts.watch_local {
            None
        } else {
            match LocalWatcher::start(&root) {
                Ok(w) => Some(forward_local(
                    w,
                    self.opts.local_quiet,
                    self.opts.local_max_wait,
                )),
                Err(e) => {
                    let e = EngineError::Local(e);
                    self.fail(&e);
                    return Err(e);
                }
            }
        };
        let mut backoff = self.opts.reconnect.0;
        loop {
            let started = Instant::now();
            let result = self.connection(once, &mut local_rx, &mut shutdown).await;
            match result {
                Ok(Ended::Done) => {
                    self.state(PathState::Stopped);
                    self.summary.problems = self.problem_list();
                    return Ok(self.summary);
                }
                Ok(Ended::Shutdown) => {
                    self.state(PathState::Stopped);
                    self.summary.problems = self.problem_list();
                    return Ok(self.summary);
                }
                Ok(Ended::Again) => {
                    backoff = self.opts.reconnect.0;
                }
                Err(e) => {
                    self.fail(&e);
                    if once {
                        return Err(e);
                    }
                    if started.elapsed() > Duration::from_secs(30) {
                        backoff = self.opts.reconnect.0;
                    }
                    let retry = format!("retrying in {} s", backoff.as_secs_f32());
                    tracing::debug!(sync = %self.sync.name, "{retry}");
                    self.hub.notice(Notice::Message {
                        name: self.sync.name.clone(),
                        text: retry,
                        problem: false,
                    });
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stopped(&mut shutdown) => {
                            self.state(PathState::Stopped);
                            return Ok(self.summary);
                        }
                    }
                    backoff = (backoff * 2).min(self.opts.reconnect.1);
                }
            }
        }
    }

    /// The path cannot sync: state `error` with `e`. The log gets `e` once at warn; the
    /// same error again (a retry that failed alike) only at debug, until the path syncs
    /// again or fails otherwise — editors show a server's stderr as errors, line by line.
    fn fail(&self, e: &EngineError) {
        let text = e.to_string();
        let repeated = {
            let mut last = self.last_failure.lock().unwrap_or_else(|e| e.into_inner());
            let repeated = last.as_deref() == Some(text.as_str());
            *last = Some(text.clone());
            repeated
        };
        if repeated {
            tracing::debug!(sync = %self.sync.name, "again: {text}");
        } else {
            tracing::warn!(sync = %self.sync.name, "{text}");
        }
        self.hub.update_at(&self.key, |p| {
            p.state = PathState::Error;
            p.last_error = Some(text.clone());
        });
        self.hub.notice(Notice::Message {
            name: self.sync.name.clone(),
            text,
            problem: true,
        });
    }

    /// One connection: resolve, start the session, initial sync, then watch.
    async fn connection(
        &mut self,
        once: bool,
        local_rx: &mut Option<mpsc::Receiver<LocalBatch>>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Ended, EngineError> {
        self.state(PathState::Connecting);
        // Whether the container is recognised is decided anew by each connection.
        self.hub.update_at(&self.key, |p| {
            p.recognised = None;
            p.recognition = None;
        });
        let connected = self.connector.connect(&self.sync.target).await?;
        let pod = connected.pod;
        self.hub.update_at(&self.key, |p| {
            p.pod = Some(pod.pod.clone());
            p.pod_uid = Some(pod.pod_uid.clone());
            p.container = Some(pod.container.clone());
        });
        let launcher = connected.launcher;
        self.launcher = Some(launcher.clone());
        self.hooks.reset_once();
        let root = container_root(&*launcher, &self.sync.container_path).await?;
        let mut session_opts = self.opts.session.clone();
        session_opts.read_only = self.opts.dry_run;
        let mut session = Session::start(&*launcher, &root, session_opts).await?;
        session.set_links(super::links::policy(self.sync.symlinks));
        let caps = session.capabilities().clone();
        if !caps.root_writable && self.sync.upload {
            self.message(
                format!(
                    "the container folder {root} is not writable for the container's user{}; \
                     uploads will fail",
                    caps.uid.map(|u| format!(" (uid {u})")).unwrap_or_default()
                ),
                true,
            );
        }
        for m in caps.missing_extras() {
            tracing::info!(sync = %self.sync.name, "the container has no {}: {}", m.tool, m.cost);
        }
        self.message(
            format!("connected to {}, folder {root}", launcher.describe()),
            false,
        );
        let store = IndexStore::new(
            &self.opts.state_dir,
            &self.sync.name,
            &self.sync.local_path,
            &root,
        );
        // Changes seen while disconnected are covered by the initial sync.
        if let Some(rx) = local_rx.as_mut() {
            while rx.try_recv().is_ok() {}
        }
        if let Some(rx) = self.control.as_mut() {
            while rx.try_recv().is_ok() {}
        }
        let interrupted = self
            .initial_sync(&mut session, &store, &pod, shutdown)
            .await?;
        if interrupted {
            self.summary.interrupted = true;
            let _ = tokio::time::timeout(Duration::from_secs(3), session.close()).await;
            return Ok(Ended::Shutdown);
        }
        if once {
            let _ = session.close().await;
            return Ok(Ended::Done);
        }
        let mode = if self.sync.polling {
            WatchMode::Poll
        } else {
            WatchMode::Auto
        };
        let mut watcher = RemoteWatcher::start(
            &*launcher,
            &root,
            &caps,
            WatchOptions {
                mode,
                interval: self.opts.poll_interval,
                // A full listing about every 30 s catches what `find -newer` cannot.
                full_scan_every: (30_000 / self.opts.poll_interval.as_millis().max(1) as u32)
                    .max(1),
                state_parent: self.opts.session.state_parent.clone(),
                ..WatchOptions::default()
            },
        )
        .await?;
        tracing::info!(sync = %self.sync.name, "watching the container with {:?}", watcher.mode());
        self.state(PathState::Watching);
        let result = self
            .watch(&mut session, &mut watcher, &store, local_rx, shutdown)
            .await;
        self.save(&store);
        drop(watcher);
        if matches!(result, Ok(Ended::Shutdown)) {
            let _ = tokio::time::timeout(Duration::from_secs(3), session.close()).await;
        }
        result
    }

    /// Persists the index with the container identity it belongs to; downloaded files
    /// are flushed to disk first, so the index never records data that a power loss
    /// could take back. Nothing is saved before the identity is known, nor in a dry run.
    pub(super) fn save(&mut self, store: &IndexStore) {
        if self.is_secondary() {
            return;
        }
        save_index(
            store,
            &self.index,
            self.identity.as_ref(),
            &self.sync.local_path,
            &mut self.unflushed,
            self.opts.dry_run,
        );
    }

    /// Makes `followed` the links followed now, and their subtrees the only upload-only
    /// ones: nothing at or below a followed link is downloaded, deleted or replaced
    /// locally.
    pub(super) fn set_followed(&mut self, followed: super::links::Followed) {
        self.excludes.set_upload_only(followed.tops());
        self.followed = followed;
    }

    /// What the local scan leaves out: ferry's own names, and folders excluded in
    /// both directions (unless a `!` pattern might re-include something below them).
    pub(super) fn local_skip(&self) -> impl Fn(&RelPath, bool) -> bool + '_ {
        let prune = !self.excludes.has_negations();
        move |p: &RelPath, is_dir: bool| {
            is_own(p) || (prune && is_dir && self.excludes.excluded(p, true))
        }
    }

    /// Drops the actions of a direction the config disabled.
    pub(super) fn directions(&self, mut plan: Plan) -> Plan {
        let (up, down) = (self.sync.upload, self.sync.download);
        plan.actions.retain(|a| match a {
            Action::Upload { .. }
            | Action::MkdirRemote { .. }
            | Action::DeleteRemote { .. }
            | Action::RenameRemote { .. } => up,
            Action::Download { .. }
            | Action::MkdirLocal { .. }
            | Action::DeleteLocal { .. }
            | Action::RenameLocal { .. } => down,
            Action::SaveConflictCopy { .. } => up && down,
            Action::Record { .. } | Action::Forget { .. } => true,
        });
        plan
    }

    /// Carries `plan` out. `planned_local` is the local snapshot the plan was made from
    /// (`None`: the index). With `store` (the initial sync), the index is saved after
    /// every batch; with `stop`, the execution ends early (between batches, everything
    /// done so far recorded) once it turns true — [`Outcome::interrupted`].
    pub(super) async fn execute(
        &mut self,
        session: &mut Session,
        plan: &Plan,
        planned_local: Option<&Snapshot>,
        store: Option<&IndexStore>,
        stop: Option<&watch::Receiver<bool>>,
        safety: Safety<'_>,
    ) -> Result<Outcome, EngineError> {
        let initial = store.is_some();
        if tracing::enabled!(tracing::Level::TRACE) {
            for a in &plan.actions {
                tracing::trace!(sync = %self.sync.name, "plan: {a:?}");
            }
            for c in &plan.conflicts {
                tracing::trace!(sync = %self.sync.name, "conflict: {c:?}");
            }
        }
        let hub = self.hub.clone();
        let key = self.key.clone();
        let slot = self.key.slot;
        // The editors' initial-sync progress is the sync path's own (its primary's).
        let report_progress = initial && !self.is_secondary();
        let name = self.sync.name.clone();
        let state = if initial {
            None
        } else if plan
            .actions
            .iter()
            .any(|a| matches!(a, Action::Download { .. } | Action::DeleteLocal { .. }))
        {
            Some(PathState::Downloading)
        } else {
            Some(PathState::Uploading)
        };
        let transfers: u64 = plan.transfers();
        let pending = |s: &mut PathStatus, p: Progress| {
            s.pending_up = p.up_total.saturating_sub(p.up_done);
            s.pending_down = p.down_total.saturating_sub(p.down_done);
            s.pending = s.pending_up + s.pending_down;
            s.total = p.total();
        };
        if transfers > 0 {
            hub.update_at(&key, |p| {
                if let Some(s) = state {
                    p.state = s;
                }
                pending(p, Progress::of(plan));
            });
        }
        let mut last = Instant::now();
        let mut progress = move |p: Progress| {
            let (done, total) = (p.done(), p.total());
            hub.update_at(&key, |s| pending(s, p));
            if report_progress && (last.elapsed() > Duration::from_millis(200) || done == total) {
                last = Instant::now();
                hub.notice(Notice::Progress {
                    slot,
                    name: name.clone(),
                    done,
                    total,
                });
            }
        };
        let identity = self.identity.clone();
        let root = self.sync.local_path.clone();
        let dry_run = self.opts.dry_run;
        let mut unflushed = false;
        // A secondary replica keeps no index on disk (see `SyncTask::secondary`).
        let store = store.filter(|_| !self.is_secondary());
        let mut checkpoint = |index: &Index, wrote: bool| {
            if let Some(store) = store {
                unflushed |= wrote;
                save_index(
                    store,
                    index,
                    identity.as_ref(),
                    &root,
                    &mut unflushed,
                    dry_run,
                );
            }
        };
        let secondary = self.is_secondary();
        let mut exec = Executor {
            root: &self.sync.local_path,
            followed: &self.followed,
            session,
            index: &mut self.index,
            planned_local,
            progress: &mut progress,
            limits: (
                self.sync.bandwidth.upload_kib_per_sec.map(|k| k * 1024),
                self.sync.bandwidth.download_kib_per_sec.map(|k| k * 1024),
            ),
            checkpoint: store.is_some().then_some(&mut checkpoint as _),
            stop,
            keep: super::execute::Keep {
                trash: &self.trash,
                sync: &self.sync.name,
                deletion_reason: safety.deletion_reason,
                remote_before: safety.remote_before,
                // A secondary's own versions may be overwritten (docs/config.md).
                container_versions: !secondary,
            },
            racy: Vec::new(),
        };
        let out = exec.run(plan).await;
        let mut racy = std::mem::take(&mut exec.racy);
        let out = out?;
        if out.downloaded > 0 && store.is_none() {
            self.unflushed = true;
        }
        self.racy_queue.extend(std::mem::take(&mut racy));
        if state.is_some() && transfers > 0 {
            self.state(PathState::Watching);
        }
        Ok(out)
    }

    /// Books an execution: counters, problems, a notice.
    pub(super) fn record(
        &mut self,
        plan: &Plan,
        out: Outcome,
        extra: Vec<Failure>,
        elapsed: Duration,
    ) {
        // A path that completed resolves its problems (and a folder those below it) —
        // but not a conflict whose copy of the container's version is still there:
        // that one the user resolves.
        let root = self.sync.local_path.clone();
        let copies = &self.conflict_copies;
        let open = |k: &str, f: &Failure| {
            f.kind == ProblemKind::Conflict
                && copies
                    .get(k)
                    .is_some_and(|c| root.join(c.as_str()).is_file())
        };
        for p in &out.done {
            let below = format!("{}/", p.as_str());
            self.problems
                .retain(|k, f| (k != p.as_str() && !k.starts_with(&below)) || open(k, f));
        }
        let problems = &self.problems;
        self.conflict_copies.retain(|k, _| problems.contains_key(k));
        for f in &extra {
            if !self.problems.contains_key(&f.path) {
                tracing::warn!(sync = %self.sync.name, "{}: {}", f.path, f.message);
                self.hub.notice(Notice::Message {
                    name: self.sync.name.clone(),
                    text: format!("not synced: {}: {}", f.path, f.message),
                    problem: true,
                });
            }
        }
        for f in out.failures.iter().cloned().chain(extra) {
            self.problems.insert(f.path.clone(), f);
        }
        for c in &plan.conflicts {
            let message = match &c.resolution {
                Resolution::Unresolved => format!(
                    "both sides differ ({:?}) and ferry cannot tell which one wins; both are \
                     kept as they are — make them equal or delete one side's version",
                    c.kind
                ),
                Resolution::Kept { winner, copy } => {
                    if *winner == crate::core::Side::Local {
                        self.conflict_copies
                            .insert(c.path.to_string(), copy.clone());
                    }
                    format!(
                        "changed on both sides: the {winner} version is kept, the other one saved as {copy}"
                    )
                }
                Resolution::Restored => {
                    "deleted on one side and changed on the other: the changed version was restored"
                        .to_string()
                }
            };
            self.problems.insert(
                c.path.to_string(),
                Failure {
                    path: c.path.to_string(),
                    kind: ProblemKind::Conflict,
                    message,
                    retry: Retry::Never,
                },
            );
        }
        for skipped in &plan.skipped {
            if skipped.reason == crate::core::SkipReason::NotEmpty {
                self.problems.insert(
                    skipped.path.to_string(),
                    Failure {
                        path: skipped.path.to_string(),
                        kind: ProblemKind::Conflict,
                        message: "deleted on one side but kept on the other: the folder holds \
                                  something that may not be deleted (excluded, new or changed \
                                  files)"
                            .into(),
                        retry: Retry::Never,
                    },
                );
            }
            if self.protected.contains(&skipped.path) {
                self.problems.insert(
                    skipped.path.to_string(),
                    Failure {
                        path: skipped.path.to_string(),
                        kind: ProblemKind::Protected,
                        message: "the container changed or deleted this file, which configures \
                                  ferry; ferry never applies the container's changes to it \
                                  (the local version stays as it is)"
                            .into(),
                        retry: Retry::Never,
                    },
                );
            }
        }
        for r in &plan.remote_newer {
            self.problems.insert(
                r.path.to_string(),
                Failure {
                    path: r.path.to_string(),
                    kind: ProblemKind::RemoteNewer,
                    message: "the container has a newer version; ferry never overwrites a \
                              local file with a remote one at start (initialSync: merge) — \
                              delete or touch the local file to choose"
                        .into(),
                    retry: Retry::Never,
                },
            );
        }
        for f in &out.failures {
            tracing::warn!(sync = %self.sync.name, "{}: {}", f.path, f.message);
        }
        if !plan.remote_newer.is_empty() {
            self.message(
                format!(
                    "{} files are newer in the container and were left as they are locally \
                     (`ferry status` lists them)",
                    plan.remote_newer.len()
                ),
                true,
            );
        }
        let problems = self.problem_list();
        let count = self.problems.len() as u64;
        let moved = out.moved_anything();
        let now = now_ms();
        self.summary.uploaded += out.uploaded;
        self.summary.downloaded += out.downloaded;
        self.summary.deleted += out.deleted;
        self.hub.update_at(&self.key, |p| {
            p.uploaded += out.uploaded;
            p.downloaded += out.downloaded;
            p.deleted += out.deleted;
            if moved {
                p.last_activity = Some(now);
            }
            p.problem_count = count;
            p.problems = problems
                .into_iter()
                .take(super::status::MAX_LISTED_PROBLEMS)
                .collect();
        });
        if moved || !out.failures.is_empty() {
            let text = out.summary(elapsed);
            tracing::info!(sync = %self.sync.name, "{text}");
            self.hub.notice(Notice::Batch {
                name: self.sync.name.clone(),
                text,
            });
        }
    }

    /// Shows the current problems in the status.
    pub(super) fn publish_problems(&self) {
        let problems = self.problem_list();
        let count = self.problems.len() as u64;
        self.hub.update_at(&self.key, |p| {
            p.problem_count = count;
            p.problems = problems
                .into_iter()
                .take(super::status::MAX_LISTED_PROBLEMS)
                .collect();
        });
    }

    pub(super) fn problem_list(&self) -> Vec<FileProblem> {
        self.problems
            .values()
            .map(|f| FileProblem {
                path: f.path.clone(),
                kind: f.kind,
                message: f.message.clone(),
                pod: None,
            })
            .collect()
    }

    /// The continuous sync of one connection.
    async fn watch(
        &mut self,
        session: &mut Session,
        watcher: &mut RemoteWatcher,
        store: &IndexStore,
        local_rx: &mut Option<mpsc::Receiver<LocalBatch>>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Ended, EngineError> {
        let mut control = self.control.take();
        let result = self
            .watch_loop(session, watcher, store, local_rx, shutdown, &mut control)
            .await;
        self.control = control;
        result
    }

    async fn watch_loop(
        &mut self,
        session: &mut Session,
        watcher: &mut RemoteWatcher,
        store: &IndexStore,
        local_rx: &mut Option<mpsc::Receiver<LocalBatch>>,
        shutdown: &mut watch::Receiver<bool>,
        control: &mut Option<mpsc::UnboundedReceiver<Control>>,
    ) -> Result<Ended, EngineError> {
        let mut retry = tokio::time::interval(self.opts.retry_every);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        retry.reset();
        let mut save = tokio::time::interval(Duration::from_secs(2));
        save.reset();
        let mut prune = tokio::time::interval(Duration::from_secs(3600));
        prune.reset();
        let mut racy = tokio::time::interval(Duration::from_millis(500));
        racy.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut alive = tokio::time::interval(SESSION_CHECK_EVERY);
        alive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        alive.reset();
        let mut dirty = false;
        loop {
            let local_next = async {
                match local_rx.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            let control_next = async {
                match control.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = stopped(shutdown) => return Ok(Ended::Shutdown),
                c = control_next => {
                    match c {
                        Some(Control::Changed(paths)) => {
                            self.on_local(
                                session,
                                LocalBatch {
                                    paths: paths.into_iter().collect(),
                                    ..LocalBatch::default()
                                },
                            )
                            .await?;
                        }
                        Some(Control::Rescan) if self.is_secondary() => return Ok(Ended::Again),
                        Some(Control::Rescan) => {
                            self.on_local(
                                session,
                                LocalBatch {
                                    rescan: true,
                                    ..LocalBatch::default()
                                },
                            )
                            .await?;
                            self.on_remote(
                                session,
                                Hints {
                                    rescan: true,
                                    ..Hints::default()
                                },
                            )
                            .await?;
                        }
                        Some(Control::Resolve(r, reply)) => {
                            let remote_newer = self
                                .problems
                                .get(r.path.as_str())
                                .is_some_and(|f| f.kind == ProblemKind::RemoteNewer);
                            let answer = match if remote_newer {
                                self.resolve_remote_newer(session, &r).await.map(|d| (d, Vec::new()))
                            } else {
                                self.resolve(&r)
                            } {
                                Ok((done, upload)) => {
                                    if !upload.is_empty() {
                                        self.on_local(
                                            session,
                                            LocalBatch {
                                                paths: upload.into_iter().collect(),
                                                ..LocalBatch::default()
                                            },
                                        )
                                        .await?;
                                    }
                                    Ok(done)
                                }
                                Err(e) => Err(e),
                            };
                            let _ = reply.send(answer);
                        }
                        Some(Control::Conflicts(reply)) => {
                            let mut open = self.open_conflicts();
                            open.extend(self.remote_newer(session).await);
                            open.sort_by(|a, b| a.path.cmp(&b.path));
                            let _ = reply.send(open);
                        }
                        Some(Control::ContainerVersion(path, reply)) => {
                            let _ = reply.send(self.container_version(session, &path).await);
                        }
                        // The front end is gone: nothing more will come.
                        None => *control = None,
                    }
                    dirty = true;
                }
                batch = local_next => {
                    let Some(batch) = batch else {
                        return Err(EngineError::Other("the local watcher stopped".into()));
                    };
                    self.on_local(session, batch).await?;
                    dirty = true;
                }
                event = watcher.next() => {
                    let Some(event) = event else {
                        return Err(EngineError::Other(
                            "the watcher in the container stopped (the pod may be gone)".into(),
                        ));
                    };
                    let mut hints = Hints::default();
                    if let Some(stop) = hints.add(event) {
                        return Err(EngineError::Other(format!(
                            "the watcher in the container stopped: {stop}"
                        )));
                    }
                    // Gather what arrives within the quiet window.
                    while let Ok(Some(e)) =
                        tokio::time::timeout(self.opts.remote_quiet, watcher.next()).await
                    {
                        if let Some(stop) = hints.add(e) {
                            return Err(EngineError::Other(format!(
                                "the watcher in the container stopped: {stop}"
                            )));
                        }
                    }
                    self.on_remote(session, hints).await?;
                    dirty = true;
                }
                _ = retry.tick() => {
                    if self.problems.values().any(|f| f.retry != Retry::Never) {
                        self.retry(session).await?;
                        dirty = true;
                    }
                }
                // A session whose connection died without closing would otherwise be
                // noticed only by the next command, after its 5-minute reply timeout.
                _ = alive.tick() => session.check_alive(SESSION_IDLE, PING_LIMIT).await?,
                _ = save.tick() => {
                    if dirty {
                        self.save(store);
                        dirty = false;
                    }
                }
                _ = prune.tick() => self.prune_trash(),
                _ = racy.tick(), if !self.racy_queue.is_empty() => {
                    if self.verify_racy(session).await? {
                        dirty = true;
                    }
                }
            }
        }
    }

    /// Keeps the trash within its bounds (see [`crate::local::trash`]); never in a dry run.
    fn prune_trash(&self) {
        if self.opts.dry_run {
            return;
        }
        match self.trash.prune() {
            Ok(gone) if !gone.is_empty() => {
                tracing::info!(sync = %self.sync.name, "removed {} old items from the trash", gone.len())
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(sync = %self.sync.name, "cannot prune the trash: {e}"),
        }
    }

    /// Checks the queued racy paths whose window has passed, by content on both sides:
    /// where both still hold the recorded version the mark is cleared; anything else is
    /// planned as a change (the planners compare by hash at racy paths). Each queued path
    /// is checked once; it stays racy (compared by content) until recorded anew. Returns
    /// whether the index changed.
    async fn verify_racy(&mut self, session: &mut Session) -> Result<bool, EngineError> {
        use super::racy;
        let now = racy::now_ns();
        let due: Vec<RelPath> = self
            .racy_queue
            .iter()
            .filter(|p| {
                self.index
                    .get(p)
                    .is_none_or(|e| !racy::is_racy(e.mtime, now))
            })
            .take(500)
            .cloned()
            .collect();
        if due.is_empty() {
            return Ok(false);
        }
        for p in &due {
            self.racy_queue.remove(p);
        }
        let due: Vec<RelPath> = due.into_iter().filter(|p| self.index.is_racy(p)).collect();
        if due.is_empty() {
            return Ok(false);
        }
        // A background check must not wait minutes on a container that stopped answering:
        // a short ping first.
        session.check_alive(Duration::ZERO, PING_LIMIT).await?;
        let listing = session.list(&due, crate::remote::Depth::Children).await?;
        let hashes = session.checksums(&due).await?;
        let root = self.sync.local_path.clone();
        // Only what metadata cannot show is acted on here: a side that still has the
        // recorded size and mtime but other content. Anything else (a deletion, a rename,
        // a new mtime) reaches the watchers as an event.
        let (mut local_edits, mut remote_edits) = (BTreeSet::new(), BTreeSet::new());
        for (p, remote_hash) in due.iter().zip(hashes) {
            let Some(base) = self.index.get(p).cloned() else {
                continue;
            };
            let remote = listing
                .entries
                .iter()
                .find(|e| &e.path == p)
                .and_then(super::convert::remote_entry);
            let local = super::links::stat_local(&root, &self.followed, p)
                .ok()
                .flatten();
            let same = |x: &Option<crate::core::Entry>| {
                crate::core::same_version(x.as_ref(), Some(&base), Tolerance::EXACT)
            };
            let local_hash = if same(&local) {
                racy::local_hash(&root, &self.followed, p)
            } else {
                None
            };
            let remote_hash = remote_hash
                .filter(|_| same(&remote))
                .map(crate::core::ContentHash);
            // The agreed content: the recorded hash, else what both sides hold now.
            let agreed = base
                .hash
                .clone()
                .or_else(|| match (&local_hash, &remote_hash) {
                    (Some(l), Some(r)) if l == r => Some(l.clone()),
                    _ => None,
                });
            let differs = |h: &Option<crate::core::ContentHash>| match (h, &agreed) {
                (Some(h), Some(a)) => h != a,
                _ => false,
            };
            if differs(&local_hash) {
                local_edits.insert(p.clone());
            }
            if differs(&remote_hash) {
                remote_edits.insert(p.clone());
            }
            let settled = agreed.is_some()
                && local_hash.is_some()
                && remote_hash.is_some()
                && !differs(&local_hash)
                && !differs(&remote_hash);
            if settled {
                if let Some(h) = agreed {
                    self.index.set_hash(p, h);
                }
                self.index.set_racy(p, false);
            }
        }
        if !local_edits.is_empty() {
            tracing::info!(sync = %self.sync.name, "{} local files changed within a second of their last sync, with the same size", local_edits.len());
            self.on_local(
                session,
                LocalBatch {
                    paths: local_edits,
                    ..LocalBatch::default()
                },
            )
            .await?;
        }
        if !remote_edits.is_empty() {
            tracing::info!(sync = %self.sync.name, "{} container files changed within a second of their last sync, with the same size", remote_edits.len());
            self.on_remote(
                session,
                Hints {
                    children: remote_edits,
                    ..Hints::default()
                },
            )
            .await?;
        }
        Ok(true)
    }

    async fn retry(&mut self, session: &mut Session) -> Result<(), EngineError> {
        let mut up = BTreeSet::new();
        let mut hints = Hints::default();
        for f in self.problems.values() {
            let Ok(p) = RelPath::new(&f.path) else {
                continue;
            };
            match f.retry {
                Retry::Upload => {
                    up.insert(p);
                }
                Retry::Download => {
                    hints.add(WatchEvent::Changed {
                        path: f.path.clone(),
                        dir: false,
                    });
                }
                Retry::Never => {}
            }
        }
        if !up.is_empty() {
            self.on_local(
                session,
                LocalBatch {
                    paths: up,
                    rescan: false,
                    errors: Vec::new(),
                },
            )
            .await?;
        }
        if !hints.is_empty() {
            self.on_remote(session, hints).await?;
        }
        Ok(())
    }

    /// Plans and carries out a batch of local changes.
    pub(crate) async fn on_local(
        &mut self,
        session: &mut Session,
        batch: LocalBatch,
    ) -> Result<(), EngineError> {
        let t = Instant::now();
        let mut followed = self.followed.clone();
        let (changes, failures) = {
            let skip = self.local_skip();
            changes::local_changes(
                &self.sync.local_path,
                &batch,
                &self.index,
                &skip,
                self.sync.symlinks,
                &mut followed,
            )?
        };
        if followed != self.followed {
            self.set_followed(followed);
        }
        let mut changes = changes;
        super::racy::hash_local_changes(
            &self.sync.local_path,
            &self.followed,
            &mut changes,
            &self.index,
        );
        if changes.is_empty() && failures.is_empty() {
            return Ok(());
        }
        if changes::empties_side(&changes, &self.index, &self.excludes) {
            return Err(EngineError::Other(format!(
                "the local folder is empty now although the index knows {} paths there; \
                 ferry deletes nothing in the container because of that and compares both \
                 sides again",
                self.index.len()
            )));
        }
        let mut view = changes::remote_view(session, &changes, &self.index).await?;
        if let Some(view) = view.as_mut() {
            super::racy::hash_remote_view(session, view, &self.index).await?;
            if self.is_secondary() {
                // What a secondary holds now is the base: the local change wins, with
                // no conflict (its own edits may be overwritten).
                self.index = rebased(&self.index, view);
            }
        }
        let plan = plan_local_changes(
            &changes,
            &self.index,
            view.as_ref(),
            &self.excludes,
            Tolerance::EXACT,
        );
        let plan = self.directions(plan);
        let safety = Safety {
            remote_before: view.as_ref(),
            ..Safety::LIVE
        };
        let outcome = self
            .execute(session, &plan, None, None, None, safety)
            .await?;
        let uploaded = outcome.uploaded_paths.clone();
        self.record(&plan, outcome, failures, t.elapsed());
        self.run_hooks(&uploaded).await
    }

    /// Runs the `onUpload.exec` hooks for a batch that uploaded `uploaded`.
    async fn run_hooks(&mut self, uploaded: &[RelPath]) -> Result<(), EngineError> {
        if self.hooks.is_empty() || uploaded.is_empty() {
            return Ok(());
        }
        let Some(launcher) = self.launcher.clone() else {
            return Ok(());
        };
        let runs = self
            .hooks
            .run(uploaded, &*launcher, &self.sync.local_path)
            .await;
        for r in runs {
            if r.ok() {
                tracing::info!(sync = %self.sync.name, "onUpload {:?} done: {}", r.label, r.output);
                self.message(format!("onUpload {:?} done", r.label), false);
            } else {
                let text = format!(
                    "onUpload {:?} failed ({}): {}",
                    r.label,
                    r.code
                        .map(|c| format!("exit code {c}"))
                        .unwrap_or_else(|| "no exit code".into()),
                    r.output
                );
                if r.fail_on_error {
                    return Err(EngineError::Other(format!(
                        "{text}; failOnError restarts the sync"
                    )));
                }
                self.message(text, true);
            }
        }
        Ok(())
    }

    /// Re-lists what the container's watcher hinted at, and plans and carries out the
    /// differences.
    pub(super) async fn on_remote(
        &mut self,
        session: &mut Session,
        hints: Hints,
    ) -> Result<(), EngineError> {
        if self.is_secondary() {
            // Never downloaded from: what it changes itself stays until a local change
            // to the same path, or a resync, overwrites it.
            return Ok(());
        }
        let t = Instant::now();
        let (mut changes, failures) = changes::remote_changes(session, &hints, &self.index).await?;
        super::racy::hash_remote_changes(session, &mut changes, &self.index).await?;
        if changes.is_empty() && failures.is_empty() {
            return Ok(());
        }
        if changes::empties_side(&changes, &self.index, &self.excludes) {
            return Err(EngineError::Other(format!(
                "the container folder is empty now although the index knows {} paths there; \
                 ferry deletes nothing locally because of that and compares both sides again",
                self.index.len()
            )));
        }
        let view = {
            let skip = self.local_skip();
            changes::local_view(
                &self.sync.local_path,
                &changes,
                &self.index,
                &skip,
                self.sync.symlinks,
                &self.followed,
            )
        }
        .map(|mut view| {
            super::racy::hash_local_view(
                &self.sync.local_path,
                &self.followed,
                &mut view,
                &self.index,
            );
            view
        });
        let plan = plan_remote_changes(
            &changes,
            &self.index,
            view.as_ref(),
            &self.excludes,
            Tolerance::EXACT,
        );
        let plan = self.directions(plan);
        let outcome = self
            .execute(session, &plan, view.as_ref(), None, None, Safety::LIVE)
            .await?;
        self.record(&plan, outcome, failures, t.elapsed());
        Ok(())
    }
}

/// `index` with `view`'s entries as the agreed state (racy marks kept where the path
/// still is): a secondary replica's base for a local batch.
fn rebased(index: &Index, view: &Snapshot) -> Index {
    let mut out = Index::from_snapshot(view.clone());
    for p in index.racy() {
        if view.get(p).is_some() {
            out.set_racy(p, true);
        }
    }
    out
}

/// How often the watch loop checks whether the session has been idle.
const SESSION_CHECK_EVERY: Duration = Duration::from_secs(5);
/// A session the container has not answered for this long is pinged…
const SESSION_IDLE: Duration = Duration::from_secs(20);
/// …and must answer within this, else the connection is started anew. So a silently
/// dead idle session is noticed within about 35 s (the watcher's own silence limit,
/// 15 s, usually notices first when both streams share the fate).
const PING_LIMIT: Duration = Duration::from_secs(10);

/// Resolves when `rx` turns true (never, if its sender is gone without doing so).
pub(super) async fn stopped(rx: &mut watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Forwards a local watcher's batches into a channel (a task), so the sync loop can
/// wait on it without losing half-collected batches when another event wins.
fn forward_local(
    mut watcher: LocalWatcher,
    quiet: Duration,
    max_wait: Duration,
) -> mpsc::Receiver<LocalBatch> {
    let (tx, rx) = mpsc::channel(64);
    crate::logging::spawn_scoped(async move {
        while let Some(batch) = watcher.next_batch(quiet, max_wait).await {
            if tx.send(batch).await.is_err() {
                break;
            }
        }
    });
    rx
}

/// The container folder as an absolute path: relative paths are taken from the
/// container's working directory.
pub async fn container_root(launcher: &dyn Launcher, path: &str) -> Result<String, EngineError> {
    if path.starts_with('/') {
        return Ok(normalize(path));
    }
    let mut p = launcher
        .launch(vec!["sh".into(), "-c".into(), "pwd".into()])
        .await?;
    let mut out = Vec::new();
    if let Some(mut stdout) = p.take_stdout() {
        let read = stdout.read_to_end(&mut out);
        if tokio::time::timeout(Duration::from_secs(30), read)
            .await
            .is_err()
        {
            return Err(EngineError::Other(format!(
                "finding the working directory in {} timed out",
                launcher.describe()
            )));
        }
    }
    let cwd = String::from_utf8_lossy(&out).trim().to_string();
    if !cwd.starts_with('/') {
        return Err(EngineError::Other(format!(
            "the container path {path:?} is relative, and the working directory of {} could \
             not be found (`pwd` printed {cwd:?}); use an absolute containerPath",
            launcher.describe()
        )));
    }
    Ok(normalize(&format!("{cwd}/{path}")))
}

/// `/a/./b/` → `/a/b`, `..` removed lexically.
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Saves `index` with `identity` in `store`, flushing the local file system under `root`
/// first when `unflushed` (which is then cleared). Does nothing without an identity or in
/// a dry run; a failure is logged (the index on disk stays the older one, which is safe:
/// an older index only ever knows less).
pub(super) fn save_index(
    store: &IndexStore,
    index: &Index,
    identity: Option<&Identity>,
    root: &Path,
    unflushed: &mut bool,
    dry_run: bool,
) {
    let Some(identity) = identity else {
        return;
    };
    if dry_run {
        return;
    }
    if *unflushed {
        if let Err(e) = local::flush_file_system(root) {
            tracing::warn!(
                "cannot flush the local file system of {} before saving the index: {e}; \
                 not saving it now",
                root.display()
            );
            return;
        }
        *unflushed = false;
    }
    if let Err(e) = store.save(index, identity) {
        tracing::warn!("cannot save the index {}: {e}", store.path().display());
    }
}

/// Where a workspace keeps its state.
pub fn state_dir_of(workspace: &Path) -> PathBuf {
    workspace.join(crate::state::STATE_DIR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_files_are_matched_literally_and_never_downloaded() {
        use crate::config::{Excludes, Pattern};
        use crate::core::{plan_remote_changes, Change, Entry, Snapshot};
        let odd = RelPath::new("conf/my [dev] *.yaml").unwrap();
        let pattern = |t: String| Pattern {
            text: t,
            span: None,
        };
        let ex = ExcludeSet::new(&Excludes {
            both: vec![],
            upload: vec![],
            download: vec![
                pattern(literal_pattern(&odd)),
                pattern(literal_pattern(&RelPath::new("devspace.yaml").unwrap())),
            ],
        })
        .unwrap();
        assert!(ex.excluded_from_download(&odd, false));
        assert!(!ex.excluded_from_download(&RelPath::new("conf/my d *.yaml").unwrap(), false));
        assert!(!ex.excluded_from_upload(&odd, false));
        let cfg = RelPath::new("devspace.yaml").unwrap();
        assert!(!ex.excluded_from_download(&RelPath::new("sub/devspace.yaml").unwrap(), false));
        // A container write to it is skipped, a container deletion too.
        let mut snap = Snapshot::new();
        snap.insert(cfg.clone(), Entry::file(10, 1_000_000_000));
        let index = crate::core::Index::from_snapshot(snap);
        for new in [Some(Entry::file(99, 5_000_000_000)), None] {
            let plan = plan_remote_changes(
                &[Change {
                    path: cfg.clone(),
                    new,
                }],
                &index,
                None,
                &ex,
                Tolerance::EXACT,
            );
            assert!(!plan.has_io(), "{plan:#?}");
            assert_eq!(plan.skipped.len(), 1, "{plan:#?}");
        }
    }

    #[test]
    fn normalizes_container_paths() {
        assert_eq!(normalize("/app/./src/"), "/app/src");
        assert_eq!(normalize("/"), "/");
        assert_eq!(normalize("/a/../b"), "/b");
    }
}
