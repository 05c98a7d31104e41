//! Remote change detection: [`RemoteWatcher`] runs one long-lived watcher process in
//! the container (its own exec stream, so its events never mix with command replies)
//! and turns its output into [`WatchEvent`]s.
//!
//! - With `inotifywait` (see [`super::Capabilities::inotifywait`]): `inotifywait -m -r`
//!   on the sync folder; events arrive as they happen.
//! - Otherwise, polling: every interval (1 s by default) `find . -newer MARKER` prints
//!   what changed since a marker file made in a private state folder (`$TMPDIR`,
//!   `/tmp`, `/var/tmp`, `$HOME`, else the sync folder's `.ferry-tmp-PID-w`) a little
//!   earlier. A file created, deleted or renamed changes its folder's mtime, so the
//!   folder shows up and deletions are caught without a full scan. One walk without a
//!   `stat` process per file costs a few milliseconds per thousand files. Every
//!   `full_scan_every` ticks a [`WatchEvent::Rescan`] asks the engine for a full
//!   listing, as a safety net.
//!
//! Events are hints: the engine re-lists each changed path through its
//! [`super::Session`] (hostile names are handled there) and compares with its index.
//! A name with a newline can split into bogus hints, which the re-listing resolves.
//! Control lines carry a random token from ferry, so no file name can forge them.
//!
//! Liveness: a running watcher must show a sign of life at least every
//! [`WatchOptions::silence_limit`] (15 s): the poller prints `TOKEN tick` after every
//! walk, the inotify watcher's guard `TOKEN alive` every 5 s. A watcher that stays
//! silent longer (frozen, or its connection stalled without closing) is reported as
//! [`WatchEvent::Stopped`], and so is one that prints a line longer than [`MAX_LINE`]
//! (broken or hostile; ferry never holds more than that of one line): the engine then
//! starts a new one.
//!
//! Lifetime: every process of a watcher ends when its stream ends (clean stop, dropped
//! stream, ferry killed) or its shell is killed, without relying on SIGTERM, which a
//! process may have inherited as ignored: the scripts end their helpers with SIGKILL.
//! The poller's loop checks every tick that its shell still lives (`kill -0`); the
//! inotify watcher has a reader (the only process reading the stream), a guard (checks
//! the shell every second) and the shell itself (waiting on `inotifywait`, so a dead
//! one is reaped and reported at once), each of which ends the others. See the scripts.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

use super::caps::Capabilities;
use super::error::SessionError;
use super::scripts;
use super::session::drain_stderr;
use super::transport::{self, BoxFuture, ExitStatus, Launcher, Stdin};

/// The longest line a watcher may print (an event names one path, at most `PATH_MAX`,
/// 4 KiB on Linux); a longer one stops the watcher as broken.
pub const MAX_LINE: usize = 64 * 1024;

/// How long a running watcher may go without a sign of life by default.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(15);

/// Which mechanism to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WatchMode {
    /// inotify when the container has `inotifywait`, else polling.
    #[default]
    Auto,
    /// `inotifywait -m -r` (fails to start without it).
    Inotify,
    /// Polling with `find -newer`.
    Poll,
}

/// Settings of a watcher.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// The mechanism.
    pub mode: WatchMode,
    /// Polling interval (rounded up to whole seconds when the container's `sleep`
    /// takes no fractions; at least 0.1 s).
    pub interval: Duration,
    /// Polling: ask for a full listing every this many ticks.
    pub full_scan_every: u32,
    /// How long to wait for the watcher to be ready (inotify sets up one watch per
    /// folder first).
    pub ready_timeout: Duration,
    /// A folder in the container for the poller's markers (see
    /// [`super::SessionOptions::state_parent`]).
    pub state_parent: Option<String>,
    /// A ready watcher that prints nothing (no event, no `tick`, no `alive`) for this
    /// long is reported as [`WatchEvent::Stopped`]. For polling, at least three
    /// intervals are allowed.
    pub silence_limit: Duration,
}

impl Default for WatchOptions {
    fn default() -> WatchOptions {
        WatchOptions {
            mode: WatchMode::Auto,
            interval: Duration::from_secs(1),
            full_scan_every: 60,
            ready_timeout: Duration::from_secs(60),
            state_parent: None,
            silence_limit: SILENCE_LIMIT,
        }
    }
}

