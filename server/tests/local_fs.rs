//! `ferry::local::fs`: atomic writes with exact mode and mtime, refusals (a folder in
//! the way, a symlink on the way), deletions that keep what changed, renames that never
//! replace, reads whose entry matches the bytes, and ferry's temporary names.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ferry::core::{Deletion, Entry, EntryKind, Item, RelPath};
use ferry::local::{
    begin_write, is_temp_name, mkdir, read_file, remove, rename, scan, stat, temp_name, write_file,
    write_symlink, LocalErrorKind,
};

const MTIME: i64 = 1_700_000_000_123_456_789;

fn p(path: &str) -> RelPath {
    RelPath::new(path).unwrap()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Every name in the tree below `root`, sorted, `/`-separated (symlinks not followed).
fn names(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            out.push(
                path.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
            if entry.file_type().unwrap().is_dir() {
                walk(root, &path, out);
            }
        }
    }
    walk(root, root, &mut out);
    out.sort();
    out
}

fn entry_of(root: &Path, path: &str) -> Entry {
    stat(root, &p(path)).unwrap().unwrap()
}

#[test]
fn write_file_lands_with_exact_mode_and_mtime_and_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let entry = write_file(root, &p("deep/er/run.sh"), b"#!/bin/sh\n", 0o751, MTIME).unwrap();
    assert_eq!(entry.kind, EntryKind::File);
    assert_eq!(entry.size, 10);
    assert_eq!(entry.mode, 0o751, "mode set exactly, whatever the umask");
    assert_eq!(entry.mtime, MTIME, "mtime to the nanosecond");
    assert_eq!(
        entry,
        entry_of(root, "deep/er/run.sh"),
        "the entry is what lstat sees"
    );
    let meta = fs::metadata(root.join("deep/er/run.sh")).unwrap();
    assert_eq!(
        (meta.atime(), meta.atime_nsec()),
        (1_700_000_000, 123_456_789),
        "atime set too"
    );
    assert_eq!(
        fs::read(root.join("deep/er/run.sh")).unwrap(),
        b"#!/bin/sh\n"
    );
    assert_eq!(names(root), ["deep", "deep/er", "deep/er/run.sh"]);

    // A mode without write permission for the owner, and an mtime before the epoch.
    let entry = write_file(root, &p("ro"), b"x", 0o444, -1_500_000_000).unwrap();
    assert_eq!((entry.mode, entry.mtime), (0o444, -1_500_000_000));
}

#[test]
fn write_file_never_sets_setuid_or_setgid() {
    let dir = tempfile::tempdir().unwrap();
    let entry = write_file(dir.path(), &p("suid"), b"x", 0o6755, MTIME).unwrap();
    assert_eq!(entry.mode, 0o755);
    let sticky = write_file(dir.path(), &p("sticky"), b"x", 0o1644, MTIME).unwrap();
    assert_eq!(sticky.mode, 0o1644);
}

#[test]
fn overwriting_replaces_the_file_with_a_new_inode_in_one_step() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_file(root, &p("f"), b"old content", 0o644, MTIME).unwrap();
    let old_inode = fs::metadata(root.join("f")).unwrap().ino();
    let mut old_reader = fs::File::open(root.join("f")).unwrap();

    let entry = write_file(root, &p("f"), b"new", 0o600, MTIME + 1).unwrap();
    assert_eq!(fs::read(root.join("f")).unwrap(), b"new");
    assert_eq!((entry.size, entry.mode, entry.mtime), (3, 0o600, MTIME + 1));
    assert_ne!(
        fs::metadata(root.join("f")).unwrap().ino(),
        old_inode,
        "a new file was renamed over the old one, not written in place"
    );
    let mut seen = String::new();
    old_reader.read_to_string(&mut seen).unwrap();
    assert_eq!(
        seen, "old content",
        "an open reader keeps the complete old version"
    );
    assert_eq!(names(root), ["f"], "no temporary file left behind");

    // A symlink at the path is replaced by the file, not followed.
    fs::write(root.join("target"), b"untouched").unwrap();
    symlink("target", root.join("link")).unwrap();
    write_file(root, &p("link"), b"file now", 0o644, MTIME).unwrap();
    assert!(fs::symlink_metadata(root.join("link")).unwrap().is_file());
    assert_eq!(fs::read(root.join("target")).unwrap(), b"untouched");
}

