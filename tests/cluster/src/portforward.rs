//! `pods/NAME/portforward`: `kubectl port-forward` and kube-rs' `Api::portforward`.
//!
//! Three transports, as a real API server and kubelet offer them:
//! - **SPDY/3.1** (`X-Stream-Protocol-Version: portforward.k8s.io`; kubectl ≤ 1.30, and
//!   every kubectl when the WebSocket tunnel is refused). The client opens, per local
//!   connection, a pair of streams with headers `streamType: error|data`, `port` and
//!   `requestID`; bytes on the data stream go to the container's port and back, and a
//!   failure is written as text on the error stream. Both streams are then half-closed.
//! - **SPDY tunnelled in WebSocket** (subprotocol `SPDY/3.1+portforward.k8s.io`, kubectl
//!   ≥ 1.31, KEP-4006): the same SPDY session, its bytes carried in binary messages
//!   ([`tunnel`]). Refused (400, so kubectl falls back to SPDY) while the cluster acts
//!   older than 1.29 (`refuse_v5`), as such a cluster knows no tunnel.
//! - **WebSocket channels** (`v4.channel.k8s.io`, kube-rs): the ports come from the
//!   `ports` query; port *i* has channel 2*i* for data and 2*i*+1 for errors, and each
//!   channel's first server message is the port number (2 bytes, little-endian). One
//!   connection per port for the life of the WebSocket, which the server closes once
//!   every port's connection has ended.
//!
//! Reaching the port: each container has its own network namespace (loopback only), so
//! the connection is made inside it ([`netns`]). A pod's containers do not share one
//! namespace here as they do on a real node, so for a pod with several containers the
//! ones declaring the port (`ports[].containerPort`) are tried first, then the others in
//! spec order; the first that accepts wins. Once either direction of a connection ends,
//! the other gets one more second (as containerd gives it), then both end.

pub mod netns;
pub mod tunnel;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{SinkExt, StreamExt};
use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tracing::{debug, warn};

use crate::apiserver::{header_list, spdy_switch, websocket_switch};
use crate::cluster::Cluster;
use crate::http_util::{Body, Query};
use crate::kubelet::{Kubelet, RunningContainer, Unreachable};
use crate::spdy::frame;
use crate::spdy::session::{self, Conn, Inbound, Opened};
use crate::status::ApiError;
use crate::streams::Chunk;

/// The SPDY subprotocol (`X-Stream-Protocol-Version`).
pub const SPDY_PROTOCOL: &str = "portforward.k8s.io";
/// The WebSocket channel subprotocol kube-rs speaks.
pub const CHANNEL_PROTOCOL: &str = "v4.channel.k8s.io";
/// How long a client has to open the second stream of a pair (the kubelet's default).
const STREAM_CREATION_TIMEOUT: Duration = Duration::from_secs(30);
/// Once one direction of a forwarded connection ended, how long the other may go on.
const LINGER: Duration = Duration::from_secs(1);

/// Serves the WebSocket `req` upgrades to with `serve`, once the 101 has been sent.
fn on_websocket<F, Fut>(req: Request<Incoming>, serve: F)
where
    F: FnOnce(WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        match hyper::upgrade::on(req).await {
            Ok(up) => {
                let io = TokioIo::new(up);
                serve(WebSocketStream::from_raw_socket(io, Role::Server, None).await).await;
            }
            Err(e) => warn!("port-forward websocket upgrade failed: {e}"),
        }
    });
}

