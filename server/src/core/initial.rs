//! The initial sync: [`plan_initial`] reconciles a full local and a full remote
//! [`Snapshot`] when a sync starts or reconnects.
//!
//! # Without an index (first start): the strategy decides
//!
//! Per path, with `L` = local entry, `R` = remote entry ([`super::compare`] says whether
//! and how they differ):
//!
//! | strategy | only local | only remote | differ: local newer / mode only | remote newer | same mtime, other content | file ↔ directory |
//! |---|---|---|---|---|---|---|
//! | `merge` (default) | upload | download | upload | nothing, reported in `remote_newer` | conflict, unresolved | conflict, unresolved |
//! | `mirrorLocal` | upload | **delete remote** ¹ | upload | upload | upload | replace remote |
//! | `preferLocal` | upload | download | upload | upload | upload | replace remote |
//! | `preferRemote` | upload | download | download | download | download | replace local |
//! | `preferNewest` | upload | download | upload / conflict ² | download | conflict, unresolved | the newer replaces ³ |
//! | `mirrorRemote` | **delete local** ¹ | download | download | download | download | replace local |
//! | `keepAll` | upload | download | conflict, unresolved | conflict, unresolved | conflict, unresolved | conflict, unresolved |
//! | `disabled` | — | — | — | — | — | — |
//!
//! Equal entries (and two directories) are recorded in the index ([`Action::Record`]).
//! Under `merge` nothing is ever deleted and no local file is ever overwritten.
//!
//! ¹ A mirror removes on the mirrored side what the other side is authoritative for: a
//!   remote-only path is deleted by `mirrorLocal` unless it is upload-excluded (then it is
//!   downloaded, as DevSpace does); a download-excluded remote-only path is deleted too
//!   (DevSpace kept those, devspace#1578). `mirrorRemote` is the mirror image.
//! ² Mode only: equal mtimes, so no newer side: an unresolved conflict.
//! ³ By the entries' mtimes; equal: an unresolved conflict.
//!
//! **Excludes** ([`super::excludes`]) come first: a path excluded in both directions is
//! skipped; when the decision needs a direction the excludes forbid, the path is skipped
//! and reported ([`Plan::skipped`]) — never turned into the opposite transfer (except the
//! mirror rule ¹). "Replace" removes the losing side's entry (a directory with its whole
//! subtree, which must all be removable, else the replacement becomes an unresolved
//! conflict) and copies the winner.
//!
//! # With an index (restart, reconnect): three-way
//!
//! For a path the index knows (and for a path only one side has):
//!
//! - changed on one side only (against the index, [`Tolerance::EXACT`]) → that change is
//!   carried to the other side: copy, replace, or delete. A deletion is planned only
//!   here: the other side still has exactly what the index recorded, so the deletion is
//!   proven. A path on one side only that the index does not know was created there: it
//!   is copied, whatever the strategy (no mirror deletions with an index);
//! - changed on both sides to the same thing → recorded; deleted on both → forgotten;
//! - changed on both sides differently → a [`Conflict`](super::plan::Conflict) that loses nothing: the winner
//!   (local for `merge`, `preferLocal`, `mirrorLocal`; remote for `preferRemote`,
//!   `mirrorRemote`; the newer for `preferNewest`, local on a tie; none for `keepAll`) is
//!   copied over the other side after the losing version is saved locally as
//!   `<name>.ferry-conflict-remote` (or `-local`; `-2`, `-3`, … when taken). Unresolved
//!   instead when a directory is involved, or when an exclude forbids moving either
//!   version;
//! - changed on one side, deleted on the other → the changed version is restored on the
//!   deleting side (a change wins over a deletion), reported as a conflict.
//!
//! Paths both sides have but the index does not know get the strategy's rules above.
//! Folder renames are detected ([`super::rename`]).
//!
//! **Reset guard**: an index is ignored (the strategy decides, as on a first start) when
//! one side has nothing outside the excludes while the index has entries ([`looks_empty`]):
//! a new container or a failed listing must never read as "everything was deleted"
//! (devspace#326). The plan then *starts* with an [`Action::Forget`] of every index entry,
//! so that the index holds only what this plan records anew or transfers — a transfer
//! that fails leaves no stale entry behind that could prove a deletion later. (The engine
//! applies the same rule before planning, see `engine::identity`; this guard is the
//! planner's own defence.)

use std::collections::BTreeSet;

use super::compare::Tolerance;
use super::excludes::ExcludeSet;
use super::index::Index;
use super::planner::{Mode, Planner};
use super::snapshot::Snapshot;
use crate::config::InitialSync;

use super::path::RelPath;
use super::plan::{Action, Plan};

/// Plans the initial sync of `local` against `remote` (see the module docs for every
/// rule). `index` is the last agreed state, if one was persisted; `tolerance` applies to
/// local-versus-remote comparisons ([`Tolerance::default`]: 1 s).
pub fn plan_initial(
    local: &Snapshot,
    remote: &Snapshot,
    index: Option<&Index>,
    strategy: InitialSync,
    excludes: &ExcludeSet,
    tolerance: Tolerance,
) -> Plan {
    if strategy == InitialSync::Disabled {
        return Plan::default();
    }
    let looks_reset = |side: &Snapshot| looks_empty(side, excludes);
    let (index, ignored) = match index {
        Some(index) if !index.is_empty() && (looks_reset(local) || looks_reset(remote)) => {
            (None, Some(index))
        }
        index => (index, None),
    };
    let mut candidates: BTreeSet<_> = local.iter().map(|(p, _)| p.clone()).collect();
    candidates.extend(remote.iter().map(|(p, _)| p.clone()));
    if let Some(index) = index {
        candidates.extend(index.entries().iter().map(|(p, _)| p.clone()));
    }
    let mut plan = Planner {
        local,
        remote,
        base: index.map(Index::entries),
        racy: index.map(Index::racy),
        excludes,
        tolerance,
        mode: Mode::Initial(strategy),
    }
    .plan(candidates);
    if let Some(ignored) = ignored {
        let all: Vec<RelPath> = ignored.entries().iter().map(|(p, _)| p.clone()).collect();
        plan.actions.insert(0, Action::Forget { paths: all });
    }
    plan
}

/// The strategy for an initial sync whose index cannot be trusted (another container, a
/// restored volume, an incomplete listing; see `docs/safety.md`): one that deletes nothing
/// on either side and overwrites no local file, whatever the config says. `merge` keeps
/// the seed's rules (a newer local file goes up; a newer remote one is reported); the
/// strategies that prefer the container's versions become `keepAll`, so that no
/// differing file moves in either direction until the user decides.
pub fn safe_strategy(configured: InitialSync) -> InitialSync {
    match configured {
        InitialSync::Merge
        | InitialSync::PreferNewest
        | InitialSync::PreferLocal
        | InitialSync::MirrorLocal => InitialSync::Merge,
        InitialSync::PreferRemote | InitialSync::MirrorRemote | InitialSync::KeepAll => {
            InitialSync::KeepAll
        }
        InitialSync::Disabled => InitialSync::Disabled,
    }
}

/// Whether `side` has nothing outside the excludes: a folder that looks emptied (or was
/// never filled) must not read as "everything was deleted".
pub fn looks_empty(side: &Snapshot, excludes: &ExcludeSet) -> bool {
    !side
        .iter()
        .any(|(path, entry)| !excludes.excluded(path, entry.is_dir()))
}
