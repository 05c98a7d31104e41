//! The local safety net: [`Trash`], `.ferry/trash/` in the workspace. Every local file
//! or symlink that ferry deletes or overwrites is kept here first, and `ferry restore`
//! brings it back; so is the container's version of a file that a newer local file
//! replaces in the container when the container is not trusted.
//!
//! Three ways in, all of a file or symlink (never a folder):
//! - [`Trash::take`] moves a local path into the trash — this *is* the deletion (a
//!   rename on the same file system, else a copy, a check that the file did not change
//!   meanwhile, and an unlink);
//! - [`Trash::keep`] keeps the current content of a local path that is about to be
//!   replaced, leaving it in place (a hard link, else a copy); the caller then renames the
//!   new version over it, which detaches the trash's link from the live file;
//! - [`Trash::adopt`] moves a temporary file holding someone else's version (the
//!   container's, downloaded into a local temporary file) into the trash.
//!
//! Then [`Trash::list`] (newest first), [`Trash::get`] and [`Trash::find`],
//! [`Trash::restore`] (back to the original path or elsewhere, atomically, keeping what is
//! at the destination in the trash first), [`Trash::forget`] and [`Trash::prune`] (the
//! bounds: [`MAX_AGE`], [`MAX_BYTES`], [`MIN_AGE`]).
//!
//! # Layout
//!
//! ```text
//! .ferry/trash/                  mode 0700
//!   <id>/                        one folder per item
//!     meta.json                  its record (TrashItem as JSON, one line)
//!     data                       the file or symlink itself, with its mode and mtime
//!   .gone-<id>-<pid>-<n>/        an item being removed (restored, pruned, forgotten)
//! ```
//!
//! `<id>` is `<ms>-<pid>-<n>`: the time in milliseconds since the Unix epoch, the process
//! id and a per-process counter, all decimal digits; `mkdir` claims it, so two processes
//! (`ferry sync` and `ferry restore` may run at once) never share an item. The names in
//! the trash are never derived from file names: the sync path, the local folder and the
//! relative path are only in `meta.json`, so a hostile name (`../../x`, a newline, a
//! 255-byte name, `meta.json`) cannot steer where anything goes. A `meta.json` whose
//! relative path is not a valid [`RelPath`] is not an item.
//!
//! # Why one `meta.json` per item
//!
//! Each item is self-contained: it appears, is read and disappears with atomic renames of
//! its own files, so two processes never write the same file and need no lock; a crash
//! damages at most the item being written; removing an item is one rename of its folder.
//! A shared JSON-lines log would need locking between `ferry sync` and `ferry restore`
//! and a rewrite to drop lines. Listing reads one small file per item, and the trash is
//! bounded.
//!
//! # Invariants
//!
//! - An item is complete when its folder has both a `meta.json` that parses (with the
//!   folder's id) and a `data`. The record is written first, then the data moved in, so
//!   a crash leaves either a complete item or one without data (the user's file still in
//!   place, nothing to lose); the record is rewritten if the data turned out different
//!   from what was recorded (it changed between the two steps). Incomplete items are
//!   never listed; [`Trash::prune`] removes them once they are older than [`MIN_AGE`]
//!   (no data) or [`MAX_AGE`] (data without a record, which ferry never writes).
//! - Nothing is ever unlinked before its bytes are in the trash: a failure to keep a
//!   file means the file stays where it is and the caller reports it.
//! - A restore never loses anything either: what is at the destination is kept in the
//!   trash (reason [`Reason::ReplacedByRestore`]), and the restored version appears with
//!   one rename (`renameat2(RENAME_EXCHANGE)` where the file system has it, so the
//!   destination is never missing). It never writes through a symlinked folder: every
//!   folder from the root to the destination is `lstat`ed (the checks of [`super::fs`]).
//! - Symlinks are never followed: `lstat`, `link` without `AT_SYMLINK_FOLLOW`, copies by
//!   `readlink`; the trash's own `data` symlinks are never read through.
//! - Nothing younger than [`MIN_AGE`] is pruned, whatever the size.
//! - The trash protects against ferry's own decisions, not against power loss: nothing
//!   is `fsync`ed (a deletion would cost a disk flush per file).
//!
//! Errors are [`LocalError`]s whose `path` is the path the caller named (relative to its
//! sync folder), or the item id for [`Trash::restore`] and [`Trash::forget`], or
//! `.ferry/trash` for the trash folder itself.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use filetime::FileTime;
use serde::{Deserialize, Serialize};

use crate::core::{Entry, EntryKind, RelPath};

use super::error::{LocalError, LocalErrorKind};
use super::fs::{check_ancestors, rename_no_replace, temp_name};

/// The trash's folder name inside the state folder `.ferry/`.
pub const TRASH_DIR: &str = "trash";

/// Items older than this are pruned: a week is long enough to notice a lost file after a
/// weekend or a holiday, and bounds the trash of a long-running sync.
pub const MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// While the trash holds more than this many bytes (the sum of its items' sizes), the
/// oldest items older than [`MIN_AGE`] are pruned: 2 GiB holds many copies of a source
/// tree and stays small on a developer's disk even when build outputs are synced.
pub const MAX_BYTES: u64 = 2 << 30;

