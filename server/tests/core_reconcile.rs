//! `ferry::core::{plan_local_changes, plan_remote_changes}`: echo suppression, deletions
//! (only of indexed, unexcluded paths; folders in one action), rename detection,
//! conflicts against the other side's snapshot, and index upkeep.

mod core_support;

use core_support::*;
use ferry::core::{
    plan_local_changes, plan_remote_changes, Action, Change, ConflictKind, Entry, ExcludeSet,
    Index, Plan, Resolution, Side, Snapshot, Tolerance,
};

fn change(path: &str, new: Option<Entry>) -> Change {
    Change { path: p(path), new }
}

fn local(changes: &[Change], index: &Index, remote: Option<&Snapshot>) -> Plan {
    plan_local_changes(
        changes,
        index,
        remote,
        &ExcludeSet::none(),
        Tolerance::default(),
    )
}

fn remote(changes: &[Change], index: &Index, local: Option<&Snapshot>) -> Plan {
    plan_remote_changes(
        changes,
        index,
        local,
        &ExcludeSet::none(),
        Tolerance::default(),
    )
}

fn base() -> Vec<(&'static str, Entry)> {
    vec![
        ("a", file(1, T)),
        ("d", dir_at(T)),
        ("d/x", file(2, T)),
        ("d/s", dir_at(T)),
        ("d/s/y", file(3, T)),
    ]
}

#[test]
fn a_change_that_matches_the_index_is_an_echo() {
    let idx = index(&base());
    assert!(local(&[change("a", Some(file(1, T)))], &idx, None).is_empty());
    assert!(remote(&[change("d/x", Some(file(2, T)))], &idx, None).is_empty());
    // A directory whose mtime changed is no change.
    assert!(local(&[change("d", Some(dir_at(T + 9)))], &idx, None).is_empty());
    // Uploaded with 10.7 s, listed by the container as 10 s (tar kept whole seconds).
    let precise = Entry::file(5, s(T) + 700_000_000);
    let idx = index(&[("f", precise)]);
    assert!(remote(&[change("f", Some(file(5, T)))], &idx, None).is_empty());
    // …but a real change in the same second is seen when both know nanoseconds.
    let later = Entry::file(5, s(T) + 800_000_000);
    assert_eq!(
        summary(&local(&[change("f", Some(later))], &idx, None)),
        "f=U"
    );
}

#[test]
fn an_applied_plan_produces_no_echo() {
    let idx = index(&base());
    let mut world = World {
        local: snap(&base()),
        remote: snap(&base()),
        index: idx,
        ..World::default()
    };
    // The container changed d/x; the engine downloads it…
    let new = file(9, T + 30);
    world.remote.insert(p("d/x"), new.clone());
    let plan = remote(
        &[change("d/x", Some(new.clone()))],
        &world.index,
        Some(&world.local),
    );
    assert_eq!(summary(&plan), "d/x=D");
    world.apply(&plan, RemoteTimes::Exact);
    // …and the local watcher then reports the written file: nothing to upload.
    let echo = local(
        &[change("d/x", Some(new))],
        &world.index,
        Some(&world.remote),
    );
    assert!(echo.is_empty(), "{echo:?}");

    // The same for an upload into a container that keeps whole seconds.
    let edited = Entry::file(4, s(T + 40) + 123_456_789);
    world.local.insert(p("a"), edited.clone());
    let plan = local(
        &[change("a", Some(edited))],
        &world.index,
        Some(&world.remote),
    );
    world.apply(&plan, RemoteTimes::Seconds);
    let listed = world.remote.get(&p("a")).cloned();
    assert_eq!(listed, Some(file(4, T + 40)));
    let echo = remote(&[change("a", listed)], &world.index, Some(&world.local));
    assert!(echo.is_empty(), "{echo:?}");
}

#[test]
fn local_creations_changes_and_deletions() {
    let idx = index(&base());
    let cases: Vec<(Vec<Change>, &str)> = vec![
        (vec![change("new", Some(file(1, T)))], "new=U"),
        (vec![change("a", Some(file(7, T + 5)))], "a=U"),
        (vec![change("a", Some(file(1, T).with_mode(0o755)))], "a=U"),
        (vec![change("a", None)], "a=XR"),
        (
            vec![
                change("n", Some(dir_at(T))),
                change("n/f", Some(file(1, T))),
            ],
            "n=MR n/f=U",
        ),
        // A deletion of something the index does not know: nothing to delete.
        (vec![change("ghost", None)], ""),
        // A file in a folder neither side nor the batch knows (an incomplete batch):
        // uploaded as it is; the transfer creates the folder, the index learns only the file.
        (vec![change("d/s/t/z", Some(file(1, T)))], "d/s/t/z=U"),
        // A file replaced by a folder.
        (
            vec![
                change("a", Some(dir_at(T))),
                change("a/in", Some(file(1, T))),
            ],
            "a=XR+MR a/in=U",
        ),
        // A folder replaced by a file: one deletion with the index's contents.
        (
            vec![change("d", Some(file(1, T)))],
            "d=XR+U d/s=xR d/s/y=xR d/x=xR",
        ),
    ];
    for (changes, want) in cases {
        let got = summary(&local(&changes, &idx, None));
        assert_eq!(got, want, "{changes:?}");
    }
}

