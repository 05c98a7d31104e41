//! A small Language Server client for `ferry lsp`'s end-to-end tests.
//!
//! It spawns the real `ferry` binary (`ferry lsp`) with piped stdin/stdout and stderr to a
//! file, and reads stdout on a thread of its own, STRICTLY: only `Content-Length` and
//! `Content-Type` headers, `\r\n` line ends, exact body lengths, every body a valid
//! JSON-RPC 2.0 message. Any violation is recorded (with the raw bytes) and makes
//! [`Lsp::assert_clean_stdout`] fail; the reader then resynchronises on the next
//! `Content-Length:` so the rest of the test still sees later messages.
//!
//! Server → client requests are answered at once by the reader: `workspace/configuration`
//! (the per-test settings value for every item; `null` by default),
//! `window/workDoneProgress/create`, `client/registerCapability` and
//! `client/unregisterCapability` (`null`), `workspace/workspaceFolders` (the folders);
//! anything else gets a `MethodNotFound` error. All of them are recorded.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The generous default wait for anything the server does.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Client capabilities with everything ferry's server makes use of: `didSave`,
/// `window.workDoneProgress`, `workspace.configuration`, dynamic registration of
/// `workspace/didChangeWatchedFiles`, `workspace.workspaceFolders`.
pub fn full() -> Value {
    json!({
        "workspace": {
            "workspaceFolders": true,
            "configuration": true,
            "didChangeWatchedFiles": {"dynamicRegistration": true},
            "didChangeConfiguration": {"dynamicRegistration": false},
            "executeCommand": {"dynamicRegistration": false}
        },
        "textDocument": {
            "synchronization": {"dynamicRegistration": false, "didSave": true},
            "publishDiagnostics": {"relatedInformation": false}
        },
        "window": {"workDoneProgress": true}
    })
}

/// Client capabilities with none of those (an editor that only speaks the basics).
pub fn minimal() -> Value {
    json!({})
}

