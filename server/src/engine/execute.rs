//! Carrying out a [`Plan`]: each [`Action`] against the local folder ([`crate::local`])
//! and the container ([`Session`]), recording in the [`Index`] exactly what completed.
//!
//! Per-file failures (a read-only file in the container, a name the other side cannot
//! hold, a full disk) are collected in the [`Outcome`] and leave the index alone for that
//! path, so the difference is seen again and retried. A [`SessionError`] that leaves the
//! session unusable ends the execution; what completed before stays recorded.
//!
//! Local safety: a download never overwrites a local file that changed after the plan
//! was made (the user typed while it was planned); the remote version is saved as a
//! conflict copy next to it instead and reported.

use std::path::Path;
use std::time::Instant;

use crate::core::{
    same_version, Action, Deletion, Entry, EntryKind, Index, Item, Plan, RelPath, Side, Snapshot,
    Tolerance,
};
use crate::local::{self, LocalErrorKind, Origin, Place, Reason, Trash};
use crate::remote::{DownloadedKind, FileError, FileErrorKind, Session, SessionError, UploadFile};

use super::convert::{downloaded_entry, mtime_of};

/// Largest upload batch in bytes of file content (one archive in memory).
const UPLOAD_BATCH_BYTES: u64 = 8 << 20;
/// Largest download batch in bytes (one archive in memory).
const DOWNLOAD_BATCH_BYTES: u64 = 32 << 20;
/// Most files in one transfer batch.
const BATCH_FILES: usize = 2000;

/// What to retry after a per-file failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Upload the local file again (its local state is re-read).
    Upload,
    /// Download the container's file again (it is re-listed).
    Download,
    /// Nothing to retry automatically (a conflict, an unsyncable name).
    Never,
}

/// One path that could not be synced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The path (relative to the sync folder; a readable rendering for invalid names).
    pub path: String,
    /// `error` or `conflict` (see [`super::status::FileProblem::kind`]).
    pub kind: &'static str,
    /// What went wrong and what to do.
    pub message: String,
    /// What the engine retries.
    pub retry: Retry,
}

impl Failure {
    /// A failure in the container, retried as `retry` says.
    pub fn remote(e: &FileError, retry: Retry) -> Failure {
        Failure {
            path: e.path.clone(),
            kind: "error",
            message: format!("in the container: {}", e.message),
            retry,
        }
    }

    /// A local failure, retried as `retry` says.
    pub fn local(e: &local::LocalError, retry: Retry) -> Failure {
        Failure {
            path: e.path.clone(),
            kind: "error",
            message: format!("locally: {}", e.message),
            retry,
        }
    }
}

/// What an execution did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Files uploaded.
    pub uploaded: u64,
    /// Files downloaded.
    pub downloaded: u64,
    /// Paths deleted (either side, top-most paths).
    pub deleted: u64,
    /// Folders created (either side).
    pub created_dirs: u64,
    /// Bytes sent to the container (compressed size).
    pub bytes_up: u64,
    /// Bytes of file content received.
    pub bytes_down: u64,
    /// Paths that completed (their earlier problems are resolved).
    pub done: Vec<RelPath>,
    /// Files that landed in the container (for `onUpload` hooks).
    pub uploaded_paths: Vec<RelPath>,
    /// Per-file failures.
    pub failures: Vec<Failure>,
    /// The execution was stopped before the end (see [`Executor::stop`]).
    pub interrupted: bool,
}

impl Outcome {
    /// Whether any file moved.
    pub fn moved_anything(&self) -> bool {
        self.uploaded + self.downloaded + self.deleted + self.created_dirs > 0
    }

    /// A one-line summary, e.g. `↑ 3 files (12.0 KiB), ↓ 1 file (20 B), 2 deleted`.
    pub fn summary(&self, elapsed: std::time::Duration) -> String {
        let mut parts = Vec::new();
        if self.uploaded > 0 {
            parts.push(format!(
                "↑ {} ({})",
                files(self.uploaded),
                bytes(self.bytes_up)
            ));
        }
        if self.downloaded > 0 {
            parts.push(format!(
                "↓ {} ({})",
                files(self.downloaded),
                bytes(self.bytes_down)
            ));
        }
        if self.deleted > 0 {
            parts.push(format!("{} deleted", self.deleted));
        }
        if self.created_dirs > 0 {
            parts.push(format!("{} folders created", self.created_dirs));
        }
        if !self.failures.is_empty() {
            parts.push(format!("{} failed", files(self.failures.len() as u64)));
        }
        format!("{} in {} ms", parts.join(", "), elapsed.as_millis())
    }
}

