//! The container runtime: runs pods' containers as real Linux containers under `runc`,
//! much like containerd does on a Kubernetes node.
//!
//! # Layout
//!
//! A [`Runtime`] belongs to one cluster and its state folder `D`:
//! - `D/runc/` is runc's `--root`: runc's state of this cluster's containers and nobody
//!   else's, so several clusters run side by side and [`Runtime::cleanup_all`] touches
//!   only its own.
//! - `D/containers/<id>/` is a container's OCI bundle: `config.json`, `rootfs/` (a fresh
//!   copy of the image), `pid` (runc's pid file) and `runc.log` (runc's own JSON log).
//! - `D/containers/.cgroup-parents` lists the cgroup folders the cluster's containers
//!   were put under, so that a later `cleanup_all` (even from another process, e.g. after
//!   a crash) can kill what is left in them and remove them.
//!
//! # Images
//!
//! Images are built locally from the host's files; see [`IMAGES`] for the list and
//! [`normalize_image_reference`] for which references name them. Building is lazy and
//! cached in a folder shared by all clusters (see [`image_cache_dir`]).
//!
//! # Root file system
//!
//! Every [`Runtime::start`] copies the image's tree into the bundle (`copy_file_range`
//! per file, so the data is copied in the kernel; the debian image is ~200 files): a
//! container that restarts gets a fresh root file system and loses what it wrote, like a
//! real restart. Nothing is mounted on the host: no overlayfs, nothing to unmount, and
//! removing a container is a plain recursive delete. `/etc/hostname` and `/etc/hosts`
//! are written into each copy.
//!
//! # Containers
//!
//! Each container gets new pid, mount, ipc, uts and network namespaces (the network
//! namespace has only `lo`, which runc brings up); `/proc`, a tmpfs `/dev` with runc's
//! default devices (`null zero full random urandom tty`, `/dev/pts`, `/dev/shm`,
//! `/dev/mqueue`), `/sys` read-only; Docker's masked and read-only `/proc` paths; no
//! seccomp; `noNewPrivileges` false. Root processes get Docker's default capability set
//! (bounding, effective, permitted); other users keep it as the bounding set only, so
//! their effective and permitted sets are empty, like a non-root container's. Volumes
//! are `rbind` mounts (`rprivate`, `ro` or `rw`) made inside the container's own mount
//! namespace. The main process's stdin is `/dev/null`; its stdout and stderr are appended
//! to [`ContainerConfig::log_path`]. When runc itself fails to start the container, its
//! error message is appended there too (it shares runc's stderr).
//!
//! Cgroups: `cgroupsPath` is `ferry-cluster/<cluster id>/<container id>`, relative, so
//! that runc puts it below the cgroup of the process that runs runc (the cluster) in
//! each cgroup v1 hierarchy: resources stay accounted to whoever runs the cluster, and
//! the cluster id keeps two clusters apart even when pod names are equal. On a pure
//! cgroup v2 machine it is absolute (`/ferry-cluster/<cluster id>/<container id>`),
//! since a v2 cgroup holding processes cannot have child cgroups with controllers.
//!
//! # Observing exits
//!
//! `runc run` is started in the foreground (not `-d`) as a child of the cluster process
//! and stays there for the container's lifetime: it passes the container's stdout and
//! stderr on to the log file and, when the main process ends, reaps it, deletes the
//! container's runc state and exits with the main process's status (its exit code, or
//! 128 + the signal number). A Tokio task awaits that child, which Tokio does on SIGCHLD,
//! and publishes the code on a `watch` channel ([`Container::wait`]). Nothing polls: an
//! idle container costs an idle Go process (a few MB of memory, no CPU) and one parked
//! Tokio task. The only polling is while a container starts: the runtime waits for
//! runc's `--pid-file` (5 ms steps) to learn the main process's host pid. `runc run` runs
//! in its own process group so that a Ctrl-C in the cluster's terminal is not forwarded
//! into containers.
//!
//! Signals ([`Runtime::signal`]) go straight to the main process through a pidfd, so
//! they never hit a recycled pid. As on a real node, a main process that is pid 1 of its
//! namespace only receives signals it has a handler for, except SIGKILL.
//!
//! # Exec
//!
//! [`Runtime::exec`] runs `runc exec --process <memfd>` without a tty: runc pipes the
//! process's stdin, stdout and stderr through its own, which are the returned child's
//! pipes, and exits with the process's status (128 + signal if it was killed). The
//! process gets the container's environment (plus [`ExecConfig::env`]), user,
//! capabilities and working folder unless overridden. If runc cannot start the process
//! (for example the command does not exist in the image, as `sh` in `distroless`), the
//! child exits within moments with status [`EXEC_FAILED_STATUS`] (255) and runc's message
//! on stderr, e.g. `exec failed: unable to start container process: exec: "sh":
//! executable file not found in $PATH`.
//!
//! # Requirements
//!
//! Root, `runc` (found in `$FERRY_CLUSTER_RUNC`, `$PATH` or the system folders; Debian's
//! runc 1.1 works), and for the images the host's `busybox` (busybox-static), `dpkg-query`
//! (falls back to searching `PATH`), `ldd`, coreutils, dash, tar, findutils, gzip, grep,
//! sed, procps and inotify-tools. All methods that spawn processes must be called from
//! within a Tokio runtime.

