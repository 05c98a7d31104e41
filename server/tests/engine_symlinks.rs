//! Symlinks per sync path (`symlinks:` in `ferry.yaml`) with `ferry sync --once` against
//! the local cluster, on busybox and debian: a tree with inside links (to a file, to a
//! folder, climbing up but staying in), outside links (`../x` leaving the folder, `/etc`,
//! one into a decoy folder beside the sync folder), a dangling link and a loop, on both
//! sides. `portable` syncs exactly the inside links (dangling and loop included, as the
//! links they are) both ways and leaves the others where they are; `ignore` syncs no
//! link; file ⇄ link and folder → link changes converge; `follow` uploads what local
//! links point to (inside, outside, absolute) as files and folders, one way, and leaves
//! dangling links, loops and container links alone. Whole trees are compared on both
//! sides, decoys included, before and after: nothing is written outside either folder.

mod engine_support;

use engine_support::{remote_tree, sync_pod, Env, Exec, Manifest, Workspace, FERRY_STATE};

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `tree` with the links only (path → target), for exact comparisons of what is a link.
fn links(tree: &Manifest) -> Vec<(String, String)> {
    tree.iter()
        .filter(|(_, i)| i.kind == 'l')
        .map(|(p, i)| (p.clone(), String::from_utf8_lossy(&i.content).into_owned()))
        .collect()
}

/// The kinds and contents of `tree` but at the paths `left_alone` (its own outside
/// links); modes and times left out: links' own times and modes differ between tools
/// and are not what is compared here.
fn shape(tree: &Manifest, left_alone: &[&str]) -> Vec<(String, char, Vec<u8>)> {
    tree.iter()
        .filter(|(p, _)| !left_alone.contains(&p.as_str()))
        .map(|(p, i)| (p.clone(), i.kind, i.content.clone()))
        .collect()
}

/// The decoys beside the folders on both sides, as they were before the sync.
struct Decoys {
    local: Manifest,
    remote: Manifest,
}

impl Decoys {
    async fn read(env: &Env, ws: &Workspace) -> Decoys {
        Decoys {
            local: decoy_tree(ws),
            remote: remote_tree(env, "web", "/decoy", &[]).await,
        }
    }

    /// Nothing was written through a link or outside either folder.
    async fn unchanged(&self, env: &Env, ws: &Workspace) {
        assert_eq!(decoy_tree(ws), self.local, "the local decoy is untouched");
        assert_eq!(
            remote_tree(env, "web", "/decoy", &[]).await,
            self.remote,
            "the container's decoy is untouched"
        );
    }
}

/// One `ferry sync --once` that succeeds; then the local `src` and the container's
/// /app as trees, and what ferry printed.
async fn sync_round(
    env: &Env,
    ws: &Workspace,
    kubeconfig: &std::path::Path,
) -> (Manifest, Manifest, String) {
    let out = ws.sync_once(kubeconfig);
    assert!(out.status.success(), "{}", text(&out));
    let remote = remote_tree(env, "web", "/app", FERRY_STATE).await;
    (src_tree(ws), remote, text(&out))
}

/// Both sides hold the same files, folders and links but each side's own outside links.
fn converged(local: &Manifest, remote: &Manifest, out: &str) {
    assert_eq!(
        shape(local, &["out", "abs", "esc"]),
        shape(remote, &["c_out", "c_up"]),
        "{out}"
    );
}

/// The local decoy folder beside the synced folder `src`.
fn decoy_tree(ws: &Workspace) -> Manifest {
    ws.tree(&[])
        .into_iter()
        .filter(|(p, _)| p.starts_with("decoy"))
        .collect()
}

/// The local synced folder `src`, by paths relative to it.
fn src_tree(ws: &Workspace) -> Manifest {
    ws.tree(&[".ferry"])
        .iter()
        .filter_map(|(p, i)| p.strip_prefix("src/").map(|q| (q.to_string(), i.clone())))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = list
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.sort();
    v
}

