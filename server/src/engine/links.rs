//! Symbolic links per sync path (`symlinks:` in `ferry.yaml`): which links are synced, on
//! either side. A link that is not synced is left alone and made unknown to the planners
//! (an error of its side's scan or listing), so nothing replaces or deletes it — nor
//! what the other side has at its path. `portable` and `ignore` never follow a link
//! (`docs/config.md`).
//!
//! `follow` follows *local* links for upload only: [`follow_scan`] puts the target's file
//! or folder (recursively) into the scan at the link's path and records each followed
//! link in [`Followed`] (link path → canonical target). Reads of that content go through
//! [`read_local`] / [`stat_local`], which map a path at or below a followed link to the
//! real file; `local::read_file` itself keeps refusing links. Followed content is one
//! way: the task makes every followed link's subtree upload-only in its
//! [`crate::core::ExcludeSet`] ([`crate::core::ExcludeSet::set_upload_only`]), so the
//! planners never plan a download, local deletion, rename or conflict copy there — the
//! same rule that keeps any download-excluded path local, and property-tested with it.
//! An exclude rather than dropping actions after planning: a dropped action would leave
//! the planner's own bookkeeping (records, conflict copies) half carried out. Container
//! links under `follow` are left alone as under `ignore` (following them would read
//! outside the container folder).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::config::Symlinks;
use crate::core::{Entry, EntryKind, RelPath};
use crate::local::{self, LocalError, LocalErrorKind, Scan};
use crate::remote::{self, LinkPolicy, Listing};

/// Why the local link at `path` with `target` is not synced *as a link* under `mode`;
/// `None`: it is. Under `follow` no link is synced as a link: what it points to is
/// ([`follow_scan`]).
pub fn local_skip(mode: Symlinks, path: &RelPath, target: &str) -> Option<&'static str> {
    match mode {
        Symlinks::Ignore => Some("symlinks: ignore"),
        Symlinks::Follow => Some("symlinks: follow syncs what it points to"),
        Symlinks::Portable if target.starts_with('/') => Some(
            "an absolute link; symlinks: portable syncs relative links that stay inside the sync folder",
        ),
        Symlinks::Portable if !remote::target_inside(path, target) => Some(
            "its target leaves the sync folder; symlinks: portable syncs relative links that stay inside it",
        ),
        Symlinks::Portable => None,
    }
}

/// Leaves out of `scan` the local links `mode` does not sync as links, each one of
/// [`Scan::skipped_links`] (so its path is unknown). Under `follow` this makes every link
/// unknown: for a view of the local side that must not guess (see [`follow_scan`] for
/// the scans that follow them).
pub fn filter_scan(scan: &mut Scan, mode: Symlinks) {
    let mut skipped = Vec::new();
    for (p, e) in scan.snapshot.iter() {
        if let EntryKind::Symlink(target) = &e.kind {
            if let Some(why) = local_skip(mode, p, target) {
                skipped.push((p.clone(), why));
            }
        }
    }
    for (p, why) in skipped {
        scan.snapshot.remove(&p);
        scan.skipped_links.push(skipped_local(&p, why));
    }
}

/// What a scan's links become under `mode`: followed under `follow` ([`follow_scan`],
/// returning what was followed), else filtered ([`filter_scan`], nothing followed).
/// `root` is the local sync folder the scan is of, `skip` the scan's filter.
pub fn settle(
    root: &Path,
    scan: &mut Scan,
    mode: Symlinks,
    skip: &dyn Fn(&RelPath, bool) -> bool,
) -> Followed {
    match mode {
        Symlinks::Follow => follow_scan(root, scan, skip),
        _ => {
            filter_scan(scan, mode);
            Followed::default()
        }
    }
}

/// The error that makes a skipped local link unknown.
pub fn skipped_local(path: &RelPath, why: &str) -> LocalError {
    LocalError::new(
        path.as_str(),
        LocalErrorKind::SkippedLink,
        format!("a symlink ferry does not sync ({why}); it is left alone on both sides"),
    )
}

/// What the session's listings do with container links under `mode`.
pub fn policy(mode: Symlinks) -> LinkPolicy {
    match mode {
        Symlinks::Portable => LinkPolicy::Read,
        Symlinks::Ignore => LinkPolicy::Skip("symlinks: ignore"),
        Symlinks::Follow => LinkPolicy::Skip(
            "symlinks: follow follows local links only; a container link is left alone",
        ),
    }
}

