//! One local cluster: its options, shared state, start-up (stale-state cleanup, CA,
//! kubeconfig, built-in objects) and orderly shutdown.
//!
//! A cluster owns everything under its folder `D`: `D/kubeconfig`, `D/ferry-cluster.pid`,
//! its runc root `D/runc`, container bundles `D/containers`, pod volumes and logs
//! `D/pods`. Start-up after a crash and `down` clean exactly that and nothing else, so
//! several clusters run side by side.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::json;
use tracing::{info, warn};

use crate::exec::{ExecTarget, Shaping, StreamRegistry};
use crate::kubelet::{self, Kubelet};
use crate::runtime::Runtime;
use crate::store::{Key, Store};
use crate::streams::ExecStreams;
use crate::tls::Credentials;
use crate::util::now_rfc3339;

/// The Kubernetes minor version `/version` reports unless told otherwise: the newest
/// `kubectl.1.NN` on these machines, so `/usr/bin/kubectl` dispatches to it.
pub const DEFAULT_KUBE_MINOR: u32 = 33;

#[derive(Clone, Debug)]
pub struct Options {
    pub dir: PathBuf,
    /// `/version` reports `v1.<kube_minor>.0`.
    pub kube_minor: u32,
    /// Start with exec over `v5.channel.k8s.io` refused (a cluster older than 1.29).
    pub refuse_v5: bool,
    pub bind: IpAddr,
    /// 0 picks a free port.
    pub port: u16,
}

impl Options {
    pub fn new(dir: impl Into<PathBuf>) -> Options {
        Options {
            dir: dir.into(),
            kube_minor: DEFAULT_KUBE_MINOR,
            refuse_v5: false,
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
        }
    }
}

/// What the control interface can change while the cluster runs (its wire form).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Settings {
    /// Refuse exec over `v5.channel.k8s.io`, as a cluster older than 1.29 does.
    pub refuse_v5: bool,
    pub shaping: Shaping,
}

pub struct Cluster {
    pub options: Options,
    pub credentials: Credentials,
    pub server_address: String,
    pub store: Arc<Store>,
    pub kubelet: Arc<Kubelet>,
    refuse_v5: AtomicBool,
    shaping: Arc<RwLock<Shaping>>,
    pub streams: Arc<StreamRegistry>,
    shutdown: tokio::sync::watch::Sender<bool>,
}

pub fn pid_file(dir: &Path) -> PathBuf {
    dir.join("ferry-cluster.pid")
}

pub fn kubeconfig_path(dir: &Path) -> PathBuf {
    dir.join("kubeconfig")
}

/// The pid in `D/ferry-cluster.pid` if that process is alive and is a ferry-cluster.
pub fn running_pid(dir: &Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(pid_file(dir))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let is_cluster = String::from_utf8_lossy(&cmdline).contains("ferry-cluster");
    (is_cluster && pid != std::process::id() as i32).then_some(pid)
}

/// Removes what a cluster left in `dir`: its containers (through its own runc root), the
/// mounts under `dir`, pod folders and the pid file. Safe to run twice.
pub fn cleanup_dir(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut removed = Vec::new();
    let runtime = Runtime::open(dir, "cleanup")?;
    removed.extend(runtime.cleanup_all()?);
    for m in kubelet::mounts_under(dir) {
        match kubelet::unmount(&m) {
            Ok(()) => removed.push(format!("mount {}", m.display())),
            Err(e) => warn!("unmounting {}: {e}", m.display()),
        }
    }
    let pods = dir.join("pods");
    if pods.exists() {
        // hostPath volumes live outside D, so only D's own pod folders go.
        std::fs::remove_dir_all(&pods).ok();
    }
    let _ = std::fs::remove_file(pid_file(dir));
    Ok(removed)
}

