//! `ferry::core::plan_initial`: every strategy against every scenario and exclude
//! (one table), the three-way rules with an index, conflict copies and the reset guard.

mod core_support;

use core_support::*;
use ferry::config::InitialSync;
use ferry::core::{
    plan_initial, Action, ConflictKind, Entry, ExcludeSet, Index, Plan, Resolution, Side, Snapshot,
    Tolerance,
};

/// The strategies in table-column order.
const STRATEGIES: [InitialSync; 8] = [
    InitialSync::Merge,
    InitialSync::MirrorLocal,
    InitialSync::PreferLocal,
    InitialSync::PreferRemote,
    InitialSync::PreferNewest,
    InitialSync::MirrorRemote,
    InitialSync::KeepAll,
    InitialSync::Disabled,
];

/// A scenario: (local, remote) snapshots around the path `x`.
fn scenario(name: &str) -> (Snapshot, Snapshot) {
    let f = file(10, T);
    match name {
        "local only" => (snap(&[("x", f)]), snap(&[])),
        "remote only" => (snap(&[]), snap(&[("x", f)])),
        "both equal" => (snap(&[("x", f.clone())]), snap(&[("x", f)])),
        "local newer" => (snap(&[("x", file(12, T + 10))]), snap(&[("x", f)])),
        "remote newer" => (snap(&[("x", f)]), snap(&[("x", file(12, T + 10))])),
        "other size, same mtime" => (snap(&[("x", f)]), snap(&[("x", file(12, T))])),
        // 10.7 s locally, listed as 10 s in the container (truncated by tar/stat).
        "truncated mtime" => (
            snap(&[("x", Entry::file(10, s(T) + 700_000_000))]),
            snap(&[("x", f)]),
        ),
        // 10.6 s locally, 11 s in the container (rounded, as DevSpace did): the slack.
        "rounded mtime" => (
            snap(&[("x", Entry::file(10, s(T) + 600_000_000))]),
            snap(&[("x", file(10, T + 1))]),
        ),
        "mode only" => (
            snap(&[("x", f.clone().with_mode(0o755))]),
            snap(&[("x", f)]),
        ),
        "empty dir local only" => (snap(&[("x", dir_at(T))]), snap(&[])),
        "empty dir remote only" => (snap(&[]), snap(&[("x", dir_at(T))])),
        "dir local only" => (snap(&[("x", dir_at(T)), ("x/f", f)]), snap(&[])),
        "dir remote only" => (snap(&[]), snap(&[("x", dir_at(T)), ("x/f", f)])),
        "both dirs" => (
            snap(&[("x", dir_at(T)), ("x/f", f.clone())]),
            snap(&[("x", dir_at(T + 5)), ("x/f", f)]),
        ),
        "file vs dir" => (
            snap(&[("x", file(10, T + 10))]),
            snap(&[("x", dir_at(T)), ("x/f", f)]),
        ),
        "dir vs file" => (
            snap(&[("x", dir_at(T + 10)), ("x/f", file(10, T + 10))]),
            snap(&[("x", f)]),
        ),
        other => panic!("no scenario {other}"),
    }
}

fn exclude(name: &str) -> ExcludeSet {
    match name {
        "none" => ExcludeSet::none(),
        "both" => excludes(&["x"], &[], &[]),
        "upload" => excludes(&[], &["x"], &[]),
        "download" => excludes(&[], &[], &["x"]),
        other => panic!("no exclude {other}"),
    }
}

