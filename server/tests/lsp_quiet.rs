//! `ferry lsp` is quiet and truthful (docs/protocol.md, "Messages"): plain LSP clients
//! hear of a failing sync or a locked folder through one `window/showMessage` per state
//! change (and `window/logMessage` when it ends); a retry that fails alike is not logged
//! again at warn (editors show every stderr line as an error); an idle server writes
//! nothing under `.ferry/`; a normal shutdown logs no error; status paths name their
//! folder and slot.

mod engine_support;
mod lsp_support;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use engine_support::env_with_pod;
use engine_support::{sync_pod, Env, Exec, Workspace};
use lsp_support::{blocking, file_uri, full, same_uri, Lsp};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

/// The `window/showMessage` texts so far that contain `part`.
fn shown(lsp: &Lsp, part: &str) -> Vec<String> {
    lsp.notifications("window/showMessage")
        .iter()
        .filter_map(|p| p["message"].as_str())
        .filter(|m| m.contains(part))
        .map(String::from)
        .collect()
}

/// The `window/logMessage` texts so far that contain `part`.
fn logged(lsp: &Lsp, part: &str) -> Vec<String> {
    lsp.notifications("window/logMessage")
        .iter()
        .filter_map(|p| p["message"].as_str())
        .filter(|m| m.contains(part))
        .map(String::from)
        .collect()
}

/// Every file under `dir`: its inode, size and mtime (ns).
fn tree_stamp(dir: &Path) -> BTreeMap<String, (u64, u64, i64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                stack.push(e.path());
            } else {
                let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
                out.insert(
                    rel,
                    (
                        m.ino(),
                        m.size(),
                        m.mtime() * 1_000_000_000 + m.mtime_nsec(),
                    ),
                );
            }
        }
    }
    out
}

