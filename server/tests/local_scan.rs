//! `ferry::local::scan`: the local tree as a snapshot — kinds, sizes, modes, mtimes to the
//! nanosecond, symlinks as links, invalid names as per-path errors, `skip` pruning,
//! `scan_below` and `stat`.

use std::cell::RefCell;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use ferry::core::{Entry, EntryKind, RelPath};
use ferry::local::{scan, scan_below, stat, temp_name, LocalErrorKind, Scan};
use filetime::FileTime;

fn p(path: &str) -> RelPath {
    RelPath::new(path).unwrap()
}

fn no_skip(_: &RelPath, _: bool) -> bool {
    false
}

fn paths(scan: &Scan) -> Vec<String> {
    scan.snapshot
        .iter()
        .map(|(path, _)| path.to_string())
        .collect()
}

fn write(root: &Path, path: &str, contents: &[u8], mode: u32) {
    let abs = root.join(path);
    fs::create_dir_all(abs.parent().unwrap()).unwrap();
    fs::write(&abs, contents).unwrap();
    fs::set_permissions(&abs, fs::Permissions::from_mode(mode)).unwrap();
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A tree with files, folders, an executable, symlinks (one dangling, one to a folder)
/// and two unsyncable names.
fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "a.txt", b"hello", 0o644);
    write(root, "bin/run.sh", b"#!/bin/sh\n", 0o755);
    write(root, "src/lib/deep.rs", b"fn main() {}", 0o600);
    fs::create_dir(root.join("empty")).unwrap();
    symlink("a.txt", root.join("link")).unwrap();
    symlink("does/not/exist", root.join("dangling")).unwrap();
    symlink("src", root.join("src-link")).unwrap();
    // Invalid UTF-8: a file, and a folder whose subtree must be left out with it.
    fs::write(root.join(OsStr::from_bytes(b"bad\xff.txt")), b"x").unwrap();
    let bad_dir = root.join(OsStr::from_bytes(b"bad\xfedir"));
    fs::create_dir(&bad_dir).unwrap();
    fs::write(bad_dir.join("inside.txt"), b"x").unwrap();
    // A newline in a name.
    fs::write(root.join("new\nline.txt"), b"x").unwrap();
    dir
}

#[test]
fn scan_records_files_folders_and_symlinks_with_their_metadata() {
    let dir = tree();
    let root = dir.path();
    let scan = scan(root, &no_skip).unwrap();
    assert_eq!(
        paths(&scan),
        [
            "a.txt",
            "bin",
            "bin/run.sh",
            "dangling",
            "empty",
            "link",
            "src",
            "src/lib",
            "src/lib/deep.rs",
            "src-link",
        ]
    );
    let get = |path: &str| scan.snapshot.get(&p(path)).unwrap().clone();

    let a = get("a.txt");
    assert_eq!(a.kind, EntryKind::File);
    assert_eq!(a.size, 5);
    assert_eq!(a.mode, 0o644);
    assert_eq!(a.hash, None);

    let run = get("bin/run.sh");
    assert_eq!(run.mode, 0o755, "the executable bits are recorded");
    assert_eq!(get("src/lib/deep.rs").mode, 0o600);

    let bin = get("bin");
    assert_eq!(bin.kind, EntryKind::Dir);
    assert_eq!(bin.size, 0, "folders have size 0");

    // Symlinks are links, not followed: their own size (the target's length), and a
    // symlink to a folder is not descended into.
    let link = get("link");
    assert_eq!(link.kind, EntryKind::Symlink("a.txt".into()));
    assert_eq!(link.size, 5);
    assert_eq!(link.mode & 0o777, 0o777);
    assert_eq!(
        get("dangling").kind,
        EntryKind::Symlink("does/not/exist".into())
    );
    assert_eq!(get("src-link").kind, EntryKind::Symlink("src".into()));
    assert!(!scan.snapshot.contains(&p("src-link/lib")));
}

