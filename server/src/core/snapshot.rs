//! [`Snapshot`]: every path one side has, with its [`Entry`], in tree order.
//!
//! Expected (not enforced): the parent of every entry is a directory entry of the same
//! snapshot, as a scan produces it. The planners do not rely on it for safety: a missing
//! parent only makes them plan a directory creation.

use std::collections::BTreeMap;
use std::ops::Bound;

use serde::{Deserialize, Serialize};

use super::entry::Entry;
use super::path::RelPath;

/// The state of one side (or the index): path → entry, sorted so that every directory is
/// followed by its subtree (see [`RelPath`]'s order).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Snapshot(BTreeMap<RelPath, Entry>);

impl Snapshot {
    /// An empty snapshot.
    pub fn new() -> Snapshot {
        Snapshot::default()
    }

    /// The entry at `path`, if any.
    pub fn get(&self, path: &RelPath) -> Option<&Entry> {
        self.0.get(path)
    }

    /// Whether `path` has an entry.
    pub fn contains(&self, path: &RelPath) -> bool {
        self.0.contains_key(path)
    }

    /// Sets the entry at `path`; returns the previous one.
    pub fn insert(&mut self, path: RelPath, entry: Entry) -> Option<Entry> {
        self.0.insert(path, entry)
    }

    /// Removes the entry at `path` only (not its subtree); returns it.
    pub fn remove(&mut self, path: &RelPath) -> Option<Entry> {
        self.0.remove(path)
    }

    /// Removes `path` and everything under it; returns how many entries were removed.
    pub fn remove_subtree(&mut self, path: &RelPath) -> usize {
        let doomed: Vec<RelPath> = std::iter::once(path.clone())
            .filter(|p| self.0.contains_key(p))
            .chain(self.descendants(path).map(|(p, _)| p.clone()))
            .collect();
        for p in &doomed {
            self.0.remove(p);
        }
        doomed.len()
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every entry in tree order.
    pub fn iter(&self) -> impl Iterator<Item = (&RelPath, &Entry)> {
        self.0.iter()
    }

    /// Everything strictly under `dir`, in tree order.
    pub fn descendants<'a>(
        &'a self,
        dir: &'a RelPath,
    ) -> impl Iterator<Item = (&'a RelPath, &'a Entry)> + 'a {
        self.0
            .range((Bound::Excluded(dir), Bound::Unbounded))
            .take_while(move |(p, _)| dir.is_ancestor_of(p))
    }

    /// The direct children of `dir`; of the root when `dir` is `None`.
    pub fn children<'a>(
        &'a self,
        dir: Option<&'a RelPath>,
    ) -> Box<dyn Iterator<Item = (&'a RelPath, &'a Entry)> + 'a> {
        match dir {
            None => Box::new(self.0.iter().filter(|(p, _)| p.depth() == 1)),
            Some(dir) => {
                let depth = dir.depth() + 1;
                Box::new(
                    self.descendants(dir)
                        .filter(move |(p, _)| p.depth() == depth),
                )
            }
        }
    }
}

impl FromIterator<(RelPath, Entry)> for Snapshot {
    fn from_iter<I: IntoIterator<Item = (RelPath, Entry)>>(iter: I) -> Snapshot {
        Snapshot(iter.into_iter().collect())
    }
}

impl Extend<(RelPath, Entry)> for Snapshot {
    fn extend<I: IntoIterator<Item = (RelPath, Entry)>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

impl IntoIterator for Snapshot {
    type Item = (RelPath, Entry);
    type IntoIter = std::collections::btree_map::IntoIter<RelPath, Entry>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}
