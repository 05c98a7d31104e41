//! Where downloads land: [`LocalSink`], the engine's [`DownloadSink`] — each file
//! streams into a temporary file next to its target ([`local::begin_write`]) and is
//! committed atomically with its mode and mtime once all of it arrived.
//!
//! The rule kept here: a download never overwrites a local file that changed after the
//! plan was made. The check happens at commit time, when the whole file is there: if
//! the local file is no longer what the plan saw, the container's version is committed
//! as a conflict copy next to it instead (never replacing anything) and reported.
//! Symlinks ([`LocalSink::land_link`]) keep the same rule.

use std::collections::HashMap;
use std::path::Path;

use super::status::ProblemKind;
use crate::core::{same_version, Entry, Item, RelPath, Side, Tolerance};
use crate::local::{self, LocalError, Origin, Place, Reason, TempFile, Trash};
use crate::remote::{DownloadSink, DownloadedEntry, IncomingFile};

use super::convert::{downloaded_entry, mtime_ns};
use super::execute::{conflict_copy_name, Failure, Retry};

/// What the sink does with the files it receives.
pub enum Landing {
    /// Downloads: each file replaces its path, unless the local file changed since
    /// planning (`planned`: what the local side had then, per path; `None`: nothing).
    Targets {
        /// The local state each path had when the plan was made.
        planned: HashMap<RelPath, Option<Entry>>,
        /// The container's entry of each path as the plan listed it: when the archive
        /// agrees with it on size and second, the file gets (and the index records) the
        /// listed mtime, at the container's own precision — the archive keeps only whole
        /// seconds, and a same-size edit a moment later must still be seen.
        listed: HashMap<RelPath, Entry>,
    },
    /// The container's versions of files about to be replaced by uploads: each goes
    /// into the trash (origin container), nothing local changes.
    Trash,
    /// A conflict copy: the container's `path` is saved as the new local file `copy`.
    Copy {
        /// The container's path.
        path: RelPath,
        /// The local name for it (in the same folder).
        copy: RelPath,
    },
}

/// The engine's download sink: local temporary files, committed atomically.
pub struct LocalSink<'a> {
    root: &'a Path,
    landing: Landing,
    /// Where a local file that a download replaces is kept first (and where
    /// [`Landing::Trash`] puts the container's versions), with the sync path's name.
    trash: &'a Trash,
    sync: &'a str,
    /// With [`Landing::Trash`]: the paths whose container version is in the trash.
    pub kept: Vec<RelPath>,
    /// Files now in place under their own path, with the entry to book.
    pub landed: Vec<Item>,
    /// Local failures and conflicts.
    pub failures: Vec<Failure>,
    /// Bytes of file content received.
    pub bytes: u64,
}

impl<'a> LocalSink<'a> {
    /// A sink writing below `root`, keeping what it replaces in `trash` (under the sync
    /// path `sync`).
    pub fn new(root: &'a Path, landing: Landing, trash: &'a Trash, sync: &'a str) -> LocalSink<'a> {
        LocalSink {
            root,
            landing,
            trash,
            sync,
            kept: Vec::new(),
            landed: Vec::new(),
            failures: Vec::new(),
            bytes: 0,
        }
    }

    fn retry(&self) -> Retry {
        match self.landing {
            Landing::Targets { .. } => Retry::Download,
            // The container keeps its version: nothing is lost, nothing to retry.
            Landing::Copy { .. } => Retry::Never,
            // The upload it protects is held back and retried.
            Landing::Trash => Retry::Upload,
        }
    }

    /// Where the file for the container's `path` is written: its own path, or the
    /// conflict copy's name.
    fn target(&self, path: &RelPath) -> Option<RelPath> {
        match &self.landing {
            Landing::Targets { .. } | Landing::Trash => Some(path.clone()),
            Landing::Copy { path: p, copy } => (p == path).then(|| copy.clone()),
        }
    }
}

impl LocalSink<'_> {
    /// Keeps the local version at `path` that a download replaces in the trash first
    /// (`Some(None)`: nothing there); `None`: it could not be kept, so it is not replaced
    /// (reported).
    fn keep_local(&mut self, path: &RelPath) -> Option<Option<crate::local::TrashItem>> {
        let at = Place {
            sync: self.sync,
            root: self.root,
            path,
        };
        match self.trash.keep(&at, Reason::OverwrittenByDownload) {
            Ok(kept) => Some(kept),
            Err(mut err) => {
                err.message = format!(
                    "not overwritten: its local version could not be kept in the trash first ({})",
                    err.message
                );
                self.failures.push(Failure::local(&err, Retry::Download));
                None
            }
        }
    }