fn files(n: u64) -> String {
    if n == 1 {
        "1 file".into()
    } else {
        format!("{n} files")
    }
}

/// `12.0 KiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// The callback of [`Executor::checkpoint`]: the index, and whether files were written
/// locally since the last call.
pub type Checkpoint<'a> = dyn FnMut(&Index, bool) + Send + 'a;

/// Everything an execution needs.
pub struct Executor<'a> {
    /// The local sync folder.
    pub root: &'a Path,
    /// The session in the container.
    pub session: &'a mut Session,
    /// The index, updated as actions complete.
    pub index: &'a mut Index,
    /// The local state the plan was made from (`None`: the index).
    pub planned_local: Option<&'a Snapshot>,
    /// Called with (files done, files to do) as transfers complete.
    pub progress: &'a mut (dyn FnMut(u64, u64) + Send),
    /// Bandwidth caps in bytes per second (upload, download); `None`: none.
    pub limits: (Option<u64>, Option<u64>),
    /// Called with the index after every step that changed it (a transfer batch, a
    /// batch of deletions, folders or a rename), so that the caller can persist it as
    /// the plan goes: an execution cut short (a crash, a kill) leaves an index on disk
    /// that holds every completed transfer and nothing else. The flag says whether files
    /// were written locally since the last call (they must reach the disk first).
    pub checkpoint: Option<&'a mut Checkpoint<'a>>,
    /// When it turns true, the execution stops before the next batch (Ctrl-C): what was
    /// done is recorded, [`Outcome::interrupted`] is set.
    pub stop: Option<&'a tokio::sync::watch::Receiver<bool>>,
    /// Where every local file that the plan deletes or overwrites is kept first.
    pub keep: Keep<'a>,
}

/// The local safety net of an execution (see [`crate::local::trash`]).
pub struct Keep<'a> {
    /// The workspace's trash.
    pub trash: &'a Trash,
    /// The sync path's name, recorded with each item.
    pub sync: &'a str,
    /// Why local deletions happen in this plan (a deletion in the container, or a mirror
    /// strategy).
    pub deletion_reason: Reason,
    /// The container's listing when the plan was made without a trusted index: a file
    /// there that an upload replaces is kept in the trash first (its history is unknown,
    /// so it may hold a change nobody has seen). `None` with a trusted index: an upload
    /// then only ever replaces the agreed version.
    pub untrusted_remote: Option<&'a Snapshot>,
}

