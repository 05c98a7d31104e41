//! The watcher processes: `watch_inotify.sh` (inotifywait's `E EVENTS ./PATH` lines for
//! every change of the file system below the root, whoever made it — the container's own
//! processes through the test API, or ferry's sessions — and its guard's `TOKEN alive`
//! every 5 s) and `watch_poll.sh` (`find -newer`
//! a marker every interval, `TOKEN tick`, `TOKEN rescan`).

use std::time::Duration;

use tokio::sync::mpsc;

use super::fs::{Cred, Kind};
use super::profile::Flavor;
use super::shell::{cat, Io};
use super::{FakeContainer, Stop, Tap};

/// What an inotify watcher's subscription delivers.
#[derive(Debug)]
pub(crate) enum TapMsg {
    /// A line to print.
    Line(Vec<u8>),
    /// The watched root is gone: inotifywait ends.
    Ended,
}

/// How often the inotify watcher's guard prints `TOKEN alive` (`watch_inotify.sh`).
pub(crate) const ALIVE_EVERY: Duration = Duration::from_secs(5);

fn exit(code: i32, cleanup: bool) -> Stop {
    Stop::Exit { code, cleanup }
}

/// `sh -c watch_inotify.sh ferry-watch ROOT TOKEN`.
pub(crate) async fn run_inotify(
    c: &FakeContainer,
    pid: u32,
    argv: Vec<String>,
    mut io: Io,
) -> Stop {
    let root = argv.get(4).cloned().unwrap_or_default();
    let tok = argv.get(5).cloned().unwrap_or_default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let setup = {
        let mut st = c.lock();
        let cred = st.profile.user;
        let canon = st.fs.canonical(root.as_bytes(), cred).ok().filter(|p| {
            st.fs.stat(p, cred).is_ok_and(|s| s.kind == Kind::Dir) && st.fs.may_search(p, cred)
        });
        match canon {
            None => None,
            Some(canon) => {
                let present = st.profile.inotifywait;
                if present {
                    st.taps.push(Tap {
                        pid,
                        root: canon,
                        tx,
                    });
                }
                Some((present, st.profile.flavor))
            }
        }
    };
    let Some((present, flavor)) = setup else {
        io.write(format!("{tok} failed cannot enter the sync folder\n").as_bytes())
            .await;
        return exit(2, false);
    };
    if !present {
        let msg = match flavor {
            Flavor::Busybox => "ferry-watch: inotifywait: not found\n",
            Flavor::Gnu => "ferry-watch: 1: inotifywait: not found\n",
        };
        io.write(msg.as_bytes()).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        io.write(format!("{tok} failed inotifywait ended\n").as_bytes())
            .await;
        io.drain().await;
        return exit(0, true);
    }
    io.write(b"Setting up watches.  Beware: since -r was given, this may take a while!\nWatches established.\n")
        .await;
    // The guard: `sleep 1` five times, then `TOKEN alive` (every 5 s from the start,
    // on tokio's clock).
    let mut beat = tokio::time::interval(ALIVE_EVERY);
    beat.tick().await;
    let mut ended = false;
    loop {
        tokio::select! {
            line = io.read_line() => {
                if line.is_none() {
                    return exit(0, true);
                }
            }
            msg = rx.recv(), if !ended => match msg {
                Some(TapMsg::Line(mut l)) => {
                    l.push(b'\n');
                    io.write(&l).await;
                }
                Some(TapMsg::Ended) | None => {
                    ended = true;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    io.write(format!("{tok} failed inotifywait ended\n").as_bytes()).await;
                }
            },
            _ = beat.tick(), if !ended => {
                io.write(format!("{tok} alive\n").as_bytes()).await;
            }
        }
    }
}

