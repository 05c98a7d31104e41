//! Conformance of the in-memory container (`ferry::remote::fake`) with the real scripts:
//! the same sequence of `Session` (and `RemoteWatcher`) calls against `LocalShell`
//! chrooted into the busybox and debian root file systems (as root, like the other
//! `remote_*` tests, or as uid 1000) and against a `FakeContainer` configured like each
//! image must give the same capabilities, listings, downloads (what landed in the sink,
//! errors, missing), upload reports, checksums and failure lists, leave the same trees,
//! and — where `Session` would hide a difference — send the same reply bodies (a [`Tee`]
//! launcher keeps what each process printed: `list`'s `T`/`W`/`F` lines, `get`'s `err`,
//! `put`'s `X`, `sum`'s lines, the watcher's `TOKEN alive`).
//!
//! What is normalised, because it must differ: the session's pid (in the probe, the state
//! folder's name and `.ferry-tmp-PID` staging names inside messages and trees); folder
//! sizes and folder mtimes (the real file system's, and the real clock's); the container
//! clock (`Listing::now`, a `T` line's value: only whether it was read); the order of
//! entries and of reply lines (real `find` and `tar` use directory order, the fake name
//! order: everything is sorted before comparing); tar archives as bytes (only whether one
//! came); the count in GNU tar's `Wrote only N of` (a real tmpfs counts pages, the fake
//! bytes); the sync folder's inode number in `mark` replies (only whether it is known);
//! a watcher's random token; watcher events below a folder created in the same batch
//! (a real `inotifywait -r` may miss them). Nothing else: every message of every
//! per-file failure is compared as the tools wrote it.

mod remote_support;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, ReadBuf};

use ferry::remote::fake::{Cred, FakeContainer, FakeFs, Profile, TreeEntry};
use ferry::remote::{
    BoxFuture, Compression, Depth, Download, DownloadedKind, EntryKind, Expected, LaunchError,
    Launcher, Listing, MemorySink, Mtime, RelPath, RemoteProcess, RemoteWatcher, Session,
    SessionError, SessionOptions, UploadFile, UploadReport, WatchEvent, WatchMode, WatchOptions,
};
use remote_support::{hostile_names, skip, Rootfs, ROOT};

fn rel(s: &str) -> RelPath {
    RelPath::new(s).unwrap()
}

/// `.ferry-tmp-1234…` → `.ferry-tmp-PID…` everywhere in `s`.
fn norm_pid(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(".ferry-tmp-") {
        let (head, tail) = rest.split_at(i + ".ferry-tmp-".len());
        out.push_str(head);
        let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            out.push_str("PID");
        }
        rest = &tail[digits..];
    }
    out.push_str(rest);
    out
}

fn norm_listing(mut l: Listing) -> String {
    // The container's clock: the real one's, or the fake's (only whether it was read).
    l.now = l.now.map(|_| Mtime::default());
    for e in &mut l.entries {
        if e.kind == EntryKind::Dir {
            e.size = 0;
            e.mtime = Mtime::default();
        }
    }
    l.entries.sort_by(|a, b| a.path.cmp(&b.path));
    l.errors.sort_by(|a, b| a.path.cmp(&b.path));
    l.missing.sort();
    norm_pid(&format!("{l:#?}"))
}

fn norm_download(d: (Download, MemorySink)) -> String {
    norm_download_times(d, true)
}

/// A download and what landed in its sink. `times`: keep file mtimes (false where
/// files got the clock's time).
fn norm_download_times((mut d, sink): (Download, MemorySink), times: bool) -> String {
    for e in &mut d.entries {
        if e.kind == DownloadedKind::Dir || !times {
            e.mtime = Mtime::default();
        }
    }
    d.entries.sort_by(|a, b| a.path.cmp(&b.path));
    d.errors.sort_by(|a, b| a.path.cmp(&b.path));
    d.missing.sort();
    let landed: BTreeMap<&str, String> = sink
        .files
        .iter()
        .map(|(p, c)| (p.as_str(), String::from_utf8_lossy(c).into_owned()))
        .collect();
    let mut aborted = sink.aborted.clone();
    aborted.sort();
    norm_pid(&format!(
        "{d:#?}\nlanded: {landed:#?}\naborted: {aborted:#?}"
    ))
}

/// Downloads `paths` into memory, each file bounded by `expected`.
async fn download_bounded(
    s: &mut Session,
    paths: &[RelPath],
    expected: Expected<'_>,
) -> Result<(Download, MemorySink), SessionError> {
    let mut sink = MemorySink::default();
    let d = s.download(paths, expected, &mut sink).await?;
    Ok((d, sink))
}

/// Downloads `paths` into memory, any size accepted.
async fn download(
    s: &mut Session,
    paths: &[RelPath],
) -> Result<(Download, MemorySink), SessionError> {
    download_bounded(s, paths, &|_| Some(u64::MAX)).await
}

fn norm_report(mut r: UploadReport) -> String {
    r.failed.sort_by(|a, b| a.path.cmp(&b.path));
    r.landed.sort();
    norm_numbers(&norm_pid(&format!("{r:#?}")))
}

fn norm_failures(mut f: Vec<ferry::remote::FileError>) -> String {
    f.sort_by(|a, b| a.path.cmp(&b.path));
    norm_pid(&format!("{f:#?}"))
}