mod images;
mod oci;
mod runc;
mod sha256;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use tokio::sync::watch;
use tracing::{debug, warn};

pub use images::{
    cache_dir as image_cache_dir, normalize as normalize_image_reference, Image, ImageError,
    CACHE_ENV, DEFAULT_CACHE_ROOT, FORMAT_VERSION, IMAGES,
};
pub use runc::RUNC_ENV;

/// Exit status of the child returned by [`Runtime::exec`] when runc could not start the
/// process at all (command not found, bad working folder, container gone, …); runc's
/// message is then on the child's stderr. Note that a process that does start may exit
/// with 255 too.
pub const EXEC_FAILED_STATUS: i32 = 255;

/// Name of the cgroup folder under which every cluster has its own
/// (`ferry-cluster/<cluster id>`).
pub const CGROUP_PARENT: &str = "ferry-cluster";

/// How long [`Runtime::start`] waits for runc to report the main process.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long [`Runtime::remove`] waits for a SIGKILLed container to be gone before it
/// also kills its `runc run` process.
const KILL_TIMEOUT: Duration = Duration::from_secs(20);

/// File in `D/containers` listing the cgroup parents the cluster used.
const CGROUP_PARENTS_FILE: &str = ".cgroup-parents";

/// The container runtime of one cluster. Cheap to clone (all clones share state);
/// `Send + Sync`.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    state_dir: PathBuf,
    runc_root: PathBuf,
    bundles: PathBuf,
    cluster_id: String,
    runc: Option<PathBuf>,
    containers: Mutex<HashMap<String, Entry>>,
    cgroup_parents: Mutex<BTreeSet<PathBuf>>,
}

/// What the runtime remembers of a container it started.
struct Entry {
    pid: u32,
    runc_pid: u32,
    pidfd: Option<runc::Pidfd>,
    exited: watch::Receiver<Option<i32>>,
    uid: u32,
    gid: u32,
    additional_gids: Vec<u32>,
    hostname: String,
    user_env: Vec<(String, String)>,
    cwd: String,
}

impl Entry {
    fn running(&self) -> bool {
        self.exited.borrow().is_none()
    }

    fn kill(&self, signal: i32) -> std::io::Result<()> {
        match &self.pidfd {
            Some(fd) => fd.signal(signal),
            None => Err(std::io::Error::from_raw_os_error(libc::ESRCH)),
        }
    }
}

