//! `ferry::local::trash`: the local safety net. Take, keep and adopt followed by restore
//! give back exactly the tree that was there (content, mode, mtime, symlinks), on one file
//! system and across two; a restore keeps what it replaces and never goes through a
//! symlinked folder; prune's bounds are exact; hostile names and half-written items do
//! not matter; `local::remove_to_trash` moves what it removes and keeps what changed.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ferry::core::{Deletion, Item, RelPath};
use ferry::local::trash::{is_item_id, ItemKind, Limits};
use ferry::local::{
    remove_to_trash, scan, stat, temp_name, write_file, LocalErrorKind, Origin, Place, Reason,
    Trash,
};

const MTIME: i64 = 1_700_000_000_123_456_789;
const HOUR: u64 = 3600 * 1000;
const DAY: u64 = 24 * HOUR;

fn p(path: &str) -> RelPath {
    RelPath::new(path).unwrap()
}

/// What a tree holds, as a user would compare it: per path below `root` (leaving the
/// state folder `.ferry` out), the kind, content or target, mode and mtime (folders: only
/// that they exist).
#[derive(Debug, PartialEq, Eq, Clone)]
enum Node {
    Dir,
    File {
        content: Vec<u8>,
        mode: u32,
        mtime: i64,
    },
    Link {
        target: PathBuf,
        mtime: i64,
    },
}

fn tree(root: &Path) -> BTreeMap<String, Node> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Node>) {
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if rel == ".ferry" {
                continue;
            }
            let meta = fs::symlink_metadata(&path).unwrap();
            let mtime = meta.mtime() * 1_000_000_000 + meta.mtime_nsec();
            let node = if meta.file_type().is_symlink() {
                Node::Link {
                    target: fs::read_link(&path).unwrap(),
                    mtime,
                }
            } else if meta.is_dir() {
                walk(root, &path, out);
                Node::Dir
            } else {
                Node::File {
                    content: fs::read(&path).unwrap(),
                    mode: meta.mode() & 0o7777,
                    mtime,
                }
            };
            out.insert(rel, node);
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn set_mtime(path: &Path, ns: i64) {
    let t = filetime::FileTime::from_unix_time(ns / 1_000_000_000, (ns % 1_000_000_000) as u32);
    filetime::set_symlink_file_times(path, t, t).unwrap();
}

fn file(root: &Path, rel: &str, content: &[u8], mode: u32, mtime: i64) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, content).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    set_mtime(&path, mtime);
}

fn link(root: &Path, rel: &str, target: &str, mtime: i64) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    symlink(target, &path).unwrap();
    set_mtime(&path, mtime);
}

/// A workspace with its state folder and a sync folder `app` inside it.
struct Ws {
    _dir: tempfile::TempDir,
    state: PathBuf,
    root: PathBuf,
}

fn workspace() -> Ws {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(".ferry");
    let root = dir.path().join("app");
    fs::create_dir_all(&root).unwrap();
    Ws {
        state,
        root,
        _dir: dir,
    }
}

fn place<'a>(root: &'a Path, path: &'a RelPath) -> Place<'a> {
    Place {
        sync: "web",
        root,
        path,
    }
}

/// The names directly in the trash folder.
fn trash_names(trash: &Trash) -> Vec<String> {
    match fs::read_dir(trash.dir()) {
        Ok(entries) => {
            let mut names: Vec<String> = entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        }
        Err(_) => Vec::new(),
    }
}

/// A tree with files of several modes and exact mtimes, nested folders and symlinks.
fn sample_tree(root: &Path) -> Vec<&'static str> {
    file(root, "a.txt", b"alpha\n", 0o644, MTIME);
    file(root, "run.sh", b"#!/bin/sh\necho hi\n", 0o755, MTIME + 1);
    file(root, "secret", b"s3cr3t", 0o600, MTIME - 1_000_000_000);
    file(
        root,
        "deep/er/x.bin",
        &[0u8, 1, 2, 255, 254],
        0o640,
        1_000_000_000,
    );
    file(root, "empty", b"", 0o644, MTIME + 7);
    link(root, "deep/to-x", "er/x.bin", MTIME + 3);
    link(root, "dangling", "../../nowhere/at/all", MTIME + 4);
    vec![
        "a.txt",
        "run.sh",
        "secret",
        "deep/er/x.bin",
        "empty",
        "deep/to-x",
        "dangling",
    ]
}

