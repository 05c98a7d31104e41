//! The sync engine: one [`SyncTask`] per sync path keeps a local folder and a folder in
//! a container in sync, driving the sans-IO [`crate::core`] with the two edges
//! [`crate::local`] (filesystem, `notify`) and [`crate::remote`] (the shell session over
//! [`crate::exec::PodLauncher`]).
//!
//! | module | job |
//! |---|---|
//! | [`workspace`] | [`Workspace`]: the one owner of a workspace folder's sync (lock, status, a task per sync path) |
//! | [`task`] | [`SyncTask`]: connect, initial sync, continuous sync, reconnect |
//! | [`execute`] | carrying a [`crate::core::Plan`] out; per-file failures |
//! | [`landing`] | [`landing::LocalSink`]: downloads stream into local temporary files, committed atomically |
//! | [`store`] | the persisted index (`.ferry/index/`) |
//! | [`hooks`] | `onUpload.exec` commands after upload batches |
//! | [`status`] | [`StatusReport`] (`ferry/status`, `.ferry/status.json`), [`StatusHub`] |
//! | [`changes`] | local batches and remote hints → `Change`s against the index |
//! | [`endpoint`] | the owner's control endpoint (a Unix socket under `.ferry/`) the command line talks to |
//! | [`convert`] | remote records ↔ core entries |
//! | [`connect`] | the [`connect::Connector`] seam: finding the container (Kubernetes in production) |
//! | [`identity`] | the container marker and the verdict: may the index be trusted? |
//! | `initial` | the initial sync of each connection (verdict, plan, batches saved as they complete) |
//! | [`plan_text`] | a plan as lines (`ferry sync --dry-run`) |
//! | [`resolve`] | open conflicts and their resolution (keep local / keep the container's version) |
//! | [`racy`] | racy index entries: content hashes where size and mtime prove nothing |
//!
//! # Life of a sync path
//!
//! 1. **Connecting**: the pod is resolved ([`crate::target`]), a [`crate::remote::Session`]
//!    starts in its container (relative container paths are resolved against the
//!    container's working directory).
//! 2. **Initial sync**: both sides are listed, the persisted index loaded, and
//!    [`crate::core::plan_initial`] decides; the plan is carried out with progress, the
//!    index saved. Newer remote files, conflicts and per-file failures are reported.
//! 3. **Watching**: local changes (`notify`, batched with a short quiet window) and
//!    remote changes (inotify or polling in the container) are planned against the index
//!    and carried out. Failed transfers are retried every few seconds.
//! 4. When the session breaks (pod deleted, stream dropped), the task goes back to 1
//!    with a back-off; the index makes the next initial sync a three-way one, so nothing
//!    that happened meanwhile is lost and nothing is re-sent that is already equal.
//!
//! Built-in excludes (on top of the config's `.devspace/` and `.ferry/`): ferry's own
//! temporary names (`*.ferry-tmp-*`, `.ferry-tmp-*`) in both directions, and conflict
//! copies (`*.ferry-conflict-*`), which stay local.

pub mod changes;
pub mod connect;
pub mod convert;
pub mod endpoint;
pub mod execute;
pub mod hooks;
pub mod identity;
mod initial;
pub mod landing;
pub mod links;
#[cfg(test)]
mod model;
pub mod plan_text;
pub mod racy;
pub mod replicas;
pub mod resolve;
pub mod status;
pub mod store;
pub mod task;
pub mod workspace;

pub use connect::{Connected, Connector, KubeConnector, PodIdentity};
pub use execute::{Failure, Outcome, Retry};
pub use status::{
    FileProblem, FolderState, FolderStatus, Health, Notice, PathState, PathStatus, ProblemKind,
    ReplicaRole, ReplicaStatus, StatusHub, StatusKey, StatusReport,
};
pub use task::{Control, EngineError, EngineOptions, RunSummary, SyncTask};
pub use workspace::Workspace;