/// Serves `GET|POST pods/NAME/portforward`: checks the pod, negotiates the transport,
/// answers 101 and forwards on the upgraded connection.
pub async fn handle(
    cluster: &Arc<Cluster>,
    namespace: &str,
    pod: &str,
    req: Request<Incoming>,
    query: &Query,
) -> Result<http::Response<Body>, ApiError> {
    let target = PodTarget::resolve(cluster, namespace, pod)?;
    let ports = parse_ports(query.get("ports"))?;
    let headers = req.headers();
    let upgrade = crate::apiserver::upgrade_of(headers);
    if upgrade == "websocket" {
        let offered = header_list(headers, "sec-websocket-protocol");
        let offers = |p: &str| offered.iter().any(|o| o == p);
        if offers(tunnel::PROTOCOL) && !cluster.refuse_v5() {
            let response = websocket_switch(headers, tunnel::PROTOCOL)?;
            on_websocket(req, move |ws| serve_spdy(tunnel::open(ws), target.dialer()));
            return Ok(response);
        }
        if offers(CHANNEL_PROTOCOL) {
            if ports.is_empty() {
                return Err(ApiError::bad_request(
                    "query parameter \"ports\" is required for port-forward over WebSocket channels",
                ));
            }
            let response = websocket_switch(headers, CHANNEL_PROTOCOL)?;
            on_websocket(req, move |ws| serve_channels(ws, ports, target.dialer()));
            return Ok(response);
        }
        if offers(tunnel::PROTOCOL) {
            return Err(ApiError::bad_request(format!(
                "unable to upgrade connection: {} is not served: the cluster acts like Kubernetes < 1.29 (refuse_v5); use SPDY/3.1",
                tunnel::PROTOCOL
            )));
        }
        return Err(ApiError::bad_request(format!(
            "unable to upgrade connection: none of the requested subprotocols are supported for port-forward: {offered:?}"
        )));
    }
    if upgrade == "spdy/3.1" {
        let offered = header_list(headers, crate::spdy::PROTOCOL_HEADER);
        // As the kubelet's handshake: a client that names no protocol gets the only one.
        if !offered.is_empty() && !offered.iter().any(|p| p == SPDY_PROTOCOL) {
            return Err(ApiError::new(
                403,
                "Forbidden",
                format!(
                    "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server supports [\"{SPDY_PROTOCOL}\"]"
                ),
            ));
        }
        tokio::spawn(async move {
            match hyper::upgrade::on(req).await {
                Ok(up) => serve_spdy(TokioIo::new(up), target.dialer()).await,
                Err(e) => warn!("port-forward spdy upgrade failed: {e}"),
            }
        });
        return Ok(spdy_switch(SPDY_PROTOCOL));
    }
    Err(ApiError::bad_request(
        "Upgrade request required: port-forward needs a SPDY/3.1 (portforward.k8s.io) or WebSocket (SPDY/3.1+portforward.k8s.io, v4.channel.k8s.io) upgrade",
    ))
}

/// The `ports` query (`8080,9090` or repeated): each 1–65535.
fn parse_ports(value: Option<&str>) -> Result<Vec<u16>, ApiError> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(Vec::new());
    };
    value
        .split(',')
        .map(|p| {
            let p = p.trim();
            match p.parse::<u16>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(ApiError::bad_request(format!(
                    "invalid port {p:?} in query parameter \"ports\": must be 1-65535"
                ))),
            }
        })
        .collect()
}

/// The pod a port-forward session reaches. Containers are looked up per connection, so
/// a restarted container (a new namespace) is found again.
#[derive(Clone)]
pub struct PodTarget {
    kubelet: Arc<Kubelet>,
    namespace: String,
    name: String,
    uid: String,
}

impl PodTarget {
    /// 404 for a pod that does not exist, 400 for one without a running container.
    fn resolve(cluster: &Cluster, namespace: &str, pod: &str) -> Result<PodTarget, ApiError> {
        let running = cluster
            .kubelet
            .running_containers(namespace, pod)
            .map_err(|_| ApiError::not_found("pods", "", pod))?;
        let obj = cluster
            .store
            .get(&crate::store::Key::new("pods", namespace, pod))
            .ok_or_else(|| ApiError::not_found("pods", "", pod))?;
        if running.is_empty() {
            let phase = obj["status"]["phase"].as_str().unwrap_or("Pending");
            return Err(ApiError::bad_request(format!(
                "unable to forward ports: pod {pod} is not running (phase {phase})"
            )));
        }
        Ok(PodTarget {
            kubelet: cluster.kubelet.clone(),
            namespace: namespace.to_string(),
            name: pod.to_string(),
            uid: obj["metadata"]["uid"].as_str().unwrap_or("").to_string(),
        })
    }

    fn dialer(self) -> Dialer {
        let target = Arc::new(self);
        Arc::new(move |port| {
            let target = target.clone();
            Box::pin(async move { target.dial(port).await })
        })
    }