    /// Writes the container's symlink `e` (to `target`) at its path, with the rules files
    /// have: never over a local change made after the plan (reported, both kept), the
    /// local version it replaces kept in the trash first, never over a local folder.
    /// Only for [`Landing::Targets`]; links are no conflict copies nor trash items.
    pub fn land_link(&mut self, e: &DownloadedEntry, target: &str) {
        let Landing::Targets { planned, .. } = &self.landing else {
            return;
        };
        let planned = planned.get(&e.path).cloned().flatten();
        let now = match local::stat(self.root, &e.path) {
            Ok(now) => now,
            Err(err) => {
                self.failures.push(Failure::local(&err, Retry::Download));
                return;
            }
        };
        let refused = if now.is_some()
            && !same_version(now.as_ref(), planned.as_ref(), Tolerance::EXACT)
        {
            Some("changed locally while the container's symlink was being fetched; the local version is kept and ferry looks at both again")
        } else if now.as_ref().is_some_and(Entry::is_dir) {
            Some("the container has a symlink where a local folder is; the folder is kept")
        } else {
            None
        };
        if let Some(message) = refused {
            self.failures.push(Failure {
                path: e.path.to_string(),
                kind: ProblemKind::Error,
                message: message.into(),
                retry: Retry::Download,
            });
            return;
        }
        let Some(kept) = self.keep_local(&e.path) else {
            return;
        };
        match local::write_symlink(self.root, &e.path, target, mtime_ns(e.mtime)) {
            Ok(entry) => self.landed.push(Item {
                path: e.path.clone(),
                entry,
            }),
            Err(err) => {
                if let Some(item) = kept {
                    let _ = self.trash.forget(&item.id);
                }
                self.failures.push(Failure::local(&err, Retry::Download));
            }
        }
    }
}