fn take_all_and_restore(state: &Path, root: &Path) {
    let trash = Trash::new(state);
    let paths = sample_tree(root);
    let before = tree(root);
    let mut ids = Vec::new();
    for path in &paths {
        let rel = p(path);
        let entry = stat(root, &rel).unwrap().unwrap();
        let item = trash
            .take(&place(root, &rel), Reason::DeletedInContainer)
            .unwrap();
        assert!(
            fs::symlink_metadata(root.join(path)).is_err(),
            "{path} is gone from the folder"
        );
        assert_eq!(item.path, rel);
        assert_eq!(item.root, root);
        assert_eq!(item.sync, "web");
        assert_eq!(item.origin, Origin::Local);
        assert_eq!(item.reason, Reason::DeletedInContainer);
        assert_eq!(item.entry(), entry, "{path}: the record describes the file");
        assert_eq!(
            item.kind,
            if path.contains("to-x") || *path == "dangling" {
                ItemKind::Symlink
            } else {
                ItemKind::File
            }
        );
        ids.push(item.id);
    }
    let listed = trash.list().unwrap();
    assert_eq!(listed.len(), paths.len());
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(
        listed.iter().map(|i| i.id.clone()).collect::<Vec<_>>(),
        newest_first,
        "listed newest first"
    );
    assert!(
        trash_names(&trash).iter().all(|n| is_item_id(n)),
        "only item folders: {:?}",
        trash_names(&trash)
    );
    for id in &ids {
        let restored = trash.restore(id, None).unwrap();
        assert_eq!(restored.replaced, None, "nothing was in the way");
        assert_eq!(restored.to, restored.item.original());
    }
    assert_eq!(tree(root), before, "the tree is exactly as before");
    assert!(trash.list().unwrap().is_empty());
    assert!(
        trash_names(&trash).is_empty(),
        "restored items leave the trash: {:?}",
        trash_names(&trash)
    );
}

#[test]
fn take_then_restore_gives_back_the_same_tree() {
    let ws = workspace();
    take_all_and_restore(&ws.state, &ws.root);
}

#[test]
fn take_then_restore_across_file_systems_gives_back_the_same_tree() {
    // The trash on tmpfs, the sync folder on the temporary folder's file system: every
    // move is a copy (content, mode, mtime) and an unlink.
    let shm = Path::new("/dev/shm");
    let state = tempfile::tempdir_in(shm)
        .unwrap_or_else(|e| panic!("this test needs a writable /dev/shm (tmpfs): {e}"));
    let ws = workspace();
    let dev = |p: &Path| fs::metadata(p).unwrap().dev();
    assert_ne!(
        dev(state.path()),
        dev(&ws.root),
        "this test needs /dev/shm on another file system than the temporary folder"
    );
    take_all_and_restore(state.path(), &ws.root);

    // keep across file systems: a copy, the file stays.
    let trash = Trash::new(state.path());
    file(&ws.root, "k.txt", b"keep me", 0o604, MTIME);
    let before = tree(&ws.root);
    let kept = trash
        .keep(&place(&ws.root, &p("k.txt")), Reason::OverwrittenByDownload)
        .unwrap()
        .unwrap();
    assert_eq!(tree(&ws.root), before, "keep leaves the file as it is");
    write_file(&ws.root, &p("k.txt"), b"new", 0o644, MTIME + 9).unwrap();
    let restored = trash.restore(&kept.id, None).unwrap();
    assert_eq!(tree(&ws.root), before, "the kept version is back");
    let replaced = restored.replaced.expect("the new version is kept");
    assert_eq!(replaced.size, 3);
    assert_eq!(replaced.reason, Reason::ReplacedByRestore);
}

