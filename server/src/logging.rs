//! The sync log: `tracing` events go to `.ferry/sync.log` (like the seed's `sync.log`) and,
//! at a quieter level, to stderr — never to stdout, which belongs to the command's output
//! (and to JSON-RPC under `ferry lsp`).
//!
//! Levels: `FERRY_LOG` (an `EnvFilter` directive such as `debug` or `ferry=trace`)
//! overrides the file's level; the stderr level comes from the command line.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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

/// The sync logs of `ferry lsp`: one `.ferry/sync.log` per workspace folder. An event
/// goes to the log of the folder whose [`folder_scope`] it happens in (the folder's
/// sync tasks and what they spawn run in it); an event in no folder's scope (the
/// server's own: `initialized`, a folder added) goes to every open log.
#[derive(Clone, Default)]
pub struct FolderLogs(Arc<Mutex<BTreeMap<PathBuf, Arc<LogFile>>>>);

type LogFile = Mutex<std::fs::File>;

thread_local! {
    /// The log files of the folder scopes entered on this thread, innermost last.
    static CURRENT: RefCell<Vec<Arc<LogFile>>> = const { RefCell::new(Vec::new()) };
}

/// The target of folder scopes (never shown: no filter enables it).
const SCOPE_TARGET: &str = "ferry_folder_scope";

/// The scope of the folder that logs to `log` (a `.ferry/sync.log`): run a folder's work
/// in it (`future.instrument(folder_scope(log))`) so its events go to that log.
pub fn folder_scope(log: &Path) -> tracing::Span {
    tracing::span!(
        target: SCOPE_TARGET,
        tracing::Level::TRACE,
        "folder",
        log = %log.display()
    )
}

impl FolderLogs {
    /// Opens `path` (appending; created if missing) as a folder's log.
    pub fn open(&self, path: &Path) -> std::io::Result<()> {
        let f = OpenOptions::new().create(true).append(true).open(path)?;
        self.files()
            .entry(path.to_path_buf())
            .or_insert_with(|| Arc::new(Mutex::new(f)));
        Ok(())
    }

    /// Closes `path` (its folder went away).
    pub fn close(&self, path: &Path) {
        self.files().remove(path);
    }

    fn files(&self) -> std::sync::MutexGuard<'_, BTreeMap<PathBuf, Arc<LogFile>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Remembers each folder scope's log file and makes it current on the thread that
/// enters the scope.
struct ScopeLayer(FolderLogs);

struct ScopeLog(Arc<LogFile>);

/// Reads the `log` field of a folder scope.
struct LogField(Option<PathBuf>);

impl tracing::field::Visit for LogField {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "log" {
            self.0 = Some(PathBuf::from(format!("{value:?}")));
        }
    }
}

impl<S> Layer<S> for ScopeLayer
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if attrs.metadata().target() != SCOPE_TARGET {
            return;
        }
        let mut field = LogField(None);
        attrs.record(&mut field);
        let Some(path) = field.0 else { return };
        let file = self.0.files().get(&path).cloned();
        if let (Some(file), Some(span)) = (file, ctx.span(id)) {
            span.extensions_mut().insert(ScopeLog(file));
        }
    }

    fn on_enter(&self, id: &tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(log) = span.extensions().get::<ScopeLog>() {
                CURRENT.with(|c| c.borrow_mut().push(log.0.clone()));
            }
        }
    }

    fn on_exit(&self, id: &tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if span.extensions().get::<ScopeLog>().is_some() {
                CURRENT.with(|c| {
                    c.borrow_mut().pop();
                });
            }
        }
    }
}

/// The writer of one event for [`FolderLogs`]: the current folder's log, or every log.
pub struct FolderLogWriter(Vec<Arc<LogFile>>);

impl std::io::Write for FolderLogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for f in &self.0 {
            let _ = f.lock().unwrap_or_else(|e| e.into_inner()).write_all(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        for f in &self.0 {
            let _ = f.lock().unwrap_or_else(|e| e.into_inner()).flush();
        }
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for FolderLogs {
    type Writer = FolderLogWriter;
    fn make_writer(&'a self) -> FolderLogWriter {
        match CURRENT.with(|c| c.borrow().last().cloned()) {
            Some(f) => FolderLogWriter(vec![f]),
            None => FolderLogWriter(self.files().values().cloned().collect()),
        }
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
/// (never stdout, which carries JSON-RPC), and the returned [`FolderLogs`] at `info` (or
/// `FERRY_LOG`).
pub fn init_lsp(stderr_level: LevelFilter) -> (FolderLogs, StderrLevel) {
    let logs = FolderLogs::default();
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
        .with_writer(logs.clone())
        .with_ansi(false)
        .with_filter(file_filter);
    let _ = tracing_subscriber::registry()
        .with(ScopeLayer(logs.clone()))
        .with(stderr)
        .with(file)
        .try_init();
    let level = StderrLevel(std::sync::Arc::new(move |l| {
        let _ = handle.modify(|f| *f = stderr_filter(l));
    }));
    (logs, level)
}

/// `tokio::spawn` in the current log scope: a task a folder's sync starts logs to that
/// folder's log (see [`FolderLogs`]).
pub fn spawn_scoped<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    use tracing::Instrument;
    tokio::spawn(future.in_current_span())
}
