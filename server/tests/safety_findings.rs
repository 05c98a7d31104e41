//! Issue 8, the findings: each is a path to losing a change that a read of the code
//! found; each test here fails on today's code (the first lines of each failure are in
//! the test's doc comment). Trees are compared whole on both sides (`.ferry/`, ferry's
//! staging names and, where named, conflict copies are the only exceptions).

mod engine_support;

use std::time::{Duration, Instant};

use engine_support::{
    labelled, local_tree, noise, problems, remote_tree, sync_pod, wait_running_watching, Env, Exec,
    Manifest, Timer, Workspace, FERRY_STATE,
};
use ferry_testkit::PodBuilder;

const WAIT: Duration = Duration::from_secs(120);

fn local(ws: &Workspace) -> Manifest {
    local_tree(&ws.path("src"), FERRY_STATE)
}

async fn container(env: &Env, pod: &str) -> Manifest {
    remote_tree(env, pod, "/app", FERRY_STATE).await
}

/// Pod `web` running as uid 1000 with `/app` on an `emptyDir` (writable for it).
fn uid1000_pod(image: &str) -> PodBuilder {
    PodBuilder::new("web", image)
        .user(1000)
        .empty_dir("app", "/app", None)
}

/// The reset guard ignores the index when one side is empty, and then keeps the index
/// entries of every *planned* transfer — also of those that fail. Here the local folder
/// is emptied (a fresh checkout), and one container file is unreadable for the
/// container's user during the sync that brings the rest back; once it is readable
/// again, the next sync must download it, not delete it in the container.
///
/// Today the second sync reads the stale entry as "deleted locally":
///
/// ```text
/// the container (nothing deleted; x.txt is its only copy): 1 missing, 0 extra, 0 changed (of 4 expected)
///   missing  x.txt (was f 3 B mode 644 mtime … "ex\n")
///   [web] 1 deleted in … ms
/// ```
#[tokio::test]
async fn reset_guard_does_not_keep_entries_of_transfers_that_failed() {
    let _t = Timer::start("reset_guard_does_not_keep_entries_of_transfers_that_failed");
    let ns = "finding-reset";
    let env = Env::start(ns, Exec::V5).await;
    env.pod(&uid1000_pod("busybox")).await;
    let ws = Workspace::new();
    ws.devspace("web", ns, "src", "/app", "");
    ws.write("src/x.txt", "ex\n");
    ws.write("src/y.txt", "why\n");
    ws.write("src/sub/z.txt", "zed\n");
    let text = ws.once_ok(&env, "the first sync");
    let synced = local(&ws);
    engine_support::assert_tree(
        "the container",
        &synced,
        &container(&env, "web").await,
        &text,
    );

    // A fresh checkout: the local folder is empty; x.txt is unreadable for uid 1000.
    std::fs::remove_dir_all(ws.path("src")).unwrap();
    std::fs::create_dir(ws.path("src")).unwrap();
    env.sh("web", "chown 0:0 /app/x.txt && chmod 600 /app/x.txt")
        .await;
    let (first, _) = ws.once(&env);
    let mut without_x = synced.clone();
    without_x.remove("x.txt");
    engine_support::assert_tree(
        "the local tree after the sync with x.txt unreadable",
        &without_x,
        &local(&ws),
        &first,
    );

    // Readable again: the next sync must bring it, not delete it.
    env.sh("web", "chmod 644 /app/x.txt").await;
    let before = container(&env, "web").await;
    let (text, ok) = ws.once(&env);
    let ctx = format!("--- the sync with x.txt unreadable: {first}\n--- the next sync: {text}");
    engine_support::assert_tree(
        "the container (nothing deleted; x.txt is its only copy)",
        &before,
        &container(&env, "web").await,
        &ctx,
    );
    engine_support::assert_tree(
        "the local tree (x.txt downloaded)",
        &before,
        &local(&ws),
        &ctx,
    );
    assert!(ok, "{ctx}");
}