#[test]
fn keep_leaves_the_file_and_restore_brings_the_old_version_back() {
    let ws = workspace();
    let trash = Trash::new(&ws.state);
    let root = &ws.root;
    file(root, "src/a.txt", b"mine, edited\n", 0o640, MTIME);
    let v1 = tree(root);
    let at = p("src/a.txt");
    let kept = trash
        .keep(&place(root, &at), Reason::OverwrittenByDownload)
        .unwrap()
        .expect("something to keep");
    assert_eq!(tree(root), v1, "keep changes nothing in the folder");
    assert_eq!(kept.reason, Reason::OverwrittenByDownload);
    assert_eq!(kept.size, 13);
    assert_eq!(kept.mode, 0o640);
    assert_eq!(kept.mtime, MTIME);

    // The download lands over it, as the engine's commit does.
    write_file(root, &at, b"the container's\n", 0o644, MTIME + 5).unwrap();
    let v2 = tree(root);
    assert_ne!(v1, v2);

    let restored = trash.restore(&kept.id, None).unwrap();
    assert_eq!(
        tree(root),
        v1,
        "the old version is back, mode and mtime too"
    );
    let replaced = restored.replaced.expect("the download is kept");
    assert_eq!(replaced.reason, Reason::ReplacedByRestore);
    assert_eq!(replaced.origin, Origin::Local);
    assert_eq!(
        (replaced.size, replaced.mode, replaced.mtime),
        (16, 0o644, MTIME + 5)
    );

    // And back again: nothing is ever lost in either direction.
    let again = trash.restore(&replaced.id, None).unwrap();
    assert_eq!(tree(root), v2);
    assert_eq!(again.replaced.unwrap().size, 13);
    assert_eq!(trash.list().unwrap().len(), 1);

    // Nothing there: nothing to keep. A folder: refused.
    assert_eq!(
        trash
            .keep(&place(root, &p("src/none")), Reason::OverwrittenByDownload)
            .unwrap(),
        None
    );
    assert_eq!(
        trash
            .keep(&place(root, &p("src")), Reason::OverwrittenByDownload)
            .unwrap_err()
            .kind,
        LocalErrorKind::IsDir
    );
    assert_eq!(
        trash
            .take(&place(root, &p("src")), Reason::DeletedInContainer)
            .unwrap_err()
            .kind,
        LocalErrorKind::IsDir
    );
    assert_eq!(
        trash
            .take(&place(root, &p("src/none")), Reason::DeletedInContainer)
            .unwrap_err()
            .kind,
        LocalErrorKind::NotFound
    );
    assert_eq!(tree(root), v2, "refusals change nothing");
}

#[test]
fn adopt_moves_the_containers_version_in_and_restore_can_put_it_elsewhere() {
    let ws = workspace();
    let trash = Trash::new(&ws.state);
    let root = &ws.root;
    file(root, "a.txt", b"local, newer\n", 0o644, MTIME);
    // The container's version, downloaded into a temporary file next to it.
    let temp = root.join(temp_name("a.txt"));
    fs::write(&temp, b"container, older\n").unwrap();
    fs::set_permissions(&temp, fs::Permissions::from_mode(0o600)).unwrap();
    set_mtime(&temp, MTIME - 5);
    let before = tree(root);
    let at = p("a.txt");
    let item = trash
        .adopt(
            &temp,
            &place(root, &at),
            Origin::Container,
            Reason::ContainerVersion,
        )
        .unwrap();
    assert!(fs::symlink_metadata(&temp).is_err(), "the temporary moved");
    let mut without_temp = before.clone();
    without_temp.remove(temp.file_name().unwrap().to_str().unwrap());
    assert_eq!(tree(root), without_temp, "the local file is untouched");
    assert_eq!(item.origin, Origin::Container);
    assert_eq!(item.reason, Reason::ContainerVersion);
    assert_eq!(item.path, at);
    assert_eq!((item.size, item.mode, item.mtime), (17, 0o600, MTIME - 5));

    let there = p("old/a.container.txt");
    let restored = trash.restore(&item.id, Some(&place(root, &there))).unwrap();
    assert_eq!(restored.to, root.join("old/a.container.txt"));
    assert_eq!(restored.replaced, None);
    let after = tree(root);
    assert_eq!(
        after["old/a.container.txt"],
        Node::File {
            content: b"container, older\n".to_vec(),
            mode: 0o600,
            mtime: MTIME - 5
        }
    );
    assert_eq!(after["a.txt"], without_temp["a.txt"]);
    assert!(trash.list().unwrap().is_empty());
}