/// The tree below a folder of a real root file system, as [`FakeContainer::tree`] gives it.
fn real_tree(dir: &Path) -> BTreeMap<String, TreeEntry> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, TreeEntry>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let md = std::fs::symlink_metadata(&p).unwrap();
            let relp = p.strip_prefix(base).unwrap();
            let name = String::from_utf8_lossy(relp.as_os_str().as_bytes()).into_owned();
            let entry = if md.file_type().is_symlink() {
                TreeEntry::Symlink {
                    target: String::from_utf8_lossy(
                        std::fs::read_link(&p).unwrap().as_os_str().as_bytes(),
                    )
                    .into_owned(),
                }
            } else if md.is_dir() {
                TreeEntry::Dir {
                    mode: md.mode() & 0o7777,
                }
            } else if md.is_file() {
                TreeEntry::File {
                    content: std::fs::read(&p).unwrap(),
                    mode: md.mode() & 0o7777,
                    mtime: Mtime::new(md.mtime(), md.mtime_nsec() as u32),
                }
            } else {
                TreeEntry::Special
            };
            out.insert(name, entry);
            if md.is_dir() {
                walk(base, &p, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// `times`: keep file mtimes (false for files whose mtime is the clock's).
fn norm_tree(t: BTreeMap<String, TreeEntry>, times: bool) -> String {
    let t: BTreeMap<String, TreeEntry> = t
        .into_iter()
        .map(|(k, mut v)| {
            if let TreeEntry::File { mtime, .. } = &mut v {
                if !times {
                    *mtime = Mtime::default();
                }
            }
            (norm_pid(&k), v)
        })
        .collect();
    format!("{t:#?}")
}

/// A launcher that keeps a copy of what its processes write to stdout, so that a
/// scenario can compare the replies themselves (`T`, `W`, `F`, `X`, `sum` lines, `get`'s
/// `err`), not only what `Session` makes of them.
struct Tee {
    inner: Box<dyn Launcher>,
    /// stdout of the session processes and of the watchers, each as one stream.
    session: Arc<Mutex<Vec<u8>>>,
    watch: Arc<Mutex<Vec<u8>>>,
    /// How far [`Tee::replies`] has read `session`.
    seen: Mutex<usize>,
}

/// A process's stdout, copied into a log as it is read.
struct Copied {
    inner: Box<dyn AsyncRead + Send + Unpin>,
    log: Arc<Mutex<Vec<u8>>>,
}

impl AsyncRead for Copied {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &r {
            self.log
                .lock()
                .unwrap()
                .extend_from_slice(&buf.filled()[before..]);
        }
        r
    }
}

impl Tee {
    fn new(inner: Box<dyn Launcher>) -> Tee {
        Tee {
            inner,
            session: Arc::default(),
            watch: Arc::default(),
            seen: Mutex::new(0),
        }
    }

    /// The reply frames (`STATUS`, body) the session sent since the last call, acks
    /// left out.
    fn replies(&self) -> Vec<(String, Vec<u8>)> {
        let log = self.session.lock().unwrap();
        let mut seen = self.seen.lock().unwrap();
        let mut out = Vec::new();
        while let Some(nl) = log[*seen..].iter().position(|&b| b == b'\n') {
            let head = String::from_utf8_lossy(&log[*seen..*seen + nl]).into_owned();
            let (status, len) = head.split_once(' ').expect("a reply header");
            let len: usize = len.parse().expect("a reply length");
            let start = *seen + nl + 1;
            if log.len() < start + len {
                break;
            }
            if status != "ack" {
                out.push((status.to_string(), log[start..start + len].to_vec()));
            }
            *seen = start + len;
        }
        out
    }

    /// The last reply frame since the last call.
    fn reply(&self) -> (String, Vec<u8>) {
        self.replies().pop().expect("a reply")
    }

    /// What the watchers printed so far.
    fn watch_text(&self) -> String {
        String::from_utf8_lossy(&self.watch.lock().unwrap()).into_owned()
    }
}

impl Launcher for Tee {
    fn launch(&self, argv: Vec<String>) -> BoxFuture<'_, Result<RemoteProcess, LaunchError>> {
        Box::pin(async move {
            let log = match argv.get(3).map(String::as_str) {
                Some("ferry-session") => Some(self.session.clone()),
                Some("ferry-watch") => Some(self.watch.clone()),
                _ => None,
            };
            let mut p = self.inner.launch(argv).await?;
            let Some(log) = log else { return Ok(p) };
            let (Some(stdin), Some(stdout), Some(status)) =
                (p.take_stdin(), p.take_stdout(), p.take_status())
            else {
                return Ok(p);
            };
            let copied = Copied { inner: stdout, log };
            let mut q = RemoteProcess::new(
                stdin,
                copied,
                p.take_stderr(),
                status,
                p.supports_stdin_close(),
            );
            if let Some(keep) = p.take_keep_alive() {
                q = q.keep_alive(keep);
            }
            Ok(q)
        })
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// A `list` reply body, comparable: the clock's value, folder sizes and mtimes dropped,
/// lines sorted (real `find` walks in directory order).
fn norm_list_body(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut lines: Vec<String> = text
        .lines()
        .map(|l| {
            if let Some(t) = l.strip_prefix("T ") {
                return if t.is_empty() {
                    "T".into()
                } else {
                    "T NOW".into()
                };
            }
            let f: Vec<&str> = l.split(' ').collect();
            let folder = f.len() >= 4
                && u32::from_str_radix(f[0], 16).is_ok_and(|m| m & 0o170000 == 0o040000);
            if !folder {
                return l.to_string();
            }
            // MODE SIZE MTIME NAME, the mtime in one field or three (`%y`).
            let human = f.len() >= 6 && f[4].len() == 5 && f[4].starts_with(['+', '-']);
            let name = f[if human { 5 } else { 3 }..].join(" ");
            format!("{} SIZE MTIME {name}", f[0])
        })
        .collect();
    lines.sort();
    norm_pid(&lines.join("\n"))
}

/// A reply frame as text (`get`'s archives by their presence only: the tar crate pads
/// otherwise than the container's tar).
fn norm_frame((status, body): (String, Vec<u8>), archive: bool) -> String {
    if archive && status == "ok" {
        let what = if body.is_empty() {
            "empty"
        } else {
            "an archive"
        };
        return format!("ok: {what}");
    }
    norm_pid(&format!("{status}: {}", String::from_utf8_lossy(&body)))
}

/// One side of the comparison: a real root file system, or a fake container.
enum Side {
    Real(Rootfs),
    Fake(FakeContainer),
}

impl Side {
    fn fake(image: &str, profile: Profile) -> Side {
        let c = FakeContainer::new(profile);
        c.fs(|fs| {
            fs.mkdir(b"/app", 0o777, Cred::ROOT).unwrap();
        });
        let _ = image;
        Side::Fake(c)
    }

    fn name(&self) -> &'static str {
        match self {
            Side::Real(_) => "real",
            Side::Fake(_) => "fake",
        }
    }

    fn shell_launcher(&self, user: Option<(u32, u32)>) -> Box<dyn Launcher> {
        match self {
            Side::Real(fs) => Box::new(match user {
                Some((u, g)) => fs.shell().user(u, g),
                None => fs.shell(),
            }),
            Side::Fake(c) => Box::new(c.clone()),
        }
    }

    /// Writes a file below `/app` (bytes path), its folders first, with mode and mtime.
    fn file(&self, path: &[u8], content: &[u8], mode: u32, mtime: Mtime) {
        let full = [b"/app/".as_slice(), path].concat();
        match self {
            Side::Real(fs) => {
                let host = fs
                    .host(std::str::from_utf8(b"/app").unwrap())
                    .join(OsStr::from_bytes(path));
                std::fs::create_dir_all(host.parent().unwrap()).unwrap();
                std::fs::write(&host, content).unwrap();
                std::fs::set_permissions(&host, std::fs::Permissions::from_mode(mode)).unwrap();
                filetime::set_symlink_file_times(&host, ft(mtime), ft(mtime)).unwrap();
            }
            Side::Fake(c) => c.fs(|fs| {
                if let Some(i) = full.iter().rposition(|&b| b == b'/') {
                    fs.mkdir_all(&full[..i], 0o755, Cred::ROOT).unwrap();
                }
                fs.write(&full, content.to_vec(), mode, Cred::ROOT).unwrap();
                fs.chmod(&full, mode, Cred::ROOT).unwrap();
                fs.set_mtime(&full, mtime, false, Cred::ROOT).unwrap();
            }),
        }
    }

    fn dir(&self, path: &str, mode: u32) {
        match self {
            Side::Real(fs) => {
                let host = fs.app(path);
                std::fs::create_dir_all(&host).unwrap();
                std::fs::set_permissions(&host, std::fs::Permissions::from_mode(mode)).unwrap();
            }
            Side::Fake(c) => c.fs(|fs| {
                let full = format!("/app/{path}");
                fs.mkdir_all(full.as_bytes(), 0o755, Cred::ROOT).unwrap();
                fs.chmod(full.as_bytes(), mode, Cred::ROOT).unwrap();
            }),
        }
    }

    fn symlink(&self, target: &str, path: &str, mtime: Mtime) {
        match self {
            Side::Real(fs) => {
                let host = fs.app(path);
                std::os::unix::fs::symlink(target, &host).unwrap();
                filetime::set_symlink_file_times(&host, ft(mtime), ft(mtime)).unwrap();
            }
            Side::Fake(c) => c.fs(|fs| {
                let full = format!("/app/{path}");
                fs.symlink(target.as_bytes(), full.as_bytes(), Cred::ROOT)
                    .unwrap();
                fs.set_mtime(full.as_bytes(), mtime, false, Cred::ROOT)
                    .unwrap();
            }),
        }
    }

    /// `mkfifo /app/PATH`, with mode 0644 and `mtime`.
    fn fifo(&self, path: &str, mtime: Mtime) {
        match self {
            Side::Real(fs) => {
                let host = fs.app(path);
                let c = std::ffi::CString::new(host.as_os_str().as_bytes()).unwrap();
                // SAFETY: a valid C string; mkfifo has no other precondition.
                assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
                std::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o644)).unwrap();
                filetime::set_symlink_file_times(&host, ft(mtime), ft(mtime)).unwrap();
            }
            Side::Fake(c) => c.fs(|fs| {
                let full = format!("/app/{path}");
                fs.mkfifo(full.as_bytes(), 0o644, Cred::ROOT).unwrap();
                fs.set_mtime(full.as_bytes(), mtime, false, Cred::ROOT)
                    .unwrap();
            }),
        }
    }

    fn chmod(&self, path: &str, mode: u32) {
        match self {
            Side::Real(fs) => {
                std::fs::set_permissions(fs.host(path), std::fs::Permissions::from_mode(mode))
                    .unwrap()
            }
            Side::Fake(c) => c.chmod(path, mode).unwrap(),
        }
    }

    /// Writes a file anywhere in the container (as root, folders made), without touching
    /// its mtime afterwards.
    fn put_host(&self, path: &str, content: &[u8]) {
        match self {
            Side::Real(fs) => {
                let h = fs.host(path);
                std::fs::create_dir_all(h.parent().unwrap()).unwrap();
                std::fs::write(h, content).unwrap();
            }
            Side::Fake(c) => c.write(path, content.to_vec()).unwrap(),
        }
    }

    fn exists(&self, path: &str) -> bool {
        match self {
            Side::Real(fs) => std::fs::symlink_metadata(fs.host(path)).is_ok(),
            Side::Fake(c) => c.stat(path).is_ok(),
        }
    }

    fn remove(&self, path: &str) {
        match self {
            Side::Real(fs) => {
                let h = fs.host(path);
                if h.is_dir() {
                    std::fs::remove_dir_all(h).unwrap();
                } else {
                    std::fs::remove_file(h).unwrap();
                }
            }
            Side::Fake(c) => c.remove(path).unwrap(),
        }
    }

    fn tree(&self, dir: &str) -> String {
        self.tree_times(dir, true)
    }

    fn tree_times(&self, dir: &str, times: bool) -> String {
        norm_tree(
            match self {
                Side::Real(fs) => real_tree(&fs.host(dir)),
                Side::Fake(c) => c.tree(dir, false),
            },
            times,
        )
    }
}

