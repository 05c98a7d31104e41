//! Hostile and unsyncable file names end to end through the `ferry` binary, on busybox
//! and debian over exec v5:
//!
//! - names with spaces, quotes, command substitutions, backticks, backslashes, printf
//!   directives, unicode, leading dashes, glob characters and paths longer than the
//!   ustar limit sync both ways (at the initial sync and live), contents compared, and
//!   nothing in them is ever run (no `canary` file appears anywhere);
//! - names ferry cannot carry (a newline, invalid UTF-8) are per-file errors in
//!   `ferry status --json` while everything else in the same folder syncs.

mod engine_support;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use engine_support::{
    assert_same, check, problems, remote_manifest, sync_pod, wait_running_watching, wait_until,
    Env, Exec, Workspace,
};
use serde_json::Value;

/// `s` single-quoted for `sh`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Creates `files` (path relative to `root`, content) in `pod` as root, names quoted.
async fn create_remote(env: &Env, pod: &str, root: &str, files: &[(String, String)]) {
    let mut script = format!("cd {} || exit 1\n", sh_quote(root));
    for (path, content) in files {
        if let Some((parent, _)) = path.rsplit_once('/') {
            script += &format!("mkdir -p -- {} || exit 1\n", sh_quote(parent));
        }
        script += &format!(
            "printf '%s' {} > {} || exit 1\n",
            sh_quote(content),
            sh_quote(path)
        );
    }
    env.sh(pod, &script).await;
}

/// Whether every file of `files` is in `pod` under `root` with its content.
async fn all_in_container(env: &Env, pod: &str, root: &str, files: &[(String, String)]) -> bool {
    for (path, content) in files {
        if env.read(pod, &format!("{root}/{path}")).await.as_deref() != Some(content.as_bytes()) {
            return false;
        }
    }
    true
}

/// The paths of `files` that are not (yet) in `pod` with their content.
async fn missing_in_container(
    env: &Env,
    pod: &str,
    root: &str,
    files: &[(String, String)],
) -> Vec<String> {
    let mut out = Vec::new();
    for (path, content) in files {
        if env.read(pod, &format!("{root}/{path}")).await.as_deref() != Some(content.as_bytes()) {
            out.push(path.clone());
        }
    }
    out
}

/// The paths of `files` that are not (yet) local under `dir` with their content.
fn missing_locally(ws: &Workspace, dir: &str, files: &[(String, String)]) -> Vec<String> {
    files
        .iter()
        .filter(|(p, c)| ws.read(&format!("{dir}/{p}")).as_deref() != Some(c.as_bytes()))
        .map(|(p, _)| p.clone())
        .collect()
}

/// Every file or folder named exactly `canary` below `dir` (locally).
fn local_canaries(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if e.file_name() == "canary" {
            out.push(p.clone());
        }
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(local_canaries(&p));
        }
    }
    out
}

/// Hostile names, distinct per `tag` (one per phase and side): every name is a file
/// relative to the sync root, some below folders whose names are hostile too.
fn hostile_names(tag: &str) -> Vec<String> {
    let bare: &[&str] = match tag {
        "l" => &["-rf", "*", "?", "[a]", "a", " ", "-"],
        "r" => &["--help", "**", "[b]", "b", "  ", "--"],
        "L" => &["-n", "*.txt", "??", "[c]", "c", "   "],
        _ => &["-e", "--version", "???", "[!x]", "x", "    "],
    };
    let mut names: Vec<String> = bare.iter().map(|s| s.to_string()).collect();
    names.extend([
        format!("with space {tag}.txt"),
        format!(" leading space {tag}"),
        format!("trailing space {tag} "),
        format!("single'quote {tag}'"),
        format!("double\"quote {tag}\""),
        format!("mixed '\"' {tag}"),
        format!("$(touch canary) {tag}"),
        format!("`touch canary` {tag}"),
        // A path: folders `$(touch ` and `tmp`, then the file.
        format!("$(touch /tmp/canary) {tag}"),
        format!("; touch canary; {tag}"),
        format!("&& touch canary || touch canary {tag}"),
        format!("| touch canary {tag}"),
        format!("${{IFS}}touch${{IFS}}canary {tag}"),
        format!("back\\slash {tag}"),
        format!("\\n\\t\\0\\\\ {tag}"),
        format!("trailing backslash {tag}\\"),
        format!("100%s %d %n %% {tag}"),
        format!("ünï cødé ✓ {tag}.txt"),
        format!("日本語のファイル {tag}"),
        format!("emoji 🚀 {tag}"),
        format!("~tilde {tag}"),
        format!("#hash {tag}"),
        format!("bang! {tag}"),
        format!("<angle> {tag}"),
        format!("a=b {tag}"),
        format!("tab\there {tag}"),
        format!("{{brace,expansion}} {tag}"),
        // Longer than ustar's 100-byte name field, in one component and in total.
        format!("{} {tag}", "x".repeat(150)),
        format!(
            "long {tag}/{}/{}/{}.txt",
            "d".repeat(90),
            "é".repeat(60),
            "ü".repeat(100)
        ),
        format!(
            "deep {tag}/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z/{}/[x] -rf $(touch canary).txt",
            "folder with spaces ".repeat(5).trim_end()
        ),
    ]);
    for n in &names {
        assert!(!n.contains(['\n', '\r']), "test bug: {n:?}");
    }
    assert!(
        names.iter().any(|n| n.len() > 250),
        "some path is longer than ustar's limits"
    );
    names
}