/// Nothing younger than this is ever pruned, whatever the size: a mass deletion (a wrong
/// pod, a mirror strategy) bigger than [`MAX_BYTES`] must stay restorable for the hour in
/// which its user notices it, not evict itself.
pub const MIN_AGE: Duration = Duration::from_secs(3600);

/// The record's format version (`version` in `meta.json`).
pub const FORMAT_VERSION: u32 = 1;

const META: &str = "meta.json";
const META_TMP: &str = ".meta.json.tmp";
const DATA: &str = "data";
const DATA_TMP: &str = ".data.tmp";
const GONE_PREFIX: &str = ".gone-";
/// A `meta.json` bigger than this is not a record of ferry's.
const META_MAX_BYTES: u64 = 64 * 1024;
/// The permission bits a copy keeps (the file is the user's own, so set-user-ID and
/// set-group-ID stay as they were).
const MODE_BITS: u32 = 0o7777;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The bounds [`Trash::prune`] applies, in milliseconds and bytes; [`Limits::default`] is
/// [`MAX_AGE`], [`MAX_BYTES`], [`MIN_AGE`]. Tests use smaller ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Items older than this go.
    pub max_age_ms: u64,
    /// While the items hold more bytes than this, the oldest older than `min_age_ms` go.
    pub max_bytes: u64,
    /// Items this old or younger are never pruned.
    pub min_age_ms: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_age_ms: MAX_AGE.as_millis() as u64,
            max_bytes: MAX_BYTES,
            min_age_ms: MIN_AGE.as_millis() as u64,
        }
    }
}

/// The current time in milliseconds since the Unix epoch, as a [`Trash`] sees it.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The wall clock.
fn system_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Where a local path belongs: the sync path's name, its local folder (absolute) and the
/// path relative to it.
#[derive(Clone, Copy, Debug)]
pub struct Place<'a> {
    /// The sync path's name (as in the config and the status).
    pub sync: &'a str,
    /// The sync path's local folder, absolute. It may itself be a symlink.
    pub root: &'a Path,
    /// The path relative to `root`.
    pub path: &'a RelPath,
}

/// What an item holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ItemKind {
    /// A regular file.
    File,
    /// A symbolic link (its target is in [`TrashItem::target`]).
    Symlink,
}

/// Whose version an item is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Origin {
    /// `local`: a file of the local folder.
    Local,
    /// `container`: the container's version of a file.
    Container,
    /// `other`: written by a newer ferry.
    #[serde(other)]
    Other,
}

/// Why an item is in the trash. Serialized in camelCase (the names below in
/// backquotes); editors may show them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Reason {
    /// `deletedInContainer`: the file was deleted in the container, so ferry deleted it
    /// locally.
    DeletedInContainer,
    /// `overwrittenByDownload`: a download of the container's version replaced it.
    OverwrittenByDownload,
    /// `mirrorStrategy`: an initial-sync strategy that makes the local folder mirror the
    /// container deleted or replaced it.
    MirrorStrategy,
    /// `conflictResolution`: a conflict was resolved in favour of the other version.
    ConflictResolution,
    /// `containerVersion`: the container's version of a file that a newer local file
    /// replaced in the container (kept when the container is not trusted).
    ContainerVersion,
    /// `replacedByRestore`: `ferry restore` put another version where it was.
    ReplacedByRestore,
    /// `other`: a reason written by a newer ferry.
    #[serde(other)]
    Other,
}

impl Reason {
    /// A short phrase for the user: `deleted in the container`, ….
    pub fn describe(self) -> &'static str {
        match self {
            Reason::DeletedInContainer => "deleted in the container",
            Reason::OverwrittenByDownload => "overwritten by a download",
            Reason::MirrorStrategy => "removed by a mirror strategy",
            Reason::ConflictResolution => "lost a conflict",
            Reason::ContainerVersion => "the container's version, replaced by the local one",
            Reason::ReplacedByRestore => "replaced by ferry restore",
            Reason::Other => "other",
        }
    }
}

/// One item of the trash: the record in its `meta.json` (camelCase JSON, fields only ever
/// added).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrashItem {
    /// The record's format, [`FORMAT_VERSION`].
    pub version: u32,
    /// The item's id, also its folder's name: `<ms>-<pid>-<n>`.
    pub id: String,
    /// When it was put in the trash, milliseconds since the Unix epoch.
    pub time: u64,
    /// The sync path's name.
    pub sync: String,
    /// The sync path's local folder, absolute.
    pub root: PathBuf,
    /// The path relative to `root` where the file was (or belongs).
    pub path: RelPath,
    /// Its size in bytes (a symlink's: the target's length).
    pub size: u64,
    /// File or symlink.
    pub kind: ItemKind,
    /// A symlink's target (not resolved; non-UTF-8 bytes shown as U+FFFD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Permission bits (`0o7777` mask), as a number.
    pub mode: u32,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime: i64,
    /// Whose version it is.
    pub origin: Origin,
    /// Why it is here.
    pub reason: Reason,
}

impl TrashItem {
    /// The item as an [`Entry`] (no hash).
    pub fn entry(&self) -> Entry {
        Entry {
            kind: match self.kind {
                ItemKind::File => EntryKind::File,
                ItemKind::Symlink => EntryKind::Symlink(self.target.clone().unwrap_or_default()),
            },
            size: self.size,
            mtime: self.mtime,
            mode: self.mode,
            hash: None,
        }
    }

    /// Where it was: `root/path`.
    pub fn original(&self) -> PathBuf {
        self.root.join(self.path.as_str())
    }
}