    /// Connects to `port` in the pod, or says why not in the kubelet's words
    /// (`error forwarding port 8080 to pod web, uid …: …`).
    async fn dial(&self, port: u16) -> Result<TcpStream, String> {
        let fail = |why: String| {
            format!(
                "error forwarding port {port} to pod {}, uid {}: {why}",
                self.name, self.uid
            )
        };
        let containers = match self.kubelet.running_containers(&self.namespace, &self.name) {
            Ok(c) => c,
            Err(Unreachable::NoPod) => return Err(fail("pod not found".to_string())),
            Err(_) => Vec::new(),
        };
        if containers.is_empty() {
            return Err(fail(
                "pod is not running: no container of it runs".to_string(),
            ));
        }
        let mut first_error = None;
        for c in dial_order(containers, port) {
            match netns::connect(c.live.pid, port).await {
                Ok(s) => {
                    debug!(pod = %self.name, container = %c.name, port, "port-forward connected");
                    return Ok(s);
                }
                Err(e) => {
                    first_error.get_or_insert(format!(
                        "failed to connect to localhost:{port} inside the network namespace of container {}: {e}",
                        c.name
                    ));
                }
            }
        }
        Err(fail(first_error.unwrap_or_default()))
    }
}

/// How a session reaches a port: [`PodTarget::dial`] in the cluster; anything in tests.
type Dialer = Arc<dyn Fn(u16) -> BoxFuture<'static, Result<TcpStream, String>> + Send + Sync>;

/// Containers declaring `port` first, then the rest, each group in spec order.
fn dial_order(containers: Vec<RunningContainer>, port: u16) -> Vec<RunningContainer> {
    let (mut declaring, others): (Vec<_>, Vec<_>) = containers
        .into_iter()
        .partition(|c| c.ports.contains(&port));
    declaring.extend(others);
    declaring
}

/// Where a forwarded connection's client side comes from.
enum FromClient {
    Spdy(Inbound),
    Channel(mpsc::Receiver<Chunk>),
}

impl FromClient {
    async fn recv(&mut self) -> Option<Chunk> {
        match self {
            FromClient::Spdy(inbound) => inbound.recv().await,
            FromClient::Channel(rx) => rx.recv().await,
        }
    }
}

/// Where a forwarded connection's bytes from the container go.
enum ToClient {
    Spdy {
        conn: Conn,
        stream_id: u32,
    },
    Channel {
        channel: u8,
        out: mpsc::Sender<(u8, Chunk)>,
    },
}

impl ToClient {
    /// False once the client side is gone.
    async fn send(&self, data: &[u8]) -> bool {
        match self {
            ToClient::Spdy { conn, stream_id } => conn.send_data(*stream_id, data).await,
            ToClient::Channel { channel, out } => out.send((*channel, data.to_vec())).await.is_ok(),
        }
    }

    /// The container closed its side (v4 channels cannot say so).
    fn close(&self) {
        if let ToClient::Spdy { conn, stream_id } = self {
            conn.send_fin(*stream_id);
        }
    }
}

/// Copies both ways between the container's connection and the client until both
/// directions ended, or one ended and the other did not within [`LINGER`].
async fn splice(tcp: TcpStream, mut from: FromClient, to: ToClient) {
    let (mut r, mut w) = tcp.into_split();
    let up = async {
        while let Some(chunk) = from.recv().await {
            if w.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = w.shutdown().await;
    };
    let down = async {
        let mut buf = vec![0u8; session::MAX_DATA_FRAME];
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if !to.send(&buf[..n]).await {
                        break;
                    }
                }
            }
        }
        to.close();
    };
    tokio::pin!(up, down);
    tokio::select! {
        _ = &mut up => { let _ = tokio::time::timeout(LINGER, down).await; }
        _ = &mut down => { let _ = tokio::time::timeout(LINGER, up).await; }
    }
}

