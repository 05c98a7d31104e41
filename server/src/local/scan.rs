//! Reading the local tree into a [`Snapshot`]: [`scan()`] for the whole root,
//! [`scan_below`] for one subtree, [`stat`] for one path.
//!
//! One `readdir` per folder and one `lstat` per path (`fstatat` relative to the open
//! folder), a `readlink` per symlink; no content is read. Symlinks are recorded as links,
//! never followed. Sockets, FIFOs and device files are left out (they have no content to
//! sync), and so are ferry's own temporary files ([`super::is_temp_name`]).

use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::core::{Entry, EntryKind, PathError, RelPath, Snapshot};

use super::error::{LocalError, LocalErrorKind};
use super::fs::{ancestors_are_dirs, is_temp_name};

/// The result of a scan: what was found, and what could not be read.
///
/// A path named in `errors` says nothing about its subtree: an unreadable folder is in
/// the snapshot without its contents, an invalid name is left out with its subtree. Such
/// paths are unknown, not absent — [`Scan::is_unknown`] tells which, so that the engine
/// never reads them as deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// Every path found (the root itself is not in it).
    pub snapshot: Snapshot,
    /// The paths that could not be scanned, one error each.
    pub errors: Vec<LocalError>,
    /// Symlinks the sync path does not sync (left out of `snapshot` by the engine), each
    /// with why: unknown like an error's path, but not a failure.
    pub skipped_links: Vec<LocalError>,
}

impl Scan {
    /// Whether the scan cannot tell what is at `path`: an error was reported for `path`
    /// itself or for one of its ancestors.
    pub fn is_unknown(&self, path: &RelPath) -> bool {
        let path = path.as_str();
        self.errors.iter().chain(&self.skipped_links).any(|e| {
            e.path.is_empty()
                || path == e.path
                || (path.starts_with(e.path.as_str()) && path.as_bytes()[e.path.len()] == b'/')
        })
    }
}

/// Walks the tree at `root` and returns every file, folder and symlink below it.
///
/// `skip(path, is_dir)` returning true leaves `path` out, and for a folder also
/// everything under it (it is not read). Names that are not a valid [`RelPath`]
/// (newline, invalid UTF-8, …) are left out with their subtree and reported as
/// [`LocalErrorKind::InvalidName`]; a folder that cannot be read is in the snapshot
/// without its contents and reported; the rest of the tree is scanned either way.
///
/// Entries: `kind`; `size` as `lstat` reports it (0 for folders, the target's length
/// for symlinks); `mtime` in nanoseconds since the epoch (full precision); `mode` =
/// `st_mode & 0o7777`; no hash.
///
/// # Errors
///
/// Only when the root itself cannot be read (missing, not a folder, no permission).
pub fn scan(root: &Path, skip: &dyn Fn(&RelPath, bool) -> bool) -> Result<Scan, LocalError> {
    let meta = fs::metadata(root).map_err(|e| root_error(root, e))?;
    if !meta.is_dir() {
        return Err(LocalError::new(
            "",
            LocalErrorKind::Io,
            format!(
                "the sync folder {} is not a folder; point the sync path at a folder",
                root.display()
            ),
        ));
    }
    let children = fs::read_dir(root).map_err(|e| root_error(root, e))?;
    let mut walker = Walker {
        skip,
        scan: Scan::default(),
        pending: Vec::new(),
    };
    walker.read_children(root, None, children);
    walker.run();
    Ok(walker.scan)
}

/// Scans the subtree at `path`, `path` itself included, as [`scan()`] would see it.
///
/// An empty scan when `path` does not exist, when a folder on the way to it is a symlink
/// or not a folder (then it is not part of the tree), when `skip(path, is_dir)` is true,
/// and when its name is one of ferry's temporary names. Failures are in
/// [`Scan::errors`].
pub fn scan_below(root: &Path, path: &RelPath, skip: &dyn Fn(&RelPath, bool) -> bool) -> Scan {
    let mut walker = Walker {
        skip,
        scan: Scan::default(),
        pending: Vec::new(),
    };
    match stat_with_meta(root, path) {
        Ok(None) => {}
        Err(e) => walker.scan.errors.push(e),
        Ok(Some((entry, _))) if (walker.skip)(path, entry.is_dir()) => {}
        Ok(Some((entry, abs))) => {
            if entry.is_dir() {
                walker.pending.push((abs, path.clone()));
            }
            walker.scan.snapshot.insert(path.clone(), entry);
            walker.run();
        }
    }
    walker.scan
}

/// The entry at `path` as a scan would record it (`lstat`, never following a symlink).
///
/// `Ok(None)` when the path does not exist, when a folder on the way to it is a symlink
/// or not a folder (it is not part of the tree then), for a socket, FIFO or device file,
/// and for one of ferry's temporary names.
///
/// # Errors
///
/// The `lstat` or `readlink` failed; [`LocalErrorKind::InvalidName`] for a symlink whose
/// target is not valid UTF-8.
pub fn stat(root: &Path, path: &RelPath) -> Result<Option<Entry>, LocalError> {
    Ok(stat_with_meta(root, path)?.map(|(entry, _)| entry))
}

/// The [`Entry`] for `meta` (from `lstat`): a symlink gets `link_target` (the empty
/// string if `None`), a folder size 0; `mtime` in nanoseconds since the epoch; `mode` =
/// `st_mode & 0o7777`; no hash. Anything that is neither a folder nor a symlink is
/// described as a file.
pub fn entry_from_metadata(meta: &Metadata, link_target: Option<String>) -> Entry {
    let file_type = meta.file_type();
    let (kind, size) = if file_type.is_symlink() {
        (
            EntryKind::Symlink(link_target.unwrap_or_default()),
            meta.len(),
        )
    } else if file_type.is_dir() {
        (EntryKind::Dir, 0)
    } else {
        (EntryKind::File, meta.len())
    };
    Entry {
        kind,
        size,
        mtime: meta
            .mtime()
            .saturating_mul(1_000_000_000)
            .saturating_add(meta.mtime_nsec()),
        mode: meta.mode() & 0o7777,
        hash: None,
    }
}

