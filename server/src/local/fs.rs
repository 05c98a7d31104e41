//! Carrying a plan's local actions out: [`read_file`] (for uploads), [`write_file`],
//! [`begin_write`] (a [`TempFile`] that content streams into) and [`write_symlink`]
//! (downloads), [`mkdir`], [`remove_to_trash`] (and [`remove`], which unlinks),
//! [`rename`]; ferry's temporary names ([`temp_name`], [`is_temp_name`]).
//!
//! Every function works below `root` and refuses ([`LocalErrorKind::SymlinkInPath`])
//! when a folder on the way to the path, inside the root, is a symlink or not a folder:
//! each component is checked with `lstat` first. The last component is never followed
//! either (`O_NOFOLLOW`, `rename`, `unlink`). The check and the operation are separate
//! system calls, so a local process racing ferry could still swap a folder for a symlink
//! in between; what the check rules out is a container steering ferry's own writes
//! through a symlink it sent earlier.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use filetime::FileTime;

use crate::core::{Deletion, Entry, EntryKind, RelPath};

use super::error::{LocalError, LocalErrorKind};
use super::scan::{entry_at, entry_from_metadata};
use super::trash::{Place, Reason, Trash, TrashItem};

/// The permission bits [`write_file`] sets: `0o7777` without set-user-ID and
/// set-group-ID. A container must not be able to make a local program that runs as the
/// local user for whoever starts it.
const WRITTEN_MODE_BITS: u32 = 0o1777;

/// How often [`read_file`] reads a file that changes while it is read.
const READ_ATTEMPTS: usize = 5;

/// The marker in ferry's temporary names.
const TEMP_MARKER: &str = ".ferry-tmp-";

/// The longest file name most file systems accept, in bytes.
const NAME_MAX: usize = 255;

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Reads the regular file at `path` for an upload, with the entry that describes exactly
/// the bytes returned.
///
/// The file is `lstat`ed, read and `lstat`ed again; if the two disagree (size, mtime or
/// inode) or the byte count is not the size, it changed while being read and is read
/// again, up to 5 times.
///
/// # Errors
///
/// [`LocalErrorKind::NotFound`] if it is missing, [`LocalErrorKind::IsDir`] for a folder,
/// [`LocalErrorKind::Changed`] if it is no longer a regular file (a symlink, FIFO, …) or
/// kept changing, [`LocalErrorKind::SymlinkInPath`], or the I/O error.
pub fn read_file(root: &Path, path: &RelPath) -> Result<(Entry, Vec<u8>), LocalError> {
    const DURING: &str = "reading the file";
    if !check_ancestors(root, path, false, DURING)? {
        return Err(LocalError::new(
            path,
            LocalErrorKind::NotFound,
            "the file does not exist any more (its folder was removed)",
        ));
    }
    let abs = root.join(path.as_str());
    for _ in 0..READ_ATTEMPTS {
        let before = fs::symlink_metadata(&abs).map_err(|e| LocalError::io(path, DURING, e))?;
        if before.is_dir() {
            return Err(LocalError::new(
                path,
                LocalErrorKind::IsDir,
                "it is a folder now, not a file; the next scan picks the change up",
            ));
        }
        if !before.is_file() {
            return Err(not_a_file_any_more(path));
        }
        // O_NONBLOCK: a file swapped for a FIFO after the lstat must not block the read.
        let mut file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&abs)
            .map_err(|e| match LocalErrorKind::of(&e) {
                LocalErrorKind::SymlinkInPath => not_a_file_any_more(path),
                _ => LocalError::io(path, DURING, e),
            })?;
        let opened = file
            .metadata()
            .map_err(|e| LocalError::io(path, DURING, e))?;
        if !opened.is_file() {
            return Err(not_a_file_any_more(path));
        }
        let mut bytes = Vec::with_capacity(opened.len() as usize);
        file.read_to_end(&mut bytes)
            .map_err(|e| LocalError::io(path, DURING, e))?;
        drop(file);
        let after = match fs::symlink_metadata(&abs) {
            Ok(after) => after,
            Err(e) => return Err(LocalError::io(path, DURING, e)),
        };
        let same = |a: &fs::Metadata, b: &fs::Metadata| {
            a.ino() == b.ino()
                && a.dev() == b.dev()
                && a.size() == b.size()
                && a.mtime() == b.mtime()
                && a.mtime_nsec() == b.mtime_nsec()
        };
        if same(&before, &opened) && same(&opened, &after) && bytes.len() as u64 == after.size() {
            return Ok((entry_from_metadata(&after, None), bytes));
        }
    }
    Err(LocalError::new(
        path,
        LocalErrorKind::Changed,
        format!(
            "the file changed every time it was read ({READ_ATTEMPTS} attempts); it is \
             uploaded once it stops changing"
        ),
    ))
}

