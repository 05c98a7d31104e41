//! Test support for ferry's end-to-end tests: a [`TestCluster`] (a `ferry-cluster up`
//! child process in its own temporary folder, torn down on drop — even when the test
//! panics — and, through `PR_SET_PDEATHSIG`, when the test process dies), pod helpers,
//! and a [`Control`] client for the cluster's control interface.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::Engine;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use serde_json::{json, Value};

/// Where the `ferry-cluster` binary is: `$FERRY_CLUSTER_BIN`, else next to the running
/// test binary's target folder (built by `cargo build`), building it if missing.
pub fn cluster_binary() -> PathBuf {
    if let Ok(p) = std::env::var("FERRY_CLUSTER_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test> → target/<profile>/ferry-cluster
    let profile_dir = exe
        .parent()
        .and_then(|d| {
            if d.ends_with("deps") {
                d.parent()
            } else {
                Some(d)
            }
        })
        .expect("target dir")
        .to_path_buf();
    let bin = profile_dir.join("ferry-cluster");
    if !bin.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "ferry-cluster", "--bin", "ferry-cluster"])
            .status()
            .expect("cargo build ferry-cluster");
        assert!(status.success(), "building ferry-cluster failed");
    }
    bin
}

/// How to start a test cluster.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// `/version` reports `1.<kube_minor>`.
    pub kube_minor: u32,
    /// Refuse exec over v5 (a cluster older than 1.29).
    pub refuse_v5: bool,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            kube_minor: 33,
            refuse_v5: false,
        }
    }
}

/// A running `ferry-cluster` in a temporary folder of its own.
pub struct TestCluster {
    pub dir: PathBuf,
    child: Option<Child>,
    _tmp: tempfile::TempDir,
}

impl TestCluster {
    pub fn start() -> anyhow::Result<TestCluster> {
        Self::start_with(ClusterOptions::default())
    }

