//! A container that runs as a non-root user (uid 1000), syncing into an `emptyDir`
//! mounted at /data, end to end through the `ferry` binary over exec v5:
//!
//! - both directions work, and what ferry writes belongs to the container's user;
//! - a root-owned read-only file in the way is a clear per-file error while everything
//!   else syncs, and once it is made writable in the container ferry's own retry
//!   uploads it and the problem goes (same process, no restart);
//! - a watcher in the container (inotify: an app's dev server, a compiler in watch
//!   mode) sees every uploaded file as a complete write (close-write or moved-to), the
//!   way it sees a local edit.

mod engine_support;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use engine_support::{
    assert_same, check, problems, remote_manifest, sh_as, wait_running_watching, wait_until, Env,
    Exec, Workspace,
};
use ferry_testkit::PodBuilder;

const WAIT: Duration = Duration::from_secs(60);
const UID: u32 = 1000;

/// Pod `web` running `image` as uid/gid 1000 with an `emptyDir` at /data.
fn nonroot_pod(image: &str) -> PodBuilder {
    PodBuilder::new("web", image)
        .user(UID)
        .empty_dir("data", "/data", None)
}

/// As the container's user.
async fn sh_user(env: &Env, script: &str) -> String {
    sh_as(env, "web", &format!("{UID}:{UID}"), script).await
}

/// The files of `want` (path under /data, content) that the container does not (yet)
/// hold with that content.
async fn missing_in_container(env: &Env, want: &[(&str, &str)]) -> Vec<String> {
    let mut out = Vec::new();
    for (p, c) in want {
        if env.read("web", &format!("/data/{p}")).await.as_deref() != Some(c.as_bytes()) {
            out.push(p.to_string());
        }
    }
    out
}

/// The files of `want` (path under the workspace's `src`, content) not (yet) local.
fn missing_locally(ws: &Workspace, want: &[(&str, &str)]) -> Vec<String> {
    want.iter()
        .filter(|(p, c)| ws.read(&format!("src/{p}")).as_deref() != Some(c.as_bytes()))
        .map(|(p, _)| p.to_string())
        .collect()
}

/// `uid:gid` of `path` in the container.
async fn owner(env: &Env, path: &str) -> String {
    env.sh("web", &format!("stat -c %u:%g {path}"))
        .await
        .trim()
        .to_string()
}

// --- 3. both ways -----------------------------------------------------------------

