//! `ferry lsp` with its workspaces: each folder's sync is owned by its own
//! `engine::Workspace`, and sync paths are known by (folder, slot), never by name alone;
//! with the server's own watcher off (`localWatcher: false`), `didSave` alone uploads.

mod engine_support;
mod lsp_support;

use std::time::{Duration, Instant};

use engine_support::{check, sync_pod, wait_until, Env, Exec, Workspace};
use lsp_support::{blocking, file_uri, full, same_uri, Lsp};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(60);

/// A workspace whose sync path is called `web` and syncs `src` with `/app` of the pod
/// labelled `app: LABEL`.
fn web_workspace(ns: &str, label: &str) -> Workspace {
    let ws = Workspace::new();
    ws.write(
        "devspace.yaml",
        format!(
            "version: v2beta1\nname: test\ndev:\n  web:\n    labelSelector:\n      app: {label}\n    namespace: {ns}\n    sync:\n    - path: ./src:/app\n"
        ),
    );
    ws
}

/// With `localWatcher: false` the server does not watch files itself: a change the
/// client does not report stays local (the server's watcher would have sent it within
/// a second), and the same change reported by `didSave` is uploaded — the `didSave`
/// path alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_local_watcher_off_did_save_alone_uploads() {
    let ns = "lsp-ws-save";
    let env = Env::start(ns, Exec::V5).await;
    env.pod(&sync_pod("web", "busybox")).await;
    let ws = web_workspace(ns, "web");
    ws.write("src/a.txt", "alpha\n");
    let kubeconfig = env.cluster.kubeconfig();
    let lsp = Lsp::builder(&[ws.root()], &kubeconfig)
        .init_options(json!({"localWatcher": false}))
        .start();
    blocking(|| lsp.wait_watching(WAIT));
    wait_until("a.txt in the container (initial sync)", &lsp, || async {
        let c = env.read("web", "/app/a.txt").await;
        check(c.as_deref() == Some(b"alpha\n"), || format!("{c:?}"))
    })
    .await;

    ws.write("src/a.txt", "beta\n");
    blocking(|| std::thread::sleep(Duration::from_secs(5)));
    let c = env.read("web", "/app/a.txt").await;
    assert_eq!(
        c.as_deref(),
        Some(&b"alpha\n"[..]),
        "an unreported change is not uploaded with the local watcher off\n{}",
        lsp.context()
    );

    lsp.did_save(&ws.path("src/a.txt"));
    wait_until("the saved file in the container", &lsp, || async {
        let c = env.read("web", "/app/a.txt").await;
        check(c.as_deref() == Some(b"beta\n"), || format!("{c:?}"))
    })
    .await;
    let mut lsp = lsp;
    blocking(|| lsp.shutdown_and_exit());
}

