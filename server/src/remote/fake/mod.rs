//! [`FakeContainer`]: an in-memory container that speaks ferry's session protocol, for
//! tests of the engine that need thousands of cases (random interleavings of edits on both
//! sides, pod replacements, a crash at every I/O step) where real shells are far too slow.
//!
//! It implements [`Launcher`]: `launch(argv)` recognises the session script
//! (`sh -c SCRIPT ferry-session ROOT STATE DISABLED MODE`), the two watcher scripts
//! (`ferry-watch`), `sh -c pwd`, and runs anything else as a recorded no-op (hooks). A
//! process is a task serving in-memory pipes (`tokio::io::duplex`) that emulates its
//! script **at the protocol level, byte for byte**: the same replies, records, messages
//! and file system effects the real script would have, in the same order — for the
//! contract each script's comments and the table in [`crate::remote::session`] describe,
//! not by interpreting shell.
//!
//! | module | job |
//! |---|---|
//! | [`fs`] | [`FakeFs`]: the container's file system (files, folders, symlinks, modes, owners, ns mtimes, mounts with capacities, denied paths, inotify events) |
//! | [`profile`] | [`Profile`]: tools found by the probe, `stat` time format, tool flavor (messages), user |
//! | [`fault`] | numbered I/O steps and the [`Fault`]s that fire at them |
//! | `tools` | `mkdir -p`, `rm -rf`, `rmdir`, `mv -f`, redirections with busybox or GNU messages; the system-call layer that counts steps |
//! | `shell` | the session process: start-up (state folder, sweep, probe, hello), the command loop, framing, payload readers |
//! | `commands` | one handler per command (`list`, `put`, `putf`, `get`, `getf`, `sum`, `rm`, `rm c`, `rmdir`, `mkdir`, `mv`, `place`, `mark`) |
//! | `watch` | the inotify and polling watchers |
//!
//! # Fidelity
//!
//! `server/tests/remote_fake.rs` runs the same [`crate::remote::Session`] calls against
//! the real scripts (busybox and debian root file systems) and against a fake configured
//! like each image, and compares the results. What the fake does differently, on purpose:
//! listings and archives are in name order (a real `find` uses directory order: only
//! "parents before children" is promised); folder sizes are 4096; archives are built by
//! the `tar` crate (same entries, other padding); the inotify watcher never misses an
//! event (a real `inotifywait -r` can miss the first entries of a folder created right
//! before them); the inotify watcher's `TOKEN alive` comes every 5 s of tokio's clock
//! (the real guard counts five `sleep 1`), so a paused test clock sees it at once; a
//! mount's capacity counts bytes of file content (a real tmpfs counts pages: the count
//! in GNU tar's `Wrote only N of M bytes` differs, and the free space `put` reports in
//! its `X` line is exact only for an empty mount).
//!
//! # Use
//!
//! ```ignore
//! let c = FakeContainer::busybox();                // or ::new(Profile::debian().as_user(1000, 1000))
//! c.write("/app/seed.txt", "from the image")?;     // the container's own processes
//! let mut s = Session::start(&c, "/app", SessionOptions::default()).await?;
//! // … or hand `c.clone()` to the engine as the launcher its connector returns.
//!
//! // A crash at every I/O step: run the scenario until the fault no longer fires.
//! for k in 0.. {
//!     let c = FakeContainer::busybox();
//!     c.inject(Fault::at(k).kill());                // or .drop_stream(), .fail(), .hang(),
//!                                                   // .then(Replacement::Pod(image)) …
//!     run_scenario(&c).await;
//!     if c.fired().is_empty() { break }            // fewer than k steps: done
//!     check(&c);                                    // c.tree("/app", true), c.processes()
//! }
//! ```
//!
//! # The container's clock
//!
//! Mtimes come from the container's clock: by default it starts at 2023-11-14T22:13:20Z
//! and follows tokio's clock (so a paused test runtime keeps it still); [`FakeContainer::set_time`],
//! [`FakeContainer::advance`] and [`FakeContainer::freeze`] control it.

