//! Continuous sync: [`plan_local_changes`] and [`plan_remote_changes`] turn a batch of
//! observed [`Change`]s on one side into a [`Plan`], against the [`Index`].
//!
//! # Rules (three-way, see [`super::initial`] for the shared ones)
//!
//! - **Only changed paths act.** A change whose new entry is the index's entry
//!   ([`Tolerance::EXACT`]) produces nothing: this is the echo of what the engine just
//!   uploaded or downloaded (it recorded the entry in the index first). For this to hold
//!   the engine writes downloaded files atomically with their final mtime (temporary
//!   file, `utimes`, rename), so a watcher never sees an intermediate state.
//! - **Deletions** are planned only for paths the index knows, that the other side still
//!   has as the index recorded them (when the other side's snapshot is given), and that
//!   the excludes let through (an upload-excluded local deletion is not carried out
//!   remotely, devspace#1630; a download-excluded remote one not locally).
//! - **Folders** are deleted in one action: a change that removes a directory (or
//!   replaces it by a file) stands for its whole subtree as the index knows it; the
//!   [`super::Deletion`] lists those contents. Anything else found under it on the other
//!   side keeps the folder there ([`super::SkipReason::NotEmpty`]), or restores it.
//! - **Renames** of folders become one rename ([`super::rename`] says when).
//! - **Conflicts**: with the other side's snapshot given, a path that changed there too
//!   since the index is a [`super::Conflict`]: the local version is kept and the remote
//!   one saved as `<name>.ferry-conflict-remote` (a deletion against a change restores the
//!   changed version). Without it, the other side is assumed to be as the index says.
//! - A path neither the index nor (given) the other side knows is copied; one both sides
//!   have that the index does not know follows the `merge` rules (local newer → upload,
//!   remote newer → reported, same time → unresolved conflict).
//!
//! # The batch
//!
//! One [`Change`] per path (a later one for the same path wins). A change to a directory
//! that did not exist as a directory before must be accompanied by changes for
//! everything in it (the engine scans a new folder); index entries under it that the
//! batch does not list count as deleted. A deleted directory needs no changes for its
//! contents.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use serde::{Deserialize, Serialize};

use super::compare::Tolerance;
use super::entry::{Entry, Side};
use super::excludes::ExcludeSet;
use super::index::Index;
use super::path::RelPath;
use super::plan::Plan;
use super::planner::{Mode, Planner, View};
use super::snapshot::Snapshot;

/// One observed change of one path on one side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// The path.
    pub path: RelPath,
    /// Its entry now; `None`: it no longer exists.
    pub new: Option<Entry>,
}

/// Plans a batch of local changes: what to upload, create, rename or delete in the
/// container. `remote` is the container's current snapshot if the engine has one (for
/// conflict detection); otherwise the container is assumed to match the index.
pub fn plan_local_changes(
    changes: &[Change],
    index: &Index,
    remote: Option<&Snapshot>,
    excludes: &ExcludeSet,
    tolerance: Tolerance,
) -> Plan {
    plan_changes(Side::Local, changes, index, remote, excludes, tolerance)
}

/// Plans a batch of remote changes: what to download, create, rename or delete locally.
/// `local` is the local snapshot if the engine has one (for conflict detection);
/// otherwise the local side is assumed to match the index.
pub fn plan_remote_changes(
    changes: &[Change],
    index: &Index,
    local: Option<&Snapshot>,
    excludes: &ExcludeSet,
    tolerance: Tolerance,
) -> Plan {
    plan_changes(Side::Remote, changes, index, local, excludes, tolerance)
}

fn plan_changes(
    side: Side,
    changes: &[Change],
    index: &Index,
    other: Option<&Snapshot>,
    excludes: &ExcludeSet,
    tolerance: Tolerance,
) -> Plan {
    let base = index.entries();
    let changed = Overlay {
        changes: changes
            .iter()
            .map(|c| (c.path.clone(), c.new.clone()))
            .collect(),
        base,
    };
    let mut candidates = BTreeSet::new();
    for (path, new) in &changed.changes {
        candidates.insert(path.clone());
        if changed.hides_base_below(path, new.as_ref()) {
            candidates.extend(base.descendants(path).map(|(q, _)| q.clone()));
        }
    }
    let other: &dyn View = match other {
        Some(snapshot) => snapshot,
        None => base,
    };
    let (local, remote): (&dyn View, &dyn View) = match side {
        Side::Local => (&changed, other),
        Side::Remote => (other, &changed),
    };
    Planner {
        local,
        remote,
        base: Some(base),
        racy: Some(index.racy()),
        excludes,
        tolerance,
        mode: Mode::Changes(side),
    }
    .plan(candidates)
}

/// The changed side: the index with the batch laid over it.
struct Overlay<'a> {
    changes: BTreeMap<RelPath, Option<Entry>>,
    base: &'a Snapshot,
}

impl Overlay<'_> {
    /// Whether the change at `path` means the index's entries under it are gone: it was
    /// deleted, is no directory now, or is a directory that was none before.
    fn hides_base_below(&self, path: &RelPath, new: Option<&Entry>) -> bool {
        match new {
            None => true,
            Some(entry) => !entry.is_dir() || !self.base.get(path).is_some_and(Entry::is_dir),
        }
    }
}

impl View for Overlay<'_> {
    fn entry(&self, path: &RelPath) -> Option<&Entry> {
        if let Some(new) = self.changes.get(path) {
            return new.as_ref();
        }
        for ancestor in path.ancestors() {
            if let Some(new) = self.changes.get(&ancestor) {
                if self.hides_base_below(&ancestor, new.as_ref()) {
                    return None;
                }
                break;
            }
        }
        self.base.get(path)
    }

    fn descendants(&self, path: &RelPath) -> Vec<(RelPath, Entry)> {
        let listed = self
            .changes
            .range((Bound::Excluded(path), Bound::Unbounded))
            .take_while(|(q, _)| path.is_ancestor_of(q))
            .map(|(q, _)| q);
        let known = self.base.descendants(path).map(|(q, _)| q);
        let all: BTreeSet<&RelPath> = listed.chain(known).collect();
        all.into_iter()
            .filter_map(|q| self.entry(q).map(|e| (q.clone(), e.clone())))
            .collect()
    }
}
