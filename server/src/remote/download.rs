//! Downloads, streamed: ferry parses what the container sends (a tar archive, see
//! `untar`, or `getf` records without tar, see [`GetfStream`]) as the bytes arrive and
//! hands each file's content to a [`DownloadSink`] — the engine's writes temporary files
//! next to their targets — so no file and no archive is ever held whole in memory, and
//! a file of any size downloads in constant memory.
//!
//! The container is not trusted:
//! - an entry with an absolute path, a `..` component, a path below a symlink of the
//!   same archive, a symlink pointing out of the root, a hard link, a device, FIFO or
//!   socket, a GNU sparse file, or any other kind than a regular file, a folder or a
//!   symlink becomes a [`FileErrorKind::Unsafe`] error, and so does an entry that was not
//!   asked for or comes twice;
//! - every file is bounded by the size the caller expects for it (`expected`, from the
//!   listing): one that claims more is refused before a byte reaches the sink
//!   ([`FileErrorKind::Changed`]: it grew since it was listed; the caller retries), its
//!   bytes read and dropped;
//! - metadata entries (GNU long names, PAX records) are bounded by [`META_MAX`].
//!
//! The engine writing the files must still not follow symlinks that already exist on
//! the local side (e.g. open with `O_NOFOLLOW`, check parents): this module can only
//! check the archive.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;

use sha2::{Digest, Sha256};

use super::error::{FileError, FileErrorKind};
use super::path::{Mtime, RelPath};

/// Largest metadata entry (GNU long name or link, PAX extended header) accepted.
pub(crate) const META_MAX: u64 = 256 * 1024;

/// What a downloaded entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadedKind {
    /// A regular file, now in the sink.
    File {
        /// Its size in bytes (exactly what the sink received).
        size: u64,
        /// The SHA-256 of its content, computed while it streamed.
        sha256: [u8; 32],
    },
    /// A folder.
    Dir,
    /// A symlink whose target stays inside the sync root (relative, no escaping `..`).
    Symlink {
        /// The target, as stored.
        target: String,
    },
}

/// One downloaded entry, checked to stay inside the sync root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadedEntry {
    /// Where it belongs, below the sync root.
    pub path: RelPath,
    /// What it is.
    pub kind: DownloadedKind,
    /// Permission bits (setuid, setgid and sticky bits removed).
    pub mode: u32,
    /// Modification time.
    pub mtime: Mtime,
}

impl DownloadedEntry {
    /// The content hash of a file as `sha256:<hex>`; `None` for folders and symlinks.
    pub fn content_hash(&self) -> Option<String> {
        match &self.kind {
            DownloadedKind::File { sha256, .. } => {
                let mut s = String::with_capacity(7 + 64);
                s.push_str("sha256:");
                for b in sha256 {
                    s.push_str(&format!("{b:02x}"));
                }
                Some(s)
            }
            _ => None,
        }
    }
}

/// The result of a download.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Download {
    /// The entries, in archive order (a folder before its contents). A file is here
    /// only when the sink accepted it ([`DownloadSink::finish`] returned true).
    pub entries: Vec<DownloadedEntry>,
    /// Entries refused or unreadable in the container, one error each. (Local
    /// failures are the sink's to report.)
    pub errors: Vec<FileError>,
    /// Requested paths the container did not send (gone in the meantime).
    pub missing: Vec<RelPath>,
}

impl Download {
    pub(crate) fn extend(&mut self, other: Download) {
        self.entries.extend(other.entries);
        self.errors.extend(other.errors);
        self.missing.extend(other.missing);
    }

    /// Whether anything at or below `r` was sent (an entry or an error).
    pub(crate) fn seen(&self, r: &RelPath) -> bool {
        let below = |p: &str| {
            p == r.as_str()
                || p.strip_prefix(r.as_str())
                    .is_some_and(|s| s.starts_with('/'))
        };
        self.entries
            .iter()
            .any(|e| &e.path == r || r.is_ancestor_of(&e.path))
            || self.errors.iter().any(|e| below(&e.path))
    }

    /// Records as missing every requested path with nothing at or below it.
    pub(crate) fn finish(&mut self, requested: &[RelPath]) {
        for r in requested {
            if !self.seen(r) {
                self.missing.push(r.clone());
            }
        }
    }
}