    pub fn start_with(opts: ClusterOptions) -> anyhow::Result<TestCluster> {
        let tmp = tempfile::Builder::new()
            .prefix("ferry-test-cluster.")
            .tempdir()?;
        let dir = tmp.path().to_path_buf();
        let log = std::fs::File::create(dir.join("cluster.log"))?;
        let mut cmd = Command::new(cluster_binary());
        cmd.arg("up")
            .arg("--dir")
            .arg(&dir)
            .arg("--kube-version")
            .arg(format!("1.{}", opts.kube_minor))
            .arg("--log")
            .arg("info,ferry_cluster=debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if opts.refuse_v5 {
            cmd.arg("--refuse-v5");
        }
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = cmd.spawn().context("spawning ferry-cluster")?;
        let mut cluster = TestCluster {
            dir,
            child: Some(child),
            _tmp: tmp,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !cluster.kubeconfig().exists() {
            if let Some(status) = cluster.child.as_mut().unwrap().try_wait()? {
                bail!(
                    "ferry-cluster exited ({status}) before it was ready:\n{}",
                    cluster.log()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "ferry-cluster wrote no kubeconfig within 60 s:\n{}",
                    cluster.log()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Ok(cluster)
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    /// The cluster's own log so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("cluster.log")).unwrap_or_default()
    }

    /// A kube-rs client configured from the cluster's kubeconfig, exactly as a user's
    /// tool would be.
    pub async fn client(&self) -> anyhow::Result<kube::Client> {
        let kc = kube::config::Kubeconfig::read_from(self.kubeconfig())?;
        let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
        Ok(kube::Client::try_from(cfg)?)
    }

    pub async fn control(&self) -> anyhow::Result<Control> {
        Ok(Control {
            client: self.client().await?,
        })
    }

    /// Stops the cluster (`ferry-cluster down --dir`), waiting for it to finish.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            let out = Command::new(cluster_binary())
                .arg("down")
                .arg("--dir")
                .arg(&self.dir)
                .output()?;
            let _ = child.kill();
            let _ = child.wait();
            if !out.status.success() {
                bail!(
                    "ferry-cluster down failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        Ok(())
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("test cluster teardown: {e:#}");
        }
    }
}

/// A pod manifest for tests: `image`, labels `app: <name>`, a container `main` that
/// sleeps, grace period 1 s.
pub struct PodBuilder {
    pub manifest: Value,
}

impl PodBuilder {
    pub fn new(name: &str, image: &str) -> PodBuilder {
        PodBuilder {
            manifest: json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "labels": {"app": name}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{
                        "name": "main",
                        "image": image,
                        "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"],
                    }],
                },
            }),
        }
    }

    pub fn user(mut self, uid: u32) -> Self {
        self.manifest["spec"]["securityContext"] = json!({"runAsUser": uid, "runAsGroup": uid});
        self
    }

    pub fn command(mut self, cmd: &[&str]) -> Self {
        self.manifest["spec"]["containers"][0]["command"] = json!(cmd);
        self
    }

    /// Mounts an `emptyDir` (optionally `medium: Memory` with `size_limit`) at `path`.
    pub fn empty_dir(mut self, name: &str, path: &str, memory_limit: Option<&str>) -> Self {
        let mut vol = json!({"name": name, "emptyDir": {}});
        if let Some(limit) = memory_limit {
            vol["emptyDir"] = json!({"medium": "Memory", "sizeLimit": limit});
        }
        self.push_volume(vol, name, path);
        self
    }

    pub fn host_path(mut self, name: &str, host: &Path, path: &str) -> Self {
        let vol = json!({"name": name, "hostPath": {"path": host, "type": "DirectoryOrCreate"}});
        self.push_volume(vol, name, path);
        self
    }

    fn push_volume(&mut self, vol: Value, name: &str, path: &str) {
        let spec = &mut self.manifest["spec"];
        if spec["volumes"].is_null() {
            spec["volumes"] = json!([]);
        }
        spec["volumes"].as_array_mut().unwrap().push(vol);
        let c = &mut spec["containers"][0];
        if c["volumeMounts"].is_null() {
            c["volumeMounts"] = json!([]);
        }
        c["volumeMounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": name, "mountPath": path}));
    }

    pub fn pod(&self) -> Pod {
        serde_json::from_value(self.manifest.clone()).expect("valid pod")
    }
}

/// Creates `pod` in `namespace` and waits until it is Running and Ready.
pub async fn create_ready_pod(
    client: &kube::Client,
    namespace: &str,
    pod: &PodBuilder,
) -> anyhow::Result<Pod> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let p = pod.pod();
    let name = p.metadata.name.clone().unwrap_or_default();
    api.create(&PostParams::default(), &p).await?;
    wait_ready(client, namespace, &name, Duration::from_secs(90)).await
}

