//! Issue 8, reproduced scenario 2 (the worst): an interrupted initial sync.
//!
//! 3,000 small files are synced to pod A; A is replaced by an empty pod B; the link is
//! shaped (2 MB/s per stream) so the upload to B takes several seconds; `ferry sync` is
//! started and killed with SIGKILL once the cluster's byte counter of B's session stream
//! (`/control/v1/streams`, `stdin_bytes`) reaches K — early, middle and late in the
//! upload, on busybox, and once on debian — or once the first batch has landed in B;
//! then `ferry sync --once` runs unshaped. No local file may be deleted or changed, and
//! B must end up with the local tree.
//!
//! Each round has a workspace and pods of its own, so every K is reported even when an
//! earlier one lost files. On today's code the rounds at 5 % and 50 % (busybox) and 50 %
//! (debian) fail the same way: the killed `ferry sync` had created the 30 folders in B
//! (no file had landed), so B no longer looks empty, the reset guard is off, and the old
//! index proves every file "deleted in the container":
//!
//! ```text
//! round 1 (busybox, K = 5% = 384111 of 7682222 bytes; killed at 389120 after 0.7 s, 0 files
//! had landed in B): the local tree after `ferry sync --once`: 3000 missing, 0 extra,
//! 0 changed (of 3032 expected)
//!   [web-1] connected to pod b-1 container main (namespace interrupted), folder /app
//!   [web-1] 3000 deleted in 202 ms
//! ```
//!
//! Killed at a batch boundary (when at least 2,000 files have landed — then, with the
//! 2,000-file batches of the time, the first one —, an observable event: a count of the
//! files in B), the retry printed `1000 deleted`.
//!
//! At 90 % the outcome today depends on timing: ferry had usually written the whole last
//! batch into the stream before the kill, and the container session, which outlives
//! its dropped stream, lands it afterwards (then that round passes today); in other
//! runs `1000 deleted`.
//!
//! `recognised` is not asserted here: whether the retry recognises B depends on what
//! the killed run managed to save (with the index saved as batches complete, B's marker
//! may already be in it), and either way nothing may be lost.

mod engine_support;
mod lsp_support;

use std::time::{Duration, Instant};

use engine_support::{
    labelled, noise, printed, remote_tree, sync_pod, tree_diff, Env, Exec, Timer, Workspace,
    FERRY_STATE,
};

const FILES: usize = 3000;
const FILE_SIZE: usize = 2048;
const BANDWIDTH: u64 = 2_000_000;
const WAIT: Duration = Duration::from_secs(180);

/// When a round kills the interrupted `ferry sync`.
#[derive(Clone, Copy, Debug)]
enum Kill {
    /// Once B's session stream carried this fraction of the bytes A's did.
    Bytes(f64),
    /// At a batch boundary: once at least this many files have landed in B (files land
    /// a whole batch at a time — batches are sized to take about half a second — so
    /// this is right after the boundary of the batch that crossed the count).
    Landed(usize),
}

/// Files in `/app` of `pod`.
async fn files_in(env: &Env, pod: &str) -> usize {
    env.sh(pod, "find /app -type f ! -path '*/.ferry*' | wc -l")
        .await
        .trim()
        .parse()
        .unwrap_or(0)
}