#[test]
fn concurrent_readers_see_the_old_or_the_new_content_never_a_mix() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    const SIZE: usize = 256 * 1024;
    write_file(&root, &p("big"), &vec![b'a'; SIZE], 0o644, MTIME).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (root, stop) = (root.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(Ordering::Relaxed) {
                let bytes = fs::read(root.join("big")).unwrap();
                assert_eq!(bytes.len(), SIZE, "a partial file was visible");
                assert!(
                    bytes.iter().all(|b| *b == bytes[0]),
                    "a mix of two versions was visible"
                );
                reads += 1;
            }
            reads
        })
    };
    for round in 0..60u8 {
        let fill = if round % 2 == 0 { b'b' } else { b'a' };
        write_file(&root, &p("big"), &vec![fill; SIZE], 0o644, MTIME).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let reads = reader.join().unwrap();
    assert!(reads > 0);
    assert_eq!(names(&root), ["big"]);
}

#[test]
fn a_folder_in_the_way_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("d/inner")).unwrap();
    let err = write_file(root, &p("d"), b"x", 0o644, MTIME).unwrap_err();
    assert_eq!(err.kind, LocalErrorKind::IsDir);
    assert_eq!(err.path, "d");
    assert!(
        err.message.contains("folder is in the way"),
        "{}",
        err.message
    );
    let err = write_symlink(root, &p("d"), "somewhere", MTIME).unwrap_err();
    assert_eq!(err.kind, LocalErrorKind::IsDir);
    assert_eq!(names(root), ["d", "d/inner"]);
}

#[test]
fn a_symlink_on_the_way_is_refused_and_nothing_appears_outside() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let outside = dir.path().join("outside");
    fs::create_dir(&root).unwrap();
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("victim"), b"precious").unwrap();
    // What a hostile container would do: send `a -> ../outside`, then `a/...`.
    symlink(&outside, root.join("a")).unwrap();

    let err = write_file(&root, &p("a/x"), b"evil", 0o644, MTIME).unwrap_err();
    assert_eq!(err.kind, LocalErrorKind::SymlinkInPath);
    assert_eq!(err.path, "a/x");
    assert!(err.message.contains("symlink"), "{}", err.message);
    let err = write_file(&root, &p("a/new/x"), b"evil", 0o644, MTIME).unwrap_err();
    assert_eq!(err.kind, LocalErrorKind::SymlinkInPath);
    let err = write_symlink(&root, &p("a/l"), "/etc/passwd", MTIME).unwrap_err();
    assert_eq!(err.kind, LocalErrorKind::SymlinkInPath);
    let err = mkdir(&root, &p("a/d")).unwrap_err();
    assert_eq!(err.kind, LocalErrorKind::SymlinkInPath);
    let err = read_file(&root, &p("a/victim")).unwrap_err();
    assert_eq!(err.kind, LocalErrorKind::SymlinkInPath);
    let err = rename(&root, &p("a/victim"), &p("stolen")).unwrap_err();
    assert_eq!(err.kind, LocalErrorKind::SymlinkInPath);
    fs::write(root.join("mine"), b"x").unwrap();
    let err = rename(&root, &p("mine"), &p("a/mine")).unwrap_err();
    assert_eq!(err.kind, LocalErrorKind::SymlinkInPath);
    let victim = fs::metadata(outside.join("victim")).unwrap();
    let errors = remove(
        &root,
        &Deletion {
            path: p("a/victim"),
            entry: Entry::file(
                victim.len(),
                victim.mtime() * 1_000_000_000 + victim.mtime_nsec(),
            ),
            contents: vec![],
        },
    );
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].kind, LocalErrorKind::SymlinkInPath);

    assert_eq!(
        names(&outside),
        ["victim"],
        "nothing appeared outside the root"
    );
    assert_eq!(fs::read(outside.join("victim")).unwrap(), b"precious");
    assert_eq!(names(&root), ["a", "mine"]);

    // A file on the way is refused the same way.
    let err = write_file(&root, &p("mine/x"), b"x", 0o644, MTIME).unwrap_err();
    assert_eq!(err.kind, LocalErrorKind::SymlinkInPath);
    assert!(err.message.contains("not a folder"), "{}", err.message);
}

