//! Issue 8, reproduced scenario 1: a replaced pod whose image already holds the folder.
//!
//! A workspace (`devspace.yaml` + `a.txt`, sync path `./:/app`) is synced to pod A, then
//! a new local `c.txt`; pod A is replaced by pod B with the same labels whose command
//! writes an older `/app` holding only `a.txt` (what an image built with
//! `COPY . /app` holds). Syncing against B must leave the local tree exactly as it was
//! and give B everything local (`c.txt`, `devspace.yaml`, the newer `a.txt`), and say
//! the container was not recognised.
//!
//! On today's code (`ferry sync --once`, busybox and debian) the run prints
//! `↓ 1 file (6 B), 2 deleted` and the first assertion fails:
//!
//! ```text
//! the local tree after syncing against the replacement pod: 2 missing, 0 extra, 1 changed (of 3 expected)
//!   changed  a.txt: f 6 B mode 644 mtime 1796161376 "alpha\n" → f 6 B mode 644 mtime 1796157781 "alpha\n"
//!   missing  c.txt (was f 8 B mode 644 mtime 1796161381 "charlie\n")
//!   missing  devspace.yaml (was f 132 B mode 644 mtime 1796161381 "version: v2beta1\nname: test\ndev:\n  web:\n"…)
//! [web] connected to pod web-b container main (namespace replaced-bb), folder /app
//! [web] initial sync: 1/1 files
//! [web] ↓ 1 file (6 B), 2 deleted in 16 ms
//! ```
//!
//! With `ferry lsp` (live: the pod is replaced under a running server) the same loss
//! happens on the reconnect (`↓ 1 file (6 B), 2 deleted` in the sync log), and the
//! folder then turns `noConfig` since its `devspace.yaml` is gone.

mod engine_support;
mod lsp_support;

use std::time::Duration;

use engine_support::{
    image_pod, now_secs, printed, recognised, remote_tree, set_mtime, wait_remote_tree, Env, Exec,
    ImageFile, Manifest, Timer, Workspace, FERRY_STATE, NOT_RECOGNISED,
};
use lsp_support::{full, Lsp};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(120);

/// What the image holds: `a.txt` as it was when the image was built, an hour ago.
fn image_files(built: i64) -> Vec<ImageFile> {
    vec![ImageFile::new("a.txt", "alpha\n", built)]
}

/// The workspace of the scenario: `devspace.yaml` syncing `./` with `/app` in pods
/// labelled `app: web`, and `a.txt` (saved now, after the image was built).
fn workspace(ns: &str) -> Workspace {
    let ws = Workspace::new();
    ws.devspace("web", ns, "", "/app", "");
    ws.write("a.txt", "alpha\n");
    set_mtime(&ws.path("a.txt"), now_secs() - 5);
    ws
}

/// `ferry sync --once`, which must succeed; returns what it printed.
fn sync_once_ok(ws: &Workspace, env: &Env, what: &str) -> String {
    let out = ws.sync_once(&env.cluster.kubeconfig());
    let text = printed(&out);
    assert!(out.status.success(), "{what}: {text}");
    text
}

/// Asserts the container tree of `pod` equals `expected` (after a finished run).
async fn assert_remote(env: &Env, pod: &str, expected: &Manifest, what: &str, ctx: &str) {
    let t = remote_tree(env, pod, "/app", FERRY_STATE).await;
    engine_support::assert_tree(what, expected, &t, ctx);
}

async fn with_sync_once(image: &str, ns: &str) {
    let env = Env::start(ns, Exec::V5).await;
    let built = now_secs() - 3600;
    env.pod(&image_pod("web-a", image, "web", &image_files(built)))
        .await;
    let ws = workspace(ns);

    // Synced to pod A, then a new local file synced to A.
    let out = sync_once_ok(&ws, &env, "the first sync with pod A");
    let local = ws.tree(FERRY_STATE);
    assert_remote(&env, "web-a", &local, "pod A after the first sync", &out).await;
    ws.write("c.txt", "charlie\n");
    let out = sync_once_ok(&ws, &env, "syncing c.txt to pod A");
    let before = ws.tree(FERRY_STATE);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        ["a.txt", "c.txt", "devspace.yaml"],
        "the local tree before the replacement (`.ferry/` left out by name)"
    );
    assert_remote(&env, "web-a", &before, "pod A before the replacement", &out).await;

    // Pod A is replaced by pod B: same labels, the image's older /app.
    env.delete_pod("web-a").await;
    env.pod(&image_pod("web-b", image, "web", &image_files(built)))
        .await;
    let b_before = remote_tree(&env, "web-b", "/app", FERRY_STATE).await;
    assert_eq!(
        b_before.keys().collect::<Vec<_>>(),
        ["a.txt"],
        "pod B starts with the image's /app"
    );

    let out = ws.sync_once(&env.cluster.kubeconfig());
    let text = printed(&out);

    // The trees first: nothing local lost or changed, B has everything local.
    let after = ws.tree(FERRY_STATE);
    engine_support::assert_tree(
        "the local tree after syncing against the replacement pod",
        &before,
        &after,
        &text,
    );
    assert_remote(
        &env,
        "web-b",
        &before,
        "pod B after the sync (c.txt, devspace.yaml and the local a.txt arrive)",
        &text,
    )
    .await;
    assert!(out.status.success(), "ferry sync --once against B: {text}");
    // Then what the fix reports.
    let status = ws.status_file();
    assert_eq!(
        recognised(&status),
        Value::Bool(false),
        "`.ferry/status.json` says pod B's container is not recognised: {status}"
    );
    assert!(
        text.contains(NOT_RECOGNISED) && ws.log().contains(NOT_RECOGNISED),
        "stdout and the sync log say {NOT_RECOGNISED:?}:\n{text}"
    );
}