#[test]
fn a_deleted_folder_is_one_action_with_the_index_children() {
    let idx = index(&base());
    let plan = local(&[change("d", None)], &idx, None);
    assert_eq!(plan.actions.len(), 1);
    let Action::DeleteRemote { deletions } = &plan.actions[0] else {
        panic!("{plan:?}")
    };
    assert_eq!(deletions.len(), 1);
    assert_eq!(deletions[0].path, p("d"));
    let contents: Vec<&str> = deletions[0]
        .contents
        .iter()
        .map(|i| i.path.as_str())
        .collect();
    assert_eq!(contents, ["d/s", "d/s/y", "d/x"]);
    // The watcher may also report each file: still one deletion.
    let plan = local(
        &[
            change("d", None),
            change("d/x", None),
            change("d/s/y", None),
        ],
        &idx,
        None,
    );
    assert_eq!(summary(&plan), "d=XR d/s=xR d/s/y=xR d/x=xR");

    let mut index_after = idx.clone();
    index_after.apply_plan(&plan);
    assert_eq!(index_after, index(&[("a", file(1, T))]));
}

#[test]
fn a_deleted_folder_keeps_what_the_container_added_meanwhile() {
    let idx = index(&base());
    let mut container = snap(&base());
    container.insert(p("d/s/new"), file(1, T + 60));
    let plan = local(&[change("d", None)], &idx, Some(&container));
    // d/s/new is unknown to the index: d and d/s stay remotely (only the top-most is
    // reported), only known files go.
    assert_eq!(summary(&plan), "d=SN d/s/y=XR d/x=XR");
}

#[test]
fn remote_changes_mirror_the_local_rules() {
    let idx = index(&base());
    let cases: Vec<(Vec<Change>, &str)> = vec![
        (vec![change("r", Some(file(1, T)))], "r=D"),
        (vec![change("a", Some(file(2, T + 3)))], "a=D"),
        (vec![change("a", None)], "a=XL"),
        (vec![change("d", None)], "d=XL d/s=xL d/s/y=xL d/x=xL"),
        (vec![change("ghost", None)], ""),
    ];
    for (changes, want) in cases {
        assert_eq!(summary(&remote(&changes, &idx, None)), want, "{changes:?}");
    }
}

#[test]
fn excluded_changes_and_deletions_stay_on_their_side() {
    let idx = index(&base());
    let up = excludes(&[], &["d/x", "a"], &[]);
    let down = excludes(&[], &[], &["d/x", "a"]);
    let both = excludes(&["d/"], &[], &[]);
    let plan = |changes: &[Change], side: Side, ex: &ExcludeSet| match side {
        Side::Local => plan_local_changes(changes, &idx, None, ex, Tolerance::default()),
        Side::Remote => plan_remote_changes(changes, &idx, None, ex, Tolerance::default()),
    };
    // devspace#1630: an upload-excluded local deletion is not carried out remotely.
    assert_eq!(
        summary(&plan(&[change("a", None)], Side::Local, &up)),
        "a=SU"
    );
    assert_eq!(
        summary(&plan(
            &[change("a", Some(file(5, T + 1)))],
            Side::Local,
            &up
        )),
        "a=SU"
    );
    // …while remote changes of the same path still come down.
    assert_eq!(
        summary(&plan(&[change("a", None)], Side::Remote, &up)),
        "a=XL"
    );
    assert_eq!(
        summary(&plan(
            &[change("a", Some(file(5, T + 1)))],
            Side::Remote,
            &up
        )),
        "a=D"
    );
    // downloadExcludePaths: the mirror image.
    assert_eq!(
        summary(&plan(&[change("a", None)], Side::Remote, &down)),
        "a=SD"
    );
    assert_eq!(
        summary(&plan(&[change("a", None)], Side::Local, &down)),
        "a=XR"
    );
    // A folder deletion spares its upload-excluded file (and so the folder).
    assert_eq!(
        summary(&plan(&[change("d", None)], Side::Local, &up)),
        "d=SN d/s=XR d/s/y=xR d/x=SU"
    );
    // excludePaths: nothing in either direction.
    assert_eq!(
        summary(&plan(&[change("d", None)], Side::Local, &both)),
        "d=SE"
    );
    assert_eq!(
        summary(&plan(
            &[change("d/x", Some(file(8, T + 8)))],
            Side::Remote,
            &both
        )),
        "d/x=SE"
    );
}

