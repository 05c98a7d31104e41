//! Atomic landing: readers in the container never see a partial file. Debian's
//! busybox-static has no `inotifyd`, so the event-driven reader is `inotifywait`
//! (debian:inotify), and the busybox reader is a tight `wc -c` loop.

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