/// A regular file that is about to arrive.
#[derive(Debug, Clone, Copy)]
pub struct IncomingFile<'a> {
    /// Where it belongs, below the sync root (checked).
    pub path: &'a RelPath,
    /// Its exact size: that many bytes will be written, no more (at most what the
    /// caller expected).
    pub size: u64,
    /// Permission bits (setuid, setgid and sticky removed).
    pub mode: u32,
    /// Modification time.
    pub mtime: Mtime,
}

/// Where downloaded file contents go. For each regular file: [`begin`](Self::begin),
/// then its bytes through the returned writer, then exactly one of
/// [`finish`](Self::finish) (all bytes arrived) or [`abort`](Self::abort). One file at a
/// time, in archive order.
pub trait DownloadSink {
    /// Receives one file's bytes.
    type File: Write;

    /// A file begins. `None`: the sink does not take it (it reports why itself, e.g.
    /// a local folder in the way); its bytes are read and dropped.
    fn begin(&mut self, file: &IncomingFile<'_>) -> Option<Self::File>;

    /// All of the file's bytes were written; `entry` has its size and SHA-256. Returns
    /// whether the sink kept it (false: it reports why itself); only kept files are in
    /// [`Download::entries`].
    fn finish(&mut self, file: Self::File, entry: &DownloadedEntry) -> bool;

    /// The file will not complete: `Some(e)` when writing to it failed (the sink
    /// reports it), `None` when the container's data broke off or was refused (ferry
    /// reports that in [`Download::errors`]). The sink drops what it has.
    fn abort(&mut self, file: Self::File, error: Option<std::io::Error>);
}

/// A [`DownloadSink`] that keeps every file in memory: for tests and small downloads
/// only (it holds all of it).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MemorySink {
    /// The files that completed, by path.
    pub files: BTreeMap<RelPath, Vec<u8>>,
    /// Files that began but did not complete.
    pub aborted: Vec<RelPath>,
    current: Option<RelPath>,
}

impl DownloadSink for MemorySink {
    type File = Vec<u8>;

    fn begin(&mut self, file: &IncomingFile<'_>) -> Option<Vec<u8>> {
        self.current = Some(file.path.clone());
        Some(Vec::new())
    }

    fn finish(&mut self, file: Vec<u8>, entry: &DownloadedEntry) -> bool {
        self.current = None;
        self.files.insert(entry.path.clone(), file);
        true
    }

    fn abort(&mut self, _file: Vec<u8>, _error: Option<std::io::Error>) {
        self.aborted.extend(self.current.take());
    }
}

/// Checks an archive member's path: relative (leading `./` dropped), no `..`, `.` or
/// empty components, UTF-8, no newline. `Ok(None)` for the root itself (`.` or `./`).
pub(crate) fn member_path(
    raw: &[u8],
) -> Result<Option<RelPath>, (String, FileErrorKind, &'static str)> {
    let shown = || String::from_utf8_lossy(raw).into_owned();
    if raw.first() == Some(&b'/') {
        return Err((
            shown(),
            FileErrorKind::Unsafe,
            "absolute path in the archive",
        ));
    }
    let mut p = raw;
    while let Some(rest) = p.strip_prefix(b"./") {
        p = rest;
    }
    while let Some(rest) = p.strip_suffix(b"/") {
        p = rest;
    }
    if p.is_empty() || p == b"." {
        return Ok(None);
    }
    let Ok(text) = std::str::from_utf8(p) else {
        return Err((shown(), FileErrorKind::InvalidUtf8, "name is not UTF-8"));
    };
    if text.split('/').any(|c| c == "..") {
        return Err((shown(), FileErrorKind::Unsafe, "`..` in the archive path"));
    }
    match RelPath::new(text) {
        Ok(r) => Ok(Some(r)),
        Err(_) if text.contains('\n') || text.contains('\r') => {
            Err((shown(), FileErrorKind::NewlineInName, "newline in the name"))
        }
        Err(_) => Err((shown(), FileErrorKind::Unsafe, "malformed archive path")),
    }
}

/// Whether a symlink at `link` with `target` stays inside the root, lexically: relative,
/// and no `..` climbs above the root (other links on the way are not resolved).
pub fn target_inside(link: &RelPath, target: &str) -> bool {
    if target.is_empty() || target.starts_with('/') {
        return false;
    }
    let mut depth = link.as_str().split('/').count() as i64 - 1;
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => depth += 1,
        }
    }
    true
}

