//! Between the remote session's records and the core's entries.

use crate::core::{ContentHash, Entry, EntryKind, Snapshot};
use crate::remote::{self, DownloadedEntry, DownloadedKind, Listing, Mtime, RemoteEntry};

/// Nanoseconds since the epoch of a remote time, clamped to what `i64` nanoseconds
/// hold (years 1678 to 2262; the local scanner clamps the same way). Two times beyond
/// that range on the same side compare equal, so there only the size tells a change.
pub fn mtime_ns(m: Mtime) -> i64 {
    m.secs
        .saturating_mul(1_000_000_000)
        .saturating_add(i64::from(m.nanos))
}

/// A remote time from nanoseconds since the epoch.
pub fn mtime_of(ns: i64) -> Mtime {
    Mtime::new(
        ns.div_euclid(1_000_000_000),
        ns.rem_euclid(1_000_000_000) as u32,
    )
}

/// The core entry of a listed remote path; `None` for what ferry does not sync
/// (symlinks whose target was not read, devices, FIFOs, sockets).
pub fn remote_entry(e: &RemoteEntry) -> Option<Entry> {
    let kind = match (&e.kind, &e.target) {
        (remote::EntryKind::File, _) => EntryKind::File,
        (remote::EntryKind::Dir, _) => EntryKind::Dir,
        (remote::EntryKind::Symlink, Some(target)) => EntryKind::Symlink(target.clone()),
        (remote::EntryKind::Symlink, None) | (remote::EntryKind::Other, _) => return None,
    };
    Some(Entry {
        size: if kind == EntryKind::Dir { 0 } else { e.size },
        kind,
        mtime: mtime_ns(e.mtime),
        mode: e.mode & 0o7777,
        hash: None,
    })
}

/// The core entry of a downloaded file (with its `sha256:` content hash), folder or
/// symlink.
pub fn downloaded_entry(e: &DownloadedEntry) -> Option<Entry> {
    match &e.kind {
        DownloadedKind::File { size, .. } => Some(Entry {
            kind: EntryKind::File,
            size: *size,
            mtime: mtime_ns(e.mtime),
            mode: e.mode & 0o7777,
            hash: e.content_hash().map(ContentHash),
        }),
        DownloadedKind::Dir => Some(Entry::dir().with_mode(e.mode & 0o7777)),
        DownloadedKind::Symlink { target } => Some(Entry::symlink(target, mtime_ns(e.mtime))),
    }
}

/// The snapshot of a listing: every file and folder (see [`remote_entry`]), except
/// what `skip` leaves out (a skipped folder with its contents). Returns the snapshot and how many entries of kinds ferry
/// does not sync were left out.
pub fn snapshot_of(
    listing: &Listing,
    skip: &dyn Fn(&crate::core::RelPath, bool) -> bool,
) -> (Snapshot, usize) {
    let mut snapshot = Snapshot::new();
    let mut unsupported = 0;
    let mut skipped_dirs: Vec<&crate::core::RelPath> = Vec::new();
    for e in &listing.entries {
        if skipped_dirs.iter().any(|d| d.is_ancestor_of(&e.path)) {
            continue;
        }
        let is_dir = e.kind == remote::EntryKind::Dir;
        if skip(&e.path, is_dir) {
            if is_dir {
                skipped_dirs.push(&e.path);
            }
            continue;
        }
        match remote_entry(e) {
            Some(entry) => {
                snapshot.insert(e.path.clone(), entry);
            }
            None => unsupported += 1,
        }
    }
    (snapshot, unsupported)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mtimes_round_trip() {
        for ns in [
            0i64,
            1,
            999_999_999,
            1_700_000_000_123_456_789,
            -1,
            -1_500_000_000,
        ] {
            assert_eq!(mtime_ns(mtime_of(ns)), ns, "{ns}");
        }
    }

    #[test]
    fn times_beyond_i64_nanoseconds_are_clamped() {
        // The old `saturating_mul(..) + nanos` overflowed here.
        assert_eq!(mtime_ns(Mtime::new(i64::MAX, 999_999_999)), i64::MAX);
        assert_eq!(
            mtime_ns(Mtime::new(i64::MAX / 1_000_000_000, 999_999_999)),
            i64::MAX
        );
        assert_eq!(
            mtime_ns(Mtime::new(i64::MIN, 999_999_999)),
            i64::MIN + 999_999_999
        );
        assert_eq!(mtime_ns(Mtime::new(i64::MIN, 0)), i64::MIN);
    }
}