/// One SPDY port-forward session: pairs the streams the client opens by `requestID` and
/// forwards each complete pair, until the client hangs up.
async fn serve_spdy<IO: AsyncRead + AsyncWrite + Unpin + Send + 'static>(io: IO, dial: Dialer) {
    let (conn, driver, mut opened) = session::start(io);
    let mut pending: HashMap<String, Pair> = HashMap::new();
    let (expired_tx, mut expired_rx) = mpsc::unbounded_channel::<String>();
    let mut forwards = JoinSet::new();
    loop {
        tokio::select! {
            o = opened.recv() => {
                let Some(o) = o else { break };
                let Some((request, pair)) = add_stream(&conn, &mut pending, o, &expired_tx) else {
                    continue;
                };
                forwards.spawn(forward_pair(conn.clone(), dial.clone(), request, pair));
            }
            Some(request) = expired_rx.recv() => {
                if let Some(pair) = pending.remove(&request) {
                    let msg = format!("timed out waiting for streams of request {request}");
                    pair.fail(&conn, &msg).await;
                }
            }
            Some(_) = forwards.join_next(), if !forwards.is_empty() => {}
        }
    }
    debug!(
        "port-forward session ended: {}",
        conn.gone_reason().unwrap_or_default()
    );
    // Dropping the forwards and the driver ends every connection.
    drop(forwards);
    drop(driver);
}

/// The two streams of one forwarded connection, as far as they have arrived.
#[derive(Default)]
struct Pair {
    port: u16,
    error: Option<Opened>,
    data: Option<Opened>,
}

impl Pair {
    /// Reports `msg` on the error stream (if there is one) and closes the pair.
    async fn fail(self, conn: &Conn, msg: &str) {
        debug!("port-forward: {msg}");
        if let Some(d) = &self.data {
            conn.reset(d.stream_id, frame::RST_CANCEL);
        }
        if let Some(e) = &self.error {
            conn.send_data(e.stream_id, msg.as_bytes()).await;
            conn.send_fin(e.stream_id);
        }
    }
}

/// Files a new stream under its request; returns the pair once it is complete. Invalid
/// streams are reset or answered with a message on their error stream.
fn add_stream(
    conn: &Conn,
    pending: &mut HashMap<String, Pair>,
    o: Opened,
    expired: &mpsc::UnboundedSender<String>,
) -> Option<(String, Pair)> {
    let header = |name: &str| frame::header(&o.headers, name).map(str::to_string);
    let kind = header("streamtype")
        .unwrap_or_default()
        .to_ascii_lowercase();
    // Old clients send no requestID: the kubelet pairs data stream N+2 with error stream N.
    let request = header("requestid").unwrap_or_else(|| match kind.as_str() {
        "data" => o.stream_id.saturating_sub(2).to_string(),
        _ => o.stream_id.to_string(),
    });
    let port = match header("port").as_deref().map(str::parse::<u16>) {
        Some(Ok(p)) if p > 0 => p,
        other => {
            let why = match other {
                None => "\"port\" header is required".to_string(),
                _ => format!(
                    "invalid port {:?}: must be 1-65535",
                    header("port").unwrap_or_default()
                ),
            };
            reject(conn, o, &kind, &request, &why);
            return None;
        }
    };
    if kind != "error" && kind != "data" {
        reject(
            conn,
            o,
            &kind,
            &request,
            &format!("invalid stream type {kind:?}"),
        );
        return None;
    }
    let pair = pending.entry(request.clone()).or_insert_with(|| {
        let expired = expired.clone();
        let request = request.clone();
        tokio::spawn(async move {
            tokio::time::sleep(STREAM_CREATION_TIMEOUT).await;
            let _ = expired.send(request);
        });
        Pair {
            port,
            ..Pair::default()
        }
    });
    let slot = if kind == "error" {
        &mut pair.error
    } else {
        &mut pair.data
    };
    if slot.is_some() {
        let why = format!(
            "error processing stream for request {request}: {kind} stream already assigned"
        );
        debug!("port-forward: {why}");
        conn.reset(o.stream_id, frame::RST_PROTOCOL_ERROR);
        return None;
    }
    *slot = Some(o);
    if pair.error.is_some() && pair.data.is_some() {
        return pending.remove(&request).map(|p| (request, p));
    }
    None
}

