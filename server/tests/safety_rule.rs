//! Issue 8, "Acceptance", second bullet: the rule. An index may drive deletions and
//! overwrites only where the container is *recognised* (its marker, or the fallback
//! identity, matches the index); each case is observable through the files of both
//! sides and through `recognised` in `.ferry/status.json` (and the notice
//! `container not recognised: merged, nothing deleted` when it is not).
//!
//! Every test compares both whole trees (`src` locally, `/app` in the container, ferry's
//! own state left out by name) before and after; the tree assertions come first, then
//! `recognised` (a field the fix adds: today it is missing, so the cases that lose
//! nothing today still fail there, with `"<no such field>"`).
//!
//! On today's code:
//!
//! | test | fails with |
//! |---|---|
//! | (a) `local_edit_survives_a_pod_whose_image_writes_an_older_version` | local `a.txt` replaced by the image's older one (`↓ 1 file`) |
//! | (b) `deletion_while_stopped_propagates_to_the_same_container` | trees fine; `recognised` missing |
//! | (b) `deletion_while_stopped_is_restored_from_a_replaced_container` | `x.txt` deleted in pod B instead of restored locally (`1 deleted`) |
//! | (c) `restart_with_the_folder_on_the_root_filesystem_is_not_recognised` | local `z.txt` deleted, `x.txt` deleted in the container (`2 deleted`) |
//! | (c) `restart_with_the_folder_on_an_empty_dir_is_recognised` | trees fine; `recognised` missing |
//! | (d) `host_path_across_a_pod_replacement_is_recognised` | trees fine; `recognised` missing |
//! | (e) `host_path_restored_to_an_older_snapshot_is_not_recognised` | local `y.txt` replaced by the snapshot's, local `z.txt` deleted |
//! | (f) `tmp_on_an_empty_dir_does_not_make_a_restarted_root_folder_recognised` | local `z.txt` deleted, `x.txt` deleted in the container |

mod engine_support;

use engine_support::{
    image_pod, labelled, local_tree, now_secs, prefill_script, recognised, remote_tree, set_mtime,
    sh_as, sync_pod, Env, Exec, ImageFile, Item, Manifest, Timer, Workspace, FERRY_STATE,
    NOT_RECOGNISED,
};
use ferry_testkit::PodBuilder;
use serde_json::Value;

/// The local synced folder.
fn local(ws: &Workspace) -> Manifest {
    local_tree(&ws.path("src"), FERRY_STATE)
}

/// The container folder.
async fn container(env: &Env, pod: &str) -> Manifest {
    remote_tree(env, pod, "/app", FERRY_STATE).await
}

/// The workspace: `src` synced with `/app` in pods labelled `app: web`.
fn workspace(ns: &str) -> Workspace {
    let ws = Workspace::new();
    ws.devspace("web", ns, "src", "/app", "");
    ws
}

/// Writes the image's files into the local `src` as well (a checkout of what the image
/// was built from: same contents and mtimes).
fn checkout(ws: &Workspace, files: &[ImageFile]) {
    for f in files {
        let rel = format!("src/{}", f.path);
        ws.write(&rel, &f.content);
        set_mtime(&ws.path(&rel), f.mtime);
    }
}

fn item(f: &ImageFile) -> Item {
    Item {
        kind: 'f',
        size: f.content.len() as u64,
        mode: 0o644,
        mtime: f.mtime,
        content: f.content.as_bytes().to_vec(),
    }
}

fn without(m: &Manifest, path: &str) -> Manifest {
    let mut m = m.clone();
    m.remove(path);
    m
}

/// Asserts what the run reported: `recognised` in `.ferry/status.json`, and the notice
/// exactly when the container was not recognised.
fn assert_recognised(ws: &Workspace, text: &str, want: bool) {
    let status = ws.status_file();
    assert_eq!(
        recognised(&status),
        Value::Bool(want),
        "`.ferry/status.json` report.paths[0].recognised: {status}\n{text}"
    );
    assert_eq!(
        text.contains(NOT_RECOGNISED),
        !want,
        "stdout {} {NOT_RECOGNISED:?}:\n{text}",
        if want { "must not say" } else { "says" }
    );
    if !want {
        assert!(
            ws.log().contains(NOT_RECOGNISED),
            "the sync log says {NOT_RECOGNISED:?}"
        );
    }
}

/// The image's files (an hour old).
fn image_files() -> Vec<ImageFile> {
    let built = now_secs() - 3600;
    vec![
        ImageFile::new("x.txt", "ex from the image\n", built),
        ImageFile::new("y.txt", "why from the image\n", built),
    ]
}

