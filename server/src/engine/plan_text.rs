//! A [`Plan`] as lines for people (`ferry sync --dry-run`). Pure.

use crate::core::{Action, ConflictKind, Plan, Resolution, Side, SkipReason};

/// One line per action path and per report, then a summary line. `verdict` says how the
/// index was judged (e.g. "container recognised").
pub fn describe(plan: &Plan, verdict: &str) -> Vec<String> {
    let mut lines = vec![format!("dry run ({verdict}):")];
    let mut counts = Counts::default();
    for action in &plan.actions {
        match action {
            Action::SaveConflictCopy { path, copy, side } => lines.push(format!(
                "  keep     {path}: the {side} version is saved as {copy}"
            )),
            Action::DeleteRemote { deletions } => {
                for d in deletions {
                    counts.delete_remote += 1;
                    lines.push(format!(
                        "  delete   {}{} in the container",
                        d.path,
                        inside(d.contents.len())
                    ));
                }
            }
            Action::DeleteLocal { deletions } => {
                for d in deletions {
                    counts.delete_local += 1;
                    lines.push(format!(
                        "  delete   {}{} locally (kept in .ferry/trash)",
                        d.path,
                        inside(d.contents.len())
                    ));
                }
            }
            Action::MkdirRemote { items } => {
                for i in items {
                    lines.push(format!("  mkdir    {} in the container", i.path));
                }
            }
            Action::MkdirLocal { items } => {
                for i in items {
                    lines.push(format!("  mkdir    {} locally", i.path));
                }
            }
            Action::RenameRemote { from, to } => {
                lines.push(format!("  rename   {from} → {to} in the container"))
            }
            Action::RenameLocal { from, to } => {
                lines.push(format!("  rename   {from} → {to} locally"))
            }
            Action::Upload { items } => {
                for i in items {
                    counts.up += 1;
                    lines.push(format!("  upload   {} ({} B)", i.path, i.entry.size));
                }
            }
            Action::Download { items } => {
                for i in items {
                    counts.down += 1;
                    lines.push(format!("  download {} ({} B)", i.path, i.entry.size));
                }
            }
            Action::Record { .. } | Action::Forget { .. } => {}
        }
    }
    for c in &plan.conflicts {
        lines.push(format!(
            "  conflict {}: {}",
            c.path,
            conflict_text(&c.kind, &c.resolution)
        ));
    }
    for r in &plan.remote_newer {
        lines.push(format!(
            "  newer    {} in the container: left as it is on both sides",
            r.path
        ));
    }
    for s in &plan.skipped {
        lines.push(format!("  skip     {}: {}", s.path, skip_text(s.reason)));
    }
    lines.push(format!(
        "dry run: {} uploads, {} downloads, {} deletions in the container, {} local deletions, \
         {} conflicts, {} newer in the container; nothing was changed",
        counts.up,
        counts.down,
        counts.delete_remote,
        counts.delete_local,
        plan.conflicts.len(),
        plan.remote_newer.len()
    ));
    lines
}

#[derive(Default)]
struct Counts {
    up: usize,
    down: usize,
    delete_remote: usize,
    delete_local: usize,
}

fn inside(n: usize) -> String {
    match n {
        0 => String::new(),
        1 => " (with 1 path inside)".into(),
        n => format!(" (with {n} paths inside)"),
    }
}

fn conflict_text(kind: &ConflictKind, resolution: &Resolution) -> String {
    let what = match kind {
        ConflictKind::BothChanged => "changed on both sides".to_string(),
        ConflictKind::ChangedAndDeleted { deleted } => {
            format!("deleted {} and changed on the other side", where_(*deleted))
        }
        ConflictKind::TypeDiffers => "a folder on one side, a file on the other".to_string(),
        ConflictKind::Differs => "the two versions differ and neither is newer".to_string(),
    };
    let then = match resolution {
        Resolution::Unresolved => "left as they are for you to decide".to_string(),
        Resolution::Kept { winner, copy } => {
            format!("the {winner} version wins, the other is saved as {copy}")
        }
        Resolution::Restored => "the changed version is restored".to_string(),
    };
    format!("{what}; {then}")
}

fn where_(side: Side) -> &'static str {
    match side {
        Side::Local => "locally",
        Side::Remote => "in the container",
    }
}

fn skip_text(reason: SkipReason) -> &'static str {
    match reason {
        SkipReason::Excluded => "excluded",
        SkipReason::ExcludedFromUpload => "excluded from uploads",
        SkipReason::ExcludedFromDownload => "excluded from downloads",
        SkipReason::NotEmpty => "a folder that holds something that may not be deleted",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Deletion, Entry, Item, RelPath};

    #[test]
    fn every_kind_of_action_is_described() {
        let p = |s: &str| RelPath::new(s).unwrap();
        let plan = Plan {
            actions: vec![
                Action::DeleteRemote {
                    deletions: vec![Deletion {
                        path: p("old"),
                        entry: Entry::dir(),
                        contents: vec![Item {
                            path: p("old/a"),
                            entry: Entry::file(1, 0),
                        }],
                    }],
                },
                Action::Upload {
                    items: vec![Item {
                        path: p("a.txt"),
                        entry: Entry::file(5, 0),
                    }],
                },
                Action::Download {
                    items: vec![Item {
                        path: p("b.txt"),
                        entry: Entry::file(7, 0),
                    }],
                },
            ],
            ..Plan::default()
        };
        let lines = describe(&plan, "container recognised");
        assert_eq!(lines[0], "dry run (container recognised):");
        assert!(lines
            .iter()
            .any(|l| l.contains("delete   old (with 1 path inside) in the container")));
        assert!(lines.iter().any(|l| l == "  upload   a.txt (5 B)"));
        assert!(lines.iter().any(|l| l == "  download b.txt (7 B)"));
        assert!(lines.last().unwrap().starts_with(
            "dry run: 1 uploads, 1 downloads, 1 deletions in the container, 0 local deletions"
        ));
    }
}
