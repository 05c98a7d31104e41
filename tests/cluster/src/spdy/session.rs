//! One SPDY/3.1 session, server side: the connection layer that exec (`spdy.rs`) and
//! port-forward (`portforward.rs`) share. It knows streams, flow control and frames, not
//! what the streams are for.
//!
//! [`start`] runs two tasks on the connection:
//! - the *reader* parses frames, answers every valid SYN_STREAM with SYN_REPLY and hands
//!   the new stream to the protocol as an [`Opened`] (its headers and an [`Inbound`] that
//!   yields the client's DATA on it), answers PING, and applies WINDOW_UPDATE and SETTINGS;
//! - the *writer* owns the write half and the header compressor; everything goes out
//!   through its queue, so frames keep the order they were queued in.
//!
//! The protocol sends with [`Conn::send_data`] (within the client's windows),
//! [`Conn::send_fin`], [`Conn::reset`] and closes with [`Conn::go_away`].
//!
//! Flow control: the server grants the client more window (WINDOW_UPDATE, per stream and
//! for the session) as the protocol consumes inbound DATA, and honours the client's
//! windows when sending. Kubernetes' own SPDY stack (moby/spdystream) never sends
//! WINDOW_UPDATE and ignores windows, so the client's windows are enforced only once the
//! client has shown it does flow control (a WINDOW_UPDATE or SETTINGS frame); a client
//! that has shown nothing by the time its window runs out gets a short grace period and is
//! then treated like spdystream. In the same spirit, DATA that a client sends beyond the
//! window granted to it is buffered only up to a limit per stream, past which reading
//! stops (TCP backpressure).

use std::collections::HashMap;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Result;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::frame::{self, Frame, Headers, FLAG_FIN};

/// SPDY/3.1 initial stream and session window.
const INITIAL_WINDOW: i64 = 64 * 1024;
/// Grant the client more window once this much of it has been consumed.
pub(crate) const WINDOW_UPDATE_THRESHOLD: u32 = 32 * 1024;
/// Largest DATA frame the server sends.
pub const MAX_DATA_FRAME: usize = 32 * 1024;
/// Bytes of DATA allowed to sit in the writer's queue (backpressure for senders).
const QUEUED_DATA_LIMIT: usize = 256 * 1024;
/// Client DATA buffered on one stream beyond what the protocol took before the reader
/// stops reading. Only a client that ignores our windows gets this far.
const INBOUND_BUFFER_LIMIT: usize = 1024 * 1024;
/// How long a client that has not shown flow control gets to send WINDOW_UPDATE once its
/// window is used up, before the server stops honouring its windows.
const FLOW_CONTROL_GRACE: Duration = Duration::from_millis(200);

/// A stream the client opened (already answered with SYN_REPLY).
pub struct Opened {
    pub stream_id: u32,
    pub headers: Headers,
    /// The client's DATA on this stream. Dropping it discards what arrives later (the
    /// bytes are still credited back to the client).
    pub inbound: Inbound,
}

/// Starts the session on `io`. Returns the handle to send with, the tasks (dropping
/// [`Driver`] aborts them, which closes the connection) and the streams the client opens,
/// in order. The stream receiver ends when the connection is gone; dropping it makes the
/// session discard later streams' DATA.
pub fn start<IO: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    io: IO,
) -> (Conn, Driver, mpsc::UnboundedReceiver<Opened>) {
    let (read_half, write_half) = tokio::io::split(io);
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared::new(out_tx));
    let (opened_tx, opened_rx) = mpsc::unbounded_channel();
    let driver = Driver {
        writer: Some(tokio::spawn(writer_task(
            write_half,
            out_rx,
            shared.clone(),
        ))),
        reader: Some(tokio::spawn(reader_task(
            read_half,
            shared.clone(),
            opened_tx,
        ))),
    };
    (Conn { shared }, driver, opened_rx)
}

/// The session's reader and writer tasks; dropping it aborts those still running, which
/// drops both halves of the connection and so closes it.
pub struct Driver {
    reader: Option<JoinHandle<()>>,
    writer: Option<JoinHandle<()>>,
}

