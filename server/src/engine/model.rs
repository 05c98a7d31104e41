//! The model test of the engine (`docs/safety.md` §9): random interleavings of local and
//! container edits, deletions, folder renames and symlinks (inside, outside, absolute,
//! dangling, looping; replacing files and replaced by them), pod replacements (empty, prefilled
//! with an older tree, the same pod with a reset container, a new pod on a kept volume)
//! and ferry runs — each the real [`SyncTask`] with its index saves: the initial sync,
//! then live batches of what changed on either side and rescans — against an in-memory
//! container ([`crate::remote::fake`]) and a local folder on tmpfs. A run may be
//! crashed at any step of the container protocol (every command, payload, file system
//! change and reply is a step): ferry is then dropped mid-flight, as by `kill -9`, or
//! its stream breaks, as when a pod dies.
//!
//! Checked after every case, against a reference of what users did:
//!
//! - **No edit is lost.** Every version a user wrote (each write has unique content)
//!   survives somewhere — on either side, in a conflict copy or in `.ferry/trash` —
//!   unless a user replaced or deleted it on a side where it was current, or the
//!   container it lived in only was replaced or reset (the environment lost it, not
//!   ferry).
//! - **Nothing half-done stays**: every file on both sides holds a version somebody wrote
//!   (a user or an image), and no temporary name of ferry's is left in the local folder.
//! - **Convergence**: after a clean run the two sides hold the same files and the same
//!   inside links (`symlinks: portable`), except paths with a reported problem, local
//!   conflict copies and paths where a side has a link that is not synced (left alone),
//!   and another clean run moves nothing. A fifth of the cases run with `symlinks:
//!   follow` (local links followed one way, into the decoy too, never written through):
//!   there every link's path is left out of the comparison, and all the other checks
//!   hold as they are.
//! - **Nothing outside**: the decoy folders beside each side's folder, which outside links
//!   point into, are never changed.
//! - **Secondary replicas** (`replicas: all`; a case may have one, a second container that
//!   every run also syncs, after the primary, as a [`SyncTask::secondary`], crashed at the
//!   same steps): nothing its own processes write ever reaches the local folder, the
//!   primary or the trash; every file it holds is a version somebody wrote; after a clean
//!   run it mirrors the local folder (files and inside links), outside its reported
//!   problems and paths with a link that is not synced; its decoy is never changed.
//!
//! Cases are generated from fixed seeds (`FERRY_MODEL_SEEDS` to change how many,
//! `FERRY_MODEL_SEED` to replay one); a failing seed is printed with the case's steps, and
//! kept in [`REGRESSIONS`] once fixed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::config::{self, Target};
use crate::core::RelPath;
use crate::local::LocalBatch;
use crate::remote::fake::fs::Cred;
use crate::remote::fake::{FakeContainer, FakeFs, Fault, Replacement, TreeEntry};
use crate::remote::{BoxFuture, Mtime, Session, SessionOptions};

use super::changes::Hints;
use super::connect::{Connected, Connector, PodIdentity};
use super::store::IndexStore;
use super::task::{EngineError, EngineOptions, SyncTask};
use super::StatusHub;

/// Seeds that once failed, replayed first.
const REGRESSIONS: &[u64] = &[];

/// The paths users touch (folders are made as needed).
const FILES: &[&str] = &["a", "b", "d/x", "d/y", "d/e/z", "f/w"];
/// Where users create symlinks, and what they point to (relative to the link's folder):
/// inside a file or folder, dangling, a loop, out of the folder, into the decoy beside it,
/// absolute.
const LINKS: &[&str] = &["a", "b", "l", "d/l", "d/x"];
const TARGETS: &[&str] = &[
    "a",
    "d",
    "../a",
    "nothing",
    "l",
    "../outside",
    "../decoy",
    "/etc",
];
/// The decoy beside each side's folder, and what it holds.
const DECOY: &str = "decoy/secret";
const DECOY_CONTENT: &[u8] = b"never written by ferry";

/// The folders that may be renamed, and their new names.
const RENAMES: &[(&str, &str)] = &[("d", "g"), ("f", "h"), ("d/e", "d/q")];

/// A small deterministic generator (xorshift*).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// What happened, for the failure message.
#[derive(Clone)]
enum Step {
    Local(String),
    Remote(String),
    Run {
        rounds: Vec<Round>,
        crash: Option<(u64, &'static str)>,
        outcome: String,
    },
    Pod(&'static str),
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Local(what) => write!(f, "local: {what}"),
            Step::Remote(what) => write!(f, "container: {what}"),
            Step::Pod(what) => write!(f, "pod: {what}"),
            Step::Run {
                rounds,
                crash,
                outcome,
            } => {
                write!(f, "ferry: initial sync, then {rounds:?}")?;
                if let Some((k, how)) = crash {
                    write!(f, ", {how} at step {k}")?;
                }
                write!(f, ": {outcome}")
            }
        }
    }
}

/// One thing a running ferry does after its initial sync.
#[derive(Debug, Clone)]
enum Round {
    /// The local watcher's batch: the paths users touched locally since the last one.
    Local,
    /// The container watcher's hints: the paths touched there.
    Remote,
    /// A full comparison of both sides.
    Rescan,
}

/// The connector of the model: always the one fake container.
struct Fake(FakeContainer);

