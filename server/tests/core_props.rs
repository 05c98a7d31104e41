//! Property tests of the planners' invariants over random small trees (every path of a
//! 3×3 universe, random kinds, sizes, times and modes on each side and in the index) and
//! random exclude sets:
//!
//! - `merge` without an index never deletes and never overwrites a local file;
//! - a plan carried out converges both sides except on reported paths, and planning
//!   again does nothing more (except uploading conflict copies);
//! - with an index, `merge`/`keepAll` initial plans and every live plan delete only paths
//!   the index knows, as the index recorded them;
//! - no action moves content in a direction the excludes forbid;
//! - a batch of changes that all match the index plans nothing (echo);
//! - when the reset guard sets an index aside, the index left after any subset of the
//!   plan's transfers failed holds only what was recorded anew or transferred;
//! - the strategy of an untrusted initial sync deletes nothing on either side and
//!   overwrites no local file, whatever the configured strategy.

mod core_support;

use std::collections::BTreeSet;

use core_support::*;
use ferry::config::InitialSync;
use ferry::core::{
    plan_initial, plan_local_changes, plan_remote_changes, same_version, Action, Change, Entry,
    ExcludeSet, Index, Plan, RelPath, Side, Snapshot, Tolerance,
};
use proptest::prelude::*;

/// Every path of the universe, parents first.
fn universe() -> Vec<RelPath> {
    let names = ["a", "b", "c"];
    let mut paths = Vec::new();
    for first in names {
        paths.push(p(first));
        for second in names {
            paths.push(p(&format!("{first}/{second}")));
        }
    }
    paths.sort();
    paths
}

/// What a side has at one universe path (0: nothing).
fn entry_for(code: u8) -> Option<Entry> {
    match code {
        0 | 1 => None,
        2 => Some(dir_at(T)),
        3 => Some(file(1, T)),
        4 => Some(file(2, T)),
        5 => Some(file(1, T + 30)),
        6 => Some(file(2, T + 30)),
        7 => Some(file(1, T).with_mode(0o755)),
        8 => Some(Entry::symlink("target", s(T))),
        // Same size as code 3, 0.4 s later with nanosecond precision: equal to it across
        // sides (same second), a change against it on one side.
        _ => Some(Entry::file(1, s(T) + 400_000_123)),
    }
}

/// A consistent snapshot from one code per universe path (children of non-directories
/// are dropped).
fn tree(codes: &[u8]) -> Snapshot {
    let mut snapshot = Snapshot::new();
    for (path, code) in universe().into_iter().zip(codes) {
        let parent_ok = path
            .parent()
            .is_none_or(|parent| snapshot.get(&parent).is_some_and(Entry::is_dir));
        if let (true, Some(entry)) = (parent_ok, entry_for(*code)) {
            snapshot.insert(path, entry);
        }
    }
    snapshot
}

/// A side derived from the index: each path kept (code 0), or replaced by `entry_for`.
fn edited(base: &Snapshot, codes: &[u8]) -> Snapshot {
    let mut out = Snapshot::new();
    for (path, code) in universe().into_iter().zip(codes) {
        let parent_ok = path
            .parent()
            .is_none_or(|parent| out.get(&parent).is_some_and(Entry::is_dir));
        let entry = match code {
            0 => base.get(&path).cloned(),
            code => entry_for(*code),
        };
        if let (true, Some(entry)) = (parent_ok, entry) {
            out.insert(path, entry);
        }
    }
    out
}

fn exclude_set(choice: u8) -> ExcludeSet {
    match choice {
        0 => ExcludeSet::none(),
        1 => excludes(&["b"], &[], &[]),
        2 => excludes(&[], &["a/b", "c"], &[]),
        3 => excludes(&[], &[], &["b/", "a/a"]),
        4 => excludes(&["a", "!a/a"], &[], &[]),
        _ => excludes(&[], &["*"], &["!c"]),
    }
}

const STRATEGIES: [InitialSync; 7] = [
    InitialSync::Merge,
    InitialSync::MirrorLocal,
    InitialSync::PreferLocal,
    InitialSync::PreferRemote,
    InitialSync::PreferNewest,
    InitialSync::MirrorRemote,
    InitialSync::KeepAll,
];

fn codes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(0u8..10, 12)
}

/// Every path a plan deletes on each side, with the entry it deletes.
fn deleted(plan: &Plan) -> Vec<(Side, RelPath, Entry)> {
    let mut out = Vec::new();
    for action in &plan.actions {
        let (side, deletions) = match action {
            Action::DeleteRemote { deletions } => (Side::Remote, deletions),
            Action::DeleteLocal { deletions } => (Side::Local, deletions),
            _ => continue,
        };
        for d in deletions {
            out.push((side, d.path.clone(), d.entry.clone()));
            for c in &d.contents {
                out.push((side, c.path.clone(), c.entry.clone()));
            }
        }
    }
    out
}

