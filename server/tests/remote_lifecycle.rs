//! Processes ferry starts in the container end when ferry goes away: dropped sessions
//! and watchers (v5 and v4 streams), a session dropped in the middle of an upload, and
//! watchers whose shell was killed outright.

mod remote_support;

use std::time::Duration;

use ferry::remote::{
    Mtime, RelPath, RemoteWatcher, SessionOptions, UploadFile, WatchEvent, WatchMode, WatchOptions,
};
use remote_support::{skip, Rootfs, ROOT};

const LIMIT: Duration = Duration::from_secs(5);

fn no_leftovers(fs: &Rootfs) {
    for dir in ["/app", "/tmp"] {
        let left: Vec<_> = std::fs::read_dir(fs.host(dir))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".ferry"))
            .collect();
        assert!(left.is_empty(), "{}: {dir} still holds {left:?}", fs.image);
    }
}

#[tokio::test]
async fn remote_lifecycle_dropped_session_and_watchers_end() {
    if skip() {
        return;
    }
    for (image, v4) in [
        ("debian:inotify", false),
        ("debian:inotify", true),
        ("busybox", false),
        ("busybox", true),
    ] {
        let fs = Rootfs::new(image);
        let shell = if v4 {
            fs.shell().protocol_v4()
        } else {
            fs.shell()
        };
        let mut s = fs
            .session_with(shell.clone(), SessionOptions::default())
            .await;
        s.ping().await.unwrap();
        let mut watchers = Vec::new();
        for mode in [WatchMode::Poll, WatchMode::Auto] {
            let opts = WatchOptions {
                mode,
                ..Default::default()
            };
            watchers.push(
                RemoteWatcher::start(&shell, ROOT, s.capabilities(), opts)
                    .await
                    .unwrap(),
            );
        }
        let before = fs.processes();
        assert!(before.len() >= 3, "{image}: {before:?}");
        drop(watchers);
        drop(s);
        let left = fs.wait_no_processes(LIMIT).await;
        assert!(left.is_empty(), "{image} (v4: {v4}): left behind {left:?}");
        no_leftovers(&fs);
    }
}

#[tokio::test]
async fn remote_lifecycle_session_dropped_mid_upload() {
    if skip() {
        return;
    }
    for image in ["busybox", "debian"] {
        let fs = Rootfs::new(image);
        let mut s = fs
            .session_with(fs.shell().protocol_v4(), SessionOptions::default())
            .await;
        let big = UploadFile {
            path: RelPath::new("big.bin").unwrap(),
            contents: vec![7; 64 << 20],
            mode: 0o644,
            mtime: Mtime::new(1_700_000_000, 0),
        };
        let r = tokio::time::timeout(Duration::from_millis(30), s.upload(&[big])).await;
        assert!(r.is_err(), "{image}: the upload should still be running");
        drop(s);
        let left = fs.wait_no_processes(LIMIT).await;
        assert!(left.is_empty(), "{image}: left behind {left:?}");
        no_leftovers(&fs);
        assert!(
            !fs.app("big.bin").exists(),
            "{image}: a partial upload landed"
        );
    }
}

