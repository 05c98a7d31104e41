//! `ferry restore`: what the trash (`.ferry/trash/`, [`crate::local::trash`]) holds, and
//! bringing it back.
//!
//! - `ferry restore` lists the items, newest first: id, age, sync path, path, size,
//!   reason (`--json`: the full records, as in `meta.json`);
//! - `ferry restore ID|PATH...` restores each to where it was. A PATH is relative to the
//!   workspace (or absolute), or relative to a sync folder; it names the newest item for
//!   that path. A path relative to a sync folder that matches items of several sync
//!   folders is refused as ambiguous (nothing is restored);
//! - `--to DEST` restores the one item named to DEST instead (relative to the current
//!   folder; into it, under the item's name, when DEST is an existing folder).
//!
//! What is at a destination is kept in the trash first and the message names its id, so a
//! restore never loses anything either.
//!
//! It does not take the workspace lock, so it works while `ferry sync` or `ferry lsp`
//! runs. That is safe: every trash operation is atomic and works on items of its own
//! (ids are unique per process, an item is claimed and removed by renames, a half-written
//! item is never listed), the sync only adds new items and prunes ones older than an hour,
//! and a restored file lands in the sync folder with one rename — to the running sync it
//! is a local edit like any other, which it then syncs.
//!
//! Exit codes: 0 done (or listed); 1 nothing matched, or a restore failed; 2 bad usage
//! (`--to` with other than one item, `--json` with items, an ambiguous path, a
//! destination that cannot be named).

use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use super::{Common, EXIT_CONFIG, EXIT_FAILED};
use crate::core::RelPath;
use crate::local::trash::is_item_id;
use crate::local::{Place, Trash, TrashItem};

