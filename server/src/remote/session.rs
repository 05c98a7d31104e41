//! [`Session`]: one long-lived shell in the container per sync path, serving commands
//! one at a time (probe, list, upload, download, delete, mkdir, rename) over the
//! framing described in the module docs of `remote::wire` (summarized below).
//!
//! # Protocol
//!
//! Start: `sh -c <session script> ferry-session ROOT STATE_PARENT DISABLED MODE` (MODE
//! `rw`, or `ro` for a dry run: nothing in the container is written). The script
//! makes a private state folder (`$TMPDIR`, `/tmp`, `/var/tmp`, `$HOME`, else inside
//! ROOT, named `.ferry-tmp-PID-s`), probes the tools, and sends the probe as the first
//! reply (the hello).
//!
//! Commands (one header line each; names only ever in payloads):
//!
//! | header | payloads | reply body |
//! |---|---|---|
//! | `ping` | – | empty |
//! | `list LEN 1\|r` | paths, one a line (`.` = root) | `T MTIME` (the container's clock), then per path I: `MODEHEX SIZE MTIME ./PATH` lines, `! ./ESCAPED` for newline names, `W I TEXT` per line of find/stat stderr, `F I STATUS` if find failed (see [`Listing`]: unknown is never empty) |
//! | `put LEN z\|p [MLEN]` | tar (gzip members with `z`); with MLEN pairs of lines EXPECT (`*`, `-`, `SIZE SECS`), PATH: each file lands only while its path is so | failures: `E CODE PATH` (+ `M MESSAGE`); or `X FREE MESSAGE` when unpacking failed (nothing landed; FREE = bytes available, or `-`) |
//! | `putf NAMELEN LEN MODE MTIME` | path + newline; content | failures |
//! | `get LEN` | paths | tar archive (streamed); `err` with tar's messages when tar failed |
//! | `getf LEN` | paths | `F INDEX MODEHEX MTIME SIZE` + content, or `E INDEX CODE` (streamed) |
//! | `rm LEN`, `mkdir LEN` | paths | failures |
//! | `rm LEN c` | pairs of lines `SIZE SECS`, PATH (removed only while still so) | failures (`E changed PATH`) |
//! | `rmdir LEN` | paths (folders, removed only if empty) | failures (a folder kept) |
//! | `mv LEN` | pairs of lines FROM, TO | failures |
//! | `sum LEN` | paths | `HEX  ./PATH` lines of `sha256sum` (regular files only) |
//! | `place` | – | `P NAME WRITABLE DEV PATH` per candidate folder, `M LINE` per mountinfo line |
//! | `mark LEN r\|w` | the marker folder, a fresh token | `K TOKEN BEFORE AFTER INODE` (+ `E MESSAGE`) |
//! | `stage LEN` | a folder on the sync folder's mount (the marker's) | empty: uploads are staged there from now on (`err` when it cannot be made) |
//! | `quit` | – | empty; the shell exits |
//!
//! Each payload is sent only after the container's `ack` and read with `head -c LEN`
//! (else `dd`, else shell builtins: see [`PayloadReader`]). This works the same over a
//! stream that cannot close stdin (Kubernetes exec v4): nothing waits for end-of-file.
//! The shell exits when its stdin ends (ferry dropped the stream) and removes its state
//! and staging folders on the way out.

use std::any::Any;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use super::caps::{Capabilities, PayloadReader, TarFlavor};
use super::download::{BodyParser, Download, DownloadSink, DownloadedKind, Expected, GetfStream};
use super::error::{FileError, FileErrorKind, SessionError};
use super::listing::{self, Depth, EntryKind, Listing};
use super::path::RelPath;
use super::place::{self, Mark, PlaceReport};
use super::scripts;
use super::transport::{self, BoxFuture, ExitStatus, Launcher, Output, Stdin};
use super::untar::TarStream;
use super::upload::{self, UploadFile, UploadLink, UploadReport};
use super::wire::{self, ReadError, Status};

/// How one `get` went.
enum Batch {
    /// Everything was read.
    Done(Download),
    /// `tar` failed, or its archive broke off: what completed, the paths that did not,
    /// and why.
    Failed {
        done: Download,
        rest: Vec<RelPath>,
        why: String,
    },
}

/// What a conditional upload expects at a path in the container
/// ([`Session::upload_expecting`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Land whatever is there.
    Anything,
    /// Nothing may be there.
    Absent,
    /// A regular file of this size and mtime (whole seconds).
    File {
        /// Size in bytes.
        size: u64,
        /// Mtime, whole seconds since the epoch.
        secs: i64,
    },
}

impl Expect {
    /// The line the `put` command reads (`*`, `-`, or `SIZE SECS`).
    fn as_line(self) -> String {
        match self {
            Expect::Anything => "*".into(),
            Expect::Absent => "-".into(),
            Expect::File { size, secs } => format!("{size} {secs}"),
        }
    }
}

/// Largest payload of paths for one `get` (the container passes them to `tar` as
/// arguments, which the kernel limits).
const GET_BATCH_BYTES: usize = 64 * 1024;

/// How much of the container's stderr is kept for error messages.
const STDERR_KEEP: usize = 4096;

/// Whether uploads may be compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// gzip when the container has it and the batch has enough compressible bytes.
    #[default]
    Auto,
    /// Never compress.
    Never,
}