/// `file://` URI of an absolute path (percent-encoding everything but unreserved
/// characters and `/`).
pub fn file_uri(path: &Path) -> String {
    let s = path.to_str().expect("UTF-8 path");
    assert!(s.starts_with('/'), "absolute path: {s}");
    let mut out = String::from("file://");
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The path of a `file://` URI (percent-decoded), `None` for other URIs.
pub fn uri_path(uri: &str) -> Option<PathBuf> {
    let rest = uri.strip_prefix("file://")?;
    // `file://localhost/x` is allowed by RFC 8089; ferry should not send it, but decode.
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(PathBuf::from(String::from_utf8(out).ok()?))
}

/// Whether two URIs name the same file (compared as decoded paths).
pub fn same_uri(a: &str, b: &str) -> bool {
    a == b || matches!((uri_path(a), uri_path(b)), (Some(x), Some(y)) if x == y)
}

/// One message the server sent (a notification or a request).
#[derive(Clone, Debug)]
pub struct Received {
    /// Arrival order over every message the server sent.
    pub seq: u64,
    /// When it was parsed.
    pub at: Instant,
    pub method: String,
    pub params: Value,
    /// For requests: the request id.
    pub id: Option<Value>,
}

#[derive(Default)]
struct State {
    seq: u64,
    notifications: Vec<Received>,
    requests: Vec<Received>,
    responses: HashMap<i64, Value>,
    violations: Vec<String>,
    raw: Vec<u8>,
    eof: bool,
    configuration: Value,
    folders: Vec<PathBuf>,
}

struct Shared {
    state: Mutex<State>,
    cv: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

type Stdin = Arc<Mutex<Option<ChildStdin>>>;

/// Writes one framed message.
fn write_message(stdin: &Stdin, msg: &Value) -> std::io::Result<()> {
    let body = serde_json::to_vec(msg).expect("serialize");
    let mut guard = stdin.lock().unwrap_or_else(|e| e.into_inner());
    let Some(w) = guard.as_mut() else {
        return Err(std::io::Error::other("stdin closed"));
    };
    let mut frame = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    frame.extend_from_slice(&body);
    w.write_all(&frame)?;
    w.flush()
}

/// How a test starts the server.
pub struct LspBuilder {
    folders: Vec<PathBuf>,
    kubeconfig: PathBuf,
    capabilities: Value,
    init_options: Value,
    env: Vec<(String, String)>,
    configuration: Value,
    cwd: Option<PathBuf>,
    root_uri_only: bool,
}

impl LspBuilder {
    /// Sends only `rootUri` (the first folder), no `workspaceFolders` (a client without
    /// workspace folder support).
    pub fn root_uri_only(mut self) -> Self {
        self.root_uri_only = true;
        self
    }

    /// The client capabilities (default [`full`]).
    pub fn capabilities(mut self, caps: Value) -> Self {
        self.capabilities = caps;
        self
    }

    /// `initializationOptions` (default `null`: not sent).
    pub fn init_options(mut self, opts: Value) -> Self {
        self.init_options = opts;
        self
    }

    /// An environment variable of the server (e.g. `FERRY_LOG`).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// The answer to every item of `workspace/configuration` (default `null`).
    pub fn configuration(mut self, settings: Value) -> Self {
        self.configuration = settings;
        self
    }

    /// The server's working directory (default: a folder of its own, not a workspace
    /// folder: the server must go by `workspaceFolders`, not by its cwd).
    pub fn cwd(mut self, dir: &Path) -> Self {
        self.cwd = Some(dir.to_path_buf());
        self
    }

    /// Spawns the server without initializing it.
    pub fn spawn(self) -> Lsp {
        let logs = tempfile::Builder::new()
            .prefix("ferry-lsp-logs.")
            .tempdir()
            .expect("tempdir");
        let stderr_path = logs.path().join("stderr.log");
        let transcript_path = logs.path().join("stdout.raw");
        let cwd = self
            .cwd
            .clone()
            .unwrap_or_else(|| logs.path().to_path_buf());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
        cmd.arg("lsp")
            .current_dir(&cwd)
            .env_remove("FERRY_LOG")
            .env_remove("RUST_LOG")
            .env("KUBECONFIG", &self.kubeconfig)
            .env("FERRY_LOG", "ferry=debug")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).expect("stderr file"));
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn ferry lsp");
        let stdin: Stdin = Arc::new(Mutex::new(child.stdin.take()));
        let stdout = child.stdout.take().expect("stdout");
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                configuration: self.configuration.clone(),
                folders: self.folders.clone(),
                ..State::default()
            }),
            cv: Condvar::new(),
        });
        let reader = {
            let shared = shared.clone();
            let stdin = stdin.clone();
            let transcript = transcript_path.clone();
            std::thread::spawn(move || read_stdout(stdout, shared, stdin, transcript))
        };
        Lsp {
            child: Some(child),
            stdin,
            shared,
            next_id: AtomicI64::new(1),
            reader: Some(reader),
            logs,
            stderr_path,
            transcript_path,
            builder: self,
            init_result: Value::Null,
            started: Instant::now(),
        }
    }

    /// Spawns the server, sends `initialize` and `initialized`.
    pub fn start(self) -> Lsp {
        let mut lsp = self.spawn();
        lsp.initialize();
        lsp
    }
}

/// A running `ferry lsp` and what it sent.
pub struct Lsp {
    child: Option<Child>,
    stdin: Stdin,
    shared: Arc<Shared>,
    next_id: AtomicI64,
    reader: Option<JoinHandle<()>>,
    logs: tempfile::TempDir,
    /// Where the server's stderr goes.
    pub stderr_path: PathBuf,
    /// Every byte the server wrote to stdout.
    pub transcript_path: PathBuf,
    builder: LspBuilder,
    /// The `initialize` result.
    pub init_result: Value,
    started: Instant,
}