/// (path, content) for each hostile name of `tag`.
fn hostile_files(tag: &str) -> Vec<(String, String)> {
    hostile_names(tag)
        .into_iter()
        .map(|n| {
            let content = format!("{tag}: {n}\n$(touch canary) `touch canary`\n");
            (n, content)
        })
        .collect()
}

async fn assert_no_canary(env: &Env, ws: &Workspace, tmp_canary_before: bool) {
    // `/app` is printed too, to prove the search ran through the container's files.
    let found = env
        .sh(
            "web",
            "find / -xdev \\( -path /app -o -name canary \\) -print 2>/dev/null; true",
        )
        .await;
    assert_eq!(
        found.lines().collect::<Vec<_>>(),
        ["/app"],
        "a name was run as a command in the container"
    );
    let local = local_canaries(ws.root());
    assert!(local.is_empty(), "canary files locally: {local:?}");
    if !tmp_canary_before {
        assert!(
            !Path::new("/tmp/canary").exists(),
            "a name was run as a command locally: /tmp/canary exists"
        );
    }
}

async fn hostile_names_scenario(image: &str) {
    let env = Env::start("names", Exec::V5).await;
    env.pod(&sync_pod("web", image)).await;
    let kubeconfig = env.cluster.kubeconfig();
    let tmp_canary_before = Path::new("/tmp/canary").exists();
    let ws = Workspace::new();
    ws.devspace("web", "names", "src", "/app", "");

    // Before the first sync: hostile names on both sides.
    let up_initial = hostile_files("l");
    let down_initial = hostile_files("r");
    for (p, c) in &up_initial {
        ws.write(&format!("src/{p}"), c);
    }
    create_remote(&env, "web", "/app", &down_initial).await;

    let mut sync = ws.sync(&kubeconfig);
    wait_running_watching(&ws, &kubeconfig, &sync).await;
    wait_until(
        "the initial sync of hostile names, both ways",
        &sync,
        || async {
            let up = missing_in_container(&env, "web", "/app", &up_initial).await;
            let down = missing_locally(&ws, "src", &down_initial);
            check(up.is_empty() && down.is_empty(), || {
                format!("not in the container: {up:?}; not local: {down:?}")
            })
        },
    )
    .await;
    let status = ws.status(&kubeconfig);
    assert!(
        problems(&status).is_empty(),
        "hostile but valid names are no problem: {status}"
    );

    // Live: new hostile names on each side while watching.
    let up_live = hostile_files("L");
    let down_live = hostile_files("R");
    for (p, c) in &up_live {
        ws.write(&format!("src/{p}"), c);
    }
    create_remote(&env, "web", "/app", &down_live).await;
    wait_until("live hostile names, both ways", &sync, || async {
        let up = missing_in_container(&env, "web", "/app", &up_live).await;
        let down = missing_locally(&ws, "src", &down_live);
        check(up.is_empty() && down.is_empty(), || {
            format!("not in the container: {up:?}; not local: {down:?}")
        })
    })
    .await;

    // Live edits of hostile names both ways, and a deletion each way.
    let edit_up = (up_initial[0].0.clone(), "edited locally\n".to_string());
    let edit_down = (down_initial[0].0.clone(), "edited in the pod\n".to_string());
    ws.write(&format!("src/{}", edit_up.0), &edit_up.1);
    create_remote(&env, "web", "/app", std::slice::from_ref(&edit_down)).await;
    let gone_up = up_initial[1].0.clone(); // `*`
    let gone_down = down_initial[1].0.clone(); // `**`
    std::fs::remove_file(ws.path(&format!("src/{gone_up}"))).unwrap();
    env.sh("web", &format!("rm -f -- /app/{}", sh_quote(&gone_down)))
        .await;
    wait_until("edits and deletions of hostile names", &sync, || async {
        let up_ok = all_in_container(&env, "web", "/app", std::slice::from_ref(&edit_up)).await;
        let down_ok = missing_locally(&ws, "src", std::slice::from_ref(&edit_down)).is_empty();
        let gone_remote = env
            .sh_status("web", &format!("test ! -e /app/{}", sh_quote(&gone_up)))
            .await
            == 0;
        let gone_local = !ws.path(&format!("src/{gone_down}")).exists();
        check(up_ok && down_ok && gone_remote && gone_local, || {
            format!(
                "edit up {up_ok}, edit down {down_ok}, deleted in the container {gone_remote}, \
                 deleted locally {gone_local}"
            )
        })
    })
    .await;
    // Nothing else went: the glob names `*` and `**` took no other file with them.
    assert!(ws.path("src/a").is_file() && ws.path("src/b").is_file());

    // Both sides agree on everything.
    let local = ws.manifest("src");
    let remote = remote_manifest(&env, "web", "/app").await;
    assert_same(&local, &remote);
    let expected: BTreeSet<String> = up_initial
        .iter()
        .chain(&down_initial)
        .chain(&up_live)
        .chain(&down_live)
        .map(|(p, _)| p.clone())
        .filter(|p| p != &gone_up && p != &gone_down)
        .collect();
    let files: BTreeSet<String> = local
        .iter()
        .filter(|(_, i)| i.kind == 'f')
        .map(|(p, _)| p.clone())
        .collect();
    assert_eq!(files, expected, "exactly the created files exist");

    assert_no_canary(&env, &ws, tmp_canary_before).await;
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
async fn busybox_hostile_names_sync_both_ways_and_run_nothing() {
    hostile_names_scenario("busybox").await;
}

#[tokio::test]
async fn debian_hostile_names_sync_both_ways_and_run_nothing() {
    hostile_names_scenario("debian").await;
}

/// Whether `problems` has one whose path contains every one of `parts`, and whose
/// message contains `says` (case-insensitive).
fn has_problem(problems: &[Value], parts: &[&str], says: &str) -> bool {
    problems.iter().any(|p| {
        let path = p["path"].as_str().unwrap_or("");
        let msg = p["message"].as_str().unwrap_or("").to_lowercase();
        p["kind"] == "error"
            && parts.iter().all(|part| path.contains(part))
            && msg.contains(&says.to_lowercase())
    })
}

async fn unsyncable_names_scenario(image: &str) {
    let env = Env::start("names", Exec::V5).await;
    env.pod(&sync_pod("web", image)).await;
    let kubeconfig = env.cluster.kubeconfig();
    let ws = Workspace::new();
    ws.devspace("web", "names", "src", "/app", "");

    // Local: a newline name, invalid UTF-8 names (at the root and in a folder), next to
    // ordinary files in the same folders.
    ws.write("src/ok.txt", "ok\n");
    ws.write("src/sub/ok2.txt", "ok2\n");
    ws.write("src/new\nline.txt", "newline\n");
    let src = ws.path("src");
    std::fs::write(
        src.join(OsStr::from_bytes(b"bad-\xff\xfe-utf8.txt")),
        "bad utf8\n",
    )
    .unwrap();
    std::fs::write(
        src.join("sub").join(OsStr::from_bytes(b"sub-\xc3(.txt")),
        "bad utf8 in a folder\n",
    )
    .unwrap();
    // Container: newline names and an invalid UTF-8 name next to ordinary files.
    env.sh(
        "web",
        "cd /app && printf 'pod ok\\n' > pod-ok.txt && mkdir -p psub && printf 'p2\\n' > psub/pod-ok2.txt \
         && printf 'x\\n' > \"$(printf 'pod\\nline.txt')\" \
         && printf 'y\\n' > \"psub/$(printf 'pod-sub\\nline.txt')\" \
         && printf 'z\\n' > \"$(printf 'pod-\\377-utf8.txt')\"",
    )
    .await;
    assert_eq!(
        env.sh("web", "set -- /app/* /app/psub/*; echo $#")
            .await
            .trim(),
        "6",
        "the names were made as intended"
    );

    let mut sync = ws.sync(&kubeconfig);
    wait_running_watching(&ws, &kubeconfig, &sync).await;
    wait_until("the ordinary files sync both ways", &sync, || async {
        let down = ws.read("src/pod-ok.txt").as_deref() == Some(b"pod ok\n")
            && ws.read("src/psub/pod-ok2.txt").as_deref() == Some(b"p2\n");
        let up = env.read("web", "/app/ok.txt").await.as_deref() == Some(b"ok\n")
            && env.read("web", "/app/sub/ok2.txt").await.as_deref() == Some(b"ok2\n");
        check(down && up, || format!("downloaded {down}, uploaded {up}"))
    })
    .await;

    wait_until(
        "per-file errors for every unsyncable name",
        &sync,
        || async {
            let status = ws.status(&kubeconfig);
            let p = problems(&status);
            let ok = has_problem(&p, &["new", "line.txt"], "newline")
                && has_problem(&p, &["bad-", "-utf8.txt"], "UTF-8")
                && has_problem(&p, &["sub/sub-"], "UTF-8")
                && has_problem(&p, &["pod", "line.txt"], "newline")
                && has_problem(&p, &["psub/pod-sub", "line.txt"], "newline")
                && has_problem(&p, &["pod-", "-utf8.txt"], "UTF-8");
            check(ok, || format!("status: {status}"))
        },
    )
    .await;
    let status = ws.status(&kubeconfig);
    assert_eq!(
        status["report"]["paths"][0]["state"], "watching",
        "unsyncable names do not stop the sync: {status}"
    );
    assert_eq!(
        problems(&status).len(),
        6,
        "one problem per unsyncable name, nothing else: {status}"
    );

    // Live: a new unsyncable name next to a new ordinary file, on each side.
    std::fs::write(src.join("live\nbad.txt"), "live bad\n").unwrap();
    std::fs::write(
        src.join(OsStr::from_bytes(b"live-\xff.txt")),
        "live bad 2\n",
    )
    .unwrap();
    ws.write("src/live-ok.txt", "live ok\n");
    env.sh(
        "web",
        "cd /app && printf 'lb\\n' > \"$(printf 'live-pod\\nbad.txt')\" && printf 'lo\\n' > live-pod-ok.txt",
    )
    .await;
    wait_until(
        "live ordinary files sync next to unsyncable ones",
        &sync,
        || async {
            let down = ws.read("src/live-pod-ok.txt").as_deref() == Some(b"lo\n");
            let up = env.read("web", "/app/live-ok.txt").await.as_deref() == Some(b"live ok\n");
            check(down && up, || format!("downloaded {down}, uploaded {up}"))
        },
    )
    .await;
    wait_until(
        "per-file errors for the live unsyncable names",
        &sync,
        || async {
            let status = ws.status(&kubeconfig);
            let p = problems(&status);
            let ok = has_problem(&p, &["live", "bad.txt"], "newline")
                && has_problem(&p, &["live-", ".txt"], "UTF-8")
                && has_problem(&p, &["live-pod", "bad.txt"], "newline");
            check(ok, || format!("status: {status}"))
        },
    )
    .await;

    // Nothing was made of the unsyncable names on the other side: exactly the ordinary
    // files (and folders) in the container, and locally the ordinary files plus the
    // local unsyncable ones.
    let remote = remote_manifest(&env, "web", "/app").await;
    let remote_ok: BTreeSet<&str> = remote
        .keys()
        .map(String::as_str)
        .filter(|p| !p.contains('\n') && !p.contains('\u{fffd}'))
        .collect();
    assert_eq!(
        remote_ok,
        BTreeSet::from([
            "live-ok.txt",
            "live-pod-ok.txt",
            "ok.txt",
            "pod-ok.txt",
            "psub",
            "psub/pod-ok2.txt",
            "sub",
            "sub/ok2.txt",
        ]),
        "the container holds the ordinary files"
    );
    assert_eq!(
        remote.len(),
        remote_ok.len() + 4,
        "the container holds only its own 4 unsyncable names besides: {:?}",
        remote.keys().collect::<Vec<_>>()
    );
    let local = ws.manifest("src");
    let local_ok: BTreeSet<&str> = local
        .keys()
        .map(String::as_str)
        .filter(|p| !p.contains('\n') && !p.contains('\u{fffd}'))
        .collect();
    assert_eq!(local_ok, remote_ok, "the ordinary files agree");
    assert_eq!(
        local.len(),
        local_ok.len() + 5,
        "locally only the 5 local unsyncable names besides: {:?}",
        local.keys().collect::<Vec<_>>()
    );
    let exit = sync.stop();
    assert!(
        exit.success(),
        "ferry sync ends cleanly: {exit}\n{}",
        sync.output()
    );
}

#[tokio::test]
async fn busybox_unsyncable_names_are_per_file_errors() {
    unsyncable_names_scenario("busybox").await;
}

#[tokio::test]
async fn debian_unsyncable_names_are_per_file_errors() {
    unsyncable_names_scenario("debian").await;
}
