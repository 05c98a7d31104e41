//! Shared helpers of the `core_*` tests: building snapshots, a one-line summary of a
//! plan, and a simulated engine that carries a plan out on two snapshots, asserting the
//! preconditions a real filesystem would enforce.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use ferry::core::{
    difference, Action, Difference, Entry, ExcludeSet, Index, Plan, RelPath, Resolution, Side,
    SkipReason, Snapshot, Tolerance,
};

/// 2023-11-14T22:13:20Z in seconds: a base time for tests.
pub const T: i64 = 1_700_000_000;

/// `secs` seconds as nanoseconds.
pub fn s(secs: i64) -> i64 {
    secs * 1_000_000_000
}

/// A path that must be valid.
pub fn p(path: &str) -> RelPath {
    RelPath::new(path).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// A file of `size` bytes modified at `secs` (whole seconds).
pub fn file(size: u64, secs: i64) -> Entry {
    Entry::file(size, s(secs))
}

/// A directory with mtime `secs`.
pub fn dir_at(secs: i64) -> Entry {
    Entry {
        mtime: s(secs),
        ..Entry::dir()
    }
}

/// A snapshot from `(path, entry)` pairs.
pub fn snap(entries: &[(&str, Entry)]) -> Snapshot {
    entries
        .iter()
        .map(|(path, e)| (p(path), e.clone()))
        .collect()
}

/// An index from `(path, entry)` pairs.
pub fn index(entries: &[(&str, Entry)]) -> Index {
    Index::from_snapshot(snap(entries))
}

/// Excludes from three pattern lists.
pub fn excludes(both: &[&str], upload: &[&str], download: &[&str]) -> ExcludeSet {
    ExcludeSet::from_patterns(both, upload, download).expect("valid patterns")
}

fn skip_code(reason: SkipReason) -> &'static str {
    match reason {
        SkipReason::Excluded => "SE",
        SkipReason::ExcludedFromUpload => "SU",
        SkipReason::ExcludedFromDownload => "SD",
        SkipReason::NotEmpty => "SN",
    }
}

