//! Tests that start real containers. They need root and runc; without them they print a
//! note and pass. Each test has its own state folder (a temp dir) and cluster id, and
//! cleans up in `Drop`, also when it fails.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

const T: Duration = Duration::from_secs(120);

fn can_run() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let ok = root && runc::find_runc().is_some();
    if !ok {
        eprintln!("skipping: container tests need root and runc");
    }
    ok
}

/// A runtime in its own temp state folder; `cleanup_all` on drop.
struct Env {
    rt: Runtime,
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Option<Env> {
        if !can_run() {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("ferry-runtime-test-")
            .tempdir()
            .unwrap();
        let cid = format!("t{:08x}", rand::random::<u32>());
        let rt = Runtime::open(dir.path(), &cid).unwrap();
        Some(Env { rt, dir })
    }

    fn config(&self, id: &str, image: &str, command: &[&str]) -> ContainerConfig {
        ContainerConfig {
            id: id.to_string(),
            image: self.rt.resolve_image(image).unwrap(),
            command: command.iter().map(|s| s.to_string()).collect(),
            args: Vec::new(),
            env: Vec::new(),
            working_dir: None,
            uid: 0,
            gid: 0,
            supplemental_gids: Vec::new(),
            hostname: "test-pod".to_string(),
            mounts: Vec::new(),
            log_path: self.dir.path().join("logs").join(format!("{id}.log")),
        }
    }

    async fn start(&self, id: &str, image: &str, command: &[&str]) -> Container {
        let cfg = self.config(id, image, command);
        tokio::time::timeout(T, self.rt.start(cfg))
            .await
            .expect("start timed out")
            .expect("start")
    }

    fn log(&self, id: &str) -> String {
        std::fs::read_to_string(self.dir.path().join("logs").join(format!("{id}.log")))
            .unwrap_or_default()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Err(e) = self.rt.cleanup_all() {
            eprintln!("cleanup_all: {e:#}");
        }
    }
}

fn cmd(args: &[&str]) -> ExecConfig {
    ExecConfig {
        command: args.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

/// Runs an exec to completion: (exit code, stdout, stderr).
async fn run_with(rt: &Runtime, id: &str, cfg: ExecConfig, stdin: &[u8]) -> (i32, String, String) {
    let mut child = rt.exec(id, &cfg).expect("exec");
    let mut sin = child.stdin.take().unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let input = stdin.to_vec();
    let work = async move {
        let feed = async move {
            let _ = sin.write_all(&input).await;
            drop(sin);
        };
        let read_out = async move {
            let mut v = Vec::new();
            let _ = out.read_to_end(&mut v).await;
            v
        };
        let read_err = async move {
            let mut v = Vec::new();
            let _ = err.read_to_end(&mut v).await;
            v
        };
        let ((), o, e) = tokio::join!(feed, read_out, read_err);
        let status = child.wait().await.unwrap();
        (
            status_code(status),
            String::from_utf8_lossy(&o).into_owned(),
            String::from_utf8_lossy(&e).into_owned(),
        )
    };
    tokio::time::timeout(T, work).await.expect("exec timed out")
}

async fn run(rt: &Runtime, id: &str, args: &[&str]) -> (i32, String, String) {
    run_with(rt, id, cmd(args), b"").await
}

/// Asserts the exec succeeds and returns its trimmed stdout.
async fn out(rt: &Runtime, id: &str, args: &[&str]) -> String {
    let (code, o, e) = run(rt, id, args).await;
    assert_eq!(code, 0, "{args:?}: stdout {o:?} stderr {e:?}");
    o.trim().to_string()
}

/// Pids whose cgroup (any hierarchy) is below this cluster's cgroup folder.
fn pids_in_cluster_cgroup(cluster_id: &str) -> Vec<i32> {
    let needle = format!("/{CGROUP_PARENT}/{cluster_id}/");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
                .is_ok_and(|c| c.contains(&needle))
        })
        .collect()
}

/// Pids (not us) whose command line mentions `dir`.
fn pids_mentioning(dir: &Path) -> Vec<i32> {
    let needle = dir.to_string_lossy().into_owned();
    let me = std::process::id() as i32;
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle))
        })
        .collect()
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name "(…)": state is field 3; utime 14, stime 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    f.get(11).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}

