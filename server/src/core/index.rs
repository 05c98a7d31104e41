//! [`Index`]: the last state both sides agreed on, per path — the base of the three-way
//! decisions, of echo suppression and of every deletion.
//!
//! Invariant kept by the planners: a path is in the index only if, when it was recorded,
//! both sides had it as that entry (an upload or download finished, or both were found
//! equal). A path the index does not know is never deleted by a plan with an index.
//!
//! # Racy entries
//!
//! An entry recorded less than the file systems' timestamp resolution after its mtime
//! (the engine uses two seconds) is *racy* (git's "racily clean" problem): a later write
//! of the same size in the same second would leave size and mtime as recorded. The
//! planners never count a racy entry as unchanged on size and mtime alone — only when
//! both entries carry the same content hash ([`super::compare::unchanged_since`]); the
//! engine hashes what it observes at racy paths, and clears the mark once it has checked
//! both sides again after that second has passed. Recording an entry anew clears its
//! mark; the engine sets it again where needed.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::entry::Entry;
use super::path::RelPath;
use super::plan::{Action, Plan};
use super::snapshot::Snapshot;

/// The last agreed state of a sync path. The engine persists it (`.ferry/`) and keeps it
/// current with [`Index::apply`] after each completed action.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Index {
    entries: Snapshot,
    /// Racy paths (see the module docs); persisted beside the entries by the engine.
    #[serde(skip)]
    racy: BTreeSet<RelPath>,
}

impl Index {
    /// An empty index (nothing agreed yet).
    pub fn new() -> Index {
        Index::default()
    }

    /// An index holding exactly `entries`.
    pub fn from_snapshot(entries: Snapshot) -> Index {
        Index {
            entries,
            racy: BTreeSet::new(),
        }
    }

    /// The agreed entries.
    pub fn entries(&self) -> &Snapshot {
        &self.entries
    }

    /// The agreed entry at `path`, if any.
    pub fn get(&self, path: &RelPath) -> Option<&Entry> {
        self.entries.get(path)
    }

    /// The number of agreed paths.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is agreed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The racy paths (see the module docs).
    pub fn racy(&self) -> &BTreeSet<RelPath> {
        &self.racy
    }

    /// Whether the entry at `path` is racy.
    pub fn is_racy(&self, path: &RelPath) -> bool {
        self.racy.contains(path)
    }

    /// Marks the entry at `path` racy (nothing happens for a path the index does not
    /// know), or clears the mark.
    pub fn set_racy(&mut self, path: &RelPath, racy: bool) {
        if racy && self.entries.contains(path) {
            self.racy.insert(path.clone());
        } else {
            self.racy.remove(path);
        }
    }

    /// Gives the entry at `path` a content hash (the engine learnt it), if the index
    /// knows the path.
    pub fn set_hash(&mut self, path: &RelPath, hash: super::ContentHash) {
        if let Some(mut entry) = self.entries.get(path).cloned() {
            entry.hash = Some(hash);
            self.entries.insert(path.clone(), entry);
        }
    }

    /// Records the effect of `action`, which the engine carried out completely:
    /// copies, directory creations and [`Action::Record`] set their items' entries;
    /// deletions remove the paths with everything under them; [`Action::Forget`] removes
    /// exactly its paths;
    /// renames move the subtree; [`Action::SaveConflictCopy`] changes nothing (the copy
    /// is not agreed: it exists locally only).
    pub fn apply(&mut self, action: &Action) {
        match action {
            Action::SaveConflictCopy { .. } => {}
            Action::DeleteRemote { deletions } | Action::DeleteLocal { deletions } => {
                for deletion in deletions {
                    self.entries.remove_subtree(&deletion.path);
                    self.forget_racy_below(&deletion.path);
                }
            }
            Action::MkdirRemote { items }
            | Action::MkdirLocal { items }
            | Action::Upload { items }
            | Action::Download { items }
            | Action::Record { items } => {
                for item in items {
                    self.entries.insert(item.path.clone(), item.entry.clone());
                    self.racy.remove(&item.path);
                }
            }
            Action::RenameRemote { from, to } | Action::RenameLocal { from, to } => {
                let moved: Vec<(RelPath, Entry)> = self
                    .entries
                    .get(from)
                    .map(|entry| (from.clone(), entry.clone()))
                    .into_iter()
                    .chain(
                        self.entries
                            .descendants(from)
                            .map(|(p, e)| (p.clone(), e.clone())),
                    )
                    .collect();
                self.entries.remove_subtree(from);
                self.entries.remove_subtree(to);
                let racy: Vec<RelPath> = self
                    .racy
                    .iter()
                    .filter(|p| *p == from || from.is_ancestor_of(p))
                    .cloned()
                    .collect();
                self.forget_racy_below(from);
                self.forget_racy_below(to);
                for (path, entry) in moved {
                    if let Some(path) = path.rebase(from, to) {
                        self.entries.insert(path, entry);
                    }
                }
                for path in racy {
                    if let Some(path) = path.rebase(from, to) {
                        self.racy.insert(path);
                    }
                }
            }
            Action::Forget { paths } => {
                for path in paths {
                    self.entries.remove(path);
                    self.racy.remove(path);
                }
            }
        }
    }

    fn forget_racy_below(&mut self, path: &RelPath) {
        self.racy.retain(|p| p != path && !path.is_ancestor_of(p));
    }

    /// [`Index::apply`] for every action of `plan`, in order (all carried out).
    pub fn apply_plan(&mut self, plan: &Plan) {
        for action in &plan.actions {
            self.apply(action);
        }
    }
}
