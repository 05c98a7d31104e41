//! What a running sync reports: the [`StatusReport`] (the payload of the `ferry/status`
//! notification and the content of `.ferry/status.json`, which `ferry status` reads), and
//! the [`StatusHub`] the sync tasks update and front ends subscribe to.
//!
//! The payload is versioned ([`STATUS_VERSION`]); fields are only ever added. See
//! `docs/protocol.md` for the documented shape.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};

/// The version of the [`StatusReport`] shape.
pub const STATUS_VERSION: u32 = 1;

/// How many per-file problems a [`PathStatus`] carries at most (the count is exact).
pub const MAX_LISTED_PROBLEMS: usize = 100;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Overall health of all sync paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Health {
    /// Everything syncs.
    Ok,
    /// Syncing, with per-file problems, conflicts or newer remote files to look at.
    Warning,
    /// At least one sync path cannot sync (no pod, connection lost, …).
    Error,
    /// Nothing runs.
    Stopped,
}

impl Health {
    /// The documented word (`ok`, `warning`, `error`, `stopped`).
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Warning => "warning",
            Health::Error => "error",
            Health::Stopped => "stopped",
        }
    }
}

/// What one sync path is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PathState {
    /// Finding the pod and starting the session in the container.
    Connecting,
    /// Comparing both sides and transferring what differs.
    InitialSync,
    /// In sync; waiting for changes.
    Watching,
    /// Sending local changes (`pending` files).
    Uploading,
    /// Fetching remote changes (`pending` files).
    Downloading,
    /// Cannot sync now (see `lastError`); retried.
    Error,
    /// Not running.
    Stopped,
}

impl PathState {
    /// The documented word (`connecting`, `initialSync`, `watching`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            PathState::Connecting => "connecting",
            PathState::InitialSync => "initialSync",
            PathState::Watching => "watching",
            PathState::Uploading => "uploading",
            PathState::Downloading => "downloading",
            PathState::Error => "error",
            PathState::Stopped => "stopped",
        }
    }
}

/// What kind of problem a file has (`docs/protocol.md`, "Problem kinds", says what each
/// means and what resolves it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ProblemKind {
    /// A transfer failed (retried where it can be).
    Error,
    /// Both sides changed the file: the local version was kept, the container's saved as
    /// a `*.ferry-conflict-remote` copy.
    Conflict,
    /// The container's version is newer than the local one at the first sync: kept
    /// local, not overwritten.
    RemoteNewer,
    /// The container side tried to change a file that configures ferry: refused.
    Protected,
}

impl ProblemKind {
    /// The documented word (`error`, `conflict`, `remoteNewer`, `protected`).
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::Error => "error",
            ProblemKind::Conflict => "conflict",
            ProblemKind::RemoteNewer => "remoteNewer",
            ProblemKind::Protected => "protected",
        }
    }
}

impl std::fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A problem with one file (a per-file error, a conflict, a newer remote file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileProblem {
    /// The path relative to the sync path's local folder.
    pub path: String,
    /// What kind of problem.
    pub kind: ProblemKind,
    /// What happened and what to do.
    pub message: String,
}

/// The state of one sync path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PathStatus {
    /// The sync path's slot: its place in its workspace's config, from 0 (with `folder`,
    /// its identity; names need not be unique across folders).
    #[serde(default)]
    pub id: usize,
    /// The workspace folder's URI (`ferry lsp`; absent in `ferry sync`'s status file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
    /// The sync path's name in the config.
    pub name: String,
    /// The local folder.
    pub local_path: String,
    /// The folder in the container.
    pub container_path: String,
    /// What it does now.
    pub state: PathState,
    /// The pod synced with, once found.
    pub pod: Option<String>,
    /// The container synced with, once found.
    pub container: Option<String>,
    /// Whether the last initial sync recognised the container folder as the one the
    /// index was made with (`null` before the first one). Only then does the index drive
    /// deletions; otherwise the sync merged and deleted nothing (see `docs/safety.md`).
    #[serde(default)]
    pub recognised: Option<bool>,
    /// Why, in words (`container recognised`, `first sync of this folder`, `container not
    /// recognised: …`).
    #[serde(default)]
    pub recognition: Option<String>,
    /// Files waiting to be transferred in the current step (`pendingUp` +
    /// `pendingDown`).
    pub pending: u64,
    /// Of `pending`: files to upload.
    #[serde(default)]
    pub pending_up: u64,
    /// Of `pending`: files to download.
    #[serde(default)]
    pub pending_down: u64,
    /// The transfers of the current step, done or not (0 between steps): with `pending`,
    /// its percentage.
    #[serde(default)]
    pub total: u64,
    /// Files uploaded since the start.
    pub uploaded: u64,
    /// Files downloaded since the start.
    pub downloaded: u64,
    /// Paths deleted (either side) since the start.
    pub deleted: u64,
    /// When a file last moved (ms since the Unix epoch).
    pub last_activity: Option<u64>,
    /// The last error that stopped this path from syncing, if it is not syncing now.
    pub last_error: Option<String>,
    /// Number of current per-file problems (the first [`MAX_LISTED_PROBLEMS`] are
    /// listed in `problems`).
    pub problem_count: u64,
    /// Per-file problems.
    pub problems: Vec<FileProblem>,
}