/// What the caller expects: the largest size per file (`None`: not asked for).
pub type Expected<'a> = &'a (dyn Fn(&RelPath) -> Option<u64> + Sync);

/// The checks every entry passes before it is used, shared by both formats: asked for,
/// not twice, not below a symlink of the same download.
pub(crate) struct Gate<'a> {
    requested: &'a [RelPath],
    expected: Expected<'a>,
    symlinks: Vec<RelPath>,
    seen: HashSet<RelPath>,
}

impl<'a> Gate<'a> {
    pub(crate) fn new(requested: &'a [RelPath], expected: Expected<'a>) -> Gate<'a> {
        Gate {
            requested,
            expected,
            symlinks: Vec::new(),
            seen: HashSet::new(),
        }
    }

    /// `Err(why)` when the entry at `path` must be refused.
    pub(crate) fn admit(&mut self, path: &RelPath) -> Result<(), &'static str> {
        if !self
            .requested
            .iter()
            .any(|r| path == r || r.is_ancestor_of(path))
        {
            return Err("the container sent an entry that was not asked for");
        }
        if self.symlinks.iter().any(|s| s.is_ancestor_of(path)) {
            return Err("the path lies below a symlink of the same archive");
        }
        if !self.seen.insert(path.clone()) {
            return Err("the container sent this path twice");
        }
        Ok(())
    }

    /// Remembers a symlink: nothing below it is accepted.
    pub(crate) fn symlink(&mut self, path: &RelPath) {
        self.symlinks.push(path.clone());
    }

    /// The bound for a file of `size` bytes at `path`: `Err` with the error to report.
    pub(crate) fn bound(&self, path: &RelPath, size: u64) -> Result<(), FileError> {
        match (self.expected)(path) {
            None => Err(FileError::new(
                path.as_str(),
                FileErrorKind::Unsafe,
                Some("the container sent a file that was not asked for"),
            )),
            Some(max) if size > max => Err(FileError::new(
                path.as_str(),
                FileErrorKind::Changed,
                Some(&format!(
                    "it grew since it was listed: {size} bytes, {max} expected"
                )),
            )),
            Some(_) => Ok(()),
        }
    }
}

/// One file streaming into the sink.
pub(crate) struct Active<F> {
    path: RelPath,
    mode: u32,
    mtime: Mtime,
    size: u64,
    left: u64,
    hasher: Sha256,
    /// `None` once the sink refused it or writing failed: the rest is dropped.
    file: Option<F>,
}

impl<F: Write> Active<F> {
    /// Begins a file (after [`Gate::bound`]); the sink may refuse it.
    pub(crate) fn begin<S: DownloadSink<File = F>>(
        sink: &mut S,
        path: RelPath,
        size: u64,
        mode: u32,
        mtime: Mtime,
    ) -> Active<F> {
        let file = sink.begin(&IncomingFile {
            path: &path,
            size,
            mode,
            mtime,
        });
        Active {
            path,
            mode,
            mtime,
            size,
            left: size,
            hasher: Sha256::new(),
            file,
        }
    }

    /// Bytes still due.
    pub(crate) fn left(&self) -> u64 {
        self.left
    }

    /// Passes on up to [`Active::left`] bytes of `data`; returns how many it took.
    pub(crate) fn write<S: DownloadSink<File = F>>(&mut self, sink: &mut S, data: &[u8]) -> usize {
        let n = data
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let chunk = &data[..n];
        self.left -= n as u64;
        if let Some(f) = &mut self.file {
            self.hasher.update(chunk);
            if let Err(e) = f.write_all(chunk) {
                let f = self.file.take().expect("checked above");
                sink.abort(f, Some(e));
            }
        }
        n
    }

    /// All bytes arrived: hands the file to the sink and records it when kept.
    pub(crate) fn complete<S: DownloadSink<File = F>>(self, sink: &mut S, out: &mut Download) {
        debug_assert_eq!(self.left, 0);
        let Some(f) = self.file else { return };
        let entry = DownloadedEntry {
            path: self.path,
            kind: DownloadedKind::File {
                size: self.size,
                sha256: self.hasher.finalize().into(),
            },
            mode: self.mode,
            mtime: self.mtime,
        };
        if sink.finish(f, &entry) {
            out.entries.push(entry);
        }
    }