impl Lsp {
    /// A builder for a server over `folders` with `kubeconfig` in its environment.
    pub fn builder(folders: &[&Path], kubeconfig: &Path) -> LspBuilder {
        LspBuilder {
            folders: folders.iter().map(|p| p.to_path_buf()).collect(),
            kubeconfig: kubeconfig.to_path_buf(),
            capabilities: full(),
            init_options: Value::Null,
            env: Vec::new(),
            configuration: Value::Null,
            cwd: None,
            root_uri_only: false,
        }
    }

    /// Starts and initializes a server over `folders` (see [`LspBuilder`]).
    pub fn start(
        folders: &[&Path],
        kubeconfig: &Path,
        capabilities: Value,
        init_options: Value,
    ) -> Lsp {
        Lsp::builder(folders, kubeconfig)
            .capabilities(capabilities)
            .init_options(init_options)
            .start()
    }

    /// `initialize` (workspaceFolders and rootUri from the builder), then `initialized`.
    pub fn initialize(&mut self) -> Value {
        let folders: Vec<Value> = self
            .builder
            .folders
            .iter()
            .map(|p| {
                json!({
                    "uri": file_uri(p),
                    "name": p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                })
            })
            .collect();
        let mut params = json!({
            "processId": std::process::id(),
            "clientInfo": {"name": "ferry-lsp-e2e", "version": "0"},
            "rootUri": self.builder.folders.first().map(|p| file_uri(p)),
            "capabilities": self.builder.capabilities.clone(),
            "workspaceFolders": folders,
            "trace": "off",
        });
        if self.builder.root_uri_only {
            params["workspaceFolders"] = Value::Null;
        }
        if !self.builder.init_options.is_null() {
            params["initializationOptions"] = self.builder.init_options.clone();
        }
        let result = self.request("initialize", params);
        self.notify("initialized", json!({}));
        self.init_result = result.clone();
        result
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Sends a notification.
    pub fn notify(&self, method: &str, params: Value) {
        write_message(
            &self.stdin,
            &json!({"jsonrpc": "2.0", "method": method, "params": params}),
        )
        .unwrap_or_else(|e| panic!("cannot send {method}: {e}\n{}", self.context()));
    }

    /// Sends a request and waits (up to `timeout`) for its response: `Ok(result)` or
    /// `Err(error object)`.
    pub fn request_full(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, Value> {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        write_message(
            &self.stdin,
            &json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
        )
        .unwrap_or_else(|e| panic!("cannot send {method}: {e}\n{}", self.context()));
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.lock();
        loop {
            if let Some(resp) = st.responses.remove(&id) {
                return match resp.get("error") {
                    Some(e) => Err(e.clone()),
                    None => Ok(resp.get("result").cloned().unwrap_or(Value::Null)),
                };
            }
            let now = Instant::now();
            if st.eof || now >= deadline {
                let why = if st.eof {
                    "the server closed stdout"
                } else {
                    "timed out"
                };
                drop(st);
                panic!(
                    "no response to {method} (id {id}): {why}\n{}",
                    self.context()
                );
            }
            st = self
                .shared
                .cv
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Sends a request and returns its result (panics on an error response or after
    /// [`TIMEOUT`]).
    pub fn request(&self, method: &str, params: Value) -> Value {
        match self.request_full(method, params.clone(), TIMEOUT) {
            Ok(v) => v,
            Err(e) => panic!("{method} {params} failed: {e}\n{}", self.context()),
        }
    }

    /// `workspace/executeCommand` with `arguments`.
    pub fn command(&self, command: &str, arguments: Vec<Value>) -> Value {
        self.request(
            "workspace/executeCommand",
            json!({"command": command, "arguments": arguments}),
        )
    }

    /// `textDocument/didSave` for `path`.
    pub fn did_save(&self, path: &Path) {
        self.notify(
            "textDocument/didSave",
            json!({"textDocument": {"uri": file_uri(path)}}),
        );
    }

    /// The arrival number of the last message so far (for [`Lsp::wait_notification_since`]).
    pub fn mark(&self) -> u64 {
        self.shared.lock().seq
    }

    /// Waits for a notification `method` (any seen so far included) whose params
    /// `pred` accepts; returns its params.
    pub fn wait_notification(
        &self,
        method: &str,
        pred: impl FnMut(&Value) -> bool,
        timeout: Duration,
    ) -> Value {
        self.wait_notification_since(0, method, pred, timeout)
    }

    /// Like [`Lsp::wait_notification`], only among notifications after `mark`.
    pub fn wait_notification_since(
        &self,
        mark: u64,
        method: &str,
        mut pred: impl FnMut(&Value) -> bool,
        timeout: Duration,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        let mut checked = 0usize;
        let mut st = self.shared.lock();
        loop {
            for n in &st.notifications[checked..] {
                if n.seq > mark && n.method == method && pred(&n.params) {
                    return n.params.clone();
                }
            }
            checked = st.notifications.len();
            let now = Instant::now();
            if st.eof || now >= deadline {
                let why = if st.eof {
                    "the server closed stdout"
                } else {
                    "timed out"
                };
                let last: Vec<String> = st
                    .notifications
                    .iter()
                    .filter(|n| n.method == method)
                    .rev()
                    .take(5)
                    .map(|n| n.params.to_string())
                    .collect();
                drop(st);
                panic!(
                    "{why} waiting for a matching {method}; the last ones (newest first):\n{}\n{}",
                    last.join("\n"),
                    self.context()
                );
            }
            st = self
                .shared
                .cv
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Every notification `method` seen so far (params).
    pub fn notifications(&self, method: &str) -> Vec<Value> {
        self.received(method, false)
            .into_iter()
            .map(|r| r.params)
            .collect()
    }

    /// Every notification or server → client request `method` seen so far.
    pub fn received(&self, method: &str, requests: bool) -> Vec<Received> {
        let st = self.shared.lock();
        let list = if requests {
            &st.requests
        } else {
            &st.notifications
        };
        list.iter()
            .filter(|r| r.method == method)
            .cloned()
            .collect()
    }

    /// Every server → client request `method` seen so far (params).
    pub fn server_requests(&self, method: &str) -> Vec<Value> {
        self.received(method, true)
            .into_iter()
            .map(|r| r.params)
            .collect()
    }

    /// Every `ferry/status` seen so far (params).
    pub fn statuses(&self) -> Vec<Value> {
        self.notifications("ferry/status")
    }

    /// The latest `ferry/status` (params).
    pub fn latest_status(&self) -> Option<Value> {
        self.statuses().pop()
    }

    /// Waits for a `ferry/status` after `mark` that `pred` accepts.
    pub fn wait_status_since(
        &self,
        mark: u64,
        pred: impl FnMut(&Value) -> bool,
        timeout: Duration,
    ) -> Value {
        self.wait_notification_since(mark, "ferry/status", pred, timeout)
    }

    /// Waits until a `ferry/status` has every sync path `watching` (at least one path).
    pub fn wait_watching(&self, timeout: Duration) -> Value {
        self.wait_status_since(0, all_watching, timeout)
    }

    /// The diagnostics of the latest `textDocument/publishDiagnostics` for `uri`
    /// (`None` if none was published for it).
    pub fn diagnostics_for(&self, uri: &str) -> Option<Vec<Value>> {
        let st = self.shared.lock();
        st.notifications
            .iter()
            .rev()
            .filter(|n| n.method == "textDocument/publishDiagnostics")
            .find(|n| n.params["uri"].as_str().is_some_and(|u| same_uri(u, uri)))
            .map(|n| {
                n.params["diagnostics"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
    }

    /// Every `textDocument/publishDiagnostics` for `uri` so far (the diagnostic lists,
    /// oldest first).
    pub fn diagnostics_history(&self, uri: &str) -> Vec<Vec<Value>> {
        self.notifications("textDocument/publishDiagnostics")
            .into_iter()
            .filter(|p| p["uri"].as_str().is_some_and(|u| same_uri(u, uri)))
            .map(|p| p["diagnostics"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    /// Waits until the latest diagnostics published for `uri` satisfy `pred`.
    pub fn wait_diagnostics(
        &self,
        uri: &str,
        what: &str,
        mut pred: impl FnMut(&[Value]) -> bool,
        timeout: Duration,
    ) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(d) = self.diagnostics_for(uri) {
                if pred(&d) {
                    return d;
                }
            }
            if Instant::now() >= deadline || self.shared.lock().eof {
                panic!(
                    "timed out waiting for diagnostics on {uri}: {what}; latest: {:?}\n{}",
                    self.diagnostics_for(uri)
                        .map(|d| Value::Array(d).to_string()),
                    self.context()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every protocol violation on stdout so far.
    pub fn violations(&self) -> Vec<String> {
        self.shared.lock().violations.clone()
    }

    /// How many bytes the server wrote to stdout so far.
    pub fn stdout_bytes(&self) -> usize {
        self.shared.lock().raw.len()
    }

    /// How many messages (all kinds) the server sent so far.
    pub fn message_count(&self) -> u64 {
        self.shared.lock().seq
    }

    /// Panics unless everything the server wrote to stdout so far was well-framed
    /// JSON-RPC 2.0.
    pub fn assert_clean_stdout(&self) {
        let v = self.violations();
        assert!(
            v.is_empty(),
            "stdout is not clean JSON-RPC: {} violation(s):\n{}\n(full transcript: {})",
            v.len(),
            v.join("\n---\n"),
            self.transcript_path.display()
        );
    }

    /// The server's stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// What to show when something fails: stdout violations, the latest status, the
    /// tail of stderr.
    pub fn context(&self) -> String {
        let (violations, status, methods) = {
            let st = self.shared.lock();
            let mut methods: Vec<String> = st
                .notifications
                .iter()
                .chain(st.requests.iter())
                .map(|n| n.method.clone())
                .collect();
            methods.sort();
            methods.dedup();
            (
                st.violations.clone(),
                st.notifications
                    .iter()
                    .rev()
                    .find(|n| n.method == "ferry/status")
                    .map(|n| n.params.to_string()),
                methods,
            )
        };
        let stderr = self.stderr();
        let tail: Vec<&str> = stderr.lines().rev().take(60).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        let mut logs = String::new();
        for f in &self.builder.folders {
            let p = f.join(".ferry/sync.log");
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(40);
            logs.push_str(&format!(
                "\n--- {} (tail):\n{}",
                p.display(),
                lines[from..].join("\n")
            ));
        }
        format!(
            "--- server alive for {:?}; methods seen: {methods:?}\n--- stdout violations: {violations:?}\n--- latest ferry/status: {}\n--- stderr (tail, {}):\n{}{logs}",
            self.started.elapsed(),
            status.unwrap_or_else(|| "none".into()),
            self.stderr_path.display(),
            tail.join("\n")
        )
    }

    /// Whether the process has ended.
    pub fn exited(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => c.try_wait().ok().flatten().is_some(),
            None => true,
        }
    }

    /// `shutdown` (waiting for its answer), then `exit`; returns the time from sending
    /// `shutdown` until the process is gone (stdin stays open: the server must end on
    /// `exit`, not on EOF). Panics if it is not gone within 60 s.
    pub fn shutdown_and_exit(&mut self) -> Duration {
        let t0 = Instant::now();
        let r = self.request_full("shutdown", Value::Null, TIMEOUT);
        assert!(
            r.as_ref().is_ok_and(|v| v.is_null()),
            "shutdown answers null: {r:?}\n{}",
            self.context()
        );
        let answered = t0.elapsed();
        self.notify("exit", Value::Null);
        let t1 = Instant::now();
        let deadline = t1 + TIMEOUT;
        loop {
            if self.exited() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "ferry lsp still running 60 s after exit\n{}",
                self.context()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let total = t0.elapsed();
        eprintln!(
            "shutdown answered after {answered:?}; process gone {:?} after exit; {total:?} in all",
            t1.elapsed()
        );
        // The process is gone: stdout reaches EOF, the reader ends.
        self.stdin.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        total
    }

    /// The exit status, once the process ended.
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }
}

impl Drop for Lsp {
    fn drop(&mut self) {
        self.stdin.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut c) = self.child.take() {
            if c.try_wait().ok().flatten().is_none() {
                let _ = c.kill();
            }
            let _ = c.wait();
        }
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        if std::thread::panicking() {
            // Keep the logs of a failed test.
            let dir = self.logs.path().to_path_buf();
            eprintln!("ferry lsp logs kept in {}", dir.display());
            std::mem::forget(std::mem::replace(
                &mut self.logs,
                tempfile::Builder::new()
                    .prefix("ferry-lsp-empty.")
                    .tempdir()
                    .expect("tempdir"),
            ));
        }
    }
}

/// Whether a status payload has at least one sync path and all of them `watching`.
pub fn all_watching(status: &Value) -> bool {
    status["paths"]
        .as_array()
        .is_some_and(|p| !p.is_empty() && p.iter().all(|p| p["state"] == "watching"))
}

// --- the stdout reader ------------------------------------------------------------

enum Parse {
    /// More bytes are needed.
    Incomplete,
    /// A message; that many bytes consumed.
    Message(usize, Value),
    /// Not a valid frame; that many bytes to skip, and why.
    Violation(usize, String),
}

const HEADER: &[u8] = b"Content-Length: ";

/// Where to resume after a violation: the next `Content-Length: ` at or after `from`.
fn resync(buf: &[u8], from: usize) -> usize {
    let from = from.min(buf.len());
    buf[from..]
        .windows(HEADER.len())
        .position(|w| w == HEADER)
        .map(|p| from + p)
        .unwrap_or_else(|| buf.len().saturating_sub(HEADER.len() - 1).max(from))
}

fn lossy(b: &[u8]) -> String {
    let cut = &b[..b.len().min(2000)];
    format!("{:?}", String::from_utf8_lossy(cut))
}

/// Parses one frame at the start of `buf`.
fn parse_one(buf: &[u8]) -> Parse {
    let mut pos = 0;
    let mut length: Option<usize> = None;
    let mut content_type = false;
    loop {
        let Some(nl) = buf[pos..].iter().position(|&b| b == b'\n') else {
            if buf.len() - pos > 4096 {
                return Parse::Violation(
                    resync(buf, 1),
                    format!("a header line of more than 4096 bytes: {}", lossy(buf)),
                );
            }
            return Parse::Incomplete;
        };
        let next = pos + nl + 1;
        let line = &buf[pos..pos + nl];
        let Some(line) = line.strip_suffix(b"\r") else {
            return Parse::Violation(
                resync(buf, 1),
                format!(
                    "a header line not ended by \\r\\n: {} (in {})",
                    lossy(line),
                    lossy(&buf[..next])
                ),
            );
        };
        if line.is_empty() {
            if pos == 0 {
                return Parse::Violation(
                    resync(buf, 1),
                    format!("an empty line where headers should start: {}", lossy(buf)),
                );
            }
            let Some(len) = length else {
                return Parse::Violation(
                    resync(buf, 1),
                    format!("headers without Content-Length: {}", lossy(&buf[..next])),
                );
            };
            if buf.len() < next + len {
                return Parse::Incomplete;
            }
            let body = &buf[next..next + len];
            let consumed = next + len;
            let v: Value = match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(e) => {
                    return Parse::Violation(
                        resync(buf, 1),
                        format!(
                            "a body that is not JSON ({e}), Content-Length {len}: {}",
                            lossy(&buf[..consumed])
                        ),
                    )
                }
            };
            if let Err(why) = validate(&v) {
                return Parse::Violation(
                    consumed,
                    format!("not a JSON-RPC 2.0 message ({why}): {}", lossy(body)),
                );
            }
            return Parse::Message(consumed, v);
        }
        let Ok(text) = std::str::from_utf8(line) else {
            return Parse::Violation(
                resync(buf, 1),
                format!("a header line that is not UTF-8: {}", lossy(line)),
            );
        };
        let Some((name, value)) = text.split_once(": ") else {
            return Parse::Violation(resync(buf, 1), format!("not a header line: {:?}", text));
        };
        match name {
            "Content-Length" => {
                if length.is_some() {
                    return Parse::Violation(resync(buf, 1), "Content-Length twice".into());
                }
                if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                    return Parse::Violation(
                        resync(buf, 1),
                        format!("Content-Length is not a number: {value:?}"),
                    );
                }
                match value.parse::<usize>() {
                    Ok(n) => length = Some(n),
                    Err(e) => {
                        return Parse::Violation(
                            resync(buf, 1),
                            format!("Content-Length {value:?}: {e}"),
                        )
                    }
                }
            }
            "Content-Type" => {
                if content_type {
                    return Parse::Violation(resync(buf, 1), "Content-Type twice".into());
                }
                content_type = true;
            }
            other => {
                return Parse::Violation(
                    resync(buf, 1),
                    format!("an unknown header {other:?}: {text:?}"),
                )
            }
        }
        pos = next;
    }
}

/// Checks a message against JSON-RPC 2.0 (no batches: LSP does not use them).
fn validate(v: &Value) -> Result<(), String> {
    let o = v.as_object().ok_or("not a JSON object")?;
    if o.get("jsonrpc") != Some(&json!("2.0")) {
        return Err("`jsonrpc` is not \"2.0\"".into());
    }
    for k in o.keys() {
        if !matches!(
            k.as_str(),
            "jsonrpc" | "id" | "method" | "params" | "result" | "error"
        ) {
            return Err(format!("an unknown member `{k}`"));
        }
    }
    let id_ok = |id: &Value| id.is_string() || id.is_i64() || id.is_u64();
    if let Some(m) = o.get("method") {
        if !m.is_string() {
            return Err("`method` is not a string".into());
        }
        if o.contains_key("result") || o.contains_key("error") {
            return Err("a request/notification with `result` or `error`".into());
        }
        if let Some(p) = o.get("params") {
            if !p.is_object() && !p.is_array() {
                return Err("`params` is neither an object nor an array".into());
            }
        }
        if let Some(id) = o.get("id") {
            if !id_ok(id) {
                return Err(format!("a request id that is not a number or string: {id}"));
            }
        }
    } else {
        let id = o.get("id").ok_or("neither `method` nor `id`")?;
        if !id_ok(id) && !id.is_null() {
            return Err(format!(
                "a response id that is not a number, string or null: {id}"
            ));
        }
        match (o.get("result"), o.get("error")) {
            (Some(_), None) => {}
            (None, Some(e)) => {
                if !e["code"].is_i64() || !e["message"].is_string() {
                    return Err(format!("a malformed error object: {e}"));
                }
            }
            _ => return Err("a response needs exactly one of `result` and `error`".into()),
        }
    }
    Ok(())
}

/// Parses a whole stdout transcript the way the reader does: the messages and the
/// violations (for checking the checker).
pub fn parse_stream(bytes: &[u8]) -> (Vec<Value>, Vec<String>) {
    let mut buf = bytes.to_vec();
    let mut messages = Vec::new();
    let mut violations = Vec::new();
    loop {
        match parse_one(&buf) {
            Parse::Incomplete => break,
            Parse::Message(consumed, v) => {
                buf.drain(..consumed);
                messages.push(v);
            }
            Parse::Violation(consumed, why) => {
                let consumed = consumed.max(1).min(buf.len());
                buf.drain(..consumed);
                violations.push(why);
            }
        }
    }
    if !buf.is_empty() {
        violations.push(format!(
            "the stream ended inside a message or with stray bytes: {}",
            lossy(&buf)
        ));
    }
    (messages, violations)
}

fn read_stdout(mut out: ChildStdout, shared: Arc<Shared>, stdin: Stdin, transcript: PathBuf) {
    let mut file = std::fs::File::create(transcript).ok();
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match out.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(f) = file.as_mut() {
            let _ = f.write_all(&chunk[..n]);
        }
        shared.lock().raw.extend_from_slice(&chunk[..n]);
        buf.extend_from_slice(&chunk[..n]);
        loop {
            match parse_one(&buf) {
                Parse::Incomplete => break,
                Parse::Message(consumed, v) => {
                    buf.drain(..consumed);
                    handle(v, &shared, &stdin);
                }
                Parse::Violation(consumed, why) => {
                    let consumed = consumed.max(1).min(buf.len());
                    buf.drain(..consumed);
                    shared.lock().violations.push(why);
                    shared.cv.notify_all();
                }
            }
        }
    }
    let mut st = shared.lock();
    if !buf.is_empty() {
        st.violations.push(format!(
            "the stream ended inside a message or with stray bytes: {}",
            lossy(&buf)
        ));
    }
    st.eof = true;
    drop(st);
    shared.cv.notify_all();
}

fn handle(v: Value, shared: &Shared, stdin: &Stdin) {
    let method = v.get("method").and_then(Value::as_str).map(str::to_string);
    let id = v.get("id").cloned();
    let mut st = shared.lock();
    st.seq += 1;
    let seq = st.seq;
    match (method, id) {
        (Some(method), Some(id)) => {
            let params = v.get("params").cloned().unwrap_or(Value::Null);
            let reply = match method.as_str() {
                "workspace/configuration" => {
                    let n = params["items"].as_array().map(Vec::len).unwrap_or(0);
                    json!({"jsonrpc": "2.0", "id": id, "result": vec![st.configuration.clone(); n]})
                }
                "window/workDoneProgress/create"
                | "client/registerCapability"
                | "client/unregisterCapability"
                | "window/showMessageRequest"
                | "window/showDocument" => json!({"jsonrpc": "2.0", "id": id, "result": null}),
                "workspace/workspaceFolders" => {
                    let f: Vec<Value> = st
                        .folders
                        .iter()
                        .map(|p| json!({"uri": file_uri(p), "name": p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()}))
                        .collect();
                    json!({"jsonrpc": "2.0", "id": id, "result": f})
                }
                _ => json!({"jsonrpc": "2.0", "id": id,
                    "error": {"code": -32601, "message": format!("the test client does not handle {method}")}}),
            };
            st.requests.push(Received {
                seq,
                at: Instant::now(),
                method,
                params,
                id: Some(id),
            });
            // Answer while holding the state lock, so that whatever the test sees next
            // happened after the answer was sent.
            let _ = write_message(stdin, &reply);
        }
        (Some(method), None) => {
            st.notifications.push(Received {
                seq,
                at: Instant::now(),
                method,
                params: v.get("params").cloned().unwrap_or(Value::Null),
                id: None,
            });
        }
        (None, Some(id)) => {
            if let Some(n) = id.as_i64() {
                st.responses.insert(n, v);
            } else {
                st.violations
                    .push(format!("a response to an id the client never used: {v}"));
            }
        }
        (None, None) => unreachable!("validated"),
    }
    drop(st);
    shared.cv.notify_all();
}

/// Blocking waits of the test client run on a worker of the multi-threaded runtime.
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

impl crate::engine_support::Context for Lsp {
    fn context(&self) -> String {
        Lsp::context(self)
    }
}
