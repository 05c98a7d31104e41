//! [`RelPath`]: a validated path relative to a sync root, the key of every snapshot,
//! index, change and action.
//!
//! Invariants of a `RelPath` (checked by every constructor, so they hold for every value):
//! valid UTF-8; not empty; `/`-separated; no leading or trailing `/`; no empty, `.` or
//! `..` component; no NUL, `\n` or `\r` byte. The sync root itself has no `RelPath`.
//!
//! Order: component by component (as if `/` sorted before every other byte), so a
//! directory is immediately followed by everything under it: `a`, `a/b`, `a/b/c`, `a-b`.
//! Maps keyed by `RelPath` therefore hold each subtree as one contiguous range.

use std::cmp::Ordering;
use std::fmt;
use std::path::{Component, Path};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A normalized path of a file, directory or symlink inside a sync root, relative to it
/// (see the module docs for the invariants).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RelPath(String);

/// Why a name cannot be a [`RelPath`]. The engine reports such a file as a per-file error
/// ("not synced: …"); it is never synced, and nothing else is affected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path is empty (the sync root itself is not a `RelPath`).
    #[error("the path is empty")]
    Empty,
    /// The path starts with `/`.
    #[error("{path:?} is absolute; paths in a sync folder are relative to it")]
    Absolute {
        /// The rejected path.
        path: String,
    },
    /// The path has an empty component (`a//b`, or a trailing `/`).
    #[error("{path:?} has an empty component (a doubled or trailing '/')")]
    EmptyComponent {
        /// The rejected path.
        path: String,
    },
    /// The path has a `.` or `..` component.
    #[error("{path:?} has a '.' or '..' component")]
    DotComponent {
        /// The rejected path.
        path: String,
    },
    /// The name is not valid UTF-8. `lossy` shows it with U+FFFD for the invalid bytes.
    #[error(
        "{lossy:?} is not valid UTF-8; ferry syncs only names that are text in every \
         editor, shell and protocol on the way"
    )]
    NotUtf8 {
        /// The name with invalid bytes replaced, for messages.
        lossy: String,
    },
    /// The name contains a newline or a carriage return. The container side lists files
    /// one per line, so such a name cannot be transferred unambiguously.
    #[error(
        "{path:?} contains a newline or carriage return, which the line-based \
         container listing cannot carry"
    )]
    LineBreak {
        /// The rejected path.
        path: String,
    },
    /// The name contains a NUL byte.
    #[error("{path:?} contains a NUL byte")]
    Nul {
        /// The rejected path.
        path: String,
    },
    /// A single name given to [`RelPath::join`] contains `/`.
    #[error("{name:?} is not a single name: it contains '/'")]
    NotAName {
        /// The rejected name.
        name: String,
    },
}

impl RelPath {
    /// Validates `path` (see the module docs for the rules).
    ///
    /// # Errors
    ///
    /// The first rule `path` breaks, as a [`PathError`].
    pub fn new(path: &str) -> Result<RelPath, PathError> {
        let owned = || path.to_string();
        if path.is_empty() {
            return Err(PathError::Empty);
        }
        if path.contains('\0') {
            return Err(PathError::Nul { path: owned() });
        }
        if path.contains(['\n', '\r']) {
            return Err(PathError::LineBreak { path: owned() });
        }
        if path.starts_with('/') {
            return Err(PathError::Absolute { path: owned() });
        }
        for component in path.split('/') {
            match component {
                "" => return Err(PathError::EmptyComponent { path: owned() }),
                "." | ".." => return Err(PathError::DotComponent { path: owned() }),
                _ => {}
            }
        }
        Ok(RelPath(owned()))
    }

    /// Validates a path given as raw bytes, as the container side reports names.
    ///
    /// # Errors
    ///
    /// [`PathError::NotUtf8`] for invalid UTF-8, else as [`RelPath::new`].
    pub fn from_bytes(bytes: &[u8]) -> Result<RelPath, PathError> {
        match std::str::from_utf8(bytes) {
            Ok(text) => RelPath::new(text),
            Err(_) => Err(PathError::NotUtf8 {
                lossy: String::from_utf8_lossy(bytes).into_owned(),
            }),
        }
    }

