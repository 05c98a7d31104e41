//! Emission: turns the settled decisions into the [`Plan`] — actions in execution order
//! (see [`super::plan`]), conflicts with their copy names, and the reports.

use std::collections::{BTreeMap, BTreeSet};

use super::entry::{Entry, Side};
use super::path::RelPath;
use super::plan::{Action, Conflict, Deletion, Item, Plan, RemoteNewer, Resolution, Skipped};
use super::planner::{Decision, Pending, PendingResolution, Planner, Slot};

impl Planner<'_> {
    /// Step 5: the plan.
    pub(crate) fn emit(
        &self,
        slots: &BTreeMap<RelPath, Slot>,
        renames: Vec<(RelPath, RelPath, Side)>,
    ) -> Plan {
        let mut out = Emitter::default();
        for (path, slot) in slots {
            self.emit_decision(&mut out, slots, path, &slot.decision);
            if let Some(pending) = &slot.conflict {
                if slot.decision != Decision::Blocked {
                    self.emit_conflict(&mut out, path, pending);
                }
            }
        }
        let mut plan = out.plan;
        let mut actions = out.saves;
        if !out.delete_remote.is_empty() {
            actions.push(Action::DeleteRemote {
                deletions: out.delete_remote,
            });
        }
        if !out.delete_local.is_empty() {
            actions.push(Action::DeleteLocal {
                deletions: out.delete_local,
            });
        }
        if !out.mkdir_remote.is_empty() {
            actions.push(Action::MkdirRemote {
                items: out.mkdir_remote,
            });
        }
        if !out.mkdir_local.is_empty() {
            actions.push(Action::MkdirLocal {
                items: out.mkdir_local,
            });
        }
        for (from, to, side) in renames {
            actions.push(match side {
                Side::Remote => Action::RenameRemote { from, to },
                Side::Local => Action::RenameLocal { from, to },
            });
        }
        if !out.upload.is_empty() {
            actions.push(Action::Upload { items: out.upload });
        }
        if !out.download.is_empty() {
            actions.push(Action::Download {
                items: out.download,
            });
        }
        if !out.record.is_empty() {
            actions.push(Action::Record { items: out.record });
        }
        if !out.forget.is_empty() {
            actions.push(Action::Forget { paths: out.forget });
        }
        plan.actions = actions;
        plan
    }

    fn emit_decision(
        &self,
        out: &mut Emitter,
        slots: &BTreeMap<RelPath, Slot>,
        path: &RelPath,
        decision: &Decision,
    ) {
        let l = self.local.entry(path);
        let r = self.remote.entry(path);
        match decision {
            Decision::Nothing | Decision::Hold | Decision::Blocked | Decision::Renamed => {}
            Decision::Record => {
                if let (Some(l), Some(r)) = (l, r) {
                    let mut entry = l.clone();
                    if entry.hash.is_none() && l.size == r.size {
                        entry.hash.clone_from(&r.hash);
                    }
                    out.record.push(item(path, &entry));
                }
            }
            Decision::Forget => out.forget.push(path.clone()),
            Decision::Copy(to) => self.emit_copy(out, path, *to),
            Decision::Replace(to) => {
                self.emit_deletion(out, path, *to);
                self.emit_copy(out, path, *to);
            }
            Decision::Delete(on) => self.emit_deletion(out, path, *on),
            Decision::Skip(reason) => {
                let parent_same = path.parent().is_some_and(|parent| {
                    slots
                        .get(&parent)
                        .is_some_and(|s| s.decision == Decision::Skip(*reason))
                });
                if !parent_same {
                    out.plan.skipped.push(Skipped {
                        path: path.clone(),
                        reason: *reason,
                    });
                }
            }
            Decision::RemoteNewer => {
                if let (Some(l), Some(r)) = (l, r) {
                    out.plan.remote_newer.push(RemoteNewer {
                        path: path.clone(),
                        local: l.clone(),
                        remote: r.clone(),
                    });
                }
            }
        }
    }

    fn emit_copy(&self, out: &mut Emitter, path: &RelPath, to: Side) {
        let Some(source) = self.view(to.other()).entry(path) else {
            return;
        };
        let list = match (to, source.is_dir()) {
            (Side::Remote, true) => &mut out.mkdir_remote,
            (Side::Remote, false) => &mut out.upload,
            (Side::Local, true) => &mut out.mkdir_local,
            (Side::Local, false) => &mut out.download,
        };
        list.push(item(path, source));
    }

    fn emit_deletion(&self, out: &mut Emitter, path: &RelPath, on: Side) {
        let view = self.view(on);
        let Some(entry) = view.entry(path) else {
            return;
        };
        let list = match on {
            Side::Remote => &mut out.delete_remote,
            Side::Local => &mut out.delete_local,
        };
        if list.last().is_some_and(|d| d.path.is_ancestor_of(path)) {
            return;
        }
        list.push(Deletion {
            path: path.clone(),
            entry: entry.clone(),
            contents: view
                .descendants(path)
                .into_iter()
                .map(|(path, entry)| Item { path, entry })
                .collect(),
        });
    }

    fn emit_conflict(&self, out: &mut Emitter, path: &RelPath, pending: &Pending) {
        let resolution = match pending.resolution {
            PendingResolution::Unresolved => Resolution::Unresolved,
            PendingResolution::Restored => Resolution::Restored,
            PendingResolution::Kept(winner) => {
                let loser = winner.other();
                let copy = self.copy_name(path, loser, &out.copies);
                out.copies.insert(copy.clone());
                out.saves.push(Action::SaveConflictCopy {
                    path: path.clone(),
                    copy: copy.clone(),
                    side: loser,
                });
                Resolution::Kept { winner, copy }
            }
        };
        out.plan.conflicts.push(Conflict {
            path: path.clone(),
            kind: pending.kind.clone(),
            local: self.local.entry(path).cloned(),
            remote: self.remote.entry(path).cloned(),
            resolution,
        });
    }

    /// `<name>.ferry-conflict-<loser>` next to `path`, or with `-2`, `-3`, … when that
    /// name is taken on either side, in the index, or by another copy of this plan.
    fn copy_name(&self, path: &RelPath, loser: Side, taken: &BTreeSet<RelPath>) -> RelPath {
        let stem = format!("{}.ferry-conflict-{loser}", path.name());
        let mut n = 1;
        loop {
            let name = if n == 1 {
                stem.clone()
            } else {
                format!("{stem}-{n}")
            };
            let candidate = match path.parent() {
                Some(parent) => parent.join(&name),
                None => RelPath::new(&name),
            }
            .expect("a conflict copy name is valid when the original name is");
            let free = !taken.contains(&candidate)
                && self.local.entry(&candidate).is_none()
                && self.remote.entry(&candidate).is_none()
                && self.base_entry(&candidate).is_none();
            if free {
                return candidate;
            }
            n += 1;
        }
    }
}

fn item(path: &RelPath, entry: &Entry) -> Item {
    Item {
        path: path.clone(),
        entry: entry.clone(),
    }
}

/// The plan under construction, one list per action kind.
#[derive(Default)]
struct Emitter {
    plan: Plan,
    saves: Vec<Action>,
    copies: BTreeSet<RelPath>,
    delete_remote: Vec<Deletion>,
    delete_local: Vec<Deletion>,
    mkdir_remote: Vec<Item>,
    mkdir_local: Vec<Item>,
    upload: Vec<Item>,
    download: Vec<Item>,
    record: Vec<Item>,
    forget: Vec<RelPath>,
}
