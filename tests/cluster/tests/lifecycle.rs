//! The cluster as a process: `up` / `down` own exactly their folder's containers,
//! processes and mounts; two clusters run side by side; an idle cluster is idle.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{pod_yaml, Kubectl};
use ferry_testkit::{cluster_binary, TestCluster};

/// Processes whose command line contains `needle`.
fn processes_with(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        if let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            if String::from_utf8_lossy(&cmd)
                .replace('\0', " ")
                .contains(needle)
            {
                out.push(pid);
            }
        }
    }
    out
}

fn mounts_under(dir: &Path) -> Vec<String> {
    let dir = dir.to_string_lossy().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.split(' ').nth(4).is_some_and(|m| m.starts_with(&dir)))
        .map(String::from)
        .collect()
}

fn runc_containers(dir: &Path) -> String {
    let out = std::process::Command::new("runc")
        .arg("--root")
        .arg(dir.join("runc"))
        .args(["list", "-q"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The acceptance walk-through, with kubectl: busybox, debian and uid 1000 pods,
/// exec with stdin and exit codes, then `down` leaves nothing of this cluster behind
/// while a second cluster beside it keeps serving.
#[test]
fn up_exec_down_leaves_nothing_and_spares_a_neighbour() {
    let token = format!("{}", 4_000_000 + std::process::id());
    let sleeper = format!("trap 'exit 0' TERM; while true; do sleep {token}; done");
    let mut first = TestCluster::start().unwrap();
    let second = TestCluster::start().unwrap();
    let k1 = Kubectl::new(
        Path::new("/usr/bin/kubectl"),
        &first.kubeconfig(),
        "default",
    );
    let k2 = Kubectl::new(
        Path::new("/usr/bin/kubectl"),
        &second.kubeconfig(),
        "default",
    );
    k2.create(&pod_yaml(
        "neighbour",
        "busybox",
        None,
        "trap 'exit 0' TERM; while true; do sleep 1; done",
    ));
    k2.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/neighbour",
        "--timeout=90s",
    ]);

    for (name, image, user) in [
        ("bb", "busybox", None),
        ("deb", "debian", None),
        ("nonroot", "debian", Some(1000)),
    ] {
        k1.create(&pod_yaml(name, image, user, &sleeper));
        k1.ok(&[
            "wait",
            "--for=condition=Ready",
            &format!("pod/{name}"),
            "--timeout=90s",
        ]);
        let out = k1.run_with_input(
            &["exec", "-i", name, "--", "sh", "-c", "cat; id -u; exit 3"],
            b"ping\n",
        );
        let uid = user.unwrap_or(0);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("ping\n{uid}\n"),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(3), "{name}");
    }
    // An emptyDir of Memory medium is a host mount under the cluster's folder.
    let mem = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: mem\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: main\n    image: busybox\n    command: [\"sh\", \"-c\", \"while true; do sleep 1; done\"]\n    volumeMounts:\n    - {name: m, mountPath: /m}\n  volumes:\n  - name: m\n    emptyDir: {medium: Memory, sizeLimit: 1Mi}\n";
    k1.create(mem);
    k1.ok(&["wait", "--for=condition=Ready", "pod/mem", "--timeout=90s"]);
    assert!(!processes_with(&format!("sleep {token}")).is_empty());
    assert!(
        !mounts_under(&first.dir).is_empty(),
        "expected the tmpfs volume mount"
    );
    assert!(!runc_containers(&first.dir).is_empty());

    let dir = first.dir.clone();
    first.stop().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        processes_with(&format!("sleep {token}")),
        Vec::<u32>::new(),
        "container processes left"
    );
    assert_eq!(
        processes_with(&dir.to_string_lossy()),
        Vec::<u32>::new(),
        "processes of the cluster left"
    );
    assert_eq!(mounts_under(&dir), Vec::<String>::new(), "mounts left");
    assert_eq!(runc_containers(&dir), "", "runc containers left");
    assert!(!dir.join("kubeconfig").exists());

    // The neighbour is untouched.
    let out = k2.run_with_input(&["exec", "-i", "neighbour", "--", "cat"], b"still here\n");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "still here\n");
}

/// Runs `ferry-cluster down --dir` when dropped, so a failing test leaves nothing behind.
struct DownOnDrop<'a>(&'a Path);