fn ft(t: Mtime) -> filetime::FileTime {
    filetime::FileTime::from_unix_time(t.secs, t.nanos)
}

/// The record of one run: (step, normalised result), in order.
#[derive(Default)]
struct Record(Vec<(String, String)>);

impl Record {
    fn push(&mut self, step: &str, value: String) {
        self.0.push((step.to_string(), value));
    }
}

/// Compares two runs step by step. With `FERRY_FAKE_DUMP=DIR`, the real run's record is
/// appended to `DIR/IMAGE.txt` (to read what the scripts said).
fn same(image: &str, real: Record, fake: Record) {
    if let Ok(dir) = std::env::var("FERRY_FAKE_DUMP") {
        use std::io::Write;
        let text: String = real
            .0
            .iter()
            .map(|(k, v)| format!("== {k}\n{v}\n"))
            .collect();
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(format!("{dir}/{image}.txt"))
            .and_then(|mut f| write!(f, "===== a run\n{text}"))
            .unwrap();
    }
    let n = real.0.len().max(fake.0.len());
    for i in 0..n {
        let (rs, rv) = real.0.get(i).cloned().unwrap_or_default();
        let (fs, fv) = fake.0.get(i).cloned().unwrap_or_default();
        assert_eq!(rs, fs, "{image}: the runs took different steps");
        if rv != fv {
            let (a, b): (Vec<&str>, Vec<&str>) = (rv.lines().collect(), fv.lines().collect());
            let at = a
                .iter()
                .zip(&b)
                .position(|(x, y)| x != y)
                .unwrap_or(a.len().min(b.len()));
            let from = at.saturating_sub(12);
            let show = |v: &[&str]| v[from.min(v.len())..(at + 12).min(v.len())].join("\n");
            panic!(
                "{image}: step {rs:?} differs at line {at}\n--- real ---\n{}\n--- fake ---\n{}",
                show(&a),
                show(&b)
            );
        }
    }
}

fn caps_text(s: &Session) -> String {
    let c = s.capabilities();
    let mut t = format!("{c:#?}");
    t = t.replace(
        &format!("session_pid: {},", c.session_pid),
        "session_pid: PID,",
    );
    norm_pid(&t)
}

/// The tree every root scenario starts from.
fn populate(side: &Side) {
    let t = |s: i64| Mtime::new(1_650_000_000 + s, 123_456_789);
    for (i, n) in hostile_names().iter().enumerate() {
        side.file(
            n.as_bytes(),
            format!("content {i}").as_bytes(),
            0o644,
            t(i as i64),
        );
    }
    side.file(b"src/main.rs", b"fn main() {}\n", 0o644, t(100));
    side.file(b"src/deep/er/x.txt", b"deep", 0o600, t(101));
    side.file(b"bin/run", b"#!/bin/sh\n", 0o755, t(102));
    side.file(b"new\nline/inside", b"x", 0o644, t(103));
    side.file(b"new\nname", b"x", 0o644, t(104));
    side.file(b"bad\xffutf8", b"x", 0o644, t(105));
    side.file(b"folder/file", b"in the way", 0o644, t(106));
    side.file(b"plain", b"a plain file", 0o644, t(107));
    side.dir("empty", 0o755);
    side.dir("full", 0o755);
    side.file(b"full/keep", b"k", 0o644, t(108));
    side.symlink("src/main.rs", "link", t(109));
    side.symlink("src", "dirlink", t(110));
    side.symlink("/etc/passwd", "outside", t(111));
}

fn files(list: &[(&str, &[u8], u32)]) -> Vec<UploadFile> {
    list.iter()
        .enumerate()
        .map(|(i, (p, c, m))| UploadFile {
            path: rel(p),
            contents: c.to_vec(),
            mode: *m,
            mtime: Mtime::new(1_660_000_000 + i as i64, 987_654_321),
        })
        .collect()
}

/// Records a command's result: its normalised value, or the error's text.
fn res<T>(
    r: &mut Record,
    step: &str,
    v: Result<T, ferry::remote::SessionError>,
    norm: impl FnOnce(T) -> String,
) {
    let text = match v {
        Ok(v) => norm(v),
        Err(e) => norm_numbers(&norm_pid(&format!("Err({e})"))),
    };
    r.push(step, text);
}

/// In error texts: the count of a short write (`Wrote only N of`: the real tmpfs counts
/// pages, the fake bytes) and the inode at the end of a `K` line (`… 9 10041580")`).
fn norm_numbers(s: &str) -> String {
    let mut out = s.to_string();
    if let Some(i) = out.find("Wrote only ") {
        let start = i + "Wrote only ".len();
        let n = out[start..].bytes().take_while(u8::is_ascii_digit).count();
        out.replace_range(start..start + n, "N");
    }
    if let Some(i) = out.find("\"K ") {
        if let Some(j) = out[i + 1..].find('"') {
            let end = i + 1 + j;
            if let Some(sp) = out[..end].rfind(' ') {
                out.replace_range(sp + 1..end, "INO");
            }
        }
    }
    out
}

fn debug<T: std::fmt::Debug>(v: T) -> String {
    norm_pid(&format!("{v:#?}"))
}

/// Device numbers are the host's: keep only which candidates share one.
fn norm_places(mut places: ferry::remote::PlaceReport) -> String {
    let mut devs: Vec<u64> = Vec::new();
    for c in &mut places.candidates {
        let i = devs.iter().position(|d| *d == c.dev).unwrap_or_else(|| {
            devs.push(c.dev);
            devs.len() - 1
        });
        c.dev = i as u64;
    }
    format!("{places:#?}")
}