/// `ferry restore [ID|PATH...] [--to DEST] [--json]`.
pub(super) fn run(common: &Common, args: &[String], to: Option<&Path>, json: bool) -> ExitCode {
    let workspace = common.workspace();
    let trash = Trash::new(&workspace.join(crate::state::STATE_DIR));
    if args.is_empty() {
        if to.is_some() {
            eprintln!("ferry: --to needs exactly one item (an id or a path) to restore");
            return ExitCode::from(EXIT_CONFIG);
        }
        return list(&trash, &workspace, json);
    }
    if json {
        eprintln!("ferry: --json prints the list of the trash; it takes no items");
        return ExitCode::from(EXIT_CONFIG);
    }
    if to.is_some() && args.len() != 1 {
        eprintln!("ferry: --to restores one item; {} were named", args.len());
        return ExitCode::from(EXIT_CONFIG);
    }
    let items = match trash.list() {
        Ok(items) => items,
        Err(e) => {
            eprintln!("ferry: cannot read the trash: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };

    // Resolve everything first: bad usage restores nothing.
    let mut chosen = Vec::new();
    let mut unmatched = false;
    let mut ambiguous = false;
    for arg in args {
        match resolve(arg, &workspace, &items) {
            Resolved::Item(item) => chosen.push((arg, item)),
            Resolved::Nothing => {
                eprintln!(
                    "ferry: nothing in the trash matches {arg:?}; `ferry restore` lists what it \
                     holds"
                );
                unmatched = true;
            }
            Resolved::Ambiguous(candidates) => {
                eprintln!(
                    "ferry: {arg:?} matches items of several sync folders; name one by its id or \
                     by its path relative to the workspace:"
                );
                for item in candidates {
                    eprintln!("  {}  {}", item.id, shown(&item.original(), &workspace));
                }
                ambiguous = true;
            }
        }
    }
    if ambiguous {
        return ExitCode::from(EXIT_CONFIG);
    }
    let destination = match to {
        Some(dest) => match destination(dest, &chosen[0].1, &workspace, &items) {
            Ok(d) => Some(d),
            Err(message) => {
                eprintln!("ferry: --to {}: {message}", dest.display());
                return ExitCode::from(EXIT_CONFIG);
            }
        },
        None => None,
    };

    let mut failed = unmatched;
    let now = trash.now_ms();
    for (arg, item) in chosen {
        let place = destination
            .as_ref()
            .map(|(sync, root, path)| Place { sync, root, path });
        match trash.restore(&item.id, place.as_ref()) {
            Ok(done) => {
                println!(
                    "restored {}:{} to {} (it was {}, {})",
                    item.sync,
                    item.path,
                    shown(&done.to, &workspace),
                    item.reason.describe(),
                    age(now, item.time)
                );
                if let Some(kept) = done.replaced {
                    println!(
                        "  what was there is kept in the trash as {id}: `ferry restore {id}` \
                         brings it back",
                        id = kept.id
                    );
                }
            }
            Err(e) => {
                eprintln!(
                    "ferry: {arg}: cannot restore {}:{} ({}): {}",
                    item.sync, item.path, item.id, e.message
                );
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

fn list(trash: &Trash, workspace: &Path, json: bool) -> ExitCode {
    let items = match trash.list() {
        Ok(items) => items,
        Err(e) => {
            eprintln!("ferry: cannot read the trash: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    if json {
        match serde_json::to_string_pretty(&items) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("ferry: {e}");
                return ExitCode::from(EXIT_FAILED);
            }
        }
        return ExitCode::SUCCESS;
    }
    if items.is_empty() {
        println!(
            "the trash of {} is empty (ferry keeps every local file it deletes or overwrites \
             there for 7 days)",
            workspace.display()
        );
        return ExitCode::SUCCESS;
    }
    let now = trash.now_ms();
    let rows: Vec<[String; 6]> = items
        .iter()
        .map(|item| {
            let path = match &item.target {
                Some(target) => format!("{} -> {target}", item.path),
                None => item.path.to_string(),
            };
            [
                item.id.clone(),
                age(now, item.time),
                item.sync.clone(),
                path,
                size(item.size),
                item.reason.describe().to_string(),
            ]
        })
        .collect();
    let header = ["ID", "AGE", "SYNC", "PATH", "SIZE", "REASON"].map(String::from);
    let mut widths = [0usize; 6];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        println!("{}", line.trim_end());
    }
    println!();
    println!(
        "`ferry restore ID` or `ferry restore PATH` (the newest for that path) brings an item \
         back; `--to DEST` puts it elsewhere"
    );
    ExitCode::SUCCESS
}

enum Resolved {
    Item(TrashItem),
    Nothing,
    Ambiguous(Vec<TrashItem>),
}

/// The item `arg` names: an id, a path relative to the workspace (or absolute), or a path
/// relative to a sync folder. `items` is newest first.
fn resolve(arg: &str, workspace: &Path, items: &[TrashItem]) -> Resolved {
    if is_item_id(arg) {
        if let Some(item) = items.iter().find(|item| item.id == arg) {
            return Resolved::Item(item.clone());
        }
    }
    let abs = normalize(&workspace.join(arg));
    if let Some(item) = items.iter().find(|item| normalize(&item.original()) == abs) {
        return Resolved::Item(item.clone());
    }
    let Ok(rel) = RelPath::from_path(Path::new(arg)) else {
        return Resolved::Nothing;
    };
    let matching: Vec<&TrashItem> = items.iter().filter(|item| item.path == rel).collect();
    let Some(newest) = matching.first() else {
        return Resolved::Nothing;
    };
    let mut roots: Vec<&Path> = matching.iter().map(|item| item.root.as_path()).collect();
    roots.sort();
    roots.dedup();
    if roots.len() > 1 {
        // The newest of each sync folder.
        let mut seen = Vec::new();
        let candidates = matching
            .iter()
            .filter(|item| {
                let fresh = !seen.contains(&item.root);
                if fresh {
                    seen.push(item.root.clone());
                }
                fresh
            })
            .map(|item| (*item).clone())
            .collect();
        return Resolved::Ambiguous(candidates);
    }
    Resolved::Item((*newest).clone())
}

/// Where `--to dest` puts `item`: the sync path's name (empty outside every known sync
/// folder), a root and the path below it. The root is the deepest of the sync folders
/// the trash knows and the workspace that holds `dest` — every folder below it is
/// checked, none followed — else `dest`'s own folder (the user named it).
fn destination(
    dest: &Path,
    item: &TrashItem,
    workspace: &Path,
    items: &[TrashItem],
) -> Result<(String, PathBuf, RelPath), String> {
    let mut dest = normalize(&std::path::absolute(dest).map_err(|e| e.to_string())?);
    if std::fs::metadata(&dest).is_ok_and(|m| m.is_dir()) {
        dest.push(item.path.name());
    }
    let mut roots: Vec<(String, PathBuf)> = items
        .iter()
        .map(|i| (i.sync.clone(), normalize(&i.root)))
        .collect();
    roots.push((String::new(), normalize(workspace)));
    let best = roots
        .into_iter()
        .filter(|(_, root)| dest.starts_with(root) && dest != *root)
        .max_by_key(|(_, root)| root.components().count());
    let (sync, root) = match best {
        Some(found) => found,
        None => {
            let parent = dest.parent().ok_or("it names no file")?.to_path_buf();
            (String::new(), parent)
        }
    };
    let below = dest.strip_prefix(&root).map_err(|e| e.to_string())?;
    let rel = RelPath::from_path(below).map_err(|e| format!("cannot restore there: {e}"))?;
    Ok((sync, root, rel))
}

/// `path` with `.` and `..` resolved lexically (never through the file system).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `path` relative to the workspace when it is inside, else absolute.
fn shown(path: &Path, workspace: &Path) -> String {
    match path.strip_prefix(workspace) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
        _ => path.display().to_string(),
    }
}

fn age(now_ms: u64, then_ms: u64) -> String {
    let s = now_ms.saturating_sub(then_ms) / 1000;
    match s {
        0..=59 => format!("{s} s ago"),
        60..=3599 => format!("{} min ago", s / 60),
        3600..=86_399 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_ages_and_normalized_paths() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(3 << 30), "3.0 GiB");
        assert_eq!(age(10_000, 9_000), "1 s ago");
        assert_eq!(age(0, 5), "0 s ago");
        assert_eq!(age(7_200_000, 0), "2 h ago");
        assert_eq!(age(3 * 86_400_000, 0), "3 d ago");
        assert_eq!(
            normalize(Path::new("/ws/./app/../b/c")),
            PathBuf::from("/ws/b/c")
        );
    }
}