/// Logs the links a scan or listing skipped, with why (the sync log's per-file
/// warning); nothing with `symlinks: ignore`, which asks for exactly that.
pub fn log_skipped(sync: &str, mode: Symlinks, scan: Option<&Scan>, listing: Option<&Listing>) {
    if mode == Symlinks::Ignore {
        return;
    }
    for e in scan.map_or(&[][..], |s| &s.skipped_links[..]) {
        tracing::warn!(sync, "not synced: local {}: {}", e.path, e.message);
    }
    for e in listing.map_or(&[][..], |l| &l.skipped_links[..]) {
        tracing::info!(
            sync,
            "not synced: in the container {}: {}",
            e.path,
            e.message
        );
    }
}

/// The local links `symlinks: follow` followed: each link's path (in the sync folder's
/// namespace, also below another followed link) → the canonical path of the file or
/// folder it points to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Followed {
    links: BTreeMap<RelPath, PathBuf>,
}

impl Followed {
    /// Whether nothing is followed.
    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    /// Every followed link with its canonical target.
    pub fn iter(&self) -> impl Iterator<Item = (&RelPath, &PathBuf)> {
        self.links.iter()
    }

    /// Records that the link at `link` is followed to `target`.
    pub fn insert(&mut self, link: RelPath, target: PathBuf) {
        self.links.insert(link, target);
    }

    /// Adds everything `other` followed.
    pub fn extend(&mut self, other: Followed) {
        self.links.extend(other.links);
    }

    /// Forgets the followed links at and below `path`.
    pub fn remove_at_or_below(&mut self, path: &RelPath) {
        self.links
            .retain(|l, _| l != path && !path.is_ancestor_of(l));
    }

    /// The followed link nearest to `path`: `path` itself or its nearest ancestor that is
    /// one.
    fn nearest(&self, path: &RelPath) -> Option<(&RelPath, &PathBuf)> {
        if self.links.is_empty() {
            return None;
        }
        self.links
            .get_key_value(path)
            .or_else(|| path.ancestors().find_map(|a| self.links.get_key_value(&a)))
    }

    /// Whether `path` is a followed link or below one (its content only goes up).
    pub fn covers(&self, path: &RelPath) -> bool {
        self.nearest(path).is_some()
    }

    /// Whether `path` is below a followed link (not one itself, nor outside them).
    pub fn covers_below(&self, path: &RelPath) -> bool {
        path.ancestors().any(|a| self.links.contains_key(&a))
    }

    /// The paths at which `changed` (real paths of the sync folder `root`, as the local
    /// watcher reports them) are also seen: where a followed link's target is in the
    /// folder, a change at or below the target is one at or below the link (`d/x` for
    /// `ld` → `d` is also `ld/x`). Targets outside the folder have no events to map.
    pub fn aliases(&self, root: &Path, changed: &BTreeSet<RelPath>) -> BTreeSet<RelPath> {
        let mut out = BTreeSet::new();
        if self.links.is_empty() || changed.is_empty() {
            return out;
        }
        let Ok(canonical_root) = fs::canonicalize(root) else {
            return out;
        };
        for p in changed {
            let real = canonical_root.join(p.as_str());
            for (link, target) in &self.links {
                let Ok(rest) = real.strip_prefix(target) else {
                    continue;
                };
                let alias = match rest.to_str() {
                    Some("") => Some(link.clone()),
                    Some(rest) => prefixed(link, rest),
                    None => None,
                };
                out.extend(alias.filter(|a| a != p));
            }
        }
        out
    }

    /// The followed links that are not below another: the subtrees that only go up.
    pub fn tops(&self) -> Vec<RelPath> {
        let mut out: Vec<RelPath> = Vec::new();
        for l in self.links.keys() {
            // Sorted so that an ancestor comes before everything below it.
            if !out.last().is_some_and(|t| t.is_ancestor_of(l)) {
                out.push(l.clone());
            }
        }
        out
    }

