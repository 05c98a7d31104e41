//! The local safety net end to end (`ferry sync`, `ferry restore`, `ferry sync --dry-run`
//! against the local cluster): what a sync deletes or overwrites locally is kept in
//! `.ferry/trash/` and comes back with `ferry restore`; the container's version that an
//! untrusted sync replaces is kept too; a dry run changes nothing on either side. Every
//! check compares whole trees.

mod engine_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use engine_support::{local_manifest, remote_manifest, sync_pod, Env, Exec, Workspace};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams};

fn text(out: &std::process::Output) -> String {
    format!(
        "exit {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every file below `root` (`.ferry/` included), path → bytes, plus folders: the exact
/// local state, for "nothing changed".
fn whole_tree(root: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Option<Vec<u8>>>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                out.insert(rel, None);
                walk(root, &p, out);
            } else {
                out.insert(
                    format!("{rel} mtime={:?}", meta.modified().ok()),
                    std::fs::read(&p).ok(),
                );
            }
        }
    }
    walk(root, root, &mut out);
    out
}

/// `ferry restore --json`: the trash's items.
fn trash(ws: &Workspace, kubeconfig: &Path) -> Vec<serde_json::Value> {
    let out = ws.ferry(kubeconfig, &["restore", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
}

#[tokio::test]
async fn a_file_a_mirror_strategy_deleted_comes_back_with_ferry_restore() {
    let env = Env::start("trash-mirror", Exec::V5).await;
    env.pod(&sync_pod("web", "busybox")).await;
    env.sh("web", "mkdir -p /app && echo remote > /app/remote.txt")
        .await;
    let kubeconfig = env.cluster.kubeconfig();
    let ws = Workspace::new();
    ws.devspace(
        "web",
        "trash-mirror",
        "src",
        "/app",
        "      initialSync: mirrorRemote",
    );
    ws.write("src/mine.txt", "my local work\n");
    let before = local_manifest(&ws.path("src"));
    let out = ws.sync_once(&kubeconfig);
    assert!(out.status.success(), "{}", text(&out));
    // mirrorRemote made the local folder a mirror of the container: mine.txt is gone…
    assert!(!ws.path("src/mine.txt").exists(), "{}", text(&out));
    // …into the trash, with its reason.
    let items = trash(&ws, &kubeconfig);
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["path"], "mine.txt");
    assert_eq!(items[0]["reason"], "mirrorStrategy");
    // ferry restore brings it back exactly (content, mode, mtime).
    let out = ws.ferry(&kubeconfig, &["restore", "src/mine.txt"]);
    assert!(out.status.success(), "{}", text(&out));
    let now = local_manifest(&ws.path("src"));
    assert_eq!(
        now.get("mine.txt"),
        before.get("mine.txt"),
        "{}",
        text(&out)
    );
    // The next sync takes it for what it is, a local file, and sends it.
    let out = ws.sync_once(&kubeconfig);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        env.read("web", "/app/mine.txt").await.as_deref(),
        Some(&b"my local work\n"[..]),
        "{}",
        text(&out)
    );
    assert_eq!(local_manifest(&ws.path("src")).len(), 2);
}

