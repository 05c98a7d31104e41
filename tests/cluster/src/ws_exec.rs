//! The WebSocket front end of exec: Kubernetes' channel subprotocols
//! (`v5.channel.k8s.io`, `v4.channel.k8s.io`, `v3…`, `v2…`, `channel.k8s.io`) on a
//! connection hyper has upgraded.
//!
//! Every binary message starts with a channel byte: 0 stdin, 1 stdout, 2 stderr, 3 error
//! (the final `Status`), 4 resize. Only v5 has channel 255, "close": a client sends
//! `[255, 0]` to close stdin. On v4 and older a client cannot end stdin short of closing
//! the connection.

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tracing::debug;

use crate::streams::{ExecStreams, StreamFlags};

/// The subprotocols served over WebSocket, best first.
pub const WS_PROTOCOLS: &[&str] = &[
    "v5.channel.k8s.io",
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
];

/// Picks the best protocol the client offered (the `Sec-WebSocket-Protocol` list).
/// With `refuse_v5`, the server behaves like a cluster older than 1.29: it does not know
/// v5 and picks from the rest.
pub fn negotiate(offered: &[String], refuse_v5: bool) -> Option<&'static str> {
    WS_PROTOCOLS
        .iter()
        .copied()
        .filter(|p| !(refuse_v5 && *p == "v5.channel.k8s.io"))
        .find(|p| offered.iter().any(|o| o == p))
}

/// Runs the WebSocket session on `io` and returns its streams.
pub async fn accept<IO>(io: IO, protocol: &'static str, flags: StreamFlags) -> ExecStreams
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
    let (stdin_tx, stdin_rx) = mpsc::channel(32);
    let (stdout_tx, stdout_rx) = mpsc::channel(32);
    let (stderr_tx, stderr_rx) = mpsc::channel(32);
    let (finish_tx, finish_rx) = oneshot::channel();
    let (dropped_tx, dropped_rx) = oneshot::channel();
    let (abort_tx, abort_rx) = mpsc::channel(1);
    let can_close = protocol == "v5.channel.k8s.io";
    tokio::spawn(session(
        ws,
        can_close,
        flags.stdin.then_some(stdin_tx),
        stdout_rx,
        stderr_rx,
        finish_rx,
        dropped_tx,
        abort_rx,
    ));
    ExecStreams {
        protocol: protocol.to_string(),
        transport: "websocket",
        flags,
        stdin: flags.stdin.then_some(stdin_rx),
        stdout: flags.stdout.then_some(stdout_tx),
        stderr: flags.stderr.then_some(stderr_tx),
        finish: finish_tx,
        dropped: dropped_rx,
        abort: abort_tx,
    }
}

#[allow(clippy::too_many_arguments)]
async fn session<IO>(
    ws: WebSocketStream<IO>,
    can_close: bool,
    mut stdin: Option<mpsc::Sender<Vec<u8>>>,
    mut stdout: mpsc::Receiver<Vec<u8>>,
    mut stderr: mpsc::Receiver<Vec<u8>>,
    mut finish: oneshot::Receiver<Vec<u8>>,
    dropped: oneshot::Sender<()>,
    mut abort: mpsc::Receiver<()>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut source) = ws.split();
    let frame = |ch: u8, data: &[u8]| {
        let mut v = Vec::with_capacity(data.len() + 1);
        v.push(ch);
        v.extend_from_slice(data);
        Message::Binary(v.into())
    };
    let (mut out_open, mut err_open) = (true, true);
    // A stdin chunk waiting for room: while one waits, the socket is not read (so TCP
    // pushes back on the client) but output keeps flowing, which avoids a deadlock with a
    // process that only reads stdin after its output was taken.
    let mut pending: Option<Vec<u8>> = None;
    loop {
        let reserve = stdin.clone();
        tokio::select! {
            biased;
            _ = abort.recv() => {
                debug!("exec stream aborted by control");
                break;
            }
            permit = async move { reserve.unwrap().reserve_owned().await }, if pending.is_some() && stdin.is_some() => {
                match permit {
                    Ok(p) => {
                        p.send(pending.take().unwrap());
                    }
                    Err(_) => { stdin = None; pending = None; }
                }
            }
            msg = source.next(), if pending.is_none() => match msg {
                Some(Ok(Message::Binary(data))) if !data.is_empty() => {
                    debug!(channel = data[0], len = data.len(), "exec message from client");
                    match data[0] {
                        0 if stdin.is_some() && data.len() > 1 => {
                            pending = Some(data[1..].to_vec());
                        }
                        255 if can_close && data.get(1) == Some(&0) => stdin = None,
                        _ => {} // resize and unknown channels
                    }
                }
                Some(Ok(Message::Ping(p))) => {
                    let _ = sink.send(Message::Pong(p)).await;
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            chunk = stdout.recv(), if out_open => match chunk {
                Some(c) => if sink.send(frame(1, &c)).await.is_err() { break },
                None => out_open = false,
            },
            chunk = stderr.recv(), if err_open => match chunk {
                Some(c) => if sink.send(frame(2, &c)).await.is_err() { break },
                None => err_open = false,
            },
            status = &mut finish => {
                // Everything the bridge sent before the status goes out first.
                while let Ok(c) = stdout.try_recv() {
                    let _ = sink.send(frame(1, &c)).await;
                }
                while let Ok(c) = stderr.try_recv() {
                    let _ = sink.send(frame(2, &c)).await;
                }
                if let Ok(s) = status {
                    let _ = sink.send(frame(3, &s)).await;
                }
                // A normal close (1000): clients treat it as the end of every stream,
                // while a close without a code reads as an error (1005).
                let _ = sink
                    .send(Message::Close(Some(CloseFrame {
                        code: CloseCode::Normal,
                        reason: "".into(),
                    })))
                    .await;
                // Give the client a moment to answer the close handshake.
                let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
                    while let Some(Ok(m)) = source.next().await {
                        if matches!(m, Message::Close(_)) { break; }
                    }
                }).await;
                break;
            }
        }
    }
    drop(stdin);
    let _ = dropped.send(());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_prefers_v5_unless_refused() {
        let both = vec![
            "v5.channel.k8s.io".to_string(),
            "v4.channel.k8s.io".to_string(),
        ];
        assert_eq!(negotiate(&both, false), Some("v5.channel.k8s.io"));
        assert_eq!(negotiate(&both, true), Some("v4.channel.k8s.io"));
        let only5 = vec!["v5.channel.k8s.io".to_string()];
        assert_eq!(negotiate(&only5, true), None);
        assert_eq!(negotiate(&["x".to_string()], false), None);
    }
}
