//! The local side of a sync: the workspace folder on this machine. The engine gathers a
//! [`Snapshot`](crate::core::Snapshot) with [`scan()`], learns about changes from a
//! [`LocalWatcher`], and carries the plan's local actions out with the functions of
//! [`fs`], keeping every local file it deletes or overwrites in the [`Trash`] first.
//!
//! | module | job |
//! |---|---|
//! | [`scan`](mod@scan) | [`scan()`], [`scan_below`], [`stat`]: the tree as [`Entry`](crate::core::Entry)s, one `lstat` per path |
//! | [`fs`] | [`read_file`], [`write_file`] / [`begin_write`] ([`TempFile`]), [`write_symlink`], [`mkdir`], [`remove_to_trash`] (and [`remove`], which unlinks), [`rename`]; ferry's temporary names |
//! | [`trash`] | [`Trash`]: `.ferry/trash/`, the safety net — [`Trash::take`] (a deletion), [`Trash::keep`] (before an overwrite), [`Trash::adopt`] (someone else's version), [`Trash::list`], [`Trash::restore`], [`Trash::prune`] |
//! | [`watch`] | [`LocalWatcher`]: `notify` events, collected into [`LocalBatch`]es |
//! | [`error`] | [`LocalError`], [`LocalErrorKind`] |
//! | [`durable`] | [`flush_file_system`]: downloads reach the disk before an index records them |
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
//! - Nothing of the user's is lost: a file ferry deletes is moved into the [`Trash`], a
//!   file it overwrites is kept there first ([`Trash::keep`]); a file that cannot be kept
//!   is not deleted or overwritten. Only [`remove`] unlinks, for callers that remove
//!   nothing of the user's.
//! - Nothing here hashes content: a scan costs one `readdir` per folder and one `lstat`
//!   per path (plus a `readlink` per symlink).

pub mod durable;
pub mod error;
pub mod fs;
pub mod scan;
pub mod trash;
pub mod watch;

pub use durable::flush_file_system;
pub use error::{LocalError, LocalErrorKind};
pub use fs::{
    begin_write, is_temp_name, mkdir, read_file, remove, remove_to_trash, rename, temp_name,
    write_file, write_symlink, Removed, TempFile,
};
pub use scan::{entry_from_metadata, scan, scan_below, stat, Scan};
pub use trash::{Origin, Place, Reason, Restored, Trash, TrashItem};
pub use watch::{LocalBatch, LocalWatcher};