/// The result of [`Trash::restore`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restored {
    /// The item that was restored (no longer in the trash).
    pub item: TrashItem,
    /// Where it is now (absolute).
    pub to: PathBuf,
    /// What was at the destination before, now kept in the trash.
    pub replaced: Option<TrashItem>,
}

/// The trash of one workspace state folder. Cheap to clone; every operation is safe
/// against another process working on the same trash (see the module docs).
#[derive(Clone)]
pub struct Trash {
    dir: PathBuf,
    clock: Clock,
    limits: Limits,
}

impl std::fmt::Debug for Trash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trash")
            .field("dir", &self.dir)
            .field("limits", &self.limits)
            .finish()
    }
}

/// Whether `id` has the form of an item id: `<digits>-<digits>-<digits>`.
pub fn is_item_id(id: &str) -> bool {
    let mut parts = id.split('-');
    let digits = |s: Option<&str>| {
        s.is_some_and(|s| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()))
    };
    digits(parts.next()) && digits(parts.next()) && digits(parts.next()) && parts.next().is_none()
}

/// The id's numbers, for ordering (`None` for a malformed id).
fn id_key(id: &str) -> Option<(u64, u64, u64)> {
    let mut parts = id.split('-').map(|s| s.parse::<u64>().ok());
    Some((parts.next()??, parts.next()??, parts.next()??))
}

impl Trash {
    /// The trash of the state folder `state_dir` (`<workspace>/.ferry`): its folder
    /// `state_dir/trash` is created by the first item. Wall clock, default [`Limits`].
    pub fn new(state_dir: &Path) -> Trash {
        Trash {
            dir: state_dir.join(TRASH_DIR),
            clock: Arc::new(system_ms),
            limits: Limits::default(),
        }
    }

    /// The same trash with another clock (milliseconds since the Unix epoch), for tests.
    pub fn with_clock(mut self, clock: impl Fn() -> u64 + Send + Sync + 'static) -> Trash {
        self.clock = Arc::new(clock);
        self
    }

    /// The same trash with other bounds, for tests.
    pub fn with_limits(mut self, limits: Limits) -> Trash {
        self.limits = limits;
        self
    }