/// Writes a downloaded file atomically and returns its entry as `lstat` sees it
/// afterwards.
///
/// Creates missing parent folders, writes `contents` to a temporary file in the same
/// folder (named by [`temp_name`]), sets its permission bits to `mode & 0o1777`
/// (set-user-ID and set-group-ID are never set), its mtime to `mtime_ns` (nanoseconds
/// since the epoch) and its atime to the same, then renames it over `path`, replacing a
/// file or symlink there. On any failure the temporary file is removed. The data is not
/// `fsync`ed. The same as [`begin_write`], writing, then [`TempFile::commit`].
///
/// # Errors
///
/// [`LocalErrorKind::IsDir`] if a folder is at `path` (nothing is written),
/// [`LocalErrorKind::SymlinkInPath`], or the I/O error.
pub fn write_file(
    root: &Path,
    path: &RelPath,
    contents: &[u8],
    mode: u32,
    mtime_ns: i64,
) -> Result<Entry, LocalError> {
    let mut tmp = begin_write(root, path)?;
    tmp.write_all(contents)
        .map_err(|e| LocalError::io(path, WRITING, e))?;
    tmp.commit(mode, mtime_ns)
}

const WRITING: &str = "writing the file";

/// A file being written next to its target, under a temporary name ([`temp_name`],
/// invisible to scans and watchers), made by [`begin_write`]. Write the content through
/// [`Write`], then [`commit`](TempFile::commit) it over the target, or
/// [`commit_as`](TempFile::commit_as) a new name in the same folder. Dropped
/// uncommitted, it removes the temporary file: nothing of it stays.
#[derive(Debug)]
pub struct TempFile {
    path: RelPath,
    abs: PathBuf,
    tmp: PathBuf,
    file: Option<fs::File>,
}

/// Starts writing a file for `path` below `root`: checks the way to it (creating
/// missing folders, never through a symlink) and that no folder is at `path`, and
/// creates the temporary file next to it (mode `0o600`, `O_NOFOLLOW`). Nothing at
/// `path` changes until [`TempFile::commit`].
///
/// # Errors
///
/// [`LocalErrorKind::IsDir`] if a folder is at `path`, [`LocalErrorKind::SymlinkInPath`],
/// or the I/O error.
pub fn begin_write(root: &Path, path: &RelPath) -> Result<TempFile, LocalError> {
    let abs = prepare_target(root, path, WRITING)?;
    let (tmp, file) = create_temp(&abs, path, |tmp| {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(tmp)
    })?;
    Ok(TempFile {
        path: path.clone(),
        abs,
        tmp,
        file: Some(file),
    })
}