/// The entry for the path `abs` (shown as `rel` in errors) whose `lstat` is `meta`:
/// reads a symlink's target; `Ok(None)` for a socket, FIFO or device file.
pub(super) fn entry_at(
    rel: &str,
    abs: &Path,
    meta: &Metadata,
) -> Result<Option<Entry>, LocalError> {
    let file_type = meta.file_type();
    if file_type.is_symlink() {
        let target =
            fs::read_link(abs).map_err(|e| LocalError::io(rel, "reading the symlink", e))?;
        match target.into_os_string().into_string() {
            Ok(target) => Ok(Some(entry_from_metadata(meta, Some(target)))),
            Err(target) => Err(LocalError::new(
                rel,
                LocalErrorKind::InvalidName,
                format!(
                    "the symlink's target {:?} is not valid UTF-8; ferry syncs only links \
                     whose target is text, so this one is not synced",
                    target.to_string_lossy()
                ),
            )),
        }
    } else if file_type.is_dir() || file_type.is_file() {
        Ok(Some(entry_from_metadata(meta, None)))
    } else {
        Ok(None)
    }
}

/// [`stat`], also returning the absolute path.
fn stat_with_meta(root: &Path, path: &RelPath) -> Result<Option<(Entry, PathBuf)>, LocalError> {
    if is_temp_name(path.name()) || !ancestors_are_dirs(root, path)? {
        return Ok(None);
    }
    let abs = root.join(path.as_str());
    let meta = match fs::symlink_metadata(&abs) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LocalError::io(path, "reading its metadata", e)),
    };
    Ok(entry_at(path.as_str(), &abs, &meta)?.map(|entry| (entry, abs)))
}

fn root_error(root: &Path, e: io::Error) -> LocalError {
    let mut error = LocalError::io("", "reading the sync folder", e);
    error.message = match error.kind {
        LocalErrorKind::NotFound => format!(
            "the sync folder {} does not exist; create it or fix the sync path",
            root.display()
        ),
        _ => format!("{} ({})", error.message, root.display()),
    };
    error
}

/// A depth-first walk; folders still to read wait in `pending`.
struct Walker<'a> {
    skip: &'a dyn Fn(&RelPath, bool) -> bool,
    scan: Scan,
    pending: Vec<(PathBuf, RelPath)>,
}

impl Walker<'_> {
    fn run(&mut self) {
        while let Some((abs, rel)) = self.pending.pop() {
            match fs::read_dir(&abs) {
                Ok(children) => self.read_children(&abs, Some(&rel), children),
                Err(e) => self.scan.errors.push(unreadable_folder(&rel, e)),
            }
        }
    }

    /// Records the children of the folder `rel` (the root for `None`) at `abs`.
    fn read_children(&mut self, abs: &Path, rel: Option<&RelPath>, children: fs::ReadDir) {
        for child in children {
            let child = match child {
                Ok(child) => child,
                Err(e) => {
                    let rel = rel.map(RelPath::as_str).unwrap_or("");
                    self.scan.errors.push(unreadable_folder(rel, e));
                    break;
                }
            };
            let name = child.file_name();
            let path = match name.to_str() {
                Some(text) => match rel {
                    Some(rel) => rel.join(text),
                    None => RelPath::new(text),
                },
                None => Err(PathError::NotUtf8 {
                    lossy: lossy_join(rel, &name.to_string_lossy()),
                }),
            };
            let path = match path {
                Ok(path) => path,
                Err(e) => {
                    let lossy = lossy_join(rel, &name.to_string_lossy());
                    self.scan.errors.push(LocalError::new(
                        lossy,
                        LocalErrorKind::InvalidName,
                        e.to_string(),
                    ));
                    continue;
                }
            };
            // The type comes from the folder listing (no system call on most file
            // systems); it decides `skip` before the `lstat` is paid for.
            let is_dir = match child.file_type() {
                Ok(file_type) => file_type.is_dir(),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    self.scan
                        .errors
                        .push(LocalError::io(&path, "reading its type", e));
                    continue;
                }
            };
            if (!is_dir && is_temp_name(path.name())) || (self.skip)(&path, is_dir) {
                continue;
            }
            // `DirEntry::metadata` does not follow symlinks (`fstatat` with
            // `AT_SYMLINK_NOFOLLOW` relative to the open folder).
            let meta = match child.metadata() {
                Ok(meta) => meta,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    self.scan
                        .errors
                        .push(LocalError::io(&path, "reading its metadata", e));
                    continue;
                }
            };
            let child_abs = abs.join(&name);
            match entry_at(path.as_str(), &child_abs, &meta) {
                Ok(Some(entry)) => {
                    if entry.is_dir() {
                        self.pending.push((child_abs, path.clone()));
                    }
                    self.scan.snapshot.insert(path, entry);
                }
                Ok(None) => {}
                Err(e) if e.kind == LocalErrorKind::NotFound => {}
                Err(e) => self.scan.errors.push(e),
            }
        }
    }
}

fn lossy_join(parent: Option<&RelPath>, name: &str) -> String {
    match parent {
        Some(parent) => format!("{parent}/{name}"),
        None => name.to_string(),
    }
}

fn unreadable_folder(rel: impl AsRef<str>, e: io::Error) -> LocalError {
    let mut error = LocalError::io(rel, "reading the folder", e);
    error
        .message
        .push_str("; its contents are not synced until it can be read");
    error
}
