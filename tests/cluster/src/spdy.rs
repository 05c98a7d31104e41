//! Kubernetes remotecommand (`kubectl exec`, `kubectl cp`) over SPDY/3.1, server side.
//!
//! kubectl 1.27–1.29 speak only SPDY for exec, and every version falls back to it when the
//! WebSocket upgrade is refused. After the HTTP layer has answered `101 Switching Protocols`
//! (`Upgrade: SPDY/3.1`, `X-Stream-Protocol-Version: <negotiate(..)>`), [`accept_exec`] runs
//! the SPDY session on the upgraded connection: the client opens one stream per channel
//! (header `streamtype: error|stdin|stdout|stderr|resize`), the server answers each with
//! SYN_REPLY, and bytes flow as DATA frames. When the command is done the server writes the
//! final status on the error stream, half-closes its side of every stream and says GOAWAY.
//!
//! The connection itself (frames, streams, flow control) is [`session`], shared with
//! port-forward. On top of it, exec runs:
//! - the *stdin forwarder*, from the stdin stream's inbound DATA to the bridge;
//! - one *pump* per output stream (stdout, stderr) that turns chunks into DATA frames
//!   within the client's flow-control windows;
//! - the *session* task, which waits for `finish` / `abort` / a dead connection and closes.

pub mod frame;
pub mod session;

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::streams::{Chunk, ExecStreams, StreamFlags};
use session::{Conn, Driver, Inbound, Opened};

/// `X-Stream-Protocol-Version` of the oldest protocol (no negotiation header at all).
pub const PROTOCOL_V1: &str = "channel.k8s.io";
pub const PROTOCOL_V2: &str = "v2.channel.k8s.io";
pub const PROTOCOL_V3: &str = "v3.channel.k8s.io";
pub const PROTOCOL_V4: &str = "v4.channel.k8s.io";
pub const PROTOCOL_V5: &str = "v5.channel.k8s.io";

/// The exec subprotocols this server accepts over SPDY, best first. kubectl ≥ 1.29 offers
/// `v5.channel.k8s.io` over SPDY too; there it means exactly v4 (v5's only addition, the
/// stdin close signal, is a WebSocket message — SPDY half-closes the stdin stream).
pub const SPDY_PROTOCOLS: &[&str] = &[
    PROTOCOL_V5,
    PROTOCOL_V4,
    PROTOCOL_V3,
    PROTOCOL_V2,
    PROTOCOL_V1,
];

/// The value of the `Upgrade` header for SPDY, as Kubernetes spells it.
pub const SPDY_UPGRADE: &str = "SPDY/3.1";
/// The header carrying the offered / chosen subprotocol.
pub const PROTOCOL_HEADER: &str = "X-Stream-Protocol-Version";

/// How long the client has to open the streams it asked for (the kubelet's default
/// stream creation timeout).
pub const STREAM_CREATION_TIMEOUT: Duration = Duration::from_secs(30);

/// After the graceful close, how long to wait for the client to hang up.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Given the client's `X-Stream-Protocol-Version` header values, the one to answer with,
/// or `None` if none is supported. Like the kubelet, the client's order decides (clients
/// list best first), and a client that offers nothing gets the legacy `channel.k8s.io`.
/// Values may also be comma-separated lists.
pub fn negotiate(offered: &[&str]) -> Option<&'static str> {
    let mut any = false;
    for value in offered {
        for p in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            any = true;
            if let Some(ours) = SPDY_PROTOCOLS.iter().find(|ours| **ours == p) {
                return Some(ours);
            }
        }
    }
    if any {
        None
    } else {
        Some(PROTOCOL_V1)
    }
}

fn protocol_version(protocol: &str) -> Option<u8> {
    match protocol {
        PROTOCOL_V5 => Some(5),
        PROTOCOL_V4 => Some(4),
        PROTOCOL_V3 => Some(3),
        PROTOCOL_V2 => Some(2),
        PROTOCOL_V1 => Some(1),
        _ => None,
    }
}