    /// Where `path`, at or below a followed link, really is: a folder with no link in it
    /// (a canonical path) and the path below it, to be read with the usual checks that
    /// nothing on the way below that folder is a link (`local::read_file`,
    /// `local::stat`). `None` when `path` is not covered. A followed link maps to its
    /// target's folder and name; a path below one to the target folder and the rest of
    /// the path (a link further down is in the map itself, and the nearest one wins).
    pub fn resolve(&self, path: &RelPath) -> Option<(PathBuf, RelPath)> {
        let (link, target) = self.nearest(path)?;
        match path.below(link) {
            Some(rest) => Some((target.clone(), RelPath::new(rest).ok()?)),
            None => {
                let parent = target.parent()?;
                let name = RelPath::new(target.file_name()?.to_str()?).ok()?;
                Some((parent.to_path_buf(), name))
            }
        }
    }
}

/// The local entry at `path` as the sync sees it: through [`Followed`] at or below a
/// followed link (the target's file or folder), else `local::stat`.
///
/// # Errors
///
/// As `local::stat`, for the real path (shown as `path`).
pub fn stat_local(
    root: &Path,
    followed: &Followed,
    path: &RelPath,
) -> Result<Option<Entry>, LocalError> {
    match followed.resolve(path) {
        Some((base, rel)) => local::stat(&base, &rel).map_err(|e| shown_as(e, path)),
        None => local::stat(root, path),
    }
}

/// The content of the local file at `path` with the entry that describes it
/// (`local::read_file`: stat–read–stat until stable, never through a link), read from
/// the real file when `path` is at or below a followed link.
///
/// # Errors
///
/// As `local::read_file`, for the real path (shown as `path`).
pub fn read_local(
    root: &Path,
    followed: &Followed,
    path: &RelPath,
) -> Result<(Entry, Vec<u8>), LocalError> {
    match followed.resolve(path) {
        Some((base, rel)) => local::read_file(&base, &rel).map_err(|e| shown_as(e, path)),
        None => local::read_file(root, path),
    }
}

/// `e` (about a path below a followed link's target) named by the path it has in the
/// sync folder.
fn shown_as(mut e: LocalError, path: &RelPath) -> LocalError {
    e.path = path.as_str().to_string();
    e
}

/// Whether a folder link to `target` (canonical) would loop: `target` is one of the
/// folders the link sits in on the current chain of followed links, or contains one
/// (`chain`: the canonical folders that hold each link on the chain, the link's own
/// last). Following it would reach the link again, forever.
pub fn is_loop(chain: &[PathBuf], target: &Path) -> bool {
    chain.iter().any(|held_in| held_in.starts_with(target))
}

/// What one link leads to.
enum Target {
    File(PathBuf, fs::Metadata),
    Dir(PathBuf, fs::Metadata),
    /// Not followed, with why (a warning, not a failure).
    Skip(String),
    Error(LocalError),
}

/// Follows the link at `abs` (shown as `link`) whose containing folders on the chain are
/// `chain`.
fn target_of(link: &RelPath, abs: &Path, chain: &[PathBuf]) -> Target {
    let text = fs::read_link(abs)
        .map(|t| t.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dangling = || {
        Target::Skip(format!(
            "symlinks: follow: it is dangling, nothing is at {text:?}"
        ))
    };
    let canonical = match fs::canonicalize(abs) {
        Ok(c) => c,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return dangling(),
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => return dangling(),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Target::Skip(format!(
                "symlinks: follow: a loop, its chain of links ({text:?} …) never ends"
            ))
        }
        Err(e) => return Target::Error(LocalError::io(link, "following the symlink", e)),
    };
    match fs::metadata(&canonical) {
        Ok(m) if m.is_file() => Target::File(canonical, m),
        Ok(m) if m.is_dir() && is_loop(chain, &canonical) => Target::Skip(format!(
            "symlinks: follow: a loop, it points to {}, a folder it is in",
            canonical.display()
        )),
        Ok(m) if m.is_dir() => Target::Dir(canonical, m),
        Ok(_) => Target::Skip(
            "symlinks: follow: it points to a device, FIFO or socket, which has no content".into(),
        ),
        Err(e) if e.kind() == io::ErrorKind::NotFound => dangling(),
        Err(e) => Target::Error(LocalError::io(link, "following the symlink", e)),
    }
}