/// (scenario, exclude, expected summary per strategy in [`STRATEGIES`] order: merge,
/// mirrorLocal, preferLocal, preferRemote, preferNewest, mirrorRemote, keepAll,
/// disabled). See `core_support::summary` for the codes.
#[rustfmt::skip]
const TABLE: &[(&str, &str, [&str; 8])] = &[
    ("local only", "none",     ["x=U", "x=U", "x=U", "x=U", "x=U", "x=XL", "x=U", ""]),
    ("local only", "both",     ["x=SE", "x=SE", "x=SE", "x=SE", "x=SE", "x=SE", "x=SE", ""]),
    ("local only", "upload",   ["x=SU", "x=SU", "x=SU", "x=SU", "x=SU", "x=XL", "x=SU", ""]),
    ("local only", "download", ["x=U", "x=U", "x=U", "x=U", "x=U", "x=U", "x=U", ""]),

    ("remote only", "none",     ["x=D", "x=XR", "x=D", "x=D", "x=D", "x=D", "x=D", ""]),
    ("remote only", "both",     ["x=SE", "x=SE", "x=SE", "x=SE", "x=SE", "x=SE", "x=SE", ""]),
    ("remote only", "upload",   ["x=D", "x=D", "x=D", "x=D", "x=D", "x=D", "x=D", ""]),
    ("remote only", "download", ["x=SD", "x=XR", "x=SD", "x=SD", "x=SD", "x=SD", "x=SD", ""]),

    ("both equal", "none",     ["x=REC", "x=REC", "x=REC", "x=REC", "x=REC", "x=REC", "x=REC", ""]),
    ("both equal", "both",     ["x=SE", "x=SE", "x=SE", "x=SE", "x=SE", "x=SE", "x=SE", ""]),
    ("both equal", "upload",   ["x=REC", "x=REC", "x=REC", "x=REC", "x=REC", "x=REC", "x=REC", ""]),
    ("both equal", "download", ["x=REC", "x=REC", "x=REC", "x=REC", "x=REC", "x=REC", "x=REC", ""]),

    ("local newer", "none",     ["x=U", "x=U", "x=U", "x=D", "x=U", "x=D", "x=C", ""]),
    ("local newer", "both",     ["x=SE", "x=SE", "x=SE", "x=SE", "x=SE", "x=SE", "x=SE", ""]),
    ("local newer", "upload",   ["x=SU", "x=SU", "x=SU", "x=D", "x=SU", "x=D", "x=C", ""]),
    ("local newer", "download", ["x=U", "x=U", "x=U", "x=SD", "x=U", "x=SD", "x=C", ""]),

    ("remote newer", "none",     ["x=N", "x=U", "x=U", "x=D", "x=D", "x=D", "x=C", ""]),
    ("remote newer", "both",     ["x=SE", "x=SE", "x=SE", "x=SE", "x=SE", "x=SE", "x=SE", ""]),
    ("remote newer", "upload",   ["x=N", "x=SU", "x=SU", "x=D", "x=D", "x=D", "x=C", ""]),
    ("remote newer", "download", ["x=SD", "x=U", "x=U", "x=SD", "x=SD", "x=SD", "x=C", ""]),

    ("other size, same mtime", "none",     ["x=C", "x=U", "x=U", "x=D", "x=C", "x=D", "x=C", ""]),
    ("other size, same mtime", "both",     ["x=SE", "x=SE", "x=SE", "x=SE", "x=SE", "x=SE", "x=SE", ""]),
    ("other size, same mtime", "upload",   ["x=C", "x=SU", "x=SU", "x=D", "x=C", "x=D", "x=C", ""]),
    ("other size, same mtime", "download", ["x=C", "x=U", "x=U", "x=SD", "x=C", "x=SD", "x=C", ""]),

    ("truncated mtime", "none",     ["x=REC", "x=REC", "x=REC", "x=REC", "x=REC", "x=REC", "x=REC", ""]),
    ("truncated mtime", "both",     ["x=SE", "x=SE", "x=SE", "x=SE", "x=SE", "x=SE", "x=SE", ""]),
    ("truncated mtime", "upload",   ["x=REC", "x=REC", "x=REC", "x=REC", "x=REC", "x=REC", "x=REC", ""]),
    ("truncated mtime", "download", ["x=REC", "x=REC", "x=REC", "x=REC", "x=REC", "x=REC", "x=REC", ""]),

    ("rounded mtime", "none",     ["x=REC", "x=REC", "x=REC", "x=REC", "x=REC", "x=REC", "x=REC", ""]),
    ("rounded mtime", "both",     ["x=SE", "x=SE", "x=SE", "x=SE", "x=SE", "x=SE", "x=SE", ""]),
    ("rounded mtime", "upload",   ["x=REC", "x=REC", "x=REC", "x=REC", "x=REC", "x=REC", "x=REC", ""]),
    ("rounded mtime", "download", ["x=REC", "x=REC", "x=REC", "x=REC", "x=REC", "x=REC", "x=REC", ""]),

    ("mode only", "none",     ["x=U", "x=U", "x=U", "x=D", "x=C", "x=D", "x=C", ""]),
    ("mode only", "both",     ["x=SE", "x=SE", "x=SE", "x=SE", "x=SE", "x=SE", "x=SE", ""]),
    ("mode only", "upload",   ["x=SU", "x=SU", "x=SU", "x=D", "x=C", "x=D", "x=C", ""]),
    ("mode only", "download", ["x=U", "x=U", "x=U", "x=SD", "x=C", "x=SD", "x=C", ""]),

    ("empty dir local only", "none",     ["x=MR", "x=MR", "x=MR", "x=MR", "x=MR", "x=XL", "x=MR", ""]),
    ("empty dir local only", "both",     ["x=SE", "x=SE", "x=SE", "x=SE", "x=SE", "x=SE", "x=SE", ""]),
    ("empty dir local only", "upload",   ["x=SU", "x=SU", "x=SU", "x=SU", "x=SU", "x=XL", "x=SU", ""]),
    ("empty dir local only", "download", ["x=MR", "x=MR", "x=MR", "x=MR", "x=MR", "x=MR", "x=MR", ""]),

    ("empty dir remote only", "none",     ["x=ML", "x=XR", "x=ML", "x=ML", "x=ML", "x=ML", "x=ML", ""]),
    ("empty dir remote only", "both",     ["x=SE", "x=SE", "x=SE", "x=SE", "x=SE", "x=SE", "x=SE", ""]),
    ("empty dir remote only", "upload",   ["x=ML", "x=ML", "x=ML", "x=ML", "x=ML", "x=ML", "x=ML", ""]),
    ("empty dir remote only", "download", ["x=SD", "x=XR", "x=SD", "x=SD", "x=SD", "x=SD", "x=SD", ""]),

    ("dir local only", "none",     ["x=MR x/f=U", "x=MR x/f=U", "x=MR x/f=U", "x=MR x/f=U", "x=MR x/f=U", "x=XL x/f=xL", "x=MR x/f=U", ""]),
    ("dir local only", "both",     ["x=SE", "x=SE", "x=SE", "x=SE", "x=SE", "x=SE", "x=SE", ""]),
    ("dir local only", "upload",   ["x=SU", "x=SU", "x=SU", "x=SU", "x=SU", "x=XL x/f=xL", "x=SU", ""]),
    ("dir local only", "download", ["x=MR x/f=U", "x=MR x/f=U", "x=MR x/f=U", "x=MR x/f=U", "x=MR x/f=U", "x=MR x/f=U", "x=MR x/f=U", ""]),

    ("dir remote only", "none",     ["x=ML x/f=D", "x=XR x/f=xR", "x=ML x/f=D", "x=ML x/f=D", "x=ML x/f=D", "x=ML x/f=D", "x=ML x/f=D", ""]),
    ("dir remote only", "both",     ["x=SE", "x=SE", "x=SE", "x=SE", "x=SE", "x=SE", "x=SE", ""]),
    ("dir remote only", "upload",   ["x=ML x/f=D", "x=ML x/f=D", "x=ML x/f=D", "x=ML x/f=D", "x=ML x/f=D", "x=ML x/f=D", "x=ML x/f=D", ""]),
    ("dir remote only", "download", ["x=SD", "x=XR x/f=xR", "x=SD", "x=SD", "x=SD", "x=SD", "x=SD", ""]),

    ("both dirs", "none",     ["x=REC x/f=REC", "x=REC x/f=REC", "x=REC x/f=REC", "x=REC x/f=REC", "x=REC x/f=REC", "x=REC x/f=REC", "x=REC x/f=REC", ""]),
    ("both dirs", "both",     ["x=SE", "x=SE", "x=SE", "x=SE", "x=SE", "x=SE", "x=SE", ""]),
    ("both dirs", "upload",   ["x=REC x/f=REC", "x=REC x/f=REC", "x=REC x/f=REC", "x=REC x/f=REC", "x=REC x/f=REC", "x=REC x/f=REC", "x=REC x/f=REC", ""]),
    ("both dirs", "download", ["x=REC x/f=REC", "x=REC x/f=REC", "x=REC x/f=REC", "x=REC x/f=REC", "x=REC x/f=REC", "x=REC x/f=REC", "x=REC x/f=REC", ""]),

    ("file vs dir", "none",     ["x=C", "x=XR+U x/f=xR", "x=XR+U x/f=xR", "x=XL+ML x/f=D", "x=XR+U x/f=xR", "x=XL+ML x/f=D", "x=C", ""]),
    ("file vs dir", "both",     ["x=SE", "x=SE", "x=SE", "x=SE", "x=SE", "x=SE", "x=SE", ""]),
    ("file vs dir", "upload",   ["x=C", "x=SU", "x=SU", "x=XL+ML x/f=D", "x=SU", "x=XL+ML x/f=D", "x=C", ""]),
    ("file vs dir", "download", ["x=C", "x=XR+U x/f=xR", "x=XR+U x/f=xR", "x=SD", "x=XR+U x/f=xR", "x=SD", "x=C", ""]),

    ("dir vs file", "none",     ["x=C", "x=XR+MR x/f=U", "x=XR+MR x/f=U", "x=XL+D x/f=xL", "x=XR+MR x/f=U", "x=XL+D x/f=xL", "x=C", ""]),
    ("dir vs file", "both",     ["x=SE", "x=SE", "x=SE", "x=SE", "x=SE", "x=SE", "x=SE", ""]),
    ("dir vs file", "upload",   ["x=C", "x=SU", "x=SU", "x=XL+D x/f=xL", "x=SU", "x=XL+D x/f=xL", "x=C", ""]),
    ("dir vs file", "download", ["x=C", "x=XR+MR x/f=U", "x=XR+MR x/f=U", "x=SD", "x=XR+MR x/f=U", "x=SD", "x=C", ""]),
];

