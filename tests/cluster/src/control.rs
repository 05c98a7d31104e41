//! The control interface: what tests and benchmarks use to shape and observe exec
//! streams, inject faults, and look inside containers without going through exec.
//! Served under `/control/v1/` on the API server's port, with the same bearer token.
//! Documented in `tests/cluster/README.md`; [`crate::client::ControlClient`] wraps it.
//!
//! | method & path | does |
//! |---|---|
//! | `GET /control/v1/settings` | `{"refuse_v5": bool, "shaping": {"latency_ms": n, "bandwidth_bytes_per_sec": n}}` |
//! | `PUT /control/v1/settings` | replaces them (same shape); open streams see new shaping at once |
//! | `GET /control/v1/streams` | every exec stream (newest 1000): pod, command, protocol, transport, byte counters, open, exit code |
//! | `POST /control/v1/namespaces/NS/pods/P/drop-streams` | tears down every open exec stream into P at once → `{"dropped": n}` |
//! | `POST /control/v1/namespaces/NS/pods/P/kill?container=C&signal=KILL` | signals C's main process |
//! | `POST /control/v1/namespaces/NS/pods/P/run?container=C` | body `{"command": [...], "stdin": "...", "user": "0:0"}`: runs a command in the container as root (or `user`) → `{"exit_code", "stdout", "stderr"}` |
//! | `GET /control/v1/namespaces/NS/pods/P/file?container=C&path=/abs` | the file's bytes, read through the container's root from the host |
//! | `GET /control/v1/namespaces/NS/pods/P/stat?container=C&path=/abs` | `{"type","size","mode","uid","gid","mtime_ns"}` without following a final symlink |
//! | `POST /control/v1/shutdown` | stops the cluster (as `ferry-cluster down` does) |

use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use http::{Method, Request, Response};
use hyper::body::Incoming;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::apiserver::unreachable_error;
use crate::cluster::{Cluster, Settings};
use crate::http_util::{full, json_response, parse_query, read_body, Body, Query};
use crate::runtime::ExecConfig;
use crate::status::ApiError;

pub async fn handle(
    cluster: &Arc<Cluster>,
    req: Request<Incoming>,
    rest: &[String],
) -> Result<Response<Body>, ApiError> {
    let query = Query(parse_query(req.uri().query()));
    let method = req.method().clone();
    let r: Vec<&str> = rest.iter().map(String::as_str).collect();
    match (&method, r.as_slice()) {
        (&Method::GET, ["settings"]) => Ok(json_response(200, &json!(cluster.settings()))),
        (&Method::PUT | &Method::POST, ["settings"]) => {
            let body = read_body(req.into_body(), 1 << 20).await?;
            let s: Settings = serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad_request(format!("settings: {e}")))?;
            cluster.apply_settings(s);
            Ok(json_response(200, &json!(cluster.settings())))
        }
        (&Method::GET, ["streams"]) => {
            let list: Vec<Value> = cluster
                .streams
                .list()
                .iter()
                .filter(|s| query.get("namespace").is_none_or(|n| n == s.namespace))
                .filter(|s| query.get("pod").is_none_or(|p| p == s.pod))
                .map(|s| json!(s.as_ref()))
                .collect();
            Ok(json_response(200, &json!({ "streams": list })))
        }
        (&Method::POST, ["shutdown"]) => {
            cluster.stop();
            Ok(json_response(200, &json!({"stopping": true})))
        }
        (_, ["namespaces", ns, "pods", pod, action]) => {
            pod_action(cluster, ns, pod, action, &method, req, &query).await
        }
        _ => Err(ApiError::new(404, "NotFound", "no such control endpoint")),
    }
}