    /// The trash folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The current time of the trash's clock, ms since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        (self.clock)()
    }

    /// The `data` of item `id` (the file or symlink itself; never follow it).
    pub fn data_path(&self, id: &str) -> Option<PathBuf> {
        is_item_id(id).then(|| self.dir.join(id).join(DATA))
    }

    /// Moves the local file or symlink `at` into the trash: this is its deletion. A
    /// rename when the trash is on the same file system; else a copy (content, mode,
    /// mtime), a check that the file did not change while it was copied, and an unlink.
    ///
    /// # Errors
    ///
    /// [`LocalErrorKind::NotFound`] if nothing is there (nothing was done),
    /// [`LocalErrorKind::IsDir`] for a folder, [`LocalErrorKind::Changed`] for something
    /// that is not a file or symlink or a file that changed while it was copied,
    /// [`LocalErrorKind::SymlinkInPath`], or the I/O error. On any error the file is
    /// where it was.
    pub fn take(&self, at: &Place<'_>, reason: Reason) -> Result<TrashItem, LocalError> {
        const DURING: &str = "moving it into the trash";
        let (abs, meta) = match self.source(at, DURING)? {
            Some(found) => found,
            None => return Err(gone(at.path, DURING)),
        };
        let (item, dir) = self.begin(at, &abs, &meta, Origin::Local, reason)?;
        let data = dir.join(DATA);
        let moved = match fs::rename(&abs, &data) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
                self.copy_then_unlink(at.path, &abs, &meta, &dir)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(gone(at.path, DURING)),
            Err(e) => Err(LocalError::io(at.path, DURING, e)),
        };
        if let Err(e) = moved {
            discard(&dir);
            return Err(e);
        }
        Ok(self.settle(item, &dir))
    }

    /// Keeps the current content of the local file or symlink `at`, which the caller is
    /// about to replace (by renaming a new version over it), and leaves it in place: a
    /// hard link where possible, else a copy (content, mode, mtime). `Ok(None)` when
    /// nothing is there (nothing to keep).
    ///
    /// Until the replacement happens the item shares the file's inode (a write into the
    /// file in place changes both); when the caller does not replace the file after all,
    /// it may [`forget`](Trash::forget) the item.
    ///
    /// # Errors
    ///
    /// As [`Trash::take`] (except `NotFound`); on any error nothing was kept and the
    /// caller must not replace the file.
    pub fn keep(&self, at: &Place<'_>, reason: Reason) -> Result<Option<TrashItem>, LocalError> {
        const DURING: &str = "keeping a copy in the trash";
        let Some((abs, meta)) = self.source(at, DURING)? else {
            return Ok(None);
        };
        let (item, dir) = self.begin(at, &abs, &meta, Origin::Local, reason)?;
        let kept = match fs::hard_link(&abs, dir.join(DATA)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            // EXDEV, EPERM (protected_hardlinks, a file system without links), …: copy.
            Err(_) => copy_unchanged(at.path, &abs, &meta, &dir).map(|()| true),
        };
        match kept {
            Ok(true) => Ok(Some(self.settle(item, &dir))),
            Ok(false) => {
                discard(&dir);
                Ok(None)
            }
            Err(e) => {
                discard(&dir);
                Err(e)
            }
        }
    }

    /// Moves the temporary file or symlink `temp` (absolute; e.g. the container's
    /// version, downloaded) into the trash, recorded as `origin`'s version of `at` (which
    /// need not exist). A rename on the same file system, else a copy and an unlink.
    ///
    /// # Errors
    ///
    /// [`LocalErrorKind::NotFound`] if `temp` is missing, [`LocalErrorKind::Changed`] if
    /// it is not a file or symlink, or the I/O error (the error's path is `at.path`); on
    /// any error `temp` is where it was.
    pub fn adopt(
        &self,
        temp: &Path,
        at: &Place<'_>,
        origin: Origin,
        reason: Reason,
    ) -> Result<TrashItem, LocalError> {
        const DURING: &str = "moving a temporary file into the trash";
        let meta = fs::symlink_metadata(temp).map_err(|e| LocalError::io(at.path, DURING, e))?;
        if !meta.is_file() && !meta.file_type().is_symlink() {
            return Err(not_a_file(at.path, &meta, DURING));
        }
        let (item, dir) = self.begin(at, temp, &meta, origin, reason)?;
        let moved = match fs::rename(temp, dir.join(DATA)) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
                self.copy_then_unlink(at.path, temp, &meta, &dir)
            }
            Err(e) => Err(LocalError::io(at.path, DURING, e)),
        };
        if let Err(e) = moved {
            discard(&dir);
            return Err(e);
        }
        Ok(self.settle(item, &dir))
    }

    /// Every complete item, newest first (by time, then id). Incomplete items (see the
    /// module docs) are left out.
    ///
    /// # Errors
    ///
    /// The trash folder cannot be read (a missing folder is an empty trash).
    pub fn list(&self) -> Result<Vec<TrashItem>, LocalError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.error("reading the trash", e)),
        };
        let mut items = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| self.error("reading the trash", e))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if let Some(item) = self.load(&name) {
                items.push(item);
            }
        }
        sort_newest_first(&mut items);
        Ok(items)
    }

    /// The complete item `id`, if there is one. An `id` that is not of the id form
    /// (`../x`, a path) is never looked up.
    ///
    /// # Errors
    ///
    /// None today; the `Result` is for the trash folder's I/O.
    pub fn get(&self, id: &str) -> Result<Option<TrashItem>, LocalError> {
        Ok(self.load(id))
    }

    /// The complete items of `root/path`, newest first.
    ///
    /// # Errors
    ///
    /// As [`Trash::list`].
    pub fn find(&self, root: &Path, path: &RelPath) -> Result<Vec<TrashItem>, LocalError> {
        let mut items = self.list()?;
        items.retain(|item| item.root == root && &item.path == path);
        Ok(items)
    }

    /// Brings item `id` back: to its original place, or to `to`. Missing folders on the
    /// way are created; the root must exist.
    ///
    /// The item's file is first linked (or copied, across file systems) to a temporary
    /// name next to the destination, then renamed into place: over nothing, or exchanged
    /// with what is there (`RENAME_EXCHANGE`), which then goes into the trash as
    /// [`Reason::ReplacedByRestore`] (where the exchange is not supported: kept with
    /// [`Trash::keep`] first, then replaced). Last the item leaves the trash.
    ///
    /// # Errors
    ///
    /// [`LocalErrorKind::NotFound`] for an unknown id (or one restored or pruned
    /// meanwhile) or a missing root, [`LocalErrorKind::SymlinkInPath`] when a folder on
    /// the way is a symlink or a file, [`LocalErrorKind::IsDir`] when a folder is at the
    /// destination, [`LocalErrorKind::Changed`] for a FIFO, socket or device there, or the
    /// I/O error. On any error nothing at the destination changed and the item is still
    /// in the trash.
    pub fn restore(&self, id: &str, to: Option<&Place<'_>>) -> Result<Restored, LocalError> {
        const DURING: &str = "restoring it";
        let item = self.load(id).ok_or_else(|| {
            LocalError::new(
                id,
                LocalErrorKind::NotFound,
                format!(
                    "no item {id} in the trash (restored or pruned meanwhile?); `ferry restore` \
                     lists what it holds"
                ),
            )
        })?;
        let here = match to {
            Some(place) => *place,
            None => Place {
                sync: &item.sync,
                root: &item.root,
                path: &item.path,
            },
        };
        match fs::metadata(here.root) {
            Ok(meta) if meta.is_dir() => {}
            _ => {
                return Err(LocalError::new(
                    here.path,
                    LocalErrorKind::NotFound,
                    format!(
                        "{DURING} failed: the folder {} does not exist (or is not a folder); \
                         create it, or restore elsewhere with --to",
                        here.root.display()
                    ),
                ))
            }
        }
        check_ancestors(here.root, here.path, true, DURING)?;
        let abs = here.root.join(here.path.as_str());
        let occupied = match fs::symlink_metadata(&abs) {
            Ok(meta) if meta.is_dir() => {
                return Err(LocalError::new(
                    here.path,
                    LocalErrorKind::IsDir,
                    format!(
                        "{DURING} failed: a folder is at {}; ferry does not replace a folder \
                         with a file (restore elsewhere with --to)",
                        abs.display()
                    ),
                ))
            }
            Ok(meta) if meta.is_file() || meta.file_type().is_symlink() => true,
            Ok(meta) => return Err(not_a_file(here.path, &meta, DURING)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(LocalError::io(here.path, DURING, e)),
        };
        let staged = self.stage(&item, &abs, here.path)?;
        let placed = if occupied {
            self.swap_in(&staged, &abs, &here)
        } else {
            match rename_no_replace(&staged, &abs) {
                Ok(()) => Ok(None),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    self.swap_in(&staged, &abs, &here)
                }
                Err(e) => Err(LocalError::io(here.path, DURING, e)),
            }
        };
        let replaced = match placed {
            Ok(replaced) => replaced,
            Err(e) => {
                let _ = fs::remove_file(&staged);
                return Err(e);
            }
        };
        if let Err(e) = self.forget(&item.id) {
            tracing::warn!(
                "restored {} but could not remove it from the trash: {e}",
                item.id
            );
        }
        Ok(Restored {
            item,
            to: abs,
            replaced,
        })
    }

    /// Removes item `id` (complete or not) from the trash; `Ok(false)` if there was none.
    /// The folder is renamed away first, so a concurrent restore of it either has its
    /// file already or finds nothing.
    ///
    /// # Errors
    ///
    /// The I/O error of the rename.
    pub fn forget(&self, id: &str) -> Result<bool, LocalError> {
        if !is_item_id(id) {
            return Ok(false);
        }
        let gone = self.dir.join(format!(
            "{GONE_PREFIX}{id}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        match fs::rename(self.dir.join(id), &gone) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(LocalError::io(id, "removing it from the trash", e)),
        }
        let _ = fs::remove_dir_all(&gone);
        Ok(true)
    }

    /// Applies the bounds ([`Limits`]): items older than `max_age_ms` go; then, while the
    /// rest holds more than `max_bytes`, the oldest items older than `min_age_ms` go.
    /// Also finishes removals left half done (`.gone-*`) and removes incomplete items
    /// (older than `min_age_ms` without data, older than `max_age_ms` with data). Returns
    /// the complete items removed, oldest first.
    ///
    /// # Errors
    ///
    /// The trash folder cannot be read; an item that cannot be removed stays (and is
    /// logged).
    pub fn prune(&self) -> Result<Vec<TrashItem>, LocalError> {
        let now = self.now_ms();
        let limits = self.limits;
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.error("reading the trash", e)),
        };
        let mut items = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| self.error("reading the trash", e))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if name.starts_with(GONE_PREFIX) {
                let _ = fs::remove_dir_all(entry.path());
                continue;
            }
            if !is_item_id(&name) {
                continue;
            }
            match self.load(&name) {
                Some(item) => items.push(item),
                None => {
                    let Some((time, _, _)) = id_key(&name) else {
                        continue;
                    };
                    let age = now.saturating_sub(time);
                    let has_data = fs::symlink_metadata(entry.path().join(DATA)).is_ok();
                    let limit = if has_data {
                        limits.max_age_ms
                    } else {
                        limits.min_age_ms
                    };
                    if age > limit {
                        if let Err(e) = self.forget(&name) {
                            tracing::warn!("cannot remove the incomplete trash item {name}: {e}");
                        }
                    }
                }
            }
        }
        // Oldest first.
        sort_newest_first(&mut items);
        items.reverse();
        let mut pruned = Vec::new();
        let mut kept = Vec::new();
        for item in items {
            if now.saturating_sub(item.time) > limits.max_age_ms {
                self.remove_pruned(item, &mut pruned, &mut kept);
            } else {
                kept.push(item);
            }
        }
        let mut total: u64 = kept
            .iter()
            .map(|item| item.size)
            .fold(0, u64::saturating_add);
        let mut rest = Vec::new();
        for item in std::mem::take(&mut kept) {
            if total > limits.max_bytes && now.saturating_sub(item.time) > limits.min_age_ms {
                let size = item.size;
                let before = pruned.len();
                self.remove_pruned(item, &mut pruned, &mut rest);
                if pruned.len() > before {
                    total = total.saturating_sub(size);
                }
            } else {
                rest.push(item);
            }
        }
        Ok(pruned)
    }

    fn remove_pruned(
        &self,
        item: TrashItem,
        pruned: &mut Vec<TrashItem>,
        kept: &mut Vec<TrashItem>,
    ) {
        match self.forget(&item.id) {
            Ok(true) => pruned.push(item),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!("cannot prune the trash item {}: {e}", item.id);
                kept.push(item);
            }
        }
    }

    /// The file or symlink at `at` with its `lstat`, after checking the folders on the
    /// way; `None` if it (or a folder on the way) does not exist.
    fn source(
        &self,
        at: &Place<'_>,
        during: &str,
    ) -> Result<Option<(PathBuf, fs::Metadata)>, LocalError> {
        if !check_ancestors(at.root, at.path, false, during)? {
            return Ok(None);
        }
        let abs = at.root.join(at.path.as_str());
        let meta = match fs::symlink_metadata(&abs) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(LocalError::io(at.path, during, e)),
        };
        if meta.is_dir() {
            return Err(LocalError::new(
                at.path,
                LocalErrorKind::IsDir,
                format!("{during} failed: it is a folder; the trash keeps files and symlinks"),
            ));
        }
        if !meta.is_file() && !meta.file_type().is_symlink() {
            return Err(not_a_file(at.path, &meta, during));
        }
        Ok(Some((abs, meta)))
    }

    /// Claims a fresh item folder and writes its record for the file `abs` (whose
    /// `lstat` is `meta`); returns the record and the folder.
    fn begin(
        &self,
        at: &Place<'_>,
        abs: &Path,
        meta: &fs::Metadata,
        origin: Origin,
        reason: Reason,
    ) -> Result<(TrashItem, PathBuf), LocalError> {
        const DURING: &str = "recording it in the trash";
        let io = |e| LocalError::io(at.path, DURING, e);
        self.create_dir().map_err(io)?;
        let time = self.now_ms();
        let mut claimed = None;
        for _ in 0..16 {
            let id = format!(
                "{time}-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            );
            let dir = self.dir.join(&id);
            match fs::create_dir(&dir) {
                Ok(()) => {
                    claimed = Some((id, dir));
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io(e)),
            }
        }
        let Some((id, dir)) = claimed else {
            return Err(LocalError::new(
                at.path,
                LocalErrorKind::Io,
                format!(
                    "{DURING} failed: no free item name in {}",
                    self.dir.display()
                ),
            ));
        };
        let (kind, target) = describe_file(abs, meta);
        let item = TrashItem {
            version: FORMAT_VERSION,
            id,
            time,
            sync: at.sync.to_string(),
            root: at.root.to_path_buf(),
            path: at.path.clone(),
            size: meta.len(),
            kind,
            target,
            mode: meta.mode() & MODE_BITS,
            mtime: mtime_ns(meta),
            origin,
            reason,
        };
        if let Err(e) = write_meta(&dir, &item) {
            discard(&dir);
            return Err(match e.kind() {
                io::ErrorKind::InvalidData => {
                    LocalError::new(at.path, LocalErrorKind::Io, format!("{DURING} failed: {e}"))
                }
                _ => io(e),
            });
        }
        Ok((item, dir))
    }

    /// After the data is in `dir`: rewrites the record if the data is not what was
    /// recorded (it changed between the record and the move). Returns the final record.
    fn settle(&self, mut item: TrashItem, dir: &Path) -> TrashItem {
        let data = dir.join(DATA);
        let Ok(meta) = fs::symlink_metadata(&data) else {
            return item;
        };
        let (kind, target) = describe_file(&data, &meta);
        let now = TrashItem {
            size: meta.len(),
            kind,
            target,
            mode: meta.mode() & MODE_BITS,
            mtime: mtime_ns(&meta),
            ..item.clone()
        };
        if now != item {
            if let Err(e) = write_meta(dir, &now) {
                tracing::warn!("cannot update the trash record {}: {e}", item.id);
            } else {
                item = now;
            }
        }
        item
    }

    /// Copies `abs` into `dir/data` and unlinks it, unless it changed while being copied.
    fn copy_then_unlink(
        &self,
        path: &RelPath,
        abs: &Path,
        before: &fs::Metadata,
        dir: &Path,
    ) -> Result<(), LocalError> {
        copy_unchanged(path, abs, before, dir)?;
        fs::remove_file(abs).map_err(|e| LocalError::io(path, "copying it into the trash", e))
    }

    /// Links (or copies) the item's data to a fresh temporary name next to `abs`.
    fn stage(&self, item: &TrashItem, abs: &Path, path: &RelPath) -> Result<PathBuf, LocalError> {
        const DURING: &str = "restoring it";
        let data = self.dir.join(&item.id).join(DATA);
        let folder = abs.parent().expect("a path below a root has a parent");
        let vanished = || {
            LocalError::new(
                &item.id,
                LocalErrorKind::NotFound,
                format!(
                    "{DURING} failed: item {} left the trash meanwhile (restored or pruned by \
                     another ferry)",
                    item.id
                ),
            )
        };
        for _ in 0..8 {
            let tmp = folder.join(temp_name(path.name()));
            match fs::hard_link(&data, &tmp) {
                Ok(()) => return Ok(tmp),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    // The data is gone, or the folder of `tmp` is.
                    if fs::symlink_metadata(&data).is_err() {
                        return Err(vanished());
                    }
                    return Err(LocalError::io(path, DURING, e));
                }
                Err(_) => {}
            }
            let meta = fs::symlink_metadata(&data).map_err(|_| vanished())?;
            match copy_to(&data, &meta, &tmp) {
                Ok(()) => return Ok(tmp),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    let _ = fs::remove_file(&tmp);
                    return Err(LocalError::io(path, DURING, e));
                }
            }
        }
        Err(LocalError::new(
            path,
            LocalErrorKind::Io,
            format!("{DURING} failed: no free temporary name next to it"),
        ))
    }

    /// Puts `staged` at `abs`, where something is, keeping that in the trash. Returns
    /// the kept item.
    fn swap_in(
        &self,
        staged: &Path,
        abs: &Path,
        here: &Place<'_>,
    ) -> Result<Option<TrashItem>, LocalError> {
        const DURING: &str = "restoring it";
        match rename_exchange(staged, abs) {
            Ok(()) => {
                // `staged` now holds what was at the destination.
                match self.adopt(staged, here, Origin::Local, Reason::ReplacedByRestore) {
                    Ok(kept) => Ok(Some(kept)),
                    Err(e) => {
                        // Put it back; nothing is lost either way (the restored version
                        // is still in the trash).
                        if let Err(back) = rename_exchange(staged, abs) {
                            return Err(LocalError::new(
                                here.path,
                                LocalErrorKind::Io,
                                format!(
                                    "{DURING}: the version that was there could not be kept in \
                                     the trash ({}) nor put back ({back}); it is at {}",
                                    e.message,
                                    staged.display()
                                ),
                            ));
                        }
                        Err(LocalError::new(
                            here.path,
                            e.kind,
                            format!(
                                "{DURING} failed: the version at the destination could not be \
                                 kept in the trash first ({}); nothing was changed",
                                e.message
                            ),
                        ))
                    }
                }
            }
            Err(e) if exchange_unsupported(&e) => {
                let kept = self
                    .keep(here, Reason::ReplacedByRestore)
                    .map_err(|e| LocalError {
                        message: format!(
                            "{DURING} failed: the version at the destination could not be \
                             kept in the trash first ({}); nothing was changed",
                            e.message
                        ),
                        ..e
                    })?;
                if let Err(e) = fs::rename(staged, abs) {
                    if let Some(kept) = &kept {
                        let _ = self.forget(&kept.id);
                    }
                    return Err(LocalError::io(here.path, DURING, e));
                }
                // Renaming a link over another link of the same file does nothing.
                if fs::symlink_metadata(staged).is_ok() {
                    let _ = fs::remove_file(staged);
                }
                Ok(kept)
            }
            Err(e) => Err(LocalError::io(here.path, DURING, e)),
        }
    }

    /// The complete item in folder `name`, or `None`.
    fn load(&self, name: &str) -> Option<TrashItem> {
        if !is_item_id(name) {
            return None;
        }
        let dir = self.dir.join(name);
        let mut file = File::open(dir.join(META)).ok()?;
        let mut text = Vec::new();
        (&mut file)
            .take(META_MAX_BYTES + 1)
            .read_to_end(&mut text)
            .ok()?;
        if text.len() as u64 > META_MAX_BYTES {
            return None;
        }
        let item: TrashItem = serde_json::from_slice(&text).ok()?;
        if item.id != name || !item.root.is_absolute() {
            return None;
        }
        let data = fs::symlink_metadata(dir.join(DATA)).ok()?;
        if data.is_dir() {
            return None;
        }
        Some(item)
    }

    fn create_dir(&self) -> io::Result<()> {
        match fs::create_dir(&self.dir) {
            Ok(()) => fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if let Some(parent) = self.dir.parent() {
                    fs::create_dir_all(parent)?;
                }
                self.create_dir()
            }
            Err(e) => Err(e),
        }
    }

    fn error(&self, during: &str, e: io::Error) -> LocalError {
        LocalError::io(format!(".ferry/{TRASH_DIR}"), during, e)
    }
}