const LOCAL_LINKS: &[(&str, &str)] = &[
    ("lf", "f"),              // inside, to a file
    ("ld", "d"),              // inside, to a folder
    ("sub/up", "../d/x"),     // climbs up, stays inside
    ("dang", "nothing-here"), // dangling, inside
    ("loop", "loop"),         // a loop
    ("out", "../../outside"), // leaves the folder
    ("abs", "/etc"),          // absolute
    ("esc", "../decoy"),      // into the decoy beside the folder
];

const REMOTE_LINKS: &[(&str, &str)] = &[
    ("c_in", "f"),
    ("c_dir", "cd"),
    ("c_out", "/etc"),
    ("c_up", "../decoy"),
];

async fn prepare(env: &Env, ws: &Workspace, ferry_yaml: Option<&str>) {
    ws.write("src/f", "file\n");
    ws.write("src/d/x", "in d\n");
    ws.write("src/sub/keep", "keep\n");
    ws.write("decoy/secret", "local decoy\n");
    for (p, t) in LOCAL_LINKS {
        std::os::unix::fs::symlink(t, ws.path(&format!("src/{p}"))).unwrap();
    }
    ws.devspace("web", &env.ns, "src", "/app", "");
    if let Some(y) = ferry_yaml {
        ws.write("ferry.yaml", y);
    }
    let mut script = String::from(
        "mkdir -p /app/cd /decoy && echo theirs > /app/c_file && echo in-cd > /app/cd/y \
         && echo container decoy > /decoy/secret",
    );
    for (p, t) in REMOTE_LINKS {
        script.push_str(&format!(" && ln -s {t} /app/{p}"));
    }
    env.sh("web", &script).await;
}

