//! Support for the sync engine's end-to-end tests: a cluster with a namespace of the
//! test's own, pods, a workspace with a config, the real `ferry` binary, and manifests
//! of both sides (path, type, size, mode, mtime, content) to compare.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use ferry_testkit::{
    create_namespace, create_ready_pod, ClusterOptions, Control, PodBuilder, TestCluster,
};

/// The `ferry` binary under test.
pub fn ferry_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ferry"))
}

/// Which exec subprotocol the cluster offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exec {
    /// `v5.channel.k8s.io` (stdin close).
    V5,
    /// `v5` refused: kube-rs falls back to `v4.channel.k8s.io`.
    V4,
}

/// A cluster, a client, the control interface and a namespace for one test.
pub struct Env {
    pub cluster: TestCluster,
    pub client: kube::Client,
    pub control: Control,
    pub ns: String,
    pub exec: Exec,
}

impl Env {
    /// Starts a cluster (refusing v5 for [`Exec::V4`]) and creates namespace `ns`.
    pub async fn start(ns: &str, exec: Exec) -> Env {
        let cluster = TestCluster::start_with(ClusterOptions {
            refuse_v5: exec == Exec::V4,
            ..ClusterOptions::default()
        })
        .expect("cluster starts");
        let client = cluster.client().await.expect("client");
        let control = cluster.control().await.expect("control");
        create_namespace(&client, ns).await.expect("namespace");
        Env {
            cluster,
            client,
            control,
            ns: ns.to_string(),
            exec,
        }
    }

    /// Creates `pod` in the test's namespace and waits until it is Ready.
    pub async fn pod(&self, pod: &PodBuilder) {
        create_ready_pod(&self.client, &self.ns, pod)
            .await
            .expect("pod becomes ready");
    }

