//! Gathering what changed: a local batch (editor saves, `notify`) or the container
//! watcher's hints become [`Change`]s against the [`Index`] — the I/O edge between the
//! watchers and the planners of [`crate::core::reconcile`]. Deciding what to do about
//! them is the planners' job.
//!
//! Rules kept here:
//! - what a side cannot read is unknown, not deleted: an unreadable local folder or a
//!   container path the listing reported an error for never produces a deletion;
//! - a folder new to the index comes with its whole contents (the planners need them);
//! - ferry's own names (`.ferry-tmp-*`, temporary files) are left out, and symlinks the
//!   sync path does not sync are unknown ([`super::links`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::config::Symlinks;
use crate::core::{Change, Entry, EntryKind, Index, RelPath, Snapshot};
use crate::local::{self, LocalBatch, LocalError, Scan};
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

/// Whether a listing error means the container could not see what is at or below its
/// path (an unreadable folder), as opposed to one name ferry cannot sync.
pub fn hides_contents(e: &crate::remote::FileError) -> bool {
    use crate::remote::FileErrorKind as K;
    !matches!(e.kind, K::NewlineInName | K::InvalidUtf8)
}

fn into_changes(map: BTreeMap<RelPath, Option<Entry>>) -> Vec<Change> {
    map.into_iter()
        .filter(|(p, _)| !is_own(p))
        .map(|(path, new)| Change { path, new })
        .collect()
}

/// The changes of a local batch under `root`: each path as it is now (a folder new to
/// the index with everything below it), or everything against the index for a rescan.
/// `skip` is the scan's filter; symlinks `links` does not sync are no change (they are
/// unknown: see [`super::links`]). Names that cannot be synced come back as failures.
///
/// Under `symlinks: follow`, `followed` is kept current: a link in the batch is followed
/// anew (its whole subtree compared with the index, so a retargeted link's old content
/// is deleted), a followed link that is gone or no longer a link is forgotten, and a
/// rescan starts it over. A path below a followed link is looked at through it (the
/// watcher does not report such paths, but retries and racy checks do), and a change
/// inside a target in the sync folder also at the link's path
/// ([`super::links::Followed::aliases`]); what changed in a target outside the folder is
/// seen by a rescan or a change of the link itself.
pub fn local_changes(
    root: &Path,
    batch: &LocalBatch,
    index: &Index,
    skip: &dyn Fn(&RelPath, bool) -> bool,
    links: Symlinks,
    followed: &mut super::links::Followed,
) -> Result<(Vec<Change>, Vec<Failure>), LocalError> {
    let mut changes: BTreeMap<RelPath, Option<Entry>> = BTreeMap::new();
    let mut failures: Vec<Failure> = batch
        .errors
        .iter()
        .map(|e| Failure::local(e, Retry::Never))
        .collect();
    let follow = links == Symlinks::Follow;
    if batch.rescan {
        let mut scan = local::scan(root, skip)?;
        *followed = super::links::settle(root, &mut scan, links, skip);
        for (p, _) in index.entries().iter() {
            if !scan.is_unknown(p) {
                changes.insert(p.clone(), None);
            }
        }
        for (p, e) in scan.snapshot.iter() {
            changes.insert(p.clone(), Some(e.clone()));
        }
        return Ok((into_changes(changes), failures));
    }
    let mut paths = batch.paths.clone();
    if follow {
        paths.extend(followed.aliases(root, &batch.paths));
    }
    for p in &paths {
        if skip(p, false) || p.ancestors().any(|a| skip(&a, true)) {
            continue;
        }
        if follow && followed.covers_below(p) {
            // Through the link, as the last scan followed it (retries and racy checks
            // name such paths; the watcher does not).
            match super::links::stat_local(root, followed, p) {
                Ok(Some(Entry {
                    kind: EntryKind::Symlink(_),
                    ..
                })) => {}
                Ok(e) => {
                    changes.insert(p.clone(), e);
                }
                Err(e) => failures.push(Failure::local(&e, Retry::Never)),
            }
            continue;
        }
        let was_followed = follow && followed.covers(p);
        match local::stat(root, p) {
            Ok(Some(
                e @ Entry {
                    kind: EntryKind::Symlink(_),
                    ..
                },
            )) if follow => {
                // Followed anew, the whole subtree against the index.
                followed.remove_at_or_below(p);
                let mut scan = Scan::default();
                scan.snapshot.insert(p.clone(), e);
                followed.extend(super::links::follow_scan(root, &mut scan, skip));
                whole(p, scan, index, &mut changes, &mut failures);
            }
            Ok(Some(Entry {
                kind: EntryKind::Symlink(target),
                ..
            })) if super::links::local_skip(links, p, &target).is_some() => {}
            Ok(Some(e))
                if e.is_dir() && (was_followed || !index.get(p).is_some_and(Entry::is_dir)) =>
            {
                let mut scan = local::scan_below(root, p, skip);
                if follow {
                    followed.remove_at_or_below(p);
                    followed.extend(super::links::settle(root, &mut scan, links, skip));
                } else {
                    super::links::filter_scan(&mut scan, links);
                }
                if was_followed {
                    // A followed folder became a real one: what it had is compared too.
                    whole(p, scan, index, &mut changes, &mut failures);
                } else {
                    for (q, e) in scan.snapshot.iter() {
                        changes.insert(q.clone(), Some(e.clone()));
                    }
                }
            }
            Ok(e) => {
                if follow && !e.as_ref().is_some_and(Entry::is_dir) {
                    followed.remove_at_or_below(p);
                }
                changes.insert(p.clone(), e);
            }
            Err(e) => failures.push(Failure::local(&e, Retry::Never)),
        }
    }
    Ok((into_changes(changes), failures))
}