impl Executor<'_> {
    /// Carries out `plan` in order.
    pub async fn run(&mut self, plan: &Plan) -> Result<Outcome, SessionError> {
        let mut out = Outcome::default();
        let total: u64 = plan.transfers();
        let mut done = 0u64;
        let mut downloads_at_checkpoint = 0;
        for action in &plan.actions {
            if self.stopped() {
                out.interrupted = true;
                break;
            }
            self.step(
                action,
                &mut out,
                &mut done,
                total,
                &mut downloads_at_checkpoint,
            )
            .await?;
            // Transfers checkpoint per batch; a conflict copy changes no index entry.
            let checkpointed = matches!(
                action,
                Action::Upload { .. } | Action::Download { .. } | Action::SaveConflictCopy { .. }
            );
            if !checkpointed {
                self.checkpoint(&out, &mut downloads_at_checkpoint);
            }
        }
        Ok(out)
    }

    /// Whether the caller asked to stop.
    fn stopped(&self) -> bool {
        self.stop.is_some_and(|s| *s.borrow())
    }

    /// Hands the index to the checkpoint callback, if any.
    fn checkpoint(&mut self, out: &Outcome, downloads_at_checkpoint: &mut u64) {
        if let Some(checkpoint) = self.checkpoint.as_mut() {
            checkpoint(self.index, out.downloaded != *downloads_at_checkpoint);
            *downloads_at_checkpoint = out.downloaded;
        }
    }

    /// Carries out one action (transfers in batches, with progress and a checkpoint
    /// after each; a stop request ends it between batches).
    async fn step(
        &mut self,
        action: &Action,
        out: &mut Outcome,
        done: &mut u64,
        total: u64,
        downloads_at_checkpoint: &mut u64,
    ) -> Result<(), SessionError> {
        {
            match action {
                Action::Record { .. } | Action::Forget { .. } => self.index.apply(action),
                Action::SaveConflictCopy { path, copy, side } => {
                    self.save_conflict_copy(path, copy, *side, out).await?
                }
                Action::DeleteRemote { deletions } => self.delete_remote(deletions, out).await?,
                Action::DeleteLocal { deletions } => self.delete_local(deletions, out),
                Action::MkdirRemote { items } => {
                    let paths: Vec<RelPath> = items.iter().map(|i| i.path.clone()).collect();
                    let failed = self.session.mkdir(&paths).await?;
                    let ok = self.keep_ok(items, &failed, Retry::Upload, out);
                    out.created_dirs += ok.len() as u64;
                    self.index.apply(&Action::MkdirRemote { items: ok });
                }
                Action::MkdirLocal { items } => {
                    let mut ok = Vec::new();
                    for item in items {
                        match local::mkdir(self.root, &item.path) {
                            Ok(_) => {
                                out.done.push(item.path.clone());
                                ok.push(item.clone());
                            }
                            Err(e) => out.failures.push(Failure::local(&e, Retry::Download)),
                        }
                    }
                    out.created_dirs += ok.len() as u64;
                    self.index.apply(&Action::MkdirLocal { items: ok });
                }
                Action::RenameRemote { from, to } => {
                    match self.session.rename(&[(from.clone(), to.clone())]).await {
                        Ok(failed) if failed.is_empty() => {
                            out.done.push(to.clone());
                            self.index.apply(action);
                        }
                        Ok(failed) => out
                            .failures
                            .extend(failed.iter().map(|e| Failure::remote(e, Retry::Upload))),
                        // No mv: the next full scan uploads the new folder instead.
                        Err(SessionError::Unsupported { why, .. }) => out.failures.push(Failure {
                            path: from.to_string(),
                            kind: "error",
                            message: format!("renaming in the container: {why}"),
                            retry: Retry::Upload,
                        }),
                        Err(e) => return Err(e),
                    }
                }
                Action::RenameLocal { from, to } => match local::rename(self.root, from, to) {
                    Ok(()) => {
                        out.done.push(to.clone());
                        self.index.apply(action);
                    }
                    Err(e) => out.failures.push(Failure::local(&e, Retry::Download)),
                },
                Action::Upload { items } => {
                    for chunk in chunks(items, batch_bytes(UPLOAD_BATCH_BYTES, self.limits.0)) {
                        if self.stopped() {
                            out.interrupted = true;
                            break;
                        }
                        let t = Instant::now();
                        let before = out.bytes_up;
                        self.upload(chunk, out).await?;
                        pace(t, out.bytes_up.saturating_sub(before), self.limits.0).await;
                        *done += chunk.len() as u64;
                        (self.progress)(*done, total);
                        self.checkpoint(out, downloads_at_checkpoint);
                    }
                }
                Action::Download { items } => {
                    for chunk in chunks(items, batch_bytes(DOWNLOAD_BATCH_BYTES, self.limits.1)) {
                        if self.stopped() {
                            out.interrupted = true;
                            break;
                        }
                        let t = Instant::now();
                        let before = out.bytes_down;
                        self.download(chunk, out).await?;
                        pace(t, out.bytes_down.saturating_sub(before), self.limits.1).await;
                        *done += chunk.len() as u64;
                        (self.progress)(*done, total);
                        self.checkpoint(out, downloads_at_checkpoint);
                    }
                }
            }
        }
        Ok(())
    }

    /// The items whose path is not in `failed`; failures are recorded.
    fn keep_ok(
        &self,
        items: &[Item],
        failed: &[FileError],
        retry: Retry,
        out: &mut Outcome,
    ) -> Vec<Item> {
        out.failures
            .extend(failed.iter().map(|e| Failure::remote(e, retry)));
        let ok: Vec<Item> = items
            .iter()
            .filter(|i| !failed.iter().any(|f| f.path == i.path.as_str()))
            .cloned()
            .collect();
        out.done.extend(ok.iter().map(|i| i.path.clone()));
        ok
    }

    async fn upload(&mut self, items: &[Item], out: &mut Outcome) -> Result<(), SessionError> {
        let mut files = Vec::new();
        let mut read = Vec::new();
        for item in items {
            if item.entry.kind != EntryKind::File {
                continue;
            }
            match local::read_file(self.root, &item.path) {
                Ok((entry, contents)) => {
                    // The index records what was sent, with its hash (racy entries are
                    // told from same-size edits by it).
                    let entry = Entry {
                        hash: Some(super::racy::sha256(&contents)),
                        ..entry
                    };
                    files.push(UploadFile {
                        path: item.path.clone(),
                        contents,
                        mode: entry.mode,
                        mtime: mtime_of(entry.mtime),
                    });
                    read.push(Item {
                        path: item.path.clone(),
                        entry,
                    });
                }
                // Deleted since it was seen: the watcher reports the deletion.
                Err(e) if e.kind == LocalErrorKind::NotFound => {}
                Err(e) => out.failures.push(Failure::local(&e, Retry::Upload)),
            }
        }
        if files.is_empty() {
            return Ok(());
        }
        let refused = self.keep_container_versions(&files, out).await?;
        if !refused.is_empty() {
            files.retain(|f| !refused.contains(&f.path));
            read.retain(|i| !refused.contains(&i.path));
            if files.is_empty() {
                return Ok(());
            }
        }
        let report = self.session.upload(&files).await?;
        out.bytes_up = out.bytes_up.saturating_add(report.sent_bytes);
        let ok = self.keep_ok(&read, &report.failed, Retry::Upload, out);
        out.uploaded += ok.len() as u64;
        out.uploaded_paths.extend(ok.iter().map(|i| i.path.clone()));
        self.index.apply(&Action::Upload { items: ok });
        Ok(())
    }

    /// What the local side had at `path` when the plan was made.
    fn expected_local(&self, path: &RelPath) -> Option<&Entry> {
        match self.planned_local {
            Some(s) => s.get(path),
            None => self.index.get(path),
        }
    }

    async fn download(&mut self, items: &[Item], out: &mut Outcome) -> Result<(), SessionError> {
        let paths: Vec<RelPath> = items.iter().map(|i| i.path.clone()).collect();
        let d = self.session.download(&paths).await?;
        for p in &d.missing {
            tracing::info!("{p}: asked for but not sent by the container (deleted meanwhile, or unreadable there)");
        }
        out.failures
            .extend(d.errors.iter().map(|e| Failure::remote(e, Retry::Download)));
        let mut ok = Vec::new();
        for e in &d.entries {
            let Some(mut entry) = downloaded_entry(e) else {
                continue;
            };
            if let DownloadedKind::File { contents } = &e.kind {
                entry.hash = Some(super::racy::sha256(contents));
                // The archive keeps whole seconds; the listing the plan was made from has
                // the container's own precision. When they agree on size and second, the
                // file gets (and the index records) the listed mtime, so that the next
                // listing compares at that precision (a same-size edit a moment later is
                // seen) and the local echo matches exactly.
                if let Some(planned) = items.iter().find(|i| i.path == e.path) {
                    let second = |ns: i64| ns.div_euclid(1_000_000_000);
                    if planned.entry.size == entry.size
                        && second(planned.entry.mtime) == second(entry.mtime)
                    {
                        entry.mtime = planned.entry.mtime;
                    }
                }
            }
            let result = match &e.kind {
                DownloadedKind::File { contents } => {
                    // Never overwrite a local change made after the plan.
                    let now = local::stat(self.root, &e.path).ok().flatten();
                    let target = if now.is_some()
                        && !same_version(
                            now.as_ref(),
                            self.expected_local(&e.path),
                            Tolerance::EXACT,
                        ) {
                        let copy = conflict_copy_name(self.root, &e.path, Side::Remote);
                        out.failures.push(Failure {
                            path: e.path.to_string(),
                            kind: "conflict",
                            message: format!(
                                "changed locally while the container's version was being \
                                 fetched; the local version is kept and the container's \
                                 version saved as {copy}"
                            ),
                            retry: Retry::Never,
                        });
                        Some(copy)
                    } else {
                        None
                    };
                    out.bytes_down = out.bytes_down.saturating_add(contents.len() as u64);
                    match target {
                        Some(copy) => {
                            // The container keeps its version either way; a copy that
                            // cannot be written is reported, not dropped silently.
                            if let Err(err) =
                                local::write_file(self.root, &copy, contents, e.mode, entry.mtime)
                            {
                                out.failures.push(Failure::local(&err, Retry::Never));
                            }
                            continue;
                        }
                        None => self.replace_local(&e.path, contents, e.mode, entry.mtime),
                    }
                }
                DownloadedKind::Dir => local::mkdir(self.root, &e.path).map(|_| ()),
                DownloadedKind::Symlink { .. } => continue,
            };
            match result {
                Ok(()) => ok.push(Item {
                    path: e.path.clone(),
                    entry,
                }),
                Err(err) => out.failures.push(Failure::local(&err, Retry::Download)),
            }
        }
        out.downloaded += ok.iter().filter(|i| !i.entry.is_dir()).count() as u64;
        out.done.extend(ok.iter().map(|i| i.path.clone()));
        self.index.apply(&Action::Download { items: ok });
        Ok(())
    }

    /// Writes a downloaded file over `path`, keeping the local version there (if any) in
    /// the trash first; a local version that cannot be kept is not overwritten.
    fn replace_local(
        &mut self,
        path: &RelPath,
        contents: &[u8],
        mode: u32,
        mtime: i64,
    ) -> Result<(), local::LocalError> {
        let at = Place {
            sync: self.keep.sync,
            root: self.root,
            path,
        };
        let kept = self
            .keep
            .trash
            .keep(&at, Reason::OverwrittenByDownload)
            .map_err(|mut e| {
                e.message = format!(
                    "not overwritten: its local version could not be kept in the trash first ({})",
                    e.message
                );
                e
            })?;
        match local::write_file(self.root, path, contents, mode, mtime) {
            Ok(_) => Ok(()),
            Err(e) => {
                if let Some(item) = kept {
                    let _ = self.keep.trash.forget(&item.id);
                }
                Err(e)
            }
        }
    }

    /// Before `files` replace what the container has, keeps the container's version of
    /// each one that exists there and whose history is unknown ([`Keep::untrusted_remote`])
    /// in the trash. Returns the paths that could not be kept (not to be uploaded).
    async fn keep_container_versions(
        &mut self,
        files: &[UploadFile],
        out: &mut Outcome,
    ) -> Result<Vec<RelPath>, SessionError> {
        let Some(remote) = self.keep.untrusted_remote else {
            return Ok(Vec::new());
        };
        let wanted: Vec<RelPath> = files
            .iter()
            .filter(|f| {
                remote
                    .get(&f.path)
                    .is_some_and(|e| e.kind == EntryKind::File)
            })
            .map(|f| f.path.clone())
            .collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let d = self.session.download(&wanted).await?;
        let mut kept: Vec<RelPath> = Vec::new();
        for e in &d.entries {
            let DownloadedKind::File { contents } = &e.kind else {
                continue;
            };
            let temp = self
                .keep
                .trash
                .dir()
                .with_file_name(local::temp_name("container-version"));
            let written = (|| -> std::io::Result<()> {
                std::fs::write(&temp, contents)?;
                let t = super::convert::mtime_ns(e.mtime);
                let ft = filetime::FileTime::from_unix_time(
                    t.div_euclid(1_000_000_000),
                    t.rem_euclid(1_000_000_000) as u32,
                );
                filetime::set_file_mtime(&temp, ft)
            })();
            let at = Place {
                sync: self.keep.sync,
                root: self.root,
                path: &e.path,
            };
            let adopted = written.map_err(|err| err.to_string()).and_then(|()| {
                self.keep
                    .trash
                    .adopt(&temp, &at, Origin::Container, Reason::ContainerVersion)
                    .map_err(|err| err.message)
            });
            match adopted {
                Ok(_) => kept.push(e.path.clone()),
                Err(why) => {
                    let _ = std::fs::remove_file(&temp);
                    out.failures.push(Failure {
                        path: e.path.to_string(),
                        kind: "error",
                        message: format!(
                            "not uploaded: the container's version could not be kept in the \
                             trash first ({why})"
                        ),
                        retry: Retry::Upload,
                    });
                }
            }
        }
        // Gone or unreadable in the container: nothing to keep, or nothing to lose.
        let refused: Vec<RelPath> = d
            .errors
            .iter()
            .filter_map(|e| RelPath::new(&e.path).ok())
            .filter(|p| !kept.contains(p))
            .collect();
        for p in &refused {
            out.failures.push(Failure {
                path: p.to_string(),
                kind: "error",
                message: "not uploaded: the container's version could not be read to keep it \
                          in the trash first"
                    .into(),
                retry: Retry::Upload,
            });
        }
        Ok(refused)
    }

    async fn save_conflict_copy(
        &mut self,
        path: &RelPath,
        copy: &RelPath,
        side: Side,
        out: &mut Outcome,
    ) -> Result<(), SessionError> {
        match side {
            Side::Local => {
                if let Err(e) = local::rename(self.root, path, copy) {
                    out.failures.push(Failure::local(&e, Retry::Never));
                }
            }
            Side::Remote => {
                let d = self.session.download(std::slice::from_ref(path)).await?;
                for e in &d.entries {
                    if let (DownloadedKind::File { contents }, true) = (&e.kind, &e.path == path) {
                        let mtime = super::convert::mtime_ns(e.mtime);
                        if let Err(err) =
                            local::write_file(self.root, copy, contents, e.mode, mtime)
                        {
                            out.failures.push(Failure::local(&err, Retry::Never));
                        }
                    }
                }
                out.failures
                    .extend(d.errors.iter().map(|e| Failure::remote(e, Retry::Never)));
            }
        }
        Ok(())
    }

    async fn delete_remote(
        &mut self,
        deletions: &[Deletion],
        out: &mut Outcome,
    ) -> Result<(), SessionError> {
        // Only what the plan lists (`Deletion`): the files and links, then the folders
        // deepest first, each only if empty by then. A folder may hold what the plan
        // does not know: excluded files, or files new in the container.
        // Each file only while it is still as listed (size and mtime): one the container
        // changed meanwhile stays, and comes back as a change.
        let mut files: Vec<(RelPath, u64, i64)> = Vec::new();
        let mut dirs: Vec<RelPath> = Vec::new();
        for d in deletions {
            let listed = std::iter::once((&d.path, &d.entry))
                .chain(d.contents.iter().map(|i| (&i.path, &i.entry)));
            for (path, entry) in listed {
                if entry.is_dir() {
                    dirs.push(path.clone());
                } else {
                    files.push((
                        path.clone(),
                        entry.size,
                        entry.mtime.div_euclid(1_000_000_000),
                    ));
                }
            }
        }
        dirs.sort_by_key(|p| std::cmp::Reverse(p.depth()));
        let mut failed = self.session.delete_unchanged(&files).await?;
        failed.extend(self.session.remove_empty_dirs(&dirs).await?);
        let failed_at = |p: &RelPath| failed.iter().any(|f| f.path == p.as_str());
        let mut ok = Vec::new();
        let mut gone_below = Vec::new();
        for d in deletions {
            let failed_inside: Vec<&FileError> = failed
                .iter()
                .filter(|f| {
                    f.path == d.path.as_str() || f.path.starts_with(&format!("{}/", d.path))
                })
                .collect();
            if failed_inside.is_empty() {
                ok.push(d.clone());
                continue;
            }
            // Kept: what was removed below it is forgotten; the folder is reported.
            gone_below.extend(
                d.contents
                    .iter()
                    .map(|i| i.path.clone())
                    .filter(|p| !failed_at(p)),
            );
            for f in failed_inside {
                if dirs.iter().any(|p| f.path == p.as_str()) {
                    out.failures.push(Failure {
                        path: f.path.clone(),
                        kind: "error",
                        message: format!(
                            "deleted locally but kept in the container: {}",
                            f.message
                        ),
                        retry: Retry::Never,
                    });
                } else if f.kind == FileErrorKind::Changed {
                    // Changed in the container since it was listed: the change wins over
                    // the local deletion; fetching it again restores it locally.
                    out.failures.push(Failure::remote(f, Retry::Download));
                } else {
                    out.failures.push(Failure::remote(f, Retry::Upload));
                }
            }
        }
        out.deleted += ok.len() as u64;
        out.done.extend(ok.iter().map(|d| d.path.clone()));
        self.index.apply(&Action::DeleteRemote { deletions: ok });
        if !gone_below.is_empty() {
            self.index.apply(&Action::Forget { paths: gone_below });
        }
        Ok(())
    }

    fn delete_local(&mut self, deletions: &[Deletion], out: &mut Outcome) {
        let mut ok = Vec::new();
        for d in deletions {
            let errors = local::remove_to_trash(
                self.root,
                d,
                self.keep.trash,
                self.keep.sync,
                self.keep.deletion_reason,
            )
            .errors;
            if errors.is_empty() {
                ok.push(d.clone());
                out.done.push(d.path.clone());
            } else {
                out.failures.extend(errors.iter().map(|e| Failure {
                    path: e.path.clone(),
                    kind: "error",
                    message: format!("deleted in the container but kept locally: {}", e.message),
                    retry: Retry::Never,
                }));
            }
        }
        out.deleted += ok.len() as u64;
        self.index.apply(&Action::DeleteLocal { deletions: ok });
    }
}

