//! The sync log: `tracing` events go to `.ferry/sync.log` (like the seed's `sync.log`) and,
//! at a quieter level, to stderr — never to stdout, which belongs to the command's output
//! (and to JSON-RPC under `ferry lsp`).
//!
//! Levels: `FERRY_LOG` (an `EnvFilter` directive such as `debug` or `ferry=trace`)
//! overrides the file's level; the stderr level comes from the command line.

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Mutex;

use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// The log file of a workspace's state folder.
pub fn log_file(state_dir: &Path) -> std::path::PathBuf {
    state_dir.join("sync.log")
}

/// Installs the global subscriber: `file` (appended to) at `file_level` unless
/// `FERRY_LOG` says otherwise, and stderr at `stderr_level`. Only ferry's own events
/// reach stderr below `warn`.
pub fn init(file: Option<&Path>, file_level: LevelFilter, stderr_level: LevelFilter) {
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .with_filter(
            EnvFilter::builder()
                .with_default_directive(LevelFilter::WARN.into())
                .parse_lossy(format!("warn,ferry={stderr_level}")),
        );
    let file_layer = file.and_then(|path| {
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()?;
        let filter = match std::env::var("FERRY_LOG") {
            Ok(d) if !d.is_empty() => EnvFilter::builder().parse_lossy(d),
            _ => EnvFilter::builder()
                .with_default_directive(LevelFilter::WARN.into())
                .parse_lossy(format!("warn,ferry={file_level}")),
        };
        Some(
            tracing_subscriber::fmt::layer()
                .with_writer(Mutex::new(f))
                .with_ansi(false)
                .with_filter(filter),
        )
    });
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file_layer)
        .try_init();
}

/// A log file chosen after start-up (`ferry lsp` learns its workspace folders only with
/// `initialize`): events are dropped until [`LateFile::set`] is called.
#[derive(Clone, Default)]
pub struct LateFile(std::sync::Arc<Mutex<Option<std::fs::File>>>);

impl LateFile {
    /// Appends from now on to `path` (created if missing).
    pub fn set(&self, path: &Path) -> std::io::Result<()> {
        let f = OpenOptions::new().create(true).append(true).open(path)?;
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(f);
        Ok(())
    }
}

/// The writer of one event for [`LateFile`].
pub struct LateWriter(std::sync::Arc<Mutex<Option<std::fs::File>>>);

impl std::io::Write for LateWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            Some(f) => f.write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.0.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LateFile {
    type Writer = LateWriter;
    fn make_writer(&'a self) -> LateWriter {
        LateWriter(self.0.clone())
    }
}

/// Changes the stderr log level of `ferry lsp` while it runs (the `logLevel` setting).
#[derive(Clone)]
pub struct StderrLevel(std::sync::Arc<dyn Fn(LevelFilter) + Send + Sync>);

impl StderrLevel {
    /// Sets ferry's stderr level (dependencies stay at `warn`).
    pub fn set(&self, level: LevelFilter) {
        (self.0)(level)
    }
}

fn stderr_filter(level: LevelFilter) -> EnvFilter {
    EnvFilter::builder()
        .with_default_directive(LevelFilter::WARN.into())
        .parse_lossy(format!("warn,ferry={level}"))
}

/// The subscriber of `ferry lsp`: stderr at `stderr_level` unless `FERRY_LOG` is set
/// (never stdout, which carries JSON-RPC), and the returned [`LateFile`] at `info` (or
/// `FERRY_LOG`).
pub fn init_lsp(stderr_level: LevelFilter) -> (LateFile, StderrLevel) {
    let late = LateFile::default();
    let initial = match std::env::var("FERRY_LOG") {
        Ok(d) if !d.is_empty() => EnvFilter::builder().parse_lossy(d),
        _ => stderr_filter(stderr_level),
    };
    let (filter, handle) = tracing_subscriber::reload::Layer::new(initial);
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .with_filter(filter);
    let file_filter = match std::env::var("FERRY_LOG") {
        Ok(d) if !d.is_empty() => EnvFilter::builder().parse_lossy(d),
        _ => EnvFilter::builder()
            .with_default_directive(LevelFilter::WARN.into())
            .parse_lossy("warn,ferry=info"),
    };
    let file = tracing_subscriber::fmt::layer()
        .with_writer(late.clone())
        .with_ansi(false)
        .with_filter(file_filter);
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .try_init();
    let level = StderrLevel(std::sync::Arc::new(move |l| {
        let _ = handle.modify(|f| *f = stderr_filter(l));
    }));
    (late, level)
}
