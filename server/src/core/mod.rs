//! `ferry::core`: the sans-IO sync core — file indexes and the pure decisions of the
//! sync engine. No function here reads a clock, a filesystem or a network; the engine
//! gathers [`Snapshot`]s and [`Change`]s at its edges, asks the core for a [`Plan`],
//! carries the [`Action`]s out, and records each completed one in the [`Index`].
//!
//! | module | job |
//! |---|---|
//! | [`path`] | [`RelPath`]: validated relative paths; invalid names ([`PathError`]) |
//! | [`entry`] | [`Entry`]: kind, size, mtime (ns), mode, hash; [`Side`] |
//! | [`compare`] | [`Tolerance`] and [`difference`]: when two entries are the same version |
//! | [`snapshot`] | [`Snapshot`]: one side's entries in tree order |
//! | [`index`] | [`Index`]: the last agreed state, updated by [`Index::apply`] |
//! | [`excludes`] | [`ExcludeSet`]: the three gitignore lists, per direction |
//! | [`plan`] | [`Plan`], [`Action`] and the reports |
//! | [`initial`] | [`plan_initial`]: the initial sync (strategies, three-way with an index) |
//! | [`reconcile`] | [`plan_local_changes`], [`plan_remote_changes`]: continuous sync |
//! | [`rename`] | when a deleted and a created folder become one rename (the rule) |
//! | `planner` | the planning passes shared by `initial` and `reconcile` |
//! | `decide` | one path's decision (three-way or by the strategy) |
//! | `emit` | decisions → [`Plan`] (action order, conflict copy names, reports) |
//!
//! # Invariants (each tested in `server/tests/core_*.rs`)
//!
//! - **Nothing is deleted that is not proven deleted.** With an index, a deletion is
//!   planned only for a path the index knows, that the deleting side still has as the
//!   index recorded it, and that the other side removed (or replaced by another kind).
//!   The only other removals are the ones a strategy was chosen for: the mirror
//!   strategies' deletions and the `prefer…`/mirror replacements of a path both sides
//!   have but the index does not know. `merge`, `keepAll` and every live plan never
//!   remove anything else.
//! - **`merge` never deletes and never overwrites a local file** without an index; a
//!   newer remote file is reported in [`Plan::remote_newer`], never silently ignored.
//! - **Nothing is lost in a conflict.** A version that a conflict resolution overwrites
//!   is first saved as a conflict copy; where that is impossible the conflict stays
//!   unresolved and is reported.
//! - **Excludes hold in both directions for every kind of change**, deletions included.
//! - **No echo.** A change that matches the index produces no action.
//! - **Convergence.** Carrying a plan out leaves both sides equal on every path except
//!   the reported ones (conflicts, newer remote files, skipped paths) and conflict
//!   copies; planning again then yields no I/O but the upload of the conflict copies
//!   (unless the initial sync's reset guard applies, see [`initial`]).

pub mod compare;
mod decide;
mod emit;
pub mod entry;
pub mod excludes;
pub mod index;
pub mod initial;
pub mod path;
pub mod plan;
mod planner;
pub mod reconcile;
pub mod rename;
pub mod snapshot;

pub use compare::{difference, same_version, unchanged_since, Difference, Tolerance};
pub use entry::{ContentHash, Entry, EntryKind, Side};
pub use excludes::{ExcludeError, ExcludeSet};
pub use index::Index;
pub use initial::plan_initial;
pub use path::{PathError, RelPath};
pub use plan::{
    Action, Conflict, ConflictKind, Deletion, Item, Plan, RemoteNewer, Resolution, SkipReason,
    Skipped,
};
pub use reconcile::{plan_local_changes, plan_remote_changes, Change};
pub use snapshot::Snapshot;