/// Refuses one stream: a message on it if it is an error stream, else a reset.
fn reject(conn: &Conn, o: Opened, kind: &str, request: &str, why: &str) {
    let msg = format!("error processing stream for request {request}: {why}");
    debug!("port-forward: {msg}");
    if kind == "error" {
        let conn = conn.clone();
        tokio::spawn(async move {
            conn.send_data(o.stream_id, msg.as_bytes()).await;
            conn.send_fin(o.stream_id);
        });
    } else {
        conn.reset(o.stream_id, frame::RST_PROTOCOL_ERROR);
    }
}

/// Forwards one complete pair: connects, splices, reports a failure on the error stream,
/// and half-closes both streams (data first: kubectl waits for it, then for the error).
async fn forward_pair(conn: Conn, dial: Dialer, request: String, pair: Pair) {
    let (Some(error), Some(data)) = (pair.error, pair.data) else {
        return;
    };
    // The client sends nothing on the error stream.
    drop(error.inbound);
    debug!(port = pair.port, %request, "port-forward connection");
    match dial(pair.port).await {
        Ok(tcp) => {
            let to = ToClient::Spdy {
                conn: conn.clone(),
                stream_id: data.stream_id,
            };
            splice(tcp, FromClient::Spdy(data.inbound), to).await;
        }
        Err(msg) => {
            warn!("{msg}");
            conn.send_data(error.stream_id, msg.as_bytes()).await;
        }
    }
    conn.send_fin(data.stream_id);
    conn.send_fin(error.stream_id);
}

/// One WebSocket channel session (`v4.channel.k8s.io`): a connection per port for the
/// life of the WebSocket.
async fn serve_channels<IO: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    ws: WebSocketStream<IO>,
    ports: Vec<u16>,
    dial: Dialer,
) {
    let (mut sink, mut source) = ws.split();
    for (i, port) in ports.iter().enumerate() {
        for channel in [2 * i as u8, 2 * i as u8 + 1] {
            let mut m = vec![channel];
            m.extend_from_slice(&port.to_le_bytes());
            if sink.send(Message::Binary(m.into())).await.is_err() {
                return;
            }
        }
    }
    let (out_tx, mut out_rx) = mpsc::channel::<(u8, Chunk)>(16);
    let mut to_container = Vec::new();
    let mut pairs = JoinSet::new();
    for (i, &port) in ports.iter().enumerate() {
        let (tx, rx) = mpsc::channel::<Chunk>(16);
        to_container.push(Some(tx));
        let out = out_tx.clone();
        let dial = dial.clone();
        let data_channel = 2 * i as u8;
        pairs.spawn(async move {
            match dial(port).await {
                Ok(tcp) => {
                    let to = ToClient::Channel {
                        channel: data_channel,
                        out,
                    };
                    splice(tcp, FromClient::Channel(rx), to).await;
                }
                Err(msg) => {
                    warn!("{msg}");
                    let _ = out.send((data_channel + 1, msg.into_bytes())).await;
                }
            }
        });
    }
    drop(out_tx);
    let frame = |channel: u8, data: &[u8]| {
        let mut m = Vec::with_capacity(data.len() + 1);
        m.push(channel);
        m.extend_from_slice(data);
        Message::Binary(m.into())
    };
    loop {
        tokio::select! {
            msg = source.next() => match msg {
                Some(Ok(Message::Binary(data))) if data.len() > 1 => {
                    let channel = usize::from(data[0]);
                    // Data channels only; what a client writes on an error channel is ignored.
                    if channel % 2 == 0 {
                        if let Some(Some(tx)) = to_container.get(channel / 2) {
                            if tx.send(data[1..].to_vec()).await.is_err() {
                                to_container[channel / 2] = None;
                            }
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    debug!("port-forward websocket closed by the client");
                    return;
                }
                Some(Ok(_)) => {}
            },
            Some((channel, data)) = out_rx.recv() => {
                if sink.send(frame(channel, &data)).await.is_err() {
                    return;
                }
            }
            _ = pairs.join_next(), if !pairs.is_empty() => {
                if pairs.is_empty() {
                    break;
                }
            }
        }
    }
    // Every connection has ended: deliver what they sent, then close.
    while let Some((channel, data)) = out_rx.recv().await {
        if sink.send(frame(channel, &data)).await.is_err() {
            return;
        }
    }
    let _ = sink
        .send(Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        })))
        .await;
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(m)) = source.next().await {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests;
