//! `ferry::core::{RelPath, Snapshot, Entry, compare}`: path validation with precise
//! errors for invalid names, tree order, snapshot helpers, and the comparison rules
//! (tolerance, hashes, modes).

mod core_support;

use std::path::Path;

use core_support::*;
use ferry::core::{
    difference, same_version, Difference, Entry, PathError, RelPath, Side, Snapshot, Tolerance,
};

#[test]
fn valid_paths() {
    for ok in [
        "a",
        "a/b",
        ".hidden",
        "a/.b/c",
        "with space/ü.txt",
        "a..b",
        "...",
        "x\\y",
        "tab\there",
    ] {
        assert_eq!(RelPath::new(ok).map(|p| p.to_string()), Ok(ok.to_string()));
    }
}

#[test]
fn invalid_paths_say_why() {
    let err = |path: &str| RelPath::new(path).unwrap_err();
    assert_eq!(err(""), PathError::Empty);
    assert_eq!(
        err("/etc"),
        PathError::Absolute {
            path: "/etc".into()
        }
    );
    assert_eq!(
        err("a//b"),
        PathError::EmptyComponent {
            path: "a//b".into()
        }
    );
    assert_eq!(err("a/"), PathError::EmptyComponent { path: "a/".into() });
    assert_eq!(err("./a"), PathError::DotComponent { path: "./a".into() });
    assert_eq!(
        err("a/../b"),
        PathError::DotComponent {
            path: "a/../b".into()
        }
    );
    assert_eq!(err(".."), PathError::DotComponent { path: "..".into() });
    assert_eq!(
        err("a\nb"),
        PathError::LineBreak {
            path: "a\nb".into()
        }
    );
    assert_eq!(
        err("a\rb"),
        PathError::LineBreak {
            path: "a\rb".into()
        }
    );
    assert_eq!(
        err("a\0b"),
        PathError::Nul {
            path: "a\0b".into()
        }
    );
    let message = err("bad\nname.txt").to_string();
    assert!(message.contains("newline"), "{message}");
}

#[test]
fn names_that_are_not_utf8_are_rejected_with_a_readable_message() {
    let err = RelPath::from_bytes(b"caf\xe9.txt").unwrap_err();
    assert_eq!(
        err,
        PathError::NotUtf8 {
            lossy: "caf\u{fffd}.txt".into()
        }
    );
    assert!(err.to_string().contains("not valid UTF-8"), "{err}");
    assert_eq!(
        RelPath::from_bytes("café.txt".as_bytes()),
        Ok(p("café.txt"))
    );
    assert_eq!(
        RelPath::from_bytes(b"a\nb"),
        Err(PathError::LineBreak {
            path: "a\nb".into()
        })
    );

    #[cfg(unix)]
    {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let path = Path::new(OsStr::from_bytes(b"dir/caf\xe9"));
        assert!(matches!(
            RelPath::from_path(path),
            Err(PathError::NotUtf8 { .. })
        ));
    }
}

#[test]
fn from_path_normalizes_separators_and_rejects_escapes() {
    assert_eq!(RelPath::from_path(Path::new("a/b/c")), Ok(p("a/b/c")));
    assert_eq!(RelPath::from_path(Path::new("./a//b/")), Ok(p("a/b")));
    assert!(matches!(
        RelPath::from_path(Path::new("/abs")),
        Err(PathError::Absolute { .. })
    ));
    assert!(matches!(
        RelPath::from_path(Path::new("a/../b")),
        Err(PathError::DotComponent { .. })
    ));
    assert_eq!(RelPath::from_path(Path::new(".")), Err(PathError::Empty));
}

#[test]
fn path_helpers() {
    let path = p("a/b/c.txt");
    assert_eq!(path.name(), "c.txt");
    assert_eq!(path.parent(), Some(p("a/b")));
    assert_eq!(p("top").parent(), None);
    assert_eq!(path.ancestors().collect::<Vec<_>>(), [p("a/b"), p("a")]);
    assert_eq!(path.depth(), 3);
    assert_eq!(p("a").join("b"), Ok(p("a/b")));
    assert_eq!(
        p("a").join("b/c"),
        Err(PathError::NotAName { name: "b/c".into() })
    );
    assert_eq!(
        p("a").join(".."),
        Err(PathError::DotComponent {
            path: "a/..".into()
        })
    );
    assert!(p("a").is_ancestor_of(&p("a/b")));
    assert!(!p("a").is_ancestor_of(&p("a")));
    assert!(!p("a").is_ancestor_of(&p("ab/c")));
    assert_eq!(p("a/x/y").rebase(&p("a"), &p("n/b")), Some(p("n/b/x/y")));
    assert_eq!(p("a").rebase(&p("a"), &p("b")), Some(p("b")));
    assert_eq!(p("ab").rebase(&p("a"), &p("b")), None);
    assert_eq!(p("a/b/c").below(&p("a")), Some("b/c"));
    assert_eq!(p("a").below(&p("a")), None);
}

#[test]
fn tree_order_keeps_subtrees_together() {
    let mut paths: Vec<RelPath> = ["a-b", "a/b", "a", "a/b/c", "a.c", "b", "a/a", "a0"]
        .iter()
        .map(|s| p(s))
        .collect();
    paths.sort();
    let sorted: Vec<&str> = paths.iter().map(RelPath::as_str).collect();
    assert_eq!(
        sorted,
        ["a", "a/a", "a/b", "a/b/c", "a-b", "a.c", "a0", "b"]
    );
}

