//! [`FakeFs`]: the container's whole file system in memory — folders, regular files with
//! content, symlinks and FIFOs, each with permission bits, owner and a nanosecond mtime —
//! plus its mounts (device numbers, volumes that survive a container restart, capacities
//! for "disk full"), and the change events an `inotifywait -r` on it would report.
//!
//! The operations are the system calls the container's tools make (`mkdir`, `open` with
//! `O_CREAT|O_TRUNC`, `unlink`, `rmdir`, `rename`, `symlink`, `chmod`, `utimensat`,
//! `lstat`, `stat`, `readdir`), on absolute paths, with the POSIX permission checks of a
//! caller ([`Cred`]): search permission on every folder walked through, write permission
//! on the folder an entry is added to or removed from, the sticky bit, and root (uid 0)
//! passing every permission check. They return an [`Errno`], never panic.
//!
//! Beyond POSIX, a node can be marked *denied* for reading or writing for everybody,
//! root included ([`FakeFs::deny`]): what a root-squashing NFS export, a FUSE file system
//! or a failing disk does, and the only way to make a path unreadable for a session that
//! runs as root, as the tests do.
//!
//! Invariants: names are raw bytes (any byte but `/` and NUL, so hostile and non-UTF-8
//! names exist as on Linux); a folder's children are kept sorted by name bytes, which is
//! the order every listing of the fake uses; every mutation records an [`FsEvent`] and sets
//! the changed folder's mtime to the time of [`FakeFs::set_now`].

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::remote::path::Mtime;

/// The error of a failed system call, as `errno` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(clippy::upper_case_acronyms)]
pub enum Errno {
    /// No such file or directory.
    ENOENT,
    /// File exists.
    EEXIST,
    /// Not a directory.
    ENOTDIR,
    /// Is a directory.
    EISDIR,
    /// Permission denied.
    EACCES,
    /// Operation not permitted.
    EPERM,
    /// Directory not empty.
    ENOTEMPTY,
    /// No space left on device.
    ENOSPC,
    /// Invalid argument.
    EINVAL,
    /// Too many levels of symbolic links.
    ELOOP,
    /// Input/output error.
    EIO,
    /// Invalid cross-device link.
    EXDEV,
    /// Read-only file system.
    EROFS,
    /// Device or resource busy.
    EBUSY,
}

impl Errno {
    /// The message glibc's `strerror` gives (what GNU tools and the busybox of the test
    /// images print).
    pub fn text(self) -> &'static str {
        match self {
            Errno::ENOENT => "No such file or directory",
            Errno::EEXIST => "File exists",
            Errno::ENOTDIR => "Not a directory",
            Errno::EISDIR => "Is a directory",
            Errno::EACCES => "Permission denied",
            Errno::EPERM => "Operation not permitted",
            Errno::ENOTEMPTY => "Directory not empty",
            Errno::ENOSPC => "No space left on device",
            Errno::EINVAL => "Invalid argument",
            Errno::ELOOP => "Too many levels of symbolic links",
            Errno::EIO => "Input/output error",
            Errno::EXDEV => "Invalid cross-device link",
            Errno::EROFS => "Read-only file system",
            Errno::EBUSY => "Device or resource busy",
        }
    }
}

impl std::fmt::Display for Errno {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.text())
    }
}

/// Who makes a system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cred {
    /// User id (0: root, who passes every permission check).
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

impl Cred {
    /// root.
    pub const ROOT: Cred = Cred { uid: 0, gid: 0 };
}

/// What kind of object a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A regular file.
    File,
    /// A folder.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A FIFO (stands for every special file).
    Fifo,
}

impl Kind {
    /// The `S_IFMT` bits.
    pub fn type_bits(self) -> u32 {
        match self {
            Kind::File => 0o100000,
            Kind::Dir => 0o040000,
            Kind::Symlink => 0o120000,
            Kind::Fifo => 0o010000,
        }
    }
}

/// What `lstat`/`stat` report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// The kind.
    pub kind: Kind,
    /// Permission bits (`0o7777`).
    pub perm: u32,
    /// Size: content length for files, target length for symlinks, the configured folder
    /// size (4096) for folders.
    pub size: u64,
    /// Modification time.
    pub mtime: Mtime,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Inode number.
    pub ino: u64,
    /// Device number of the mount the object is on.
    pub dev: u64,
}

impl Stat {
    /// `st_mode`: type and permission bits.
    pub fn mode(&self) -> u32 {
        self.kind.type_bits() | self.perm
    }
}

/// Access denied for everybody, root included (see [`FakeFs::deny`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Deny {
    /// Reading the file (or listing the folder) fails with `EACCES`.
    pub read: bool,
    /// Writing the file (or adding/removing entries of the folder) fails with `EACCES`.
    pub write: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum Data {
    File(Arc<Vec<u8>>),
    Dir(BTreeMap<Vec<u8>, Node>),
    Symlink(Vec<u8>),
    Fifo,
}

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub ino: u64,
    pub perm: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: Mtime,
    pub deny: Deny,
    pub data: Data,
}

impl Node {
    fn kind(&self) -> Kind {
        match self.data {
            Data::File(_) => Kind::File,
            Data::Dir(_) => Kind::Dir,
            Data::Symlink(_) => Kind::Symlink,
            Data::Fifo => Kind::Fifo,
        }
    }

    fn children(&self) -> Option<&BTreeMap<Vec<u8>, Node>> {
        match &self.data {
            Data::Dir(c) => Some(c),
            _ => None,
        }
    }

    fn children_mut(&mut self) -> Option<&mut BTreeMap<Vec<u8>, Node>> {
        match &mut self.data {
            Data::Dir(c) => Some(c),
            _ => None,
        }
    }

