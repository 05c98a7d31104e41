//! Conflicts, and their resolution where the user edits (`docs/protocol.md`, "Problem
//! kinds and their resolutions").
//!
//! A conflict (both sides changed a file) leaves the local version on both sides and the
//! container's version in a local copy `<file>.ferry-conflict-remote[-N]`. Resolving it:
//!
//! - **keep local**: the copy goes to the trash; nothing else changes (both sides hold
//!   the local version already);
//! - **keep container**: the local version goes to the trash, the copy takes its place,
//!   and it is uploaded like a save.
//!
//! Either way the problem is cleared. A resolution carries the versions the user saw
//! ([`Seen`]); when the file or its copy changed since, it is refused and nothing moves,
//! so a stale code action never overwrites newer work. Conflicts are rediscovered from
//! their copies when a sync path starts, so they survive a restart.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::execute::{Failure, Retry};
use super::status::ProblemKind;
use super::task::SyncTask;
use crate::core::{Action, Entry, Item, Plan, RelPath, Snapshot};
use crate::local::{self, Reason};

/// The suffix of a conflict copy of the container's version (then `-2`, `-3`, …).
const COPY_SUFFIX: &str = ".ferry-conflict-remote";

/// Which version a resolution keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Keep {
    /// The local version (the file as it is).
    Local,
    /// The container's version (the conflict copy).
    Container,
}

/// One version of a file as the user saw it: size, mtime (ns since the epoch), sha256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Version {
    pub size: u64,
    /// Read back from front ends whose numbers are doubles (JavaScript, Lua): an integer,
    /// or a float such as `1.796190336e+18` (rounded to 256 ns there).
    #[serde(deserialize_with = "mtime_ns")]
    pub mtime: i64,
    pub sha256: String,
}

/// How far apart two mtimes (ns) may be and still be one version: a nanosecond mtime
/// that went through an IEEE double (every JSON number in JavaScript and Lua) is off by
/// up to 128 ns.
const MTIME_SLACK_NS: i64 = 1_000;

fn mtime_ns<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let v = serde_json::Number::deserialize(d)?;
    if let Some(i) = v.as_i64() {
        return Ok(i);
    }
    match v.as_f64() {
        Some(f) if f.is_finite() && f.abs() < 9.2e18 => Ok(f.round() as i64),
        _ => Err(serde::de::Error::custom(format!(
            "mtime {v} is not a time in ns"
        ))),
    }
}

/// The versions a resolution expects to find.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Seen {
    /// The local file.
    pub local: Option<Version>,
    /// The container's version (its conflict copy).
    pub container: Option<Version>,
}

/// An open conflict (`ferry.server.conflicts`, `ferry conflicts`): a `conflict` (with
/// the copy of the container's version) or a `remoteNewer` file (the container's version
/// is in the container only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenConflict {
    /// Relative to the sync path's local folder.
    pub path: String,
    /// `conflict` or `remoteNewer`.
    #[serde(default = "conflict_kind")]
    pub kind: ProblemKind,
    /// The local copy holding the container's version, relative to the same folder
    /// (empty for `remoteNewer`).
    #[serde(default)]
    pub copy: String,
    /// What happened.
    pub message: String,
    /// Both versions now: pass them back as `expect` to resolve.
    pub versions: Seen,
}

/// A resolution request.
#[derive(Debug)]
pub struct Resolve {
    /// Relative to the sync path's local folder.
    pub path: RelPath,
    /// Which version stays.
    pub keep: Keep,
    /// The versions the user saw (`None`: whatever is there now).
    pub expect: Option<Seen>,
}

fn conflict_kind() -> ProblemKind {
    ProblemKind::Conflict
}

/// A version as an entry knows it (its hash when it has one, else empty: then size and
/// mtime identify it).
fn version_of_entry(e: &crate::core::Entry) -> Version {
    Version {
        size: e.size,
        mtime: e.mtime,
        sha256: e.hash.as_ref().map(|h| h.0.clone()).unwrap_or_default(),
    }
}

/// Whether two views of a version are the same version: by hash where both have one,
/// else by size and mtime.
fn same_version(a: &Option<Version>, b: &Option<Version>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) if !a.sha256.is_empty() && !b.sha256.is_empty() => a.sha256 == b.sha256,
        (Some(a), Some(b)) => {
            a.size == b.size && a.mtime.abs_diff(b.mtime) <= MTIME_SLACK_NS as u64
        }
        _ => false,
    }
}