/// The batch size: `max`, or about two seconds' worth under a bandwidth cap.
fn batch_bytes(max: u64, limit: Option<u64>) -> u64 {
    match limit {
        Some(rate) => max.min(rate.saturating_mul(2)).max(1),
        None => max,
    }
}

/// Under a bandwidth cap, waits until `bytes` sent since `start` fit the rate.
async fn pace(start: Instant, bytes: u64, limit: Option<u64>) {
    if let Some(rate) = limit.filter(|r| *r > 0) {
        let due = std::time::Duration::from_secs_f64(bytes as f64 / rate as f64);
        let spent = start.elapsed();
        if spent < due {
            tokio::time::sleep(due - spent).await;
        }
    }
}

/// Splits `items` into batches of at most `max_bytes` of content and [`BATCH_FILES`]
/// files (a larger file is a batch of its own).
fn chunks(items: &[Item], max_bytes: u64) -> Vec<&[Item]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut size = 0u64;
    for (i, item) in items.iter().enumerate() {
        if i > start
            && (size.saturating_add(item.entry.size) > max_bytes || i - start >= BATCH_FILES)
        {
            out.push(&items[start..i]);
            start = i;
            size = 0;
        }
        size = size.saturating_add(item.entry.size);
    }
    if start < items.len() {
        out.push(&items[start..]);
    }
    out
}