    /// Validates a relative filesystem path, as a local scanner or watcher produces it
    /// (after stripping the sync root). Components are joined with `/` whatever the
    /// platform's separator; a leading `./` is dropped.
    ///
    /// # Errors
    ///
    /// [`PathError::NotUtf8`] for a component that is not valid UTF-8,
    /// [`PathError::Absolute`] for a path with a root or prefix,
    /// [`PathError::DotComponent`] for `..`, else as [`RelPath::new`].
    pub fn from_path(path: &Path) -> Result<RelPath, PathError> {
        let mut parts: Vec<&str> = Vec::new();
        for component in path.components() {
            match component {
                Component::CurDir => {}
                Component::Normal(name) => match name.to_str() {
                    Some(name) => parts.push(name),
                    None => {
                        return Err(PathError::NotUtf8 {
                            lossy: path.to_string_lossy().into_owned(),
                        })
                    }
                },
                Component::ParentDir => {
                    return Err(PathError::DotComponent {
                        path: path.to_string_lossy().into_owned(),
                    })
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(PathError::Absolute {
                        path: path.to_string_lossy().into_owned(),
                    })
                }
            }
        }
        RelPath::new(&parts.join("/"))
    }

    /// The path as text, `/`-separated.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last component.
    pub fn name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// The containing directory; `None` for a top-level path (whose parent is the root).
    pub fn parent(&self) -> Option<RelPath> {
        self.0
            .rfind('/')
            .map(|slash| RelPath(self.0[..slash].to_string()))
    }

    /// Every ancestor, nearest first (`a/b/c` → `a/b`, `a`).
    pub fn ancestors(&self) -> impl Iterator<Item = RelPath> + '_ {
        self.0
            .char_indices()
            .rev()
            .filter(|(_, c)| *c == '/')
            .map(|(slash, _)| RelPath(self.0[..slash].to_string()))
    }

    /// The number of components (`a` → 1, `a/b` → 2).
    pub fn depth(&self) -> usize {
        self.0.split('/').count()
    }

    /// `name` inside this directory.
    ///
    /// # Errors
    ///
    /// [`PathError::NotAName`] if `name` contains `/`, else as [`RelPath::new`].
    pub fn join(&self, name: &str) -> Result<RelPath, PathError> {
        if name.contains('/') {
            return Err(PathError::NotAName {
                name: name.to_string(),
            });
        }
        RelPath::new(&format!("{}/{name}", self.0))
    }

    /// Whether `self` is a proper ancestor of `other` (`a` of `a/b`, not of `a` or `ab`).
    pub fn is_ancestor_of(&self, other: &RelPath) -> bool {
        other.0.len() > self.0.len()
            && other.0.starts_with(&self.0)
            && other.0.as_bytes()[self.0.len()] == b'/'
    }

    /// `self` with its ancestor-or-self `from` replaced by `to` (`a/x` with `a` → `b`
    /// gives `b/x`); `None` if `from` is neither `self` nor an ancestor of it.
    pub fn rebase(&self, from: &RelPath, to: &RelPath) -> Option<RelPath> {
        if self == from {
            Some(to.clone())
        } else if from.is_ancestor_of(self) {
            Some(RelPath(format!("{}{}", to.0, &self.0[from.0.len()..])))
        } else {
            None
        }
    }

    /// The part of `self` below its proper ancestor `ancestor` (`a/b/c` below `a` is
    /// `b/c`); `None` if `ancestor` is not a proper ancestor.
    pub fn below(&self, ancestor: &RelPath) -> Option<&str> {
        ancestor
            .is_ancestor_of(self)
            .then(|| &self.0[ancestor.0.len() + 1..])
    }
}

impl Ord for RelPath {
    fn cmp(&self, other: &RelPath) -> Ordering {
        // '/' sorts before every other byte (NUL cannot occur), which makes the order
        // component-wise and keeps subtrees contiguous.
        let key = |b: &u8| if *b == b'/' { 0 } else { *b };
        self.0
            .as_bytes()
            .iter()
            .map(key)
            .cmp(other.0.as_bytes().iter().map(key))
    }
}

impl PartialOrd for RelPath {
    fn partial_cmp(&self, other: &RelPath) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl AsRef<str> for RelPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for RelPath {
    type Error = PathError;

    fn try_from(path: &str) -> Result<RelPath, PathError> {
        RelPath::new(path)
    }
}

impl Serialize for RelPath {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RelPath {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<RelPath, D::Error> {
        let text = String::deserialize(deserializer)?;
        RelPath::new(&text).map_err(serde::de::Error::custom)
    }
}