/// After the HTTP layer answered 101 Switching Protocols (`Connection: Upgrade`,
/// `Upgrade: SPDY/3.1`, `X-Stream-Protocol-Version: <protocol>`), run the SPDY session on
/// the upgraded connection.
///
/// Waits (up to [`STREAM_CREATION_TIMEOUT`]) for the client to open the streams the request
/// asked for — error, plus stdin / stdout / stderr per `flags`, plus resize when `tty` (v3
/// and later) — then returns the transport-neutral [`ExecStreams`] while spawned tasks keep
/// pumping frames. As with the kubelet, stderr is not used with a tty (`flags.stderr` is
/// cleared in the returned flags). Resize events are read and dropped: [`ExecStreams`] has
/// nowhere to put them.
///
/// Dropping `finish` without sending a status tears the connection down like `abort`.
/// If the connection drops, stdin that already arrived is still handed over before the
/// stdin receiver ends; after `finish` or `abort`, further stdin is discarded.
pub async fn accept_exec<IO: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    io: IO,
    protocol: &'static str,
    flags: StreamFlags,
) -> Result<ExecStreams> {
    accept_exec_with_timeout(io, protocol, flags, STREAM_CREATION_TIMEOUT).await
}

async fn accept_exec_with_timeout<IO: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    io: IO,
    protocol: &'static str,
    flags: StreamFlags,
    creation_timeout: Duration,
) -> Result<ExecStreams> {
    let version = protocol_version(protocol)
        .ok_or_else(|| anyhow!("unsupported SPDY exec protocol {protocol:?}"))?;
    let flags = StreamFlags {
        stderr: flags.stderr && !flags.tty,
        ..flags
    };
    let (conn, driver, mut opened) = session::start(io);

    let mut expected = vec![Kind::Error];
    if flags.stdin {
        expected.push(Kind::Stdin);
    }
    if flags.stdout {
        expected.push(Kind::Stdout);
    }
    if flags.stderr {
        expected.push(Kind::Stderr);
    }
    if flags.tty && version >= 3 {
        expected.push(Kind::Resize);
    }
    let mut streams = match tokio::time::timeout(
        creation_timeout,
        wait_for_streams(&conn, &mut opened, &expected),
    )
    .await
    {
        Ok(Ok(streams)) => streams,
        Ok(Err(e)) => return Err(e),
        Err(_) => bail!("timed out waiting for client to create streams"),
    };
    // Streams opened from now on are not exec's: their DATA is discarded.
    drop(opened);
    let ids: HashMap<Kind, u32> = streams.iter().map(|(k, o)| (*k, o.stream_id)).collect();
    tracing::debug!(protocol, ?ids, "SPDY exec streams established");

    if version == 1 {
        // The v1 kubelet half-closes stdin from its side as soon as the streams exist.
        if let Some(&id) = ids.get(&Kind::Stdin) {
            conn.send_fin(id);
        }
    }

    let (stdin_tx, stdin_rx) = if flags.stdin {
        let (tx, rx) = mpsc::channel(16);
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };
    let (discard_stdin, discard_rx) = watch::channel(false);
    // Not aborted with the other tasks: it ends by itself once the connection is gone,
    // after handing over the stdin that arrived before the connection dropped.
    let stdin_stream = streams.remove(&Kind::Stdin).map(|o| o.inbound);
    tokio::spawn(stdin_forwarder(stdin_stream, stdin_tx, discard_rx));
    // Nothing is read from the other streams.
    drop(streams);

    let (phase_tx, phase_rx) = watch::channel(Phase::Running);
    let mut pumps = Vec::new();
    let mut output = |kind: Kind| -> Option<mpsc::Sender<Chunk>> {
        let id = *ids.get(&kind)?;
        let (tx, rx) = mpsc::channel(16);
        pumps.push(tokio::spawn(pump(conn.clone(), id, rx, phase_rx.clone())));
        Some(tx)
    };
    let stdout = if flags.stdout {
        output(Kind::Stdout)
    } else {
        None
    };
    let stderr = if flags.stderr {
        output(Kind::Stderr)
    } else {
        None
    };

    let (finish_tx, finish_rx) = oneshot::channel();
    let (dropped_tx, dropped_rx) = oneshot::channel();
    let (abort_tx, abort_rx) = mpsc::channel(1);
    tokio::spawn(session_task(SessionCtx {
        conn,
        version,
        error_stream: ids[&Kind::Error],
        phase: phase_tx,
        discard_stdin,
        finish: finish_rx,
        abort: abort_rx,
        dropped: dropped_tx,
        tasks: Tasks { driver, pumps },
    }));

    Ok(ExecStreams {
        protocol: protocol.to_string(),
        transport: "spdy",
        flags,
        stdin: stdin_rx,
        stdout,
        stderr,
        finish: finish_tx,
        dropped: dropped_rx,
        abort: abort_tx,
    })
}