#[test]
fn a_restore_over_an_existing_file_keeps_that_file_in_the_trash() {
    let ws = workspace();
    let trash = Trash::new(&ws.state);
    let root = &ws.root;
    file(root, "a.txt", b"version one\n", 0o644, MTIME);
    let v1 = tree(root);
    let at = p("a.txt");
    let one = trash
        .take(&place(root, &at), Reason::MirrorStrategy)
        .unwrap();
    file(
        root,
        "a.txt",
        b"version two, longer\n",
        0o600,
        MTIME + 1_000,
    );
    let v2 = tree(root);
    let restored = trash.restore(&one.id, None).unwrap();
    assert_eq!(tree(root), v1);
    let two = restored.replaced.expect("version two is kept");
    assert_eq!(two.path, at);
    assert_eq!(two.root, *root);
    assert_eq!(two.sync, "web");
    assert_eq!(two.reason, Reason::ReplacedByRestore);
    assert_eq!((two.size, two.mode, two.mtime), (20, 0o600, MTIME + 1_000));
    let listed = trash.list().unwrap();
    assert_eq!(
        listed,
        vec![two.clone()],
        "only version two is in the trash"
    );
    // Its bytes are version two's.
    assert_eq!(
        fs::read(trash.data_path(&two.id).unwrap()).unwrap(),
        b"version two, longer\n"
    );
    trash.restore(&two.id, None).unwrap();
    assert_eq!(tree(root), v2);

    // Over a symlink: the symlink is kept, not followed.
    fs::remove_file(root.join("a.txt")).unwrap();
    link(root, "a.txt", "/etc/passwd", MTIME);
    let linked = tree(root);
    let v1_again = trash.list().unwrap()[0].clone();
    let restored = trash.restore(&v1_again.id, None).unwrap();
    let kept = restored.replaced.unwrap();
    assert_eq!(kept.kind, ItemKind::Symlink);
    assert_eq!(kept.target.as_deref(), Some("/etc/passwd"));
    trash.restore(&kept.id, None).unwrap();
    assert_eq!(tree(root), linked);
}

#[test]
fn a_restore_through_a_symlinked_folder_is_refused_and_changes_nothing() {
    let ws = workspace();
    let trash = Trash::new(&ws.state);
    let root = &ws.root;
    let outside = tempfile::tempdir().unwrap();
    file(root, "dir/a.txt", b"a\n", 0o644, MTIME);
    let at = p("dir/a.txt");
    let item = trash
        .take(&place(root, &at), Reason::DeletedInContainer)
        .unwrap();
    // The folder is now a symlink to somewhere else (a container sent `dir -> /x`).
    fs::remove_dir(root.join("dir")).unwrap();
    symlink(outside.path(), root.join("dir")).unwrap();
    let before = tree(root);
    let err = trash.restore(&item.id, None).unwrap_err();
    assert_eq!(err.kind, LocalErrorKind::SymlinkInPath, "{err}");
    assert!(err.message.contains("dir is a symlink"), "{err}");
    // Elsewhere, through the same folder: refused as well.
    let err = trash
        .restore(&item.id, Some(&place(root, &p("dir/sub/b.txt"))))
        .unwrap_err();
    assert_eq!(err.kind, LocalErrorKind::SymlinkInPath, "{err}");
    assert_eq!(tree(root), before, "nothing changed in the folder");
    assert_eq!(
        fs::read_dir(outside.path()).unwrap().count(),
        0,
        "nothing was written through the symlink"
    );
    assert_eq!(
        trash.get(&item.id).unwrap(),
        Some(item.clone()),
        "still in the trash"
    );

    // A file where a folder must be, and a folder at the destination: refused too.
    fs::remove_file(root.join("dir")).unwrap();
    fs::write(root.join("dir"), b"a file").unwrap();
    let err = trash.restore(&item.id, None).unwrap_err();
    assert_eq!(err.kind, LocalErrorKind::SymlinkInPath, "{err}");
    fs::remove_file(root.join("dir")).unwrap();
    fs::create_dir_all(root.join("dir/a.txt")).unwrap();
    let before = tree(root);
    let err = trash.restore(&item.id, None).unwrap_err();
    assert_eq!(err.kind, LocalErrorKind::IsDir, "{err}");
    assert_eq!(tree(root), before);
    assert!(trash.get(&item.id).unwrap().is_some());

    // The sync folder itself is gone: refused, with what to do.
    let gone = ws.root.with_file_name("gone");
    let err = trash
        .restore(&item.id, Some(&place(&gone, &p("a.txt"))))
        .unwrap_err();
    assert_eq!(err.kind, LocalErrorKind::NotFound);
    assert!(err.message.contains("--to"), "{err}");
    assert!(!gone.exists());
}

