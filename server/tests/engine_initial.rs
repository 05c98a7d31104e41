//! The engine's acceptance criteria for the initial sync and the excludes, end to end
//! through the `ferry` binary against the local test cluster:
//!
//! 1. every `initialSync` strategy (and the default, `merge`) on the same prepared pair of
//!    sides, via `ferry sync --once`: exactly what the table in `core::initial` says —
//!    what is downloaded, uploaded, deleted and kept, the counters, the reported problems;
//! 2. the initial sync with the three exclude kinds (merge and both mirrors);
//! 3. the three exclude kinds during continuous sync, both directions: creations,
//!    modifications and deletions (an upload-excluded local deletion never deletes the
//!    container's copy, devspace#1630), on busybox over exec v5 and on debian over v4;
//! 4. a 5 MB file rewritten again and again while it is being uploaded ends up identical
//!    on both sides.
//!
//! "Never arrives" is proven with barriers, not sleeps: after the change under test, a
//! marker file is written on the same side, twice in a row; once the second marker has
//! arrived on the other side, every batch that could have carried the excluded change has
//! been carried out.

mod engine_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use engine_support::{
    assert_same, local_manifest, noise, remote_manifest, sync_pod, Env, Exec, Manifest, Workspace,
};

const WAIT: Duration = Duration::from_secs(60);

const T_OLD: i64 = 1_600_000_000;
const T_NEW: i64 = 1_700_000_000;
const T_EQUAL: i64 = 1_650_000_000;
const T_LOCAL_ONLY: i64 = 1_610_000_000;
const T_REMOTE_ONLY: i64 = 1_620_000_000;
const T_SAME: i64 = 1_630_000_000;

fn set_mtime(path: &Path, secs: i64) {
    filetime::set_file_mtime(path, filetime::FileTime::from_unix_time(secs, 0)).unwrap();
}

/// Writes `content` to `path` (absolute) in `pod`, creating folders; with `mtime`, sets
/// the file's modification time (seconds).
async fn put_remote(env: &Env, pod: &str, path: &str, content: &str, mtime: Option<i64>) {
    let script = "mkdir -p \"$(dirname \"$1\")\" && cat > \"$1\" \
                  && if [ -n \"$2\" ]; then touch -d \"@$2\" \"$1\"; fi";
    let m = mtime.map(|t| t.to_string()).unwrap_or_default();
    let out = env
        .control
        .run(
            &env.ns,
            pod,
            &["sh", "-c", script, "sh", path, &m],
            content.as_bytes(),
        )
        .await
        .expect("control run");
    assert_eq!(
        out.exit_code, 0,
        "writing {path} in {pod} failed: {}",
        out.stderr
    );
}

/// Writes `rel` in the workspace with `content`, and its mtime if given.
fn put_local(ws: &Workspace, rel: &str, content: &str, mtime: Option<i64>) {
    ws.write(rel, content);
    if let Some(t) = mtime {
        set_mtime(&ws.path(rel), t);
    }
}

/// What a side holds at a path, as compared here: a folder, or a file's content and
/// (when known) its mtime in seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Held {
    Dir,
    File(String, Option<i64>),
}

/// A manifest reduced to [`Held`]; mtimes kept when `with_mtime`.
fn held(m: &Manifest, with_mtime: bool) -> BTreeMap<String, Held> {
    m.iter()
        .map(|(p, i)| {
            let h = match i.kind {
                'd' => Held::Dir,
                'f' => Held::File(
                    String::from_utf8_lossy(&i.content).into_owned(),
                    with_mtime.then_some(i.mtime),
                ),
                k => Held::File(format!("<kind {k}>"), None),
            };
            (p.clone(), h)
        })
        .collect()
}

/// The expected holdings from `files` (path → content, mtime), with every parent folder.
fn expected(files: &[(String, String, Option<i64>)]) -> BTreeMap<String, Held> {
    let mut out = BTreeMap::new();
    for (path, content, mtime) in files {
        let mut parent = Path::new(path).parent();
        while let Some(p) = parent {
            if p.as_os_str().is_empty() {
                break;
            }
            out.insert(p.to_string_lossy().into_owned(), Held::Dir);
            parent = p.parent();
        }
        out.insert(path.clone(), Held::File(content.clone(), *mtime));
    }
    out
}

/// The `ferry: PATH (KIND): …` problem lines `ferry sync --once` printed on stderr.
fn problem_lines(stderr: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = stderr
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("ferry: ")?;
            let (head, _) = rest.split_once("): ")?;
            let (path, kind) = head.rsplit_once(" (")?;
            Some((path.to_string(), kind.to_string()))
        })
        .collect();
    out.sort();
    out
}

