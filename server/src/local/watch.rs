//! [`LocalWatcher`]: change events for the local tree from `notify` (inotify on Linux,
//! recursive), handed to async code in [`LocalBatch`]es.
//!
//! `notify` calls back on its own thread; the callback only sends the event into an
//! unbounded tokio channel, and [`LocalWatcher::next_batch`] collects from it until the
//! tree has been quiet for a while. Symlinks are not followed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, ModifyKind};
use notify::{Config, Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::core::{PathError, RelPath};

use super::error::{LocalError, LocalErrorKind};
use super::fs::is_temp_name;

/// The changes collected by one [`LocalWatcher::next_batch`].
///
/// The paths say where something happened, not what: the engine `stat`s (or, for a
/// folder, scans below) each of them. A new folder's contents may have been created
/// before the watch on it was in place, so a folder in `paths` is to be scanned below,
/// not only `stat`ed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalBatch {
    /// Every path an event named (created, modified — content or metadata —, removed,
    /// renamed: both ends), relative to the root. Not the root itself, not ferry's
    /// temporary files.
    pub paths: BTreeSet<RelPath>,
    /// Events may have been lost (the kernel's queue overflowed, the watcher reported an
    /// error, the root itself was removed or moved): the engine must rescan the whole
    /// tree.
    pub rescan: bool,
    /// Names that are not valid [`RelPath`]s ([`LocalErrorKind::InvalidName`]), one per
    /// path, and errors of the watcher itself ([`LocalErrorKind::Io`]).
    pub errors: Vec<LocalError>,
}

/// Watches a local tree recursively. Dropping it stops the watch.
pub struct LocalWatcher {
    // Declared first: dropped (watch stopped, sender gone) before the receiver.
    _watcher: RecommendedWatcher,
    events: mpsc::UnboundedReceiver<notify::Result<Event>>,
    root: PathBuf,
    canonical_root: Option<PathBuf>,
    /// The batch being collected, kept here so that a cancelled `next_batch` loses
    /// nothing.
    pending: Collector,
    /// When the first change of `pending` arrived.
    first_change: Option<Instant>,
}

impl std::fmt::Debug for LocalWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalWatcher")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl LocalWatcher {
    /// Starts watching `root` and everything below it (folders created later included).
    ///
    /// # Errors
    ///
    /// [`LocalErrorKind::NotFound`] if `root` does not exist; [`LocalErrorKind::Io`] if
    /// the watch cannot be set up — when the system's limit on inotify watches or
    /// instances is reached, the message says which `fs.inotify.*` setting to raise.
    pub fn start(root: &Path) -> Result<LocalWatcher, LocalError> {
        let root = if root.is_absolute() {
            root.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|e| LocalError::io("", "finding the current folder", e))?
                .join(root)
        };
        let (sender, events) = mpsc::unbounded_channel();
        let handler = move |event: notify::Result<Event>| {
            // The receiver is gone only when the LocalWatcher is being dropped.
            let _ = sender.send(event);
        };
        let config = Config::default().with_follow_symlinks(false);
        let mut watcher = RecommendedWatcher::new(handler, config).map_err(start_error)?;
        watcher
            .watch(&root, RecursiveMode::Recursive)
            .map_err(start_error)?;
        Ok(LocalWatcher {
            _watcher: watcher,
            events,
            canonical_root: std::fs::canonicalize(&root).ok().filter(|c| *c != root),
            root,
            pending: Collector::default(),
            first_change: None,
        })
    }

    /// Waits for the next change, then keeps collecting until no change arrived for
    /// `quiet`, or `max_wait` passed since the first one, and returns what it collected
    /// (see [`LocalBatch`]). Events that name only the root or ferry's temporary files,
    /// and read-only access (open, close without writing), do not count as changes.
    /// `None` when the watcher has ended.
    ///
    /// Cancel-safe: what a call collected before it was dropped (say, by the losing
    /// branch of a `select!`) is kept and returned by the next call.
    pub async fn next_batch(&mut self, quiet: Duration, max_wait: Duration) -> Option<LocalBatch> {
        let first = match self.first_change {
            Some(first) => first,
            None => {
                loop {
                    let event = self.events.recv().await?;
                    let seen = self.relative_paths(event);
                    if self.pending.add(seen) {
                        break;
                    }
                }
                *self.first_change.insert(Instant::now())
            }
        };
        let deadline = first + max_wait;
        let mut last = Instant::now();
        while Instant::now() < deadline {
            match tokio::time::timeout_at((last + quiet).min(deadline), self.events.recv()).await {
                Ok(Some(event)) => {
                    let seen = self.relative_paths(event);
                    if self.pending.add(seen) {
                        last = Instant::now();
                    }
                }
                // The watcher ended: hand out what was collected; the next call says so.
                Ok(None) => break,
                // Quiet for `quiet`, or `max_wait` is over.
                Err(_) => break,
            }
        }
        self.first_change = None;
        Some(std::mem::take(&mut self.pending).finish())
    }

    /// What one `notify` event means for the batch.
    fn relative_paths(&self, event: notify::Result<Event>) -> Seen {
        let event = match event {
            Ok(event) => event,
            Err(e) => return Seen::Error(watch_error(e)),
        };
        let mut rescan = event.need_rescan();
        let mut paths = Vec::new();
        if counts(event.kind) {
            for path in &event.paths {
                match self.strip_root(path) {
                    Some(rel) if rel.as_os_str().is_empty() => {
                        // The root itself: its own metadata changes do not matter, its
                        // removal or move does.
                        rescan |= matches!(
                            event.kind,
                            EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_))
                        );
                    }
                    Some(rel) => {
                        let temp = rel
                            .file_name()
                            .and_then(|name| name.to_str())
                            .is_some_and(is_temp_name);
                        if !temp {
                            paths.push(RelPath::from_path(rel).map_err(|e| (rel.to_path_buf(), e)));
                        }
                    }
                    // Outside the root (cannot happen with a recursive watch on it).
                    None => {}
                }
            }
        }
        Seen::Paths { rescan, paths }
    }

    fn strip_root<'p>(&self, path: &'p Path) -> Option<&'p Path> {
        path.strip_prefix(&self.root).ok().or_else(|| {
            self.canonical_root
                .as_ref()
                .and_then(|root| path.strip_prefix(root).ok())
        })
    }
}

