//! [`Index`]: the last state both sides agreed on, per path — the base of the three-way
//! decisions, of echo suppression and of every deletion.
//!
//! Invariant kept by the planners: a path is in the index only if, when it was recorded,
//! both sides had it as that entry (an upload or download finished, or both were found
//! equal). A path the index does not know is never deleted by a plan with an index.

use serde::{Deserialize, Serialize};

use super::entry::Entry;
use super::path::RelPath;
use super::plan::{Action, Plan};
use super::snapshot::Snapshot;

/// The last agreed state of a sync path. The engine persists it (`.ferry/`) and keeps it
/// current with [`Index::apply`] after each completed action.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Index(Snapshot);

impl Index {
    /// An empty index (nothing agreed yet).
    pub fn new() -> Index {
        Index::default()
    }

    /// An index holding exactly `entries`.
    pub fn from_snapshot(entries: Snapshot) -> Index {
        Index(entries)
    }

    /// The agreed entries.
    pub fn entries(&self) -> &Snapshot {
        &self.0
    }

    /// The agreed entry at `path`, if any.
    pub fn get(&self, path: &RelPath) -> Option<&Entry> {
        self.0.get(path)
    }

    /// The number of agreed paths.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing is agreed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
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
                    self.0.remove_subtree(&deletion.path);
                }
            }
            Action::MkdirRemote { items }
            | Action::MkdirLocal { items }
            | Action::Upload { items }
            | Action::Download { items }
            | Action::Record { items } => {
                for item in items {
                    self.0.insert(item.path.clone(), item.entry.clone());
                }
            }
            Action::RenameRemote { from, to } | Action::RenameLocal { from, to } => {
                let moved: Vec<(RelPath, Entry)> = self
                    .0
                    .get(from)
                    .map(|entry| (from.clone(), entry.clone()))
                    .into_iter()
                    .chain(
                        self.0
                            .descendants(from)
                            .map(|(p, e)| (p.clone(), e.clone())),
                    )
                    .collect();
                self.0.remove_subtree(from);
                self.0.remove_subtree(to);
                for (path, entry) in moved {
                    if let Some(path) = path.rebase(from, to) {
                        self.0.insert(path, entry);
                    }
                }
            }
            Action::Forget { paths } => {
                for path in paths {
                    self.0.remove(path);
                }
            }
        }
    }

    /// [`Index::apply`] for every action of `plan`, in order (all carried out).
    pub fn apply_plan(&mut self, plan: &Plan) {
        for action in &plan.actions {
            self.apply(action);
        }
    }
}