fn text(out: &std::process::Output) -> String {
    format!(
        "--- exit {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Which original version a side ends up with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Has {
    /// The local side's original version.
    L,
    /// The container's original version.
    R,
    /// Nothing.
    No,
}

/// One prepared path: the original version on each side (content, mtime).
struct Prepared {
    path: &'static str,
    local: Option<(String, i64)>,
    remote: Option<(String, i64)>,
}

impl Prepared {
    fn version(&self, has: Has) -> Option<&(String, i64)> {
        match has {
            Has::L => Some(self.local.as_ref().expect("a local version")),
            Has::R => Some(self.remote.as_ref().expect("a remote version")),
            Has::No => None,
        }
    }
}

/// One `ferry sync --once` run on a prepared pair of sides and what it must leave.
struct OnceCase {
    /// Workspace name; also the container folder `/app/<name>`.
    name: &'static str,
    /// Extra config lines of the sync entry (`initialSync`, excludes).
    config: String,
    prepared: Vec<Prepared>,
    /// Per prepared path (same order): what the local side and the container hold after.
    after: Vec<(Has, Has)>,
    /// Files uploaded, downloaded, paths deleted (the status counters).
    counts: (u64, u64, u64),
    /// The problems reported on stderr: (path, kind), sorted.
    problems: Vec<(&'static str, &'static str)>,
}

/// Runs one case in pod `pod` and asserts everything it promises.
async fn run_once_case(env: &Env, pod: &str, case: &OnceCase) {
    let kubeconfig = env.cluster.kubeconfig();
    let root = format!("/app/{}", case.name);
    env.sh(pod, &format!("mkdir -p {root}")).await;
    let ws = Workspace::new();
    ws.devspace(pod, &env.ns, "src", &root, &case.config);
    std::fs::create_dir_all(ws.path("src")).unwrap();
    for p in &case.prepared {
        if let Some((c, t)) = &p.local {
            put_local(&ws, &format!("src/{}", p.path), c, Some(*t));
        }
        if let Some((c, t)) = &p.remote {
            put_remote(env, pod, &format!("{root}/{}", p.path), c, Some(*t)).await;
        }
    }
    let before_local = held(&ws.manifest("src"), true);
    let before_remote = held(&remote_manifest(env, pod, &root).await, true);

    let out = ws.sync_once(&kubeconfig);
    let what = format!("[{}] {}", case.name, text(&out));
    assert!(out.status.success(), "ferry sync --once succeeds: {what}");

    // Exactly the expected files on each side, with the winner's content and mtime.
    let mut want_local = Vec::new();
    let mut want_remote = Vec::new();
    assert_eq!(case.prepared.len(), case.after.len(), "{}", case.name);
    for (p, (l, r)) in case.prepared.iter().zip(&case.after) {
        if let Some((c, t)) = p.version(*l) {
            want_local.push((p.path.to_string(), c.clone(), Some(*t)));
        }
        if let Some((c, t)) = p.version(*r) {
            want_remote.push((p.path.to_string(), c.clone(), Some(*t)));
        }
    }
    let got_local = held(&ws.manifest("src"), true);
    let got_remote = held(&remote_manifest(env, pod, &root).await, true);
    assert_eq!(
        got_local,
        expected(&want_local),
        "[{}] the local side after the initial sync (before: {before_local:?})\n{what}",
        case.name
    );
    assert_eq!(
        got_remote,
        expected(&want_remote),
        "[{}] the container after the initial sync (before: {before_remote:?})\n{what}",
        case.name
    );

    // The counters of the run.
    let status = ws.status(&kubeconfig);
    let path = &status["report"]["paths"][0];
    let counts = (
        path["uploaded"].as_u64().unwrap_or(u64::MAX),
        path["downloaded"].as_u64().unwrap_or(u64::MAX),
        path["deleted"].as_u64().unwrap_or(u64::MAX),
    );
    assert_eq!(
        counts, case.counts,
        "[{}] (uploaded, downloaded, deleted): {status}\n{what}",
        case.name
    );

    // The problems listed on stderr (the exit code stays 0 for them).
    let stderr = String::from_utf8_lossy(&out.stderr);
    let want: Vec<(String, String)> = case
        .problems
        .iter()
        .map(|(p, k)| (p.to_string(), k.to_string()))
        .collect();
    assert_eq!(
        problem_lines(&stderr),
        want,
        "[{}] problems on stderr\n{what}",
        case.name
    );
}

/// The kinds of path of the strategy table (file ↔ folder aside), and an equal file.
fn table_sides() -> Vec<Prepared> {
    let v = |c: &str, t: i64| Some((c.to_string(), t));
    vec![
        Prepared {
            path: "only-local.txt",
            local: v("only local\n", T_LOCAL_ONLY),
            remote: None,
        },
        Prepared {
            path: "only-remote.txt",
            local: None,
            remote: v("only remote\n", T_REMOTE_ONLY),
        },
        Prepared {
            path: "local-newer.txt",
            local: v("local version, newer\n", T_NEW),
            remote: v("remote version, older\n", T_OLD),
        },
        Prepared {
            path: "remote-newer.txt",
            local: v("local version, older\n", T_OLD),
            remote: v("remote version, newer\n", T_NEW),
        },
        Prepared {
            path: "same-time.txt",
            local: v("same mtime, local content\n", T_SAME),
            remote: v("same mtime, remote\n", T_SAME),
        },
        Prepared {
            path: "equal.txt",
            local: v("equal on both sides\n", T_EQUAL),
            remote: v("equal on both sides\n", T_EQUAL),
        },
    ]
}

/// Each strategy of the table in `server/src/core/initial.rs` (no index: a first start).
fn strategy_cases() -> Vec<OnceCase> {
    use Has::{No, L, R};
    let strategy = |s: &str| format!("      initialSync: {s}");
    // Per path: only-local, only-remote, local-newer, remote-newer, same mtime with
    // other content; then equal.
    let case = |name: &'static str,
                config: String,
                after: [(Has, Has); 5],
                counts: (u64, u64, u64),
                problems: Vec<(&'static str, &'static str)>| {
        let mut after = after.to_vec();
        after.push((L, L)); // equal: recorded, untouched on both sides
        OnceCase {
            name,
            config,
            prepared: table_sides(),
            after,
            counts,
            problems,
        }
    };
    vec![
        // merge: upload, download, upload, nothing (reported), conflict; equal: record.
        case(
            "default",
            String::new(),
            [(L, L), (R, R), (L, L), (L, R), (L, R)],
            (2, 1, 0),
            vec![
                ("remote-newer.txt", "remoteNewer"),
                ("same-time.txt", "conflict"),
            ],
        ),
        case(
            "merge",
            strategy("merge"),
            [(L, L), (R, R), (L, L), (L, R), (L, R)],
            (2, 1, 0),
            vec![
                ("remote-newer.txt", "remoteNewer"),
                ("same-time.txt", "conflict"),
            ],
        ),
        // mirrorLocal: upload, delete remote, upload, upload, upload.
        case(
            "mirror-local",
            strategy("mirrorLocal"),
            [(L, L), (No, No), (L, L), (L, L), (L, L)],
            (4, 0, 1),
            vec![],
        ),
        // preferLocal: upload, download, upload, upload, upload.
        case(
            "prefer-local",
            strategy("preferLocal"),
            [(L, L), (R, R), (L, L), (L, L), (L, L)],
            (4, 1, 0),
            vec![],
        ),
        // preferRemote: upload, download, download, download, download.
        case(
            "prefer-remote",
            strategy("preferRemote"),
            [(L, L), (R, R), (R, R), (R, R), (R, R)],
            (1, 4, 0),
            vec![],
        ),
        // preferNewest: upload, download, upload, download, conflict.
        case(
            "prefer-newest",
            strategy("preferNewest"),
            [(L, L), (R, R), (L, L), (R, R), (L, R)],
            (2, 2, 0),
            vec![("same-time.txt", "conflict")],
        ),
        // mirrorRemote: delete local, download, download, download, download.
        case(
            "mirror-remote",
            strategy("mirrorRemote"),
            [(No, No), (R, R), (R, R), (R, R), (R, R)],
            (0, 4, 1),
            vec![],
        ),
        // keepAll: upload, download, then conflicts that keep both sides as they are.
        case(
            "keep-all",
            strategy("keepAll"),
            [(L, L), (R, R), (L, R), (L, R), (L, R)],
            (1, 1, 0),
            vec![
                ("local-newer.txt", "conflict"),
                ("remote-newer.txt", "conflict"),
                ("same-time.txt", "conflict"),
            ],
        ),
        // disabled: nothing at all.
        case(
            "disabled",
            strategy("disabled"),
            [(L, No), (No, R), (L, R), (L, R), (L, R)],
            (0, 0, 0),
            vec![],
        ),
    ]
}

const EXCLUDES: &str = "      excludePaths: [\"*.both\", \"cache/\"]\n      \
                        uploadExcludePaths: [\"*.up\"]\n      \
                        downloadExcludePaths: [\"*.down\"]";

/// Paths for the initial sync with excludes.
fn exclude_sides() -> Vec<Prepared> {
    let l = |p: &str, t: i64| Some((format!("{p}: local\n"), t));
    let r = |p: &str, t: i64| Some((format!("{p}: remote\n"), t));
    let one_local = |p: &'static str| Prepared {
        path: p,
        local: l(p, T_LOCAL_ONLY),
        remote: None,
    };
    let one_remote = |p: &'static str| Prepared {
        path: p,
        local: None,
        remote: r(p, T_REMOTE_ONLY),
    };
    vec![
        one_local("a.up"),
        one_remote("b.up"),
        one_local("c.down"),
        one_remote("d.down"),
        one_local("e.both"),
        one_remote("f.both"),
        Prepared {
            path: "g.both",
            local: l("g.both", T_NEW),
            remote: r("g.both", T_OLD),
        },
        one_local("cache/l.txt"),
        one_remote("cache/r.txt"),
        Prepared {
            path: "h.up",
            local: l("h.up", T_NEW),
            remote: r("h.up", T_OLD),
        },
        Prepared {
            path: "i.down",
            local: l("i.down", T_OLD),
            remote: r("i.down", T_NEW),
        },
    ]
}