impl Driver {
    /// Waits until the writer has flushed and half-closed (after [`Conn::go_away`]) and the
    /// client has hung up.
    pub async fn hang_up(&mut self) {
        if let Some(w) = &mut self.writer {
            let _ = w.await;
            self.writer = None;
        }
        if let Some(r) = &mut self.reader {
            let _ = r.await;
            self.reader = None;
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        for t in [&self.reader, &self.writer].into_iter().flatten() {
            t.abort();
        }
    }
}

/// The handle to one session. Cheap to clone.
#[derive(Clone)]
pub struct Conn {
    shared: Arc<Shared>,
}

impl Conn {
    /// Queues `data` on `stream_id` within the client's windows and the queue budget, in
    /// frames of at most [`MAX_DATA_FRAME`]. False when the connection is gone; data for a
    /// stream the client reset is dropped (true).
    pub async fn send_data(&self, stream_id: u32, data: &[u8]) -> bool {
        let shared = &self.shared;
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

    /// Half-closes our side of a stream (empty DATA with FLAG_FIN), once.
    pub fn send_fin(&self, stream_id: u32) {
        {
            let mut st = self.shared.lock();
            match st.streams.get_mut(&stream_id) {
                Some(s) if !s.local_fin && !s.reset => s.local_fin = true,
                _ => return,
            }
        }
        self.shared.send(Frame::Data {
            stream_id,
            flags: FLAG_FIN,
            data: Vec::new(),
        });
    }

    /// Resets a stream (RST_STREAM with `status`): neither side sends on it any more.
    pub fn reset(&self, stream_id: u32, status: u32) {
        {
            let mut st = self.shared.lock();
            match st.streams.get_mut(&stream_id) {
                Some(s) if !s.reset => s.close_with_reset(),
                _ => return,
            }
        }
        self.shared.send(Frame::RstStream { stream_id, status });
        self.shared.changed.notify_waiters();
    }

    /// The streams we have neither half-closed nor seen reset, in id order.
    pub fn locally_open_streams(&self) -> Vec<u32> {
        let st = self.shared.lock();
        let mut ids: Vec<u32> = st
            .streams
            .iter()
            .filter(|(_, s)| !s.local_fin && !s.reset)
            .map(|(id, _)| *id)
            .collect();
        ids.sort();
        ids
    }

    /// Says GOAWAY (status `GOAWAY_OK`) after everything queued, then flushes and
    /// half-closes the connection.
    pub fn go_away(&self) {
        let last_good_stream_id = self.shared.lock().last_client_stream;
        self.shared.send(Frame::GoAway {
            last_good_stream_id,
            status: frame::GOAWAY_OK,
        });
        let _ = self.shared.out.send(Out::Shutdown);
    }

    /// Marks the session gone (senders stop, waiters wake), e.g. when the protocol closes it.
    pub fn set_gone(&self, reason: &str) {
        self.shared.set_gone(reason.to_string());
    }

    pub fn is_gone(&self) -> bool {
        self.shared.lock().gone.is_some()
    }

    /// Why the connection is gone, if it is.
    pub fn gone_reason(&self) -> Option<String> {
        self.shared.lock().gone.clone()
    }

    /// Resolves once the connection is gone (client hang-up, read or write error,
    /// [`Conn::set_gone`]).
    pub async fn wait_gone(&self) {
        self.shared.wait(|st| st.gone.as_ref().map(|_| ())).await
    }
}

/// The client's DATA on one stream, in order. Ends when the client half-closes or resets
/// the stream, or the connection is gone (after what arrived before).
pub struct Inbound {
    stream_id: u32,
    rx: mpsc::UnboundedReceiver<Vec<u8>>,
    buffered: Arc<Buffered>,
    shared: Arc<Shared>,
}

impl Inbound {
    pub fn stream_id(&self) -> u32 {
        self.stream_id
    }

    /// The next chunk; the bytes count as consumed (window is granted back).
    pub async fn recv(&mut self) -> Option<Vec<u8>> {
        let data = self.rx.recv().await?;
        self.consumed(data.len());
        Some(data)
    }