#[test]
fn a_restore_creates_missing_folders() {
    let ws = workspace();
    let trash = Trash::new(&ws.state);
    let root = &ws.root;
    file(root, "x/y/z.txt", b"z", 0o644, MTIME);
    let before = tree(root);
    let item = trash
        .take(&place(root, &p("x/y/z.txt")), Reason::DeletedInContainer)
        .unwrap();
    fs::remove_dir_all(root.join("x")).unwrap();
    trash.restore(&item.id, None).unwrap();
    assert_eq!(tree(root), before);
}

/// A clock the test moves.
fn clock() -> (Arc<AtomicU64>, impl Fn() -> u64 + Send + Sync + 'static) {
    let now = Arc::new(AtomicU64::new(1_700_000_000_000));
    let c = now.clone();
    (now, move || c.load(Ordering::SeqCst))
}

#[test]
fn prune_drops_items_older_than_seven_days_to_the_millisecond() {
    let ws = workspace();
    let (now, c) = clock();
    let trash = Trash::new(&ws.state).with_clock(c);
    assert_eq!(Limits::default().max_age_ms, 7 * DAY);
    assert_eq!(Limits::default().min_age_ms, HOUR);
    assert_eq!(Limits::default().max_bytes, 2 * 1024 * 1024 * 1024);
    let t0 = now.load(Ordering::SeqCst);
    file(&ws.root, "old.txt", b"old", 0o644, MTIME);
    let old = trash
        .take(&place(&ws.root, &p("old.txt")), Reason::DeletedInContainer)
        .unwrap();
    assert_eq!(old.time, t0);
    now.store(t0 + DAY, Ordering::SeqCst);
    file(&ws.root, "new.txt", b"new", 0o644, MTIME);
    let new = trash
        .take(&place(&ws.root, &p("new.txt")), Reason::DeletedInContainer)
        .unwrap();

    now.store(t0 + 7 * DAY, Ordering::SeqCst);
    assert_eq!(trash.prune().unwrap(), vec![], "exactly 7 days old stays");
    now.store(t0 + 7 * DAY + 1, Ordering::SeqCst);
    assert_eq!(
        trash.prune().unwrap(),
        vec![old.clone()],
        "a millisecond more goes"
    );
    assert_eq!(trash.list().unwrap(), vec![new.clone()]);
    assert!(trash.get(&old.id).unwrap().is_none());
    assert!(
        trash_names(&trash).iter().all(|n| is_item_id(n)),
        "no leftovers: {:?}",
        trash_names(&trash)
    );
}

#[test]
fn prune_by_size_removes_the_oldest_but_nothing_younger_than_an_hour() {
    let ws = workspace();
    let (now, c) = clock();
    let limits = Limits {
        max_age_ms: 7 * DAY,
        max_bytes: 100,
        min_age_ms: HOUR,
    };
    let trash = Trash::new(&ws.state).with_clock(c).with_limits(limits);
    let t = now.load(Ordering::SeqCst);
    let mut items = Vec::new();
    // 60 bytes each, at t-3h, t-2h, t-30min, t-10min.
    for (i, ago) in [3 * HOUR, 2 * HOUR, HOUR / 2, HOUR / 6].iter().enumerate() {
        now.store(t - ago, Ordering::SeqCst);
        let name = format!("f{i}");
        file(&ws.root, &name, &[b'x'; 60], 0o644, MTIME);
        items.push(
            trash
                .take(&place(&ws.root, &p(&name)), Reason::DeletedInContainer)
                .unwrap(),
        );
    }
    now.store(t, Ordering::SeqCst);
    // 240 bytes > 100: the two older than an hour go, oldest first; the other two (120
    // bytes, still over the limit) are younger than an hour and stay.
    assert_eq!(
        trash.prune().unwrap(),
        vec![items[0].clone(), items[1].clone()]
    );
    assert_eq!(
        trash.list().unwrap(),
        vec![items[3].clone(), items[2].clone()]
    );
    assert_eq!(
        trash.prune().unwrap(),
        vec![],
        "nothing younger than an hour"
    );

    // Exactly an hour old stays; a millisecond more and the size rule applies, and
    // stops as soon as the rest fits (60 <= 100).
    now.store(items[2].time + HOUR, Ordering::SeqCst);
    assert_eq!(trash.prune().unwrap(), vec![]);
    now.store(items[2].time + HOUR + 1, Ordering::SeqCst);
    assert_eq!(trash.prune().unwrap(), vec![items[2].clone()]);
    now.store(items[3].time + 5 * HOUR, Ordering::SeqCst);
    assert_eq!(trash.prune().unwrap(), vec![], "under the size limit, kept");
    assert_eq!(trash.list().unwrap(), vec![items[3].clone()]);
}