    /// Bytes of file content in this subtree (what a capacity counts).
    fn bytes(&self) -> u64 {
        match &self.data {
            Data::File(c) => c.len() as u64,
            Data::Dir(ch) => ch.values().map(Node::bytes).sum(),
            _ => 0,
        }
    }
}

/// One mount of the container's file system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Where it is mounted (absolute, canonical).
    pub path: String,
    /// The mount id (first field of `/proc/self/mountinfo`).
    pub id: u64,
    /// The device number `stat -c %d` prints for everything on it.
    pub dev: u64,
    /// A volume (`emptyDir` of the pod, a persistent volume): kept when the container
    /// restarts ([`crate::remote::fake::Replacement::Restart`]); everything else is reset
    /// to the image.
    pub volume: bool,
    /// Bytes of file content it holds at most (`None`: unlimited).
    pub capacity: Option<u64>,
    /// Mounted read-only: every write fails with `EROFS`, for root too.
    pub read_only: bool,
}

/// A change an `inotifywait -m -r` on the changed folder would report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsEvent {
    /// The absolute path of the entry (for `DELETE_SELF`, of the folder itself).
    pub path: Vec<u8>,
    /// The inotify event name: `CREATE`, `CLOSE_WRITE,CLOSE`, `DELETE`, `MOVED_FROM`,
    /// `MOVED_TO`, `ATTRIB`, `DELETE_SELF`.
    pub event: &'static str,
    /// The entry is a folder (inotifywait appends `,ISDIR`).
    pub dir: bool,
}

/// One entry of [`FakeFs::walk`].
#[derive(Debug, Clone)]
pub struct WalkEntry {
    /// The path relative to the walked folder.
    pub rel: Vec<u8>,
    /// Its `lstat`.
    pub stat: Stat,
    /// A file's content.
    pub content: Option<Arc<Vec<u8>>>,
    /// A symlink's target.
    pub target: Option<Vec<u8>>,
}

/// A resolved location: the canonical folder holding the entry and the entry's name
/// (`None` for `/`).
#[derive(Debug, Clone)]
pub(crate) struct Loc {
    pub parent: Vec<Vec<u8>>,
    pub name: Option<Vec<u8>>,
}

impl Loc {
    /// The canonical absolute path.
    pub fn path(&self) -> Vec<u8> {
        let mut p = Vec::new();
        for c in self.parent.iter().chain(self.name.iter()) {
            p.push(b'/');
            p.extend_from_slice(c);
        }
        if p.is_empty() {
            p.push(b'/');
        }
        p
    }

    fn components(&self) -> Vec<Vec<u8>> {
        let mut v = self.parent.clone();
        v.extend(self.name.iter().cloned());
        v
    }
}

/// Splits an absolute path into components (empty and `.` components dropped).
fn split(path: &[u8]) -> Vec<Vec<u8>> {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(<[u8]>::to_vec)
        .collect()
}

fn join(components: &[Vec<u8>]) -> Vec<u8> {
    Loc {
        parent: components.to_vec(),
        name: None,
    }
    .path()
}

const READ: u32 = 4;
const WRITE: u32 = 2;
const EXEC: u32 = 1;

/// The whole file system of one container. Cheap to clone (file contents are shared).
#[derive(Debug, Clone)]
pub struct FakeFs {
    root: Node,
    mounts: Vec<Mount>,
    next_ino: u64,
    /// The time mutations stamp (the container's clock sets it before each operation).
    pub(crate) now: Mtime,
    /// Size `stat` reports for folders.
    pub(crate) dir_size: u64,
    /// Mtime granularity of the file system in nanoseconds (1, or 1e9 for a file system
    /// with whole-second times).
    pub(crate) granularity: u32,
    events: Vec<FsEvent>,
}

impl Default for FakeFs {
    fn default() -> FakeFs {
        FakeFs::new()
    }
}

impl FakeFs {
    /// A container's root file system as a small image has it: `/` (0755), `/tmp` and
    /// `/var/tmp` (1777), `/root` (0700), `/home`, `/etc`, `/bin`, all owned by root, on one
    /// mount (id 1, device 1, unlimited). Mutations are stamped 2023-11-14T22:13:20Z until
    /// a container's clock takes over.
    pub fn new() -> FakeFs {
        let t = Mtime::new(1_700_000_000, 0);
        let mut fs = FakeFs {
            root: Node {
                ino: 2,
                perm: 0o755,
                uid: 0,
                gid: 0,
                mtime: t,
                deny: Deny::default(),
                data: Data::Dir(BTreeMap::new()),
            },
            mounts: vec![Mount {
                path: "/".into(),
                id: 1,
                dev: 1,
                volume: false,
                capacity: None,
                read_only: false,
            }],
            next_ino: 100,
            now: t,
            dir_size: 4096,
            granularity: 1,
            events: Vec::new(),
        };
        for (p, perm) in [
            ("/bin", 0o755),
            ("/etc", 0o755),
            ("/home", 0o755),
            ("/root", 0o700),
            ("/tmp", 0o1777),
            ("/var", 0o755),
            ("/var/tmp", 0o1777),
        ] {
            fs.mkdir(p.as_bytes(), perm, Cred::ROOT)
                .expect("the skeleton is valid");
        }
        fs.events.clear();
        fs
    }

    /// An empty file system: only `/`.
    pub fn bare() -> FakeFs {
        let mut fs = FakeFs::new();
        fs.root.data = Data::Dir(BTreeMap::new());
        fs
    }

    /// Sets the time the next mutations are stamped with.
    pub fn set_now(&mut self, t: Mtime) {
        self.now = t;
    }

    fn stamp(&self) -> Mtime {
        let g = self.granularity.max(1);
        Mtime::new(self.now.secs, self.now.nanos / g * g)
    }

