//! The owner's local control endpoint: while a process owns a workspace (`ferry sync` or
//! `ferry lsp`), the command line talks to it through a Unix socket instead of reading
//! files, so `ferry status`, `conflicts`, `resolve`, `resync` and `stop` work the same
//! whoever owns the folder (`docs/protocol.md`, "The control endpoint").
//!
//! The socket is `.ferry/control.sock`, or — when that path is too long for a Unix
//! socket — `$TMPDIR/ferry-<uid>/<hash>.sock` in a folder only the user can enter; the
//! file `.ferry/control` names it. The socket itself is owner-only (0600). One request
//! per connection: a JSON line `{"method": …, "params": …}`, answered by one JSON line
//! `{"result": …}` or `{"error": "…"}`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::sync::watch;

use super::resolve::{Keep, Resolve, Seen};
use super::workspace::Requester;
use super::StatusHub;
use crate::config::SyncPath;
use crate::core::RelPath;

/// The file in `.ferry/` that names the socket.
pub const POINTER: &str = "control";
/// The longest socket path the kernel takes (`sun_path` is 108 bytes with its NUL).
const MAX_SOCKET_PATH: usize = 107;
/// How long a request may take to arrive.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A request to the owner.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    pub method: String,
    #[serde(default)]
    pub params: Value,
}

/// The parameters of `resolve`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolveParams {
    /// The file, absolute.
    pub path: PathBuf,
    pub keep: Keep,
    #[serde(default)]
    pub expect: Option<Seen>,
}

/// A running sync path, as the endpoint sees it.
#[derive(Clone)]
pub(super) struct PathHandle {
    pub slot: usize,
    pub sync: SyncPath,
    pub requester: Requester,
    pub stop: watch::Sender<bool>,
}

/// What the endpoint serves from.
#[derive(Clone)]
pub(super) struct Served {
    pub hub: Arc<StatusHub>,
    pub paths: Arc<Mutex<Vec<PathHandle>>>,
}

/// Where the socket of the workspace with state folder `state_dir` lives.
pub fn socket_path(state_dir: &Path) -> PathBuf {
    let inside = state_dir.join("control.sock");
    if inside.as_os_str().len() <= MAX_SOCKET_PATH {
        return inside;
    }
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    state_dir.hash(&mut h);
    let uid = uid();
    std::env::temp_dir()
        .join(format!("ferry-{uid}"))
        .join(format!("{:016x}.sock", h.finish()))
}

/// The current user's id (the owner of `/proc/self`).
fn uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0)
}

/// Binds the endpoint and serves it until the returned task is aborted. A failure to
/// bind is logged and leaves the workspace without an endpoint (the command line then
/// reads `.ferry/status.json` as before).
pub(super) fn serve(state_dir: &Path, served: Served) -> Option<tokio::task::JoinHandle<()>> {
    let socket = socket_path(state_dir);
    let bound = (|| -> std::io::Result<UnixListener> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        if let Some(dir) = socket.parent() {
            if !dir.starts_with(state_dir) {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)?;
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
            }
        }
        // We hold the workspace lock: a socket left by a killed owner is stale.
        let _ = std::fs::remove_file(&socket);
        let listener = UnixListener::bind(&socket)?;
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))?;
        crate::state::write_atomic(
            &state_dir.join(POINTER),
            socket.as_os_str().as_encoded_bytes(),
        )?;
        Ok(listener)
    })();
    let listener = match bound {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(
                "no control endpoint at {} ({e}); `ferry status` reads the status file instead",
                socket.display()
            );
            return None;
        }
    };
    Some(crate::logging::spawn_scoped(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let served = served.clone();
            crate::logging::spawn_scoped(async move {
                let (read, mut write) = stream.into_split();
                let mut line = String::new();
                let mut reader = BufReader::new(read).take(1 << 20);
                let got = tokio::time::timeout(READ_TIMEOUT, reader.read_line(&mut line)).await;
                let answer = match got {
                    Ok(Ok(n)) if n > 0 => match serde_json::from_str::<Request>(&line) {
                        Ok(r) => match answer(&served, r).await {
                            Ok(v) => json!({ "result": v }),
                            Err(e) => json!({ "error": e }),
                        },
                        Err(e) => json!({ "error": format!("not a request: {e}") }),
                    },
                    _ => return,
                };
                let mut out = answer.to_string();
                out.push('\n');
                let _ = write.write_all(out.as_bytes()).await;
            });
        }
    }))
}