async fn pod_action(
    cluster: &Arc<Cluster>,
    ns: &str,
    pod: &str,
    action: &str,
    method: &Method,
    req: Request<Incoming>,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    if action == "drop-streams" && method == Method::POST {
        let n = cluster.streams.drop_pod_streams(ns, pod);
        return Ok(json_response(200, &json!({ "dropped": n })));
    }
    let (container, live) = cluster
        .kubelet
        .container(ns, pod, query.get("container"))
        .map_err(|e| unreachable_error(ns, pod, e))?;
    let runtime = cluster.kubelet.runtime();
    match (method, action) {
        (&Method::POST, "kill") => {
            let sig = match query.get("signal").unwrap_or("KILL") {
                "KILL" | "9" => libc::SIGKILL,
                "TERM" | "15" => libc::SIGTERM,
                "INT" | "2" => libc::SIGINT,
                "HUP" | "1" => libc::SIGHUP,
                other => return Err(ApiError::bad_request(format!("unknown signal {other:?}"))),
            };
            runtime
                .signal(&live.runtime_id, sig)
                .map_err(|e| ApiError::internal(format!("{e:#}")))?;
            Ok(json_response(
                200,
                &json!({"container": container, "signal": sig}),
            ))
        }
        (&Method::POST, "run") => {
            let body = read_body(req.into_body(), 64 << 20).await?;
            let spec: Value = serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad_request(format!("run: {e}")))?;
            let command: Vec<String> = spec["command"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            if command.is_empty() {
                return Err(ApiError::bad_request(
                    "run: `command` must be a non-empty array of strings",
                ));
            }
            let user = match spec["user"].as_str() {
                None => (0, 0),
                Some(u) => {
                    let (a, b) = u.split_once(':').unwrap_or((u, "0"));
                    (
                        a.parse()
                            .map_err(|_| ApiError::bad_request("run: bad user"))?,
                        b.parse()
                            .map_err(|_| ApiError::bad_request("run: bad user"))?,
                    )
                }
            };
            let stdin = match (spec["stdin"].as_str(), spec["stdin_base64"].as_str()) {
                (_, Some(b)) => base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .map_err(|e| ApiError::bad_request(format!("stdin_base64: {e}")))?,
                (Some(s), None) => s.as_bytes().to_vec(),
                (None, None) => Vec::new(),
            };
            let timeout = query
                .get("timeout")
                .and_then(|t| t.parse::<u64>().ok())
                .unwrap_or(60);
            let cfg = ExecConfig {
                command,
                user: Some(user),
                env: Vec::new(),
                working_dir: None,
            };
            let mut child = runtime
                .exec(&live.runtime_id, &cfg)
                .map_err(|e| ApiError::internal(format!("run: {e:#}")))?;
            let mut child_stdin = child.stdin.take();
            let mut out = child.stdout.take();
            let mut err = child.stderr.take();
            let work = async {
                let feed = async {
                    if let Some(w) = child_stdin.as_mut() {
                        let _ = w.write_all(&stdin).await;
                    }
                    drop(child_stdin.take());
                };
                let read_out = async {
                    let mut v = Vec::new();
                    if let Some(r) = out.as_mut() {
                        let _ = r.read_to_end(&mut v).await;
                    }
                    v
                };
                let read_err = async {
                    let mut v = Vec::new();
                    if let Some(r) = err.as_mut() {
                        let _ = r.read_to_end(&mut v).await;
                    }
                    v
                };
                let ((), o, e) = tokio::join!(feed, read_out, read_err);
                let status = child.wait().await;
                (status, o, e)
            };
            let (status, o, e) = tokio::time::timeout(Duration::from_secs(timeout), work)
                .await
                .map_err(|_| {
                    ApiError::new(
                        504,
                        "Timeout",
                        format!("run: command did not finish within {timeout} s"),
                    )
                })?;
            let code = status
                .ok()
                .and_then(|s| {
                    s.code().or_else(|| {
                        std::os::unix::process::ExitStatusExt::signal(&s).map(|x| 128 + x)
                    })
                })
                .unwrap_or(-1);
            let b64 = base64::engine::general_purpose::STANDARD;
            Ok(json_response(
                200,
                &json!({
                    "exit_code": code,
                    "stdout": String::from_utf8_lossy(&o),
                    "stderr": String::from_utf8_lossy(&e),
                    "stdout_base64": b64.encode(&o),
                }),
            ))
        }
        (&Method::GET, "file" | "stat") => {
            let path = query
                .get("path")
                .filter(|p| p.starts_with('/'))
                .ok_or_else(|| {
                    ApiError::bad_request("`path` must be an absolute path in the container")
                })?;
            let root = runtime
                .root_path(&live.runtime_id)
                .ok_or_else(|| ApiError::bad_request("container is not running"))?;
            let host = root.join(path.trim_start_matches('/'));
            let not_found = |e: std::io::Error| {
                ApiError::new(
                    404,
                    "NotFound",
                    format!("{path} in container {container}: {e}"),
                )
            };
            if action == "file" {
                let data = std::fs::read(&host).map_err(not_found)?;
                let mut r = Response::new(full(data));
                r.headers_mut().insert(
                    "content-type",
                    http::HeaderValue::from_static("application/octet-stream"),
                );
                Ok(r)
            } else {
                let m = std::fs::symlink_metadata(&host).map_err(not_found)?;
                let ft = m.file_type();
                let ty = if ft.is_dir() {
                    "dir"
                } else if ft.is_symlink() {
                    "symlink"
                } else if ft.is_file() {
                    "file"
                } else {
                    "other"
                };
                Ok(json_response(
                    200,
                    &json!({
                        "type": ty,
                        "size": m.len(),
                        "mode": m.mode() & 0o7777,
                        "uid": m.uid(),
                        "gid": m.gid(),
                        "mtime_ns": m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
                    }),
                ))
            }
        }
        _ => Err(ApiError::new(404, "NotFound", "no such control endpoint")),
    }
}