#[test]
fn write_symlink_lands_as_a_link_with_its_mtime() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let entry = write_symlink(root, &p("sub/link"), "../elsewhere/file", MTIME).unwrap();
    assert_eq!(entry.kind, EntryKind::Symlink("../elsewhere/file".into()));
    assert_eq!(entry.size, "../elsewhere/file".len() as u64);
    assert_eq!(entry.mtime, MTIME);
    assert_eq!(
        fs::read_link(root.join("sub/link")).unwrap().to_str(),
        Some("../elsewhere/file")
    );
    // Replacing a file and then another symlink.
    fs::write(root.join("f"), b"x").unwrap();
    write_symlink(root, &p("f"), "one", MTIME).unwrap();
    let entry = write_symlink(root, &p("f"), "two", MTIME + 5).unwrap();
    assert_eq!(entry.kind, EntryKind::Symlink("two".into()));
    assert_eq!(entry.mtime, MTIME + 5);
    assert_eq!(names(root), ["f", "sub", "sub/link"]);
}

#[test]
fn mkdir_creates_parents_accepts_a_folder_and_refuses_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let entry = mkdir(root, &p("a/b/c")).unwrap();
    assert_eq!(entry.kind, EntryKind::Dir);
    assert!(root.join("a/b/c").is_dir());
    mkdir(root, &p("a/b/c")).unwrap();
    mkdir(root, &p("a")).unwrap();

    fs::write(root.join("a/file"), b"x").unwrap();
    let err = mkdir(root, &p("a/file")).unwrap_err();
    assert_eq!(err.kind, LocalErrorKind::Changed);
    assert!(err.message.contains("does not replace"), "{}", err.message);
    let err = mkdir(root, &p("a/file/sub")).unwrap_err();
    assert_eq!(err.kind, LocalErrorKind::SymlinkInPath);
    assert_eq!(names(root), ["a", "a/b", "a/b/c", "a/file"]);
}

/// A deletion of `path` as a fresh scan lists it.
fn deletion(root: &Path, path: &str) -> Deletion {
    let full = scan(root, &|_, _| false).unwrap();
    let path = p(path);
    Deletion {
        entry: full.snapshot.get(&path).unwrap().clone(),
        contents: full
            .snapshot
            .descendants(&path)
            .map(|(path, entry)| Item {
                path: path.clone(),
                entry: entry.clone(),
            })
            .collect(),
        path,
    }
}

#[test]
fn remove_deletes_an_unchanged_tree_and_a_single_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_file(root, &p("d/a"), b"a", 0o644, MTIME).unwrap();
    write_file(root, &p("d/sub/b"), b"b", 0o644, MTIME).unwrap();
    write_symlink(root, &p("d/sub/l"), "b", MTIME).unwrap();
    mkdir(root, &p("d/empty")).unwrap();
    write_file(root, &p("keep"), b"k", 0o644, MTIME).unwrap();
    write_file(root, &p("single"), b"s", 0o644, MTIME).unwrap();

    let tree = deletion(root, "d");
    assert_eq!(tree.contents.len(), 5);
    assert_eq!(remove(root, &tree), []);
    let single = deletion(root, "single");
    assert_eq!(remove(root, &single), []);
    assert_eq!(names(root), ["keep"]);

    // Already gone: fine.
    assert_eq!(remove(root, &tree), []);
    assert_eq!(remove(root, &single), []);
}

