//! The sync engine across pod replacement, end to end through the `ferry` binary:
//! a Deployment's pod deleted and replaced under a new name while local files change
//! (sync resumes on the new pod, the empty new container never reads as "everything
//! deleted"), and a hostPath folder that survives its pod (the persisted index makes the
//! next sync send only what changed).

mod engine_support;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use engine_support::{
    assert_same, is_same, manifest_diff, ready_pod, remote_manifest, sync_pod, web_deployment, Env,
    Exec, Manifest, Running, Workspace,
};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(120);

/// Waits until pod `name` no longer exists.
async fn wait_gone(pods: &Api<Pod>, name: &str) {
    let deadline = Instant::now() + WAIT;
    while pods.get_opt(name).await.expect("get pod").is_some() {
        assert!(Instant::now() < deadline, "pod {name} not gone in time");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls the container until `root` matches `local` (as [`assert_same`] sees it),
/// then asserts it.
async fn wait_remote_same(env: &Env, pod: &str, local: &Manifest, sync: Option<&Running>) {
    let deadline = Instant::now() + WAIT;
    loop {
        let remote = remote_manifest(env, pod, "/app").await;
        if is_same(local, &remote) {
            assert_same(local, &remote);
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "{pod}:/app does not match the local folder: {}\n{}",
                manifest_diff(local, &remote),
                sync.map(Running::output).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Polls `ferry status --json` until `check` accepts the first sync path's status;
/// returns the whole status.
fn wait_status(
    ws: &Workspace,
    kubeconfig: &Path,
    what: &str,
    sync: &Running,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let s = ws.status(kubeconfig);
        if check(&s["report"]["paths"][0]) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for: {what}; last status {s}\n{}",
            sync.output()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn append(path: &Path, line: &str) {
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    writeln!(f, "{line}").unwrap();
}

/// A Deployment's pod is deleted; the Deployment replaces it under a new name with an
/// empty `/app`. Local edits made while it is gone, and everything else, arrive in the
/// new container; nothing is deleted or changed locally.
#[tokio::test]
async fn deleted_pod_is_replaced_and_sync_resumes_without_local_loss() {
    let env = Env::start("resume", Exec::V5).await;
    web_deployment(&env).await;
    let pods: Api<Pod> = Api::namespaced(env.client.clone(), &env.ns);
    let first = ready_pod(&pods, "app=web", None).await;

    let ws = Workspace::new();
    ws.devspace("web", "resume", "src", "/app", "");
    for i in 0..20 {
        ws.write(&format!("src/f{i:02}.txt"), format!("file {i}\n"));
        ws.write(
            &format!("src/dir{}/g{i:02}.txt", i % 3),
            format!("deep {i}\n"),
        );
    }
    ws.write("src/a.txt", "alpha\n");
    std::fs::create_dir_all(ws.path("src/empty")).unwrap();
    let kubeconfig = env.cluster.kubeconfig();

    let mut sync = ws.sync_isolated(&kubeconfig);
    let status = ws.wait_watching(&kubeconfig, WAIT);
    assert_eq!(
        status["report"]["paths"][0]["pod"].as_str(),
        Some(first.as_str()),
        "{status}"
    );
    let before = ws.manifest("src");
    wait_remote_same(&env, &first, &before, Some(&sync)).await;

    // The pod goes away; ferry notices.
    pods.delete(&first, &DeleteParams::default())
        .await
        .expect("delete pod");
    let noticed = wait_status(
        &ws,
        &kubeconfig,
        "ferry notices the pod is gone",
        &sync,
        |p| p["state"] == "error" || p["state"] == "connecting" || p["pod"] != first.as_str(),
    );
    eprintln!(
        "after the deletion: state {}, pod {}, last error {}",
        noticed["report"]["paths"][0]["state"],
        noticed["report"]["paths"][0]["pod"],
        noticed["report"]["paths"][0]["lastError"]
    );

    // Local edits while it is gone: a changed file, a rewritten one, a new folder.
    append(&ws.path("src/a.txt"), "edited while the pod was gone");
    ws.write("src/dir1/g01.txt", "rewritten while the pod was gone\n");
    ws.write("src/offline/new.txt", "created while the pod was gone\n");
    let expected = ws.manifest("src");
    for path in before.keys() {
        assert!(
            expected.contains_key(path),
            "the test itself removed {path}"
        );
    }

    // The replacement pod; sync resumes there.
    let second = ready_pod(&pods, "app=web", Some(&first)).await;
    assert_ne!(second, first);
    let status = wait_status(
        &ws,
        &kubeconfig,
        "sync watching the replacement pod",
        &sync,
        |p| p["pod"] == second.as_str() && p["state"] == "watching",
    );
    eprintln!("resumed: {}", status["report"]["paths"][0]);
    wait_remote_same(&env, &second, &expected, Some(&sync)).await;

    // Nothing was deleted (or changed) locally by the empty new container.
    let after = ws.manifest("src");
    let lost: Vec<&String> = expected
        .keys()
        .filter(|k| !after.contains_key(*k))
        .collect();
    assert!(
        lost.is_empty(),
        "local paths deleted after the pod was replaced: {lost:?}\n{}",
        sync.output()
    );
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "the local folder gained paths"
    );
    for (path, item) in &expected {
        assert!(
            after[path] == *item,
            "{path} changed locally after the pod was replaced\n{}",
            sync.output()
        );
    }
    let path_status = &status["report"]["paths"][0];
    assert_eq!(path_status["deleted"], 0, "nothing deleted: {status}");
    assert_eq!(path_status["downloaded"], 0, "nothing downloaded: {status}");

    env.assert_protocol(&second).await;
    let exit = sync.stop();
    assert!(
        exit.success(),
        "ferry sync ends cleanly on SIGTERM: {exit}\n{}",
        sync.output()
    );
}

/// The container folder is a hostPath volume, so its files outlive the pod. After a
/// sync, ferry stops, the pod is replaced by another one on the same hostPath, and 3
/// files change locally: the next run uploads exactly those 3.
#[tokio::test]
async fn host_path_survives_pod_and_only_changes_are_sent_again() {
    const FILES: usize = 25;
    let env = Env::start("hostpath", Exec::V5).await;
    let host = tempfile::Builder::new()
        .prefix("ferry-hostpath.")
        .tempdir()
        .expect("tempdir");
    env.pod(&sync_pod("web", "busybox").host_path("data", host.path(), "/app"))
        .await;
    let ws = Workspace::new();
    ws.devspace("web", "hostpath", "src", "/app", "");
    for i in 0..FILES {
        ws.write(
            &format!("src/d{}/f{i:02}.txt", i % 4),
            format!("file {i}\n"),
        );
    }
    let kubeconfig = env.cluster.kubeconfig();

    // First run: everything goes up.
    let mut sync = ws.sync_isolated(&kubeconfig);
    ws.wait_watching(&kubeconfig, WAIT);
    let local = ws.manifest("src");
    wait_remote_same(&env, "web", &local, Some(&sync)).await;
    let exit = sync.stop();
    assert!(
        exit.success(),
        "ferry sync stops cleanly: {exit}\n{}",
        sync.output()
    );
    let first = ws.status(&kubeconfig);
    assert_eq!(
        first["report"]["paths"][0]["uploaded"], FILES,
        "the first run uploads every file: {first}"
    );
    assert!(
        ws.path(".ferry/index")
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some()),
        "the index is persisted"
    );

    // The pod is replaced by another one on the same hostPath: the files survive.
    let pods: Api<Pod> = Api::namespaced(env.client.clone(), &env.ns);
    pods.delete("web", &DeleteParams::default())
        .await
        .expect("delete pod");
    wait_gone(&pods, "web").await;
    let mut next = sync_pod("web-2", "busybox").host_path("data", host.path(), "/app");
    next.manifest["metadata"]["labels"]["app"] = json!("web");
    env.pod(&next).await;
    wait_remote_same(&env, "web-2", &local, None).await;

    // Three local changes, then the next run.
    for i in [3, 10, 17] {
        append(
            &ws.path(&format!("src/d{}/f{i:02}.txt", i % 4)),
            "changed while ferry was stopped",
        );
    }
    let local = ws.manifest("src");
    let log_before = std::fs::read_to_string(ws.path(".ferry/sync.log"))
        .unwrap_or_default()
        .len();
    let out = ws.sync_once(&kubeconfig);
    let log = std::fs::read_to_string(ws.path(".ferry/sync.log")).unwrap_or_default();
    let new_log = &log[log_before.min(log.len())..];
    let report = format!(
        "--- stdout\n{}\n--- stderr\n{}\n--- sync.log of this run\n{new_log}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "ferry sync --once: {}\n{report}",
        out.status
    );
    wait_remote_same(&env, "web-2", &local, None).await;

    let second = ws.status(&kubeconfig);
    let p = &second["report"]["paths"][0];
    assert_eq!(p["pod"], "web-2", "{second}");
    assert_eq!(
        p["uploaded"], 3,
        "the second run uploads exactly the 3 changed files: {second}\n{report}"
    );
    assert_eq!(p["downloaded"], 0, "nothing downloaded: {second}\n{report}");
    assert_eq!(p["deleted"], 0, "nothing deleted: {second}\n{report}");
    // The second run planned three-way, with the index the first run persisted (the
    // sync log's "initial sync: … index of N, …" line).
    let initial_line = new_log
        .lines()
        .find(|l| l.contains("initial sync:") && l.contains("index of"))
        .unwrap_or_else(|| panic!("no initial-sync line in the sync log\n{report}"));
    assert!(
        !initial_line.contains("index of 0,"),
        "the second run used the persisted index: {initial_line}"
    );
    let ups: Vec<&str> = new_log.lines().filter(|l| l.contains('↑')).collect();
    assert!(
        ups.len() == 1 && ups[0].contains("↑ 3 files ("),
        "the sync log shows one upload of 3 files: {ups:?}\n{report}"
    );
}