/// Settings of a session.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// A folder in the container for ferry's private state (tried first; the default
    /// order is `$TMPDIR`, `/tmp`, `/var/tmp`, `$HOME`, then the sync folder itself).
    pub state_parent: Option<String>,
    /// Tools to treat as missing even if present (`head`, `dd`, `ddcount` (dd's
    /// `iflag=count_bytes`), `mv`, `tar`, `gzip`, `chmod`, `touch`, `inotifywait`,
    /// `maxdepth`, `newer`, `sleepfrac`, `sha256sum`, `md5sum`, `cksum`): for tests of
    /// the fallbacks, and as an escape hatch for a broken tool.
    pub disable: Vec<String>,
    /// How long to wait for a command's reply (including sending its payloads) before
    /// the session is given up; for a streamed download body, how long a read may
    /// bring no byte.
    pub reply_timeout: Duration,
    /// How long to wait for the container's probe (the hello) at start: a small reply
    /// that needs no transfer, so a stalled connection is noticed well before
    /// `reply_timeout`.
    pub start_timeout: Duration,
    /// Largest reply body held in memory (listings, failure lists, error messages).
    /// Download bodies are streamed instead: no limit but each file's expected size.
    pub max_reply_bytes: u64,
    /// Upload compression.
    pub compression: Compression,
    /// A read-only session (a dry run): the sync folder is neither created nor swept,
    /// and every command that would write in the container is refused by the script.
    pub read_only: bool,
}

impl Default for SessionOptions {
    fn default() -> SessionOptions {
        SessionOptions {
            state_parent: None,
            disable: Vec::new(),
            reply_timeout: Duration::from_secs(300),
            start_timeout: Duration::from_secs(30),
            max_reply_bytes: 1 << 30,
            compression: Compression::Auto,
            read_only: false,
        }
    }
}

/// One long-lived shell in the container, rooted at the sync folder. Commands take
/// `&mut self`: one at a time, in lockstep. Dropping the session closes its stream; the
/// shell then exits by itself. After an error for which
/// [`SessionError::session_usable`] is false, every command fails: start a new session.
pub struct Session {
    stdin: Stdin,
    stdout: BufReader<Output>,
    status: Option<BoxFuture<'static, ExitStatus>>,
    _keep: Option<Box<dyn Any + Send>>,
    stdin_close: bool,
    caps: Capabilities,
    root: String,
    opts: SessionOptions,
    stderr: Arc<Mutex<Vec<u8>>>,
    broken: Option<String>,
    /// When the container last answered.
    last_reply: Instant,
    /// What listings do with symlinks ([`Session::set_links`]).
    links: LinkPolicy,
}

/// What a session's listings do with symlinks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LinkPolicy {
    /// List them as entries without a target (the default).
    #[default]
    Leave,
    /// Make each one of [`Listing::skipped_links`], with the reason given (`symlinks:
    /// ignore`, `symlinks: follow`).
    Skip(&'static str),
    /// Read their targets ([`Session::read_link_targets`]).
    Read,
}

/// A [`DownloadSink`] that takes no file: for reading symlink targets, which come as
/// archive entries without content.
struct NoFiles;

impl DownloadSink for NoFiles {
    type File = std::io::Sink;

    fn begin(&mut self, _: &super::download::IncomingFile<'_>) -> Option<std::io::Sink> {
        None
    }

    fn finish(&mut self, _: std::io::Sink, _: &super::download::DownloadedEntry) -> bool {
        false
    }

    fn abort(&mut self, _: std::io::Sink, _: Option<std::io::Error>) {}
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("root", &self.root)
            .field("caps", &self.caps)
            .field("broken", &self.broken)
            .finish()
    }
}

/// Checks a container path for the sync root: absolute, no newline or NUL.
fn check_root(root: &str) -> Result<(), SessionError> {
    if !root.starts_with('/') || root.contains('\n') || root.contains('\0') {
        return Err(SessionError::Setup {
            message: format!("the container path {root:?} must be absolute and have no newline"),
        });
    }
    Ok(())
}

/// Keeps the last [`STDERR_KEEP`] bytes of a stream (until it ends).
pub(crate) fn drain_stderr(stderr: Option<Output>) -> Arc<Mutex<Vec<u8>>> {
    let keep = Arc::new(Mutex::new(Vec::new()));
    if let Some(mut r) = stderr {
        let k = keep.clone();
        crate::logging::spawn_scoped(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = r.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                let mut v = k.lock().unwrap_or_else(|e| e.into_inner());
                v.extend_from_slice(&buf[..n]);
                if v.len() > STDERR_KEEP {
                    let cut = v.len() - STDERR_KEEP;
                    v.drain(..cut);
                }
            }
        });
    }
    keep
}

fn payload_of(paths: &[&str]) -> Vec<u8> {
    let mut v = Vec::new();
    for p in paths {
        v.extend_from_slice(p.as_bytes());
        v.push(b'\n');
    }
    v
}

