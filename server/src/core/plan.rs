//! [`Plan`]: what a planner decided — ordered [`Action`]s for the engine to carry out, and
//! the reports ([`Conflict`], [`RemoteNewer`], [`Skipped`]) for the user.
//!
//! # Order
//!
//! [`Plan::actions`] is in execution order, by kind: conflict copies first (before
//! anything overwrites the losing version), then deletions (before creations, so a file
//! can replace a directory), directory creations (parents first), renames, uploads,
//! downloads, and last the index-only [`Action::Record`] and [`Action::Forget`] — except
//! the [`Action::Forget`] of an index that the initial sync's reset guard set aside, which
//! comes first (see [`super::initial`]). Within
//! one action, paths are in tree order. Empty kinds are left out.
//!
//! # The index
//!
//! After the engine carried out an action, [`super::Index::apply`] records its effect; an
//! action that failed is not applied (the next scan or change sees the difference again).

use serde::{Deserialize, Serialize};

use super::entry::{Entry, Side};
use super::path::RelPath;

/// A path with the entry it is planned with: for a copy, the source side's entry (what
/// the index records once the copy is done); for [`Action::Record`], the agreed entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    /// The path.
    pub path: RelPath,
    /// Its entry.
    pub entry: Entry,
}

/// Removal of one path on one side, a whole directory in one piece.
///
/// The engine removes the `contents` (files and links, then the directories deepest
/// first, each only if it is still as listed) and then `path` — a directory only if it
/// is empty by then. It never removes anything else: a directory that still holds
/// something not listed (created meanwhile, or excluded) stays, and the engine reports
/// it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deletion {
    /// The path to remove, as known on the side it is removed from.
    pub path: RelPath,
    /// Its entry on that side.
    pub entry: Entry,
    /// Everything under it that is removed with it, in tree order (empty for a file).
    pub contents: Vec<Item>,
}

/// One step of a plan. Each kind is one batch; see the module docs for the order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "action")]
pub enum Action {
    /// Save the losing version of a conflicting file as `copy`, a new local path next to
    /// it, before the winning version overwrites it: with `side` = `Remote`, download
    /// the container's `path` into the local `copy`; with `side` = `Local`, rename the
    /// local `path` to `copy`. The copy is an ordinary local file afterwards (the index
    /// does not know it, so the next scan uploads it unless it is excluded).
    SaveConflictCopy {
        /// The conflicting path.
        path: RelPath,
        /// The new local path for the losing version.
        copy: RelPath,
        /// Whose version is saved: the loser's side.
        side: Side,
    },
    /// Remove these paths in the container.
    DeleteRemote {
        /// The removals, top-most paths only.
        deletions: Vec<Deletion>,
    },
    /// Remove these local paths.
    DeleteLocal {
        /// The removals, top-most paths only.
        deletions: Vec<Deletion>,
    },
    /// Create these directories in the container (parents first).
    MkdirRemote {
        /// The directories with their local entries.
        items: Vec<Item>,
    },
    /// Create these local directories (parents first).
    MkdirLocal {
        /// The directories with their remote entries.
        items: Vec<Item>,
    },
    /// Rename `from` to `to` in the container (a folder renamed locally, see
    /// [`super::reconcile`]); `to` does not exist there yet and its parent does.
    RenameRemote {
        /// The old path.
        from: RelPath,
        /// The new path.
        to: RelPath,
    },
    /// Rename `from` to `to` locally (a folder renamed in the container).
    RenameLocal {
        /// The old path.
        from: RelPath,
        /// The new path.
        to: RelPath,
    },
    /// Copy these local files and symlinks to the container (content, mtime, mode),
    /// replacing a file or symlink that is there.
    Upload {
        /// The files with their local entries.
        items: Vec<Item>,
    },
    /// Copy these files and symlinks from the container (content, mtime, mode),
    /// replacing a local file or symlink.
    Download {
        /// The files with their remote entries.
        items: Vec<Item>,
    },
    /// No I/O: both sides already have these entries; the index records them.
    Record {
        /// The agreed entries.
        items: Vec<Item>,
    },
    /// No I/O: the index forgets these entries (exactly these paths, not their
    /// subtrees): neither side has them any more, or the index was ignored by the
    /// initial sync's reset guard and they were not agreed anew.
    Forget {
        /// The paths.
        paths: Vec<RelPath>,
    },
}

