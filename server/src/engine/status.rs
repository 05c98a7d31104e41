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
    /// The replica (pod name) the problem is on, for a `replicas: all` sync path's
    /// secondaries; absent for the sync path's own (its primary's) problems.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
}

/// Whether a replica syncs both ways or one way (`replicas: all`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ReplicaRole {
    /// Syncs both ways under the safety rules: the sync path's own status is its status.
    Primary,
    /// Receives uploads and is made to mirror the local folder; never downloaded from.
    Secondary,
}

impl ReplicaRole {
    /// The documented word (`primary`, `secondary`).
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicaRole::Primary => "primary",
            ReplicaRole::Secondary => "secondary",
        }
    }
}

/// One pod of a `replicas: all` sync path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaStatus {
    /// The pod's name.
    pub pod: String,
    /// The pod's UID (its identity: names are reused).
    pub pod_uid: String,
    /// The container synced with.
    pub container: Option<String>,
    /// Both ways or one way.
    pub role: ReplicaRole,
    /// What it does now.
    pub state: PathState,
    /// Files waiting to be transferred to it now.
    pub pending: u64,
    /// Files uploaded to it since it joined.
    pub uploaded: u64,
    /// Paths deleted in it since it joined.
    pub deleted: u64,
    /// Why it cannot sync, if it cannot now.
    pub last_error: Option<String>,
    /// Its per-file problems (listed in the path's `problems` with this `pod`).
    pub problem_count: u64,
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
    /// The UID of the pod synced with, once found (its identity: names are reused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_uid: Option<String>,
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
    /// `replicas: all`: every pod synced, the primary first (absent otherwise). The
    /// path's own fields are the primary's; a secondary's problems are in `problems`
    /// with its `pod`, and counted in `problemCount`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<ReplicaStatus>,
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
            pod_uid: None,
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
            replicas: Vec::new(),
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
        } else if paths
            .iter()
            .any(|p| p.problem_count > 0 || p.replicas.iter().any(|r| r.state == PathState::Error))
        {
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

/// Where a sync task reports: its sync path's slot and, for a secondary replica of a
/// `replicas: all` path, the pod's UID (`None`: the path itself, or its primary).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StatusKey {
    /// The sync path's slot.
    pub slot: usize,
    /// The secondary replica's pod UID.
    pub replica: Option<String>,
}

impl StatusKey {
    /// The sync path `slot` itself.
    pub fn path(slot: usize) -> StatusKey {
        StatusKey {
            slot,
            replica: None,
        }
    }
}

/// The hub's entries: per key, and which slots sync every replica.
#[derive(Debug, Default)]
struct Entries {
    by_key: BTreeMap<StatusKey, PathStatus>,
    replicated: std::collections::BTreeSet<usize>,
}

/// The live status of all sync paths of one process: sync tasks update it, front ends
/// subscribe (`watch` for the report, `broadcast` for notices).
#[derive(Debug)]
pub struct StatusHub {
    paths: Mutex<Entries>,
    folder: Mutex<Option<String>>,
    changed: watch::Sender<u64>,
    notices: broadcast::Sender<Notice>,
}

impl StatusHub {
    /// A hub with no paths.
    pub fn new() -> Arc<StatusHub> {
        Arc::new(StatusHub {
            paths: Mutex::new(Entries::default()),
            folder: Mutex::new(None),
            changed: watch::channel(0).0,
            notices: broadcast::channel(1024).0,
        })
    }

    /// Registers sync path number `slot` (config order) with its initial status.
    pub fn register(&self, slot: usize, status: PathStatus) {
        self.register_at(&StatusKey::path(slot), status);
    }

    /// Registers the entry `key` (a sync path, or a secondary replica of one).
    pub fn register_at(&self, key: &StatusKey, status: PathStatus) {
        self.lock().by_key.insert(key.clone(), status);
        self.bump();
    }

    /// Marks path `slot` as syncing every replica: its report lists them.
    pub fn set_replicated(&self, slot: usize) {
        self.lock().replicated.insert(slot);
        self.bump();
    }

    /// Removes path `slot` (its folder stopped or went away), with its replicas.
    pub fn unregister(&self, slot: usize) {
        let mut entries = self.lock();
        entries.by_key.retain(|k, _| k.slot != slot);
        entries.replicated.remove(&slot);
        drop(entries);
        self.bump();
    }

    /// Removes the entry `key` (a secondary replica that went away).
    pub fn unregister_at(&self, key: &StatusKey) {
        self.lock().by_key.remove(key);
        self.bump();
    }

    /// Changes the status of path `slot`.
    pub fn update(&self, slot: usize, f: impl FnOnce(&mut PathStatus)) {
        self.update_at(&StatusKey::path(slot), f);
    }

    /// Changes the status of the entry `key`.
    pub fn update_at(&self, key: &StatusKey, f: impl FnOnce(&mut PathStatus)) {
        if let Some(p) = self.lock().by_key.get_mut(key) {
            f(p);
        }
        self.bump();
    }