/// Whether an event of this kind is a change: everything but read-only access.
fn counts(kind: EventKind) -> bool {
    match kind {
        // Closing a file that was open for writing: its content is complete now.
        EventKind::Access(access) => access == AccessKind::Close(AccessMode::Write),
        EventKind::Other => false,
        EventKind::Any | EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) => true,
    }
}

/// One event, as the collector needs it.
enum Seen {
    /// The watcher reported an error.
    Error(LocalError),
    /// The event's paths below the root (or why one is not a [`RelPath`]).
    Paths {
        rescan: bool,
        paths: Vec<Result<RelPath, (PathBuf, PathError)>>,
    },
}

/// The batch being collected; errors keyed by path so that a file written many times
/// is reported once.
#[derive(Default)]
struct Collector {
    paths: BTreeSet<RelPath>,
    rescan: bool,
    invalid: BTreeMap<String, LocalError>,
    errors: Vec<LocalError>,
}

impl Collector {
    /// Adds what an event says; whether it was a change.
    fn add(&mut self, seen: Seen) -> bool {
        match seen {
            Seen::Error(e) => {
                self.rescan = true;
                self.errors.push(e);
                true
            }
            Seen::Paths { rescan, paths } => {
                self.rescan |= rescan;
                let changed = rescan || !paths.is_empty();
                for path in paths {
                    match path {
                        Ok(path) => {
                            self.paths.insert(path);
                        }
                        Err((path, e)) => {
                            let lossy = path.to_string_lossy().into_owned();
                            self.invalid.entry(lossy.clone()).or_insert_with(|| {
                                LocalError::new(lossy, LocalErrorKind::InvalidName, e.to_string())
                            });
                        }
                    }
                }
                changed
            }
        }
    }

    fn finish(self) -> LocalBatch {
        let mut errors = self.errors;
        errors.extend(self.invalid.into_values());
        LocalBatch {
            paths: self.paths,
            rescan: self.rescan,
            errors,
        }
    }
}

fn is_watch_limit(e: &notify::Error) -> bool {
    matches!(e.kind, notify::ErrorKind::MaxFilesWatch)
}

fn is_instance_limit(e: &notify::Error) -> bool {
    matches!(&e.kind, notify::ErrorKind::Io(io) if io.raw_os_error() == Some(libc::EMFILE))
}

const WATCH_LIMIT_ADVICE: &str = "the system's limit on inotify watches (one per folder) is \
     reached; raise it, e.g. `sudo sysctl fs.inotify.max_user_watches=1048576`, or exclude \
     large folders";

const INSTANCE_LIMIT_ADVICE: &str = "the system's limit on inotify instances is reached; \
     raise it, e.g. `sudo sysctl fs.inotify.max_user_instances=1024`, or stop other watching \
     programs";

fn start_error(e: notify::Error) -> LocalError {
    if is_watch_limit(&e) {
        return LocalError::new(
            "",
            LocalErrorKind::Io,
            format!("watching the sync folder failed: {WATCH_LIMIT_ADVICE}"),
        );
    }
    if is_instance_limit(&e) {
        return LocalError::new(
            "",
            LocalErrorKind::Io,
            format!("watching the sync folder failed: {INSTANCE_LIMIT_ADVICE}"),
        );
    }
    match e.kind {
        notify::ErrorKind::PathNotFound => LocalError::new(
            "",
            LocalErrorKind::NotFound,
            "watching the sync folder failed: it does not exist; create it or fix the sync path",
        ),
        notify::ErrorKind::Io(io) => LocalError::io("", "watching the sync folder", io),
        _ => LocalError::new(
            "",
            LocalErrorKind::Io,
            format!("watching the sync folder failed: {e}"),
        ),
    }
}

fn watch_error(e: notify::Error) -> LocalError {
    if is_watch_limit(&e) {
        return LocalError::new(
            "",
            LocalErrorKind::Io,
            format!("changes in new folders are not seen: {WATCH_LIMIT_ADVICE}"),
        );
    }
    LocalError::new(
        "",
        LocalErrorKind::Io,
        format!("the file watcher reported an error ({e}); ferry rescans the folder"),
    )
}
