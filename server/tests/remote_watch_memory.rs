//! A watcher that prints an endless line (no newline, ever) must not grow ferry's
//! memory: ferry holds at most 64 KiB of a line, reports the watcher as broken and lets
//! the engine restart it. Measured twice: by the growth of this process's peak resident
//! memory (VmHWM; alone in its test binary, so it measures this case only), and by
//! running the same case in a child under an address-space limit (`prlimit --as`) far
//! smaller than what the watcher prints, which reading the line whole could not survive.

mod remote_support;

use std::time::{Duration, Instant};

use ferry::remote::{RemoteWatcher, WatchEvent, WatchMode, WatchOptions, MAX_LINE};
use remote_support::{skip, Rootfs, ROOT};

/// The peak resident memory of this process, in KiB.
fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

/// What the fake `inotifywait` prints: 256 MiB without a newline.
const PRINTED_MIB: u64 = 256;
/// How much ferry's peak memory may grow meanwhile.
const GROWTH_LIMIT_MIB: u64 = 16;

/// The child's address-space limit: smaller than what the watcher prints.
const AS_LIMIT: u64 = 256 << 20;
/// Set in the child's environment.
const CHILD: &str = "FERRY_REMOTE_WATCH_MEMORY_CHILD";

#[tokio::test]
async fn remote_watch_endless_line_does_not_grow_memory() {
    if skip() {
        return;
    }
    endless_line().await;
}

#[test]
fn remote_watch_endless_line_under_prlimit() {
    if skip() {
        return;
    }
    let name = "remote_watch_child_endless_line";
    let out = remote_support::under_prlimit(name, AS_LIMIT, CHILD);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}\n{stderr}");
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "the child under --as={AS_LIMIT} failed ({}): {stderr}",
        out.status
    );
    assert!(stderr.contains("an endless line"), "{stderr}");
}

/// Run only by [`remote_watch_endless_line_under_prlimit`], under the limit.
#[tokio::test]
#[ignore = "run under prlimit by remote_watch_endless_line_under_prlimit"]
async fn remote_watch_child_endless_line() {
    assert!(
        std::env::var_os(CHILD).is_some(),
        "this test runs only under prlimit, from remote_watch_endless_line_under_prlimit"
    );
    // The limit is in force: the line the watcher prints could not be held whole.
    assert!(
        Vec::<u8>::new()
            .try_reserve((PRINTED_MIB << 20) as usize)
            .is_err(),
        "the limit is not in force"
    );
    endless_line().await;
}

/// The case: a fake `inotifywait` prints one endless line; the watcher must report it
/// stopped (line too long) without its memory growing, and leave no process behind.
async fn endless_line() {
    let fs = Rootfs::new("debian:inotify");
    // An `inotifywait` that says it is ready, then prints one endless line.
    std::fs::write(fs.host("/line"), vec![b'x'; 1 << 20]).unwrap();
    let fake = fs.host("/usr/bin/inotifywait");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\necho 'Watches established.'\ni=0\nwhile [ $i -lt {PRINTED_MIB} ]; do cat /line; i=$((i + 1)); done\nexec sleep 1000\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let s = fs.session().await;
    let before = vm_hwm_kib();
    let opts = WatchOptions {
        mode: WatchMode::Inotify,
        ..Default::default()
    };
    let mut w = RemoteWatcher::start(&fs.shell(), ROOT, s.capabilities(), opts)
        .await
        .unwrap();
    let t = Instant::now();
    let limit = Duration::from_secs(15);
    let why = loop {
        match tokio::time::timeout(limit.saturating_sub(t.elapsed()), w.next()).await {
            Ok(Some(WatchEvent::Stopped(why))) => break Some(why),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break None,
        }
    };
    let grown = vm_hwm_kib().saturating_sub(before) / 1024;
    eprintln!(
        "an endless line (the watcher prints up to {PRINTED_MIB} MiB without a newline): ferry's peak memory grew by {grown} MiB; the watcher said: {why:?}"
    );
    assert!(
        grown < GROWTH_LIMIT_MIB,
        "ferry's peak memory grew by {grown} MiB (limit {GROWTH_LIMIT_MIB} MiB) while the watcher printed an endless line"
    );
    let why = why.unwrap_or_else(|| panic!("no Stopped within {limit:?} for an endless line"));
    assert!(
        why.contains(&format!("longer than {} KiB", MAX_LINE / 1024)),
        "{why}"
    );
    drop(w);
    drop(s);
    let left = fs.wait_no_processes(Duration::from_secs(5)).await;
    assert!(left.is_empty(), "left behind {left:?}");
}
