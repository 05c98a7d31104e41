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
//! Inside, the session is a handful of tasks around one connection:
//! - the *reader* parses frames, answers SYN_STREAM and PING, applies WINDOW_UPDATE and
//!   SETTINGS, and hands stdin DATA to the *stdin forwarder*;
//! - the *writer* owns the write half and the header compressor; everything goes out
//!   through its queue, so frames keep the order they were queued in;
//! - one *pump* per output stream (stdout, stderr) turns chunks into DATA frames within
//!   the client's flow-control windows;
//! - the *session* task waits for `finish` / `abort` / a dead connection and closes.
//!
//! Flow control: the server grants the client more window (WINDOW_UPDATE, per stream and
//! for the session) as stdin is consumed, and honours the client's windows when sending.
//! Kubernetes' own SPDY stack (moby/spdystream) never sends WINDOW_UPDATE and ignores
//! windows, so the client's windows are enforced only once the client has shown it does
//! flow control (a WINDOW_UPDATE or SETTINGS frame); a client that has shown nothing by
//! the time its window runs out gets a short grace period and is then treated like
//! spdystream. In the same spirit, stdin that a client sends beyond the window granted
//! to it is buffered only up to a limit, past which reading stops (TCP backpressure).

pub mod frame;

use std::collections::HashMap;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot, watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::streams::{Chunk, ExecStreams, StreamFlags};
use frame::{Frame, FLAG_FIN};

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