pub mod fault;
pub mod fs;
pub mod profile;

mod commands;
mod shell;
mod tools;
mod watch;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

use super::path::Mtime;
use super::scripts;
use super::transport::{BoxFuture, ExitStatus, LaunchError, Launcher, RemoteProcess};

pub use fault::{Fault, FaultAction, Fired, Scope, Step, StepKind};
pub use fs::{Cred, Deny, Errno, FakeFs, Kind, Mount, Stat};
pub use profile::{Flavor, Profile, StatTimes};

/// What replaces the running container (see [`FakeContainer::replace`]).
#[derive(Debug, Clone)]
pub enum Replacement {
    /// A new pod (new pod UID and container ID) whose container starts from this file
    /// system: empty, or prefilled as an image with `COPY . /app` would be.
    Pod(FakeFs),
    /// A new pod that finds the same file system (everything on volumes that outlived the
    /// old pod, e.g. a `hostPath` or persistent volume).
    PodKeepingFs,
    /// The container restarts in the same pod (same UID, new container ID): the file
    /// system is reset to the image it started from, except the mounts marked `volume`
    /// (an `emptyDir`), which keep their contents.
    Restart,
}

/// Who the container is, as the cluster would report it (the engine's fallback identity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodInfo {
    /// The pod's name.
    pub pod: String,
    /// The pod's UID (changes with every new pod).
    pub pod_uid: String,
    /// The container's name.
    pub container: String,
    /// The container's ID (changes with every restart and new pod).
    pub container_id: String,
}

/// What a process of the fake is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessKind {
    /// A session (`ferry-session`).
    Session,
    /// An inotify watcher.
    WatchInotify,
    /// A polling watcher.
    WatchPoll,
    /// Anything else (`pwd`, hooks).
    Other,
}

/// A process running in the fake container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    /// Its pid in the container.
    pub pid: u32,
    /// What it is.
    pub kind: ProcessKind,
}

/// One entry of [`FakeContainer::tree`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeEntry {
    /// A regular file.
    File {
        /// Its content.
        content: Vec<u8>,
        /// Permission bits.
        mode: u32,
        /// Modification time.
        mtime: Mtime,
    },
    /// A folder.
    Dir {
        /// Permission bits.
        mode: u32,
    },
    /// A symlink.
    Symlink {
        /// Its target.
        target: String,
    },
    /// A FIFO or other special file.
    Special,
}

/// How a process ended (internal: the task's result).
#[derive(Debug)]
pub(crate) enum Stop {
    /// It exited with this code; `cleanup`: its `EXIT` trap ran.
    Exit { code: i32, cleanup: bool },
    /// It was killed (no cleanup).
    Killed,
    /// A fault made it stop answering.
    Hang,
}

/// The container's clock.
#[derive(Debug, Clone)]
pub(crate) struct Clock {
    base: Mtime,
    since: Option<tokio::time::Instant>,
}

impl Clock {
    pub fn now(&self) -> Mtime {
        match self.since {
            None => self.base,
            Some(at) => add(self.base, at.elapsed()),
        }
    }
}

fn add(t: Mtime, d: Duration) -> Mtime {
    let nanos = t.nanos as u64 + d.subsec_nanos() as u64;
    Mtime::new(
        t.secs
            .saturating_add(d.as_secs() as i64)
            .saturating_add((nanos / 1_000_000_000) as i64),
        (nanos % 1_000_000_000) as u32,
    )
}

struct Proc {
    kind: ProcessKind,
    abort: Option<AbortHandle>,
    status: Option<oneshot::Sender<ExitStatus>>,
    cleanup: Vec<Vec<u8>>,
    cred: Cred,
}

/// An inotify watcher's subscription to file system events.
pub(crate) struct Tap {
    pub pid: u32,
    pub root: Vec<u8>,
    pub tx: mpsc::UnboundedSender<watch::TapMsg>,
}

