//! [`Entry`]: what one side knows about one path (kind, size, mtime, mode, maybe a
//! content hash), and [`Side`].

use std::fmt;

use serde::{Deserialize, Serialize};

/// One of the two sides of a sync path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Side {
    /// The editor's workspace folder.
    Local,
    /// The folder in the container.
    Remote,
}

impl Side {
    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::Local => Side::Remote,
            Side::Remote => Side::Local,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Local => "local",
            Side::Remote => "remote",
        })
    }
}

/// What a path is. Symlinks are kept as links (their target is synced, not followed).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link with this target, as stored in the link (not resolved).
    Symlink(String),
}

/// A digest of a file's content, written `algorithm:hex` (e.g. `sha256:9f86…`). Two
/// hashes are compared only when their algorithms match; otherwise the content is treated
/// as unknown.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ContentHash(pub String);

impl ContentHash {
    /// The algorithm part (before the first `:`; the whole text when there is none).
    pub fn algorithm(&self) -> &str {
        self.0.split(':').next().unwrap_or("")
    }

    /// `Some(true)` for equal content, `Some(false)` for different content, `None` when
    /// the two hashes use different algorithms and say nothing.
    pub fn same_content(&self, other: &ContentHash) -> Option<bool> {
        (self.algorithm() == other.algorithm()).then(|| self.0 == other.0)
    }
}

/// The permission bits that count as a difference between two files: the executable
/// bits. Other bits (group/other read and write) depend on the umask of whoever created
/// the file; they travel with the content but a difference in them alone is not a change.
pub const EXEC_BITS: u32 = 0o111;

/// What one side knows about one path.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// File, directory or symlink.
    pub kind: EntryKind,
    /// Size in bytes (0 for directories; the target's length for symlinks, as `lstat`).
    pub size: u64,
    /// Modification time in nanoseconds since the Unix epoch. Sides that know only whole
    /// seconds report a multiple of 1e9 (see [`super::Tolerance`]).
    pub mtime: i64,
    /// Permission bits (`0o7777` mask), including the executable bits.
    pub mode: u32,
    /// The content hash, when one side computed it (files only).
    pub hash: Option<ContentHash>,
}

impl Entry {
    /// A regular file of `size` bytes modified at `mtime` (ns), mode `0o644`, no hash.
    pub fn file(size: u64, mtime: i64) -> Entry {
        Entry {
            kind: EntryKind::File,
            size,
            mtime,
            mode: 0o644,
            hash: None,
        }
    }

    /// A directory, mode `0o755`, mtime 0 (directory times are not compared).
    pub fn dir() -> Entry {
        Entry {
            kind: EntryKind::Dir,
            size: 0,
            mtime: 0,
            mode: 0o755,
            hash: None,
        }
    }

    /// A symlink to `target` modified at `mtime` (ns), mode `0o777`.
    pub fn symlink(target: &str, mtime: i64) -> Entry {
        Entry {
            kind: EntryKind::Symlink(target.to_string()),
            size: target.len() as u64,
            mtime,
            mode: 0o777,
            hash: None,
        }
    }

    /// The same entry with permission bits `mode`.
    pub fn with_mode(mut self, mode: u32) -> Entry {
        self.mode = mode;
        self
    }

    /// The same entry with content hash `hash` (`algorithm:hex`).
    pub fn with_hash(mut self, hash: &str) -> Entry {
        self.hash = Some(ContentHash(hash.to_string()));
        self
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.kind == EntryKind::Dir
    }

    /// Whether the executable bits are set as in `other` (see [`EXEC_BITS`]).
    pub fn same_exec_bits(&self, other: &Entry) -> bool {
        self.mode & EXEC_BITS == other.mode & EXEC_BITS
    }
}