#[test]
fn every_strategy_scenario_and_exclude_without_index() {
    let mut failures = Vec::new();
    for (scenario_name, exclude_name, expected) in TABLE {
        let (local, remote) = scenario(scenario_name);
        let excludes = exclude(exclude_name);
        for (strategy, want) in STRATEGIES.iter().zip(expected) {
            let plan = plan_initial(
                &local,
                &remote,
                None,
                *strategy,
                &excludes,
                Tolerance::default(),
            );
            let got = summary(&plan);
            if got != *want {
                failures.push(format!(
                    "{scenario_name} / exclude {exclude_name} / {}: want {want:?}, got {got:?}",
                    strategy.config_name()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_table_covers_every_scenario_with_every_exclude() {
    let scenarios: std::collections::BTreeSet<&str> = TABLE.iter().map(|(s, _, _)| *s).collect();
    for scenario_name in &scenarios {
        for exclude_name in ["none", "both", "upload", "download"] {
            let rows = TABLE
                .iter()
                .filter(|(s, e, _)| s == scenario_name && *e == exclude_name)
                .count();
            assert_eq!(rows, 1, "{scenario_name} / {exclude_name}");
        }
    }
    assert_eq!(scenarios.len(), 16);
}

/// Carrying a table plan out converges both sides except on what the plan reports.
#[test]
fn every_table_plan_converges_except_reported_paths() {
    for (scenario_name, exclude_name, _) in TABLE {
        let (local, remote) = scenario(scenario_name);
        let excludes = exclude(exclude_name);
        for strategy in STRATEGIES.iter().filter(|s| **s != InitialSync::Disabled) {
            let plan = plan_initial(
                &local,
                &remote,
                None,
                *strategy,
                &excludes,
                Tolerance::default(),
            );
            let mut world = World {
                local: local.clone(),
                remote: remote.clone(),
                ..World::default()
            };
            world.apply(&plan, RemoteTimes::Exact);
            let differing = world.differing(|path| reported(&plan, path));
            assert!(
                differing.is_empty(),
                "{scenario_name} / {exclude_name} / {strategy:?}: {differing:?} differ"
            );
        }
    }
}

#[test]
fn merge_reports_a_newer_remote_file_with_both_entries() {
    let (local, remote) = scenario("remote newer");
    let plan = plan_initial(
        &local,
        &remote,
        None,
        InitialSync::Merge,
        &ExcludeSet::none(),
        Tolerance::default(),
    );
    assert!(plan.actions.is_empty());
    assert_eq!(plan.remote_newer.len(), 1);
    assert_eq!(plan.remote_newer[0].local, file(10, T));
    assert_eq!(plan.remote_newer[0].remote, file(12, T + 10));
}

#[test]
fn merge_unresolved_conflict_at_a_type_flip_leaves_the_subtree_alone() {
    let local = snap(&[("x", file(1, T))]);
    let remote = snap(&[
        ("x", dir_at(T)),
        ("x/a", file(1, T)),
        ("x/b", dir_at(T)),
        ("x/b/c", file(1, T)),
    ]);
    let plan = plan_initial(
        &local,
        &remote,
        None,
        InitialSync::Merge,
        &ExcludeSet::none(),
        Tolerance::default(),
    );
    assert_eq!(summary(&plan), "x=C");
    assert_eq!(plan.conflicts[0].kind, ConflictKind::TypeDiffers);
    assert_eq!(plan.conflicts[0].remote, Some(dir_at(T)));
}

#[test]
fn a_hash_known_on_both_sides_decides() {
    let base = Entry::file(10, s(T));
    let differs_in_content = (
        snap(&[("x", base.clone().with_hash("sha256:aa"))]),
        snap(&[("x", base.clone().with_hash("sha256:bb"))]),
    );
    let plan = plan_initial(
        &differs_in_content.0,
        &differs_in_content.1,
        None,
        InitialSync::Merge,
        &ExcludeSet::none(),
        Tolerance::default(),
    );
    assert_eq!(summary(&plan), "x=C", "same size and mtime, other content");

    let same_content = (
        snap(&[("x", Entry::file(10, s(T + 100)).with_hash("sha256:aa"))]),
        snap(&[("x", base.clone().with_hash("sha256:aa"))]),
    );
    let plan = plan_initial(
        &same_content.0,
        &same_content.1,
        None,
        InitialSync::Merge,
        &ExcludeSet::none(),
        Tolerance::default(),
    );
    assert_eq!(summary(&plan), "x=REC", "other mtime, same content");

    let other_algorithms = (
        snap(&[("x", base.clone().with_hash("md5:aa"))]),
        snap(&[("x", base.with_hash("sha256:bb"))]),
    );
    let plan = plan_initial(
        &other_algorithms.0,
        &other_algorithms.1,
        None,
        InitialSync::Merge,
        &ExcludeSet::none(),
        Tolerance::default(),
    );
    assert_eq!(
        summary(&plan),
        "x=REC",
        "incomparable hashes: size and mtime decide"
    );
}

#[test]
fn symlinks_are_synced_as_links() {
    let local = snap(&[
        ("bin", dir_at(T)),
        ("bin/tool", Entry::symlink("../lib/tool", s(T))),
    ]);
    let remote = snap(&[]);
    let plan = plan_initial(
        &local,
        &remote,
        None,
        InitialSync::Merge,
        &ExcludeSet::none(),
        Tolerance::default(),
    );
    assert_eq!(summary(&plan), "bin=MR bin/tool=U");
    let Action::Upload { items } = &plan.actions[1] else {
        panic!("{plan:?}")
    };
    assert_eq!(items[0].entry, Entry::symlink("../lib/tool", s(T)));

    let retargeted = snap(&[
        ("bin", dir_at(T)),
        ("bin/tool", Entry::symlink("../lib/tool2", s(T + 5))),
    ]);
    let plan = plan_initial(
        &retargeted,
        &local,
        None,
        InitialSync::Merge,
        &ExcludeSet::none(),
        Tolerance::default(),
    );
    assert_eq!(summary(&plan), "bin=REC bin/tool=U");
}

#[test]
fn actions_come_in_execution_order() {
    // mirrorLocal: delete a remote-only file, replace a remote dir by a file, create a
    // folder, upload into it, download an upload-excluded remote-only file.
    let local = snap(&[("a", file(1, T + 9)), ("n", dir_at(T)), ("n/f", file(1, T))]);
    let remote = snap(&[
        ("a", dir_at(T)),
        ("a/z", file(1, T)),
        ("old", file(1, T)),
        ("keep", file(1, T)),
    ]);
    let plan = plan_initial(
        &local,
        &remote,
        None,
        InitialSync::MirrorLocal,
        &excludes(&[], &["keep"], &[]),
        Tolerance::default(),
    );
    let kinds: Vec<&str> = plan
        .actions
        .iter()
        .map(|a| match a {
            Action::DeleteRemote { .. } => "deleteRemote",
            Action::MkdirRemote { .. } => "mkdirRemote",
            Action::Upload { .. } => "upload",
            Action::Download { .. } => "download",
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(kinds, ["deleteRemote", "mkdirRemote", "upload", "download"]);
    assert_eq!(summary(&plan), "a=XR+U a/z=xR keep=D n=MR n/f=U old=XR");
}

// ---- with an index: three-way ----

fn three_way(
    local: &[(&str, Entry)],
    remote: &[(&str, Entry)],
    base: &[(&str, Entry)],
    strategy: InitialSync,
) -> Plan {
    plan_initial(
        &snap(local),
        &snap(remote),
        Some(&index(base)),
        strategy,
        &ExcludeSet::none(),
        Tolerance::default(),
    )
}

/// Another file so no side looks reset.
fn other() -> (&'static str, Entry) {
    ("other", file(1, T))
}

/// Entries of one side (or the index) in a case table.
type Side3 = Vec<(&'static str, Entry)>;

#[test]
fn three_way_rules_with_an_index() {
    let old = file(10, T);
    let new_local = file(11, T + 20);
    let new_remote = file(12, T + 30);
    let o = other();
    #[rustfmt::skip]
    let cases: Vec<(&str, Side3, Side3, Side3, &str)> = vec![
        ("unchanged", vec![("x", old.clone()), o.clone()], vec![("x", old.clone()), o.clone()], vec![("x", old.clone()), o.clone()], ""),
        ("changed locally", vec![("x", new_local.clone()), o.clone()], vec![("x", old.clone()), o.clone()], vec![("x", old.clone()), o.clone()], "x=U"),
        // merge without an index would only report this; with one, local is provably unchanged.
        ("changed remotely", vec![("x", old.clone()), o.clone()], vec![("x", new_remote.clone()), o.clone()], vec![("x", old.clone()), o.clone()], "x=D"),
        ("deleted locally", vec![o.clone()], vec![("x", old.clone()), o.clone()], vec![("x", old.clone()), o.clone()], "x=XR"),
        ("deleted remotely", vec![("x", old.clone()), o.clone()], vec![o.clone()], vec![("x", old.clone()), o.clone()], "x=XL"),
        ("deleted on both", vec![o.clone()], vec![o.clone()], vec![("x", old.clone()), o.clone()], "x=F"),
        ("changed alike", vec![("x", new_local.clone()), o.clone()], vec![("x", new_local.clone()), o.clone()], vec![("x", old.clone()), o.clone()], "x=REC"),
        ("changed on both", vec![("x", new_local.clone()), o.clone()], vec![("x", new_remote.clone()), o.clone()], vec![("x", old.clone()), o.clone()], "x=U+CL"),
        ("deleted locally, changed remotely", vec![o.clone()], vec![("x", new_remote.clone()), o.clone()], vec![("x", old.clone()), o.clone()], "x=D+CX"),
        ("changed locally, deleted remotely", vec![("x", new_local.clone()), o.clone()], vec![o.clone()], vec![("x", old.clone()), o.clone()], "x=U+CX"),
        ("created remotely", vec![o.clone()], vec![("x", new_remote.clone()), o.clone()], vec![o.clone()], "x=D"),
        ("created locally", vec![("x", new_local.clone()), o.clone()], vec![o.clone()], vec![o.clone()], "x=U"),
        ("created on both, unknown to the index", vec![("x", new_local.clone()), o.clone()], vec![("x", new_remote.clone()), o.clone()], vec![o.clone()], "x=N"),
        ("file became a dir locally", vec![("x", dir_at(T)), ("x/f", old.clone()), o.clone()], vec![("x", old.clone()), o.clone()], vec![("x", old.clone()), o.clone()], "x=XR+MR x/f=U"),
        ("dir became a file locally", vec![("x", new_local.clone()), o.clone()], vec![("x", dir_at(T)), ("x/f", old.clone()), o.clone()], vec![("x", dir_at(T)), ("x/f", old.clone()), o.clone()], "x=XR+U x/f=xR"),
        ("dir became a file locally, changed inside remotely", vec![("x", new_local.clone()), o.clone()], vec![("x", dir_at(T)), ("x/f", new_remote.clone()), o.clone()], vec![("x", dir_at(T)), ("x/f", old.clone()), o.clone()], "x=C"),
        ("file and dir on both", vec![("x", new_local.clone()), o.clone()], vec![("x", dir_at(T)), o.clone()], vec![("x", old.clone()), o.clone()], "x=C"),
    ];
    let mut failures = Vec::new();
    for (name, local, remote, base, want) in cases {
        let got = summary(&three_way(&local, &remote, &base, InitialSync::Merge));
        if got != want {
            failures.push(format!("{name}: want {want:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn with_an_index_no_strategy_deletes_what_the_index_does_not_know() {
    // DevSpace's mirrorLocal deleted remote files created while disconnected.
    for strategy in STRATEGIES.iter().filter(|s| **s != InitialSync::Disabled) {
        let plan = three_way(
            &[other()],
            &[("new", file(1, T)), other()],
            &[other()],
            *strategy,
        );
        assert_eq!(summary(&plan), "new=D", "{strategy:?}");
        let plan = three_way(
            &[("new", file(1, T)), other()],
            &[other()],
            &[other()],
            *strategy,
        );
        assert_eq!(summary(&plan), "new=U", "{strategy:?}");
    }
}

#[test]
fn both_changed_conflicts_by_strategy() {
    let o = other();
    let base = [("x", file(10, T)), o.clone()];
    let older_local = [("x", file(11, T + 20)), o.clone()];
    let newer_remote = [("x", file(12, T + 30)), o.clone()];
    #[rustfmt::skip]
    let want = [
        (InitialSync::Merge, "x=U+CL"),
        (InitialSync::MirrorLocal, "x=U+CL"),
        (InitialSync::PreferLocal, "x=U+CL"),
        (InitialSync::PreferRemote, "x=D+CR"),
        (InitialSync::PreferNewest, "x=D+CR"),
        (InitialSync::MirrorRemote, "x=D+CR"),
        (InitialSync::KeepAll, "x=C"),
        (InitialSync::Disabled, ""),
    ];
    for (strategy, want) in want {
        let plan = three_way(&older_local, &newer_remote, &base, strategy);
        assert_eq!(summary(&plan), want, "{strategy:?}");
    }
}

#[test]
fn a_conflict_saves_the_losing_version_before_overwriting_it() {
    let o = other();
    let plan = three_way(
        &[
            ("src/x.py", file(11, T + 20)),
            ("src", dir_at(T)),
            o.clone(),
        ],
        &[
            ("src/x.py", file(12, T + 30)),
            ("src", dir_at(T)),
            o.clone(),
        ],
        &[("src/x.py", file(10, T)), ("src", dir_at(T)), o.clone()],
        InitialSync::Merge,
    );
    let copy = p("src/x.py.ferry-conflict-remote");
    assert_eq!(
        plan.actions[0],
        Action::SaveConflictCopy {
            path: p("src/x.py"),
            copy: copy.clone(),
            side: Side::Remote
        }
    );
    assert!(matches!(&plan.actions[1], Action::Upload { items } if items[0].path == p("src/x.py")));
    assert_eq!(
        plan.conflicts[0].resolution,
        Resolution::Kept {
            winner: Side::Local,
            copy: copy.clone()
        }
    );
    assert_eq!(plan.conflicts[0].kind, ConflictKind::BothChanged);

    let mut world = World {
        local: snap(&[
            ("src/x.py", file(11, T + 20)),
            ("src", dir_at(T)),
            o.clone(),
        ]),
        remote: snap(&[
            ("src/x.py", file(12, T + 30)),
            ("src", dir_at(T)),
            o.clone(),
        ]),
        ..World::default()
    };
    world.apply(&plan, RemoteTimes::Exact);
    assert_eq!(
        world.local.get(&copy),
        Some(&file(12, T + 30)),
        "remote version kept locally"
    );
    assert_eq!(world.remote.get(&p("src/x.py")), Some(&file(11, T + 20)));

    // The remote winner renames the local version away first.
    let plan = three_way(
        &[("x", file(11, T + 20)), o.clone()],
        &[("x", file(12, T + 30)), o.clone()],
        &[("x", file(10, T)), o.clone()],
        InitialSync::PreferRemote,
    );
    assert_eq!(
        plan.actions[0],
        Action::SaveConflictCopy {
            path: p("x"),
            copy: p("x.ferry-conflict-local"),
            side: Side::Local
        }
    );
}

#[test]
fn conflict_copy_names_avoid_taken_names() {
    let o = other();
    let plan = three_way(
        &[
            ("x", file(11, T + 20)),
            ("x.ferry-conflict-remote", file(1, T)),
            o.clone(),
        ],
        &[
            ("x", file(12, T + 30)),
            ("x.ferry-conflict-remote-2", file(1, T)),
            o.clone(),
        ],
        &[("x", file(10, T)), o.clone()],
        InitialSync::Merge,
    );
    let Action::SaveConflictCopy { copy, .. } = &plan.actions[0] else {
        panic!("{plan:?}")
    };
    assert_eq!(copy, &p("x.ferry-conflict-remote-3"));
}

#[test]
fn no_conflict_copy_when_an_exclude_forbids_moving_the_losing_version() {
    let o = other();
    let plan = plan_initial(
        &snap(&[("x", file(11, T + 20)), o.clone()]),
        &snap(&[("x", file(12, T + 30)), o.clone()]),
        Some(&index(&[("x", file(10, T)), o.clone()])),
        InitialSync::Merge,
        &excludes(&[], &[], &["x"]),
        Tolerance::default(),
    );
    assert_eq!(summary(&plan), "x=C");
    assert!(!plan.has_io());
}

#[test]
fn a_folder_deleted_locally_is_one_remote_deletion() {
    let tree = [
        ("d", dir_at(T)),
        ("d/a", file(1, T)),
        ("d/s", dir_at(T)),
        ("d/s/b", file(2, T)),
        other(),
    ];
    let plan = three_way(&[other()], &tree, &tree, InitialSync::Merge);
    assert_eq!(summary(&plan), "d=XR d/a=xR d/s=xR d/s/b=xR");
    let Action::DeleteRemote { deletions } = &plan.actions[0] else {
        panic!("{plan:?}")
    };
    assert_eq!(deletions.len(), 1);
}

#[test]
fn a_folder_deleted_locally_keeps_what_changed_remotely() {
    let tree = [
        ("d", dir_at(T)),
        ("d/a", file(1, T)),
        ("d/b", file(2, T)),
        other(),
    ];
    let mut remote = tree.to_vec();
    remote.push(("d/new", file(3, T)));
    let plan = three_way(&[other()], &remote, &tree, InitialSync::Merge);
    assert_eq!(summary(&plan), "d=ML d/a=XR d/b=XR d/new=D");

    let mut remote = tree.to_vec();
    remote[2] = ("d/b", file(5, T + 9));
    let plan = three_way(&[other()], &remote, &tree, InitialSync::Merge);
    assert_eq!(summary(&plan), "d=ML d/a=XR d/b=D+CX");
}

#[test]
fn a_folder_deletion_never_removes_excluded_content() {
    let tree = [("d", dir_at(T)), ("d/a", file(1, T)), other()];
    let mut remote = tree.to_vec();
    remote.push(("d/node_modules", dir_at(T)));
    remote.push(("d/node_modules/m.js", file(1, T)));
    let plan = plan_initial(
        &snap(&[other()]),
        &snap(&remote),
        Some(&index(&tree)),
        InitialSync::Merge,
        &excludes(&["node_modules/"], &[], &[]),
        Tolerance::default(),
    );
    assert_eq!(summary(&plan), "d=SN d/a=XR d/node_modules=SE");
}

#[test]
fn excluded_deletions_are_not_propagated() {
    let tree = [("x", file(1, T)), other()];
    // devspace#1630: an upload-excluded local deletion must not delete remotely.
    let plan = plan_initial(
        &snap(&[other()]),
        &snap(&tree),
        Some(&index(&tree)),
        InitialSync::Merge,
        &excludes(&[], &["x"], &[]),
        Tolerance::default(),
    );
    assert_eq!(summary(&plan), "x=SU");
    let plan = plan_initial(
        &snap(&tree),
        &snap(&[other()]),
        Some(&index(&tree)),
        InitialSync::Merge,
        &excludes(&[], &[], &["x"]),
        Tolerance::default(),
    );
    assert_eq!(summary(&plan), "x=SD");
    // The other direction still goes through.
    let plan = plan_initial(
        &snap(&[other()]),
        &snap(&tree),
        Some(&index(&tree)),
        InitialSync::Merge,
        &excludes(&[], &[], &["x"]),
        Tolerance::default(),
    );
    assert_eq!(summary(&plan), "x=XR");
}

#[test]
fn an_empty_side_never_reads_as_everything_deleted() {
    // devspace#326: a new container (or a failed listing) with an index from before. The
    // index is forgotten first (F), so a transfer that then fails leaves no stale entry.
    let tree = [("a", file(1, T)), ("d", dir_at(T)), ("d/b", file(2, T))];
    let plan = plan_initial(
        &snap(&tree),
        &snap(&[]),
        Some(&index(&tree)),
        InitialSync::Merge,
        &ExcludeSet::none(),
        Tolerance::default(),
    );
    assert_eq!(summary(&plan), "a=F+U d=F+MR d/b=F+U");
    assert!(
        matches!(plan.actions[0], Action::Forget { .. }),
        "{plan:#?}"
    );
    let plan = plan_initial(
        &snap(&[]),
        &snap(&tree),
        Some(&index(&tree)),
        InitialSync::Merge,
        &ExcludeSet::none(),
        Tolerance::default(),
    );
    assert_eq!(summary(&plan), "a=F+D d=F+ML d/b=F+D");
    // Only excluded things left counts as empty too.
    let plan = plan_initial(
        &snap(&tree),
        &snap(&[(".ferry", dir_at(T))]),
        Some(&index(&tree)),
        InitialSync::Merge,
        &excludes(&[".ferry/"], &[], &[]),
        Tolerance::default(),
    );
    assert_eq!(summary(&plan), ".ferry=SE a=F+U d=F+MR d/b=F+U");
}

#[test]
fn a_folder_renamed_while_disconnected_is_renamed_remotely() {
    let tree = |root: &'static str| -> Vec<(&'static str, Entry)> {
        match root {
            "a" => vec![
                ("a", dir_at(T)),
                ("a/x", file(1, T)),
                ("a/y", file(2, T + 1)),
                other(),
            ],
            _ => vec![
                ("b", dir_at(T + 50)),
                ("b/x", file(1, T)),
                ("b/y", file(2, T + 1)),
                other(),
            ],
        }
    };
    let plan = three_way(&tree("b"), &tree("a"), &tree("a"), InitialSync::Merge);
    assert_eq!(summary(&plan), "a=RR b=RR");
    let mut world = World {
        local: snap(&tree("b")),
        remote: snap(&tree("a")),
        index: index(&tree("a")),
        ..World::default()
    };
    world.apply(&plan, RemoteTimes::Exact);
    assert!(world.differing(|_| false).is_empty());
    assert_eq!(world.index.get(&p("b/y")), Some(&file(2, T + 1)));
    assert_eq!(world.index.get(&p("a/y")), None);
}

#[test]
fn disabled_plans_nothing_even_with_an_index() {
    let tree = [("x", file(1, T)), other()];
    let plan = plan_initial(
        &snap(&[other()]),
        &snap(&tree),
        Some(&index(&tree)),
        InitialSync::Disabled,
        &ExcludeSet::none(),
        Tolerance::default(),
    );
    assert!(plan.is_empty());
}

#[test]
fn the_index_after_a_plan_matches_both_sides() {
    let local = snap(&[("a", file(1, T + 5)), ("d", dir_at(T)), ("d/x", file(3, T))]);
    let remote = snap(&[("a", file(1, T)), ("r", file(2, T)), ("same", file(4, T))]);
    let mut local = local;
    local.insert(p("same"), file(4, T));
    let plan = plan_initial(
        &local,
        &remote,
        None,
        InitialSync::Merge,
        &ExcludeSet::none(),
        Tolerance::default(),
    );
    let mut world = World {
        local,
        remote,
        ..World::default()
    };
    world.apply(&plan, RemoteTimes::Seconds);
    assert!(world.differing(|_| false).is_empty());
    assert_eq!(world.index.entries(), &world.local);
    // A restart: nothing to do.
    let again = plan_initial(
        &world.local,
        &world.remote,
        Some(&world.index),
        InitialSync::Merge,
        &ExcludeSet::none(),
        Tolerance::default(),
    );
    assert!(again.is_empty(), "{again:?}");
    let _: &Index = &world.index;
}