/// A hook handler: runs a command that is not one of ferry's scripts.
pub type ExecHandler = Arc<dyn Fn(&[String], &mut FakeFs) -> (i32, Vec<u8>) + Send + Sync>;

/// Everything behind the container's mutex.
pub(crate) struct State {
    pub fs: FakeFs,
    image: FakeFs,
    pub profile: Profile,
    pub clock: Clock,
    pub faults: fault::Faults,
    procs: BTreeMap<u32, Proc>,
    next_pid: u32,
    pub taps: Vec<Tap>,
    stalled: bool,
    lost: bool,
    pod: PodInfo,
    generation: u32,
    running: bool,
    execs: Vec<Vec<String>>,
    exec_handler: Option<ExecHandler>,
}

const FIRST_PID: u32 = 100;

impl State {
    /// Counts a step; applies the container-wide part of a fault that fires at it and
    /// returns what the process taking the step must do.
    pub fn step(
        &mut self,
        kind: StepKind,
        pid: u32,
        what: impl FnOnce() -> String,
    ) -> Option<FaultAction> {
        let f = self.faults.step(kind, pid, what())?;
        if f.scope == Scope::Container {
            let others: Vec<u32> = self.procs.keys().copied().filter(|p| *p != pid).collect();
            for p in others {
                match f.action {
                    FaultAction::Kill => self.end(p, None, false),
                    FaultAction::Drop | FaultAction::Truncate(_) => self.end(p, Some(1), true),
                    FaultAction::Fail | FaultAction::Hang => {}
                }
            }
        }
        if let Some(r) = f.then.clone() {
            self.replace(r);
            return Some(FaultAction::Kill);
        }
        Some(f.action)
    }

    /// Ends process `pid` from outside its task: aborts it, runs its cleanup when asked,
    /// resolves its status (`code` `None`: killed by SIGKILL).
    fn end(&mut self, pid: u32, code: Option<i32>, cleanup: bool) {
        let Some(mut p) = self.procs.remove(&pid) else {
            return;
        };
        if let Some(a) = p.abort.take() {
            a.abort();
        }
        self.finish(pid, p, code, cleanup);
    }

    fn finish(&mut self, pid: u32, mut p: Proc, code: Option<i32>, cleanup: bool) {
        self.taps.retain(|t| t.pid != pid);
        if cleanup {
            let now = self.clock.now();
            self.fs.set_now(now);
            for path in std::mem::take(&mut p.cleanup) {
                let mut sys = tools::Sys::new(self, pid, p.cred, Flavor::Busybox, 0o022);
                // The EXIT trap: no step counting (the process is past its last step).
                let _ = sys.quiet_rm_rf(&path);
            }
            self.flush();
        }
        if let Some(tx) = p.status.take() {
            let _ = tx.send(ExitStatus {
                code,
                message: code.is_none().then(|| "killed by signal 9".to_string()),
            });
        }
    }

    /// A process task ended by itself.
    pub fn exited(&mut self, pid: u32, code: Option<i32>, cleanup: bool) {
        if let Some(p) = self.procs.remove(&pid) {
            self.finish(pid, p, code, cleanup);
        }
    }

    /// Whether `pid` is a live process of this container (`kill -0`).
    pub fn alive(&self, pid: u32) -> bool {
        self.procs.contains_key(&pid)
    }

    /// Registers what the process's `EXIT` trap removes.
    pub fn set_cleanup(&mut self, pid: u32, paths: Vec<Vec<u8>>) {
        if let Some(p) = self.procs.get_mut(&pid) {
            p.cleanup = paths;
        }
    }

