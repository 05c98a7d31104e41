//! A byte stream carried in WebSocket binary messages: how kubectl ≥ 1.31 tunnels its SPDY
//! port-forward session (subprotocol `SPDY/3.1+portforward.k8s.io`, KEP-4006).
//!
//! Message boundaries mean nothing: the client writes each chunk of its SPDY stream as one
//! binary message and reads messages back to back as one stream (client-go's
//! `TunnelingConnection`), so SPDY frames may be split across messages or share one. A
//! text message is a protocol error; a close (normal) is the end of the stream. [`open`]
//! turns the WebSocket into the server end of an in-memory pipe that the SPDY session
//! reads and writes like a socket.

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// The WebSocket subprotocol of the tunnel.
pub const PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";

/// Size of the pipe's buffer per direction, and of the largest message written.
const BUFFER: usize = 64 * 1024;

/// Starts carrying bytes between `ws` and the returned stream: what the client sends comes
/// out of it, what is written to it goes to the client. When the client closes, the stream
/// reads end of file; when the stream's writer shuts down (or the stream is dropped), the
/// client gets a normal close.
pub fn open<IO>(ws: WebSocketStream<IO>) -> DuplexStream
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (ours, theirs) = tokio::io::duplex(BUFFER);
    let (mut sink, mut source) = ws.split();
    let (mut from_pipe, mut to_pipe) = tokio::io::split(ours);
    // Client → pipe. Pings are answered by tungstenite while reading.
    tokio::spawn(async move {
        while let Some(msg) = source.next().await {
            match msg {
                Ok(Message::Binary(data)) => {
                    if to_pipe.write_all(&data).await.is_err() {
                        break;
                    }
                }
                Ok(Message::Text(_)) => {
                    tracing::debug!("port-forward tunnel: text message from client; closing");
                    break;
                }
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let _ = to_pipe.shutdown().await;
    });
    // Pipe → client.
    tokio::spawn(async move {
        let mut buf = vec![0u8; BUFFER];
        loop {
            match from_pipe.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if sink
                        .send(Message::Binary(buf[..n].to_vec().into()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            })))
            .await;
        let _ = sink.close().await;
    });
    theirs
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::protocol::Role;

    async fn pair() -> (WebSocketStream<DuplexStream>, DuplexStream) {
        let (client_io, server_io) = tokio::io::duplex(16 * 1024);
        let server = WebSocketStream::from_raw_socket(server_io, Role::Server, None).await;
        let client = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
        (client, open(server))
    }

    #[tokio::test]
    async fn messages_are_one_byte_stream_both_ways() {
        let (mut client, mut stream) = pair().await;
        // Boundaries do not matter: three messages read as one run of bytes.
        for part in [&b"SPDY "[..], b"frames ", b"split anywhere"] {
            client
                .send(Message::Binary(part.to_vec().into()))
                .await
                .unwrap();
        }
        let mut got = vec![0u8; b"SPDY frames split anywhere".len()];
        stream.read_exact(&mut got).await.unwrap();
        assert_eq!(got, b"SPDY frames split anywhere");

        stream.write_all(b"reply").await.unwrap();
        let mut back = Vec::new();
        while back.len() < 5 {
            match client.next().await.unwrap().unwrap() {
                Message::Binary(b) => back.extend_from_slice(&b),
                other => panic!("expected binary, got {other:?}"),
            }
        }
        assert_eq!(back, b"reply");
    }

    #[tokio::test]
    async fn client_close_is_end_of_file() {
        let (mut client, mut stream) = pair().await;
        client
            .send(Message::Binary(b"last".to_vec().into()))
            .await
            .unwrap();
        client.close(None).await.unwrap();
        let mut all = Vec::new();
        stream.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"last");
    }

    #[tokio::test]
    async fn text_messages_end_the_stream() {
        let (mut client, mut stream) = pair().await;
        client.send(Message::Text("nope".into())).await.unwrap();
        let mut all = Vec::new();
        stream.read_to_end(&mut all).await.unwrap();
        assert!(all.is_empty());
    }

    #[tokio::test]
    async fn shutting_the_stream_down_closes_normally() {
        let (mut client, mut stream) = pair().await;
        stream.write_all(b"bye").await.unwrap();
        stream.shutdown().await.unwrap();
        let mut data = Vec::new();
        loop {
            match client.next().await {
                Some(Ok(Message::Binary(b))) => data.extend_from_slice(&b),
                Some(Ok(Message::Close(Some(f)))) => {
                    assert_eq!(f.code, CloseCode::Normal);
                    break;
                }
                other => panic!("expected data then a normal close, got {other:?}"),
            }
        }
        assert_eq!(data, b"bye");
    }
}
