//! The port-forward sessions against scripted clients, with a dialer that reaches echo
//! servers on the host instead of a container.

use std::time::Duration;

use tokio::io::{DuplexStream, ReadHalf, WriteHalf};
use tokio::net::TcpListener;

use super::*;
use crate::spdy::frame::{Decoder, Encoder, Frame, FLAG_FIN};

const STEP: Duration = Duration::from_secs(20);

/// An echo server that upper-cases what it gets and closes after `close_after` bytes.
async fn echo_server(close_after: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut seen = 0;
                let mut buf = [0u8; 1024];
                while seen < close_after {
                    let n = match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    seen += n;
                    let _ = s.write_all(&buf[..n].to_ascii_uppercase()).await;
                }
            });
        }
    });
    port
}

/// Dials `127.0.0.1:port` on the host; a port of 1 is "refused" with the kubelet's words.
fn host_dialer() -> Dialer {
    Arc::new(|port| {
        Box::pin(async move {
            if port == 1 {
                return Err(
                    "error forwarding port 1 to pod test, uid u: connection refused".into(),
                );
            }
            TcpStream::connect(("127.0.0.1", port))
                .await
                .map_err(|e| e.to_string())
        })
    })
}

struct SpdyClient {
    w: WriteHalf<DuplexStream>,
    enc: Encoder,
    r: ReadHalf<DuplexStream>,
    dec: Decoder,
}

impl SpdyClient {
    fn start() -> SpdyClient {
        let (client, server) = tokio::io::duplex(64 * 1024);
        tokio::spawn(serve_spdy(server, host_dialer()));
        let (r, w) = tokio::io::split(client);
        SpdyClient {
            w,
            enc: Encoder::new(),
            r,
            dec: Decoder::new(),
        }
    }

    async fn send(&mut self, f: Frame) {
        let mut buf = Vec::new();
        self.enc.encode(&f, &mut buf).unwrap();
        self.w.write_all(&buf).await.unwrap();
    }

    async fn open(&mut self, id: u32, kind: &str, port: &str, request: Option<&str>) {
        let mut headers = vec![
            ("streamtype".to_string(), kind.to_string()),
            ("port".to_string(), port.to_string()),
        ];
        if let Some(r) = request {
            headers.push(("requestid".to_string(), r.to_string()));
        }
        self.send(Frame::SynStream {
            stream_id: id,
            associated_to: 0,
            priority: 0,
            slot: 0,
            flags: 0,
            headers,
        })
        .await;
    }

    async fn next(&mut self) -> Option<Frame> {
        tokio::time::timeout(STEP, frame::read_frame(&mut self.r, &mut self.dec))
            .await
            .expect("timed out waiting for a frame")
            .unwrap_or(None)
    }

    /// Reads frames until both streams are FINed; returns their data.
    async fn until_closed(&mut self, data: u32, error: u32) -> (Vec<u8>, Vec<u8>) {
        let (mut d, mut e) = (Vec::new(), Vec::new());
        let (mut d_fin, mut e_fin) = (false, false);
        while !(d_fin && e_fin) {
            match self.next().await.expect("connection ended early") {
                Frame::Data {
                    stream_id,
                    flags,
                    data: bytes,
                } => {
                    let fin = flags & FLAG_FIN != 0;
                    if stream_id == data {
                        d.extend_from_slice(&bytes);
                        d_fin |= fin;
                    } else if stream_id == error {
                        e.extend_from_slice(&bytes);
                        e_fin |= fin;
                    }
                }
                Frame::RstStream { stream_id, .. } if stream_id == data => d_fin = true,
                _ => {}
            }
        }
        (d, e)
    }
}

#[tokio::test]
async fn spdy_pairs_streams_by_request_and_forwards_both_ways() {
    let port = echo_server(5).await.to_string();
    let mut c = SpdyClient::start();
    // Two connections interleaved, as kubectl opens them: error then data per request.
    c.open(1, "error", &port, Some("0")).await;
    c.open(3, "error", &port, Some("1")).await;
    c.open(5, "data", &port, Some("1")).await;
    c.open(7, "data", &port, Some("0")).await;
    c.send(Frame::Data {
        stream_id: 5,
        flags: 0,
        data: b"hello".to_vec(),
    })
    .await;
    // The echo server closes after 5 bytes: request 1's streams are half-closed.
    let (data, error) = c.until_closed(5, 3).await;
    assert_eq!(data, b"HELLO");
    assert!(error.is_empty(), "{}", String::from_utf8_lossy(&error));
    // Request 0 is still open and independent.
    c.send(Frame::Data {
        stream_id: 7,
        flags: 0,
        data: b"world".to_vec(),
    })
    .await;
    let (data, error) = c.until_closed(7, 1).await;
    assert_eq!(data, b"WORLD");
    assert!(error.is_empty());
}