impl Session {
    /// Starts the session script in the container through `launcher`, for the sync
    /// folder `root` (absolute; created if missing, when possible), and waits for its
    /// probe.
    pub async fn start(
        launcher: &dyn Launcher,
        root: &str,
        opts: SessionOptions,
    ) -> Result<Session, SessionError> {
        check_root(root)?;
        let disabled = opts.disable.join(" ");
        let state = opts.state_parent.clone().unwrap_or_default();
        let mode = if opts.read_only { "ro" } else { "rw" };
        let argv = scripts::argv(
            scripts::session(),
            "ferry-session",
            &[root, &state, &disabled, mode],
        );
        let mut p = launcher.launch(argv).await?;
        let (Some(stdin), Some(stdout)) = (p.take_stdin(), p.take_stdout()) else {
            return Err(SessionError::Setup {
                message: "the transport gave no stdin or stdout".into(),
            });
        };
        let mut s = Session {
            stdin,
            stdout: BufReader::with_capacity(64 * 1024, stdout),
            status: p.take_status(),
            _keep: p.take_keep_alive(),
            stdin_close: p.supports_stdin_close(),
            caps: Capabilities::parse(b"proto=1\npid=0\nstate=\n").expect("static probe parses"),
            root: root.to_string(),
            stderr: drain_stderr(p.take_stderr()),
            opts,
            broken: None,
            last_reply: Instant::now(),
            links: LinkPolicy::Leave,
        };
        let limit = s.opts.start_timeout.min(s.opts.reply_timeout);
        let hello = match tokio::time::timeout(
            limit,
            wire::read_reply(&mut s.stdout, s.opts.max_reply_bytes),
        )
        .await
        {
            Err(_) => {
                return Err(SessionError::Timeout {
                    during: "the session start".into(),
                    after: limit,
                })
            }
            Ok(r) => r.map_err(|e| s.read_error("the session start", e)),
        };
        let hello = match hello {
            Ok(r) => r,
            Err(e) => return Err(s.enrich(e).await),
        };
        match hello.status {
            Status::Ok => {}
            Status::Err => {
                return Err(SessionError::Setup {
                    message: String::from_utf8_lossy(&hello.body).into_owned(),
                })
            }
            Status::Ack => {
                return Err(s.protocol("the session start", "an ack instead of the probe".into()));
            }
        }
        s.caps = Capabilities::parse(&hello.body).map_err(|d| s.protocol("the probe", d))?;
        Ok(s)
    }

    /// What the container offers (probed once, at start).
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// The sync folder in the container.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// Whether the stream can close stdin (exec v5); the protocol does not need it.
    pub fn supports_stdin_close(&self) -> bool {
        self.stdin_close
    }