#[test]
fn invalid_names_are_errors_and_the_rest_is_still_scanned() {
    let dir = tree();
    let scan = scan(dir.path(), &no_skip).unwrap();
    let mut errors: Vec<_> = scan
        .errors
        .iter()
        .map(|e| (e.path.clone(), e.kind))
        .collect();
    errors.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        errors,
        [
            ("bad\u{fffd}.txt".to_string(), LocalErrorKind::InvalidName),
            ("bad\u{fffd}dir".to_string(), LocalErrorKind::InvalidName),
            ("new\nline.txt".to_string(), LocalErrorKind::InvalidName),
        ]
    );
    let newline = scan.errors.iter().find(|e| e.path.contains('\n')).unwrap();
    assert!(
        newline.message.contains("newline"),
        "the message is core::PathError's: {}",
        newline.message
    );
    let utf8 = scan.errors.iter().find(|e| e.path.contains("dir")).unwrap();
    assert!(utf8.message.contains("UTF-8"), "{}", utf8.message);
    // Nothing of the invalid folder's subtree, and everything else.
    assert!(scan
        .snapshot
        .iter()
        .all(|(path, _)| !path.as_str().contains("inside")));
    assert_eq!(scan.snapshot.len(), 10);
    assert!(!scan.is_unknown(&p("a.txt")));
}

#[test]
fn skip_leaves_out_a_folder_without_reading_it() {
    let dir = tree();
    let root = dir.path();
    write(root, "node_modules/pkg/index.js", b"x", 0o644);
    let asked = RefCell::new(Vec::new());
    let skip = |path: &RelPath, is_dir: bool| {
        asked.borrow_mut().push((path.to_string(), is_dir));
        path.as_str() == "node_modules" || path.as_str() == "a.txt"
    };
    let scan = scan(root, &skip).unwrap();
    assert!(!scan.snapshot.contains(&p("node_modules")));
    assert!(!scan.snapshot.contains(&p("a.txt")));
    assert!(scan.snapshot.contains(&p("src/lib/deep.rs")));
    let asked = asked.into_inner();
    assert!(asked.contains(&("node_modules".to_string(), true)));
    assert!(asked.contains(&("a.txt".to_string(), false)));
    assert!(asked.contains(&("src".to_string(), true)));
    assert!(
        asked.contains(&("link".to_string(), false)),
        "a symlink is not a folder"
    );
    assert!(
        !asked
            .iter()
            .any(|(path, _)| path.starts_with("node_modules/")),
        "the skipped folder was not descended into: {asked:?}"
    );
}

#[test]
fn mtimes_have_nanosecond_precision() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "f", b"x", 0o644);
    symlink("f", root.join("l")).unwrap();
    let time = FileTime::from_unix_time(1_700_000_000, 123_456_789);
    filetime::set_file_mtime(root.join("f"), time).unwrap();
    filetime::set_symlink_file_times(root.join("l"), time, time).unwrap();
    let before_epoch = FileTime::from_unix_time(-2, 500_000_000);
    write(root, "old", b"x", 0o644);
    filetime::set_file_mtime(root.join("old"), before_epoch).unwrap();

    let scan = scan(root, &no_skip).unwrap();
    assert_eq!(
        scan.snapshot.get(&p("f")).unwrap().mtime,
        1_700_000_000_123_456_789
    );
    assert_eq!(
        scan.snapshot.get(&p("l")).unwrap().mtime,
        1_700_000_000_123_456_789
    );
    assert_eq!(scan.snapshot.get(&p("old")).unwrap().mtime, -1_500_000_000);
}

#[test]
fn ferry_temporary_files_are_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "f", b"x", 0o644);
    write(root, &temp_name("f"), b"partial", 0o600);
    let scan = scan(root, &no_skip).unwrap();
    assert_eq!(paths(&scan), ["f"]);
    assert!(scan.errors.is_empty());
}