/// Two workspace folders in one server, each with its own config and pod, both with a
/// sync path named `web`: both sync; the status has one entry per folder (its `folder`
/// and `id`), each initial sync its own progress, each folder its own diagnostics and its
/// own sync log with its lines only; stopping one folder leaves the other syncing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_folders_with_a_sync_path_of_the_same_name_are_kept_apart() {
    let ns = "lsp-ws-two";
    let env = Env::start(ns, Exec::V5).await;
    env.pod(&sync_pod("a", "busybox")).await;
    env.pod(&sync_pod("b", "busybox")).await;
    let wa = web_workspace(ns, "a");
    let wb = web_workspace(ns, "b");
    // Folder b's config has a field ferry does not support: a warning there only.
    wb.write(
        "devspace.yaml",
        format!(
            "version: v2beta1\nname: test\ndev:\n  web:\n    labelSelector:\n      app: b\n    namespace: {ns}\n    sync:\n    - path: ./src:/app\n      waitInitialSync: true\n"
        ),
    );
    wa.write("src/only-a.txt", "from folder a\n");
    wb.write("src/only-b.txt", "from folder b\n");
    let kubeconfig = env.cluster.kubeconfig();
    let mut lsp = Lsp::start(&[wa.root(), wb.root()], &kubeconfig, full(), Value::Null);
    let status = blocking(|| {
        lsp.wait_notification(
            "ferry/status",
            |s| {
                let paths = s["paths"].as_array().cloned().unwrap_or_default();
                paths.len() == 2 && paths.iter().all(|p| p["state"] == "watching")
            },
            WAIT,
        )
    });
    let paths = status["paths"].as_array().unwrap();
    for (p, ws) in paths.iter().zip([&wa, &wb]) {
        assert_eq!(p["name"], "web", "{status}");
        assert_eq!(p["id"], 0, "{status}");
        assert!(
            p["folder"]
                .as_str()
                .is_some_and(|f| same_uri(f, &file_uri(ws.root()))),
            "each path names its folder: {status}"
        );
    }
    wait_until("each folder's file in its own pod", &lsp, || async {
        let a = env.read("a", "/app/only-a.txt").await;
        let b = env.read("b", "/app/only-b.txt").await;
        let a_has_b = env.read("a", "/app/only-b.txt").await;
        let b_has_a = env.read("b", "/app/only-a.txt").await;
        check(
            a.as_deref() == Some(b"from folder a\n")
                && b.as_deref() == Some(b"from folder b\n")
                && a_has_b.is_none()
                && b_has_a.is_none(),
            || format!("a: {a:?} {a_has_b:?}, b: {b:?} {b_has_a:?}"),
        )
    })
    .await;
    // Each folder its own diagnostics: the warning on b's config, nothing on a's.
    let b_diags = blocking(|| {
        lsp.wait_diagnostics(
            &file_uri(&wb.path("devspace.yaml")),
            "the warning on b's config",
            |d| !d.is_empty(),
            WAIT,
        )
    });
    assert!(
        b_diags[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("waitInitialSync")),
        "{b_diags:?}"
    );
    assert!(
        lsp.diagnostics_for(&file_uri(&wa.path("devspace.yaml")))
            .is_none_or(|d| d.is_empty()),
        "nothing on a's config"
    );
    // Each initial sync had a progress of its own (two tokens began and ended). The
    // second end may still be on its way when the files are there: wait for both.
    let mut ended = std::collections::BTreeSet::new();
    blocking(|| {
        lsp.wait_notification(
            "$/progress",
            |p| {
                if p["value"]["kind"] == "end" {
                    ended.insert(p["token"].to_string());
                }
                ended.len() >= 2
            },
            WAIT,
        )
    });
    let progress = lsp.notifications("$/progress");
    let tokens = |kind: &str| {
        let mut t: Vec<String> = progress
            .iter()
            .filter(|p| p["value"]["kind"] == kind)
            .filter_map(|p| p["token"].as_str().map(String::from))
            .collect();
        t.sort();
        t.dedup();
        t
    };
    assert_eq!(tokens("begin").len(), 2, "{progress:?}");
    assert_eq!(tokens("begin"), tokens("end"), "{progress:?}");

    // One sync log per folder, with that folder's lines only.
    let logs = blocking(|| lsp.command("ferry.server.log", vec![]));
    for (entry, ws) in logs.as_array().unwrap().iter().zip([&wa, &wb]) {
        assert_eq!(
            entry["path"].as_str().map(std::path::PathBuf::from),
            Some(ws.path(".ferry/sync.log")),
            "{logs}"
        );
    }
    let log_a = std::fs::read_to_string(wa.path(".ferry/sync.log")).unwrap();
    let log_b = std::fs::read_to_string(wb.path(".ferry/sync.log")).unwrap();
    assert!(log_a.contains("connected to pod a "), "{log_a}");
    assert!(log_b.contains("connected to pod b "), "{log_b}");
    assert!(
        !log_a.contains("pod b "),
        "folder b's lines in a's log:\n{log_a}"
    );
    assert!(
        !log_b.contains("pod a "),
        "folder a's lines in b's log:\n{log_b}"
    );

    // Stop folder a: b still syncs. (Only statuses sent after the stop count: the first
    // ones, before the folders started, have both folders stopped too.)
    let mark = lsp.mark();
    blocking(|| {
        lsp.command(
            "ferry.server.stop",
            vec![json!({"folder": file_uri(wa.root())})],
        )
    });
    let status = blocking(|| {
        lsp.wait_notification_since(
            mark,
            "ferry/status",
            |s| {
                let folders = s["folders"].as_array().cloned().unwrap_or_default();
                folders.len() == 2 && folders[0]["state"] == "stopped"
            },
            WAIT,
        )
    });
    assert_eq!(status["folders"][1]["state"], "syncing", "{status}");
    wb.write("src/later.txt", "b after a stopped\n");
    lsp.did_save(&wb.path("src/later.txt"));
    wa.write("src/later.txt", "a while stopped\n");
    lsp.did_save(&wa.path("src/later.txt"));
    wait_until("b's save in pod b", &lsp, || async {
        let b = env.read("b", "/app/later.txt").await;
        check(b.as_deref() == Some(b"b after a stopped\n"), || {
            format!("{b:?}")
        })
    })
    .await;
    blocking(|| std::thread::sleep(Duration::from_secs(2)));
    assert_eq!(
        env.read("a", "/app/later.txt").await,
        None,
        "folder a is stopped: its save stays local"
    );
    blocking(|| lsp.shutdown_and_exit());
}