    /// Sends the file system's new events to the inotify watchers.
    pub fn flush(&mut self) {
        let events = self.fs.take_events();
        if events.is_empty() || self.taps.is_empty() {
            return;
        }
        if self.stalled {
            self.lost = true;
            return;
        }
        let mut gone = Vec::new();
        for ev in &events {
            for t in &self.taps {
                let root = &t.root;
                let rel: &[u8] = if ev.path == *root {
                    if ev.event == "MOVED_FROM" {
                        let _ = t.tx.send(watch::TapMsg::Line(b"E MOVE_SELF ./".to_vec()));
                    }
                    continue;
                } else if ev.path.len() > root.len()
                    && ev.path.starts_with(root)
                    && (ev.path[root.len()] == b'/' || root == b"/")
                {
                    let skip = if root == b"/" { 1 } else { root.len() + 1 };
                    &ev.path[skip..]
                } else {
                    continue;
                };
                // `--exclude '^\./\.ferry(-tmp-|/|$)'` (`watch_inotify.sh`).
                if watch::is_ferry_own(rel) {
                    continue;
                }
                let mut line =
                    format!("E {}{} ./", ev.event, if ev.dir { ",ISDIR" } else { "" }).into_bytes();
                line.extend_from_slice(rel);
                if ev.event == "DELETE_SELF" && rel.is_empty() {
                    gone.push(t.pid);
                }
                let _ = t.tx.send(watch::TapMsg::Line(line));
            }
        }
        for pid in gone {
            // inotifywait ends when its root watch is gone; the guard reports it.
            if let Some(t) = self.taps.iter().find(|t| t.pid == pid) {
                let _ = t.tx.send(watch::TapMsg::Ended);
            }
        }
    }

    fn replace(&mut self, r: Replacement) {
        let pids: Vec<u32> = self.procs.keys().copied().collect();
        for p in pids {
            self.end(p, None, false);
        }
        self.generation += 1;
        match r {
            Replacement::Pod(fs) => {
                self.image = fs.clone();
                self.fs = fs;
                self.new_pod();
            }
            Replacement::PodKeepingFs => self.new_pod(),
            Replacement::Restart => {
                let mut fresh = self.image.clone();
                let volumes: Vec<Mount> = self
                    .fs
                    .mounts()
                    .iter()
                    .filter(|m| m.volume)
                    .cloned()
                    .collect();
                let mut mounts = fresh.mounts().to_vec();
                for m in volumes {
                    if let Some(node) = self.fs.subtree(m.path.as_bytes()) {
                        fresh.purge(m.path.as_bytes());
                        fresh.graft(m.path.as_bytes(), node);
                    }
                    mounts.retain(|x| x.path != m.path);
                    mounts.push(m);
                }
                fresh.set_mounts(mounts);
                self.fs = fresh;
                self.pod.container_id = format!("containerd://fake-{}", self.generation);
            }
        }
        self.next_pid = FIRST_PID;
        self.running = true;
        self.fs.take_events();
    }

    fn new_pod(&mut self) {
        self.pod.pod = format!("fake-{}", self.generation);
        self.pod.pod_uid = format!("00000000-0000-4000-8000-{:012}", self.generation);
        self.pod.container_id = format!("containerd://fake-{}", self.generation);
    }
}

/// An in-memory container (see the module docs). Cheap to clone: clones share the
/// container.
#[derive(Clone)]
pub struct FakeContainer {
    inner: Arc<Mutex<State>>,
}

impl std::fmt::Debug for FakeContainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.lock();
        f.debug_struct("FakeContainer")
            .field("pod", &st.pod.pod)
            .field("processes", &st.procs.len())
            .finish()
    }
}

impl FakeContainer {
    /// A container like `profile` with the small root file system of [`FakeFs::new`]
    /// (no sync folder: the session creates it).
    pub fn new(profile: Profile) -> FakeContainer {
        FakeContainer::with_fs(profile, FakeFs::new())
    }

    /// A container like the `busybox` image.
    pub fn busybox() -> FakeContainer {
        FakeContainer::new(Profile::busybox())
    }

    /// A container like the `debian` image.
    pub fn debian() -> FakeContainer {
        FakeContainer::new(Profile::debian())
    }