fn norm_mark(mut m: ferry::remote::Mark) -> String {
    m.root_inode = m.root_inode.map(|_| 1);
    format!("{m:#?}")
}

async fn start(side: &Side, user: Option<(u32, u32)>, opts: SessionOptions) -> Session {
    let launcher = side.shell_launcher(user);
    Session::start(&*launcher, ROOT, opts)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", side.name()))
}

/// The scenario run as root: every command, their failure cases, place and mark, and a
/// sync folder that vanishes.
async fn root_scenario(side: &Side, opts: SessionOptions) -> Record {
    let mut r = Record::default();
    // Without touch, files land with the clock's time.
    let times = !opts.disable.iter().any(|t| t == "touch");
    populate(side);
    let mut s = start(side, None, opts).await;
    r.push("caps", caps_text(&s));
    res(&mut r, "ping", s.ping().await, |_| "ok".into());
    res(&mut r, "list_all", s.list_all().await, norm_listing);
    res(
        &mut r,
        "list_root children",
        s.list_root(Depth::Children).await,
        norm_listing,
    );
    let some = [
        rel("src"),
        rel("nope"),
        rel("plain"),
        rel("dirlink"),
        rel("link"),
    ];
    res(
        &mut r,
        "list children",
        s.list(&some, Depth::Children).await,
        norm_listing,
    );
    res(
        &mut r,
        "list recursive",
        s.list(&some, Depth::Recursive).await,
        norm_listing,
    );

    let big = b"let x = 42; // compressible source code\n".repeat(2000);
    let batch = files(&[
        ("up/a.txt", b"a", 0o644),
        ("up/exec", b"#!/bin/sh\necho hi\n", 0o755),
        ("up/big.rs", &big, 0o640),
        ("with space", b"replaced", 0o644),
        ("link", b"replaces the symlink itself", 0o644),
        ("folder", b"a folder is in the way", 0o644),
        ("plain/below", b"a file is in the way", 0o644),
        ("dirlink", b"replaces a symlink to a folder", 0o644),
        ("empty/new", b"into an empty folder", 0o600),
    ]);
    res(&mut r, "upload", s.upload(&batch).await, norm_report);
    r.push("tree after upload", side.tree_times("/app", times));
    let wanted = [
        rel("src"),
        rel("up/exec"),
        rel("up/big.rs"),
        rel("outside"),
        rel("gone"),
        rel("empty"),
        rel("link"),
    ];
    // up/big.rs is listed smaller than it is (it grew since): refused, not truncated.
    let bound = |p: &RelPath| {
        Some(if p.as_str() == "up/big.rs" {
            1000
        } else {
            u64::MAX
        })
    };
    res(
        &mut r,
        "download",
        download_bounded(&mut s, &wanted, &bound).await,
        |d| norm_download_times(d, times),
    );
    res(
        &mut r,
        "mkdir",
        s.mkdir(&[rel("m/a/b"), rel("plain/x"), rel("up/a.txt"), rel("src")])
            .await,
        norm_failures,
    );
    res(
        &mut r,
        "rename",
        s.rename(&[
            (rel("up/a.txt"), rel("moved/deeper/a.txt")),
            (rel("gone"), rel("x")),
            (rel("up/exec"), rel("full")),
            (rel("full"), rel("plain")),
            (rel("m"), rel("m/a/b/inside")),
            (rel("src/main.rs"), rel("plain/sub")),
            (rel("bin"), rel("bin2")),
        ])
        .await,
        norm_failures,
    );
    res(
        &mut r,
        "rmdir",
        s.remove_empty_dirs(&[rel("m/a/b"), rel("full"), rel("gone"), rel("plain")])
            .await,
        norm_failures,
    );
    res(
        &mut r,
        "delete",
        s.delete(&[rel("up"), rel("gone"), rel("dirlink"), rel("bin2/run")])
            .await,
        norm_failures,
    );
    let listed = s
        .list(
            &[rel("src/deep/er/x.txt"), rel("with space")],
            Depth::Children,
        )
        .await
        .unwrap();
    let mut unchanged = vec![
        (rel("with space"), 1, 1),
        (rel("src/deep"), 4096, 0),
        (rel("gone"), 1, 1),
    ];
    if let Some(e) = listed
        .entries
        .iter()
        .find(|e| e.path.as_str() == "src/deep/er/x.txt")
    {
        unchanged.push((e.path.clone(), e.size, e.mtime.secs));
    }
    res(
        &mut r,
        "delete_unchanged",
        s.delete_unchanged(&unchanged).await,
        norm_failures,
    );
    r.push("tree after edits", side.tree_times("/app", times));
    res(&mut r, "place", s.places().await, norm_places);
    let dir = ferry::remote::place::marker_dir("/", ROOT);
    for (step, token, write) in [
        ("mark new", "tokenA", true),
        ("mark read", "tokenB", false),
        ("mark again", "tokenB", true),
    ] {
        res(&mut r, step, s.mark(&dir, token, write).await, norm_mark);
    }
    r.push("marker tree", side.tree_times("/.ferry", false));
    // Staged beside the marker from now on: the session's staging folder leaves /app.
    res(&mut r, "stage", s.stage(&dir).await, debug);
    res(
        &mut r,
        "upload staged",
        s.upload(&files(&[("staged/a.txt", b"staged", 0o644)]))
            .await,
        norm_report,
    );
    r.push("tree after staged upload", side.tree_times("/app", times));
    r.push(
        "marker tree with staging",
        side.tree_times("/.ferry", false),
    );
    // The sync folder goes away under the session.
    side.remove("/app");
    res(
        &mut r,
        "list without the folder",
        s.list_all().await,
        norm_listing,
    );
    res(
        &mut r,
        "download without the folder",
        download(&mut s, &[rel("a")]).await,
        norm_download,
    );
    res(&mut r, "ping after", s.ping().await, |_| "ok".into());
    res(&mut r, "close", s.close().await, debug);
    r
}

/// As a user other than root, in a world-writable `/app` holding root's files: read-only
/// files and folders, an unreadable folder and file.
async fn nonroot_scenario(side: &Side, opts: SessionOptions) -> Record {
    let mut r = Record::default();
    let t = Mtime::new(1_650_000_000, 5);
    side.file(b"ro.txt", b"root's", 0o444, t);
    side.file(b"rodir/x", b"root's", 0o644, t);
    side.chmod("/app/rodir", 0o755);
    side.file(b"secret/inside", b"hidden", 0o644, t);
    side.chmod("/app/secret", 0o700);
    side.file(b"private", b"root only", 0o600, t);
    side.file(b"mine/a", b"a", 0o666, t);
    side.chmod("/app/mine", 0o777);
    let mut s = start(side, Some((1000, 1000)), opts).await;
    r.push("caps", caps_text(&s));
    res(&mut r, "list_all", s.list_all().await, norm_listing);
    res(
        &mut r,
        "list secret",
        s.list(&[rel("secret"), rel("secret/inside")], Depth::Children)
            .await,
        norm_listing,
    );
    let batch = files(&[
        ("ro.txt", b"new", 0o644),
        ("ok1", b"new", 0o755),
        ("rodir/x", b"new", 0o644),
        ("rodir/new", b"new", 0o644),
        ("rodir/sub/new", b"new", 0o644),
        ("sub/ok2", b"new", 0o600),
        ("secret/x", b"new", 0o644),
    ]);
    res(&mut r, "upload", s.upload(&batch).await, norm_report);
    r.push("tree after upload", side.tree("/app"));
    res(
        &mut r,
        "download",
        download(
            &mut s,
            &[rel("private"), rel("secret"), rel("ok1"), rel("mine")],
        )
        .await,
        norm_download,
    );
    res(
        &mut r,
        "mkdir",
        s.mkdir(&[rel("rodir/d"), rel("secret/d"), rel("mine/d")])
            .await,
        norm_failures,
    );
    res(
        &mut r,
        "rename",
        s.rename(&[
            (rel("rodir/x"), rel("x")),
            (rel("ok1"), rel("rodir/ok1")),
            (rel("mine/a"), rel("mine/b")),
        ])
        .await,
        norm_failures,
    );
    res(
        &mut r,
        "delete",
        s.delete(&[rel("rodir/x"), rel("rodir"), rel("secret"), rel("ro.txt")])
            .await,
        norm_failures,
    );
    res(
        &mut r,
        "rmdir",
        s.remove_empty_dirs(&[rel("rodir"), rel("mine/d")]).await,
        norm_failures,
    );
    r.push("tree after edits", side.tree("/app"));
    res(&mut r, "place", s.places().await, norm_places);
    res(
        &mut r,
        "mark where not allowed",
        s.mark("/.ferry/app", "tok", true).await,
        norm_mark,
    );
    // The folder is there, but root's: the marker file cannot be created in it.
    side.put_host("/.ferry/locked/keep", b"root's");
    res(
        &mut r,
        "mark in a folder of root's",
        s.mark("/.ferry/locked", "tok", true).await,
        norm_mark,
    );
    res(&mut r, "close", s.close().await, debug);
    r
}

