//! Per-path decisions: from a path's local, remote and index entries and the excludes
//! to one [`Decision`] (and maybe a conflict). Three-way when there is a base, pairwise
//! by the strategy when there is none (see [`super::initial`] for the rules).

use super::compare::{difference, same_version, Difference, Tolerance};
use super::entry::{Entry, EntryKind, Side};
use super::path::RelPath;
use super::plan::{ConflictKind, SkipReason};
use super::planner::{Decision, Mode, PendingResolution, Planner, Slot};
use crate::config::InitialSync;

impl Planner<'_> {
    /// The directions the excludes allow at `path`. A directory-only pattern (`tmp/`)
    /// depends on the kind; the path is checked as every kind that the two sides and the
    /// index have there, so a replacement never touches an excluded entry.
    pub(crate) fn flows(&self, path: &RelPath, l: Option<&Entry>, r: Option<&Entry>) -> Flows {
        let kinds: Vec<bool> = [l, r, self.base_entry(path)]
            .into_iter()
            .flatten()
            .map(Entry::is_dir)
            .collect();
        let allowed = |excluded: &dyn Fn(bool) -> bool| kinds.iter().all(|d| !excluded(*d));
        Flows {
            up: allowed(&|d| self.excludes.excluded_from_upload(path, d)),
            down: allowed(&|d| self.excludes.excluded_from_download(path, d)),
        }
    }

    /// Under a pairwise replacement: remove what the losing side has, if allowed.
    pub(crate) fn forced_delete(&self, path: &RelPath, loser: Side) -> Slot {
        let entry = self.view(loser).entry(path);
        if entry.is_none() {
            return Slot::new(Decision::Nothing);
        }
        let (l, r) = match loser {
            Side::Local => (entry, None),
            Side::Remote => (None, entry),
        };
        let flows = self.flows(path, l, r);
        Slot::new(if !flows.up && !flows.down {
            Decision::Skip(SkipReason::Excluded)
        } else if flows.toward(loser) {
            Decision::Delete(loser)
        } else {
            Decision::Skip(blocked_toward(loser))
        })
    }

    /// One path's decision.
    pub(crate) fn decide(&self, path: &RelPath) -> Slot {
        let l = self.local.entry(path);
        let r = self.remote.entry(path);
        let b = self.base_entry(path);
        if l.is_none() && r.is_none() {
            return Slot::new(if b.is_some() {
                Decision::Forget
            } else {
                Decision::Nothing
            });
        }
        if self.base.is_some() && !self.acting_side_changed(path, l, r) {
            // Unchanged (on the side this plan acts for): nothing to do or report.
            return Slot::new(Decision::Nothing);
        }
        let flows = self.flows(path, l, r);
        if !flows.up && !flows.down {
            return Slot::new(Decision::Skip(SkipReason::Excluded));
        }
        match (self.base, l, r) {
            (Some(_), Some(l), Some(r)) if b.is_none() => self.pairwise_both(l, r, flows),
            (Some(_), _, _) => self.three_way(path, l, r, b, flows),
            (None, Some(l), Some(r)) => self.pairwise_both(l, r, flows),
            (None, Some(_), None) => self.pairwise_one_sided(Side::Local, flows),
            (None, _, _) => self.pairwise_one_sided(Side::Remote, flows),
        }
    }

    /// With a base: the side that changed since the index wins; both changed → conflict.
    fn three_way(
        &self,
        path: &RelPath,
        l: Option<&Entry>,
        r: Option<&Entry>,
        b: Option<&Entry>,
        flows: Flows,
    ) -> Slot {
        let _ = b;
        let local_changed = !self.unchanged(path, l);
        let remote_changed = !self.unchanged(path, r);
        match (local_changed, remote_changed) {
            (false, false) => Slot::new(Decision::Nothing),
            (true, false) => Slot::new(propagate(Side::Remote, l, r, flows)),
            (false, true) => Slot::new(propagate(Side::Local, r, l, flows)),
            (true, true) => self.both_changed(l, r, flows),
        }
    }

    /// With a base: whether the path changed since the index on the side this plan
    /// acts for (live changes), or on either side (initial sync).
    fn acting_side_changed(&self, path: &RelPath, l: Option<&Entry>, r: Option<&Entry>) -> bool {
        let local_changed = || !self.unchanged(path, l);
        let remote_changed = || !self.unchanged(path, r);
        match self.mode {
            Mode::Changes(Side::Local) => local_changed(),
            Mode::Changes(Side::Remote) => remote_changed(),
            Mode::Initial(_) => local_changed() || remote_changed(),
        }
    }

    /// Both sides changed since the index.
    fn both_changed(&self, l: Option<&Entry>, r: Option<&Entry>, flows: Flows) -> Slot {
        use PendingResolution::{Kept, Restored, Unresolved};
        // Two independent changes agree only when they are surely one version: the same
        // content hash, or the same mtime to the nanosecond. The precision rule is not
        // enough here: a side that keeps whole seconds (busybox tar) makes a same-size
        // edit on the other side in the same second look equal.
        if agree(l, r) {
            return Slot::new(if l.is_none() {
                Decision::Forget
            } else {
                Decision::Record
            });
        }
        let (l, r) = match (l, r) {
            (Some(l), Some(r)) => (l, r),
            (None, _) => {
                let kind = ConflictKind::ChangedAndDeleted {
                    deleted: Side::Local,
                };
                return if flows.down {
                    Slot::conflict(Decision::Copy(Side::Local), kind, Restored)
                } else {
                    Slot::conflict(Decision::Hold, kind, Unresolved)
                };
            }
            (_, None) => {
                let kind = ConflictKind::ChangedAndDeleted {
                    deleted: Side::Remote,
                };
                return if flows.up {
                    Slot::conflict(Decision::Copy(Side::Remote), kind, Restored)
                } else {
                    Slot::conflict(Decision::Hold, kind, Unresolved)
                };
            }
        };
        if l.is_dir() || r.is_dir() {
            return Slot::conflict(Decision::Hold, ConflictKind::TypeDiffers, Unresolved);
        }
        match self.conflict_winner(l, r) {
            // The losing remote version is downloaded into the copy first.
            Some(Side::Local) if flows.up && flows.down => {
                let decision = if dir_mismatch(l, r) {
                    Decision::Replace(Side::Remote)
                } else {
                    Decision::Copy(Side::Remote)
                };
                Slot::conflict(decision, ConflictKind::BothChanged, Kept(Side::Local))
            }
            // The losing local version is renamed away first: a plain copy follows.
            Some(Side::Remote) if flows.down => Slot::conflict(
                Decision::Copy(Side::Local),
                ConflictKind::BothChanged,
                Kept(Side::Remote),
            ),
            _ => Slot::conflict(Decision::Hold, ConflictKind::BothChanged, Unresolved),
        }
    }

    /// Whose version wins a both-changed conflict; `None`: keep both (`keepAll`).
    fn conflict_winner(&self, l: &Entry, r: &Entry) -> Option<Side> {
        match self.strategy() {
            InitialSync::PreferRemote | InitialSync::MirrorRemote => Some(Side::Remote),
            InitialSync::KeepAll => None,
            InitialSync::PreferNewest => match difference(l, r, self.tolerance) {
                Difference::Newer(side) => Some(side),
                _ => Some(Side::Local),
            },
            InitialSync::Merge
            | InitialSync::PreferLocal
            | InitialSync::MirrorLocal
            | InitialSync::Disabled => Some(Side::Local),
        }
    }

    /// No base, one side has the path.
    fn pairwise_one_sided(&self, here: Side, flows: Flows) -> Slot {
        let there = here.other();
        let mirrored_from_there = matches!(
            (self.strategy(), here),
            (InitialSync::MirrorRemote, Side::Local) | (InitialSync::MirrorLocal, Side::Remote)
        );
        Slot::new(if mirrored_from_there {
            // The mirrored side removes what it is authoritative for (changes may flow
            // toward `here`); what only `here` may send is copied instead.
            if flows.toward(here) {
                Decision::Delete(here)
            } else {
                Decision::Copy(there)
            }
        } else if flows.toward(there) {
            Decision::Copy(there)
        } else {
            Decision::Skip(blocked_toward(there))
        })
    }

    /// No base, both sides have the path: the strategy decides.
    fn pairwise_both(&self, l: &Entry, r: &Entry, flows: Flows) -> Slot {
        enum Pick {
            Win(Side),
            RemoteNewer,
            Unresolved(ConflictKind),
        }
        let diff = difference(l, r, self.tolerance);
        if diff == Difference::None {
            return Slot::new(Decision::Record);
        }
        let unresolved = || {
            Pick::Unresolved(if diff == Difference::Kind {
                ConflictKind::TypeDiffers
            } else {
                ConflictKind::Differs
            })
        };
        let pick = match self.strategy() {
            InitialSync::Merge | InitialSync::Disabled => match diff {
                Difference::Newer(Side::Local) | Difference::Mode => Pick::Win(Side::Local),
                Difference::Newer(Side::Remote) => Pick::RemoteNewer,
                _ => unresolved(),
            },
            InitialSync::PreferLocal | InitialSync::MirrorLocal => Pick::Win(Side::Local),
            InitialSync::PreferRemote | InitialSync::MirrorRemote => Pick::Win(Side::Remote),
            InitialSync::PreferNewest => match diff {
                Difference::Newer(side) => Pick::Win(side),
                Difference::Kind if !self.tolerance.mtimes_equal(l.mtime, r.mtime) => {
                    Pick::Win(if l.mtime > r.mtime {
                        Side::Local
                    } else {
                        Side::Remote
                    })
                }
                _ => unresolved(),
            },
            InitialSync::KeepAll => unresolved(),
        };
        match pick {
            Pick::Win(winner) => {
                let to = winner.other();
                Slot::new(if !flows.toward(to) {
                    Decision::Skip(blocked_toward(to))
                } else if dir_mismatch(l, r) {
                    Decision::Replace(to)
                } else {
                    Decision::Copy(to)
                })
            }
            Pick::RemoteNewer => Slot::new(if flows.down {
                Decision::RemoteNewer
            } else {
                Decision::Skip(SkipReason::ExcludedFromDownload)
            }),
            Pick::Unresolved(kind) => {
                Slot::conflict(Decision::Hold, kind, PendingResolution::Unresolved)
            }
        }
    }
}

