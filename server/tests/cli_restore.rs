//! `ferry restore` end to end, without a cluster: the trash is filled through the library
//! (as the engine does), then the `ferry` binary lists it (table and `--json`) and brings
//! items back by id, by path (relative to the workspace or to a sync folder; the newest),
//! and `--to` elsewhere; what a restore replaces is kept and named; exit codes 0, 1, 2; it
//! works while another process owns the workspace.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use ferry::core::RelPath;
use ferry::local::{Place, Reason, Trash, TrashItem};
use ferry::state::lock::WorkspaceLock;

fn p(path: &str) -> RelPath {
    RelPath::new(path).unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A workspace with the sync folder `app` (sync path `web`) and its trash.
struct Ws {
    dir: tempfile::TempDir,
    root: PathBuf,
    trash: Trash,
}

impl Ws {
    fn new() -> Ws {
        let dir = tempfile::Builder::new()
            .prefix("ferry-restore.")
            .tempdir()
            .unwrap();
        let root = dir.path().join("app");
        fs::create_dir_all(&root).unwrap();
        let trash = Trash::new(&dir.path().join(".ferry"));
        Ws { dir, root, trash }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, rel: &str, content: &str) {
        let path = self.root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }

    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.root.join(rel)).unwrap()
    }

    /// Deletes `rel` of `root` into the trash as a sync would.
    fn take_from(&self, sync: &str, root: &Path, rel: &str, reason: Reason) -> TrashItem {
        let path = p(rel);
        self.trash
            .take(
                &Place {
                    sync,
                    root,
                    path: &path,
                },
                reason,
            )
            .unwrap()
    }

    fn take(&self, rel: &str) -> TrashItem {
        self.take_from("web", &self.root.clone(), rel, Reason::DeletedInContainer)
    }

    /// Runs `ferry ARGS` in the workspace.
    fn ferry(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(args)
            .current_dir(self.path())
            .stdin(Stdio::null())
            .output()
            .expect("run ferry")
    }
}