/// The plan as `path=CODE+CODE path=CODE …` in tree order. Codes: `U` upload, `D`
/// download, `MR`/`ML` mkdir remote/local, `XR`/`XL` deletion root remote/local,
/// `xR`/`xL` removed as part of a parent's deletion, `RR`/`RL` rename (both paths), `REC`
/// record, `F` forget, `N` remote newer, `C` unresolved conflict, `CL`/`CR` conflict kept
/// local/remote, `CX` restored, `SE`/`SU`/`SD`/`SN` skipped (excluded both / upload /
/// download / not empty). Conflict copies (`SaveConflictCopy`) are not listed.
pub fn summary(plan: &Plan) -> String {
    let mut codes: BTreeMap<RelPath, Vec<&str>> = BTreeMap::new();
    let mut add = |path: &RelPath, code: &'static str| {
        codes.entry(path.clone()).or_default().push(code);
    };
    for action in &plan.actions {
        match action {
            Action::SaveConflictCopy { .. } => {}
            Action::DeleteRemote { deletions } | Action::DeleteLocal { deletions } => {
                let (root, part) = if matches!(action, Action::DeleteRemote { .. }) {
                    ("XR", "xR")
                } else {
                    ("XL", "xL")
                };
                for d in deletions {
                    add(&d.path, root);
                    for c in &d.contents {
                        add(&c.path, part);
                    }
                }
            }
            Action::MkdirRemote { items } => items.iter().for_each(|i| add(&i.path, "MR")),
            Action::MkdirLocal { items } => items.iter().for_each(|i| add(&i.path, "ML")),
            Action::Upload { items } => items.iter().for_each(|i| add(&i.path, "U")),
            Action::Download { items } => items.iter().for_each(|i| add(&i.path, "D")),
            Action::Record { items } => items.iter().for_each(|i| add(&i.path, "REC")),
            Action::Forget { paths } => paths.iter().for_each(|path| add(path, "F")),
            Action::RenameRemote { from, to } => {
                add(from, "RR");
                add(to, "RR");
            }
            Action::RenameLocal { from, to } => {
                add(from, "RL");
                add(to, "RL");
            }
        }
    }
    for c in &plan.conflicts {
        let code = match &c.resolution {
            Resolution::Unresolved => "C",
            Resolution::Kept {
                winner: Side::Local,
                ..
            } => "CL",
            Resolution::Kept {
                winner: Side::Remote,
                ..
            } => "CR",
            Resolution::Restored => "CX",
        };
        add(&c.path, code);
    }
    for r in &plan.remote_newer {
        add(&r.path, "N");
    }
    for skipped in &plan.skipped {
        add(&skipped.path, skip_code(skipped.reason));
    }
    codes
        .iter()
        .map(|(path, codes)| format!("{path}={}", codes.join("+")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// How the simulated container stores an uploaded mtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoteTimes {
    /// Exactly (GNU tar with PAX headers).
    Exact,
    /// Truncated to whole seconds (ustar headers, busybox).
    Seconds,
}

/// The two sides and the index of a simulated engine.
#[derive(Clone, Debug, Default)]
pub struct World {
    pub local: Snapshot,
    pub remote: Snapshot,
    pub index: Index,
    /// Conflict copies created so far.
    pub copies: BTreeSet<RelPath>,
}

fn parent_is_dir(side: &Snapshot, path: &RelPath) -> bool {
    path.parent()
        .is_none_or(|parent| side.get(&parent).is_some_and(Entry::is_dir))
}

fn side_mut(world: &mut World, side: Side) -> &mut Snapshot {
    match side {
        Side::Local => &mut world.local,
        Side::Remote => &mut world.remote,
    }
}

impl World {
    /// Carries `plan` out like an engine (asserting what a filesystem would refuse),
    /// recording each action in the index.
    pub fn apply(&mut self, plan: &Plan, times: RemoteTimes) {
        for action in &plan.actions {
            self.carry_out(action, times);
            self.index.apply(action);
        }
    }

    fn carry_out(&mut self, action: &Action, times: RemoteTimes) {
        match action {
            Action::SaveConflictCopy { path, copy, side } => {
                assert!(!self.local.contains(copy), "conflict copy {copy} exists");
                let entry = match side {
                    Side::Remote => self.remote.get(path).cloned(),
                    Side::Local => self.local.remove(path),
                }
                .unwrap_or_else(|| panic!("conflict copy of missing {path}"));
                self.local.insert(copy.clone(), entry);
                self.copies.insert(copy.clone());
            }
            Action::DeleteRemote { deletions } | Action::DeleteLocal { deletions } => {
                let side = if matches!(action, Action::DeleteRemote { .. }) {
                    Side::Remote
                } else {
                    Side::Local
                };
                let snapshot = side_mut(self, side);
                for d in deletions {
                    assert!(snapshot.contains(&d.path), "delete missing {}", d.path);
                    for c in d.contents.iter().rev() {
                        let still_empty = snapshot.descendants(&c.path).next().is_none();
                        if still_empty {
                            snapshot.remove(&c.path);
                        }
                    }
                    if snapshot.descendants(&d.path).next().is_none() {
                        snapshot.remove(&d.path);
                    }
                }
            }
            Action::MkdirRemote { items } | Action::MkdirLocal { items } => {
                let side = if matches!(action, Action::MkdirRemote { .. }) {
                    Side::Remote
                } else {
                    Side::Local
                };
                let snapshot = side_mut(self, side);
                for item in items {
                    assert!(
                        parent_is_dir(snapshot, &item.path),
                        "mkdir {}: no parent",
                        item.path
                    );
                    assert!(
                        snapshot.get(&item.path).is_none_or(Entry::is_dir),
                        "mkdir {} over a file",
                        item.path
                    );
                    snapshot.insert(item.path.clone(), item.entry.clone());
                }
            }
            Action::Upload { items } | Action::Download { items } => {
                let upload = matches!(action, Action::Upload { .. });
                let snapshot = side_mut(self, if upload { Side::Remote } else { Side::Local });
                for item in items {
                    assert!(
                        parent_is_dir(snapshot, &item.path),
                        "copy {}: no parent",
                        item.path
                    );
                    assert!(
                        !snapshot.get(&item.path).is_some_and(Entry::is_dir),
                        "copy {} over a directory",
                        item.path
                    );
                    let mut entry = item.entry.clone();
                    if upload && times == RemoteTimes::Seconds {
                        entry.mtime = entry.mtime.div_euclid(1_000_000_000) * 1_000_000_000;
                    }
                    snapshot.insert(item.path.clone(), entry);
                }
            }
            Action::RenameRemote { from, to } | Action::RenameLocal { from, to } => {
                let side = if matches!(action, Action::RenameRemote { .. }) {
                    Side::Remote
                } else {
                    Side::Local
                };
                let snapshot = side_mut(self, side);
                assert!(snapshot.contains(from), "rename missing {from}");
                assert!(!snapshot.contains(to), "rename onto existing {to}");
                assert!(parent_is_dir(snapshot, to), "rename {to}: no parent");
                let moved: Vec<(RelPath, Entry)> =
                    std::iter::once((from.clone(), snapshot.get(from).cloned().expect("checked")))
                        .chain(
                            snapshot
                                .descendants(from)
                                .map(|(q, e)| (q.clone(), e.clone())),
                        )
                        .collect();
                snapshot.remove_subtree(from);
                for (q, e) in moved {
                    snapshot.insert(q.rebase(from, to).expect("under from"), e);
                }
            }
            Action::Record { .. } | Action::Forget { .. } => {}
        }
    }

    /// Paths that differ between the two sides (under the default tolerance), except
    /// those `exempt` says may.
    pub fn differing(&self, exempt: impl Fn(&RelPath) -> bool) -> Vec<String> {
        let all: BTreeSet<&RelPath> = self
            .local
            .iter()
            .chain(self.remote.iter())
            .map(|(path, _)| path)
            .collect();
        all.into_iter()
            .filter(|path| !exempt(path) && !self.copies.contains(*path))
            .filter(|path| match (self.local.get(path), self.remote.get(path)) {
                (Some(l), Some(r)) => difference(l, r, Tolerance::default()) != Difference::None,
                _ => true,
            })
            .map(|path| path.to_string())
            .collect()
    }
}

/// Whether `path` or one of its ancestors is reported by `plan` (conflict, remote newer
/// or skipped).
pub fn reported(plan: &Plan, path: &RelPath) -> bool {
    let hit = |q: &RelPath| q == path || q.is_ancestor_of(path);
    plan.conflicts.iter().any(|c| hit(&c.path))
        || plan.remote_newer.iter().any(|r| hit(&r.path))
        || plan.skipped.iter().any(|s| hit(&s.path))
}