/// One round: its own workspace, pods `a-N` / `b-N` labelled `app: web-N`.
async fn round(env: &Env, n: usize, image: &str, kill: Kill, lsp: bool) -> Result<String, String> {
    let app = format!("web-{n}");
    let (a, b) = (format!("a-{n}"), format!("b-{n}"));
    env.pod(&labelled(sync_pod(&a, image), &app)).await;
    let ws = Workspace::new();
    ws.devspace(&app, &env.ns, "src", "/app", "");
    for i in 0..FILES {
        ws.write(
            &format!("src/d{:02}/f{i:04}.bin", i % 30),
            noise((n * FILES + i) as u64, FILE_SIZE),
        );
    }
    let kubeconfig = env.cluster.kubeconfig();

    // Everything synced to pod A (unshaped); its session's bytes are the whole upload.
    let out = ws.sync_once(&kubeconfig);
    assert!(out.status.success(), "first sync: {}", printed(&out));
    let before = ws.tree(FERRY_STATE);
    let a_tree = remote_tree(env, &a, "/app", FERRY_STATE).await;
    let src_before = engine_support::local_tree(&ws.path("src"), FERRY_STATE);
    if let Some(d) = tree_diff(&src_before, &a_tree) {
        return Err(format!("pod A after the first sync: {d}"));
    }
    let total = env.session_stdin_bytes(&a).await;
    let k = match kill {
        Kill::Bytes(fraction) => (total as f64 * fraction) as u64,
        Kill::Landed(_) => 0,
    };

    // A is replaced by an empty B; the upload to B is interrupted at K bytes.
    env.delete_pod(&a).await;
    env.pod(&labelled(sync_pod(&b, image), &app)).await;
    env.control
        .set_shaping(0, BANDWIDTH)
        .await
        .expect("shaping");
    // The interrupted ferry: `ferry sync`, or the editor backend `ferry lsp`.
    let mut sync = (!lsp).then(|| ws.sync(&kubeconfig));
    let server = lsp.then(|| {
        lsp_support::Lsp::start(
            &[ws.root()],
            &kubeconfig,
            lsp_support::full(),
            serde_json::Value::Null,
        )
    });
    let output = |sync: &Option<engine_support::Running>| match (sync, &server) {
        (Some(s), _) => s.output(),
        (None, Some(l)) => l.stderr(),
        (None, None) => String::new(),
    };
    let t = Instant::now();
    loop {
        let reached = match kill {
            Kill::Bytes(_) => env.session_stdin_bytes(&b).await >= k,
            Kill::Landed(files) => files_in(env, &b).await >= files,
        };
        if reached {
            break;
        }
        if t.elapsed() > WAIT {
            return Err(format!("{kill:?} never reached in B\n{}", output(&sync)));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if let Some(s) = sync.as_mut() {
        s.signal(libc::SIGKILL);
    }
    if let Some(l) = &server {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe {
            libc::kill(l.pid() as i32, libc::SIGKILL);
        }
    }
    let killed_at = env.session_stdin_bytes(&b).await;
    if let Some(s) = sync.as_mut() {
        s.wait_exit(Duration::from_secs(30))
            .expect("ferry sync ends on SIGKILL");
    }
    env.control.set_shaping(0, 0).await.expect("shaping off");
    // What lands after the kill (the container side of the dropped session finishing
    // its batch) is part of what B holds before the retry: let it finish first.
    let ended = env.wait_sessions_ended(&b, Duration::from_secs(30)).await;
    let landed = remote_tree(env, &b, "/app", FERRY_STATE).await;
    let landed_files = landed.values().filter(|i| i.kind == 'f').count();
    let killed_text = output(&sync);
    drop(server);

    // The retry.
    let out = ws.sync_once(&kubeconfig);
    let text = printed(&out);
    let at = match kill {
        Kill::Bytes(fraction) => format!("K = {:.0}% = {k} of {total} bytes", fraction * 100.0),
        Kill::Landed(files) => format!("at the batch boundary: {files} files landed"),
    };
    let who = if lsp { "ferry lsp" } else { "ferry sync" };
    let head =
        format!(
        "round {n} ({image}, {who}, {at}; killed at {killed_at} of {total} bytes after {:.1} s, \
         {landed_files} files had landed in B{})",
        t.elapsed().as_secs_f64(),
        if ended { "" } else { "; its session in B still ran 30 s later" }
    );
    let after = ws.tree(FERRY_STATE);
    if let Some(d) = tree_diff(&before, &after) {
        return Err(format!(
            "{head}: the local tree after `ferry sync --once`: {d}\n`ferry sync --once` {text}\n\
             --- the killed `ferry sync`:\n{}",
            tail(&killed_text, 12)
        ));
    }
    let b_tree = remote_tree(env, &b, "/app", FERRY_STATE).await;
    if let Some(d) = tree_diff(&src_before, &b_tree) {
        return Err(format!(
            "{head}: pod B after `ferry sync --once`: {d}\n{text}"
        ));
    }
    if !out.status.success() {
        return Err(format!("{head}: `ferry sync --once` failed: {text}"));
    }
    Ok(format!("{head}: nothing lost\n`ferry sync --once` {text}"))
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// busybox at K = 5 %, 50 % and 90 % of the upload and at the first batch boundary,
/// debian at 50 %.
#[tokio::test]
async fn interrupted_initial_sync_never_deletes_local_files() {
    let _t = Timer::start("interrupted_initial_sync_never_deletes_local_files");
    let env = Env::start("interrupted", Exec::V5).await;
    let mut failures = Vec::new();
    let rounds = [
        ("busybox", Kill::Bytes(0.05)),
        ("busybox", Kill::Bytes(0.5)),
        ("busybox", Kill::Bytes(0.9)),
        ("busybox", Kill::Landed(2000)),
        ("debian", Kill::Bytes(0.5)),
    ];
    let rounds = rounds
        .into_iter()
        .map(|(image, kill)| (image, kill, false))
        // The editor backend killed in the middle of the same upload.
        .chain([("busybox", Kill::Bytes(0.5), true)])
        .collect::<Vec<_>>();
    for (n, &(image, kill, lsp)) in rounds.iter().enumerate() {
        let t = Instant::now();
        match round(&env, n + 1, image, kill, lsp).await {
            Ok(report) => eprintln!("{report} ({:.1} s)", t.elapsed().as_secs_f64()),
            Err(e) => {
                eprintln!("FAILED {e}\n({:.1} s)", t.elapsed().as_secs_f64());
                failures.push(e);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rounds lost or kept back files:\n\n{}",
        failures.len(),
        rounds.len(),
        failures.join("\n\n")
    );
}