    /// Runs `script` with `sh -c` in `pod` as root; panics unless it exits 0. Returns stdout.
    pub async fn sh(&self, pod: &str, script: &str) -> String {
        let out = self
            .control
            .run(&self.ns, pod, &["sh", "-c", script], b"")
            .await
            .expect("control run");
        assert_eq!(
            out.exit_code, 0,
            "`{script}` in {pod} failed: {}",
            out.stderr
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `script` in `pod` as root and returns its exit code.
    pub async fn sh_status(&self, pod: &str, script: &str) -> i32 {
        self.control
            .run(&self.ns, pod, &["sh", "-c", script], b"")
            .await
            .expect("control run")
            .exit_code
    }

    /// The container's view of `path` in `pod` (`None` if it cannot be read).
    pub async fn read(&self, pod: &str, path: &str) -> Option<Vec<u8>> {
        self.control.read_file(&self.ns, pod, path).await.ok()
    }

    /// The exec subprotocols ferry's streams into `pod` negotiated (from the cluster's
    /// counters).
    pub async fn protocols(&self, pod: &str) -> Vec<String> {
        self.control
            .streams(&self.ns, pod)
            .await
            .expect("streams")
            .iter()
            .filter_map(|s| s["protocol"].as_str().map(str::to_string))
            .collect()
    }

    /// Asserts every exec stream into `pod` used the subprotocol this env forces.
    pub async fn assert_protocol(&self, pod: &str) {
        let want = match self.exec {
            Exec::V5 => "v5.channel.k8s.io",
            Exec::V4 => "v4.channel.k8s.io",
        };
        let got = self.protocols(pod).await;
        assert!(!got.is_empty(), "no exec streams recorded for {pod}");
        assert!(
            got.iter().all(|p| p == want),
            "expected every stream on {want}, got {got:?}"
        );
    }

    /// Polls `check` (up to `timeout`, generous) until it returns true.
    pub async fn wait_for<F, Fut>(&self, what: &str, timeout: Duration, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            if check().await {
                return;
            }
            assert!(Instant::now() < deadline, "timed out waiting for: {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A cluster with namespace `ns` and a busybox pod `web` (label `app: web`, `/app`), and
/// a workspace syncing its `src` with `/app`.
pub async fn env_with_pod(ns: &str) -> (Env, Workspace) {
    let env = Env::start(ns, Exec::V5).await;
    env.pod(&sync_pod("web", "busybox")).await;
    let ws = Workspace::new();
    ws.devspace("web", ns, "src", "/app", "");
    (env, ws)
}

/// A pod for sync tests: `image`, label `app: name`, a container `main` with `/app`.
pub fn sync_pod(name: &str, image: &str) -> PodBuilder {
    PodBuilder::new(name, image).command(&[
        "sh",
        "-c",
        "mkdir -p /app; trap 'exit 0' TERM; while true; do sleep 1; done",
    ])
}

/// A local workspace folder with a config.
pub struct Workspace {
    pub dir: tempfile::TempDir,
    /// Where a running sync's stdout and stderr go (outside the workspace, so they are
    /// never synced, and per test).
    pub logs: tempfile::TempDir,
}

impl Workspace {
    /// An empty workspace.
    pub fn new() -> Workspace {
        Workspace {
            dir: tempfile::Builder::new()
                .prefix("ferry-ws.")
                .tempdir()
                .expect("tempdir"),
            logs: tempfile::Builder::new()
                .prefix("ferry-ws-logs.")
                .tempdir()
                .expect("tempdir"),
        }
    }

    /// The workspace folder.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `root/rel`.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes a file (creating folders).
    pub fn write(&self, rel: &str, data: impl AsRef<[u8]>) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
    }

    /// Reads a file.
    pub fn read(&self, rel: &str) -> Option<Vec<u8>> {
        std::fs::read(self.path(rel)).ok()
    }

    /// Writes `devspace.yaml` syncing `sync_dir` (relative to the workspace, e.g. `src`)
    /// with `container_path` in pods labelled `app: <app>` of `ns`, plus `extra` lines
    /// (indented like the sync entry's fields, e.g. `      excludePaths: [a]`).
    pub fn devspace(&self, app: &str, ns: &str, sync_dir: &str, container_path: &str, extra: &str) {
        let yaml = format!(
            "version: v2beta1\nname: test\ndev:\n  {app}:\n    labelSelector:\n      app: {app}\n    namespace: {ns}\n    sync:\n    - path: ./{sync_dir}:{container_path}\n{extra}\n"
        );
        self.write("devspace.yaml", yaml);
    }

    /// `ferry sync --once` in this workspace with `kubeconfig`; waits for it (3 min max).
    pub fn sync_once(&self, kubeconfig: &Path) -> Output {
        let mut child = self
            .command(kubeconfig, &["sync", "--once"])
            .spawn()
            .expect("spawn ferry");
        wait_output(&mut child, Duration::from_secs(180))
    }

    /// `ferry sync --once`; returns what it printed and whether it succeeded.
    pub fn once(&self, env: &Env) -> (String, bool) {
        let out = self.sync_once(&env.cluster.kubeconfig());
        (printed(&out), out.status.success())
    }

    /// `ferry sync --once`, which must succeed (a set-up step named `what`).
    pub fn once_ok(&self, env: &Env, what: &str) -> String {
        let (text, ok) = self.once(env);
        assert!(ok, "{what}: {text}");
        text
    }

    /// Runs `ferry ARGS` in this workspace and waits (3 min max).
    pub fn ferry(&self, kubeconfig: &Path, args: &[&str]) -> Output {
        self.ferry_with_env(kubeconfig, args, &[])
    }

    /// `ferry ARGS` with more environment variables.
    pub fn ferry_with_env(
        &self,
        kubeconfig: &Path,
        args: &[&str],
        vars: &[(&str, &str)],
    ) -> Output {
        let mut cmd = self.command(kubeconfig, args);
        cmd.envs(vars.iter().copied());
        let mut child = cmd.spawn().expect("spawn ferry");
        wait_output(&mut child, Duration::from_secs(180))
    }

    /// `ferry ARGS` with stdout and stderr on one pipe, so the text shows what was printed
    /// in which order (e.g. config warnings before the sync connects).
    pub fn ferry_interleaved(&self, kubeconfig: &Path, args: &[&str]) -> (ExitStatus, String) {
        let (mut reader, writer) = std::io::pipe().expect("pipe");
        let mut cmd = self.command(kubeconfig, args);
        cmd.stdout(writer.try_clone().expect("pipe")).stderr(writer);
        let mut child = cmd.spawn().expect("spawn ferry");
        // The command holds the pipe's write ends: drop them, or reading never ends.
        drop(cmd);
        let read = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = reader.read_to_end(&mut v);
            v
        });
        let status = wait_status(&mut child, Instant::now() + Duration::from_secs(180));
        let text = String::from_utf8_lossy(&read.join().unwrap()).into_owned();
        (status, text)
    }

    fn command(&self, kubeconfig: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(ferry_bin());
        cmd.args(args)
            .current_dir(self.root())
            .env("KUBECONFIG", kubeconfig)
            .env("FERRY_LOG", "ferry=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// `ferry status --json` of this workspace.
    pub fn status(&self, kubeconfig: &Path) -> serde_json::Value {
        let out = self.ferry(kubeconfig, &["status", "--json"]);
        serde_json::from_slice(&out.stdout).expect("status JSON")
    }

    /// Waits until every sync path of the running sync is `watching`; returns the status.
    pub fn wait_watching(&self, kubeconfig: &Path, timeout: Duration) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.status(kubeconfig);
            let paths = s["report"]["paths"].as_array().cloned().unwrap_or_default();
            if !paths.is_empty() && paths.iter().all(|p| p["state"] == "watching") {
                return s;
            }
            assert!(Instant::now() < deadline, "not watching in time: {s}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// [`Workspace::wait_watching`] for the process `sync` itself: its own report (`pid`),
    /// never one a killed ferry left in `.ferry/status.json`.
    pub fn wait_watching_by(
        &self,
        kubeconfig: &Path,
        sync: &Running,
        timeout: Duration,
    ) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.status(kubeconfig);
            let paths = s["report"]["paths"].as_array().cloned().unwrap_or_default();
            if s["report"]["pid"] == sync.pid()
                && !paths.is_empty()
                && paths.iter().all(|p| p["state"] == "watching")
            {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "ferry sync (pid {}) not watching in time: {s}\n{}",
                sync.pid(),
                sync.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts `ferry sync` (continuous) in this workspace; stopped when dropped.
    pub fn sync(&self, kubeconfig: &Path) -> Running {
        let out = self.logs.path().join("ferry-sync.stdout");
        let err = self.logs.path().join("ferry-sync.stderr");
        let child = Command::new(ferry_bin())
            .arg("sync")
            .current_dir(self.root())
            .env("KUBECONFIG", kubeconfig)
            .env("FERRY_LOG", "ferry=debug")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .expect("spawn ferry sync");
        Running {
            child: Some(child),
            stdout: out,
            stderr: err,
            log: self.path(".ferry/sync.log"),
        }
    }

    /// The manifest of the synced folder `sync_dir`, without ferry's state and the config.
    pub fn manifest(&self, sync_dir: &str) -> Manifest {
        local_manifest(&self.path(sync_dir))
    }
}

impl Default for Workspace {
    fn default() -> Self {
        Workspace::new()
    }
}

/// A running `ferry sync`.
pub struct Running {
    child: Option<Child>,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    pub log: PathBuf,
}

impl Running {
    /// What it printed so far (stdout, stderr and the sync log), for assertion messages.
    pub fn output(&self) -> String {
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        format!(
            "--- stdout\n{}\n--- stderr\n{}\n--- sync.log (tail)\n{}",
            read(&self.stdout),
            read(&self.stderr),
            read(&self.log)
                .lines()
                .rev()
                .take(60)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n")
        )
    }

    /// Waits until stdout contains `text` (the initial sync's line, a batch line).
    pub fn wait_stdout(&self, text: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if std::fs::read_to_string(&self.stdout)
                .unwrap_or_default()
                .contains(text)
            {
                return;
            }
            if let Some(c) = self.child.as_ref() {
                let _ = c;
            }
            assert!(
                Instant::now() < deadline,
                "ferry sync did not print {text:?} in time\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops it with SIGTERM and waits; returns the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        wait_status(&mut child, Instant::now() + Duration::from_secs(20))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Waits for `child` to exit; kills it once `deadline` has passed.
fn wait_status(child: &mut Child, deadline: Instant) -> ExitStatus {
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_output(child: &mut Child, timeout: Duration) -> Output {
    let deadline = Instant::now() + timeout;
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stdout.read_to_end(&mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stderr.read_to_end(&mut v);
        v
    });
    let status = wait_status(child, deadline);
    Output {
        status,
        stdout: out_t.join().unwrap(),
        stderr: err_t.join().unwrap(),
    }
}

/// What one side holds at one path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// `f` file, `d` folder, `l` symlink.
    pub kind: char,
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
    /// Whole seconds (tar carries no more).
    pub mtime: i64,
    /// File content.
    pub content: Vec<u8>,
}

/// Path → item, for comparing the two sides.
pub type Manifest = BTreeMap<String, Item>;

/// Names that are ferry's state or config, never compared.
fn ignored(rel: &str) -> bool {
    let first = rel.split('/').next().unwrap_or("");
    matches!(first, ".ferry" | ".devspace" | "devspace.yaml")
        || rel.split('/').any(|c| c.starts_with(".ferry-tmp-"))
}

/// The manifest of a local folder.
pub fn local_manifest(root: &Path) -> Manifest {
    walk_local(root, &ignored)
}

/// The manifest of `root` in `pod`'s container, from a tar archive made there as root.
pub async fn remote_manifest(env: &Env, pod: &str, root: &str) -> Manifest {
    let out = env
        .control
        .run(&env.ns, pod, &["tar", "cf", "-", "-C", root, "."], b"")
        .await
        .expect("control run");
    assert_eq!(out.exit_code, 0, "tar in {pod} failed: {}", out.stderr);
    manifest_of_tar(&out.stdout[..])
}

/// Asserts both manifests are equal: same paths, kinds, sizes, contents, executable
/// bits and mtimes (to the second). Other permission bits depend on each side's umask.
pub fn assert_same(local: &Manifest, remote: &Manifest) {
    let lk: Vec<&String> = local.keys().collect();
    let rk: Vec<&String> = remote.keys().collect();
    assert_eq!(lk, rk, "the two sides hold different paths");
    for (path, l) in local {
        let r = &remote[path];
        assert_eq!(l.kind, r.kind, "{path}: kind");
        if l.kind == 'f' {
            assert_eq!(l.size, r.size, "{path}: size");
            assert!(l.content == r.content, "{path}: content differs");
            assert_eq!(l.mode & 0o111, r.mode & 0o111, "{path}: executable bits");
            assert_eq!(l.mtime, r.mtime, "{path}: mtime (seconds)");
        }
    }
}

impl Workspace {
    /// [`Workspace::sync`] (kept for the tests written against it).
    pub fn sync_isolated(&self, kubeconfig: &Path) -> Running {
        self.sync(kubeconfig)
    }
}

/// Like [`remote_manifest`], with the archive gzipped in the container (for big trees:
/// the control interface carries the archive base64-encoded in JSON).
pub async fn remote_manifest_gz(env: &Env, pod: &str, root: &str) -> Manifest {
    let out = env
        .control
        .run(&env.ns, pod, &["tar", "czf", "-", "-C", root, "."], b"")
        .await
        .expect("control run");
    assert_eq!(out.exit_code, 0, "tar in {pod} failed: {}", out.stderr);
    manifest_of_tar(flate2::read::GzDecoder::new(&out.stdout[..]))
}

/// The manifest of a tar archive of a folder (paths relative to it).
fn manifest_of_tar(reader: impl Read) -> Manifest {
    tar_manifest(reader, &ignored)
}

/// Whether [`assert_same`] would pass (for polling).
pub fn is_same(local: &Manifest, remote: &Manifest) -> bool {
    local.len() == remote.len()
        && local.iter().all(|(path, l)| {
            remote.get(path).is_some_and(|r| {
                l.kind == r.kind
                    && (l.kind != 'f'
                        || (l.size == r.size
                            && l.content == r.content
                            && l.mode & 0o111 == r.mode & 0o111
                            && l.mtime == r.mtime))
            })
        })
}

/// A short description of how two manifests differ (for messages).
pub fn manifest_diff(local: &Manifest, remote: &Manifest) -> String {
    let only_local: Vec<&String> = local.keys().filter(|k| !remote.contains_key(*k)).collect();
    let only_remote: Vec<&String> = remote.keys().filter(|k| !local.contains_key(*k)).collect();
    let differ: Vec<&String> = local
        .iter()
        .filter(|(k, l)| {
            remote.get(*k).is_some_and(|r| {
                let mut one = Manifest::new();
                one.insert((*k).clone(), (*l).clone());
                let mut other = Manifest::new();
                other.insert((*k).clone(), r.clone());
                !is_same(&one, &other)
            })
        })
        .map(|(k, _)| k)
        .collect();
    let head = |v: &[&String]| -> String {
        let mut s: Vec<String> = v.iter().take(10).map(|k| k.to_string()).collect();
        if v.len() > 10 {
            s.push(format!("… ({} in all)", v.len()));
        }
        s.join(", ")
    };
    format!(
        "only local: {} [{}]; only remote: {} [{}]; different: {} [{}]",
        only_local.len(),
        head(&only_local),
        only_remote.len(),
        head(&only_remote),
        differ.len(),
        head(&differ)
    )
}

/// Something whose state explains a failed wait (what a running sync printed, an LSP
/// server's context).
pub trait Context {
    /// The explanation.
    fn context(&self) -> String;
}

impl Context for Running {
    fn context(&self) -> String {
        self.output()
    }
}

/// `Ok` if `ok`, else the description `what_is_wrong` makes.
pub fn check(ok: bool, what_is_wrong: impl FnOnce() -> String) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(what_is_wrong())
    }
}

/// Polls `probe` until it returns `Ok` (up to 60 s); on timeout, panics with its last
/// complaint and `ctx`'s context.
pub async fn wait_until<F, Fut>(what: &str, ctx: &impl Context, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let last = match probe().await {
            Ok(()) => return,
            Err(e) => e,
        };
        assert!(
            Instant::now() < deadline,
            "timed out waiting for: {what}\nlast seen: {last}\n{}",
            ctx.context()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The per-file problems of the (only) sync path in a `ferry status --json` output.
pub fn problems(status: &serde_json::Value) -> Vec<serde_json::Value> {
    status["report"]["paths"][0]["problems"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits until the running sync's (only) path is `watching`; on timeout, panics with what
/// the sync printed.
pub async fn wait_running_watching(ws: &Workspace, kubeconfig: &Path, sync: &Running) {
    wait_until("the sync is watching", sync, || async {
        let status = ws.status(kubeconfig);
        check(status["report"]["paths"][0]["state"] == "watching", || {
            format!("status: {status}")
        })
    })
    .await;
}

/// Deterministic, incompressible bytes, different for each `seed` (upload streams are
/// gzipped, so compressible test data would not exercise the wire).
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Runs `script` with `sh -c` in `pod` as `user` (`uid:gid`) through the control
/// interface; panics unless it exits 0. Returns stdout.
pub async fn sh_as(env: &Env, pod: &str, user: &str, script: &str) -> String {
    let body = serde_json::json!({"command": ["sh", "-c", script], "user": user});
    let req = kube::core::Request::new(format!("/control/v1/namespaces/{}/pods/{pod}/run", env.ns))
        .create(
            &kube::api::PostParams::default(),
            serde_json::to_vec(&body).unwrap(),
        )
        .unwrap();
    let v: serde_json::Value = env.client.request(req).await.expect("control run");
    assert_eq!(
        v["exit_code"], 0,
        "`{script}` as {user} in {pod} failed: {}",
        v["stderr"]
    );
    v["stdout"].as_str().unwrap_or("").to_string()
}

/// Creates a Deployment `web` in the test's namespace (1 replica, busybox, label
/// `app: web`, `/app`); its pods are replaced under new names when deleted.
pub async fn web_deployment(env: &Env) {
    web_deployment_of(env, 1).await
}

/// [`web_deployment`] with `replicas` replicas.
pub async fn web_deployment_of(env: &Env, replicas: u32) {
    use k8s_openapi::api::apps::v1::Deployment;
    let deploys: kube::Api<Deployment> = kube::Api::namespaced(env.client.clone(), &env.ns);
    let d: Deployment = serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"terminationGracePeriodSeconds": 1,
                                       "containers": [{"name": "main", "image": "busybox",
                                       "command": ["sh", "-c",
                                           "mkdir -p /app; trap 'exit 0' TERM; while true; do sleep 1; done"]}]}}}
    }))
    .unwrap();
    deploys
        .create(&kube::api::PostParams::default(), &d)
        .await
        .expect("create deployment");
}

/// The Ready, not deleting pods matching `selector`, by name.
pub async fn ready_pods(env: &Env, selector: &str) -> std::collections::BTreeSet<String> {
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(env.client.clone(), &env.ns);
    pods.list(&kube::api::ListParams::default().labels(selector))
        .await
        .expect("list pods")
        .into_iter()
        .filter(|p| {
            p.metadata.deletion_timestamp.is_none()
                && p.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .filter_map(|p| p.metadata.name)
        .collect()
}

/// Waits (up to 120 s) until `n` pods matching `selector` are Ready.
pub async fn wait_ready_pods(env: &Env, selector: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while ready_pods(env, selector).await.len() < n {
        assert!(
            Instant::now() < deadline,
            "{n} Ready pods for {selector} in time"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The name of a Ready, not deleting pod matching `selector` other than `not` (waits up
/// to 120 s).
pub async fn ready_pod(
    pods: &kube::Api<k8s_openapi::api::core::v1::Pod>,
    selector: &str,
    not: Option<&str>,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        for p in pods
            .list(&kube::api::ListParams::default().labels(selector))
            .await
            .expect("list pods")
        {
            let name = p.metadata.name.clone().unwrap_or_default();
            let ready = p.metadata.deletion_timestamp.is_none()
                && p.status
                    .and_then(|s| s.conditions)
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            if ready && Some(name.as_str()) != not {
                return name;
            }
        }
        assert!(Instant::now() < deadline, "no Ready pod for {selector}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// --- whole trees, for the safety tests ----------------------------------------------

/// The state ferry keeps next to synced files, named for whole-tree comparisons: the
/// local `.ferry/` (index, lock, log, status, trash) and, in the container, a `.ferry/`
/// marker folder and `.ferry-tmp-*` staging and state folders.
pub const FERRY_STATE: &[&str] = &[".ferry", ".ferry-tmp-*"];

/// Whether `rel` is left out by `names`: one of its components equals a name, or starts
/// with the part of a name before its trailing `*`.
pub fn left_out(rel: &str, names: &[&str]) -> bool {
    rel.split('/').any(|c| {
        names.iter().any(|n| match n.strip_suffix('*') {
            Some(prefix) => c.starts_with(prefix),
            None => c == *n,
        })
    })
}

/// The whole local tree under `root` (files, folders, symlinks, with content, mode and
/// mtime), leaving out only what `leave` names (see [`left_out`]) — unlike
/// [`local_manifest`], the config and dot files are in.
pub fn local_tree(root: &Path, leave: &[&str]) -> Manifest {
    walk_local(root, &|rel| left_out(rel, leave))
}

/// The whole tree under `root` in `pod`'s container (a gzipped tar made there as root),
/// leaving out only what `leave` names. A missing `root` is an empty tree.
pub async fn remote_tree(env: &Env, pod: &str, root: &str, leave: &[&str]) -> Manifest {
    let script = format!("[ -d {root} ] || exit 0; tar czf - -C {root} .");
    // A session of a ferry that was just killed may still be removing its staging
    // folder, or landing the batch it had received, while tar reads the tree: try again
    // when tar saw the tree change under it (GNU tar: "file changed as we read it").
    let mut tries = 0;
    let out = loop {
        let out = env
            .control
            .run(&env.ns, pod, &["sh", "-c", &script], b"")
            .await
            .expect("control run");
        tries += 1;
        // tar says "No such file or directory" or "File removed before we read it" (and
        // then that the folder changed), depending on when the folder went.
        let staging_vanished = out.stderr.contains(".ferry-tmp-")
            && (out.stderr.contains("No such file or directory")
                || out.stderr.contains("File removed before we read it"));
        let changed = out.stderr.contains("file changed as we read it");
        if out.exit_code == 0 || !(staging_vanished || changed) || tries == 25 {
            break out;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(out.exit_code, 0, "tar in {pod} failed: {}", out.stderr);
    if out.stdout.is_empty() {
        return Manifest::new();
    }
    tar_manifest(flate2::read::GzDecoder::new(&out.stdout[..]), &|rel| {
        left_out(rel, leave)
    })
}

fn walk_local(root: &Path, skip: &dyn Fn(&str) -> bool) -> Manifest {
    let mut m = Manifest::new();
    fn walk(root: &Path, dir: &Path, skip: &dyn Fn(&str) -> bool, m: &mut Manifest) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if skip(&rel) {
                continue;
            }
            let Ok(meta) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            let kind = if meta.is_dir() {
                'd'
            } else if meta.file_type().is_symlink() {
                'l'
            } else {
                'f'
            };
            let content = match kind {
                'f' => std::fs::read(&p).unwrap_or_default(),
                'l' => std::fs::read_link(&p)
                    .map(|t| t.to_string_lossy().into_owned().into_bytes())
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            m.insert(
                rel,
                Item {
                    kind,
                    size: if kind == 'd' { 0 } else { meta.len() },
                    mode: meta.mode() & 0o7777,
                    mtime: if kind == 'd' { 0 } else { meta.mtime() },
                    content,
                },
            );
            if kind == 'd' {
                walk(root, &p, skip, m);
            }
        }
    }
    walk(root, root, skip, &mut m);
    m
}

fn tar_manifest(reader: impl Read, skip: &dyn Fn(&str) -> bool) -> Manifest {
    let mut m = Manifest::new();
    let mut archive = tar::Archive::new(reader);
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let rel = path
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        if rel.is_empty() || rel == "." || skip(&rel) {
            continue;
        }
        let h = e.header().clone();
        let kind = match h.entry_type() {
            tar::EntryType::Directory => 'd',
            tar::EntryType::Symlink => 'l',
            _ => 'f',
        };
        let mut content = Vec::new();
        match kind {
            'f' => {
                e.read_to_end(&mut content).unwrap();
            }
            'l' => {
                content = e
                    .link_name()
                    .ok()
                    .flatten()
                    .map(|t| t.to_string_lossy().into_owned().into_bytes())
                    .unwrap_or_default();
            }
            _ => {}
        }
        m.insert(
            rel,
            Item {
                kind,
                size: match kind {
                    'f' => h.size().unwrap_or(0),
                    'l' => content.len() as u64,
                    _ => 0,
                },
                mode: h.mode().unwrap_or(0) & 0o7777,
                mtime: if kind == 'd' {
                    0
                } else {
                    h.mtime().unwrap_or(0) as i64
                },
                content,
            },
        );
    }
    m
}

/// One entry for messages: `f 6 B mode 644 mtime 1700000000 "alpha\n"` (binary
/// content as a hash of it).
fn describe_item(i: &Item) -> String {
    let content = match std::str::from_utf8(&i.content) {
        Ok(text) if !text.contains('\0') => {
            let preview: String = text.chars().take(40).collect();
            let more = if text.chars().count() > 40 { "…" } else { "" };
            format!("{preview:?}{more}")
        }
        _ => {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            i.content.hash(&mut h);
            format!("<binary, hash {:016x}>", h.finish())
        }
    };
    match i.kind {
        'd' => "folder".to_string(),
        k => format!(
            "{k} {} B mode {:o} mtime {} {content}",
            i.size, i.mode, i.mtime
        ),
    }
}

/// How `actual` differs from `expected`, entry by entry (at most 8 lines), `None` when
/// they agree on paths, kinds, sizes, contents, executable bits and mtimes (seconds).
pub fn tree_diff(expected: &Manifest, actual: &Manifest) -> Option<String> {
    let mut lines = Vec::new();
    let mut missing = 0;
    let mut extra = 0;
    let mut changed = 0;
    for (p, e) in expected {
        match actual.get(p) {
            None => {
                missing += 1;
                if lines.len() < 8 {
                    lines.push(format!("  missing  {p} (was {})", describe_item(e)));
                }
            }
            Some(a) => {
                let mut one = Manifest::new();
                one.insert(p.clone(), e.clone());
                let mut other = Manifest::new();
                other.insert(p.clone(), a.clone());
                if !is_same(&one, &other) {
                    changed += 1;
                    if lines.len() < 8 {
                        lines.push(format!(
                            "  changed  {p}: {} → {}",
                            describe_item(e),
                            describe_item(a)
                        ));
                    }
                }
            }
        }
    }
    for (p, a) in actual {
        if !expected.contains_key(p) {
            extra += 1;
            if lines.len() < 8 {
                lines.push(format!("  extra    {p} ({})", describe_item(a)));
            }
        }
    }
    if missing + extra + changed == 0 {
        return None;
    }
    Some(format!(
        "{missing} missing, {extra} extra, {changed} changed (of {} expected)\n{}",
        expected.len(),
        lines.join("\n")
    ))
}

/// Panics unless `actual` equals `expected` (see [`tree_diff`]), naming `what` and
/// adding `context` (what ferry printed).
pub fn assert_tree(what: &str, expected: &Manifest, actual: &Manifest, context: &str) {
    if let Some(d) = tree_diff(expected, actual) {
        panic!("{what}: {d}\n{context}");
    }
}

/// Polls the container's tree at `root` (leaving out `leave`) until it equals
/// `expected`, up to `timeout`; returns it, or the last difference on timeout.
pub async fn wait_remote_tree(
    env: &Env,
    pod: &str,
    root: &str,
    leave: &[&str],
    expected: &Manifest,
    timeout: Duration,
) -> Result<Manifest, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let t = remote_tree(env, pod, root, leave).await;
        match tree_diff(expected, &t) {
            None => return Ok(t),
            Some(d) if Instant::now() >= deadline => return Err(d),
            Some(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// A file a pod's command writes at start, as an image built with `COPY . /app` holds
/// it: relative path, content, mtime (seconds).
#[derive(Clone, Debug)]
pub struct ImageFile {
    pub path: &'static str,
    pub content: String,
    pub mtime: i64,
}

impl ImageFile {
    pub fn new(path: &'static str, content: &str, mtime: i64) -> ImageFile {
        ImageFile {
            path,
            content: content.to_string(),
            mtime,
        }
    }
}

/// Single-quotes `s` for `sh`.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A shell script that creates `files` under `root` (parents too) with their contents
/// and mtimes.
pub fn prefill_script(root: &str, files: &[ImageFile]) -> String {
    let mut s = format!("mkdir -p {root}");
    for f in files {
        let p = format!("{root}/{}", f.path);
        let parent = &p[..p.rfind('/').unwrap()];
        s.push_str(&format!(
            " && mkdir -p {parent} && printf '%s' {} > {p} && touch -d @{} {p}",
            sh_quote(&f.content),
            f.mtime
        ));
    }
    s
}

/// A sync pod labelled `app: <app>` whose container starts by writing `files` into
/// `/app` (an image that already holds the folder), then sleeps.
pub fn image_pod(name: &str, image: &str, app: &str, files: &[ImageFile]) -> PodBuilder {
    let script = format!(
        "{}; trap 'exit 0' TERM; while true; do sleep 1; done",
        prefill_script("/app", files)
    );
    labelled(
        PodBuilder::new(name, image).command(&["sh", "-c", &script]),
        app,
    )
}

/// `pod` with the label `app: <app>` (a replacement of another pod).
pub fn labelled(mut pod: PodBuilder, app: &str) -> PodBuilder {
    pod.manifest["metadata"]["labels"]["app"] = serde_json::json!(app);
    pod
}

/// Seconds since the Unix epoch, now.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Sets a local file's mtime (whole seconds).
pub fn set_mtime(path: &Path, secs: i64) {
    filetime::set_file_mtime(path, filetime::FileTime::from_unix_time(secs, 0)).unwrap();
}

/// What a finished `ferry` run printed, for messages and reports.
pub fn printed(out: &Output) -> String {
    format!(
        "exit {}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

impl Workspace {
    /// The whole local tree of the workspace (see [`local_tree`]).
    pub fn tree(&self, leave: &[&str]) -> Manifest {
        local_tree(self.root(), leave)
    }

    /// `.ferry/status.json` as the last run left it.
    pub fn status_file(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.path(".ferry/status.json")).unwrap_or_default();
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
    }

    /// The sync log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path(".ferry/sync.log")).unwrap_or_default()
    }
}

impl Running {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Sends `signal` (e.g. `libc::SIGKILL`, `libc::SIGINT`).
    pub fn signal(&self, signal: i32) {
        if let Some(c) = self.child.as_ref() {
            unsafe {
                libc::kill(c.id() as i32, signal);
            }
        }
    }

    /// Waits up to `timeout` for the process to end; its exit status, or `None` if it
    /// still runs.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut()?;
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Env {
    /// The bytes ferry's session streams into `pod` (`sh -c SCRIPT ferry-session …`)
    /// carried to the container so far, from the cluster's counters.
    pub async fn session_stdin_bytes(&self, pod: &str) -> u64 {
        self.session_streams(pod)
            .await
            .iter()
            .filter_map(|s| s["stdin_bytes"].as_u64())
            .sum()
    }

    /// The cluster's records of the ferry sessions (`sh -c SCRIPT ferry-session …`)
    /// exec'd into `pod`.
    async fn session_streams(&self, pod: &str) -> Vec<serde_json::Value> {
        let mut streams = self.control.streams(&self.ns, pod).await.expect("streams");
        streams.retain(|s| {
            s["command"]
                .as_array()
                .is_some_and(|c| c.iter().any(|a| a == "ferry-session"))
        });
        streams
    }

    /// Waits (at most `timeout`) until every ferry session exec'd into `pod` has ended in
    /// the container — a killed client's session may still land what it had received.
    /// Returns whether they all ended.
    pub async fn wait_sessions_ended(&self, pod: &str, timeout: std::time::Duration) -> bool {
        let t = std::time::Instant::now();
        loop {
            let running = self
                .session_streams(pod)
                .await
                .iter()
                .any(|s| s["exit_code"].is_null());
            if !running {
                return true;
            }
            if t.elapsed() > timeout {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// How often the container of `pod` restarted.
    pub async fn restart_count(&self, pod: &str) -> i32 {
        let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
            kube::Api::namespaced(self.client.clone(), &self.ns);
        pods.get(pod)
            .await
            .expect("get pod")
            .status
            .and_then(|s| s.container_statuses)
            .and_then(|c| c.first().map(|c| c.restart_count))
            .unwrap_or(0)
    }

    /// Kills the container's main process and waits until it restarted and the pod is
    /// Ready again (the container then has a fresh root filesystem).
    pub async fn restart_container(&self, pod: &str) {
        let before = self.restart_count(pod).await;
        self.control
            .kill_main(&self.ns, pod, "KILL")
            .await
            .expect("kill the main process");
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.restart_count(pod).await <= before {
            assert!(Instant::now() < deadline, "{pod} did not restart in time");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        ferry_testkit::wait_ready(&self.client, &self.ns, pod, Duration::from_secs(120))
            .await
            .expect("ready after the restart");
    }

    /// Deletes `pod` and waits until it is gone.
    pub async fn delete_pod(&self, pod: &str) {
        let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
            kube::Api::namespaced(self.client.clone(), &self.ns);
        pods.delete(pod, &kube::api::DeleteParams::default())
            .await
            .expect("delete pod");
        let deadline = Instant::now() + Duration::from_secs(120);
        while pods.get_opt(pod).await.expect("get pod").is_some() {
            assert!(Instant::now() < deadline, "pod {pod} not gone in time");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// `report.paths[0].recognised` of a status (`ferry status --json` or
/// `.ferry/status.json`, whose report is the whole file).
pub fn recognised(status: &serde_json::Value) -> serde_json::Value {
    let report = if status.get("report").is_some() {
        &status["report"]
    } else {
        status
    };
    report["paths"][0]
        .get("recognised")
        .cloned()
        .unwrap_or(serde_json::Value::String("<no such field>".into()))
}

/// The notice ferry prints when it merges with a container it does not recognise.
pub const NOT_RECOGNISED: &str = "container not recognised: merged, nothing deleted";

/// Prints how long a test took (the budget of the safety tests is counted from these).
pub struct Timer(&'static str, Instant);

impl Timer {
    pub fn start(name: &'static str) -> Timer {
        Timer(name, Instant::now())
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        eprintln!(
            "[duration] {}: {:.1} s{}",
            self.0,
            self.1.elapsed().as_secs_f64(),
            if std::thread::panicking() {
                " (failed)"
            } else {
                ""
            }
        );
    }
}