    fn consumed(&self, n: usize) {
        self.buffered.bytes.fetch_sub(n, Ordering::SeqCst);
        self.buffered.drained.notify_waiters();
        self.shared.credit(self.stream_id, n);
    }
}

impl Drop for Inbound {
    fn drop(&mut self) {
        self.rx.close();
        while let Ok(data) = self.rx.try_recv() {
            self.consumed(data.len());
        }
        self.buffered.drained.notify_waiters();
    }
}

/// Bytes queued on one [`Inbound`] and not yet taken.
#[derive(Default)]
struct Buffered {
    bytes: AtomicUsize,
    drained: Notify,
}

/// The reader's end of an [`Inbound`].
#[derive(Clone)]
struct InboundTx {
    tx: mpsc::UnboundedSender<Vec<u8>>,
    buffered: Arc<Buffered>,
}

impl InboundTx {
    /// Queues `data`; waits while more than [`INBOUND_BUFFER_LIMIT`] is queued. Returns the
    /// data back if nobody takes it any more.
    async fn push(&self, data: Vec<u8>) -> Result<(), Vec<u8>> {
        let n = data.len();
        self.buffered.bytes.fetch_add(n, Ordering::SeqCst);
        if let Err(e) = self.tx.send(data) {
            self.buffered.bytes.fetch_sub(n, Ordering::SeqCst);
            return Err(e.0);
        }
        loop {
            let mut drained = pin!(self.buffered.drained.notified());
            drained.as_mut().enable();
            if self.buffered.bytes.load(Ordering::SeqCst) <= INBOUND_BUFFER_LIMIT
                || self.tx.is_closed()
            {
                return Ok(());
            }
            drained.await;
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
    /// The stream was reset (by either side): drop what we would send on it.
    reset: bool,
    /// The client half-closed the stream.
    remote_fin: bool,
    /// We half-closed the stream.
    local_fin: bool,
    /// Where the client's DATA goes; `None` once the client half-closed.
    inbound: Option<InboundTx>,
}

impl StreamState {
    fn close_with_reset(&mut self) {
        self.reset = true;
        self.remote_fin = true;
        self.local_fin = true;
        self.inbound = None;
    }
}

struct State {
    streams: HashMap<u32, StreamState>,
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

    fn set_gone(&self, reason: String) {
        {
            let mut st = self.lock();
            if st.gone.is_some() {
                return;
            }
            tracing::debug!(%reason, "SPDY connection gone");
            st.gone = Some(reason);
            // Inbound streams end after what already arrived.
            for s in st.streams.values_mut() {
                s.inbound = None;
            }
        }
        self.data_budget.close();
        self.changed.notify_waiters();
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

    /// Take up to `want` bytes of send window for `stream_id`. `None`: the connection is
    /// gone; `Some(0)`: the stream was reset (drop the data).
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

async fn reader_task<R: AsyncRead + Unpin>(
    r: R,
    shared: Arc<Shared>,
    opened: mpsc::UnboundedSender<Opened>,
) {
    let mut r = BufReader::with_capacity(64 * 1024, r);
    let mut dec = frame::Decoder::new();
    let reason = loop {
        match frame::read_frame(&mut r, &mut dec).await {
            Ok(Some(f)) => handle_frame(f, &shared, &opened).await,
            Ok(None) => break "client closed the connection".to_string(),
            Err(e) => {
                if shared.lock().gone.is_none() {
                    tracing::debug!("SPDY read error: {e:#}");
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
    shared.set_gone(reason);
}

async fn handle_frame(f: Frame, shared: &Arc<Shared>, opened: &mpsc::UnboundedSender<Opened>) {
    match f {
        Frame::SynStream {
            stream_id,
            flags,
            headers,
            ..
        } => {
            let fin = flags & FLAG_FIN != 0;
            let buffered = Arc::new(Buffered::default());
            let (tx, rx) = mpsc::unbounded_channel();
            let accepted = {
                let mut st = shared.lock();
                if stream_id == 0 || stream_id % 2 == 0 || stream_id <= st.last_client_stream {
                    false
                } else {
                    st.last_client_stream = stream_id;
                    let window = st.initial_send_window;
                    st.streams.insert(
                        stream_id,
                        StreamState {
                            send_window: window,
                            recv_unacked: 0,
                            reset: false,
                            remote_fin: fin,
                            local_fin: false,
                            inbound: (!fin).then(|| InboundTx {
                                tx,
                                buffered: buffered.clone(),
                            }),
                        },
                    );
                    true
                }
            };
            if !accepted {
                shared.send(Frame::RstStream {
                    stream_id,
                    status: frame::RST_PROTOCOL_ERROR,
                });
                return;
            }
            tracing::trace!(stream_id, ?headers, "SPDY stream opened");
            shared.send(Frame::SynReply {
                stream_id,
                flags: 0,
                headers: Vec::new(),
            });
            let _ = opened.send(Opened {
                stream_id,
                headers,
                inbound: Inbound {
                    stream_id,
                    rx,
                    buffered,
                    shared: shared.clone(),
                },
            });
            shared.changed.notify_waiters();
        }
        Frame::Data {
            stream_id,
            flags,
            data,
        } => {
            let inbound = {
                let st = shared.lock();
                st.streams.get(&stream_id).and_then(|s| s.inbound.clone())
            };
            let n = data.len();
            match inbound {
                Some(tx) if n > 0 => {
                    if tx.push(data).await.is_err() {
                        shared.credit(stream_id, n);
                    }
                }
                _ => shared.credit(stream_id, n),
            }
            if flags & FLAG_FIN != 0 {
                remote_fin(shared, stream_id);
            }
        }
        Frame::Headers {
            stream_id, flags, ..
        } => {
            if flags & FLAG_FIN != 0 {
                remote_fin(shared, stream_id);
            }
        }
        Frame::RstStream { stream_id, status } => {
            tracing::trace!(stream_id, status, "SPDY stream reset by client");
            if let Some(s) = shared.lock().streams.get_mut(&stream_id) {
                s.close_with_reset();
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

fn remote_fin(shared: &Shared, stream_id: u32) {
    if let Some(s) = shared.lock().streams.get_mut(&stream_id) {
        s.remote_fin = true;
        s.inbound = None;
    }
    shared.changed.notify_waiters();
}