impl Action {
    /// Whether carrying the action out touches a filesystem (everything but
    /// [`Action::Record`] and [`Action::Forget`]).
    pub fn is_io(&self) -> bool {
        !matches!(self, Action::Record { .. } | Action::Forget { .. })
    }
}

/// What kind of disagreement a [`Conflict`] is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ConflictKind {
    /// Both sides changed the path since they last agreed (the index), differently.
    BothChanged,
    /// The `deleted` side removed the path, the other changed it, since they last agreed.
    ChangedAndDeleted {
        /// The side that deleted it.
        deleted: Side,
    },
    /// One side has a directory where the other has a file or symlink, and it could not
    /// be resolved (by the strategy, or because the directory holds something that may
    /// not be deleted).
    TypeDiffers,
    /// No common base to decide from (no index entry) and the strategy picks no winner:
    /// the files differ but have the same mtime (`merge`, `preferNewest`), or the
    /// strategy is `keepAll`.
    Differs,
}

/// What the plan does about a [`Conflict`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Resolution {
    /// Nothing: both sides stay as they are until the user decides.
    Unresolved,
    /// The `winner`'s version is copied over the other side's, whose version is first
    /// saved as the local file `copy` ([`Action::SaveConflictCopy`]).
    Kept {
        /// Whose version is now on both sides.
        winner: Side,
        /// The local path holding the other version.
        copy: RelPath,
    },
    /// The changed version is copied back to the side that deleted the path: a change
    /// wins over a deletion.
    Restored,
}

/// A path both sides disagree on in a way the plan must not settle silently.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conflict {
    /// The path.
    pub path: RelPath,
    /// How the sides disagree.
    pub kind: ConflictKind,
    /// The local entry (`None`: absent locally).
    pub local: Option<Entry>,
    /// The remote entry (`None`: absent in the container).
    pub remote: Option<Entry>,
    /// What the plan does about it.
    pub resolution: Resolution,
}

/// A file the container has in a newer version that the `merge` strategy does not
/// download (it never overwrites a local file): both are left as they are and reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteNewer {
    /// The path.
    pub path: RelPath,
    /// The local (older) entry.
    pub local: Entry,
    /// The remote (newer) entry.
    pub remote: Entry,
}

/// Why a path was left alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SkipReason {
    /// Excluded in both directions (`excludePaths`, or both per-direction lists).
    Excluded,
    /// Something was to go to the container, but the path is upload-excluded.
    ExcludedFromUpload,
    /// Something was to come from the container, but the path is download-excluded.
    ExcludedFromDownload,
    /// A directory was to be removed, but it holds something that may not be removed
    /// (excluded, changed, or unknown to the index); it is kept.
    NotEmpty,
}

/// A path the plan leaves alone although the sides differ. Only the top-most path of a
/// skipped subtree is listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Skipped {
    /// The path.
    pub path: RelPath,
    /// Why.
    pub reason: SkipReason,
}

/// The outcome of a planner: what to do, and what to tell the user.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// The actions, in execution order (see the module docs).
    pub actions: Vec<Action>,
    /// Conflicts, in tree order, with what the plan does about each.
    pub conflicts: Vec<Conflict>,
    /// Files left older locally than in the container (`merge` only), in tree order.
    pub remote_newer: Vec<RemoteNewer>,
    /// Paths left alone, in tree order.
    pub skipped: Vec<Skipped>,
}

impl Plan {
    /// Whether the plan does nothing and reports nothing.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
            && self.conflicts.is_empty()
            && self.remote_newer.is_empty()
            && self.skipped.is_empty()
    }

    /// How many files the plan copies (uploads and downloads).
    pub fn transfers(&self) -> u64 {
        self.actions
            .iter()
            .map(|a| match a {
                Action::Upload { items } | Action::Download { items } => items.len() as u64,
                _ => 0,
            })
            .sum()
    }

    /// Whether any action touches a filesystem.
    pub fn has_io(&self) -> bool {
        self.actions.iter().any(Action::is_io)
    }
}