impl Connector for Fake {
    fn connect<'a>(&'a self, _target: &'a Target) -> BoxFuture<'a, Result<Connected, EngineError>> {
        Box::pin(async move {
            let id = self.0.identity();
            Ok(Connected {
                launcher: Arc::new(self.0.clone()),
                pod: PodIdentity {
                    namespace: "model".into(),
                    pod: id.pod,
                    pod_uid: id.pod_uid,
                    container: id.container,
                    container_id: Some(id.container_id),
                },
            })
        })
    }
}

/// One case: the two sides, what users wrote, and what they superseded.
struct World {
    _ws: tempfile::TempDir,
    ws: PathBuf,
    root: PathBuf,
    c: FakeContainer,
    rng: Rng,
    /// The secondary replica's own generator, so that a case without one is the same case
    /// as before secondaries existed.
    srng: Rng,
    next: u64,
    /// Every version users wrote (contents are unique), with where.
    written: BTreeMap<Vec<u8>, String>,
    /// Versions that users replaced or deleted where they were current, or that lived
    /// only in a container that was replaced or reset.
    superseded: BTreeSet<Vec<u8>>,
    /// Contents that images brought (allowed to exist, not protected).
    images: BTreeSet<Vec<u8>>,
    touched_local: BTreeSet<RelPath>,
    touched_remote: BTreeSet<RelPath>,
    /// The container folder is a volume (kept across container restarts).
    volume: bool,
    /// The case runs with `symlinks: follow` (else `portable`).
    follow: bool,
    /// `follow`'s own generator.
    frng: Rng,
    /// A secondary replica's container (`replicas: all`), if the case has one.
    secondary: Option<FakeContainer>,
    /// What the secondary's own processes wrote (they may be overwritten, never synced).
    secondary_own: BTreeSet<Vec<u8>>,
    /// The paths of the secondary's problems after its last run.
    secondary_problems: BTreeSet<String>,
    steps: Vec<Step>,
}

const APP: &str = "/app";

fn tmpfs_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let b = tempfile::Builder::new().prefix("ferry-model.").to_owned();
    if shm.is_dir() {
        if let Ok(d) = b.tempdir_in(shm) {
            return d;
        }
    }
    b.tempdir().expect("a temporary folder")
}

fn rel(p: &str) -> RelPath {
    RelPath::new(p).expect("a model path")
}

impl World {
    fn new(seed: u64) -> World {
        let dir = tmpfs_dir();
        let ws = dir.path().to_path_buf();
        let root = ws.join("src");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(
            ws.join("devspace.yaml"),
            "version: v2beta1\nname: model\ndev:\n  app:\n    labelSelector:\n      app: web\n    sync:\n    - path: ./src:/app\n",
        )
        .unwrap();
        let mut rng = Rng::new(seed);
        let c = if rng.chance(50) {
            FakeContainer::busybox()
        } else {
            FakeContainer::debian()
        };
        // Some containers have no sha256sum: racy entries then compare as changed, and
        // downloads settle them.
        if rng.chance(30) {
            c.update_profile(|p| p.checksums.clear());
        }
        c.freeze(true);
        c.set_time(Mtime::from_system_time(std::time::SystemTime::now()));
        c.mkdir("/decoy").unwrap();
        c.write(&format!("/{DECOY}"), DECOY_CONTENT.to_vec())
            .unwrap();
        std::fs::create_dir_all(ws.join("decoy")).unwrap();
        std::fs::write(ws.join(DECOY), DECOY_CONTENT).unwrap();
        let volume = rng.chance(40);
        if volume {
            c.mount(APP, 1, true, None).unwrap();
        } else {
            c.mkdir(APP).unwrap();
        }
        let mut w = World {
            _ws: dir,
            ws,
            root,
            c,
            rng,
            srng: Rng::new(seed ^ 0x5eed_5eed_5eed_5eed),
            next: 0,
            written: BTreeMap::new(),
            superseded: BTreeSet::new(),
            images: BTreeSet::new(),
            touched_local: BTreeSet::new(),
            touched_remote: BTreeSet::new(),
            volume,
            follow: false,
            frng: Rng::new(seed ^ 0xf011_0f011),
            secondary: None,
            secondary_own: BTreeSet::new(),
            secondary_problems: BTreeSet::new(),
            steps: Vec::new(),
        };
        // A fifth of the cases follow local links (their own draw: the others stay as
        // they were).
        w.follow = w.frng.chance(20);
        if w.follow {
            std::fs::write(w.ws.join("ferry.yaml"), "defaults:\n  symlinks: follow\n").unwrap();
        }
        if w.srng.chance(35) {
            let s = FakeContainer::busybox();
            s.freeze(true);
            s.set_time(w.c.now());
            s.mkdir("/decoy").unwrap();
            s.write(&format!("/{DECOY}"), DECOY_CONTENT.to_vec())
                .unwrap();
            s.mkdir(APP).unwrap();
            w.secondary = Some(s);
            for _ in 0..w.srng.below(3) {
                w.secondary_write();
            }
        }
        // Both sides start with some files.
        for _ in 0..w.rng.below(4) {
            w.local_write();
        }
        for _ in 0..w.rng.below(3) {
            w.remote_write();
        }
        w.touched_local.clear();
        w.touched_remote.clear();
        w
    }

    /// A new unique version (same length as most others: same-size edits are common).
    fn version(&mut self, side: &str) -> Vec<u8> {
        self.next += 1;
        format!("{side}{:04}", self.next).into_bytes()
    }

    // ----- the local user ---------------------------------------------------------------