#[tokio::test]
async fn spdy_without_request_ids_pairs_data_with_the_error_stream_before_it() {
    let port = echo_server(2).await.to_string();
    let mut c = SpdyClient::start();
    c.open(1, "error", &port, None).await;
    c.open(3, "data", &port, None).await;
    c.send(Frame::Data {
        stream_id: 3,
        flags: 0,
        data: b"ok".to_vec(),
    })
    .await;
    let (data, _) = c.until_closed(3, 1).await;
    assert_eq!(data, b"OK");
}

#[tokio::test]
async fn spdy_failures_are_written_on_the_error_stream() {
    let mut c = SpdyClient::start();
    c.open(1, "error", "1", Some("0")).await;
    c.open(3, "data", "1", Some("0")).await;
    let (data, error) = c.until_closed(3, 1).await;
    assert!(data.is_empty());
    assert_eq!(
        String::from_utf8(error).unwrap(),
        "error forwarding port 1 to pod test, uid u: connection refused"
    );
    // A bad port header on an error stream is answered there too.
    c.open(5, "error", "http", Some("1")).await;
    let mut message = Vec::new();
    loop {
        if let Frame::Data {
            stream_id: 5,
            flags,
            data,
        } = c.next().await.unwrap()
        {
            message.extend_from_slice(&data);
            if flags & FLAG_FIN != 0 {
                break;
            }
        }
    }
    let message = String::from_utf8(message).unwrap();
    assert!(message.contains("invalid port \"http\""), "{message}");
}

#[tokio::test]
async fn spdy_client_half_close_reaches_the_container() {
    // The server echoes until the client half-closes, then the container closes too.
    let port = echo_server(usize::MAX).await.to_string();
    let mut c = SpdyClient::start();
    c.open(1, "error", &port, Some("0")).await;
    c.open(3, "data", &port, Some("0")).await;
    c.send(Frame::Data {
        stream_id: 3,
        flags: FLAG_FIN,
        data: b"bye".to_vec(),
    })
    .await;
    let (data, _) = c.until_closed(3, 1).await;
    assert_eq!(data, b"BYE");
}

#[test]
fn ports_query_is_validated() {
    assert_eq!(parse_ports(None).unwrap(), Vec::<u16>::new());
    assert_eq!(parse_ports(Some("80,8080")).unwrap(), vec![80, 8080]);
    assert!(parse_ports(Some("0")).is_err());
    assert!(parse_ports(Some("70000")).is_err());
    assert!(parse_ports(Some("80,x")).is_err());
}

#[test]
fn containers_declaring_the_port_are_dialled_first() {
    let c = |name: &str, ports: &[u16]| RunningContainer {
        name: name.to_string(),
        live: crate::kubelet::LiveContainer {
            runtime_id: name.to_string(),
            pid: 1,
            log_path: Default::default(),
        },
        ports: ports.to_vec(),
    };
    let order: Vec<String> = dial_order(vec![c("a", &[]), c("b", &[80]), c("c", &[])], 80)
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(order, ["b", "a", "c"]);
}

#[tokio::test]
async fn channels_announce_ports_forward_data_and_close_when_done() {
    let port = echo_server(4).await;
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let server = WebSocketStream::from_raw_socket(server_io, Role::Server, None).await;
    tokio::spawn(serve_channels(server, vec![port, 1], host_dialer()));
    let mut client = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
    let p = port.to_le_bytes();
    let mut firsts = Vec::new();
    for _ in 0..4 {
        match client.next().await.unwrap().unwrap() {
            Message::Binary(b) => firsts.push(b.to_vec()),
            other => panic!("expected a port announcement, got {other:?}"),
        }
    }
    assert_eq!(
        firsts,
        [
            vec![0, p[0], p[1]],
            vec![1, p[0], p[1]],
            vec![2, 1, 0],
            vec![3, 1, 0]
        ]
    );
    client
        .send(Message::Binary(b"\x00ping".to_vec().into()))
        .await
        .unwrap();
    let (mut data, mut errors) = (Vec::new(), Vec::new());
    loop {
        match tokio::time::timeout(STEP, client.next()).await.unwrap() {
            Some(Ok(Message::Binary(b))) => match b[0] {
                0 => data.extend_from_slice(&b[1..]),
                3 => errors.push(String::from_utf8(b[1..].to_vec()).unwrap()),
                other => panic!("unexpected channel {other}"),
            },
            Some(Ok(Message::Close(f))) => {
                assert_eq!(f.unwrap().code, CloseCode::Normal);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(data, b"PING");
    assert_eq!(
        errors,
        ["error forwarding port 1 to pod test, uid u: connection refused"]
    );
}