impl PathStatus {
    /// A path that has not started.
    pub fn new(name: &str, local_path: &str, container_path: &str) -> PathStatus {
        PathStatus {
            id: 0,
            folder: None,
            name: name.to_string(),
            local_path: local_path.to_string(),
            container_path: container_path.to_string(),
            state: PathState::Stopped,
            pod: None,
            container: None,
            recognised: None,
            recognition: None,
            pending: 0,
            pending_up: 0,
            pending_down: 0,
            total: 0,
            uploaded: 0,
            downloaded: 0,
            deleted: 0,
            last_activity: None,
            last_error: None,
            problem_count: 0,
            problems: Vec::new(),
        }
    }
}

/// Everything a front end shows: one entry per sync path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    /// [`STATUS_VERSION`].
    pub version: u32,
    /// Overall health.
    pub health: Health,
    /// The process that syncs.
    pub pid: u32,
    /// When this report was made (ms since the Unix epoch).
    pub updated: u64,
    /// Per sync path, in config order.
    pub paths: Vec<PathStatus>,
    /// Per workspace folder (`ferry lsp` only; empty otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub folders: Vec<FolderStatus>,
}

/// What a workspace folder of `ferry lsp` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FolderState {
    /// Its sync paths run (see `paths`).
    Syncing,
    /// It has no config: nothing to sync (not an error).
    NoConfig,
    /// Its config cannot be used (see the diagnostics).
    ConfigError,
    /// Another ferry process owns it.
    Locked,
    /// Not running.
    Stopped,
}

impl FolderState {
    /// The documented word (`syncing`, `noConfig`, `configError`, `locked`, `stopped`).
    pub fn as_str(self) -> &'static str {
        match self {
            FolderState::Syncing => "syncing",
            FolderState::NoConfig => "noConfig",
            FolderState::ConfigError => "configError",
            FolderState::Locked => "locked",
            FolderState::Stopped => "stopped",
        }
    }
}

/// One workspace folder of `ferry lsp`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FolderStatus {
    /// The folder's URI, as the editor gave it.
    pub uri: String,
    /// What it does.
    pub state: FolderState,
    /// Why, for states other than `syncing`.
    pub message: Option<String>,
}

impl StatusReport {
    /// The report of `paths` and `folders`, now: their health is the paths' (see
    /// [`StatusReport::health_of`]), an error when a folder's config cannot be used, and
    /// at least a warning when another process owns a folder.
    pub fn of(paths: Vec<PathStatus>, folders: Vec<FolderStatus>) -> StatusReport {
        let mut health = StatusReport::health_of(&paths);
        if folders.iter().any(|f| f.state == FolderState::ConfigError) {
            health = Health::Error;
        } else if health != Health::Error && folders.iter().any(|f| f.state == FolderState::Locked)
        {
            health = Health::Warning;
        }
        StatusReport {
            version: STATUS_VERSION,
            health,
            pid: std::process::id(),
            updated: now_ms(),
            paths,
            folders,
        }
    }

    /// The health the paths add up to.
    pub fn health_of(paths: &[PathStatus]) -> Health {
        if paths.is_empty() || paths.iter().all(|p| p.state == PathState::Stopped) {
            Health::Stopped
        } else if paths.iter().any(|p| p.state == PathState::Error) {
            Health::Error
        } else if paths.iter().any(|p| p.problem_count > 0) {
            Health::Warning
        } else {
            Health::Ok
        }
    }
}

/// Something worth a line in a terminal (`ferry sync` prints these).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// A batch of transfers finished.
    Batch {
        /// The sync path.
        name: String,
        /// What happened, e.g. `↑ 3 files (12.0 KiB) in 14 ms`.
        text: String,
    },
    /// Initial sync progress: `done` of `total` files.
    Progress {
        /// The sync path's slot in its workspace.
        slot: usize,
        /// The sync path.
        name: String,
        /// Files done.
        done: u64,
        /// Files to do.
        total: u64,
    },
    /// A message for the user (connected, errors, reports).
    Message {
        /// The sync path.
        name: String,
        /// The message.
        text: String,
        /// Whether it is an error or warning.
        problem: bool,
    },
}

/// The live status of all sync paths of one process: sync tasks update it, front ends
/// subscribe (`watch` for the report, `broadcast` for notices).
#[derive(Debug)]
pub struct StatusHub {
    paths: Mutex<BTreeMap<usize, PathStatus>>,
    folder: Mutex<Option<String>>,
    changed: watch::Sender<u64>,
    notices: broadcast::Sender<Notice>,
}

impl StatusHub {
    /// A hub with no paths.
    pub fn new() -> Arc<StatusHub> {
        Arc::new(StatusHub {
            paths: Mutex::new(BTreeMap::new()),
            folder: Mutex::new(None),
            changed: watch::channel(0).0,
            notices: broadcast::channel(1024).0,
        })
    }