async fn portable(image: &str, ns: &str) {
    let env = Env::start(ns, Exec::V5).await;
    env.pod(&sync_pod("web", image)).await;
    let kubeconfig = env.cluster.kubeconfig();
    let ws = Workspace::new();
    prepare(&env, &ws, None).await;
    let decoys = Decoys::read(&env, &ws).await;
    let etc = remote_tree(&env, "web", "/etc", &[]).await;

    let (local_src, remote, out) = sync_round(&env, &ws, &kubeconfig).await;
    let synced = [
        ("lf", "f"),
        ("ld", "d"),
        ("sub/up", "../d/x"),
        ("dang", "nothing-here"),
        ("loop", "loop"),
        ("c_in", "f"),
        ("c_dir", "cd"),
    ];
    let mut expected_remote: Vec<(&str, &str)> = synced.to_vec();
    expected_remote.extend([("c_out", "/etc"), ("c_up", "../decoy")]);
    assert_eq!(
        links(&remote),
        pairs(&expected_remote),
        "in the container: the inside links, and its own outside links left alone\n{}",
        out
    );
    let mut expected_local: Vec<(&str, &str)> = synced.to_vec();
    expected_local.extend([
        ("out", "../../outside"),
        ("abs", "/etc"),
        ("esc", "../decoy"),
    ]);
    assert_eq!(
        links(&local_src),
        pairs(&expected_local),
        "locally: the inside links, and its own outside links left alone\n{}",
        out
    );
    // Files and folders converged too (the outside links are the only difference).
    converged(&local_src, &remote, &out);
    // Nothing was written through a link or outside either folder.
    decoys.unchanged(&env, &ws).await;
    assert_eq!(remote_tree(&env, "web", "/etc", &[]).await, etc);
    assert!(!ws.path("outside").exists() && !ws.path("src/c_out").exists());
    // Each link left alone says why, in the sync log.
    let log = String::from_utf8_lossy(&ws.read(".ferry/sync.log").unwrap_or_default()).into_owned();
    for (side, p) in [
        ("local", "out"),
        ("local", "abs"),
        ("local", "esc"),
        ("in the container", "c_out"),
        ("in the container", "c_up"),
    ] {
        assert!(
            log.lines()
                .any(|l| l.contains(&format!("not synced: {side} {p}:"))),
            "no warning for {side} {p} in the sync log:\n{log}"
        );
    }

    // Changes of kind converge: a file becomes a link and a link a file locally, a
    // folder becomes a link, and the container retargets a link.
    std::fs::remove_file(ws.path("src/sub/keep")).unwrap();
    std::os::unix::fs::symlink("../f", ws.path("src/sub/keep")).unwrap();
    std::fs::remove_file(ws.path("src/lf")).unwrap();
    ws.write("src/lf", "now a file\n");
    std::fs::remove_dir_all(ws.path("src/d")).unwrap();
    std::os::unix::fs::symlink("sub", ws.path("src/d")).unwrap();
    env.sh("web", "sleep 1; ln -sfn cd/y /app/c_in").await;
    let (local_src, remote, out) = sync_round(&env, &ws, &kubeconfig).await;
    for (side, tree) in [("container", &remote), ("local", &local_src)] {
        assert_eq!(
            tree.get("sub/keep").map(|i| (i.kind, i.content.clone())),
            Some(('l', b"../f".to_vec())),
            "{side}: file → link\n{}",
            out
        );
        assert_eq!(
            tree.get("lf").map(|i| (i.kind, i.content.clone())),
            Some(('f', b"now a file\n".to_vec())),
            "{side}: link → file\n{}",
            out
        );
        assert_eq!(
            tree.get("d").map(|i| (i.kind, i.content.clone())),
            Some(('l', b"sub".to_vec())),
            "{side}: folder → link\n{}",
            out
        );
        assert!(
            tree.get("d/x").is_none(),
            "{side}: the folder's file went with it"
        );
        assert_eq!(
            tree.get("c_in").map(|i| (i.kind, i.content.clone())),
            Some(('l', b"cd/y".to_vec())),
            "{side}: a retargeted link\n{}",
            out
        );
    }
    converged(&local_src, &remote, &out);
    decoys.unchanged(&env, &ws).await;

    // And back: a link becomes a folder on each side, and a container folder a link.
    std::fs::remove_file(ws.path("src/ld")).unwrap();
    ws.write("src/ld/new", "in the new folder\n");
    env.sh(
        "web",
        "sleep 1; rm /app/c_dir && mkdir /app/c_dir && echo z > /app/c_dir/z; \
         rm -rf /app/cd && ln -s sub /app/cd",
    )
    .await;
    let (local_src, remote, out) = sync_round(&env, &ws, &kubeconfig).await;
    for (side, tree) in [("container", &remote), ("local", &local_src)] {
        let kind = |p: &str| tree.get(p).map(|i| i.kind);
        assert_eq!(kind("ld"), Some('d'), "{side}: link → folder\n{}", out);
        assert_eq!(
            tree.get("ld/new").map(|i| i.content.clone()),
            Some(b"in the new folder\n".to_vec()),
            "{side}\n{}",
            out
        );
        assert_eq!(kind("c_dir"), Some('d'), "{side}: link → folder\n{}", out);
        assert_eq!(
            tree.get("c_dir/z").map(|i| i.content.clone()),
            Some(b"z\n".to_vec()),
            "{side}\n{}",
            out
        );
        assert_eq!(
            tree.get("cd").map(|i| (i.kind, i.content.clone())),
            Some(('l', b"sub".to_vec())),
            "{side}: folder → link\n{}",
            out
        );
        assert!(tree.get("cd/y").is_none(), "{side}");
    }
    converged(&local_src, &remote, &out);
    // What the container's folder → link replaced locally is in the trash.
    let trash = ws.ferry(&kubeconfig, &["restore"]);
    assert!(text(&trash).contains("cd/y"), "{}", text(&trash));
    decoys.unchanged(&env, &ws).await;
}

