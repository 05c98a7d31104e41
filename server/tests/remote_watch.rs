//! Remote change detection: the polling watcher (busybox, debian) and the inotify
//! watcher (debian:inotify) see creates, modifications and deletions; polling a 10k-file
//! tree stays cheap.

mod remote_support;

use std::time::{Duration, Instant};

use ferry::remote::{ActiveMode, RemoteWatcher, WatchEvent, WatchMode, WatchOptions};
use remote_support::{skip, Rootfs, ROOT};

/// Waits until an event satisfies `want`; panics after `limit`.
async fn expect(
    w: &mut RemoteWatcher,
    what: &str,
    limit: Duration,
    want: impl Fn(&WatchEvent) -> bool,
) {
    let t = Instant::now();
    let mut seen = Vec::new();
    while t.elapsed() < limit {
        match tokio::time::timeout(limit - t.elapsed(), w.next()).await {
            Ok(Some(ev)) => {
                if want(&ev) {
                    return;
                }
                seen.push(ev);
            }
            Ok(None) => break,
            Err(_) => break,
        }
    }
    panic!("no event for {what} within {limit:?}; saw {seen:?}");
}

fn changed(path: &str) -> impl Fn(&WatchEvent) -> bool + '_ {
    move |ev| matches!(ev, WatchEvent::Changed { path: p, .. } if p == path)
}

async fn watch_cycle(image: &str, mode: WatchMode) {
    let fs = Rootfs::new(image);
    std::fs::create_dir(fs.app("sub dir")).unwrap();
    std::fs::write(fs.app("sub dir/old"), b"1").unwrap();
    let s = fs.session().await;
    let opts = WatchOptions {
        mode,
        interval: Duration::from_millis(250),
        full_scan_every: 8,
        ..Default::default()
    };
    let mut w = RemoteWatcher::start(&fs.shell(), ROOT, s.capabilities(), opts)
        .await
        .unwrap();
    let limit = Duration::from_secs(5);
    // Create: the file itself (inotify, or polling: a new file is newer than the marker).
    std::fs::write(fs.app("sub dir/$(new) file"), b"hello").unwrap();
    expect(&mut w, "a create", limit, changed("sub dir/$(new) file")).await;
    // Modify.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    std::fs::write(fs.app("sub dir/old"), b"22").unwrap();
    expect(&mut w, "a modification", limit, changed("sub dir/old")).await;
    // Delete: inotify names the file; polling names its folder (its mtime changed).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    std::fs::remove_file(fs.app("sub dir/old")).unwrap();
    let want = if mode == WatchMode::Inotify {
        "sub dir/old"
    } else {
        "sub dir"
    };
    expect(&mut w, "a deletion", limit, changed(want)).await;
    // A new folder at the root.
    std::fs::create_dir(fs.app("-new dir")).unwrap();
    expect(&mut w, "a new folder", limit, |ev| {
        matches!(ev, WatchEvent::Changed { path, .. } if path == "-new dir" || path.is_empty())
    })
    .await;
    if mode == WatchMode::Poll {
        expect(&mut w, "the periodic rescan", limit, |ev| {
            *ev == WatchEvent::Rescan
        })
        .await;
    }
    drop(w);
    drop(s);
    let left = fs.wait_no_processes(Duration::from_secs(5)).await;
    assert!(
        left.is_empty(),
        "{image}: processes left after the watcher was dropped: {left:?}"
    );
}

#[tokio::test]
async fn remote_watch_poll_busybox() {
    if skip() {
        return;
    }
    watch_cycle("busybox", WatchMode::Poll).await;
}

#[tokio::test]
async fn remote_watch_poll_debian() {
    if skip() {
        return;
    }
    watch_cycle("debian", WatchMode::Poll).await;
}

#[tokio::test]
async fn remote_watch_inotify_debian() {
    if skip() {
        return;
    }
    watch_cycle("debian:inotify", WatchMode::Inotify).await;
}