/// The changes of the subtree at `p` scanned as `scan`: everything in it, and a deletion
/// of each path the index has there that the scan does not (and does not call unknown).
/// What could not be read is a failure.
fn whole(
    p: &RelPath,
    scan: Scan,
    index: &Index,
    changes: &mut BTreeMap<RelPath, Option<Entry>>,
    failures: &mut Vec<Failure>,
) {
    for (q, _) in index.entries().iter() {
        if (q == p || p.is_ancestor_of(q)) && !scan.is_unknown(q) {
            changes.insert(q.clone(), None);
        }
    }
    for (q, e) in scan.snapshot.iter() {
        changes.insert(q.clone(), Some(e.clone()));
    }
    failures.extend(scan.errors.iter().map(|e| Failure::local(e, Retry::Never)));
    for e in &scan.skipped_links {
        tracing::warn!("not synced: local {}: {}", e.path, e.message);
    }
}

/// The paths of `changes` whose other side matters, split into those to look at alone
/// and those whose whole subtree matters: a folder that was deleted (or replaced by a
/// file) stands for everything the index knows below it, and the other side may have
/// changed any of that since. A path the index does not know may exist on the other side
/// too (created there meanwhile, not reported yet): the top-most of them are looked at
/// as well (a new folder whole), so that nothing the other side has unseen is
/// overwritten.
fn touched(changes: &[Change], index: &Index) -> (Vec<RelPath>, Vec<RelPath>) {
    let (mut single, mut whole) = (Vec::new(), Vec::new());
    let new: BTreeSet<&RelPath> = changes
        .iter()
        .filter(|c| c.new.is_some() && index.get(&c.path).is_none())
        .map(|c| &c.path)
        .collect();
    for c in changes {
        match index.get(&c.path) {
            Some(base) if base.is_dir() && !c.new.as_ref().is_some_and(Entry::is_dir) => {
                whole.push(c.path.clone())
            }
            Some(_) => single.push(c.path.clone()),
            None => {
                let Some(entry) = &c.new else {
                    continue;
                };
                if c.path.ancestors().any(|a| new.contains(&a)) {
                    continue;
                }
                if entry.is_dir() {
                    whole.push(c.path.clone());
                } else {
                    single.push(c.path.clone());
                }
            }
        }
    }
    single.sort();
    whole.sort();
    (single, whole)
}