/// Something the watcher noticed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// Something at or directly below `path` (relative to the root; empty for the root
    /// itself) changed: re-list it. `dir` is true when the watcher knows it is a folder
    /// (list it recursively: it may have been moved in whole).
    Changed {
        /// The path as the container printed it, without the leading `./`.
        path: String,
        /// Known to be a folder.
        dir: bool,
    },
    /// List everything (periodic safety net, or inotify's queue overflowed).
    Rescan,
    /// A message from the watcher worth logging (e.g. an inotifywait warning).
    Warning(String),
    /// The watcher stopped (inotifywait ended, the folder vanished, the stream
    /// dropped, no sign of life for the silence limit, a line longer than
    /// [`MAX_LINE`]); start a new one, or fall back to polling.
    Stopped(String),
}

/// The mechanism a running watcher uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActiveMode {
    /// `inotifywait`.
    Inotify,
    /// Polling every `interval`.
    Poll {
        /// The effective interval.
        interval: Duration,
    },
}

/// A running watcher. Dropping it closes its stream; the container side then exits.
pub struct RemoteWatcher {
    events: mpsc::Receiver<WatchEvent>,
    mode: ActiveMode,
    stdin: Stdin,
    stdin_close: bool,
    status: Option<BoxFuture<'static, ExitStatus>>,
    _keep: Option<Box<dyn std::any::Any + Send>>,
}

impl std::fmt::Debug for RemoteWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteWatcher")
            .field("mode", &self.mode)
            .finish()
    }
}

fn token() -> String {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.write_u32(std::process::id());
    format!("ferry{:016x}", h.finish())
}

impl RemoteWatcher {
    /// Starts a watcher for `root` through `launcher` and waits until it is ready
    /// (inotify watches established, or poll markers laid). `caps` come from a
    /// [`super::Session`] on the same container.
    pub async fn start(
        launcher: &dyn Launcher,
        root: &str,
        caps: &Capabilities,
        opts: WatchOptions,
    ) -> Result<RemoteWatcher, SessionError> {
        let inotify = match opts.mode {
            WatchMode::Auto => caps.inotifywait,
            WatchMode::Inotify if !caps.inotifywait => {
                return Err(SessionError::Unsupported {
                    operation: "watching with inotify",
                    why: "the container has no inotifywait (inotify-tools); use polling",
                })
            }
            WatchMode::Inotify => true,
            WatchMode::Poll => false,
        };
        if !inotify && !caps.find_newer {
            return Err(SessionError::Unsupported {
                operation: "polling for remote changes",
                why:
                    "the container's find has no -newer; only full listings can find remote changes",
            });
        }
        let tok = token();
        let mut interval = opts.interval.max(Duration::from_millis(100));
        if !caps.sleep_fraction {
            interval = Duration::from_secs(interval.as_secs_f64().ceil() as u64);
        }
        let silence = if inotify {
            opts.silence_limit
        } else {
            opts.silence_limit.max(interval * 3)
        };
        let (argv, mode) = if inotify {
            (
                scripts::argv(scripts::watch_inotify(), "ferry-watch", &[root, &tok]),
                ActiveMode::Inotify,
            )
        } else {
            let secs = interval.as_secs_f64();
            let lag = ((1.0 / secs).ceil() as u64 + 1).max(2);
            let iv = format!("{secs:.3}");
            let iv = iv.trim_end_matches('0').trim_end_matches('.').to_string();
            let full = opts.full_scan_every.max(1).to_string();
            let state = opts.state_parent.clone().unwrap_or_default();
            (
                scripts::argv(
                    scripts::watch_poll(),
                    "ferry-watch",
                    &[root, &iv, &lag.to_string(), &full, &tok, &state],
                ),
                ActiveMode::Poll { interval },
            )
        };
        let mut p = launcher.launch(argv).await?;
        let (Some(stdin), Some(stdout)) = (p.take_stdin(), p.take_stdout()) else {
            return Err(SessionError::Setup {
                message: "the transport gave no stdin or stdout".into(),
            });
        };
        let stderr = drain_stderr(p.take_stderr());
        let keep = p.take_keep_alive();
        let (tx, mut rx) = mpsc::channel(4096);
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Result<(), String>>();
        crate::logging::spawn_scoped(read_events(
            BufReader::new(stdout),
            tok,
            inotify,
            silence,
            tx,
            ready_tx,
            stderr,
        ));
        match tokio::time::timeout(opts.ready_timeout, ready_rx).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(message))) => return Err(SessionError::Setup { message }),
            Ok(Err(_)) => {
                let mut why = String::from("the watcher ended before it was ready");
                while let Ok(WatchEvent::Stopped(m) | WatchEvent::Warning(m)) = rx.try_recv() {
                    why = format!("{why}: {m}");
                }
                return Err(SessionError::Setup { message: why });
            }
            Err(_) => {
                return Err(SessionError::Timeout {
                    during: "the watcher start".into(),
                    after: opts.ready_timeout,
                })
            }
        }
        Ok(RemoteWatcher {
            events: rx,
            mode,
            stdin,
            stdin_close: p.supports_stdin_close(),
            status: p.take_status(),
            _keep: keep,
        })
    }

    /// Stops the watcher: closes its stdin where the stream can (exec v5; elsewhere
    /// dropping the stream does it) and waits up to two seconds for it to exit.
    pub async fn stop(mut self) -> ExitStatus {
        transport::close_stdin(&mut self.stdin, self.stdin_close).await;
        let status = self.status.take();
        drop(self);
        match status {
            Some(s) => tokio::time::timeout(Duration::from_secs(2), s)
                .await
                .unwrap_or_default(),
            None => ExitStatus::default(),
        }
    }

    /// The mechanism in use.
    pub fn mode(&self) -> ActiveMode {
        self.mode
    }

    /// The next event; `None` after the watcher has stopped and everything was read.
    pub async fn next(&mut self) -> Option<WatchEvent> {
        self.events.recv().await
    }

    /// An event if one is waiting, without blocking.
    pub fn try_next(&mut self) -> Option<WatchEvent> {
        self.events.try_recv().ok()
    }
}

