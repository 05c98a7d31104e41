//! Tests of the fake container's own machinery: fault injection at every step, pod
//! replacement, watchers and echoes, the clock, process lifetimes, and a few replies at
//! the raw protocol level (`list`'s `W`/`F`, `get`'s `err`, `put`'s `X`, the heartbeat).
//! Conformance to the real scripts is `server/tests/remote_fake.rs`.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use super::*;
use crate::remote::{
    Depth, FileErrorKind, RelPath, RemoteWatcher, Session, SessionError, SessionOptions,
    UploadFile, WatchEvent, WatchMode, WatchOptions,
};

const ROOT: &str = "/app";

fn rel(s: &str) -> RelPath {
    RelPath::new(s).unwrap()
}

fn file(p: &str, content: &str) -> UploadFile {
    UploadFile {
        path: rel(p),
        contents: content.as_bytes().to_vec(),
        mode: 0o644,
        mtime: Mtime::new(1_650_000_000, 0),
    }
}

fn opts() -> SessionOptions {
    SessionOptions {
        reply_timeout: Duration::from_millis(500),
        ..SessionOptions::default()
    }
}

fn files_of(c: &FakeContainer) -> Vec<(String, Vec<u8>)> {
    c.tree(ROOT, true)
        .into_iter()
        .filter_map(|(p, e)| match e {
            TreeEntry::File { content, .. } => Some((p, content)),
            _ => None,
        })
        .collect()
}

/// A small sync: upload three files, list, rename one, delete one. Retries each step in a
/// new session until it goes through (what the engine's reconnect does).
async fn sync_to_completion(c: &FakeContainer) -> usize {
    let mut session: Option<Session> = None;
    let mut restarts = 0;
    let mut step = 0;
    while step < 4 {
        let s = match session.as_mut() {
            Some(s) => s,
            None => match Session::start(c, ROOT, opts()).await {
                Ok(s) => session.insert(s),
                Err(_) => {
                    restarts += 1;
                    assert!(restarts < 20, "the session never starts again");
                    continue;
                }
            },
        };
        let r = match step {
            0 => s
                .upload(&[file("a", "1"), file("d/b", "2"), file("d/c", "3")])
                .await
                .map(|r| r.failed),
            1 => s.list_all().await.map(|_| Vec::new()),
            2 => s.rename(&[(rel("a"), rel("moved"))]).await,
            _ => s.delete(&[rel("d/c")]).await,
        };
        match r {
            Ok(failed) if failed.is_empty() => step += 1,
            // A rename whose first try went through: "a" is gone.
            Ok(failed) if step == 2 && failed.iter().all(|f| f.kind == FileErrorKind::Missing) => {
                step += 1
            }
            Ok(_) => {}
            // Anything else: a new session (one whose start could not make the sync
            // folder fails every command, as a real one would).
            Err(_) => {
                session = None;
                restarts += 1;
                assert!(restarts < 20, "no progress");
            }
        }
    }
    if let Some(s) = session {
        // A fault at the quit itself is fine: the work is done.
        let _ = s.close().await;
    }
    restarts
}

#[tokio::test]
async fn a_crash_at_every_step_still_ends_in_the_same_tree() {
    let want = vec![
        ("d/b".to_string(), b"2".to_vec()),
        ("moved".to_string(), b"1".to_vec()),
    ];
    let clean = FakeContainer::busybox();
    assert_eq!(sync_to_completion(&clean).await, 0);
    assert_eq!(files_of(&clean), want);
    let total = clean.step_count();
    assert!(total > 20, "{:#?}", clean.steps());
    for action in [FaultAction::Kill, FaultAction::Drop, FaultAction::Fail] {
        let mut k = 0;
        loop {
            let c = FakeContainer::busybox();
            c.inject(Fault::at(k).action(action));
            sync_to_completion(&c).await;
            let fired = c.fired();
            if fired.is_empty() {
                break;
            }
            assert_eq!(
                files_of(&c),
                want,
                "{action:?} at step {k} ({:?})",
                fired[0].step
            );
            // Nothing of ferry's is left running, and no staging folder of a session that
            // cleaned up (a killed one's is swept by the next session).
            assert!(c.processes().is_empty(), "{action:?} at {k}");
            k += 1;
        }
        assert!(k >= total, "{action:?}: only {k} of {total} steps fired");
    }
}