#[test]
fn hostile_names_never_reach_the_trash_folder_names() {
    let ws = workspace();
    let trash = Trash::new(&ws.state);
    let root = &ws.root;
    let long = "l".repeat(255);
    let names = [
        "meta.json",
        "data",
        ".gone-1-2-3",
        "1-2-3",
        ".meta.json.tmp",
        "-rf",
        "..a",
        "a\\b",
        "ünïcødé ✓",
        " spaced ",
        "*",
        long.as_str(),
        "deep/../../x", // a literal folder named ".." cannot exist; see below
    ];
    let mut made = Vec::new();
    for name in names {
        if name.contains("/../") {
            continue;
        }
        file(root, &format!("d/{name}"), name.as_bytes(), 0o644, MTIME);
        made.push(format!("d/{name}"));
    }
    let before = tree(root);
    let mut ids = Vec::new();
    for path in &made {
        ids.push(
            trash
                .take(&place(root, &p(path)), Reason::DeletedInContainer)
                .unwrap()
                .id,
        );
    }
    let in_trash = trash_names(&trash);
    assert_eq!(in_trash.len(), made.len());
    assert!(in_trash.iter().all(|n| is_item_id(n)), "{in_trash:?}");
    for id in &ids {
        assert_eq!(
            fs::read_dir(trash.dir().join(id))
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect::<std::collections::BTreeSet<_>>(),
            ["data", "meta.json"].map(String::from).into(),
        );
    }
    for id in &ids {
        trash.restore(id, None).unwrap();
    }
    assert_eq!(tree(root), before);

    // Ids that are not ids are never looked up or joined to a path.
    let outside = ws.state.parent().unwrap().join("victim");
    fs::write(&outside, b"v").unwrap();
    for bad in [
        "../victim",
        "../../etc/passwd",
        "",
        "1-2",
        "1-2-3-4",
        "a-b-c",
        "1-2-3/..",
    ] {
        assert_eq!(trash.get(bad).unwrap(), None, "{bad:?}");
        assert_eq!(
            trash.restore(bad, None).unwrap_err().kind,
            LocalErrorKind::NotFound,
            "{bad:?}"
        );
        assert!(!trash.forget(bad).unwrap(), "{bad:?}");
        assert!(trash.data_path(bad).is_none());
    }
    assert_eq!(fs::read(&outside).unwrap(), b"v");

    // A record whose path escapes (tampered with) is not an item: never listed, never
    // restored.
    file(root, "t.txt", b"t", 0o644, MTIME);
    let item = trash
        .take(&place(root, &p("t.txt")), Reason::DeletedInContainer)
        .unwrap();
    let meta = trash.dir().join(&item.id).join("meta.json");
    let text = fs::read_to_string(&meta).unwrap();
    fs::write(&meta, text.replace("\"t.txt\"", "\"../../escaped\"")).unwrap();
    assert!(trash.list().unwrap().is_empty());
    assert_eq!(
        trash.restore(&item.id, None).unwrap_err().kind,
        LocalErrorKind::NotFound
    );
    fs::write(
        &meta,
        text.replace(&format!("{:?}", root.to_str().unwrap()), "\"app\""),
    )
    .unwrap();
    assert!(
        trash.list().unwrap().is_empty(),
        "a relative root is not an item"
    );
    assert!(!root.parent().unwrap().join("escaped").exists());
}