/// Whether a batch of changes of one side leaves that side with nothing outside the
/// excludes while the index knows something there: every indexed path is deleted by the
/// batch (itself or with a folder above it) and nothing is listed in its place. A root
/// that was emptied or replaced (a volume unmounted, a folder removed and made anew, a
/// wipe) must not read as "everything was deleted": the engine then deletes nothing and
/// starts over with an initial sync, which does not trust an emptied side.
pub fn empties_side(changes: &[Change], index: &Index, excludes: &crate::core::ExcludeSet) -> bool {
    let visible = |p: &RelPath, e: &Entry| !excludes.excluded(p, e.is_dir());
    let deleted: Vec<&RelPath> = changes
        .iter()
        .filter(|c| c.new.is_none())
        .map(|c| &c.path)
        .collect();
    let gone = |p: &RelPath| deleted.iter().any(|d| *d == p || d.is_ancestor_of(p));
    let mut known = index
        .entries()
        .iter()
        .filter(|(p, e)| visible(p, e))
        .peekable();
    if known.peek().is_none() {
        return false;
    }
    let all_gone = known.all(|(p, _)| gone(p));
    let listed = changes
        .iter()
        .any(|c| c.new.as_ref().is_some_and(|e| visible(&c.path, e)));
    all_gone && !listed
}

/// The container's current state of what a local batch touches (see [`touched`]), over
/// the index for everything else — so that a local change meets a change made in the
/// container since the last sync as a conflict, never overwriting or deleting it (a
/// folder deleted locally while a file in it was edited in the container keeps that
/// edit). `None` when no changed path is known (nothing to compare).
pub async fn remote_view(
    session: &mut Session,
    changes: &[Change],
    index: &Index,
) -> Result<Option<Snapshot>, SessionError> {
    let (single, whole) = touched(changes, index);
    if single.is_empty() && whole.is_empty() {
        return Ok(None);
    }
    let mut view = index.entries().clone();
    for (paths, depth) in [(&single, Depth::Children), (&whole, Depth::Recursive)] {
        if paths.is_empty() {
            continue;
        }
        let listing = session.list(paths, depth).await?;
        for p in paths {
            match depth {
                Depth::Children => {
                    view.remove(p);
                }
                Depth::Recursive => {
                    view.remove_subtree(p);
                }
            }
        }
        for e in &listing.entries {
            let wanted = match depth {
                Depth::Children => paths.binary_search(&e.path).is_ok(),
                Depth::Recursive => paths
                    .iter()
                    .any(|p| *p == e.path || p.is_ancestor_of(&e.path)),
            };
            if wanted {
                if let Some(entry) = remote_entry(e) {
                    view.insert(e.path.clone(), entry);
                }
            }
        }
        // What the container could not read there stays as the index knows it: ferry
        // deletes only what it can see unchanged (and the container checks again).
        for err in listing.errors.iter().chain(&listing.skipped_links) {
            if let Ok(p) = RelPath::new(&err.path) {
                for (q, e) in index.entries().iter() {
                    if *q == p || p.is_ancestor_of(q) {
                        view.insert(q.clone(), e.clone());
                    }
                }
            }
        }
    }
    Ok(Some(view))
}

