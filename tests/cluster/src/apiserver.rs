//! The HTTP side of the cluster: TLS, bearer-token authentication, routing of the
//! Kubernetes API paths (discovery, OpenAPI, resources, watch, exec, log) and of the
//! control interface.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Bytes, Frame, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tracing::{debug, warn};

use crate::cluster::Cluster;
use crate::discovery::{self, ResourceDef};
use crate::http_util::{
    error_response, full, json_response, parse_query, percent_decode, text_response, Body, Query,
};
use crate::resources;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::{EventType, Key};
use crate::streams::StreamFlags;
use crate::table::{self, IncludeObject};

/// Serves HTTPS on `listener` until `shutdown` fires.
pub async fn serve(
    listener: TcpListener,
    cluster: Arc<Cluster>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(cluster.credentials.server_config()?);
    loop {
        let (tcp, _) = tokio::select! {
            r = listener.accept() => r?,
            _ = shutdown.changed() => return Ok(()),
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let cluster = cluster.clone();
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(t) => t,
                Err(e) => {
                    debug!("TLS handshake failed: {e}");
                    return;
                }
            };
            let service = hyper::service::service_fn(move |req| {
                let cluster = cluster.clone();
                async move { Ok::<_, Infallible>(handle(cluster, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .with_upgrades();
            if let Err(e) = conn.await {
                debug!("connection ended: {e}");
            }
        });
    }
}

async fn handle(cluster: Arc<Cluster>, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let resp = match route(&cluster, req).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    };
    debug!("{method} {path} -> {}", resp.status());
    resp
}

fn authorized(cluster: &Cluster, req: &Request<Incoming>) -> bool {
    let expected = format!("Bearer {}", cluster.credentials.token);
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| constant_time_eq(v.as_bytes(), expected.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn route(cluster: &Arc<Cluster>, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    if !authorized(cluster, &req) {
        return Err(ApiError::unauthorized());
    }
    let segs: Vec<String> = req
        .uri()
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode(s, false))
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let get = req.method() == Method::GET;
    match segs.as_slice() {
        ["version"] if get => Ok(json_response(
            200,
            &discovery::version(cluster.options.kube_minor),
        )),
        ["healthz" | "livez" | "readyz"] if get => Ok(text_response(200, "ok")),
        ["api"] if get => Ok(json_response(
            200,
            &discovery::api_versions(&cluster.server_address),
        )),
        ["apis"] if get => Ok(json_response(200, &discovery::api_group_list())),
        ["apis", "apps"] if get => Ok(json_response(200, &discovery::api_group("apps"))),
        ["api", "v1"] if get => Ok(json_response(
            200,
            &discovery::resource_list("", "v1").unwrap(),
        )),
        ["apis", g, v] if get => discovery::resource_list(g, v)
            .map(|l| json_response(200, &l))
            .ok_or_else(|| {
                ApiError::new(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                )
            }),
        ["openapi", "v2"] if get => {
            let mut r = Response::new(full(Bytes::new()));
            r.headers_mut().insert(
                "content-type",
                HeaderValue::from_static(
                    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
                ),
            );
            Ok(r)
        }
        ["openapi", "v3"] if get => Ok(json_response(200, &discovery::openapi_v3_root())),
        ["openapi", "v3", rest @ ..] if get => discovery::openapi_v3_group_version(&rest.join("/"))
            .map(|d| json_response(200, &d))
            .ok_or_else(|| {
                ApiError::new(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                )
            }),
        ["control", "v1", rest @ ..] => {
            let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            crate::control::handle(cluster, req, &rest).await
        }
        ["api", "v1", rest @ ..] => {
            let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            resource_route(cluster, req, "", "v1", &rest).await
        }
        ["apis", group, version, rest @ ..] => {
            let (g, v) = (group.to_string(), version.to_string());
            let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            resource_route(cluster, req, &g, &v, &rest).await
        }
        _ => Err(ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )),
    }
}

/// Where a resource request points.
struct Target {
    def: &'static ResourceDef,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

fn parse_target(group: &str, version: &str, rest: &[String]) -> Result<Target, ApiError> {
    let not_found = || {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    };
    let r: Vec<&str> = rest.iter().map(String::as_str).collect();
    if r.len() > 5 {
        return Err(not_found());
    }
    let (ns, plural, name, sub) = match r.as_slice() {
        ["namespaces", ns, plural, tail @ ..] if !matches!(*plural, "status" | "finalize") => (
            Some(*ns),
            *plural,
            tail.first().copied(),
            tail.get(1).copied(),
        ),
        [plural] => (None, *plural, None, None),
        [plural, name] => (None, *plural, Some(*name), None),
        [plural, name, sub] => (None, *plural, Some(*name), Some(*sub)),
        _ => return Err(not_found()),
    };
    let def = discovery::find(group, version, plural).ok_or_else(not_found)?;
    if ns.is_some() && !def.namespaced {
        return Err(not_found());
    }
    Ok(Target {
        def,
        namespace: ns.map(String::from),
        name: name.map(String::from),
        sub: sub.map(String::from),
    })
}

async fn resource_route(
    cluster: &Arc<Cluster>,
    req: Request<Incoming>,
    group: &str,
    version: &str,
    rest: &[String],
) -> Result<Response<Body>, ApiError> {
    let t = parse_target(group, version, rest)?;
    let query = Query(parse_query(req.uri().query()));
    let method = req.method().clone();
    let accept = req
        .headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    match (&method, t.name.as_deref(), t.sub.as_deref()) {
        (&Method::GET, None, None) => {
            if query.flag("watch") {
                watch(cluster, &t, &query, accept.as_deref())
            } else {
                list(cluster, &t, &query, accept.as_deref())
            }
        }
        (&Method::POST, None, None) => {
            resources::create(cluster, t.def, t.namespace.as_deref(), req, &query).await
        }
        (&Method::GET, Some(name), None | Some("status")) => {
            let key = key_of(&t, name);
            let obj = cluster
                .store
                .get(&key)
                .ok_or_else(|| ApiError::not_found(t.def.plural, t.def.group, name))?;
            if table::wants_table(accept.as_deref()) {
                let include = IncludeObject::parse(query.get("includeObject"));
                Ok(json_response(
                    200,
                    &table::table(t.def.plural, &[&obj], include, None),
                ))
            } else {
                Ok(json_response(200, &obj))
            }
        }
        (&Method::DELETE, Some(name), None) => {
            let key = key_of(&t, name);
            resources::delete(cluster, t.def, key, req, &query).await
        }
        (&Method::PUT | &Method::PATCH, Some(name), None | Some("status")) => {
            let key = key_of(&t, name);
            resources::update(cluster, t.def, key, req, &query).await
        }
        (&Method::GET, Some(name), Some("scale")) if t.def.plural == "deployments" => {
            crate::scale::get(cluster, &key_of(&t, name))
        }
        (&Method::PUT | &Method::PATCH, Some(name), Some("scale"))
            if t.def.plural == "deployments" =>
        {
            crate::scale::update(cluster, key_of(&t, name), req, &query).await
        }
        (&Method::GET | &Method::POST, Some(name), Some("exec")) if t.def.plural == "pods" => {
            exec(
                cluster,
                t.namespace.as_deref().unwrap_or("default"),
                name,
                req,
                &query,
            )
            .await
        }
        (&Method::GET | &Method::POST, Some(name), Some("portforward"))
            if t.def.plural == "pods" =>
        {
            crate::portforward::handle(
                cluster,
                t.namespace.as_deref().unwrap_or("default"),
                name,
                req,
                &query,
            )
            .await
        }
        (&Method::GET, Some(name), Some("log")) if t.def.plural == "pods" => log(
            cluster,
            t.namespace.as_deref().unwrap_or("default"),
            name,
            &query,
        ),
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn key_of(t: &Target, name: &str) -> Key {
    Key::new(t.def.plural, t.namespace.as_deref().unwrap_or(""), name)
}

struct Filter {
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    fn from_query(q: &Query, resource: &str) -> Result<Filter, ApiError> {
        Ok(Filter {
            labels: LabelSelector::parse(q.get("labelSelector").unwrap_or(""))
                .map_err(ApiError::bad_request)?,
            fields: FieldSelector::parse(q.get("fieldSelector").unwrap_or(""), resource)
                .map_err(ApiError::bad_request)?,
        })
    }
    fn matches(&self, obj: &Value) -> bool {
        self.labels.matches(obj["metadata"].get("labels")) && self.fields.matches(obj)
    }
}

fn list(
    cluster: &Cluster,
    t: &Target,
    query: &Query,
    accept: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    let filter = Filter::from_query(query, t.def.plural)?;
    let (items, rv) = cluster.store.list(t.def.plural, t.namespace.as_deref());
    let items: Vec<_> = items.into_iter().filter(|o| filter.matches(o)).collect();
    if table::wants_table(accept) {
        let refs: Vec<&Value> = items.iter().map(|a| a.as_ref()).collect();
        let include = IncludeObject::parse(query.get("includeObject"));
        return Ok(json_response(
            200,
            &table::table(t.def.plural, &refs, include, Some(rv)),
        ));
    }
    Ok(json_response(
        200,
        &json!({
            "kind": format!("{}List", t.def.kind),
            "apiVersion": t.def.api_version(),
            "metadata": {"resourceVersion": rv.to_string()},
            "items": items.iter().map(|a| a.as_ref().clone()).collect::<Vec<_>>(),
        }),
    ))
}

/// A chunked stream of watch events, one JSON object per line.
fn watch(
    cluster: &Cluster,
    t: &Target,
    query: &Query,
    accept: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    let filter = Filter::from_query(query, t.def.plural)?;
    let as_table = table::wants_table(accept);
    let include = IncludeObject::parse(query.get("includeObject"));
    let rv_param = query.get("resourceVersion").filter(|s| !s.is_empty());
    let from: Option<u64> = match rv_param {
        None | Some("0") => None,
        Some(s) => Some(
            s.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {s:?}")))?,
        ),
    };
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(1800));
    let resource = t.def.plural;
    let namespace = t.namespace.clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    let encode = move |kind: &str, obj: &Value| -> Bytes {
        let object = if as_table && kind != "ERROR" {
            table::table(resource, &[obj], include, None)
        } else {
            obj.clone()
        };
        let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap();
        line.push(b'\n');
        Bytes::from(line)
    };
    let start = cluster.store.watch(from);
    let initial: Vec<Arc<Value>> = if from.is_none() {
        let (items, _) = cluster.store.list(resource, namespace.as_deref());
        items.into_iter().filter(|o| filter.matches(o)).collect()
    } else {
        Vec::new()
    };
    tokio::spawn(async move {
        let (backlog, mut live) = match start {
            Ok(s) => s,
            Err(e) => {
                let status = ApiError::from_store(e, resource, "", "").to_status();
                let _ = tx.send(encode("ERROR", &status)).await;
                return;
            }
        };
        // What this watch has shown as present, so selector changes become ADDED/DELETED.
        let mut visible = std::collections::HashSet::new();
        for obj in &initial {
            visible.insert(name_of(obj));
            if tx.send(encode("ADDED", obj)).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut pending = backlog.into_iter();
        loop {
            let event = match pending.next() {
                Some(e) => e,
                None => tokio::select! {
                    r = live.recv() => match r {
                        Ok(e) => e,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            let status = ApiError::new(410, "Expired", "watch fell behind; re-list").to_status();
                            let _ = tx.send(encode("ERROR", &status)).await;
                            return;
                        }
                        Err(_) => return,
                    },
                    _ = tokio::time::sleep_until(deadline) => return,
                    _ = tx.closed() => return,
                },
            };
            if event.resource != resource
                || namespace.as_deref().is_some_and(|ns| ns != event.namespace)
            {
                continue;
            }
            let name = event.name.clone();
            let matches_now = event.kind != EventType::Deleted && filter.matches(&event.object);
            let was = visible.contains(&name)
                || (from.is_some()
                    && filter.matches(&event.object)
                    && event.kind != EventType::Added);
            let kind = match (event.kind, matches_now, was) {
                (EventType::Deleted, _, _)
                    if filter.matches(&event.object) || visible.contains(&name) =>
                {
                    visible.remove(&name);
                    "DELETED"
                }
                (EventType::Deleted, _, _) => continue,
                (_, true, true) => {
                    visible.insert(name);
                    "MODIFIED"
                }
                (_, true, false) => {
                    visible.insert(name);
                    "ADDED"
                }
                (_, false, true) => {
                    visible.remove(&name);
                    "DELETED"
                }
                (_, false, false) => continue,
            };
            if tx.send(encode(kind, &event.object)).await.is_err() {
                return;
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    let mut r = Response::new(StreamBody::new(stream).boxed());
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r.headers_mut()
        .insert("transfer-encoding", HeaderValue::from_static("chunked"));
    Ok(r)
}

fn name_of(obj: &Value) -> String {
    obj["metadata"]["name"].as_str().unwrap_or("").to_string()
}

fn log(cluster: &Cluster, ns: &str, pod: &str, query: &Query) -> Result<Response<Body>, ApiError> {
    let (_, live) = cluster
        .kubelet
        .container(ns, pod, query.get("container"))
        .map_err(|e| unreachable_error(ns, pod, e))?;
    let data = std::fs::read(&live.log_path).unwrap_or_default();
    Ok(text_response(200, data))
}

pub fn unreachable_error(_ns: &str, pod: &str, e: crate::kubelet::Unreachable) -> ApiError {
    use crate::kubelet::Unreachable::*;
    match e {
        NoPod => ApiError::not_found("pods", "", pod),
        NoContainer(names) => ApiError::new(
            404,
            "NotFound",
            format!(
                "container not found: pod {pod} has no container named it; valid containers: [{}]",
                names.join(" ")
            ),
        ),
        NeedContainerName(names) => ApiError::bad_request(format!(
            "a container name must be specified for pod {pod}, choose one of: [{}]",
            names.join(" ")
        )),
        NotRunning(c) => ApiError::bad_request(format!(
            "container {c} is not valid for pod {pod}: container is not running"
        )),
    }
}

/// The values of a header that may repeat and may hold comma-separated lists
/// (`Sec-WebSocket-Protocol`, `X-Stream-Protocol-Version`), in order.
pub(crate) fn header_list(headers: &http::HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The protocol an upgrade request asks for (`websocket`, `spdy/3.1`), lowercased; empty
/// when it asks for none.
pub(crate) fn upgrade_of(headers: &http::HeaderMap) -> String {
    headers
        .get("upgrade")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// `pods/NAME/exec`: negotiates WebSocket or SPDY, answers 101, and hands the streams to
/// the exec bridge.
async fn exec(
    cluster: &Arc<Cluster>,
    ns: &str,
    pod: &str,
    req: Request<Incoming>,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    let command = query.all("command");
    if command.is_empty() {
        return Err(ApiError::bad_request("you must specify at least 1 command"));
    }
    let (container, live) = cluster
        .kubelet
        .container(ns, pod, query.get("container"))
        .map_err(|e| unreachable_error(ns, pod, e))?;
    let flags = StreamFlags {
        stdin: query.flag("stdin"),
        stdout: query.flag("stdout"),
        stderr: query.flag("stderr"),
        tty: query.flag("tty"),
    };
    if !(flags.stdin || flags.stdout || flags.stderr) {
        return Err(ApiError::bad_request(
            "you must specify at least 1 of stdin, stdout, stderr",
        ));
    }
    let headers = req.headers();
    let upgrade = upgrade_of(headers);
    let target = crate::exec::ExecTarget {
        namespace: ns.to_string(),
        pod: pod.to_string(),
        container,
        runtime_id: live.runtime_id,
        command,
    };
    if upgrade == "websocket" {
        let offered = header_list(headers, "sec-websocket-protocol");
        let refuse_v5 = cluster.refuse_v5();
        let Some(protocol) = crate::ws_exec::negotiate(&offered, refuse_v5) else {
            return Err(ApiError::bad_request(format!(
                "unable to upgrade connection: none of the requested subprotocols are supported: {offered:?}"
            )));
        };
        let response = websocket_switch(headers, protocol)?;
        let cluster = cluster.clone();
        tokio::spawn(async move {
            match hyper::upgrade::on(req).await {
                Ok(up) => {
                    let streams = crate::ws_exec::accept(TokioIo::new(up), protocol, flags).await;
                    cluster.run_exec(target, streams).await;
                }
                Err(e) => warn!("websocket upgrade failed: {e}"),
            }
        });
        return Ok(response);
    }
    if upgrade == "spdy/3.1" {
        let offered = header_list(headers, "x-stream-protocol-version");
        // A cluster older than 1.29 does not know v5 on any transport.
        let refuse_v5 = cluster.refuse_v5();
        let offered_refs: Vec<&str> = offered
            .iter()
            .map(String::as_str)
            .filter(|p| !(refuse_v5 && *p == crate::spdy::PROTOCOL_V5))
            .collect();
        let Some(protocol) = crate::spdy::negotiate(&offered_refs) else {
            return Err(ApiError::new(
                403,
                "Forbidden",
                format!(
                    "unable to upgrade: unable to negotiate protocol: client supports {offered:?}"
                ),
            ));
        };
        let cluster = cluster.clone();
        tokio::spawn(async move {
            match hyper::upgrade::on(req).await {
                Ok(up) => match crate::spdy::accept_exec(TokioIo::new(up), protocol, flags).await {
                    Ok(streams) => cluster.run_exec(target, streams).await,
                    Err(e) => warn!("spdy exec session failed: {e:#}"),
                },
                Err(e) => warn!("spdy upgrade failed: {e}"),
            }
        });
        return Ok(spdy_switch(protocol));
    }
    Err(ApiError::bad_request(
        "Upgrade request required: exec needs a WebSocket (v5.channel.k8s.io, v4.channel.k8s.io) or SPDY/3.1 upgrade",
    ))
}

/// `101 Switching Protocols` to WebSocket with `protocol`, for a request carrying
/// `Sec-WebSocket-Key`.
pub(crate) fn websocket_switch(
    headers: &http::HeaderMap,
    protocol: &'static str,
) -> Result<Response<Body>, ApiError> {
    let key = headers
        .get("sec-websocket-key")
        .ok_or_else(|| ApiError::bad_request("missing Sec-WebSocket-Key"))?;
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let mut r = Response::new(full(Bytes::new()));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert("connection", HeaderValue::from_static("Upgrade"));
    h.insert("upgrade", HeaderValue::from_static("websocket"));
    h.insert(
        "sec-websocket-accept",
        HeaderValue::from_str(&accept).map_err(|_| ApiError::internal("bad accept key"))?,
    );
    h.insert("sec-websocket-protocol", HeaderValue::from_static(protocol));
    Ok(r)
}

/// `101 Switching Protocols` to SPDY/3.1 with `X-Stream-Protocol-Version: protocol`.
pub(crate) fn spdy_switch(protocol: &'static str) -> Response<Body> {
    let mut r = Response::new(full(Bytes::new()));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert("connection", HeaderValue::from_static("Upgrade"));
    h.insert(
        "upgrade",
        HeaderValue::from_static(crate::spdy::SPDY_UPGRADE),
    );
    h.insert(
        "x-stream-protocol-version",
        HeaderValue::from_static(protocol),
    );
    r
}
