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
//! conflict copy next to it instead and reported (checked when the file is committed:
//! see [`super::landing`]). Downloads stream into temporary files; a file larger than
//! listed is refused and retried. A container version that could not be saved as a
//! conflict copy is not overwritten by the upload that follows.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use super::status::ProblemKind;
use crate::core::{
    Action, Deletion, Entry, EntryKind, Index, Item, Plan, RelPath, Side, Snapshot, Tolerance,
};
use crate::local::{self, LocalErrorKind, Reason, Trash};
use crate::remote::{
    Depth, DownloadedKind, EntryKind as RemoteKind, Expect, FileError, FileErrorKind, Session,
    SessionError, UploadFile,
};

use super::convert::{downloaded_entry, mtime_of};
use super::landing::{Landing, LocalSink};

/// Largest upload batch in bytes of file content (one archive in memory).
const UPLOAD_BATCH_BYTES: u64 = 8 << 20;
/// Largest download batch in bytes. ferry streams downloads to disk, but the container
/// writes each batch's archive to its state folder before sending it.
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
    /// What kind of problem.
    pub kind: ProblemKind,
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
            kind: ProblemKind::Error,
            message: format!("in the container: {}", e.message),
            retry,
        }
    }

    /// A local failure, retried as `retry` says.
    pub fn local(e: &local::LocalError, retry: Retry) -> Failure {
        Failure {
            path: e.path.clone(),
            kind: ProblemKind::Error,
            message: format!("locally: {}", e.message),
            retry,
        }
    }
}

/// What an upload to `path` may find in the container: what the plan saw there (the
/// container's state the plan was made from, else the index). Only a regular file is
/// checked by size and second; anything else there is replaced as planned.
fn expected_there(before: Option<&Snapshot>, index: &Index, path: &RelPath) -> Expect {
    let there = match before {
        Some(remote) => remote.get(path),
        None => index.get(path),
    };
    match there {
        Some(e) if e.kind == EntryKind::File => Expect::File {
            size: e.size,
            secs: e.mtime.div_euclid(1_000_000_000),
        },
        Some(_) => Expect::Anything,
        None => Expect::Absent,
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

/// How far an execution's transfers are, each way (files).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Uploads done, of `up_total`.
    pub up_done: u64,
    pub up_total: u64,
    /// Downloads done, of `down_total`.
    pub down_done: u64,
    pub down_total: u64,
}

impl Progress {
    /// The transfers `plan` holds, none done.
    pub fn of(plan: &Plan) -> Progress {
        let mut p = Progress::default();
        for a in &plan.actions {
            match a {
                Action::Upload { items } => p.up_total += items.len() as u64,
                Action::Download { items } => p.down_total += items.len() as u64,
                _ => {}
            }
        }
        p
    }

    /// Transfers done, both ways.
    pub fn done(&self) -> u64 {
        self.up_done + self.down_done
    }

    /// Transfers to do, both ways.
    pub fn total(&self) -> u64 {
        self.up_total + self.down_total
    }
}

/// What an execution keeps track of across its steps.
struct RunState {
    /// Transfers so far.
    progress: Progress,
    /// `Outcome::downloaded` at the last checkpoint.
    downloads_at_checkpoint: u64,
    /// Versions that could not be saved as a conflict copy: nothing is transferred over
    /// them.
    unsaved: HashSet<RelPath>,
}

/// The callback of [`Executor::checkpoint`]: the index, and whether files were written
/// locally since the last call.
pub type Checkpoint<'a> = dyn FnMut(&Index, bool) + Send + 'a;

/// Everything an execution needs.
pub struct Executor<'a> {
    /// The local sync folder.
    pub root: &'a Path,
    /// The local links `symlinks: follow` follows: uploads at or below one read the
    /// file it points to.
    pub followed: &'a super::links::Followed,
    /// The session in the container.
    pub session: &'a mut Session,
    /// The index, updated as actions complete.
    pub index: &'a mut Index,
    /// The local state the plan was made from (`None`: the index).
    pub planned_local: Option<&'a Snapshot>,
    /// Called as transfers complete.
    pub progress: &'a mut (dyn FnMut(Progress) + Send),
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
    /// The paths this execution recorded as racy (to be checked again later).
    pub racy: Vec<RelPath>,
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
    /// The container's state the plan was made from (its listing, or the view of the
    /// paths a batch touches): a file there that an upload replaces and that is not the
    /// version the index agreed on (its history is unknown: a container edit nobody has
    /// seen, or a file created there too) is kept in the trash first. An upload over the
    /// agreed version keeps nothing (that version is the one both sides had).
    pub remote_before: Option<&'a Snapshot>,
    /// Whether the container's versions that uploads replace are kept as
    /// `remote_before` says (off for a secondary replica, whose own edits may be
    /// overwritten; the expectations of its uploads still come from `remote_before`).
    pub container_versions: bool,
}