#[tokio::test]
async fn downloads_keep_the_local_version_and_untrusted_uploads_the_container_version() {
    let env = Env::start("trash-keep", Exec::V5).await;
    env.pod(&sync_pod("web", "busybox")).await;
    let kubeconfig = env.cluster.kubeconfig();
    let ws = Workspace::new();
    ws.devspace("web", "trash-keep", "src", "/app", "");
    ws.write("src/a.txt", "a v1\n");
    ws.write("src/b.txt", "b v1\n");
    let out = ws.sync_once(&kubeconfig);
    assert!(out.status.success(), "{}", text(&out));

    // While ferry is stopped the container changes a.txt: the next sync downloads it
    // over the local a.txt, whose version is kept in the trash.
    env.sh("web", "echo 'a v2 from the container' > /app/a.txt")
        .await;
    let out = ws.sync_once(&kubeconfig);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(ws.read("src/a.txt").unwrap(), b"a v2 from the container\n");
    let items = trash(&ws, &kubeconfig);
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(
        (&items[0]["path"], &items[0]["reason"], &items[0]["origin"]),
        (
            &serde_json::json!("a.txt"),
            &serde_json::json!("overwrittenByDownload"),
            &serde_json::json!("local")
        )
    );
    let id = items[0]["id"].as_str().unwrap().to_string();
    let kept = ws.dir.path().join(".ferry/trash").join(&id).join("data");
    assert_eq!(std::fs::read(&kept).unwrap(), b"a v1\n");

    // The pod is replaced by one whose image holds an older b.txt with different
    // content: not recognised, the newer local b.txt goes up, and the container's
    // version is kept in the trash before it is replaced.
    let pods: Api<Pod> = Api::namespaced(env.client.clone(), &env.ns);
    pods.delete("web", &DeleteParams::default()).await.unwrap();
    while pods.get_opt("web").await.unwrap().is_some() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    env.pod(&sync_pod("web", "busybox").command(&[
        "sh",
        "-c",
        "mkdir -p /app && echo 'b from the image' > /app/b.txt && touch -d @1600000000 /app/b.txt; \
         trap 'exit 0' TERM; while true; do sleep 1; done",
    ]))
    .await;
    let local_before = local_manifest(&ws.path("src"));
    let out = ws.sync_once(&kubeconfig);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("container not recognised: merged, nothing deleted"),
        "{}",
        text(&out)
    );
    assert_eq!(
        local_manifest(&ws.path("src")),
        local_before,
        "nothing local changed"
    );
    let remote = remote_manifest(&env, "web", "/app").await;
    assert_eq!(
        remote["b.txt"].content, b"b v1\n",
        "the newer local b.txt went up"
    );
    let items = trash(&ws, &kubeconfig);
    let kept: Vec<&serde_json::Value> = items
        .iter()
        .filter(|i| i["reason"] == "containerVersion")
        .collect();
    assert_eq!(kept.len(), 1, "{items:?}");
    assert_eq!(kept[0]["path"], "b.txt");
    assert_eq!(kept[0]["origin"], "container");
    let data = ws
        .dir
        .path()
        .join(".ferry/trash")
        .join(kept[0]["id"].as_str().unwrap())
        .join("data");
    assert_eq!(std::fs::read(data).unwrap(), b"b from the image\n");
}

#[tokio::test]
async fn a_dry_run_prints_the_plan_and_changes_nothing_on_either_side() {
    let env = Env::start("dry", Exec::V5).await;
    env.pod(&sync_pod("web", "debian")).await;
    let kubeconfig = env.cluster.kubeconfig();
    let ws = Workspace::new();
    ws.devspace("web", "dry", "src", "/app", "");
    ws.write("src/kept.txt", "kept\n");
    ws.write("src/gone-locally.txt", "will be deleted locally\n");
    ws.write("src/edited.txt", "v1\n");
    let out = ws.sync_once(&kubeconfig);
    assert!(out.status.success(), "{}", text(&out));
    // Differences on both sides while ferry is stopped.
    std::fs::remove_file(ws.path("src/gone-locally.txt")).unwrap();
    ws.write("src/edited.txt", "v2, edited locally\n");
    ws.write("src/new-local.txt", "new\n");
    env.sh(
        "web",
        "echo fresh > /app/new-remote.txt && rm /app/kept.txt",
    )
    .await;
    let marker = || async { env.sh("web", "cat /.ferry/app/marker").await };
    let (local_before, remote_before, marker_before) = (
        whole_tree(ws.root()),
        remote_manifest(&env, "web", "/app").await,
        marker().await,
    );
    let out = ws.ferry(&kubeconfig, &["sync", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in [
        "[web] dry run (container recognised):",
        "upload   edited.txt",
        "upload   new-local.txt",
        "delete   gone-locally.txt in the container",
        "download new-remote.txt",
        "delete   kept.txt locally (kept in .ferry/trash)",
        "nothing was changed",
    ] {
        assert!(stdout.contains(line), "{line:?} missing\n{}", text(&out));
    }
    assert_eq!(whole_tree(ws.root()), local_before, "the workspace changed");
    assert_eq!(
        remote_manifest(&env, "web", "/app").await,
        remote_before,
        "the container folder changed"
    );
    assert_eq!(marker().await, marker_before, "the marker moved on");

    // A dry run on a workspace never synced creates nothing at all (no .ferry/).
    let fresh = Workspace::new();
    fresh.devspace("web", "dry", "src", "/app", "");
    fresh.write("src/x.txt", "x\n");
    let before = whole_tree(fresh.root());
    let out = fresh.ferry(&kubeconfig, &["sync", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("first sync of this folder"),
        "{}",
        text(&out)
    );
    assert_eq!(whole_tree(fresh.root()), before);
}