fn mounts_mentioning(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&needle))
        .map(String::from)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_busybox_and_debian_exec_with_stdin() {
    let Some(env) = Env::new() else { return };
    for image in ["busybox", "debian"] {
        let id = format!("ns.pod.{image}.0");
        let c = env.start(&id, image, &["sleep", "3600"]).await;
        assert!(c.pid > 1);
        assert_eq!(c.exit_code(), None);
        let (code, o, e) = run_with(
            &env.rt,
            &id,
            cmd(&["sh", "-c", "cat; echo done >&2; exit 3"]),
            b"hello\nworld\n",
        )
        .await;
        assert_eq!(code, 3, "{image}: stderr {e:?}");
        assert_eq!(o, "hello\nworld\n", "{image}");
        assert_eq!(e, "done\n", "{image}");
        // The main process is pid 1 of its namespace.
        assert!(out(&env.rt, &id, &["cat", "/proc/1/cmdline"])
            .await
            .starts_with("sleep"));
        // The runtime's memfd does not leak into exec'd processes.
        let fds = out(&env.rt, &id, &["sh", "-c", "ls -l /proc/$$/fd/"]).await;
        assert!(!fds.contains("memfd"), "{fds}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_debian_is_dash_and_gnu() {
    let Some(env) = Env::new() else { return };
    env.start("deb.0", "debian:latest", &["sleep", "3600"])
        .await;
    let rt = &env.rt;
    let sh = out(rt, "deb.0", &["sh", "-c", "readlink -f /proc/$$/exe"]).await;
    assert!(sh.ends_with("dash"), "{sh}");
    assert!(out(rt, "deb.0", &["tar", "--version"])
        .await
        .contains("GNU tar"));
    assert!(out(rt, "deb.0", &["ls", "--version"])
        .await
        .contains("GNU coreutils"));
    assert!(out(rt, "deb.0", &["find", "--version"])
        .await
        .contains("GNU findutils"));
    assert!(out(rt, "deb.0", &["grep", "--version"])
        .await
        .contains("GNU grep"));
    assert!(out(rt, "deb.0", &["sed", "--version"])
        .await
        .contains("GNU sed"));
    assert!(out(rt, "deb.0", &["ps", "-e"]).await.contains("sleep"));
    let round_trip = "mkdir -p /tmp/a && echo payload > /tmp/a/f && cd /tmp && tar czf x.tgz a \
                      && rm -r a && tar xzf x.tgz && cat a/f && echo hi | gzip | gunzip && command -v kill xargs";
    let o = out(rt, "deb.0", &["sh", "-c", round_trip]).await;
    assert!(o.starts_with("payload\nhi\n"), "{o}");
    // ID lookups work through /etc/passwd (glibc NSS files).
    assert_eq!(out(rt, "deb.0", &["id", "-un"]).await, "root");

    env.start("notar.0", "debian:notar", &["sleep", "3600"])
        .await;
    let (code, _, _) = run(rt, "notar.0", &["sh", "-c", "command -v tar"]).await;
    assert_ne!(code, 0, "debian:notar has tar");
    assert!(out(rt, "notar.0", &["ls", "--version"])
        .await
        .contains("GNU"));

    env.start("inotify.0", "debian:inotify", &["sleep", "3600"])
        .await;
    let script = "inotifywait -q -t 20 -e create /tmp & sleep 0.5; touch /tmp/new; wait";
    let o = out(rt, "inotify.0", &["sh", "-c", script]).await;
    assert!(o.contains("CREATE new"), "{o}");

    env.start("bb.0", "busybox", &["sleep", "3600"]).await;
    let sh = out(rt, "bb.0", &["sh", "-c", "readlink -f /proc/$$/exe"]).await;
    assert_eq!(sh, "/bin/busybox");
    assert!(out(rt, "bb.0", &["sh", "-c", "command -v tar"])
        .await
        .contains("tar"));
    env.start("bbnotar.0", "busybox:notar", &["sleep", "3600"])
        .await;
    for script in [
        "command -v tar",
        "tar --help",
        "busybox tar --help",
        "/bin/busybox tar --help",
    ] {
        let (code, _, _) = run(rt, "bbnotar.0", &["sh", "-c", script]).await;
        assert_ne!(code, 0, "busybox:notar has tar: {script}");
    }
    let (code, _, e) = run(rt, "bbnotar.0", &["tar", "--help"]).await;
    assert_eq!(code, EXEC_FAILED_STATUS, "{e}");
    // Everything else still works.
    let o = out(
        rt,
        "bbnotar.0",
        &[
            "sh",
            "-c",
            "echo a | gzip | gunzip; ls / | grep -c bin; sleep 0; tail -n1 /etc/passwd",
        ],
    )
    .await;
    assert!(o.starts_with("a\n"), "{o}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_non_root_user_is_unprivileged() {
    let Some(env) = Env::new() else { return };
    let mut cfg = env.config("user.0", "busybox", &["sleep", "3600"]);
    cfg.uid = 1000;
    cfg.gid = 1000;
    cfg.supplemental_gids = vec![2000];
    env.rt.start(cfg).await.unwrap();
    let rt = &env.rt;
    assert_eq!(out(rt, "user.0", &["id", "-u"]).await, "1000");
    assert_eq!(out(rt, "user.0", &["id", "-g"]).await, "1000");
    assert!(out(rt, "user.0", &["id", "-G"])
        .await
        .split_whitespace()
        .any(|g| g == "2000"));
    assert_eq!(out(rt, "user.0", &["sh", "-c", "echo $HOME"]).await, "/");
    let caps = out(
        rt,
        "user.0",
        &["grep", "-E", "^Cap(Eff|Prm)", "/proc/self/status"],
    )
    .await;
    assert!(
        caps.lines().all(|l| l.ends_with("0000000000000000")),
        "{caps}"
    );
    // /etc/passwd is root's, 0644.
    let (code, _, e) = run(rt, "user.0", &["sh", "-c", "echo x >> /etc/passwd"]).await;
    assert_ne!(code, 0, "uid 1000 wrote /etc/passwd");
    assert!(e.to_lowercase().contains("permission denied"), "{e}");
    assert_eq!(
        out(
            rt,
            "user.0",
            &["sh", "-c", "touch /tmp/mine && stat -c %u /tmp/mine"]
        )
        .await,
        "1000"
    );
    // The main process runs as 1000 too.
    let st = out(rt, "user.0", &["grep", "^Uid:", "/proc/1/status"]).await;
    assert!(st.contains("1000"), "{st}");

    // An exec as root in that container is root with the default capabilities.
    let as_root = ExecConfig {
        user: Some((0, 0)),
        ..cmd(&["sh", "-c", "echo x >> /etc/passwd && id -u && echo $HOME"])
    };
    let (code, o, e) = run_with(rt, "user.0", as_root, b"").await;
    assert_eq!((code, o.as_str()), (0, "0\n/root\n"), "{e}");

    // A root container: root's caps, HOME=/root.
    env.start("root.0", "busybox", &["sleep", "3600"]).await;
    let caps = out(rt, "root.0", &["grep", "^CapEff", "/proc/self/status"]).await;
    assert!(!caps.ends_with("0000000000000000"), "{caps}");
    // CAP_SYS_ADMIN (bit 21) is not in the default set.
    let eff = u64::from_str_radix(caps.split_whitespace().last().unwrap(), 16).unwrap();
    assert_eq!(eff & (1 << 21), 0, "{caps}");
    assert_eq!(
        out(rt, "root.0", &["sh", "-c", "echo $HOME"]).await,
        "/root"
    );
    // An exec as 1000 in a root container has no capabilities.
    let as_user = ExecConfig {
        user: Some((1000, 1000)),
        ..cmd(&[
            "sh",
            "-c",
            "grep ^CapEff /proc/self/status; id -u; echo x >> /etc/passwd",
        ])
    };
    let (code, o, _) = run_with(rt, "root.0", as_user, b"").await;
    assert_ne!(code, 0);
    assert!(o.contains("0000000000000000") && o.contains("1000"), "{o}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_bind_mounts_show_host_files() {
    let Some(env) = Env::new() else { return };
    let host = env.dir.path().join("volumes");
    let rw = host.join("rw");
    let ro = host.join("ro");
    std::fs::create_dir_all(&rw).unwrap();
    std::fs::create_dir_all(&ro).unwrap();
    std::fs::write(rw.join("hello.txt"), "from host\n").unwrap();
    std::fs::write(ro.join("config"), "read me\n").unwrap();
    std::fs::write(host.join("single"), "one file\n").unwrap();
    let mounts_before = mounts_mentioning(env.dir.path());
    let mut cfg = env.config("mnt.0", "busybox", &["sleep", "3600"]);
    cfg.mounts = vec![
        Mount {
            destination: "/data".into(),
            source: rw.clone(),
            read_only: false,
        },
        Mount {
            destination: "/etc/app".into(),
            source: ro.clone(),
            read_only: true,
        },
        Mount {
            destination: "/deep/new/file.txt".into(),
            source: host.join("single"),
            read_only: true,
        },
    ];
    env.rt.start(cfg).await.unwrap();
    let rt = &env.rt;
    assert_eq!(
        out(rt, "mnt.0", &["cat", "/data/hello.txt"]).await,
        "from host"
    );
    assert_eq!(
        out(rt, "mnt.0", &["cat", "/etc/app/config"]).await,
        "read me"
    );
    assert_eq!(
        out(rt, "mnt.0", &["cat", "/deep/new/file.txt"]).await,
        "one file"
    );
    out(
        rt,
        "mnt.0",
        &["sh", "-c", "echo from container > /data/new.txt"],
    )
    .await;
    assert_eq!(
        std::fs::read_to_string(rw.join("new.txt")).unwrap(),
        "from container\n"
    );
    let (code, _, e) = run(rt, "mnt.0", &["sh", "-c", "echo x > /etc/app/x"]).await;
    assert_ne!(code, 0);
    assert!(e.contains("Read-only"), "{e}");
    assert!(!ro.join("x").exists());
    // Host changes show inside.
    std::fs::write(rw.join("later.txt"), "later\n").unwrap();
    assert_eq!(out(rt, "mnt.0", &["cat", "/data/later.txt"]).await, "later");
    // Nothing was mounted on the host side.
    assert_eq!(mounts_mentioning(env.dir.path()), mounts_before);
    env.rt.remove("mnt.0").await.unwrap();
    assert_eq!(
        std::fs::read_to_string(rw.join("hello.txt")).unwrap(),
        "from host\n"
    );
    assert_eq!(mounts_mentioning(env.dir.path()), mounts_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_restart_gets_fresh_rootfs() {
    let Some(env) = Env::new() else { return };
    let rt = &env.rt;
    env.start("fresh.0", "debian", &["sleep", "3600"]).await;
    out(
        rt,
        "fresh.0",
        &[
            "sh",
            "-c",
            "echo changed > /etc/marker && rm /usr/bin/ls && echo x >> /etc/passwd",
        ],
    )
    .await;
    assert_eq!(out(rt, "fresh.0", &["cat", "/etc/marker"]).await, "changed");
    rt.remove("fresh.0").await.unwrap();
    assert!(!env.dir.path().join("containers/fresh.0").exists());
    for id in ["fresh.1", "fresh.0"] {
        env.start(id, "debian", &["sleep", "3600"]).await;
        let (code, _, _) = run(rt, id, &["cat", "/etc/marker"]).await;
        assert_ne!(code, 0, "{id} sees the old container's write");
        out(rt, id, &["ls", "/"]).await;
        assert!(!out(rt, id, &["cat", "/etc/passwd"]).await.ends_with('x'));
        rt.remove(id).await.unwrap();
    }
    // The image itself is untouched.
    let image = rt.resolve_image("debian").unwrap();
    assert!(image.rootfs.join("usr/bin/ls").exists());
    assert!(!image.rootfs.join("etc/marker").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_distroless_exec_of_sh_fails_fast() {
    let Some(env) = Env::new() else { return };
    let c = env.start("dl.0", "distroless", &[]).await;
    let rt = &env.rt;
    let t0 = Instant::now();
    let (code, o, e) = run(rt, "dl.0", &["sh", "-c", "echo hi"]).await;
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t0.elapsed()
    );
    assert_eq!(code, EXEC_FAILED_STATUS, "stdout {o:?} stderr {e:?}");
    assert!(e.contains("executable file not found"), "{e}");
    assert!(o.is_empty());
    // Still running, and its only program works.
    assert_eq!(c.exit_code(), None);
    assert_eq!(run(rt, "dl.0", &["/bin/sleep", "0"]).await.0, 0);
    assert_eq!(out(rt, "dl.0", &["sleep", "0"]).await, "");
    let root = rt.root_path("dl.0").unwrap();
    let mut bin: Vec<String> = std::fs::read_dir(root.join("bin"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    bin.sort();
    assert_eq!(bin, ["sleep"]);
    assert!(std::fs::read_to_string(root.join("etc/passwd"))
        .unwrap()
        .starts_with("root:"));
    // The default command is what runs.
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", c.pid)).unwrap();
    assert_eq!(cmdline, b"/bin/sleep\x002147483647\x00");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_main_process_exit_codes_signals_and_logs() {
    let Some(env) = Env::new() else { return };
    let rt = &env.rt;
    let c = env
        .start(
            "exit.0",
            "busybox",
            &["sh", "-c", "echo out; echo err >&2; exit 7"],
        )
        .await;
    assert_eq!(tokio::time::timeout(T, c.wait()).await.unwrap(), 7);
    assert_eq!(c.wait().await, 7, "wait again");
    assert_eq!(c.exit_code(), Some(7));
    let log = env.log("exit.0");
    assert!(log.contains("out\n") && log.contains("err\n"), "{log:?}");
    assert!(rt.root_path("exit.0").is_none());
    assert!(rt.exec("exit.0", &cmd(&["true"])).is_err());
    assert!(rt.signal("exit.0", libc::SIGTERM).is_err());
    rt.remove("exit.0").await.unwrap();
    rt.remove("exit.0").await.unwrap();

    // Appends: a restart writes after the old lines.
    let c = env
        .start("exit.0", "busybox", &["sh", "-c", "echo again"])
        .await;
    assert_eq!(tokio::time::timeout(T, c.wait()).await.unwrap(), 0);
    assert!(env.log("exit.0").ends_with("again\n"));
    assert!(env.log("exit.0").starts_with("out\n") || env.log("exit.0").starts_with("err\n"));

    let c = env.start("kill.0", "busybox", &["sleep", "3600"]).await;
    // pid 1 without a handler ignores SIGTERM, as on a real node...
    rt.signal("kill.0", libc::SIGTERM).unwrap();
    assert!(tokio::time::timeout(Duration::from_millis(500), c.wait())
        .await
        .is_err());
    // ...but not SIGKILL.
    rt.signal("kill.0", libc::SIGKILL).unwrap();
    assert_eq!(tokio::time::timeout(T, c.wait()).await.unwrap(), 137);

    let script = "trap 'echo got TERM; exit 42' TERM; echo ready; while true; do sleep 0.1; done";
    let c = env.start("term.0", "busybox", &["sh", "-c", script]).await;
    let t0 = Instant::now();
    while !env.log("term.0").contains("ready") && t0.elapsed() < T {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    rt.signal("term.0", libc::SIGTERM).unwrap();
    assert_eq!(tokio::time::timeout(T, c.wait()).await.unwrap(), 42);
    assert!(env.log("term.0").contains("got TERM"));

    // remove() of a running container kills it.
    let c = env.start("rm.0", "busybox", &["sleep", "3600"]).await;
    rt.remove("rm.0").await.unwrap();
    assert_eq!(tokio::time::timeout(T, c.wait()).await.unwrap(), 137);
    assert!(!env.dir.path().join("containers/rm.0").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_start_failure_reports_runc_error() {
    let Some(env) = Env::new() else { return };
    let cfg = env.config("bad.0", "busybox", &["/does-not-exist", "x"]);
    let err = env.rt.start(cfg).await.unwrap_err();
    let msg = format!("{err:#}");
    eprintln!("start error: {msg}\nlog: {:?}", env.log("bad.0"));
    assert!(msg.contains("does-not-exist"), "{msg}");
    env.rt.remove("bad.0").await.unwrap();
    assert!(!env.dir.path().join("containers/bad.0").exists());
    assert!(!env.dir.path().join("runc/bad.0").exists());
    // The id is usable again.
    env.start("bad.0", "busybox", &["sleep", "3600"]).await;
    // A duplicate id is refused.
    assert!(env
        .rt
        .start(env.config("bad.0", "busybox", &["true"]))
        .await
        .is_err());
    // Bad ids are refused.
    for id in ["", "../x", "A", ".hidden", "a/b"] {
        assert!(
            env.rt
                .start(env.config(id, "busybox", &["true"]))
                .await
                .is_err(),
            "{id:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_environment_namespaces_and_defaults() {
    let Some(env) = Env::new() else { return };
    let rt = &env.rt;
    let mut cfg = env.config("env.0", "busybox", &["sleep", "3600"]);
    cfg.env = vec![
        ("FOO".into(), "bar baz".into()),
        ("HOME".into(), "/home/x".into()),
    ];
    cfg.working_dir = Some("/work/dir".into());
    cfg.hostname = "my-pod".into();
    rt.start(cfg).await.unwrap();
    let o = out(
        rt,
        "env.0",
        &[
            "sh",
            "-c",
            "echo \"$PATH|$HOME|$HOSTNAME|$FOO\"; pwd; hostname",
        ],
    )
    .await;
    assert_eq!(
        o,
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|/home/x|my-pod|bar baz\n/work/dir\nmy-pod"
    );
    let with_env = ExecConfig {
        env: vec![("FOO".into(), "exec".into())],
        working_dir: Some("/tmp".into()),
        ..cmd(&["sh", "-c", "echo $FOO; pwd"])
    };
    assert_eq!(run_with(rt, "env.0", with_env, b"").await.1, "exec\n/tmp\n");
    assert_eq!(
        out(rt, "env.0", &["stat", "-c", "%a", "/tmp"]).await,
        "1777"
    );
    assert_eq!(out(rt, "env.0", &["cat", "/etc/hostname"]).await, "my-pod");
    let dev = out(rt, "env.0", &["ls", "/dev"]).await;
    for d in [
        "null", "zero", "full", "random", "urandom", "tty", "pts", "shm",
    ] {
        assert!(
            dev.split_whitespace().any(|x| x == d),
            "/dev lacks {d}: {dev}"
        );
    }
    assert_eq!(
        out(
            rt,
            "env.0",
            &[
                "sh",
                "-c",
                "echo hi > /dev/null && head -c 4 /dev/zero | wc -c"
            ]
        )
        .await,
        "4"
    );
    // Only loopback, and it is up.
    let net = out(rt, "env.0", &["cat", "/proc/net/dev"]).await;
    let ifaces: Vec<&str> = net
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(ifaces, ["lo"], "{net}");
    let lo = out(
        rt,
        "env.0",
        &[
            "cat",
            "/sys/class/net/lo/operstate",
            "/sys/class/net/lo/flags",
        ],
    )
    .await;
    assert!(lo.ends_with('9'), "lo is not up: {lo}");
    let (code, _, _) = run(rt, "env.0", &["touch", "/sys/x"]).await;
    assert_ne!(code, 0, "/sys is writable");
    // Own pid namespace: few processes.
    let ps = out(rt, "env.0", &["sh", "-c", "ls -d /proc/[0-9]* | wc -l"]).await;
    assert!(ps.parse::<u32>().unwrap() < 10, "{ps}");

    // args alone replace the image's default command; command + args concatenate.
    let mut cfg = env.config("args.0", "busybox", &[]);
    cfg.args = vec!["sh".into(), "-c".into(), "echo args-only".into()];
    let c = rt.start(cfg).await.unwrap();
    assert_eq!(tokio::time::timeout(T, c.wait()).await.unwrap(), 0);
    assert_eq!(env.log("args.0"), "args-only\n");
    let mut cfg = env.config("cmdargs.0", "busybox", &["sh", "-c"]);
    cfg.args = vec!["echo $0 $1".into(), "a".into(), "b".into()];
    let c = rt.start(cfg).await.unwrap();
    assert_eq!(tokio::time::timeout(T, c.wait()).await.unwrap(), 0);
    assert_eq!(env.log("cmdargs.0"), "a b\n");
    // Neither: the image default (busybox: sh, which exits at once on /dev/null stdin).
    let c = env.start("default.0", "busybox", &[]).await;
    assert_eq!(tokio::time::timeout(T, c.wait()).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_root_path_reads_container_files() {
    let Some(env) = Env::new() else { return };
    env.start("rp.0", "busybox", &["sleep", "3600"]).await;
    out(&env.rt, "rp.0", &["sh", "-c", "echo inside > /tmp/f"]).await;
    let root = env.rt.root_path("rp.0").unwrap();
    assert_eq!(
        std::fs::read_to_string(root.join("tmp/f")).unwrap(),
        "inside\n"
    );
    // Applet links are relative, so they resolve to the container's busybox.
    let via_link = std::fs::metadata(root.join("usr/bin/env")).unwrap().len();
    assert_eq!(
        via_link,
        std::fs::metadata(root.join("bin/busybox")).unwrap().len()
    );
    assert!(env.rt.root_path("nope").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_idle_container_uses_no_cpu() {
    let Some(env) = Env::new() else { return };
    let c = env.start("idle.0", "busybox", &["sleep", "3600"]).await;
    let runc_pid = env.rt.containers().get("idle.0").unwrap().runc_pid;
    assert!(runc_pid > 0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = cpu_ticks(runc_pid) + cpu_ticks(c.pid);
    let me_before = cpu_ticks(std::process::id());
    tokio::time::sleep(Duration::from_secs(4)).await;
    let used = cpu_ticks(runc_pid) + cpu_ticks(c.pid) - before;
    let me_used = cpu_ticks(std::process::id()) - me_before;
    // 1% of 4 s is 4 ticks (at 100 Hz).
    assert!(used <= 4, "runc + container used {used} ticks in 4 s");
    eprintln!("idle: runc+container {used} ticks, test process {me_used} ticks in 4 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_cleanup_all_is_complete_and_isolated() {
    let Some(a) = Env::new() else { return };
    let Some(b) = Env::new() else { return };
    // Same container ids in both clusters.
    let a1 = a
        .start("default.web.c.0", "busybox", &["sleep", "3600"])
        .await;
    let a2 = a
        .start("default.db.c.0", "debian", &["sleep", "3600"])
        .await;
    let b1 = b
        .start("default.web.c.0", "busybox", &["sleep", "3600"])
        .await;
    // A long-running exec in one of A's containers.
    let mut bg =
        a.rt.exec("default.web.c.0", &cmd(&["sleep", "1000"]))
            .unwrap();
    // A stopped container and a bundle without container.
    let a3 = a.start("default.done.c.0", "busybox", &["true"]).await;
    tokio::time::timeout(T, a3.wait()).await.unwrap();
    std::fs::create_dir_all(a.dir.path().join("containers/stray/rootfs")).unwrap();

    let a_id = a.rt.cluster_id().to_string();
    let parents: Vec<PathBuf> =
        a.rt.inner
            .cgroup_parents
            .lock()
            .unwrap()
            .iter()
            .cloned()
            .collect();
    assert!(!parents.is_empty());
    assert!(
        parents
            .iter()
            .all(|p| p.ends_with(format!("{CGROUP_PARENT}/{a_id}")) && p.is_dir()),
        "{parents:?}"
    );
    assert!(!pids_in_cluster_cgroup(&a_id).is_empty());

    let removed: BTreeSet<String> = a.rt.cleanup_all().unwrap().into_iter().collect();
    for want in [
        "container default.web.c.0",
        "container default.db.c.0",
        "bundle default.done.c.0",
        "bundle stray",
    ] {
        assert!(removed.contains(want), "{want} not in {removed:?}");
    }
    assert_eq!(tokio::time::timeout(T, a1.wait()).await.unwrap(), 137);
    assert_eq!(tokio::time::timeout(T, a2.wait()).await.unwrap(), 137);
    let bg_status = tokio::time::timeout(T, bg.wait()).await.unwrap().unwrap();
    assert!(!bg_status.success());
    assert_eq!(
        std::fs::read_dir(a.dir.path().join("runc"))
            .unwrap()
            .count(),
        0
    );
    let left: Vec<_> = std::fs::read_dir(a.dir.path().join("containers"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(pids_in_cluster_cgroup(&a_id), Vec::<i32>::new());
    assert_eq!(pids_mentioning(a.dir.path()), Vec::<i32>::new());
    for p in &parents {
        assert!(!p.exists(), "{} still exists", p.display());
    }
    // B is untouched.
    assert_eq!(b1.exit_code(), None);
    assert_eq!(
        out(&b.rt, "default.web.c.0", &["echo", "b alive"]).await,
        "b alive"
    );
    assert!(!pids_in_cluster_cgroup(b.rt.cluster_id()).is_empty());
    // A works again afterwards, and a second cleanup finds nothing.
    a.start("default.web.c.1", "busybox", &["sleep", "3600"])
        .await;
    a.rt.remove("default.web.c.1").await.unwrap();
    assert_eq!(a.rt.cleanup_all().unwrap(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_cleanup_after_crash_from_a_new_runtime() {
    let Some(env) = Env::new() else { return };
    let c = env.start("crash.0", "busybox", &["sleep", "3600"]).await;
    let cid = env.rt.cluster_id().to_string();
    // What `up` does after a crash: a new runtime on the same folder, which never saw
    // the container.
    let fresh = Runtime::open(env.dir.path(), "cleanup").unwrap();
    let removed = fresh.cleanup_all().unwrap();
    assert_eq!(removed, ["container crash.0"]);
    assert_eq!(tokio::time::timeout(T, c.wait()).await.unwrap(), 137);
    assert_eq!(pids_in_cluster_cgroup(&cid), Vec::<i32>::new());
    assert_eq!(pids_mentioning(env.dir.path()), Vec::<i32>::new());
    assert!(!env.dir.path().join("containers/crash.0").exists());
    // signal() of a container this runtime does not know falls back to runc kill.
    env.start("other.0", "busybox", &["sleep", "3600"]).await;
    let fresh = Runtime::open(env.dir.path(), "cleanup2").unwrap();
    fresh.signal("other.0", libc::SIGKILL).unwrap();
    let c = env
        .rt
        .containers()
        .get("other.0")
        .map(|e| e.exited.clone())
        .unwrap();
    let mut c = c;
    let code = tokio::time::timeout(T, c.wait_for(Option::is_some))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(code, 137);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_parallel_starts_and_fast_copies() {
    let Some(env) = Env::new() else { return };
    let image = env.rt.resolve_image("debian").unwrap();
    let t0 = Instant::now();
    let copy = env.dir.path().join("copy-test");
    images::copy_tree(&image.rootfs, &copy).unwrap();
    let took = t0.elapsed();
    eprintln!("copying the debian image took {took:?}");
    assert!(took < Duration::from_secs(3), "copy took {took:?}");
    std::fs::remove_dir_all(&copy).unwrap();

    let t0 = Instant::now();
    let starts = (0..4).map(|i| {
        let env = &env;
        async move {
            env.start(&format!("par.{i}"), "debian", &["sleep", "3600"])
                .await
        }
    });
    let cs = futures::future::join_all(starts).await;
    eprintln!("4 parallel debian starts took {:?}", t0.elapsed());
    for (i, c) in cs.iter().enumerate() {
        assert_eq!(c.exit_code(), None);
        assert_eq!(
            out(&env.rt, &format!("par.{i}"), &["hostname"]).await,
            "test-pod"
        );
    }
}

#[test]
fn runtime_images_build_and_ids_are_stable() {
    if !can_run() {
        return;
    }
    for name in IMAGES {
        let a = images::resolve(name).unwrap();
        assert_eq!(a.name, *name);
        assert!(a.id.starts_with("sha256:") && a.id.len() == 71, "{}", a.id);
        assert!(a.rootfs.join("etc/passwd").is_file(), "{name}");
        let tmp = std::fs::metadata(a.rootfs.join("tmp")).unwrap();
        assert_eq!(tmp.permissions().mode() & 0o7777, 0o1777, "{name}");
        let b = images::resolve(&format!("docker.io/library/{name}")).unwrap();
        assert_eq!(a.id, b.id);
        // The id is the content's: hashing again gives the same.
        assert_eq!(
            a.id,
            format!("sha256:{}", images::content_digest(&a.rootfs).unwrap())
        );
        // sha256sum and the in-process fallback agree.
        let bin = a.rootfs.join("bin/busybox");
        let bin = if bin.exists() {
            bin
        } else {
            a.rootfs.join("bin/sleep")
        };
        if bin.exists() {
            let mut h = sha256::Sha256::new();
            h.update(&std::fs::read(&bin).unwrap());
            assert_eq!(images::file_digests(&[bin]).unwrap(), [h.finish_hex()]);
        }
        // By digest.
        let by_digest = images::resolve(&format!("{name}@{}", a.id)).unwrap();
        assert_eq!(by_digest.id, a.id);
    }
    let wrong = format!("busybox@sha256:{}", "0".repeat(64));
    assert!(matches!(
        images::resolve(&wrong),
        Err(ImageError::NotFound { .. })
    ));
    assert_eq!(images::resolve("debian").unwrap().default_command, ["sh"]);
    assert_eq!(
        images::resolve("distroless").unwrap().default_command,
        ["/bin/sleep", "2147483647"]
    );
    let ids: BTreeSet<String> = IMAGES
        .iter()
        .map(|n| images::resolve(n).unwrap().id)
        .collect();
    assert_eq!(ids.len(), IMAGES.len(), "images share an id");
    // No shell anywhere in distroless.
    let dl = images::resolve("distroless").unwrap().rootfs;
    for sh in ["bin/sh", "usr/bin/sh", "bin/busybox"] {
        assert!(
            std::fs::symlink_metadata(dl.join(sh)).is_err(),
            "{sh} in distroless"
        );
    }
}

#[test]
fn runtime_command_line_rules() {
    let image = Image {
        reference: "x".into(),
        name: "busybox".into(),
        id: "sha256:0".into(),
        default_command: vec!["sh".into()],
        rootfs: PathBuf::from("/nonexistent"),
    };
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(command_line(&image, &[], &[]).unwrap(), v(&["sh"]));
    assert_eq!(command_line(&image, &v(&["a"]), &[]).unwrap(), v(&["a"]));
    assert_eq!(
        command_line(&image, &[], &v(&["b", "c"])).unwrap(),
        v(&["b", "c"])
    );
    assert_eq!(
        command_line(&image, &v(&["a"]), &v(&["b"])).unwrap(),
        v(&["a", "b"])
    );
    let empty = Image {
        default_command: vec![],
        ..image
    };
    assert!(command_line(&empty, &[], &[]).is_err());
    assert!(validate_id("default.web-1.c_2.0").is_ok());
    for bad in ["", ".", "..", "a/b", "Upper", ".x", "a b"] {
        assert!(validate_id(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn runtime_types_are_shareable() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<Runtime>();
    check::<Container>();
    check::<Image>();
    check::<ContainerConfig>();
    check::<ExecConfig>();
}