impl DownloadSink for LocalSink<'_> {
    type File = TempFile;

    fn begin(&mut self, file: &IncomingFile<'_>) -> Option<TempFile> {
        let target = self.target(file.path)?;
        match local::begin_write(self.root, &target) {
            Ok(t) => Some(t),
            Err(e) => {
                self.failures.push(Failure::local(&e, self.retry()));
                None
            }
        }
    }

    fn finish(&mut self, file: TempFile, e: &DownloadedEntry) -> bool {
        let Some(entry) = downloaded_entry(e) else {
            return false;
        };
        let mut entry = entry;
        self.bytes += entry.size;
        let mut mtime = mtime_ns(e.mtime);
        let planned = match &self.landing {
            Landing::Copy { copy, .. } => {
                let copy = copy.clone();
                if let Err(err) = file.commit_as(&copy, e.mode, mtime) {
                    self.failures.push(Failure::local(&err, Retry::Never));
                }
                return false;
            }
            Landing::Trash => {
                let at = Place {
                    sync: self.sync,
                    root: self.root,
                    path: &e.path,
                };
                let kept = file.into_temp(e.mode, mtime).and_then(|tmp| {
                    self.trash
                        .adopt(&tmp, &at, Origin::Container, Reason::ContainerVersion)
                        .inspect_err(|_| {
                            let _ = std::fs::remove_file(&tmp);
                        })
                });
                match kept {
                    Ok(_) => self.kept.push(e.path.clone()),
                    Err(err) => self.failures.push(Failure {
                        path: e.path.to_string(),
                        kind: ProblemKind::Error,
                        message: format!(
                            "not uploaded: the container's version could not be kept in the \
                             trash first ({})",
                            err.message
                        ),
                        retry: Retry::Upload,
                    }),
                }
                return false;
            }
            Landing::Targets { planned, listed } => {
                if let Some(l) = listed.get(&e.path) {
                    let second = |ns: i64| ns.div_euclid(1_000_000_000);
                    if l.size == entry.size && second(l.mtime) == second(mtime) {
                        mtime = l.mtime;
                        entry.mtime = l.mtime;
                    }
                }
                planned.get(&e.path).cloned().flatten()
            }
        };
        // Never overwrite a local change made after the plan.
        let now = local::stat(self.root, &e.path).ok().flatten();
        if now.is_some() && !same_version(now.as_ref(), planned.as_ref(), Tolerance::EXACT) {
            let copy = conflict_copy_name(self.root, &e.path, Side::Remote);
            self.failures.push(Failure {
                path: e.path.to_string(),
                kind: ProblemKind::Conflict,
                message: format!(
                    "changed locally while the container's version was being fetched; the \
                     local version is kept and the container's version saved as {copy}"
                ),
                retry: Retry::Never,
            });
            // The container keeps its version either way; a copy that cannot be
            // written is reported, not dropped silently.
            if let Err(err) = file.commit_as(&copy, e.mode, mtime) {
                self.failures.push(Failure::local(&err, Retry::Never));
            }
            return false;
        }
        let Some(kept) = self.keep_local(&e.path) else {
            return false;
        };
        match file.commit(e.mode, mtime) {
            Ok(_) => {
                self.landed.push(Item {
                    path: e.path.clone(),
                    entry,
                });
                true
            }
            Err(err) => {
                if let Some(item) = kept {
                    let _ = self.trash.forget(&item.id);
                }
                self.failures.push(Failure::local(&err, Retry::Download));
                false
            }
        }
    }

    fn abort(&mut self, file: TempFile, error: Option<std::io::Error>) {
        let path = file.path().clone();
        // Dropping the temporary file removes it.
        drop(file);
        if let Some(e) = error {
            let err = LocalError::io(&path, "writing the downloaded file", e);
            self.failures.push(Failure::local(&err, self.retry()));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::remote::{DownloadedKind, Mtime};

    fn rel(s: &str) -> RelPath {
        RelPath::new(s).unwrap()
    }

    fn arrive(
        sink: &mut LocalSink<'_>,
        path: &RelPath,
        data: &[u8],
    ) -> (TempFile, DownloadedEntry) {
        let mtime = Mtime::new(1_600_000_000, 0);
        let mut f = sink
            .begin(&IncomingFile {
                path,
                size: data.len() as u64,
                mode: 0o644,
                mtime,
            })
            .unwrap();
        f.write_all(data).unwrap();
        let entry = DownloadedEntry {
            path: path.clone(),
            kind: DownloadedKind::File {
                size: data.len() as u64,
                sha256: [7; 32],
            },
            mode: 0o644,
            mtime,
        };
        (f, entry)
    }

    #[test]
    fn a_local_edit_during_the_download_wins_at_commit_time() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("f"), b"planned").unwrap();
        std::fs::write(root.join("g"), b"planned").unwrap();
        let planned: HashMap<RelPath, Option<Entry>> = ["f", "g"]
            .iter()
            .map(|p| (rel(p), local::stat(root, &rel(p)).unwrap()))
            .collect();
        let trash_dir = tempfile::tempdir().unwrap();
        let trash = Trash::new(trash_dir.path());
        let listed = HashMap::new();
        let mut sink = LocalSink::new(root, Landing::Targets { planned, listed }, &trash, "s");
        // f: the user saves while the container's version streams in.
        let (file, entry) = arrive(&mut sink, &rel("f"), b"container");
        std::fs::write(root.join("f"), b"typed meanwhile").unwrap();
        assert!(!sink.finish(file, &entry));
        assert_eq!(std::fs::read(root.join("f")).unwrap(), b"typed meanwhile");
        assert_eq!(
            std::fs::read(root.join("f.ferry-conflict-remote")).unwrap(),
            b"container"
        );
        assert_eq!(sink.failures.len(), 1);
        assert_eq!(sink.failures[0].kind, ProblemKind::Conflict);
        // g: unchanged locally, so replaced, and booked with its content hash.
        let (file, entry) = arrive(&mut sink, &rel("g"), b"container");
        assert!(sink.finish(file, &entry));
        assert_eq!(std::fs::read(root.join("g")).unwrap(), b"container");
        assert_eq!(sink.landed.len(), 1);
        let hash = sink.landed[0].entry.hash.as_ref().unwrap();
        assert_eq!(hash.0, format!("sha256:{}", "07".repeat(32)));
        assert_eq!(sink.bytes, 18);
        // An aborted file leaves nothing.
        let (file, _) = arrive(&mut sink, &rel("h"), b"half");
        sink.abort(file, None);
        let mut names: Vec<_> = std::fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["f", "f.ferry-conflict-remote", "g"]);
    }
}
