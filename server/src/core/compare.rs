//! Comparing two entries: [`Tolerance`] for modification times, [`difference`] between a
//! local and a remote entry, [`same_version`] for "changed since the index?".
//!
//! # The rules
//!
//! - **Kinds** (file, directory, symlink) differ → [`Difference::Kind`].
//! - **Directories** of the same kind never differ (their times and modes are not synced).
//! - **Symlinks** are the same when their targets are.
//! - **Files**: when both carry a hash of the same algorithm, the hash alone decides
//!   whether the content is the same. Otherwise the content counts as the same when the
//!   sizes are equal and the mtimes are equal under the [`Tolerance`]. Same content with
//!   different executable bits is [`Difference::Mode`]; other permission bits are not
//!   compared (see [`super::entry::EXEC_BITS`]).
//! - Different content: the file with the later mtime is newer ([`Difference::Newer`]);
//!   equal mtimes (under the tolerance) give [`Difference::SameTime`].
//!
//! # The tolerance
//!
//! Two mtimes are equal when any of these holds:
//!
//! 1. they are equal to the nanosecond;
//! 2. **precision rule**: they fall in the same unit of the coarser of their two
//!    precisions. A time that is a whole number of seconds (milliseconds, microseconds)
//!    is taken to be known only to the second (ms, µs) — it came through `tar`, through
//!    `stat` without sub-second output (busybox), or from a filesystem that keeps whole
//!    seconds — and is compared after truncating both times to that unit. A file uploaded
//!    with mtime 10.7 s and listed in the container as 10 s is therefore unchanged, while
//!    two nanosecond times are compared exactly;
//! 3. they differ by less than [`Tolerance::slack_ns`]. The default slack is 1 s, and it
//!    applies only when a local entry is compared with a remote one without a common
//!    base (the initial sync, paths the index does not know): it absorbs times that were
//!    *rounded* rather than truncated (DevSpace rounds to the second); filesystems with
//!    2 s resolution need a 2 s slack. Comparisons against the index, and of two changes
//!    made on both sides since the index, use [`Tolerance::EXACT`] (precision rule only),
//!    so a same-size edit a few milliseconds after the previous one is still a change.
//!
//! The price of rule 3: two different same-size files whose mtimes are less than the slack
//! apart look equal unless both have a hash. Engines hash same-size files when they can.

use serde::{Deserialize, Serialize};

use super::entry::{Entry, EntryKind, Side};

/// How far apart two modification times may be and still count as equal (see the module
/// docs for the whole rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tolerance {
    /// Times that differ by less than this many nanoseconds are equal. 0: only the
    /// nanosecond and precision rules apply.
    pub slack_ns: i64,
}

impl Tolerance {
    /// No slack: equal to the nanosecond or by the precision rule.
    pub const EXACT: Tolerance = Tolerance { slack_ns: 0 };

    /// Whether mtimes `a` and `b` (ns since the epoch) are equal under this tolerance.
    pub fn mtimes_equal(self, a: i64, b: i64) -> bool {
        if a == b {
            return true;
        }
        let unit = precision(a).max(precision(b));
        a.div_euclid(unit) == b.div_euclid(unit)
            || (self.slack_ns > 0 && a.abs_diff(b) < self.slack_ns.unsigned_abs())
    }
}

impl Default for Tolerance {
    /// One second of slack, for comparing local with remote entries.
    fn default() -> Tolerance {
        Tolerance {
            slack_ns: 1_000_000_000,
        }
    }
}

/// The coarsest unit (1 s, 1 ms, 1 µs, 1 ns) that `t` is a whole multiple of.
fn precision(t: i64) -> i64 {
    [1_000_000_000, 1_000_000, 1_000]
        .into_iter()
        .find(|unit| t % unit == 0)
        .unwrap_or(1)
}

/// How a local entry differs from a remote one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Difference {
    /// No difference that matters: both are the same version.
    None,
    /// Same content, different executable bits.
    Mode,
    /// Different content; this side's file (or symlink) is newer.
    Newer(Side),
    /// Different content, equal mtimes: neither is newer.
    SameTime,
    /// Different kinds (file, directory, symlink).
    Kind,
}

/// How `local` differs from `remote`, under `tolerance` (see the module docs).
pub fn difference(local: &Entry, remote: &Entry, tolerance: Tolerance) -> Difference {
    let by_time = || {
        if tolerance.mtimes_equal(local.mtime, remote.mtime) {
            Difference::SameTime
        } else if local.mtime > remote.mtime {
            Difference::Newer(Side::Local)
        } else {
            Difference::Newer(Side::Remote)
        }
    };
    match (&local.kind, &remote.kind) {
        (EntryKind::Dir, EntryKind::Dir) => Difference::None,
        (EntryKind::Symlink(a), EntryKind::Symlink(b)) => {
            if a == b {
                Difference::None
            } else {
                by_time()
            }
        }
        (EntryKind::File, EntryKind::File) => {
            let by_hash = match (&local.hash, &remote.hash) {
                (Some(a), Some(b)) => a.same_content(b),
                _ => None,
            };
            let same_content = by_hash.unwrap_or_else(|| {
                local.size == remote.size && tolerance.mtimes_equal(local.mtime, remote.mtime)
            });
            if !same_content {
                by_time()
            } else if local.same_exec_bits(remote) {
                Difference::None
            } else {
                Difference::Mode
            }
        }
        _ => Difference::Kind,
    }
}

/// Whether `a` and `b` are the same version of a path (both absent counts as the same),
/// under `tolerance`. Used with [`Tolerance::EXACT`] to ask whether a side changed since
/// the index.
pub fn same_version(a: Option<&Entry>, b: Option<&Entry>, tolerance: Tolerance) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => difference(a, b, tolerance) == Difference::None,
        _ => false,
    }
}

/// Whether an observed entry is still the version the index recorded (`base`), for
/// "did this side change since the index?". With `racy` (the index entry was recorded
/// within a second of its mtime, see [`super::index`]), size and mtime are not enough:
/// only the same content hash on both counts as unchanged.
pub fn unchanged_since(observed: Option<&Entry>, base: Option<&Entry>, racy: bool) -> bool {
    if !same_version(observed, base, Tolerance::EXACT) {
        return false;
    }
    match (observed, base) {
        (Some(o), Some(b)) if racy && o.kind == EntryKind::File => match (&o.hash, &b.hash) {
            (Some(x), Some(y)) => x.same_content(y) == Some(true),
            _ => false,
        },
        _ => true,
    }
}