#[tokio::test]
async fn replaced_pod_with_prefilled_folder_busybox_sync_once() {
    let _t = Timer::start("replaced_pod_with_prefilled_folder_busybox_sync_once");
    with_sync_once("busybox", "replaced-bb").await;
}

#[tokio::test]
async fn replaced_pod_with_prefilled_folder_debian_sync_once() {
    let _t = Timer::start("replaced_pod_with_prefilled_folder_debian_sync_once");
    with_sync_once("debian", "replaced-deb").await;
}

/// The same with `ferry lsp`, live: the server syncs with pod A (a save of the new
/// `c.txt` included), pod B is created and pod A deleted under it, and the server
/// reconnects to B. Nothing local may be lost; B gets everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_pod_with_prefilled_folder_busybox_lsp() {
    let _t = Timer::start("replaced_pod_with_prefilled_folder_busybox_lsp");
    let ns = "replaced-lsp";
    let env = Env::start(ns, Exec::V5).await;
    let built = now_secs() - 3600;
    env.pod(&image_pod("web-a", "busybox", "web", &image_files(built)))
        .await;
    let ws = workspace(ns);
    let kubeconfig = env.cluster.kubeconfig();
    let lsp = Lsp::start(&[ws.root()], &kubeconfig, full(), Value::Null);
    tokio::task::block_in_place(|| lsp.wait_watching(WAIT));
    let local = ws.tree(FERRY_STATE);
    if let Err(d) = wait_remote_tree(&env, "web-a", "/app", FERRY_STATE, &local, WAIT).await {
        panic!("pod A after the first sync: {d}\n{}", lsp.context());
    }
    ws.write("c.txt", "charlie\n");
    lsp.did_save(&ws.path("c.txt"));
    let before = ws.tree(FERRY_STATE);
    if let Err(d) = wait_remote_tree(&env, "web-a", "/app", FERRY_STATE, &before, WAIT).await {
        panic!("pod A with c.txt: {d}\n{}", lsp.context());
    }

    // Pod B (same labels, the image's /app) comes up, then pod A goes away.
    env.pod(&image_pod("web-b", "busybox", "web", &image_files(built)))
        .await;
    let b_before = remote_tree(&env, "web-b", "/app", FERRY_STATE).await;
    assert_eq!(b_before.keys().collect::<Vec<_>>(), ["a.txt"]);
    let mark = lsp.mark();
    env.delete_pod("web-a").await;
    let status = blocking_status(&lsp, mark);

    let after = ws.tree(FERRY_STATE);
    engine_support::assert_tree(
        "the local tree after ferry lsp reconnected to the replacement pod",
        &before,
        &after,
        &lsp.context(),
    );
    if let Err(d) = wait_remote_tree(&env, "web-b", "/app", FERRY_STATE, &before, WAIT).await {
        panic!("pod B does not get the local tree: {d}\n{}", lsp.context());
    }
    assert_eq!(
        recognised(&status),
        Value::Bool(false),
        "ferry/status says pod B's container is not recognised: {status}"
    );
    assert!(
        ws.log().contains(NOT_RECOGNISED),
        "the sync log says {NOT_RECOGNISED:?}\n{}",
        lsp.context()
    );
    // The field is in every status; while a connection is being made it is null (each
    // connection decides anew). Statuses are coalesced, so a short `connecting` phase
    // may not be sent at all: every one that was sent is checked.
    let statuses = lsp.statuses();
    let with_path: Vec<&Value> = statuses
        .iter()
        .filter(|s| s["paths"][0].is_object())
        .collect();
    assert!(!with_path.is_empty(), "no ferry/status with a path");
    for s in &with_path {
        assert!(
            s["paths"][0].get("recognised").is_some(),
            "`recognised` is missing: {s}"
        );
        if s["paths"][0]["state"] == "connecting" {
            assert_eq!(
                s["paths"][0]["recognised"],
                Value::Null,
                "`recognised` is null while connecting: {s}"
            );
        }
    }
    lsp.assert_clean_stdout();
}

/// Waits (blocking, on a worker of the multi-threaded runtime) for a `ferry/status`
/// after `mark` with the path watching pod B — or with the folder no longer syncing
/// (today the deleted `devspace.yaml` makes it `noConfig`).
fn blocking_status(lsp: &Lsp, mark: u64) -> Value {
    tokio::task::block_in_place(|| {
        lsp.wait_status_since(
            mark,
            |s| {
                (s["paths"][0]["pod"] == "web-b" && s["paths"][0]["state"] == "watching")
                    || s["folders"][0]["state"]
                        .as_str()
                        .is_some_and(|f| f != "syncing")
            },
            WAIT,
        )
    })
}