impl Write for TempFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.file {
            Some(f) => f.write(buf),
            None => Err(io::Error::other("the temporary file was already closed")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl TempFile {
    /// The path this file is for.
    pub fn path(&self) -> &RelPath {
        &self.path
    }

    /// Sets the permission bits (`mode & 0o1777`: never set-user-ID or set-group-ID),
    /// the mtime and atime (`mtime_ns`), and renames the file over its path, replacing a
    /// file or symlink there. Returns the entry as `lstat` sees it afterwards. On
    /// failure the temporary file is removed.
    ///
    /// # Errors
    ///
    /// The I/O error (e.g. a folder appeared at the path).
    pub fn commit(mut self, mode: u32, mtime_ns: i64) -> Result<Entry, LocalError> {
        let path = self.path.clone();
        let abs = self.abs.clone();
        let written = self
            .finish_file(mode, mtime_ns)
            .and_then(|()| fs::rename(&self.tmp, &abs));
        self.landed(&path, &abs, written)
    }

    /// Like [`commit`](TempFile::commit), but under `other`, a name in the same folder
    /// (a conflict copy), and never replacing anything there.
    ///
    /// # Errors
    ///
    /// [`LocalErrorKind::Changed`] if something is at `other`,
    /// [`LocalErrorKind::SymlinkInPath`] if it is not in the same folder, or the I/O
    /// error.
    pub fn commit_as(
        mut self,
        other: &RelPath,
        mode: u32,
        mtime_ns: i64,
    ) -> Result<Entry, LocalError> {
        if other.parent() != self.path.parent() {
            return Err(LocalError::new(
                other,
                LocalErrorKind::SymlinkInPath,
                format!("{WRITING} refused: it must be next to {}", self.path),
            ));
        }
        let abs = self.abs.with_file_name(other.name());
        let written = self
            .finish_file(mode, mtime_ns)
            .and_then(|()| rename_no_replace(&self.tmp, &abs));
        if matches!(&written, Err(e) if e.kind() == io::ErrorKind::AlreadyExists) {
            // Dropping `self` removes the temporary file.
            return Err(LocalError::new(
                other,
                LocalErrorKind::Changed,
                format!("{WRITING} failed: something is already there; ferry does not replace it"),
            ));
        }
        self.landed(other, &abs, written)
    }

    /// Closes the file with its mode and mtime but commits it nowhere: returns the
    /// temporary file's absolute path, now the caller's (e.g. to move it into the trash
    /// with [`super::Trash::adopt`]; a temporary name is invisible to scans and watchers
    /// meanwhile).
    ///
    /// # Errors
    ///
    /// The I/O error (the temporary file is removed).
    pub fn into_temp(mut self, mode: u32, mtime_ns: i64) -> Result<PathBuf, LocalError> {
        match self.finish_file(mode, mtime_ns) {
            Ok(()) => Ok(std::mem::take(&mut self.tmp)),
            Err(e) => Err(LocalError::io(&self.path, WRITING, e)),
        }
    }

    /// Sets mode and times on the open file and closes it.
    fn finish_file(&mut self, mode: u32, mtime_ns: i64) -> io::Result<()> {
        let file = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("the temporary file was already closed"))?;
        file.set_permissions(fs::Permissions::from_mode(mode & WRITTEN_MODE_BITS))?;
        let time = file_time(mtime_ns);
        filetime::set_file_handle_times(&file, Some(time), Some(time))
    }

    /// After the rename (`written`): the entry at `abs`, or the error (the temporary
    /// is removed by `drop`).
    fn landed(
        mut self,
        path: &RelPath,
        abs: &Path,
        written: io::Result<()>,
    ) -> Result<Entry, LocalError> {
        let tmp = std::mem::take(&mut self.tmp);
        finish(path, &tmp, abs, written, WRITING)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        self.file = None;
        if !self.tmp.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Writes a downloaded symlink atomically (a temporary symlink renamed over `path`,
/// replacing a file or symlink there) with mtime `mtime_ns`, and returns its entry as
/// `lstat` sees it afterwards. Creates missing parent folders. The target is stored as
/// given and never followed.
///
/// # Errors
///
/// As [`write_file`].
pub fn write_symlink(
    root: &Path,
    path: &RelPath,
    target: &str,
    mtime_ns: i64,
) -> Result<Entry, LocalError> {
    const DURING: &str = "writing the symlink";
    let abs = prepare_target(root, path, DURING)?;
    let (tmp, ()) = create_temp(&abs, path, |tmp| std::os::unix::fs::symlink(target, tmp))?;
    let written = (|| {
        let time = file_time(mtime_ns);
        filetime::set_symlink_file_times(&tmp, time, time)?;
        fs::rename(&tmp, &abs)
    })();
    finish(path, &tmp, &abs, written, DURING)
}

/// Creates the folder `path` and its missing parents; an existing folder is fine.
/// Returns its entry as `lstat` sees it.
///
/// # Errors
///
/// [`LocalErrorKind::Changed`] if a file or symlink is at `path`,
/// [`LocalErrorKind::SymlinkInPath`] if one is on the way to it, or the I/O error.
pub fn mkdir(root: &Path, path: &RelPath) -> Result<Entry, LocalError> {
    const DURING: &str = "creating the folder";
    check_ancestors(root, path, true, DURING)?;
    let abs = root.join(path.as_str());
    make_dir(&abs, path, DURING)?;
    let meta = fs::symlink_metadata(&abs).map_err(|e| LocalError::io(path, DURING, e))?;
    Ok(entry_from_metadata(&meta, None))
}

/// Carries a [`Deletion`] out locally by unlinking, and returns what was kept (empty
/// when everything listed is gone). The rules are [`remove_to_trash`]'s; the only
/// difference is that nothing is kept in the trash.
///
/// Only for callers that remove nothing of the user's: tests, and paths ferry itself
/// created and holds elsewhere. The engine's deletions of local files (a deletion in the
/// container, a mirror strategy, a conflict resolution) go through [`remove_to_trash`].
pub fn remove(root: &Path, deletion: &Deletion) -> Vec<LocalError> {
    remove_with(root, deletion, None).errors
}

/// What [`remove_to_trash`] did: the items now in the trash (one per file or symlink
/// removed) and what was kept.
#[derive(Debug, Default)]
pub struct Removed {
    /// The files and symlinks moved into the trash, in the order they were removed.
    pub trashed: Vec<TrashItem>,
    /// What was not removed, and why (empty when everything listed is gone).
    pub errors: Vec<LocalError>,
}

/// Carries a [`Deletion`] out locally, moving every file and symlink it removes into
/// `trash` ([`Trash::take`], recorded under the sync path `sync` with `reason`).
///
/// First the files and symlinks (`deletion.path` itself if it is one, else those in
/// `deletion.contents`): each is removed only if it is still as listed — the same kind
/// and symlink target, and for a file the same size and mtime (to the nanosecond, or to
/// the second when the listed mtime is a whole second). Then the folders, deepest first,
/// each only if it is empty by then (folders are removed, not trashed: they hold nothing
/// once empty). A changed path is kept and reported as [`LocalErrorKind::Changed`], a
/// folder that still holds something as [`LocalErrorKind::NotEmpty`]. Paths that are
/// already gone are fine. A file that cannot be kept in the trash is not removed (the
/// error says why). A file that changed in the instant between the check and the move is
/// put back where it was (and reported as changed).
pub fn remove_to_trash(
    root: &Path,
    deletion: &Deletion,
    trash: &Trash,
    sync: &str,
    reason: Reason,
) -> Removed {
    remove_with(root, deletion, Some((trash, sync, reason)))
}

fn remove_with(root: &Path, deletion: &Deletion, trash: Option<(&Trash, &str, Reason)>) -> Removed {
    let mut out = Removed::default();
    let errors = &mut out.errors;
    match check_ancestors(root, &deletion.path, false, "deleting") {
        Ok(true) => {}
        Ok(false) => return out,
        Err(e) => {
            errors.push(e);
            return out;
        }
    }
    let listed = std::iter::once((&deletion.path, &deletion.entry)).chain(
        deletion
            .contents
            .iter()
            .map(|item| (&item.path, &item.entry)),
    );
    let (dirs, others): (Vec<_>, Vec<_>) = listed.partition(|(_, entry)| entry.is_dir());
    // Items come in tree order, so the files of one folder follow each other: its
    // ancestors are checked once for all of them.
    let mut checked_parent: Option<Option<RelPath>> = None;
    for (path, entry) in others {
        let parent = path.parent();
        if checked_parent.as_ref() != Some(&parent) {
            match check_ancestors(root, path, false, "deleting") {
                Ok(true) => checked_parent = Some(parent),
                Ok(false) => continue,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            }
        }
        match remove_unchanged(root, path, entry, trash) {
            Ok(Some(item)) => out.trashed.push(item),
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    let mut dirs: Vec<&RelPath> = dirs.into_iter().map(|(path, _)| path).collect();
    dirs.sort_by_key(|path| std::cmp::Reverse(path.depth()));
    for path in dirs {
        match check_ancestors(root, path, false, "deleting the folder") {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                errors.push(e);
                continue;
            }
        }
        if let Err(e) = remove_empty_dir(root, path) {
            errors.push(e);
        }
    }
    out
}

/// Renames `from` to `to`, creating `to`'s missing parent folders. Never replaces
/// anything: `to` must not exist.
///
/// # Errors
///
/// [`LocalErrorKind::NotFound`] if `from` is missing, [`LocalErrorKind::Changed`] if `to`
/// exists, [`LocalErrorKind::SymlinkInPath`] if a symlink is on the way to either, or the
/// I/O error.
pub fn rename(root: &Path, from: &RelPath, to: &RelPath) -> Result<(), LocalError> {
    let during = format!("renaming it to {to}");
    let from_abs = root.join(from.as_str());
    let to_abs = root.join(to.as_str());
    let from_missing = || {
        LocalError::new(
            from,
            LocalErrorKind::NotFound,
            format!("{during} failed: it does not exist (it was probably removed meanwhile)"),
        )
    };
    if !check_ancestors(root, from, false, &during)? {
        return Err(from_missing());
    }
    match fs::symlink_metadata(&from_abs) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(from_missing()),
        Err(e) => return Err(LocalError::io(from, &during, e)),
    }
    check_ancestors(root, to, true, &during).map_err(|mut e| {
        e.path = from.to_string();
        e
    })?;
    let exists = || {
        LocalError::new(
            from,
            LocalErrorKind::Changed,
            format!("{during} failed: {to} already exists; ferry does not rename over it"),
        )
    };
    if fs::symlink_metadata(&to_abs).is_ok() {
        return Err(exists());
    }
    match rename_no_replace(&from_abs, &to_abs) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(exists()),
        Err(e) => Err(LocalError::io(from, &during, e)),
    }
}

/// The temporary name [`write_file`] and [`write_symlink`] use for `name` in the same
/// folder: `.{name}.ferry-tmp-{pid}-{counter}`, with `name` shortened (at a character
/// boundary) so that the whole stays within 255 bytes. Unique within this process.
pub fn temp_name(name: &str) -> String {
    let suffix = format!(
        "{TEMP_MARKER}{}-{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let room = NAME_MAX - 1 - suffix.len();
    let mut end = name.len().min(room);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!(".{}{suffix}", &name[..end])
}

/// Whether the file name `name` (one component) is one of ferry's temporary names
/// ([`temp_name`]): `.`, anything, `.ferry-tmp-`, digits, `-`, digits.
pub fn is_temp_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('.') else {
        return false;
    };
    let Some(at) = rest.rfind(TEMP_MARKER) else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match rest[at + TEMP_MARKER.len()..].split_once('-') {
        Some((pid, counter)) => digits(pid) && digits(counter),
        None => false,
    }
}

/// Whether every folder on the way to `path` inside `root` is a real folder: `Ok(false)`
/// if one is missing or a symlink or not a folder (then `path` is not part of the tree).
pub(super) fn ancestors_are_dirs(root: &Path, path: &RelPath) -> Result<bool, LocalError> {
    match check_ancestors(root, path, false, "reading it") {
        Ok(present) => Ok(present),
        Err(e) if e.kind == LocalErrorKind::SymlinkInPath => Ok(false),
        Err(e) => Err(e),
    }
}

/// Checks, with `lstat`, each folder on the way from `root` to `path` (not `path`
/// itself). `Ok(true)`: all are folders. `Ok(false)`: one is missing (only without
/// `create`; with it, missing folders are created). An error of kind
/// [`LocalErrorKind::SymlinkInPath`] for `path` if one is a symlink or not a folder.
pub(super) fn check_ancestors(
    root: &Path,
    path: &RelPath,
    create: bool,
    during: &str,
) -> Result<bool, LocalError> {
    let text = path.as_str();
    let mut abs = root.to_path_buf();
    for (slash, _) in text.match_indices('/') {
        let ancestor = &text[..slash];
        abs.push(&text[ancestor.rfind('/').map_or(0, |i| i + 1)..slash]);
        let meta = match fs::symlink_metadata(&abs) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !create {
                    return Ok(false);
                }
                make_dir(&abs, path, during).map_err(|mut e| {
                    if e.kind == LocalErrorKind::Changed {
                        e = in_the_way(path, ancestor, "not a folder", during);
                    }
                    e
                })?;
                continue;
            }
            Err(e) => return Err(LocalError::io(path, during, e)),
        };
        if meta.file_type().is_symlink() {
            return Err(in_the_way(path, ancestor, "a symlink", during));
        }
        if !meta.is_dir() {
            return Err(in_the_way(path, ancestor, "not a folder", during));
        }
    }
    Ok(true)
}

fn in_the_way(path: &RelPath, ancestor: &str, what: &str, during: &str) -> LocalError {
    LocalError::new(
        path,
        LocalErrorKind::SymlinkInPath,
        format!(
            "{during} refused: {ancestor} is {what}; ferry never goes through a symlink or \
             a file on the way to a path, so nothing was changed"
        ),
    )
}

/// Creates the folder `abs`; an existing folder is fine, anything else there is
/// [`LocalErrorKind::Changed`].
fn make_dir(abs: &Path, path: &RelPath, during: &str) -> Result<(), LocalError> {
    match fs::create_dir(abs) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match fs::symlink_metadata(abs) {
            Ok(meta) if meta.is_dir() => Ok(()),
            Ok(_) => Err(LocalError::new(
                path,
                LocalErrorKind::Changed,
                format!(
                    "{during} failed: a file or symlink is there; ferry does not replace it \
                     with a folder"
                ),
            )),
            Err(e) => Err(LocalError::io(path, during, e)),
        },
        Err(e) => Err(LocalError::io(path, during, e)),
    }
}