/// Newest first: by time, then by the id's numbers.
fn sort_newest_first(items: &mut [TrashItem]) {
    items.sort_by_key(|item| std::cmp::Reverse((item.time, id_key(&item.id))));
}

/// Writes the record atomically (a temporary in the item folder, renamed).
fn write_meta(dir: &Path, item: &TrashItem) -> io::Result<()> {
    let mut text = serde_json::to_vec(item).map_err(|e| {
        io::Error::new(io::ErrorKind::InvalidData, format!("cannot record it: {e}"))
    })?;
    text.push(b'\n');
    let tmp = dir.join(META_TMP);
    fs::write(&tmp, &text)?;
    fs::rename(&tmp, dir.join(META))
}

/// Removes an item folder that is being created and failed.
fn discard(dir: &Path) {
    let _ = fs::remove_dir_all(dir);
}

fn describe_file(abs: &Path, meta: &fs::Metadata) -> (ItemKind, Option<String>) {
    if meta.file_type().is_symlink() {
        let target = fs::read_link(abs)
            .map(|t| t.to_string_lossy().into_owned())
            .unwrap_or_default();
        (ItemKind::Symlink, Some(target))
    } else {
        (ItemKind::File, None)
    }
}

fn mtime_ns(meta: &fs::Metadata) -> i64 {
    meta.mtime()
        .saturating_mul(1_000_000_000)
        .saturating_add(meta.mtime_nsec())
}