#[test]
fn remove_keeps_what_changed_and_the_folders_holding_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_file(root, &p("d/same"), b"same", 0o644, MTIME).unwrap();
    write_file(root, &p("d/sub/edited"), b"v1", 0o644, MTIME).unwrap();
    write_symlink(root, &p("d/relinked"), "one", MTIME).unwrap();
    write_file(root, &p("d/other/x"), b"x", 0o644, MTIME).unwrap();
    let listed = deletion(root, "d");

    // After listing: a file edited, a link retargeted, a file created.
    write_file(root, &p("d/sub/edited"), b"v2", 0o644, MTIME + 1).unwrap();
    write_symlink(root, &p("d/relinked"), "two", MTIME).unwrap();
    fs::write(root.join("d/other/new"), b"new").unwrap();

    let mut errors: Vec<_> = remove(root, &listed)
        .into_iter()
        .map(|e| (e.path, e.kind))
        .collect();
    errors.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        errors,
        [
            ("d".to_string(), LocalErrorKind::NotEmpty),
            ("d/other".to_string(), LocalErrorKind::NotEmpty),
            ("d/relinked".to_string(), LocalErrorKind::Changed),
            ("d/sub".to_string(), LocalErrorKind::NotEmpty),
            ("d/sub/edited".to_string(), LocalErrorKind::Changed),
        ]
    );
    assert_eq!(
        names(root),
        [
            "d",
            "d/other",
            "d/other/new",
            "d/relinked",
            "d/sub",
            "d/sub/edited"
        ],
        "unchanged files are gone, changed and new ones kept with their folders"
    );
    assert_eq!(fs::read(root.join("d/sub/edited")).unwrap(), b"v2");
}

#[test]
fn remove_compares_whole_seconds_when_the_listed_mtime_has_no_fraction() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_file(root, &p("f"), b"x", 0o644, 1_700_000_000_999_000_000).unwrap();
    write_file(root, &p("g"), b"x", 0o644, 1_700_000_001_000_000_001).unwrap();
    let seconds_only = |path: &str, secs: i64| Deletion {
        path: p(path),
        entry: Entry::file(1, secs * 1_000_000_000),
        contents: vec![],
    };
    assert_eq!(remove(root, &seconds_only("f", 1_700_000_000)), []);
    let kept = remove(root, &seconds_only("g", 1_700_000_000));
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].kind, LocalErrorKind::Changed);
    assert!(
        kept[0].message.contains("changed since"),
        "{}",
        kept[0].message
    );
    // A listed mtime with a fraction must match exactly.
    let inexact = Deletion {
        path: p("g"),
        entry: Entry::file(1, 1_700_000_001_000_000_002),
        contents: vec![],
    };
    assert_eq!(remove(root, &inexact).len(), 1);
    assert_eq!(names(root), ["g"]);
}

#[test]
fn rename_moves_and_never_replaces() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_file(root, &p("old/inner/f"), b"f", 0o644, MTIME).unwrap();
    write_file(root, &p("taken"), b"t", 0o644, MTIME).unwrap();

    rename(root, &p("old"), &p("new/place")).unwrap();
    assert_eq!(
        names(root),
        [
            "new",
            "new/place",
            "new/place/inner",
            "new/place/inner/f",
            "taken"
        ]
    );
    assert_eq!(entry_of(root, "new/place/inner/f").mtime, MTIME);

    let err = rename(root, &p("new/place/inner/f"), &p("taken")).unwrap_err();
    assert_eq!(err.kind, LocalErrorKind::Changed);
    assert!(err.message.contains("already exists"), "{}", err.message);
    assert_eq!(fs::read(root.join("taken")).unwrap(), b"t");

    mkdir(root, &p("empty")).unwrap();
    let err = rename(root, &p("new/place"), &p("empty")).unwrap_err();
    assert_eq!(
        err.kind,
        LocalErrorKind::Changed,
        "not even over an empty folder"
    );

    let err = rename(root, &p("missing"), &p("x")).unwrap_err();
    assert_eq!(err.kind, LocalErrorKind::NotFound);
}