/// The parts of `expect` that no longer match `now`, in words (empty: none).
fn stale(expect: &Seen, now: &Seen) -> Vec<&'static str> {
    let mut out = Vec::new();
    if !same_version(&expect.local, &now.local) {
        out.push("the local file");
    }
    if !same_version(&expect.container, &now.container) {
        out.push("the container's version");
    }
    out
}

/// The refusal of a stale resolution.
fn refused(stale: &[&str], path: &RelPath) -> String {
    format!(
        "not resolved: {} changed since you looked ({path}); look again and choose anew — \
         nothing was changed",
        stale.join(" and ")
    )
}

/// The version of the local file `path` under `root`, if it is a readable file.
pub fn version_of(root: &Path, path: &RelPath) -> Option<Version> {
    let abs = root.join(path.as_str());
    let meta = std::fs::symlink_metadata(&abs).ok()?;
    if !meta.is_file() {
        return None;
    }
    let bytes = std::fs::read(&abs).ok()?;
    let mtime = {
        use std::os::unix::fs::MetadataExt;
        meta.mtime()
            .saturating_mul(1_000_000_000)
            .saturating_add(meta.mtime_nsec())
    };
    Some(Version {
        size: bytes.len() as u64,
        mtime,
        sha256: super::racy::sha256(&bytes).0,
    })
}

/// The file a conflict copy `copy` belongs to: `a.txt.ferry-conflict-remote` and
/// `a.txt.ferry-conflict-remote-2` → `a.txt`.
pub fn original_of(copy: &RelPath) -> Option<RelPath> {
    let s = copy.as_str();
    let at = s.rfind(COPY_SUFFIX)?;
    let rest = &s[at + COPY_SUFFIX.len()..];
    let numbered = rest
        .strip_prefix('-')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if !(rest.is_empty() || numbered) || at == 0 {
        return None;
    }
    RelPath::new(&s[..at]).ok()
}

/// The conflict problem of `path`.
fn conflict(path: &RelPath, message: String) -> Failure {
    Failure {
        path: path.to_string(),
        kind: ProblemKind::Conflict,
        message,
        retry: Retry::Never,
    }
}

/// Resolves the conflict of `r.path` under `root` whose container version is in the
/// local file `copy` (see the module doc), keeping what goes in `trash` (recorded for
/// sync path `sync`). Returns what was done and the paths to upload. On a refusal (a
/// stale `expect`, a missing copy) nothing has moved. Used by a running sync path and,
/// when nobody owns the workspace, by `ferry resolve` itself (the next sync uploads).
pub fn resolve_files(
    root: &Path,
    trash: &local::Trash,
    sync: &str,
    copy: &RelPath,
    r: &Resolve,
) -> Result<(String, Vec<RelPath>), String> {
    let now = Seen {
        local: version_of(root, &r.path),
        container: version_of(root, copy),
    };
    if now.container.is_none() {
        return Err(format!(
            "the copy {copy} of the container's version is gone; nothing to resolve"
        ));
    }
    if let Some(expect) = &r.expect {
        let stale = stale(expect, &now);
        if !stale.is_empty() {
            return Err(refused(&stale, &r.path));
        }
    }
    let keep = |path: &RelPath, what: &str| {
        let place = local::Place { sync, root, path };
        trash
            .keep(&place, Reason::ConflictResolution)
            .map(|_| ())
            .map_err(|e| {
                format!("{what} could not be kept in the trash, so nothing was changed: {e}")
            })
    };
    match r.keep {
        Keep::Local => {
            keep(copy, "the container's version")?;
            std::fs::remove_file(root.join(copy.as_str()))
                .map_err(|e| format!("cannot remove {copy}: {e}"))?;
            Ok((
                format!(
                    "kept the local version of {}; the container's is in the trash",
                    r.path
                ),
                Vec::new(),
            ))
        }
        Keep::Container => {
            if now.local.is_some() {
                keep(&r.path, "the local version")?;
            }
            std::fs::rename(root.join(copy.as_str()), root.join(r.path.as_str()))
                .map_err(|e| format!("cannot put {copy} in place of {}: {e}", r.path))?;
            Ok((
                format!(
                    "took the container's version of {}; the local one is in the trash",
                    r.path
                ),
                vec![r.path.clone()],
            ))
        }
    }
}