fn gone(path: &RelPath, during: &str) -> LocalError {
    LocalError::new(
        path,
        LocalErrorKind::NotFound,
        format!("{during} failed: it does not exist (it was probably removed meanwhile)"),
    )
}

fn not_a_file(path: &RelPath, meta: &fs::Metadata, during: &str) -> LocalError {
    let what = if meta.is_dir() {
        "a folder"
    } else {
        "a FIFO, socket or device"
    };
    LocalError::new(
        path,
        LocalErrorKind::Changed,
        format!("{during} failed: it is {what}, not a file or symlink; it is left alone"),
    )
}

/// Copies `abs` (whose `lstat` was `before`) into `dir/data`; [`LocalErrorKind::Changed`]
/// (and no `data`) if it changed while it was copied.
fn copy_unchanged(
    path: &RelPath,
    abs: &Path,
    before: &fs::Metadata,
    dir: &Path,
) -> Result<(), LocalError> {
    const DURING: &str = "copying it into the trash";
    copy_into(abs, before, dir).map_err(|e| LocalError::io(path, DURING, e))?;
    let after = fs::symlink_metadata(abs).map_err(|e| LocalError::io(path, DURING, e))?;
    let same = before.ino() == after.ino()
        && before.dev() == after.dev()
        && before.size() == after.size()
        && before.mtime() == after.mtime()
        && before.mtime_nsec() == after.mtime_nsec();
    if !same {
        let _ = fs::remove_file(dir.join(DATA));
        return Err(LocalError::new(
            path,
            LocalErrorKind::Changed,
            "it changed while it was copied into the trash, so it is left as it is now; \
             the next scan picks the change up",
        ));
    }
    Ok(())
}