#[test]
fn half_written_items_are_ignored_and_cleaned_in_their_time() {
    let ws = workspace();
    let (now, c) = clock();
    let trash = Trash::new(&ws.state).with_clock(c);
    let t = now.load(Ordering::SeqCst);
    file(&ws.root, "a.txt", b"a", 0o644, MTIME);
    let good = trash
        .take(&place(&ws.root, &p("a.txt")), Reason::DeletedInContainer)
        .unwrap();
    let dir = trash.dir().to_path_buf();
    // A record without data (a crash between the two steps: the file was never moved).
    let meta_only = format!("{t}-99-1");
    fs::create_dir(dir.join(&meta_only)).unwrap();
    let record = fs::read_to_string(dir.join(&good.id).join("meta.json"))
        .unwrap()
        .replace(&good.id, &meta_only);
    fs::write(dir.join(&meta_only).join("meta.json"), record).unwrap();
    // An empty folder (a crash right after the claim).
    let empty = format!("{t}-99-2");
    fs::create_dir(dir.join(&empty)).unwrap();
    // Data with a truncated record, and data without any.
    let truncated = format!("{t}-99-3");
    fs::create_dir(dir.join(&truncated)).unwrap();
    fs::write(
        dir.join(&truncated).join("meta.json"),
        b"{\"version\":1,\"id\":",
    )
    .unwrap();
    fs::write(dir.join(&truncated).join("data"), b"bytes").unwrap();
    let data_only = format!("{t}-99-4");
    fs::create_dir(dir.join(&data_only)).unwrap();
    fs::write(dir.join(&data_only).join("data"), b"bytes").unwrap();
    // A record whose id is another folder's.
    let wrong_id = format!("{t}-99-5");
    fs::create_dir(dir.join(&wrong_id)).unwrap();
    fs::copy(
        dir.join(&good.id).join("meta.json"),
        dir.join(&wrong_id).join("meta.json"),
    )
    .unwrap();
    fs::write(dir.join(&wrong_id).join("data"), b"bytes").unwrap();
    // A removal left half done, and something that is not ferry's.
    fs::create_dir_all(dir.join(".gone-1-2-3-4-5/sub")).unwrap();
    fs::write(dir.join("notes.txt"), b"mine").unwrap();

    assert_eq!(
        trash.list().unwrap(),
        vec![good.clone()],
        "only the complete item"
    );
    for id in [&meta_only, &empty, &truncated, &data_only, &wrong_id] {
        assert_eq!(trash.get(id).unwrap(), None, "{id}");
        assert_eq!(
            trash.restore(id, None).unwrap_err().kind,
            LocalErrorKind::NotFound
        );
    }

    // Young: nothing of an item is removed (a writer may be in the middle of it).
    assert_eq!(trash.prune().unwrap(), vec![]);
    assert!(
        !dir.join(".gone-1-2-3-4-5").exists(),
        "a half-done removal is finished"
    );
    for id in [
        &meta_only, &empty, &truncated, &data_only, &wrong_id, &good.id,
    ] {
        assert!(dir.join(id).exists(), "{id} kept while young");
    }
    // After an hour: the ones without data go; those with bytes stay as long as items do.
    now.store(t + HOUR + 1, Ordering::SeqCst);
    assert_eq!(trash.prune().unwrap(), vec![], "no complete item pruned");
    assert!(!dir.join(&meta_only).exists());
    assert!(!dir.join(&empty).exists());
    for id in [&truncated, &data_only, &wrong_id, &good.id] {
        assert!(dir.join(id).exists(), "{id} kept");
    }
    now.store(t + 7 * DAY + 1, Ordering::SeqCst);
    assert_eq!(trash.prune().unwrap(), vec![good]);
    assert_eq!(
        trash_names(&trash),
        ["notes.txt"],
        "only what is not ferry's is left"
    );
}

/// The entries of `paths` below `root` as a scan lists them.
fn listed(root: &Path, top: &str) -> Deletion {
    let snap = scan(root, &|_, _| false).unwrap();
    let top_path = p(top);
    let entry = snap.snapshot.get(&top_path).unwrap().clone();
    let contents = snap
        .snapshot
        .iter()
        .filter(|(path, _)| top_path.is_ancestor_of(path))
        .map(|(path, entry)| Item {
            path: path.clone(),
            entry: entry.clone(),
        })
        .collect();
    Deletion {
        path: top_path,
        entry,
        contents,
    }
}

