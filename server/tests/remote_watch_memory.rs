//! A watcher that prints an endless line (no newline, ever) must not grow ferry's
//! memory: ferry holds at most 64 KiB of a line, reports the watcher as broken and lets
//! the engine restart it. Alone in its test binary, so the process's peak resident
//! memory (VmHWM) measures this case only.

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

#[tokio::test]
async fn remote_watch_endless_line_does_not_grow_memory() {
    if skip() {
        return;
    }
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
        "an endless line ({PRINTED_MIB} MiB printed): ferry's peak memory grew by {grown} MiB; the watcher said: {why:?}"
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