#[tokio::test]
async fn portable_links_busybox() {
    portable("busybox", "links-bb").await;
}

#[tokio::test]
async fn portable_links_debian() {
    portable("debian", "links-deb").await;
}

#[tokio::test]
async fn ignore_syncs_no_link_either_way_and_leaves_the_other_side_alone() {
    let env = Env::start("links-ignore", Exec::V5).await;
    env.pod(&sync_pod("web", "busybox")).await;
    let kubeconfig = env.cluster.kubeconfig();
    let ws = Workspace::new();
    prepare(&env, &ws, Some("dev:\n  web:\n    symlinks: ignore\n")).await;
    // A link locally where the container has a file, and the other way round.
    std::os::unix::fs::symlink("f", ws.path("src/c_file")).unwrap();
    env.sh(
        "web",
        "echo theirs > /app/lf.txt; ln -s c_file /app/local_file",
    )
    .await;
    ws.write("src/local_file", "mine\n");
    let local_before = ws.tree(&[".ferry"]);
    let out = ws.sync_once(&kubeconfig);
    assert!(out.status.success(), "{}", text(&out));
    let remote = remote_tree(&env, "web", "/app", FERRY_STATE).await;
    let mut expected_remote = pairs(REMOTE_LINKS);
    expected_remote.push(("local_file".into(), "c_file".into()));
    expected_remote.sort();
    assert_eq!(links(&remote), expected_remote, "{}", text(&out));
    assert_eq!(
        remote.get("c_file").map(|i| i.content.clone()),
        Some(b"theirs\n".to_vec()),
        "the container's file is not replaced by a link"
    );
    let local = ws.tree(&[".ferry"]);
    assert_eq!(
        local
            .get("src/local_file")
            .map(|i| (i.kind, i.content.clone())),
        Some(('f', b"mine\n".to_vec())),
        "the local file is not replaced by the container's link"
    );
    assert_eq!(
        links(&local),
        links(&local_before),
        "no link came down, none went away"
    );
    // The files did sync.
    assert_eq!(env.sh("web", "cat /app/f /app/d/x").await, "file\nin d\n");
    assert_eq!(ws.read("src/lf.txt").as_deref(), Some(&b"theirs\n"[..]));
    let log = String::from_utf8_lossy(&ws.read(".ferry/sync.log").unwrap_or_default()).into_owned();
    assert!(
        !log.contains("not synced:"),
        "symlinks: ignore is quiet: {log}"
    );
}

/// While `ferry sync` runs: a link made locally arrives in the container through the
/// local watcher, one made in the container (busybox: polling; debian image with
/// inotifywait: its events) arrives locally, a retargeted link follows, a link turned
/// into a file follows, and an outside link made on either side stays where it is.
async fn live(image: &str, ns: &str) {
    let env = Env::start(ns, Exec::V5).await;
    env.pod(&sync_pod("web", image)).await;
    let kubeconfig = env.cluster.kubeconfig();
    let ws = Workspace::new();
    ws.write("src/f", "file\n");
    ws.devspace("web", &env.ns, "src", "/app", "");
    let sync = ws.sync(&kubeconfig);
    ws.wait_watching(&kubeconfig, std::time::Duration::from_secs(120));
    let wait = std::time::Duration::from_secs(60);
    std::os::unix::fs::symlink("f", ws.path("src/local_link")).unwrap();
    std::os::unix::fs::symlink("/etc", ws.path("src/local_out")).unwrap();
    env.wait_for("the local link in the container", wait, || async {
        env.sh_status(
            "web",
            "test -L /app/local_link && test \"$(cat /app/local_link)\" = file",
        )
        .await
            == 0
    })
    .await;
    env.sh("web", "ln -s f /app/their_link; ln -s ../.. /app/their_out")
        .await;
    env.wait_for("the container's link locally", wait, || async {
        std::fs::read_link(ws.path("src/their_link")).is_ok_and(|t| t.as_os_str() == "f")
    })
    .await;
    // Retargeted there, turned into a file here.
    env.sh("web", "echo g > /app/g; ln -sfn g /app/their_link")
        .await;
    std::fs::remove_file(ws.path("src/local_link")).unwrap();
    ws.write("src/local_link", "now a file\n");
    env.wait_for("both changes on the other side", wait, || async {
        std::fs::read_link(ws.path("src/their_link")).is_ok_and(|t| t.as_os_str() == "g")
            && env
                .sh_status(
                    "web",
                    "test ! -L /app/local_link && test \"$(cat /app/local_link)\" = 'now a file'",
                )
                .await
                == 0
    })
    .await;
    assert_eq!(
        env.sh_status(
            "web",
            "test ! -e /app/local_out && test ! -L /app/local_out"
        )
        .await,
        0,
        "the local outside link stays local\n{}",
        sync.output()
    );
    assert!(
        std::fs::symlink_metadata(ws.path("src/their_out")).is_err(),
        "the container's outside link stays there\n{}",
        sync.output()
    );
    assert_eq!(
        std::fs::read(ws.path("src/g")).ok().as_deref(),
        Some(&b"g\n"[..])
    );
}

