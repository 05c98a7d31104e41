//! `ferry lsp`: the editor backend, a Language Server on stdio (see docs/protocol.md for
//! every method, notification, command and payload).
//!
//! Built on `tower-lsp-server`, the maintained community fork of `tower-lsp` (whose last
//! release is from 2023): native async traits, `ls-types` with proper URIs, and helpers
//! for server-initiated progress.
//!
//! | module | job |
//! |---|---|
//! | `backend` | the `LanguageServer` handlers: thin, they only send events |
//! | `controller` | one task owning the folders' syncs and everything sent to the client (`ferry/status`, progress, diagnostics, commands) |
//! | `progress` | one initial sync's work-done progress (create, begin, reports, end) |
//! | `settings` | `initializationOptions` and `workspace/configuration` |
//! | `uri` | `file://` URIs ↔ paths |
//!
//! Invariant: nothing but JSON-RPC is written to stdout — logs go to stderr and to
//! `.ferry/sync.log`.

mod backend;
mod conflicts;
mod controller;
mod progress;
mod settings;
mod uri;

use tokio::sync::mpsc;
use tower_lsp_server::{LspService, Server};
use tracing_subscriber::filter::LevelFilter;

pub use settings::Settings;

/// The commands `ferry lsp` executes (`workspace/executeCommand`).
pub const COMMANDS: [&str; 11] = [
    "ferry.server.start",
    "ferry.server.stop",
    "ferry.server.restart",
    "ferry.server.resync",
    "ferry.server.status",
    "ferry.server.list",
    "ferry.server.doctor",
    "ferry.server.log",
    "ferry.server.conflicts",
    "ferry.server.resolve",
    "ferry.server.containerVersion",
];

/// Serves LSP on stdin/stdout until `exit`; `stderr_level` is the log level on stderr.
pub async fn serve(stderr_level: LevelFilter) {
    let (logs, level) = crate::logging::init_lsp(stderr_level);
    let (tx, rx) = mpsc::unbounded_channel();
    let (service, socket) = LspService::build(move |client| {
        let controller = controller::Controller::new(client, tx.clone(), logs.clone(), level);
        tokio::spawn(controller.run(rx));
        backend::Backend { events: tx }
    })
    // Not a method of tower-lsp-server's `LanguageServer` (yet).
    .custom_method(
        "window/workDoneProgress/cancel",
        backend::Backend::work_done_progress_cancel,
    )
    .finish();
    Server::new(tokio::io::stdin(), tokio::io::stdout(), socket)
        .serve(service)
        .await;
}
