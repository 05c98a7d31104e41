//! [`SyncTask`]: one sync path from connection to shutdown (see the module docs of
//! [`super`] for the life cycle).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, watch};

use crate::config::{InitialSync, Pattern, SyncPath};
use crate::core::{
    plan_initial, plan_local_changes, plan_remote_changes, Action, ExcludeError, ExcludeSet, Index,
    Plan, RelPath, Resolution, Snapshot, Tolerance,
};
use crate::exec::PodLauncher;
use crate::local::{self, LocalBatch, LocalError, LocalWatcher};
use crate::remote::{
    LaunchError, Launcher, RemoteWatcher, Session, SessionError, SessionOptions, WatchEvent,
    WatchMode, WatchOptions,
};
use crate::target::{self, Connection, KubeOverrides, TargetError};

use super::changes::{self, is_own, listing_unknown, without_symlinks, Hints};
use super::convert::snapshot_of;
use super::execute::{Executor, Failure, Outcome, Retry};
use super::hooks::Hooks;
use super::status::{now_ms, FileProblem, Notice, PathState, PathStatus, StatusHub};
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
}

/// Requests from a front end to a running sync path (`ferry lsp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// These local paths changed (an editor saved them): sync them now, without waiting
    /// for the watcher.
    Changed(Vec<RelPath>),
    /// Compare both sides in full (a resync).
    Rescan,
}

/// How one connection ended.
enum Ended {
    /// `--once`: the initial sync is done.
    Done,
    /// Asked to stop.
    Shutdown,
}

/// One sync path.
pub struct SyncTask {
    slot: usize,
    sync: SyncPath,
    opts: Arc<EngineOptions>,
    hub: Arc<StatusHub>,
    excludes: ExcludeSet,
    conn: Option<Connection>,
    index: Index,
    problems: BTreeMap<String, Failure>,
    summary: RunSummary,
    hooks: Hooks,
    launcher: Option<PodLauncher>,
    control: Option<mpsc::UnboundedReceiver<Control>>,
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
        let excludes = ExcludeSet::new(&excludes)?;
        let hooks = Hooks::new(&sync.on_upload);
        hub.register(
            slot,
            PathStatus::new(
                &sync.name,
                &sync.local_path.display().to_string(),
                &sync.container_path,
            ),
        );
        Ok(SyncTask {
            slot,
            sync,
            opts,
            hub,
            excludes,
            conn: None,
            index: Index::new(),
            problems: BTreeMap::new(),
            summary: RunSummary::default(),
            hooks,
            launcher: None,
            control: None,
        })
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

    fn state(&self, state: PathState) {
        self.hub.update(self.slot, |p| {
            p.state = state;
            if !matches!(state, PathState::Error) {
                p.last_error = None;
            }
            if matches!(state, PathState::Watching | PathState::Stopped) {
                p.pending = 0;
            }
        });
    }