    /// The data broke off: the sink drops the file; returns its path.
    pub(crate) fn cut<S: DownloadSink<File = F>>(self, sink: &mut S) -> RelPath {
        if let Some(f) = self.file {
            sink.abort(f, None);
        }
        self.path
    }
}

/// A streaming parser of one download reply body: fed in chunks, then ended.
pub(crate) trait BodyParser<S: DownloadSink> {
    /// The next bytes of the body. `Err`: the data cannot be parsed any further (the
    /// caller drops the rest of the body).
    fn feed(&mut self, sink: &mut S, data: &[u8]) -> Result<(), String>;
    /// The body ended (all of it fed, or feeding stopped at an error): what arrived, and
    /// why the data is incomplete, if it is.
    fn end(self: Box<Self>, sink: &mut S) -> (Download, Option<String>);
}

/// Longest `getf` record line.
const GETF_LINE_MAX: usize = 512;

/// The `getf` reply (downloads without tar), streamed: per requested path, in order,
/// `F INDEX MODEHEX MTIME SIZE\n` and SIZE bytes, or `E INDEX CODE\n`.
pub(crate) struct GetfStream<'a, F> {
    gate: Gate<'a>,
    requested: &'a [RelPath],
    out: Download,
    line: Vec<u8>,
    /// The content being read: a file (maybe dropped) or bytes to skip.
    data: Option<Active<F>>,
    skip: u64,
}

impl<'a, F> GetfStream<'a, F> {
    pub(crate) fn new(requested: &'a [RelPath], expected: Expected<'a>) -> GetfStream<'a, F> {
        GetfStream {
            gate: Gate::new(requested, expected),
            requested,
            out: Download::default(),
            line: Vec::new(),
            data: None,
            skip: 0,
        }
    }
}

impl<F: Write> GetfStream<'_, F> {
    fn record<S: DownloadSink<File = F>>(&mut self, sink: &mut S) -> Result<(), String> {
        let line = String::from_utf8_lossy(&self.line).into_owned();
        self.line.clear();
        let bad = || format!("bad getf record {line:?}");
        let f: Vec<&str> = line.split(' ').collect();
        let path = |i: &str| -> Result<RelPath, String> {
            let i: usize = i.parse().map_err(|_| bad())?;
            self.requested.get(i).cloned().ok_or_else(bad)
        };
        match f.as_slice() {
            ["F", i, mode, mtime, size] => {
                let p = path(i)?;
                let size: u64 = size.parse().map_err(|_| bad())?;
                let mode = u32::from_str_radix(mode, 16).map_err(|_| bad())?;
                let mtime = Mtime::parse_decimal(mtime).ok_or_else(bad)?;
                let admitted = self
                    .gate
                    .admit(&p)
                    .map_err(|why| FileError::new(p.as_str(), FileErrorKind::Unsafe, Some(why)));
                match admitted.and_then(|()| self.gate.bound(&p, size)) {
                    Ok(()) => self.data = Some(Active::begin(sink, p, size, mode & 0o777, mtime)),
                    Err(e) => {
                        self.out.errors.push(e);
                        self.skip = size;
                    }
                }
            }
            ["E", i, code] => {
                let p = path(i)?;
                let kind = match *code {
                    "missing" => return Ok(()),
                    "notfile" => FileErrorKind::NotFile,
                    _ => FileErrorKind::Read,
                };
                let detail = (kind == FileErrorKind::NotFile).then_some(
                    "without tar in the container, only regular files can be downloaded",
                );
                self.out
                    .errors
                    .push(FileError::new(p.as_str(), kind, detail));
            }
            _ => return Err(bad()),
        }
        Ok(())
    }
}