/// A read-only session (a dry run) refuses every write and creates nothing.
async fn read_only_scenario(side: &Side) -> Record {
    let mut r = Record::default();
    side.file(b"a.txt", b"x", 0o644, Mtime::new(1_650_000_000, 0));
    let opts = SessionOptions {
        read_only: true,
        ..SessionOptions::default()
    };
    let mut s = start(side, None, opts.clone()).await;
    r.push("caps", caps_text(&s));
    res(&mut r, "list_all", s.list_all().await, norm_listing);
    res(
        &mut r,
        "upload",
        s.upload(&files(&[("b.txt", b"b", 0o644)])).await,
        norm_report,
    );
    res(&mut r, "mkdir", s.mkdir(&[rel("d")]).await, norm_failures);
    res(
        &mut r,
        "delete",
        s.delete(&[rel("a.txt")]).await,
        norm_failures,
    );
    res(
        &mut r,
        "rename",
        s.rename(&[(rel("a.txt"), rel("c.txt"))]).await,
        norm_failures,
    );
    res(
        &mut r,
        "mark w",
        s.mark("/.ferry/app", "tok", true).await,
        norm_mark,
    );
    res(
        &mut r,
        "mark r",
        s.mark("/.ferry/app", "tok", false).await,
        norm_mark,
    );
    res(
        &mut r,
        "download",
        download(&mut s, &[rel("a.txt")]).await,
        norm_download,
    );
    r.push("tree", side.tree("/app"));
    drop(s);
    side.remove("/app");
    let s = start(side, None, opts).await;
    r.push("caps without the folder", caps_text(&s));
    r.push("folder not created", format!("{}", side.exists("/app")));
    r
}

async fn compare(image: &str, profile: Profile, run: impl AsyncFn(&Side) -> Record) {
    let real = Side::Real(Rootfs::new(image));
    let fake = Side::fake(image, profile);
    let rr = run(&real).await;
    let fr = run(&fake).await;
    same(image, rr, fr);
}

fn need_root() {
    if skip() {
        panic!("the conformance tests need root (chroot into the image root file systems)");
    }
}

fn opts_disabling(tools: &[&str]) -> SessionOptions {
    SessionOptions {
        disable: tools.iter().map(|t| t.to_string()).collect(),
        ..SessionOptions::default()
    }
}

#[tokio::test]
async fn remote_fake_conforms_as_root_busybox() {
    need_root();
    compare("busybox", Profile::busybox(), async |s: &Side| {
        root_scenario(s, SessionOptions::default()).await
    })
    .await;
}

#[tokio::test]
async fn remote_fake_conforms_as_root_debian() {
    need_root();
    compare("debian", Profile::debian(), async |s: &Side| {
        root_scenario(s, SessionOptions::default()).await
    })
    .await;
}

#[tokio::test]
async fn remote_fake_conforms_without_compression() {
    need_root();
    let opts = SessionOptions {
        compression: Compression::Never,
        ..SessionOptions::default()
    };
    compare("busybox", Profile::busybox(), async |s: &Side| {
        root_scenario(s, opts.clone()).await
    })
    .await;
    compare("debian", Profile::debian(), async |s: &Side| {
        root_scenario(s, opts.clone()).await
    })
    .await;
}

#[tokio::test]
async fn remote_fake_conforms_without_tar() {
    need_root();
    let opts = opts_disabling(&["tar"]);
    compare("busybox", Profile::busybox(), async |s: &Side| {
        root_scenario(s, opts.clone()).await
    })
    .await;
    compare("debian", Profile::debian(), async |s: &Side| {
        root_scenario(s, opts.clone()).await
    })
    .await;
}

#[tokio::test]
async fn remote_fake_conforms_without_mv_touch_chmod() {
    need_root();
    let opts = opts_disabling(&["mv", "tar"]);
    compare("busybox", Profile::busybox(), async |s: &Side| {
        root_scenario(s, opts.clone()).await
    })
    .await;
    let opts = opts_disabling(&["mv", "touch", "chmod", "tar"]);
    compare("debian", Profile::debian(), async |s: &Side| {
        root_scenario(s, opts.clone()).await
    })
    .await;
    let opts = opts_disabling(&["mv"]);
    compare("debian", Profile::debian(), async |s: &Side| {
        root_scenario(s, opts.clone()).await
    })
    .await;
}

#[tokio::test]
async fn remote_fake_conforms_with_other_payload_readers() {
    need_root();
    for tools in [&["head"][..], &["head", "dd"][..], &["head", "ddcount"][..]] {
        let opts = opts_disabling(tools);
        compare("busybox", Profile::busybox(), async |s: &Side| {
            root_scenario(s, opts.clone()).await
        })
        .await;
        compare("debian", Profile::debian(), async |s: &Side| {
            root_scenario(s, opts.clone()).await
        })
        .await;
    }
}

#[tokio::test]
async fn remote_fake_conforms_without_maxdepth_and_checksums() {
    need_root();
    let opts = opts_disabling(&["maxdepth", "sha256sum", "newer", "sleepfrac", "gzip"]);
    compare("busybox", Profile::busybox(), async |s: &Side| {
        root_scenario(s, opts.clone()).await
    })
    .await;
    compare("debian", Profile::debian(), async |s: &Side| {
        root_scenario(s, opts.clone()).await
    })
    .await;
}

#[tokio::test]
async fn remote_fake_conforms_as_another_user() {
    need_root();
    for (image, p) in [
        ("busybox", Profile::busybox()),
        ("debian", Profile::debian()),
    ] {
        compare(image, p.as_user(1000, 1000), async |s: &Side| {
            nonroot_scenario(s, SessionOptions::default()).await
        })
        .await;
    }
    let opts = opts_disabling(&["tar", "mv"]);
    for (image, p) in [
        ("busybox", Profile::busybox()),
        ("debian", Profile::debian()),
    ] {
        compare(image, p.as_user(1000, 1000), async |s: &Side| {
            nonroot_scenario(s, opts.clone()).await
        })
        .await;
    }
}

#[tokio::test]
async fn remote_fake_conforms_read_only() {
    need_root();
    compare("busybox", Profile::busybox(), async |s: &Side| {
        read_only_scenario(s).await
    })
    .await;
    compare("debian", Profile::debian(), async |s: &Side| {
        read_only_scenario(s).await
    })
    .await;
}

