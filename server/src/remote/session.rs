//! [`Session`]: one long-lived shell in the container per sync path, serving commands
//! one at a time (probe, list, upload, download, delete, mkdir, rename) over the
//! framing described in the module docs of `remote::wire` (summarized below).
//!
//! # Protocol
//!
//! Start: `sh -c <session script> ferry-session ROOT STATE_PARENT DISABLED`. The script
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
//! | `put LEN z\|p` | tar (gzip members with `z`) | failures: `E CODE PATH` (+ `M MESSAGE`) |
//! | `putf NAMELEN LEN MODE MTIME` | path + newline; content | failures |
//! | `get LEN` | paths | tar archive |
//! | `getf LEN` | paths | `F INDEX MODEHEX MTIME SIZE` + content, or `E INDEX CODE` |
//! | `rm LEN`, `mkdir LEN` | paths | failures |
//! | `rmdir LEN` | paths (folders, removed only if empty) | failures (a folder kept) |
//! | `mv LEN` | pairs of lines FROM, TO | failures |
//! | `quit` | – | empty; the shell exits |
//!
//! Each payload is sent only after the container's `ack` and read with `head -c LEN`
//! (else `dd`, else shell builtins: see [`PayloadReader`]). This works the same over a
//! stream that cannot close stdin (Kubernetes exec v4): nothing waits for end-of-file.
//! The shell exits when its stdin ends (ferry dropped the stream) and removes its state
//! and staging folders on the way out.

use std::any::Any;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, BufReader};

use super::caps::{Capabilities, PayloadReader, TarFlavor};
use super::download::{self, Download};
use super::error::{FileError, FileErrorKind, SessionError};
use super::listing::{self, Depth, Listing};
use super::path::RelPath;
use super::scripts;
use super::transport::{self, BoxFuture, ExitStatus, Launcher, Output, Stdin};
use super::upload::{self, UploadFile, UploadReport};
use super::wire::{self, ReadError, Status};

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
    /// the session is given up.
    pub reply_timeout: Duration,
    /// Largest reply body accepted (listings, downloads).
    pub max_reply_bytes: u64,
    /// Upload compression.
    pub compression: Compression,
}

impl Default for SessionOptions {
    fn default() -> SessionOptions {
        SessionOptions {
            state_parent: None,
            disable: Vec::new(),
            reply_timeout: Duration::from_secs(300),
            max_reply_bytes: 1 << 30,
            compression: Compression::Auto,
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
        tokio::spawn(async move {
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
        let argv = scripts::argv(
            scripts::session(),
            "ferry-session",
            &[root, &state, &disabled],
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
        };
        let hello = match tokio::time::timeout(
            s.opts.reply_timeout,
            wire::read_reply(&mut s.stdout, s.opts.max_reply_bytes),
        )
        .await
        {
            Err(_) => {
                return Err(SessionError::Timeout {
                    during: "the session start".into(),
                    after: s.opts.reply_timeout,
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

    /// Uploads `files`: one archive (`put`) when the container has tar, else file by
    /// file (`putf`). Each file appears in the container in one rename, with its mode
    /// and mtime; files that cannot be written (read-only, a folder in the way,
    /// permissions) are reported in [`UploadReport::failed`] while the rest land.
    pub async fn upload(&mut self, files: &[UploadFile]) -> Result<UploadReport, SessionError> {
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
            let body = self
                .exchange(
                    "put",
                    format!("put {} {z}", archive.bytes.len()),
                    &[&archive.bytes],
                )
                .await?;
            report.failed.extend(upload::parse_failures(&body));
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

    /// Downloads `paths` (folders with their contents). The container's archive is
    /// parsed and checked here: see [`download::parse_archive`]. Without tar in the
    /// container only regular files can be downloaded.
    pub async fn download(&mut self, paths: &[RelPath]) -> Result<Download, SessionError> {
        let mut out = Download::default();
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
            let chunk = &paths[start..end];
            let names: Vec<&str> = chunk.iter().map(RelPath::as_str).collect();
            let payload = payload_of(&names);
            let d = if self.caps.tar.is_some() {
                let body = self
                    .exchange("get", format!("get {}", payload.len()), &[&payload])
                    .await?;
                download::parse_archive(&body, chunk).map_err(|e| self.protocol("get", e))?
            } else {
                let body = self
                    .exchange("getf", format!("getf {}", payload.len()), &[&payload])
                    .await?;
                download::parse_files(&body, chunk).map_err(|e| self.protocol("getf", e))?
            };
            out.extend(d);
            start = end;
        }
        Ok(out)
    }

    /// Removes `paths` (files, symlinks, folders with their contents). Paths already
    /// gone are fine; failures are returned per path.
    pub async fn delete(&mut self, paths: &[RelPath]) -> Result<Vec<FileError>, SessionError> {
        self.simple("rm", paths.iter().map(RelPath::as_str).collect())
            .await
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

    /// Sends a command and its payloads in lockstep and returns the `ok` body.
    async fn exchange(
        &mut self,
        cmd: &'static str,
        header: String,
        payloads: &[&[u8]],
    ) -> Result<Vec<u8>, SessionError> {
        if let Some(b) = &self.broken {
            return Err(SessionError::Broken(b.clone()));
        }
        let during = header.split(' ').next().unwrap_or(cmd).to_string();
        let reader = self.caps.payload_reader;
        let max = self.opts.max_reply_bytes;
        let fut = lockstep(
            &mut self.stdin,
            &mut self.stdout,
            reader,
            max,
            &header,
            payloads,
        );
        let res = match tokio::time::timeout(self.opts.reply_timeout, fut).await {
            Err(_) => Err(SessionError::Timeout {
                during,
                after: self.opts.reply_timeout,
            }),
            Ok(Ok(Ok(body))) => Ok(body),
            Ok(Ok(Err(message))) => Err(SessionError::Remote {
                command: cmd,
                message: String::from_utf8_lossy(&message).trim().to_string(),
            }),
            Ok(Err(Step::Write(e))) => Err(SessionError::Io { during, source: e }),
            Ok(Err(Step::Read(e))) => Err(self.read_error(&during, e)),
            Ok(Err(Step::Unexpected(what))) => Err(self.protocol(&during, what)),
        };
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

/// header → (ack → payload)* → reply. `Ok(Ok(body))` for `ok`, `Ok(Err(body))` for `err`.
async fn lockstep(
    stdin: &mut Stdin,
    stdout: &mut BufReader<Output>,
    reader: PayloadReader,
    max: u64,
    header: &str,
    payloads: &[&[u8]],
) -> Result<Result<Vec<u8>, Vec<u8>>, Step> {
    wire::write_header(stdin, header)
        .await
        .map_err(Step::Write)?;
    for p in payloads {
        let r = wire::read_reply(stdout, max).await.map_err(Step::Read)?;
        match r.status {
            Status::Ack => wire::write_payload(stdin, reader, p)
                .await
                .map_err(Step::Write)?,
            Status::Err => return Ok(Err(r.body)),
            Status::Ok => {
                return Err(Step::Unexpected(
                    "a reply before the payload was sent".into(),
                ))
            }
        }
    }
    let r = wire::read_reply(stdout, max).await.map_err(Step::Read)?;
    match r.status {
        Status::Ok => Ok(Ok(r.body)),
        Status::Err => Ok(Err(r.body)),
        Status::Ack => Err(Step::Unexpected("an ack where a reply was due".into())),
    }
}