#[tokio::test]
async fn a_failed_command_leaves_the_session_usable() {
    let c = FakeContainer::debian();
    let mut s = Session::start(&c, ROOT, opts()).await.unwrap();
    c.inject(Fault::at(0).counting(&[StepKind::Header]).fail());
    let e = s.list_all().await.unwrap_err();
    assert!(matches!(e, SessionError::Remote { .. }), "{e}");
    s.ping().await.unwrap();
    // A failing system call is a per-file failure with the tool's message: effects of
    // this upload are mkdir staging, write, utime, rename (the 4th fails).
    c.inject(Fault::at(3).counting(&[StepKind::Effect]).fail());
    let r = s.upload(&[file("x", "x")]).await.unwrap();
    assert_eq!(r.failed.len(), 1, "{r:?}");
    assert!(
        r.failed[0].message.contains("Input/output error"),
        "{}",
        r.failed[0].message
    );
    assert!(c.read("/app/x").is_none());
    s.close().await.unwrap();
}

#[tokio::test]
async fn a_dropped_stream_finishes_the_command_and_cleans_up() {
    let c = FakeContainer::busybox();
    let mut s = Session::start(&c, ROOT, opts()).await.unwrap();
    // Drop at the reply of the upload: ferry never hears of it, yet the file landed.
    c.inject(Fault::at(0).counting(&[StepKind::Reply]).drop_stream());
    let e = s.upload(&[file("a", "1")]).await.unwrap_err();
    assert!(!e.session_usable(), "{e}");
    assert_eq!(c.read("/app/a").as_deref(), Some(&b"1"[..]));
    tokio::task::yield_now().await;
    assert!(c.processes().is_empty());
    // The EXIT trap ran: no staging folder, no state folder.
    assert!(c
        .tree(ROOT, false)
        .keys()
        .all(|p| !p.starts_with(".ferry-tmp")));
    assert!(
        c.tree("/tmp", false).is_empty(),
        "{:?}",
        c.tree("/tmp", false)
    );
}

#[tokio::test]
async fn a_killed_session_leaves_its_folders_for_the_next_one_to_sweep() {
    let c = FakeContainer::busybox();
    let mut s = Session::start(&c, ROOT, opts()).await.unwrap();
    // Killed after extracting into the staging folder (mkdir, write, utime), before the
    // rename.
    c.inject(Fault::at(3).counting(&[StepKind::Effect]).kill());
    s.upload(&[file("a", "1")]).await.unwrap_err();
    s.upload(&[file("a", "1")]).await.unwrap_err();
    let staging: Vec<String> = c
        .tree(ROOT, false)
        .into_keys()
        .filter(|p| p.starts_with(".ferry-tmp"))
        .collect();
    assert!(
        !staging.is_empty(),
        "the killed session's staging folder stays"
    );
    assert!(!c.tree("/tmp", false).is_empty(), "and its state folder");
    let s = Session::start(&c, ROOT, opts()).await.unwrap();
    let left: Vec<String> = c
        .tree(ROOT, false)
        .into_keys()
        .filter(|p| p.starts_with(".ferry-tmp"))
        .collect();
    assert!(left.is_empty(), "swept: {left:?}");
    assert_eq!(c.tree("/tmp", false).len(), 1, "only the new state folder");
    s.close().await.unwrap();
}