    fn local_files(&self) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        walk_local(&self.root, &self.root, &mut out);
        out
    }

    /// Whether every folder on the way to `p` is a real folder (users never write
    /// through a link in these tests: ferry must not, and the checks could not tell).
    fn local_way_clear(&self, p: &str) -> bool {
        rel(p).ancestors().all(|a| {
            std::fs::symlink_metadata(self.root.join(a.as_str())).map_or(true, |m| m.is_dir())
        })
    }

    fn local_write(&mut self) {
        let p = self.rng.pick(FILES).to_string();
        let abs = self.root.join(&p);
        let meta = std::fs::symlink_metadata(&abs).ok();
        if meta.as_ref().is_some_and(|m| m.is_dir()) || !self.local_way_clear(&p) {
            return;
        }
        if meta.as_ref().is_some_and(|m| m.file_type().is_symlink()) {
            std::fs::remove_file(&abs).unwrap();
        }
        if let Ok(old) = std::fs::read(&abs) {
            self.superseded.insert(old);
        }
        let v = self.version("L");
        std::fs::create_dir_all(abs.parent().unwrap()).unwrap();
        std::fs::write(&abs, &v).unwrap();
        if self.rng.chance(30) {
            // Keep the mtime to the second (a same-second, same-size edit).
            let t = filetime::FileTime::from_unix_time(filetime::FileTime::now().unix_seconds(), 0);
            let _ = filetime::set_file_mtime(&abs, t);
        }
        self.written.insert(v.clone(), format!("local {p}"));
        self.touched_local.insert(rel(&p));
        self.steps
            .push(Step::Local(format!("write {p} = {}", show(&v))));
    }

    fn local_delete(&mut self) {
        let p = self
            .rng
            .pick(&["a", "b", "d", "d/x", "d/e", "f", "g", "h"])
            .to_string();
        let abs = self.root.join(&p);
        let Ok(meta) = std::fs::symlink_metadata(&abs) else {
            return;
        };
        if !self.local_way_clear(&p) {
            return;
        }
        let mut gone = BTreeMap::new();
        if meta.is_dir() {
            walk_local(&self.root, &abs, &mut gone);
            std::fs::remove_dir_all(&abs).unwrap();
        } else {
            if meta.is_file() {
                gone.insert(p.clone(), std::fs::read(&abs).unwrap());
            }
            std::fs::remove_file(&abs).unwrap();
        }
        self.superseded.extend(gone.into_values());
        self.touched_local.insert(rel(&p));
        self.steps.push(Step::Local(format!("delete {p}")));
    }

    fn local_rename(&mut self) {
        let (from, to) = *self.rng.pick(RENAMES);
        let (a, b) = (self.root.join(from), self.root.join(to));
        let real_dir = |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir());
        if !real_dir(&a)
            || std::fs::symlink_metadata(&b).is_ok()
            || !real_dir(b.parent().unwrap())
            || !self.local_way_clear(from)
            || !self.local_way_clear(to)
        {
            return;
        }
        std::fs::rename(&a, &b).unwrap();
        self.touched_local.insert(rel(from));
        self.touched_local.insert(rel(to));
        self.steps
            .push(Step::Local(format!("rename {from} → {to}")));
    }

    fn local_link(&mut self) {
        let p = self.rng.pick(LINKS).to_string();
        let mut target = self.rng.pick(TARGETS).to_string();
        // `follow` would copy the machine's own /etc: the decoy stands in for outside.
        if self.follow && target.starts_with('/') {
            target = "../decoy".to_string();
        }
        let abs = self.root.join(&p);
        let meta = std::fs::symlink_metadata(&abs).ok();
        if meta.as_ref().is_some_and(|m| m.is_dir()) || !self.local_way_clear(&p) {
            return;
        }
        if let Some(m) = meta {
            if m.is_file() {
                self.superseded.insert(std::fs::read(&abs).unwrap());
            }
            std::fs::remove_file(&abs).unwrap();
        }
        std::fs::create_dir_all(abs.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&target, &abs).unwrap();
        self.touched_local.insert(rel(&p));
        self.steps
            .push(Step::Local(format!("link {p} -> {target}")));
    }

    /// The local links: path → target.
    fn local_links(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        walk_links(&self.root, &self.root, &mut out);
        out
    }

    // ----- the container's processes ----------------------------------------------------

    /// Whether every folder on the way to `p` is a real folder in the container.
    fn remote_way_clear(&self, tree: &BTreeMap<String, TreeEntry>, p: &str) -> bool {
        rel(p)
            .ancestors()
            .all(|a| matches!(tree.get(a.as_str()), None | Some(TreeEntry::Dir { .. })))
    }

    fn remote_link(&mut self) {
        let p = self.rng.pick(LINKS).to_string();
        let target = self.rng.pick(TARGETS).to_string();
        let abs = format!("{APP}/{p}");
        let tree = self.c.tree(APP, true);
        if matches!(tree.get(&p), Some(TreeEntry::Dir { .. })) || !self.remote_way_clear(&tree, &p)
        {
            return;
        }
        match tree.get(&p) {
            Some(TreeEntry::File { content, .. }) => {
                self.superseded.insert(content.clone());
                self.c.remove(&abs).unwrap();
            }
            Some(_) => self.c.remove(&abs).unwrap(),
            None => {}
        }
        if let Some((dir, _)) = abs.rsplit_once('/') {
            let _ = self.c.mkdir(dir);
        }
        if self.rng.chance(60) {
            self.c.advance(Duration::from_millis(self.rng.below(1500)));
        }
        self.c.symlink(&target, &abs).unwrap();
        self.touched_remote.insert(rel(&p));
        self.steps
            .push(Step::Remote(format!("link {p} -> {target}")));
    }

    /// The container's links: path → target.
    fn remote_links(&self) -> BTreeMap<String, String> {
        self.c
            .tree(APP, true)
            .into_iter()
            .filter(|(p, _)| !is_ferrys(p))
            .filter_map(|(p, e)| match e {
                TreeEntry::Symlink { target } => Some((p, target)),
                _ => None,
            })
            .collect()
    }

    fn remote_files(&self) -> BTreeMap<String, Vec<u8>> {
        self.c
            .tree(APP, true)
            .into_iter()
            .filter(|(p, _)| !is_ferrys(p))
            .filter_map(|(p, e)| match e {
                TreeEntry::File { content, .. } => Some((p, content)),
                _ => None,
            })
            .collect()
    }

    fn remote_write(&mut self) {
        let mut p = self.rng.pick(FILES).to_string();
        // Below a path where the local side may have a folder link (`symlinks: follow`
        // copies it into a real folder here): such a write must never go through it.
        if self.follow && self.frng.chance(30) {
            p = self.frng.pick(&["l/x", "d/l/y"]).to_string();
        }
        let abs = format!("{APP}/{p}");
        let tree = self.c.tree(APP, true);
        if matches!(tree.get(&p), Some(TreeEntry::Dir { .. })) || !self.remote_way_clear(&tree, &p)
        {
            return;
        }
        if matches!(tree.get(&p), Some(TreeEntry::Symlink { .. })) {
            self.c.remove(&abs).unwrap();
        }
        if let Some(old) = self.c.read(&abs) {
            self.superseded.insert(old);
        }
        // Sometimes in the same container second as the last write.
        if self.rng.chance(60) {
            self.c.advance(Duration::from_millis(self.rng.below(1500)));
        }
        let v = self.version("R");
        self.c.write(&abs, v.clone()).unwrap();
        self.written.insert(v.clone(), format!("container {p}"));
        self.touched_remote.insert(rel(&p));
        self.steps
            .push(Step::Remote(format!("write {p} = {}", show(&v))));
    }

    fn remote_delete(&mut self) {
        let p = self
            .rng
            .pick(&["a", "b", "d", "d/x", "d/e", "f", "g", "h"])
            .to_string();
        let tree = self.c.tree(APP, true);
        if !tree.contains_key(&p) || !self.remote_way_clear(&tree, &p) {
            return;
        }
        for (q, e) in &tree {
            if q == &p || q.starts_with(&format!("{p}/")) {
                if let TreeEntry::File { content, .. } = e {
                    self.superseded.insert(content.clone());
                }
            }
        }
        self.c.remove(&format!("{APP}/{p}")).unwrap();
        self.touched_remote.insert(rel(&p));
        self.steps.push(Step::Remote(format!("delete {p}")));
    }

    fn remote_rename(&mut self) {
        let (from, to) = *self.rng.pick(RENAMES);
        let tree = self.c.tree(APP, true);
        let parent = rel(to).parent();
        if !matches!(tree.get(from), Some(TreeEntry::Dir { .. }))
            || tree.contains_key(to)
            || !self.remote_way_clear(&tree, from)
            || !self.remote_way_clear(&tree, to)
            || parent.is_some_and(|p| !matches!(tree.get(p.as_str()), Some(TreeEntry::Dir { .. })))
        {
            return;
        }
        self.c
            .rename(&format!("{APP}/{from}"), &format!("{APP}/{to}"))
            .unwrap();
        self.touched_remote.insert(rel(from));
        self.touched_remote.insert(rel(to));
        self.steps
            .push(Step::Remote(format!("rename {from} → {to}")));
    }

    // ----- a secondary replica's own processes ------------------------------------------

    fn secondary_write(&mut self) {
        let Some(s) = self.secondary.clone() else {
            return;
        };
        let p = self.srng.pick(FILES).to_string();
        let tree = s.tree(APP, true);
        if matches!(tree.get(&p), Some(TreeEntry::Dir { .. })) || !self.remote_way_clear(&tree, &p)
        {
            return;
        }
        let abs = format!("{APP}/{p}");
        if matches!(tree.get(&p), Some(TreeEntry::Symlink { .. })) {
            s.remove(&abs).unwrap();
        }
        self.next += 1;
        let v = format!("S{:04}", self.next).into_bytes();
        s.write(&abs, v.clone()).unwrap();
        self.secondary_own.insert(v.clone());
        self.steps
            .push(Step::Remote(format!("secondary: write {p} = {}", show(&v))));
    }

    fn secondary_tree(&self) -> BTreeMap<String, TreeEntry> {
        self.secondary
            .as_ref()
            .map(|s| s.tree(APP, true))
            .unwrap_or_default()
            .into_iter()
            .filter(|(p, _)| !is_ferrys(p))
            .collect()
    }

    // ----- the pod ------------------------------------------------------------------------

    /// The container's versions that live nowhere else are lost with it: the environment
    /// lost them, not ferry.
    fn container_goes(&mut self) {
        let mut elsewhere: BTreeSet<Vec<u8>> = self.local_files().into_values().collect();
        elsewhere.extend(self.trash_contents());
        for content in self.remote_files().into_values() {
            if !elsewhere.contains(&content) {
                self.superseded.insert(content);
            }
        }
    }

    fn replace_pod(&mut self) {
        let kind = self.rng.below(4);
        match kind {
            // A new pod from an image that holds an older tree (COPY . /app).
            0 | 1 => {
                self.container_goes();
                let mut image = FakeFs::new();
                image.set_now(self.c.now());
                image.mkdir_all(APP.as_bytes(), 0o755, Cred::ROOT).unwrap();
                image.mkdir_all(b"/decoy", 0o755, Cred::ROOT).unwrap();
                image
                    .write(
                        format!("/{DECOY}").as_bytes(),
                        DECOY_CONTENT.to_vec(),
                        0o644,
                        Cred::ROOT,
                    )
                    .unwrap();
                if kind == 1 {
                    for p in FILES.iter().filter(|_| self.rng.chance(40)) {
                        self.next += 1;
                        let v = format!("I{:04}", self.next).into_bytes();
                        let abs = format!("{APP}/{p}");
                        if let Some((dir, _)) = abs.rsplit_once('/') {
                            image.mkdir_all(dir.as_bytes(), 0o755, Cred::ROOT).unwrap();
                        }
                        image
                            .write(abs.as_bytes(), v.clone(), 0o644, Cred::ROOT)
                            .unwrap();
                        self.images.insert(v);
                    }
                }
                if self.volume {
                    image.mount(APP, 1, true, None).unwrap();
                }
                self.c.replace(Replacement::Pod(image));
                self.steps.push(Step::Pod(if kind == 0 {
                    "a new, empty pod"
                } else {
                    "a new pod whose image holds an older tree"
                }));
            }
            // The container restarts: a folder on the root file system is reset.
            2 => {
                if !self.volume {
                    self.container_goes();
                }
                self.c.replace(Replacement::Restart);
                self.steps.push(Step::Pod("the container restarted"));
            }
            // A new pod on the same (kept) volume.
            _ => {
                self.c.replace(Replacement::PodKeepingFs);
                self.steps.push(Step::Pod("a new pod on the same volume"));
            }
        }
        self.c.freeze(true);
    }

    // ----- ferry ------------------------------------------------------------------------

    fn config_sync(&self) -> config::SyncPath {
        let cfg = match config::load(&self.ws, None, &Default::default(), &|_| None).unwrap() {
            config::Loaded::Config(cfg) => cfg,
            config::Loaded::NoConfig { .. } => panic!("no config"),
        };
        cfg.sync.into_iter().next().unwrap()
    }

    fn task(&self) -> SyncTask {
        let opts = Arc::new(EngineOptions::new(self.ws.join(".ferry")));
        let sync = self.config_sync();
        SyncTask::new(0, sync, opts, StatusHub::new())
            .unwrap()
            .with_connector(Arc::new(Fake(self.c.clone())))
    }

    /// One ferry process: connect, initial sync, `rounds`, the final save. With
    /// `crash`, a fault fires at that protocol step: `hang` (ferry is then killed: the
    /// future is dropped), `drop` (the stream breaks: ferry's error path runs).
    async fn run(&mut self, rounds: Vec<Round>, crash: Option<(u64, &'static str)>) -> SyncTask {
        let mut task = self.task();
        self.c.clear_faults();
        if let Some((k, how)) = crash {
            let f = Fault::at(self.c.step_count() + k);
            self.c.inject(if how == "hang" {
                f.hang()
            } else {
                f.drop_stream()
            });
        }
        let (local, remote) = (
            std::mem::take(&mut self.touched_local),
            std::mem::take(&mut self.touched_remote),
        );
        let secondary_local = local.clone();
        let work = session(&mut task, &rounds, local, remote);
        let outcome = match tokio::time::timeout(Duration::from_secs(3), work).await {
            Ok(Ok(())) => "done".to_string(),
            Ok(Err(e)) => format!("error: {e}"),
            Err(_) => "killed".to_string(),
        };
        self.c.clear_faults();
        // The secondary replica gets the same local batches (its own watcher sees the
        // same events) and the same crash.
        let outcome = match self.secondary.clone() {
            Some(s) => {
                let cfg = self.config_sync();
                let opts = Arc::new(EngineOptions::new(self.ws.join(".ferry")));
                let id = s.identity();
                let mut st =
                    SyncTask::secondary(0, cfg, &id.pod_uid, &id.pod, opts, StatusHub::new())
                        .unwrap()
                        .with_connector(Arc::new(Fake(s.clone())));
                s.clear_faults();
                if let Some((k, how)) = crash {
                    let f = Fault::at(s.step_count() + k);
                    s.inject(if how == "hang" {
                        f.hang()
                    } else {
                        f.drop_stream()
                    });
                }
                let work = session(&mut st, &rounds, secondary_local, BTreeSet::new());
                let second = match tokio::time::timeout(Duration::from_secs(3), work).await {
                    Ok(Ok(())) => "done".to_string(),
                    Ok(Err(e)) => format!("error: {e}"),
                    Err(_) => "killed".to_string(),
                };
                s.clear_faults();
                self.secondary_problems = st.problem_list().into_iter().map(|p| p.path).collect();
                format!("{outcome}; secondary: {second}")
            }
            None => outcome,
        };
        let outcome = if std::env::var("FERRY_MODEL_TRACE").is_ok() {
            format!(
                "{outcome}\n      local  {:?}\n      remote {:?}",
                shown(&self.local_files()),
                shown(&self.remote_files())
            )
        } else {
            outcome
        };
        self.steps.push(Step::Run {
            rounds,
            crash,
            outcome,
        });
        task
    }

    /// What the trash holds.
    fn trash_contents(&self) -> Vec<Vec<u8>> {
        let dir = self.ws.join(".ferry/trash");
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read(e.path().join("data")).ok())
            .collect()
    }

    /// Every content on either side (conflict copies are local files) and in the trash.
    fn everywhere(&self) -> BTreeSet<Vec<u8>> {
        let mut all: BTreeSet<Vec<u8>> = self.local_files().into_values().collect();
        all.extend(self.remote_files().into_values());
        all.extend(self.trash_contents());
        all
    }

    fn describe(&self) -> String {
        let mut s = format!("volume: {}, follow: {}\n", self.volume, self.follow);
        for step in &self.steps {
            s.push_str(&format!("  {step:?}\n"));
        }
        s.push_str(&format!("local:  {:?}\n", shown(&self.local_files())));
        s.push_str(&format!("remote: {:?}\n", shown(&self.remote_files())));
        s.push_str(&format!("local links:  {:?}\n", self.local_links()));
        s.push_str(&format!("remote links: {:?}\n", self.remote_links()));
        if self.secondary.is_some() {
            s.push_str(&format!("secondary: {:?}\n", self.secondary_tree()));
        }
        s
    }
}