/// Paths that must be left alone by every plan: the conflict copies and what the plan
/// reports.
fn exempt(plan: &Plan, world: &World) -> impl Fn(&RelPath) -> bool {
    let plan = plan.clone();
    let copies = world.copies.clone();
    move |path: &RelPath| copies.contains(path) || reported(&plan, path)
}

/// Checks that no action moves content against the excludes. Directories created only to
/// hold a re-included path are allowed.
fn respects_excludes(plan: &Plan, ex: &ExcludeSet) -> Result<(), String> {
    let mut created_parents: BTreeSet<(Side, RelPath)> = BTreeSet::new();
    for action in &plan.actions {
        if let Action::Upload { items } | Action::MkdirRemote { items } = action {
            for item in items {
                created_parents.extend(item.path.ancestors().map(|a| (Side::Remote, a)));
            }
        }
        if let Action::Download { items } | Action::MkdirLocal { items } = action {
            for item in items {
                created_parents.extend(item.path.ancestors().map(|a| (Side::Local, a)));
            }
        }
        match action {
            Action::RenameRemote { to, .. } => {
                created_parents.extend(to.ancestors().map(|a| (Side::Remote, a)));
            }
            Action::RenameLocal { to, .. } => {
                created_parents.extend(to.ancestors().map(|a| (Side::Local, a)));
            }
            _ => {}
        }
    }
    let check = |to: Side, path: &RelPath, is_dir: bool, what: &str| -> Result<(), String> {
        let blocked = match to {
            Side::Remote => ex.excluded_from_upload(path, is_dir),
            Side::Local => ex.excluded_from_download(path, is_dir),
        };
        if blocked && !(is_dir && created_parents.contains(&(to, path.clone()))) {
            Err(format!("{what} {path} toward {to} is excluded"))
        } else {
            Ok(())
        }
    };
    for action in &plan.actions {
        match action {
            Action::Upload { items } | Action::MkdirRemote { items } => {
                for i in items {
                    check(Side::Remote, &i.path, i.entry.is_dir(), "copy")?;
                }
            }
            Action::Download { items } | Action::MkdirLocal { items } => {
                for i in items {
                    check(Side::Local, &i.path, i.entry.is_dir(), "copy")?;
                }
            }
            Action::RenameRemote { from, to } => {
                check(Side::Remote, from, true, "rename")?;
                check(Side::Remote, to, true, "rename")?;
            }
            Action::RenameLocal { from, to } => {
                check(Side::Local, from, true, "rename")?;
                check(Side::Local, to, true, "rename")?;
            }
            Action::SaveConflictCopy {
                path,
                side: Side::Remote,
                ..
            } => {
                check(Side::Local, path, false, "conflict copy")?;
            }
            _ => {}
        }
    }
    for (side, path, entry) in deleted(plan) {
        check(side, &path, entry.is_dir(), "deletion")?;
    }
    Ok(())
}