/// Strips `./` from a path the container printed; `.` is the root (empty).
fn hint_path(p: &str) -> Option<String> {
    if p == "." {
        return Some(String::new());
    }
    p.strip_prefix("./").map(str::to_string)
}

/// How a bounded line read ended.
#[derive(Debug, PartialEq, Eq)]
enum LineEnd {
    /// A line is in the buffer (without its newline; the last one may lack it).
    Line,
    /// End of the stream, nothing read.
    Eof,
    /// More than the limit without a newline; the buffer holds at most the limit.
    TooLong,
}

/// Reads one line into `buf` (cleared first), holding at most `max` bytes of it.
/// Cancel-safe only in the sense that a cancelled read loses its partial line.
async fn read_line_bounded<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<LineEnd> {
    buf.clear();
    loop {
        let avail = r.fill_buf().await?;
        if avail.is_empty() {
            return Ok(if buf.is_empty() {
                LineEnd::Eof
            } else {
                LineEnd::Line
            });
        }
        let (take, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (i, true),
            None => (avail.len(), false),
        };
        if buf.len() + take > max {
            r.consume(take);
            return Ok(LineEnd::TooLong);
        }
        buf.extend_from_slice(&avail[..take]);
        r.consume(if done { take + 1 } else { take });
        if done {
            return Ok(LineEnd::Line);
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn read_events(
    mut out: BufReader<super::transport::Output>,
    tok: String,
    inotify: bool,
    silence: Duration,
    tx: mpsc::Sender<WatchEvent>,
    ready: tokio::sync::oneshot::Sender<Result<(), String>>,
    stderr: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
) {
    let mut ready = Some(ready);
    let mut line = Vec::new();
    let control = format!("{tok} ");
    loop {
        let read = read_line_bounded(&mut out, &mut line, MAX_LINE);
        // Before it is ready, `start`'s ready timeout is the limit (setting up inotify
        // watches on a big tree takes a while).
        let read = if ready.is_some() {
            read.await
        } else {
            match tokio::time::timeout(silence, read).await {
                Ok(r) => r,
                Err(_) => {
                    let why = format!(
                        "no sign of life for {} s (the watcher in the container or its \
                         connection stalled)",
                        silence.as_secs()
                    );
                    let _ = tx.send(WatchEvent::Stopped(why)).await;
                    return;
                }
            }
        };
        match read {
            Ok(LineEnd::Line) => {}
            Ok(LineEnd::Eof) | Err(_) => break,
            Ok(LineEnd::TooLong) => {
                let why = format!(
                    "the watcher printed a line longer than {} KiB (broken, or not ferry's \
                     watcher)",
                    MAX_LINE / 1024
                );
                if let Some(r) = ready.take() {
                    let _ = r.send(Err(why.clone()));
                }
                let _ = tx.send(WatchEvent::Stopped(why)).await;
                return;
            }
        }
        let text = String::from_utf8_lossy(&line).into_owned();
        let ev = if let Some(c) = text.strip_prefix(&control) {
            match c {
                "ready" => {
                    if let Some(r) = ready.take() {
                        let _ = r.send(Ok(()));
                    }
                    None
                }
                "tick" | "alive" => None,
                "rescan" => Some(WatchEvent::Rescan),
                _ => {
                    let why = c.strip_prefix("failed ").unwrap_or(c).to_string();
                    if let Some(r) = ready.take() {
                        let _ = r.send(Err(why.clone()));
                    }
                    Some(WatchEvent::Stopped(why))
                }
            }
        } else if inotify {
            if let Some(rest) = text.strip_prefix("E ") {
                let (events, path) = rest.split_once(' ').unwrap_or((rest, ""));
                if events.contains("Q_OVERFLOW") {
                    Some(WatchEvent::Rescan)
                } else {
                    hint_path(path).map(|path| WatchEvent::Changed {
                        path,
                        dir: events.contains("ISDIR"),
                    })
                }
            } else if text.starts_with("Watches established") {
                if let Some(r) = ready.take() {
                    let _ = r.send(Ok(()));
                }
                None
            } else if text.starts_with("Setting up watches") || text.is_empty() {
                None
            } else {
                Some(WatchEvent::Warning(text))
            }
        } else {
            hint_path(&text).map(|path| WatchEvent::Changed { path, dir: false })
        };
        if let Some(ev) = ev {
            if tx.send(ev).await.is_err() {
                return;
            }
        }
    }
    let tail = String::from_utf8_lossy(&stderr.lock().unwrap_or_else(|e| e.into_inner()))
        .trim()
        .to_string();
    let why = if tail.is_empty() {
        "the watcher's stream ended".to_string()
    } else {
        format!("the watcher's stream ended; it said: {tail}")
    };
    if let Some(r) = ready.take() {
        let _ = r.send(Err(why.clone()));
    }
    let _ = tx.send(WatchEvent::Stopped(why)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], max: usize, cap: usize) -> Vec<(LineEnd, Vec<u8>)> {
        let mut r = BufReader::with_capacity(cap, input);
        let mut out = Vec::new();
        let mut buf = Vec::new();
        loop {
            let end = read_line_bounded(&mut r, &mut buf, max).await.unwrap();
            let stop = end != LineEnd::Line;
            out.push((end, buf.clone()));
            if stop {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn lines_are_bounded() {
        // Lines across buffer refills, a last line without a newline.
        let got = lines(b"ab\ncdefgh\n\nxyz", 8, 3).await;
        assert_eq!(
            got,
            vec![
                (LineEnd::Line, b"ab".to_vec()),
                (LineEnd::Line, b"cdefgh".to_vec()),
                (LineEnd::Line, b"".to_vec()),
                (LineEnd::Line, b"xyz".to_vec()),
                (LineEnd::Eof, b"".to_vec()),
            ]
        );
        // Exactly the limit is fine; one more byte is too long, with or without a
        // newline further on, and never more than the limit is held.
        assert_eq!(lines(b"12345678\n", 8, 4).await[0].0, LineEnd::Line);
        let long = lines(b"123456789\nok\n", 8, 4).await;
        assert_eq!(long[0].0, LineEnd::TooLong);
        assert!(long[0].1.len() <= 8);
        let endless = vec![b'x'; 1 << 20];
        let got = lines(&endless, MAX_LINE, 8192).await;
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, LineEnd::TooLong);
        assert!(got[0].1.len() <= MAX_LINE);
    }
}