/// The open conflicts in the local folder `root` when no sync runs: every conflict copy
/// whose file exists (ferry's state folder and other copies left out).
pub fn conflicts_in(root: &Path) -> Vec<OpenConflict> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let abs = e.path();
            let Ok(rel) = abs.strip_prefix(root) else {
                continue;
            };
            let Some(rel) = rel.to_str().and_then(|r| RelPath::new(r).ok()) else {
                continue;
            };
            let Ok(kind) = e.file_type() else { continue };
            if kind.is_dir() {
                if rel.as_str() != crate::state::STATE_DIR {
                    stack.push(abs);
                }
                continue;
            }
            let Some(path) = original_of(&rel) else {
                continue;
            };
            let versions = Seen {
                local: version_of(root, &path),
                container: version_of(root, &rel),
            };
            if versions.local.is_none() || versions.container.is_none() {
                continue;
            }
            out.push(OpenConflict {
                path: path.to_string(),
                kind: ProblemKind::Conflict,
                copy: rel.to_string(),
                message: format!(
                    "changed on both sides: the local version is kept, the container's is in {rel}"
                ),
                versions,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// The outcome of a resolution that moved files through the session: what was done.
fn transferred(out: &super::execute::Outcome, done: String) -> Result<String, String> {
    match out.failures.first() {
        Some(f) => Err(format!("not resolved: {}", f.message)),
        None => Ok(done),
    }
}

/// The largest container file `ferry.server.containerVersion` fetches for a comparison.
pub const MAX_COMPARE_BYTES: u64 = 64 << 20;

impl SyncTask {
    /// The local and the container's entry of `path` now.
    async fn entries_now(
        &self,
        session: &mut crate::remote::Session,
        path: &RelPath,
    ) -> Result<(Option<Entry>, Option<Entry>), String> {
        let batch = crate::local::LocalBatch {
            paths: std::iter::once(path.clone()).collect(),
            ..Default::default()
        };
        let (changes, _) = {
            let skip = self.local_skip();
            super::changes::local_changes(
                &self.sync.local_path,
                &batch,
                &self.index,
                &skip,
                self.sync.symlinks,
                &mut self.followed.clone(),
            )
            .map_err(|e| e.to_string())?
        };
        let local = changes
            .into_iter()
            .find(|c| &c.path == path)
            .and_then(|c| c.new)
            .filter(|e| e.kind == crate::core::EntryKind::File);
        let listing = session
            .list(std::slice::from_ref(path), crate::remote::Depth::Children)
            .await
            .map_err(|e| e.to_string())?;
        let remote = listing
            .entries
            .iter()
            .find(|e| &e.path == path)
            .and_then(super::convert::remote_entry)
            .filter(|e| e.kind == crate::core::EntryKind::File);
        Ok((local, remote))
    }

    /// The open `remoteNewer` files, with both versions now (by size and mtime).
    pub(super) async fn remote_newer(
        &self,
        session: &mut crate::remote::Session,
    ) -> Vec<OpenConflict> {
        let mut out = Vec::new();
        let newer: Vec<Failure> = self
            .problems
            .values()
            .filter(|f| f.kind == ProblemKind::RemoteNewer)
            .cloned()
            .collect();
        for f in newer {
            let Ok(path) = RelPath::new(&f.path) else {
                continue;
            };
            let Ok((local, remote)) = self.entries_now(session, &path).await else {
                continue;
            };
            out.push(OpenConflict {
                path: f.path.clone(),
                kind: ProblemKind::RemoteNewer,
                copy: String::new(),
                message: f.message.clone(),
                versions: Seen {
                    local: local.as_ref().map(version_of_entry),
                    container: remote.as_ref().map(version_of_entry),
                },
            });
        }
        out
    }

    /// Resolves a `remoteNewer` file: keep local uploads it over the container's
    /// version (which goes to the trash: the index never agreed on it), keep container
    /// downloads that over the local one (which goes to the trash). Refused, with
    /// nothing moved, when either side changed since `r.expect`.
    pub(super) async fn resolve_remote_newer(
        &mut self,
        session: &mut crate::remote::Session,
        r: &Resolve,
    ) -> Result<String, String> {
        let t = std::time::Instant::now();
        let (local, remote) = self.entries_now(session, &r.path).await?;
        let now = Seen {
            local: local.as_ref().map(version_of_entry),
            container: remote.as_ref().map(version_of_entry),
        };
        if let Some(expect) = &r.expect {
            let stale = stale(expect, &now);
            if !stale.is_empty() {
                return Err(refused(&stale, &r.path));
            }
        }
        let path = r.path.clone();
        let (plan, view, planned_local, done) = match r.keep {
            Keep::Local => {
                let local =
                    local.ok_or_else(|| format!("{path} is gone locally; nothing to keep"))?;
                let mut view = Snapshot::new();
                if let Some(remote) = remote {
                    view.insert(path.clone(), remote);
                }
                let plan = Plan {
                    actions: vec![Action::Upload {
                        items: vec![Item {
                            path: path.clone(),
                            entry: local,
                        }],
                    }],
                    ..Plan::default()
                };
                let done =
                    format!("kept the local version of {path}; the container's is in the trash");
                (plan, Some(view), None, done)
            }
            Keep::Container => {
                let remote = remote
                    .ok_or_else(|| format!("{path} is gone in the container; nothing to take"))?;
                let mut planned = Snapshot::new();
                if let Some(local) = local {
                    planned.insert(path.clone(), local);
                }
                let plan = Plan {
                    actions: vec![Action::Download {
                        items: vec![Item {
                            path: path.clone(),
                            entry: remote,
                        }],
                    }],
                    ..Plan::default()
                };
                let done = format!(
                    "took the container's version of {path}; the local one is in the trash"
                );
                (plan, None, Some(planned), done)
            }
        };
        let safety = super::task::Safety {
            remote_before: view.as_ref(),
            ..super::task::Safety::LIVE
        };
        let out = self
            .execute(session, &plan, planned_local.as_ref(), None, None, safety)
            .await
            .map_err(|e| e.to_string())?;
        let answer = transferred(&out, done);
        self.record(&plan, out, Vec::new(), t.elapsed());
        if answer.is_ok() {
            self.problems.remove(path.as_str());
            self.publish_problems();
        }
        answer
    }

    /// Fetches the container's current version of `path` into
    /// `.ferry/compare/<slot>/<path>` (for a diff view) and returns that file.
    pub(super) async fn container_version(
        &self,
        session: &mut crate::remote::Session,
        path: &RelPath,
    ) -> Result<std::path::PathBuf, String> {
        use crate::remote::{Depth, EntryKind, MemorySink};
        let listing = session
            .list(std::slice::from_ref(path), Depth::Children)
            .await
            .map_err(|e| e.to_string())?;
        let entry = listing
            .entries
            .iter()
            .find(|e| &e.path == path)
            .ok_or_else(|| format!("{path} does not exist in the container"))?;
        if entry.kind != EntryKind::File {
            return Err(format!("{path} is not a file in the container"));
        }
        if entry.size > MAX_COMPARE_BYTES {
            return Err(format!(
                "{path} is {} bytes in the container; ferry compares files up to {} MiB",
                entry.size,
                MAX_COMPARE_BYTES >> 20
            ));
        }
        let size = entry.size;
        let expected = move |p: &RelPath| (p == path).then_some(size);
        let mut sink = MemorySink::default();
        let got = session
            .download(std::slice::from_ref(path), &expected, &mut sink)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(e) = got.errors.first() {
            return Err(format!("in the container: {}", e.message));
        }
        let bytes = sink
            .files
            .remove(path)
            .ok_or_else(|| format!("{path} could not be read in the container"))?;
        let out = self
            .opts
            .state_dir
            .join("compare")
            .join(self.key.slot.to_string())
            .join(path.as_str());
        if let Some(dir) = out.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        crate::state::write_atomic(&out, &bytes).map_err(|e| format!("{}: {e}", out.display()))?;
        Ok(out)
    }

    /// Remembers that the container's version of `path` is in `copy` (a conflict).
    pub(super) fn conflict_copy(&mut self, path: &RelPath, copy: &RelPath) {
        self.conflict_copies.insert(path.to_string(), copy.clone());
    }

    /// After an initial sync: every conflict copy in the local folder whose file exists
    /// is an open conflict (one from before a restart of ferry or the editor).
    pub(super) fn rediscover_conflicts(&mut self, local: &Snapshot) {
        for (copy, entry) in local.iter() {
            if entry.kind != crate::core::EntryKind::File {
                continue;
            }
            let Some(path) = original_of(copy) else {
                continue;
            };
            if local
                .get(&path)
                .is_none_or(|e| e.kind != crate::core::EntryKind::File)
                || self.problems.contains_key(path.as_str())
            {
                continue;
            }
            self.conflict_copy(&path, copy);
            let message = format!(
                "changed on both sides (before ferry last started): the local version is \
                 kept, the container's is in {copy}"
            );
            self.problems
                .insert(path.to_string(), conflict(&path, message));
        }
        self.publish_problems();
    }

    /// The open conflicts that have a copy, with both versions now.
    pub(super) fn open_conflicts(&self) -> Vec<OpenConflict> {
        let root = &self.sync.local_path;
        self.problems
            .values()
            .filter(|f| f.kind == ProblemKind::Conflict)
            .filter_map(|f| {
                let copy = self.conflict_copies.get(&f.path)?;
                let path = RelPath::new(&f.path).ok()?;
                Some(OpenConflict {
                    path: f.path.clone(),
                    kind: ProblemKind::Conflict,
                    copy: copy.to_string(),
                    message: f.message.clone(),
                    versions: Seen {
                        local: version_of(root, &path),
                        container: version_of(root, copy),
                    },
                })
            })
            .collect()
    }

    /// Resolves a conflict (see the module doc). Returns what was done, in words, and
    /// the paths to upload (keep container); on a refusal nothing has moved.
    pub(super) fn resolve(&mut self, r: &Resolve) -> Result<(String, Vec<RelPath>), String> {
        let root = self.sync.local_path.clone();
        let is_conflict = self
            .problems
            .get(r.path.as_str())
            .is_some_and(|f| f.kind == ProblemKind::Conflict);
        let copy = match self.conflict_copies.get(r.path.as_str()) {
            Some(c) if is_conflict => c.clone(),
            _ => {
                return Err(format!(
                    "{} has no open conflict with a copy of the container's version (`ferry \
                     conflicts` lists the open ones)",
                    r.path
                ))
            }
        };
        let (done, upload) = resolve_files(&root, &self.trash, &self.sync.name, &copy, r)?;
        self.problems.remove(r.path.as_str());
        self.conflict_copies.remove(r.path.as_str());
        self.publish_problems();
        tracing::info!(sync = %self.sync.name, "{done}");
        Ok((done, upload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Front ends whose numbers are doubles send an mtime back rounded (JavaScript as an
    /// integer, Lua's `vim.json` as `1.796190336e+18`): still the same version; a real
    /// change of the mtime is not.
    #[test]
    fn mtimes_that_went_through_a_double_are_the_same_version() {
        let mtime: i64 = 1_796_190_336_123_456_789;
        let seen = Version {
            size: 5,
            mtime,
            sha256: String::new(),
        };
        let via_double = mtime as f64;
        for text in [
            format!("{via_double:e}"),
            format!("{}", via_double as i64),
            "1.796190336123456789e18".to_string(),
        ] {
            let json = format!(r#"{{"size": 5, "mtime": {text}, "sha256": ""}}"#);
            let back: Version =
                serde_json::from_str(&json).unwrap_or_else(|e| panic!("{json}: {e}"));
            assert!(
                same_version(&Some(seen.clone()), &Some(back.clone())),
                "{json} → {back:?}"
            );
        }
        let later = Version {
            mtime: mtime + 1_000_000,
            ..seen.clone()
        };
        assert!(!same_version(&Some(seen.clone()), &Some(later)));
        let bad = r#"{"size": 5, "mtime": "soon", "sha256": ""}"#;
        assert!(serde_json::from_str::<Version>(bad).is_err());
        let huge = r#"{"size": 5, "mtime": 1e300, "sha256": ""}"#;
        assert!(serde_json::from_str::<Version>(huge).is_err());
    }

    #[test]
    fn copies_name_their_file() {
        let p = |s: &str| RelPath::new(s).unwrap();
        assert_eq!(
            original_of(&p("a.txt.ferry-conflict-remote")),
            Some(p("a.txt"))
        );
        assert_eq!(
            original_of(&p("d/a.txt.ferry-conflict-remote-12")),
            Some(p("d/a.txt"))
        );
        for not in [
            "a.txt",
            ".ferry-conflict-remote",
            "a.txt.ferry-conflict-remote-",
            "a.txt.ferry-conflict-remote-x",
            "a.txt.ferry-conflict-local",
        ] {
            assert_eq!(original_of(&p(not)), None, "{not}");
        }
    }
}
