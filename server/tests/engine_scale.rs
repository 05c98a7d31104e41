//! The sync engine at scale, end to end through the `ferry` binary: a real source tree of
//! about 10,000 files (crate sources copied from the local cargo registry) is synced
//! into a busybox container over exec v5, then a burst of 1,000 local edits follows.
//! Both sides are compared by manifest (paths, kinds, sizes, contents, executable bits,
//! mtimes). Timings are printed for information only, never asserted.

mod engine_support;

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use engine_support::{
    assert_same, is_same, manifest_diff, remote_manifest_gz, sync_pod, Env, Exec, Manifest,
    Running, Workspace,
};

/// How many files the tree should have (crates are added until it is reached).
const TARGET_FILES: usize = 10_000;
/// Fewer files than this in the registry: the test is skipped.
const MIN_FILES: usize = 5_000;
/// Crates with a file larger than this are left out (keeps the tree's bytes modest).
const MAX_FILE_BYTES: u64 = 256 * 1024;
/// How many files the burst edits.
const BURST: usize = 1_000;
/// The line the burst appends (found in the container with `grep`).
const MARKER: &str = "ferry burst edit";

/// The crate source folders of the local cargo registry, by folder name (one per name,
/// in name order).
fn registry_crates() -> Vec<PathBuf> {
    let mut homes = Vec::new();
    if let Some(h) = std::env::var_os("CARGO_HOME") {
        homes.push(PathBuf::from(h));
    }
    if let Some(h) = std::env::var_os("HOME") {
        homes.push(PathBuf::from(h).join(".cargo"));
    }
    let mut crates: BTreeMap<String, PathBuf> = BTreeMap::new();
    for home in homes {
        let Ok(indexes) = std::fs::read_dir(home.join("registry").join("src")) else {
            continue;
        };
        for index in indexes.flatten() {
            let Ok(rd) = std::fs::read_dir(index.path()) else {
                continue;
            };
            for c in rd.flatten() {
                if c.file_type().is_ok_and(|t| t.is_dir()) {
                    if let Some(name) = c.file_name().to_str() {
                        crates.entry(name.to_string()).or_insert(c.path());
                    }
                }
            }
        }
    }
    crates.into_values().collect()
}

/// The regular files below `dir` (relative paths), or `None` when the crate does not
/// fit: a file too large, or a name ferry reports as a per-file error (non-UTF-8,
/// newline). Symlinks and special files are left out.
fn crate_files(dir: &Path) -> Option<Vec<PathBuf>> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Option<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir).ok()?.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name();
            let name = name.to_str()?;
            if name.contains('\n') || name.contains('\0') {
                return None;
            }
            let meta = std::fs::symlink_metadata(e.path()).ok()?;
            if meta.is_dir() {
                walk(root, &e.path(), out)?;
            } else if meta.is_file() {
                if meta.len() > MAX_FILE_BYTES {
                    return None;
                }
                out.push(e.path().strip_prefix(root).unwrap().to_path_buf());
            }
        }
        Some(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    Some(out)
}

/// Copies crates from the registry into `dest` until about [`TARGET_FILES`] files are
/// there; returns the copied files (relative to `dest`), or `None` when the registry
/// has fewer than [`MIN_FILES`] usable files.
fn copy_registry_tree(dest: &Path) -> Option<Vec<PathBuf>> {
    let mut chosen: Vec<(PathBuf, Vec<PathBuf>)> = Vec::new();
    let mut total = 0;
    for krate in registry_crates() {
        if total >= TARGET_FILES {
            break;
        }
        let Some(files) = crate_files(&krate) else {
            continue;
        };
        if files.is_empty() {
            continue;
        }
        total += files.len();
        chosen.push((krate, files));
    }
    if total < MIN_FILES {
        return None;
    }
    let mut copied = Vec::new();
    for (krate, files) in chosen {
        let name = krate.file_name().unwrap();
        for rel in files {
            let from = krate.join(&rel);
            let to_rel = Path::new(name).join(&rel);
            let to = dest.join(&to_rel);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&from, &to).unwrap();
            // Writable by us (the burst appends), executable bits kept.
            let mode = std::fs::metadata(&from).unwrap().permissions().mode();
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode((mode & 0o755) | 0o644))
                .unwrap();
            copied.push(to_rel);
        }
    }
    Some(copied)
}