/// A free local name for a conflict copy of `path`: `<name>.ferry-conflict-remote`
/// (or `-local`), then `-2`, `-3`, …
pub fn conflict_copy_name(root: &Path, path: &RelPath, loser: Side) -> RelPath {
    let base = format!("{}.ferry-conflict-{loser}", path.as_str());
    let mut n = 1;
    loop {
        let candidate = if n == 1 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        if let Ok(p) = RelPath::new(&candidate) {
            if !root.join(p.as_str()).exists() || n > 1000 {
                return p;
            }
        }
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunking_respects_bytes_and_count() {
        let item = |size| Item {
            path: RelPath::new("f").unwrap(),
            entry: Entry::file(size, 0),
        };
        let items = vec![item(5), item(5), item(5), item(20), item(1)];
        let c = chunks(&items, 10);
        let sizes: Vec<usize> = c.iter().map(|c| c.len()).collect();
        assert_eq!(sizes, vec![2, 1, 1, 1]);
        assert!(chunks(&[], 10).is_empty());
        // Sizes a hostile container claims cannot overflow the sum (it panicked in
        // debug builds): each huge file is a batch of its own.
        let huge = vec![item(u64::MAX), item(u64::MAX), item(1)];
        let sizes: Vec<usize> = chunks(&huge, 10).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, vec![1, 1, 1]);
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(12 * 1024), "12.0 KiB");
    }
}