fn run_to_convergence(
    local: Snapshot,
    remote: Snapshot,
    index: Option<Index>,
    strategy: InitialSync,
    ex: &ExcludeSet,
) -> Result<(), TestCaseError> {
    let plan = plan_initial(
        &local,
        &remote,
        index.as_ref(),
        strategy,
        ex,
        Tolerance::default(),
    );
    let mut world = World {
        local,
        remote,
        index: index.unwrap_or_default(),
        ..World::default()
    };
    world.apply(&plan, RemoteTimes::Seconds);
    let differing = world.differing(exempt(&plan, &world));
    prop_assert!(
        differing.is_empty(),
        "{strategy:?}: {differing:?} differ after {plan:#?}"
    );
    // The reset guard ignores the index when one side has nothing outside the excludes:
    // then a restart re-runs the strategy, which is not expected to be a fixpoint.
    let looks_reset = |side: &Snapshot| side.iter().all(|(path, e)| ex.excluded(path, e.is_dir()));
    if !world.index.is_empty() && (looks_reset(&world.local) || looks_reset(&world.remote)) {
        return Ok(());
    }
    let again = plan_initial(
        &world.local,
        &world.remote,
        Some(&world.index),
        strategy,
        ex,
        Tolerance::default(),
    );
    for action in again.actions.iter().filter(|a| a.is_io()) {
        let only_copies = match action {
            Action::Upload { items } => items.iter().all(|i| world.copies.contains(&i.path)),
            _ => false,
        };
        prop_assert!(
            only_copies,
            "{strategy:?}: second plan acts: {action:?}\nfirst: {plan:#?}"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: ProptestConfig::default().cases.max(400),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_set_aside_index_keeps_no_entry_of_a_failed_transfer(l in codes(), idx in codes(), fails in any::<u64>(), e in 0u8..6) {
        // One side emptied (a new container): the reset guard sets the index aside.
        let (local, ex) = (tree(&l), exclude_set(e));
        let old = Index::from_snapshot(tree(&idx));
        prop_assume!(!old.is_empty());
        let plan = plan_initial(&local, &Snapshot::new(), Some(&old), InitialSync::Merge, &ex, Tolerance::default());
        // Carry out the index side of the plan with some transfers failing.
        let mut index = old.clone();
        let mut recorded: BTreeSet<RelPath> = BTreeSet::new();
        let mut bit = 0;
        for action in &plan.actions {
            match action {
                Action::Upload { items } | Action::Download { items } | Action::MkdirRemote { items } | Action::MkdirLocal { items } => {
                    let ok: Vec<_> = items.iter().filter(|_| { bit += 1; fails >> (bit % 64) & 1 == 0 }).cloned().collect();
                    recorded.extend(ok.iter().map(|i| i.path.clone()));
                    index.apply(&match action {
                        Action::Upload { .. } => Action::Upload { items: ok },
                        Action::Download { .. } => Action::Download { items: ok },
                        Action::MkdirRemote { .. } => Action::MkdirRemote { items: ok },
                        _ => Action::MkdirLocal { items: ok },
                    });
                }
                Action::Record { items } => {
                    recorded.extend(items.iter().map(|i| i.path.clone()));
                    index.apply(action);
                }
                other => index.apply(other),
            }
        }
        for (path, _) in index.entries().iter() {
            prop_assert!(recorded.contains(path), "{path} stayed from the set-aside index: {plan:#?}");
        }
    }

    #[test]
    fn the_untrusted_strategy_never_deletes_or_overwrites_local_files(l in codes(), r in codes(), e in 0u8..6) {
        let (local, remote, ex) = (tree(&l), tree(&r), exclude_set(e));
        for strategy in STRATEGIES {
            let safe = ferry::core::initial::safe_strategy(strategy);
            let plan = plan_initial(&local, &remote, None, safe, &ex, Tolerance::default());
            prop_assert!(deleted(&plan).is_empty(), "{strategy:?} → {safe:?}: {plan:#?}");
            for action in &plan.actions {
                if let Action::Download { items } | Action::MkdirLocal { items } = action {
                    for i in items {
                        prop_assert!(!local.contains(&i.path), "{strategy:?} → {safe:?} overwrites local {}", i.path);
                    }
                }
                prop_assert!(!matches!(action, Action::SaveConflictCopy { .. }), "{strategy:?}: a conflict copy without an index");
            }
        }
    }

    #[test]
    fn merge_never_deletes_or_overwrites_local_files(l in codes(), r in codes(), e in 0u8..6) {
        let (local, remote, ex) = (tree(&l), tree(&r), exclude_set(e));
        let plan = plan_initial(&local, &remote, None, InitialSync::Merge, &ex, Tolerance::default());
        prop_assert!(deleted(&plan).is_empty(), "{plan:#?}");
        for action in &plan.actions {
            match action {
                Action::Download { items } | Action::MkdirLocal { items } => {
                    for i in items {
                        prop_assert!(!local.contains(&i.path), "overwrites local {}", i.path);
                    }
                }
                Action::SaveConflictCopy { .. } => prop_assert!(false, "conflict copy without index"),
                _ => {}
            }
        }
    }

    #[test]
    fn initial_plans_converge_without_index(l in codes(), r in codes(), e in 0u8..6) {
        let ex = exclude_set(e);
        for strategy in STRATEGIES {
            run_to_convergence(tree(&l), tree(&r), None, strategy, &ex)?;
        }
    }

    #[test]
    fn initial_plans_converge_with_index(b in codes(), l in codes(), r in codes(), e in 0u8..6) {
        let base = tree(&b);
        let (local, remote) = (edited(&base, &l), edited(&base, &r));
        let ex = exclude_set(e);
        for strategy in STRATEGIES {
            run_to_convergence(local.clone(), remote.clone(), Some(Index::from_snapshot(base.clone())), strategy, &ex)?;
        }
    }

    #[test]
    fn with_index_deletions_are_proven(b in codes(), l in codes(), r in codes(), e in 0u8..6) {
        let base = tree(&b);
        let (local, remote) = (edited(&base, &l), edited(&base, &r));
        let ex = exclude_set(e);
        let index = Index::from_snapshot(base.clone());
        for strategy in [InitialSync::Merge, InitialSync::KeepAll] {
            let plan = plan_initial(&local, &remote, Some(&index), strategy, &ex, Tolerance::default());
            let reset = local.is_empty() || remote.is_empty();
            for (side, path, entry) in deleted(&plan) {
                prop_assert!(!reset, "deletion with an ignored index: {plan:#?}");
                let known = base.get(&path);
                prop_assert!(known.is_some(), "{strategy:?} deletes {path} unknown to the index");
                prop_assert!(same_version(Some(&entry), known, Tolerance::EXACT), "{path} changed since the index");
                let _ = side;
            }
        }
    }

    #[test]
    fn plans_respect_the_excludes(b in codes(), l in codes(), r in codes(), e in 0u8..6, with_index in any::<bool>()) {
        let base = tree(&b);
        let (local, remote) = (edited(&base, &l), edited(&base, &r));
        let ex = exclude_set(e);
        let index = Index::from_snapshot(base);
        for strategy in STRATEGIES {
            let plan = plan_initial(&local, &remote, with_index.then_some(&index), strategy, &ex, Tolerance::default());
            if let Err(message) = respects_excludes(&plan, &ex) {
                prop_assert!(false, "{strategy:?}: {message}\n{plan:#?}");
            }
        }
    }

    #[test]
    fn live_plans_converge_and_delete_only_known_paths(
        b in codes(), l in codes(), r in codes(), e in 0u8..6, give_other in any::<bool>(), remote_side in any::<bool>(),
    ) {
        let base = tree(&b);
        let index = Index::from_snapshot(base.clone());
        // The side that changed, and the other side (changed too, or as the index).
        let changed = edited(&base, &l);
        let other = if give_other { edited(&base, &r) } else { base.clone() };
        let paths: BTreeSet<RelPath> = base.iter().chain(changed.iter()).map(|(p, _)| p.clone()).collect();
        let changes: Vec<Change> = paths
            .into_iter()
            .filter(|path| changed.get(path) != base.get(path))
            .map(|path| Change { new: changed.get(&path).cloned(), path })
            .collect();
        let ex = exclude_set(e);
        let other_snapshot = give_other.then_some(&other);
        let (plan, mut world) = if remote_side {
            let plan = plan_remote_changes(&changes, &index, other_snapshot, &ex, Tolerance::default());
            (plan, World { local: other.clone(), remote: changed.clone(), index: index.clone(), ..World::default() })
        } else {
            let plan = plan_local_changes(&changes, &index, other_snapshot, &ex, Tolerance::default());
            (plan, World { local: changed.clone(), remote: other.clone(), index: index.clone(), ..World::default() })
        };
        for (_, path, entry) in deleted(&plan) {
            let known = base.get(&path);
            prop_assert!(known.is_some(), "deletes {path} unknown to the index: {plan:#?}");
            prop_assert!(same_version(Some(&entry), known, Tolerance::EXACT), "{path} changed since the index");
        }
        if let Err(message) = respects_excludes(&plan, &ex) {
            prop_assert!(false, "{message}\n{plan:#?}");
        }
        world.apply(&plan, RemoteTimes::Seconds);
        // Every changed path converges unless reported; other paths are the other loop's.
        let changed_paths: BTreeSet<RelPath> = changes.iter().map(|c| c.path.clone()).collect();
        let touched = |path: &RelPath| changed_paths.iter().any(|c| c == path || c.is_ancestor_of(path));
        let plan_for_exempt = plan.clone();
        let copies = world.copies.clone();
        let differing = world.differing(|path| {
            !touched(path)
                || copies.contains(path)
                || reported(&plan_for_exempt, path)
                || (give_other && !same_version(other.get(path), base.get(path), Tolerance::EXACT))
        });
        prop_assert!(differing.is_empty(), "{differing:?} differ after {plan:#?}");
    }

    #[test]
    fn changes_matching_the_index_are_echoes(b in codes(), e in 0u8..6, remote_side in any::<bool>()) {
        let base = tree(&b);
        let index = Index::from_snapshot(base.clone());
        let changes: Vec<Change> = base.iter().map(|(path, entry)| Change { path: path.clone(), new: Some(entry.clone()) }).collect();
        let ex = exclude_set(e);
        let plan = if remote_side {
            plan_remote_changes(&changes, &index, Some(&base), &ex, Tolerance::default())
        } else {
            plan_local_changes(&changes, &index, Some(&base), &ex, Tolerance::default())
        };
        prop_assert!(plan.is_empty(), "{plan:#?}");
    }
}
