//! Gathering what changed: a local batch (editor saves, `notify`) or the container
//! watcher's hints become [`Change`]s against the [`Index`] — the I/O edge between the
//! watchers and the planners of [`crate::core::reconcile`]. Deciding what to do about
//! them is the planners' job.
//!
//! Rules kept here:
//! - what a side cannot read is unknown, not deleted: an unreadable local folder or a
//!   container path the listing reported an error for never produces a deletion;
//! - a folder new to the index comes with its whole contents (the planners need them);
//! - ferry's own names (`.ferry-tmp-*`, temporary files) and symlinks (not synced yet)
//!   are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::core::{Change, Entry, EntryKind, Index, RelPath, Snapshot};
use crate::local::{self, LocalBatch, LocalError};
use crate::remote::{Depth, Listing, Session, SessionError, WatchEvent};

use super::convert::remote_entry;
use super::execute::{Failure, Retry};

/// Whether a path is one of ferry's own (temporary files and staging folders).
pub fn is_own(path: &RelPath) -> bool {
    path.as_str()
        .split('/')
        .any(|c| c.starts_with(".ferry-tmp-") || local::is_temp_name(c))
}

/// Whether the container's listing reported an error for `path`, one of its folders or
/// the root (an unreadable folder, a failed `find`, a name ferry cannot sync), so it
/// cannot tell what is there: see [`Listing::is_unknown`].
pub fn listing_unknown(listing: &Listing, path: &RelPath) -> bool {
    listing.is_unknown(path)
}

/// The snapshot without symlinks (not synced yet).
pub fn without_symlinks(s: Snapshot) -> Snapshot {
    let mut out = Snapshot::new();
    for (p, e) in s.iter() {
        if !matches!(e.kind, EntryKind::Symlink(_)) {
            out.insert(p.clone(), e.clone());
        }
    }
    out
}

fn into_changes(map: BTreeMap<RelPath, Option<Entry>>) -> Vec<Change> {
    map.into_iter()
        .filter(|(p, _)| !is_own(p))
        .map(|(path, new)| Change { path, new })
        .collect()
}

/// The changes of a local batch under `root`: each path as it is now (a folder new to
/// the index with everything below it), or everything against the index for a rescan.
/// `skip` is the scan's filter. Names that cannot be synced come back as failures.
pub fn local_changes(
    root: &Path,
    batch: &LocalBatch,
    index: &Index,
    skip: &dyn Fn(&RelPath, bool) -> bool,
) -> Result<(Vec<Change>, Vec<Failure>), LocalError> {
    let mut changes: BTreeMap<RelPath, Option<Entry>> = BTreeMap::new();
    let mut failures: Vec<Failure> = batch
        .errors
        .iter()
        .map(|e| Failure::local(e, Retry::Never))
        .collect();
    if batch.rescan {
        let scan = local::scan(root, skip)?;
        for (p, _) in index.entries().iter() {
            if !scan.is_unknown(p) {
                changes.insert(p.clone(), None);
            }
        }
        for (p, e) in without_symlinks(scan.snapshot).iter() {
            changes.insert(p.clone(), Some(e.clone()));
        }
        return Ok((into_changes(changes), failures));
    }
    for p in &batch.paths {
        if skip(p, false) || p.ancestors().any(|a| skip(&a, true)) {
            continue;
        }
        match local::stat(root, p) {
            Ok(Some(e)) if matches!(e.kind, EntryKind::Symlink(_)) => {}
            Ok(Some(e)) if e.is_dir() && !index.get(p).is_some_and(Entry::is_dir) => {
                let scan = local::scan_below(root, p, skip);
                for (q, e) in without_symlinks(scan.snapshot).iter() {
                    changes.insert(q.clone(), Some(e.clone()));
                }
            }
            Ok(e) => {
                changes.insert(p.clone(), e);
            }
            Err(e) => failures.push(Failure::local(&e, Retry::Never)),
        }
    }
    Ok((into_changes(changes), failures))
}

/// The container's current state of the paths of `changes` the index knows, over the
/// index for everything else — so that a local change meets a change made in the
/// container since the last sync as a conflict, never overwriting it. `None` when no
/// changed path is known (nothing to compare).
pub async fn remote_view(
    session: &mut Session,
    changes: &[Change],
    index: &Index,
) -> Result<Option<Snapshot>, SessionError> {
    let known: Vec<RelPath> = changes
        .iter()
        .filter(|c| index.get(&c.path).is_some())
        .map(|c| c.path.clone())
        .collect();
    if known.is_empty() {
        return Ok(None);
    }
    let listing = session.list(&known, Depth::Children).await?;
    let mut view = index.entries().clone();
    for p in &listing.missing {
        view.remove(p);
    }
    for e in &listing.entries {
        if known.binary_search(&e.path).is_ok() {
            if let Some(entry) = remote_entry(e) {
                view.insert(e.path.clone(), entry);
            }
        }
    }
    Ok(Some(view))
}