/// Polls the container until `/app` matches `local` (as [`assert_same`] sees it), then
/// asserts it (so a timeout shows what differs).
async fn wait_remote_same(
    env: &Env,
    pod: &str,
    local: &Manifest,
    timeout: Duration,
    sync: &Running,
) {
    let deadline = Instant::now() + timeout;
    loop {
        let remote = remote_manifest_gz(env, pod, "/app").await;
        if is_same(local, &remote) {
            assert_same(local, &remote);
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "the container does not match the local tree: {}\n{}",
                manifest_diff(local, &remote),
                sync.output()
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// How many of `files` (relative to /app) hold [`MARKER`] in the container.
async fn edited_in_container(env: &Env, pod: &str, files: &[String]) -> usize {
    let mut list = Vec::new();
    for f in files {
        list.extend_from_slice(f.as_bytes());
        list.push(0);
    }
    let script = format!("cd /app && xargs -0 grep -l -F '{MARKER}' 2>/dev/null | wc -l");
    let out = env
        .control
        .run(&env.ns, pod, &["sh", "-c", &script], &list)
        .await
        .expect("control run");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

#[tokio::test]
async fn ten_thousand_files_then_a_burst_of_edits() {
    let ws = Workspace::new();
    let t = Instant::now();
    let Some(files) = copy_registry_tree(&ws.path("src")) else {
        eprintln!("SKIPPED: the cargo registry has fewer than {MIN_FILES} usable source files");
        return;
    };
    eprintln!(
        "copied {} registry files into the workspace in {:.1} s",
        files.len(),
        t.elapsed().as_secs_f32()
    );
    let env = Env::start("scale", Exec::V5).await;
    env.pod(&sync_pod("web", "busybox")).await;
    ws.devspace("web", "scale", "src", "/app", "");
    let kubeconfig = env.cluster.kubeconfig();
    let local = ws.manifest("src");
    let file_count = local.values().filter(|i| i.kind == 'f').count();
    assert_eq!(
        file_count,
        files.len(),
        "the local tree holds what was copied"
    );

    // Initial sync of the whole tree.
    let t = Instant::now();
    let mut sync = ws.sync_isolated(&kubeconfig);
    let status = ws.wait_watching(&kubeconfig, Duration::from_secs(300));
    let initial = t.elapsed();
    eprintln!(
        "initial sync of {file_count} files ({} entries): watching after {:.1} s",
        local.len(),
        initial.as_secs_f32()
    );
    let path_status = &status["report"]["paths"][0];
    assert_eq!(path_status["pod"], "web", "{status}");
    wait_remote_same(&env, "web", &local, Duration::from_secs(120), &sync).await;
    assert_eq!(
        path_status["problemCount"], 0,
        "no per-file problems after the initial sync: {status}"
    );

    // A burst of edits: append a line to 1,000 existing files, as fast as we can.
    let step = files.len() / BURST;
    let edited: Vec<String> = files
        .iter()
        .step_by(step.max(1))
        .take(BURST)
        .map(|p| p.to_str().unwrap().to_string())
        .collect();
    assert_eq!(edited.len(), BURST);
    let t = Instant::now();
    for (i, rel) in edited.iter().enumerate() {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(ws.path("src").join(rel))
            .unwrap();
        writeln!(f, "\n// {MARKER} {i}").unwrap();
    }
    let written = t.elapsed();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let n = edited_in_container(&env, "web", &edited).await;
        if n == BURST {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {n} of the {BURST} edited files arrived in the container\n{}",
            sync.output()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!(
        "burst of {BURST} edits: written in {:.2} s, all in the container after {:.1} s",
        written.as_secs_f32(),
        t.elapsed().as_secs_f32()
    );
    // Everything agrees again: the edits with their mtimes, nothing else touched.
    let local = ws.manifest("src");
    for (i, rel) in edited.iter().enumerate() {
        let want = format!("// {MARKER} {i}\n");
        assert!(
            local[rel.as_str()].content.ends_with(want.as_bytes()),
            "{rel} holds the edit locally"
        );
    }
    wait_remote_same(&env, "web", &local, Duration::from_secs(180), &sync).await;

    let status = ws.wait_watching(&kubeconfig, Duration::from_secs(60));
    assert_eq!(
        status["report"]["paths"][0]["problemCount"], 0,
        "no per-file problems after the burst: {status}"
    );
    env.assert_protocol("web").await;
    let exit = sync.stop();
    assert!(
        exit.success(),
        "ferry sync ends cleanly on SIGTERM: {exit}\n{}",
        sync.output()
    );
}