#[test]
fn a_change_on_both_sides_is_a_conflict_that_loses_nothing() {
    let idx = index(&base());
    let mut container = snap(&base());
    container.insert(p("a"), file(20, T + 20));
    let plan = local(
        &[change("a", Some(file(10, T + 10)))],
        &idx,
        Some(&container),
    );
    assert_eq!(summary(&plan), "a=U+CL");
    assert_eq!(
        plan.actions[0],
        Action::SaveConflictCopy {
            path: p("a"),
            copy: p("a.ferry-conflict-remote"),
            side: Side::Remote
        }
    );
    assert_eq!(plan.conflicts[0].kind, ConflictKind::BothChanged);
    assert_eq!(plan.conflicts[0].remote, Some(file(20, T + 20)));

    // Deleted locally, changed remotely: the change comes back.
    let plan = local(&[change("a", None)], &idx, Some(&container));
    assert_eq!(summary(&plan), "a=D+CX");
    assert_eq!(
        plan.conflicts[0].kind,
        ConflictKind::ChangedAndDeleted {
            deleted: Side::Local
        }
    );
    assert_eq!(plan.conflicts[0].resolution, Resolution::Restored);

    // Changed locally, deleted remotely (remote loop, with the local snapshot).
    let mut workspace = snap(&base());
    workspace.insert(p("a"), file(10, T + 10));
    let plan = remote(&[change("a", None)], &idx, Some(&workspace));
    assert_eq!(summary(&plan), "a=U+CX");

    // Without the other side's snapshot it is assumed unchanged: a plain upload.
    let plan = local(&[change("a", Some(file(10, T + 10)))], &idx, None);
    assert_eq!(summary(&plan), "a=U");
}

#[test]
fn the_local_loop_leaves_remote_only_changes_to_the_remote_loop() {
    let idx = index(&base());
    let mut container = snap(&base());
    container.insert(p("a"), file(20, T + 20));
    container.remove(&p("d/x"));
    // Local reports (echoes) for paths the container changed: nothing to do here.
    let plan = local(
        &[
            change("a", Some(file(1, T))),
            change("d/x", Some(file(2, T))),
        ],
        &idx,
        Some(&container),
    );
    assert!(plan.is_empty(), "{plan:?}");
}

fn renamed_tree(root: &str) -> Vec<Change> {
    vec![
        change(root, Some(dir_at(T + 99))),
        change(&format!("{root}/x"), Some(file(2, T))),
        change(&format!("{root}/s"), Some(dir_at(T + 99))),
        change(&format!("{root}/s/y"), Some(file(3, T))),
    ]
}

#[test]
fn a_renamed_folder_is_one_rename() {
    let idx = index(&base());
    let mut changes = vec![change("d", None)];
    changes.extend(renamed_tree("e"));
    let plan = local(&changes, &idx, None);
    assert_eq!(summary(&plan), "d=RR e=RR");
    assert_eq!(
        plan.actions,
        [Action::RenameRemote {
            from: p("d"),
            to: p("e")
        }]
    );

    let mut world = World {
        local: snap(&base()),
        remote: snap(&base()),
        index: idx,
        ..World::default()
    };
    world.local.remove_subtree(&p("d"));
    for c in &changes[1..] {
        world
            .local
            .insert(c.path.clone(), c.new.clone().expect("created"));
    }
    world.apply(&plan, RemoteTimes::Exact);
    assert!(world.differing(|_| false).is_empty());
    assert_eq!(world.index.get(&p("e/s/y")), Some(&file(3, T)));
    assert!(world.index.get(&p("d")).is_none());

    // From the container: a local rename.
    let plan = remote(&changes, &index(&base()), None);
    assert_eq!(
        plan.actions,
        [Action::RenameLocal {
            from: p("d"),
            to: p("e")
        }]
    );
}

#[test]
fn a_folder_moved_into_a_new_folder_is_a_mkdir_and_a_rename() {
    let idx = index(&base());
    let mut changes = vec![change("d", None), change("n", Some(dir_at(T)))];
    changes.extend(renamed_tree("n/e"));
    let plan = local(&changes, &idx, None);
    assert_eq!(summary(&plan), "d=RR n=MR n/e=RR");
    assert!(matches!(&plan.actions[0], Action::MkdirRemote { .. }));
    assert_eq!(
        plan.actions[1],
        Action::RenameRemote {
            from: p("d"),
            to: p("n/e")
        }
    );
}