/// (a) A local edit synced to pod A survives pod B whose image writes an older version
/// of that file at start: no download over it; B gets the edit.
#[tokio::test]
async fn local_edit_survives_a_pod_whose_image_writes_an_older_version() {
    let _t = Timer::start("local_edit_survives_a_pod_whose_image_writes_an_older_version");
    let ns = "rule-a";
    let env = Env::start(ns, Exec::V5).await;
    let image = image_files();
    env.pod(&image_pod("web-a", "busybox", "web", &image)).await;
    let ws = workspace(ns);
    checkout(&ws, &image);
    ws.once_ok(&env, "the first sync with pod A");
    ws.write("src/x.txt", "ex, edited locally\n");
    let text = ws.once_ok(&env, "the edit to pod A");
    let before = local(&ws);
    engine_support::assert_tree("pod A", &before, &container(&env, "web-a").await, &text);

    env.delete_pod("web-a").await;
    env.pod(&image_pod("web-b", "busybox", "web", &image)).await;
    let b_before = container(&env, "web-b").await;
    assert_eq!(
        b_before["x.txt"],
        item(&image[0]),
        "B starts with the image's x.txt"
    );

    let (text, ok) = ws.once(&env);
    engine_support::assert_tree(
        "the local tree after syncing with pod B",
        &before,
        &local(&ws),
        &text,
    );
    engine_support::assert_tree(
        "pod B after the sync",
        &before,
        &container(&env, "web-b").await,
        &text,
    );
    assert!(ok, "{text}");
    assert_recognised(&ws, &text, false);
}

/// (b) A deletion made while ferry was stopped propagates against the same container.
#[tokio::test]
async fn deletion_while_stopped_propagates_to_the_same_container() {
    let _t = Timer::start("deletion_while_stopped_propagates_to_the_same_container");
    let ns = "rule-b1";
    let env = Env::start(ns, Exec::V5).await;
    env.pod(&labelled(sync_pod("web-a", "busybox"), "web"))
        .await;
    let ws = workspace(ns);
    ws.write("src/x.txt", "ex\n");
    ws.write("src/y.txt", "why\n");
    let text = ws.once_ok(&env, "the first sync");
    let before = local(&ws);
    engine_support::assert_tree("pod A", &before, &container(&env, "web-a").await, &text);

    std::fs::remove_file(ws.path("src/x.txt")).unwrap();
    let expected = without(&before, "x.txt");
    let (text, ok) = ws.once(&env);
    engine_support::assert_tree("the local tree", &expected, &local(&ws), &text);
    engine_support::assert_tree(
        "pod A (x.txt deleted there too)",
        &expected,
        &container(&env, "web-a").await,
        &text,
    );
    assert!(ok, "{text}");
    assert_recognised(&ws, &text, true);
}

/// (b) The same deletion against a replaced pod (whose image holds the file as it was
/// synced): the file is restored locally, nothing is deleted.
#[tokio::test]
async fn deletion_while_stopped_is_restored_from_a_replaced_container() {
    let _t = Timer::start("deletion_while_stopped_is_restored_from_a_replaced_container");
    let ns = "rule-b2";
    let env = Env::start(ns, Exec::V5).await;
    let image = image_files();
    env.pod(&image_pod("web-a", "busybox", "web", &image)).await;
    let ws = workspace(ns);
    checkout(&ws, &image);
    let text = ws.once_ok(&env, "the first sync");
    let before = local(&ws);
    engine_support::assert_tree("pod A", &before, &container(&env, "web-a").await, &text);

    std::fs::remove_file(ws.path("src/x.txt")).unwrap();
    env.delete_pod("web-a").await;
    env.pod(&image_pod("web-b", "busybox", "web", &image)).await;
    engine_support::assert_tree(
        "pod B at start",
        &before,
        &container(&env, "web-b").await,
        "",
    );

    let (text, ok) = ws.once(&env);
    engine_support::assert_tree(
        "pod B after the sync (nothing deleted there)",
        &before,
        &container(&env, "web-b").await,
        &text,
    );
    engine_support::assert_tree(
        "the local tree (x.txt restored from pod B)",
        &before,
        &local(&ws),
        &text,
    );
    assert!(ok, "{text}");
    assert_recognised(&ws, &text, false);
}

/// Synced: the image's x.txt and y.txt, and z.txt from the local side; then x.txt is
/// deleted locally while ferry is stopped. Returns the local tree before the deletion.
fn image_plus_z(ws: &Workspace, env: &Env, image: &[ImageFile]) -> Manifest {
    checkout(ws, image);
    ws.once_ok(env, "the first sync");
    ws.write("src/z.txt", "zed, written locally\n");
    ws.once_ok(env, "z.txt to the container");
    local(ws)
}