async fn both_ways_scenario(image: &str) {
    let env = Env::start("nonroot", Exec::V5).await;
    env.pod(&nonroot_pod(image)).await;
    assert_eq!(sh_user(&env, "id -u").await.trim(), "1000");
    let kubeconfig = env.cluster.kubeconfig();
    let ws = Workspace::new();
    ws.devspace("web", "nonroot", "src", "/data", "");
    ws.write("src/a.txt", "alpha\n");
    ws.write("src/sub/b.txt", "beta\n");
    ws.write("src/run.sh", "#!/bin/sh\necho hi\n");
    std::fs::set_permissions(
        ws.path("src/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::create_dir_all(ws.path("src/empty")).unwrap();
    sh_user(
        &env,
        "cd /data && echo remote > remote-only.txt && mkdir -p rdir/deep && echo c > rdir/deep/c.txt",
    )
    .await;

    let mut sync = ws.sync(&kubeconfig);
    wait_running_watching(&ws, &kubeconfig, &sync).await;
    wait_until("the initial sync, both ways", &sync, || async {
        let up = missing_in_container(
            &env,
            &[
                ("a.txt", "alpha\n"),
                ("sub/b.txt", "beta\n"),
                ("run.sh", "#!/bin/sh\necho hi\n"),
            ],
        )
        .await;
        let down = missing_locally(
            &ws,
            &[("remote-only.txt", "remote\n"), ("rdir/deep/c.txt", "c\n")],
        );
        let empty = env.sh_status("web", "test -d /data/empty").await == 0;
        check(up.is_empty() && down.is_empty() && empty, || {
            format!("not in the container: {up:?}, not local: {down:?}, empty folder: {empty}")
        })
    })
    .await;
    let status = ws.status(&kubeconfig);
    assert!(problems(&status).is_empty(), "no problems: {status}");
    // What ferry wrote belongs to the container's user, as if the app had written it.
    for p in ["/data/a.txt", "/data/sub", "/data/sub/b.txt", "/data/empty"] {
        assert_eq!(
            owner(&env, p).await,
            "1000:1000",
            "{p} is the container user's"
        );
    }
    assert!(
        !std::fs::read_to_string(&sync.log)
            .unwrap_or_default()
            .contains("not writable"),
        "no writability warning for a writable emptyDir\n{}",
        sync.output()
    );

    // Live, local → container.
    ws.write("src/new/deeper/n.txt", "fresh\n");
    std::fs::create_dir_all(ws.path("src/new-empty")).unwrap();
    ws.write("src/a.txt", "alpha 2\n");
    std::fs::remove_file(ws.path("src/sub/b.txt")).unwrap();
    wait_until("local changes in the container", &sync, || async {
        let up = missing_in_container(
            &env,
            &[("new/deeper/n.txt", "fresh\n"), ("a.txt", "alpha 2\n")],
        )
        .await;
        let rest = env
            .sh_status(
                "web",
                "test ! -e /data/sub/b.txt && test -d /data/new-empty",
            )
            .await
            == 0;
        check(up.is_empty() && rest, || {
            format!("not in the container: {up:?}; deletion and folder: {rest}")
        })
    })
    .await;
    assert_eq!(owner(&env, "/data/new/deeper/n.txt").await, "1000:1000");
    assert_eq!(owner(&env, "/data/a.txt").await, "1000:1000");

    // Live, container → local (written by the container's user, as an app would).
    sh_user(
        &env,
        "cd /data && echo up > from-pod.txt && mkdir -p pod-empty pod-dir/x && echo y > pod-dir/x/y.txt \
         && echo 'remote 2' > remote-only.txt && rm -r rdir",
    )
    .await;
    wait_until("container changes locally", &sync, || async {
        let down = missing_locally(
            &ws,
            &[
                ("from-pod.txt", "up\n"),
                ("pod-dir/x/y.txt", "y\n"),
                ("remote-only.txt", "remote 2\n"),
            ],
        );
        let rest = ws.path("src/pod-empty").is_dir() && !ws.path("src/rdir").exists();
        check(down.is_empty() && rest, || {
            format!("not local: {down:?}; empty folder made and rdir deleted: {rest}")
        })
    })
    .await;

    let local = ws.manifest("src");
    let remote = remote_manifest(&env, "web", "/data").await;
    assert_same(&local, &remote);
    assert_eq!(
        local["run.sh"].mode & 0o111,
        0o111,
        "the executable bit is kept"
    );
    let status = ws.status(&kubeconfig);
    assert!(problems(&status).is_empty(), "no problems: {status}");
    env.assert_protocol("web").await;
    let exit = sync.stop();
    assert!(
        exit.success(),
        "ferry sync ends cleanly: {exit}\n{}",
        sync.output()
    );
}

#[tokio::test]
async fn busybox_nonroot_syncs_both_ways() {
    both_ways_scenario("busybox").await;
}

#[tokio::test]
async fn debian_nonroot_syncs_both_ways() {
    both_ways_scenario("debian").await;
}

// --- 4. a read-only root-owned file ------------------------------------------------

/// How the read-only file is fixed in the container.
#[derive(Clone, Copy)]
enum Fix {
    /// `chmod 666`: still root's, but writable for everyone.
    Chmod,
    /// `chown 1000`: the container user's.
    Chown,
}

async fn read_only_scenario(image: &str, fix: Fix) {
    let env = Env::start("nonroot", Exec::V5).await;
    env.pod(&nonroot_pod(image)).await;
    let kubeconfig = env.cluster.kubeconfig();
    let ws = Workspace::new();
    ws.devspace("web", "nonroot", "src", "/data", "");
    ws.write("src/locked.txt", "local version\n");
    ws.write("src/a.txt", "alpha\n");
    ws.write("src/sub/b.txt", "beta\n");
    sh_user(&env, "echo remote > /data/remote-only.txt").await;
    // A root-owned read-only file, older than the local version (so the local one is
    // the one to keep and upload).
    env.sh(
        "web",
        "echo x > /data/locked.txt && chown 0:0 /data/locked.txt && chmod 644 /data/locked.txt \
         && touch -d @1600000000 /data/locked.txt",
    )
    .await;
    assert_ne!(
        sh_as(
            &env,
            "web",
            "1000:1000",
            "test -w /data/locked.txt && echo w || echo ro"
        )
        .await,
        "w\n",
        "the file is read-only for the container user"
    );

    let mut sync = ws.sync(&kubeconfig);
    wait_running_watching(&ws, &kubeconfig, &sync).await;
    wait_until("everything but locked.txt syncs", &sync, || async {
        let up = missing_in_container(&env, &[("a.txt", "alpha\n"), ("sub/b.txt", "beta\n")]).await;
        let down = missing_locally(&ws, &[("remote-only.txt", "remote\n")]);
        check(up.is_empty() && down.is_empty(), || {
            format!("not in the container: {up:?}, not local: {down:?}")
        })
    })
    .await;
    wait_until("a per-file error for locked.txt", &sync, || async {
        let status = ws.status(&kubeconfig);
        let ok = problems(&status)
            .iter()
            .any(|p| p["path"] == "locked.txt" && p["kind"] == "error");
        check(ok, || format!("status: {status}"))
    })
    .await;
    let status = ws.status(&kubeconfig);
    let pid = status["report"]["pid"].clone();
    let list = problems(&status);
    assert_eq!(list.len(), 1, "locked.txt is the only problem: {status}");
    let message = list[0]["message"].as_str().unwrap_or("").to_string();
    assert!(
        message.contains("read-only"),
        "the message says the file is read-only: {message}"
    );
    assert!(
        message.contains("chmod") || message.contains("owner"),
        "the message says what to do: {message}"
    );
    assert_eq!(status["report"]["paths"][0]["state"], "watching");
    // Neither side lost its version.
    assert_eq!(env.read("web", "/data/locked.txt").await.unwrap(), b"x\n");
    assert_eq!(owner(&env, "/data/locked.txt").await, "0:0");
    assert_eq!(ws.read("src/locked.txt").unwrap(), b"local version\n");
    let log = std::fs::read_to_string(&sync.log).unwrap_or_default();
    assert!(
        log.lines()
            .any(|l| l.contains("locked.txt") && l.contains("read-only")),
        "the sync log names the file and the reason\n{}",
        sync.output()
    );

    // Fix it in the container; ferry's retry uploads it, without a restart.
    match fix {
        Fix::Chmod => env.sh("web", "chmod 666 /data/locked.txt").await,
        Fix::Chown => env.sh("web", "chown 1000:1000 /data/locked.txt").await,
    };
    wait_until(
        "the retry uploads locked.txt and the problem goes",
        &sync,
        || async {
            let content = env.read("web", "/data/locked.txt").await;
            let status = ws.status(&kubeconfig);
            let uploaded = content.as_deref() == Some(b"local version\n");
            let clear =
                problems(&status).is_empty() && status["report"]["paths"][0]["problemCount"] == 0;
            check(uploaded && clear, || {
                format!(
                    "container has {:?}; status: {status}",
                    content.map(|c| String::from_utf8_lossy(&c).into_owned())
                )
            })
        },
    )
    .await;
    let status = ws.status(&kubeconfig);
    assert_eq!(status["report"]["pid"], pid, "the same process did it");
    assert_eq!(status["report"]["health"], "ok", "{status}");
    assert_eq!(ws.read("src/locked.txt").unwrap(), b"local version\n");
    let local = ws.manifest("src");
    let remote = remote_manifest(&env, "web", "/data").await;
    assert_same(&local, &remote);
    let exit = sync.stop();
    assert!(
        exit.success(),
        "ferry sync ends cleanly: {exit}\n{}",
        sync.output()
    );
}

#[tokio::test]
async fn busybox_read_only_file_is_a_per_file_error_until_fixed() {
    read_only_scenario("busybox", Fix::Chmod).await;
}

#[tokio::test]
async fn debian_read_only_file_is_a_per_file_error_until_fixed() {
    read_only_scenario("debian", Fix::Chown).await;
}

// --- 5. a watcher in the container ---------------------------------------------------

/// Copies the machine's `inotifywait` with its libraries and loader into `/tmp/iw` of a
/// container that has none (busybox); returns the command line that runs it.
async fn install_inotifywait(env: &Env) -> String {
    let bin = std::path::PathBuf::from("/usr/bin/inotifywait");
    let ldd = std::process::Command::new("ldd")
        .arg(&bin)
        .output()
        .expect("ldd");
    let mut files = vec![bin];
    for tok in String::from_utf8_lossy(&ldd.stdout).split_whitespace() {
        if tok.starts_with('/') {
            files.push(tok.into());
        }
    }
    env.sh("web", "mkdir -p /tmp/iw && chmod 777 /tmp/iw").await;
    let mut loader = None;
    for f in &files {
        let name = f.file_name().unwrap().to_str().unwrap().to_string();
        let bytes = std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let out = env
            .control
            .run(
                &env.ns,
                "web",
                &[
                    "sh",
                    "-c",
                    "cat > \"/tmp/iw/$0\" && chmod 755 \"/tmp/iw/$0\"",
                    &name,
                ],
                &bytes,
            )
            .await
            .expect("control run");
        assert_eq!(out.exit_code, 0, "copying {name}: {}", out.stderr);
        if name.starts_with("ld-linux") {
            loader = Some(name);
        }
    }
    let loader = loader.expect("a dynamic loader in ldd's output");
    format!("/tmp/iw/{loader} --library-path /tmp/iw /tmp/iw/inotifywait")
}

async fn watcher_scenario(image: &str) {
    let env = Env::start("nonroot", Exec::V5).await;
    env.pod(&nonroot_pod(image)).await;
    let kubeconfig = env.cluster.kubeconfig();
    let inotifywait = if env.sh_status("web", "command -v inotifywait").await == 0 {
        env.sh("web", "mkdir -p /tmp/iw && chmod 777 /tmp/iw").await;
        "inotifywait".to_string()
    } else {
        install_inotifywait(&env).await
    };
    // The watcher runs as the container's user, in the background, on /data itself
    // (not recursively), like a dev server watching its folder.
    sh_user(
        &env,
        &format!(
            "{inotifywait} -m -e close_write,moved_to --format '%e %f' /data \
             </dev/null >/tmp/iw/events.log 2>/tmp/iw/events.err &"
        ),
    )
    .await;
    env.wait_for("the watcher is set up", WAIT, || async {
        env.read("web", "/tmp/iw/events.err")
            .await
            .is_some_and(|e| String::from_utf8_lossy(&e).contains("Watches established"))
    })
    .await;

    let ws = Workspace::new();
    ws.devspace("web", "nonroot", "src", "/data", "");
    let initial = [
        ("a.txt", "alpha\n"),
        ("b.txt", "beta\n"),
        ("with space.txt", "spaces\n"),
        ("main.rs", "fn main() {}\n"),
    ];
    for (p, c) in initial {
        ws.write(&format!("src/{p}"), c);
    }
    ws.write("src/sub/c.txt", "below the watched folder\n");

    let mut sync = ws.sync(&kubeconfig);
    wait_running_watching(&ws, &kubeconfig, &sync).await;
    wait_until("the initial uploads", &sync, || async {
        let up = missing_in_container(&env, &initial).await;
        check(up.is_empty(), || format!("not in the container: {up:?}"))
    })
    .await;
    // Live: a new file and an edit.
    ws.write("src/d.txt", "delta\n");
    ws.write("src/a.txt", "alpha 2\n");
    wait_until("the live uploads", &sync, || async {
        let up = missing_in_container(&env, &[("d.txt", "delta\n"), ("a.txt", "alpha 2\n")]).await;
        check(up.is_empty(), || format!("not in the container: {up:?}"))
    })
    .await;

    // Each upload into /data is a write the watcher saw: a close-write or a moved-to
    // event with its name; a.txt twice (created, then edited).
    let uploaded: BTreeSet<&str> = initial.iter().map(|(p, _)| *p).chain(["d.txt"]).collect();
    let events = || async {
        let log = env
            .read("web", "/tmp/iw/events.log")
            .await
            .unwrap_or_default();
        String::from_utf8_lossy(&log)
            .lines()
            .filter_map(|l| {
                let (ev, name) = l.split_once(' ')?;
                let complete = ev.split(',').any(|e| e == "CLOSE_WRITE" || e == "MOVED_TO");
                complete.then(|| name.to_string())
            })
            .collect::<Vec<String>>()
    };
    wait_until("the watcher saw every upload", &sync, || async {
        let seen = events().await;
        let missing: Vec<&&str> = uploaded
            .iter()
            .filter(|n| !seen.iter().any(|s| s == **n))
            .collect();
        let edits = seen.iter().filter(|s| *s == "a.txt").count();
        check(missing.is_empty() && edits >= 2, || {
            format!("not seen: {missing:?}; a.txt seen {edits} times; events: {seen:?}")
        })
    })
    .await;
    // And it saw nothing else: no temporary or partial file in the watched folder.
    let seen = events().await;
    let other: Vec<&String> = seen
        .iter()
        .filter(|s| !uploaded.contains(s.as_str()))
        .collect();
    assert!(
        other.is_empty(),
        "the watcher saw writes of names that are not synced files: {other:?}"
    );
    let exit = sync.stop();
    assert!(
        exit.success(),
        "ferry sync ends cleanly: {exit}\n{}",
        sync.output()
    );
}

/// busybox has no inotify tool of its own here (the machine's busybox-static is built
/// without `inotifyd`), so the machine's `inotifywait` is copied in with its libraries.
#[tokio::test]
async fn busybox_in_container_watcher_sees_every_upload() {
    watcher_scenario("busybox").await;
}

#[tokio::test]
async fn debian_in_container_watcher_sees_every_upload() {
    watcher_scenario("debian:inotify").await;
}