#[tokio::test]
async fn live_links_busybox_polling() {
    live("busybox", "links-live-bb").await;
}

#[tokio::test]
async fn live_links_debian_inotify() {
    live("debian:inotify", "links-live-deb").await;
}

/// A replaced pod whose image holds links and folders where the workspace has files and
/// links (a container ferry does not recognise): no local file, link or folder is
/// replaced or deleted, nothing lands through a local link (`ld` points to the local
/// folder `d`, where the image's `ld/z` must never appear), and the new pod gets the local
/// versions where it can; the image's versions it replaces are kept in the trash.
#[tokio::test]
async fn a_replaced_pod_whose_image_holds_links_loses_nothing_local() {
    use engine_support::{image_pod, labelled};
    let env = Env::start("links-replaced", Exec::V5).await;
    env.pod(&image_pod("web-a", "busybox", "web", &[])).await;
    let kubeconfig = env.cluster.kubeconfig();
    let ws = Workspace::new();
    ws.write("src/f", "file\n");
    ws.write("src/x", "local x\n");
    ws.write("src/d/y", "in d\n");
    std::os::unix::fs::symlink("f", ws.path("src/lf")).unwrap();
    std::os::unix::fs::symlink("d", ws.path("src/ld")).unwrap();
    ws.devspace("web", &env.ns, "src", "/app", "");
    let out = ws.sync_once(&kubeconfig);
    assert!(out.status.success(), "{}", text(&out));
    let before = src_tree(&ws);

    env.delete_pod("web-a").await;
    let image = "mkdir -p /app/ld && echo image > /app/ld/z && echo image-lf > /app/lf \
                 && ln -s f /app/x && echo image-f > /app/f; \
                 trap 'exit 0' TERM; while true; do sleep 1; done";
    env.pod(&labelled(
        ferry_testkit::PodBuilder::new("web-b", "busybox").command(&["sh", "-c", image]),
        "web",
    ))
    .await;
    let out = ws.sync_once(&kubeconfig);
    let printed = text(&out);
    let after = src_tree(&ws);
    for (p, item) in &before {
        assert_eq!(
            after.get(p).map(|i| (i.kind, &i.content)),
            Some((item.kind, &item.content)),
            "local {p} is as it was\n{printed}"
        );
    }
    assert!(
        !ws.path("src/d/z").exists(),
        "nothing landed through the local link ld\n{printed}"
    );
    // Where the image and the workspace differ, nothing is replaced on either side: each
    // path is a problem for the user to decide (the container's versions stay there).
    let remote = remote_tree(&env, "web-b", "/app", FERRY_STATE).await;
    let got = |p: &str| remote.get(p).map(|i| (i.kind, i.content.clone()));
    assert_eq!(got("x"), Some(('l', b"f".to_vec())), "{printed}");
    assert_eq!(got("lf"), Some(('f', b"image-lf\n".to_vec())), "{printed}");
    assert_eq!(got("ld/z"), Some(('f', b"image\n".to_vec())), "{printed}");
    let status = ws.status(&kubeconfig);
    let problems: Vec<String> = engine_support::problems(&status)
        .iter()
        .filter_map(|p| p["path"].as_str().map(String::from))
        .collect();
    for p in ["x", "lf"] {
        assert!(
            problems.iter().any(|q| q == p),
            "{p} is reported: {problems:?}\n{printed}"
        );
    }
}