/// (c) The container's main process is killed and restarts with a fresh root
/// filesystem, where `/app` lives: the image's folder again, without z.txt. Not
/// recognised: x.txt (deleted locally meanwhile) comes back, z.txt is uploaded again,
/// nothing is deleted.
#[tokio::test]
async fn restart_with_the_folder_on_the_root_filesystem_is_not_recognised() {
    let _t = Timer::start("restart_with_the_folder_on_the_root_filesystem_is_not_recognised");
    let ns = "rule-c1";
    let env = Env::start(ns, Exec::V5).await;
    let image = image_files();
    env.pod(&image_pod("web", "busybox", "web", &image)).await;
    let ws = workspace(ns);
    let before = image_plus_z(&ws, &env, &image);
    engine_support::assert_tree("the container", &before, &container(&env, "web").await, "");

    std::fs::remove_file(ws.path("src/x.txt")).unwrap();
    env.restart_container("web").await;
    let restarted = container(&env, "web").await;
    assert_eq!(
        restarted.keys().collect::<Vec<_>>(),
        ["x.txt", "y.txt"],
        "the restarted container has the image's folder"
    );

    let (text, ok) = ws.once(&env);
    engine_support::assert_tree(
        "the local tree (x.txt restored, z.txt kept)",
        &before,
        &local(&ws),
        &text,
    );
    engine_support::assert_tree(
        "the container (z.txt uploaded, x.txt kept)",
        &before,
        &container(&env, "web").await,
        &text,
    );
    assert!(ok, "{text}");
    assert_recognised(&ws, &text, false);
}

/// (c) The same restart with `/app` on an `emptyDir`, which outlives the container:
/// recognised, and the local deletion made while ferry was stopped propagates.
#[tokio::test]
async fn restart_with_the_folder_on_an_empty_dir_is_recognised() {
    let _t = Timer::start("restart_with_the_folder_on_an_empty_dir_is_recognised");
    let ns = "rule-c2";
    let env = Env::start(ns, Exec::V5).await;
    env.pod(&labelled(sync_pod("web", "busybox"), "web").empty_dir("app", "/app", None))
        .await;
    let ws = workspace(ns);
    ws.write("src/x.txt", "ex\n");
    ws.write("src/y.txt", "why\n");
    ws.write("src/d/z.txt", "zed\n");
    let text = ws.once_ok(&env, "the first sync");
    let before = local(&ws);
    engine_support::assert_tree(
        "the container",
        &before,
        &container(&env, "web").await,
        &text,
    );

    std::fs::remove_file(ws.path("src/x.txt")).unwrap();
    env.restart_container("web").await;
    engine_support::assert_tree(
        "the emptyDir after the restart",
        &before,
        &container(&env, "web").await,
        "",
    );
    let expected = without(&before, "x.txt");
    let (text, ok) = ws.once(&env);
    engine_support::assert_tree("the local tree", &expected, &local(&ws), &text);
    engine_support::assert_tree(
        "the container (x.txt deleted)",
        &expected,
        &container(&env, "web").await,
        &text,
    );
    assert!(ok, "{text}");
    assert_recognised(&ws, &text, true);
}

fn host_pod(name: &str, host: &std::path::Path) -> PodBuilder {
    labelled(sync_pod(name, "busybox"), "web").host_path("data", host, "/app")
}

/// (d) A hostPath folder shared across a pod replacement: recognised, and files
/// deleted in the container while ferry was stopped are deleted locally.
#[tokio::test]
async fn host_path_across_a_pod_replacement_is_recognised() {
    let _t = Timer::start("host_path_across_a_pod_replacement_is_recognised");
    let ns = "rule-d";
    let env = Env::start(ns, Exec::V5).await;
    let host = tempfile::Builder::new()
        .prefix("ferry-hostpath.")
        .tempdir()
        .unwrap();
    env.pod(&host_pod("web-a", host.path())).await;
    let ws = workspace(ns);
    ws.write("src/x.txt", "ex\n");
    ws.write("src/y.txt", "why\n");
    ws.write("src/d/z.txt", "zed\n");
    let text = ws.once_ok(&env, "the first sync");
    let before = local(&ws);
    engine_support::assert_tree("pod A", &before, &container(&env, "web-a").await, &text);

    env.delete_pod("web-a").await;
    env.pod(&host_pod("web-b", host.path())).await;
    env.sh("web-b", "rm /app/y.txt /app/d/z.txt").await;
    let expected = without(&without(&before, "y.txt"), "d/z.txt");
    engine_support::assert_tree(
        "pod B before the sync",
        &expected,
        &container(&env, "web-b").await,
        "",
    );

    let (text, ok) = ws.once(&env);
    engine_support::assert_tree(
        "the local tree (the container's deletions came down)",
        &expected,
        &local(&ws),
        &text,
    );
    engine_support::assert_tree("pod B", &expected, &container(&env, "web-b").await, &text);
    assert!(ok, "{text}");
    assert_recognised(&ws, &text, true);
}