/// The remote watcher's hints of one batch.
#[derive(Default)]
pub struct Hints {
    /// List everything.
    pub rescan: bool,
    /// The root's children changed.
    pub root: bool,
    /// These paths (and their children) changed.
    pub children: BTreeSet<RelPath>,
    /// These folders changed as a whole (list them recursively).
    pub trees: BTreeSet<RelPath>,
}

impl Hints {
    /// Adds an event; returns the reason when the watcher stopped.
    pub fn add(&mut self, event: WatchEvent) -> Option<String> {
        match event {
            WatchEvent::Rescan => self.rescan = true,
            WatchEvent::Warning(w) => tracing::info!("container watcher: {w}"),
            WatchEvent::Stopped(why) => return Some(why),
            WatchEvent::Changed { path, dir } => {
                if path.is_empty() {
                    self.root = true;
                } else {
                    match RelPath::new(&path) {
                        Ok(p) if dir => {
                            self.trees.insert(p);
                        }
                        Ok(p) => {
                            self.children.insert(p);
                        }
                        // A hostile or odd name: the parent's listing sorts it out.
                        Err(_) => match path.rsplit_once('/') {
                            Some((parent, _)) => match RelPath::new(parent) {
                                Ok(p) => {
                                    self.children.insert(p);
                                }
                                Err(_) => self.rescan = true,
                            },
                            None => self.root = true,
                        },
                    }
                }
            }
        }
        None
    }

    /// Whether nothing was hinted.
    pub fn is_empty(&self) -> bool {
        !self.rescan && !self.root && self.children.is_empty() && self.trees.is_empty()
    }
}

/// Re-lists what `hints` name and returns the changes against the index (and the
/// container's per-file errors, e.g. names ferry cannot sync, as failures).
pub async fn remote_changes(
    session: &mut Session,
    hints: &Hints,
    index: &Index,
) -> Result<(Vec<Change>, Vec<Failure>), SessionError> {
    let mut changes: BTreeMap<RelPath, Option<Entry>> = BTreeMap::new();
    let mut errors = Vec::new();
    if hints.rescan {
        let listing = session.list_all().await?;
        for (p, _) in index.entries().iter() {
            if !listing_unknown(&listing, p) {
                changes.insert(p.clone(), None);
            }
        }
        absorb(index, &listing, None, Depth::Recursive, &mut changes);
        errors.extend(listing.errors);
    } else {
        if hints.root {
            let listing = session.list_root(Depth::Children).await?;
            absorb(index, &listing, None, Depth::Children, &mut changes);
            errors.extend(listing.errors);
        }
        for (depth, set) in [
            (Depth::Children, &hints.children),
            (Depth::Recursive, &hints.trees),
        ] {
            let paths: Vec<RelPath> = set.iter().cloned().collect();
            if paths.is_empty() {
                continue;
            }
            let listing = session.list(&paths, depth).await?;
            for p in &listing.missing {
                changes.insert(p.clone(), None);
            }
            for p in &paths {
                if !listing.missing.contains(p) {
                    absorb(index, &listing, Some(p), depth, &mut changes);
                }
            }
            errors.extend(listing.errors);
        }
        // Folders that are new to the index must come with their whole contents.
        let new_dirs: Vec<RelPath> = changes
            .iter()
            .filter(|(p, e)| {
                e.as_ref().is_some_and(Entry::is_dir)
                    && !index.get(p).is_some_and(Entry::is_dir)
                    && !hints.trees.contains(*p)
            })
            .map(|(p, _)| p.clone())
            .collect();
        if !new_dirs.is_empty() {
            let listing = session.list(&new_dirs, Depth::Recursive).await?;
            for p in &new_dirs {
                absorb(index, &listing, Some(p), Depth::Recursive, &mut changes);
            }
            errors.extend(listing.errors);
        }
    }
    let failures = errors
        .iter()
        .map(|e| Failure::remote(e, Retry::Never))
        .collect();
    Ok((into_changes(changes), failures))
}