#[test]
fn serde_validates_paths() {
    let json = serde_json::to_string(&p("a/b")).unwrap();
    assert_eq!(json, "\"a/b\"");
    assert_eq!(serde_json::from_str::<RelPath>(&json).unwrap(), p("a/b"));
    assert!(serde_json::from_str::<RelPath>("\"../x\"").is_err());
    let snapshot = snap(&[("a", file(1, T)), ("d", dir_at(T))]);
    let text = serde_json::to_string(&snapshot).unwrap();
    assert_eq!(serde_json::from_str::<Snapshot>(&text).unwrap(), snapshot);
}

#[test]
fn snapshot_children_and_descendants() {
    let snapshot = snap(&[
        ("a", dir_at(T)),
        ("a/x", file(1, T)),
        ("a/s", dir_at(T)),
        ("a/s/y", file(1, T)),
        ("a-b", file(1, T)),
        ("b", file(1, T)),
    ]);
    let names = |it: Vec<&RelPath>| it.into_iter().map(|p| p.to_string()).collect::<Vec<_>>();
    assert_eq!(
        names(snapshot.children(None).map(|(p, _)| p).collect()),
        ["a", "a-b", "b"]
    );
    assert_eq!(
        names(snapshot.children(Some(&p("a"))).map(|(p, _)| p).collect()),
        ["a/s", "a/x"]
    );
    let a = p("a");
    assert_eq!(
        names(snapshot.descendants(&a).map(|(p, _)| p).collect()),
        ["a/s", "a/s/y", "a/x"]
    );
    let mut copy = snapshot.clone();
    assert_eq!(copy.remove_subtree(&p("a")), 4);
    assert_eq!(names(copy.iter().map(|(p, _)| p).collect()), ["a-b", "b"]);
}

#[test]
fn tolerance_rules() {
    let exact = Tolerance::EXACT;
    let ns = |secs: i64, nanos: i64| s(secs) + nanos;
    // Nanosecond times are compared exactly…
    assert!(!exact.mtimes_equal(ns(T, 100), ns(T, 101)));
    // …a whole-second time matches any time in that second (truncated by tar or stat)…
    assert!(exact.mtimes_equal(ns(T, 999_999_999), s(T)));
    assert!(!exact.mtimes_equal(ns(T, 999_999_999), s(T + 1)));
    // …a millisecond time matches at millisecond precision.
    assert!(exact.mtimes_equal(ns(T, 5_000_000), ns(T, 5_123_456)));
    assert!(!exact.mtimes_equal(ns(T, 5_000_000), ns(T, 6_123_456)));
    // Before 1970 too.
    assert!(exact.mtimes_equal(-s(5), -s(5) + 300));
    // The default slack (1 s, local versus remote) also covers rounding.
    let default = Tolerance::default();
    assert!(default.mtimes_equal(ns(T, 600_000_000), s(T + 1)));
    assert!(!default.mtimes_equal(ns(T, 0) + 1, s(T + 1) + 1));
    assert_eq!(default.slack_ns, 1_000_000_000);
}

#[test]
fn differences() {
    let tol = Tolerance::default();
    let f = file(10, T);
    assert_eq!(difference(&f, &f, tol), Difference::None);
    assert_eq!(
        difference(&file(11, T + 5), &f, tol),
        Difference::Newer(Side::Local)
    );
    assert_eq!(
        difference(&f, &file(11, T + 5), tol),
        Difference::Newer(Side::Remote)
    );
    assert_eq!(difference(&file(11, T), &f, tol), Difference::SameTime);
    assert_eq!(
        difference(&f.clone().with_mode(0o755), &f, tol),
        Difference::Mode
    );
    // Only the executable bits count.
    assert_eq!(
        difference(&f.clone().with_mode(0o600), &f, tol),
        Difference::None
    );
    assert_eq!(difference(&f, &Entry::dir(), tol), Difference::Kind);
    assert_eq!(
        difference(&f, &Entry::symlink("t", s(T)), tol),
        Difference::Kind
    );
    assert_eq!(
        difference(&dir_at(T), &dir_at(T + 100).with_mode(0o700), tol),
        Difference::None
    );
    assert_eq!(
        difference(
            &Entry::symlink("a", s(T)),
            &Entry::symlink("a", s(T + 9)),
            tol
        ),
        Difference::None
    );
    assert_eq!(
        difference(
            &Entry::symlink("a", s(T)),
            &Entry::symlink("b", s(T + 9)),
            tol
        ),
        Difference::Newer(Side::Remote)
    );
    // Same size, mtimes 5 s apart, no hash: taken as different content.
    assert_eq!(
        difference(&file(10, T + 5), &f, tol),
        Difference::Newer(Side::Local)
    );
    // A hash on both sides decides.
    let h = |e: Entry, hash: &str| e.with_hash(hash);
    assert_eq!(
        difference(
            &h(file(10, T + 5), "sha256:1"),
            &h(f.clone(), "sha256:1"),
            tol
        ),
        Difference::None
    );
    assert_eq!(
        difference(&h(f.clone(), "sha256:1"), &h(f.clone(), "sha256:2"), tol),
        Difference::SameTime
    );
    assert_eq!(
        difference(&h(f.clone(), "md5:1"), &h(f.clone(), "sha256:2"), tol),
        Difference::None
    );
}

#[test]
fn same_version_of_absent_and_present() {
    let f = file(1, T);
    assert!(same_version(None, None, Tolerance::EXACT));
    assert!(!same_version(Some(&f), None, Tolerance::EXACT));
    assert!(same_version(Some(&f), Some(&f), Tolerance::EXACT));
}