/// Copies the contents of folder `from` over the emptied folder `to` (as root, keeping
/// owners, modes and mtimes).
fn restore(from: &std::path::Path, to: &std::path::Path) {
    for e in std::fs::read_dir(to).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() && !p.is_symlink() {
            std::fs::remove_dir_all(&p).unwrap();
        } else {
            std::fs::remove_file(&p).unwrap();
        }
    }
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success(), "cp -a");
}

/// (e) The hostPath restored to an older snapshot (taken after the first sync, with
/// whatever ferry keeps inside the volume): not recognised; the local edit and the
/// local file created since are neither overwritten nor deleted, and go up again.
#[tokio::test]
async fn host_path_restored_to_an_older_snapshot_is_not_recognised() {
    let _t = Timer::start("host_path_restored_to_an_older_snapshot_is_not_recognised");
    let ns = "rule-e";
    let env = Env::start(ns, Exec::V5).await;
    let host = tempfile::Builder::new()
        .prefix("ferry-hostpath.")
        .tempdir()
        .unwrap();
    let snapshot = tempfile::Builder::new()
        .prefix("ferry-hostpath-snapshot.")
        .tempdir()
        .unwrap();
    env.pod(&host_pod("web", host.path())).await;
    let ws = workspace(ns);
    ws.write("src/x.txt", "ex\n");
    ws.write("src/y.txt", "why\n");
    set_mtime(&ws.path("src/y.txt"), now_secs() - 600);
    ws.once_ok(&env, "the first sync");
    restore(host.path(), snapshot.path());
    let old = container(&env, "web").await;

    ws.write("src/y.txt", "why, edited after the snapshot\n");
    ws.write("src/z.txt", "zed, created after the snapshot\n");
    let text = ws.once_ok(&env, "the second sync");
    let before = local(&ws);
    engine_support::assert_tree(
        "the container",
        &before,
        &container(&env, "web").await,
        &text,
    );

    restore(snapshot.path(), host.path());
    engine_support::assert_tree(
        "the restored container",
        &old,
        &container(&env, "web").await,
        "",
    );

    let (text, ok) = ws.once(&env);
    engine_support::assert_tree("the local tree", &before, &local(&ws), &text);
    engine_support::assert_tree(
        "the container (the local versions went up)",
        &before,
        &container(&env, "web").await,
        &text,
    );
    assert!(ok, "{text}");
    assert_recognised(&ws, &text, false);
}

/// (f) `/tmp` is an `emptyDir` (it survives a container restart), `/app` is on the root
/// filesystem (it does not) and the container runs as uid 1000, so `/` is not writable
/// for it: after a restart the container is not recognised — a marker kept in `/tmp`
/// would wrongly survive. `/app` (owned by uid 1000, as an image would have it) is made
/// by root through the control interface after each start.
#[tokio::test]
async fn tmp_on_an_empty_dir_does_not_make_a_restarted_root_folder_recognised() {
    let _t = Timer::start("tmp_on_an_empty_dir_does_not_make_a_restarted_root_folder_recognised");
    let ns = "rule-f";
    let env = Env::start(ns, Exec::V5).await;
    let image = image_files();
    env.pod(
        &labelled(PodBuilder::new("web", "busybox"), "web")
            .user(1000)
            .empty_dir("tmp", "/tmp", None),
    )
    .await;
    let make_app = format!(
        "{} && chown -R 1000:1000 /app",
        prefill_script("/app", &image)
    );
    env.sh("web", &make_app).await;
    assert_eq!(
        sh_as(&env, "web", "1000:1000", "id -u").await.trim(),
        "1000"
    );
    let ws = workspace(ns);
    let before = image_plus_z(&ws, &env, &image);
    engine_support::assert_tree("the container", &before, &container(&env, "web").await, "");

    std::fs::remove_file(ws.path("src/x.txt")).unwrap();
    env.restart_container("web").await;
    env.sh("web", &make_app).await;
    assert_eq!(
        container(&env, "web").await.keys().collect::<Vec<_>>(),
        ["x.txt", "y.txt"],
        "the restarted container has the image's folder"
    );

    let (text, ok) = ws.once(&env);
    engine_support::assert_tree(
        "the local tree (x.txt restored, z.txt kept)",
        &before,
        &local(&ws),
        &text,
    );
    engine_support::assert_tree(
        "the container (z.txt uploaded, x.txt kept)",
        &before,
        &container(&env, "web").await,
        &text,
    );
    assert!(ok, "{text}");
    assert_recognised(&ws, &text, false);
}
