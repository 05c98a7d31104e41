//! `ferry::core::ExcludeSet`: gitignore semantics per direction (anchoring, directory
//! patterns, negation, parents), compiled from the config's `Excludes`, and how the
//! planners apply them to creations, changes and deletions.

mod core_support;

use core_support::*;
use ferry::config::{Excludes, InitialSync, Pattern};
use ferry::core::{plan_initial, plan_local_changes, Change, ExcludeSet, Tolerance};

fn set(both: &[&str]) -> ExcludeSet {
    excludes(both, &[], &[])
}

#[test]
fn directions() {
    let ex = excludes(&["secret"], &["node_modules/"], &["build/"]);
    let up = |path: &str, dir: bool| ex.excluded_from_upload(&p(path), dir);
    let down = |path: &str, dir: bool| ex.excluded_from_download(&p(path), dir);
    // excludePaths: both directions.
    assert!(up("secret", false) && down("secret", false));
    assert!(ex.excluded(&p("secret"), false));
    // uploadExcludePaths: never uploaded, still downloaded.
    assert!(up("node_modules", true) && !down("node_modules", true));
    assert!(up("node_modules/x/index.js", false) && !down("node_modules/x/index.js", false));
    assert!(!ex.excluded(&p("node_modules"), true));
    // downloadExcludePaths: never downloaded, still uploaded.
    assert!(!up("build", true) && down("build", true));
    assert!(!up("src/main.rs", false) && !down("src/main.rs", false));
}

#[test]
fn gitignore_semantics() {
    // Unanchored names match at any depth; a slash anchors at the sync root.
    let ex = set(&["*.log", "/build", "docs/gen", "tmp/"]);
    let hit = |path: &str, dir: bool| ex.excluded(&p(path), dir);
    assert!(hit("a.log", false) && hit("deep/er/b.log", false));
    assert!(hit("build", true) && hit("build/out.o", false));
    assert!(!hit("src/build", true), "/build is anchored");
    assert!(hit("docs/gen", true) && hit("docs/gen/x.html", false));
    assert!(!hit("other/docs/gen", true), "a middle slash anchors too");
    // A trailing slash matches directories only.
    assert!(hit("tmp", true) && hit("a/tmp", true) && hit("a/tmp/f", false));
    assert!(
        !hit("tmp", false),
        "a file named tmp is not matched by tmp/"
    );
    // ** patterns.
    let ex = set(&["**/cache/**"]);
    assert!(ex.excluded(&p("a/b/cache/x"), false));
}

#[test]
fn negation_re_includes() {
    let ex = set(&["*.log", "!keep.log"]);
    assert!(ex.excluded(&p("x.log"), false));
    assert!(!ex.excluded(&p("keep.log"), false));
    assert!(!ex.excluded(&p("sub/keep.log"), false));
    // A negated file inside an excluded folder is synced (DevSpace's single-file sync:
    // `**` plus `!/name`).
    let single = set(&["**", "!/app.py"]);
    assert!(!single.excluded(&p("app.py"), false));
    assert!(single.excluded(&p("other.py"), false));
    assert!(single.excluded(&p("dir"), true));
    assert!(single.has_negations());
    assert!(!set(&["*.log"]).has_negations());
    // A negation in one list does not re-include what another excludes.
    let ex = excludes(&["*.log"], &["!keep.log"], &[]);
    assert!(ex.excluded_from_upload(&p("keep.log"), false));
}

#[test]
fn compiled_from_config_excludes_with_spans() {
    let config = Excludes {
        both: vec![Pattern {
            text: ".ferry/".into(),
            span: None,
        }],
        upload: vec![Pattern {
            text: "src/[z-a]".into(),
            span: None,
        }],
        download: vec![],
    };
    let err = ExcludeSet::new(&config).unwrap_err();
    assert_eq!(err.pattern, "src/[z-a]");
    assert!(err.to_string().contains("invalid exclude pattern"), "{err}");
    let ok = Excludes {
        upload: vec![],
        ..config
    };
    let ex = ExcludeSet::new(&ok).unwrap();
    assert!(ex.excluded(&p(".ferry/index.json"), false));
    assert!(ex.excluded(&p("sub/.ferry"), true));
    assert!(!ExcludeSet::none().excluded_from_upload(&p("anything"), false));
}

#[test]
fn the_devspace_landscape_on_initial_sync() {
    // DevSpace's TestInitialSync names: *ignore* → excludePaths, *noDownload* →
    // downloadExcludePaths, *noUpload* → uploadExcludePaths.
    let ex = excludes(&["*ignore*"], &["*noUpload*"], &["*noDownload*"]);
    let local = snap(&[
        ("local_file", file(1, T)),
        ("local_ignore", file(1, T)),
        ("local_noUpload", file(1, T)),
        ("local_noDownload", file(1, T)),
        ("testFolder", dir_at(T)),
        ("testFolder/local_noUpload", file(1, T)),
    ]);
    let remote = snap(&[
        ("remote_file", file(1, T)),
        ("remote_ignore", file(1, T)),
        ("remote_noUpload", file(1, T)),
        ("remote_noDownload", file(1, T)),
        ("testFolder", dir_at(T)),
        ("testFolder/remote_noDownload", file(1, T)),
    ]);
    let plan = plan_initial(
        &local,
        &remote,
        None,
        InitialSync::PreferLocal,
        &ex,
        Tolerance::default(),
    );
    assert_eq!(
        summary(&plan),
        "local_file=U local_ignore=SE local_noDownload=U local_noUpload=SU \
         remote_file=D remote_ignore=SE remote_noDownload=SD remote_noUpload=D \
         testFolder=REC testFolder/local_noUpload=SU testFolder/remote_noDownload=SD"
    );
    // mirrorLocal: remote-only non-excluded entries are deleted, upload-excluded ones
    // downloaded; ignored ones survive; download-excluded ones are deleted (devspace#1578).
    let plan = plan_initial(
        &local,
        &remote,
        None,
        InitialSync::MirrorLocal,
        &ex,
        Tolerance::default(),
    );
    assert_eq!(
        summary(&plan),
        "local_file=U local_ignore=SE local_noDownload=U local_noUpload=SU \
         remote_file=XR remote_ignore=SE remote_noDownload=XR remote_noUpload=D \
         testFolder=REC testFolder/local_noUpload=SU testFolder/remote_noDownload=XR"
    );
}

#[test]
fn a_negated_file_in_an_excluded_folder_gets_its_folder() {
    let ex = set(&["logs/", "!logs/keep.log"]);
    let local = snap(&[
        ("logs", dir_at(T)),
        ("logs/a.log", file(1, T)),
        ("logs/keep.log", file(1, T)),
    ]);
    let plan = plan_initial(
        &local,
        &snap(&[]),
        None,
        InitialSync::Merge,
        &ex,
        Tolerance::default(),
    );
    assert_eq!(summary(&plan), "logs=MR logs/a.log=SE logs/keep.log=U");
}

#[test]
fn live_deletions_follow_the_excludes() {
    let idx = index(&[
        ("keep", dir_at(T)),
        ("keep/x", file(1, T)),
        ("gone", file(1, T)),
    ]);
    let ex = excludes(&[], &["keep/"], &[]);
    let changes = [
        Change {
            path: p("keep"),
            new: None,
        },
        Change {
            path: p("gone"),
            new: None,
        },
    ];
    let plan = plan_local_changes(&changes, &idx, None, &ex, Tolerance::default());
    assert_eq!(summary(&plan), "gone=XR keep=SU");
}