/// SPDY/3.1 initial stream and session window.
const INITIAL_WINDOW: i64 = 64 * 1024;
/// Grant the client more window once this much of it has been consumed.
const WINDOW_UPDATE_THRESHOLD: u32 = 32 * 1024;
/// Largest DATA frame the server sends.
const MAX_DATA_FRAME: usize = 32 * 1024;
/// Bytes of DATA allowed to sit in the writer's queue (backpressure for the pumps).
const QUEUED_DATA_LIMIT: usize = 256 * 1024;
/// Stdin buffered beyond what the consumer took before the reader stops reading. Only a
/// client that ignores our windows gets this far.
const STDIN_BUFFER_LIMIT: usize = 1024 * 1024;
/// How long a client that has not shown flow control gets to send WINDOW_UPDATE once its
/// window is used up, before the server stops honouring its windows.
const FLOW_CONTROL_GRACE: Duration = Duration::from_millis(200);
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
    let (read_half, write_half) = tokio::io::split(io);
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared::new(out_tx));
    let (phase_tx, phase_rx) = watch::channel(Phase::Running);

    let (stdin_tx, stdin_rx) = if flags.stdin {
        let (tx, rx) = mpsc::channel(16);
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };
    let (feed, feed_rx) = StdinFeed::new();
    let (discard_stdin, discard_rx) = watch::channel(false);
    // Not aborted with the other tasks: it ends by itself once the reader is gone, after
    // handing over the stdin that arrived before the connection dropped.
    tokio::spawn(stdin_forwarder(
        feed_rx,
        stdin_tx,
        feed.counters(),
        shared.clone(),
        discard_rx,
    ));
    let mut tasks = Tasks {
        writer: Some(tokio::spawn(writer_task(
            write_half,
            out_rx,
            shared.clone(),
        ))),
        reader: Some(tokio::spawn(reader_task(read_half, shared.clone(), feed))),
        pumps: Vec::new(),
    };

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
    let ids = match tokio::time::timeout(creation_timeout, shared.wait_for_streams(&expected)).await
    {
        Ok(Ok(ids)) => ids,
        Ok(Err(e)) => return Err(e),
        Err(_) => bail!("timed out waiting for client to create streams"),
    };
    tracing::debug!(protocol, ?ids, "SPDY exec streams established");

    if version == 1 {
        // The v1 kubelet half-closes stdin from its side as soon as the streams exist.
        if let Some(&id) = ids.get(&Kind::Stdin) {
            shared.send_fin(id);
        }
    }

    let mut output = |kind: Kind| -> Option<mpsc::Sender<Chunk>> {
        let id = *ids.get(&kind)?;
        let (tx, rx) = mpsc::channel(16);
        tasks
            .pumps
            .push(tokio::spawn(pump(shared.clone(), id, rx, phase_rx.clone())));
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
        shared,
        version,
        error_stream: ids[&Kind::Error],
        phase: phase_tx,
        discard_stdin,
        finish: finish_rx,
        abort: abort_rx,
        dropped: dropped_tx,
        tasks,
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

/// One item for the writer: a frame (with the queue budget it holds, for DATA), or the
/// order to flush and half-close the connection.
enum Out {
    Frame(Frame, Option<OwnedSemaphorePermit>),
    Shutdown,
}

struct StreamState {
    /// How much the client lets us send on this stream.
    send_window: i64,
    /// Bytes of client DATA consumed but not yet granted back.
    recv_unacked: u32,
    /// The client reset the stream: drop what we would send on it.
    reset: bool,
    /// The client half-closed the stream.
    remote_fin: bool,
    /// We half-closed the stream.
    local_fin: bool,
}

struct State {
    streams: HashMap<u32, StreamState>,
    /// First stream of each kind.
    by_kind: HashMap<Kind, u32>,
    last_client_stream: u32,
    send_session: i64,
    initial_send_window: i64,
    /// Whether the client does flow control: unknown until it sends WINDOW_UPDATE or
    /// SETTINGS (yes), or lets its window run out without either (no).
    peer_flow_control: Option<bool>,
    recv_unacked_session: u32,
    gone: Option<String>,
}

struct Shared {
    state: Mutex<State>,
    /// Woken on every change of `state` that someone may wait for.
    changed: Notify,
    out: mpsc::UnboundedSender<Out>,
    /// Budget of DATA bytes queued for the writer.
    data_budget: Arc<Semaphore>,
}

impl Shared {
    fn new(out: mpsc::UnboundedSender<Out>) -> Self {
        Shared {
            state: Mutex::new(State {
                streams: HashMap::new(),
                by_kind: HashMap::new(),
                last_client_stream: 0,
                send_session: INITIAL_WINDOW,
                initial_send_window: INITIAL_WINDOW,
                peer_flow_control: None,
                recv_unacked_session: 0,
                gone: None,
            }),
            changed: Notify::new(),
            out,
            data_budget: Arc::new(Semaphore::new(QUEUED_DATA_LIMIT)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn send(&self, frame: Frame) {
        let _ = self.out.send(Out::Frame(frame, None));
    }

    /// Half-close our side of a stream (empty DATA with FLAG_FIN), once.
    fn send_fin(&self, stream_id: u32) {
        {
            let mut st = self.lock();
            match st.streams.get_mut(&stream_id) {
                Some(s) if !s.local_fin && !s.reset => s.local_fin = true,
                _ => return,
            }
        }
        self.send(Frame::Data {
            stream_id,
            flags: FLAG_FIN,
            data: Vec::new(),
        });
    }

    fn set_gone(&self, reason: String) {
        {
            let mut st = self.lock();
            if st.gone.is_some() {
                return;
            }
            tracing::debug!(%reason, "SPDY exec connection gone");
            st.gone = Some(reason);
        }
        self.data_budget.close();
        self.changed.notify_waiters();
    }

    fn is_gone(&self) -> bool {
        self.lock().gone.is_some()
    }

    /// Run `check` on the state until it yields a value, waking on every change.
    async fn wait<T>(&self, mut check: impl FnMut(&mut State) -> Option<T>) -> T {
        loop {
            let mut notified = pin!(self.changed.notified());
            notified.as_mut().enable();
            let found = check(&mut self.lock());
            if let Some(v) = found {
                return v;
            }
            notified.await;
        }
    }

    async fn wait_gone(&self) {
        self.wait(|st| st.gone.as_ref().map(|_| ())).await
    }

    async fn wait_for_streams(&self, expected: &[Kind]) -> Result<HashMap<Kind, u32>> {
        self.wait(|st| {
            if let Some(reason) = &st.gone {
                return Some(Err(anyhow!(
                    "connection lost while waiting for exec streams: {reason}"
                )));
            }
            expected
                .iter()
                .all(|k| st.by_kind.contains_key(k))
                .then(|| Ok(st.by_kind.clone()))
        })
        .await
    }

    /// Take up to `want` bytes of send window for `stream_id`. `None`: the connection is
    /// gone; `Some(0)`: the client reset the stream (drop the data).
    async fn take_send_window(&self, stream_id: u32, want: usize) -> Option<usize> {
        let mut grace_until: Option<Instant> = None;
        loop {
            let mut notified = pin!(self.changed.notified());
            notified.as_mut().enable();
            {
                let mut st = self.lock();
                if st.gone.is_some() {
                    return None;
                }
                let session = st.send_session;
                let flow = st.peer_flow_control;
                let s = st.streams.get_mut(&stream_id)?;
                if s.reset {
                    return Some(0);
                }
                if flow == Some(false) {
                    return Some(want);
                }
                let avail = session.min(s.send_window);
                if avail > 0 {
                    let n = want.min(avail as usize);
                    s.send_window -= n as i64;
                    st.send_session -= n as i64;
                    return Some(n);
                }
                if flow.is_none() {
                    let until =
                        *grace_until.get_or_insert_with(|| Instant::now() + FLOW_CONTROL_GRACE);
                    if Instant::now() >= until {
                        tracing::debug!(
                            "SPDY client sent no WINDOW_UPDATE; not enforcing its flow-control windows"
                        );
                        st.peer_flow_control = Some(false);
                        return Some(want);
                    }
                }
            }
            match grace_until {
                Some(until) => {
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep_until(until) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Account for `n` bytes of client DATA consumed on `stream_id`, granting window back
    /// in batches.
    fn credit(&self, stream_id: u32, n: usize) {
        if n == 0 {
            return;
        }
        let n = n.min(u32::MAX as usize / 2) as u32;
        let mut updates = Vec::new();
        {
            let mut st = self.lock();
            st.recv_unacked_session += n;
            if st.recv_unacked_session >= WINDOW_UPDATE_THRESHOLD {
                updates.push((0, st.recv_unacked_session));
                st.recv_unacked_session = 0;
            }
            if let Some(s) = st.streams.get_mut(&stream_id) {
                s.recv_unacked += n;
                if s.recv_unacked >= WINDOW_UPDATE_THRESHOLD && !s.remote_fin && !s.reset {
                    updates.push((stream_id, s.recv_unacked));
                    s.recv_unacked = 0;
                }
            }
        }
        for (stream_id, delta) in updates {
            self.send(Frame::WindowUpdate { stream_id, delta });
        }
    }
}

/// All tasks of one session; dropping it aborts those still running, which drops both
/// halves of the connection and so closes it.
struct Tasks {
    reader: Option<JoinHandle<()>>,
    writer: Option<JoinHandle<()>>,
    pumps: Vec<JoinHandle<()>>,
}

impl Drop for Tasks {
    fn drop(&mut self) {
        let all = [&self.reader, &self.writer];
        for t in all.into_iter().flatten().chain(self.pumps.iter()) {
            t.abort();
        }
    }
}

async fn writer_task<W: AsyncWrite + Unpin>(
    mut w: W,
    mut rx: mpsc::UnboundedReceiver<Out>,
    shared: Arc<Shared>,
) {
    let mut enc = frame::Encoder::new();
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut permits = Vec::new();
    let result: Result<()> = async {
        while let Some(first) = rx.recv().await {
            let mut shutdown = false;
            let mut next = Some(first);
            while let Some(item) = next.take() {
                match item {
                    Out::Frame(f, permit) => {
                        enc.encode(&f, &mut buf)?;
                        permits.extend(permit);
                    }
                    Out::Shutdown => {
                        shutdown = true;
                        break;
                    }
                }
                if buf.len() < 256 * 1024 {
                    next = rx.try_recv().ok();
                }
            }
            if !buf.is_empty() {
                w.write_all(&buf).await?;
                buf.clear();
            }
            w.flush().await?;
            permits.clear();
            if shutdown {
                w.shutdown().await?;
                return Ok(());
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        shared.set_gone(format!("write failed: {e:#}"));
    }
}

async fn reader_task<R: AsyncRead + Unpin>(r: R, shared: Arc<Shared>, feed: StdinFeed) {
    let mut r = BufReader::with_capacity(64 * 1024, r);
    let mut dec = frame::Decoder::new();
    let reason = loop {
        match frame::read_frame(&mut r, &mut dec).await {
            Ok(Some(f)) => handle_frame(f, &shared, &feed).await,
            Ok(None) => break "client closed the connection".to_string(),
            Err(e) => {
                if !shared.is_gone() {
                    tracing::debug!("SPDY exec read error: {e:#}");
                    shared.send(Frame::GoAway {
                        last_good_stream_id: shared.lock().last_client_stream,
                        status: frame::GOAWAY_PROTOCOL_ERROR,
                    });
                    let _ = shared.out.send(Out::Shutdown);
                }
                break format!("read failed: {e:#}");
            }
        }
    };
    feed.end();
    shared.set_gone(reason);
}

async fn handle_frame(f: Frame, shared: &Shared, feed: &StdinFeed) {
    match f {
        Frame::SynStream {
            stream_id,
            flags,
            headers,
            ..
        } => {
            let kind = Kind::from_header(frame::header(&headers, "streamtype"));
            let accepted = {
                let mut st = shared.lock();
                if stream_id == 0 || stream_id % 2 == 0 || stream_id <= st.last_client_stream {
                    None
                } else {
                    st.last_client_stream = stream_id;
                    let window = st.initial_send_window;
                    st.streams.insert(
                        stream_id,
                        StreamState {
                            send_window: window,
                            recv_unacked: 0,
                            reset: false,
                            remote_fin: flags & FLAG_FIN != 0,
                            local_fin: false,
                        },
                    );
                    Some(*st.by_kind.entry(kind).or_insert(stream_id) == stream_id)
                }
            };
            let Some(first_of_kind) = accepted else {
                shared.send(Frame::RstStream {
                    stream_id,
                    status: frame::RST_PROTOCOL_ERROR,
                });
                return;
            };
            tracing::trace!(stream_id, ?kind, "SPDY stream opened");
            shared.send(Frame::SynReply {
                stream_id,
                flags: 0,
                headers: Vec::new(),
            });
            if flags & FLAG_FIN != 0 && kind == Kind::Stdin && first_of_kind {
                feed.end();
            }
            shared.changed.notify_waiters();
        }
        Frame::Data {
            stream_id,
            flags,
            data,
        } => {
            let route = {
                let st = shared.lock();
                match st.streams.get(&stream_id) {
                    Some(s) if !s.reset && !s.remote_fin => {
                        st.by_kind.get(&Kind::Stdin) == Some(&stream_id)
                    }
                    _ => false,
                }
            };
            let n = data.len();
            if route && n > 0 {
                feed.push(stream_id, data).await;
            } else {
                shared.credit(stream_id, n);
            }
            if flags & FLAG_FIN != 0 {
                remote_fin(shared, feed, stream_id);
            }
        }
        Frame::Headers {
            stream_id, flags, ..
        } => {
            if flags & FLAG_FIN != 0 {
                remote_fin(shared, feed, stream_id);
            }
        }
        Frame::RstStream { stream_id, status } => {
            tracing::trace!(stream_id, status, "SPDY stream reset by client");
            let stdin = {
                let mut st = shared.lock();
                let stdin = st.by_kind.get(&Kind::Stdin) == Some(&stream_id);
                if let Some(s) = st.streams.get_mut(&stream_id) {
                    s.reset = true;
                    s.remote_fin = true;
                    s.local_fin = true;
                }
                stdin
            };
            if stdin {
                feed.end();
            }
            shared.changed.notify_waiters();
        }
        Frame::Settings { entries, .. } => {
            {
                let mut st = shared.lock();
                st.peer_flow_control = Some(true);
                for (_, id, value) in entries {
                    if id == frame::SETTINGS_INITIAL_WINDOW_SIZE {
                        let value = i64::from(value.min(0x7fff_ffff));
                        let delta = value - st.initial_send_window;
                        st.initial_send_window = value;
                        for s in st.streams.values_mut() {
                            s.send_window += delta;
                        }
                    }
                }
            }
            shared.changed.notify_waiters();
        }
        Frame::WindowUpdate { stream_id, delta } => {
            {
                let mut st = shared.lock();
                st.peer_flow_control = Some(true);
                let delta = i64::from(delta);
                if stream_id == 0 {
                    st.send_session += delta;
                } else if let Some(s) = st.streams.get_mut(&stream_id) {
                    s.send_window += delta;
                }
            }
            shared.changed.notify_waiters();
        }
        Frame::Ping { id } => {
            // Answer the client's pings (odd ids); even ids would be replies to ours.
            if id % 2 == 1 {
                shared.send(Frame::Ping { id });
            }
        }
        Frame::GoAway { .. } => tracing::trace!("SPDY client sent GOAWAY"),
        Frame::SynReply { .. } | Frame::Unknown { .. } => {}
    }
}

fn remote_fin(shared: &Shared, feed: &StdinFeed, stream_id: u32) {
    let stdin = {
        let mut st = shared.lock();
        if let Some(s) = st.streams.get_mut(&stream_id) {
            s.remote_fin = true;
        }
        st.by_kind.get(&Kind::Stdin) == Some(&stream_id)
    };
    if stdin {
        feed.end();
    }
}

enum StdinMsg {
    Data(u32, Vec<u8>),
    End,
}

/// The reader's side of the stdin hand-off: an unbounded queue so the reader never
/// blocks on a slow consumer, with a byte count that makes it wait only past
/// [`STDIN_BUFFER_LIMIT`].
#[derive(Clone)]
struct StdinFeed {
    tx: mpsc::UnboundedSender<StdinMsg>,
    buffered: Arc<AtomicUsize>,
    drained: Arc<Notify>,
}

impl StdinFeed {
    fn new() -> (Self, mpsc::UnboundedReceiver<StdinMsg>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let feed = StdinFeed {
            tx,
            buffered: Arc::new(AtomicUsize::new(0)),
            drained: Arc::new(Notify::new()),
        };
        (feed, rx)
    }

    async fn push(&self, stream_id: u32, data: Vec<u8>) {
        self.buffered.fetch_add(data.len(), Ordering::SeqCst);
        if self.tx.send(StdinMsg::Data(stream_id, data)).is_err() {
            return;
        }
        loop {
            let mut drained = pin!(self.drained.notified());
            drained.as_mut().enable();
            if self.buffered.load(Ordering::SeqCst) <= STDIN_BUFFER_LIMIT {
                return;
            }
            drained.await;
        }
    }

    fn end(&self) {
        let _ = self.tx.send(StdinMsg::End);
    }

    fn counters(&self) -> (Arc<AtomicUsize>, Arc<Notify>) {
        (self.buffered.clone(), self.drained.clone())
    }
}

async fn stdin_forwarder(
    mut rx: mpsc::UnboundedReceiver<StdinMsg>,
    mut stdin: Option<mpsc::Sender<Chunk>>,
    (buffered, drained): (Arc<AtomicUsize>, Arc<Notify>),
    shared: Arc<Shared>,
    mut discard: watch::Receiver<bool>,
) {
    while let Some(msg) = rx.recv().await {
        match msg {
            StdinMsg::Data(stream_id, data) => {
                let n = data.len();
                if let Some(tx) = &stdin {
                    let delivered = tokio::select! {
                        r = tx.send(data) => r.is_ok(),
                        _ = discarding(&mut discard) => false,
                    };
                    if !delivered {
                        stdin = None;
                    }
                }
                buffered.fetch_sub(n, Ordering::SeqCst);
                drained.notify_waiters();
                shared.credit(stream_id, n);
            }
            StdinMsg::End => stdin = None,
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
    shared: Arc<Shared>,
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
        if !send_data(&shared, stream_id, &chunk).await {
            return;
        }
    }
    if !shared.is_gone() {
        shared.send_fin(stream_id);
    }
}

/// Queue `data` on `stream_id` within the client's windows and the queue budget. False
/// when the connection is gone.
async fn send_data(shared: &Shared, stream_id: u32, data: &[u8]) -> bool {
    let mut rest = data;
    while !rest.is_empty() {
        let want = rest.len().min(MAX_DATA_FRAME);
        let n = match shared.take_send_window(stream_id, want).await {
            None => return false,
            Some(0) => return true, // stream reset by the client: drop
            Some(n) => n,
        };
        let Ok(permit) = shared
            .data_budget
            .clone()
            .acquire_many_owned(n as u32)
            .await
        else {
            return false;
        };
        let frame = Frame::Data {
            stream_id,
            flags: 0,
            data: rest[..n].to_vec(),
        };
        if shared.out.send(Out::Frame(frame, Some(permit))).is_err() {
            return false;
        }
        rest = &rest[n..];
    }
    true
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
    shared: Arc<Shared>,
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
        shared,
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
            _ = shared.wait_gone() => break None,
        }
    };
    // Finished or aborted: nobody wants more stdin. (When the connection just dropped,
    // what arrived before is still handed over.)
    if status.is_some() || !shared.is_gone() {
        let _ = discard_stdin.send(true);
    }
    if let Some(status) = status {
        let graceful =
            close_gracefully(&shared, &phase, &mut tasks, version, error_stream, &status);
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
    shared.set_gone("session closed".to_string());
    // Aborts whatever still runs, which drops the connection.
    drop(tasks);
    let _ = dropped.send(());
}

/// Write everything still queued, the status, FIN all our streams, GOAWAY, half-close,
/// and wait for the client to hang up.
async fn close_gracefully(
    shared: &Shared,
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
    if shared.is_gone() {
        return;
    }
    let payload = error_stream_payload(version, status);
    if !payload.is_empty() && !send_data(shared, error_stream, &payload).await {
        return;
    }
    let open: Vec<u32> = {
        let st = shared.lock();
        let mut ids: Vec<u32> = st
            .streams
            .iter()
            .filter(|(_, s)| !s.local_fin && !s.reset)
            .map(|(id, _)| *id)
            .collect();
        // The error stream last, after stdin, resize and anything else.
        ids.sort_by_key(|id| (*id == error_stream, *id));
        ids
    };
    for id in open {
        shared.send_fin(id);
    }
    let last_good_stream_id = shared.lock().last_client_stream;
    shared.send(Frame::GoAway {
        last_good_stream_id,
        status: frame::GOAWAY_OK,
    });
    let _ = shared.out.send(Out::Shutdown);
    let hang_up = async {
        if let Some(w) = &mut tasks.writer {
            let _ = w.await;
        }
        if let Some(r) = &mut tasks.reader {
            let _ = r.await;
        }
    };
    if tokio::time::timeout(CLOSE_TIMEOUT, hang_up).await.is_err() {
        tracing::debug!("SPDY exec client did not hang up; closing");
    }
}

#[cfg(test)]
mod tests;