/// Copies the file or symlink `src` (whose `lstat` is `meta`) to `dir/data` through
/// `dir/.data.tmp`.
fn copy_into(src: &Path, meta: &fs::Metadata, dir: &Path) -> io::Result<()> {
    let tmp = dir.join(DATA_TMP);
    let _ = fs::remove_file(&tmp);
    copy_to(src, meta, &tmp)?;
    fs::rename(&tmp, dir.join(DATA)).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// Copies the file or symlink `src` (whose `lstat` is `meta`) to the new path `dst`
/// (`AlreadyExists` if taken) with its mode (files) and times; never follows a symlink.
/// A failed copy is removed.
fn copy_to(src: &Path, meta: &fs::Metadata, dst: &Path) -> io::Result<()> {
    let atime = FileTime::from_last_access_time(meta);
    let mtime = FileTime::from_last_modification_time(meta);
    if meta.file_type().is_symlink() {
        let target = fs::read_link(src)?;
        std::os::unix::fs::symlink(&target, dst)?;
        return filetime::set_symlink_file_times(dst, atime, mtime).inspect_err(|_| {
            let _ = fs::remove_file(dst);
        });
    }
    let mut from = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(src)?;
    if !from.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is no longer a regular file",
        ));
    }
    let mut to = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(dst)?;
    let copied = (|| {
        io::copy(&mut from, &mut to)?;
        to.set_permissions(fs::Permissions::from_mode(meta.mode() & MODE_BITS))?;
        filetime::set_file_handle_times(&to, Some(atime), Some(mtime))
    })();
    if copied.is_err() {
        drop(to);
        let _ = fs::remove_file(dst);
    }
    copied
}