/// The local state of what a batch of container changes touches (see [`touched`]), over
/// the index for everything else — so that a container change meets a local edit made
/// since the last sync as a conflict (a folder deleted in the container while a file in it
/// was edited locally keeps that edit). `None` when no changed path is known.
///
/// What is at or below a followed link (`followed`, `symlinks: follow`) and every link
/// under `follow` stay as the index knows them: that content only goes up, and the
/// container's changes there are download-excluded anyway.
pub fn local_view(
    root: &Path,
    changes: &[Change],
    index: &Index,
    skip: &dyn Fn(&RelPath, bool) -> bool,
    links: Symlinks,
    followed: &super::links::Followed,
) -> Option<Snapshot> {
    let (single, whole) = touched(changes, index);
    if single.is_empty() && whole.is_empty() {
        return None;
    }
    // A link that is not synced is unknown: as the index knows it.
    let unsynced = |p: &RelPath, e: &Entry| match &e.kind {
        EntryKind::Symlink(t) => super::links::local_skip(links, p, t).is_some(),
        _ => false,
    };
    let mut view = index.entries().clone();
    for p in &single {
        if followed.covers(p) {
            continue;
        }
        match local::stat(root, p) {
            Ok(Some(e)) if unsynced(p, &e) => {}
            Ok(Some(e)) => {
                view.insert(p.clone(), e);
            }
            Ok(None) => {
                view.remove(p);
            }
            // Unknown: as the index knows it (a deletion re-checks every file anyway).
            Err(_) => {}
        }
    }
    for p in &whole {
        if followed.covers(p) {
            continue;
        }
        let mut scan = local::scan_below(root, p, skip);
        super::links::filter_scan(&mut scan, links);
        let known: Vec<(RelPath, Entry)> = index
            .entries()
            .iter()
            .filter(|(q, _)| *q == p || p.is_ancestor_of(q))
            .map(|(q, e)| (q.clone(), e.clone()))
            .collect();
        match local::stat(root, p) {
            Ok(Some(e)) if unsynced(p, &e) => continue,
            Ok(Some(e)) => {
                view.remove_subtree(p);
                view.insert(p.clone(), e);
            }
            Ok(None) => {
                view.remove_subtree(p);
            }
            Err(_) => continue,
        }
        for (q, e) in scan.snapshot.iter() {
            view.insert(q.clone(), e.clone());
        }
        for (q, e) in known {
            if scan.is_unknown(&q) {
                view.insert(q, e);
            }
        }
    }
    Some(view)
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

    fn entry(path: &str, dir: bool) -> (RelPath, Entry) {
        (
            RelPath::new(path).unwrap(),
            if dir { Entry::dir() } else { Entry::file(1, 0) },
        )
    }

    #[test]
    fn an_emptied_side_is_told_from_deletions() {
        let mut snap = Snapshot::new();
        for (p, e) in [entry("a", true), entry("a/f", false), entry("b.txt", false)] {
            snap.insert(p, e);
        }
        let index = Index::from_snapshot(snap);
        let ex = crate::core::ExcludeSet::new(&crate::config::Excludes::default()).unwrap();
        let gone = |p: &str| Change {
            path: RelPath::new(p).unwrap(),
            new: None,
        };
        let kept = |p: &str, dir: bool| Change {
            path: RelPath::new(p).unwrap(),
            new: Some(entry(p, dir).1),
        };
        let all_gone = [gone("a"), gone("a/f"), gone("b.txt")];
        assert!(empties_side(&all_gone, &index, &ex));
        // A folder's deletion stands for what is below it.
        assert!(empties_side(&[gone("a"), gone("b.txt")], &index, &ex));
        let one_left = [gone("a"), gone("a/f"), kept("b.txt", false)];
        assert!(!empties_side(&one_left, &index, &ex));
        // Some paths deleted, the rest untouched: an ordinary deletion.
        assert!(!empties_side(&[gone("b.txt")], &index, &ex));
        assert!(!empties_side(
            &[kept("a", true), gone("b.txt")],
            &index,
            &ex
        ));
        assert!(!empties_side(&[], &Index::new(), &ex));
    }

    #[test]
    fn deleted_folders_are_looked_at_whole() {
        let mut snap = Snapshot::new();
        for (p, e) in [entry("d", true), entry("d/f", false), entry("g.txt", false)] {
            snap.insert(p, e);
        }
        let index = Index::from_snapshot(snap);
        let changes = [
            Change {
                path: RelPath::new("g.txt").unwrap(),
                new: None,
            },
            Change {
                path: RelPath::new("d").unwrap(),
                new: None,
            },
            Change {
                path: RelPath::new("new.txt").unwrap(),
                new: Some(Entry::file(1, 0)),
            },
        ];
        let (single, whole) = touched(&changes, &index);
        let p = |s: &str| RelPath::new(s).unwrap();
        assert_eq!(single, vec![p("g.txt"), p("new.txt")]);
        assert_eq!(whole, vec![RelPath::new("d").unwrap()]);
        // Locally: the folder's view keeps a file edited there since the index.
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("d/f"), "edited").unwrap();
        let view = || {
            local_view(
                dir.path(),
                &changes[1..2],
                &index,
                &|_, _| false,
                Symlinks::Portable,
                &super::super::links::Followed::default(),
            )
            .unwrap()
        };
        assert_eq!(view().get(&RelPath::new("d/f").unwrap()).unwrap().size, 6);
        std::fs::remove_dir_all(dir.path().join("d")).unwrap();
        let view = view();
        assert!(view.get(&RelPath::new("d/f").unwrap()).is_none());
        assert!(view.get(&RelPath::new("g.txt").unwrap()).is_some());
    }

    /// Runs `f` in a thread of its own whose file-system user is `nobody` when this
    /// process is root: Linux keeps the file-system uid per thread, and moving it off 0
    /// drops the thread's CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (capabilities(7)),
    /// so a `chmod 000` folder is as unreadable to it as to any user. Other threads keep
    /// root.
    fn as_unprivileged<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::spawn(move || {
            // SAFETY: setfsuid has no memory-safety preconditions; it affects only
            // the calling thread.
            unsafe {
                if libc::geteuid() == 0 {
                    libc::setfsuid(65534);
                    assert_eq!(libc::setfsuid(u32::MAX), 65534, "setfsuid did not take");
                }
            }
            f()
        })
        .join()
        .unwrap()
    }

    #[test]
    fn unreadable_local_folders_are_not_deletions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let mode = |p: &Path, m: u32| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
        };
        mode(&root, 0o755);
        std::fs::create_dir_all(root.join("a/sub")).unwrap();
        std::fs::write(root.join("a/f"), "x").unwrap();
        std::fs::write(root.join("a/sub/g"), "y").unwrap();
        std::fs::write(root.join("b.txt"), "b").unwrap();
        let mut snap = local::scan(&root, &|_, _| false).unwrap().snapshot;
        snap.insert(RelPath::new("gone.txt").unwrap(), Entry::file(1, 0));
        let index = Index::from_snapshot(snap);
        mode(&root.join("a"), 0o000);
        let r = root.clone();
        let (scan, result) = as_unprivileged(move || {
            let scan = local::scan(&r, &|_, _| false).unwrap();
            let batch = LocalBatch {
                rescan: true,
                ..LocalBatch::default()
            };
            (
                scan,
                local_changes(
                    &r,
                    &batch,
                    &index,
                    &|_, _| false,
                    Symlinks::Portable,
                    &mut Default::default(),
                )
                .unwrap(),
            )
        });
        mode(&root.join("a"), 0o755);
        // The folder really was unreadable to the scan.
        assert!(
            scan.errors
                .iter()
                .any(|e| e.path == "a" && e.kind == crate::local::LocalErrorKind::PermissionDenied),
            "the scan read the chmod 000 folder: {:?}",
            scan.errors
        );
        let (changes, _failures) = result;
        let change = |p: &str| changes.iter().find(|c| c.path.as_str() == p);
        for p in ["a/f", "a/sub", "a/sub/g"] {
            assert!(
                change(p).is_none_or(|c| c.new.is_some()),
                "{p} below an unreadable folder reads as deleted: {changes:?}"
            );
        }
        assert!(change("a").is_some_and(|c| c.new.as_ref().is_some_and(Entry::is_dir)));
        // What the scan can read still counts: a file missing on disk is a deletion.
        assert_eq!(change("gone.txt").map(|c| c.new.clone()), Some(None));
        assert!(change("b.txt").is_some_and(|c| c.new.is_some()));
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
            target: None,
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

    /// Under `symlinks: follow`, live local changes keep the followed links current: a
    /// rescan follows them, a retargeted link is compared whole (its old content
    /// deleted), a path below a link is read through it, a removed link is forgotten.
    #[test]
    fn follow_keeps_the_followed_links_current() {
        use std::os::unix::fs::symlink;
        let tmp = tempfile::tempdir().unwrap();
        let (root, out) = (tmp.path().join("src"), tmp.path().join("x"));
        std::fs::create_dir_all(root.join("d")).unwrap();
        std::fs::create_dir_all(out.join("deep")).unwrap();
        std::fs::write(out.join("o"), "outside").unwrap();
        std::fs::write(out.join("deep/p"), "p").unwrap();
        std::fs::write(root.join("d/y"), "y").unwrap();
        symlink("../x", root.join("l")).unwrap();
        let rel = |p: &str| RelPath::new(p).unwrap();
        let run =
            |batch: &LocalBatch, index: &Index, followed: &mut super::super::links::Followed| {
                let (changes, failures) = local_changes(
                    &root,
                    batch,
                    index,
                    &|_, _| false,
                    Symlinks::Follow,
                    followed,
                )
                .unwrap();
                assert!(failures.is_empty(), "{failures:?}");
                changes
                    .into_iter()
                    .map(|c| (c.path.as_str().to_string(), c.new.map(|e| e.kind)))
                    .collect::<Vec<_>>()
            };
        let paths = |ps: &[&str]| LocalBatch {
            paths: ps.iter().map(|p| rel(p)).collect(),
            ..LocalBatch::default()
        };
        let mut followed = Default::default();
        let rescan = LocalBatch {
            rescan: true,
            ..LocalBatch::default()
        };
        let all = run(&rescan, &Index::new(), &mut followed);
        let (file, dir) = (Some(EntryKind::File), Some(EntryKind::Dir));
        for (p, k) in [
            ("l", &dir),
            ("l/o", &file),
            ("l/deep", &dir),
            ("l/deep/p", &file),
        ] {
            assert!(all.contains(&(p.to_string(), k.clone())), "{p}: {all:?}");
        }
        assert_eq!(followed.tops(), vec![rel("l")]);
        let mut snap = local::scan(&root, &|_, _| false).unwrap();
        super::super::links::follow_scan(&root, &mut snap, &|_, _| false);
        let index = Index::from_snapshot(snap.snapshot);
        assert!(index.get(&rel("l/deep/p")).is_some());

        // An edit in the target, named below the link: read through it.
        std::fs::write(out.join("o"), "edited outside").unwrap();
        let got = run(&paths(&["l/o"]), &index, &mut followed);
        assert_eq!(got, vec![("l/o".to_string(), file.clone())]);

        // A change inside a target in the folder, seen at the link's path too.
        std::fs::remove_file(root.join("l")).unwrap();
        symlink("d", root.join("l")).unwrap();
        let mut via_d = followed.clone();
        via_d.insert(rel("l"), root.join("d").canonicalize().unwrap());
        std::fs::write(root.join("d/y"), "edited y").unwrap();
        let got = run(&paths(&["d/y"]), &index, &mut via_d);
        assert_eq!(
            got,
            vec![
                ("d/y".to_string(), file.clone()),
                ("l/y".to_string(), file.clone())
            ]
        );

        // Retargeted to `d`: the old content goes, the new comes.
        let got = run(&paths(&["l"]), &index, &mut followed);
        for (p, k) in [
            ("l", &dir),
            ("l/y", &file),
            ("l/o", &None),
            ("l/deep", &None),
            ("l/deep/p", &None),
        ] {
            assert!(got.contains(&(p.to_string(), k.clone())), "{p}: {got:?}");
        }
        assert_eq!(
            followed.resolve(&rel("l/y")).unwrap().0,
            root.join("d").canonicalize().unwrap()
        );

        // Removed: forgotten.
        std::fs::remove_file(root.join("l")).unwrap();
        let got = run(&paths(&["l"]), &index, &mut followed);
        assert_eq!(got, vec![("l".to_string(), None)]);
        assert!(followed.is_empty());
    }
}