/// The replies themselves, where `Session` hides what the script said: `list`'s `T`,
/// `W` and `F` lines (a folder of root's, 0700, listed as uid 1000; a path that does
/// not exist), `get` failing as a whole on a file the user may not read and the
/// per-path retries `Session::download` then makes, and `sum` over regular files, a
/// backslash name, a symlink, a FIFO, a folder, a missing path and an unreadable file.
async fn replies_scenario(side: &Side, user: Option<(u32, u32)>, opts: SessionOptions) -> Record {
    let mut r = Record::default();
    let t = Mtime::new(1_650_000_000, 5);
    side.file(b"ok.txt", b"readable", 0o644, t);
    side.file(b"sub/x", b"below", 0o644, t);
    side.file(b"back\\slash", b"a backslash name", 0o644, t);
    side.file(b"secret/inside", b"hidden", 0o644, t);
    side.chmod("/app/secret", 0o700);
    side.file(b"private", b"root only", 0o600, t);
    side.symlink("ok.txt", "link", t);
    side.fifo("fifo", t);
    let tee = Tee::new(side.shell_launcher(user));
    let mut s = Session::start(&tee, ROOT, opts)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", side.name()));
    tee.replies();
    let list_reply = |tee: &Tee| {
        let (status, body) = tee.reply();
        format!("{status}\n{}", norm_list_body(&body))
    };
    res(&mut r, "list_all", s.list_all().await, norm_listing);
    r.push("list_all reply", list_reply(&tee));
    let some = [
        rel("secret"),
        rel("secret/inside"),
        rel("nope"),
        rel("ok.txt"),
        rel("sub"),
    ];
    for (step, depth) in [
        ("list children", Depth::Children),
        ("list recursive", Depth::Recursive),
    ] {
        res(&mut r, step, s.list(&some, depth).await, norm_listing);
        r.push(&format!("{step} reply"), list_reply(&tee));
    }
    res(
        &mut r,
        "list missing",
        s.list(&[rel("nope"), rel("nope/deeper")], Depth::Recursive)
            .await,
        norm_listing,
    );
    r.push("list missing reply", list_reply(&tee));

    let wanted = [
        rel("ok.txt"),
        rel("private"),
        rel("sub"),
        rel("secret"),
        rel("nope"),
        rel("link"),
        rel("fifo"),
    ];
    res(
        &mut r,
        "download",
        download(&mut s, &wanted).await,
        norm_download,
    );
    let tar = s.capabilities().tar.is_some();
    let frames: Vec<String> = tee
        .replies()
        .into_iter()
        .map(|f| norm_frame(f, tar))
        .collect();
    r.push("download replies", frames.join("\n"));

    let summed = [
        rel("ok.txt"),
        rel("back\\slash"),
        rel("link"),
        rel("fifo"),
        rel("nope"),
        rel("sub"),
        rel("private"),
        rel("sub/x"),
        rel("secret/inside"),
    ];
    res(&mut r, "checksums", s.checksums(&summed).await, debug);
    let frames: Vec<String> = tee
        .replies()
        .into_iter()
        .map(|f| norm_frame(f, false))
        .collect();
    r.push("checksums replies", frames.join("\n"));
    res(&mut r, "close", s.close().await, debug);
    r
}

#[tokio::test]
async fn remote_fake_conforms_in_its_replies() {
    need_root();
    for (image, p) in [
        ("busybox", Profile::busybox()),
        ("debian", Profile::debian()),
    ] {
        let user = Some((1000, 1000));
        compare(image, p.clone().as_user(1000, 1000), async |s: &Side| {
            replies_scenario(s, user, SessionOptions::default()).await
        })
        .await;
        compare(image, p.clone(), async |s: &Side| {
            replies_scenario(s, None, SessionOptions::default()).await
        })
        .await;
        // Without tar: getf, file by file.
        let opts = opts_disabling(&["tar"]);
        compare(image, p.as_user(1000, 1000), async |s: &Side| {
            replies_scenario(s, user, opts.clone()).await
        })
        .await;
    }
}

/// Markers written by someone else: what the scripts do with generations that are not
/// decimal (a leading zero reads as octal in `$((…))`; `08` is an arithmetic error that
/// ends the shell).
async fn marker_scenario(side: &Side) -> Record {
    let mut r = Record::default();
    for junk in [
        "ferry-marker 1 tok 7\n",
        "ferry-marker 1 tok 007\n",
        "ferry-marker 1 tok 010\n",
        "ferry-marker 1 tok 08\n",
        "ferry-marker 1 tok 5",
        "ferry-marker 1 tok 5 extra words\n",
        "ferry-marker  1\ttok  5\n",
        "ferry-marker 1 to-k 5\n",
        "ferry-marker 1 tok 1234567890123456\n",
    ] {
        side.put_host("/.ferry/app/marker", junk.as_bytes());
        let mut s = start(side, None, SessionOptions::default()).await;
        res(
            &mut r,
            &format!("read {junk:?}"),
            s.mark("/.ferry/app", "fresh", false).await,
            norm_mark,
        );
        res(
            &mut r,
            &format!("write {junk:?}"),
            s.mark("/.ferry/app", "fresh", true).await,
            norm_mark,
        );
        r.push(
            &format!("after {junk:?}"),
            side.tree_times("/.ferry", false),
        );
        drop(s);
    }
    r
}

#[tokio::test]
async fn remote_fake_conforms_with_odd_markers() {
    need_root();
    compare("busybox", Profile::busybox(), async |s: &Side| {
        marker_scenario(s).await
    })
    .await;
    compare("debian", Profile::debian(), async |s: &Side| {
        marker_scenario(s).await
    })
    .await;
}

/// Disk full: the sync folder on a 64 KiB tmpfs (real) or a mount of that capacity (fake).
async fn disk_full_scenario(side: &Side, opts: SessionOptions) -> Record {
    let mut r = Record::default();
    let tee = Tee::new(side.shell_launcher(None));
    let mut s = Session::start(&tee, ROOT, opts)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", side.name()));
    tee.replies();
    let big = vec![b'x'; 200 * 1024];
    let batch = files(&[
        ("small", b"s", 0o644),
        ("big", &big, 0o644),
        ("after", b"a", 0o644),
    ]);
    res(&mut r, "upload", s.upload(&batch).await, norm_report);
    // X FREE MESSAGE: nothing landed (FREE is the same: the folder is empty again).
    r.push(
        "upload reply",
        norm_numbers(&norm_frame(tee.reply(), false)),
    );
    r.push("tree", side.tree("/app"));
    res(
        &mut r,
        "upload small",
        s.upload(&batch[..1]).await,
        norm_report,
    );
    r.push("upload small reply", norm_frame(tee.reply(), false));
    r.push("tree after", side.tree("/app"));
    res(&mut r, "close", s.close().await, debug);
    r
}

/// Unmounts on drop.
struct Tmpfs(std::path::PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test]
async fn remote_fake_conforms_when_the_disk_is_full() {
    need_root();
    for (image, profile) in [
        ("busybox", Profile::busybox()),
        ("debian", Profile::debian()),
    ] {
        let fs = Rootfs::new(image);
        let app = fs.host(ROOT);
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k,mode=0777", "tmpfs"])
            .arg(&app)
            .status()
            .unwrap();
        assert!(st.success(), "mounting a tmpfs on {}", app.display());
        let guard = Tmpfs(app);
        let real = Side::Real(fs);
        let fake = Side::fake(image, profile);
        if let Side::Fake(c) = &fake {
            c.mount(ROOT, 77, true, Some(64 * 1024)).unwrap();
            c.chmod(ROOT, 0o777).unwrap();
        }
        let mut rr = Record::default();
        let mut fr = Record::default();
        for opts in [
            SessionOptions::default(),
            SessionOptions {
                compression: Compression::Never,
                ..SessionOptions::default()
            },
        ] {
            rr.0.extend(disk_full_scenario(&real, opts.clone()).await.0);
            real.remove("/app/small");
            fr.0.extend(disk_full_scenario(&fake, opts).await.0);
            fake.remove("/app/small");
        }
        drop(guard);
        same(image, rr, fr);
    }
}