/// Whether `rename_exchange` failed because the kernel or file system cannot exchange.
fn exchange_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)
    )
}

/// Exchanges `a` and `b` atomically (`renameat2(RENAME_EXCHANGE)`); both must exist.
/// Elsewhere than on Linux: `EOPNOTSUPP`.
fn rename_exchange(a: &Path, b: &Path) -> io::Result<()> {
    #[cfg(test)]
    if tests::NO_EXCHANGE.with(|off| off.get()) {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    #[cfg(target_os = "linux")]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let c = |p: &Path| {
            CString::new(p.as_os_str().as_bytes())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a path"))
        };
        let (c_a, c_b) = (c(a)?, c(b)?);
        // SAFETY: both are valid NUL-terminated strings that outlive the call.
        let result = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                c_a.as_ptr(),
                libc::AT_FDCWD,
                c_b.as_ptr(),
                libc::RENAME_EXCHANGE,
            )
        };
        if result == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (a, b);
        Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        /// Makes `rename_exchange` fail as on a file system without `RENAME_EXCHANGE`.
        pub(super) static NO_EXCHANGE: Cell<bool> = const { Cell::new(false) };
    }

    fn p(path: &str) -> RelPath {
        RelPath::new(path).unwrap()
    }

    /// A restore over a file, and over another link of the item's own file, with and
    /// without `RENAME_EXCHANGE`: the file that was there is kept, the restored version
    /// is in place, no temporary is left.
    #[test]
    fn a_restore_keeps_what_it_replaces_with_or_without_exchange() {
        for no_exchange in [false, true] {
            NO_EXCHANGE.with(|off| off.set(no_exchange));
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().join("app");
            fs::create_dir(&root).unwrap();
            let trash = Trash::new(&dir.path().join(".ferry"));
            let at = p("a.txt");
            let here = Place {
                sync: "web",
                root: &root,
                path: &at,
            };
            fs::write(root.join("a.txt"), b"one").unwrap();
            let one = trash.take(&here, Reason::DeletedInContainer).unwrap();
            fs::write(root.join("a.txt"), b"two!").unwrap();
            let restored = trash.restore(&one.id, None).unwrap();
            assert_eq!(fs::read(root.join("a.txt")).unwrap(), b"one");
            let two = restored.replaced.expect("kept");
            assert_eq!(two.size, 4, "no_exchange={no_exchange}");
            assert_eq!(
                fs::read(trash.data_path(&two.id).unwrap()).unwrap(),
                b"two!"
            );

            // A kept version whose replacement never happened: the same inode at both
            // ends. The content stays and is kept once more.
            let kept = trash
                .keep(&here, Reason::OverwrittenByDownload)
                .unwrap()
                .unwrap();
            let restored = trash.restore(&kept.id, None).unwrap();
            assert_eq!(fs::read(root.join("a.txt")).unwrap(), b"one");
            assert!(restored.replaced.is_some());
            let names: Vec<_> = fs::read_dir(&root)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(
                names,
                ["a.txt"],
                "no temporary left (no_exchange={no_exchange})"
            );
            assert_eq!(trash.list().unwrap().len(), 2);
        }
        NO_EXCHANGE.with(|off| off.set(false));
    }
}