/// Takes the streams the client opens until there is one of every `expected` kind; the
/// first stream of a kind counts, later ones are ignored.
async fn wait_for_streams(
    conn: &Conn,
    opened: &mut mpsc::UnboundedReceiver<Opened>,
    expected: &[Kind],
) -> Result<HashMap<Kind, Opened>> {
    let mut streams: HashMap<Kind, Opened> = HashMap::new();
    while !expected.iter().all(|k| streams.contains_key(k)) {
        let Some(o) = opened.recv().await else {
            let reason = conn.gone_reason().unwrap_or_default();
            bail!("connection lost while waiting for exec streams: {reason}");
        };
        let kind = Kind::from_header(frame::header(&o.headers, "streamtype"));
        streams.entry(kind).or_insert(o);
    }
    Ok(streams)
}

/// What the client said a stream is for (`streamtype` header).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Error,
    Stdin,
    Stdout,
    Stderr,
    Resize,
    Other,
}

impl Kind {
    fn from_header(v: Option<&str>) -> Kind {
        match v.map(str::to_ascii_lowercase).as_deref() {
            Some("error") => Kind::Error,
            Some("stdin") => Kind::Stdin,
            Some("stdout") => Kind::Stdout,
            Some("stderr") => Kind::Stderr,
            Some("resize") => Kind::Resize,
            _ => Kind::Other,
        }
    }
}

/// Where the session is: pumps drain and stop at `Finishing`; everything stops at `Gone`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Running,
    Finishing,
    Gone,
}

/// Wait until the phase is at least `at_least` (or its sender is gone).
async fn reached(phase: &mut watch::Receiver<Phase>, at_least: Phase) {
    loop {
        if *phase.borrow_and_update() >= at_least {
            return;
        }
        if phase.changed().await.is_err() {
            return;
        }
    }
}

/// All exec tasks of one session; dropping it aborts those still running (the
/// [`Driver`] closes the connection).
struct Tasks {
    driver: Driver,
    pumps: Vec<JoinHandle<()>>,
}

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.pumps {
            t.abort();
        }
    }
}

/// Hands the stdin stream's DATA to the bridge until the client closes stdin or the
/// connection is gone; once `discard` turns true, takes and drops what still comes.
async fn stdin_forwarder(
    inbound: Option<Inbound>,
    mut stdin: Option<mpsc::Sender<Chunk>>,
    mut discard: watch::Receiver<bool>,
) {
    let Some(mut inbound) = inbound else { return };
    while let Some(data) = inbound.recv().await {
        if let Some(tx) = &stdin {
            let delivered = tokio::select! {
                r = tx.send(data) => r.is_ok(),
                _ = discarding(&mut discard) => false,
            };
            if !delivered {
                stdin = None;
            }
        }
    }
}