/// A container folder that becomes unreadable for the container's user (root-owned,
/// 0700, the pod runs as uid 1000) is unknown, not emptied: the local subtree stays and
/// the folder is reported.
///
/// Today `list.sh` ignores `find`'s "Permission denied":
///
/// ```text
/// the local tree: 3 missing, 0 extra, 0 changed (of 5 expected)
///   missing  sub/a.txt …
///   [web] 3 deleted in … ms
/// ```
#[tokio::test]
async fn unreadable_container_folder_does_not_delete_the_local_subtree() {
    let _t = Timer::start("unreadable_container_folder_does_not_delete_the_local_subtree");
    let ns = "finding-unreadable";
    let env = Env::start(ns, Exec::V5).await;
    env.pod(&uid1000_pod("busybox")).await;
    let ws = Workspace::new();
    ws.devspace("web", ns, "src", "/app", "");
    ws.write("src/top.txt", "top\n");
    for n in ["a", "b", "c"] {
        ws.write(&format!("src/sub/{n}.txt"), format!("{n}\n"));
    }
    let text = ws.once_ok(&env, "the first sync");
    let before = local(&ws);
    engine_support::assert_tree(
        "the container",
        &before,
        &container(&env, "web").await,
        &text,
    );

    env.sh("web", "chown -R 0:0 /app/sub && chmod 700 /app/sub")
        .await;
    let remote_before = container(&env, "web").await;
    let (text, _) = ws.once(&env);
    engine_support::assert_tree("the local tree", &before, &local(&ws), &text);
    engine_support::assert_tree(
        "the container (as root sees it)",
        &remote_before,
        &container(&env, "web").await,
        &text,
    );
    let status = ws.status_file();
    let ps = problems(&serde_json::json!({ "report": status }));
    assert!(
        ps.iter().any(|p| p["path"] == "sub"),
        "the unreadable folder is reported: {ps:?}\n{text}"
    );
}