#[test]
fn scan_below_covers_one_subtree_only() {
    let dir = tree();
    let root = dir.path();
    let below = scan_below(root, &p("src"), &no_skip);
    assert_eq!(paths(&below), ["src", "src/lib", "src/lib/deep.rs"]);
    assert!(below.errors.is_empty());

    let full = scan(root, &no_skip).unwrap();
    for (path, entry) in below.snapshot.iter() {
        assert_eq!(full.snapshot.get(path), Some(entry), "{path}");
    }

    // One file; a missing path; a path through a symlinked folder; a skipped path.
    assert_eq!(paths(&scan_below(root, &p("a.txt"), &no_skip)), ["a.txt"]);
    assert!(scan_below(root, &p("missing/x"), &no_skip)
        .snapshot
        .is_empty());
    let through_link = scan_below(root, &p("src-link/lib"), &no_skip);
    assert!(through_link.snapshot.is_empty() && through_link.errors.is_empty());
    assert!(scan_below(root, &p("src"), &|_, _| true)
        .snapshot
        .is_empty());
    let partly_skipped = scan_below(root, &p("src"), &|path, _| path.as_str() == "src/lib");
    assert_eq!(paths(&partly_skipped), ["src"]);
}

#[test]
fn stat_is_lstat_of_one_path() {
    let dir = tree();
    let root = dir.path();
    let full = scan(root, &no_skip).unwrap();
    for path in ["a.txt", "bin", "link", "dangling", "src/lib/deep.rs"] {
        assert_eq!(
            stat(root, &p(path)).unwrap().as_ref(),
            full.snapshot.get(&p(path)),
            "{path}"
        );
    }
    assert_eq!(stat(root, &p("missing")).unwrap(), None);
    assert_eq!(stat(root, &p("a.txt/below-a-file")).unwrap(), None);
    assert_eq!(
        stat(root, &p("src-link/lib")).unwrap(),
        None,
        "a path through a symlinked folder is not part of the tree"
    );
    let file = stat(root, &p("a.txt")).unwrap().unwrap();
    assert_eq!(
        file,
        Entry {
            mode: 0o644,
            ..file.clone()
        }
    );
}

#[test]
fn the_root_must_be_a_readable_folder() {
    let dir = tempfile::tempdir().unwrap();
    let missing = scan(&dir.path().join("missing"), &no_skip).unwrap_err();
    assert_eq!(missing.kind, LocalErrorKind::NotFound);
    assert_eq!(missing.path, "");
    assert!(
        missing.message.contains("does not exist"),
        "{}",
        missing.message
    );

    write(dir.path(), "file", b"x", 0o644);
    let file = scan(&dir.path().join("file"), &no_skip).unwrap_err();
    assert!(file.message.contains("not a folder"), "{}", file.message);

    // A root that is itself a symlink to a folder is fine.
    fs::create_dir(dir.path().join("real")).unwrap();
    write(dir.path(), "real/x", b"x", 0o644);
    symlink("real", dir.path().join("alias")).unwrap();
    assert_eq!(
        paths(&scan(&dir.path().join("alias"), &no_skip).unwrap()),
        ["x"]
    );
}

#[test]
fn an_unreadable_folder_is_an_error_and_the_rest_continues() {
    if is_root() {
        eprintln!("skipped: root reads every folder");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "locked/secret", b"x", 0o644);
    write(root, "open/file", b"x", 0o644);
    fs::set_permissions(root.join("locked"), fs::Permissions::from_mode(0o000)).unwrap();
    let scan = scan(root, &no_skip);
    fs::set_permissions(root.join("locked"), fs::Permissions::from_mode(0o755)).unwrap();
    let scan = scan.unwrap();
    assert_eq!(paths(&scan), ["locked", "open", "open/file"]);
    assert_eq!(scan.errors.len(), 1);
    assert_eq!(scan.errors[0].path, "locked");
    assert_eq!(scan.errors[0].kind, LocalErrorKind::PermissionDenied);
    assert!(scan.is_unknown(&p("locked/secret")));
    assert!(scan.is_unknown(&p("locked")));
    assert!(!scan.is_unknown(&p("open/file")));
    assert!(!scan.is_unknown(&p("locked2")));
}
