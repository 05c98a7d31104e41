//! Session tests against a scripted SPDY client built from this module's own framing.

use std::collections::HashMap;
use std::time::Duration;

use tokio::io::{AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf};
use tokio::task::JoinHandle;

use super::frame::{self, Decoder, Encoder, Frame, FLAG_FIN};
use super::session::WINDOW_UPDATE_THRESHOLD;
use super::*;

const STEP: Duration = Duration::from_secs(20);

struct ClientWriter {
    w: WriteHalf<DuplexStream>,
    enc: Encoder,
}

impl ClientWriter {
    async fn send(&mut self, f: Frame) {
        let mut buf = Vec::new();
        self.enc.encode(&f, &mut buf).unwrap();
        self.w.write_all(&buf).await.unwrap();
        self.w.flush().await.unwrap();
    }

    async fn data(&mut self, stream_id: u32, data: &[u8], fin: bool) {
        self.send(Frame::Data {
            stream_id,
            flags: if fin { FLAG_FIN } else { 0 },
            data: data.to_vec(),
        })
        .await;
    }
}

struct ClientReader {
    r: ReadHalf<DuplexStream>,
    dec: Decoder,
}

impl ClientReader {
    /// The next frame; `None` at the end of the connection.
    async fn next(&mut self) -> Option<Frame> {
        tokio::time::timeout(STEP, frame::read_frame(&mut self.r, &mut self.dec))
            .await
            .expect("timed out waiting for a frame from the server")
            .unwrap_or(None)
    }

    /// The next frame if one arrives within `wait`.
    async fn next_within(&mut self, wait: Duration) -> Option<Option<Frame>> {
        tokio::time::timeout(wait, frame::read_frame(&mut self.r, &mut self.dec))
            .await
            .ok()
            .map(|r| r.unwrap_or(None))
    }
}

/// What the client saw, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Data(u32, usize),
    Fin(u32),
    WindowUpdate(u32, u32),
    Ping(u32),
    GoAway(u32),
    Other(String),
}

#[derive(Default, Debug)]
struct Transcript {
    data: HashMap<u32, Vec<u8>>,
    events: Vec<Event>,
}

impl Transcript {
    fn record(&mut self, f: Frame) {
        match f {
            Frame::Data {
                stream_id,
                flags,
                data,
            } => {
                if !data.is_empty() {
                    self.events.push(Event::Data(stream_id, data.len()));
                    self.data
                        .entry(stream_id)
                        .or_default()
                        .extend_from_slice(&data);
                }
                if flags & FLAG_FIN != 0 {
                    self.events.push(Event::Fin(stream_id));
                }
            }
            Frame::WindowUpdate { stream_id, delta } => {
                self.events.push(Event::WindowUpdate(stream_id, delta))
            }
            Frame::Ping { id } => self.events.push(Event::Ping(id)),
            Frame::GoAway {
                last_good_stream_id,
                ..
            } => self.events.push(Event::GoAway(last_good_stream_id)),
            other => self.events.push(Event::Other(format!("{other:?}"))),
        }
    }

    fn pos(&self, e: &Event) -> usize {
        self.events
            .iter()
            .position(|x| x == e)
            .unwrap_or_else(|| panic!("no {e:?} in {:?}", self.events))
    }

    fn last_data(&self, stream_id: u32) -> Option<usize> {
        self.events
            .iter()
            .rposition(|x| matches!(x, Event::Data(id, _) if *id == stream_id))
    }

    fn granted(&self, stream_id: u32) -> u64 {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::WindowUpdate(id, d) if *id == stream_id => Some(u64::from(*d)),
                _ => None,
            })
            .sum()
    }

    fn stream(&self, stream_id: u32) -> &[u8] {
        self.data.get(&stream_id).map(Vec::as_slice).unwrap_or(&[])
    }
}

struct Session {
    w: ClientWriter,
    r: ClientReader,
    ids: HashMap<&'static str, u32>,
    accept: Option<JoinHandle<Result<ExecStreams>>>,
}

/// Start `accept_exec` on one end of an in-memory pipe and open `kinds` from the other,
/// as kubectl does: one SYN_STREAM at a time, each waiting for its SYN_REPLY.
async fn start(protocol: &'static str, flags: StreamFlags, kinds: &[&'static str]) -> Session {
    start_with(protocol, flags, kinds, Vec::new(), STREAM_CREATION_TIMEOUT).await
}