impl Executor<'_> {
    /// Carries out `plan` in order.
    pub async fn run(&mut self, plan: &Plan) -> Result<Outcome, SessionError> {
        let mut out = Outcome::default();
        let mut run = RunState {
            progress: Progress::of(plan),
            downloads_at_checkpoint: 0,
            unsaved: HashSet::new(),
        };
        for action in &plan.actions {
            if self.stopped() {
                out.interrupted = true;
                break;
            }
            self.step(action, &mut out, &mut run).await?;
            // Transfers checkpoint per batch; a conflict copy changes no index entry.
            let checkpointed = matches!(
                action,
                Action::Upload { .. } | Action::Download { .. } | Action::SaveConflictCopy { .. }
            );
            if !checkpointed {
                self.checkpoint(&out, &mut run.downloads_at_checkpoint);
            }
        }
        Ok(out)
    }

    /// Records copies or agreed entries in the index, and marks the racy ones there and
    /// then (see [`super::racy`]): a checkpoint right after must save the mark too, or a
    /// crash would leave a racy entry that counts as unchanged on size and mtime.
    fn book(&mut self, action: &Action) {
        self.index.apply(action);
        let caps = self.session.capabilities();
        let (items, precise) = match action {
            Action::Upload { items } => (items, caps.tar == Some(crate::remote::TarFlavor::Gnu)),
            Action::Download { items } | Action::Record { items } => (items, caps.mtime_nanos()),
            _ => return,
        };
        let marked = super::racy::mark(
            self.index,
            items.iter().map(|i| &i.path),
            super::racy::now_ns(),
            precise,
        );
        self.racy.extend(marked);
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
        run: &mut RunState,
    ) -> Result<(), SessionError> {
        {
            match action {
                Action::Record { .. } => self.book(action),
                Action::Forget { .. } => self.index.apply(action),
                Action::SaveConflictCopy { path, copy, side } => {
                    if !self.save_conflict_copy(path, copy, *side, out).await? {
                        run.unsaved.insert(path.clone());
                    }
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
                            kind: ProblemKind::Error,
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
                    let (items, held): (Vec<Item>, Vec<Item>) = items
                        .iter()
                        .cloned()
                        .partition(|i| !run.unsaved.contains(&i.path));
                    for i in held {
                        out.failures.push(Failure {
                            path: i.path.to_string(),
                            kind: ProblemKind::Error,
                            message: "not uploaded: the container's version could not be \
                                      saved locally first, so it is kept in the container"
                                .into(),
                            retry: Retry::Upload,
                        });
                    }
                    let mut batcher = Batcher::new(batch_bytes(UPLOAD_BATCH_BYTES, self.limits.0));
                    let mut rest = &items[..];
                    while !rest.is_empty() {
                        if self.stopped() {
                            out.interrupted = true;
                            break;
                        }
                        let (chunk, after) = rest.split_at(batcher.next(rest));
                        rest = after;
                        let t = Instant::now();
                        let before = out.bytes_up;
                        self.upload(chunk, out).await?;
                        let sent = out.bytes_up.saturating_sub(before);
                        batcher.took(chunk.len(), sent, t.elapsed());
                        pace(t, sent, self.limits.0).await;
                        run.progress.up_done += chunk.len() as u64;
                        (self.progress)(run.progress);
                        self.checkpoint(out, &mut run.downloads_at_checkpoint);
                    }
                }
                Action::Download { items } => {
                    let (items, held): (Vec<Item>, Vec<Item>) = items
                        .iter()
                        .cloned()
                        .partition(|i| !run.unsaved.contains(&i.path));
                    for i in held {
                        out.failures.push(Failure {
                            path: i.path.to_string(),
                            kind: ProblemKind::Error,
                            message: "not downloaded: the local version could not be moved \
                                      aside first, so it is kept"
                                .into(),
                            retry: Retry::Download,
                        });
                    }
                    let mut batcher =
                        Batcher::new(batch_bytes(DOWNLOAD_BATCH_BYTES, self.limits.1));
                    let mut rest = &items[..];
                    while !rest.is_empty() {
                        if self.stopped() {
                            out.interrupted = true;
                            break;
                        }
                        let (chunk, after) = rest.split_at(batcher.next(rest));
                        rest = after;
                        let t = Instant::now();
                        let before = out.bytes_down;
                        self.download(chunk, out).await?;
                        let got = out.bytes_down.saturating_sub(before);
                        batcher.took(chunk.len(), got, t.elapsed());
                        pace(t, got, self.limits.1).await;
                        run.progress.down_done += chunk.len() as u64;
                        (self.progress)(run.progress);
                        self.checkpoint(out, &mut run.downloads_at_checkpoint);
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
        let links: Vec<&Item> = items
            .iter()
            .filter(|i| matches!(i.entry.kind, EntryKind::Symlink(_)))
            .collect();
        if !links.is_empty() {
            self.upload_links(&links, out).await?;
        }
        let mut files = Vec::new();
        let mut read = Vec::new();
        for item in items {
            if item.entry.kind != EntryKind::File {
                continue;
            }
            match super::links::read_local(self.root, self.followed, &item.path) {
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
        let paths: Vec<&RelPath> = files.iter().map(|f| &f.path).collect();
        let refused = self.keep_container_versions(&paths, out).await?;
        if !refused.is_empty() {
            files.retain(|f| !refused.contains(&f.path));
            read.retain(|i| !refused.contains(&i.path));
            if files.is_empty() {
                return Ok(());
            }
        }
        // A batch the container cannot unpack (a full disk) is split in halves until
        // what fits has landed; a single file that still fails is a per-file error
        // that says how much space is left.
        // Each file lands only while the container still has what the plan saw there (a
        // container edit made since is never replaced; it comes back as a change).
        let (before, index) = (self.keep.remote_before, &*self.index);
        let expect = move |p: &RelPath| expected_there(before, index, p);
        let mut failed = Vec::new();
        let mut todo = vec![(0, files.len())];
        while let Some((a, b)) = todo.pop() {
            let report = self.session.upload_expecting(&files[a..b], &expect).await?;
            out.bytes_up = out.bytes_up.saturating_add(report.sent_bytes);
            if let (Some(r), true) = (&report.rejected, b - a > 1) {
                tracing::info!(
                    "the container could not unpack {} files ({}); trying halves",
                    b - a,
                    r.message
                );
                let mid = a + (b - a) / 2;
                todo.push((mid, b));
                todo.push((a, mid));
                continue;
            }
            failed.extend(report.failed);
        }
        self.book_uploads(read, failed, out);
        Ok(())
    }

    /// Books the uploads of `sent` but the `failed` ones: a path the container changed
    /// meanwhile is fetched again (then a conflict), any other failure is retried.
    fn book_uploads(&mut self, sent: Vec<Item>, failed: Vec<FileError>, out: &mut Outcome) {
        let (changed, failed): (Vec<FileError>, Vec<FileError>) = failed
            .into_iter()
            .partition(|f| f.kind == FileErrorKind::Changed);
        out.failures
            .extend(changed.iter().map(|e| Failure::remote(e, Retry::Download)));
        let sent: Vec<Item> = sent
            .into_iter()
            .filter(|i| !changed.iter().any(|c| c.path == i.path.as_str()))
            .collect();
        let ok = self.keep_ok(&sent, &failed, Retry::Upload, out);
        out.uploaded += ok.len() as u64;
        out.uploaded_paths.extend(ok.iter().map(|i| i.path.clone()));
        self.book(&Action::Upload { items: ok });
    }

    /// Creates the symlinks `items` in the container, each as it is locally now (a link
    /// that changed into something else since the plan is left to the watcher). The
    /// container's version of what a link replaces is kept in the trash first, as for
    /// files.
    async fn upload_links(
        &mut self,
        items: &[&Item],
        out: &mut Outcome,
    ) -> Result<(), SessionError> {
        let mut links = Vec::new();
        let mut read = Vec::new();
        for item in items {
            match local::stat(self.root, &item.path) {
                Ok(Some(entry)) => {
                    let EntryKind::Symlink(target) = &entry.kind else {
                        continue;
                    };
                    links.push(crate::remote::UploadLink {
                        path: item.path.clone(),
                        target: target.clone(),
                        mtime: mtime_of(entry.mtime),
                    });
                    read.push(Item {
                        path: item.path.clone(),
                        entry,
                    });
                }
                Ok(None) => {}
                Err(e) => out.failures.push(Failure::local(&e, Retry::Upload)),
            }
        }
        let paths: Vec<&RelPath> = links.iter().map(|l| &l.path).collect();
        let refused = self.keep_container_versions(&paths, out).await?;
        links.retain(|l| !refused.contains(&l.path));
        read.retain(|i| !refused.contains(&i.path));
        if links.is_empty() {
            return Ok(());
        }
        let (before, index) = (self.keep.remote_before, &*self.index);
        let expect = move |p: &RelPath| expected_there(before, index, p);
        let report = self.session.upload_links(&links, &expect).await?;
        out.bytes_up = out.bytes_up.saturating_add(report.sent_bytes);
        self.book_uploads(read, report.failed, out);
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
        // Each file is bounded by its listed size: bigger, it grew since; it is retried.
        let sizes: HashMap<&RelPath, u64> = items.iter().map(|i| (&i.path, i.entry.size)).collect();
        let expected = |p: &RelPath| sizes.get(p).copied();
        let planned = items
            .iter()
            .map(|i| (i.path.clone(), self.expected_local(&i.path).cloned()))
            .collect();
        let listed = items
            .iter()
            .map(|i| (i.path.clone(), i.entry.clone()))
            .collect();
        let mut sink = LocalSink::new(
            self.root,
            Landing::Targets { planned, listed },
            self.keep.trash,
            self.keep.sync,
        );
        let result = self.session.download(&paths, &expected, &mut sink).await;
        // Symlinks come as entries without content: written here, by the same sink.
        if let Ok(d) = &result {
            for e in &d.entries {
                if let DownloadedKind::Symlink { target } = &e.kind {
                    sink.land_link(e, target);
                }
            }
        }
        // What landed is booked even when the session broke afterwards.
        out.bytes_down += sink.bytes;
        out.failures.append(&mut sink.failures);
        let mut ok = std::mem::take(&mut sink.landed);
        drop(sink);
        let booked = |ok: Vec<Item>, this: &mut Self, out: &mut Outcome| {
            out.downloaded += ok.iter().filter(|i| !i.entry.is_dir()).count() as u64;
            out.done.extend(ok.iter().map(|i| i.path.clone()));
            this.book(&Action::Download { items: ok });
        };
        let d = match result {
            Ok(d) => d,
            Err(e) => {
                booked(ok, self, out);
                return Err(e);
            }
        };
        for p in &d.missing {
            tracing::info!("{p}: asked for but not sent by the container (deleted meanwhile, or unreadable there)");
        }
        out.failures
            .extend(d.errors.iter().map(|e| Failure::remote(e, Retry::Download)));
        // Files and symlinks are in place already (the sink); folders are made here.
        for e in &d.entries {
            if e.kind != DownloadedKind::Dir {
                continue;
            }
            let Some(entry) = downloaded_entry(e) else {
                continue;
            };
            match local::mkdir(self.root, &e.path) {
                Ok(_) => ok.push(Item {
                    path: e.path.clone(),
                    entry,
                }),
                Err(err) => out.failures.push(Failure::local(&err, Retry::Download)),
            }
        }
        booked(ok, self, out);
        Ok(())
    }

    /// Before uploads to `paths` replace what the container has, keeps the container's version of
    /// each one that exists there and is not the agreed version ([`Keep::remote_before`])
    /// in the trash. Returns the paths that could not be kept (not to be uploaded).
    async fn keep_container_versions(
        &mut self,
        paths: &[&RelPath],
        out: &mut Outcome,
    ) -> Result<Vec<RelPath>, SessionError> {
        let Some(remote) = self
            .keep
            .remote_before
            .filter(|_| self.keep.container_versions)
        else {
            return Ok(Vec::new());
        };
        let wanted: Vec<RelPath> = paths
            .iter()
            .filter(|p| {
                let there = remote.get(p);
                there.is_some_and(|e| e.kind == EntryKind::File)
                    && !crate::core::same_version(there, self.index.get(p), Tolerance::EXACT)
            })
            .map(|p| (*p).clone())
            .collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let sizes: HashMap<&RelPath, u64> = wanted
            .iter()
            .filter_map(|p| remote.get(p).map(|e| (p, e.size)))
            .collect();
        let expected = |p: &RelPath| sizes.get(p).copied();
        let mut sink = LocalSink::new(self.root, Landing::Trash, self.keep.trash, self.keep.sync);
        let result = self.session.download(&wanted, &expected, &mut sink).await;
        out.failures.append(&mut sink.failures);
        let kept = std::mem::take(&mut sink.kept);
        drop(sink);
        let d = result?;
        // Gone from the container meanwhile: nothing to keep, nothing lost. Anything else
        // not kept (unreadable, changed, not storable) is not replaced.
        let refused: Vec<RelPath> = wanted
            .iter()
            .filter(|p| !kept.contains(p) && !d.missing.contains(p))
            .cloned()
            .collect();
        for e in &d.errors {
            out.failures.push(Failure {
                path: e.path.clone(),
                kind: ProblemKind::Error,
                message: format!(
                    "not uploaded: the container's version could not be read to keep it in \
                     the trash first ({})",
                    e.message
                ),
                retry: Retry::Upload,
            });
        }
        Ok(refused)
    }

    /// Saves one side's version of `path` as the local `copy`. Returns false when it
    /// could not be saved: then nothing may replace that version (no upload over the
    /// container's, no download over the local one).
    async fn save_conflict_copy(
        &mut self,
        path: &RelPath,
        copy: &RelPath,
        side: Side,
        out: &mut Outcome,
    ) -> Result<bool, SessionError> {
        if side == Side::Local {
            if let Err(e) = local::rename(self.root, path, copy) {
                out.failures.push(Failure::local(&e, Retry::Never));
                return Ok(false);
            }
            return Ok(true);
        }
        // The size to expect comes from a fresh listing; a file still growing is
        // listed again (a few times).
        for _ in 0..3 {
            let listing = self
                .session
                .list(std::slice::from_ref(path), Depth::Children)
                .await?;
            let Some(size) = listing
                .entries
                .iter()
                .find(|e| &e.path == path && e.kind == RemoteKind::File)
                .map(|e| e.size)
            else {
                if listing.is_unknown(path) {
                    out.failures.extend(
                        listing
                            .errors
                            .iter()
                            .map(|e| Failure::remote(e, Retry::Never)),
                    );
                    return Ok(false);
                }
                // Gone (or not a file any more): nothing to keep.
                return Ok(true);
            };
            let expected = |p: &RelPath| (p == path).then_some(size);
            let mut sink = LocalSink::new(
                self.root,
                Landing::Copy {
                    path: path.clone(),
                    copy: copy.clone(),
                },
                self.keep.trash,
                self.keep.sync,
            );
            let d = self
                .session
                .download(std::slice::from_ref(path), &expected, &mut sink)
                .await;
            out.bytes_down += sink.bytes;
            let local_failed = !sink.failures.is_empty();
            out.failures.append(&mut sink.failures);
            drop(sink);
            let d = d?;
            if d.errors.iter().any(|e| e.kind == FileErrorKind::Changed) {
                continue;
            }
            out.failures
                .extend(d.errors.iter().map(|e| Failure::remote(e, Retry::Never)));
            return Ok(!local_failed && d.errors.is_empty());
        }
        out.failures.push(Failure {
            path: path.to_string(),
            kind: ProblemKind::Error,
            message: format!(
                "the container's version kept changing while ferry saved it as {copy}; it is \
                 kept in the container, and the local version is not uploaded over it"
            ),
            retry: Retry::Upload,
        });
        Ok(false)
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
                        kind: ProblemKind::Error,
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
                    kind: ProblemKind::Error,
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

/// How long one transfer batch should take: ferry stops (Ctrl-C, a cancelled
/// progress) and saves its index only between batches, so a batch is sized by the
/// link's measured speed to take about this long.
const BATCH_TIME: Duration = Duration::from_millis(500);
/// The first batch, before the link is measured.
const FIRST_BATCH_BYTES: u64 = 256 << 10;
const FIRST_BATCH_FILES: usize = 100;
/// The smallest batch a slow link shrinks batches to.
const MIN_BATCH_BYTES: u64 = 64 << 10;
const MIN_BATCH_FILES: usize = 16;
/// How much a batch may grow over the one before (a short batch measures latency more
/// than speed).
const BATCH_GROWTH: u64 = 4;

/// Cuts a list of transfers into batches that each take about [`BATCH_TIME`] on the
/// link as measured so far: at most `cap_bytes` of content and [`BATCH_FILES`] files
/// (a larger file is a batch of its own). Pure: the caller reports each batch's time.
struct Batcher {
    cap_bytes: u64,
    max_bytes: u64,
    max_files: usize,
}

impl Batcher {
    fn new(cap_bytes: u64) -> Batcher {
        Batcher {
            cap_bytes,
            max_bytes: FIRST_BATCH_BYTES.min(cap_bytes),
            max_files: FIRST_BATCH_FILES,
        }
    }

    /// How many of `items` (from the start) the next batch takes: at least one.
    fn next(&self, items: &[Item]) -> usize {
        let mut size = 0u64;
        for (i, item) in items.iter().enumerate() {
            if i > 0
                && (size.saturating_add(item.entry.size) > self.max_bytes || i >= self.max_files)
            {
                return i;
            }
            size = size.saturating_add(item.entry.size);
        }
        items.len()
    }

    /// A batch of `files` files and `bytes` bytes took `took`: the next one is sized to
    /// take about [`BATCH_TIME`] at that speed.
    fn took(&mut self, files: usize, bytes: u64, took: Duration) {
        let secs = took.as_secs_f64().max(0.001);
        let per_batch = BATCH_TIME.as_secs_f64() / secs;
        let want_bytes = (bytes as f64 * per_batch) as u64;
        let want_files = (files as f64 * per_batch) as usize;
        // Only a batch that was full in a dimension says how far that one may go.
        if bytes >= self.max_bytes / 2 || want_bytes < self.max_bytes {
            self.max_bytes = want_bytes
                .clamp(MIN_BATCH_BYTES, self.max_bytes.saturating_mul(BATCH_GROWTH))
                .min(self.cap_bytes)
                .max(1);
        }
        if files >= self.max_files / 2 || want_files < self.max_files {
            self.max_files = want_files
                .clamp(MIN_BATCH_FILES, self.max_files * BATCH_GROWTH as usize)
                .min(BATCH_FILES);
        }
    }
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

    fn item(size: u64) -> Item {
        Item {
            path: RelPath::new("f").unwrap(),
            entry: Entry::file(size, 0),
        }
    }

    /// The batch sizes `batcher` cuts `items` into, without measuring.
    fn cut(batcher: &Batcher, mut items: &[Item]) -> Vec<usize> {
        let mut out = Vec::new();
        while !items.is_empty() {
            let n = batcher.next(items);
            out.push(n);
            items = &items[n..];
        }
        out
    }

    #[test]
    fn batches_respect_bytes_and_count() {
        let b = Batcher::new(10);
        let items = vec![item(5), item(5), item(5), item(20), item(1)];
        assert_eq!(cut(&b, &items), vec![2, 1, 1, 1]);
        assert!(cut(&b, &[]).is_empty());
        // Sizes a hostile container claims cannot overflow the sum (it panicked in
        // debug builds): each huge file is a batch of its own.
        let huge = vec![item(u64::MAX), item(u64::MAX), item(1)];
        assert_eq!(cut(&b, &huge), vec![1, 1, 1]);
        let many = vec![item(0); FIRST_BATCH_FILES * 2 + 1];
        assert_eq!(
            cut(&Batcher::new(1 << 30), &many),
            vec![FIRST_BATCH_FILES, FIRST_BATCH_FILES, 1]
        );
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(12 * 1024), "12.0 KiB");
    }

    /// Batches follow the link: on a slow one they shrink to about [`BATCH_TIME`] each
    /// (so a stop is never far away), on a fast one they grow — by at most
    /// [`BATCH_GROWTH`] a step — up to the caps.
    #[test]
    fn batches_take_about_the_batch_time_on_the_measured_link() {
        // 100 KB/s: a 256 KiB first batch took 2.6 s → about 50 KB next.
        let mut b = Batcher::new(UPLOAD_BATCH_BYTES);
        b.took(10, FIRST_BATCH_BYTES, Duration::from_millis(2600));
        assert!(
            (MIN_BATCH_BYTES..=FIRST_BATCH_BYTES / 4).contains(&b.max_bytes),
            "{}",
            b.max_bytes
        );
        // A fast link: growth is bounded per step, and ends at the caps.
        let mut b = Batcher::new(UPLOAD_BATCH_BYTES);
        for _ in 0..20 {
            let (files, bytes) = (b.max_files, b.max_bytes);
            b.took(files, bytes, Duration::from_millis(5));
        }
        assert_eq!(b.max_bytes, UPLOAD_BATCH_BYTES);
        assert_eq!(b.max_files, BATCH_FILES);
        let mut b = Batcher::new(UPLOAD_BATCH_BYTES);
        b.took(
            FIRST_BATCH_FILES,
            FIRST_BATCH_BYTES,
            Duration::from_millis(1),
        );
        assert_eq!(b.max_bytes, FIRST_BATCH_BYTES * BATCH_GROWTH);
        assert_eq!(b.max_files, FIRST_BATCH_FILES * BATCH_GROWTH as usize);
        // Many small files on a slow link: fewer files a batch, never below the floor.
        let mut b = Batcher::new(UPLOAD_BATCH_BYTES);
        b.took(FIRST_BATCH_FILES, 1000, Duration::from_secs(20));
        assert_eq!(b.max_files, MIN_BATCH_FILES);
    }
}