/// The initial sync with excludes: merge and the two mirrors (footnote ¹ of the table).
fn exclude_cases() -> Vec<OnceCase> {
    use Has::{No, L, R};
    let with = |s: &str| format!("      initialSync: {s}\n{EXCLUDES}");
    // a.up, b.up, c.down, d.down, e.both, f.both, g.both, cache/l.txt, cache/r.txt,
    // h.up (local newer), i.down (remote newer)
    vec![
        OnceCase {
            name: "ex-merge",
            config: with("merge"),
            prepared: exclude_sides(),
            after: vec![
                (L, No), // upload-excluded: not uploaded
                (R, R),  // upload-excluded: still downloaded
                (L, L),  // download-excluded: still uploaded
                (No, R), // download-excluded: not downloaded
                (L, No), // excluded both ways: left alone
                (No, R),
                (L, R),
                (L, No),
                (No, R),
                (L, R), // newer locally, but may not go up
                (L, R), // newer remotely, may not come down (and is not reported)
            ],
            counts: (1, 1, 0),
            problems: vec![],
        },
        OnceCase {
            name: "ex-mirror-local",
            config: with("mirrorLocal"),
            prepared: exclude_sides(),
            after: vec![
                (L, No), // may not go up
                (R, R),  // remote-only but upload-excluded: downloaded, not deleted
                (L, L),
                (No, No), // remote-only, download-excluded: deleted (devspace#1578)
                (L, No),  // excluded both ways: neither uploaded nor deleted
                (No, R),
                (L, R),
                (L, No),
                (No, R),
                (L, R), // local wins but may not go up
                (L, L), // local wins: uploaded
            ],
            counts: (2, 1, 1),
            problems: vec![],
        },
        OnceCase {
            name: "ex-mirror-remote",
            config: with("mirrorRemote"),
            prepared: exclude_sides(),
            after: vec![
                (No, No), // local-only, upload-excluded: deleted locally
                (R, R),
                (L, L),  // local-only but download-excluded: uploaded, not deleted
                (No, R), // may not come down
                (L, No),
                (No, R),
                (L, R),
                (L, No),
                (No, R),
                (R, R), // remote wins: downloaded
                (L, R), // remote wins but may not come down
            ],
            counts: (1, 2, 1),
            problems: vec![],
        },
    ]
}