/// `sh -c watch_poll.sh ferry-watch ROOT INTERVAL LAG FULL TOKEN STATE_PARENT`.
pub(crate) async fn run_poll(c: &FakeContainer, pid: u32, argv: Vec<String>, mut io: Io) -> Stop {
    let arg = |i: usize| argv.get(i).cloned().unwrap_or_default();
    let (root, iv, lag, full, tok, parent) = (arg(4), arg(5), arg(6), arg(7), arg(8), arg(9));
    let interval = Duration::from_secs_f64(iv.parse::<f64>().unwrap_or(1.0).max(0.001));
    let lag: usize = lag.parse().unwrap_or(2);
    let full: u64 = full.parse().unwrap_or(60).max(1);
    let k = lag + 1;
    let setup = (|| {
        let mut st = c.lock();
        let now = st.clock.now();
        st.fs.set_now(now);
        let cred = st.profile.user;
        let umask = st.profile.umask;
        let seconds = st.profile.flavor == Flavor::Busybox;
        let candidates: Vec<String> = [
            Some(parent),
            st.profile.tmpdir.clone(),
            Some("/tmp".into()),
            Some("/var/tmp".into()),
            st.profile.home.clone(),
            Some(root.clone()),
        ]
        .into_iter()
        .flatten()
        .filter(|d| !d.is_empty())
        .collect();
        let mut made = None;
        for d in candidates {
            if !st
                .fs
                .stat(d.as_bytes(), cred)
                .is_ok_and(|s| s.kind == Kind::Dir)
            {
                continue;
            }
            let p = format!("{d}/.ferry-tmp-{pid}-w").into_bytes();
            if st.fs.mkdir(&p, 0o777 & !umask, cred).is_ok() {
                made = Some(p);
                break;
            }
        }
        let st_dir = made?;
        st.set_cleanup(pid, vec![st_dir.clone()]);
        let canon = st.fs.canonical(root.as_bytes(), cred).ok().filter(|p| {
            st.fs.stat(p, cred).is_ok_and(|s| s.kind == Kind::Dir) && st.fs.may_search(p, cred)
        });
        if canon.is_some() {
            for i in 0..k {
                let _ = st.fs.write(
                    &cat(&[&st_dir, format!("/m{i}").as_bytes()]),
                    Vec::new(),
                    0o644,
                    cred,
                );
            }
        }
        st.flush();
        Some((st_dir, canon, cred, seconds))
    })();
    let Some((st_dir, canon, cred, seconds)) = setup else {
        io.write(format!("{tok} failed no writable folder for the watcher state\n").as_bytes())
            .await;
        return exit(2, false);
    };
    let Some(canon) = canon else {
        io.write(format!("{tok} failed cannot enter the sync folder\n").as_bytes())
            .await;
        return exit(2, true);
    };
    // "Changes within the markers' second would not be newer for busybox find."
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        l = io.read_line() => if l.is_none() { return exit(0, true) },
    }
    io.write(format!("{tok} ready\n").as_bytes()).await;
    let mut i: u64 = 0;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            l = io.read_line() => if l.is_none() { return exit(0, true) },
        }
        i += 1;
        let out = {
            let mut st = c.lock();
            let now = st.clock.now();
            st.fs.set_now(now);
            let m_new = cat(&[&st_dir, format!("/m{}", i % k as u64).as_bytes()]);
            let _ = st.fs.write(&m_new, Vec::new(), 0o644, cred);
            let m_old = cat(&[&st_dir, format!("/m{}", (i + 1) % k as u64).as_bytes()]);
            let since = st.fs.stat(&m_old, cred).map(|s| s.mtime).ok();
            let mut out = Vec::new();
            if let Some(since) = since {
                newer(&st.fs, cred, &canon, b".", since, seconds, &mut out);
            }
            st.flush();
            out
        };
        let mut text = out;
        text.extend_from_slice(format!("{tok} tick\n").as_bytes());
        if i.is_multiple_of(full) {
            text.extend_from_slice(format!("{tok} rescan\n").as_bytes());
        }
        io.write(&text).await;
    }
}

/// Whether `rel` (relative to the watched root, no `./`) is at or below one of ferry's own
/// folders there, which both watchers leave out: `.ferry` (the marker and fallback
/// staging folder) and `.ferry-tmp-*`.
pub(crate) fn is_ferry_own(rel: &[u8]) -> bool {
    rel == b".ferry" || rel.starts_with(b".ferry/") || rel.starts_with(b".ferry-tmp-")
}

/// `find . -path './.ferry-tmp-*' -prune -o -path ./.ferry -prune -o -newer M -print`
/// (busybox compares whole seconds, GNU the full time).
fn newer(
    fs: &super::FakeFs,
    cred: Cred,
    abs: &[u8],
    shown: &[u8],
    since: crate::remote::Mtime,
    seconds: bool,
    out: &mut Vec<u8>,
) {
    if shown.strip_prefix(b"./").is_some_and(is_ferry_own) {
        return;
    }
    let Ok(s) = fs.lstat(abs, cred) else {
        return;
    };
    let is_newer = if seconds {
        s.mtime.secs > since.secs
    } else {
        s.mtime > since
    };
    if is_newer {
        out.extend_from_slice(shown);
        out.push(b'\n');
    }
    if s.kind != Kind::Dir {
        return;
    }
    if let Ok(children) = fs.readdir(abs, cred) {
        for (name, _) in children {
            newer(
                fs,
                cred,
                &cat(&[abs, b"/", &name]),
                &cat(&[shown, b"/", &name]),
                since,
                seconds,
                out,
            );
        }
    }
}