#[test]
fn remove_to_trash_moves_what_it_removes_and_keeps_what_changed() {
    let ws = workspace();
    let trash = Trash::new(&ws.state);
    let root = &ws.root;
    file(root, "d/a.txt", b"a", 0o644, MTIME);
    file(root, "d/b.txt", b"b", 0o644, MTIME);
    file(root, "d/sub/c.txt", b"c", 0o600, MTIME + 1);
    link(root, "d/link", "a.txt", MTIME + 2);
    let deletion = listed(root, "d");
    let before = tree(root);
    // b.txt changes after it was listed.
    file(root, "d/b.txt", b"b, edited", 0o644, MTIME + 50);

    let removed = remove_to_trash(root, &deletion, &trash, "web", Reason::DeletedInContainer);
    let mut errors: Vec<_> = removed
        .errors
        .iter()
        .map(|e| (e.path.clone(), e.kind))
        .collect();
    errors.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        errors,
        [
            ("d".to_string(), LocalErrorKind::NotEmpty),
            ("d/b.txt".to_string(), LocalErrorKind::Changed)
        ]
    );
    let mut trashed: Vec<_> = removed.trashed.iter().map(|i| i.path.to_string()).collect();
    trashed.sort();
    assert_eq!(trashed, ["d/a.txt", "d/link", "d/sub/c.txt"]);
    let after = tree(root);
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        ["d", "d/b.txt"],
        "the changed file and its folder stay; the emptied folder went"
    );
    assert_eq!(
        after["d/b.txt"],
        Node::File {
            content: b"b, edited".to_vec(),
            mode: 0o644,
            mtime: MTIME + 50
        }
    );
    let mut listed_items = trash.list().unwrap();
    listed_items.sort_by(|a, b| a.path.cmp(&b.path));
    assert_eq!(listed_items.len(), 3);
    assert!(listed_items
        .iter()
        .all(|i| i.reason == Reason::DeletedInContainer && i.sync == "web"));

    // Everything comes back as it was listed (b.txt keeps its edit).
    for item in &removed.trashed {
        trash.restore(&item.id, None).unwrap();
    }
    let mut expected = before;
    expected.insert("d/b.txt".into(), after["d/b.txt"].clone());
    assert_eq!(tree(root), expected);
}

#[test]
fn remove_to_trash_deletes_nothing_when_the_trash_cannot_be_written() {
    let ws = workspace();
    let root = &ws.root;
    file(root, "d/a.txt", b"a", 0o644, MTIME);
    file(root, "d/b.txt", b"b", 0o644, MTIME);
    let deletion = listed(root, "d");
    let before = tree(root);
    // The trash folder is a file: nothing can be kept there.
    fs::create_dir_all(&ws.state).unwrap();
    fs::write(ws.state.join("trash"), b"in the way").unwrap();
    let trash = Trash::new(&ws.state);
    let removed = remove_to_trash(root, &deletion, &trash, "web", Reason::MirrorStrategy);
    assert!(removed.trashed.is_empty());
    let mut paths: Vec<_> = removed.errors.iter().map(|e| e.path.clone()).collect();
    paths.sort();
    assert_eq!(paths, ["d", "d/a.txt", "d/b.txt"], "{:?}", removed.errors);
    let a = removed.errors.iter().find(|e| e.path == "d/a.txt").unwrap();
    assert!(a.message.contains("could not be kept in the trash"), "{a}");
    assert_eq!(tree(root), before, "nothing was deleted");
}

#[test]
fn concurrent_takes_get_unique_items_and_lists_see_only_complete_ones() {
    let ws = workspace();
    let root = ws.root.clone();
    for t in 0..4 {
        for i in 0..40 {
            file(
                &root,
                &format!("t{t}/f{i}"),
                format!("{t}/{i}").as_bytes(),
                0o644,
                MTIME,
            );
        }
    }
    let before = tree(&root);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let lister = {
        let trash = Trash::new(&ws.state);
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut rounds = 0;
            while !stop.load(Ordering::SeqCst) {
                for item in trash.list().unwrap() {
                    // A listed item is complete: its data exists (unless restored since).
                    let data = trash.data_path(&item.id).unwrap();
                    let _ = fs::symlink_metadata(data);
                }
                rounds += 1;
            }
            rounds
        })
    };
    let workers: Vec<_> = (0..4)
        .map(|t| {
            // Separate Trash values, as separate processes would have.
            let trash = Trash::new(&ws.state);
            let root = root.clone();
            std::thread::spawn(move || {
                (0..40)
                    .map(|i| {
                        let path = p(&format!("t{t}/f{i}"));
                        trash
                            .take(&place(&root, &path), Reason::DeletedInContainer)
                            .unwrap()
                            .id
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut ids: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    stop.store(true, Ordering::SeqCst);
    assert!(lister.join().unwrap() > 0);
    let trash = Trash::new(&ws.state);
    let all = trash.list().unwrap();
    assert_eq!(all.len(), 160);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 160, "unique ids");
    for item in &all {
        trash.restore(&item.id, None).unwrap();
    }
    assert_eq!(tree(&root), before);
}