    /// The last bytes the container's shell wrote to stderr (tool messages ferry did
    /// not capture), for logs.
    pub fn stderr_tail(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// One round trip with no work; returns how long it took.
    pub async fn ping(&mut self) -> Result<Duration, SessionError> {
        let t = Instant::now();
        self.exchange("ping", "ping".into(), &[]).await?;
        Ok(t.elapsed())
    }

    /// How long ago the container last answered a command.
    pub fn idle_for(&self) -> Duration {
        self.last_reply.elapsed()
    }

    /// Makes sure an idle session still answers: when the container has not answered
    /// anything for `idle`, a `ping` that must be answered within `limit` (a session
    /// whose connection died without closing would otherwise be noticed only by the
    /// next command, after [`SessionOptions::reply_timeout`]). No answer in time breaks
    /// the session ([`SessionError::Timeout`]).
    pub async fn check_alive(
        &mut self,
        idle: Duration,
        limit: Duration,
    ) -> Result<(), SessionError> {
        if self.idle_for() < idle {
            return Ok(());
        }
        self.exchange_within("ping", "ping".into(), &[], limit)
            .await
            .map(|_| ())
    }

    /// Lists the whole tree below the sync root.
    pub async fn list_all(&mut self) -> Result<Listing, SessionError> {
        self.list_inner(&[None], Depth::Recursive).await
    }

    /// Lists the root's direct children ([`Depth::Children`]) or its whole tree.
    pub async fn list_root(&mut self, depth: Depth) -> Result<Listing, SessionError> {
        self.list_inner(&[None], depth).await
    }

    /// Lists `paths` (each path itself, and below it as `depth` says). Paths that do
    /// not exist are reported in [`Listing::missing`].
    pub async fn list(&mut self, paths: &[RelPath], depth: Depth) -> Result<Listing, SessionError> {
        let req: Vec<Option<&RelPath>> = paths.iter().map(Some).collect();
        self.list_inner(&req, depth).await
    }

    async fn list_inner(
        &mut self,
        paths: &[Option<&RelPath>],
        depth: Depth,
    ) -> Result<Listing, SessionError> {
        if paths.is_empty() {
            return Ok(Listing::default());
        }
        let names: Vec<&str> = paths
            .iter()
            .map(|p| p.map_or(".", |p| p.as_str()))
            .collect();
        let payload = payload_of(&names);
        let d = if depth == Depth::Children { "1" } else { "r" };
        let body = self
            .exchange("list", format!("list {} {d}", payload.len()), &[&payload])
            .await?;
        let mut l = listing::parse(&body, self.caps.mtime_format, paths)
            .map_err(|e| self.protocol("list", e))?;
        match self.links {
            LinkPolicy::Leave => {}
            LinkPolicy::Skip(why) => {
                for e in l.entries.iter().filter(|e| e.kind == EntryKind::Symlink) {
                    l.skipped_links.push(FileError::new(
                        e.path.as_str(),
                        FileErrorKind::SkippedLink,
                        Some(why),
                    ));
                }
            }
            LinkPolicy::Read => self.read_link_targets(&mut l).await?,
        }
        if depth == Depth::Children && !self.caps.find_maxdepth {
            // The container listed whole subtrees: keep the paths and their children.
            l.entries.retain(|e| {
                paths.iter().any(|p| match p {
                    None => !e.path.as_str().contains('/'),
                    Some(p) => &e.path == *p || e.path.parent().as_ref() == Some(*p),
                })
            });
        }
        Ok(l)
    }

    /// What listings do with the symlinks they find from now on.
    pub fn set_links(&mut self, policy: LinkPolicy) {
        self.links = policy;
    }

    /// Reads the target of every symlink in `listing` with one `get` (tar stores a link
    /// as a link and never follows it) into [`RemoteEntry::target`]. A link ferry does
    /// not sync — absolute, leaving the sync folder, a target that is not UTF-8 — or one
    /// whose target could not be read is one of [`Listing::skipped_links`] (its path
    /// unknown: nothing replaces or deletes it, nor what the other side has there).
    /// Without tar no target can be read: every link is skipped so.
    pub async fn read_link_targets(&mut self, listing: &mut Listing) -> Result<(), SessionError> {
        let links: Vec<RelPath> = listing
            .entries
            .iter()
            .filter(|e| e.kind == EntryKind::Symlink)
            .map(|e| e.path.clone())
            .collect();
        if links.is_empty() {
            return Ok(());
        }
        let mut targets: HashMap<RelPath, String> = HashMap::new();
        let mut why: HashMap<String, String> = HashMap::new();
        if self.caps.tar.is_some() {
            let none = |_: &RelPath| None;
            let mut sink = NoFiles;
            let d = self.download(&links, &none, &mut sink).await?;
            for e in d.entries {
                if let DownloadedKind::Symlink { target } = e.kind {
                    targets.insert(e.path, target);
                }
            }
            for e in d.errors {
                why.insert(e.path.clone(), e.message);
            }
        }
        for e in &mut listing.entries {
            if e.kind != EntryKind::Symlink {
                continue;
            }
            match targets.remove(&e.path) {
                Some(t) => e.target = Some(t),
                None => {
                    let detail = match why.remove(e.path.as_str()) {
                        Some(m) => m,
                        None if self.caps.tar.is_none() => {
                            "the container has no tar, which ferry needs to read a link".into()
                        }
                        None => "it changed while it was listed".into(),
                    };
                    listing.skipped_links.push(FileError::new(
                        e.path.as_str(),
                        FileErrorKind::SkippedLink,
                        Some(&detail),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Creates the symlinks `links` in the container (one archive through `put`, each
    /// put in place with one rename, replacing a file or link there, never a folder),
    /// each only while its path is as `expect` says (as [`Session::upload_expecting`]:
    /// otherwise a per-file [`FileErrorKind::Changed`] error and the container keeps what
    /// it has). Without tar in the container no link can be created: each is a per-file
    /// error.
    pub async fn upload_links(
        &mut self,
        links: &[UploadLink],
        expect: &(dyn Fn(&RelPath) -> Expect + Sync),
    ) -> Result<UploadReport, SessionError> {
        let mut report = UploadReport::default();
        if links.is_empty() {
            return Ok(report);
        }
        if self.caps.tar.is_none() {
            report.failed = links
                .iter()
                .map(|l| {
                    FileError::new(
                        l.path.as_str(),
                        FileErrorKind::Move,
                        Some("the container has no tar, which ferry needs to create a symlink"),
                    )
                })
                .collect();
            return Ok(report);
        }
        let archive = upload::build_links(links).map_err(|e| SessionError::Io {
            during: "building the upload archive".into(),
            source: e,
        })?;
        let mut wants = Vec::new();
        for l in links {
            wants.extend_from_slice(
                format!("{}\n{}\n", expect(&l.path).as_line(), l.path).as_bytes(),
            );
        }
        let body = self
            .exchange(
                "put",
                format!("put {} p {}", archive.len(), wants.len()),
                &[&archive, &wants],
            )
            .await?;
        match upload::parse_rejection(&body) {
            Some(r) => {
                report
                    .failed
                    .extend(links.iter().map(|l| r.error_for(l.path.as_str())));
                report.rejected = Some(r);
            }
            None => report.failed.extend(upload::parse_failures(&body)),
        }
        report.sent_bytes = archive.len() as u64;
        let failed: HashSet<&str> = report.failed.iter().map(|e| e.path.as_str()).collect();
        report.landed = links
            .iter()
            .filter(|l| !failed.contains(l.path.as_str()))
            .map(|l| l.path.clone())
            .collect();
        Ok(report)
    }

    /// Uploads `files`: one archive (`put`) when the container has tar, else file by
    /// file (`putf`). Each file appears in the container in one rename, with its mode
    /// and mtime; files that cannot be written (read-only, a folder in the way,
    /// permissions) are reported in [`UploadReport::failed`] while the rest land. When
    /// the archive cannot be unpacked at all (a full disk) nothing lands and
    /// [`UploadReport::rejected`] says why and how much space is left; the session
    /// stays usable.
    pub async fn upload(&mut self, files: &[UploadFile]) -> Result<UploadReport, SessionError> {
        self.upload_expecting(files, &|_| Expect::Anything).await
    }

    /// [`Session::upload`], where each file lands only while its path in the container is
    /// still as `expect` says (checked right before its rename); one that is not is left
    /// alone and reported as [`FileErrorKind::Changed`]. Without tar in the container the
    /// files land one by one and the expectation is not checked.
    pub async fn upload_expecting(
        &mut self,
        files: &[UploadFile],
        expect: &(dyn Fn(&RelPath) -> Expect + Sync),
    ) -> Result<UploadReport, SessionError> {
        let mut report = UploadReport::default();
        // A file whose folder is another file of the batch cannot land (the archive
        // would not even extract): refuse it alone.
        let names: HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
        let (files, clash): (Vec<&UploadFile>, Vec<&UploadFile>) = files.iter().partition(|f| {
            let mut p = f.path.parent();
            while let Some(q) = p {
                if names.contains(q.as_str()) {
                    return false;
                }
                p = q.parent();
            }
            true
        });
        for f in clash {
            report.failed.push(FileError::new(
                f.path.as_str(),
                FileErrorKind::Parent,
                Some("another file of the same upload has the name of one of its folders"),
            ));
        }
        if files.is_empty() {
            return Ok(report);
        }
        if self.caps.tar.is_some() {
            let gzip = self.caps.gzip && self.opts.compression == Compression::Auto;
            let pax = self.caps.tar == Some(TarFlavor::Gnu);
            let archive = upload::build(&files, gzip, pax).map_err(|e| SessionError::Io {
                during: "building the upload archive".into(),
                source: e,
            })?;
            let z = if archive.gzip { "z" } else { "p" };
            let mut wants = Vec::new();
            let mut conditional = false;
            for f in &files {
                let e = expect(&f.path);
                conditional |= e != Expect::Anything;
                wants.extend_from_slice(format!("{}\n{}\n", e.as_line(), f.path).as_bytes());
            }
            let body = if conditional {
                self.exchange(
                    "put",
                    format!("put {} {z} {}", archive.bytes.len(), wants.len()),
                    &[&archive.bytes, &wants],
                )
                .await?
            } else {
                self.exchange(
                    "put",
                    format!("put {} {z}", archive.bytes.len()),
                    &[&archive.bytes],
                )
                .await?
            };
            match upload::parse_rejection(&body) {
                Some(r) => {
                    report
                        .failed
                        .extend(files.iter().map(|f| r.error_for(f.path.as_str())));
                    report.rejected = Some(r);
                }
                None => report.failed.extend(upload::parse_failures(&body)),
            }
            report.sent_bytes = archive.bytes.len() as u64;
            report.compressed = archive.gzip;
        } else {
            for f in &files {
                let mut name = f.path.as_str().as_bytes().to_vec();
                name.push(b'\n');
                let header = format!(
                    "putf {} {} {:o} {}",
                    name.len(),
                    f.contents.len(),
                    f.mode & 0o7777,
                    f.mtime.secs.max(0)
                );
                let body = self.exchange("putf", header, &[&name, &f.contents]).await?;
                report.failed.extend(upload::parse_failures(&body));
                report.sent_bytes += (name.len() + f.contents.len()) as u64;
            }
        }
        let failed: HashSet<&str> = report.failed.iter().map(|e| e.path.as_str()).collect();
        report.landed = files
            .iter()
            .filter(|f| !failed.contains(f.path.as_str()))
            .map(|f| f.path.clone())
            .collect();
        Ok(report)
    }

    /// Downloads `paths` (folders with their contents), streaming every file's
    /// content into `sink` as it arrives: nothing is held whole in memory. The
    /// container's data is parsed and checked here: every file must
    /// be asked for and at most `expected(path)` bytes (`None`: not asked for); a
    /// larger one is a per-file [`FileErrorKind::Changed`] error and its bytes are
    /// dropped (see [`crate::remote::download`]). Without tar in the container only
    /// regular files can be downloaded.
    ///
    /// When the container's `tar` fails (an unreadable file, one that shrank while it
    /// was read) or its archive breaks off, the paths of that batch are fetched again
    /// one per command, so such a file is a per-file [`FileErrorKind::Read`] error and
    /// the rest arrive. Paths below another requested path come with it (asked once).
    pub async fn download<S>(
        &mut self,
        paths: &[RelPath],
        expected: Expected<'_>,
        sink: &mut S,
    ) -> Result<Download, SessionError>
    where
        S: DownloadSink + Send,
        S::File: Send,
    {
        let asked: HashSet<&RelPath> = paths.iter().collect();
        let mut once: HashSet<&RelPath> = HashSet::new();
        let paths: Vec<RelPath> = paths
            .iter()
            .filter(|p| !p.ancestors().any(|a| asked.contains(&a)) && once.insert(p))
            .cloned()
            .collect();
        let mut todo: VecDeque<(Vec<RelPath>, bool)> = VecDeque::new();
        let mut start = 0;
        while start < paths.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < paths.len()
                && (end == start || bytes + paths[end].as_str().len() < GET_BATCH_BYTES)
            {
                bytes += paths[end].as_str().len() + 3;
                end += 1;
            }
            todo.push_back((paths[start..end].to_vec(), true));
            start = end;
        }
        let mut out = Download::default();
        while let Some((batch, split)) = todo.pop_front() {
            match self.get_batch(&batch, expected, sink).await? {
                Batch::Done(d) => out.extend(d),
                Batch::Failed { done, rest, why } => {
                    out.extend(done);
                    if split && rest.len() > 1 {
                        for (i, r) in rest.into_iter().enumerate() {
                            todo.insert(i, (vec![r], false));
                        }
                    } else {
                        for r in rest {
                            out.errors.push(FileError::new(
                                r.as_str(),
                                FileErrorKind::Read,
                                Some(&why),
                            ));
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// One `get` (or `getf`) of `batch`, streamed into `sink`.
    async fn get_batch<S>(
        &mut self,
        batch: &[RelPath],
        expected: Expected<'_>,
        sink: &mut S,
    ) -> Result<Batch, SessionError>
    where
        S: DownloadSink + Send,
        S::File: Send,
    {
        let names: Vec<&str> = batch.iter().map(RelPath::as_str).collect();
        let payload = payload_of(&names);
        let (cmd, mut parser): (&'static str, Box<dyn BodyParser<S> + Send + '_>) =
            if self.caps.tar.is_some() {
                ("get", Box::new(TarStream::new(batch, expected)))
            } else {
                ("getf", Box::new(GetfStream::new(batch, expected)))
            };
        let deadline = tokio::time::Instant::now() + self.opts.reply_timeout;
        let header = format!("{cmd} {}", payload.len());
        let (status, len) = self
            .start_command(cmd, &header, &[&payload], deadline)
            .await?;
        if status == Status::Err {
            let message = self.body(cmd, len, deadline).await?;
            let message = String::from_utf8_lossy(&message);
            let mut why: String = message
                .trim()
                .lines()
                .take(4)
                .collect::<Vec<_>>()
                .join("; ");
            if why.len() > 600 {
                let mut cut = 600;
                while !why.is_char_boundary(cut) {
                    cut -= 1;
                }
                why.truncate(cut);
                why.push('…');
            }
            return Ok(Batch::Failed {
                done: Download::default(),
                rest: batch.to_vec(),
                why,
            });
        }
        let streamed = self.stream(cmd, len, parser.as_mut(), sink).await;
        let (mut d, why) = parser.end(sink);
        let why = streamed?.or(why);
        let Some(why) = why else {
            d.finish(batch);
            return Ok(Batch::Done(d));
        };
        tracing::warn!("the container's reply to {cmd} was incomplete or corrupt: {why}");
        // What completed stays; what did not is fetched again or reported.
        let rest = batch
            .iter()
            .filter(|r| {
                !d.entries
                    .iter()
                    .any(|e| &e.path == *r && e.kind != DownloadedKind::Dir)
                    && !d.errors.iter().any(|e| e.path == r.as_str())
            })
            .cloned()
            .collect();
        Ok(Batch::Failed {
            done: d,
            rest,
            why: format!("the container's archive was not usable: {why}"),
        })
    }

    /// Removes `paths` (files, symlinks, folders with their contents). Paths already
    /// gone are fine; failures are returned per path.
    pub async fn delete(&mut self, paths: &[RelPath]) -> Result<Vec<FileError>, SessionError> {
        self.simple("rm", paths.iter().map(RelPath::as_str).collect())
            .await
    }

    /// Removes the files and symlinks `paths` only where they are still as listed: each
    /// with the size and mtime (whole seconds) the caller expects. One that changed is
    /// left alone and returned as [`FileErrorKind::Changed`]; one already gone is fine.
    pub async fn delete_unchanged(
        &mut self,
        paths: &[(RelPath, u64, i64)],
    ) -> Result<Vec<FileError>, SessionError> {
        if paths.is_empty() {
            return Ok(Vec::new());
        }
        let mut payload = Vec::new();
        for (p, size, secs) in paths {
            payload.extend_from_slice(format!("{size} {secs}\n{p}\n").as_bytes());
        }
        let body = self
            .exchange("rm", format!("rm {} c", payload.len()), &[&payload])
            .await?;
        Ok(upload::parse_failures(&body))
    }

    /// The sha256 of each of `paths` (`None` for one that is missing, not a regular file
    /// or unreadable, and for all of them when the container has no `sha256sum`), in the
    /// form of [`crate::core::ContentHash`] (`sha256:HEX`).
    pub async fn checksums(
        &mut self,
        paths: &[RelPath],
    ) -> Result<Vec<Option<String>>, SessionError> {
        let mut out = vec![None; paths.len()];
        if paths.is_empty() || self.caps.checksum != Some(super::caps::ChecksumTool::Sha256sum) {
            return Ok(out);
        }
        let at: std::collections::HashMap<&str, usize> = paths
            .iter()
            .enumerate()
            .map(|(i, p)| (p.as_str(), i))
            .collect();
        // Arguments of one command: batches like downloads.
        for chunk in paths.chunks(500) {
            let names: Vec<&str> = chunk.iter().map(RelPath::as_str).collect();
            let payload = payload_of(&names);
            let body = self
                .exchange("sum", format!("sum {}", payload.len()), &[&payload])
                .await?;
            for line in String::from_utf8_lossy(&body).lines() {
                // GNU marks a name it escaped with a leading backslash.
                let (escaped, line) = match line.strip_prefix('\\') {
                    Some(rest) => (true, rest),
                    None => (false, line),
                };
                let Some((hex, name)) = line.split_once("  ") else {
                    continue;
                };
                let name = name.strip_prefix("./").unwrap_or(name);
                let name = if escaped {
                    name.replace("\\\\", "\\")
                } else {
                    name.to_string()
                };
                let ok = hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit());
                if let (Some(i), true) = (at.get(name.as_str()), ok) {
                    out[*i] = Some(format!("sha256:{}", hex.to_ascii_lowercase()));
                }
            }
        }
        Ok(out)
    }

    /// Removes the folders `paths` where they are empty (a folder that still holds
    /// something is kept and returned as a failure). Paths already gone are fine.
    pub async fn remove_empty_dirs(
        &mut self,
        paths: &[RelPath],
    ) -> Result<Vec<FileError>, SessionError> {
        self.simple("rmdir", paths.iter().map(RelPath::as_str).collect())
            .await
    }

    /// Creates folders (and their parents); failures are returned per path.
    pub async fn mkdir(&mut self, paths: &[RelPath]) -> Result<Vec<FileError>, SessionError> {
        self.simple("mkdir", paths.iter().map(RelPath::as_str).collect())
            .await
    }

    /// Renames each `(from, to)` in the container (`mv`; a file replaces a file).
    /// Failures are returned per `from`. Needs `mv` in the container.
    pub async fn rename(
        &mut self,
        pairs: &[(RelPath, RelPath)],
    ) -> Result<Vec<FileError>, SessionError> {
        if !self.caps.mv {
            return Err(SessionError::Unsupported {
                operation: "rename",
                why: "the container has no mv; delete the old path and upload the new one instead",
            });
        }
        let names = pairs
            .iter()
            .flat_map(|(a, b)| [a.as_str(), b.as_str()])
            .collect();
        self.simple("mv", names).await
    }

    /// The folders that may hold the container marker of the sync folder (see
    /// [`super::place`]), with their devices and the container's mount table.
    pub async fn places(&mut self) -> Result<PlaceReport, SessionError> {
        let body = self.exchange("place", "place".into(), &[]).await?;
        place::parse_places(&body).map_err(|e| self.protocol("place", e))
    }

    /// Reads the container marker in `dir` (from [`place::marker_dir`]) and, with
    /// `write`, moves its generation on by one (a missing marker is created with
    /// `new_token`, which must be alphanumeric).
    pub async fn mark(
        &mut self,
        dir: &str,
        new_token: &str,
        write: bool,
    ) -> Result<Mark, SessionError> {
        if dir.contains('\n') || !dir.starts_with('/') || !place::valid_token(new_token) {
            return Err(SessionError::Setup {
                message: format!("bad marker folder {dir:?} or token"),
            });
        }
        let payload = payload_of(&[dir, new_token]);
        let mode = if write { "w" } else { "r" };
        let body = self
            .exchange(
                "mark",
                format!("mark {} {mode}", payload.len()),
                &[&payload],
            )
            .await?;
        place::parse_mark(&body).map_err(|e| self.protocol("mark", e))
    }

    /// Stages uploads in `dir` from now on (an absolute folder on the sync folder's mount:
    /// the marker's, [`place::marker_dir`]) instead of inside the sync folder, so that no
    /// name of ferry's appears there; killed sessions' staging in `dir` is swept.
    pub async fn stage(&mut self, dir: &str) -> Result<(), SessionError> {
        if dir.contains('\n') || !dir.starts_with('/') {
            return Err(SessionError::Setup {
                message: format!("bad staging folder {dir:?}"),
            });
        }
        let payload = payload_of(&[dir]);
        self.exchange("stage", format!("stage {}", payload.len()), &[&payload])
            .await?;
        Ok(())
    }

    async fn simple(
        &mut self,
        cmd: &'static str,
        names: Vec<&str>,
    ) -> Result<Vec<FileError>, SessionError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let payload = payload_of(&names);
        let body = self
            .exchange(cmd, format!("{cmd} {}", payload.len()), &[&payload])
            .await?;
        Ok(upload::parse_failures(&body))
    }

    /// Ends the session: asks the shell to quit, closes stdin where the stream can
    /// (exec v5), and waits briefly for the exit status.
    pub async fn close(mut self) -> Result<ExitStatus, SessionError> {
        let r = self.exchange("quit", "quit".into(), &[]).await;
        transport::close_stdin(&mut self.stdin, self.stdin_close).await;
        let status = match self.status.take() {
            Some(s) => tokio::time::timeout(Duration::from_secs(5), s)
                .await
                .unwrap_or_default(),
            None => ExitStatus::default(),
        };
        r.map(|_| status)
    }

    /// Sends a command and its payloads in lockstep and returns the `ok` body (held in
    /// memory, at most [`SessionOptions::max_reply_bytes`]).
    async fn exchange(
        &mut self,
        cmd: &'static str,
        header: String,
        payloads: &[&[u8]],
    ) -> Result<Vec<u8>, SessionError> {
        let limit = self.opts.reply_timeout;
        self.exchange_within(cmd, header, payloads, limit).await
    }

    /// [`Session::exchange`] with its own time limit.
    async fn exchange_within(
        &mut self,
        cmd: &'static str,
        header: String,
        payloads: &[&[u8]],
        limit: Duration,
    ) -> Result<Vec<u8>, SessionError> {
        let deadline = tokio::time::Instant::now() + limit;
        let (status, len) = self.start_command(cmd, &header, payloads, deadline).await?;
        let body = self.body(cmd, len, deadline).await?;
        match status {
            Status::Ok => Ok(body),
            _ => Err(SessionError::Remote {
                command: cmd,
                message: String::from_utf8_lossy(&body).trim().to_string(),
            }),
        }
    }

    /// Sends a command and its payloads in lockstep, up to the final reply's header:
    /// `(Ok or Err, body length)`; the body is still to be read.
    async fn start_command(
        &mut self,
        cmd: &'static str,
        header: &str,
        payloads: &[&[u8]],
        deadline: tokio::time::Instant,
    ) -> Result<(Status, u64), SessionError> {
        if let Some(b) = &self.broken {
            return Err(SessionError::Broken(b.clone()));
        }
        let started = tokio::time::Instant::now();
        let during = header.split(' ').next().unwrap_or(cmd).to_string();
        let reader = self.caps.payload_reader;
        let max = self.opts.max_reply_bytes;
        let fut = lockstep(
            &mut self.stdin,
            &mut self.stdout,
            reader,
            max,
            header,
            payloads,
        );
        let res = match tokio::time::timeout_at(deadline, fut).await {
            Err(_) => Err(SessionError::Timeout {
                during,
                after: deadline.saturating_duration_since(started),
            }),
            Ok(Ok(head)) => Ok(head),
            Ok(Err(Step::Write(e))) => Err(SessionError::Io { during, source: e }),
            Ok(Err(Step::Read(e))) => Err(self.read_error(&during, e)),
            Ok(Err(Step::Unexpected(what))) => Err(self.protocol(&during, what)),
        };
        self.checked(res).await
    }

    /// Reads a reply body of `len` bytes into memory (at most
    /// [`SessionOptions::max_reply_bytes`]) before `deadline`.
    async fn body(
        &mut self,
        during: &str,
        len: u64,
        deadline: tokio::time::Instant,
    ) -> Result<Vec<u8>, SessionError> {
        let max = self.opts.max_reply_bytes;
        let res =
            match tokio::time::timeout_at(deadline, wire::read_body(&mut self.stdout, len, max))
                .await
            {
                Err(_) => Err(SessionError::Timeout {
                    during: during.to_string(),
                    after: self.opts.reply_timeout,
                }),
                Ok(Ok(body)) => Ok(body),
                Ok(Err(e)) => Err(self.read_error(during, e)),
            };
        self.checked(res).await
    }

    /// Feeds a reply body of `len` bytes to `parser` as it arrives, without holding it:
    /// any size is fine, and the timeout applies to each read (no byte for the reply
    /// timeout), not to the whole. After a parse error the rest is read and dropped
    /// (the stream stays in step); returns that error.
    async fn stream<S: DownloadSink>(
        &mut self,
        during: &str,
        len: u64,
        parser: &mut (dyn BodyParser<S> + Send + '_),
        sink: &mut S,
    ) -> Result<Option<String>, SessionError> {
        let mut left = len;
        let mut parse_error = None;
        while left > 0 {
            let res =
                match tokio::time::timeout(self.opts.reply_timeout, self.stdout.fill_buf()).await {
                    Err(_) => Err(SessionError::Timeout {
                        during: during.to_string(),
                        after: self.opts.reply_timeout,
                    }),
                    Ok(Err(e)) => Err(self.read_error(during, ReadError::Io(e))),
                    Ok(Ok([])) => Err(self.read_error(during, ReadError::Eof)),
                    Ok(Ok(buf)) => {
                        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                        if parse_error.is_none() {
                            if let Err(e) = parser.feed(sink, &buf[..n]) {
                                parse_error = Some(e);
                            }
                        }
                        Ok(n)
                    }
                };
            match res {
                Ok(n) => {
                    self.stdout.consume(n);
                    left -= n as u64;
                }
                Err(e) => return self.checked(Err(e)).await,
            }
        }
        Ok(parse_error)
    }

    /// Marks the session broken after an error that leaves it unusable.
    async fn checked<T>(&mut self, res: Result<T, SessionError>) -> Result<T, SessionError> {
        // The container answered (see `idle_for`).
        if matches!(&res, Ok(_) | Err(SessionError::Remote { .. })) {
            self.last_reply = Instant::now();
        }
        match res {
            Err(e) if !e.session_usable() => {
                let e = self.enrich(e).await;
                self.broken = Some(e.to_string());
                Err(e)
            }
            other => other,
        }
    }

    fn protocol(&self, during: &str, detail: String) -> SessionError {
        SessionError::Protocol {
            during: during.to_string(),
            detail,
            stderr: self.stderr_tail(),
        }
    }

    fn read_error(&self, during: &str, e: ReadError) -> SessionError {
        match e {
            ReadError::Eof => SessionError::Closed {
                status: ExitStatus::default(),
                stderr: String::new(),
            },
            ReadError::Io(source) => SessionError::Io {
                during: during.to_string(),
                source,
            },
            ReadError::Garbage(d) => self.protocol(during, d),
            ReadError::TooLarge(len) => SessionError::TooLarge {
                during: during.to_string(),
                len,
                limit: self.opts.max_reply_bytes,
            },
        }
    }

    /// Fills in the exit status and stderr of a [`SessionError::Closed`].
    async fn enrich(&mut self, e: SessionError) -> SessionError {
        match e {
            SessionError::Closed { .. } => {
                let status = match self.status.take() {
                    Some(s) => tokio::time::timeout(Duration::from_secs(2), s)
                        .await
                        .unwrap_or_default(),
                    None => ExitStatus::default(),
                };
                // Give the stderr drain a moment to catch the last words.
                tokio::time::sleep(Duration::from_millis(20)).await;
                SessionError::Closed {
                    status,
                    stderr: self.stderr_tail(),
                }
            }
            e => e,
        }
    }
}

/// How a lockstep exchange went wrong below the command level.
enum Step {
    Write(std::io::Error),
    Read(ReadError),
    Unexpected(String),
}

/// header → (ack → payload)* → the final reply's header: `(Ok or Err, body length)`.
async fn lockstep(
    stdin: &mut Stdin,
    stdout: &mut BufReader<Output>,
    reader: PayloadReader,
    max: u64,
    header: &str,
    payloads: &[&[u8]],
) -> Result<(Status, u64), Step> {
    wire::write_header(stdin, header)
        .await
        .map_err(Step::Write)?;
    for p in payloads {
        let (status, len) = wire::read_header(stdout).await.map_err(Step::Read)?;
        match status {
            Status::Ack => {
                wire::read_body(stdout, len, max)
                    .await
                    .map_err(Step::Read)?;
                wire::write_payload(stdin, reader, p)
                    .await
                    .map_err(Step::Write)?
            }
            Status::Err => return Ok((Status::Err, len)),
            Status::Ok => {
                return Err(Step::Unexpected(
                    "a reply before the payload was sent".into(),
                ))
            }
        }
    }
    let (status, len) = wire::read_header(stdout).await.map_err(Step::Read)?;
    match status {
        Status::Ack => Err(Step::Unexpected("an ack where a reply was due".into())),
        s => Ok((s, len)),
    }
}