/// Files in the container folder `/app` of `pod`.
async fn container_files(env: &Env, pod: &str) -> usize {
    env.sh(pod, "find /app -type f | wc -l")
        .await
        .trim()
        .parse()
        .unwrap()
}

/// The user cancels the initial sync of 3,000 files (its work-done progress is
/// `cancellable`) on a slow link: the sync path is `stopped` soon after (batches are
/// sized to the measured link, so the next boundary is never far), the progress ends,
/// and `ferry.server.start` finishes the sync without sending again what was sent.
/// While it runs, the status carries `pendingUp`, `pendingDown` and the step's `total`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_initial_sync_stops_and_a_later_start_goes_on_from_there() {
    const FILES: u64 = 3000;
    let ns = "lsp-ws-cancel";
    let env = Env::start(ns, Exec::V5).await;
    env.pod(&sync_pod("web", "busybox")).await;
    let ws = web_workspace(ns, "web");
    for i in 0..FILES {
        ws.write(
            &format!("src/d{}/f{i}.bin", i % 30),
            engine_support::noise(i, 1024),
        );
    }
    let kubeconfig = env.cluster.kubeconfig();
    // 3 MB of incompressible content at 300 KB/s: about 10 s of upload.
    env.control.set_shaping(0, 300_000).await.expect("shaping");
    let mut lsp = Lsp::start(&[ws.root()], &kubeconfig, full(), Value::Null);
    let during = blocking(|| {
        lsp.wait_notification(
            "ferry/status",
            |s| {
                let p = &s["paths"][0];
                p["state"] == "initialSync"
                    && p["total"].as_u64() == Some(FILES)
                    && p["pending"].as_u64().is_some_and(|n| n > 0 && n < FILES)
            },
            WAIT,
        )
    });
    let p = &during["paths"][0];
    assert_eq!(
        p["pendingUp"].as_u64().unwrap() + p["pendingDown"].as_u64().unwrap(),
        p["pending"].as_u64().unwrap(),
        "{during}"
    );
    assert_eq!(p["pendingDown"], 0, "nothing to download: {during}");
    let progress = lsp.notifications("$/progress");
    let begin = progress
        .iter()
        .find(|p| p["value"]["kind"] == "begin")
        .unwrap_or_else(|| panic!("a progress began: {progress:?}"));
    assert_eq!(begin["value"]["cancellable"], true, "{begin}");
    let token = begin["token"].clone();

    let cancelled = Instant::now();
    lsp.notify(
        "window/workDoneProgress/cancel",
        json!({ "token": token.clone() }),
    );
    blocking(|| {
        lsp.wait_notification(
            "ferry/status",
            |s| s["paths"][0]["state"] == "stopped",
            WAIT,
        )
    });
    let took = cancelled.elapsed();
    eprintln!("cancel → stopped in {took:?}");
    assert!(
        took < Duration::from_secs(3),
        "stopped {took:?} after the cancel (batches take about 0.5 s)\n{}",
        lsp.context()
    );
    blocking(|| {
        lsp.wait_notification(
            "$/progress",
            |p| p["token"] == token && p["value"]["kind"] == "end",
            WAIT,
        )
    });
    env.control.set_shaping(0, 0).await.expect("shaping off");
    let landed = container_files(&env, "web").await as u64;
    assert!(landed < FILES, "the cancel came before the end: {landed}");

    blocking(|| lsp.command("ferry.server.start", vec![]));
    let status = blocking(|| lsp.wait_watching(WAIT));
    assert_eq!(container_files(&env, "web").await as u64, FILES);
    let uploaded = status["paths"][0]["uploaded"].as_u64().unwrap();
    assert_eq!(
        uploaded,
        FILES - landed,
        "the start sends only what had not landed ({landed} had): {status}"
    );
    blocking(|| lsp.shutdown_and_exit());
}