/// What to run in a new container (the part of a pod's container spec the runtime needs).
#[derive(Debug, Clone)]
pub struct ContainerConfig {
    /// Unique id within the cluster, also runc's container id and the bundle's folder
    /// name: 1 to 250 characters of `[a-z0-9._-]`, not starting with `.`.
    pub id: String,
    /// The resolved image ([`Runtime::resolve_image`]).
    pub image: Image,
    /// Kubernetes `command`: replaces the image's entrypoint (built-in images have none).
    pub command: Vec<String>,
    /// Kubernetes `args`: replaces the image's default command ([`Image::default_command`]).
    /// The main process runs `command + args`, or the image default if both are empty.
    pub args: Vec<String>,
    /// Environment, after `PATH`, `HOSTNAME` and `HOME`; a repeated name wins over an
    /// earlier one (and may override those three).
    pub env: Vec<(String, String)>,
    /// Working folder (absolute; created by runc if missing); `None` or empty = `/`.
    pub working_dir: Option<String>,
    /// User id of the main process (and of execs without a user).
    pub uid: u32,
    /// Group id of the main process.
    pub gid: u32,
    /// Supplementary groups (e.g. `supplementalGroups` and `fsGroup`).
    pub supplemental_gids: Vec<u32>,
    /// The container's host name (its own uts namespace); empty = runc's default.
    pub hostname: String,
    /// Bind mounts (volumes).
    pub mounts: Vec<Mount>,
    /// File that the main process's stdout and stderr are appended to; created (with its
    /// folder) if missing.
    pub log_path: PathBuf,
}

/// A bind mount into a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Absolute path in the container; created by runc if missing.
    pub destination: String,
    /// Host folder or file, bind-mounted recursively (`rbind`).
    pub source: PathBuf,
    /// Mount read-only.
    pub read_only: bool,
}

/// A started container. Dropping it does not stop the container; [`Runtime::remove`]
/// does.
#[derive(Debug, Clone)]
pub struct Container {
    /// The id it was started with.
    pub id: String,
    /// Host pid of the main process (pid 1 in the container).
    pub pid: u32,
    exited: watch::Receiver<Option<i32>>,
}

impl Container {
    /// Waits until the main process has exited and returns its exit code (128 + the
    /// signal number if a signal ended it). Returns at once, every time, once it has
    /// exited. Cancel-safe: dropping the future loses nothing. Returns -1 if the exit can
    /// no longer be observed (the Tokio runtime that started the container shut down).
    pub async fn wait(&self) -> i32 {
        let mut rx = self.exited.clone();
        let waited = rx.wait_for(Option::is_some).await.map(|v| *v);
        let code = match waited {
            Ok(v) => v,
            Err(_) => *rx.borrow(),
        };
        code.unwrap_or(-1)
    }

    /// The exit code if the main process has exited, else `None`.
    pub fn exit_code(&self) -> Option<i32> {
        *self.exited.borrow()
    }

    /// A receiver that holds `None` while the main process runs and `Some(code)` after.
    pub fn exited(&self) -> watch::Receiver<Option<i32>> {
        self.exited.clone()
    }
}

/// A process to run in a running container with [`Runtime::exec`].
#[derive(Debug, Clone, Default)]
pub struct ExecConfig {
    /// Program and arguments; a program without `/` is looked up in the `PATH` of the
    /// process's environment. Must not be empty.
    pub command: Vec<String>,
    /// `(uid, gid)` to run as; `None` = the container's user and supplementary groups. A
    /// different user gets no supplementary groups, `HOME` for that user (unless the
    /// container's env sets it) and capabilities as for a main process of that user.
    pub user: Option<(u32, u32)>,
    /// Added to (or overriding) the container's environment.
    pub env: Vec<(String, String)>,
    /// Working folder; `None` = the container's.
    pub working_dir: Option<String>,
}

/// Checks a container id: 1–250 characters of `[a-z0-9._-]`, not starting with `.`.
fn validate_id(id: &str) -> anyhow::Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 250
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if !ok {
        bail!("invalid container id {id:?}: need 1-250 characters of [a-z0-9._-], not starting with '.'");
    }
    Ok(())
}