#[tokio::test]
async fn remote_watch_auto_picks_the_mechanism() {
    if skip() {
        return;
    }
    for (image, inotify) in [("debian:inotify", true), ("busybox", false)] {
        let fs = Rootfs::new(image);
        let s = fs.session().await;
        let w = RemoteWatcher::start(&fs.shell(), ROOT, s.capabilities(), WatchOptions::default())
            .await
            .unwrap();
        assert_eq!(matches!(w.mode(), ActiveMode::Inotify), inotify, "{image}");
    }
    let fs = Rootfs::new("busybox");
    let s = fs.session().await;
    let err = RemoteWatcher::start(
        &fs.shell(),
        ROOT,
        s.capabilities(),
        WatchOptions {
            mode: WatchMode::Inotify,
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("inotifywait"), "{err}");
}

/// CPU of every process in the rootfs, including reaped children (utime, stime,
/// cutime, cstime), in clock ticks.
fn cpu_ticks(fs: &Rootfs) -> u64 {
    fs.processes()
        .iter()
        .filter_map(|(pid, _)| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .map(|s| {
            let rest = s.rsplit(')').next().unwrap_or("");
            let f: Vec<&str> = rest.split_whitespace().collect();
            // Fields after ") ": state is f[0]; utime is field 14 of stat → f[11].
            f[11..15]
                .iter()
                .map(|v| v.parse::<u64>().unwrap_or(0))
                .sum::<u64>()
        })
        .sum()
}

#[tokio::test]
async fn remote_watch_poll_cost_10k_files() {
    if skip() {
        return;
    }
    for image in ["busybox", "debian"] {
        let fs = Rootfs::new(image);
        for d in 0..100 {
            let dir = fs.app(&format!("pkg{d}/src"));
            std::fs::create_dir_all(&dir).unwrap();
            for f in 0..100 {
                std::fs::write(dir.join(format!("file{f}.js")), b"x").unwrap();
            }
        }
        let s = fs.session().await;
        let mut w = RemoteWatcher::start(
            &fs.shell(),
            ROOT,
            s.capabilities(),
            WatchOptions {
                mode: WatchMode::Poll,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let t0 = cpu_ticks(&fs);
        let start = Instant::now();
        tokio::time::sleep(Duration::from_secs(6)).await;
        let ticks = cpu_ticks(&fs) - t0;
        let hz = 100.0; // USER_HZ on Linux
        let share = ticks as f64 / hz / start.elapsed().as_secs_f64();
        eprintln!(
            "{image}: polling 10,100 entries every second costs {:.1}% of a core (a full `find -exec stat` scan every 250 ms was measured at ~40%)",
            share * 100.0
        );
        assert!(
            share < 0.15,
            "{image}: polling costs {:.0}% of a core",
            share * 100.0
        );
        // A change deep in the tree is still seen.
        std::fs::write(fs.app("pkg57/src/file3.js"), b"changed").unwrap();
        expect(
            &mut w,
            "a change in a big tree",
            Duration::from_secs(5),
            changed("pkg57/src/file3.js"),
        )
        .await;
    }
}

/// Host pids of every process in `fs`.
fn pids(fs: &Rootfs) -> Vec<u32> {
    fs.processes().iter().map(|p| p.0).collect()
}

fn signal_all(pids: &[u32], sig: i32) {
    for p in pids {
        unsafe { libc::kill(*p as i32, sig) };
    }
}

/// A quiet but healthy watcher is never taken for a stalled one (its heartbeat); a
/// frozen one (every process stopped, as a stalled node or connection looks) is
/// reported as stopped within the 15 s silence limit, so the engine starts a new one.
async fn liveness(image: &str, mode: WatchMode) {
    let fs = Rootfs::new(image);
    let s = fs.session().await;
    let session = pids(&fs);
    let opts = WatchOptions {
        mode,
        ..Default::default()
    };
    assert_eq!(opts.silence_limit, Duration::from_secs(15));
    let mut w = RemoteWatcher::start(&fs.shell(), ROOT, s.capabilities(), opts)
        .await
        .unwrap();
    // Quiet for longer than the limit: only signs of life, no Stopped.
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(20) {
        match tokio::time::timeout(Duration::from_secs(20) - t.elapsed(), w.next()).await {
            Ok(Some(WatchEvent::Stopped(why))) => {
                panic!(
                    "{image}: a quiet, healthy watcher was stopped after {:?}: {why}",
                    t.elapsed()
                )
            }
            Ok(Some(_)) => {}
            Ok(None) => panic!("{image}: the watcher's events ended"),
            Err(_) => break,
        }
    }
    // Freeze the watcher (twice: a helper may have forked meanwhile).
    let mut frozen = Vec::new();
    for _ in 0..2 {
        let now: Vec<u32> = pids(&fs)
            .into_iter()
            .filter(|p| !session.contains(p))
            .collect();
        signal_all(&now, libc::SIGSTOP);
        frozen.extend(now);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!frozen.is_empty(), "{image}: no watcher processes");
    let t = Instant::now();
    let why = loop {
        match tokio::time::timeout(Duration::from_secs(25), w.next()).await {
            Ok(Some(WatchEvent::Stopped(why))) => break why,
            Ok(Some(_)) => {}
            Ok(None) => panic!("{image}: the events ended without a Stopped"),
            Err(_) => panic!("{image}: a frozen watcher was not reported within 25 s"),
        }
    };
    let took = t.elapsed();
    assert!(why.contains("no sign of life for 15 s"), "{image}: {why}");
    assert!(
        took < Duration::from_secs(17),
        "{image}: reported after {took:?}"
    );
    eprintln!("{image}: a frozen watcher was reported after {took:?}: {why}");
    // Thawed after ferry dropped its stream, the old watcher ends by itself.
    drop(w);
    signal_all(&frozen, libc::SIGCONT);
    drop(s);
    let left = fs.wait_no_processes(Duration::from_secs(5)).await;
    assert!(left.is_empty(), "{image}: left behind {left:?}");
}

#[tokio::test]
async fn remote_watch_liveness() {
    if skip() {
        return;
    }
    tokio::join!(
        liveness("debian:inotify", WatchMode::Inotify),
        liveness("busybox", WatchMode::Poll),
    );
}

/// Whether a watcher hint names ferry's own folders at the root: the fallback staging
/// and marker folder `.ferry/` (and anything below it) or a `.ferry-tmp-*` folder.
fn names_ferry_state(ev: &WatchEvent) -> bool {
    matches!(ev, WatchEvent::Changed { path, .. }
        if path == ".ferry" || path.starts_with(".ferry/") || path.starts_with(".ferry-tmp-"))
}

/// Where the sync folder is a volume's mount point, ferry's marker and staging live in
/// its own `ROOT/.ferry/` (always excluded from the sync): the watchers' own filters keep
/// every change there out of their output (inotifywait's `--exclude`, the poller's
/// `-prune`), while a file written at the root — and the final name of an upload staged
/// in `ROOT/.ferry/` — is still reported.
async fn ferry_state_is_not_reported(image: &str, mode: WatchMode) {
    let fs = Rootfs::new(image);
    // Made before the watcher starts, as the marker folder of an earlier session is.
    std::fs::create_dir_all(fs.app(".ferry/x")).unwrap();
    let mut s = fs.session().await;
    let opts = WatchOptions {
        mode,
        interval: Duration::from_millis(250),
        full_scan_every: 1000,
        ..Default::default()
    };
    let mut w = RemoteWatcher::start(&fs.shell(), ROOT, s.capabilities(), opts)
        .await
        .unwrap();
    // The container's (or another session's) writes below `.ferry/`: files, a new
    // folder, a file in it, a rename and a deletion.
    fs.sh(
        "printf 1 > /app/.ferry/x/f && mkdir /app/.ferry/x/y && printf 2 > /app/.ferry/x/y/g && \
         mkdir /app/.ferry/new && mv /app/.ferry/x/f /app/.ferry/new/f && rm /app/.ferry/x/y/g && \
         mkdir -p /app/.ferry-tmp-1/z && printf 3 > /app/.ferry-tmp-1/z/h",
    );
    // A session staging in `ROOT/.ferry/k` as ferry does when the folder is a mount point.
    s.stage("/app/.ferry/k").await.unwrap();
    let r = s
        .upload(&[ferry::remote::UploadFile {
            path: ferry::remote::RelPath::new("up.txt").unwrap(),
            contents: b"up".to_vec(),
            mode: 0o644,
            mtime: ferry::remote::Mtime::new(1_700_000_000, 0),
        }])
        .await
        .unwrap();
    assert!(r.failed.is_empty(), "{image}: {:?}", r.failed);
    // The poller reports a change for more than a second: let those ticks pass first.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    std::fs::write(fs.app("at-root.txt"), b"r").unwrap();
    let mut seen = Vec::new();
    let limit = Duration::from_secs(10);
    let t = Instant::now();
    // Everything until the file at the root has been reported and the watcher has been
    // quiet (no hint) for 1.5 s: any late report below `.ferry/` is caught too.
    let mut root_seen = false;
    let mut last_hint = Instant::now();
    while t.elapsed() < limit + Duration::from_secs(5) {
        match tokio::time::timeout(Duration::from_millis(100), w.next()).await {
            Ok(Some(ev)) => {
                if let WatchEvent::Changed { path, .. } = &ev {
                    root_seen |= path == "at-root.txt";
                    last_hint = Instant::now();
                }
                seen.push(ev);
            }
            Ok(None) => panic!("{image}: the watcher ended: {seen:#?}"),
            Err(_) => {}
        }
        if root_seen && last_hint.elapsed() > Duration::from_millis(1500) {
            break;
        }
        assert!(
            root_seen || t.elapsed() < limit,
            "{image} ({mode:?}): no event for the file at the root within {limit:?}; saw {seen:#?}"
        );
    }
    let ours: Vec<&WatchEvent> = seen.iter().filter(|e| names_ferry_state(e)).collect();
    assert!(
        ours.is_empty(),
        "{image} ({mode:?}): the watcher reported ferry's own folders: {ours:#?}\n(all: {seen:#?})"
    );
    // inotify names the final name; the poller its folder (the file keeps the archive's
    // old mtime, the root's changed).
    let landed = |ev: &WatchEvent| match ev {
        WatchEvent::Changed { path, .. } => {
            path == "up.txt" || (mode == WatchMode::Poll && path.is_empty())
        }
        _ => false,
    };
    assert!(
        seen.iter().any(landed),
        "{image} ({mode:?}): the upload staged in .ferry/ lands on its final name, seen: {seen:#?}"
    );
    assert!(
        fs.app(".ferry/new/f").is_file() && fs.app("up.txt").is_file(),
        "{image}: the changes were made"
    );
    eprintln!(
        "{image} ({mode:?}): {} hints, none below .ferry/ or .ferry-tmp-*: {seen:?}",
        seen.len()
    );
    drop(w);
    drop(s);
    let left = fs.wait_no_processes(Duration::from_secs(5)).await;
    assert!(left.is_empty(), "{image}: left behind {left:?}");
}

#[tokio::test]
async fn remote_watch_leaves_out_ferrys_own_folder_inotify() {
    if skip() {
        return;
    }
    ferry_state_is_not_reported("debian:inotify", WatchMode::Inotify).await;
}

#[tokio::test]
async fn remote_watch_leaves_out_ferrys_own_folder_poll() {
    if skip() {
        return;
    }
    ferry_state_is_not_reported("busybox", WatchMode::Poll).await;
    ferry_state_is_not_reported("debian", WatchMode::Poll).await;
}
