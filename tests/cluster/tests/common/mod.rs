//! Helpers shared by the cluster's integration tests: finding and running the machine's
//! kubectl binaries against a test cluster.

#![allow(dead_code, unused_macros)]

/// The kubectl minor versions the tests cover; `every_installed_kubectl_has_a_test`
/// fails when the machine has one outside it.
pub const KUBECTL_MINORS: std::ops::RangeInclusive<u32> = 27..=33;

/// One `#[test]` per kubectl: `dispatcher_usr_bin_kubectl` and `kubectl_1_27` …
/// `kubectl_1_33`, each calling `$scenario(label, minor)` (minor `None` for the
/// dispatcher). A scenario skips, saying so, when its kubectl is not installed.
macro_rules! kubectl_tests {
    ($scenario:ident) => {
        #[test]
        fn dispatcher_usr_bin_kubectl() {
            $scenario("kubectl", None);
        }
        kubectl_tests!(@each $scenario, kubectl_1_27 => 27, kubectl_1_28 => 28,
            kubectl_1_29 => 29, kubectl_1_30 => 30, kubectl_1_31 => 31,
            kubectl_1_32 => 32, kubectl_1_33 => 33);
    };
    (@each $scenario:ident, $($name:ident => $minor:expr),*) => {$(
        #[test]
        fn $name() {
            $scenario(&format!("kubectl.1.{}", $minor), Some($minor));
        }
    )*};
}

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// `/usr/bin/kubectl` (the dispatcher) and every `kubectl.1.NN` beside the real binary,
/// as (label, path, minor version — None for the dispatcher).
pub fn kubectl_binaries() -> Vec<(String, PathBuf, Option<u32>)> {
    let mut out = Vec::new();
    let dispatcher = PathBuf::from("/usr/bin/kubectl");
    if !dispatcher.exists() {
        return out;
    }
    out.push(("kubectl".to_string(), dispatcher.clone(), None));
    if let Ok(real) = std::fs::canonicalize(&dispatcher) {
        if let Some(dir) = real.parent() {
            let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().to_string();
                    let minor = name.strip_prefix("kubectl.1.")?.parse().ok()?;
                    Some((minor, e.path()))
                })
                .collect();
            found.sort();
            for (minor, p) in found {
                out.push((format!("kubectl.1.{minor}"), p, Some(minor)));
            }
        }
    }
    out
}

/// The `kubectl.1.NN` binary, if this machine has it.
pub fn kubectl_version(minor: u32) -> Option<PathBuf> {
    kubectl_binaries()
        .into_iter()
        .find(|(_, _, m)| *m == Some(minor))
        .map(|(_, p, _)| p)
}

/// The kubectl called `label` (from [`kubectl_binaries`]) and a cluster that reports
/// its version (`minor`; 1.33 for the dispatcher), or `None` — said loudly — when the
/// machine does not have that kubectl.
pub fn kubectl_and_cluster(
    label: &str,
    minor: Option<u32>,
) -> Option<(PathBuf, ferry_testkit::TestCluster)> {
    let Some((_, bin, _)) = kubectl_binaries().into_iter().find(|(l, _, _)| l == label) else {
        eprintln!("SKIPPED {label}: not installed on this machine");
        return None;
    };
    let cluster = ferry_testkit::TestCluster::start_with(ferry_testkit::ClusterOptions {
        kube_minor: minor.unwrap_or(33),
        ..Default::default()
    })
    .expect("cluster");
    Some((bin, cluster))
}

pub struct Kubectl {
    pub bin: PathBuf,
    pub kubeconfig: PathBuf,
    pub namespace: String,
}

impl Kubectl {
    pub fn new(bin: &Path, kubeconfig: &Path, namespace: &str) -> Kubectl {
        Kubectl {
            bin: bin.to_path_buf(),
            kubeconfig: kubeconfig.to_path_buf(),
            namespace: namespace.to_string(),
        }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--namespace")
            .arg(&self.namespace)
            .args(args)
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null());
        c
    }

    /// Runs kubectl with `stdin`, failing the test on a timeout.
    pub fn run_with_input(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut c = self.cmd(args);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn kubectl");
        let mut w = child.stdin.take().unwrap();
        let data = stdin.to_vec();
        let feeder = std::thread::spawn(move || {
            let _ = w.write_all(&data);
        });
        let out = wait_with_timeout(child, Duration::from_secs(120), args);
        let _ = feeder.join();
        out
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let mut c = self.cmd(args);
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        let child = c.spawn().expect("spawn kubectl");
        wait_with_timeout(child, Duration::from_secs(120), args)
    }

    /// Runs kubectl and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{} {:?} failed ({}):\nstdout: {}\nstderr: {}",
            self.bin.display(),
            args,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Creates `manifest` (YAML) with `create -f -`.
    pub fn create(&self, manifest: &str) {
        let out = self.run_with_input(&["create", "-f", "-"], manifest.as_bytes());
        assert!(
            out.status.success(),
            "kubectl create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn wait_with_timeout(mut child: std::process::Child, timeout: Duration, args: &[&str]) -> Output {
    use std::io::Read;
    let mut so = child.stdout.take();
    let mut se = child.stderr.take();
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(r) = so.as_mut() {
            let _ = r.read_to_end(&mut v);
        }
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(r) = se.as_mut() {
            let _ = r.read_to_end(&mut v);
        }
        v
    });
    let deadline = std::time::Instant::now() + timeout;
    let status = loop {
        match child.try_wait().expect("wait") {
            Some(s) => break s,
            None if std::time::Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                let err = err_t.join().unwrap_or_default();
                panic!(
                    "kubectl {args:?} did not finish within {timeout:?}; stderr: {}",
                    String::from_utf8_lossy(&err)
                );
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    Output {
        status,
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
    }
}

/// A pod manifest in YAML, the way a user writes one.
pub fn pod_yaml(name: &str, image: &str, user: Option<u32>, command: &str) -> String {
    let sc = user
        .map(|u| format!("  securityContext:\n    runAsUser: {u}\n    runAsGroup: {u}\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels:\n    app: {name}\n    suite: kubectl\nspec:\n{sc}  terminationGracePeriodSeconds: 1\n  containers:\n  - name: main\n    image: {image}\n    command: [\"sh\", \"-c\", {command:?}]\n"
    )
}