/// Checks the way to `path` (creating missing folders) and that no folder is at `path`;
/// returns the absolute path.
fn prepare_target(root: &Path, path: &RelPath, during: &str) -> Result<PathBuf, LocalError> {
    check_ancestors(root, path, true, during)?;
    let abs = root.join(path.as_str());
    match fs::symlink_metadata(&abs) {
        Ok(meta) if meta.is_dir() => Err(LocalError::new(
            path,
            LocalErrorKind::IsDir,
            format!(
                "{during} failed: a folder is in the way; ferry does not replace a folder \
                 with a file, so nothing was written"
            ),
        )),
        Ok(_) => Ok(abs),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(abs),
        Err(e) => Err(LocalError::io(path, during, e)),
    }
}

/// Creates a temporary next to `abs` with `create` (which must fail with
/// `AlreadyExists` when the name is taken), trying fresh names a few times.
fn create_temp<T>(
    abs: &Path,
    path: &RelPath,
    create: impl Fn(&Path) -> io::Result<T>,
) -> Result<(PathBuf, T), LocalError> {
    let dir = abs.parent().expect("a path below the root has a parent");
    let mut last = None;
    for _ in 0..8 {
        let tmp = dir.join(temp_name(path.name()));
        match create(&tmp) {
            Ok(made) => return Ok((tmp, made)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => {
                return Err(LocalError::io(
                    path,
                    "creating a temporary file next to it",
                    e,
                ))
            }
        }
    }
    let e = last.expect("the loop ran");
    Err(LocalError::io(
        path,
        "creating a temporary file next to it",
        e,
    ))
}

/// After the temporary was written and renamed (`written`): on failure removes the
/// temporary and reports; on success returns the entry now at `path`.
fn finish(
    path: &RelPath,
    tmp: &Path,
    abs: &Path,
    written: io::Result<()>,
    during: &str,
) -> Result<Entry, LocalError> {
    if let Err(e) = written {
        let _ = fs::remove_file(tmp);
        return Err(LocalError::io(path, during, e));
    }
    let meta = fs::symlink_metadata(abs).map_err(|e| LocalError::io(path, during, e))?;
    entry_at(path.as_str(), abs, &meta)?.ok_or_else(|| not_a_file_any_more(path))
}

fn file_time(mtime_ns: i64) -> FileTime {
    FileTime::from_unix_time(
        mtime_ns.div_euclid(1_000_000_000),
        mtime_ns.rem_euclid(1_000_000_000) as u32,
    )
}

fn not_a_file_any_more(path: &RelPath) -> LocalError {
    LocalError::new(
        path,
        LocalErrorKind::Changed,
        "it is no longer a regular file (a symlink, FIFO, socket or device now); the next \
         scan picks the change up",
    )
}

/// Removes the file or symlink at `path` if it is still as `listed`: unlinks it, or with
/// `trash` moves it there (and returns the item).
fn remove_unchanged(
    root: &Path,
    path: &RelPath,
    listed: &Entry,
    trash: Option<(&Trash, &str, Reason)>,
) -> Result<Option<TrashItem>, LocalError> {
    const DURING: &str = "deleting it";
    let abs = root.join(path.as_str());
    let meta = match fs::symlink_metadata(&abs) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LocalError::io(path, DURING, e)),
    };
    let current = match entry_at(path.as_str(), &abs, &meta) {
        Ok(current) => current,
        Err(e) if e.kind == LocalErrorKind::NotFound => return Ok(None),
        Err(e) if e.kind == LocalErrorKind::InvalidName => None,
        Err(e) => return Err(e),
    };
    if !current
        .as_ref()
        .is_some_and(|current| unchanged(listed, current))
    {
        return Err(changed_since_listed(path, current.as_ref()));
    }
    let Some((trash, sync, reason)) = trash else {
        return match fs::remove_file(&abs) {
            Ok(()) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(LocalError::io(path, DURING, e)),
        };
    };
    let place = Place { sync, root, path };
    let item = match trash.take(&place, reason) {
        Ok(item) => item,
        Err(e) if e.kind == LocalErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(LocalError {
                message: format!(
                    "not deleted: it could not be kept in the trash first ({}); it is kept",
                    e.message
                ),
                ..e
            })
        }
    };
    let taken = item.entry();
    if unchanged(listed, &taken) {
        return Ok(Some(item));
    }
    // It changed between the check and the move: put it back, it is a change to sync.
    match trash.restore(&item.id, None) {
        Ok(_) => Err(changed_since_listed(path, Some(&taken))),
        Err(e) => Err(LocalError::new(
            path,
            LocalErrorKind::Changed,
            format!(
                "it changed while it was being deleted and could not be put back ({}); it is \
                 in the trash: `ferry restore {}` brings it back",
                e.message, item.id
            ),
        )),
    }
}