/// Follows the local links of `scan` (of the sync folder `root`, with the scan's filter
/// `skip`): each becomes the target's file (its content, mode and mtime) or folder (and
/// everything below it, links in it followed the same way) at the link's path. A dangling
/// link, a loop ([`is_loop`]) or a link to a special file is one of
/// [`Scan::skipped_links`]; a target that cannot be read is one of [`Scan::errors`]
/// (both unknown). Returns what was followed.
pub fn follow_scan(
    root: &Path,
    scan: &mut Scan,
    skip: &dyn Fn(&RelPath, bool) -> bool,
) -> Followed {
    let canonical_root = fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let links: Vec<RelPath> = scan
        .snapshot
        .iter()
        .filter(|(_, e)| matches!(e.kind, EntryKind::Symlink(_)))
        .map(|(p, _)| p.clone())
        .collect();
    let mut followed = Followed::default();
    for link in links {
        scan.snapshot.remove(&link);
        // The scan does not go through links: the link's folders are real ones.
        let held_in = match link.parent() {
            Some(parent) => canonical_root.join(parent.as_str()),
            None => canonical_root.clone(),
        };
        let mut chain = Vec::new();
        follow_one(&link, held_in, &mut chain, scan, skip, &mut followed);
    }
    followed
}

/// Follows the link `link` in the real folder `held_in`, with `chain` the folders of the
/// links followed to reach it.
fn follow_one(
    link: &RelPath,
    held_in: PathBuf,
    chain: &mut Vec<PathBuf>,
    scan: &mut Scan,
    skip: &dyn Fn(&RelPath, bool) -> bool,
    followed: &mut Followed,
) {
    let abs = held_in.join(link.name());
    chain.push(held_in);
    match target_of(link, &abs, chain) {
        Target::Skip(why) => scan.skipped_links.push(skipped_local(link, &why)),
        Target::Error(e) => scan.errors.push(e),
        Target::File(target, meta) => {
            scan.snapshot
                .insert(link.clone(), local::entry_from_metadata(&meta, None));
            followed.insert(link.clone(), target);
        }
        Target::Dir(_, _) if skip(link, true) => {}
        Target::Dir(target, meta) => {
            let below = |r: &RelPath, is_dir: bool| {
                prefixed(link, r.as_str()).is_some_and(|p| skip(&p, is_dir))
            };
            match local::scan(&target, &below) {
                Err(mut e) => {
                    e.path = link.as_str().to_string();
                    e.message = format!(
                        "the folder the symlink points to ({}) cannot be read: {}",
                        target.display(),
                        e.message
                    );
                    scan.errors.push(e);
                }
                Ok(sub) => {
                    scan.snapshot
                        .insert(link.clone(), local::entry_from_metadata(&meta, None));
                    let mut nested = Vec::new();
                    for (r, e) in sub.snapshot.iter() {
                        let Some(p) = prefixed(link, r.as_str()) else {
                            continue;
                        };
                        if matches!(e.kind, EntryKind::Symlink(_)) {
                            let held_in = match r.parent() {
                                Some(parent) => target.join(parent.as_str()),
                                None => target.clone(),
                            };
                            nested.push((p, held_in));
                        } else {
                            scan.snapshot.insert(p, e.clone());
                        }
                    }
                    for mut e in sub.errors {
                        e.path = if e.path.is_empty() {
                            link.as_str().to_string()
                        } else {
                            format!("{link}/{}", e.path)
                        };
                        scan.errors.push(e);
                    }
                    followed.insert(link.clone(), target);
                    for (p, held_in) in nested {
                        follow_one(&p, held_in, chain, scan, skip, followed);
                    }
                }
            }
        }
    }
    chain.pop();
}