async fn start_with(
    protocol: &'static str,
    flags: StreamFlags,
    kinds: &[&'static str],
    preamble: Vec<Frame>,
    creation_timeout: Duration,
) -> Session {
    let (client, server) = tokio::io::duplex(16 * 1024);
    let accept = tokio::spawn(accept_exec_with_timeout(
        server,
        protocol,
        flags,
        creation_timeout,
    ));
    let (r, w) = tokio::io::split(client);
    let mut s = Session {
        w: ClientWriter {
            w,
            enc: Encoder::new(),
        },
        r: ClientReader {
            r,
            dec: Decoder::new(),
        },
        ids: HashMap::new(),
        accept: Some(accept),
    };
    for f in preamble {
        s.w.send(f).await;
    }
    for (i, kind) in kinds.iter().enumerate() {
        let id = 1 + 2 * i as u32;
        s.w.send(Frame::SynStream {
            stream_id: id,
            associated_to: 0,
            priority: 0,
            slot: 0,
            flags: 0,
            headers: vec![("streamtype".into(), kind.to_string())],
        })
        .await;
        match s.r.next().await {
            Some(Frame::SynReply {
                stream_id,
                flags: 0,
                headers,
            }) => {
                assert_eq!(stream_id, id);
                assert!(headers.is_empty());
            }
            other => panic!("expected SYN_REPLY for {id}, got {other:?}"),
        }
        s.ids.insert(kind, id);
    }
    s
}

impl Session {
    async fn streams(&mut self) -> ExecStreams {
        tokio::time::timeout(STEP, self.accept.take().unwrap())
            .await
            .expect("accept_exec did not return")
            .unwrap()
            .expect("accept_exec failed")
    }

    fn id(&self, kind: &str) -> u32 {
        self.ids[kind]
    }
}

fn all_flags() -> StreamFlags {
    StreamFlags {
        stdin: true,
        stdout: true,
        stderr: true,
        tty: false,
    }
}

fn exit_status(code: i32) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("command terminated with non-zero exit code: error executing command [sh -c exit {code}], exit code {code}"),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}
    }))
    .unwrap()
}

fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x2545_f491;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// A bridge like the cluster's: echo stdin to stdout, then a line on stderr, then the
/// final status. Resolves with what it saw once the connection is gone.
fn echo_bridge(mut s: ExecStreams, status: Vec<u8>) -> JoinHandle<usize> {
    tokio::spawn(async move {
        let mut stdin = s.stdin.take().unwrap();
        let stdout = s.stdout.take().unwrap();
        let stderr = s.stderr.take().unwrap();
        let mut n = 0;
        while let Some(chunk) = stdin.recv().await {
            n += chunk.len();
            stdout.send(chunk).await.unwrap();
        }
        stderr.send(b"oops\n".to_vec()).await.unwrap();
        s.finish.send(status).unwrap();
        tokio::time::timeout(STEP, s.dropped)
            .await
            .expect("dropped did not fire")
            .unwrap();
        // With the connection gone, output can no longer be sent.
        let closed = async {
            while stdout.send(b"late".to_vec()).await.is_ok() {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(STEP, closed).await.unwrap();
        n
    })
}

#[test]
fn negotiate_follows_the_kubelet() {
    assert_eq!(
        negotiate(&[
            "v4.channel.k8s.io",
            "v3.channel.k8s.io",
            "v2.channel.k8s.io",
            "channel.k8s.io"
        ]),
        Some("v4.channel.k8s.io")
    );
    // The client's order decides.
    assert_eq!(
        negotiate(&["v2.channel.k8s.io", "v4.channel.k8s.io"]),
        Some("v2.channel.k8s.io")
    );
    // kubectl ≥ 1.29 offers v5 over SPDY too.
    assert_eq!(
        negotiate(&[
            "v5.channel.k8s.io",
            "v4.channel.k8s.io",
            "v3.channel.k8s.io"
        ]),
        Some("v5.channel.k8s.io")
    );
    assert_eq!(
        negotiate(&["v6.channel.k8s.io, v4.channel.k8s.io"]),
        Some("v4.channel.k8s.io")
    );
    assert_eq!(negotiate(&["v6.channel.k8s.io"]), None);
    assert_eq!(negotiate(&["portforward.k8s.io"]), None);
    // No header at all: the legacy protocol, as the kubelet does.
    assert_eq!(negotiate(&[]), Some("channel.k8s.io"));
    assert_eq!(
        SPDY_PROTOCOLS,
        &[
            "v5.channel.k8s.io",
            "v4.channel.k8s.io",
            "v3.channel.k8s.io",
            "v2.channel.k8s.io",
            "channel.k8s.io"
        ]
    );
}

#[test]
fn error_stream_payload_per_protocol() {
    let failure = exit_status(3);
    assert_eq!(error_stream_payload(4, &failure), failure);
    assert_eq!(
        String::from_utf8(error_stream_payload(3, &failure)).unwrap(),
        "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3"
    );
    let success = br#"{"metadata":{},"status":"Success"}"#;
    assert_eq!(error_stream_payload(4, success), success.to_vec());
    assert!(error_stream_payload(2, success).is_empty());
    assert!(error_stream_payload(1, success).is_empty());
    assert_eq!(
        error_stream_payload(2, br#"{"status":"Failure","reason":"InternalError"}"#),
        b"InternalError"
    );
    assert_eq!(error_stream_payload(1, b"plain text"), b"plain text");
}

#[tokio::test]
async fn rejects_unknown_protocols() {
    let (_client, server) = tokio::io::duplex(1024);
    let err = accept_exec(server, "v6.channel.k8s.io", all_flags())
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("unsupported"), "{err}");
}

#[tokio::test]
async fn v4_exec_round_trip_with_a_client_that_ignores_flow_control() {
    let mut s = start(
        PROTOCOL_V4,
        all_flags(),
        &["error", "stdin", "stdout", "stderr"],
    )
    .await;
    let streams = s.streams().await;
    assert_eq!(streams.protocol, "v4.channel.k8s.io");
    assert_eq!(streams.transport, "spdy");
    assert_eq!(streams.flags, all_flags());
    let status = exit_status(3);
    let bridge = echo_bridge(streams, status.clone());

    // Far more than the 64 KiB windows in both directions, and never a WINDOW_UPDATE
    // from the client (like spdystream).
    let input = pattern(700 * 1024 + 123);
    let (stdin, mut w) = (s.id("stdin"), s.w);
    let sent = input.clone();
    let writer = tokio::spawn(async move {
        w.send(Frame::Ping { id: 1 }).await;
        for chunk in sent.chunks(10_000) {
            w.data(stdin, chunk, false).await;
        }
        w.data(stdin, &[], true).await;
        w
    });

    let mut t = Transcript::default();
    while let Some(f) = s.r.next().await {
        t.record(f);
    }
    let w = writer.await.unwrap();
    drop(w);
    drop(s.r);
    assert_eq!(bridge.await.unwrap(), input.len());

    let (err, out, errout) = (s.ids["error"], s.ids["stdout"], s.ids["stderr"]);
    assert!(
        t.stream(out) == input.as_slice(),
        "stdout differs from stdin"
    );
    assert_eq!(t.stream(errout), b"oops\n");
    assert_eq!(t.stream(err), status.as_slice());
    assert!(t.events.contains(&Event::Ping(1)));
    // All output is out, and its streams closed, before the status; the status stream
    // closes last; then GOAWAY naming the last stream the client opened.
    let status_at = t.last_data(err).unwrap();
    assert!(t.pos(&Event::Fin(out)) < status_at);
    assert!(t.pos(&Event::Fin(errout)) < status_at);
    assert!(t.last_data(out).unwrap() < t.pos(&Event::Fin(out)));
    assert!(t.pos(&Event::Fin(stdin)) < t.pos(&Event::Fin(err)));
    assert!(t.pos(&Event::Fin(err)) < t.pos(&Event::GoAway(7)));
    assert_eq!(t.events.last(), Some(&Event::GoAway(7)));
    // The client was granted window for what it sent: for the session all of it (up to
    // one batch), for the stream until it half-closed.
    let consumed = input.len() as u64;
    let session = t.granted(0);
    assert!(
        session <= consumed && session + u64::from(WINDOW_UPDATE_THRESHOLD) > consumed,
        "granted {session} for {consumed}"
    );
    let stream = t.granted(stdin);
    assert!(
        stream > 0 && stream <= consumed,
        "granted {stream} for {consumed}"
    );
    assert!(
        t.events.iter().all(|e| !matches!(e, Event::Other(_))),
        "{:?}",
        t.events
    );
}

/// Read stdout DATA until `got` holds `target` bytes, then check that nothing more comes
/// for a while (the server waits for window).
async fn read_until_stall(r: &mut ClientReader, out: u32, got: &mut Vec<u8>, target: usize) {
    while got.len() < target {
        match r.next().await.expect("connection ended early") {
            Frame::Data {
                stream_id, data, ..
            } if stream_id == out => got.extend_from_slice(&data),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(got.len(), target, "sent beyond the client's window");
    if let Some(f) = r.next_within(Duration::from_millis(400)).await {
        panic!("sent beyond the client's window: {f:?}");
    }
}

#[tokio::test]
async fn client_windows_are_honoured_once_it_shows_flow_control() {
    let flags = StreamFlags {
        stdout: true,
        ..Default::default()
    };
    // A real SPDY/3.1 client announcing a 16 KiB initial stream window.
    let settings = Frame::Settings {
        flags: 0,
        entries: vec![(0, frame::SETTINGS_INITIAL_WINDOW_SIZE, 16 * 1024)],
    };
    let mut s = start_with(
        PROTOCOL_V4,
        flags,
        &["error", "stdout"],
        vec![settings],
        STREAM_CREATION_TIMEOUT,
    )
    .await;
    let mut streams = s.streams().await;
    assert!(streams.stdin.is_none() && streams.stderr.is_none());
    let stdout = streams.stdout.take().unwrap();
    let output = pattern(200 * 1024);
    let produced = output.clone();
    let producer = tokio::spawn(async move {
        for chunk in produced.chunks(50_000) {
            stdout.send(chunk.to_vec()).await.unwrap();
        }
        let ok = br#"{"metadata":{},"status":"Success"}"#.to_vec();
        streams.finish.send(ok).unwrap();
        streams.dropped.await.unwrap();
    });
    let out = s.id("stdout");
    let mut got = Vec::new();
    let mut t = Transcript::default();
    // Exactly the stream window, then nothing.
    read_until_stall(&mut s.r, out, &mut got, 16 * 1024).await;
    // More stream window, but the session window (64 KiB) now limits.
    s.w.send(Frame::WindowUpdate {
        stream_id: out,
        delta: 60_000,
    })
    .await;
    read_until_stall(&mut s.r, out, &mut got, 64 * 1024).await;
    // Open both wide: the rest, then the close.
    s.w.send(Frame::WindowUpdate {
        stream_id: 0,
        delta: 1 << 20,
    })
    .await;
    s.w.send(Frame::WindowUpdate {
        stream_id: out,
        delta: 1 << 20,
    })
    .await;
    while let Some(f) = s.r.next().await {
        t.record(f);
    }
    got.extend_from_slice(t.stream(out));
    assert!(got == output, "stdout differs");
    assert_eq!(
        t.stream(s.id("error")),
        br#"{"metadata":{},"status":"Success"}"#
    );
    assert!(t.pos(&Event::Fin(out)) < t.pos(&Event::Fin(s.id("error"))));
    drop(s.w);
    drop(s.r);
    tokio::time::timeout(STEP, producer).await.unwrap().unwrap();
}

#[tokio::test]
async fn old_protocols_write_plain_text_only_on_failure() {
    for (protocol, status, expect) in [
        (PROTOCOL_V5, exit_status(2), &exit_status(2)[..]),
        (PROTOCOL_V3, exit_status(2), &b"command terminated with non-zero exit code: error executing command [sh -c exit 2], exit code 2"[..]),
        (PROTOCOL_V2, br#"{"metadata":{},"status":"Success"}"#.to_vec(), &b""[..]),
    ] {
        let flags = StreamFlags {
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        let mut s = start(protocol, flags, &["error", "stdout", "stderr"]).await;
        let mut streams = s.streams().await;
        streams.stdout.take().unwrap().send(b"hi".to_vec()).await.unwrap();
        streams.finish.send(status).unwrap();
        let mut t = Transcript::default();
        while let Some(f) = s.r.next().await {
            t.record(f);
        }
        assert_eq!(t.stream(s.id("stdout")), b"hi");
        assert_eq!(t.stream(s.id("error")), expect, "{protocol}");
        assert!(t.events.contains(&Event::Fin(s.id("error"))));
        assert!(t.events.contains(&Event::Fin(s.id("stderr"))));
    }
}

#[tokio::test]
async fn v1_half_closes_stdin_at_once() {
    let flags = StreamFlags {
        stdin: true,
        stdout: true,
        ..Default::default()
    };
    let mut s = start(PROTOCOL_V1, flags, &["error", "stdin", "stdout"]).await;
    let _streams = s.streams().await;
    match s.r.next().await {
        Some(Frame::Data {
            stream_id,
            flags: FLAG_FIN,
            data,
        }) => {
            assert_eq!(stream_id, s.id("stdin"));
            assert!(data.is_empty());
        }
        other => panic!("expected FIN on stdin, got {other:?}"),
    }
}

#[tokio::test]
async fn tty_wants_resize_and_no_stderr() {
    let flags = StreamFlags {
        stdin: true,
        stdout: true,
        stderr: true,
        tty: true,
    };
    let mut s = start(PROTOCOL_V4, flags, &["error", "stdin", "stdout", "resize"]).await;
    let mut streams = s.streams().await;
    assert!(!streams.flags.stderr && streams.flags.tty);
    assert!(streams.stderr.is_none());
    let resize = s.id("resize");
    s.w.data(resize, br#"{"Width":80,"Height":24}"#, false)
        .await;
    s.w.data(s.id("stdin"), b"typed", true).await;
    let mut stdin = streams.stdin.take().unwrap();
    assert_eq!(stdin.recv().await.unwrap(), b"typed");
    assert!(stdin.recv().await.is_none());
    streams.finish.send(b"{}".to_vec()).unwrap();
    let mut t = Transcript::default();
    while let Some(f) = s.r.next().await {
        t.record(f);
    }
    assert!(t.events.contains(&Event::Fin(resize)));
}

#[tokio::test]
async fn missing_streams_time_out() {
    let flags = StreamFlags {
        stdout: true,
        ..Default::default()
    };
    let mut s = start_with(
        PROTOCOL_V4,
        flags,
        &["error"],
        Vec::new(),
        Duration::from_millis(300),
    )
    .await;
    let accept = s.accept.take().unwrap();
    let err = accept
        .await
        .unwrap()
        .err()
        .expect("accept_exec should fail");
    assert!(err.to_string().contains("timed out"), "{err}");
    // And the connection is closed.
    assert_eq!(s.r.next().await, None);
}

#[tokio::test]
async fn client_hang_up_ends_stdin_and_fires_dropped() {
    let mut s = start(
        PROTOCOL_V4,
        all_flags(),
        &["error", "stdin", "stdout", "stderr"],
    )
    .await;
    let mut streams = s.streams().await;
    s.w.data(s.id("stdin"), b"partial", false).await;
    drop(s.w);
    drop(s.r);
    let mut stdin = streams.stdin.take().unwrap();
    assert_eq!(stdin.recv().await.unwrap(), b"partial");
    assert!(tokio::time::timeout(STEP, stdin.recv())
        .await
        .unwrap()
        .is_none());
    tokio::time::timeout(STEP, streams.dropped)
        .await
        .unwrap()
        .unwrap();
    let stdout = streams.stdout.take().unwrap();
    let closed = async {
        while stdout.send(b"x".to_vec()).await.is_ok() {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(STEP, closed).await.unwrap();
}

#[tokio::test]
async fn abort_tears_the_connection_down() {
    let mut s = start(
        PROTOCOL_V4,
        all_flags(),
        &["error", "stdin", "stdout", "stderr"],
    )
    .await;
    let mut streams = s.streams().await;
    streams.abort.send(()).await.unwrap();
    tokio::time::timeout(STEP, &mut streams.dropped)
        .await
        .unwrap()
        .unwrap();
    // The client sees the connection end without a GOAWAY or any FIN.
    let mut t = Transcript::default();
    while let Some(f) = s.r.next().await {
        t.record(f);
    }
    assert!(t.events.is_empty(), "{:?}", t.events);
    let mut stdin = streams.stdin.take().unwrap();
    assert!(tokio::time::timeout(STEP, stdin.recv())
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn dropping_the_abort_sender_is_not_an_abort() {
    let flags = StreamFlags {
        stdout: true,
        ..Default::default()
    };
    let mut s = start(PROTOCOL_V4, flags, &["error", "stdout"]).await;
    let streams = s.streams().await;
    let ExecStreams {
        stdout,
        finish,
        abort,
        ..
    } = streams;
    drop(abort);
    tokio::time::sleep(Duration::from_millis(50)).await;
    stdout.unwrap().send(b"still here".to_vec()).await.unwrap();
    finish.send(b"{}".to_vec()).unwrap();
    let mut t = Transcript::default();
    while let Some(f) = s.r.next().await {
        t.record(f);
    }
    assert_eq!(t.stream(s.id("stdout")), b"still here");
    assert_eq!(t.stream(s.id("error")), b"{}");
}
