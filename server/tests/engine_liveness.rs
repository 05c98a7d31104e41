//! No process of ferry's outlives its session in the container, and no stall stops a
//! sync silently — against the local cluster, on busybox (polling) and debian:inotify
//! (inotifywait):
//! - after a clean stop, after the cluster drops the exec streams, and after ferry is
//!   killed with SIGKILL, nothing of ferry's is left in the container within 5 s;
//! - a frozen watcher (its processes stopped) is restarted and container changes flow
//!   again;
//! - a stalled link (exec traffic delayed by an hour: nothing arrives, nothing closes)
//!   is reported within 15 s (the watcher's silence), a reconnection on it gives up
//!   within 30 s (the session start), and once the link is back the sync reconnects;
//! - an idle session that stopped answering (its shell stopped) is noticed by the idle
//!   ping, not by the next command's 5-minute timeout.
//!
//! Processes are read from `/proc/*/cmdline` through the control interface's `run`
//! (the images may have no `ps`).

mod engine_support;

use std::time::{Duration, Instant};

use engine_support::{Env, Exec, Running, Workspace};
use ferry_testkit::PodBuilder;

const WAIT: Duration = Duration::from_secs(60);
/// How long ferry's processes may linger after their session ended.
const LINGER: Duration = Duration::from_secs(5);

/// A pod whose own processes are easy to tell from ferry's: pid 1 (a shell) and one
/// `sleep 100000`.
fn pod(name: &str, image: &str) -> PodBuilder {
    PodBuilder::new(name, image).command(&[
        "sh",
        "-c",
        "mkdir -p /app; trap 'exit 0' TERM; sleep 100000 & wait",
    ])
}

/// One process in the container.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Proc {
    pid: u32,
    ppid: u32,
    state: String,
    /// `session` or `watch` for ferry's shells (and their subshells), else `-`.
    kind: String,
    /// The start of the command line.
    cmd: String,
}

/// Every process in `pod` but the pod's own (pid 1 and its `sleep 100000`) and the
/// lister itself; zombies count as gone.
async fn processes(env: &Env, pod: &str) -> Vec<Proc> {
    let script = r#"
for d in /proc/[0-9]*; do
  p=${d#/proc/}
  [ "$p" = "$$" ] && continue
  [ "$p" = 1 ] && continue
  s=$(cat "$d/stat" 2>/dev/null) || continue
  r=${s##*) }
  st=${r%% *}
  r=${r#* }
  pp=${r%% *}
  [ "$st" = Z ] && continue
  [ "$pp" = "$$" ] && continue
  c=$(tr '\0\n' '  ' <"$d/cmdline" 2>/dev/null)
  case $c in '' | 'sleep 100000'*) continue ;; esac
  case $c in
  'sh -c '*' ferry-session /'*) k=session ;;
  'sh -c '*' ferry-watch /'*) k=watch ;;
  *) k=- ;;
  esac
  c=$(printf '%s' "$c" | head -c 100)
  printf '%s %s %s %s %s\n' "$p" "$pp" "$st" "$k" "$c"
done
"#;
    env.sh(pod, script)
        .await
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(5, ' ');
            Some(Proc {
                pid: f.next()?.parse().ok()?,
                ppid: f.next()?.parse().ok()?,
                state: f.next()?.to_string(),
                kind: f.next()?.to_string(),
                cmd: f.next().unwrap_or("").to_string(),
            })
        })
        .collect()
}