#[test]
fn rename_detection_only_applies_to_identical_unique_unexcluded_folders() {
    let idx = index(&base());
    let with = |extra: Vec<Change>| {
        let mut changes = vec![change("d", None)];
        changes.extend(extra);
        changes
    };
    // A file differs (mtime): removal plus copy.
    let mut other_mtime = renamed_tree("e");
    other_mtime[1] = change("e/x", Some(file(2, T + 1)));
    let plan = local(&with(other_mtime), &idx, None);
    assert!(
        plan.actions
            .iter()
            .all(|a| !matches!(a, Action::RenameRemote { .. })),
        "{plan:?}"
    );
    assert_eq!(
        summary(&plan),
        "d=XR d/s=xR d/s/y=xR d/x=xR e=MR e/s=MR e/s/y=U e/x=U"
    );

    // An extra file: removal plus copy.
    let mut extra = renamed_tree("e");
    extra.push(change("e/z", Some(file(1, T))));
    assert!(!summary(&local(&with(extra), &idx, None)).contains("RR"));

    // Two identical copies appeared: ambiguous.
    let mut two = renamed_tree("e");
    two.extend(renamed_tree("f"));
    assert!(!summary(&local(&with(two), &idx, None)).contains("RR"));

    // Excluded content in the tree: no rename.
    let ex = excludes(&[], &[], &["*.tmp"]);
    let mut tmp_idx = base();
    tmp_idx.push(("d/t.tmp", file(1, T)));
    let mut tmp = renamed_tree("e");
    tmp.push(change("e/t.tmp", Some(file(1, T))));
    let plan = plan_local_changes(
        &with(tmp),
        &index(&tmp_idx),
        None,
        &ex,
        Tolerance::default(),
    );
    assert!(!summary(&plan).contains("RR"), "{}", summary(&plan));

    // The container changed d/x meanwhile: d is not renamed (d/x comes back locally, a
    // change wins over a deletion), but its untouched subfolder d/s still is.
    let mut container = snap(&base());
    container.insert(p("d/x"), file(9, T + 9));
    let plan = local(&with(renamed_tree("e")), &idx, Some(&container));
    assert_eq!(summary(&plan), "d=ML d/s=RR d/x=D+CX e=MR e/s=RR e/x=U");
}

#[test]
fn a_new_folder_must_list_its_contents() {
    // "d" re-created as a new folder after being a file: index entries under it that the
    // batch does not list are gone.
    let idx = index(&[("d", file(1, T)), ("k", dir_at(T)), ("k/old", file(1, T))]);
    let plan = local(
        &[change("k", None), change("k", Some(dir_at(T + 1)))],
        &idx,
        None,
    );
    // The later change for k wins: k is still a directory, nothing changed.
    assert!(plan.is_empty(), "{plan:?}");
    let plan = local(
        &[
            change("d", Some(dir_at(T))),
            change("d/n", Some(file(1, T))),
        ],
        &idx,
        None,
    );
    assert_eq!(summary(&plan), "d=XR+MR d/n=U");
}

#[test]
fn index_apply_covers_every_action() {
    let mut idx = index(&base());
    idx.apply(&Action::RenameRemote {
        from: p("d"),
        to: p("e"),
    });
    assert_eq!(
        idx,
        index(&[
            ("a", file(1, T)),
            ("e", dir_at(T)),
            ("e/s", dir_at(T)),
            ("e/s/y", file(3, T)),
            ("e/x", file(2, T))
        ])
    );
    // Forget removes exactly its paths; a deletion removes the subtree.
    idx.apply(&Action::Forget {
        paths: vec![p("e/s/y")],
    });
    idx.apply(&Action::DeleteRemote {
        deletions: vec![ferry::core::Deletion {
            path: p("e/s"),
            entry: dir_at(T),
            contents: vec![],
        }],
    });
    assert_eq!(
        idx,
        index(&[("a", file(1, T)), ("e", dir_at(T)), ("e/x", file(2, T))])
    );
    idx.apply(&Action::Forget {
        paths: vec![p("e")],
    });
    assert_eq!(idx, index(&[("a", file(1, T)), ("e/x", file(2, T))]));
    idx.apply(&Action::Forget {
        paths: vec![p("e/x")],
    });
    idx.apply(&Action::SaveConflictCopy {
        path: p("a"),
        copy: p("a.c"),
        side: Side::Remote,
    });
    assert_eq!(idx.len(), 1);
    idx.apply(&Action::Record {
        items: vec![ferry::core::Item {
            path: p("b"),
            entry: file(5, T),
        }],
    });
    assert_eq!(idx.get(&p("b")), Some(&file(5, T)));
}