/// One ferry session against the fake, as `SyncTask::connection` runs it, with the
/// watch loop replaced by `rounds` (deterministic).
async fn session(
    task: &mut SyncTask,
    rounds: &[Round],
    mut local: BTreeSet<RelPath>,
    mut remote: BTreeSet<RelPath>,
) -> Result<(), EngineError> {
    let connector = task.connector.clone();
    let connected = connector.connect(&task.sync.target).await?;
    let root = task.sync.container_path.clone();
    let mut session =
        Session::start(&*connected.launcher, &root, SessionOptions::default()).await?;
    session.set_links(super::links::policy(task.sync.symlinks));
    let store = IndexStore::new(
        &task.opts.state_dir,
        &task.sync.name,
        &task.sync.local_path,
        &root,
    );
    let (_stop, stopped) = watch::channel(false);
    task.initial_sync(&mut session, &store, &connected.pod, &stopped)
        .await?;
    // What changed before the initial sync is covered by it.
    local.clear();
    remote.clear();
    let mut result = Ok(());
    for round in rounds {
        let r = match round {
            Round::Local => {
                let batch = LocalBatch {
                    paths: std::mem::take(&mut local),
                    ..LocalBatch::default()
                };
                task.on_local(&mut session, batch).await
            }
            Round::Remote => {
                let hints = Hints {
                    children: std::mem::take(&mut remote),
                    ..Hints::default()
                };
                task.on_remote(&mut session, hints).await
            }
            Round::Rescan => {
                let batch = LocalBatch {
                    rescan: true,
                    ..LocalBatch::default()
                };
                let r = task.on_local(&mut session, batch).await;
                match r {
                    Ok(()) => {
                        let hints = Hints {
                            rescan: true,
                            ..Hints::default()
                        };
                        task.on_remote(&mut session, hints).await
                    }
                    e => e,
                }
            }
        };
        if let Err(e) = r {
            result = Err(e);
            break;
        }
    }
    task.save(&store);
    let _ = session.close().await;
    result
}