#[tokio::test]
async fn a_hang_times_out_and_the_process_goes_with_the_stream() {
    let c = FakeContainer::debian();
    let mut s = Session::start(&c, ROOT, opts()).await.unwrap();
    c.inject(Fault::at(0).counting(&[StepKind::Header]).hang());
    let e = s.ping().await.unwrap_err();
    assert!(matches!(e, SessionError::Timeout { .. }), "{e}");
    assert_eq!(c.processes().len(), 1, "hung, still there");
    drop(s);
    for _ in 0..100 {
        if c.processes().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(c.processes().is_empty());
}

#[tokio::test]
async fn a_truncated_reply_breaks_the_session() {
    let c = FakeContainer::busybox();
    c.write("/app/a", "hello").unwrap();
    let mut s = Session::start(&c, ROOT, opts()).await.unwrap();
    c.inject(Fault::at(0).truncate(8));
    let e = s.list_all().await.unwrap_err();
    assert!(matches!(e, SessionError::Closed { .. }), "{e}");
    assert!(matches!(s.ping().await, Err(SessionError::Broken(_))));
}

#[tokio::test]
async fn launches_fail_hang_and_die_on_demand() {
    let c = FakeContainer::busybox();
    c.inject(Fault::at(0).counting(&[StepKind::Launch]).fail());
    let e = Session::start(&c, ROOT, opts()).await.unwrap_err();
    assert!(matches!(e, SessionError::Launch(_)), "{e}");
    c.inject(Fault::at(0).counting(&[StepKind::Launch]).kill());
    let e = Session::start(&c, ROOT, opts()).await.unwrap_err();
    assert!(matches!(e, SessionError::Closed { .. }), "{e}");
    c.inject(Fault::at(0).counting(&[StepKind::Launch]).hang());
    let hung = tokio::time::timeout(Duration::from_millis(50), Session::start(&c, ROOT, opts()));
    assert!(hung.await.is_err());
    c.kill_pod();
    let e = Session::start(&c, ROOT, opts()).await.unwrap_err();
    assert!(e.to_string().contains("not running"), "{e}");
    c.replace(Replacement::PodKeepingFs);
    Session::start(&c, ROOT, opts()).await.unwrap();
}

#[tokio::test]
async fn a_fault_can_replace_the_pod_in_the_middle_of_an_upload() {
    let c = FakeContainer::busybox();
    c.write("/app/old", "x").unwrap();
    let before = c.identity();
    let mut image = FakeFs::new();
    image.mkdir_all(b"/app", 0o755, Cred::ROOT).unwrap();
    image
        .write(b"/app/from-image", b"v0".to_vec(), 0o644, Cred::ROOT)
        .unwrap();
    let mut s = Session::start(&c, ROOT, opts()).await.unwrap();
    let w = RemoteWatcher::start(
        &c,
        ROOT,
        s.capabilities(),
        WatchOptions {
            mode: WatchMode::Poll,
            interval: Duration::from_millis(100),
            ..WatchOptions::default()
        },
    )
    .await
    .unwrap();
    c.inject(
        Fault::at(1)
            .counting(&[StepKind::Effect])
            .then(Replacement::Pod(image)),
    );
    let e = s
        .upload(&[file("a", "1"), file("b", "2")])
        .await
        .unwrap_err();
    assert!(!e.session_usable());
    let after = c.identity();
    assert_ne!(before.pod_uid, after.pod_uid);
    assert_ne!(before.container_id, after.container_id);
    assert!(c.processes().is_empty(), "the watcher went with the pod");
    assert_eq!(
        files_of(&c),
        vec![("from-image".to_string(), b"v0".to_vec())]
    );
    drop(w);
}

#[tokio::test]
async fn a_restart_keeps_the_volumes_only() {
    let mut image = FakeFs::new();
    image.mkdir_all(b"/srv", 0o755, Cred::ROOT).unwrap();
    image
        .write(b"/srv/baked", b"image".to_vec(), 0o644, Cred::ROOT)
        .unwrap();
    let c = FakeContainer::with_fs(Profile::debian(), image);
    c.mount("/app", 1, true, None).unwrap();
    c.write("/app/on-volume", "kept").unwrap();
    c.write("/srv/baked", "changed").unwrap();
    c.write("/tmp/lost", "lost").unwrap();
    let pod = c.identity();
    c.replace(Replacement::Restart);
    assert_eq!(c.identity().pod_uid, pod.pod_uid);
    assert_ne!(c.identity().container_id, pod.container_id);
    assert_eq!(c.read("/app/on-volume").as_deref(), Some(&b"kept"[..]));
    assert_eq!(c.read("/srv/baked").as_deref(), Some(&b"image"[..]));
    assert_eq!(c.read("/tmp/lost"), None);
    // The marker place follows the mounts: /app is its own mount now.
    c.update_profile(|p| p.mountinfo = true);
    let mut s = Session::start(&c, ROOT, opts()).await.unwrap();
    let report = s.places().await.unwrap();
    assert_eq!(
        crate::remote::place::choose(&report).map(|c| c.name.as_str()),
        Some("root")
    );
}

#[tokio::test]
async fn disk_full_and_unreadable_paths() {
    let c = FakeContainer::busybox();
    c.mount("/app", 9, true, Some(1000)).unwrap();
    let mut s = Session::start(&c, ROOT, opts()).await.unwrap();
    let big = UploadFile {
        contents: vec![b'x'; 2000],
        ..file("big", "")
    };
    let report = s.upload(&[big, file("small", "s")]).await.unwrap();
    let rejected = report.rejected.expect("the batch is rejected as a whole");
    assert_eq!(rejected.free, Some(1000));
    assert!(
        rejected
            .message
            .contains("tar: write error: No space left on device"),
        "{rejected:?}"
    );
    assert!(report.landed.is_empty());
    assert!(c.tree(ROOT, false).is_empty(), "{:?}", c.tree(ROOT, false));
    s.upload(&[file("small", "s")]).await.unwrap();
    // Root cannot read a denied folder: it is listed, its contents are not.
    c.write("/app/d/x", "x").unwrap();
    c.deny(
        "/app/d",
        Deny {
            read: true,
            write: false,
        },
    )
    .unwrap();
    let l = s.list_all().await.unwrap();
    let paths: Vec<&str> = l.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["d", "small"]);
    let mut sink = crate::remote::download::MemorySink::default();
    let d = s
        .download(&[rel("d")], &|_| Some(1 << 20), &mut sink)
        .await
        .unwrap();
    assert!(d.entries.iter().all(|e| e.path.as_str() == "d"), "{d:?}");
    s.close().await.unwrap();
}

