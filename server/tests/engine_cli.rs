//! The CLI around the engine: `ferry doctor` (a missing tool, no shell, a selector that
//! matches nothing), a broken config (file:line:column, exit code 2, nothing synced), one
//! owner per workspace (exit code 3), `ferry list`, DevSpace profiles (`--profile`,
//! activation), `file: true`, and where uploads are staged (beside the container marker;
//! in the folder's own `.ferry/` when it is an `emptyDir` mount point; a session killed
//! in the container leaves its staging, the next one removes it).

mod engine_support;

use std::time::{Duration, Instant};

use engine_support::{
    local_tree, remote_tree, sync_pod, tree_diff, wait_remote_tree, Env, Exec, Manifest, Running,
    Workspace, FERRY_STATE,
};
use ferry_testkit::PodBuilder;

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn doctor_names_what_is_missing() {
    let env = Env::start("doc", Exec::V5).await;
    env.pod(&sync_pod("good", "busybox")).await;
    env.pod(&sync_pod("notar", "busybox:notar")).await;
    // distroless has no shell: the pod runs its own entrypoint.
    env.pod(&PodBuilder::new("bare", "distroless").command(&["/bin/sleep", "100000"]))
        .await;
    let kubeconfig = env.cluster.kubeconfig();

    let ws = Workspace::new();
    ws.devspace("good", "doc", "", "/app", "");
    let out = ws.ferry(&kubeconfig, &["doctor"]);
    assert!(out.status.success(), "doctor on a good pod: {}", text(&out));
    assert!(text(&out).contains("ready to sync"), "{}", text(&out));
    // busybox has no inotifywait: the hint names the package that provides it.
    assert!(
        text(&out).contains("inotifywait comes with inotify-tools"),
        "{}",
        text(&out)
    );

    let ws = Workspace::new();
    ws.devspace("notar", "doc", "", "/app", "");
    let out = ws.ferry(&kubeconfig, &["doctor", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("doctor JSON");
    let tar = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["what"] == "tar")
        .unwrap_or_else(|| panic!("doctor names tar: {report}"));
    assert_ne!(tar["status"], "ok");
    assert!(tar["detail"].as_str().unwrap().contains("no tar"), "{tar}");

    let ws = Workspace::new();
    ws.devspace("bare", "doc", "", "/app", "");
    let t = Instant::now();
    let out = ws.ferry(&kubeconfig, &["doctor"]);
    let took = t.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t_out = text(&out);
    assert!(t_out.contains("FAIL [bare] shell"), "{t_out}");
    assert!(
        t_out.contains("POSIX shell"),
        "says a shell is needed: {t_out}"
    );
    assert!(took < Duration::from_secs(60), "no hang: took {took:?}");

    let ws = Workspace::new();
    ws.devspace("nothing-here", "doc", "", "/app", "");
    let out = ws.ferry(&kubeconfig, &["doctor"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t_out = text(&out);
    for part in ["app=nothing-here", "\"doc\"", "ferry-cluster"] {
        assert!(t_out.contains(part), "doctor names {part}: {t_out}");
    }
}

#[tokio::test]
async fn broken_config_exits_2_with_a_position_and_syncs_nothing() {
    let env = Env::start("cfg", Exec::V5).await;
    env.pod(&sync_pod("web", "busybox")).await;
    let ws = Workspace::new();
    ws.write("a.txt", "must not arrive\n");
    ws.write(
        "devspace.yaml",
        "version: v2beta1\ndev:\n  web:\n    labelSelector:\n      app: web\n    namespace: cfg\n    sync:\n    - path: ./:/app\n      initialSync: sideways\n",
    );
    let out = ws.sync_once(&env.cluster.kubeconfig());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("devspace.yaml:9:20"),
        "the error points at the value: {t}"
    );
    assert!(t.contains("sideways"), "{t}");
    assert_eq!(
        env.sh_status("web", "test ! -e /app/a.txt").await,
        0,
        "nothing was synced"
    );
    // `ferry list` refuses the same way.
    let out = ws.ferry(&env.cluster.kubeconfig(), &["list"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Issue 12: a misspelt exclude (`excludePath:`) used to be a warning printed while the
/// sync uploaded what it meant to keep out.
#[tokio::test]
async fn unknown_sync_field_exits_2_and_syncs_nothing_unsupported_one_warns_first() {
    let env = Env::start("typo", Exec::V5).await;
    env.pod(&sync_pod("web", "busybox")).await;
    let kubeconfig = env.cluster.kubeconfig();
    let ws = Workspace::new();
    ws.write("a.txt", "a\n");
    ws.write("secrets/key", "keep me out\n");
    ws.devspace("web", "typo", "", "/app", "      excludePath: [secrets/]");
    let out = ws.sync_once(&kubeconfig);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.contains("did you mean `excludePaths`?"), "{t}");
    assert!(t.contains("nothing was synced"), "{t}");
    assert_eq!(
        env.sh_status("web", "test ! -e /app/a.txt && test ! -e /app/secrets")
            .await,
        0,
        "nothing was synced"
    );

    // Spelt right, plus a known DevSpace field ferry does not support: a warning, printed
    // before the sync connects, and the sync runs.
    ws.devspace(
        "web",
        "typo",
        "",
        "/app",
        "      excludePaths: [secrets/]\n      onUpload: {restartContainer: true}",
    );
    let (status, t) = ws.ferry_interleaved(&kubeconfig, &["sync", "--once"]);
    assert!(status.success(), "{t}");
    let warned = t
        .find("`restartContainer` is not supported")
        .unwrap_or_else(|| panic!("warns about restartContainer: {t}"));
    let connected = t.find("connected to ").expect("connects");
    assert!(warned < connected, "the warning comes first: {t}");
    assert_eq!(
        env.sh_status("web", "test -f /app/a.txt && test ! -e /app/secrets")
            .await,
        0,
        "a.txt synced, secrets/ kept out: {t}"
    );
}

#[tokio::test]
async fn profiles_choose_what_is_synced_and_an_unknown_one_syncs_nothing() {
    let env = Env::start("prof", Exec::V5).await;
    env.pod(&sync_pod("web", "busybox")).await;
    let kubeconfig = env.cluster.kubeconfig();
    let ws = Workspace::new();
    ws.write("a.txt", "a\n");
    ws.devspace("web", "prof", "", "/app", "");
    let mut yaml = String::from_utf8(ws.read("devspace.yaml").unwrap()).unwrap();
    yaml.push_str(
        "profiles:\n\
         - name: alt\n\
         \x20 patches:\n\
         \x20 - op: replace\n\
         \x20   path: dev.web.sync[0].path\n\
         \x20   value: ./:/alt\n\
         - name: ci\n\
         \x20 activation:\n\
         \x20 - env: {FERRY_TEST_CI: 'yes'}\n\
         \x20 patches:\n\
         \x20 - op: replace\n\
         \x20   path: dev.web.sync[0].path\n\
         \x20   value: ./:/ci\n",
    );
    ws.write("devspace.yaml", &yaml);

    // An unknown profile: exit 2, the known ones named, nothing synced.
    let out = ws.ferry(&kubeconfig, &["sync", "--once", "--profile", "atl"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(
        t.contains("no profile `atl`") && t.contains("`alt`, `ci`"),
        "{t}"
    );
    assert!(t.contains("did you mean `alt`?"), "{t}");
    assert_eq!(
        env.sh_status("web", "test ! -e /app/a.txt && test ! -e /alt/a.txt")
            .await,
        0,
        "nothing was synced"
    );

    // `ferry list` says which profiles apply; the sync goes where the profile says.
    let out = ws.ferry(&kubeconfig, &["list", "-p", "alt"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("with profiles alt (requested)") && t.contains("/alt"),
        "{t}"
    );
    let out = ws.ferry(&kubeconfig, &["sync", "--once", "--profile", "alt"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        env.sh_status("web", "test -f /alt/a.txt && test ! -e /app/a.txt")
            .await,
        0,
        "synced into the profile's folder only: {}",
        text(&out)
    );

    // Activated by the environment; --disable-profile-activation turns it off.
    let activated = |args: &[&str]| {
        let out = ws.ferry_with_env(&kubeconfig, args, &[("FERRY_TEST_CI", "yes")]);
        (out.status.success(), text(&out))
    };
    let (ok, t) = activated(&["list"]);
    assert!(
        ok && t.contains("with profiles ci (activated)") && t.contains("/ci"),
        "{t}"
    );
    let (ok, t) = activated(&["list", "--disable-profile-activation"]);
    assert!(ok && !t.contains("profiles") && t.contains("/app"), "{t}");
}

#[tokio::test]
async fn file_true_syncs_one_file_both_ways_and_nothing_beside_it() {
    let env = Env::start("onefile", Exec::V5).await;
    env.pod(&sync_pod("web", "busybox")).await;
    let kubeconfig = env.cluster.kubeconfig();
    env.sh("web", "mkdir -p /app && echo theirs > /app/keep.txt")
        .await;
    let ws = Workspace::new();
    ws.write("config.json", "{\"v\": 1}\n");
    ws.write("other.txt", "stays local\n");
    ws.write(
        "devspace.yaml",
        "version: v2beta1\ndev:\n  web:\n    labelSelector: {app: web}\n    namespace: onefile\n    \
         sync:\n    - path: ./config.json:/app/config.json\n      file: true\n",
    );
    // Whole trees, both sides, before and after.
    let local_before = ws.tree(&[".ferry"]);
    let remote_before = remote_tree(&env, "web", "/app", FERRY_STATE).await;
    let out = ws.sync_once(&kubeconfig);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(env.sh("web", "cat /app/config.json").await, "{\"v\": 1}\n");
    assert_eq!(
        ws.tree(&[".ferry"]),
        local_before,
        "the local tree is as it was"
    );
    let mut remote_after = remote_tree(&env, "web", "/app", FERRY_STATE).await;
    let landed = remote_after
        .remove("config.json")
        .expect("config.json landed");
    assert_eq!(landed.content, b"{\"v\": 1}\n");
    assert_eq!(remote_after, remote_before, "nothing else in /app changed");
    assert_eq!(
        env.sh_status(
            "web",
            "test ! -e /app/other.txt && test ! -e /app/devspace.yaml && test -f /app/keep.txt"
        )
        .await,
        0,
        "only the file is uploaded; the container's other files stay: {}",
        text(&out)
    );
    assert!(ws.read("keep.txt").is_none(), "nothing else is downloaded");

    // The container changes it: the next sync brings it back.
    env.sh(
        "web",
        "sleep 1; echo '{\"v\": 2}' > /app/config.json; echo more > /app/new.txt",
    )
    .await;
    let out = ws.sync_once(&kubeconfig);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        ws.read("config.json").as_deref(),
        Some(&b"{\"v\": 2}\n"[..]),
        "{}",
        text(&out)
    );
    assert!(
        ws.read("new.txt").is_none() && ws.read("keep.txt").is_none(),
        "{}",
        text(&out)
    );
    assert_eq!(ws.read("other.txt").as_deref(), Some(&b"stays local\n"[..]));
    let mut local_after = ws.tree(&[".ferry"]);
    let mut expected = local_before.clone();
    assert_eq!(
        local_after.remove("config.json").map(|i| i.content),
        Some(b"{\"v\": 2}\n".to_vec())
    );
    expected.remove("config.json");
    assert_eq!(local_after, expected, "only config.json changed locally");
}

/// Uploads are staged beside the container marker (the folder's parent here, on the same
/// file system): no name of ferry's is in /app while the sync runs or after; a killed
/// session's staging there is swept, a living process's is left alone.
#[tokio::test]
async fn staging_stays_out_of_the_container_folder_and_only_dead_staging_is_swept() {
    let env = Env::start("stage", Exec::V5).await;
    env.pod(&sync_pod("web", "busybox")).await;
    let kubeconfig = env.cluster.kubeconfig();
    let place = ferry::remote::place::marker_dir("/", "/app");
    let live = env
        .sh("web", "sleep 600 </dev/null >/dev/null 2>&1 & echo $!")
        .await
        .trim()
        .to_string();
    assert!(
        !live.is_empty() && live.bytes().all(|b| b.is_ascii_digit()),
        "a living process: {live:?}"
    );
    env.sh(
        "web",
        &format!("mkdir -p '{place}/.ferry-tmp-999999/x' '{place}/.ferry-tmp-{live}-s/y'"),
    )
    .await;
    let ws = Workspace::new();
    for i in 0..200 {
        ws.write(&format!("src/d{}/f{i}.txt", i % 5), format!("{i}\n"));
    }
    ws.devspace("web", "stage", "src", "/app", "");
    let mut sync = ws.sync(&kubeconfig);
    ws.wait_watching(&kubeconfig, Duration::from_secs(120));
    for i in 0..50 {
        ws.write(&format!("src/d{}/f{i}.txt", i % 5), format!("edited {i}\n"));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while env.sh("web", "cat /app/d4/f49.txt").await != "edited 49\n" {
        assert!(Instant::now() < deadline, "the edits arrive");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ferry_names = || env.sh("web", "find /app -name '*ferry*'");
    assert_eq!(
        ferry_names().await,
        "",
        "nothing of ferry's in /app while it syncs"
    );
    let beside = env.sh("web", &format!("ls -A '{place}'")).await;
    assert!(
        beside.contains(".ferry-tmp-"),
        "the session stages beside the marker: {beside}"
    );
    assert!(
        !beside.contains(".ferry-tmp-999999"),
        "a killed session's staging is swept: {beside}"
    );
    assert!(
        beside.contains(&format!(".ferry-tmp-{live}-s")),
        "a living process's is kept: {beside}"
    );
    let status = sync.stop();
    assert!(status.success(), "{}", sync.output());
    assert_eq!(ferry_names().await, "", "nor after");
    env.sh("web", &format!("kill {live}")).await;
}

/// Waits until the local `src` and the container's `/app` hold the same whole tree
/// (leaving out only `leave` on both sides); returns it.
async fn wait_same_trees(
    env: &Env,
    ws: &Workspace,
    leave: &[&str],
    what: &str,
    sync: &Running,
) -> Manifest {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let local = local_tree(&ws.path("src"), leave);
        let left = deadline.saturating_duration_since(Instant::now());
        match wait_remote_tree(env, "web", "/app", leave, &local, Duration::from_secs(2)).await {
            // The local tree still the same once the container's matched it: settled.
            Ok(remote) if tree_diff(&local_tree(&ws.path("src"), leave), &remote).is_none() => {
                return remote
            }
            Ok(_) => {}
            Err(d) if left.is_zero() => {
                panic!(
                    "{what}: the container's tree differs from the local one: {d}\n{}",
                    sync.output()
                )
            }
            Err(_) => {}
        }
    }
}

/// Where `/app` is an `emptyDir` mount point (its parent, `$HOME` and `/tmp` are on
/// another mount), the marker and the staging folder live in the folder's own
/// `/app/.ferry/` (the documented fallback, always excluded from the sync). A watcher
/// the user runs in the container (`inotifywait -m -r /app`) sees, over 500 files and 100
/// edits, only final names and ferry's `.ferry/` — and the staging there, so the
/// fallback was really used; the whole trees agree.
#[tokio::test]
async fn staging_on_an_empty_dir_mount_point_is_only_seen_under_the_folders_own_ferry() {
    let env = Env::start("stage-ed", Exec::V5).await;
    env.pod(&sync_pod("web", "debian:inotify").empty_dir("app", "/app", None))
        .await;
    let kubeconfig = env.cluster.kubeconfig();
    let watcher = env
        .sh(
            "web",
            "inotifywait -m -r --format '%e %w%f' /app >/tmp/events 2>/tmp/events.err \
             </dev/null & echo $!",
        )
        .await
        .trim()
        .to_string();
    env.wait_for(
        "the container's watcher is set up",
        Duration::from_secs(30),
        || async {
            env.sh("web", "cat /tmp/events.err")
                .await
                .contains("Watches established")
        },
    )
    .await;
    let ws = Workspace::new();
    let name = |i: usize| format!("d{}/f{i}.txt", i % 10);
    for i in 0..500 {
        ws.write(&format!("src/{}", name(i)), format!("{i}\n"));
    }
    ws.devspace("web", "stage-ed", "src", "/app", "");
    let mut sync = ws.sync(&kubeconfig);
    ws.wait_watching(&kubeconfig, Duration::from_secs(180));
    wait_same_trees(&env, &ws, &[".ferry"], "after the initial sync", &sync).await;
    // 100 edits, in five batches.
    for round in 0..5 {
        for i in round * 20..round * 20 + 20 {
            ws.write(&format!("src/{}", name(i)), format!("edited {i}\n"));
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while env
        .read("web", &format!("/app/{}", name(99)))
        .await
        .as_deref()
        != Some(&b"edited 99\n"[..])
    {
        assert!(
            Instant::now() < deadline,
            "the edits arrive\n{}",
            sync.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = wait_same_trees(&env, &ws, &[".ferry"], "after the edits", &sync).await;
    assert_eq!(
        after.keys().filter(|p| p.ends_with(".txt")).count(),
        500,
        "every file in the container"
    );
    let place = ferry::remote::place::marker_dir("/app", "/app");
    assert_eq!(
        env.sh_status("web", &format!("test -f '{place}/marker'"))
            .await,
        0,
        "the marker is in the folder's own .ferry/ ({place}): {}",
        env.sh("web", "find /app/.ferry").await
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    let status = sync.stop();
    assert!(status.success(), "{}", sync.output());
    env.sh("web", &format!("kill {watcher}")).await;
    let log = env.sh("web", "cat /tmp/events").await;
    let finals: std::collections::BTreeSet<String> = (0..500)
        .flat_map(|i| {
            let n = format!("/app/{}", name(i));
            let parent = n.rsplit_once('/').unwrap().0.to_string();
            [n, parent, "/app".to_string()]
        })
        .collect();
    let events: Vec<(&str, &str)> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (e, p) = l.split_once(' ').unwrap_or((l, ""));
            (e, p.trim_end_matches('/'))
        })
        .collect();
    let ours = |p: &str| p == "/app/.ferry" || p.starts_with("/app/.ferry/");
    for (e, p) in &events {
        assert!(
            finals.contains(*p) || ours(p),
            "the watcher saw a name that is neither a final one nor under /app/.ferry/: {e} {p}"
        );
    }
    let on_finals = events.iter().filter(|(_, p)| finals.contains(*p)).count();
    let under_ferry = events.iter().filter(|(_, p)| ours(p)).count();
    let staging = events
        .iter()
        .filter(|(_, p)| p.starts_with(&format!("{place}/.ferry-tmp-")))
        .count();
    assert!(
        on_finals >= 600,
        "the watcher saw the uploads and edits land: {on_finals} events on final names"
    );
    assert!(
        staging > 0,
        "the staging folder was in {place} (the fallback was used): {under_ferry} events \
         under /app/.ferry/, none in a staging folder there"
    );
    let staged_files = events
        .iter()
        .filter(|(e, p)| e.contains("MOVED_FROM") && p.starts_with(&format!("{place}/.ferry-tmp-")))
        .count();
    eprintln!(
        "{} events: {on_finals} on final names, {under_ferry} under /app/.ferry/ ({staging} in \
         the staging folder {place}/.ferry-tmp-*, {staged_files} of them renames out of it), \
         none elsewhere",
        events.len()
    );
    // After the stop: the same whole trees, and nothing of ferry's in /app but .ferry/.
    let local = local_tree(&ws.path("src"), &[".ferry"]);
    let remote = remote_tree(&env, "web", "/app", &[".ferry"]).await;
    assert_eq!(
        tree_diff(&local, &remote),
        None,
        "the whole trees after the stop"
    );
    assert_eq!(
        env.sh(
            "web",
            "cd /app && find . -name '*ferry*' ! -path './.ferry' ! -path './.ferry/*'"
        )
        .await,
        "",
        "nothing of ferry's in /app outside .ferry/"
    );
}

/// A session killed with SIGKILL in the container runs no `EXIT` trap, so its staging
/// folder (`.ferry-tmp-PID` beside the marker) stays; the next session removes it once it
/// has started (its process is gone), and no file is lost on either side.
#[tokio::test]
async fn a_session_killed_in_the_container_leaves_its_staging_and_the_next_session_removes_it() {
    let env = Env::start("stage-kill", Exec::V5).await;
    env.pod(&sync_pod("web", "busybox")).await;
    let kubeconfig = env.cluster.kubeconfig();
    let place = ferry::remote::place::marker_dir("/", "/app");
    let ws = Workspace::new();
    for i in 0..100 {
        ws.write(&format!("src/d{}/f{i}.txt", i % 5), format!("{i}\n"));
    }
    ws.devspace("web", "stage-kill", "src", "/app", "");
    let mut sync = ws.sync(&kubeconfig);
    ws.wait_watching(&kubeconfig, Duration::from_secs(120));
    // The place is `/`: nothing of ferry's in either folder, so the trees are whole.
    let before = wait_same_trees(&env, &ws, &[], "after the first sync", &sync).await;
    assert_eq!(before.keys().filter(|p| p.ends_with(".txt")).count(), 100);
    let staging_of = |listing: &str| -> Vec<String> {
        listing
            .lines()
            .filter_map(|l| l.strip_prefix(".ferry-tmp-"))
            .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            .map(str::to_string)
            .collect()
    };
    let listing = env.sh("web", &format!("ls -A '{place}'")).await;
    let pids = staging_of(&listing);
    assert_eq!(
        pids.len(),
        1,
        "one session stages beside the marker: {listing}"
    );
    let pid = pids[0].clone();
    let cmd = env
        .sh("web", &format!("tr '\\0' ' ' </proc/{pid}/cmdline"))
        .await;
    assert!(
        cmd.contains("ferry-session"),
        "the staging folder's PID {pid} is the session's shell: {cmd}"
    );
    // Freeze ferry (so it cannot start a new session), kill the session's shell with
    // SIGKILL in the container, then kill ferry.
    sync.signal(libc::SIGSTOP);
    env.sh("web", &format!("kill -9 {pid}")).await;
    sync.signal(libc::SIGKILL);
    assert!(
        sync.wait_exit(Duration::from_secs(20)).is_some(),
        "ferry was killed"
    );
    env.wait_for(
        "the killed session's process is gone",
        Duration::from_secs(30),
        || async {
            env.sh_status("web", &format!("test ! -e /proc/{pid}"))
                .await
                == 0
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stale = format!("{place}/.ferry-tmp-{pid}");
    assert_eq!(
        env.sh_status("web", &format!("test -d '{stale}'")).await,
        0,
        "the killed session left its staging folder: {}",
        env.sh("web", &format!("ls -A '{place}'")).await
    );
    let what_stayed = env.sh("web", &format!("find '{stale}'")).await;
    assert_eq!(
        tree_diff(&before, &local_tree(&ws.path("src"), &[])),
        None,
        "the local tree after the kill"
    );
    assert_eq!(
        tree_diff(&before, &remote_tree(&env, "web", "/app", &[]).await),
        None,
        "the container's tree after the kill"
    );
    // Changes on both sides while nothing runs.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    ws.write("src/d0/f0.txt", "edited while stopped\n");
    ws.write("src/new.txt", "new while stopped\n");
    env.sh("web", "echo theirs > /app/from-container.txt").await;

    let mut sync = ws.sync(&kubeconfig);
    // Its own report: the killed ferry's status file still says `watching`.
    ws.wait_watching_by(&kubeconfig, &sync, Duration::from_secs(120));
    let listing = env.sh("web", &format!("ls -A '{place}'")).await;
    assert!(
        !staging_of(&listing).contains(&pid),
        "the next session removed the stale staging folder {stale} (it held:\n{what_stayed}): \
         {listing}\n{}",
        sync.output()
    );
    let after = wait_same_trees(&env, &ws, &[], "after the restart", &sync).await;
    let mut lost = Vec::new();
    for (p, item) in &before {
        if p != "d0/f0.txt" && after.get(p) != Some(item) {
            lost.push(p.clone());
        }
    }
    assert!(
        lost.is_empty(),
        "files lost or changed: {lost:?}\n{}",
        sync.output()
    );
    let content = |p: &str| after.get(p).map(|i| i.content.clone());
    assert_eq!(
        content("d0/f0.txt").as_deref(),
        Some(&b"edited while stopped\n"[..])
    );
    assert_eq!(
        content("new.txt").as_deref(),
        Some(&b"new while stopped\n"[..])
    );
    assert_eq!(
        content("from-container.txt").as_deref(),
        Some(&b"theirs\n"[..])
    );
    assert_eq!(after.len(), before.len() + 2, "nothing else appeared");
    let status = sync.stop();
    assert!(status.success(), "{}", sync.output());
    let listing = env.sh("web", &format!("ls -A '{place}'")).await;
    assert!(
        staging_of(&listing).is_empty(),
        "a session that ends removes its own staging: {listing}"
    );
    eprintln!(
        "the killed session {pid} left {stale} with:\n{what_stayed}the next session removed it"
    );
}

#[tokio::test]
async fn one_owner_per_workspace_and_list() {
    let env = Env::start("own", Exec::V5).await;
    env.pod(&sync_pod("web", "busybox")).await;
    let kubeconfig = env.cluster.kubeconfig();
    let ws = Workspace::new();
    ws.devspace(
        "web",
        "own",
        "",
        "/app",
        "      excludePaths: [node_modules/]\n      uploadExcludePaths: ['*.log']",
    );
    ws.write("a.txt", "a\n");
    let mut sync = ws.sync(&kubeconfig);
    ws.wait_watching(&kubeconfig, Duration::from_secs(60));
    let second = ws.sync_once(&kubeconfig);
    assert_eq!(second.status.code(), Some(3), "{}", text(&second));
    let t = text(&second);
    assert!(t.contains("ferry sync (pid"), "says who holds it: {t}");

    let out = ws.ferry(&kubeconfig, &["list"]);
    assert!(out.status.success());
    let t = text(&out);
    for part in [
        "/app",
        "labels app=web",
        "node_modules/",
        "*.log",
        "initial sync:    merge",
    ] {
        assert!(t.contains(part), "list shows {part}: {t}");
    }
    let status = ws.ferry(&kubeconfig, &["status"]);
    assert!(status.status.success());
    let t = text(&status);
    assert!(
        t.contains("synced by ferry sync") && t.contains("pod web"),
        "{t}"
    );
    let s = sync.stop();
    assert!(s.success(), "{}", sync.output());
    let status = ws.ferry(&kubeconfig, &["status"]);
    assert_eq!(status.status.code(), Some(1), "nothing runs any more");
}