/// Waits up to `limit` until none of `pids` runs in `pod`; returns those still there.
async fn wait_gone(env: &Env, pod: &str, pids: &[u32], limit: Duration) -> Vec<Proc> {
    let t = Instant::now();
    loop {
        let left: Vec<Proc> = processes(env, pod)
            .await
            .into_iter()
            .filter(|p| pids.contains(&p.pid))
            .collect();
        if left.is_empty() || t.elapsed() > limit {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until ferry watches `pod` with processes none of which is in `old`: a
/// session shell and a watcher (with `inotifywait` on debian:inotify); returns every
/// process then. So a test of their end cannot pass on nothing, and a status file left
/// by an earlier run cannot fool it.
async fn wait_ferry(env: &Env, pod: &str, inotify: bool, old: &[Proc]) -> Vec<Proc> {
    let t = Instant::now();
    loop {
        let procs = processes(env, pod).await;
        let new: Vec<&Proc> = procs
            .iter()
            .filter(|p| !old.iter().any(|o| o.pid == p.pid))
            .collect();
        if new.iter().any(|p| p.kind == "session")
            && new.iter().any(|p| p.kind == "watch")
            && (!inotify || new.iter().any(|p| p.cmd.starts_with("inotifywait")))
        {
            return procs;
        }
        assert!(
            t.elapsed() < WAIT,
            "{pod}: ferry's session and watcher did not appear: {procs:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// With ferry gone: waits up to [`LINGER`] until no process is left in `pod` but the
/// pod's own (`old`, ferry's processes before, must have been there: a test of their
/// end cannot pass on nothing).
async fn wait_all_gone(env: &Env, pod: &str, old: &[Proc]) -> Vec<Proc> {
    assert!(!old.is_empty());
    let t = Instant::now();
    loop {
        let left = processes(env, pod).await;
        if left.is_empty() || t.elapsed() > LINGER {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn pids(procs: &[Proc]) -> Vec<u32> {
    procs.iter().map(|p| p.pid).collect()
}

/// A workspace syncing `./src` with `/app` in the pod labelled `app: <pod>`.
fn workspace(env: &Env, pod: &str) -> Workspace {
    let ws = Workspace::new();
    ws.devspace(pod, &env.ns, "src", "/app", "");
    ws.write("src/a.txt", "a\n");
    ws
}

/// Waits until `ws/src/rel` holds `want`.
async fn wait_local(ws: &Workspace, rel: &str, want: &[u8], limit: Duration, sync: &Running) {
    let t = Instant::now();
    while ws.read(&format!("src/{rel}")).as_deref() != Some(want) {
        assert!(
            t.elapsed() < limit,
            "{rel} did not arrive locally within {limit:?}\n{}",
            sync.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn leftovers(env: &Env, pod: &str, inotify: bool) {
    let kubeconfig = env.cluster.kubeconfig();
    let ws = workspace(env, pod);

    // The cluster drops every exec stream without a close: the old processes end, and
    // ferry reconnects with new ones.
    let sync = ws.sync(&kubeconfig);
    ws.wait_watching(&kubeconfig, WAIT);
    let old = wait_ferry(env, pod, inotify, &[]).await;
    let dropped = env.control.drop_streams(&env.ns, pod).await.unwrap();
    assert!(dropped >= 2, "{pod}: dropped {dropped} streams");
    let left = wait_gone(env, pod, &pids(&old), LINGER).await;
    assert!(
        left.is_empty(),
        "{pod}: after the streams were dropped, still running: {left:#?}"
    );
    let now = wait_ferry(env, pod, inotify, &old).await;

    // ferry killed with SIGKILL (Running's drop).
    let old = now;
    drop(sync);
    let left = wait_all_gone(env, pod, &old).await;
    assert!(
        left.is_empty(),
        "{pod}: after ferry was killed, still running: {left:#?}"
    );

    // A clean stop (SIGTERM).
    let mut sync = ws.sync(&kubeconfig);
    let old = wait_ferry(env, pod, inotify, &old).await;
    ws.wait_watching(&kubeconfig, WAIT);
    let st = sync.stop();
    assert!(st.success(), "{st}\n{}", sync.output());
    let left = wait_all_gone(env, pod, &old).await;
    assert!(
        left.is_empty(),
        "{pod}: after a clean stop, still running: {left:#?}"
    );
}

#[tokio::test]
async fn no_process_of_ferry_outlives_its_session() {
    let env = Env::start("leftovers", Exec::V5).await;
    env.pod(&pod("bb", "busybox")).await;
    env.pod(&pod("deb", "debian:inotify")).await;
    leftovers(&env, "bb", false).await;
    leftovers(&env, "deb", true).await;
}

#[tokio::test]
async fn no_process_of_ferry_outlives_its_session_over_v4() {
    let env = Env::start("leftovers4", Exec::V4).await;
    env.pod(&pod("bb", "busybox")).await;
    env.pod(&pod("deb", "debian:inotify")).await;
    leftovers(&env, "bb", false).await;
    leftovers(&env, "deb", true).await;
    env.assert_protocol("deb").await;
}

/// The watcher's processes: its shells (subshells share the command line), what they
/// run (`inotifywait`, `sleep`, `find`) — everything in the container but the session.
fn watcher_processes(procs: &[Proc]) -> Vec<u32> {
    let mut ours: Vec<u32> = procs
        .iter()
        .filter(|p| p.kind == "watch" || p.cmd.starts_with("inotifywait"))
        .map(|p| p.pid)
        .collect();
    let children: Vec<u32> = procs
        .iter()
        .filter(|p| ours.contains(&p.ppid))
        .map(|p| p.pid)
        .collect();
    ours.extend(children);
    ours.sort_unstable();
    ours.dedup();
    ours
}

async fn frozen_watcher(env: &Env, pod: &str, inotify: bool) {
    let kubeconfig = env.cluster.kubeconfig();
    let ws = workspace(env, pod);
    let sync = ws.sync(&kubeconfig);
    ws.wait_watching(&kubeconfig, WAIT);
    let procs = wait_ferry(env, pod, inotify, &[]).await;
    let frozen = watcher_processes(&procs);
    assert!(!frozen.is_empty(), "{pod}: no watcher among {procs:#?}");
    let list: Vec<String> = frozen.iter().map(u32::to_string).collect();
    env.sh(pod, &format!("kill -STOP {}", list.join(" "))).await;
    let t = Instant::now();
    env.sh(pod, "echo after > /app/after.txt").await;
    wait_local(&ws, "after.txt", b"after\n", Duration::from_secs(45), &sync).await;
    let took = t.elapsed();
    let log = std::fs::read_to_string(&sync.log).unwrap_or_default();
    assert!(
        log.contains("no sign of life for 15 s"),
        "{pod}: the restart was not for the silence\n{}",
        sync.output()
    );
    eprintln!("{pod}: with the watcher frozen, a container change arrived after {took:?}");
    // ferry dropped the frozen watcher's stream: thawed, it ends at once.
    // (Some may have ended already: ferry dropped their stream, and a stopped
    // process still dies of SIGKILL.)
    env.sh(
        pod,
        &format!("kill -CONT {} 2>/dev/null; true", list.join(" ")),
    )
    .await;
    let left = wait_gone(env, pod, &frozen, LINGER).await;
    assert!(
        left.is_empty(),
        "{pod}: the thawed watcher lives on: {left:#?}"
    );
}

#[tokio::test]
async fn a_frozen_watcher_is_restarted() {
    let env = Env::start("frozen", Exec::V5).await;
    env.pod(&pod("bb", "busybox")).await;
    env.pod(&pod("deb", "debian:inotify")).await;
    frozen_watcher(&env, "bb", false).await;
    frozen_watcher(&env, "deb", true).await;
}

/// Waits until the sync log has `text`; returns how long that took.
fn wait_log(sync: &Running, text: &str, limit: Duration) -> Duration {
    let t = Instant::now();
    loop {
        if std::fs::read_to_string(&sync.log)
            .unwrap_or_default()
            .contains(text)
        {
            return t.elapsed();
        }
        assert!(
            t.elapsed() < limit,
            "the sync log did not say {text:?} within {limit:?}\n{}",
            sync.output()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn a_stalled_link_is_noticed_and_the_sync_reconnects() {
    let env = Env::start("stalled", Exec::V5).await;
    env.pod(&pod("deb", "debian:inotify")).await;
    let kubeconfig = env.cluster.kubeconfig();
    let ws = workspace(&env, "deb");
    let sync = ws.sync(&kubeconfig);
    ws.wait_watching(&kubeconfig, WAIT);
    // Exec traffic now takes an hour each way: nothing arrives, nothing closes.
    env.control.set_shaping(3_600_000, 0).await.unwrap();
    let noticed = wait_log(&sync, "no sign of life", Duration::from_secs(30));
    eprintln!("a stalled link was noticed after {noticed:?}");
    // The reconnection tried meanwhile meets the same stalled link: its session start
    // gives up after 30 s, not after the 5-minute reply timeout.
    let gave_up = wait_log(
        &sync,
        "no reply from the container to the session start within 30s",
        Duration::from_secs(45),
    );
    eprintln!("a session start on the stalled link gave up after {gave_up:?} more");
    env.control.set_shaping(0, 0).await.unwrap();
    let t = Instant::now();
    env.sh("deb", "echo back > /app/back.txt").await;
    wait_local(&ws, "back.txt", b"back\n", Duration::from_secs(60), &sync).await;
    eprintln!(
        "the link restored, a container change arrived after {:?}",
        t.elapsed()
    );
    // The sessions and watchers ferry gave up on ended (one of each is left).
    let t = Instant::now();
    loop {
        let procs = processes(&env, "deb").await;
        let sessions = procs.iter().filter(|p| p.kind == "session").count();
        let inotifywaits = procs
            .iter()
            .filter(|p| p.cmd.starts_with("inotifywait"))
            .count();
        if sessions == 1 && inotifywaits == 1 {
            break;
        }
        assert!(
            t.elapsed() < LINGER,
            "abandoned sessions or watchers live on: {procs:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn an_idle_session_that_stops_answering_is_noticed() {
    let env = Env::start("idle", Exec::V5).await;
    env.pod(&pod("bb", "busybox")).await;
    let kubeconfig = env.cluster.kubeconfig();
    let ws = workspace(&env, "bb");
    let sync = ws.sync(&kubeconfig);
    ws.wait_watching(&kubeconfig, WAIT);
    wait_ferry(&env, "bb", false, &[]).await;
    // Only the session stops answering; the watcher lives on.
    let session: Vec<u32> = processes(&env, "bb")
        .await
        .iter()
        .filter(|p| p.kind == "session")
        .map(|p| p.pid)
        .collect();
    assert_eq!(session.len(), 1, "{:#?}", processes(&env, "bb").await);
    env.sh("bb", &format!("kill -STOP {}", session[0])).await;
    let noticed = wait_log(
        &sync,
        "no reply from the container to ping",
        Duration::from_secs(45),
    );
    eprintln!("an idle session that stopped answering was noticed after {noticed:?}");
    let t = Instant::now();
    env.sh("bb", "echo later > /app/later.txt").await;
    wait_local(&ws, "later.txt", b"later\n", Duration::from_secs(30), &sync).await;
    eprintln!(
        "after the reconnect a container change arrived in {:?}",
        t.elapsed()
    );
    env.sh("bb", &format!("kill -CONT {}", session[0])).await;
    let left = wait_gone(&env, "bb", &session, LINGER).await;
    assert!(left.is_empty(), "the thawed session lives on: {left:#?}");
}
