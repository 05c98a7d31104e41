//! The sync engine end to end through the `ferry` binary, on busybox and debian, over
//! exec v5 and v4: the initial-sync rules, then live changes both ways (files, folders,
//! empty folders, deletions), with both sides compared by manifest.

mod engine_support;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use engine_support::{assert_same, remote_manifest, sync_pod, Env, Exec, Workspace};

const WAIT: Duration = Duration::from_secs(60);

fn set_mtime(path: &std::path::Path, secs: i64) {
    filetime::set_file_mtime(path, filetime::FileTime::from_unix_time(secs, 0)).unwrap();
}

async fn scenario(image: &str, exec: Exec) {
    let env = Env::start("sync", exec).await;
    env.pod(&sync_pod("web", image)).await;
    let ws = Workspace::new();
    ws.devspace("web", "sync", "src", "/app", "");
    // Local side.
    ws.write("src/a.txt", "alpha\n");
    ws.write("src/sub/b.txt", "beta\n");
    ws.write("src/run.sh", "#!/bin/sh\necho hi\n");
    std::fs::set_permissions(
        ws.path("src/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::create_dir_all(ws.path("src/empty")).unwrap();
    ws.write("src/older-here.txt", "old local\n");
    set_mtime(&ws.path("src/older-here.txt"), 1_600_000_000);
    ws.write("src/newer-here.txt", "new local\n");
    // Remote side.
    env.sh(
        "web",
        "cd /app && echo remote > remote-only.txt && mkdir -p rdir/deep && echo c > rdir/deep/c.txt \
         && echo 'new remote' > older-here.txt \
         && echo 'old remote' > newer-here.txt && touch -d @1600000000 newer-here.txt",
    )
    .await;

    let mut sync = ws.sync(&env.cluster.kubeconfig());
    sync.wait_stdout("initial sync", WAIT);

    // The three rules: remote-only → down, local-only → up, local newer → up; a newer
    // remote file never overwrites the local one and is reported.
    let ws_ref = &ws;
    env.wait_for("remote-only file downloaded", WAIT, || async move {
        ws_ref.read("src/rdir/deep/c.txt").as_deref() == Some(b"c\n")
    })
    .await;
    assert_eq!(ws.read("src/remote-only.txt").unwrap(), b"remote\n");
    assert_eq!(env.read("web", "/app/a.txt").await.unwrap(), b"alpha\n");
    assert_eq!(
        env.read("web", "/app/newer-here.txt").await.unwrap(),
        b"new local\n"
    );
    assert_eq!(
        ws.read("src/older-here.txt").unwrap(),
        b"old local\n",
        "{}",
        sync.output()
    );
    assert_eq!(
        env.read("web", "/app/older-here.txt").await.unwrap(),
        b"new remote\n"
    );
    let status = ws.wait_watching(&env.cluster.kubeconfig(), WAIT);
    let problems = &status["report"]["paths"][0]["problems"];
    assert!(
        problems
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["path"] == "older-here.txt" && p["kind"] == "remoteNewer"),
        "the newer remote file is reported: {status}"
    );
    // Resolve it the way the message says: touch the local file.
    std::fs::write(ws.path("src/older-here.txt"), "chosen local\n").unwrap();

    // Live changes, local → container.
    ws.write("src/new/deeper/n.txt", "fresh\n");
    std::fs::create_dir_all(ws.path("src/new-empty")).unwrap();
    ws.write("src/a.txt", "alpha 2\n");
    std::fs::remove_file(ws.path("src/sub/b.txt")).unwrap();
    env.wait_for("local changes in the container", WAIT, || async {
        env.read("web", "/app/new/deeper/n.txt").await.as_deref() == Some(b"fresh\n")
            && env.read("web", "/app/a.txt").await.as_deref() == Some(b"alpha 2\n")
            && env
                .sh_status("web", "test ! -e /app/sub/b.txt && test -d /app/new-empty")
                .await
                == 0
            && env.read("web", "/app/older-here.txt").await.as_deref() == Some(b"chosen local\n")
    })
    .await;

    // Live changes, container → local.
    env.sh(
        "web",
        "cd /app && echo up > from-pod.txt && mkdir -p pod-empty pod-dir/x && echo y > pod-dir/x/y.txt \
         && echo 'remote 2' > remote-only.txt && rm -r rdir",
    )
    .await;
    env.wait_for("container changes locally", WAIT, || async {
        ws.read("src/from-pod.txt").as_deref() == Some(b"up\n")
            && ws.read("src/pod-dir/x/y.txt").as_deref() == Some(b"y\n")
            && ws.read("src/remote-only.txt").as_deref() == Some(b"remote 2\n")
            && ws.path("src/pod-empty").is_dir()
            && !ws.path("src/rdir").exists()
    })
    .await;

    // A folder deleted locally goes in the container too.
    std::fs::remove_dir_all(ws.path("src/new")).unwrap();
    env.wait_for("local folder deletion in the container", WAIT, || async {
        env.sh_status("web", "test ! -e /app/new").await == 0
    })
    .await;

    // Both sides agree on everything: paths, kinds, sizes, contents, exec bits, mtimes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let local = ws.manifest("src");
    let remote = remote_manifest(&env, "web", "/app").await;
    assert_same(&local, &remote);
    assert_eq!(
        local["run.sh"].mode & 0o111,
        0o111,
        "the executable bit is kept"
    );
    assert!(local.contains_key("empty") && local.contains_key("pod-empty"));

    env.assert_protocol("web").await;
    let status = sync.stop();
    assert!(
        status.success(),
        "ferry sync ends cleanly on SIGTERM: {status}\n{}",
        sync.output()
    );
}

#[tokio::test]
async fn busybox_over_v5() {
    scenario("busybox", Exec::V5).await;
}

#[tokio::test]
async fn busybox_over_v4() {
    scenario("busybox", Exec::V4).await;
}

#[tokio::test]
async fn debian_over_v5() {
    scenario("debian", Exec::V5).await;
}

#[tokio::test]
async fn debian_over_v4() {
    scenario("debian", Exec::V4).await;
}

/// A file changed on both sides at once: the local version wins on both sides and the
/// container's version is saved next to it locally — whichever change ferry sees first.
#[tokio::test]
async fn both_sides_edited_loses_nothing() {
    let env = Env::start("both", Exec::V5).await;
    env.pod(&sync_pod("web", "busybox")).await;
    let ws = Workspace::new();
    ws.devspace("web", "both", "src", "/app", "");
    ws.write("src/shared.txt", "base\n");
    let kubeconfig = env.cluster.kubeconfig();
    let _sync = ws.sync(&kubeconfig);
    ws.wait_watching(&kubeconfig, WAIT);
    // The container's edit, then at once the local one (before the container's watcher
    // could have reported its change).
    env.sh("web", "echo 'remote edit' > /app/shared.txt").await;
    ws.write("src/shared.txt", "local edit\n");
    let copy = "src/shared.txt.ferry-conflict-remote";
    env.wait_for(
        "the local version everywhere, the remote one saved",
        WAIT,
        || async {
            ws.read("src/shared.txt").as_deref() == Some(b"local edit\n")
                && env.read("web", "/app/shared.txt").await.as_deref() == Some(b"local edit\n")
                && ws.read(copy).as_deref() == Some(b"remote edit\n")
        },
    )
    .await;
    env.wait_for("the conflict is reported", WAIT, || async {
        let status = ws.status(&kubeconfig);
        status["report"]["paths"][0]["problems"]
            .as_array()
            .is_some_and(|ps| {
                ps.iter()
                    .any(|p| p["path"] == "shared.txt" && p["kind"] == "conflict")
            })
    })
    .await;
    // The conflict copy stays local (it is not uploaded).
    assert_eq!(
        env.sh_status("web", "test ! -e /app/shared.txt.ferry-conflict-remote")
            .await,
        0
    );
}

/// Renaming a folder locally renames it in the container: its files are not sent again.
#[tokio::test]
async fn folder_rename_is_a_rename_not_a_reupload() {
    let env = Env::start("mv", Exec::V5).await;
    env.pod(&sync_pod("web", "debian")).await;
    let kubeconfig = env.cluster.kubeconfig();
    let ws = Workspace::new();
    ws.devspace("web", "mv", "src", "/app", "");
    for i in 0..300 {
        ws.write(
            &format!("src/big/sub{}/f{i}.txt", i % 7),
            format!("file {i}\n"),
        );
    }
    let sync = ws.sync(&kubeconfig);
    let status = ws.wait_watching(&kubeconfig, WAIT);
    let before = status["report"]["paths"][0]["uploaded"].as_u64().unwrap();
    assert_eq!(before, 300);
    std::fs::rename(ws.path("src/big"), ws.path("src/moved")).unwrap();
    env.wait_for("the folder renamed in the container", WAIT, || async {
        env.sh_status(
            "web",
            "test ! -e /app/big && test \"$(find /app/moved -type f | wc -l)\" = 300",
        )
        .await
            == 0
    })
    .await;
    let after = ws.status(&kubeconfig)["report"]["paths"][0]["uploaded"]
        .as_u64()
        .unwrap();
    assert_eq!(
        after,
        before,
        "no file was uploaded again\n{}",
        sync.output()
    );
    // And the other way: renamed in the container, renamed locally, nothing downloaded.
    env.sh("web", "mv /app/moved /app/back").await;
    env.wait_for("the folder renamed locally", WAIT, || async {
        !ws.path("src/moved").exists() && ws.path("src/back/sub0/f0.txt").is_file()
    })
    .await;
    let s = ws.status(&kubeconfig);
    assert_eq!(
        s["report"]["paths"][0]["downloaded"].as_u64().unwrap(),
        0,
        "no file was downloaded again: {s}\n{}",
        sync.output()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let local = ws.manifest("src");
    let remote = remote_manifest(&env, "web", "/app").await;
    assert_same(&local, &remote);
}