/// The parent pid of `pid`.
fn ppid(pid: u32) -> u32 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = s.rsplit(')').next().unwrap_or("");
    rest.split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn remote_lifecycle_killed_watcher_shell_takes_its_helpers() {
    if skip() {
        return;
    }
    for (image, mode) in [
        ("busybox", WatchMode::Poll),
        ("debian:inotify", WatchMode::Inotify),
    ] {
        let fs = Rootfs::new(image);
        let s = fs.session().await;
        let opts = WatchOptions {
            mode,
            ..Default::default()
        };
        let w = RemoteWatcher::start(&fs.shell(), ROOT, s.capabilities(), opts)
            .await
            .unwrap();
        let session_pid = fs.processes().iter().map(|p| p.0).min().unwrap();
        let procs = fs.processes();
        let ours: Vec<u32> = procs.iter().map(|p| p.0).collect();
        // The watcher's main shell: a ferry-watch process whose parent is not one.
        let main = procs
            .iter()
            .filter(|(p, cmd)| {
                cmd.contains("sh -c") && *p != session_pid && !ours.contains(&ppid(*p))
            })
            .map(|p| p.0)
            .next()
            .unwrap_or_else(|| panic!("{image}: no watcher shell among {procs:?}"));
        unsafe { libc::kill(main as i32, libc::SIGKILL) };
        let t = std::time::Instant::now();
        loop {
            let left: Vec<_> = fs
                .processes()
                .into_iter()
                .filter(|(p, _)| *p != session_pid)
                .collect();
            if left.is_empty() {
                break;
            }
            assert!(
                t.elapsed() < LIMIT,
                "{image}: helpers outlived their killed shell: {left:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        drop(w);
        drop(s);
        assert!(fs.wait_no_processes(LIMIT).await.is_empty());
        // The killed shell could not clean up; the next session sweeps its leftovers.
        let s = fs.session().await;
        s.close().await.unwrap();
        no_leftovers(&fs);
    }
}

#[tokio::test]
async fn remote_lifecycle_stop_closes_stdin_on_v5() {
    if skip() {
        return;
    }
    let fs = Rootfs::new("busybox");
    let s = fs.session().await;
    let opts = WatchOptions {
        mode: WatchMode::Poll,
        ..Default::default()
    };
    let w = RemoteWatcher::start(&fs.shell(), ROOT, s.capabilities(), opts)
        .await
        .unwrap();
    let status = w.stop().await;
    assert_eq!(status.code, Some(0), "{status}");
    let st = s.close().await.unwrap();
    assert_eq!(st.code, Some(0), "{st}");
    assert!(fs.wait_no_processes(LIMIT).await.is_empty());
    no_leftovers(&fs);
}

/// Host pids of the processes in `fs` whose command line contains `what`.
fn pids_of(fs: &Rootfs, what: &str) -> Vec<u32> {
    fs.processes()
        .into_iter()
        .filter(|(_, cmd)| cmd.contains(what))
        .map(|p| p.0)
        .collect()
}

/// A process that ignores SIGTERM from the start (inherited from a parent that ignores
/// it: some init systems, CI runners and wrappers do) cannot be ended with `kill PID`,
/// and a shell started that way cannot even trap it. The watchers must still take
/// everything they started with them when their stream ends — this is how an
/// `inotifywait` outlived its test run by 40 minutes, immune to SIGTERM.
#[tokio::test]
async fn remote_lifecycle_watchers_end_when_sigterm_is_ignored() {
    if skip() {
        return;
    }
    for (image, mode) in [
        ("debian:inotify", WatchMode::Inotify),
        ("busybox", WatchMode::Poll),
    ] {
        for v4 in [false, true] {
            let fs = Rootfs::new(image);
            let mut shell = fs.shell().ignoring(libc::SIGTERM);
            if v4 {
                shell = shell.protocol_v4();
            }
            let s = fs
                .session_with(shell.clone(), SessionOptions::default())
                .await;
            let opts = WatchOptions {
                mode,
                ..Default::default()
            };
            let w = RemoteWatcher::start(&shell, ROOT, s.capabilities(), opts)
                .await
                .unwrap();
            if mode == WatchMode::Inotify {
                assert!(
                    !pids_of(&fs, "inotifywait -m").is_empty(),
                    "{image}: no inotifywait among {:?}",
                    fs.processes()
                );
            }
            drop(w);
            drop(s);
            let left = fs.wait_no_processes(LIMIT).await;
            assert!(
                left.is_empty(),
                "{image} (v4: {v4}), SIGTERM ignored: left behind {left:?}"
            );
            no_leftovers(&fs);
        }
    }
}

/// An `inotifywait` that dies (watch limit, OOM killer, a kill) is reported, so that
/// ferry restarts the watcher: its parent must reap it (a zombie still answers `kill -0`).
#[tokio::test]
async fn remote_lifecycle_dead_inotifywait_is_reported() {
    if skip() {
        return;
    }
    let fs = Rootfs::new("debian:inotify");
    let s = fs.session().await;
    let opts = WatchOptions {
        mode: WatchMode::Inotify,
        ..Default::default()
    };
    let mut w = RemoteWatcher::start(&fs.shell(), ROOT, s.capabilities(), opts)
        .await
        .unwrap();
    let pids = pids_of(&fs, "inotifywait -m");
    assert_eq!(pids.len(), 1, "{:?}", fs.processes());
    unsafe { libc::kill(pids[0] as i32, libc::SIGKILL) };
    let t = std::time::Instant::now();
    let why = loop {
        match tokio::time::timeout(LIMIT.saturating_sub(t.elapsed()), w.next()).await {
            Ok(Some(WatchEvent::Stopped(why))) => break why,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the watcher's events ended without a Stopped"),
            Err(_) => panic!(
                "no Stopped within {LIMIT:?} after inotifywait was killed; processes: {:?}",
                fs.processes()
            ),
        }
    };
    assert!(why.contains("inotifywait ended"), "{why}");
    drop(w);
    drop(s);
    assert!(fs.wait_no_processes(LIMIT).await.is_empty());
}

/// An idle session is checked with a short ping: one that stopped answering fails
/// within the ping's limit (and is broken from then on), not after the reply timeout;
/// a session used recently is not pinged at all.
#[tokio::test]
async fn remote_lifecycle_idle_check_catches_a_session_that_stopped_answering() {
    if skip() {
        return;
    }
    let fs = Rootfs::new("busybox");
    let mut s = fs.session().await;
    s.check_alive(Duration::ZERO, Duration::from_secs(2))
        .await
        .unwrap();
    let shell = fs.processes();
    assert_eq!(shell.len(), 1, "{shell:?}");
    unsafe { libc::kill(shell[0].0 as i32, libc::SIGSTOP) };
    // Answered a moment ago: no ping, no wait.
    let t = std::time::Instant::now();
    s.check_alive(Duration::from_secs(60), Duration::from_secs(2))
        .await
        .unwrap();
    assert!(t.elapsed() < Duration::from_millis(100));
    let err = s
        .check_alive(Duration::ZERO, Duration::from_secs(2))
        .await
        .unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    assert!(err.to_string().contains("ping"), "{err}");
    assert!(
        s.ping().await.is_err(),
        "a session that timed out stays broken"
    );
    drop(s);
    unsafe { libc::kill(shell[0].0 as i32, libc::SIGCONT) };
    assert!(fs.wait_no_processes(LIMIT).await.is_empty());
}
