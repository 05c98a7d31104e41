//! The node agent: turns Pod objects into running containers and reports their state back
//! into the pod's `status`, as a kubelet does.
//!
//! One worker task per pod owns that pod's containers and volumes. The store's event
//! stream drives it: a new pod starts a worker; a pod marked for deletion makes the worker
//! stop the containers (SIGTERM, then SIGKILL after `terminationGracePeriodSeconds`) and
//! then remove the object; a pod removed outright (grace period 0) is killed at once.
//!
//! Supported: `command`/`args` (with `$(VAR)` expansion), `env` and `envFrom` (values,
//! ConfigMap and Secret keys, pod fields; see [`crate::pod_env`]), `workingDir`, `securityContext.runAsUser` /
//! `runAsGroup` (pod and container level), `fsGroup` (as a supplemental group), volumes
//! `emptyDir` (a folder of mode 0777), `emptyDir` with `medium: Memory` (a tmpfs of
//! `sizeLimit`, so a full volume gives ENOSPC), `hostPath`, `configMap` and `secret`
//! (read-only, in the kubelet's layout; see [`crate::config_volumes`]), `restartPolicy` with
//! exponential back-off (1 s doubling, capped at 10 s — shorter than a real kubelet's
//! 10 s … 5 min so tests stay quick). Unknown images stay Pending with `ErrImagePull` /
//! `ImagePullBackOff`. Probes and resources are accepted and ignored: a started container
//! is Ready.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::config_volumes::{self, ConfigVolume};
use crate::pod_env::{self, Source};
use crate::runtime::{self, ContainerConfig, Runtime};
use crate::store::{EventType, Key, Store};
use crate::util::now_rfc3339;

/// The name of the one node.
pub const NODE_NAME: &str = "ferry-node";

/// The longest a crashed container waits before it is restarted.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

#[derive(Debug)]
enum PodCmd {
    /// Stop gracefully within this many seconds, then remove the pod object.
    Terminate(u64),
    /// The object is gone already: kill everything now.
    Kill,
}

/// A container of a pod as exec and the control interface see it.
#[derive(Clone, Debug)]
pub struct LiveContainer {
    pub runtime_id: String,
    pub pid: u32,
    pub log_path: PathBuf,
}

/// A running container of a pod with the ports its spec declares (port-forward's view).
#[derive(Clone, Debug)]
pub struct RunningContainer {
    pub name: String,
    pub live: LiveContainer,
    pub ports: Vec<u16>,
}

struct PodEntry {
    tx: mpsc::UnboundedSender<PodCmd>,
    containers: HashMap<String, LiveContainer>,
}

pub struct Kubelet {
    store: Arc<Store>,
    runtime: Runtime,
    dir: PathBuf,
    pods: Mutex<HashMap<(String, String), PodEntry>>,
    workers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// Why exec (or a control operation) cannot reach a container.
#[derive(Debug)]
pub enum Unreachable {
    NoPod,
    NoContainer(Vec<String>),
    NeedContainerName(Vec<String>),
    NotRunning(String),
}

impl Kubelet {
    pub fn new(store: Arc<Store>, runtime: Runtime, dir: &Path) -> Arc<Kubelet> {
        Arc::new(Kubelet {
            store,
            runtime,
            dir: dir.to_path_buf(),
            pods: Mutex::new(HashMap::new()),
            workers: Mutex::new(Vec::new()),
        })
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Follows the store's pod events until the store goes away.
    pub async fn run(self: Arc<Self>) {
        let mut rx = self.store.subscribe();
        loop {
            let event = match rx.recv().await {
                Ok(e) => e,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    warn!("kubelet lagged {n} events; resyncing");
                    self.resync();
                    continue;
                }
                Err(_) => return,
            };
            if event.resource != "pods" {
                continue;
            }
            let key = (event.namespace.clone(), event.name.clone());
            match event.kind {
                EventType::Added => self.start_worker(key, &event.object),
                EventType::Modified => {
                    if !event.object["metadata"]["deletionTimestamp"].is_null() {
                        let grace = event.object["metadata"]["deletionGracePeriodSeconds"]
                            .as_u64()
                            .unwrap_or(30);
                        self.send(&key, PodCmd::Terminate(grace));
                    }
                }
                EventType::Deleted => self.send(&key, PodCmd::Kill),
            }
        }
    }