fn is_ferrys(p: &str) -> bool {
    p.split('/')
        .any(|c| c == ".ferry" || c.starts_with(".ferry-tmp-") || c.contains(".ferry-tmp-"))
}

fn walk_local(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let meta = std::fs::symlink_metadata(&p).unwrap();
        if meta.is_dir() {
            walk_local(root, &p, out);
        } else if meta.is_file() {
            out.insert(rel, std::fs::read(&p).unwrap());
        }
    }
}

fn walk_links(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let meta = std::fs::symlink_metadata(&p).unwrap();
        if meta.is_dir() {
            walk_links(root, &p, out);
        } else if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&p).unwrap();
            out.insert(rel, target.to_string_lossy().into_owned());
        }
    }
}

/// Whether `symlinks: portable` syncs a link at `path` to `target`.
fn portable(path: &str, target: &str) -> bool {
    crate::remote::target_inside(&rel(path), target)
}

fn show(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

fn shown(m: &BTreeMap<String, Vec<u8>>) -> BTreeMap<&str, String> {
    m.iter().map(|(k, v)| (k.as_str(), show(v))).collect()
}

/// Runs one case; `Err` describes what broke.
async fn case(seed: u64) -> Result<(), String> {
    let mut w = World::new(seed);
    let steps = 3 + w.rng.below(8);
    for _ in 0..steps {
        match w.rng.below(22) {
            0..=3 => w.local_write(),
            4 => w.local_delete(),
            5 => w.local_rename(),
            6..=9 => w.remote_write(),
            10 => w.remote_delete(),
            11 => w.remote_rename(),
            12 => w.replace_pod(),
            13 => w.local_link(),
            14 => w.remote_link(),
            15 => w.secondary_write(),
            _ => {
                let mut rounds = Vec::new();
                for _ in 0..w.rng.below(4) {
                    rounds.push(match w.rng.below(5) {
                        0 | 1 => Round::Local,
                        2 | 3 => Round::Remote,
                        _ => Round::Rescan,
                    });
                }
                let crash = w.rng.chance(50).then(|| {
                    (
                        w.rng.below(60),
                        if w.rng.chance(60) { "hang" } else { "drop" },
                    )
                });
                // Users keep working while ferry runs: their edits land between rounds.
                w.run(rounds, crash).await;
                if w.rng.chance(40) {
                    w.local_write();
                }
                if w.rng.chance(40) {
                    w.remote_write();
                }
            }
        }
    }
    recover_and_check(&mut w).await
}

/// Clean runs until nothing moves (at most three), then the checks of the module docs.
async fn recover_and_check(w: &mut World) -> Result<(), String> {
    let mut last = None;
    for _ in 0..3 {
        let task = w
            .run(vec![Round::Local, Round::Remote, Round::Rescan], None)
            .await;
        let moved = task.summary.uploaded + task.summary.downloaded + task.summary.deleted;
        last = Some(task);
        if moved == 0 {
            break;
        }
    }
    let task = last.expect("a recovery run");

    // 1. No edit is lost.
    let all = w.everywhere();
    let lost: Vec<String> = w
        .written
        .iter()
        .filter(|(v, _)| !w.superseded.contains(*v) && !all.contains(*v))
        .map(|(v, at)| format!("{} ({at})", show(v)))
        .collect();
    if !lost.is_empty() {
        return Err(format!("edits lost: {lost:?}\n{}", w.describe()));
    }
    // 2. Nothing half-done.
    let local = w.local_files();
    let remote = w.remote_files();
    for (side, files) in [("local", &local), ("container", &remote)] {
        for (p, content) in files {
            if is_ferrys(p) {
                if side == "local" {
                    return Err(format!("a temporary file is left: {p}\n{}", w.describe()));
                }
                continue;
            }
            // (`follow` copies the local decoy's file into the container.)
            let decoy_copy = w.follow && side == "container" && content == DECOY_CONTENT;
            if !w.written.contains_key(content) && !w.images.contains(content) && !decoy_copy {
                return Err(format!(
                    "{side} {p} holds {:?}, which nobody wrote\n{}",
                    show(content),
                    w.describe()
                ));
            }
        }
    }
    // 3. Convergence, outside reported problems and conflict copies.
    let problems: BTreeSet<String> = task.problem_list().into_iter().map(|p| p.path).collect();
    let reported = |p: &str| {
        problems
            .iter()
            .any(|q| p == q || p.starts_with(&format!("{q}/")) || q.starts_with(&format!("{p}/")))
    };
    // A link that is not synced is left alone, with whatever the other side has there.
    let (local_links, remote_links) = (w.local_links(), w.remote_links());
    // With `symlinks: follow`, no link is synced as a link: local ones are followed one
    // way (their content upload-only, so the sides may differ there), container ones
    // left alone.
    let follow = w.follow;
    let unsynced: BTreeSet<&String> = local_links
        .iter()
        .chain(&remote_links)
        .filter(|(p, t)| follow || !portable(p, t))
        .map(|(p, _)| p)
        .collect();
    let left_alone = |p: &str| {
        unsynced
            .iter()
            .any(|q| p == q.as_str() || p.starts_with(&format!("{q}/")))
    };
    let keys: BTreeSet<&String> = local
        .keys()
        .chain(remote.keys())
        .chain(local_links.keys())
        .chain(remote_links.keys())
        .collect();
    for p in keys {
        if p.contains(".ferry-conflict-") || reported(p) || is_ferrys(p) || left_alone(p) {
            continue;
        }
        if local_links.get(p) != remote_links.get(p) {
            return Err(format!(
                "the links differ at {p} (local {:?}, container {:?}) without a reported \
                 problem ({problems:?})\n{}",
                local_links.get(p),
                remote_links.get(p),
                w.describe()
            ));
        }
        if local.get(p) != remote.get(p) {
            return Err(format!(
                "the sides differ at {p} (local {:?}, container {:?}) without a reported \
                 problem ({problems:?})\n{}",
                local.get(p).map(|v| show(v)),
                remote.get(p).map(|v| show(v)),
                w.describe()
            ));
        }
    }
    // 4. Nothing outside either folder was touched.
    let outside = [
        (
            "the local decoy changed",
            std::fs::read(w.ws.join(DECOY)).ok().as_deref() != Some(DECOY_CONTENT)
                || std::fs::read_dir(w.ws.join("decoy")).map_or(0, |d| d.count()) != 1,
        ),
        (
            // (A container restart resets its root file system, decoy and all.)
            "the container's decoy changed",
            !w.c.tree("/decoy", false).is_empty()
                && (w.c.read(&format!("/{DECOY}")).as_deref() != Some(DECOY_CONTENT)
                    || w.c.tree("/decoy", false).len() != 1),
        ),
        (
            "something was created beside the local folder",
            std::fs::symlink_metadata(w.ws.join("outside")).is_ok(),
        ),
    ];
    if let Some((what, _)) = outside.iter().find(|(_, broken)| *broken) {
        return Err(format!(
            "{what}: {:?}\n{}",
            w.c.tree("/decoy", false).keys().collect::<Vec<_>>(),
            w.describe()
        ));
    }
    check_secondary(w, &local, &local_links, &left_alone)
}

/// The checks of a secondary replica (see the module docs).
fn check_secondary(
    w: &World,
    local: &BTreeMap<String, Vec<u8>>,
    local_links: &BTreeMap<String, String>,
    left_alone: &dyn Fn(&str) -> bool,
) -> Result<(), String> {
    let Some(s) = &w.secondary else {
        return Ok(());
    };
    let mut elsewhere: BTreeSet<Vec<u8>> = local.values().cloned().collect();
    elsewhere.extend(w.remote_files().into_values());
    elsewhere.extend(w.trash_contents());
    if let Some(v) = w.secondary_own.iter().find(|v| elsewhere.contains(*v)) {
        return Err(format!(
            "the secondary's own {:?} left it\n{}",
            show(v),
            w.describe()
        ));
    }
    let tree = w.secondary_tree();
    let mut files = BTreeMap::new();
    let mut links = BTreeMap::new();
    for (p, e) in &tree {
        match e {
            TreeEntry::File { content, .. } => {
                // (`follow` copies the local decoy's file.)
                let known = w.written.contains_key(content)
                    || w.images.contains(content)
                    || w.secondary_own.contains(content)
                    || (w.follow && content == DECOY_CONTENT);
                if !known {
                    return Err(format!(
                        "the secondary's {p} holds {:?}, which nobody wrote\n{}",
                        show(content),
                        w.describe()
                    ));
                }
                files.insert(p.clone(), content.clone());
            }
            TreeEntry::Symlink { target } => {
                links.insert(p.clone(), target.clone());
            }
            _ => {}
        }
    }
    let reported = |p: &str| {
        w.secondary_problems
            .iter()
            .any(|q| p == q || p.starts_with(&format!("{q}/")) || q.starts_with(&format!("{p}/")))
    };
    let portable_local: BTreeMap<&String, &String> = local_links
        .iter()
        .filter(|(p, t)| !w.follow && portable(p, t))
        .collect();
    let keys: BTreeSet<&String> = local
        .keys()
        .chain(files.keys())
        .chain(portable_local.keys().copied())
        .chain(links.keys())
        .collect();
    for p in keys {
        if p.contains(".ferry-conflict-") || reported(p) || left_alone(p) {
            continue;
        }
        if local.get(p) != files.get(p) || portable_local.get(p).copied() != links.get(p) {
            return Err(format!(
                "the secondary does not mirror the local folder at {p} (local {:?} / link \
                 {:?}, secondary {:?} / link {:?}; its problems {:?})\n{}",
                local.get(p).map(|v| show(v)),
                portable_local.get(p),
                files.get(p).map(|v| show(v)),
                links.get(p),
                w.secondary_problems,
                w.describe()
            ));
        }
    }
    if s.read(&format!("/{DECOY}")).as_deref() != Some(DECOY_CONTENT)
        || s.tree("/decoy", false).len() != 1
    {
        return Err(format!("the secondary's decoy changed\n{}", w.describe()));
    }
    Ok(())
}

/// A crash at every protocol step of one ferry run (killed, and stream broken), each
/// followed by user edits on both sides and recovery: nothing is lost at any step.
async fn crash_everywhere(seed: u64, how: &'static str) -> Result<u64, String> {
    let mut k = 0;
    loop {
        let mut w = World::new(seed);
        // Both sides hold work the run must carry: local files, container files, a
        // replaced pod whose image holds an older tree.
        for _ in 0..3 {
            w.local_write();
            w.remote_write();
        }
        w.run(vec![Round::Local, Round::Remote], None).await;
        for _ in 0..2 {
            w.local_write();
            w.remote_write();
        }
        w.local_delete();
        w.replace_pod();
        w.run(
            vec![Round::Local, Round::Remote, Round::Rescan],
            Some((k, how)),
        )
        .await;
        let fired = !w.c.fired().is_empty()
            || matches!(
                w.steps.last(),
                Some(Step::Run { outcome, .. }) if !outcome.starts_with("done")
            );
        w.local_write();
        w.remote_write();
        recover_and_check(&mut w)
            .await
            .map_err(|e| format!("{how} at step {k}: {e}"))?;
        if !fired {
            return Ok(k);
        }
        k += 1;
    }
}

fn seeds() -> Vec<u64> {
    if let Ok(one) = std::env::var("FERRY_MODEL_SEED") {
        return vec![one.parse().expect("FERRY_MODEL_SEED is a number")];
    }
    let n: u64 = std::env::var("FERRY_MODEL_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    REGRESSIONS.iter().copied().chain(1..=n).collect()
}

#[tokio::test(start_paused = true)]
async fn model_a_crash_at_every_step_loses_nothing() {
    for seed in [3, 17] {
        for how in ["hang", "drop"] {
            let steps = crash_everywhere(seed, how)
                .await
                .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
            assert!(
                steps > 20,
                "seed {seed}: only {steps} steps were crashed at"
            );
            eprintln!("model: seed {seed}, {how}: a crash at each of {steps} steps");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn model_no_edit_is_ever_lost() {
    if std::env::var("FERRY_MODEL_TRACE").is_ok() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(std::env::var("FERRY_MODEL_TRACE").unwrap_or_default())
            .with_test_writer()
            .try_init();
    }
    let t = std::time::Instant::now();
    let seeds = seeds();
    let mut failures = Vec::new();
    for &seed in &seeds {
        if let Err(e) = case(seed).await {
            failures.push(format!("seed {seed}: {e}"));
            if failures.len() >= 3 {
                break;
            }
        }
    }
    eprintln!(
        "model: {} cases in {:.1} s",
        seeds.len(),
        t.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} failing cases (replay one with FERRY_MODEL_SEED=N):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
