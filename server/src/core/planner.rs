//! The decision engine shared by [`super::initial`] and [`super::reconcile`]: per-path
//! decisions, then whole-tree passes, then the [`Plan`].
//!
//! 1. **Decide** each candidate path from its local, remote and index entries and the
//!    excludes (module `decide`): three-way when the index knows the path (or one side
//!    lacks it while an index exists), pairwise by the strategy otherwise.
//! 2. **Deletions bottom-up**: a directory is removed in one piece only when everything
//!    under it on that side is removed too; otherwise it stays (`NotEmpty`), or is
//!    created on the other side when something under it is copied there (or, for a
//!    mirror strategy without an index, so that both sides have the folder), or — for a
//!    replacement by a file — the replacement becomes an unresolved conflict.
//! 3. **Parents top-down**: every copy's parent directories exist on the target side.
//! 4. **Renames** (with an index): see [`super::rename`].
//! 5. **Emit** (module `emit`) the actions in execution order, the conflicts with their
//!    copy names, and the reports.

use std::collections::{BTreeMap, BTreeSet};

use super::compare::Tolerance;
use super::entry::{Entry, Side};
use super::excludes::ExcludeSet;
use super::path::RelPath;
use super::plan::{ConflictKind, Plan, SkipReason};
use super::rename;
use super::snapshot::Snapshot;
use crate::config::InitialSync;

/// Read access to one side's entries (a snapshot, or the index overlaid with changes).
pub(crate) trait View {
    /// The entry at `path`, if the side has it.
    fn entry(&self, path: &RelPath) -> Option<&Entry>;
    /// Everything the side has strictly under `path`, in tree order.
    fn descendants(&self, path: &RelPath) -> Vec<(RelPath, Entry)>;
}

impl View for Snapshot {
    fn entry(&self, path: &RelPath) -> Option<&Entry> {
        self.get(path)
    }

    fn descendants(&self, path: &RelPath) -> Vec<(RelPath, Entry)> {
        Snapshot::descendants(self, path)
            .map(|(p, e)| (p.clone(), e.clone()))
            .collect()
    }
}

/// What the planner is planning for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The initial sync with this strategy.
    Initial(InitialSync),
    /// Live changes observed on this side: only paths that changed on it since the index
    /// lead to actions; the strategy for paths without a base is `merge`.
    Changes(Side),
}

/// One path's decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Nothing to do.
    Nothing,
    /// Both sides agree; the index records it.
    Record,
    /// Neither side has it; the index forgets it.
    Forget,
    /// Copy it to this side (create the directory, or transfer the file).
    Copy(Side),
    /// Remove what this side has at the path (a directory where a file or link goes, or
    /// the reverse), then copy.
    Replace(Side),
    /// Remove it on this side.
    Delete(Side),
    /// Leave it; report why.
    Skip(SkipReason),
    /// Leave it; report the remote file as newer (`merge`).
    RemoteNewer,
    /// An unresolved conflict: nothing here and nothing below.
    Hold,
    /// Below a [`Decision::Hold`]: nothing, no report.
    Blocked,
    /// Part of a detected rename (source or target subtree): the rename action covers it.
    Renamed,
}

/// A conflict found while deciding; its copy name is chosen when the plan is emitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Pending {
    pub(crate) kind: ConflictKind,
    pub(crate) resolution: PendingResolution,
}

/// What a pending conflict's resolution will be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PendingResolution {
    Unresolved,
    Kept(Side),
    Restored,
}

/// A decision with the conflict it reports, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    pub(crate) decision: Decision,
    pub(crate) conflict: Option<Pending>,
}

impl Slot {
    pub(crate) fn new(decision: Decision) -> Slot {
        Slot {
            decision,
            conflict: None,
        }
    }

    pub(crate) fn conflict(
        decision: Decision,
        kind: ConflictKind,
        resolution: PendingResolution,
    ) -> Slot {
        Slot {
            decision,
            conflict: Some(Pending { kind, resolution }),
        }
    }
}

