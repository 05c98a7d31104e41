//! Atomic landing: readers in the container never see a partial file, and — staged
//! beside the container marker, out of the sync folder — a watcher there sees no name of
//! ferry's at all. Debian's busybox-static has no `inotifyd`, so the event-driven reader
//! is `inotifywait` (debian:inotify), and the busybox reader is a tight `wc -c` loop.

mod remote_support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ferry::remote::{Mtime, RelPath, Session, UploadFile};
use remote_support::{require_root, Rootfs};

const SIZE: usize = 300_000;

fn spawn_in(fs: &Rootfs, script: &str) -> Child {
    Command::new("chroot")
        .arg(&fs.path)
        .args(["sh", "-c", script])
        .env_clear()
        .env("PATH", "/usr/bin:/bin:/usr/sbin:/sbin")
        .stdin(Stdio::null())
        .spawn()
        .unwrap()
}

async fn upload_versions(s: &mut Session) {
    for v in 0..15u8 {
        let files: Vec<UploadFile> = ["a.js", "b.css"]
            .iter()
            .map(|n| UploadFile {
                path: RelPath::new(n).unwrap(),
                contents: vec![b'a' + v; SIZE],
                mode: 0o644,
                mtime: Mtime::new(1_700_000_000 + v as i64, 0),
            })
            .collect();
        let r = s.upload(&files).await.unwrap();
        assert!(r.failed.is_empty());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every log line is "… SIZE"; all sizes must be complete.
fn check_log(fs: &Rootfs, min: usize) {
    let log = std::fs::read_to_string(fs.host("/seen/log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(
        lines.len() >= min,
        "{}: the reader saw too little: {log}",
        fs.image
    );
    for l in &lines {
        let size = l.rsplit(' ').next().unwrap().trim();
        assert_eq!(
            size,
            SIZE.to_string(),
            "{}: a reader saw a partial file: {l}",
            fs.image
        );
    }
    eprintln!(
        "{}: the reader saw {} complete files and no partial one",
        fs.image,
        lines.len()
    );
}

#[tokio::test]
async fn remote_atomic_inotifywait_reader_sees_only_complete_files() {
    require_root();
    let fs = Rootfs::new("debian:inotify");
    std::fs::create_dir(fs.host("/seen")).unwrap();
    let mut reader = spawn_in(
        &fs,
        "inotifywait -m -q -e create -e close_write -e moved_to --format '%e %f' /app | \
         while read -r e f; do case $f in .ferry*) continue;; esac; \
         [ -f \"/app/$f\" ] && printf '%s %s %s\\n' \"$e\" \"$f\" \"$(wc -c <\"/app/$f\")\" >>/seen/log; done",
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut s = fs.session().await;
    upload_versions(&mut s).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    reader.kill().unwrap();
    let _ = reader.wait();
    check_log(&fs, 20);
    let log = std::fs::read_to_string(fs.host("/seen/log")).unwrap();
    assert!(
        log.lines().all(|l| l.starts_with("MOVED_TO ")),
        "only renames land in the sync folder: {log}"
    );
    // The pipeline's other half lives on in the rootfs; end it (it is ours).
    for (pid, _) in fs.processes() {
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
}

/// Every path below `dir`, relative to it.
fn names_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                todo.push(p);
            }
        }
    }
    out
}

/// As the engine does it: staging beside the container marker (`place`, `mark`, `stage`).
async fn stage_as_the_engine_does(s: &mut Session) -> String {
    let report = s.places().await.unwrap();
    let place = ferry::remote::place::choose(&report)
        .expect("a place for the marker")
        .clone();
    let dir = ferry::remote::place::marker_dir(&place.path, "/app");
    s.mark(&dir, "token", true).await.unwrap();
    s.stage(&dir).await.unwrap();
    dir
}

#[tokio::test]
async fn remote_atomic_a_watcher_in_the_folder_sees_only_the_final_names() {
    require_root();
    let fs = Rootfs::new("debian:inotify");
    std::fs::create_dir(fs.host("/seen")).unwrap();
    let mut reader = spawn_in(
        &fs,
        "inotifywait -m -r -q --format '%e %w%f' /app >/seen/log 2>/seen/err",
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut s = fs.session().await;
    let dir = stage_as_the_engine_does(&mut s).await;
    assert!(
        !dir.starts_with("/app/"),
        "the place is out of the folder: {dir}"
    );
    let name = |i: usize| format!("src/d{}/f{i}.txt", i % 10);
    let batch = |range: std::ops::Range<usize>, v: u8| -> Vec<UploadFile> {
        range
            .map(|i| UploadFile {
                path: RelPath::new(&name(i)).unwrap(),
                contents: vec![b'a' + v; 100 + i],
                mode: 0o644,
                mtime: Mtime::new(1_700_000_000 + v as i64, 0),
            })
            .collect()
    };
    for chunk in 0..5 {
        let r = s
            .upload(&batch(chunk * 100..chunk * 100 + 100, 0))
            .await
            .unwrap();
        assert!(r.failed.is_empty(), "{:?}", r.failed);
    }
    for v in 1..=10u8 {
        let r = s.upload(&batch(0..10, v)).await.unwrap();
        assert!(r.failed.is_empty(), "{:?}", r.failed);
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    // While the session lives, nothing of ferry's is in the folder.
    let listed = names_under(&fs.host("/app"));
    assert!(
        listed.iter().all(|p| !p.contains("ferry")),
        "no ferry name in /app: {listed:?}"
    );
    assert_eq!(listed.iter().filter(|p| p.ends_with(".txt")).count(), 500);
    reader.kill().unwrap();
    let _ = reader.wait();
    for (pid, _) in fs.processes() {
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
    let log = std::fs::read_to_string(fs.host("/seen/log")).unwrap();
    let finals: std::collections::BTreeSet<String> = (0..500)
        .flat_map(|i| {
            let n = format!("/app/{}", name(i));
            let parent = n.rsplit_once('/').unwrap().0.to_string();
            [n, parent, "/app/src".to_string(), "/app".to_string()]
        })
        .collect();
    let events: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(
        events.len() >= 600,
        "the watcher saw the uploads: {} events",
        events.len()
    );
    for e in &events {
        let (_, path) = e.split_once(' ').unwrap();
        let path = path.trim_end_matches('/');
        assert!(
            finals.contains(path),
            "the watcher saw a name that is not a final one: {e}\n(all: {log})"
        );
    }
    eprintln!("{} events, every one on a final name", events.len());
}

#[tokio::test]
async fn remote_atomic_busybox_reader_sees_only_complete_files() {
    require_root();
    let fs = Rootfs::new("busybox");
    std::fs::create_dir(fs.host("/seen")).unwrap();
    let mut reader = spawn_in(
        &fs,
        "while :; do for f in /app/a.js /app/b.css; do [ -f \"$f\" ] && \
         printf '%s %s\\n' \"$f\" \"$(wc -c <\"$f\")\" >>/seen/log; done; done",
    );
    let mut s = fs.session().await;
    upload_versions(&mut s).await;
    reader.kill().unwrap();
    let _ = reader.wait();
    check_log(&fs, 50);
}