    fn ino(&mut self) -> u64 {
        self.next_ino += 1;
        self.next_ino
    }

    /// Takes the events recorded since the last call.
    pub(crate) fn take_events(&mut self) -> Vec<FsEvent> {
        std::mem::take(&mut self.events)
    }

    fn event(&mut self, path: Vec<u8>, event: &'static str, dir: bool) {
        self.events.push(FsEvent { path, event, dir });
    }

    /// An attribute change: the folder holding the entry reports it, and a folder's own
    /// watch too (as `PATH/`).
    fn attrib(&mut self, path: Vec<u8>, dir: bool) {
        if dir {
            let mut own = path.clone();
            own.push(b'/');
            self.event(path, "ATTRIB", true);
            self.event(own, "ATTRIB", true);
        } else {
            self.event(path, "ATTRIB", false);
        }
    }

    // ----- mounts -------------------------------------------------------------------

    /// The mounts, in mount order.
    pub fn mounts(&self) -> &[Mount] {
        &self.mounts
    }

    /// Mounts a new, empty file system at `path` (created if missing, as root). `dev` is
    /// its device number (a bind mount such as an `emptyDir` often shares the root file
    /// system's); `volume` says whether it survives a container restart.
    pub fn mount(
        &mut self,
        path: &str,
        dev: u64,
        volume: bool,
        capacity: Option<u64>,
    ) -> Result<(), Errno> {
        self.mkdir_all(path.as_bytes(), 0o777, Cred::ROOT)?;
        let loc = self.resolve(path.as_bytes(), true, Cred::ROOT)?;
        let canon = String::from_utf8_lossy(&loc.path()).into_owned();
        if let Some(Data::Dir(c)) = self.node_mut(&loc).map(|n| &mut n.data) {
            c.clear();
        }
        let id = self.mounts.iter().map(|m| m.id).max().unwrap_or(0) + 1;
        self.mounts.push(Mount {
            path: canon,
            id,
            dev,
            volume,
            capacity,
            read_only: false,
        });
        Ok(())
    }

    /// Sets the capacity of the mount at `mount_point` (`None`: unlimited).
    pub fn set_capacity(&mut self, mount_point: &str, capacity: Option<u64>) -> bool {
        match self.mounts.iter_mut().rev().find(|m| m.path == mount_point) {
            Some(m) => {
                m.capacity = capacity;
                true
            }
            None => false,
        }
    }

    /// Makes the mount at `mount_point` read-only (or writable again).
    pub fn set_read_only(&mut self, mount_point: &str, read_only: bool) -> bool {
        match self.mounts.iter_mut().rev().find(|m| m.path == mount_point) {
            Some(m) => {
                m.read_only = read_only;
                true
            }
            None => false,
        }
    }

    /// The mount a canonical path lies on (the longest mount point covering it; of equal
    /// ones the last).
    pub(crate) fn mount_of(&self, canon: &[u8]) -> &Mount {
        let mut best = &self.mounts[0];
        for m in &self.mounts {
            let mp = m.path.as_bytes();
            let covers = mp == b"/"
                || canon == mp
                || (canon.starts_with(mp) && canon.get(mp.len()) == Some(&b'/'));
            if covers && m.path.len() >= best.path.len() {
                best = m;
            }
        }
        best
    }

    fn mount_index(&self, canon: &[u8]) -> usize {
        let m = self.mount_of(canon);
        self.mounts
            .iter()
            .rposition(|x| std::ptr::eq(x, m))
            .unwrap_or(0)
    }

    /// Bytes of file content on the mount at index `i` (nested mounts excluded).
    fn used(&self, i: usize) -> u64 {
        let m = &self.mounts[i];
        let Ok(loc) = self.resolve(m.path.as_bytes(), true, Cred::ROOT) else {
            return 0;
        };
        let Some(node) = self.node(&loc) else {
            return 0;
        };
        let nested: Vec<&Mount> = self
            .mounts
            .iter()
            .filter(|o| {
                o.path != m.path && (m.path == "/" || o.path.starts_with(&format!("{}/", m.path)))
            })
            .collect();
        let mut total = node.bytes();
        for n in nested {
            if let Ok(l) = self.resolve(n.path.as_bytes(), true, Cred::ROOT) {
                if let Some(x) = self.node(&l) {
                    total = total.saturating_sub(x.bytes());
                }
            }
        }
        total
    }

    /// `(capacity, free)` in bytes of the mount `path` lies on (`None`s: unlimited).
    pub fn space(&self, path: &[u8]) -> (Option<u64>, Option<u64>) {
        let canon = self
            .resolve(path, true, Cred::ROOT)
            .map(|l| l.path())
            .unwrap_or_else(|_| path.to_vec());
        let i = self.mount_index(&canon);
        match self.mounts[i].capacity {
            Some(c) => (Some(c), Some(c.saturating_sub(self.used(i)))),
            None => (None, None),
        }
    }

    /// Fails with `ENOSPC` when `grow` more bytes do not fit on the mount of `canon`, and
    /// with `EROFS` when it is read-only.
    fn writable_mount(&self, canon: &[u8], grow: u64) -> Result<(), Errno> {
        let i = self.mount_index(canon);
        let m = &self.mounts[i];
        if m.read_only {
            return Err(Errno::EROFS);
        }
        if let Some(c) = m.capacity {
            if grow > 0 && self.used(i) + grow > c {
                return Err(Errno::ENOSPC);
            }
        }
        Ok(())
    }

    // ----- lookup -------------------------------------------------------------------

    fn node_at(&self, components: &[Vec<u8>]) -> Option<&Node> {
        let mut n = &self.root;
        for c in components {
            n = n.children()?.get(c)?;
        }
        Some(n)
    }