#[test]
fn restore_lists_the_trash_as_a_table_and_as_json() {
    let ws = Ws::new();
    let out = ws.ferry(&["restore"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("is empty"), "{}", text(&out));
    let out = ws.ferry(&["restore", "--json"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");

    ws.write("a.txt", "alpha");
    ws.write("src/big.bin", &"x".repeat(3000));
    std::os::unix::fs::symlink("a.txt", ws.root.join("ln")).unwrap();
    let a = ws.take("a.txt");
    let big = ws.take_from(
        "web",
        &ws.root,
        "src/big.bin",
        Reason::OverwrittenByDownload,
    );
    let ln = ws.take("ln");

    let out = ws.ferry(&["restore"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("ID"), "a header: {stdout}");
    for word in ["AGE", "SYNC", "PATH", "SIZE", "REASON"] {
        assert!(lines[0].contains(word), "{stdout}");
    }
    // Newest first, one line per item.
    assert!(lines[1].starts_with(&ln.id), "{stdout}");
    assert!(lines[1].contains("ln -> a.txt"), "{stdout}");
    assert!(lines[2].starts_with(&big.id), "{stdout}");
    for part in [
        "s ago",
        "web",
        "src/big.bin",
        "2.9 KiB",
        "overwritten by a download",
    ] {
        assert!(lines[2].contains(part), "{part}: {stdout}");
    }
    assert!(lines[3].starts_with(&a.id), "{stdout}");
    for part in ["a.txt", "5 B", "deleted in the container"] {
        assert!(lines[3].contains(part), "{part}: {stdout}");
    }
    assert!(
        stdout.contains("ferry restore ID"),
        "says how to restore: {stdout}"
    );

    let out = ws.ferry(&["restore", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let records: Vec<TrashItem> = serde_json::from_slice(&out.stdout).expect("JSON records");
    assert_eq!(
        records,
        vec![ln, big, a.clone()],
        "the full records, newest first"
    );
    let raw: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = &raw[2];
    for field in [
        "version", "id", "time", "sync", "root", "path", "size", "kind", "mode", "mtime", "origin",
        "reason",
    ] {
        assert!(first.get(field).is_some(), "{field} in {first}");
    }
    assert_eq!(first["reason"], "deletedInContainer");
    assert_eq!(first["origin"], "local");
    assert_eq!(first["kind"], "file");
    assert_eq!(raw[0]["kind"], "symlink");
    assert_eq!(raw[0]["target"], "a.txt");
    // Listing changes nothing.
    assert_eq!(ws.trash.list().unwrap().len(), 3);
}

#[test]
fn restore_by_id_by_path_and_to_a_destination() {
    let ws = Ws::new();
    ws.write("a.txt", "alpha");
    let a = ws.take("a.txt");
    ws.write("src/b.txt", "b one");
    let b1 = ws.take("src/b.txt");
    ws.write("src/b.txt", "b two");
    let b2 = ws.take("src/b.txt");

    // By id.
    let out = ws.ferry(&["restore", &a.id]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(ws.read("a.txt"), "alpha");
    let t = text(&out);
    assert!(
        t.contains("restored web:a.txt to app/a.txt (it was deleted in the container"),
        "{t}"
    );
    assert!(
        !t.contains("kept in the trash"),
        "nothing was in the way: {t}"
    );

    // By a path relative to the workspace: the newest item for it.
    let out = ws.ferry(&["restore", "app/src/b.txt"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(ws.read("src/b.txt"), "b two");
    assert!(ws.trash.get(&b2.id).unwrap().is_none());

    // By a path relative to the sync folder: the older version now, over the newer one,
    // which is kept and named.
    let out = ws.ferry(&["restore", "src/b.txt"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(ws.read("src/b.txt"), "b one");
    let kept: Vec<TrashItem> = ws.trash.list().unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].reason, Reason::ReplacedByRestore);
    assert_eq!(
        fs::read_to_string(ws.trash.data_path(&kept[0].id).unwrap()).unwrap(),
        "b two"
    );
    let t = text(&out);
    assert!(
        t.contains(&format!(
            "what was there is kept in the trash as {id}: `ferry restore {id}` brings it back",
            id = kept[0].id
        )),
        "{t}"
    );
    assert!(ws.trash.get(&b1.id).unwrap().is_none());

    // --to a new path (relative to the current folder), and into an existing folder.
    let out = ws.ferry(&["restore", &kept[0].id, "--to", "app/old/b.two.txt"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(ws.read("old/b.two.txt"), "b two");
    assert_eq!(
        ws.read("src/b.txt"),
        "b one",
        "the original place is untouched"
    );
    assert!(
        text(&out).contains("to app/old/b.two.txt"),
        "{}",
        text(&out)
    );

    ws.write("c.txt", "c");
    let c = ws.take("c.txt");
    fs::create_dir(ws.path().join("elsewhere")).unwrap();
    let out = ws.ferry(&["restore", &c.id, "--to", "elsewhere"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        fs::read_to_string(ws.path().join("elsewhere/c.txt")).unwrap(),
        "c"
    );
    assert!(ws.trash.list().unwrap().is_empty());
}

#[test]
fn restore_exit_codes_and_refusals() {
    let ws = Ws::new();
    ws.write("a.txt", "alpha");
    let a = ws.take("a.txt");
    ws.write("b.txt", "beta");
    ws.take("b.txt");

    // Nothing matched: 1, and the others named are still restored.
    let out = ws.ferry(&["restore", "nope.txt", &a.id]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("nothing in the trash matches \"nope.txt\""),
        "{}",
        text(&out)
    );
    assert_eq!(ws.read("a.txt"), "alpha");
    let a = ws.take("a.txt");
    let before_usage = ws.trash.list().unwrap();

    // Bad usage: 2, nothing changed.
    for args in [
        vec!["restore", "--to", "x.txt"],
        vec!["restore", &a.id, "a.txt", "--to", "x.txt"],
        vec!["restore", &a.id, "--json"],
    ] {
        let out = ws.ferry(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert_eq!(ws.trash.list().unwrap(), before_usage, "{args:?}");
    }
    assert!(!ws.path().join("x.txt").exists());

    // Hostile arguments match nothing and touch nothing.
    let victim = ws.path().join("victim");
    fs::write(&victim, "v").unwrap();
    for arg in ["../../etc/passwd", "../victim", "/etc/passwd", "1-2-3"] {
        let out = ws.ferry(&["restore", arg]);
        assert_eq!(out.status.code(), Some(1), "{arg}: {}", text(&out));
    }
    assert_eq!(fs::read_to_string(&victim).unwrap(), "v");
    assert_eq!(ws.trash.list().unwrap(), before_usage);

    // A path relative to a sync folder that two sync folders have: ambiguous, 2,
    // nothing restored, both candidates named.
    let other = ws.path().join("other");
    fs::create_dir(&other).unwrap();
    fs::write(other.join("a.txt"), "other alpha").unwrap();
    let oa = ws.take_from("api", &other, "a.txt", Reason::DeletedInContainer);
    let out = ws.ferry(&["restore", "a.txt"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains(&a.id) && t.contains(&oa.id), "{t}");
    assert!(!ws.root.join("a.txt").exists() && !other.join("a.txt").exists());
    // Relative to the workspace it is not ambiguous.
    let out = ws.ferry(&["restore", "other/a.txt"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        fs::read_to_string(other.join("a.txt")).unwrap(),
        "other alpha"
    );
    assert!(
        text(&out).contains("restored api:a.txt to other/a.txt"),
        "{}",
        text(&out)
    );

    // A restore that fails (a symlinked folder on the way): 1, the item stays.
    ws.write("d/e.txt", "e");
    let e = ws.take("d/e.txt");
    fs::remove_dir(ws.root.join("d")).unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), ws.root.join("d")).unwrap();
    let out = ws.ferry(&["restore", &e.id]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("cannot restore web:d/e.txt") && t.contains("symlink"),
        "{t}"
    );
    assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
    assert!(ws.trash.get(&e.id).unwrap().is_some());
}

#[test]
fn restore_works_while_another_process_owns_the_workspace() {
    let ws = Ws::new();
    ws.write("a.txt", "alpha");
    let a = ws.take("a.txt");
    // This test process holds the workspace lock, as a running `ferry sync` would.
    let lock = WorkspaceLock::acquire(&ws.path().join(".ferry"), "ferry sync").unwrap();
    let out = ws.ferry(&["restore"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = ws.ferry(&["restore", &a.id]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(ws.read("a.txt"), "alpha");
    drop(lock);
}
