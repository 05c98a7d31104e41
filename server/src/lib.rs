//! ferry: client-only, bidirectional file sync between editor workspaces and Kubernetes
//! containers, shipped as an editor backend (`ferry lsp`).
//!
//! The sync engine and the LSP server are built on top of the local test cluster
//! (`tests/cluster`); see ARCHITECTURE.md for the planned module map.

pub mod cli;
pub mod config;
pub mod core;
pub mod doctor;
pub mod engine;
pub mod exec;
pub mod local;
pub mod logging;
pub mod lsp;
pub mod remote;
pub mod state;
pub mod target;

/// The version of this build, as `ferry --version` prints it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