    fn node_at_mut(&mut self, components: &[Vec<u8>]) -> Option<&mut Node> {
        let mut n = &mut self.root;
        for c in components {
            n = n.children_mut()?.get_mut(c)?;
        }
        Some(n)
    }

    pub(crate) fn node(&self, loc: &Loc) -> Option<&Node> {
        match &loc.name {
            None => Some(&self.root),
            Some(name) => self.node_at(&loc.parent)?.children()?.get(name),
        }
    }

    fn node_mut(&mut self, loc: &Loc) -> Option<&mut Node> {
        match loc.name.clone() {
            None => Some(&mut self.root),
            Some(name) => self
                .node_at_mut(&loc.parent)?
                .children_mut()?
                .get_mut(&name),
        }
    }

    fn may(node: &Node, cred: Cred, want: u32) -> bool {
        if (want & READ != 0 && node.deny.read) || (want & WRITE != 0 && node.deny.write) {
            return false;
        }
        if cred.uid == 0 {
            // root may search a folder always, run a file only if someone may.
            return want & EXEC == 0 || node.kind() == Kind::Dir || node.perm & 0o111 != 0;
        }
        let bits = if cred.uid == node.uid {
            (node.perm >> 6) & 7
        } else if cred.gid == node.gid {
            (node.perm >> 3) & 7
        } else {
            node.perm & 7
        };
        bits & want == want
    }

    /// Resolves `path` (absolute; a relative one is taken from `/`) to a location,
    /// following symlinks in every component but the last, and the last too with
    /// `follow`. The final entry need not exist; every folder on the way must, and the
    /// caller needs search permission on each.
    pub(crate) fn resolve(&self, path: &[u8], follow: bool, cred: Cred) -> Result<Loc, Errno> {
        let mut todo: Vec<Vec<u8>> = split(path);
        todo.reverse();
        let mut cur: Vec<Vec<u8>> = Vec::new();
        let mut links = 0;
        while let Some(c) = todo.pop() {
            let last = todo.is_empty();
            if c == b".." {
                cur.pop();
                if last {
                    let name = cur.pop();
                    return Ok(Loc { parent: cur, name });
                }
                continue;
            }
            let dir = self.node_at(&cur).ok_or(Errno::ENOENT)?;
            let children = dir.children().ok_or(Errno::ENOTDIR)?;
            if !Self::may(dir, cred, EXEC) {
                return Err(Errno::EACCES);
            }
            let Some(child) = children.get(&c) else {
                if last {
                    return Ok(Loc {
                        parent: cur,
                        name: Some(c),
                    });
                }
                return Err(Errno::ENOENT);
            };
            if let Data::Symlink(target) = &child.data {
                if !last || follow {
                    links += 1;
                    if links > 40 {
                        return Err(Errno::ELOOP);
                    }
                    if target.first() == Some(&b'/') {
                        cur.clear();
                    }
                    let mut t = split(target);
                    if t.is_empty() && target.first() != Some(&b'/') {
                        return Err(Errno::ENOENT);
                    }
                    t.reverse();
                    // `..` in a target is kept as a component: split drops only "" and ".".
                    todo.extend(t);
                    if todo.is_empty() {
                        let name = cur.pop();
                        return Ok(Loc { parent: cur, name });
                    }
                    continue;
                }
            }
            if last {
                return Ok(Loc {
                    parent: cur,
                    name: Some(c),
                });
            }
            match child.data {
                Data::Dir(_) => cur.push(c),
                _ => return Err(Errno::ENOTDIR),
            }
        }
        let name = cur.pop();
        Ok(Loc { parent: cur, name })
    }

    fn stat_node(&self, loc: &Loc, n: &Node) -> Stat {
        let canon = loc.path();
        Stat {
            kind: n.kind(),
            perm: n.perm,
            size: match &n.data {
                Data::File(c) => c.len() as u64,
                Data::Dir(_) => self.dir_size,
                Data::Symlink(t) => t.len() as u64,
                Data::Fifo => 0,
            },
            mtime: n.mtime,
            uid: n.uid,
            gid: n.gid,
            ino: n.ino,
            dev: self.mount_of(&canon).dev,
        }
    }

    /// `lstat(2)`.
    pub fn lstat(&self, path: &[u8], cred: Cred) -> Result<Stat, Errno> {
        let loc = self.resolve(path, false, cred)?;
        let n = self.node(&loc).ok_or(Errno::ENOENT)?;
        Ok(self.stat_node(&loc, n))
    }

    /// `stat(2)` (follows a final symlink).
    pub fn stat(&self, path: &[u8], cred: Cred) -> Result<Stat, Errno> {
        let loc = self.resolve(path, true, cred)?;
        let n = self.node(&loc).ok_or(Errno::ENOENT)?;
        Ok(self.stat_node(&loc, n))
    }

    /// The canonical absolute path of an existing `path` (`pwd -P` after `cd`).
    pub fn canonical(&self, path: &[u8], cred: Cred) -> Result<Vec<u8>, Errno> {
        let loc = self.resolve(path, true, cred)?;
        self.node(&loc).ok_or(Errno::ENOENT)?;
        Ok(loc.path())
    }

    /// `access(path, W_OK)` (`test -w`).
    pub fn may_write(&self, path: &[u8], cred: Cred) -> bool {
        let Ok(loc) = self.resolve(path, true, cred) else {
            return false;
        };
        let Some(n) = self.node(&loc) else {
            return false;
        };
        if self.mount_of(&loc.path()).read_only {
            return false;
        }
        Self::may(n, cred, WRITE)
    }

    /// `access(path, R_OK)` (`test -r`).
    pub fn may_read(&self, path: &[u8], cred: Cred) -> bool {
        let Ok(loc) = self.resolve(path, true, cred) else {
            return false;
        };
        self.node(&loc).is_some_and(|n| Self::may(n, cred, READ))
    }