/// The main process's argv from Kubernetes `command`/`args` and the image's default.
fn command_line(image: &Image, command: &[String], args: &[String]) -> anyhow::Result<Vec<String>> {
    let argv: Vec<String> = match (command.is_empty(), args.is_empty()) {
        (false, _) => command.iter().chain(args).cloned().collect(),
        // No entrypoint in the built-in images: args alone are the whole command.
        (true, false) => args.to_vec(),
        (true, true) => image.default_command.clone(),
    };
    if argv.is_empty() {
        bail!(
            "no command specified and image {} has no default command",
            image.name
        );
    }
    Ok(argv)
}

fn status_code(status: std::process::ExitStatus) -> i32 {
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

impl Runtime {
    /// Opens the runtime of the cluster whose state folder is `state_dir` (created if
    /// missing): runc's root is `state_dir/runc`, bundles go to `state_dir/containers/<id>`.
    /// `cluster_id` (1–64 characters of `[A-Za-z0-9_-]`, unique per running cluster)
    /// names the cluster's cgroup folder `ferry-cluster/<cluster_id>`. Opening starts and
    /// kills nothing; it does not fail when runc is missing (operations that need it do).
    pub fn open(state_dir: &Path, cluster_id: &str) -> anyhow::Result<Runtime> {
        let id_ok = !cluster_id.is_empty()
            && cluster_id.len() <= 64
            && cluster_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !id_ok {
            bail!("invalid cluster id {cluster_id:?}");
        }
        fs::create_dir_all(state_dir)
            .with_context(|| format!("creating {}", state_dir.display()))?;
        let state_dir = fs::canonicalize(state_dir)?;
        let runc_root = state_dir.join("runc");
        let bundles = state_dir.join("containers");
        for d in [&runc_root, &bundles] {
            fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        fs::set_permissions(&runc_root, fs::Permissions::from_mode(0o700))?;
        let parents = fs::read_to_string(bundles.join(CGROUP_PARENTS_FILE))
            .unwrap_or_default()
            .lines()
            .map(PathBuf::from)
            .collect();
        Ok(Runtime {
            inner: Arc::new(Inner {
                state_dir,
                runc_root,
                bundles,
                cluster_id: cluster_id.to_string(),
                runc: runc::find_runc(),
                containers: Mutex::new(HashMap::new()),
                cgroup_parents: Mutex::new(parents),
            }),
        })
    }

    /// The (canonical) state folder `D`.
    pub fn state_dir(&self) -> &Path {
        &self.inner.state_dir
    }

    /// The cluster id given to [`Runtime::open`].
    pub fn cluster_id(&self) -> &str {
        &self.inner.cluster_id
    }

    /// The runc binary in use, if one was found.
    pub fn runc_path(&self) -> Option<&Path> {
        self.inner.runc.as_deref()
    }

    fn runc(&self) -> anyhow::Result<&Path> {
        self.inner
            .runc
            .as_deref()
            .ok_or_else(|| anyhow!("runc not found (install the runc package, or set {RUNC_ENV})"))
    }

    fn containers(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.inner
            .containers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn bundle(&self, id: &str) -> PathBuf {
        self.inner.bundles.join(id)
    }

    fn cgroups_path(&self, id: &str) -> String {
        let rel = format!("{CGROUP_PARENT}/{}/{id}", self.inner.cluster_id);
        if runc::cgroup_v2_only() {
            format!("/{rel}")
        } else {
            rel
        }
    }

    /// Resolves an image reference as written in a pod spec (see
    /// [`normalize_image_reference`]), building the image on first use. Unknown names,
    /// tags and digests give [`ImageError::NotFound`]. The first use of an image in a
    /// cache blocks the calling thread while it is built (about a second).
    pub fn resolve_image(&self, reference: &str) -> Result<Image, ImageError> {
        images::resolve(reference)
    }

    /// Creates and starts a container and returns once its main process runs (after
    /// runc wrote its pid). Fails if `cfg.id` is in use by a container of this runtime
    /// that was not [`remove`](Runtime::remove)d, or if runc cannot start the process
    /// (e.g. the command does not exist); the message then has runc's error. Leftovers
    /// of an earlier container with the same id (after a crash) are removed first. After
    /// a failure, call [`remove`](Runtime::remove) to clear the bundle.
    pub async fn start(&self, cfg: ContainerConfig) -> anyhow::Result<Container> {
        validate_id(&cfg.id)?;
        let runc = self.runc()?.to_path_buf();
        let argv = command_line(&cfg.image, &cfg.command, &cfg.args)?;
        let cwd = cfg
            .working_dir
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".to_string());
        if !cwd.starts_with('/') {
            bail!("working directory {cwd:?} is not absolute");
        }
        for m in &cfg.mounts {
            if !m.destination.starts_with('/') {
                bail!("mount destination {:?} is not absolute", m.destination);
            }
            if !m.source.exists() {
                bail!("mount source {} does not exist", m.source.display());
            }
        }
        if cfg.hostname.len() > 64 {
            bail!("host name {:?} is longer than 64 characters", cfg.hostname);
        }
        if self.containers().contains_key(&cfg.id) {
            bail!("container {} already exists", cfg.id);
        }
        let bundle = self.bundle(&cfg.id);
        if bundle.exists() || self.inner.runc_root.join(&cfg.id).exists() {
            debug!(id = %cfg.id, "removing leftovers of an earlier container with this id");
            self.remove(&cfg.id).await?;
        }

        let process = oci::ProcessSpec {
            args: argv,
            env: oci::base_env(&cfg.hostname, cfg.uid, &cfg.env),
            cwd: cwd.clone(),
            uid: cfg.uid,
            gid: cfg.gid,
            additional_gids: cfg.supplemental_gids.clone(),
        };
        let config = oci::config(
            oci::process(&process),
            &cfg.hostname,
            &cfg.mounts,
            &self.cgroups_path(&cfg.id),
        );
        {
            let bundle = bundle.clone();
            let image_rootfs = cfg.image.rootfs.clone();
            let hostname = cfg.hostname.clone();
            tokio::task::spawn_blocking(move || {
                prepare_bundle(&bundle, &image_rootfs, &config, &hostname)
            })
            .await
            .context("preparing the bundle")??;
        }

        if let Some(parent) = cfg.log_path.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&cfg.log_path)
            .with_context(|| format!("opening {}", cfg.log_path.display()))?;
        let log2 = log.try_clone()?;
        let pid_file = bundle.join("pid");
        let runc_log = bundle.join("runc.log");
        let mut cmd = tokio::process::Command::new(&runc);
        cmd.arg("--root")
            .arg(&self.inner.runc_root)
            .arg("--log")
            .arg(&runc_log)
            .arg("--log-format")
            .arg("json")
            .arg("run")
            .arg("--bundle")
            .arg(&bundle)
            .arg("--pid-file")
            .arg(&pid_file)
            .arg(&cfg.id)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("spawning {}", runc.display()))?;
        let runc_pid = child.id().unwrap_or(0);

        let deadline = Instant::now() + START_TIMEOUT;
        let (pid, early_exit) = loop {
            let status = child.try_wait()?;
            if let Some(pid) = runc::read_pid_file(&pid_file) {
                break (pid, status);
            }
            if let Some(status) = status {
                let msg = runc::errors_in_log(&runc_log)
                    .unwrap_or_else(|| format!("runc run exited with {status}"));
                bail!("starting container {}: {msg}", cfg.id);
            }
            if Instant::now() >= deadline {
                let _ = child.start_kill();
                let _ = child.wait().await;
                bail!(
                    "starting container {}: runc did not start it within {START_TIMEOUT:?}",
                    cfg.id
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let pidfd = runc::Pidfd::open(pid).ok();
        self.record_cgroup_parents(&cfg.id);

        let (tx, rx) = watch::channel(early_exit.map(status_code));
        if early_exit.is_none() {
            let id = cfg.id.clone();
            tokio::spawn(async move {
                let code = match child.wait().await {
                    Ok(status) => status_code(status),
                    Err(e) => {
                        warn!(id = %id, "waiting for runc run: {e}");
                        -1
                    }
                };
                debug!(id = %id, code, "container exited");
                tx.send_replace(Some(code));
            });
        }
        self.containers().insert(
            cfg.id.clone(),
            Entry {
                pid,
                runc_pid,
                pidfd,
                exited: rx.clone(),
                uid: cfg.uid,
                gid: cfg.gid,
                additional_gids: cfg.supplemental_gids.clone(),
                hostname: cfg.hostname.clone(),
                user_env: cfg.env.clone(),
                cwd,
            },
        );
        Ok(Container {
            id: cfg.id,
            pid,
            exited: rx,
        })
    }

    /// Remembers (in memory and in `D/containers/.cgroup-parents`) the cgroup parents
    /// runc used for container `id`.
    fn record_cgroup_parents(&self, id: &str) {
        let paths = runc::cgroup_paths(&self.inner.runc_root.join(id).join("state.json"));
        let mut set = self
            .inner
            .cgroup_parents
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut changed = false;
        for p in paths {
            if let Some(parent) = p.parent().filter(|p| runc::is_cluster_cgroup_parent(p)) {
                changed |= set.insert(parent.to_path_buf());
            }
        }
        let file = self.inner.bundles.join(CGROUP_PARENTS_FILE);
        if changed || (!set.is_empty() && !file.exists()) {
            let text: String = set.iter().map(|p| format!("{}\n", p.display())).collect();
            if let Err(e) = fs::write(&file, text) {
                warn!("recording cgroup folders: {e}");
            }
        }
    }

    /// Spawns `command` inside running container `id` with `runc exec` (no tty): the
    /// child's stdin, stdout and stderr are pipes; its exit status is the process's
    /// (128 + signal if killed), or [`EXEC_FAILED_STATUS`] with runc's message on stderr
    /// if the process could not be started (e.g. the command does not exist). The child
    /// is not killed on drop. Fails at once if the container is unknown to this runtime
    /// or not running. Must be called within a Tokio runtime.
    pub fn exec(&self, id: &str, cmd: &ExecConfig) -> anyhow::Result<tokio::process::Child> {
        validate_id(id)?;
        let runc = self.runc()?;
        if cmd.command.is_empty() {
            bail!("exec: empty command");
        }
        let spec = {
            let map = self.containers();
            let e = map
                .get(id)
                .ok_or_else(|| anyhow!("container {id} not found"))?;
            if !e.running() {
                bail!("container {id} is not running");
            }
            let (uid, gid, gids) = match cmd.user {
                None => (e.uid, e.gid, e.additional_gids.clone()),
                Some((u, g)) => (u, g, Vec::new()),
            };
            let mut env = oci::base_env(&e.hostname, uid, &e.user_env);
            oci::merge_env(&mut env, &cmd.env);
            oci::ProcessSpec {
                args: cmd.command.clone(),
                env,
                cwd: cmd
                    .working_dir
                    .clone()
                    .filter(|w| !w.is_empty())
                    .unwrap_or_else(|| e.cwd.clone()),
                uid,
                gid,
                additional_gids: gids,
            }
        };
        let json = serde_json::to_vec(&oci::process(&spec))?;
        // The process spec goes to runc through a memfd, so no file is left behind.
        let memfd = runc::memfd_with("ferry-exec-process", &json).context("memfd_create")?;
        let fd = memfd.as_raw_fd();
        let mut c = tokio::process::Command::new(runc);
        c.arg("--root")
            .arg(&self.inner.runc_root)
            .arg("--log")
            .arg("/dev/null")
            .arg("exec")
            .arg("--process")
            .arg(format!("/proc/self/fd/{fd}"))
            .arg(id)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        // SAFETY: fcntl is async-signal-safe; it only clears close-on-exec of the memfd
        // in the child so that runc can open it.
        unsafe {
            c.pre_exec(move || {
                if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = c
            .spawn()
            .with_context(|| format!("spawning {}", runc.display()))?;
        drop(memfd);
        Ok(child)
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`, `libc::SIGKILL`) to the main process of
    /// container `id`. Fails if the container is not running. For a container this
    /// runtime did not start (left by an earlier process), uses `runc kill`.
    pub fn signal(&self, id: &str, signal: i32) -> anyhow::Result<()> {
        validate_id(id)?;
        {
            let map = self.containers();
            if let Some(e) = map.get(id) {
                if !e.running() {
                    bail!("container {id} is not running");
                }
                return e
                    .kill(signal)
                    .with_context(|| format!("signalling container {id}"));
            }
        }
        let out = std::process::Command::new(self.runc()?)
            .arg("--root")
            .arg(&self.inner.runc_root)
            .args(["kill", id, &signal.to_string()])
            .output()?;
        if !out.status.success() {
            bail!(
                "runc kill {id}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    /// Stops container `id` for good: SIGKILLs its processes, waits until they are gone,
    /// deletes its runc state (`runc delete --force`) and removes its bundle and root file
    /// system. Idempotent; unknown ids are fine.
    pub async fn remove(&self, id: &str) -> anyhow::Result<()> {
        validate_id(id)?;
        let entry = self.containers().remove(id);
        if let Some(e) = entry {
            if e.running() {
                let _ = e.kill(libc::SIGKILL);
                let mut rx = e.exited.clone();
                let gone = tokio::time::timeout(KILL_TIMEOUT, rx.wait_for(Option::is_some)).await;
                if gone.is_err() && e.runc_pid > 0 {
                    warn!(
                        id,
                        "container still there {KILL_TIMEOUT:?} after SIGKILL; killing runc run"
                    );
                    // SAFETY: `runc_pid` is our own child and not yet reaped (its waiter has
                    // not reported), so the pid cannot have been recycled.
                    unsafe { libc::kill(e.runc_pid as i32, libc::SIGKILL) };
                }
            }
        }
        if self.inner.runc_root.join(id).exists() {
            let runc = self.runc()?;
            let out = tokio::process::Command::new(runc)
                .arg("--root")
                .arg(&self.inner.runc_root)
                .args(["delete", "--force", id])
                .output()
                .await?;
            if !out.status.success() && self.inner.runc_root.join(id).exists() {
                bail!(
                    "runc delete {id}: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
        }
        let bundle = self.bundle(id);
        if fs::symlink_metadata(&bundle).is_ok() {
            tokio::task::spawn_blocking(move || fs::remove_dir_all(&bundle))
                .await?
                .with_context(|| format!("removing the bundle of {id}"))?;
        }
        Ok(())
    }

    /// Host-side path of running container `id`'s root as the container sees it
    /// (`/proc/<pid>/root`, which includes its mounts), for reading files without exec;
    /// `None` if the container is unknown or not running. Absolute symlinks inside the
    /// container resolve against the host's root when followed through this path (the
    /// built-in images use relative ones).
    pub fn root_path(&self, id: &str) -> Option<PathBuf> {
        let map = self.containers();
        let e = map.get(id)?;
        e.running()
            .then(|| PathBuf::from(format!("/proc/{}/root", e.pid)))
    }

    /// Kills (SIGKILL) and deletes every container in this cluster's runc root
    /// (`D/runc`), also ones left by an earlier process, kills whatever is still in the
    /// cluster's recorded cgroups and removes them, waits (up to 10 s) for the `runc`
    /// processes working on this root to exit, and removes every bundle in
    /// `D/containers`. Touches nothing else: other clusters have other roots, bundle
    /// folders and cgroups. Returns what it removed (`container <id>` for runc
    /// containers, `bundle <id>` for bundles without one). Blocks the calling thread.
    pub fn cleanup_all(&self) -> anyhow::Result<Vec<String>> {
        let mut removed = Vec::new();
        let entries: Vec<(String, Entry)> = self.containers().drain().collect();
        let mut killed = Vec::new();
        for (id, e) in &entries {
            if e.running() && e.kill(libc::SIGKILL).is_ok() {
                killed.push((id.clone(), e.runc_pid));
            }
        }
        // Their `runc run` now reaps them and deletes their state; let it finish rather
        // than race it with `runc delete`.
        let deadline = Instant::now() + Duration::from_secs(5);
        while killed
            .iter()
            .any(|(_, pid)| *pid > 0 && !runc::gone_or_zombie(*pid))
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut parents: BTreeSet<PathBuf> = std::mem::take(
            &mut *self
                .inner
                .cgroup_parents
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        let root = &self.inner.runc_root;
        let mut ids: Vec<String> = fs::read_dir(root)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .filter_map(|e| e.file_name().to_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        for (id, _) in &killed {
            if !ids.contains(id) {
                removed.push(format!("container {id}"));
            }
        }
        for id in &ids {
            for p in runc::cgroup_paths(&root.join(id).join("state.json")) {
                if let Some(parent) = p.parent().filter(|p| runc::is_cluster_cgroup_parent(p)) {
                    parents.insert(parent.to_path_buf());
                }
            }
            let out = std::process::Command::new(self.runc()?)
                .arg("--root")
                .arg(root)
                .args(["delete", "--force", id])
                .output()
                .context("running runc delete")?;
            if root.join(id).exists() {
                // runc cannot load it (e.g. a crash before state.json was written): its
                // processes, if any, are found through the cgroups below.
                warn!(id = %id, "runc delete: {}", String::from_utf8_lossy(&out.stderr).trim());
                let _ = fs::remove_dir_all(root.join(id));
            }
            removed.push(format!("container {id}"));
        }
        for p in &parents {
            let n = runc::remove_cluster_cgroup(p);
            if n > 0 {
                warn!("killed {n} leftover processes in {}", p.display());
            }
        }
        wait_for_runc_processes(root);
        if let Ok(rd) = fs::read_dir(&self.inner.bundles) {
            for e in rd.flatten() {
                let Some(name) = e.file_name().to_str().map(String::from) else {
                    continue;
                };
                if name.starts_with('.') || !e.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                fs::remove_dir_all(e.path())
                    .with_context(|| format!("removing {}", e.path().display()))?;
                if !ids.contains(&name) && !killed.iter().any(|(id, _)| *id == name) {
                    removed.push(format!("bundle {name}"));
                }
            }
        }
        let _ = fs::remove_file(self.inner.bundles.join(CGROUP_PARENTS_FILE));
        Ok(removed)
    }
}

/// Waits up to 10 s for the runc processes working on runc root `root` (`runc run`,
/// `runc exec` of deleted containers) to exit; SIGKILLs those left after 5 s.
fn wait_for_runc_processes(root: &Path) {
    let root = root.to_string_lossy();
    let start = Instant::now();
    loop {
        let pids = runc::processes_with_args(&["--root", &root]);
        if pids.is_empty() {
            return;
        }
        let waited = start.elapsed();
        if waited > Duration::from_secs(10) {
            warn!("runc processes {pids:?} of {root} did not exit");
            return;
        }
        if waited > Duration::from_secs(5) {
            for pid in pids {
                // SAFETY: kill(2) of a runc process whose arguments name this cluster's
                // own runc root.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Creates the bundle folder: a fresh copy of the image, `/etc/hostname`, `/etc/hosts`,
/// `/tmp` 1777, and `config.json`.
fn prepare_bundle(
    bundle: &Path,
    image_rootfs: &Path,
    config: &serde_json::Value,
    hostname: &str,
) -> anyhow::Result<()> {
    fs::create_dir(bundle).with_context(|| format!("creating {}", bundle.display()))?;
    let rootfs = bundle.join("rootfs");
    images::copy_tree(image_rootfs, &rootfs)
        .with_context(|| format!("copying {} to {}", image_rootfs.display(), rootfs.display()))?;
    let etc = rootfs.join("etc");
    if etc.is_dir() && !hostname.is_empty() {
        fs::write(etc.join("hostname"), format!("{hostname}\n"))?;
        fs::write(
            etc.join("hosts"),
            format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n"),
        )?;
    }
    let tmp = rootfs.join("tmp");
    if !tmp.is_dir() {
        fs::create_dir(&tmp)?;
    }
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o1777))?;
    fs::write(
        bundle.join("config.json"),
        serde_json::to_vec_pretty(config)?,
    )?;
    Ok(())
}
