//! Racy index entries (git's "racily clean" problem, see [`crate::core::index`]): a file
//! recorded less than [`RACY_WINDOW_NS`] after its mtime could be written again with the
//! same size and a mtime that the coarser of the two clocks cannot tell apart. Such an
//! entry is marked racy; observations of racy paths carry a content hash before they are
//! planned (the local file hashed here, the container's with `sha256sum`), so the planners
//! can tell an echo from a same-size edit; and [`super::SyncTask`] checks racy paths again
//! once the window has passed, clearing the marks it can.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use super::links::Followed;
use crate::core::{Change, ContentHash, Entry, EntryKind, Index, RelPath, Snapshot};
use crate::remote::{Session, SessionError};

/// How recent a recorded mtime must be, relative to the recording, to make the entry
/// racy where a side keeps only whole seconds (busybox `tar`, a `stat` without
/// fractions, a file system with second resolution): one second of resolution, plus a
/// second of slack for clocks that disagree a little.
pub const RACY_WINDOW_NS: i64 = 2_000_000_000;

/// The same where both sides keep nanoseconds: file systems stamp files from a coarse
/// clock (a few milliseconds on Linux), so two writes that close together look alike.
pub const RACY_WINDOW_PRECISE_NS: i64 = 100_000_000;

/// The racy window for an entry recorded with mtime `mtime`, when the container keeps
/// nanoseconds for it (`remote_precise`). A whole-second mtime means some side keeps
/// only seconds.
pub fn window(mtime: i64, remote_precise: bool) -> i64 {
    if remote_precise && mtime.rem_euclid(1_000_000_000) != 0 {
        RACY_WINDOW_PRECISE_NS
    } else {
        RACY_WINDOW_NS
    }
}

/// The content hash ferry records: `sha256:HEX` (what `sha256sum` in the container gives).
pub fn sha256(bytes: &[u8]) -> ContentHash {
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push_str(&format!("{b:02x}"));
    }
    ContentHash(format!("sha256:{hex}"))
}

/// Nanoseconds since the epoch, now.
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Whether a file entry with mtime `mtime` recorded at `now` is racy (conservatively,
/// with the wide window: used to tell when a racy entry may be checked again).
pub fn is_racy(mtime: i64, now: i64) -> bool {
    mtime > now.saturating_sub(RACY_WINDOW_NS)
}

/// Marks the file entries of the index at `paths` that are racy at `now`; returns them
/// (to be checked again once the window has passed). `remote_precise` says whether the
/// container keeps nanosecond mtimes for these entries (see [`window`]).
pub fn mark<'a>(
    index: &mut Index,
    paths: impl IntoIterator<Item = &'a RelPath>,
    now: i64,
    remote_precise: bool,
) -> Vec<RelPath> {
    let mut marked = Vec::new();
    for p in paths {
        let racy = index.get(p).is_some_and(|e| {
            e.kind == EntryKind::File
                && e.mtime > now.saturating_sub(window(e.mtime, remote_precise))
        });
        if racy {
            index.set_racy(p, true);
            marked.push(p.clone());
        }
    }
    marked
}

/// Whether `observed` needs a hash to be compared with the index at `path`: the entry is
/// racy and the metadata alone would say "unchanged".
fn needs_hash(index: &Index, path: &RelPath, observed: &Entry) -> bool {
    observed.kind == EntryKind::File
        && observed.hash.is_none()
        && index.is_racy(path)
        && index.get(path).is_some_and(|b| {
            crate::core::same_version(Some(observed), Some(b), crate::core::Tolerance::EXACT)
        })
}

/// The local content hash of `path` under `root` (read through `followed` at or below a
/// followed link), if it can be read.
pub fn local_hash(root: &Path, followed: &Followed, path: &RelPath) -> Option<ContentHash> {
    super::links::read_local(root, followed, path)
        .ok()
        .map(|(_, bytes)| sha256(&bytes))
}

/// Gives the local observations in `changes` at racy paths their content hash.
pub fn hash_local_changes(root: &Path, followed: &Followed, changes: &mut [Change], index: &Index) {
    for c in changes.iter_mut() {
        if let Some(e) = c.new.as_mut() {
            if needs_hash(index, &c.path, e) {
                e.hash = local_hash(root, followed, &c.path);
            }
        }
    }
}