/// Waits until the pod is Ready (polling, generous timeout).
pub async fn wait_ready(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<Pod> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let deadline = Instant::now() + timeout;
    loop {
        let p = api.get(name).await?;
        let ready = p
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        if ready {
            return Ok(p);
        }
        if Instant::now() > deadline {
            bail!(
                "pod {namespace}/{name} not Ready within {timeout:?}: {:?}",
                p.status
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Creates a namespace of its own for a test.
pub async fn create_namespace(client: &kube::Client, name: &str) -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::Namespace;
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    api.create(&PostParams::default(), &ns).await?;
    Ok(())
}

/// The result of [`Control::run`].
#[derive(Debug)]
pub struct RunOutput {
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

/// A client for the cluster's control interface (`/control/v1`).
pub struct Control {
    client: kube::Client,
}

impl Control {
    async fn call(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Vec<u8>> {
        let req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json")
            .body(kube::client::Body::from(
                body.map(|b| serde_json::to_vec(&b).unwrap())
                    .unwrap_or_default(),
            ))?;
        let resp = self
            .client
            .send(req)
            .await
            .with_context(|| format!("control {path}"))?;
        let status = resp.status();
        let bytes = resp.into_body().collect_bytes().await?;
        if !status.is_success() {
            bail!(
                "control {path}: {status}: {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        Ok(bytes.to_vec())
    }

    async fn json(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        Ok(serde_json::from_slice(
            &self.call(method, path, body).await?,
        )?)
    }

    pub async fn settings(&self) -> anyhow::Result<Value> {
        self.json(http::Method::GET, "/control/v1/settings", None)
            .await
    }

    /// Sets exec shaping: one-way latency and bandwidth cap (0 = none).
    pub async fn set_shaping(
        &self,
        latency_ms: u64,
        bandwidth_bytes_per_sec: u64,
    ) -> anyhow::Result<()> {
        let mut s = self.settings().await?;
        s["shaping"] =
            json!({"latency_ms": latency_ms, "bandwidth_bytes_per_sec": bandwidth_bytes_per_sec});
        self.json(http::Method::PUT, "/control/v1/settings", Some(s))
            .await?;
        Ok(())
    }

    pub async fn set_refuse_v5(&self, refuse: bool) -> anyhow::Result<()> {
        let mut s = self.settings().await?;
        s["refuse_v5"] = json!(refuse);
        self.json(http::Method::PUT, "/control/v1/settings", Some(s))
            .await?;
        Ok(())
    }

    /// Every exec stream into `pod` (newest last).
    pub async fn streams(&self, namespace: &str, pod: &str) -> anyhow::Result<Vec<Value>> {
        let v = self
            .json(
                http::Method::GET,
                &format!("/control/v1/streams?namespace={namespace}&pod={pod}"),
                None,
            )
            .await?;
        Ok(v["streams"].as_array().cloned().unwrap_or_default())
    }

    pub async fn drop_streams(&self, namespace: &str, pod: &str) -> anyhow::Result<u64> {
        let v = self
            .json(
                http::Method::POST,
                &format!("/control/v1/namespaces/{namespace}/pods/{pod}/drop-streams"),
                None,
            )
            .await?;
        Ok(v["dropped"].as_u64().unwrap_or(0))
    }

    pub async fn kill_main(&self, namespace: &str, pod: &str, signal: &str) -> anyhow::Result<()> {
        self.json(
            http::Method::POST,
            &format!("/control/v1/namespaces/{namespace}/pods/{pod}/kill?signal={signal}"),
            None,
        )
        .await?;
        Ok(())
    }

    /// Runs `command` in the pod's (only) container as root, with `stdin`.
    pub async fn run(
        &self,
        namespace: &str,
        pod: &str,
        command: &[&str],
        stdin: &[u8],
    ) -> anyhow::Result<RunOutput> {
        let body = json!({
            "command": command,
            "stdin_base64": base64::engine::general_purpose::STANDARD.encode(stdin),
        });
        let v = self
            .json(
                http::Method::POST,
                &format!("/control/v1/namespaces/{namespace}/pods/{pod}/run"),
                Some(body),
            )
            .await?;
        Ok(RunOutput {
            exit_code: v["exit_code"].as_i64().unwrap_or(-1) as i32,
            stdout: base64::engine::general_purpose::STANDARD
                .decode(v["stdout_base64"].as_str().unwrap_or(""))
                .unwrap_or_default(),
            stderr: v["stderr"].as_str().unwrap_or("").to_string(),
        })
    }

    /// A file's bytes as the container sees them, read from the host.
    pub async fn read_file(
        &self,
        namespace: &str,
        pod: &str,
        path: &str,
    ) -> anyhow::Result<Vec<u8>> {
        let enc: String = path
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'.' | b'-' | b'_' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        self.call(
            http::Method::GET,
            &format!("/control/v1/namespaces/{namespace}/pods/{pod}/file?path={enc}"),
            None,
        )
        .await
    }
}