/// `link/rest` as a path of the sync folder.
fn prefixed(link: &RelPath, rest: &str) -> Option<RelPath> {
    RelPath::new(&format!("{link}/{rest}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Entry, Snapshot};

    fn rel(p: &str) -> RelPath {
        RelPath::new(p).unwrap()
    }

    #[test]
    fn portable_keeps_relative_links_that_stay_inside() {
        let m = Symlinks::Portable;
        assert_eq!(local_skip(m, &rel("a"), "b"), None);
        assert_eq!(local_skip(m, &rel("src/a"), "../lib/x"), None);
        assert_eq!(local_skip(m, &rel("src/a"), "./x/../y"), None);
        assert_eq!(local_skip(m, &rel("loop"), "loop"), None);
        assert!(local_skip(m, &rel("a"), "../x").is_some());
        assert!(local_skip(m, &rel("src/a"), "../../x").is_some());
        assert!(local_skip(m, &rel("a"), "/etc")
            .unwrap()
            .contains("absolute"));
        assert!(local_skip(m, &rel("a"), "").is_some());
        for t in ["b", "../x", "/etc"] {
            assert_eq!(
                local_skip(Symlinks::Ignore, &rel("a"), t),
                Some("symlinks: ignore")
            );
        }
    }

    #[test]
    fn a_filtered_scan_makes_skipped_links_unknown() {
        let mut snapshot = Snapshot::new();
        snapshot.insert(rel("in"), Entry::symlink("f", 0));
        snapshot.insert(rel("out"), Entry::symlink("../x", 0));
        snapshot.insert(rel("f"), Entry::file(1, 0));
        let mut scan = Scan {
            snapshot,
            ..Scan::default()
        };
        filter_scan(&mut scan, Symlinks::Portable);
        assert!(scan.snapshot.get(&rel("in")).is_some());
        assert!(scan.snapshot.get(&rel("out")).is_none());
        assert!(scan.is_unknown(&rel("out")));
        assert!(!scan.is_unknown(&rel("in")));
        filter_scan(&mut scan, Symlinks::Ignore);
        assert!(scan.snapshot.get(&rel("in")).is_none());
        assert!(scan.is_unknown(&rel("in")));
        assert!(scan.snapshot.get(&rel("f")).is_some());
    }

    #[test]
    fn follow_syncs_no_link_as_a_link_and_container_links_are_left_alone() {
        for t in ["b", "../x", "/etc"] {
            assert!(local_skip(Symlinks::Follow, &rel("a"), t).is_some());
        }
        assert!(matches!(policy(Symlinks::Follow), LinkPolicy::Skip(_)));
        assert!(matches!(policy(Symlinks::Ignore), LinkPolicy::Skip(_)));
        assert_eq!(policy(Symlinks::Portable), LinkPolicy::Read);
    }

    #[test]
    fn a_loop_is_a_folder_link_to_a_folder_it_is_in() {
        let chain = [PathBuf::from("/w/src/a"), PathBuf::from("/t/sub")];
        for looping in ["/w/src/a", "/w/src", "/w", "/", "/t/sub", "/t"] {
            assert!(is_loop(&chain, Path::new(looping)), "{looping}");
        }
        for fine in [
            "/w/src/a/b",
            "/w/src/b",
            "/w/srcx",
            "/t/subx",
            "/t/other",
            "/x",
        ] {
            assert!(!is_loop(&chain, Path::new(fine)), "{fine}");
        }
        assert!(!is_loop(&[], Path::new("/")));
    }

    #[test]
    fn followed_paths_map_to_the_real_files_nearest_link_first() {
        let mut f = Followed::default();
        f.insert(rel("lf"), PathBuf::from("/t/file.txt"));
        f.insert(rel("ld"), PathBuf::from("/t/dir"));
        f.insert(rel("ld/in/nested"), PathBuf::from("/u/other"));
        let r = |p: &str| {
            f.resolve(&rel(p))
                .map(|(b, r)| (b.display().to_string(), r.as_str().to_string()))
        };
        let pair = |b: &str, r: &str| Some((b.to_string(), r.to_string()));
        assert_eq!(r("lf"), pair("/t", "file.txt"));
        assert_eq!(r("ld"), pair("/t", "dir"));
        assert_eq!(r("ld/x"), pair("/t/dir", "x"));
        assert_eq!(r("ld/in/y/z"), pair("/t/dir", "in/y/z"));
        assert_eq!(r("ld/in/nested"), pair("/u", "other"));
        assert_eq!(r("ld/in/nested/q"), pair("/u/other", "q"));
        assert_eq!(r("ldx"), None);
        assert_eq!(r("other/ld"), None);
        assert!(f.covers(&rel("ld")) && f.covers(&rel("ld/x")) && !f.covers(&rel("l")));
        assert!(!f.covers_below(&rel("ld")) && f.covers_below(&rel("ld/x")));
        assert_eq!(f.tops(), vec![rel("ld"), rel("lf")]);
        f.remove_at_or_below(&rel("ld"));
        assert_eq!(f.tops(), vec![rel("lf")]);
        assert_eq!(f.resolve(&rel("ld/in/nested/q")), None);
    }

    /// A tree with every kind of link, followed: files and folders at the links' paths,
    /// the dangling link and the loops skipped, an unreadable target an error.
    #[test]
    fn a_followed_scan_has_the_targets_at_the_links_paths() {
        use std::os::unix::fs::{symlink, PermissionsExt};
        let tmp = tempfile::tempdir().unwrap();
        let w = tmp.path();
        let root = w.join("src");
        let write = |p: &Path, s: &str| {
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, s).unwrap();
        };
        write(&root.join("f"), "file\n");
        write(&root.join("d/x"), "in d\n");
        write(&w.join("x/o"), "outside\n");
        write(&w.join("x/deep/p"), "deeper\n");
        write(&w.join("locked/secret"), "no\n");
        for (p, t) in [
            ("lf", "f"),
            ("ld", "d"),
            ("out", "../x"),
            ("dang", "nothing-here"),
            ("d/up", ".."),
            ("self", "self"),
            ("a", "b"),
            ("b", "a"),
            ("locked", "../locked"),
        ] {
            symlink(t, root.join(p)).unwrap();
        }
        // A link in the outside folder back into the followed chain, and one onward.
        symlink(w.join("x"), w.join("x/deep/back")).unwrap();
        symlink(root.join("f"), w.join("x/deep/tof")).unwrap();
        fs::set_permissions(w.join("locked"), fs::Permissions::from_mode(0o000)).unwrap();
        let readable = fs::read_dir(w.join("locked")).is_ok(); // root reads anything
        let mut scan = local::scan(&root, &|_, _| false).unwrap();
        let followed = follow_scan(&root, &mut scan, &|p, _| p.as_str() == "out/deep/p");
        fs::set_permissions(w.join("locked"), fs::Permissions::from_mode(0o755)).unwrap();
        let kind = |p: &str| scan.snapshot.get(&rel(p)).map(|e| e.kind.clone());
        assert_eq!(kind("lf"), Some(EntryKind::File));
        assert_eq!(scan.snapshot.get(&rel("lf")).unwrap().size, 5);
        assert_eq!(kind("ld"), Some(EntryKind::Dir));
        assert_eq!(kind("ld/x"), Some(EntryKind::File));
        assert_eq!(kind("out"), Some(EntryKind::Dir));
        assert_eq!(kind("out/o"), Some(EntryKind::File));
        assert_eq!(kind("out/deep"), Some(EntryKind::Dir));
        assert_eq!(
            kind("out/deep/p"),
            None,
            "the filter applies below a link too"
        );
        assert_eq!(kind("out/deep/tof"), Some(EntryKind::File));
        for skipped in ["dang", "d/up", "ld/up", "self", "a", "b", "out/deep/back"] {
            assert_eq!(kind(skipped), None, "{skipped}");
            assert!(
                scan.skipped_links.iter().any(|e| e.path == skipped),
                "{skipped} skipped: {:?}",
                scan.skipped_links
            );
            assert!(scan.is_unknown(&rel(skipped)));
        }
        assert!(!scan
            .snapshot
            .iter()
            .any(|(_, e)| matches!(e.kind, EntryKind::Symlink(_))));
        if !readable {
            assert_eq!(kind("locked"), None);
            assert!(
                scan.errors.iter().any(|e| e.path == "locked"),
                "{:?}",
                scan.errors
            );
        }
        // Reads go to the real files.
        let (entry, bytes) = read_local(&root, &followed, &rel("out/o")).unwrap();
        assert_eq!((bytes.as_slice(), entry.size), (&b"outside\n"[..], 8));
        assert_eq!(
            read_local(&root, &followed, &rel("lf")).unwrap().1,
            b"file\n"
        );
        assert_eq!(
            read_local(&root, &followed, &rel("out/deep/tof"))
                .unwrap()
                .1,
            b"file\n"
        );
        assert_eq!(
            stat_local(&root, &followed, &rel("ld"))
                .unwrap()
                .map(|e| e.kind),
            Some(EntryKind::Dir)
        );
        // Not through a link the map does not know.
        assert!(read_local(&root, &followed, &rel("dang")).is_err());
        assert!(read_local(&root, &Followed::default(), &rel("lf")).is_err());
        let mut tops = vec![rel("ld"), rel("lf"), rel("out")];
        if readable {
            tops.insert(2, rel("locked"));
        }
        assert_eq!(followed.tops(), tops);
    }
}