/// Turns the listing of `base` (`None`: the root) at `depth` into changes: every listed
/// entry, and every index entry in the listed range that is gone.
fn absorb(
    index: &Index,
    listing: &Listing,
    base: Option<&RelPath>,
    depth: Depth,
    changes: &mut BTreeMap<RelPath, Option<Entry>>,
) {
    let in_range = |p: &RelPath| -> bool {
        let rel_depth = match base {
            None => Some(p.depth()),
            Some(b) if b == p => Some(0),
            Some(b) if b.is_ancestor_of(p) => Some(p.depth() - b.depth()),
            Some(_) => None,
        };
        match (rel_depth, depth) {
            (None, _) => false,
            (Some(d), Depth::Children) => d <= 1,
            (Some(_), Depth::Recursive) => true,
        }
    };
    let mut seen = BTreeSet::new();
    for e in &listing.entries {
        if !in_range(&e.path) {
            continue;
        }
        if let Some(entry) = remote_entry(e) {
            seen.insert(e.path.clone());
            changes.insert(e.path.clone(), Some(entry));
        }
    }
    // What the index has in the listed range but the container no longer has.
    let listed_dir = match base {
        None => true,
        Some(b) => listing
            .entries
            .iter()
            .any(|e| &e.path == b && e.kind == crate::remote::EntryKind::Dir),
    };
    if !listed_dir {
        return;
    }
    let known: Vec<RelPath> = match base {
        None => index
            .entries()
            .iter()
            .map(|(p, _)| p.clone())
            .filter(|p| in_range(p))
            .collect(),
        Some(b) => index
            .entries()
            .descendants(b)
            .map(|(p, _)| p.clone())
            .filter(|p| in_range(p))
            .collect(),
    };
    for p in known {
        // Not seen because the listing could not look there: unknown, not gone.
        if !seen.contains(&p) && !listing.is_unknown(&p) {
            changes.entry(p).or_insert(None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_names() {
        assert!(is_own(&RelPath::new(".ferry-tmp-12-s/x").unwrap()));
        assert!(!is_own(&RelPath::new("src/main.rs").unwrap()));
    }

    #[test]
    fn hints_sort_events() {
        let mut h = Hints::default();
        assert!(h.is_empty());
        h.add(WatchEvent::Changed {
            path: "".into(),
            dir: true,
        });
        h.add(WatchEvent::Changed {
            path: "a/b".into(),
            dir: false,
        });
        h.add(WatchEvent::Changed {
            path: "d".into(),
            dir: true,
        });
        h.add(WatchEvent::Changed {
            path: "x/bad\nname".into(),
            dir: false,
        });
        assert!(h.root);
        assert!(h.children.contains(&RelPath::new("a/b").unwrap()));
        assert!(h.children.contains(&RelPath::new("x").unwrap()));
        assert!(h.trees.contains(&RelPath::new("d").unwrap()));
        assert_eq!(
            h.add(WatchEvent::Stopped("gone".into())),
            Some("gone".into())
        );
    }

    #[test]
    fn unreadable_local_folders_are_not_deletions() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        std::fs::write(dir.path().join("a/f"), "x").unwrap();
        let mut snap = Snapshot::new();
        snap.insert(RelPath::new("gone.txt").unwrap(), Entry::file(1, 0));
        let index = Index::from_snapshot(snap);
        let batch = LocalBatch {
            rescan: true,
            ..LocalBatch::default()
        };
        let (changes, failures) = local_changes(dir.path(), &batch, &index, &|_, _| false).unwrap();
        assert!(failures.is_empty());
        let gone = changes
            .iter()
            .find(|c| c.path.as_str() == "gone.txt")
            .unwrap();
        assert_eq!(
            gone.new, None,
            "an index entry missing on disk is a deletion"
        );
        assert!(changes.iter().any(|c| c.path.as_str() == "a/f"));
    }

    #[test]
    fn unreadable_container_folders_are_not_deletions() {
        use crate::remote::{
            EntryKind as RemoteKind, FileError, FileErrorKind, Mtime, RemoteEntry,
        };
        let rel = |p: &str| RelPath::new(p).unwrap();
        let mut snap = Snapshot::new();
        for p in ["a", "b"] {
            snap.insert(rel(p), Entry::dir());
        }
        for p in ["a/x", "b/y"] {
            snap.insert(rel(p), Entry::file(1, 0));
        }
        let index = Index::from_snapshot(snap);
        let dir = |p: &str| RemoteEntry {
            path: rel(p),
            kind: RemoteKind::Dir,
            size: 0,
            mtime: Mtime::new(0, 0),
            mode: 0o755,
        };
        let mut listing = Listing {
            entries: vec![dir("a"), dir("b")],
            ..Listing::default()
        };
        listing
            .errors
            .push(FileError::new("a", FileErrorKind::Unreadable, None));
        let mut changes = BTreeMap::new();
        absorb(&index, &listing, None, Depth::Recursive, &mut changes);
        assert_eq!(
            changes.get(&rel("b/y")),
            Some(&None),
            "b/y is gone: {changes:?}"
        );
        assert!(
            !changes.contains_key(&rel("a/x")),
            "a/x is unknown: {changes:?}"
        );
        // The root unknown: nothing is gone.
        listing.errors = vec![FileError::new("", FileErrorKind::Unreadable, None)];
        let mut changes = BTreeMap::new();
        absorb(&index, &listing, None, Depth::Recursive, &mut changes);
        assert!(changes.values().all(Option::is_some), "{changes:?}");
        assert!(listing_unknown(&listing, &rel("b/y")));
    }
}
