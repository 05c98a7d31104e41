//! `ferry sync [--once]`.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tracing_subscriber::filter::LevelFilter;

use super::{Common, EXIT_CONFIG, EXIT_FAILED, EXIT_LOCKED};
use crate::config::Config;
use crate::engine::workspace::{OpenError, Workspace, WorkspaceOptions};
use crate::engine::ProblemKind;
use crate::engine::{EngineOptions, Notice, StatusHub, SyncTask};
use crate::target::KubeOverrides;

pub(super) async fn run(
    common: &Common,
    kube: KubeOverrides,
    once: bool,
    log_level: &str,
) -> ExitCode {
    let (level, cfg) = match load_for_sync(common, log_level) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let command = if once {
        "ferry sync --once"
    } else {
        "ferry sync"
    };
    let options = WorkspaceOptions {
        kube,
        ..WorkspaceOptions::default()
    };
    let mut ws = match Workspace::open(&common.workspace(), command, options) {
        Ok(ws) => ws,
        Err(e @ OpenError::Locked(_)) => {
            eprintln!("ferry: {e}");
            return ExitCode::from(EXIT_LOCKED);
        }
        Err(e) => {
            eprintln!("ferry: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    crate::logging::init(
        Some(&crate::logging::log_file(ws.state_dir())),
        LevelFilter::INFO,
        level,
    );
    tracing::info!(
        "{command} started: {} sync paths from {}",
        cfg.sync.len(),
        cfg.file.display()
    );
    let printer = tokio::spawn(print_notices(ws.hub().notices()));
    if let Some(e) = ws.start(cfg.sync, once).into_iter().next() {
        eprintln!("ferry: {}", e.error);
        ws.stop(Duration::from_secs(5)).await;
        return ExitCode::from(EXIT_CONFIG);
    }
    let stopper = ws.stopper();
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let sigterm = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = sigterm => {}
        }
        stopper.stop();
        // The sync stops at the next batch boundary (its index is saved there); a second
        // Ctrl-C does not wait for that.
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("ferry: stopped at once (a second Ctrl-C); the index holds what completed");
            std::process::exit(130);
        }
    });
    let finished = ws.finish().await;
    // The printer ends once it has shown the last notices (the hub is gone).
    let _ = tokio::time::timeout(Duration::from_secs(1), printer).await;
    let mut failed = false;
    let mut problems = Vec::new();
    for (_, summary) in finished.summaries {
        match summary {
            Some(summary) => {
                // Stopped before the initial sync finished: not a success for --once.
                failed |= once && summary.interrupted;
                problems.extend(summary.problems)
            }
            None => failed = true,
        }
    }
    let errors = problems
        .iter()
        .filter(|p| p.kind == ProblemKind::Error)
        .count();
    for p in &problems {
        eprintln!("ferry: {} ({}): {}", p.path, p.kind, p.message);
    }
    tracing::info!("{command} ended");
    if failed || (once && errors > 0) {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

/// `ferry sync --dry-run`: plans every sync path's initial sync against read-only
/// sessions and prints the plans. Writes nothing: not in the container, not in the
/// workspace (no `.ferry/` folder, lock, index, status or log file).
pub(super) async fn dry_run(common: &Common, kube: KubeOverrides, log_level: &str) -> ExitCode {
    let (level, cfg) = match load_for_sync(common, log_level) {
        Ok(v) => v,
        Err(code) => return code,
    };
    crate::logging::init(None, LevelFilter::OFF, level);
    let state_dir = crate::engine::task::state_dir_of(&common.workspace());
    let hub = StatusHub::new();
    let mut opts = EngineOptions::new(state_dir);
    opts.kube = kube;
    opts.dry_run = true;
    let opts = Arc::new(opts);
    let (_stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    for (slot, sync) in cfg.sync.into_iter().enumerate() {
        let name = sync.name.clone();
        match SyncTask::new(slot, sync, opts.clone(), hub.clone()) {
            Ok(task) => tasks.push((name, tokio::spawn(task.run(true, stop_rx.clone())))),
            Err(e) => {
                eprintln!("ferry: {e}");
                return ExitCode::from(EXIT_CONFIG);
            }
        }
    }
    let mut failed = false;
    let mut out = std::io::stdout().lock();
    for (name, handle) in tasks {
        match handle.await {
            Ok(Ok(summary)) => {
                for line in &summary.dry_run {
                    let _ = writeln!(out, "[{name}] {line}");
                }
            }
            Ok(Err(e)) => {
                eprintln!("ferry: [{name}] {e}");
                failed = true;
            }
            Err(e) => {
                eprintln!("ferry: [{name}] {e}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

/// Prints the engine's notices: one line per batch; a progress bar for the initial
/// sync on a terminal.
async fn print_notices(mut rx: broadcast::Receiver<Notice>) {
    let tty = std::io::stdout().is_terminal();
    let mut bar_open = false;
    loop {
        let n = match rx.recv().await {
            Ok(n) => n,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let mut out = std::io::stdout().lock();
        match n {
            Notice::Progress {
                name, done, total, ..
            } => {
                if tty {
                    let width = 30u64;
                    let filled = (done * width).checked_div(total).unwrap_or(width);
                    let _ = write!(
                        out,
                        "\r[{name}] initial sync [{}{}] {done}/{total}",
                        "#".repeat(filled as usize),
                        " ".repeat((width - filled) as usize)
                    );
                    bar_open = done < total;
                    if !bar_open {
                        let _ = writeln!(out);
                    }
                } else if done == total {
                    let _ = writeln!(out, "[{name}] initial sync: {done}/{total} files");
                }
            }
            Notice::Batch { name, text } | Notice::Message { name, text, .. } => {
                if bar_open {
                    let _ = writeln!(out);
                    bar_open = false;
                }
                let _ = writeln!(out, "[{name}] {text}");
            }
        }
        let _ = out.flush();
    }
}

/// What `ferry sync` and its dry run both start from: the log level and a config with at
/// least one sync path; prints why not and returns the exit code otherwise.
fn load_for_sync(common: &Common, log_level: &str) -> Result<(LevelFilter, Config), ExitCode> {
    let Ok(level) = LevelFilter::from_str(log_level) else {
        eprintln!("ferry: --log-level must be one of off, error, warn, info, debug, trace");
        return Err(ExitCode::from(EXIT_CONFIG));
    };
    let cfg = common.load()?;
    if cfg.sync.is_empty() {
        eprintln!(
            "ferry: {} configures no sync paths; nothing to do",
            cfg.file.display()
        );
        return Err(ExitCode::from(EXIT_CONFIG));
    }
    Ok((level, cfg))
}