    fn resync(self: &Arc<Self>) {
        let (pods, _) = self.store.list("pods", None);
        for p in pods {
            let key = (
                p["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                p["metadata"]["name"].as_str().unwrap_or("").to_string(),
            );
            let known = self.pods.lock().unwrap().contains_key(&key);
            if !known {
                self.start_worker(key, &p);
            }
        }
    }

    fn send(&self, key: &(String, String), cmd: PodCmd) {
        if let Some(e) = self.pods.lock().unwrap().get(key) {
            let _ = e.tx.send(cmd);
        }
    }

    fn start_worker(self: &Arc<Self>, key: (String, String), pod: &Value) {
        let (tx, rx) = mpsc::unbounded_channel();
        {
            let mut pods = self.pods.lock().unwrap();
            if pods.contains_key(&key) {
                return;
            }
            pods.insert(
                key.clone(),
                PodEntry {
                    tx,
                    containers: HashMap::new(),
                },
            );
        }
        let worker = PodWorker {
            kubelet: self.clone(),
            key: Key::new("pods", &key.0, &key.1),
            uid: pod["metadata"]["uid"]
                .as_str()
                .unwrap_or("nouid")
                .to_string(),
            pod: pod.clone(),
            rx,
            mounts: Vec::new(),
            config_volumes: Vec::new(),
        };
        let handle = tokio::spawn(worker.run());
        let mut workers = self.workers.lock().unwrap();
        workers.retain(|h| !h.is_finished());
        workers.push(handle);
    }

    /// The running container exec should enter; `container` None picks the only one (or
    /// the `kubectl.kubernetes.io/default-container` annotation's).
    pub fn container(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
    ) -> Result<(String, LiveContainer), Unreachable> {
        let obj = self
            .store
            .get(&Key::new("pods", namespace, pod))
            .ok_or(Unreachable::NoPod)?;
        let names: Vec<String> = obj["spec"]["containers"]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .filter_map(|c| c["name"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let name = match container {
            Some(c) if !c.is_empty() => {
                if !names.iter().any(|n| n == c) {
                    return Err(Unreachable::NoContainer(names));
                }
                c.to_string()
            }
            _ => {
                let default = obj["metadata"]["annotations"]
                    ["kubectl.kubernetes.io/default-container"]
                    .as_str()
                    .map(String::from);
                match (default, names.len()) {
                    (Some(d), _) if names.contains(&d) => d,
                    (_, 1) => names[0].clone(),
                    _ => return Err(Unreachable::NeedContainerName(names)),
                }
            }
        };
        let pods = self.pods.lock().unwrap();
        pods.get(&(namespace.to_string(), pod.to_string()))
            .and_then(|e| e.containers.get(&name))
            .cloned()
            .map(|c| (name.clone(), c))
            .ok_or(Unreachable::NotRunning(name))
    }

    /// The pod's running containers, in the order of its spec, each with the ports its
    /// spec declares (`ports[].containerPort`). `NoPod` if the pod does not exist; an
    /// empty list if none of its containers runs.
    pub fn running_containers(
        &self,
        namespace: &str,
        pod: &str,
    ) -> Result<Vec<RunningContainer>, Unreachable> {
        let obj = self
            .store
            .get(&Key::new("pods", namespace, pod))
            .ok_or(Unreachable::NoPod)?;
        let pods = self.pods.lock().unwrap();
        let Some(entry) = pods.get(&(namespace.to_string(), pod.to_string())) else {
            return Ok(Vec::new());
        };
        let specs = obj["spec"]["containers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        Ok(specs
            .iter()
            .filter_map(|c| {
                let name = c["name"].as_str()?;
                let live = entry.containers.get(name)?;
                let ports = c["ports"]
                    .as_array()
                    .map(|ps| {
                        ps.iter()
                            .filter_map(|p| p["containerPort"].as_u64())
                            .filter_map(|p| u16::try_from(p).ok())
                            .collect()
                    })
                    .unwrap_or_default();
                Some(RunningContainer {
                    name: name.to_string(),
                    live: live.clone(),
                    ports,
                })
            })
            .collect())
    }

    fn set_live(&self, key: &Key, name: &str, live: Option<LiveContainer>) {
        let mut pods = self.pods.lock().unwrap();
        if let Some(e) = pods.get_mut(&(key.namespace.clone(), key.name.clone())) {
            match live {
                Some(l) => {
                    e.containers.insert(name.to_string(), l);
                }
                None => {
                    e.containers.remove(name);
                }
            }
        }
    }

    /// Stops every pod at once (cluster shutdown): kills containers, unmounts volumes.
    pub async fn shutdown(&self) {
        let txs: Vec<_> = self
            .pods
            .lock()
            .unwrap()
            .values()
            .map(|e| e.tx.clone())
            .collect();
        for tx in txs {
            let _ = tx.send(PodCmd::Kill);
        }
        let workers: Vec<_> = std::mem::take(&mut *self.workers.lock().unwrap());
        for w in workers {
            let _ = tokio::time::timeout(Duration::from_secs(20), w).await;
        }
    }
}

/// How a container of the worker's pod is doing.
struct Slot {
    name: String,
    restart_count: u32,
    running: Option<runtime::Container>,
    status: Value,
    last_state: Value,
    next_start: Option<Instant>,
    backoff: Duration,
    started_at: Option<Instant>,
    done: bool,
    image_id: String,
}

struct PodWorker {
    kubelet: Arc<Kubelet>,
    key: Key,
    uid: String,
    pod: Value,
    rx: mpsc::UnboundedReceiver<PodCmd>,
    /// tmpfs mounts this worker made on the host, unmounted when the pod goes.
    mounts: Vec<PathBuf>,
    /// ConfigMap and Secret volumes: (host folder, source), written before each start.
    config_volumes: Vec<(String, PathBuf, ConfigVolume)>,
}

enum Wake {
    Cmd(Option<PodCmd>),
    Exited(usize, i32),
    Timer,
}

impl PodWorker {
    fn pod_dir(&self) -> PathBuf {
        self.kubelet.dir.join("pods").join(&self.uid)
    }

    async fn run(mut self) {
        let containers: Vec<Value> = self.pod["spec"]["containers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut slots: Vec<Slot> = containers
            .iter()
            .map(|c| Slot {
                name: c["name"].as_str().unwrap_or("").to_string(),
                restart_count: 0,
                running: None,
                status: json!({"waiting": {"reason": "ContainerCreating"}}),
                last_state: json!({}),
                next_start: Some(Instant::now()),
                backoff: Duration::ZERO,
                started_at: None,
                done: false,
                image_id: String::new(),
            })
            .collect();
        self.publish(&slots, None);
        let volumes = match self.prepare_volumes() {
            Ok(v) => v,
            Err(msg) => {
                for s in &mut slots {
                    s.status = json!({"waiting": {"reason": "CreateContainerConfigError", "message": msg}});
                    s.next_start = None;
                }
                self.publish(&slots, None);
                HashMap::new()
            }
        };
        let restart_policy = self.pod["spec"]["restartPolicy"]
            .as_str()
            .unwrap_or("Always")
            .to_string();

        loop {
            // Start whatever is due.
            let now = Instant::now();
            let mut changed = false;
            for (i, slot) in slots.iter_mut().enumerate() {
                if slot.running.is_none() && !slot.done && slot.next_start.is_some_and(|t| t <= now)
                {
                    self.start_slot(slot, &containers[i], &volumes).await;
                    changed = true;
                }
            }
            if changed {
                self.publish(&slots, None);
            }

            let next_timer = slots.iter().filter_map(|s| s.next_start).min();
            let wake = {
                let exits = slots.iter_mut().enumerate().filter_map(|(i, s)| {
                    s.running.as_mut().map(|c| {
                        let fut = runtime_wait(c);
                        Box::pin(async move { (i, fut.await) })
                    })
                });
                let exits: Vec<_> = exits.collect();
                let any_exit = async {
                    if exits.is_empty() {
                        std::future::pending::<(usize, i32)>().await
                    } else {
                        futures::future::select_all(exits).await.0
                    }
                };
                let timer = async {
                    match next_timer {
                        Some(t) => tokio::time::sleep_until(t.into()).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    cmd = self.rx.recv() => Wake::Cmd(cmd),
                    (i, code) = any_exit => Wake::Exited(i, code),
                    _ = timer => Wake::Timer,
                }
            };
            match wake {
                Wake::Timer => {}
                Wake::Exited(i, code) => {
                    self.on_exit(&mut slots[i], code, &restart_policy).await;
                    let all_done = slots.iter().all(|s| s.done);
                    let phase = if all_done {
                        Some(if slots.iter().all(|s| s.last_exit_code() == 0) {
                            "Succeeded"
                        } else {
                            "Failed"
                        })
                    } else {
                        None
                    };
                    self.publish(&slots, phase);
                }
                Wake::Cmd(Some(PodCmd::Terminate(grace))) => {
                    self.stop_all(&mut slots, Duration::from_secs(grace)).await;
                    self.cleanup();
                    let _ = self.kubelet.store.delete(&self.key);
                    break;
                }
                Wake::Cmd(Some(PodCmd::Kill)) | Wake::Cmd(None) => {
                    self.stop_all(&mut slots, Duration::ZERO).await;
                    self.cleanup();
                    break;
                }
            }
        }
        self.kubelet
            .pods
            .lock()
            .unwrap()
            .remove(&(self.key.namespace.clone(), self.key.name.clone()));
        debug!(pod = %self.key.name, "pod worker done");
    }

    /// Creates the pod's volumes; returns volume name → host path.
    fn prepare_volumes(&mut self) -> Result<HashMap<String, PathBuf>, String> {
        let mut out = HashMap::new();
        let empty = Vec::new();
        let volumes = self.pod["spec"]["volumes"]
            .as_array()
            .unwrap_or(&empty)
            .clone();
        for v in volumes {
            let name = v["name"].as_str().unwrap_or("").to_string();
            if v["emptyDir"].is_object() {
                let path = self.pod_dir().join("volumes").join(&name);
                std::fs::create_dir_all(&path).map_err(|e| format!("emptyDir {name}: {e}"))?;
                if v["emptyDir"]["medium"].as_str() == Some("Memory") {
                    let size = v["emptyDir"]["sizeLimit"]
                        .as_str()
                        .and_then(crate::quantity::parse_bytes);
                    mount_tmpfs(&path, size)
                        .map_err(|e| format!("emptyDir {name} (tmpfs): {e}"))?;
                    self.mounts.push(path.clone());
                }
                chmod(&path, 0o777).map_err(|e| format!("emptyDir {name}: {e}"))?;
                out.insert(name, path);
            } else if let Some(p) = v["hostPath"]["path"].as_str() {
                let path = PathBuf::from(p);
                let ty = v["hostPath"]["type"].as_str().unwrap_or("");
                if !path.exists() {
                    match ty {
                        "" | "DirectoryOrCreate" => {
                            std::fs::create_dir_all(&path)
                                .map_err(|e| format!("hostPath {name}: {e}"))?;
                            if ty == "DirectoryOrCreate" {
                                chmod(&path, 0o755).ok();
                            }
                        }
                        _ => {
                            return Err(format!(
                                "hostPath type check failed: {p} is not a directory"
                            ))
                        }
                    }
                }
                out.insert(name, path);
            } else if let Some(cv) = ConfigVolume::parse(&v) {
                let path = self.pod_dir().join("volumes").join(&name);
                std::fs::create_dir_all(&path).map_err(|e| format!("volume {name}: {e}"))?;
                out.insert(name.clone(), path.clone());
                self.config_volumes.push((name, path, cv));
            } else {
                return Err(format!(
                    "volume {name:?}: ferry-cluster supports emptyDir, hostPath, configMap and secret volumes only"
                ));
            }
        }
        Ok(out)
    }

    /// The entries of a ConfigMap or Secret in the pod's namespace, if it exists.
    fn lookup(&self, source: Source, name: &str) -> Option<BTreeMap<String, Vec<u8>>> {
        let plural = match source {
            Source::ConfigMap => "configmaps",
            Source::Secret => "secrets",
        };
        let obj = self
            .kubelet
            .store
            .get(&Key::new(plural, &self.key.namespace, name))?;
        Some(crate::config_objects::entries(
            &obj,
            source == Source::Secret,
        ))
    }

    /// Writes the pod's ConfigMap and Secret volumes from the objects as they are now.
    fn write_config_volumes(&self) -> Result<(), String> {
        for (name, dir, cv) in &self.config_volumes {
            let entries = self.lookup(cv.source, &cv.object);
            let failed =
                |e: String| format!("MountVolume.SetUp failed for volume \"{name}\" : {e}");
            let files = config_volumes::files(cv, entries.as_ref()).map_err(failed)?;
            config_volumes::write(dir, &files).map_err(|e| failed(e.to_string()))?;
        }
        Ok(())
    }

    /// Leaves `slot` waiting with `reason` and tries again after the back-off.
    fn retry_later(slot: &mut Slot, reason: &str, message: String) {
        slot.backoff = next_backoff(slot.backoff);
        slot.next_start = Some(Instant::now() + slot.backoff);
        slot.status = json!({"waiting": {"reason": reason, "message": message}});
    }

    async fn start_slot(&self, slot: &mut Slot, spec: &Value, volumes: &HashMap<String, PathBuf>) {
        slot.next_start = None;
        // Volumes come before the image, as on a node: a missing ConfigMap keeps the pod in
        // ContainerCreating until it appears.
        if let Err(msg) = self.write_config_volumes() {
            Self::retry_later(slot, "ContainerCreating", msg);
            return;
        }
        let image_ref = spec["image"].as_str().unwrap_or("");
        let image = match self.kubelet.runtime.resolve_image(image_ref) {
            Ok(i) => i,
            Err(e) => {
                // Alternate as a kubelet does: ErrImagePull, then back-off, then retry.
                let was_pull_err = slot.status["waiting"]["reason"] == "ErrImagePull";
                slot.backoff = next_backoff(slot.backoff);
                slot.next_start = Some(Instant::now() + slot.backoff);
                slot.status = if was_pull_err {
                    json!({"waiting": {"reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{image_ref}\"")}})
                } else {
                    json!({"waiting": {"reason": "ErrImagePull", "message": e.to_string()}})
                };
                return;
            }
        };
        let pod_sc = &self.pod["spec"]["securityContext"];
        let sc = &spec["securityContext"];
        let pick = |field: &str| sc[field].as_u64().or(pod_sc[field].as_u64());
        let uid = pick("runAsUser").unwrap_or(0) as u32;
        let gid = pick("runAsGroup").unwrap_or(0) as u32;
        let mut supplemental: Vec<u32> = pod_sc["supplementalGroups"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|g| g.as_u64().map(|g| g as u32))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(fs_group) = pod_sc["fsGroup"].as_u64() {
            supplemental.push(fs_group as u32);
        }
        let mut mounts = Vec::new();
        if let Some(vms) = spec["volumeMounts"].as_array() {
            for m in vms {
                let vname = m["name"].as_str().unwrap_or("");
                let Some(src) = volumes.get(vname) else {
                    slot.status = json!({"waiting": {"reason": "CreateContainerConfigError",
                        "message": format!("volume {vname:?} not found in the pod's volumes")}});
                    return;
                };
                let mut source = src.clone();
                if let Some(sub) = m["subPath"].as_str().filter(|s| !s.is_empty()) {
                    source = source.join(sub);
                    let _ = std::fs::create_dir_all(&source);
                }
                // ConfigMap and Secret volumes are always read-only, as on a node.
                let config = self.config_volumes.iter().any(|(n, _, _)| n == vname);
                mounts.push(runtime::Mount {
                    destination: m["mountPath"].as_str().unwrap_or("/").to_string(),
                    source,
                    read_only: config || m["readOnly"].as_bool().unwrap_or(false),
                });
            }
        }
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let lookup = |source: Source, name: &str| self.lookup(source, name);
        let env = match pod_env::container_env(&self.pod, spec, &lookup) {
            Ok(env) => env,
            Err(msg) => {
                Self::retry_later(slot, "CreateContainerConfigError", msg);
                return;
            }
        };
        let expanded = |v: &Value| -> Vec<String> {
            strings(v)
                .iter()
                .map(|s| pod_env::expand(s, &env))
                .collect()
        };
        let logs = self.pod_dir().join("logs");
        let _ = std::fs::create_dir_all(&logs);
        let id = format!(
            "{}.{}.{}.{}",
            self.key.namespace, self.key.name, slot.name, slot.restart_count
        );
        let cfg = ContainerConfig {
            id: id.clone(),
            image: image.clone(),
            command: expanded(&spec["command"]),
            args: expanded(&spec["args"]),
            env,
            working_dir: spec["workingDir"].as_str().map(String::from),
            uid,
            gid,
            supplemental_gids: supplemental,
            hostname: self.key.name.chars().take(63).collect(),
            mounts,
            log_path: logs.join(format!("{}.log", slot.name)),
        };
        let log_path = cfg.log_path.clone();
        match self.kubelet.runtime.start(cfg).await {
            Ok(c) => {
                info!(pod = %self.key.name, container = %slot.name, pid = c.pid, "container started");
                self.kubelet.set_live(
                    &self.key,
                    &slot.name,
                    Some(LiveContainer {
                        runtime_id: id.clone(),
                        pid: c.pid,
                        log_path,
                    }),
                );
                slot.status = json!({"running": {"startedAt": now_rfc3339()}});
                slot.started_at = Some(Instant::now());
                slot.running = Some(c);
                slot.image_id = image.id.clone();
            }
            Err(e) => {
                warn!(pod = %self.key.name, container = %slot.name, "start failed: {e:#}");
                let _ = self.kubelet.runtime.remove(&id).await;
                slot.backoff = next_backoff(slot.backoff);
                slot.next_start = Some(Instant::now() + slot.backoff);
                slot.status = json!({"waiting": {"reason": "RunContainerError", "message": format!("{e:#}")}});
            }
        }
    }

    async fn on_exit(&self, slot: &mut Slot, code: i32, restart_policy: &str) {
        let Some(c) = slot.running.take() else { return };
        let id = c.id.clone();
        self.kubelet.set_live(&self.key, &slot.name, None);
        let _ = self.kubelet.runtime.remove(&id).await;
        let started = slot.status["running"]["startedAt"].clone();
        let terminated = json!({
            "exitCode": code,
            "reason": if code == 0 { "Completed" } else { "Error" },
            "startedAt": started,
            "finishedAt": now_rfc3339(),
            "containerID": format!("runc://{id}"),
        });
        info!(pod = %self.key.name, container = %slot.name, code, "container exited");
        let restart = match restart_policy {
            "Never" => false,
            "OnFailure" => code != 0,
            _ => true,
        };
        if !restart {
            slot.status = json!({"terminated": terminated});
            slot.done = true;
            return;
        }
        // A container that ran for a while starts over with a short back-off.
        if slot
            .started_at
            .is_some_and(|t| t.elapsed() > Duration::from_secs(600))
        {
            slot.backoff = Duration::ZERO;
        }
        slot.last_state = json!({"terminated": terminated});
        slot.restart_count += 1;
        let delay = slot.backoff;
        slot.backoff = next_backoff(slot.backoff);
        slot.next_start = Some(Instant::now() + delay);
        slot.status = if delay.is_zero() {
            json!({"waiting": {"reason": "ContainerCreating"}})
        } else {
            json!({"waiting": {"reason": "CrashLoopBackOff", "message": format!(
                "back-off {}s restarting failed container={} pod={}", delay.as_secs(), slot.name, self.key.name)}})
        };
    }

    async fn stop_all(&self, slots: &mut [Slot], grace: Duration) {
        let deadline = Instant::now() + grace;
        if !grace.is_zero() {
            for s in slots.iter() {
                if let Some(c) = &s.running {
                    let _ = self.kubelet.runtime.signal(&c.id, libc::SIGTERM);
                }
            }
            for s in slots.iter_mut() {
                if let Some(c) = s.running.as_mut() {
                    let left = deadline.saturating_duration_since(Instant::now());
                    let _ = tokio::time::timeout(left, runtime_wait(c)).await;
                }
            }
        }
        for s in slots.iter_mut() {
            if let Some(c) = s.running.take() {
                let _ = self.kubelet.runtime.signal(&c.id, libc::SIGKILL);
                let _ = self.kubelet.runtime.remove(&c.id).await;
                self.kubelet.set_live(&self.key, &s.name, None);
            }
        }
    }

    fn cleanup(&mut self) {
        for m in self.mounts.drain(..) {
            if let Err(e) = unmount(&m) {
                warn!("unmounting {}: {e}", m.display());
            }
        }
        let _ = std::fs::remove_dir_all(self.pod_dir().join("volumes"));
    }

    /// Writes the pod's status from the slots.
    fn publish(&self, slots: &[Slot], final_phase: Option<&str>) {
        let all_running = slots.iter().all(|s| s.running.is_some());
        let any_started = slots
            .iter()
            .any(|s| s.restart_count > 0 || s.running.is_some());
        let phase = final_phase.unwrap_or(if all_running || any_started {
            "Running"
        } else {
            "Pending"
        });
        let now = now_rfc3339();
        let statuses: Vec<Value> = slots
            .iter()
            .map(|s| {
                let spec = self.pod["spec"]["containers"]
                    .as_array()
                    .and_then(|cs| cs.iter().find(|c| c["name"] == s.name.as_str()))
                    .cloned()
                    .unwrap_or(Value::Null);
                let mut v = json!({
                    "name": s.name,
                    "image": spec["image"],
                    "imageID": s.image_id,
                    "ready": s.running.is_some(),
                    "started": s.running.is_some(),
                    "restartCount": s.restart_count,
                    "state": s.status,
                    "lastState": s.last_state,
                });
                if let Some(c) = &s.running {
                    v["containerID"] = json!(format!("runc://{}", c.id));
                }
                v
            })
            .collect();
        let ready = if all_running { "True" } else { "False" };
        let _ = self.kubelet.store.update(&self.key, None, |pod| {
            let old_conditions = pod["status"]["conditions"].clone();
            let transition = |ty: &str, status: &str| -> Value {
                let prev = old_conditions
                    .as_array()
                    .and_then(|a| a.iter().find(|c| c["type"] == ty))
                    .cloned();
                let at = match &prev {
                    Some(p) if p["status"] == status => p["lastTransitionTime"].clone(),
                    _ => json!(now),
                };
                json!({"type": ty, "status": status, "lastProbeTime": null, "lastTransitionTime": at})
            };
            let st = &mut pod["status"];
            st["phase"] = json!(phase);
            st["hostIP"] = json!("127.0.0.1");
            st["hostIPs"] = json!([{"ip": "127.0.0.1"}]);
            st["qosClass"] = json!("BestEffort");
            if st["startTime"].is_null() {
                st["startTime"] = json!(now);
            }
            st["conditions"] = json!([
                transition("PodReadyToStartContainers", if any_started { "True" } else { "False" }),
                transition("Initialized", "True"),
                transition("Ready", ready),
                transition("ContainersReady", ready),
                transition("PodScheduled", "True"),
            ]);
            st["containerStatuses"] = json!(statuses);
        });
    }
}

impl Slot {
    fn last_exit_code(&self) -> i64 {
        self.status["terminated"]["exitCode"].as_i64().unwrap_or(0)
    }
}

fn next_backoff(d: Duration) -> Duration {
    if d.is_zero() {
        Duration::from_secs(1)
    } else {
        (d * 2).min(MAX_BACKOFF)
    }
}

/// Awaits the container's exit code.
async fn runtime_wait(c: &mut runtime::Container) -> i32 {
    c.wait().await
}

fn chmod(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

fn cstr(p: &Path) -> std::io::Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(p.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "NUL in path"))
}

/// Mounts a tmpfs of `size` bytes (mode 0777) at `path` on the host.
fn mount_tmpfs(path: &Path, size: Option<u64>) -> std::io::Result<()> {
    let target = cstr(path)?;
    let mut opts = "mode=0777".to_string();
    if let Some(s) = size {
        opts.push_str(&format!(",size={s}"));
    }
    let opts = std::ffi::CString::new(opts).unwrap();
    let fstype = std::ffi::CString::new("tmpfs").unwrap();
    // SAFETY: all pointers are valid NUL-terminated strings for the duration of the call.
    let rc = unsafe {
        libc::mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            opts.as_ptr() as *const libc::c_void,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Unmounts `path` (lazily, so a straggling process cannot keep it busy).
pub fn unmount(path: &Path) -> std::io::Result<()> {
    let target = cstr(path)?;
    // SAFETY: `target` is a valid NUL-terminated string.
    let rc = unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Every mount point under `dir` according to /proc/self/mountinfo, deepest first.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mount_path)
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    out.dedup();
    out
}

fn unescape_mount_path(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