    /// `access(path, X_OK)` (`cd` into a folder).
    pub fn may_search(&self, path: &[u8], cred: Cred) -> bool {
        let Ok(loc) = self.resolve(path, true, cred) else {
            return false;
        };
        self.node(&loc).is_some_and(|n| Self::may(n, cred, EXEC))
    }

    /// The content of the regular file `path` (symlinks followed); needs read permission.
    pub fn read(&self, path: &[u8], cred: Cred) -> Result<Arc<Vec<u8>>, Errno> {
        let loc = self.resolve(path, true, cred)?;
        let n = self.node(&loc).ok_or(Errno::ENOENT)?;
        if !Self::may(n, cred, READ) {
            return Err(Errno::EACCES);
        }
        match &n.data {
            Data::File(c) => Ok(c.clone()),
            Data::Dir(_) => Err(Errno::EISDIR),
            _ => Err(Errno::EINVAL),
        }
    }

    /// The target of the symlink `path`.
    pub fn readlink(&self, path: &[u8], cred: Cred) -> Result<Vec<u8>, Errno> {
        let loc = self.resolve(path, false, cred)?;
        match self.node(&loc).map(|n| &n.data) {
            Some(Data::Symlink(t)) => Ok(t.clone()),
            Some(_) => Err(Errno::EINVAL),
            None => Err(Errno::ENOENT),
        }
    }

    /// The entries of the folder `path` (symlinks followed), sorted by name, with their
    /// `lstat`; needs read and search permission.
    pub fn readdir(&self, path: &[u8], cred: Cred) -> Result<Vec<(Vec<u8>, Stat)>, Errno> {
        let loc = self.resolve(path, true, cred)?;
        let n = self.node(&loc).ok_or(Errno::ENOENT)?;
        let children = n.children().ok_or(Errno::ENOTDIR)?;
        if !Self::may(n, cred, READ | EXEC) {
            return Err(Errno::EACCES);
        }
        let base = loc.components();
        Ok(children
            .iter()
            .map(|(name, c)| {
                let l = Loc {
                    parent: base.clone(),
                    name: Some(name.clone()),
                };
                (name.clone(), self.stat_node(&l, c))
            })
            .collect())
    }

    // ----- mutations ----------------------------------------------------------------

    /// Checks that `cred` may add or remove entries in the folder `parent`.
    fn may_modify(&self, parent: &[Vec<u8>], cred: Cred) -> Result<(), Errno> {
        let dir = self.node_at(parent).ok_or(Errno::ENOENT)?;
        if dir.children().is_none() {
            return Err(Errno::ENOTDIR);
        }
        if !Self::may(dir, cred, WRITE | EXEC) {
            return Err(Errno::EACCES);
        }
        Ok(())
    }

    /// The sticky bit: in a folder with mode `+t` only the entry's owner, the folder's
    /// owner and root may remove or rename an entry.
    fn sticky_ok(&self, loc: &Loc, cred: Cred) -> bool {
        let (Some(dir), Some(n)) = (self.node_at(&loc.parent), self.node(loc)) else {
            return true;
        };
        dir.perm & 0o1000 == 0 || cred.uid == 0 || cred.uid == n.uid || cred.uid == dir.uid
    }

    fn touch_dir(&mut self, parent: &[Vec<u8>]) {
        let t = self.stamp();
        if let Some(d) = self.node_at_mut(parent) {
            d.mtime = t;
        }
    }

    fn insert(&mut self, loc: &Loc, node: Node) {
        let name = loc.name.clone().expect("not the root");
        let dir = self
            .node_at_mut(&loc.parent)
            .and_then(Node::children_mut)
            .expect("checked by the caller");
        dir.insert(name, node);
        self.touch_dir(&loc.parent.clone());
    }

    fn new_node(&mut self, data: Data, perm: u32, cred: Cred) -> Node {
        Node {
            ino: self.ino(),
            perm: perm & 0o7777,
            uid: cred.uid,
            gid: cred.gid,
            mtime: self.stamp(),
            deny: Deny::default(),
            data,
        }
    }

    /// `mkdir(2)` with the final permission bits (the caller applies the umask).
    pub fn mkdir(&mut self, path: &[u8], perm: u32, cred: Cred) -> Result<(), Errno> {
        let loc = self.resolve(path, false, cred)?;
        if loc.name.is_none() || self.node(&loc).is_some() {
            return Err(Errno::EEXIST);
        }
        self.may_modify(&loc.parent, cred)?;
        self.writable_mount(&join(&loc.parent), 0)?;
        let node = self.new_node(Data::Dir(BTreeMap::new()), perm, cred);
        self.insert(&loc, node);
        self.event(loc.path(), "CREATE", true);
        Ok(())
    }