#[test]
fn a_racy_entry_is_unchanged_only_by_its_content_hash() {
    use ferry::core::ContentHash;
    let hash = |h: &str| Some(ContentHash(format!("sha256:{h}")));
    // Recorded within a second of its mtime: same size and mtime prove nothing.
    let recorded = Entry {
        hash: hash("aa"),
        ..file(2, T)
    };
    let mut idx = index(&[("flag.txt", recorded.clone())]);
    idx.set_racy(&p("flag.txt"), true);
    assert!(idx.is_racy(&p("flag.txt")));
    // Same metadata, no hash: a change (both directions).
    let same_meta = file(2, T);
    let up = local(&[change("flag.txt", Some(same_meta.clone()))], &idx, None);
    assert_eq!(summary(&up), "flag.txt=U");
    let down = remote(&[change("flag.txt", Some(same_meta.clone()))], &idx, None);
    assert_eq!(summary(&down), "flag.txt=D");
    // Same metadata and the recorded hash: an echo.
    let echo = Entry {
        hash: hash("aa"),
        ..same_meta.clone()
    };
    assert!(remote(&[change("flag.txt", Some(echo))], &idx, None).is_empty());
    // Same metadata, another hash: the container's same-size edit in the same second.
    let edit = Entry {
        hash: hash("bb"),
        ..same_meta.clone()
    };
    assert_eq!(
        summary(&remote(&[change("flag.txt", Some(edit))], &idx, None)),
        "flag.txt=D"
    );
    // Once cleared, metadata decides again.
    idx.set_racy(&p("flag.txt"), false);
    assert!(remote(&[change("flag.txt", Some(same_meta))], &idx, None).is_empty());
    // Recording the path anew clears the mark; deleting it forgets it.
    idx.set_racy(&p("flag.txt"), true);
    idx.apply(&Action::Record {
        items: vec![ferry::core::Item {
            path: p("flag.txt"),
            entry: recorded,
        }],
    });
    assert!(!idx.is_racy(&p("flag.txt")));
    idx.set_racy(&p("nope"), true);
    assert!(idx.racy().is_empty(), "an unknown path is never racy");
}

#[test]
fn a_renamed_folder_with_racy_hashed_entries_is_still_one_rename() {
    use ferry::core::ContentHash;
    // Files uploaded a moment after they were written: hashed and racy in the index.
    let hashed: Vec<(&str, Entry)> = base()
        .into_iter()
        .map(|(p, e)| {
            let e = if e.is_dir() {
                e
            } else {
                Entry {
                    hash: Some(ContentHash(format!("sha256:{p}"))),
                    ..e
                }
            };
            (p, e)
        })
        .collect();
    let mut idx = index(&hashed);
    for (path, _) in &hashed {
        idx.set_racy(&p(path), true);
    }
    let mut changes = vec![change("d", None)];
    changes.extend(renamed_tree("e"));
    // The container's view of the removed folder, checked by content: unchanged.
    let remote_view = snap(&hashed);
    let plan = local(&changes, &idx, Some(&remote_view));
    assert_eq!(
        plan.actions,
        [Action::RenameRemote {
            from: p("d"),
            to: p("e")
        }],
        "{plan:#?}"
    );
}

#[test]
fn independent_changes_agree_only_by_hash_or_the_exact_time() {
    use ferry::core::ContentHash;
    // Both sides changed `a` since the index; the container keeps whole seconds.
    let idx = index(&[("a", file(1, T))]);
    let local_edit = Entry::file(5, s(T + 3) + 200_000_000);
    let remote_edit = Entry::file(5, s(T + 3));
    let view = snap(&[("a", remote_edit.clone())]);
    let plan = local(&[change("a", Some(local_edit.clone()))], &idx, Some(&view));
    assert_eq!(
        plan.conflicts.len(),
        1,
        "same size and second prove nothing: {plan:#?}"
    );
    // The same content, known by hash: one version, recorded.
    let hashed = |e: &Entry| Entry {
        hash: Some(ContentHash("sha256:same".into())),
        ..e.clone()
    };
    let view = snap(&[("a", hashed(&remote_edit))]);
    let plan = local(&[change("a", Some(hashed(&local_edit)))], &idx, Some(&view));
    assert!(plan.conflicts.is_empty() && !plan.has_io(), "{plan:#?}");
}