/// What a watcher reports until it has been quiet for a moment, in order.
async fn quiet_events(w: &mut RemoteWatcher) -> String {
    let mut out = Vec::new();
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(250), w.next()).await {
        out.push(e);
    }
    format!("{out:#?}")
}

/// The same, sorted: for batches the scripts walk in directory order (`find` of the
/// staging folder, `rm -rf`), which the fake replaces by name order. Events below a
/// folder created in the same batch are left out: a real `inotifywait -r` watches a new
/// folder only after its `CREATE`, so what lands in it right away may or may not be
/// seen (ferry lists a new folder whole anyway); the fake always sees it.
async fn quiet_events_sorted(w: &mut RemoteWatcher) -> String {
    let mut events = Vec::new();
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(250), w.next()).await {
        events.push(e);
    }
    let new_dirs: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            WatchEvent::Changed { path, dir: true } => Some(format!("{path}/")),
            _ => None,
        })
        .collect();
    let mut out: Vec<String> = events
        .iter()
        .filter(|e| match e {
            WatchEvent::Changed { path, .. } => !new_dirs.iter().any(|d| path.starts_with(d)),
            _ => true,
        })
        .map(|e| format!("{e:?}"))
        .collect();
    out.sort();
    out.join("\n")
}

/// The inotify watcher: the same changes, by the container's own processes and by ferry,
/// give the same events (echoes of ferry's own uploads included; the staging folder never).
async fn inotify_scenario(side: &Side) -> Record {
    let mut r = Record::default();
    side.file(b"existing", b"e", 0o644, Mtime::new(1_650_000_000, 0));
    side.dir("d", 0o755);
    let mut s = start(side, None, SessionOptions::default()).await;
    let launcher = side.shell_launcher(None);
    let mut w = RemoteWatcher::start(
        &*launcher,
        ROOT,
        s.capabilities(),
        WatchOptions {
            mode: WatchMode::Inotify,
            ..WatchOptions::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{}: {e}", side.name()));
    type Change<'a> = (&'a str, &'a str, fn(&FakeContainer));
    let changes: [Change; 9] = [
        ("create", "printf x > /app/c.txt", |c| {
            c.write("/app/c.txt", "x").unwrap()
        }),
        ("overwrite", "printf y > /app/c.txt", |c| {
            c.write("/app/c.txt", "y").unwrap()
        }),
        ("mkdir", "mkdir /app/m", |c| c.mkdir("/app/m").unwrap()),
        ("chmod", "chmod 700 /app/m", |c| {
            c.chmod("/app/m", 0o700).unwrap()
        }),
        ("touch", "touch -h -d @1600000000 /app/existing", |c| {
            c.set_mtime("/app/existing", Mtime::new(1_600_000_000, 0))
                .unwrap()
        }),
        ("mv", "mv /app/c.txt /app/d/c.txt", |c| {
            c.rename("/app/c.txt", "/app/d/c.txt").unwrap()
        }),
        ("rm", "rm /app/d/c.txt", |c| {
            c.remove("/app/d/c.txt").unwrap()
        }),
        ("rm -r", "rm -r /app/m", |c| c.remove("/app/m").unwrap()),
        // ferry's fallback marker and staging folder, and a state folder: never reported.
        (
            "writes in ferry's folders",
            "mkdir -p /app/.ferry/x && printf z > /app/.ferry/x/f && mv /app/.ferry/x/f /app/.ferry/g \
             && mkdir /app/.ferry-tmp-7 && printf z > /app/.ferry-tmp-7/h && rm -r /app/.ferry/x",
            |c| {
                c.write("/app/.ferry/x/f", "z").unwrap();
                c.rename("/app/.ferry/x/f", "/app/.ferry/g").unwrap();
                c.write("/app/.ferry-tmp-7/h", "z").unwrap();
                c.remove("/app/.ferry/x").unwrap();
            },
        ),
    ];
    for (step, script, fake) in changes {
        match side {
            Side::Real(fs) => {
                fs.sh(script);
            }
            Side::Fake(c) => fake(c),
        }
        r.push(&format!("container {step}"), quiet_events(&mut w).await);
    }
    res(
        &mut r,
        "ferry upload",
        s.upload(&files(&[("d/up", b"u", 0o644), ("new/up2", b"u", 0o644)]))
            .await,
        norm_report,
    );
    r.push("ferry upload events", quiet_events_sorted(&mut w).await);
    res(
        &mut r,
        "ferry rename",
        s.rename(&[(rel("new/up2"), rel("d/up3"))]).await,
        norm_failures,
    );
    r.push("ferry rename events", quiet_events(&mut w).await);
    res(
        &mut r,
        "ferry delete",
        s.delete(&[rel("d/up"), rel("new")]).await,
        norm_failures,
    );
    r.push("ferry delete events", quiet_events_sorted(&mut w).await);
    res(
        &mut r,
        "ferry mkdir",
        s.mkdir(&[rel("made")]).await,
        norm_failures,
    );
    r.push("ferry mkdir events", quiet_events(&mut w).await);
    res(
        &mut r,
        "ferry delete folder",
        s.delete(&[rel("d")]).await,
        norm_failures,
    );
    r.push("ferry delete folder events", quiet_events(&mut w).await);
    // Staged in the folder's own `.ferry/` (the fallback where the folder is a mount
    // point): only the final names are reported.
    res(&mut r, "ferry stage", s.stage("/app/.ferry/k").await, debug);
    res(
        &mut r,
        "ferry staged upload",
        s.upload(&files(&[("up", b"u", 0o644), ("new2/up", b"u", 0o644)]))
            .await,
        norm_report,
    );
    r.push(
        "ferry staged upload events",
        quiet_events_sorted(&mut w).await,
    );
    w.stop().await;
    // Nothing below ferry's folders is reported, on either side.
    for (step, events) in &r.0 {
        assert!(
            !events.contains("path: \".ferry"),
            "{}: {step}: the watcher reported ferry's own folders: {events}",
            side.name()
        );
    }
    res(&mut r, "close", s.close().await, debug);
    r
}

#[tokio::test]
async fn remote_fake_conforms_to_inotifywait() {
    need_root();
    compare(
        "debian:inotify",
        Profile::debian().with_inotify(),
        async |s: &Side| inotify_scenario(s).await,
    )
    .await;
}

/// What an inotify watcher prints until its `beats`-th `TOKEN alive` (the token as
/// `TOKEN`), and when each `alive` came, counted from the watcher being ready (tokio's
/// clock: the fake's runs paused).
async fn heartbeat(side: &Side, beats: usize) -> (String, Vec<Duration>) {
    let tee = Tee::new(side.shell_launcher(None));
    let s = Session::start(&tee, ROOT, SessionOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", side.name()));
    let mut w = RemoteWatcher::start(
        &tee,
        ROOT,
        s.capabilities(),
        WatchOptions {
            mode: WatchMode::Inotify,
            ..WatchOptions::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{}: {e}", side.name()));
    let ready = tokio::time::Instant::now();
    let limit = ready + Duration::from_secs(5 * beats as u64 + 5);
    let mut at = Vec::new();
    let text = loop {
        let text = tee.watch_text();
        let n = text.lines().filter(|l| l.ends_with(" alive")).count();
        if n > at.len() {
            at.push(ready.elapsed());
        }
        if at.len() >= beats || tokio::time::Instant::now() > limit {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Nothing but the heartbeat meanwhile: no event, not stopped for silence.
    let mut events = Vec::new();
    while let Some(e) = w.try_next() {
        events.push(e);
    }
    assert!(events.is_empty(), "{}: {events:?}", side.name());
    w.stop().await;
    drop(s);
    let mut shown: Vec<String> = Vec::new();
    for l in text.lines() {
        let l = match l.split_once(' ') {
            Some((tok, rest)) if tok.starts_with("ferry") && tok.len() == 21 => {
                format!("TOKEN {rest}")
            }
            _ => l.to_string(),
        };
        shown.push(l);
        if shown.iter().filter(|l| l.ends_with(" alive")).count() == beats {
            break;
        }
    }
    (shown.join("\n"), at)
}

/// The inotify watcher's guard prints `TOKEN alive` every 5 s (`watch_inotify.sh`), so
/// ferry can tell a stalled watcher from a quiet folder. The real one is waited for once
/// (about 5 s); the fake runs on a paused clock, where two beats take no time, and must
/// print the same lines on the same period.
#[tokio::test]
async fn remote_fake_conforms_to_the_inotify_heartbeat() {
    need_root();
    let real = Side::Real(Rootfs::new("debian:inotify"));
    let (real_text, real_at) = heartbeat(&real, 1).await;
    tokio::time::pause();
    let fake = Side::fake("debian:inotify", Profile::debian().with_inotify());
    let (fake_text, fake_at) = heartbeat(&fake, 2).await;
    let first = |text: &str| {
        let end = text
            .find(" alive")
            .map_or(text.len(), |i| i + " alive".len());
        text[..end].to_string()
    };
    assert_eq!(first(&real_text), first(&fake_text));
    assert!(
        fake_text.ends_with("TOKEN alive\nTOKEN alive"),
        "{fake_text}"
    );
    // The real guard starts before inotifywait has set its watches up: its first beat
    // comes a little less than 5 s after ready; the fake's 5 s after.
    assert_eq!(
        real_at.len(),
        1,
        "no heartbeat from the real watcher: {real_text}"
    );
    assert!(
        real_at[0] > Duration::from_millis(3500) && real_at[0] < Duration::from_millis(6500),
        "{real_at:?}"
    );
    let secs: Vec<u64> = fake_at.iter().map(|d| d.as_secs()).collect();
    assert_eq!(secs, [5, 10], "{fake_at:?}");
}

/// The engine's seam: the fake as the container every connect finds.
struct FakeConnector(FakeContainer);

impl ferry::engine::Connector for FakeConnector {
    fn connect<'a>(
        &'a self,
        _target: &'a ferry::config::Target,
    ) -> ferry::remote::BoxFuture<'a, Result<ferry::engine::Connected, ferry::engine::EngineError>>
    {
        Box::pin(async move {
            let id = self.0.identity();
            Ok(ferry::engine::Connected {
                launcher: std::sync::Arc::new(self.0.clone()),
                pod: ferry::engine::PodIdentity {
                    namespace: "default".into(),
                    pod: id.pod,
                    pod_uid: id.pod_uid,
                    container: id.container,
                    container_id: Some(id.container_id),
                },
            })
        })
    }
}

async fn sync_once(ws: &Path, c: &FakeContainer) -> ferry::engine::RunSummary {
    let cfg = match ferry::config::load(ws, None, &Default::default(), &|_| None).unwrap() {
        ferry::config::Loaded::Config(cfg) => cfg,
        other => panic!("{other:?}"),
    };
    let hub = ferry::engine::StatusHub::new();
    let opts = std::sync::Arc::new(ferry::engine::EngineOptions::new(ws.join(".ferry")));
    let sync = cfg.sync.into_iter().next().unwrap();
    let task = ferry::engine::SyncTask::new(0, sync, opts, hub)
        .unwrap()
        .with_connector(std::sync::Arc::new(FakeConnector(c.clone())));
    let (_stop, rx) = tokio::sync::watch::channel(false);
    task.run(true, rx).await.unwrap()
}

/// The fake drives the real sync task (the seam the model test uses): an initial sync
/// both ways, then a replaced pod whose image holds an older copy of a file.
#[tokio::test]
async fn remote_fake_drives_the_sync_task() {
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(
        ws.path().join("devspace.yaml"),
        "version: v2beta1\nname: t\ndev:\n  app:\n    labelSelector:\n      app: web\n    sync:\n    - path: ./:/app\n",
    )
    .unwrap();
    std::fs::write(ws.path().join("a.txt"), "local a").unwrap();
    std::fs::create_dir(ws.path().join("src")).unwrap();
    std::fs::write(ws.path().join("src/x.rs"), "fn x() {}").unwrap();
    let c = FakeContainer::busybox();
    c.write("/app/remote.txt", "from the container").unwrap();
    let t = Instant::now();
    let first = sync_once(ws.path(), &c).await;
    eprintln!("an initial sync against the fake: {:?}", t.elapsed());
    assert_eq!(c.read("/app/a.txt").as_deref(), Some(&b"local a"[..]));
    assert_eq!(c.read("/app/src/x.rs").as_deref(), Some(&b"fn x() {}"[..]));
    assert_eq!(
        std::fs::read_to_string(ws.path().join("remote.txt")).unwrap(),
        "from the container"
    );
    assert!(first.uploaded >= 2 && first.downloaded == 1, "{first:?}");
    assert!(c.processes().is_empty(), "{:?}", c.processes());

    // A new pod from an image that baked in an older a.txt and nothing else.
    let mut image = FakeFs::new();
    image.mkdir_all(b"/app", 0o755, Cred::ROOT).unwrap();
    image
        .write(b"/app/a.txt", b"old".to_vec(), 0o644, Cred::ROOT)
        .unwrap();
    c.replace(ferry::remote::fake::Replacement::Pod(image));
    std::fs::write(ws.path().join("c.txt"), "new local").unwrap();
    sync_once(ws.path(), &c).await;
    for (p, want) in [
        ("a.txt", "local a"),
        ("c.txt", "new local"),
        ("src/x.rs", "fn x() {}"),
    ] {
        assert_eq!(
            std::fs::read_to_string(ws.path().join(p)).ok().as_deref(),
            Some(want),
            "{p} must survive the replaced pod"
        );
    }
    assert_eq!(c.read("/app/c.txt").as_deref(), Some(&b"new local"[..]));
}

/// Speed: one session start and 20 commands against the fake (a debug build: ferry
/// unoptimised, its dependencies at opt-level 2).
#[tokio::test]
async fn remote_fake_is_fast() {
    let rounds: u32 = 200;
    let (mut starting, mut commands) = (Duration::ZERO, Duration::ZERO);
    let t = Instant::now();
    for _ in 0..rounds {
        let c = FakeContainer::busybox();
        c.write("/app/a.txt", "hello").unwrap();
        let t0 = Instant::now();
        let mut s = Session::start(&c, ROOT, SessionOptions::default())
            .await
            .unwrap();
        starting += t0.elapsed();
        let t1 = Instant::now();
        for i in 0..5 {
            s.ping().await.unwrap();
            s.list_all().await.unwrap();
            let f = files(&[(&format!("f{i}"), b"data", 0o644)]);
            s.upload(&f).await.unwrap();
            download(&mut s, &[rel("a.txt")]).await.unwrap();
        }
        commands += t1.elapsed();
        s.close().await.unwrap();
    }
    let per = t.elapsed() / rounds;
    eprintln!(
        "against the fake: session start {:?}, one command {:?} (ping, list, upload, download), start + 20 commands + close {per:?}",
        starting / rounds,
        commands / (rounds * 20)
    );
    assert!(per < Duration::from_millis(20), "{per:?}");
}