#[test]
fn read_file_returns_the_entry_of_exactly_the_bytes_read() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_file(root, &p("f"), b"contents", 0o640, MTIME).unwrap();
    let (entry, bytes) = read_file(root, &p("f")).unwrap();
    assert_eq!(bytes, b"contents");
    assert_eq!(entry, entry_of(root, "f"));
    assert_eq!((entry.size, entry.mode, entry.mtime), (8, 0o640, MTIME));

    // A file replaced again and again meanwhile: whatever version is returned, the
    // entry is that version's. Version n has n % 5000 + 1 bytes and mtime MTIME + n.
    let replace = |root: &Path, n: u64| {
        let body = vec![b'x'; (n % 5000) as usize + 1];
        write_file(root, &p("busy"), &body, 0o644, MTIME + n as i64).unwrap();
    };
    let reads = read_while_writing(root, replace, |entry, bytes| {
        let n = entry.mtime - MTIME;
        assert_eq!(entry.size, bytes.len() as u64);
        assert_eq!(
            bytes.len() as i64,
            n % 5000 + 1,
            "the entry of another version"
        );
    });
    assert!(reads > 0);

    // A file rewritten in place (truncated, then written): the size always matches.
    let rewrite = |root: &Path, n: u64| {
        fs::write(root.join("busy"), vec![b'y'; (n % 5000) as usize + 1]).unwrap();
    };
    let reads = read_while_writing(root, rewrite, |entry, bytes| {
        assert_eq!(
            entry.size,
            bytes.len() as u64,
            "the entry of another version"
        );
    });
    assert!(reads > 0);

    fs::create_dir(root.join("d")).unwrap();
    assert_eq!(
        read_file(root, &p("d")).unwrap_err().kind,
        LocalErrorKind::IsDir
    );
    symlink("f", root.join("l")).unwrap();
    assert_eq!(
        read_file(root, &p("l")).unwrap_err().kind,
        LocalErrorKind::Changed
    );
    assert_eq!(
        read_file(root, &p("missing")).unwrap_err().kind,
        LocalErrorKind::NotFound
    );
}

/// Reads `busy` with `read_file` while a thread keeps writing it with `write(root, n)`
/// for n = 1, 2, …; checks every successful read with `check`. Returns how many reads
/// succeeded (reads that gave up because the file kept changing are allowed).
fn read_while_writing(
    root: &Path,
    write: impl Fn(&Path, u64) + Send + 'static,
    check: impl Fn(&Entry, &[u8]),
) -> usize {
    write(root, 0);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (root, stop) = (root.to_path_buf(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                write(&root, n);
            }
        })
    };
    let mut ok = 0;
    for _ in 0..5000 {
        match read_file(root, &p("busy")) {
            Ok((entry, bytes)) => {
                check(&entry, &bytes);
                ok += 1;
                if ok == 50 {
                    break;
                }
            }
            Err(e) if e.kind == LocalErrorKind::Changed => {}
            Err(e) => panic!("{e}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    ok
}

/// Makes `dir` refuse writes for the test's user: mode 0o555, or for root (whom modes do
/// not stop) the immutable attribute when the file system supports it. Undone on drop.
struct ReadOnlyDir(std::path::PathBuf, bool);

impl ReadOnlyDir {
    fn new(dir: &Path) -> Option<ReadOnlyDir> {
        if !is_root() {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o555)).unwrap();
            return Some(ReadOnlyDir(dir.to_path_buf(), false));
        }
        let ok = std::process::Command::new("chattr")
            .arg("+i")
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| ReadOnlyDir(dir.to_path_buf(), true))
    }
}

impl Drop for ReadOnlyDir {
    fn drop(&mut self) {
        if self.1 {
            let _ = std::process::Command::new("chattr")
                .arg("-i")
                .arg(&self.0)
                .status();
        } else {
            let _ = fs::set_permissions(&self.0, fs::Permissions::from_mode(0o755));
        }
    }
}

#[test]
fn permission_denied_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    mkdir(root, &p("locked")).unwrap();
    let Some(_guard) = ReadOnlyDir::new(&root.join("locked")) else {
        eprintln!("skipped: running as root and the file system has no immutable attribute");
        return;
    };
    let err = write_file(root, &p("locked/f"), b"x", 0o644, MTIME).unwrap_err();
    assert_eq!(err.kind, LocalErrorKind::PermissionDenied);
    assert_eq!(err.path, "locked/f");
    assert!(
        err.message.starts_with("permission denied"),
        "{}",
        err.message
    );
    assert!(err.message.contains("owner and mode"), "{}", err.message);
    assert_eq!(err.to_string(), format!("locked/f: {}", err.message));
}