impl Cluster {
    /// Starts a cluster in `options.dir` and serves until [`Cluster::stop`] (or a signal,
    /// when run through [`run_until_signal`]). The kubeconfig is written last, when the
    /// server already accepts connections: its existence means "ready".
    pub async fn start(
        options: Options,
    ) -> anyhow::Result<(Arc<Cluster>, tokio::task::JoinHandle<()>)> {
        let dir = &options.dir;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let dir = std::fs::canonicalize(dir)?;
        if let Some(pid) = running_pid(&dir) {
            bail!(
                "a ferry-cluster (pid {pid}) is already running in {}; stop it with `ferry-cluster down --dir {}`",
                dir.display(),
                dir.display()
            );
        }
        let _ = std::fs::remove_file(kubeconfig_path(&dir));
        let stale = cleanup_dir(&dir)?;
        if !stale.is_empty() {
            info!(
                "removed stale state of an earlier run: {}",
                stale.join(", ")
            );
        }
        crate::util::write_atomic(
            &pid_file(&dir),
            std::process::id().to_string().as_bytes(),
            0o644,
        )?;

        let cluster_id = crate::util::random_suffix(8);
        let runtime = Runtime::open(&dir, &cluster_id)?;
        let credentials = Credentials::generate()?;
        let listener = tokio::net::TcpListener::bind(SocketAddr::new(options.bind, options.port))
            .await
            .context("binding the API server's port")?;
        let addr = listener.local_addr()?;
        let server_address = addr.to_string();
        let store = Arc::new(Store::new());
        let kubelet = Kubelet::new(store.clone(), runtime, &dir);
        let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
        let mut options = options;
        options.dir = dir.clone();
        let refuse_v5 = options.refuse_v5;
        let cluster = Arc::new(Cluster {
            options,
            credentials,
            server_address: server_address.clone(),
            store: store.clone(),
            kubelet: kubelet.clone(),
            refuse_v5: AtomicBool::new(refuse_v5),
            shaping: Arc::new(RwLock::new(Shaping::default())),
            streams: Arc::new(StreamRegistry::default()),
            shutdown,
        });
        cluster.seed_objects();
        tokio::spawn(kubelet.clone().run());
        tokio::spawn(crate::controllers::run_deployments(cluster.clone()));
        let server = {
            let cluster = cluster.clone();
            tokio::spawn(async move {
                if let Err(e) = crate::apiserver::serve(listener, cluster, shutdown_rx).await {
                    warn!("API server stopped: {e:#}");
                }
            })
        };
        let url = match addr.ip() {
            IpAddr::V6(ip) => format!("https://[{ip}]:{}", addr.port()),
            IpAddr::V4(ip) => format!("https://{ip}:{}", addr.port()),
        };
        cluster
            .credentials
            .write_kubeconfig(&kubeconfig_path(&dir), &url)?;
        info!(
            "ferry-cluster serving at {url} (Kubernetes v1.{}), kubeconfig {}",
            cluster.options.kube_minor,
            kubeconfig_path(&dir).display()
        );
        Ok((cluster, server))
    }