impl<S: DownloadSink> BodyParser<S> for GetfStream<'_, S::File> {
    fn feed(&mut self, sink: &mut S, mut data: &[u8]) -> Result<(), String> {
        while !data.is_empty() {
            if self.skip > 0 {
                let n = data
                    .len()
                    .min(usize::try_from(self.skip).unwrap_or(usize::MAX));
                self.skip -= n as u64;
                data = &data[n..];
                continue;
            }
            if let Some(a) = &mut self.data {
                let n = a.write(sink, data);
                data = &data[n..];
                if a.left() == 0 {
                    let a = self.data.take().expect("checked above");
                    a.complete(sink, &mut self.out);
                }
                continue;
            }
            match data.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.line.extend_from_slice(&data[..i]);
                    data = &data[i + 1..];
                    if self.line.len() > GETF_LINE_MAX {
                        return Err("a getf record line is too long".into());
                    }
                    self.record(sink)?;
                }
                None => {
                    self.line.extend_from_slice(data);
                    data = &[];
                }
            }
            if self.line.len() > GETF_LINE_MAX {
                return Err("a getf record line is too long".into());
            }
        }
        // A file of 0 bytes completes at once.
        if let Some(a) = &self.data {
            if a.left() == 0 {
                let a = self.data.take().expect("checked above");
                a.complete(sink, &mut self.out);
            }
        }
        Ok(())
    }

    fn end(self: Box<Self>, sink: &mut S) -> (Download, Option<String>) {
        let mut this = *self;
        let mut why = None;
        if let Some(a) = this.data.take() {
            let p = a.cut(sink);
            why = Some(format!("the reply ended inside the content of {p}"));
        } else if this.skip > 0 || !this.line.is_empty() {
            why = Some("the reply ended inside a record".to_string());
        }
        (this.out, why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(s: &str) -> RelPath {
        RelPath::new(s).unwrap()
    }

    fn any(_: &RelPath) -> Option<u64> {
        Some(u64::MAX)
    }

    fn getf(body: &[u8], req: &[RelPath], chunk: usize) -> (Download, Option<String>, MemorySink) {
        let mut sink = MemorySink::default();
        let mut p: Box<dyn BodyParser<MemorySink>> = Box::new(GetfStream::new(req, &any));
        for c in body.chunks(chunk) {
            p.feed(&mut sink, c).unwrap();
        }
        let (d, why) = p.end(&mut sink);
        (d, why, sink)
    }

    #[test]
    fn getf_records_stream() {
        let body = b"F 0 81ed 5 3\nabcE 1 missing\nE 2 notfile\nF 3 81a4 6 0\n";
        let req = [rel("x"), rel("y"), rel("z"), rel("e")];
        for chunk in [1, 2, 7, 1000] {
            let (mut d, why, sink) = getf(body, &req, chunk);
            assert_eq!(why, None);
            d.finish(&req);
            let paths: Vec<_> = d.entries.iter().map(|e| e.path.as_str()).collect();
            assert_eq!(paths, ["x", "e"], "chunk {chunk}");
            assert_eq!(d.entries[0].mode, 0o755);
            assert_eq!(sink.files[&rel("x")], b"abc");
            assert_eq!(sink.files[&rel("e")], b"");
            assert_eq!(d.missing, vec![rel("y")]);
            assert_eq!(d.errors[0].kind, FileErrorKind::NotFile);
            assert_eq!(
                d.entries[0].content_hash().unwrap(),
                "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
            );
        }
        let (_, why, sink) = getf(b"F 0 81ed 5 10\nabc", &req, 3);
        assert_eq!(
            why.as_deref(),
            Some("the reply ended inside the content of x")
        );
        assert_eq!(sink.aborted, vec![rel("x")]);
        assert!(sink.files.is_empty());
    }

    #[test]
    fn getf_bounds_each_file() {
        let req = [rel("x"), rel("y")];
        let expected = |p: &RelPath| (p.as_str() == "x").then_some(2);
        let mut sink = MemorySink::default();
        let mut p: Box<dyn BodyParser<MemorySink>> = Box::new(GetfStream::new(&req, &expected));
        p.feed(&mut sink, b"F 0 81a4 5 3\nabcF 1 81a4 5 1\nz")
            .unwrap();
        let (d, why) = p.end(&mut sink);
        assert_eq!(why, None);
        assert!(d.entries.is_empty() && sink.files.is_empty(), "{d:?}");
        let kinds: Vec<_> = d.errors.iter().map(|e| (e.path.as_str(), e.kind)).collect();
        assert_eq!(
            kinds,
            [("x", FileErrorKind::Changed), ("y", FileErrorKind::Unsafe)]
        );
        assert!(d.errors[0].message.contains("grew"), "{}", d.errors[0]);
    }
}