/// `symlinks: follow`: a local tree with an inside file link, an inside folder link, a
/// link to `../x` (a folder beside the sync folder, outside it), an absolute link to a
/// small folder the test owns (not `/etc`: it is large and holds files only root can
/// read), a dangling link and a loop (`sub/loop` → `..`, its own ancestor). The container
/// gets regular files and folders with the targets' content, mode and mtime at the
/// followable links' paths and nothing at the other two, which the sync log warns
/// about; nothing local changes, outside targets and decoys included. Then container
/// edits below followed folders and a container link there are not downloaded, neither
/// by a second `--once` nor by a running `ferry sync` (which does download a plain
/// file, uploads a link made while it runs as its target's content, replaces that copy
/// when the link is retargeted and deletes it when the link goes, sends a file made in a
/// target inside the folder to the link's path too, and an edit inside an outside target
/// on `ferry resync`).
async fn follow(image: &str, ns: &str) {
    use std::os::unix::fs::symlink;
    let env = Env::start(ns, Exec::V5).await;
    env.pod(&sync_pod("web", image)).await;
    let kubeconfig = env.cluster.kubeconfig();
    let ws = Workspace::new();
    let abs = tempfile::Builder::new()
        .prefix("ferry-follow-abs.")
        .tempdir()
        .unwrap();
    let abs_tree = || engine_support::local_tree(abs.path(), &[]);
    std::fs::create_dir_all(abs.path().join("in")).unwrap();
    std::fs::write(abs.path().join("a.txt"), "absolute\n").unwrap();
    std::fs::write(abs.path().join("in/b.txt"), "absolute b\n").unwrap();
    ws.write("src/f", "file\n");
    ws.write("src/d/x", "in d\n");
    ws.write("src/sub/keep", "keep\n");
    ws.write("x/o", "outside\n");
    ws.write("x/deep/p", "deep outside\n");
    ws.write("decoy/secret", "local decoy\n");
    std::fs::set_permissions(
        ws.path("src/f"),
        std::os::unix::fs::PermissionsExt::from_mode(0o640),
    )
    .unwrap();
    for (p, t) in [
        ("lf", "f".to_string()),
        ("ld", "d".to_string()),
        ("out", "../x".to_string()),
        ("abs", abs.path().display().to_string()),
        ("dang", "nothing-here".to_string()),
        ("sub/loop", "..".to_string()),
    ] {
        symlink(t, ws.path(&format!("src/{p}"))).unwrap();
    }
    ws.devspace("web", &env.ns, "src", "/app", "");
    ws.write("ferry.yaml", "dev:\n  web:\n    symlinks: follow\n");
    env.sh(
        "web",
        "mkdir -p /app /decoy && echo theirs > /app/c_file && ln -s /etc /app/c_link \
         && echo container decoy > /decoy/secret",
    )
    .await;
    let decoys = Decoys::read(&env, &ws).await;
    let local_before = ws.tree(&[".ferry"]);
    let abs_before = abs_tree();

    let (_, remote, out) = sync_round(&env, &ws, &kubeconfig).await;
    let got = |tree: &Manifest, p: &str| tree.get(p).map(|i| (i.kind, i.content.clone()));
    let file = |s: &str| Some(('f', s.as_bytes().to_vec()));
    let dir = Some(('d', Vec::new()));
    for (p, want) in [
        ("f", file("file\n")),
        ("lf", file("file\n")),
        ("d/x", file("in d\n")),
        ("ld", dir.clone()),
        ("ld/x", file("in d\n")),
        ("out", dir.clone()),
        ("out/o", file("outside\n")),
        ("out/deep/p", file("deep outside\n")),
        ("abs", dir.clone()),
        ("abs/a.txt", file("absolute\n")),
        ("abs/in/b.txt", file("absolute b\n")),
        ("sub", dir.clone()),
        ("sub/keep", file("keep\n")),
        ("c_file", file("theirs\n")),
        ("c_link", Some(('l', b"/etc".to_vec()))),
    ] {
        assert_eq!(got(&remote, p), want, "container {p}\n{out}");
    }
    for p in ["dang", "sub/loop"] {
        assert!(
            !remote.contains_key(p),
            "nothing at {p} in the container\n{out}"
        );
    }
    assert_eq!(
        links(&remote),
        pairs(&[("c_link", "/etc")]),
        "the only link in the container is its own\n{out}"
    );
    // The copy has the target's mode and mtime.
    let f = &local_before["src/f"];
    assert_eq!(
        (remote["lf"].mode, remote["lf"].mtime),
        (f.mode, f.mtime),
        "{out}"
    );
    let x = &local_before["x"];
    assert_eq!(remote["out"].mtime, x.mtime, "{out}");
    // Nothing local changed (the sync folder, the outside target, the decoys, the
    // absolute target) but the container's plain file that came down; its link did not.
    let local_after = ws.tree(&[".ferry"]);
    let mut local_before = local_before;
    let c_file = local_after.get("src/c_file").cloned();
    assert_eq!(
        c_file.as_ref().map(|i| i.content.as_slice()),
        Some(&b"theirs\n"[..])
    );
    local_before.insert("src/c_file".into(), c_file.unwrap());
    engine_support::assert_tree("the local workspace", &local_before, &local_after, &out);
    assert_eq!(abs_tree(), abs_before, "the absolute target");
    decoys.unchanged(&env, &ws).await;
    let log = String::from_utf8_lossy(&ws.read(".ferry/sync.log").unwrap_or_default()).into_owned();
    for p in ["dang", "sub/loop"] {
        assert!(
            log.lines()
                .any(|l| l.contains("WARN") && l.contains(&format!("not synced: local {p}:"))),
            "no warning for {p} in the sync log:\n{log}"
        );
    }

    // The container edits below followed folders and puts a link there: none of it
    // comes down, by an initial sync…
    env.sh(
        "web",
        "sleep 1; echo hacked > /app/out/o && echo new > /app/out/new && rm /app/ld/x \
         && echo hacked > /app/lf && ln -s /etc /app/abs/evil && mkdir /app/out/deep/more",
    )
    .await;
    let (_, remote, out) = sync_round(&env, &ws, &kubeconfig).await;
    engine_support::assert_tree(
        "the local workspace",
        &local_before,
        &ws.tree(&[".ferry"]),
        &out,
    );
    assert_eq!(abs_tree(), abs_before, "the absolute target");
    assert_eq!(
        got(&remote, "out/o"),
        file("hacked\n"),
        "left as it is there\n{out}"
    );
    assert_eq!(
        got(&remote, "abs/evil"),
        Some(('l', b"/etc".to_vec())),
        "{out}"
    );
    assert_eq!(
        got(&remote, "c_link"),
        Some(('l', b"/etc".to_vec())),
        "{out}"
    );
    decoys.unchanged(&env, &ws).await;

    // …nor while `ferry sync` runs, which does download a plain file, and uploads a link
    // made meanwhile as what it points to.
    let sync = ws.sync(&kubeconfig);
    ws.wait_watching_by(&kubeconfig, &sync, std::time::Duration::from_secs(120));
    let wait = std::time::Duration::from_secs(60);
    env.sh(
        "web",
        "echo again > /app/out/o; echo more > /app/ld/y; echo hacked > /app/abs/a.txt; \
         ln -s /etc /app/ld/evil; sleep 1; echo plain > /app/plain",
    )
    .await;
    env.wait_for("the container's plain file locally", wait, || async {
        ws.read("src/plain").as_deref() == Some(&b"plain\n"[..])
    })
    .await;
    symlink("../x/deep", ws.path("src/live")).unwrap();
    env.wait_for("the new link's target in the container", wait, || async {
        env.sh_status(
            "web",
            "test -d /app/live && test ! -L /app/live && test \"$(cat /app/live/p)\" = 'deep outside'",
        )
        .await
            == 0
    })
    .await;
    // Retargeted, the container's copy becomes the new target's; removed, it goes.
    std::fs::remove_file(ws.path("src/live")).unwrap();
    symlink("d", ws.path("src/live")).unwrap();
    env.wait_for(
        "the retargeted link's content in the container",
        wait,
        || async {
            env.sh_status(
                "web",
                "test \"$(cat /app/live/x)\" = 'in d' && test ! -e /app/live/p",
            )
            .await
                == 0
        },
    )
    .await;
    symlink("f", ws.path("src/gone")).unwrap();
    env.wait_for("a second new link in the container", wait, || async {
        env.sh_status("web", "test -f /app/gone").await == 0
    })
    .await;
    std::fs::remove_file(ws.path("src/gone")).unwrap();
    env.wait_for("the removed link's copy gone", wait, || async {
        env.sh_status("web", "test ! -e /app/gone").await == 0
    })
    .await;
    // A file made in a target inside the folder arrives at both paths.
    ws.write("src/d/z", "z\n");
    env.wait_for(
        "the new file at the target's and the link's path",
        wait,
        || async {
            env.sh_status(
                "web",
                "test \"$(cat /app/d/z)\" = z && test \"$(cat /app/ld/z)\" = z",
            )
            .await
                == 0
        },
    )
    .await;
    // An edit inside an outside target is not seen by the watcher; a resync sends it.
    ws.write("x/deep/p", "deep outside, edited\n");
    let resync = ws.ferry(&kubeconfig, &["resync"]);
    assert!(resync.status.success(), "{}", text(&resync));
    env.wait_for(
        "the edit inside the target after a resync",
        wait,
        || async {
            env.sh_status(
                "web",
                "test \"$(cat /app/out/deep/p)\" = 'deep outside, edited'",
            )
            .await
                == 0
        },
    )
    .await;
    let mut expected = local_before.clone();
    let after = ws.tree(&[".ferry"]);
    for p in ["src/plain", "src/live", "x/deep/p", "src/d", "src/d/z"] {
        expected.insert(p.into(), after[p].clone());
    }
    engine_support::assert_tree("the local workspace", &expected, &after, &sync.output());
    assert_eq!(
        (after["src/live"].kind, after["src/live"].content.as_slice()),
        ('l', &b"d"[..])
    );
    assert_eq!(abs_tree(), abs_before, "the absolute target");
    decoys.unchanged(&env, &ws).await;
    let remote = remote_tree(&env, "web", "/app", FERRY_STATE).await;
    assert_eq!(got(&remote, "ld/evil"), Some(('l', b"/etc".to_vec())));
    assert_eq!(got(&remote, "c_link"), Some(('l', b"/etc".to_vec())));
}

#[tokio::test]
async fn follow_copies_link_targets_one_way_busybox() {
    follow("busybox", "follow-bb").await;
}

#[tokio::test]
async fn follow_copies_link_targets_one_way_debian() {
    follow("debian", "follow-deb").await;
}