    fn seed_objects(&self) {
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let _ = self.store.create(
                Key::new("namespaces", "", ns),
                json!({
                    "kind": "Namespace", "apiVersion": "v1",
                    "metadata": {"name": ns, "uid": crate::resources::new_uid(), "creationTimestamp": now_rfc3339(),
                                 "labels": {"kubernetes.io/metadata.name": ns}},
                    "spec": {"finalizers": ["kubernetes"]},
                    "status": {"phase": "Active"},
                }),
            );
        }
        let _ = self.store.create(
            Key::new("nodes", "", kubelet::NODE_NAME),
            json!({
                "kind": "Node", "apiVersion": "v1",
                "metadata": {"name": kubelet::NODE_NAME, "uid": crate::resources::new_uid(), "creationTimestamp": now_rfc3339(),
                             "labels": {"kubernetes.io/hostname": kubelet::NODE_NAME, "kubernetes.io/os": "linux"}},
                "spec": {},
                "status": {
                    "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": now_rfc3339(), "lastTransitionTime": now_rfc3339()}],
                    "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": kubelet::NODE_NAME}],
                    "nodeInfo": {"kubeletVersion": format!("v1.{}.0", self.options.kube_minor), "containerRuntimeVersion": "runc://1.1", "operatingSystem": "linux", "architecture": std::env::consts::ARCH},
                },
            }),
        );
    }

    /// Connects an exec's streams to its container (see [`crate::exec::bridge`]).
    pub async fn run_exec(&self, target: ExecTarget, streams: ExecStreams) {
        let shaping = self.shaping.clone();
        crate::exec::bridge(
            self.kubelet.runtime().clone(),
            self.streams.clone(),
            shaping,
            target,
            streams,
        )
        .await
    }

    pub fn settings(&self) -> Settings {
        Settings {
            refuse_v5: self.refuse_v5(),
            shaping: *self.shaping.read().unwrap(),
        }
    }

    pub fn refuse_v5(&self) -> bool {
        self.refuse_v5.load(Ordering::SeqCst)
    }

    /// Applies new settings (control interface); open exec streams see new shaping at once.
    pub fn apply_settings(&self, s: Settings) {
        *self.shaping.write().unwrap() = s.shaping;
        self.refuse_v5.store(s.refuse_v5, Ordering::SeqCst);
    }

    /// Deletes a terminating namespace's pods and deployments, then the namespace.
    pub async fn finish_namespace(&self, ns: &str) {
        for def in crate::discovery::NAMESPACED_STORED {
            let resource = def.plural;
            let (items, _) = self.store.list(resource, Some(ns));
            for o in items {
                let name = o["metadata"]["name"].as_str().unwrap_or("").to_string();
                let key = Key::new(resource, ns, &name);
                if resource == "pods" {
                    let _ = crate::resources::delete_pod(&self.store, &key, None);
                } else {
                    let _ = self.store.delete(&key);
                }
            }
        }
        for _ in 0..600 {
            if self.store.list("pods", Some(ns)).0.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = self.store.delete(&Key::new("namespaces", "", ns));
    }

    /// Asks the server loop to stop; [`Cluster::teardown`] then removes everything.
    pub fn stop(&self) {
        let _ = self.shutdown.send(true);
    }

    pub async fn wait_stopped(&self) {
        let mut rx = self.shutdown.subscribe();
        while !*rx.borrow_and_update() {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Kills every pod, removes containers, mounts, the kubeconfig and the pid file.
    pub async fn teardown(&self) {
        self.kubelet.shutdown().await;
        match cleanup_dir(&self.options.dir) {
            Ok(r) if !r.is_empty() => info!("cleaned up: {}", r.join(", ")),
            Ok(_) => {}
            Err(e) => warn!("cleanup: {e:#}"),
        }
        let _ = std::fs::remove_file(kubeconfig_path(&self.options.dir));
    }
}

/// Runs a cluster in the foreground until SIGTERM, SIGINT or a control `shutdown`, then
/// tears it down.
pub async fn run_until_signal(options: Options) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let (cluster, server) = Cluster::start(options).await?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => info!("SIGTERM: stopping"),
        _ = int.recv() => info!("SIGINT: stopping"),
        _ = cluster.wait_stopped() => info!("shutdown requested"),
    }
    cluster.stop();
    let _ = server.await;
    cluster.teardown().await;
    Ok(())
}

/// `ferry-cluster down`: stops the cluster serving from `dir` (SIGTERM, then SIGKILL after
/// 30 s) and removes whatever it left.
pub fn down(dir: &Path) -> anyhow::Result<Vec<String>> {
    let dir = std::fs::canonicalize(dir)
        .with_context(|| format!("no cluster folder {}", dir.display()))?;
    if let Some(pid) = running_pid(&dir) {
        // SAFETY: sending a signal to a pid has no memory-safety preconditions.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::path::Path::new(&format!("/proc/{pid}")).exists()
            && std::time::Instant::now() < deadline
        {
            if is_zombie(pid) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if std::path::Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid) {
            warn!("ferry-cluster pid {pid} did not stop within 30 s; killing it");
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    let removed = cleanup_dir(&dir)?;
    let _ = std::fs::remove_file(kubeconfig_path(&dir));
    Ok(removed)
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}