    /// The current report (each path with its slot as `id`, and this hub's folder; a
    /// `replicas: all` path with its replicas, see [`PathStatus::replicas`]).
    pub fn report(&self) -> StatusReport {
        let folder = self
            .folder
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let entries = self.lock();
        let mut paths: Vec<PathStatus> = Vec::new();
        for (key, p) in &entries.by_key {
            if key.replica.is_some() {
                continue;
            }
            let mut path = PathStatus {
                id: key.slot,
                folder: folder.clone(),
                ..p.clone()
            };
            if entries.replicated.contains(&key.slot) {
                add_replicas(&mut path, &entries.by_key);
            }
            paths.push(path);
        }
        drop(entries);
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

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.paths.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n += 1);
    }
}

/// Lists the replicas of `path` (its own entry is its primary's) from the secondaries'
/// entries in `by_key`; their problems join the path's, each with its `pod`.
fn add_replicas(path: &mut PathStatus, by_key: &BTreeMap<StatusKey, PathStatus>) {
    if let Some(pod) = &path.pod {
        path.replicas.push(ReplicaStatus {
            pod: pod.clone(),
            pod_uid: path.pod_uid.clone().unwrap_or_default(),
            container: path.container.clone(),
            role: ReplicaRole::Primary,
            state: path.state,
            pending: path.pending,
            uploaded: path.uploaded,
            deleted: path.deleted,
            last_error: path.last_error.clone(),
            problem_count: path.problem_count,
        });
    }
    let slot = path.id;
    for (key, s) in by_key.range(
        StatusKey {
            slot,
            replica: Some(String::new()),
        }..,
    ) {
        let Some(uid) = key.replica.as_ref().filter(|_| key.slot == slot) else {
            break;
        };
        let pod = s.pod.clone().unwrap_or_else(|| uid.clone());
        path.replicas.push(ReplicaStatus {
            pod: pod.clone(),
            pod_uid: uid.clone(),
            container: s.container.clone(),
            role: ReplicaRole::Secondary,
            state: s.state,
            pending: s.pending,
            uploaded: s.uploaded,
            deleted: s.deleted,
            last_error: s.last_error.clone(),
            problem_count: s.problem_count,
        });
        path.problem_count += s.problem_count;
        let room = MAX_LISTED_PROBLEMS.saturating_sub(path.problems.len());
        path.problems
            .extend(s.problems.iter().take(room).map(|f| FileProblem {
                pod: Some(pod.clone()),
                message: format!("replica {pod}: {}", f.message),
                ..f.clone()
            }));
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

    /// A `replicas: all` path reports its primary and secondaries; a secondary's
    /// problems join the path's with its pod, and a secondary that cannot sync makes the
    /// health a warning, not an error (the others sync). A path of one pod lists none.
    #[test]
    fn replicas_are_reported_with_the_path() {
        let hub = StatusHub::new();
        let mut primary = PathStatus::new("web", "/w", "/app");
        primary.state = PathState::Watching;
        primary.pod = Some("web-a".into());
        primary.pod_uid = Some("uid-a".into());
        hub.register(0, primary);
        hub.register(1, PathStatus::new("docs", "/d", "/docs"));
        hub.update(1, |p| p.state = PathState::Watching);
        hub.set_replicated(0);
        let key = |uid: &str| StatusKey {
            slot: 0,
            replica: Some(uid.into()),
        };
        for (uid, pod) in [("uid-c", "web-c"), ("uid-b", "web-b")] {
            let mut s = PathStatus::new("web@x", "/w", "/app");
            s.pod = Some(pod.into());
            s.state = PathState::Watching;
            hub.register_at(&key(uid), s);
        }
        assert_eq!(hub.report().health, Health::Ok);
        hub.update_at(&key("uid-b"), |p| {
            p.state = PathState::Error;
            p.last_error = Some("gone".into());
            p.problem_count = 1;
            p.problems = vec![FileProblem {
                path: "a.txt".into(),
                kind: ProblemKind::Error,
                message: "disk full".into(),
                pod: None,
            }];
        });
        let report = hub.report();
        assert_eq!(report.health, Health::Warning);
        let web = &report.paths[0];
        let listed: Vec<(&str, &str, ReplicaRole, PathState)> = web
            .replicas
            .iter()
            .map(|r| (r.pod.as_str(), r.pod_uid.as_str(), r.role, r.state))
            .collect();
        assert_eq!(
            listed,
            [
                ("web-a", "uid-a", ReplicaRole::Primary, PathState::Watching),
                ("web-b", "uid-b", ReplicaRole::Secondary, PathState::Error),
                (
                    "web-c",
                    "uid-c",
                    ReplicaRole::Secondary,
                    PathState::Watching
                ),
            ]
        );
        assert_eq!(web.replicas[1].last_error.as_deref(), Some("gone"));
        assert_eq!(web.problem_count, 1);
        assert_eq!(web.problems[0].pod.as_deref(), Some("web-b"));
        assert_eq!(web.problems[0].message, "replica web-b: disk full");
        assert!(report.paths[1].replicas.is_empty());
        assert_eq!(
            report.paths.len(),
            2,
            "secondaries are no paths of their own"
        );
        hub.unregister_at(&key("uid-b"));
        assert_eq!(hub.report().paths[0].replicas.len(), 2);
        hub.unregister(0);
        assert_eq!(hub.report().paths.len(), 1);
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