async fn events_until_quiet(w: &mut RemoteWatcher) -> Vec<WatchEvent> {
    let mut out = Vec::new();
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(50), w.next()).await {
        out.push(e);
    }
    out
}

fn changed(events: &[WatchEvent]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|e| match e {
            WatchEvent::Changed { path, .. } => Some(path.as_str()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn the_inotify_watcher_sees_the_container_and_ferry_alike() {
    let c = FakeContainer::new(Profile::debian().with_inotify());
    let mut s = Session::start(&c, ROOT, opts()).await.unwrap();
    let mut w = RemoteWatcher::start(&c, ROOT, s.capabilities(), WatchOptions::default())
        .await
        .unwrap();
    c.write("/app/by-container.txt", "c").unwrap();
    s.upload(&[file("sub/by-ferry.txt", "f")]).await.unwrap();
    s.rename(&[(rel("sub/by-ferry.txt"), rel("renamed"))])
        .await
        .unwrap();
    s.delete(&[rel("sub")]).await.unwrap();
    let ev = events_until_quiet(&mut w).await;
    assert_eq!(
        changed(&ev),
        [
            "by-container.txt",
            "by-container.txt",
            "sub",
            "sub/by-ferry.txt",
            "sub/by-ferry.txt",
            "renamed",
            "sub/",
            "sub"
        ],
        "{ev:#?}"
    );
    // The staging folder is never reported.
    c.stall_watchers(true);
    c.write("/app/lost", "x").unwrap();
    c.stall_watchers(false);
    assert_eq!(events_until_quiet(&mut w).await, [WatchEvent::Rescan]);
    c.watcher_prints("something odd");
    assert_eq!(
        events_until_quiet(&mut w).await,
        [WatchEvent::Warning("something odd".into())]
    );
    c.remove(ROOT).unwrap();
    let ev = events_until_quiet(&mut w).await;
    let ev = [ev, events_until_quiet_long(&mut w).await].concat();
    assert!(
        ev.iter()
            .any(|e| matches!(e, WatchEvent::Stopped(m) if m.contains("inotifywait ended"))),
        "{ev:#?}"
    );
    w.stop().await;
    drop(s);
}

async fn events_until_quiet_long(w: &mut RemoteWatcher) -> Vec<WatchEvent> {
    let mut out = Vec::new();
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(1500), w.next()).await {
        out.push(e);
    }
    out
}

#[tokio::test]
async fn the_poll_watcher_reports_what_is_newer_than_its_marker() {
    let c = FakeContainer::debian();
    let s = Session::start(&c, ROOT, opts()).await.unwrap();
    let mut w = RemoteWatcher::start(
        &c,
        ROOT,
        s.capabilities(),
        WatchOptions {
            mode: WatchMode::Poll,
            interval: Duration::from_millis(100),
            full_scan_every: 3,
            ..WatchOptions::default()
        },
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    c.write("/app/new.txt", "x").unwrap();
    let mut seen = Vec::new();
    for _ in 0..8 {
        if let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(300), w.next()).await {
            seen.push(e);
        }
    }
    assert!(
        changed(&seen).contains(&"new.txt") && changed(&seen).contains(&""),
        "{seen:#?}"
    );
    assert!(seen.contains(&WatchEvent::Rescan), "{seen:#?}");
    assert_eq!(c.processes().len(), 2);
    w.stop().await;
    s.close().await.unwrap();
    tokio::task::yield_now().await;
    assert!(c.processes().is_empty());
    assert!(
        c.tree("/tmp", false).is_empty(),
        "{:?}",
        c.tree("/tmp", false)
    );
}

/// Like `watch_poll.sh` (`find . -path './.ferry-tmp-*' -prune -o -path ./.ferry -prune
/// -o -newer …`): nothing at or below the folder's own `.ferry/` (the fallback marker and
/// staging folder) or a `.ferry-tmp-*` folder is reported; the root and a file beside them
/// are.
#[tokio::test]
async fn the_poll_watcher_leaves_out_ferrys_own_folders() {
    let c = FakeContainer::debian();
    c.mkdir("/app/.ferry/x").unwrap();
    let mut s = Session::start(&c, ROOT, opts()).await.unwrap();
    let mut w = RemoteWatcher::start(
        &c,
        ROOT,
        s.capabilities(),
        WatchOptions {
            mode: WatchMode::Poll,
            interval: Duration::from_millis(100),
            full_scan_every: 1000,
            ..WatchOptions::default()
        },
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    c.write("/app/.ferry/x/f", "1").unwrap();
    c.write("/app/.ferry/new/g", "2").unwrap();
    c.write("/app/.ferry-tmp-3/h", "3").unwrap();
    s.stage("/app/.ferry/k").await.unwrap();
    s.upload(&[file("up.txt", "u")]).await.unwrap();
    c.write("/app/new.txt", "x").unwrap();
    let mut seen = Vec::new();
    for _ in 0..8 {
        if let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(300), w.next()).await {
            seen.push(e);
        }
    }
    let paths = changed(&seen);
    assert!(
        paths.contains(&"new.txt") && paths.contains(&""),
        "{seen:#?}"
    );
    assert!(
        paths
            .iter()
            .all(|p| *p != ".ferry" && !p.starts_with(".ferry/") && !p.starts_with(".ferry-tmp-")),
        "{seen:#?}"
    );
    w.stop().await;
    s.close().await.unwrap();
}

#[tokio::test]
async fn the_clock_stamps_changes_and_listings() {
    let c = FakeContainer::busybox();
    c.freeze(true);
    c.set_time(Mtime::new(1_800_000_000, 5));
    c.write("/app/a", "1").unwrap();
    c.advance(Duration::from_millis(1500));
    c.write("/app/b", "2").unwrap();
    let mut s = Session::start(&c, ROOT, opts()).await.unwrap();
    let l = s.list_all().await.unwrap();
    let t: Vec<Mtime> = l.entries.iter().map(|e| e.mtime).collect();
    assert_eq!(
        t,
        [
            Mtime::new(1_800_000_000, 5),
            Mtime::new(1_800_000_001, 500_000_005)
        ]
    );
    // Same size within the second: a container edit that size and seconds cannot see.
    c.update_profile(|p| p.stat_times = StatTimes::Seconds);
    let mut s2 = Session::start(&c, ROOT, opts()).await.unwrap();
    let before = s2.list(&[rel("b")], Depth::Children).await.unwrap();
    c.write("/app/b", "9").unwrap();
    let after = s2.list(&[rel("b")], Depth::Children).await.unwrap();
    assert_eq!(before, after);
    assert_eq!(c.read("/app/b").as_deref(), Some(&b"9"[..]));
    s.close().await.unwrap();
}

/// Speaks the protocol by hand: `(header, payload)` → `(status line, body)`.
struct Raw {
    stdin: crate::remote::transport::Stdin,
    stdout: BufReader<crate::remote::transport::Output>,
}

impl Raw {
    async fn start(c: &FakeContainer) -> (Raw, String) {
        let argv = scripts::argv(scripts::session(), "ferry-session", &[ROOT, "", "", "rw"]);
        let mut p = c.launch(argv).await.unwrap();
        let mut raw = Raw {
            stdin: p.take_stdin().unwrap(),
            stdout: BufReader::new(p.take_stdout().unwrap()),
        };
        let (_, hello) = raw.reply().await;
        (raw, String::from_utf8(hello).unwrap())
    }

    async fn reply(&mut self) -> (String, Vec<u8>) {
        let mut line = String::new();
        self.stdout.read_line(&mut line).await.unwrap();
        let (status, len) = line.trim_end().split_once(' ').unwrap();
        let mut body = vec![0; len.parse().unwrap()];
        self.stdout.read_exact(&mut body).await.unwrap();
        (status.to_string(), body)
    }

    async fn call(&mut self, header: &str, payload: Option<&[u8]>) -> (String, Vec<u8>) {
        self.stdin
            .write_all(format!("{header}\n").as_bytes())
            .await
            .unwrap();
        if let Some(p) = payload {
            let (status, _) = self.reply().await;
            assert_eq!(status, "ack");
            self.stdin.write_all(p).await.unwrap();
        }
        self.reply().await
    }
}

#[tokio::test]
async fn list_reports_the_time_and_what_find_could_not_read() {
    let c = FakeContainer::debian();
    c.freeze(true);
    c.set_time(Mtime::new(1_700_000_000, 0));
    c.write("/app/d/x", "x").unwrap();
    c.write("/app/ok", "x").unwrap();
    c.deny(
        "/app/d",
        Deny {
            read: true,
            write: false,
        },
    )
    .unwrap();
    let (mut raw, _) = Raw::start(&c).await;
    let (status, body) = raw.call("list 10 r", Some(b".\nnope\nok\n")).await;
    assert_eq!(status, "ok");
    let text = String::from_utf8(body).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "T 1700000000.000000000");
    assert!(
        lines.contains(&"W 0 find: './d': Permission denied"),
        "{text}"
    );
    assert!(lines.contains(&"F 0 1"), "{text}");
    assert!(
        lines.contains(&"W 1 find: './nope': No such file or directory")
            && lines.contains(&"F 1 1"),
        "a missing path gives its W and F lines: {text}"
    );
    assert!(
        text.ends_with("81a4 1 1700000000.000000000 ./ok\n"),
        "{text}"
    );
}

#[tokio::test]
async fn get_fails_as_a_whole_when_tar_fails() {
    let c = FakeContainer::busybox();
    c.write("/app/a", "a").unwrap();
    c.write("/app/b", "b").unwrap();
    c.deny(
        "/app/b",
        Deny {
            read: true,
            write: false,
        },
    )
    .unwrap();
    let (mut raw, _) = Raw::start(&c).await;
    let (status, body) = raw.call("get 6", Some(b"a\nb\nc\n")).await;
    assert_eq!(status, "err");
    assert_eq!(
        String::from_utf8_lossy(&body),
        "tar failed (status 1): tar: can't open './b': Permission denied\n\
         tar: error exit delayed from previous errors\n"
    );
    let (status, body) = raw.call("get 2", Some(b"c\n")).await;
    assert_eq!(
        (status.as_str(), &body[..]),
        ("ok", &b""[..]),
        "missing: skipped"
    );
}

#[tokio::test]
async fn put_reports_the_free_space_and_stays_usable() {
    let c = FakeContainer::debian();
    c.mount("/app", 3, true, Some(100)).unwrap();
    let (mut raw, _) = Raw::start(&c).await;
    let big = UploadFile {
        contents: vec![b'x'; 500],
        ..file("big", "")
    };
    let archive = crate::remote::upload::build(&[&big], false, true).unwrap();
    let (status, body) = raw
        .call(
            &format!("put {} p", archive.bytes.len()),
            Some(&archive.bytes),
        )
        .await;
    assert_eq!(status, "ok");
    assert_eq!(
        String::from_utf8(body).unwrap(),
        "X 100 tar: big: Wrote only 100 of 500 bytes; tar: Exiting with failure status due to previous errors\n"
    );
    assert_eq!(raw.call("ping", None).await.0, "ok");
    assert!(c.tree(ROOT, false).is_empty());
}

#[tokio::test]
async fn sum_hashes_regular_files_only() {
    for (c, escaped) in [
        (FakeContainer::debian(), "\\"),
        (FakeContainer::busybox(), ""),
    ] {
        c.write("/app/a", "a").unwrap();
        c.write("/app/back\\slash", "").unwrap();
        c.symlink("a", "/app/link").unwrap();
        c.fs(|fs| fs.mkfifo(b"/app/fifo", 0o644, Cred::ROOT))
            .unwrap();
        let (mut raw, _) = Raw::start(&c).await;
        let payload = b"a\nback\\slash\nlink\nfifo\nnope\n.\n";
        let (status, body) = raw
            .call(&format!("sum {}", payload.len()), Some(payload))
            .await;
        assert_eq!(status, "ok");
        let want = format!(
            "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb  ./a\n\
             {escaped}e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  \
             ./back\\{escaped}slash\n"
        );
        assert_eq!(String::from_utf8(body).unwrap(), want);
    }
}

#[tokio::test(start_paused = true)]
async fn inotify_watcher_beats_every_five_seconds() {
    let c = FakeContainer::new(Profile::debian().with_inotify());
    c.mkdir(ROOT).unwrap();
    let argv = scripts::argv(scripts::watch_inotify(), "ferry-watch", &[ROOT, "tok"]);
    let mut p = c.launch(argv).await.unwrap();
    let mut out = BufReader::new(p.take_stdout().unwrap());
    let mut lines = Vec::new();
    for _ in 0..3 {
        let mut l = String::new();
        out.read_line(&mut l).await.unwrap();
        lines.push(l);
    }
    assert_eq!(lines[2], "tok alive\n", "{lines:?}");
}

#[tokio::test]
async fn pwd_and_hooks_are_answered() {
    let c = FakeContainer::busybox();
    c.update_profile(|p| p.workdir = "/srv/app".into());
    let mut p = c
        .launch(vec!["sh".into(), "-c".into(), "pwd".into()])
        .await
        .unwrap();
    let mut out = String::new();
    p.take_stdout()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    assert_eq!(out, "/srv/app\n");
    c.on_exec(Arc::new(|argv, fs| {
        fs.write(b"/hooked", argv.join(" ").into_bytes(), 0o644, Cred::ROOT)
            .unwrap();
        (3, b"out\n".to_vec())
    }));
    let mut p = c.launch(vec!["make".into(), "all".into()]).await.unwrap();
    let mut out = String::new();
    p.take_stdout()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    assert_eq!(out, "out\n");
    assert_eq!(p.take_status().unwrap().await.code, Some(3));
    assert_eq!(c.read("/hooked").as_deref(), Some(&b"make all"[..]));
    assert_eq!(c.execs().last().unwrap(), &["make", "all"]);
}
