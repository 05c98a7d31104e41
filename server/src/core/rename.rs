//! Folder rename detection: turns "folder A removed + folder B created" on one side into
//! one rename on the other side instead of a deletion and a re-upload of every file.
//!
//! # When it applies
//!
//! Only in plans with an index (live changes, or an initial sync after a restart), for a
//! pair (A, B) where, on the side where the rename happened (W) versus the other (S):
//!
//! - A is a directory the index knows; the plan removes it on S in one piece (so S still
//!   has A's subtree exactly as the index has it: nothing changed or added there);
//! - B is a directory W has and neither S nor the index knows; the plan copies B and
//!   everything under it to S;
//! - A's subtree in the index and B's subtree on W hold the same relative paths, each
//!   with the same kind, size, mtime (precision rule, see [`super::compare`]),
//!   executable bits and symlink target (hash too when both have one);
//! - nothing in either subtree (nor A or B) is excluded in either direction;
//! - the match is unique: A matches no other created folder and B no other removed one.
//!   Two identical folders (or two empty ones) removed or created in the same batch are
//!   therefore handled as removal plus copy.
//!
//! Only folders are detected, not single files (a moved file is one removal plus one
//! upload, which costs about what a rename does). A removed folder counts only when its
//! parent is not removed too (a folder moved together with its parent is part of the
//! parent's rename); a created folder may sit inside another created folder (a folder
//! moved into a new folder).

use std::collections::BTreeMap;

use super::compare::{same_version, Tolerance};
use super::entry::{Entry, Side};
use super::path::RelPath;
use super::planner::{Decision, Planner, Slot};

/// Finds renames among `slots`, marks their subtrees [`Decision::Renamed`] and returns
/// them as `(from, to, side the rename is carried out on)`.
pub(crate) fn find(
    planner: &Planner<'_>,
    slots: &mut BTreeMap<RelPath, Slot>,
) -> Vec<(RelPath, RelPath, Side)> {
    let mut found = Vec::new();
    for target_side in [Side::Remote, Side::Local] {
        let sources = removed_folders(planner, slots, target_side);
        let targets = created_folders(planner, slots, target_side);
        if sources.is_empty() || targets.is_empty() {
            continue;
        }
        for (from, from_tree) in &sources {
            let matching: Vec<&RelPath> = targets
                .iter()
                .filter(|(to, tree)| {
                    same_tree(from_tree, tree) && still_copied(slots, to, target_side)
                })
                .map(|(to, _)| to)
                .collect();
            let [to] = matching[..] else { continue };
            let to_tree = &targets.iter().find(|(p, _)| p == to).expect("listed").1;
            let sources_matching = sources
                .iter()
                .filter(|(_, tree)| same_tree(tree, to_tree))
                .count();
            if sources_matching != 1 {
                continue;
            }
            for root in [from, to] {
                let subtree: Vec<RelPath> = slots
                    .range(root.clone()..)
                    .take_while(|(q, _)| q == &root || root.is_ancestor_of(q))
                    .map(|(q, _)| q.clone())
                    .collect();
                for q in subtree {
                    slots.get_mut(&q).expect("listed").decision = Decision::Renamed;
                }
            }
            found.push((from.clone(), to.clone(), target_side));
        }
    }
    found
}

/// A folder's subtree: relative path below the folder → entry.
type Tree = Vec<(String, Entry)>;

/// Top-most folders removed on `side` in one piece, with their subtrees in the index.
fn removed_folders(
    planner: &Planner<'_>,
    slots: &BTreeMap<RelPath, Slot>,
    side: Side,
) -> Vec<(RelPath, Tree)> {
    let Some(base) = planner.base else {
        return Vec::new();
    };
    slots
        .iter()
        .filter(|(path, slot)| {
            slot.decision == Decision::Delete(side)
                && base.get(path).is_some_and(Entry::is_dir)
                && planner.view(side.other()).entry(path).is_none()
                && !removed_above(slots, path, side)
        })
        .filter_map(|(path, _)| {
            let tree: Tree = base
                .descendants(path)
                .map(|(q, e)| (q.below(path).unwrap_or_default().to_string(), e.clone()))
                .collect();
            let synced = std::iter::once(path.clone())
                .chain(base.descendants(path).map(|(q, _)| q.clone()))
                .all(|q| fully_synced(planner, &q, base.get(&q)));
            synced.then(|| (path.clone(), tree))
        })
        .collect()
}

/// Folders created on the other side of `side` and copied whole to `side` (at any
/// depth: a folder moved into a new folder is found inside it).
fn created_folders(
    planner: &Planner<'_>,
    slots: &BTreeMap<RelPath, Slot>,
    side: Side,
) -> Vec<(RelPath, Tree)> {
    let source = planner.view(side.other());
    slots
        .iter()
        .filter(|(path, slot)| {
            slot.decision == Decision::Copy(side)
                && source.entry(path).is_some_and(Entry::is_dir)
                && planner.view(side).entry(path).is_none()
                && planner.base_entry(path).is_none()
        })
        .filter_map(|(path, _)| {
            let below = source.descendants(path);
            let whole = below.iter().all(|(q, e)| {
                slots
                    .get(q)
                    .is_some_and(|s| s.decision == Decision::Copy(side))
                    && fully_synced(planner, q, Some(e))
            });
            let synced = fully_synced(planner, path, source.entry(path));
            (whole && synced).then(|| {
                let tree = below
                    .into_iter()
                    .map(|(q, e)| (q.below(path).unwrap_or_default().to_string(), e))
                    .collect();
                (path.clone(), tree)
            })
        })
        .collect()
}

/// Whether `root` and everything under it is still planned as a copy to `side` (not
/// yet taken by another rename).
fn still_copied(slots: &BTreeMap<RelPath, Slot>, root: &RelPath, side: Side) -> bool {
    slots
        .range(root.clone()..)
        .take_while(|(q, _)| *q == root || root.is_ancestor_of(q))
        .all(|(_, s)| s.decision == Decision::Copy(side))
}

/// Whether an ancestor of `path` is removed or replaced on `side` (then `path` goes with
/// it and is no rename source of its own).
fn removed_above(slots: &BTreeMap<RelPath, Slot>, path: &RelPath, side: Side) -> bool {
    path.ancestors().any(|a| {
        slots.get(&a).is_some_and(
            |s| matches!(s.decision, Decision::Delete(t) | Decision::Replace(t) if t == side),
        )
    })
}

/// Whether `path` is excluded in neither direction.
fn fully_synced(planner: &Planner<'_>, path: &RelPath, entry: Option<&Entry>) -> bool {
    let is_dir = entry.is_some_and(Entry::is_dir);
    !planner.excludes.excluded_from_upload(path, is_dir)
        && !planner.excludes.excluded_from_download(path, is_dir)
}

fn same_tree(a: &Tree, b: &Tree) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|((pa, ea), (pb, eb))| {
            pa == pb
                && same_version(Some(ea), Some(eb), Tolerance::EXACT)
                && (ea.is_dir() || Tolerance::EXACT.mtimes_equal(ea.mtime, eb.mtime))
        })
}
