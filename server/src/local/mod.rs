//! The local side of a sync: the workspace folder on this machine. The engine gathers a
//! [`Snapshot`](crate::core::Snapshot) with [`scan()`], learns about changes from a
//! [`LocalWatcher`], and carries the plan's local actions out with the functions of
//! [`fs`].
//!
//! | module | job |
//! |---|---|
//! | [`scan`](mod@scan) | [`scan()`], [`scan_below`], [`stat`]: the tree as [`Entry`](crate::core::Entry)s, one `lstat` per path |
//! | [`fs`] | [`read_file`], [`write_file`] / [`begin_write`] ([`TempFile`]), [`write_symlink`], [`mkdir`], [`remove`], [`rename`]; ferry's temporary names |
//! | [`watch`] | [`LocalWatcher`]: `notify` events, collected into [`LocalBatch`]es |
//! | [`error`] | [`LocalError`], [`LocalErrorKind`] |
//!
//! Invariants:
//! - Symlinks are never followed below the root: a scan records them as links, and no
//!   function reads, writes, renames or deletes through a folder that is a symlink (or
//!   not a folder) — a container that sent `a -> /etc` cannot make ferry touch
//!   `/etc/passwd` by sending `a/passwd` next. The root itself may be a symlink.
//! - Files land atomically: written to a temporary file in the same folder (named by
//!   [`temp_name`]) with their mode and mtime, then renamed over the path; a reader sees
//!   the old content or the new one, never a mix; on failure the temporary is removed.
//!   Scans and the watcher leave ferry's temporary names out ([`is_temp_name`]).
//! - Deletions remove only what is still as it was listed; anything else stays and is
//!   reported.
//! - Nothing here hashes content: a scan costs one `readdir` per folder and one `lstat`
//!   per path (plus a `readlink` per symlink).

pub mod error;
pub mod fs;
pub mod scan;
pub mod watch;

pub use error::{LocalError, LocalErrorKind};
pub use fs::{
    begin_write, is_temp_name, mkdir, read_file, remove, rename, temp_name, write_file,
    write_symlink, TempFile,
};
pub use scan::{entry_from_metadata, scan, scan_below, stat, Scan};
pub use watch::{LocalBatch, LocalWatcher};
