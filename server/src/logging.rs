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