/// Gives the local entries of `view` at racy paths their content hash.
pub fn hash_local_view(root: &Path, followed: &Followed, view: &mut Snapshot, index: &Index) {
    let want: Vec<RelPath> = index
        .racy()
        .iter()
        .filter(|p| view.get(p).is_some_and(|e| needs_hash(index, p, e)))
        .cloned()
        .collect();
    for p in want {
        if let (Some(mut e), Some(h)) = (view.get(&p).cloned(), local_hash(root, followed, &p)) {
            e.hash = Some(h);
            view.insert(p, e);
        }
    }
}

/// The container's content hashes of `paths` (`None` where it cannot tell).
async fn remote_hashes(
    session: &mut Session,
    paths: &[RelPath],
) -> Result<Vec<Option<ContentHash>>, SessionError> {
    Ok(session
        .checksums(paths)
        .await?
        .into_iter()
        .map(|h| h.map(ContentHash))
        .collect())
}

/// Gives the container's observations in `changes` at racy paths their content hash.
pub async fn hash_remote_changes(
    session: &mut Session,
    changes: &mut [Change],
    index: &Index,
) -> Result<(), SessionError> {
    let at: Vec<usize> = changes
        .iter()
        .enumerate()
        .filter(|(_, c)| {
            c.new
                .as_ref()
                .is_some_and(|e| needs_hash(index, &c.path, e))
        })
        .map(|(i, _)| i)
        .collect();
    if at.is_empty() {
        return Ok(());
    }
    let paths: Vec<RelPath> = at.iter().map(|i| changes[*i].path.clone()).collect();
    let hashes = remote_hashes(session, &paths).await?;
    for (i, h) in at.into_iter().zip(hashes) {
        if let Some(e) = changes[i].new.as_mut() {
            e.hash = h;
        }
    }
    Ok(())
}

/// Gives the container's entries of `view` at racy paths their content hash.
pub async fn hash_remote_view(
    session: &mut Session,
    view: &mut Snapshot,
    index: &Index,
) -> Result<(), SessionError> {
    let paths: Vec<RelPath> = index
        .racy()
        .iter()
        .filter(|p| view.get(p).is_some_and(|e| needs_hash(index, p, e)))
        .cloned()
        .collect();
    if paths.is_empty() {
        return Ok(());
    }
    let hashes = remote_hashes(session, &paths).await?;
    for (p, h) in paths.into_iter().zip(hashes) {
        if let (Some(mut e), Some(h)) = (view.get(&p).cloned(), h) {
            e.hash = Some(h);
            view.insert(p, e);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_sha256sum_compatible() {
        assert_eq!(
            sha256(b"abc").0,
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn only_recent_file_entries_become_racy() {
        let now = 100 * 1_000_000_000;
        let mut snap = Snapshot::new();
        let p = |s: &str| RelPath::new(s).unwrap();
        snap.insert(p("new"), Entry::file(1, now - 500_000_000));
        snap.insert(p("old"), Entry::file(1, now - 5_000_000_000));
        snap.insert(p("future"), Entry::file(1, now + 9_000_000_000));
        snap.insert(p("dir"), Entry::dir());
        let mut index = Index::from_snapshot(snap);
        let all = [p("new"), p("old"), p("future"), p("dir"), p("unknown")];
        let marked = mark(&mut index, all.iter(), now, false);
        assert_eq!(marked, [p("new"), p("future")]);
        let racy: Vec<&str> = index.racy().iter().map(RelPath::as_str).collect();
        assert_eq!(racy, ["future", "new"]);
        // Where the container keeps nanoseconds, only what is younger than the file
        // systems' clock granularity (with slack) is racy.
        let mut snap = Snapshot::new();
        snap.insert(p("just"), Entry::file(1, now - 50_000_000 + 1));
        snap.insert(p("a-moment-ago"), Entry::file(1, now - 500_000_000 + 1));
        snap.insert(p("whole-second"), Entry::file(1, now - 1_000_000_000));
        let mut index = Index::from_snapshot(snap);
        let all = [p("just"), p("a-moment-ago"), p("whole-second")];
        let marked = mark(&mut index, all.iter(), now, true);
        assert_eq!(marked, [p("just"), p("whole-second")]);
    }
}