    fn message(&self, text: String, problem: bool) {
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
        if let Err(e) = std::fs::create_dir_all(&root) {
            let e = EngineError::Other(format!(
                "cannot create the local folder {}: {e}",
                root.display()
            ));
            self.fail(&e);
            return Err(e);
        }
        // Start watching before the first scan, so no change falls between the two.
        let mut local_rx = if once {
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
                Err(e) => {
                    self.fail(&e);
                    if once {
                        return Err(e);
                    }
                    if started.elapsed() > Duration::from_secs(30) {
                        backoff = self.opts.reconnect.0;
                    }
                    self.message(format!("retrying in {} s", backoff.as_secs_f32()), false);
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

    fn fail(&self, e: &EngineError) {
        let text = e.to_string();
        tracing::error!(sync = %self.sync.name, "{text}");
        self.hub.update(self.slot, |p| {
            p.state = PathState::Error;
            p.last_error = Some(text.clone());
        });
        self.hub.notice(Notice::Message {
            name: self.sync.name.clone(),
            text,
            problem: true,
        });
    }

    async fn client(&mut self) -> Result<Connection, EngineError> {
        if let Some(c) = &self.conn {
            return Ok(c.clone());
        }
        let c = target::connect(&self.opts.kube).await?;
        self.conn = Some(c.clone());
        Ok(c)
    }

    /// One connection: resolve, start the session, initial sync, then watch.
    async fn connection(
        &mut self,
        once: bool,
        local_rx: &mut Option<mpsc::Receiver<LocalBatch>>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Ended, EngineError> {
        self.state(PathState::Connecting);
        let conn = self.client().await?;
        let resolved = target::resolve(&conn, &self.sync.target).await?;
        self.hub.update(self.slot, |p| {
            p.pod = Some(resolved.pod.clone());
            p.container = Some(resolved.container.clone());
        });
        let launcher = PodLauncher::new(&conn, &resolved);
        self.launcher = Some(launcher.clone());
        self.hooks.reset_once();
        let root = container_root(&launcher, &self.sync.container_path).await?;
        let mut session = Session::start(&launcher, &root, self.opts.session.clone()).await?;
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
        self.initial_sync(&mut session, &store).await?;
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
            &launcher,
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

    fn save(&self, store: &IndexStore) {
        if let Err(e) = store.save(&self.index) {
            tracing::warn!(sync = %self.sync.name, "cannot save the index {}: {e}", store.path().display());
        }
    }

    /// What the local scan leaves out: ferry's own names, and folders excluded in
    /// both directions (unless a `!` pattern might re-include something below them).
    fn local_skip(&self) -> impl Fn(&RelPath, bool) -> bool + '_ {
        let prune = !self.excludes.has_negations();
        move |p: &RelPath, is_dir: bool| {
            is_own(p) || (prune && is_dir && self.excludes.excluded(p, true))
        }
    }

    async fn initial_sync(
        &mut self,
        session: &mut Session,
        store: &IndexStore,
    ) -> Result<(), EngineError> {
        self.state(PathState::InitialSync);
        let t = Instant::now();
        let listing = session.list_all().await?;
        let skip = self.local_skip();
        let (remote, unsupported) = snapshot_of(&listing, &skip);
        let scan = local::scan(&self.sync.local_path, &skip)?;
        drop(skip);
        if unsupported > 0 {
            tracing::info!(sync = %self.sync.name, "{unsupported} symlinks or special files in the container are not synced");
        }
        let mut failures: Vec<Failure> = Vec::new();
        failures.extend(
            listing
                .errors
                .iter()
                .map(|e| Failure::remote(e, Retry::Never)),
        );
        failures.extend(scan.errors.iter().map(|e| Failure::local(e, Retry::Never)));
        let mut local = without_symlinks(scan.snapshot.clone());
        let mut remote = remote;
        let index = store.load();
        // What a side could not read is unknown, not deleted: it counts as unchanged.
        if let Some(index) = &index {
            for (p, e) in index.entries().iter() {
                if !local.contains(p) && scan.is_unknown(p) {
                    local.insert(p.clone(), e.clone());
                }
                if !remote.contains(p) && listing_unknown(&listing, p) {
                    remote.insert(p.clone(), e.clone());
                }
            }
        }
        let strategy = self.sync.initial_sync;
        let plan = plan_initial(
            &local,
            &remote,
            index.as_ref(),
            strategy,
            &self.excludes,
            Tolerance::default(),
        );
        self.index = index.unwrap_or_default();
        let plan = self.directions(plan);
        tracing::info!(
            sync = %self.sync.name,
            "initial sync: {} local and {} remote entries, index of {}, {} actions",
            local.len(),
            remote.len(),
            self.index.len(),
            plan.actions.len()
        );
        let outcome = self.execute(session, &plan, Some(&local), true).await?;
        // Only now: a failed initial sync must not lose the old index.
        self.problems.clear();
        self.record(&plan, outcome, failures, t.elapsed());
        self.save(store);
        if strategy == InitialSync::Disabled {
            self.message("initial sync disabled by the config".into(), false);
        }
        Ok(())
    }

    /// Drops the actions of a direction the config disabled.
    fn directions(&self, mut plan: Plan) -> Plan {
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

    async fn execute(
        &mut self,
        session: &mut Session,
        plan: &Plan,
        planned_local: Option<&Snapshot>,
        initial: bool,
    ) -> Result<Outcome, EngineError> {
        let hub = self.hub.clone();
        let slot = self.slot;
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
        if transfers > 0 {
            hub.update(slot, |p| {
                if let Some(s) = state {
                    p.state = s;
                }
                p.pending = transfers;
            });
        }
        let mut last = Instant::now();
        let mut progress = move |done: u64, total: u64| {
            hub.update(slot, |p| p.pending = total - done);
            if initial && (last.elapsed() > Duration::from_millis(200) || done == total) {
                last = Instant::now();
                hub.notice(Notice::Progress {
                    name: name.clone(),
                    done,
                    total,
                });
            }
        };
        let mut exec = Executor {
            root: &self.sync.local_path,
            session,
            index: &mut self.index,
            planned_local,
            progress: &mut progress,
            limits: (
                self.sync.bandwidth.upload_kib_per_sec.map(|k| k * 1024),
                self.sync.bandwidth.download_kib_per_sec.map(|k| k * 1024),
            ),
        };
        let out = exec.run(plan).await?;
        if state.is_some() && transfers > 0 {
            self.state(PathState::Watching);
        }
        Ok(out)
    }

    /// Books an execution: counters, problems, a notice.
    fn record(&mut self, plan: &Plan, out: Outcome, extra: Vec<Failure>, elapsed: Duration) {
        for p in &out.done {
            self.problems.remove(p.as_str());
            // A folder that completed resolves the problems below it too.
            let below = format!("{}/", p.as_str());
            self.problems.retain(|k, _| !k.starts_with(&below));
        }
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
                Resolution::Kept { winner, copy } => format!(
                    "changed on both sides: the {winner} version is kept, the other one saved as {copy}"
                ),
                Resolution::Restored => {
                    "deleted on one side and changed on the other: the changed version was restored"
                        .to_string()
                }
            };
            self.problems.insert(
                c.path.to_string(),
                Failure {
                    path: c.path.to_string(),
                    kind: "conflict",
                    message,
                    retry: Retry::Never,
                },
            );
        }
        for r in &plan.remote_newer {
            self.problems.insert(
                r.path.to_string(),
                Failure {
                    path: r.path.to_string(),
                    kind: "remoteNewer",
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
        self.hub.update(self.slot, |p| {
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

    fn problem_list(&self) -> Vec<FileProblem> {
        self.problems
            .values()
            .map(|f| FileProblem {
                path: f.path.clone(),
                kind: f.kind.to_string(),
                message: f.message.clone(),
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
            }
        }
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
        let (changes, failures) = {
            let skip = self.local_skip();
            changes::local_changes(&self.sync.local_path, &batch, &self.index, &skip)?
        };
        if changes.is_empty() && failures.is_empty() {
            return Ok(());
        }
        let view = changes::remote_view(session, &changes, &self.index).await?;
        let plan = plan_local_changes(
            &changes,
            &self.index,
            view.as_ref(),
            &self.excludes,
            Tolerance::EXACT,
        );
        let plan = self.directions(plan);
        let outcome = self.execute(session, &plan, None, false).await?;
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
            .run(uploaded, &launcher, &self.sync.local_path)
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
    async fn on_remote(&mut self, session: &mut Session, hints: Hints) -> Result<(), EngineError> {
        let t = Instant::now();
        let (changes, failures) = changes::remote_changes(session, &hints, &self.index).await?;
        if changes.is_empty() && failures.is_empty() {
            return Ok(());
        }
        let plan = plan_remote_changes(
            &changes,
            &self.index,
            None,
            &self.excludes,
            Tolerance::EXACT,
        );
        let plan = self.directions(plan);
        let outcome = self.execute(session, &plan, None, false).await?;
        self.record(&plan, outcome, failures, t.elapsed());
        Ok(())
    }
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
async fn stopped(rx: &mut watch::Receiver<bool>) {
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
    tokio::spawn(async move {
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

/// Where a workspace keeps its state.
pub fn state_dir_of(workspace: &Path) -> PathBuf {
    workspace.join(crate::state::STATE_DIR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_container_paths() {
        assert_eq!(normalize("/app/./src/"), "/app/src");
        assert_eq!(normalize("/"), "/");
        assert_eq!(normalize("/a/../b"), "/b");
    }
}