impl Drop for DownOnDrop<'_> {
    fn drop(&mut self) {
        let _ = std::process::Command::new(cluster_binary())
            .args(["down", "--dir"])
            .arg(self.0)
            .output();
    }
}

/// `up` after a crash (SIGKILL) removes the stale containers of its own folder.
#[test]
fn up_cleans_up_after_a_crashed_run() {
    let token = format!("{}", 5_000_000 + std::process::id());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let _guard = DownOnDrop(dir);
    let start = || {
        // The crashed run's kubeconfig is still there: readiness is a new one.
        let _ = std::fs::remove_file(dir.join("kubeconfig"));
        let child = std::process::Command::new(cluster_binary())
            .args(["up", "--dir"])
            .arg(dir)
            .stderr(std::fs::File::create(dir.join("log")).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !dir.join("kubeconfig").exists() {
            assert!(Instant::now() < deadline, "no kubeconfig");
            std::thread::sleep(Duration::from_millis(25));
        }
        child
    };
    let mut crashed = start();
    let k = Kubectl::new(
        Path::new("/usr/bin/kubectl"),
        &dir.join("kubeconfig"),
        "default",
    );
    k.create(&pod_yaml(
        "left",
        "busybox",
        None,
        &format!("while true; do sleep {token}; done"),
    ));
    k.ok(&["wait", "--for=condition=Ready", "pod/left", "--timeout=90s"]);
    crashed.kill().unwrap();
    crashed.wait().unwrap();
    assert!(
        !processes_with(&format!("sleep {token}")).is_empty(),
        "a SIGKILLed cluster leaves its containers"
    );
    let mut again = start();
    assert_eq!(
        processes_with(&format!("sleep {token}")),
        Vec::<u32>::new(),
        "stale containers survived a new up"
    );
    let out = std::process::Command::new(cluster_binary())
        .args(["down", "--dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let _ = again.wait();
    assert_eq!(runc_containers(dir), "");
}

/// Total CPU time (user + system, in clock ticks) of `pid` and all its descendants.
fn tree_cpu_ticks(pid: u32) -> u64 {
    let mut children: std::collections::HashMap<u32, Vec<u32>> = Default::default();
    let mut ticks: std::collections::HashMap<u32, u64> = Default::default();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let rest = stat.rsplit(')').next().unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        // fields after the comm: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14)
        let ppid: u32 = f[1].parse().unwrap_or(0);
        let t: u64 = f[11].parse::<u64>().unwrap_or(0)
            + f[12].parse::<u64>().unwrap_or(0)
            + f[13].parse::<u64>().unwrap_or(0)
            + f[14].parse::<u64>().unwrap_or(0);
        children.entry(ppid).or_default().push(p);
        ticks.insert(p, t);
    }
    let mut total = 0;
    let mut stack = vec![pid];
    while let Some(p) = stack.pop() {
        total += ticks.get(&p).copied().unwrap_or(0);
        stack.extend(children.get(&p).cloned().unwrap_or_default());
    }
    total
}

/// A cluster with one idle pod uses under 1% of a core over 60 s, children included.
#[test]
fn an_idle_cluster_with_one_pod_is_idle() {
    let cluster = TestCluster::start().unwrap();
    let k = Kubectl::new(
        Path::new("/usr/bin/kubectl"),
        &cluster.kubeconfig(),
        "default",
    );
    k.create(&pod_yaml(
        "idle",
        "busybox",
        None,
        "trap 'exit 0' TERM; while true; do sleep 3600; done",
    ));
    k.ok(&["wait", "--for=condition=Ready", "pod/idle", "--timeout=90s"]);
    let pid: u32 = std::fs::read_to_string(cluster.dir.join("ferry-cluster.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let before = tree_cpu_ticks(pid);
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(60));
    let used = (tree_cpu_ticks(pid) - before) as f64 / hz;
    let share = used / t.elapsed().as_secs_f64();
    eprintln!(
        "idle cluster CPU: {used:.3} s over {:.1} s = {:.3}% of a core",
        t.elapsed().as_secs_f64(),
        share * 100.0
    );
    assert!(
        share < 0.01,
        "idle cluster used {:.2}% of a core",
        share * 100.0
    );
}