#[test]
fn temporary_names_are_recognized_and_bounded() {
    let a = temp_name("file.txt");
    let b = temp_name("file.txt");
    assert_ne!(a, b, "unique within the process");
    assert!(a.starts_with(".file.txt.ferry-tmp-"), "{a}");
    assert!(a.ends_with(&format!("-{}", a.rsplit('-').next().unwrap())));
    assert!(a.contains(&format!("-{}-", std::process::id())), "{a}");
    assert!(is_temp_name(&a));

    let long = "é".repeat(200); // 400 bytes
    let t = temp_name(&long);
    assert!(t.len() <= 255, "{}", t.len());
    assert!(is_temp_name(&t));

    for name in [
        "file.txt",
        ".file.txt",
        "file.ferry-tmp-1-2",
        ".file.ferry-tmp-",
        ".file.ferry-tmp-1",
        ".file.ferry-tmp-1-",
        ".file.ferry-tmp-x-2",
        ".file.ferry-tmp-1-2.bak",
        "x.ferry-conflict-1",
    ] {
        assert!(!is_temp_name(name), "{name}");
    }
    assert!(is_temp_name(".a.ferry-tmp-1-2"));
}

#[test]
fn a_temp_file_streams_commits_atomically_or_leaves_nothing() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::write(root.join("f"), b"old").unwrap();
    // Written in pieces; the target keeps its old content until the commit.
    let mut t = begin_write(root, &p("f")).unwrap();
    t.write_all(b"new ").unwrap();
    t.write_all(b"content").unwrap();
    assert_eq!(fs::read(root.join("f")).unwrap(), b"old");
    assert_eq!(names(root).len(), 2, "the temporary sits next to it");
    let entry = t.commit(0o640, MTIME).unwrap();
    assert_eq!(fs::read(root.join("f")).unwrap(), b"new content");
    assert_eq!(entry.mode, 0o640);
    assert_eq!(entry.mtime, MTIME);
    assert_eq!(names(root), ["f"]);
    // Dropped uncommitted (an aborted download): nothing stays, the target is as it was.
    let mut t = begin_write(root, &p("deep/g")).unwrap();
    t.write_all(b"partial").unwrap();
    drop(t);
    assert_eq!(names(root), ["deep", "f"]);
    // A conflict copy: next to the target, never replacing anything.
    let mut t = begin_write(root, &p("f")).unwrap();
    t.write_all(b"theirs").unwrap();
    let copy = t.commit_as(&p("f.copy"), 0o600, MTIME).unwrap();
    assert_eq!(copy.size, 6);
    assert_eq!(fs::read(root.join("f.copy")).unwrap(), b"theirs");
    assert_eq!(fs::read(root.join("f")).unwrap(), b"new content");
    let t = begin_write(root, &p("f")).unwrap();
    let err = t.commit_as(&p("f.copy"), 0o600, MTIME).unwrap_err();
    assert_eq!(err.kind, LocalErrorKind::Changed, "{err}");
    assert_eq!(fs::read(root.join("f.copy")).unwrap(), b"theirs");
    let t = begin_write(root, &p("f")).unwrap();
    let err = t.commit_as(&p("deep/f.copy"), 0o600, MTIME).unwrap_err();
    assert_eq!(err.kind, LocalErrorKind::SymlinkInPath, "{err}");
    assert_eq!(names(root), ["deep", "f", "f.copy"]);
    // The same refusals as write_file.
    fs::create_dir(root.join("d")).unwrap();
    assert_eq!(
        begin_write(root, &p("d")).unwrap_err().kind,
        LocalErrorKind::IsDir
    );
    symlink("/etc", root.join("l")).unwrap();
    assert_eq!(
        begin_write(root, &p("l/passwd")).unwrap_err().kind,
        LocalErrorKind::SymlinkInPath
    );
}