/// Whether two entries changed independently on the two sides are surely the same
/// version (see `both_changed`).
fn agree(l: Option<&Entry>, r: Option<&Entry>) -> bool {
    match (l, r) {
        (None, None) => true,
        (Some(l), Some(r)) if l.kind == EntryKind::File && r.kind == EntryKind::File => {
            let by_hash = match (&l.hash, &r.hash) {
                (Some(a), Some(b)) => a.same_content(b),
                _ => None,
            };
            let same_content = by_hash.unwrap_or(l.size == r.size && l.mtime == r.mtime);
            same_content && l.same_exec_bits(r)
        }
        (Some(_), Some(_)) => same_version(l, r, Tolerance::EXACT),
        _ => false,
    }
}

/// Which directions the excludes allow for one path.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Flows {
    pub(crate) up: bool,
    pub(crate) down: bool,
}

impl Flows {
    /// Whether content may go to side `to`.
    pub(crate) fn toward(self, to: Side) -> bool {
        match to {
            Side::Remote => self.up,
            Side::Local => self.down,
        }
    }
}

/// The skip reason for a blocked flow toward `to`.
fn blocked_toward(to: Side) -> SkipReason {
    match to {
        Side::Remote => SkipReason::ExcludedFromUpload,
        Side::Local => SkipReason::ExcludedFromDownload,
    }
}

/// Whether one is a directory and the other not: only then must the target be removed
/// before a copy (a file or link simply replaces a file or link).
fn dir_mismatch(a: &Entry, b: &Entry) -> bool {
    a.is_dir() != b.is_dir()
}

/// A local change propagated to the remote side or the reverse (`to`), three-way.
fn propagate(to: Side, source: Option<&Entry>, target: Option<&Entry>, flows: Flows) -> Decision {
    if !flows.toward(to) {
        return Decision::Skip(blocked_toward(to));
    }
    match (source, target) {
        (Some(s), Some(t)) if dir_mismatch(s, t) => Decision::Replace(to),
        (Some(_), _) => Decision::Copy(to),
        (None, Some(_)) => Decision::Delete(to),
        (None, None) => Decision::Nothing,
    }
}
