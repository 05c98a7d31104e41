//! [`LocalError`]: one thing that went wrong with one local path, with its
//! [`LocalErrorKind`] for the engine and a message for the user.

use std::io;

/// What kind of failure a [`LocalError`] is; the engine decides by it (retry, report,
/// rescan), the user reads the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LocalErrorKind {
    /// The name cannot be synced: not a valid [`crate::core::RelPath`] (newline, invalid
    /// UTF-8, …), or a symlink whose target is not valid UTF-8.
    InvalidName,
    /// The path does not exist (`ENOENT`).
    NotFound,
    /// The operating system refused access (`EACCES`, `EPERM`).
    PermissionDenied,
    /// A directory is where a file or symlink was expected (`EISDIR`).
    IsDir,
    /// A directory still holds something, so it was not removed (`ENOTEMPTY`).
    NotEmpty,
    /// The path is no longer as the caller expected: a file changed since it was listed
    /// for deletion, a file kept changing while it was read, a path exists where it must
    /// not (rename target, a file where a folder is to be created).
    Changed,
    /// A folder on the way to the path (inside the root) is a symlink or not a directory;
    /// ferry never reads, writes, renames or deletes through it (also `ELOOP`, `ENOTDIR`).
    SymlinkInPath,
    /// The device is full or the disk quota is exceeded (`ENOSPC`, `EDQUOT`).
    NoSpace,
    /// Any other I/O failure; the message has the operating system's text.
    Io,
    /// A symlink the sync path's `symlinks:` mode does not sync: left alone, and unknown
    /// to the planners (nothing replaces or deletes what the other side has there).
    SkippedLink,
}

impl LocalErrorKind {
    /// The kind of an I/O error, by its `errno` where it has one, else by its
    /// [`io::ErrorKind`].
    pub fn of(e: &io::Error) -> LocalErrorKind {
        if let Some(errno) = e.raw_os_error() {
            return match errno {
                libc::EACCES | libc::EPERM => LocalErrorKind::PermissionDenied,
                libc::ENOSPC | libc::EDQUOT => LocalErrorKind::NoSpace,
                libc::ENOENT => LocalErrorKind::NotFound,
                libc::EISDIR => LocalErrorKind::IsDir,
                libc::ENOTEMPTY => LocalErrorKind::NotEmpty,
                libc::ELOOP | libc::ENOTDIR => LocalErrorKind::SymlinkInPath,
                _ => LocalErrorKind::Io,
            };
        }
        match e.kind() {
            io::ErrorKind::PermissionDenied => LocalErrorKind::PermissionDenied,
            io::ErrorKind::NotFound => LocalErrorKind::NotFound,
            io::ErrorKind::IsADirectory => LocalErrorKind::IsDir,
            io::ErrorKind::DirectoryNotEmpty => LocalErrorKind::NotEmpty,
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => LocalErrorKind::NoSpace,
            io::ErrorKind::NotADirectory => LocalErrorKind::SymlinkInPath,
            _ => LocalErrorKind::Io,
        }
    }
}

/// One failure with one local path. Displayed as `path: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct LocalError {
    /// The path relative to the sync root (`""` for the root itself), `/`-separated;
    /// invalid UTF-8 is shown with U+FFFD.
    pub path: String,
    /// What kind of failure it is.
    pub kind: LocalErrorKind,
    /// What went wrong and, where the user can do something, what to do.
    pub message: String,
}

impl LocalError {
    /// An error of `kind` with `message` for `path` (a [`crate::core::RelPath`] or text;
    /// `""` for the root).
    pub fn new(
        path: impl AsRef<str>,
        kind: LocalErrorKind,
        message: impl Into<String>,
    ) -> LocalError {
        LocalError {
            path: path.as_ref().to_string(),
            kind,
            message: message.into(),
        }
    }

    /// The error for `e`, which happened to `path` while `during` (a phrase like
    /// `"writing the file"` or `"reading the folder"`). The kind comes from
    /// [`LocalErrorKind::of`]; the message names what failed and what to do.
    pub fn io(path: impl AsRef<str>, during: &str, e: io::Error) -> LocalError {
        let kind = LocalErrorKind::of(&e);
        let message = match kind {
            LocalErrorKind::PermissionDenied => format!(
                "permission denied {during}; check the owner and mode of the path and of \
                 its folder"
            ),
            LocalErrorKind::NoSpace => format!(
                "no space left on the device {during} (or the disk quota is exceeded); \
                 free some space"
            ),
            LocalErrorKind::NotFound => {
                format!("{during} failed: it does not exist (it was probably removed meanwhile)")
            }
            LocalErrorKind::IsDir => format!("{during} failed: a folder is in the way"),
            LocalErrorKind::NotEmpty => format!("{during} failed: the folder is not empty"),
            LocalErrorKind::SymlinkInPath => format!(
                "{during} failed: a symlink or a file is in the way of the path; ferry never \
                 goes through symlinks"
            ),
            LocalErrorKind::InvalidName
            | LocalErrorKind::Changed
            | LocalErrorKind::Io
            | LocalErrorKind::SkippedLink => {
                format!("{during} failed: {e}")
            }
        };
        LocalError {
            path: path.as_ref().to_string(),
            kind,
            message,
        }
    }
}