    /// A container like `profile` whose file system (its image) is `fs`.
    pub fn with_fs(profile: Profile, fs: FakeFs) -> FakeContainer {
        let st = State {
            image: fs.clone(),
            fs,
            profile,
            clock: Clock {
                base: Mtime::new(1_700_000_000, 0),
                since: Some(tokio::time::Instant::now()),
            },
            faults: fault::Faults::default(),
            procs: BTreeMap::new(),
            next_pid: FIRST_PID,
            taps: Vec::new(),
            stalled: false,
            lost: false,
            pod: PodInfo {
                pod: "fake-0".into(),
                pod_uid: "00000000-0000-4000-8000-000000000000".into(),
                container: "app".into(),
                container_id: "containerd://fake-0".into(),
            },
            generation: 0,
            running: true,
            execs: Vec::new(),
            exec_handler: None,
        };
        FakeContainer {
            inner: Arc::new(Mutex::new(st)),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the state, then delivers the file system events it caused.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut st = self.lock();
        let now = st.clock.now();
        st.fs.set_now(now);
        let r = f(&mut st);
        st.flush();
        r
    }

    // ----- profile and clock ----------------------------------------------------------

    /// The container's profile.
    pub fn profile(&self) -> Profile {
        self.lock().profile.clone()
    }

    /// Changes the profile (sessions started later see it).
    pub fn update_profile(&self, f: impl FnOnce(&mut Profile)) {
        f(&mut self.lock().profile);
    }

    /// The container's time now.
    pub fn now(&self) -> Mtime {
        self.lock().clock.now()
    }

    /// Sets the container's time (it keeps running with tokio's clock unless frozen).
    pub fn set_time(&self, t: Mtime) {
        let mut st = self.lock();
        st.clock.base = t;
        if st.clock.since.is_some() {
            st.clock.since = Some(tokio::time::Instant::now());
        }
    }

    /// Moves the container's time on.
    pub fn advance(&self, d: Duration) {
        let mut st = self.lock();
        st.clock.base = add(st.clock.base, d);
    }

    /// Stops the container's clock (it moves only with [`Self::set_time`] and
    /// [`Self::advance`]) — or lets it follow tokio's clock again.
    pub fn freeze(&self, frozen: bool) {
        let mut st = self.lock();
        let now = st.clock.now();
        st.clock.base = now;
        st.clock.since = (!frozen).then(tokio::time::Instant::now);
    }

    // ----- the container's own processes ---------------------------------------------

    /// Runs `f` on the file system as the container's own processes would (as root, no
    /// steps counted); watchers see the events.
    pub fn fs<R>(&self, f: impl FnOnce(&mut FakeFs) -> R) -> R {
        self.with(|st| f(&mut st.fs))
    }

    /// Writes `content` to `path` in place (`printf … > path`: a new file gets mode
    /// 0644), creating missing folders.
    pub fn write(&self, path: &str, content: impl Into<Vec<u8>>) -> Result<(), Errno> {
        let content = content.into();
        self.fs(|fs| {
            if let Some((dir, _)) = path.rsplit_once('/') {
                fs.mkdir_all(dir.as_bytes(), 0o755, Cred::ROOT)?;
            }
            fs.write(path.as_bytes(), content, 0o644, Cred::ROOT)
        })
    }

    /// Replaces `path` atomically, as editors do: a temporary file in the same folder,
    /// renamed over it.
    pub fn write_atomic(&self, path: &str, content: impl Into<Vec<u8>>) -> Result<(), Errno> {
        let tmp = format!("{path}.fake-tmp~");
        self.write(&tmp, content)?;
        self.fs(|fs| fs.rename(tmp.as_bytes(), path.as_bytes(), Cred::ROOT))
    }

    /// `mkdir -p path`.
    pub fn mkdir(&self, path: &str) -> Result<(), Errno> {
        self.fs(|fs| fs.mkdir_all(path.as_bytes(), 0o755, Cred::ROOT))
    }

    /// `rm -rf path` (fine when it is missing).
    pub fn remove(&self, path: &str) -> Result<(), Errno> {
        self.with(|st| {
            let mut sys = tools::Sys::new(st, 0, Cred::ROOT, Flavor::Gnu, 0o022);
            sys.quiet_rm_rf(path.as_bytes())
        })
    }

    /// `mv -T from to` (one rename).
    pub fn rename(&self, from: &str, to: &str) -> Result<(), Errno> {
        self.fs(|fs| fs.rename(from.as_bytes(), to.as_bytes(), Cred::ROOT))
    }

    /// `ln -s target path`.
    pub fn symlink(&self, target: &str, path: &str) -> Result<(), Errno> {
        self.fs(|fs| fs.symlink(target.as_bytes(), path.as_bytes(), Cred::ROOT))
    }

    /// `chmod mode path`.
    pub fn chmod(&self, path: &str, mode: u32) -> Result<(), Errno> {
        self.fs(|fs| fs.chmod(path.as_bytes(), mode, Cred::ROOT))
    }

    /// `chown uid:gid path`.
    pub fn chown(&self, path: &str, uid: u32, gid: u32) -> Result<(), Errno> {
        self.fs(|fs| fs.chown(path.as_bytes(), uid, gid))
    }

    /// `touch -h -d @… path`.
    pub fn set_mtime(&self, path: &str, t: Mtime) -> Result<(), Errno> {
        self.fs(|fs| fs.set_mtime(path.as_bytes(), t, false, Cred::ROOT))
    }

    /// Makes `path` unreadable and/or unwritable for everybody, root included (see
    /// [`FakeFs::deny`]); `Deny::default()` lifts it.
    pub fn deny(&self, path: &str, deny: Deny) -> Result<(), Errno> {
        self.fs(|fs| fs.deny(path.as_bytes(), deny))
    }

    /// The content of the file `path` (`None` when it is not a readable file).
    pub fn read(&self, path: &str) -> Option<Vec<u8>> {
        self.lock()
            .fs
            .read(path.as_bytes(), Cred::ROOT)
            .ok()
            .map(|c| (*c).clone())
    }

    /// `lstat path`.
    pub fn stat(&self, path: &str) -> Result<Stat, Errno> {
        self.lock().fs.lstat(path.as_bytes(), Cred::ROOT)
    }

    /// Everything below the folder `root`, by relative path (names lossily UTF-8), with
    /// ferry's temporary folders (`.ferry-tmp-*` directly in `root`) left out when
    /// `skip_ferry_tmp`. Empty when `root` is not a folder.
    pub fn tree(&self, root: &str, skip_ferry_tmp: bool) -> BTreeMap<String, TreeEntry> {
        let st = self.lock();
        let mut out = BTreeMap::new();
        for e in st.fs.walk(root.as_bytes()).unwrap_or_default() {
            if skip_ferry_tmp && e.rel.starts_with(b".ferry-tmp-") {
                continue;
            }
            let entry = match e.stat.kind {
                Kind::File => TreeEntry::File {
                    content: e.content.map(|c| (*c).clone()).unwrap_or_default(),
                    mode: e.stat.perm,
                    mtime: e.stat.mtime,
                },
                Kind::Dir => TreeEntry::Dir { mode: e.stat.perm },
                Kind::Symlink => TreeEntry::Symlink {
                    target: String::from_utf8_lossy(&e.target.unwrap_or_default()).into_owned(),
                },
                Kind::Fifo => TreeEntry::Special,
            };
            out.insert(String::from_utf8_lossy(&e.rel).into_owned(), entry);
        }
        out
    }

    // ----- mounts ---------------------------------------------------------------------

    /// Mounts an empty file system at `path` (see [`FakeFs::mount`]).
    pub fn mount(
        &self,
        path: &str,
        dev: u64,
        volume: bool,
        capacity: Option<u64>,
    ) -> Result<(), Errno> {
        self.fs(|fs| fs.mount(path, dev, volume, capacity))
    }

    /// Disk full: the mount at `mount_point` holds at most `bytes` of file content from
    /// now on (`None`: unlimited). Returns false when there is no such mount.
    pub fn set_capacity(&self, mount_point: &str, bytes: Option<u64>) -> bool {
        self.fs(|fs| fs.set_capacity(mount_point, bytes))
    }

    // ----- the pod ----------------------------------------------------------------------

    /// Who the container is now.
    pub fn identity(&self) -> PodInfo {
        self.lock().pod.clone()
    }

    /// Replaces the pod or restarts the container: every process dies at once (no
    /// cleanup), the file system becomes what `r` says, pids start again.
    pub fn replace(&self, r: Replacement) {
        self.lock().replace(r);
    }

    /// The pod dies: every process is killed and launches fail until [`Self::replace`].
    pub fn kill_pod(&self) {
        let mut st = self.lock();
        let pids: Vec<u32> = st.procs.keys().copied().collect();
        for p in pids {
            st.end(p, None, false);
        }
        st.running = false;
    }

    /// Every stream to the container breaks now (a network failure): ferry sees
    /// end-of-file on each; the processes see their stdin end and exit, cleaning up.
    pub fn drop_streams(&self) {
        let mut st = self.lock();
        let pids: Vec<u32> = st.procs.keys().copied().collect();
        for p in pids {
            st.end(p, Some(0), true);
        }
    }

    /// The processes running in the container.
    pub fn processes(&self) -> Vec<ProcessInfo> {
        self.lock()
            .procs
            .iter()
            .map(|(pid, p)| ProcessInfo {
                pid: *pid,
                kind: p.kind,
            })
            .collect()
    }

    /// Commands launched that are none of ferry's scripts (hooks), in order.
    pub fn execs(&self) -> Vec<Vec<String>> {
        self.lock().execs.clone()
    }

    /// Runs `handler` for launched commands that are none of ferry's scripts (default:
    /// exit 0 without output). It gets the argv and the file system; returns the exit
    /// code and stdout.
    pub fn on_exec(&self, handler: ExecHandler) {
        self.lock().exec_handler = Some(handler);
    }

    // ----- faults -----------------------------------------------------------------------

    /// Arms a fault (see [`fault`]); several may be armed, each fires once.
    pub fn inject(&self, f: Fault) {
        self.lock().faults.arm(f);
    }

    /// Disarms every fault not yet fired.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// The faults that fired, in order.
    pub fn fired(&self) -> Vec<Fired> {
        self.lock().faults.fired.clone()
    }

    /// How many steps the container has taken.
    pub fn step_count(&self) -> u64 {
        self.lock().faults.total
    }

    /// Every step taken so far (to see what step k was when a case fails).
    pub fn steps(&self) -> Vec<Step> {
        self.lock().faults.log.clone()
    }

    // ----- watchers ---------------------------------------------------------------------

    /// Stalls the inotify watchers (they stay alive and print nothing; events meanwhile
    /// are lost) or resumes them (then each reports `Q_OVERFLOW` if anything was lost).
    pub fn stall_watchers(&self, stalled: bool) {
        let mut st = self.lock();
        st.stalled = stalled;
        if !stalled && std::mem::take(&mut st.lost) {
            for t in &st.taps {
                let _ = t.tx.send(watch::TapMsg::Line(b"E Q_OVERFLOW ".to_vec()));
            }
        }
    }

    /// Makes every inotify watcher print `line` (anything: an endless line, garbage).
    pub fn watcher_prints(&self, line: impl Into<Vec<u8>>) {
        let line = line.into();
        for t in &self.lock().taps {
            let _ = t.tx.send(watch::TapMsg::Line(line.clone()));
        }
    }

    // ----- launching --------------------------------------------------------------------

    fn launch_now(&self, argv: Vec<String>) -> Launch {
        let kind = classify(&argv);
        let mut st = self.lock();
        let what = argv
            .get(3)
            .filter(|_| kind != ProcessKind::Other)
            .cloned()
            .unwrap_or_else(|| argv.join(" "));
        if !st.running {
            return Launch::Fail("the pod is not running (it was killed)".into());
        }
        let pid = st.next_pid;
        st.next_pid += 1;
        let action = st.step(StepKind::Launch, pid, || what);
        match action {
            Some(FaultAction::Fail) => return Launch::Fail("injected fault".into()),
            Some(FaultAction::Hang) => return Launch::Hang,
            _ => {}
        }
        let (status_tx, status_rx) = oneshot::channel();
        let cred = st.profile.user;
        let v4 = st.profile.v4;
        st.procs.insert(
            pid,
            Proc {
                kind,
                abort: None,
                status: Some(status_tx),
                cleanup: Vec::new(),
                cred,
            },
        );
        if kind == ProcessKind::Other {
            st.execs.push(argv.clone());
        }
        let (client_in, server_in) = tokio::io::duplex(256 * 1024);
        let (server_out, client_out) = tokio::io::duplex(256 * 1024);
        let (server_err, client_err) = tokio::io::duplex(16 * 1024);
        let status: BoxFuture<'static, ExitStatus> =
            Box::pin(async move { status_rx.await.unwrap_or_default() });
        let process = RemoteProcess::new(
            shell::ClientStdin::new(client_in, v4),
            client_out,
            Some(Box::new(client_err)),
            status,
            !v4,
        );
        if matches!(action, Some(FaultAction::Kill | FaultAction::Drop)) {
            st.end(pid, None, false);
            return Launch::Ready(process);
        }
        let io = shell::Io::new(server_in, server_out, server_err);
        let c = self.clone();
        let handler = st.exec_handler.clone();
        drop(st);
        let task = tokio::spawn(async move {
            let stop = match kind {
                ProcessKind::Session => shell::run_session(&c, pid, argv, io).await,
                ProcessKind::WatchInotify => watch::run_inotify(&c, pid, argv, io).await,
                ProcessKind::WatchPoll => watch::run_poll(&c, pid, argv, io).await,
                ProcessKind::Other => shell::run_other(&c, argv, io, handler).await,
            };
            let (code, cleanup) = match stop {
                Stop::Exit { code, cleanup } => (Some(code), cleanup),
                Stop::Killed => (None, false),
                Stop::Hang => (Some(1), true),
            };
            c.lock().exited(pid, code, cleanup);
        });
        if let Some(p) = self.lock().procs.get_mut(&pid) {
            p.abort = Some(task.abort_handle());
        }
        Launch::Ready(process)
    }
}

enum Launch {
    Ready(RemoteProcess),
    Fail(String),
    Hang,
}

/// Which of ferry's scripts `argv` runs.
fn classify(argv: &[String]) -> ProcessKind {
    let (Some(sh), Some(c), Some(script), Some(name)) =
        (argv.first(), argv.get(1), argv.get(2), argv.get(3))
    else {
        return ProcessKind::Other;
    };
    if sh != "sh" || c != "-c" {
        return ProcessKind::Other;
    }
    match name.as_str() {
        "ferry-session" => ProcessKind::Session,
        "ferry-watch" if script == scripts::watch_inotify() || argv.len() == 6 => {
            ProcessKind::WatchInotify
        }
        "ferry-watch" => ProcessKind::WatchPoll,
        _ => ProcessKind::Other,
    }
}

impl Launcher for FakeContainer {
    fn launch(&self, argv: Vec<String>) -> BoxFuture<'_, Result<RemoteProcess, LaunchError>> {
        Box::pin(async move {
            match self.launch_now(argv) {
                Launch::Ready(p) => Ok(p),
                Launch::Fail(message) => Err(LaunchError {
                    target: self.describe(),
                    message,
                }),
                Launch::Hang => std::future::pending().await,
            }
        })
    }

    fn describe(&self) -> String {
        let st = self.lock();
        format!("fake pod {} container {}", st.pod.pod, st.pod.container)
    }
}
