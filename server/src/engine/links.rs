//! Symbolic links per sync path (`symlinks:` in `ferry.yaml`): which links are synced, on
//! either side. A link that is not synced is left alone and made unknown to the planners
//! (an error of its side's scan or listing), so nothing replaces or deletes it — nor
//! what the other side has at its path. ferry never follows a link (`docs/config.md`).

use crate::config::Symlinks;
use crate::core::{EntryKind, RelPath};
use crate::local::{LocalError, LocalErrorKind, Scan};
use crate::remote::{self, LinkPolicy, Listing};

/// Why the local link at `path` with `target` is not synced under `mode`; `None`: it is.
pub fn local_skip(mode: Symlinks, path: &RelPath, target: &str) -> Option<&'static str> {
    match mode {
        Symlinks::Ignore => Some("symlinks: ignore"),
        Symlinks::Portable if target.starts_with('/') => Some(
            "an absolute link; symlinks: portable syncs relative links that stay inside the sync folder",
        ),
        Symlinks::Portable if !remote::target_inside(path, target) => Some(
            "its target leaves the sync folder; symlinks: portable syncs relative links that stay inside it",
        ),
        Symlinks::Portable => None,
    }
}

/// Leaves out of `scan` the local links `mode` does not sync, each one of
/// [`Scan::skipped_links`] (so its path is unknown).
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
        Symlinks::Ignore => LinkPolicy::Skip,
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
}