/// Criterion 1 and the initial half of 2: every strategy, then excludes, on busybox
/// over exec v5 (one pod, one container folder per case).
#[tokio::test]
async fn initial_sync_strategies_and_excludes_busybox_v5() {
    let env = Env::start("initial", Exec::V5).await;
    env.pod(&sync_pod("st", "busybox")).await;
    for case in strategy_cases().iter().chain(exclude_cases().iter()) {
        run_once_case(&env, "st", case).await;
    }
    env.assert_protocol("st").await;
}

/// Makes sure every local change made before this call has been carried out: two
/// markers, one after the other, must reach the container.
async fn local_barrier(env: &Env, ws: &Workspace, pod: &str, n: &mut u32) {
    for _ in 0..2 {
        *n += 1;
        let name = format!("barrier-l-{n}.txt");
        let content = format!("local marker {n}\n");
        ws.write(&format!("src/{name}"), &content);
        let path = format!("/app/{name}");
        env.wait_for(&format!("local marker {n} in the container"), WAIT, || {
            let (path, content) = (path.clone(), content.clone());
            async move { env.read(pod, &path).await.as_deref() == Some(content.as_bytes()) }
        })
        .await;
    }
}

/// The same for changes made in the container.
async fn remote_barrier(env: &Env, ws: &Workspace, pod: &str, n: &mut u32) {
    for _ in 0..2 {
        *n += 1;
        let name = format!("barrier-r-{n}.txt");
        let content = format!("remote marker {n}\n");
        put_remote(env, pod, &format!("/app/{name}"), &content, None).await;
        let rel = format!("src/{name}");
        env.wait_for(&format!("remote marker {n} locally"), WAIT, || {
            let got = ws.read(&rel);
            let want = content.clone();
            async move { got.as_deref() == Some(want.as_bytes()) }
        })
        .await;
    }
}

/// Asserts what the container holds at `/app/<rel>` (`None`: nothing).
async fn assert_remote(env: &Env, pod: &str, rel: &str, want: Option<&str>, why: &str) {
    let got = env.read(pod, &format!("/app/{rel}")).await;
    let got = got.map(|b| String::from_utf8_lossy(&b).into_owned());
    let exists = env.sh_status(pod, &format!("test -e /app/{rel}")).await == 0;
    assert_eq!(
        (got.as_deref(), exists),
        (want, want.is_some()),
        "container /app/{rel}: {why}"
    );
}