fn changed_since_listed(path: &RelPath, current: Option<&Entry>) -> LocalError {
    LocalError::new(
        path,
        LocalErrorKind::Changed,
        format!(
            "not deleted: it changed since it was listed for deletion (now {}); it is kept \
             and synced as a change",
            describe(current)
        ),
    )
}

/// Removes the folder at `path` if it is (still a folder and) empty.
fn remove_empty_dir(root: &Path, path: &RelPath) -> Result<(), LocalError> {
    const DURING: &str = "deleting the folder";
    let abs = root.join(path.as_str());
    match fs::symlink_metadata(&abs) {
        Ok(meta) if meta.is_dir() => {}
        Ok(meta) => {
            let current = entry_at(path.as_str(), &abs, &meta).ok().flatten();
            return Err(LocalError::new(
                path,
                LocalErrorKind::Changed,
                format!(
                    "not deleted: it is no longer a folder (now {}); it is kept",
                    describe(current.as_ref())
                ),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(LocalError::io(path, DURING, e)),
    }
    match fs::remove_dir(&abs) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e)
            if e.raw_os_error() == Some(libc::ENOTEMPTY)
                || e.raw_os_error() == Some(libc::EEXIST) =>
        {
            Err(LocalError::new(
                path,
                LocalErrorKind::NotEmpty,
                "not deleted: the folder still holds something that was not deleted (changed, \
                 new, or not synced); it is kept",
            ))
        }
        Err(e) => Err(LocalError::io(path, DURING, e)),
    }
}

/// Whether `current` is still the version `listed` for deletion.
fn unchanged(listed: &Entry, current: &Entry) -> bool {
    match &listed.kind {
        EntryKind::File => {
            current.kind == EntryKind::File
                && current.size == listed.size
                && same_mtime(listed.mtime, current.mtime)
        }
        EntryKind::Symlink(_) | EntryKind::Dir => current.kind == listed.kind,
    }
}

/// Exact nanoseconds, or the same second when `listed` is a whole second (a side that
/// knows only seconds).
fn same_mtime(listed: i64, current: i64) -> bool {
    const NS: i64 = 1_000_000_000;
    listed == current
        || (listed.rem_euclid(NS) == 0 && listed.div_euclid(NS) == current.div_euclid(NS))
}

fn describe(entry: Option<&Entry>) -> String {
    match entry.map(|e| &e.kind) {
        None => "something that is not a file, folder or symlink".to_string(),
        Some(EntryKind::Dir) => "a folder".to_string(),
        Some(EntryKind::Symlink(target)) => format!("a symlink to {target:?}"),
        Some(EntryKind::File) => {
            let entry = entry.expect("matched Some");
            format!("a file of {} bytes, mtime {} ns", entry.size, entry.mtime)
        }
    }
}

/// `rename` that fails with `AlreadyExists` instead of replacing `to`: `renameat2` with
/// `RENAME_NOREPLACE` where the kernel and file system support it; elsewhere the caller's
/// existence check is all there is.
pub(super) fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let c = |p: &Path| {
            CString::new(p.as_os_str().as_bytes())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a path"))
        };
        let (c_from, c_to) = (c(from)?, c(to)?);
        // SAFETY: both are valid NUL-terminated strings that outlive the call.
        let result = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                c_from.as_ptr(),
                libc::AT_FDCWD,
                c_to.as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        };
        if result == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP) => {}
            _ => return Err(e),
        }
    }
    fs::rename(from, to)
}
