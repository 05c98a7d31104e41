//! Errors of the remote session: [`SessionError`] for a command or the session as a
//! whole, [`FileError`] for one file within an otherwise successful command.

use std::fmt;
use std::time::Duration;

use super::path::PathError;
use super::transport::{ExitStatus, LaunchError};

/// Why a session command, or the session as a whole, failed. After any variant but
/// [`SessionError::Remote`], [`SessionError::InvalidPath`] and
/// [`SessionError::Unsupported`] the session is unusable: start a new one.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The process could not be started in the container.
    #[error(transparent)]
    Launch(#[from] LaunchError),
    /// The container side refused to start (e.g. no writable folder for its state).
    #[error("the ferry session in the container could not start: {message}")]
    Setup {
        /// The script's own message.
        message: String,
    },
    /// The container lacks a tool ferry cannot do without.
    #[error("the container lacks {tool}, which ferry needs: {why}")]
    MissingTool {
        /// The tool, e.g. `stat -c`.
        tool: &'static str,
        /// What it is needed for, and what to do.
        why: &'static str,
    },
    /// The process ended (its stream closed) while ferry waited for a reply.
    #[error("the ferry session in the container ended ({status}){}; ferry will start a new one", stderr_note(.stderr))]
    Closed {
        /// How it ended, as far as the transport knows.
        status: ExitStatus,
        /// The last lines the process wrote to stderr.
        stderr: String,
    },
    /// Reading or writing the stream failed.
    #[error("the connection to the container broke during {during}: {source}")]
    Io {
        /// The command in flight.
        during: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The container sent something that is not a valid reply: a bug, a container that
    /// prints from its shell profile, or a hostile container.
    #[error("the container sent an invalid reply during {during}: {detail}{}", stderr_note(.stderr))]
    Protocol {
        /// The command in flight.
        during: String,
        /// What was wrong.
        detail: String,
        /// The last lines the process wrote to stderr.
        stderr: String,
    },
    /// No reply within the session's reply timeout; the session was abandoned.
    #[error("no reply from the container to {during} within {after:?}; the container may be overloaded or the connection stalled")]
    Timeout {
        /// The command in flight.
        during: String,
        /// The timeout.
        after: Duration,
    },
    /// The command failed as a whole in the container; nothing was changed unless the
    /// message says so. The session stays usable.
    #[error("{command} failed in the container: {message}")]
    Remote {
        /// The command.
        command: &'static str,
        /// The container's message.
        message: String,
    },
    /// A reply held in memory (a listing, a failure list) was larger than
    /// [`crate::remote::SessionOptions::max_reply_bytes`]. (Downloads stream and are
    /// never refused as a whole for their size.)
    #[error("a reply to {during} announced {len} bytes, more than the limit of {limit}; list fewer paths per call")]
    TooLarge {
        /// The command in flight.
        during: String,
        /// The announced size.
        len: u64,
        /// The limit.
        limit: u64,
    },
    /// A path given to a command was not acceptable.
    #[error(transparent)]
    InvalidPath(#[from] PathError),
    /// The operation needs a tool the container lacks; nothing was sent.
    #[error("{operation} is not possible in this container: {why}")]
    Unsupported {
        /// The operation.
        operation: &'static str,
        /// Which tool is missing and what to do instead.
        why: &'static str,
    },
    /// An earlier error left the session unusable.
    #[error("the session is unusable after an earlier error ({0}); start a new one")]
    Broken(String),
}

fn stderr_note(stderr: &str) -> String {
    if stderr.trim().is_empty() {
        String::new()
    } else {
        format!("; the container said: {}", stderr.trim())
    }
}

impl SessionError {
    /// Whether the session can still be used after this error.
    pub fn session_usable(&self) -> bool {
        matches!(
            self,
            SessionError::Remote { .. }
                | SessionError::InvalidPath(_)
                | SessionError::Unsupported { .. }
        )
    }
}

/// What went wrong with one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileErrorKind {
    /// The file exists and the container user may not write it; ferry does not replace
    /// it.
    ReadOnly,
    /// A folder is where a file should go.
    IsDir,
    /// The parent folder could not be created (a file is in the way, or permission).
    Parent,
    /// The final rename (or in-place copy) failed, e.g. permission denied.
    Move,
    /// The path does not exist.
    Missing,
    /// The path is not a regular file where one was needed.
    NotFile,
    /// Reading the file failed.
    Read,
    /// Removing failed.
    Remove,
    /// Creating the folder failed.
    Mkdir,
    /// The name holds a newline: ferry cannot sync it.
    NewlineInName,
    /// The name is not valid UTF-8: ferry cannot sync it.
    InvalidUtf8,
    /// The container's user cannot read the path (a folder `find` could not open, a
    /// file `tar` could not read), or its listing failed as a whole: what is there is
    /// unknown, which is never taken for "deleted".
    Unreadable,
    /// The container's file system is full (or the user's quota exceeded).
    NoSpace,
    /// The path changed in the container since ferry listed it: a file to delete that
    /// is no longer as listed (it is kept), or one that grew or shrank while it was
    /// downloaded (nothing of it was used). ferry lists it again.
    Changed,
    /// A downloaded entry would leave the sync root or is of a kind ferry does not
    /// write (absolute path, `..`, a path below a symlink, a hard link, a device).
    Unsafe,
    /// A symlink ferry does not sync (absolute, leaving the sync folder, a target that is
    /// not UTF-8, or `symlinks: ignore`): left alone, and unknown to the planners, so
    /// nothing replaces or deletes what the other side has at its path.
    SkippedLink,
}

/// One file that a command could not handle, while the rest of the command went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    /// The path relative to the sync root, as text (for names that are not valid
    /// [`crate::remote::RelPath`]s, a readable rendering: newlines as `\n`, invalid
    /// UTF-8 replaced).
    pub path: String,
    /// The kind of failure.
    pub kind: FileErrorKind,
    /// A message for the user that says what to do.
    pub message: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl FileError {
    /// Builds a file error with the standard message for `kind`, plus `detail` (a
    /// tool's message) when there is one.
    pub(crate) fn new(
        path: impl Into<String>,
        kind: FileErrorKind,
        detail: Option<&str>,
    ) -> FileError {
        let base = match kind {
            FileErrorKind::ReadOnly => {
                "the file in the container is read-only for the container's user, so ferry leaves it alone; make it writable there (chmod u+w, or fix its owner) or exclude it"
            }
            FileErrorKind::IsDir => "a folder with this name exists in the container; remove it there or rename the file",
            FileErrorKind::Parent => {
                "its folder could not be created in the container (a file is in the way, or the container's user may not write there)"
            }
            FileErrorKind::Move => "putting the file in place in the container failed",
            FileErrorKind::Missing => "it does not exist in the container",
            FileErrorKind::NotFile => "it is not a regular file in the container",
            FileErrorKind::Read => "reading it in the container failed (permission?)",
            FileErrorKind::Remove => "removing it in the container failed",
            FileErrorKind::Mkdir => "creating the folder in the container failed",
            FileErrorKind::NewlineInName => "the name contains a newline or carriage return, which ferry cannot sync; rename it",
            FileErrorKind::InvalidUtf8 => "the name is not valid UTF-8, which ferry cannot sync; rename it",
            FileErrorKind::Unreadable => "the container's user cannot read it, so ferry cannot tell what is there; it counts as unknown (nothing is deleted or overwritten because of it) until it can be read: fix its permissions in the container or exclude it",
            FileErrorKind::NoSpace => "no space left in the container",
            FileErrorKind::Changed => "it changed in the container since ferry listed it, so ferry left it alone and looks at it again",
            FileErrorKind::Unsafe => "refused: the entry would be written outside the sync folder or is of a kind ferry does not write",
            FileErrorKind::SkippedLink => "a symlink in the container that ferry does not sync (symlinks: portable syncs relative links that stay inside the sync folder); it is left alone on both sides",
        };
        let message = match detail.map(str::trim).filter(|d| !d.is_empty()) {
            Some(d) => format!("{base} ({d})"),
            None => base.to_string(),
        };
        FileError {
            path: path.into(),
            kind,
            message,
        }
    }
}