/// Whether `entry` is a directory.
pub(crate) fn is_dir(entry: Option<&Entry>) -> bool {
    entry.is_some_and(Entry::is_dir)
}

/// The inputs of one planning run.
pub(crate) struct Planner<'a> {
    pub(crate) local: &'a dyn View,
    pub(crate) remote: &'a dyn View,
    pub(crate) base: Option<&'a Snapshot>,
    /// The racy paths of the index the base comes from (see [`super::index`]).
    pub(crate) racy: Option<&'a BTreeSet<RelPath>>,
    pub(crate) excludes: &'a ExcludeSet,
    pub(crate) tolerance: Tolerance,
    pub(crate) mode: Mode,
}

impl Planner<'_> {
    /// The view of `side`.
    pub(crate) fn view(&self, side: Side) -> &dyn View {
        match side {
            Side::Local => self.local,
            Side::Remote => self.remote,
        }
    }

    /// The index entry at `path`.
    pub(crate) fn base_entry(&self, path: &RelPath) -> Option<&Entry> {
        self.base.and_then(|base| base.get(path))
    }

    /// Whether `observed` is still the index's version of `path` (racy entries need the
    /// same content hash, see [`super::index`]).
    pub(crate) fn unchanged(&self, path: &RelPath, observed: Option<&Entry>) -> bool {
        let racy = self.racy.is_some_and(|r| r.contains(path));
        super::compare::unchanged_since(observed, self.base_entry(path), racy)
    }

    /// The strategy for paths without a base (`merge` for live changes).
    pub(crate) fn strategy(&self) -> InitialSync {
        match self.mode {
            Mode::Initial(strategy) => strategy,
            Mode::Changes(_) => InitialSync::Merge,
        }
    }

    /// Plans `candidates` (every path that may need something; others are left alone).
    pub(crate) fn plan(&self, candidates: BTreeSet<RelPath>) -> Plan {
        let mut slots = self.decide_all(candidates);
        self.settle_deletions(&mut slots);
        self.ensure_parents(&mut slots);
        let renames = if self.base.is_some() {
            rename::find(self, &mut slots)
        } else {
            Vec::new()
        };
        self.emit(&slots, renames)
    }

    /// Step 1, top-down so that subtrees of held or replaced paths are known.
    fn decide_all(&self, candidates: BTreeSet<RelPath>) -> BTreeMap<RelPath, Slot> {
        let mut slots = BTreeMap::new();
        let mut held: Option<RelPath> = None;
        let mut replaced: Option<(RelPath, Side)> = None;
        for path in candidates {
            if held.as_ref().is_some_and(|h| h.is_ancestor_of(&path)) {
                slots.insert(path, Slot::new(Decision::Blocked));
                continue;
            }
            if let Some((root, loser)) = &replaced {
                if root.is_ancestor_of(&path) {
                    let slot = self.forced_delete(&path, *loser);
                    slots.insert(path, slot);
                    continue;
                }
            }
            let slot = self.decide(&path);
            if self.kind_mismatch_stays(&path, &slot.decision) {
                // Nothing can be synced below a path that stays a directory on one side
                // and a file on the other.
                held = Some(path.clone());
            }
            match slot.decision {
                Decision::Hold => held = Some(path.clone()),
                Decision::Replace(to) => {
                    // Without a base the winner's kind decides the loser's subtree: a file
                    // or link replacing a directory removes everything under it.
                    let pairwise = self.base_entry(&path).is_none();
                    let winner_is_dir = is_dir(self.view(to.other()).entry(&path));
                    if pairwise && !winner_is_dir {
                        replaced = Some((path.clone(), to));
                    }
                }
                _ => {}
            }
            slots.insert(path, slot);
        }
        slots
    }

    /// Whether one side has a directory and the other a file or link at `path`, and
    /// `decision` does not replace either.
    fn kind_mismatch_stays(&self, path: &RelPath, decision: &Decision) -> bool {
        let (Some(l), Some(r)) = (self.local.entry(path), self.remote.entry(path)) else {
            return false;
        };
        (l.is_dir() != r.is_dir()) && !matches!(decision, Decision::Replace(_))
    }

    /// Step 2, bottom-up: settle directory removals and replacements.
    fn settle_deletions(&self, slots: &mut BTreeMap<RelPath, Slot>) {
        let keys: Vec<RelPath> = slots.keys().cloned().collect();
        for path in keys.iter().rev() {
            let (side, replace) = match slots[path].decision {
                Decision::Delete(side) => (side, false),
                Decision::Replace(side) => (side, true),
                _ => continue,
            };
            let view = self.view(side);
            if !is_dir(view.entry(path)) {
                continue;
            }
            let whole = view.descendants(path).iter().all(|(q, _)| {
                slots
                    .get(q)
                    .is_some_and(|s| s.decision == Decision::Delete(side))
            });
            if whole {
                continue;
            }
            let below: Vec<RelPath> = slots
                .range(path.clone()..)
                .skip(1)
                .take_while(|(q, _)| path.is_ancestor_of(q))
                .map(|(q, _)| q.clone())
                .collect();
            if replace {
                slots.insert(
                    path.clone(),
                    Slot::conflict(
                        Decision::Hold,
                        ConflictKind::TypeDiffers,
                        PendingResolution::Unresolved,
                    ),
                );
                for q in below {
                    slots.insert(q, Slot::new(Decision::Blocked));
                }
            } else {
                let there = side.other();
                let restores = below.iter().any(|q| {
                    matches!(slots[q].decision,
                        Decision::Copy(to) | Decision::Replace(to) if to == there)
                });
                // A mirror (no base) that cannot remove a folder because of what it
                // holds creates it on the other side instead, so both have the folder.
                let mirrored = self.base_entry(path).is_none() && {
                    let entry = view.entry(path);
                    let (l, r) = match side {
                        Side::Local => (entry, None),
                        Side::Remote => (None, entry),
                    };
                    self.flows(path, l, r).toward(there)
                };
                slots.get_mut(path).expect("key from the map").decision = if restores || mirrored {
                    Decision::Copy(there)
                } else {
                    Decision::Skip(SkipReason::NotEmpty)
                };
            }
        }
    }

    /// Step 3, top-down: the parents of every copy exist on its target side.
    fn ensure_parents(&self, slots: &mut BTreeMap<RelPath, Slot>) {
        let copies: Vec<(RelPath, Side)> = slots
            .iter()
            .filter_map(|(p, s)| match s.decision {
                Decision::Copy(to) | Decision::Replace(to) => Some((p.clone(), to)),
                _ => None,
            })
            .collect();
        for (path, to) in copies {
            for ancestor in path.ancestors() {
                let planned = slots.get(&ancestor).is_some_and(
                    |s| matches!(s.decision, Decision::Copy(t) | Decision::Replace(t) if t == to),
                );
                let target = self.view(to).entry(&ancestor);
                if planned || is_dir(target) {
                    break;
                }
                if target.is_some() {
                    // A file or link where the copy needs a directory (possible when
                    // only one side's changes are planned): nothing below can be synced.
                    if slots
                        .get(&ancestor)
                        .is_none_or(|s| s.decision != Decision::Hold)
                    {
                        slots.insert(
                            ancestor,
                            Slot::conflict(
                                Decision::Hold,
                                ConflictKind::TypeDiffers,
                                PendingResolution::Unresolved,
                            ),
                        );
                    }
                    break;
                }
                if !is_dir(self.view(to.other()).entry(&ancestor)) {
                    break;
                }
                slots.insert(ancestor, Slot::new(Decision::Copy(to)));
            }
        }
        block_under_holds(slots);
    }
}

/// Everything under a [`Decision::Hold`] becomes [`Decision::Blocked`].
fn block_under_holds(slots: &mut BTreeMap<RelPath, Slot>) {
    let mut hold: Option<RelPath> = None;
    for (path, slot) in slots.iter_mut() {
        if hold.as_ref().is_some_and(|h| h.is_ancestor_of(path)) {
            *slot = Slot::new(Decision::Blocked);
        } else if slot.decision == Decision::Hold {
            hold = Some(path.clone());
        }
    }
}