/// Asserts what the local side holds at `src/<rel>` (`None`: nothing).
fn assert_local(ws: &Workspace, rel: &str, want: Option<&str>, why: &str) {
    let p = format!("src/{rel}");
    let got = ws
        .read(&p)
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    assert_eq!(
        (got.as_deref(), ws.path(&p).exists()),
        (want, want.is_some()),
        "local {p}: {why}"
    );
}

const LIVE_EXCLUDES: &str = "      excludePaths: [\"*.both\", \"both-dir/\"]\n      \
                             uploadExcludePaths: [\"*.up\", \"up-dir/\"]\n      \
                             downloadExcludePaths: [\"*.down\", \"down-dir/\"]";

/// Criterion 2 (and 4 with debian over v4): the three exclude kinds during continuous
/// sync, creations, modifications and deletions both ways.
async fn live_excludes(image: &str, exec: Exec) {
    let env = Env::start("excl", exec).await;
    let pod = "web";
    env.pod(&sync_pod(pod, image)).await;
    let kubeconfig = env.cluster.kubeconfig();
    let ws = Workspace::new();
    ws.devspace(pod, &env.ns, "src", "/app", LIVE_EXCLUDES);

    // Local side before the start.
    for (rel, c) in [
        ("mod.down", "mod.down local v1\n"),
        ("del.down", "del.down local v1\n"),
        ("ul.down", "ul.down local v1\n"),
        ("ul2.down", "ul2.down local v1\n"),
        ("down-dir/keep.txt", "down-dir keep local\n"),
        ("l.both", "l.both local\n"),
        ("shared.both", "shared.both local\n"),
        ("shared2.both", "shared2.both local\n"),
        ("shared3.both", "shared3.both local\n"),
        // Folders deleted on one side that hold excluded files.
        ("bproj/c.txt", "bproj c local\n"),
        ("lproj/b.txt", "lproj b local\n"),
        ("lproj/y.both", "lproj y local\n"),
        ("dproj/e.txt", "dproj e local\n"),
        ("dproj/w.down", "dproj w local\n"),
    ] {
        ws.write(&format!("src/{rel}"), c);
    }
    // Container side before the start.
    for (rel, c) in [
        ("mod.up", "mod.up remote v1\n"),
        ("del.up", "del.up remote v1\n"),
        ("dl.up", "dl.up remote v1\n"),
        ("dl2.up", "dl2.up remote v1\n"),
        ("up-dir/keep.txt", "up-dir keep remote\n"),
        ("r.both", "r.both remote\n"),
        ("shared.both", "shared.both remote\n"),
        ("shared2.both", "shared2.both remote\n"),
        ("shared3.both", "shared3.both remote\n"),
        ("bproj/z.both", "bproj z remote\n"),
        ("uproj/a.txt", "uproj a remote\n"),
        ("uproj/x.up", "uproj x remote\n"),
    ] {
        put_remote(&env, pod, &format!("/app/{rel}"), c, None).await;
    }

    let mut sync = ws.sync(&kubeconfig);
    ws.wait_watching(&kubeconfig, WAIT);
    let mut n = 0;

    // The initial sync with excludes: upload-excluded files come down, download-excluded
    // ones go up, excluded-both-ways ones stay where they are.
    env.wait_for("the initial sync", WAIT, || async {
        ws.read("src/up-dir/keep.txt").as_deref() == Some(b"up-dir keep remote\n")
            && ws.read("src/dl2.up").is_some()
            && env.read(pod, "/app/down-dir/keep.txt").await.as_deref()
                == Some(b"down-dir keep local\n")
            && env.read(pod, "/app/ul2.down").await.is_some()
    })
    .await;
    for rel in ["mod.up", "del.up", "dl.up", "dl2.up"] {
        assert_local(
            &ws,
            rel,
            Some(&format!("{rel} remote v1\n")),
            "upload-excluded, still downloaded",
        );
    }
    for rel in ["mod.down", "del.down", "ul.down", "ul2.down"] {
        assert_remote(
            &env,
            pod,
            rel,
            Some(&format!("{rel} local v1\n")),
            "download-excluded, still uploaded",
        )
        .await;
    }
    assert_remote(&env, pod, "l.both", None, "excluded both ways").await;
    assert_local(&ws, "r.both", None, "excluded both ways");
    for rel in ["shared.both", "shared2.both", "shared3.both"] {
        assert_local(&ws, rel, Some(&format!("{rel} local\n")), "excluded");
        assert_remote(&env, pod, rel, Some(&format!("{rel} remote\n")), "excluded").await;
    }

    // Local creations and modifications.
    ws.write("src/new.up", "new.up local\n");
    ws.write("src/up-dir/new.txt", "up-dir new local\n");
    ws.write("src/mod.up", "mod.up local v2, longer\n");
    ws.write("src/new.both", "new.both local\n");
    ws.write("src/both-dir/x.txt", "both-dir x local\n");
    ws.write("src/shared.both", "shared.both local v2, longer\n");
    ws.write("src/ul.down", "ul.down local v2, longer\n");
    env.wait_for(
        "a download-excluded file's local change goes up",
        WAIT,
        || async {
            env.read(pod, "/app/ul.down").await.as_deref() == Some(b"ul.down local v2, longer\n")
        },
    )
    .await;
    local_barrier(&env, &ws, pod, &mut n).await;
    let o = || sync.output();
    assert_remote(
        &env,
        pod,
        "new.up",
        None,
        &format!("upload-excluded creation\n{}", o()),
    )
    .await;
    assert_remote(
        &env,
        pod,
        "up-dir/new.txt",
        None,
        "created in an upload-excluded folder",
    )
    .await;
    assert_remote(
        &env,
        pod,
        "mod.up",
        Some("mod.up remote v1\n"),
        &format!("upload-excluded modification\n{}", o()),
    )
    .await;
    assert_remote(&env, pod, "new.both", None, "excluded creation").await;
    assert_remote(&env, pod, "both-dir", None, "excluded folder").await;
    assert_remote(
        &env,
        pod,
        "shared.both",
        Some("shared.both remote\n"),
        "excluded modification",
    )
    .await;

    // Local deletions.
    std::fs::remove_file(ws.path("src/del.up")).unwrap();
    std::fs::remove_dir_all(ws.path("src/up-dir")).unwrap();
    std::fs::remove_file(ws.path("src/shared2.both")).unwrap();
    std::fs::remove_file(ws.path("src/ul2.down")).unwrap();
    std::fs::remove_dir_all(ws.path("src/bproj")).unwrap();
    std::fs::remove_dir_all(ws.path("src/uproj")).unwrap();
    env.wait_for(
        "a download-excluded file's local deletion goes up",
        WAIT,
        || async { env.sh_status(pod, "test ! -e /app/ul2.down").await == 0 },
    )
    .await;
    local_barrier(&env, &ws, pod, &mut n).await;
    assert_remote(
        &env,
        pod,
        "del.up",
        Some("del.up remote v1\n"),
        &format!("an upload-excluded local deletion (devspace#1630)\n{}", o()),
    )
    .await;
    assert_remote(
        &env,
        pod,
        "up-dir/keep.txt",
        Some("up-dir keep remote\n"),
        &format!("an upload-excluded local folder deletion\n{}", o()),
    )
    .await;
    assert_remote(
        &env,
        pod,
        "shared2.both",
        Some("shared2.both remote\n"),
        "an excluded local deletion",
    )
    .await;
    // A folder deleted locally: its synced files go in the container, the excluded
    // ones stay (with their folder).
    env.wait_for("the synced files of deleted folders", WAIT, || async {
        env.sh_status(
            pod,
            "test ! -e /app/bproj/c.txt && test ! -e /app/uproj/a.txt",
        )
        .await
            == 0
    })
    .await;
    assert_remote(
        &env,
        pod,
        "uproj/x.up",
        Some("uproj x remote\n"),
        &format!(
            "an upload-excluded file in a folder deleted locally\n{}",
            o()
        ),
    )
    .await;
    assert_remote(
        &env,
        pod,
        "bproj/z.both",
        Some("bproj z remote\n"),
        &format!(
            "an excluded container file in a folder deleted locally\n{}",
            o()
        ),
    )
    .await;

    // Container creations and modifications.
    env.sh(
        pod,
        "cd /app && echo 'new.down remote' > new.down && echo 'down-dir new remote' > down-dir/new.txt \
         && echo 'mod.down remote v2, longer' > mod.down && echo 'rnew.both remote' > rnew.both \
         && mkdir -p both-dir && echo 'both-dir y remote' > both-dir/y.txt \
         && echo 'shared.both remote v2, longer' > shared.both \
         && echo 'dl.up remote v2, longer' > dl.up",
    )
    .await;
    env.wait_for(
        "an upload-excluded file's remote change comes down",
        WAIT,
        || async { ws.read("src/dl.up").as_deref() == Some(b"dl.up remote v2, longer\n") },
    )
    .await;
    remote_barrier(&env, &ws, pod, &mut n).await;
    assert_local(
        &ws,
        "new.down",
        None,
        &format!("download-excluded creation\n{}", o()),
    );
    assert_local(
        &ws,
        "down-dir/new.txt",
        None,
        "created in a download-excluded folder",
    );
    assert_local(
        &ws,
        "mod.down",
        Some("mod.down local v1\n"),
        &format!("download-excluded modification\n{}", o()),
    );
    assert_local(&ws, "rnew.both", None, "excluded creation");
    assert_local(&ws, "both-dir/y.txt", None, "excluded folder");
    assert_local(
        &ws,
        "shared.both",
        Some("shared.both local v2, longer\n"),
        "excluded modification",
    );

    // Container deletions.
    env.sh(
        pod,
        "cd /app && rm del.down shared3.both dl2.up && rm -r down-dir lproj dproj",
    )
    .await;
    env.wait_for(
        "an upload-excluded file's remote deletion comes down",
        WAIT,
        || async { !ws.path("src/dl2.up").exists() },
    )
    .await;
    remote_barrier(&env, &ws, pod, &mut n).await;
    assert_local(
        &ws,
        "del.down",
        Some("del.down local v1\n"),
        &format!("a download-excluded remote deletion\n{}", o()),
    );
    assert_local(
        &ws,
        "down-dir/keep.txt",
        Some("down-dir keep local\n"),
        &format!("a download-excluded remote folder deletion\n{}", o()),
    );
    assert_local(
        &ws,
        "shared3.both",
        Some("shared3.both local\n"),
        "an excluded remote deletion",
    );
    env.wait_for(
        "the synced files of folders deleted in the container",
        WAIT,
        || async { !ws.path("src/lproj/b.txt").exists() && !ws.path("src/dproj/e.txt").exists() },
    )
    .await;
    assert_local(
        &ws,
        "dproj/w.down",
        Some("dproj w local\n"),
        &format!(
            "a download-excluded file in a folder deleted remotely\n{}",
            o()
        ),
    );
    assert_local(
        &ws,
        "lproj/y.both",
        Some("lproj y local\n"),
        &format!(
            "an excluded local file in a folder deleted remotely\n{}",
            o()
        ),
    );

    // Both sides exactly: nothing else moved (no conflict copies either).
    let mut local_files: Vec<(String, String, Option<i64>)> = [
        ("mod.up", "mod.up local v2, longer\n"),
        ("dl.up", "dl.up remote v2, longer\n"),
        ("new.up", "new.up local\n"),
        ("mod.down", "mod.down local v1\n"),
        ("ul.down", "ul.down local v2, longer\n"),
        ("del.down", "del.down local v1\n"),
        ("down-dir/keep.txt", "down-dir keep local\n"),
        ("l.both", "l.both local\n"),
        ("shared.both", "shared.both local v2, longer\n"),
        ("shared3.both", "shared3.both local\n"),
        ("new.both", "new.both local\n"),
        ("both-dir/x.txt", "both-dir x local\n"),
        ("lproj/y.both", "lproj y local\n"),
        ("dproj/w.down", "dproj w local\n"),
    ]
    .iter()
    .map(|(p, c)| (p.to_string(), c.to_string(), None))
    .collect();
    let mut remote_files: Vec<(String, String, Option<i64>)> = [
        ("mod.up", "mod.up remote v1\n"),
        ("dl.up", "dl.up remote v2, longer\n"),
        ("del.up", "del.up remote v1\n"),
        ("up-dir/keep.txt", "up-dir keep remote\n"),
        ("mod.down", "mod.down remote v2, longer\n"),
        ("ul.down", "ul.down local v2, longer\n"),
        ("new.down", "new.down remote\n"),
        ("r.both", "r.both remote\n"),
        ("shared.both", "shared.both remote v2, longer\n"),
        ("shared2.both", "shared2.both remote\n"),
        ("rnew.both", "rnew.both remote\n"),
        ("both-dir/y.txt", "both-dir y remote\n"),
        ("bproj/z.both", "bproj z remote\n"),
        ("uproj/x.up", "uproj x remote\n"),
    ]
    .iter()
    .map(|(p, c)| (p.to_string(), c.to_string(), None))
    .collect();
    for i in 1..=n {
        for files in [&mut local_files, &mut remote_files] {
            if i <= 4 {
                files.push((
                    format!("barrier-l-{i}.txt"),
                    format!("local marker {i}\n"),
                    None,
                ));
            } else {
                files.push((
                    format!("barrier-r-{i}.txt"),
                    format!("remote marker {i}\n"),
                    None,
                ));
            }
        }
    }
    let got_local = held(&local_manifest(&ws.path("src")), false);
    let got_remote = held(&remote_manifest(&env, pod, "/app").await, false);
    assert_eq!(got_local, expected(&local_files), "the local side\n{}", o());
    assert_eq!(
        got_remote,
        expected(&remote_files),
        "the container\n{}",
        o()
    );

    // The only problems left: the four folders deleted on one side and kept on the other
    // because they hold files excluded in some direction (each reported as a conflict:
    // the two sides differ there, and the user should know why).
    let status = ws.status(&kubeconfig);
    let problems: Vec<(String, String)> = status["report"]["paths"][0]["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| {
            let (path, kind) = (p["path"].as_str(), p["kind"].as_str());
            (
                path.unwrap_or("").to_string(),
                kind.unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        problems,
        ["bproj", "dproj", "lproj", "uproj"]
            .iter()
            .map(|p| (p.to_string(), "conflict".to_string()))
            .collect::<Vec<_>>(),
        "excluded paths are no problems (but a folder kept for them is said): {status}"
    );
    let st = sync.stop();
    assert!(
        st.success(),
        "ferry sync ends cleanly: {st}\n{}",
        sync.output()
    );

    // A restart: the initial sync against the persisted index (three-way) carries none
    // of the excluded differences over either (no deletion, no overwrite, no transfer).
    let out = ws.sync_once(&kubeconfig);
    assert!(out.status.success(), "the restart: {}", text(&out));
    let got_local = held(&local_manifest(&ws.path("src")), false);
    let got_remote = held(&remote_manifest(&env, pod, "/app").await, false);
    assert_eq!(
        got_local,
        expected(&local_files),
        "the local side after a restart\n{}",
        text(&out)
    );
    assert_eq!(
        got_remote,
        expected(&remote_files),
        "the container after a restart\n{}",
        text(&out)
    );
    let status = ws.status(&kubeconfig);
    let path = &status["report"]["paths"][0];
    assert_eq!(
        (&path["uploaded"], &path["downloaded"], &path["deleted"]),
        (
            &serde_json::json!(0),
            &serde_json::json!(0),
            &serde_json::json!(0)
        ),
        "the restart moves nothing: {status}\n{}",
        text(&out)
    );
    assert_eq!(
        problem_lines(&String::from_utf8_lossy(&out.stderr)),
        vec![],
        "the restart reports nothing: {}",
        text(&out)
    );
    env.assert_protocol(pod).await;
}

#[tokio::test]
async fn excludes_during_continuous_sync_busybox_v5() {
    live_excludes("busybox", Exec::V5).await;
}

#[tokio::test]
async fn excludes_during_continuous_sync_debian_v4() {
    live_excludes("debian", Exec::V4).await;
}

/// Criterion 3: a 5 MB file rewritten again and again while it is being uploaded (the
/// exec streams capped at 2 MB/s, so one upload takes seconds) ends up the same on both
/// sides.
#[tokio::test]
async fn file_rewritten_during_upload_converges_busybox_v5() {
    const SIZE: usize = 5 << 20;
    let env = Env::start("rewrite", Exec::V5).await;
    let pod = "big";
    env.pod(&sync_pod(pod, "busybox")).await;
    let kubeconfig = env.cluster.kubeconfig();
    let ws = Workspace::new();
    ws.devspace(pod, &env.ns, "src", "/app", "");
    ws.write("src/small.txt", "small\n");
    let mut sync = ws.sync(&kubeconfig);
    ws.wait_watching(&kubeconfig, WAIT);
    env.control
        .set_shaping(0, 2_000_000)
        .await
        .expect("shaping");

    let big = ws.path("src/big.bin");
    std::fs::write(&big, noise(0, SIZE)).unwrap();
    // Rewrite it in place (truncate + write) while the first upload runs, in varying
    // sizes, with a small pause so the engine sees several versions.
    let mut last = Vec::new();
    for v in 1..=10u64 {
        tokio::time::sleep(Duration::from_millis(120)).await;
        last = noise(v, SIZE - (v as usize) * 4096);
        std::fs::write(&big, &last).unwrap();
    }
    let (last, env_ref) = (&last, &env);
    env.wait_for(
        "the last version in the container",
        Duration::from_secs(180),
        || async move { env_ref.read(pod, "/app/big.bin").await.as_deref() == Some(&last[..]) },
    )
    .await;
    env.control.set_shaping(0, 0).await.expect("shaping off");
    // Settled: the engine is watching with nothing pending.
    env.wait_for("the sync settles", WAIT, || async {
        let s = ws.status(&kubeconfig);
        s["report"]["paths"][0]["state"] == "watching" && s["report"]["paths"][0]["pending"] == 0
    })
    .await;
    assert_eq!(
        std::fs::read(&big).unwrap(),
        *last,
        "the local file is unchanged"
    );
    let local = ws.manifest("src");
    let remote = remote_manifest(&env, pod, "/app").await;
    assert_same(&local, &remote);
    assert_eq!(
        local.len(),
        2,
        "big.bin and small.txt only: {:?}",
        local.keys()
    );
    let status = ws.status(&kubeconfig);
    assert_eq!(
        status["report"]["paths"][0]["problems"]
            .as_array()
            .map(Vec::len),
        Some(0),
        "no problems left: {status}\n{}",
        sync.output()
    );
    env.assert_protocol(pod).await;
    let st = sync.stop();
    assert!(
        st.success(),
        "ferry sync ends cleanly: {st}\n{}",
        sync.output()
    );
}
