//! The transport-neutral shape of one exec session, as the API server hands it to the
//! exec bridge. The WebSocket (`ws_exec`) and SPDY (`spdy`) front ends both produce an
//! [`ExecStreams`]; the bridge (`exec`) connects it to a process in a container and does
//! not know which wire protocol carried it.

use tokio::sync::{mpsc, oneshot};

/// Data chunks travel as owned byte vectors.
pub type Chunk = Vec<u8>;

/// What the client asked for in the exec request's query (`stdin=true&stdout=true…`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamFlags {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

/// One exec session's streams, already negotiated with the client.
///
/// Invariants the front ends keep:
/// - `stdin` yields the client's stdin bytes in order; the receiver ends (`recv() == None`)
///   when the client closes stdin (v5 close signal, SPDY half-close) or the connection drops.
/// - Sending on `stdout` / `stderr` forwards bytes to the client; a send error means the
///   connection is gone.
/// - `finish` takes the final v1 `Status` (JSON) for the error channel. After it is sent the
///   front end writes it, then closes the connection cleanly.
/// - `dropped` resolves when the connection is gone for any reason (client close, network
///   drop, or [`ExecStreams::abort`] from the control interface).
pub struct ExecStreams {
    /// The negotiated subprotocol, e.g. `v5.channel.k8s.io` or `v4.channel.k8s.io`.
    pub protocol: String,
    /// Which transport carried it: `websocket` or `spdy`.
    pub transport: &'static str,
    pub flags: StreamFlags,
    pub stdin: Option<mpsc::Receiver<Chunk>>,
    pub stdout: Option<mpsc::Sender<Chunk>>,
    pub stderr: Option<mpsc::Sender<Chunk>>,
    pub finish: oneshot::Sender<Vec<u8>>,
    /// Completes when the client side is gone.
    pub dropped: oneshot::Receiver<()>,
    /// Send `()` to tear the connection down at once, without a close handshake
    /// (the control interface's "drop streams").
    pub abort: mpsc::Sender<()>,
}