/// A live rescan of a container root that was emptied and recreated (`rm -rf /app &&
/// mkdir /app`, e.g. a reset by the app's tooling) must not delete the local files: an
/// emptied root is not N deletions, as at the initial sync; the local files go up again
/// (the container converging back to the local tree is the event the test waits for).
///
/// Today, within half a second, on both images:
///
/// ```text
/// debian:inotify: 0.3 s after the container's root was emptied and recreated, the local
/// tree: 6 missing, 0 extra, 0 changed (of 6 expected)
///   [web] 2 deleted in 72 ms
///   [web] 1 deleted in 6 ms
/// busybox: 0.5 s after …: 6 missing …
///   [web] 3 deleted in 21 ms
/// ```
async fn emptied_root(image: &str, ns: &str) {
    let env = Env::start(ns, Exec::V5).await;
    env.pod(&sync_pod("web", image)).await;
    let ws = Workspace::new();
    ws.devspace("web", ns, "src", "/app", "");
    ws.write("src/a.txt", "alpha\n");
    ws.write("src/b.txt", "beta\n");
    ws.write("src/lib/c.txt", "gamma\n");
    ws.write("src/lib/deep/d.txt", "delta\n");
    let kubeconfig = env.cluster.kubeconfig();
    let sync = ws.sync(&kubeconfig);
    wait_running_watching(&ws, &kubeconfig, &sync).await;
    let before = local(&ws);
    if let Err(d) =
        engine_support::wait_remote_tree(&env, "web", "/app", FERRY_STATE, &before, WAIT).await
    {
        panic!(
            "the container after the initial sync: {d}\n{}",
            sync.output()
        );
    }

    let t = Instant::now();
    env.sh("web", "rm -rf /app && mkdir /app").await;
    // Either the container gets the local tree back, or something local goes.
    loop {
        if let Some(d) = engine_support::tree_diff(&before, &local(&ws)) {
            panic!(
                "{image}: {:.1} s after the container's root was emptied and recreated, the \
                 local tree: {d}\n{}",
                t.elapsed().as_secs_f64(),
                sync.output()
            );
        }
        let remote = container(&env, "web").await;
        if engine_support::tree_diff(&before, &remote).is_none() {
            break;
        }
        assert!(
            t.elapsed() < WAIT,
            "{image}: the container never got the local tree back: {}\n{}",
            engine_support::tree_diff(&before, &remote).unwrap_or_default(),
            sync.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "{image}: the container had the local tree again {:.1} s after the reset",
        t.elapsed().as_secs_f64()
    );
    engine_support::assert_tree(
        "the local tree at the end",
        &before,
        &local(&ws),
        &sync.output(),
    );
}

/// With inotifywait (the root's own events reach ferry at once).
#[tokio::test]
async fn emptied_and_recreated_container_root_does_not_delete_local_files_inotify() {
    let _t =
        Timer::start("emptied_and_recreated_container_root_does_not_delete_local_files_inotify");
    emptied_root("debian:inotify", "finding-root-inotify").await;
}

/// With polling (the root folder's changed mtime is the hint).
#[tokio::test]
async fn emptied_and_recreated_container_root_does_not_delete_local_files_polling() {
    let _t =
        Timer::start("emptied_and_recreated_container_root_does_not_delete_local_files_polling");
    emptied_root("busybox", "finding-root-poll").await;
}

/// A folder deleted locally while a container process edited a file deep inside it:
/// the container's edit must not be lost — it is restored locally (a change wins over a
/// deletion), the unchanged sibling is deleted on both sides. The folder is deleted the
/// way editors and file managers do it, by moving it to a trash folder (one event for
/// the folder, none for its contents), and the container's events are slowed (500 ms
/// one way) so that ferry handles the local deletion first.
///
/// Today the container's view is re-checked only for the folder and its children, so
/// the edit two levels down goes with the folder (with `rm -rf src/dir` instead, every
/// file has its own event and today's code restores the edit):
///
/// ```text
/// the container's edit of dir/sub/deep/f.txt is gone: the container has ["dir", "dir/sub",
/// "dir/sub/deep", "keep.txt"], and no local copy holds it (local: ["keep.txt"])
/// ```
#[tokio::test]
async fn folder_deleted_locally_keeps_a_container_edit_inside_it() {
    let _t = Timer::start("folder_deleted_locally_keeps_a_container_edit_inside_it");
    let ns = "finding-rmdir";
    let env = Env::start(ns, Exec::V5).await;
    env.pod(&sync_pod("web", "busybox")).await;
    let ws = Workspace::new();
    ws.devspace("web", ns, "src", "/app", "");
    ws.write("src/keep.txt", "keep\n");
    ws.write("src/dir/sub/deep/f.txt", "original\n");
    ws.write("src/dir/g.txt", "sibling\n");
    let kubeconfig = env.cluster.kubeconfig();
    let sync = ws.sync(&kubeconfig);
    wait_running_watching(&ws, &kubeconfig, &sync).await;
    let before = local(&ws);
    if let Err(d) =
        engine_support::wait_remote_tree(&env, "web", "/app", FERRY_STATE, &before, WAIT).await
    {
        panic!(
            "the container after the initial sync: {d}\n{}",
            sync.output()
        );
    }

    let edit = "edited in the container meanwhile\n";
    env.control.set_shaping(500, 0).await.expect("latency on");
    env.sh(
        "web",
        &format!("printf '%s' '{edit}' > /app/dir/sub/deep/f.txt"),
    )
    .await;
    // Deleted the way editors and file managers do: moved to a trash folder.
    std::fs::rename(ws.path("src/dir"), ws.logs.path().join("trash-dir")).unwrap();
    let edited = env
        .sh("web", "stat -c %Y /app/dir/sub/deep/f.txt")
        .await
        .trim()
        .parse::<i64>()
        .unwrap();

    // Wait until ferry handled the deletion: the sibling is gone in the container.
    let deadline = Instant::now() + WAIT;
    loop {
        let remote = container(&env, "web").await;
        let local_now = local_tree(ws.root(), FERRY_STATE);
        let edit_kept = remote
            .get("dir/sub/deep/f.txt")
            .is_some_and(|i| i.content == edit.as_bytes())
            || local_now
                .iter()
                .any(|(p, i)| p.starts_with("src/") && i.content == edit.as_bytes());
        assert!(
            edit_kept,
            "the container's edit of dir/sub/deep/f.txt is gone: the container has {:?}, and no local \
             copy holds it (local: {:?})\n{}",
            remote.keys().collect::<Vec<_>>(),
            local(&ws).keys().collect::<Vec<_>>(),
            sync.output()
        );
        if !remote.contains_key("dir/g.txt") && ws.read("src/dir/sub/deep/f.txt").is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ferry never finished the deletion: container {:?}\n{}",
            remote.keys().collect::<Vec<_>>(),
            sync.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    env.control.set_shaping(0, 0).await.expect("latency off");

    let mut expected = before.clone();
    expected.remove("dir/g.txt");
    let f = expected.get_mut("dir/sub/deep/f.txt").unwrap();
    f.content = edit.as_bytes().to_vec();
    f.size = edit.len() as u64;
    f.mtime = edited;
    engine_support::assert_tree(
        "the local tree (dir/sub/deep/f.txt restored with the container's edit)",
        &expected,
        &local(&ws),
        &sync.output(),
    );
    engine_support::assert_tree(
        "the container",
        &expected,
        &container(&env, "web").await,
        &sync.output(),
    );
    let ps = problems(&ws.status(&kubeconfig));
    assert!(
        ps.iter()
            .any(|p| p["path"] == "dir/sub/deep/f.txt" && p["kind"] == "conflict"),
        "the restored file is reported as a conflict: {ps:?}"
    );
}

/// A container (hostile, compromised, or just a tool in it) writes `devspace.yaml` with
/// an `onUpload.exec … local: true` hook and a `.env`. Files that configure ferry are
/// never written by the container side: the local ones stay, the attempt is reported,
/// and the hook never runs on the developer's machine — not during that sync and not
/// after ferry is started again and a file is uploaded.
///
/// Today both are downloaded, and the next `ferry sync` runs the planted hook:
///
/// ```text
/// the planted files came down: 0 missing, 0 extra, 2 changed (of 4 expected)
///   changed  .env: f 15 B … "GREETING=hello\n" → f 17 B … "GREETING=planted\n"
///   changed  devspace.yaml: f 136 B … → f 245 B …
/// the container's attempt on devspace.yaml is not reported: []
/// the container's attempt on .env is not reported: []
/// the planted hook ran on this machine: /tmp/ferry-ws-logs.…/canary exists
///   (the second run printed: [web] onUpload "touch /tmp/ferry-ws-logs.…/canary" done)
/// ```
#[tokio::test]
async fn planted_config_and_env_are_never_downloaded_and_hooks_never_run() {
    let _t = Timer::start("planted_config_and_env_are_never_downloaded_and_hooks_never_run");
    let ns = "finding-planted";
    let env = Env::start(ns, Exec::V5).await;
    env.pod(&sync_pod("web", "busybox")).await;
    let ws = Workspace::new();
    ws.devspace("web", ns, "", "/app", "");
    ws.write(".env", "GREETING=hello\n");
    ws.write("a.txt", "alpha\n");
    let canary = ws.logs.path().join("canary");
    let original = String::from_utf8(ws.read("devspace.yaml").unwrap()).unwrap();
    let planted = format!(
        "{}\n      onUpload:\n        exec:\n        - command: touch {}\n          local: true\n",
        original.trim_end(),
        canary.display()
    );
    let kubeconfig = env.cluster.kubeconfig();
    let mut violations: Vec<String> = Vec::new();

    let phase1 = Instant::now();
    let mut sync = ws.sync(&kubeconfig);
    wait_running_watching(&ws, &kubeconfig, &sync).await;
    let before = ws.tree(FERRY_STATE);
    if let Err(d) =
        engine_support::wait_remote_tree(&env, "web", "/app", FERRY_STATE, &before, WAIT).await
    {
        panic!(
            "the container after the initial sync: {d}\n{}",
            sync.output()
        );
    }
    env.sh(
        "web",
        &format!(
            "printf '%s' {} > /app/devspace.yaml && printf 'GREETING=planted\\n' > /app/.env \
             && echo after > /app/after.txt",
            engine_support::sh_quote(&planted)
        ),
    )
    .await;
    // after.txt was written last: once it is here, the others were seen.
    let t = Instant::now();
    while ws.read("after.txt").as_deref() != Some(b"after\n") {
        assert!(
            t.elapsed() < WAIT,
            "after.txt never arrived\n{}",
            sync.output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut expected = before.clone();
    let after = ws.tree(FERRY_STATE);
    expected.insert("after.txt".into(), after["after.txt"].clone());
    if let Some(d) = engine_support::tree_diff(&expected, &after) {
        violations.push(format!("the planted files came down: {d}"));
    }
    // The status file is written at most every 100 ms: give the report a moment.
    let t = Instant::now();
    let mut ps = problems(&ws.status(&kubeconfig));
    while t.elapsed() < Duration::from_secs(10)
        && !["devspace.yaml", ".env"]
            .iter()
            .all(|f| ps.iter().any(|p| p["path"] == *f))
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
        ps = problems(&ws.status(&kubeconfig));
    }
    for f in ["devspace.yaml", ".env"] {
        if !ps.iter().any(|p| p["path"] == f) {
            violations.push(format!(
                "the container's attempt on {f} is not reported: {ps:?}"
            ));
        }
    }
    let first_run = sync.output();
    let phase1 = phase1.elapsed();
    sync.stop();

    // ferry starts again (with whatever config is local now) and uploads two batches:
    // the hooks of the first have run before the second is handled.
    let phase2 = Instant::now();
    let sync = ws.sync(&kubeconfig);
    wait_running_watching(&ws, &kubeconfig, &sync).await;
    for (name, content) in [("b.txt", "bee\n"), ("c.txt", "sea\n")] {
        ws.write(name, content);
        let t = Instant::now();
        while env.read("web", &format!("/app/{name}")).await.as_deref() != Some(content.as_bytes())
        {
            assert!(
                t.elapsed() < WAIT,
                "{name} never arrived\n{}",
                sync.output()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    if canary.exists() {
        violations.push(format!(
            "the planted hook ran on this machine: {} exists",
            canary.display()
        ));
    }
    assert!(
        violations.is_empty(),
        "{}\n--- the first ferry sync ({:.1} s):\n{first_run}\n--- the second ({:.1} s):\n{}",
        violations.join("\n"),
        phase1.as_secs_f64(),
        phase2.elapsed().as_secs_f64(),
        sync.output()
    );
}

/// Ctrl-C (SIGINT) during a long initial sync stops ferry within a few seconds, and a
/// restart loses nothing. The initial sync is the one against a replaced, empty pod
/// with the old index (24 MB at 2 MB/s, about 12 s), interrupted once the cluster's
/// counter shows 5 % of it went up.
///
/// Today Ctrl-C is not looked at until the initial sync is over:
///
/// ```text
/// ferry sync took 16.0 s to stop after SIGINT (the limit is 5 s)
///   [web] ↑ 3000 files (24.9 MiB), 20 folders created in 15654 ms
/// ```
#[tokio::test]
async fn ctrl_c_during_a_long_initial_sync_stops_ferry_and_loses_nothing() {
    let _t = Timer::start("ctrl_c_during_a_long_initial_sync_stops_ferry_and_loses_nothing");
    let ns = "finding-sigint";
    let env = Env::start(ns, Exec::V5).await;
    env.pod(&labelled(sync_pod("web-a", "busybox"), "web"))
        .await;
    let ws = Workspace::new();
    ws.devspace("web", ns, "src", "/app", "");
    for i in 0..3000u64 {
        ws.write(&format!("src/d{:02}/f{i:04}.bin", i % 20), noise(i, 8192));
    }
    ws.once_ok(&env, "the first sync");
    let before = local(&ws);
    let total = env.session_stdin_bytes("web-a").await;

    env.delete_pod("web-a").await;
    env.pod(&labelled(sync_pod("web-b", "busybox"), "web"))
        .await;
    env.control
        .set_shaping(0, 2_000_000)
        .await
        .expect("shaping");
    let kubeconfig = env.cluster.kubeconfig();
    let mut sync = ws.sync(&kubeconfig);
    let t = Instant::now();
    while env.session_stdin_bytes("web-b").await < total / 20 {
        assert!(
            t.elapsed() < WAIT,
            "the upload never started\n{}",
            sync.output()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sync.signal(libc::SIGINT);
    let t = Instant::now();
    let status = sync.wait_exit(Duration::from_secs(120));
    let took = t.elapsed();
    env.control.set_shaping(0, 0).await.expect("shaping off");
    let interrupted = sync.output();
    assert!(
        status.is_some(),
        "ferry sync never stopped after SIGINT\n{interrupted}"
    );

    let (text, ok) = ws.once(&env);
    engine_support::assert_tree(
        "the local tree after the restart",
        &before,
        &local(&ws),
        &text,
    );
    engine_support::assert_tree(
        "pod B after the restart",
        &before,
        &container(&env, "web-b").await,
        &text,
    );
    assert!(ok, "{text}");
    assert!(
        took <= Duration::from_secs(5),
        "ferry sync took {:.1} s to stop after SIGINT (the limit is 5 s)\n{interrupted}",
        took.as_secs_f64()
    );
}