/// A namespace without the pod: the sync path fails, is retried (1, 2, 4 s …), and the
/// user is told once — one `showMessage`, one warning line on stderr, no `ERROR` line —
/// however often the retry fails alike; when the pod comes, the path syncs and the end
/// of the failure is logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_pod_is_one_message_and_one_warning_however_often_it_is_retried() {
    let ns = "lsp-quiet-pod";
    let env = Env::start(ns, Exec::V5).await;
    let ws = Workspace::new();
    ws.devspace("web", ns, "src", "/app", "");
    ws.write("src/a.txt", "alpha\n");
    let kubeconfig = env.cluster.kubeconfig();
    let mut lsp = Lsp::start(&[ws.root()], &kubeconfig, full(), Value::Null);
    // Three failed attempts at least.
    blocking(|| {
        let t = Instant::now();
        while logged(&lsp, "retrying in").len() < 3 {
            assert!(t.elapsed() < WAIT, "three retries\n{}", lsp.context());
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let messages = shown(&lsp, "cannot sync");
    assert_eq!(messages.len(), 1, "{messages:?}\n{}", lsp.context());
    assert!(
        messages[0].contains("no Running and Ready pod"),
        "{messages:?}"
    );
    let stderr = lsp.stderr();
    let warned: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("no Running and Ready pod") && l.contains(" WARN "))
        .collect();
    assert_eq!(warned.len(), 1, "one warning line on stderr:\n{stderr}");
    assert!(!stderr.contains("ERROR"), "no ERROR line:\n{stderr}");

    env.pod(&sync_pod("web", "busybox")).await;
    blocking(|| lsp.wait_watching(WAIT));
    blocking(|| {
        lsp.wait_notification(
            "window/logMessage",
            |p| {
                p["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("resolved"))
            },
            WAIT,
        )
    });
    assert_eq!(
        shown(&lsp, "cannot sync").len(),
        1,
        "no new message once it syncs\n{}",
        lsp.context()
    );
    blocking(|| lsp.shutdown_and_exit());
}

/// A client that shows `ferry/status` itself (`experimental.ferry.statusUi`, as the VS
/// Code extension and the Neovim plugin do) is not also told by `window/showMessage`: the
/// same line goes to `window/logMessage`. And no status ever reports a path that is about
/// to start as `stopped` (it is `connecting` from its first report).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_with_its_own_status_ui_gets_log_lines_not_toasts() {
    let ns = "lsp-quiet-ui";
    let env = Env::start(ns, Exec::V5).await;
    let ws = Workspace::new();
    ws.devspace("web", ns, "src", "/app", "");
    ws.write("src/a.txt", "alpha\n");
    let kubeconfig = env.cluster.kubeconfig();
    let mut caps = full();
    caps["experimental"] = serde_json::json!({"ferry": {"statusUi": true}});
    let mut lsp = Lsp::start(&[ws.root()], &kubeconfig, caps, Value::Null);
    blocking(|| {
        let t = Instant::now();
        while logged(&lsp, "retrying in").len() < 2 || logged(&lsp, "cannot sync").is_empty() {
            assert!(
                t.elapsed() < WAIT,
                "retries and the failure logged\n{}",
                lsp.context()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let told = logged(&lsp, "cannot sync");
    assert_eq!(told.len(), 1, "{told:?}\n{}", lsp.context());
    assert!(told[0].contains("no Running and Ready pod"), "{told:?}");
    let toasts = lsp.notifications("window/showMessage");
    assert!(toasts.is_empty(), "no showMessage: {toasts:?}");
    let statuses = lsp.statuses();
    assert!(!statuses.is_empty());
    for s in &statuses {
        for p in s["paths"].as_array().into_iter().flatten() {
            assert_ne!(p["state"], "stopped", "a starting path read stopped: {s}");
        }
    }
    blocking(|| lsp.shutdown_and_exit());
}

/// A folder another process owns: one `showMessage` naming the owner, no restart every
/// second in the sync log (the lock is probed, which writes nothing); once the owner
/// is gone the folder syncs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_folder_is_one_message_and_no_restarts() {
    let ns = "lsp-quiet-lock";
    let (env, ws) = env_with_pod(ns).await;
    ws.write("src/a.txt", "alpha\n");
    let kubeconfig = env.cluster.kubeconfig();
    let mut cli = ws.sync(&kubeconfig);
    ws.wait_watching(&kubeconfig, WAIT);
    let mut lsp = Lsp::start(&[ws.root()], &kubeconfig, full(), Value::Null);
    blocking(|| {
        lsp.wait_notification(
            "ferry/status",
            |s| s["folders"][0]["state"] == "locked",
            WAIT,
        )
    });
    blocking(|| std::thread::sleep(Duration::from_secs(5)));
    let messages = shown(&lsp, "synced by another process");
    assert_eq!(messages.len(), 1, "{messages:?}\n{}", lsp.context());
    assert!(messages[0].contains("ferry sync (pid"), "{messages:?}");
    let log = std::fs::read_to_string(ws.path(".ferry/sync.log")).unwrap_or_default();
    assert!(
        !log.contains("restarting"),
        "the locked folder is not restarted every second:\n{log}"
    );
    assert!(cli.stop().success());
    blocking(|| lsp.wait_watching(WAIT));
    assert_eq!(shown(&lsp, "synced by another process").len(), 1);
    blocking(|| lsp.shutdown_and_exit());
    let stderr = lsp.stderr();
    assert!(!stderr.contains("ERROR"), "{stderr}");
}

/// Synced and idle for 30 s: nothing under `.ferry/` is written (no index, status or
/// log rewritten with the same bytes); the status paths name their folder and slot;
/// `shutdown` + `exit` log no error or warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_server_writes_nothing_and_a_normal_shutdown_logs_no_error() {
    let ns = "lsp-quiet-idle";
    let (env, ws) = env_with_pod(ns).await;
    ws.write("src/a.txt", "alpha\n");
    let kubeconfig = env.cluster.kubeconfig();
    let mut lsp = Lsp::start(&[ws.root()], &kubeconfig, full(), Value::Null);
    let status = blocking(|| lsp.wait_watching(WAIT));
    let path = &status["paths"][0];
    assert!(
        path["folder"]
            .as_str()
            .is_some_and(|f| same_uri(f, &file_uri(ws.root()))),
        "{status}"
    );
    assert_eq!(path["id"], 0, "{status}");
    // Let the first sync's writes settle (status file, index, log).
    blocking(|| std::thread::sleep(Duration::from_secs(3)));
    let state = ws.path(".ferry");
    let before = tree_stamp(&state);
    assert!(before.keys().any(|k| k.starts_with("index/")), "{before:?}");
    blocking(|| std::thread::sleep(Duration::from_secs(30)));
    let after = tree_stamp(&state);
    let changed: Vec<&String> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(v))
        .map(|(k, _)| k)
        .chain(before.keys().filter(|k| !after.contains_key(*k)))
        .collect();
    assert!(
        changed.is_empty(),
        "written while idle: {changed:?}\n{}",
        lsp.context()
    );
    blocking(|| lsp.shutdown_and_exit());
    let stderr = lsp.stderr();
    assert!(
        !stderr.contains("ERROR") && !stderr.contains("WARN"),
        "a normal shutdown logs nothing at warn or error:\n{stderr}"
    );
}