    /// `mkdir -p` without messages: every missing folder of `path`, as `cred`.
    pub fn mkdir_all(&mut self, path: &[u8], perm: u32, cred: Cred) -> Result<(), Errno> {
        let mut prefix = Vec::new();
        for c in split(path) {
            prefix.push(b'/');
            prefix.extend_from_slice(&c);
            match self.stat(&prefix, cred) {
                Ok(s) if s.kind == Kind::Dir => continue,
                Ok(_) => return Err(Errno::ENOTDIR),
                Err(Errno::ENOENT) => self.mkdir(&prefix, perm, cred)?,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// `open(path, O_WRONLY|O_CREAT|O_TRUNC, perm)` + `write` + `close` (symlinks
    /// followed, like a shell redirection): replaces the content of an existing file
    /// (keeping its mode and owner), or creates it with `perm` (umask already applied).
    /// When the mount runs out of space, what fits is written and the call fails with
    /// `ENOSPC` (the file keeps the part written, as after a short write).
    pub fn write(
        &mut self,
        path: &[u8],
        mut content: Vec<u8>,
        perm: u32,
        cred: Cred,
    ) -> Result<(), Errno> {
        let loc = self.resolve(path, true, cred)?;
        let canon = loc.path();
        let existing = match self.node(&loc) {
            Some(n) => {
                match n.data {
                    Data::File(_) => {}
                    Data::Dir(_) => return Err(Errno::EISDIR),
                    _ => return Err(Errno::EINVAL),
                }
                if !Self::may(n, cred, WRITE) {
                    return Err(Errno::EACCES);
                }
                Some(n.bytes())
            }
            None => {
                if loc.name.is_none() {
                    return Err(Errno::EISDIR);
                }
                self.may_modify(&loc.parent, cred)?;
                None
            }
        };
        let mut result = Ok(());
        let i = self.mount_index(&canon);
        if self.mounts[i].read_only {
            return Err(Errno::EROFS);
        }
        if let Some(cap) = self.mounts[i].capacity {
            let free = cap.saturating_sub(self.used(i)) + existing.unwrap_or(0);
            if content.len() as u64 > free {
                content.truncate(free as usize);
                result = Err(Errno::ENOSPC);
            }
        }
        let t = self.stamp();
        if existing.is_some() {
            let n = self.node_mut(&loc).expect("just found");
            n.data = Data::File(Arc::new(content));
            n.mtime = t;
        } else {
            let node = self.new_node(Data::File(Arc::new(content)), perm, cred);
            self.insert(&loc, node);
            self.event(canon.clone(), "CREATE", false);
        }
        self.event(canon, "CLOSE_WRITE,CLOSE", false);
        result
    }

    /// `symlink(target, path)`.
    pub fn symlink(&mut self, target: &[u8], path: &[u8], cred: Cred) -> Result<(), Errno> {
        let loc = self.resolve(path, false, cred)?;
        if loc.name.is_none() || self.node(&loc).is_some() {
            return Err(Errno::EEXIST);
        }
        self.may_modify(&loc.parent, cred)?;
        self.writable_mount(&join(&loc.parent), 0)?;
        let node = self.new_node(Data::Symlink(target.to_vec()), 0o777, cred);
        self.insert(&loc, node);
        self.event(loc.path(), "CREATE", false);
        Ok(())
    }

    /// `mkfifo(path)`: a special file (downloads refuse it, listings show it).
    pub fn mkfifo(&mut self, path: &[u8], perm: u32, cred: Cred) -> Result<(), Errno> {
        let loc = self.resolve(path, false, cred)?;
        if loc.name.is_none() || self.node(&loc).is_some() {
            return Err(Errno::EEXIST);
        }
        self.may_modify(&loc.parent, cred)?;
        let node = self.new_node(Data::Fifo, perm, cred);
        self.insert(&loc, node);
        self.event(loc.path(), "CREATE", false);
        Ok(())
    }

    /// `unlink(2)`: a file, symlink or FIFO (not a folder: `EISDIR`).
    pub fn unlink(&mut self, path: &[u8], cred: Cred) -> Result<(), Errno> {
        let loc = self.resolve(path, false, cred)?;
        let n = self.node(&loc).ok_or(Errno::ENOENT)?;
        if n.kind() == Kind::Dir {
            return Err(Errno::EISDIR);
        }
        self.may_modify(&loc.parent, cred)?;
        if !self.sticky_ok(&loc, cred) {
            return Err(Errno::EPERM);
        }
        self.writable_mount(&join(&loc.parent), 0)?;
        self.remove_node(&loc);
        self.event(loc.path(), "DELETE", false);
        Ok(())
    }

    /// `rmdir(2)`: an empty folder that is not a mount point.
    pub fn rmdir(&mut self, path: &[u8], cred: Cred) -> Result<(), Errno> {
        let loc = self.resolve(path, false, cred)?;
        let n = self.node(&loc).ok_or(Errno::ENOENT)?;
        let ch = n.children().ok_or(Errno::ENOTDIR)?;
        if loc.name.is_none() {
            return Err(Errno::EBUSY);
        }
        if !ch.is_empty() {
            return Err(Errno::ENOTEMPTY);
        }
        let canon = loc.path();
        if self.mounts.iter().any(|m| m.path.as_bytes() == canon) {
            return Err(Errno::EBUSY);
        }
        self.may_modify(&loc.parent, cred)?;
        if !self.sticky_ok(&loc, cred) {
            return Err(Errno::EPERM);
        }
        self.writable_mount(&join(&loc.parent), 0)?;
        self.remove_node(&loc);
        let mut own = canon.clone();
        own.push(b'/');
        self.event(own, "DELETE_SELF", false);
        self.event(canon, "DELETE", true);
        Ok(())
    }

    fn remove_node(&mut self, loc: &Loc) -> Option<Node> {
        let name = loc.name.clone()?;
        let n = self
            .node_at_mut(&loc.parent)
            .and_then(Node::children_mut)?
            .remove(&name);
        self.touch_dir(&loc.parent.clone());
        n
    }

    /// `rename(2)`: a file replaces a file or symlink, a folder replaces an empty folder;
    /// never across mounts (`EXDEV`) nor into its own subtree (`EINVAL`).
    pub fn rename(&mut self, from: &[u8], to: &[u8], cred: Cred) -> Result<(), Errno> {
        let a = self.resolve(from, false, cred)?;
        let b = self.resolve(to, false, cred)?;
        let src = self.node(&a).ok_or(Errno::ENOENT)?;
        let src_dir = src.kind() == Kind::Dir;
        if a.name.is_none() || b.name.is_none() {
            return Err(Errno::EBUSY);
        }
        let (pa, pb) = (a.path(), b.path());
        if pa == pb {
            return Ok(());
        }
        if src_dir && pb.starts_with(&pa) && pb.get(pa.len()) == Some(&b'/') {
            return Err(Errno::EINVAL);
        }
        if let Some(dst) = self.node(&b) {
            match (src_dir, dst.kind() == Kind::Dir) {
                (true, false) => return Err(Errno::ENOTDIR),
                (false, true) => return Err(Errno::EISDIR),
                (true, true) if !dst.children().is_none_or(BTreeMap::is_empty) => {
                    return Err(Errno::ENOTEMPTY)
                }
                _ => {}
            }
        }
        self.may_modify(&a.parent, cred)?;
        self.may_modify(&b.parent, cred)?;
        if !self.sticky_ok(&a, cred) || !self.sticky_ok(&b, cred) {
            return Err(Errno::EPERM);
        }
        let (ma, mb) = (self.mount_index(&pa), self.mount_index(&join(&b.parent)));
        if ma != mb || self.mounts.iter().any(|m| m.path.as_bytes() == pa) {
            return Err(Errno::EXDEV);
        }
        self.writable_mount(&pa, 0)?;
        let node = self.remove_node(&a).expect("just found");
        self.remove_node(&b);
        self.insert(&b, node);
        self.event(pa, "MOVED_FROM", src_dir);
        self.event(pb, "MOVED_TO", src_dir);
        Ok(())
    }

    /// `chmod(2)` (symlinks followed): the owner or root.
    pub fn chmod(&mut self, path: &[u8], perm: u32, cred: Cred) -> Result<(), Errno> {
        let loc = self.resolve(path, true, cred)?;
        let n = self.node(&loc).ok_or(Errno::ENOENT)?;
        if cred.uid != 0 && cred.uid != n.uid {
            return Err(Errno::EPERM);
        }
        self.writable_mount(&loc.path(), 0)?;
        let dir = n.kind() == Kind::Dir;
        self.node_mut(&loc).expect("just found").perm = perm & 0o7777;
        self.attrib(loc.path(), dir);
        Ok(())
    }

    /// `chown(2)` as root (symlinks followed).
    pub fn chown(&mut self, path: &[u8], uid: u32, gid: u32) -> Result<(), Errno> {
        let loc = self.resolve(path, true, Cred::ROOT)?;
        let n = self.node_mut(&loc).ok_or(Errno::ENOENT)?;
        n.uid = uid;
        n.gid = gid;
        let dir = matches!(n.data, Data::Dir(_));
        self.attrib(loc.path(), dir);
        Ok(())
    }

    /// `utimensat(2)` with an explicit time: the owner or root (`follow`: a final
    /// symlink is followed).
    pub fn set_mtime(
        &mut self,
        path: &[u8],
        t: Mtime,
        follow: bool,
        cred: Cred,
    ) -> Result<(), Errno> {
        let loc = self.resolve(path, follow, cred)?;
        let n = self.node(&loc).ok_or(Errno::ENOENT)?;
        if cred.uid != 0 && cred.uid != n.uid {
            return Err(Errno::EPERM);
        }
        self.writable_mount(&loc.path(), 0)?;
        let dir = n.kind() == Kind::Dir;
        let g = self.granularity.max(1);
        self.node_mut(&loc).expect("just found").mtime = Mtime::new(t.secs, t.nanos / g * g);
        self.attrib(loc.path(), dir);
        Ok(())
    }

    /// The close of a file opened for writing without writing (GNU `touch` opens the file
    /// it stamps): only the event.
    pub(crate) fn closed_after_write(&mut self, path: &[u8], cred: Cred) {
        if let Ok(loc) = self.resolve(path, true, cred) {
            if self.node(&loc).is_some() {
                self.event(loc.path(), "CLOSE_WRITE,CLOSE", false);
            }
        }
    }

    /// Marks `path` (not followed) as denied for reading and/or writing for everybody,
    /// root included (see the module docs).
    pub fn deny(&mut self, path: &[u8], deny: Deny) -> Result<(), Errno> {
        let loc = self.resolve(path, false, Cred::ROOT)?;
        self.node_mut(&loc).ok_or(Errno::ENOENT)?.deny = deny;
        Ok(())
    }

    /// Removes `path` and everything below it, as root, without events or checks (for
    /// building file systems and replacing parts of them).
    pub(crate) fn purge(&mut self, path: &[u8]) -> Option<()> {
        let loc = self.resolve(path, false, Cred::ROOT).ok()?;
        self.remove_node(&loc).map(|_| ())
    }

    /// The subtree at `path` (not followed), for carrying volumes over a restart.
    pub(crate) fn subtree(&self, path: &[u8]) -> Option<Node> {
        let loc = self.resolve(path, false, Cred::ROOT).ok()?;
        self.node(&loc).cloned()
    }

    /// Puts `node` at `path` (replacing what is there), creating missing parents.
    pub(crate) fn graft(&mut self, path: &[u8], node: Node) {
        let comps = split(path);
        if comps.is_empty() {
            self.root = node;
            return;
        }
        let parent = join(&comps[..comps.len() - 1]);
        let _ = self.mkdir_all(&parent, 0o755, Cred::ROOT);
        if let Ok(loc) = self.resolve(path, false, Cred::ROOT) {
            if let Some(dir) = self.node_at_mut(&loc.parent).and_then(Node::children_mut) {
                dir.insert(loc.name.clone().unwrap_or_default(), node);
            }
        }
    }

    /// Replaces this file system's mount table (when a volume is carried over).
    pub(crate) fn set_mounts(&mut self, mounts: Vec<Mount>) {
        self.mounts = mounts;
    }

    /// Every entry below `path` (not including it), depth first, children sorted, with
    /// paths relative to `path`; `None` when `path` is not a folder.
    pub fn walk(&self, path: &[u8]) -> Option<Vec<WalkEntry>> {
        let loc = self.resolve(path, true, Cred::ROOT).ok()?;
        let node = self.node(&loc)?;
        node.children()?;
        let mut out = Vec::new();
        self.walk_into(&loc.components(), node, Vec::new(), &mut out);
        Some(out)
    }

    fn walk_into(&self, base: &[Vec<u8>], node: &Node, rel: Vec<u8>, out: &mut Vec<WalkEntry>) {
        let Some(children) = node.children() else {
            return;
        };
        for (name, c) in children {
            let mut r = rel.clone();
            if !r.is_empty() {
                r.push(b'/');
            }
            r.extend_from_slice(name);
            let mut comps = base.to_vec();
            comps.extend(split(&r));
            let name_last = comps.pop();
            let loc = Loc {
                parent: comps,
                name: name_last,
            };
            let st = self.stat_node(&loc, c);
            let (content, target) = match &c.data {
                Data::File(b) => (Some(b.clone()), None),
                Data::Symlink(t) => (None, Some(t.clone())),
                _ => (None, None),
            };
            out.push(WalkEntry {
                rel: r.clone(),
                stat: st,
                content,
                target,
            });
            if matches!(c.data, Data::Dir(_)) {
                self.walk_into(base, c, r, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: Cred = Cred {
        uid: 1000,
        gid: 1000,
    };

    #[test]
    fn paths_resolve_through_symlinks_and_permissions_apply() {
        let mut fs = FakeFs::new();
        fs.mkdir_all(b"/app/d", 0o755, Cred::ROOT).unwrap();
        fs.write(b"/app/d/f", b"x".to_vec(), 0o644, Cred::ROOT)
            .unwrap();
        fs.symlink(b"d", b"/app/l", Cred::ROOT).unwrap();
        fs.symlink(b"/app/d/f", b"/app/abs", Cred::ROOT).unwrap();
        fs.symlink(b"loop", b"/app/loop", Cred::ROOT).unwrap();
        assert_eq!(&*fs.read(b"/app/l/f", USER).unwrap(), b"x");
        assert_eq!(&*fs.read(b"/app/abs", USER).unwrap(), b"x");
        assert_eq!(fs.lstat(b"/app/l", USER).unwrap().kind, Kind::Symlink);
        assert_eq!(fs.stat(b"/app/l", USER).unwrap().kind, Kind::Dir);
        assert_eq!(fs.stat(b"/app/loop", USER), Err(Errno::ELOOP));
        assert_eq!(fs.stat(b"/app/d/f/x", USER), Err(Errno::ENOTDIR));
        assert_eq!(fs.canonical(b"/app/l/../d", USER).unwrap(), b"/app/d");
        // Not writable for the user: the folder is root's 0755.
        assert_eq!(
            fs.write(b"/app/d/g", b"y".to_vec(), 0o644, USER),
            Err(Errno::EACCES)
        );
        assert_eq!(fs.unlink(b"/app/d/f", USER), Err(Errno::EACCES));
        fs.chmod(b"/app/d", 0o700, Cred::ROOT).unwrap();
        assert_eq!(fs.stat(b"/app/d/f", USER), Err(Errno::EACCES));
        // root passes, except where denied for everybody.
        fs.deny(
            b"/app/d/f",
            Deny {
                read: true,
                write: false,
            },
        )
        .unwrap();
        assert_eq!(fs.read(b"/app/d/f", Cred::ROOT), Err(Errno::EACCES));
    }

    #[test]
    fn renames_follow_posix() {
        let mut fs = FakeFs::new();
        fs.mkdir_all(b"/a/d/e", 0o755, Cred::ROOT).unwrap();
        fs.write(b"/a/f", b"1".to_vec(), 0o644, Cred::ROOT).unwrap();
        assert_eq!(
            fs.rename(b"/a/d", b"/a/d/e/x", Cred::ROOT),
            Err(Errno::EINVAL)
        );
        assert_eq!(fs.rename(b"/a/d", b"/a/f", Cred::ROOT), Err(Errno::ENOTDIR));
        assert_eq!(fs.rename(b"/a/f", b"/a/d", Cred::ROOT), Err(Errno::EISDIR));
        fs.rename(b"/a/f", b"/a/d/g", Cred::ROOT).unwrap();
        assert!(fs.stat(b"/a/f", Cred::ROOT).is_err());
        let ev: Vec<_> = fs.take_events().into_iter().map(|e| e.event).collect();
        assert_eq!(ev.last(), Some(&"MOVED_TO"));
    }

    #[test]
    fn capacities_count_file_bytes_per_mount() {
        let mut fs = FakeFs::new();
        fs.mount("/app", 7, true, Some(10)).unwrap();
        fs.write(b"/app/a", vec![0; 6], 0o644, Cred::ROOT).unwrap();
        assert_eq!(
            fs.write(b"/app/b", vec![0; 6], 0o644, Cred::ROOT),
            Err(Errno::ENOSPC)
        );
        // A short write: what fits is there.
        assert_eq!(fs.stat(b"/app/b", Cred::ROOT).unwrap().size, 4);
        fs.unlink(b"/app/b", Cred::ROOT).unwrap();
        // Replacing a file counts only the growth; other mounts are not affected.
        fs.write(b"/app/a", vec![0; 10], 0o644, Cred::ROOT).unwrap();
        fs.write(b"/tmp/big", vec![0; 100], 0o644, Cred::ROOT)
            .unwrap();
        assert_eq!(fs.space(b"/app"), (Some(10), Some(0)));
        assert_eq!(fs.stat(b"/app/a", Cred::ROOT).unwrap().dev, 7);
        assert_eq!(
            fs.rename(b"/tmp/big", b"/app/big", Cred::ROOT),
            Err(Errno::EXDEV)
        );
    }
}