    /// Registers sync path number `slot` (config order) with its initial status.
    pub fn register(&self, slot: usize, status: PathStatus) {
        self.lock().insert(slot, status);
        self.bump();
    }

    /// Removes path `slot` (its folder stopped or went away).
    pub fn unregister(&self, slot: usize) {
        self.lock().remove(&slot);
        self.bump();
    }

    /// Changes the status of path `slot`.
    pub fn update(&self, slot: usize, f: impl FnOnce(&mut PathStatus)) {
        if let Some(p) = self.lock().get_mut(&slot) {
            f(p);
        }
        self.bump();
    }

    /// The current report (each path with its slot as `id`, and this hub's folder).
    pub fn report(&self) -> StatusReport {
        let folder = self
            .folder
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let paths: Vec<PathStatus> = self
            .lock()
            .iter()
            .map(|(slot, p)| PathStatus {
                id: *slot,
                folder: folder.clone(),
                ..p.clone()
            })
            .collect();
        StatusReport::of(paths, Vec::new())
    }

    /// Names the workspace folder (a URI) every path of this hub belongs to.
    pub fn set_folder(&self, uri: &str) {
        *self.folder.lock().unwrap_or_else(|e| e.into_inner()) = Some(uri.to_string());
        self.bump();
    }

    /// Subscribes to changes (the value is a change counter).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Subscribes to notices.
    pub fn notices(&self) -> broadcast::Receiver<Notice> {
        self.notices.subscribe()
    }

    /// Sends a notice to the subscribers (dropped if there are none).
    pub fn notice(&self, notice: Notice) {
        let _ = self.notices.send(notice);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<usize, PathStatus>> {
        self.paths.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n += 1);
    }
}

/// The status file of a workspace: `.ferry/status.json`.
pub fn status_file(state_dir: &std::path::Path) -> std::path::PathBuf {
    state_dir.join("status.json")
}

/// Keeps `.ferry/status.json` current with `hub`, writing at most every `min_gap`,
/// until the hub is dropped. Runs as a task.
pub async fn write_status_file(
    hub: Arc<StatusHub>,
    state_dir: std::path::PathBuf,
    min_gap: std::time::Duration,
) {
    let mut rx = hub.subscribe();
    let path = status_file(&state_dir);
    // What was last written, but for its time: a report that changed nothing else is
    // not written again (an idle sync writes nothing).
    let mut written: Option<StatusReport> = None;
    loop {
        let report = hub.report();
        let same = written.as_ref().is_some_and(|w| {
            w == &StatusReport {
                updated: w.updated,
                ..report.clone()
            }
        });
        if !same {
            if let Ok(json) = serde_json::to_vec_pretty(&report) {
                match crate::state::write_atomic(&path, &json) {
                    Ok(()) => written = Some(report),
                    Err(e) => tracing::warn!("cannot write {}: {e}", path.display()),
                }
            }
        }
        tokio::time::sleep(min_gap).await;
        if rx.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One name per concept: every state's word is the one the payload carries.
    #[test]
    fn every_word_is_the_serialised_one() {
        fn check<T: Serialize>(v: T, word: &str) {
            assert_eq!(serde_json::to_value(v).unwrap(), word);
        }
        for h in [Health::Ok, Health::Warning, Health::Error, Health::Stopped] {
            check(h, h.as_str());
        }
        for p in [
            PathState::Connecting,
            PathState::InitialSync,
            PathState::Watching,
            PathState::Uploading,
            PathState::Downloading,
            PathState::Error,
            PathState::Stopped,
        ] {
            check(p, p.as_str());
        }
        for f in [
            FolderState::Syncing,
            FolderState::NoConfig,
            FolderState::ConfigError,
            FolderState::Locked,
            FolderState::Stopped,
        ] {
            check(f, f.as_str());
        }
        for k in [
            ProblemKind::Error,
            ProblemKind::Conflict,
            ProblemKind::RemoteNewer,
            ProblemKind::Protected,
        ] {
            check(k, k.as_str());
        }
    }

    /// The status file is written when the status changes, and not when only its time
    /// would (an idle sync writes nothing under `.ferry/`).
    #[tokio::test]
    async fn the_status_file_is_written_only_when_the_status_changes() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let hub = StatusHub::new();
        hub.register(0, PathStatus::new("web", "/w", "/app"));
        let writer = tokio::spawn(write_status_file(
            hub.clone(),
            dir.path().to_path_buf(),
            std::time::Duration::from_millis(10),
        ));
        let file = status_file(dir.path());
        let ino = || std::fs::metadata(&file).ok().map(|m| m.ino());
        let t = std::time::Instant::now();
        while ino().is_none() {
            assert!(
                t.elapsed() < std::time::Duration::from_secs(10),
                "a first status file"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let first = ino();
        for _ in 0..5 {
            hub.update(0, |_| {});
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        }
        assert_eq!(ino(), first, "an unchanged status was written again");
        hub.update(0, |p| p.uploaded = 1);
        let t = std::time::Instant::now();
        while ino() == first {
            assert!(
                t.elapsed() < std::time::Duration::from_secs(10),
                "a change is written"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        writer.abort();
    }
}