/// Removes the socket and its pointer (the owner is done).
pub(super) fn remove(state_dir: &Path) {
    let _ = std::fs::remove_file(state_dir.join(POINTER));
    let _ = std::fs::remove_file(socket_path(state_dir));
}

/// Answers one request.
async fn answer(served: &Served, r: Request) -> Result<Value, String> {
    let paths = served
        .paths
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    match r.method.as_str() {
        "status" => serde_json::to_value(served.hub.report()).map_err(|e| e.to_string()),
        "conflicts" => {
            let mut out = Vec::new();
            for p in &paths {
                out.push(json!({
                    "slot": p.slot,
                    "name": p.sync.name,
                    "localPath": p.sync.local_path,
                    "conflicts": p.requester.conflicts(Duration::from_secs(30)).await,
                }));
            }
            Ok(Value::Array(out))
        }
        "resolve" => {
            let params: ResolveParams = serde_json::from_value(r.params)
                .map_err(|e| format!("resolve takes {{path, keep, expect?}}: {e}"))?;
            let (p, rel) = paths
                .iter()
                .find_map(|p| {
                    let rel = params.path.strip_prefix(&p.sync.local_path).ok()?;
                    Some((p, RelPath::from_path(rel).ok()?))
                })
                .ok_or_else(|| {
                    format!(
                        "{} is in no running sync path's local folder",
                        params.path.display()
                    )
                })?;
            let done = p
                .requester
                .resolve(Resolve {
                    path: rel,
                    keep: params.keep,
                    expect: params.expect,
                })
                .await?;
            Ok(json!({ "done": done }))
        }
        "resync" => {
            for p in &paths {
                p.requester.resync();
            }
            Ok(Value::Null)
        }
        "stop" => {
            for p in &paths {
                let _ = p.stop.send(true);
            }
            Ok(Value::Null)
        }
        other => Err(format!(
            "unknown method {other:?} (status, conflicts, resolve, resync, stop)"
        )),
    }
}

/// Asks the owner of the workspace with state folder `state_dir`: `Ok(None)` when no
/// owner answers (nobody owns it, or an older ferry without an endpoint), the owner's
/// error as `Err`.
pub fn ask(state_dir: &Path, method: &str, params: Value) -> Result<Option<Value>, String> {
    use std::io::{BufRead, Write};
    let Ok(pointer) = std::fs::read(state_dir.join(POINTER)) else {
        return Ok(None);
    };
    let socket = PathBuf::from(String::from_utf8_lossy(&pointer).into_owned());
    let Ok(mut stream) = std::os::unix::net::UnixStream::connect(&socket) else {
        return Ok(None);
    };
    let timeout = Some(Duration::from_secs(120));
    let _ = stream.set_read_timeout(timeout);
    let _ = stream.set_write_timeout(timeout);
    let mut line = serde_json::to_string(&Request {
        method: method.into(),
        params,
    })
    .map_err(|e| e.to_string())?;
    line.push('\n');
    stream
        .write_all(line.as_bytes())
        .map_err(|e| format!("cannot reach the owner at {}: {e}", socket.display()))?;
    let mut reply = String::new();
    std::io::BufReader::new(&stream)
        .read_line(&mut reply)
        .map_err(|e| format!("the owner did not answer: {e}"))?;
    let v: Value =
        serde_json::from_str(&reply).map_err(|e| format!("the owner's answer is garbled: {e}"))?;
    match v.get("error").and_then(Value::as_str) {
        Some(e) => Err(e.to_string()),
        None => Ok(Some(v.get("result").cloned().unwrap_or(Value::Null))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_path_fits_the_kernels_limit() {
        let short = Path::new("/w/.ferry");
        assert_eq!(socket_path(short), Path::new("/w/.ferry/control.sock"));
        let long = PathBuf::from(format!("/{}/.ferry", "x".repeat(200)));
        let s = socket_path(&long);
        assert!(s.as_os_str().len() <= MAX_SOCKET_PATH, "{s:?}");
        assert_ne!(
            s,
            socket_path(&PathBuf::from(format!("/{}/.ferry", "y".repeat(200))))
        );
    }
}