/// Resolves once stdin is to be discarded (never, if the session went away without
/// saying so).
async fn discarding(discard: &mut watch::Receiver<bool>) {
    if discard.wait_for(|d| *d).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Send stdout or stderr chunks as DATA frames on `stream_id`; FIN the stream when the
/// producer closes its sender or the session finishes (after taking what was queued).
async fn pump(
    conn: Conn,
    stream_id: u32,
    mut rx: mpsc::Receiver<Chunk>,
    mut phase: watch::Receiver<Phase>,
) {
    loop {
        let chunk = tokio::select! {
            biased;
            c = rx.recv() => c,
            _ = reached(&mut phase, Phase::Finishing) => None,
        };
        let Some(chunk) = chunk else { break };
        if !conn.send_data(stream_id, &chunk).await {
            return;
        }
    }
    if !conn.is_gone() {
        conn.send_fin(stream_id);
    }
}

/// The bytes to write on the error stream for a final v1 `Status`: the JSON itself for
/// v4+, and for older protocols nothing on success or the plain message on failure.
fn error_stream_payload(version: u8, status: &[u8]) -> Vec<u8> {
    if version >= 4 {
        return status.to_vec();
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(status) else {
        return status.to_vec(); // not JSON: already a message
    };
    if v.get("status").and_then(|s| s.as_str()) == Some("Success") {
        return Vec::new();
    }
    let text = ["message", "reason"]
        .iter()
        .find_map(|k| v.get(*k).and_then(|m| m.as_str()).filter(|m| !m.is_empty()))
        .unwrap_or("command failed");
    text.as_bytes().to_vec()
}

struct SessionCtx {
    conn: Conn,
    version: u8,
    error_stream: u32,
    phase: watch::Sender<Phase>,
    discard_stdin: watch::Sender<bool>,
    finish: oneshot::Receiver<Vec<u8>>,
    abort: mpsc::Receiver<()>,
    dropped: oneshot::Sender<()>,
    tasks: Tasks,
}

async fn session_task(ctx: SessionCtx) {
    let SessionCtx {
        conn,
        version,
        error_stream,
        phase,
        discard_stdin,
        mut finish,
        mut abort,
        dropped,
        mut tasks,
    } = ctx;
    let mut abort_open = true;
    let status = loop {
        tokio::select! {
            r = &mut finish => break r.ok(),
            a = abort.recv(), if abort_open => match a {
                Some(()) => break None,
                // Every abort sender dropped: that is no request to abort.
                None => abort_open = false,
            },
            _ = conn.wait_gone() => break None,
        }
    };
    // Finished or aborted: nobody wants more stdin. (When the connection just dropped,
    // what arrived before is still handed over.)
    if status.is_some() || !conn.is_gone() {
        let _ = discard_stdin.send(true);
    }
    if let Some(status) = status {
        let graceful = close_gracefully(&conn, &phase, &mut tasks, version, error_stream, &status);
        let aborted = async {
            while abort_open {
                match abort.recv().await {
                    Some(()) => return,
                    None => abort_open = false,
                }
            }
            std::future::pending::<()>().await
        };
        tokio::select! {
            _ = graceful => {}
            _ = aborted => tracing::debug!("SPDY exec session aborted while closing"),
        }
    }
    let _ = phase.send(Phase::Gone);
    conn.set_gone("session closed");
    // Aborts whatever still runs, which drops the connection.
    drop(tasks);
    let _ = dropped.send(());
}

/// Write everything still queued, the status, FIN all our streams, GOAWAY, half-close,
/// and wait for the client to hang up.
async fn close_gracefully(
    conn: &Conn,
    phase: &watch::Sender<Phase>,
    tasks: &mut Tasks,
    version: u8,
    error_stream: u32,
    status: &[u8],
) {
    let _ = phase.send(Phase::Finishing);
    for pump in &mut tasks.pumps {
        let _ = pump.await;
    }
    if conn.is_gone() {
        return;
    }
    let payload = error_stream_payload(version, status);
    if !payload.is_empty() && !conn.send_data(error_stream, &payload).await {
        return;
    }
    let mut open = conn.locally_open_streams();
    // The error stream last, after stdin, resize and anything else.
    open.sort_by_key(|id| (*id == error_stream, *id));
    for id in open {
        conn.send_fin(id);
    }
    conn.go_away();
    if tokio::time::timeout(CLOSE_TIMEOUT, tasks.driver.hang_up())
        .await
        .is_err()
    {
        tracing::debug!("SPDY exec client did not hang up; closing");
    }
}

#[cfg(test)]
mod tests;
