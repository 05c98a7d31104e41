//! A streaming tar parser for downloads: 512-byte headers read as the bytes arrive,
//! file contents passed to a [`DownloadSink`] chunk by chunk, so memory stays constant
//! whatever the archive claims.
//!
//! Understood: ustar (with its `prefix` field), GNU (`ustar  ` magic, long names `L`
//! and long link targets `K`, base-256 numbers), PAX extended headers `x` (records
//! `path`, `linkpath`, `mtime`, `size`; others ignored) and global headers `g`
//! (skipped). The archive ends at the first all-zero block; what follows is dropped.
//! Every check of [`super::download`] applies; GNU sparse files (type `S`, or PAX
//! `GNU.sparse.*` records) are refused per file.

use std::io::Write;

use super::download::{
    member_path, target_inside, Active, BodyParser, Download, DownloadSink, DownloadedEntry,
    DownloadedKind, Expected, Gate, META_MAX,
};
use super::error::{FileError, FileErrorKind};
use super::path::{Mtime, RelPath};

const BLOCK: usize = 512;

/// Which metadata entry is being collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meta {
    LongName,
    LongLink,
    Pax,
}

/// Where the parser is.
enum State<F> {
    /// Collecting a header block (`have` bytes so far).
    Header { have: usize },
    /// Collecting a metadata entry's content.
    Meta { kind: Meta, left: u64 },
    /// A file's content (maybe dropped by the sink).
    File(Active<F>),
    /// Bytes to drop: a refused entry's content, or padding.
    Skip { left: u64 },
    /// After the end-of-archive block: everything is dropped.
    End,
}

/// Metadata for the next entry (GNU long names, PAX records).
#[derive(Default)]
struct Pending {
    name: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    size: Option<u64>,
    mtime: Option<Mtime>,
    sparse: bool,
}

/// The streaming tar parser of one `get` reply.
pub(crate) struct TarStream<'a, F> {
    gate: Gate<'a>,
    out: Download,
    state: State<F>,
    header: [u8; BLOCK],
    meta: Vec<u8>,
    pending: Pending,
    /// Padding due after the current content.
    pad: u64,
}

impl<'a, F> TarStream<'a, F> {
    pub(crate) fn new(requested: &'a [RelPath], expected: Expected<'a>) -> TarStream<'a, F> {
        TarStream {
            gate: Gate::new(requested, expected),
            out: Download::default(),
            state: State::Header { have: 0 },
            header: [0; BLOCK],
            meta: Vec::new(),
            pending: Pending::default(),
            pad: 0,
        }
    }
}

/// The padding after `size` bytes of content.
fn padding(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

/// A numeric header field: octal text (spaces or NULs around it), or GNU base-256 (high
/// bit of the first byte set; negative values are refused).
fn numeric(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        if field[0] & 0x40 != 0 {
            return None;
        }
        let mut v: u64 = u64::from(field[0] & 0x3f);
        for &b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(v);
    }
    let text: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|&b| b == b' ')
        .take_while(|&b| b != 0 && b != b' ')
        .collect();
    if text.is_empty() {
        return Some(0);
    }
    let text = std::str::from_utf8(&text).ok()?;
    u64::from_str_radix(text, 8).ok()
}

/// A NUL-terminated text field.
fn cstr(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..end]
}

/// Whether the header's checksum (unsigned or signed sum, checksum field as spaces) is
/// right.
fn checksum_ok(h: &[u8; BLOCK]) -> bool {
    let Some(stored) = numeric(&h[148..156]) else {
        return false;
    };
    let mut unsigned: u64 = 0;
    let mut signed: i64 = 0;
    for (i, &b) in h.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    stored == unsigned || i64::try_from(stored).is_ok_and(|s| s == signed)
}

/// Parses PAX records (`LEN key=value\n`) into `pending`.
fn pax_records(data: &[u8], pending: &mut Pending) -> Result<(), String> {
    let mut rest = data;
    while !rest.is_empty() {
        let sp = rest
            .iter()
            .position(|&b| b == b' ')
            .ok_or("a PAX record without a length")?;
        let len: usize = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or("a PAX record with a bad length")?;
        if len <= sp + 1 || len > rest.len() || rest[len - 1] != b'\n' {
            return Err("a malformed PAX record".into());
        }
        let record = &rest[sp + 1..len - 1];
        rest = &rest[len..];
        let eq = record
            .iter()
            .position(|&b| b == b'=')
            .ok_or("a PAX record without `=`")?;
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        let text = || std::str::from_utf8(value).ok();
        match key {
            b"path" => pending.name = Some(value.to_vec()),
            b"linkpath" => pending.link = Some(value.to_vec()),
            b"size" => {
                pending.size = Some(
                    text()
                        .and_then(|t| t.parse().ok())
                        .ok_or("a bad PAX size")?,
                )
            }
            b"mtime" => pending.mtime = text().and_then(Mtime::parse_decimal),
            k if k.starts_with(b"GNU.sparse.") => pending.sparse = true,
            _ => {}
        }
    }
    Ok(())
}

impl<F: Write> TarStream<'_, F> {
    /// A complete header block: decides what its content is.
    fn header<S: DownloadSink<File = F>>(&mut self, sink: &mut S) -> Result<(), String> {
        let h = self.header;
        if h.iter().all(|&b| b == 0) {
            self.state = State::End;
            return Ok(());
        }
        if !checksum_ok(&h) {
            return Err("a tar header with a wrong checksum".into());
        }
        let etype = h[156];
        let header_size = numeric(&h[124..136]).ok_or("a tar header with a bad size")?;
        match etype {
            b'L' | b'K' | b'x' => {
                if header_size > META_MAX {
                    return Err(format!(
                        "a tar metadata entry of {header_size} bytes (at most {META_MAX})"
                    ));
                }
                self.meta.clear();
                self.pad = padding(header_size);
                let kind = match etype {
                    b'L' => Meta::LongName,
                    b'K' => Meta::LongLink,
                    _ => Meta::Pax,
                };
                self.state = State::Meta {
                    kind,
                    left: header_size,
                };
                return self.settle(sink);
            }
            b'g' => {
                self.skip(header_size);
                return Ok(());
            }
            _ => {}
        }
        let pending = std::mem::take(&mut self.pending);
        let size = pending.size.unwrap_or(header_size);
        let ustar = &h[257..263] == b"ustar\0";
        let raw_name = pending.name.unwrap_or_else(|| {
            let name = cstr(&h[..100]);
            let prefix = cstr(&h[345..500]);
            if ustar && !prefix.is_empty() {
                [prefix, b"/", name].concat()
            } else {
                name.to_vec()
            }
        });
        let raw_link = pending.link.unwrap_or_else(|| cstr(&h[157..257]).to_vec());
        let mode = numeric(&h[100..108]).unwrap_or(0o644) as u32 & 0o777;
        let mtime = pending.mtime.unwrap_or_else(|| {
            let secs = numeric(&h[136..148]).unwrap_or(0);
            Mtime::new(i64::try_from(secs).unwrap_or(i64::MAX), 0)
        });
        let path = match member_path(&raw_name) {
            Ok(Some(p)) => p,
            Ok(None) => {
                self.skip(size);
                return Ok(());
            }
            Err((shown, kind, why)) => {
                self.out.errors.push(FileError::new(shown, kind, Some(why)));
                self.skip(size);
                return Ok(());
            }
        };
        let refuse = |this: &mut Self, why: &str| {
            this.out.errors.push(FileError::new(
                path.as_str(),
                FileErrorKind::Unsafe,
                Some(why),
            ));
            this.skip(size);
        };
        if let Err(why) = self.gate.admit(&path) {
            refuse(self, why);
            return Ok(());
        }
        let kind = match etype {
            b'0' | 0 | b'7' if pending.sparse => {
                refuse(self, "GNU sparse files are not downloaded");
                return Ok(());
            }
            b'0' | 0 | b'7' => {
                if let Err(e) = self.gate.bound(&path, size) {
                    self.out.errors.push(e);
                    self.skip(size);
                    return Ok(());
                }
                self.pad = padding(size);
                self.state = State::File(Active::begin(sink, path, size, mode, mtime));
                return self.settle(sink);
            }
            b'S' => {
                refuse(self, "GNU sparse files are not downloaded");
                return Ok(());
            }
            b'5' => DownloadedKind::Dir,
            b'2' => {
                self.gate.symlink(&path);
                let Ok(target) = String::from_utf8(raw_link) else {
                    refuse(self, "the symlink target is not UTF-8");
                    return Ok(());
                };
                if !target_inside(&path, &target) {
                    refuse(self, "the symlink points outside the sync folder");
                    return Ok(());
                }
                DownloadedKind::Symlink { target }
            }
            b'1' => {
                refuse(self, "hard links are not written");
                return Ok(());
            }
            _ => {
                refuse(
                    self,
                    "devices, FIFOs and other special files are not written",
                );
                return Ok(());
            }
        };
        self.out.entries.push(DownloadedEntry {
            path,
            kind,
            mode,
            mtime,
        });
        self.skip(size);
        Ok(())
    }

    /// Drops `size` bytes of content and their padding.
    fn skip(&mut self, size: u64) {
        self.pad = 0;
        self.state = State::Skip {
            left: size.saturating_add(padding(size)),
        };
        if size == 0 {
            self.state = State::Header { have: 0 };
        }
    }

    /// Completes entries whose content is empty, and metadata once collected.
    fn settle<S: DownloadSink<File = F>>(&mut self, sink: &mut S) -> Result<(), String> {
        match &self.state {
            State::File(a) if a.left() == 0 => {
                let State::File(a) = std::mem::replace(&mut self.state, State::End) else {
                    unreachable!()
                };
                a.complete(sink, &mut self.out);
                self.after_content();
            }
            State::Meta { kind, left: 0 } => {
                let kind = *kind;
                let data = std::mem::take(&mut self.meta);
                match kind {
                    Meta::LongName => self.pending.name = Some(cstr(&data).to_vec()),
                    Meta::LongLink => self.pending.link = Some(cstr(&data).to_vec()),
                    Meta::Pax => pax_records(&data, &mut self.pending)?,
                }
                self.after_content();
            }
            _ => {}
        }
        Ok(())
    }

    /// After content: its padding, then the next header.
    fn after_content(&mut self) {
        self.state = if self.pad > 0 {
            State::Skip { left: self.pad }
        } else {
            State::Header { have: 0 }
        };
        self.pad = 0;
    }
}

impl<S: DownloadSink> BodyParser<S> for TarStream<'_, S::File> {
    fn feed(&mut self, sink: &mut S, mut data: &[u8]) -> Result<(), String> {
        while !data.is_empty() {
            match &mut self.state {
                State::End => return Ok(()),
                State::Header { have } => {
                    let n = (BLOCK - *have).min(data.len());
                    self.header[*have..*have + n].copy_from_slice(&data[..n]);
                    *have += n;
                    data = &data[n..];
                    if *have == BLOCK {
                        self.header(sink)?;
                    }
                }
                State::Meta { left, .. } => {
                    let n = data.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                    self.meta.extend_from_slice(&data[..n]);
                    *left -= n as u64;
                    data = &data[n..];
                    self.settle(sink)?;
                }
                State::File(a) => {
                    let n = a.write(sink, data);
                    data = &data[n..];
                    self.settle(sink)?;
                }
                State::Skip { left } => {
                    let n = data.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                    *left -= n as u64;
                    data = &data[n..];
                    if *left == 0 {
                        self.state = State::Header { have: 0 };
                    }
                }
            }
        }
        Ok(())
    }

    fn end(self: Box<Self>, sink: &mut S) -> (Download, Option<String>) {
        let mut this = *self;
        let why = match std::mem::replace(&mut this.state, State::End) {
            State::End | State::Header { have: 0 } => None,
            State::Header { .. } => Some("the archive ended inside a header".to_string()),
            State::Meta { .. } => Some("the archive ended inside a metadata entry".to_string()),
            State::Skip { .. } => Some("the archive ended inside an entry".to_string()),
            State::File(a) => {
                let p = a.cut(sink);
                Some(format!("the archive ended inside the content of {p}"))
            }
        };
        (this.out, why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::download::MemorySink;

    fn rel(s: &str) -> RelPath {
        RelPath::new(s).unwrap()
    }

    fn any(_: &RelPath) -> Option<u64> {
        Some(1 << 40)
    }

    /// One raw header with a valid checksum (the `tar` crate refuses to write hostile
    /// entries).
    fn raw_header(name: &[u8], kind: u8, link: &[u8], size: u64) -> [u8; BLOCK] {
        let mut h = [0u8; BLOCK];
        h[..name.len()].copy_from_slice(name);
        h[100..107].copy_from_slice(b"0000644");
        h[108..115].copy_from_slice(b"0000000");
        h[116..123].copy_from_slice(b"0000000");
        if size < 0o77777777777 {
            h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
        } else {
            h[124] = 0x80;
            h[128..136].copy_from_slice(&size.to_be_bytes());
        }
        h[136..147].copy_from_slice(b"00000000001");
        h[156] = kind;
        h[157..157 + link.len()].copy_from_slice(link);
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&x| x as u32).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        h
    }

    fn raw_entry(b: &mut Vec<u8>, name: &[u8], kind: u8, link: &[u8], data: &[u8]) {
        b.extend_from_slice(&raw_header(name, kind, link, data.len() as u64));
        b.extend_from_slice(data);
        b.resize(b.len().div_ceil(BLOCK) * BLOCK, 0);
    }

    struct Run {
        d: Download,
        why: Option<String>,
        sink: MemorySink,
    }

    fn run_with(bytes: &[u8], req: &[RelPath], chunk: usize, expected: Expected<'_>) -> Run {
        let mut sink = MemorySink::default();
        let mut p: Box<dyn BodyParser<MemorySink>> = Box::new(TarStream::new(req, expected));
        let mut why = None;
        for c in bytes.chunks(chunk) {
            if let Err(e) = p.feed(&mut sink, c) {
                why = Some(e);
                break;
            }
        }
        let (mut d, end_why) = p.end(&mut sink);
        d.finish(req);
        Run {
            d,
            why: why.or(end_why),
            sink,
        }
    }

    fn run(bytes: &[u8], req: &[RelPath], chunk: usize) -> Run {
        run_with(bytes, req, chunk, &any)
    }

    #[test]
    fn hostile_archives_are_refused() {
        let mut b = Vec::new();
        raw_entry(&mut b, b"./a/ok", b'0', b"", b"fine");
        raw_entry(&mut b, b"../evil", b'0', b"", b"x");
        raw_entry(&mut b, b"/etc/evil", b'0', b"", b"x");
        raw_entry(&mut b, b"a/../../evil", b'0', b"", b"x");
        raw_entry(&mut b, b"a/link", b'2', b"/etc", b"");
        raw_entry(&mut b, b"a/link/passwd", b'0', b"", b"x");
        raw_entry(&mut b, b"a/up", b'2', b"../../x", b"");
        raw_entry(&mut b, b"a/rel", b'2', b"ok", b"");
        raw_entry(&mut b, b"a/hard", b'1', b"/etc/shadow", b"");
        raw_entry(&mut b, b"a/dev", b'3', b"", b"");
        raw_entry(&mut b, b"a/ok", b'0', b"", b"again");
        raw_entry(&mut b, b"other", b'0', b"", b"x");
        b.extend_from_slice(&[0; 1024]);
        for chunk in [1, 100, 512, 513, b.len()] {
            let r = run(&b, &[rel("a"), rel("gone")], chunk);
            assert_eq!(r.why, None);
            let paths: Vec<_> = r.d.entries.iter().map(|e| e.path.as_str()).collect();
            assert_eq!(paths, ["a/ok", "a/rel"], "chunk {chunk}");
            assert_eq!(r.sink.files.len(), 1);
            assert_eq!(r.sink.files[&rel("a/ok")], b"fine");
            let refused: Vec<_> = r.d.errors.iter().map(|e| e.path.as_str()).collect();
            assert_eq!(
                refused,
                [
                    "../evil",
                    "/etc/evil",
                    "a/../../evil",
                    "a/link",
                    "a/link/passwd",
                    "a/up",
                    "a/hard",
                    "a/dev",
                    "a/ok",
                    "other"
                ],
                "{:#?}",
                r.d.errors
            );
            assert!(r.d.errors.iter().all(|e| e.kind == FileErrorKind::Unsafe));
            assert_eq!(r.d.missing, vec![rel("gone")]);
        }
    }

    #[test]
    fn what_is_not_tar_is_an_error() {
        let r = run(b"not a tar archive at all, no sir", &[rel("a")], 7);
        assert_eq!(r.why.as_deref(), Some("the archive ended inside a header"));
        assert!(r.d.entries.is_empty() && r.d.errors.is_empty());
        let r = run(&[b'x'; 1024], &[rel("a")], 1024);
        assert_eq!(r.why.as_deref(), Some("a tar header with a wrong checksum"));
        // Cut inside a file: the sink drops it.
        let mut b = Vec::new();
        raw_entry(&mut b, b"a", b'0', b"", &[7; 1000]);
        let r = run(&b[..700], &[rel("a")], 64);
        assert_eq!(
            r.why.as_deref(),
            Some("the archive ended inside the content of a")
        );
        assert_eq!(r.sink.aborted, vec![rel("a")]);
        assert!(r.d.entries.is_empty() && r.sink.files.is_empty());
        // An empty body (nothing to send) is an empty download.
        let r = run(b"", &[rel("a")], 1);
        assert_eq!(r.why, None);
        assert_eq!(r.d.missing, vec![rel("a")]);
    }

    #[test]
    fn sparse_and_oversized_entries_are_refused_per_file() {
        // A GNU sparse entry claiming 1 TiB in a 2 KB archive.
        let mut b = Vec::new();
        let mut h = raw_header(b"a/huge", b'S', b"", 512);
        h[483..495].copy_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&x| x as u32).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        b.extend_from_slice(&h);
        b.extend_from_slice(&[1; 512]);
        // A plain entry claiming more than expected, and one within bounds.
        b.extend_from_slice(&raw_header(b"a/grown", b'0', b"", 5000));
        b.extend_from_slice(&[2; 5120]);
        raw_entry(&mut b, b"a/fine", b'0', b"", b"ok");
        b.extend_from_slice(&[0; 1024]);
        let expected = |p: &RelPath| match p.as_str() {
            "a/grown" => Some(4000),
            _ => Some(10),
        };
        let r = run_with(&b, &[rel("a")], 300, &expected);
        assert_eq!(r.why, None);
        let errs: Vec<_> =
            r.d.errors
                .iter()
                .map(|e| (e.path.as_str(), e.kind))
                .collect();
        assert_eq!(
            errs,
            [
                ("a/huge", FileErrorKind::Unsafe),
                ("a/grown", FileErrorKind::Changed)
            ]
        );
        assert!(r.d.errors[0].message.contains("sparse"));
        assert!(r.d.errors[1].message.contains("grew since it was listed"));
        let paths: Vec<_> = r.d.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["a/fine"]);
        assert_eq!(r.sink.files.keys().collect::<Vec<_>>(), [&rel("a/fine")]);
        // A size the archive cannot even hold: refused before any byte, then the
        // archive breaks off (the claimed content is not there).
        let mut b = Vec::new();
        b.extend_from_slice(&raw_header(b"a/big", b'0', b"", 1 << 50));
        b.extend_from_slice(&[0; 2048]);
        let r = run(&b, &[rel("a")], 512);
        assert_eq!(r.d.errors[0].kind, FileErrorKind::Changed);
        assert!(r.sink.files.is_empty() && r.sink.aborted.is_empty());
        assert_eq!(r.why.as_deref(), Some("the archive ended inside an entry"));
    }

    #[test]
    fn gnu_and_pax_extensions_are_read() {
        let long = format!("a/{}/{}", "d".repeat(120), "f".repeat(80));
        let mut b = tar::Builder::new(Vec::new());
        // GNU long name (the tar crate writes an `L` entry for it).
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o755);
        h.set_mtime(1_700_000_000);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, &long, &b"abc"[..]).unwrap();
        // PAX path, mtime and size, after a global header that is skipped.
        let mut g = tar::Header::new_ustar();
        g.set_entry_type(tar::EntryType::XGlobalHeader);
        g.set_size(19);
        g.set_cksum();
        b.append(&g, &b"19 comment=ignored\n"[..]).unwrap();
        b.append_pax_extensions([
            ("path", &b"a/pax name"[..]),
            ("mtime", &b"1600000000.25"[..]),
            ("size", &b"4"[..]),
        ])
        .unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_size(99);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_path("a/short").unwrap();
        h.set_cksum();
        // The header says 99 bytes, PAX says 4: 4 are read.
        let mut raw = b.get_ref().clone();
        raw.extend_from_slice(h.as_bytes());
        let mut data = b"wxyz".to_vec();
        data.resize(512, 0);
        raw.extend_from_slice(&data);
        // A GNU long link target for a symlink inside the root.
        let target = format!("{}/x", "t".repeat(150));
        let mut l = tar::Header::new_gnu();
        l.set_entry_type(tar::EntryType::GNULongLink);
        l.set_size(target.len() as u64 + 1);
        l.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
        l.set_cksum();
        raw.extend_from_slice(l.as_bytes());
        let mut t = target.clone().into_bytes();
        t.push(0);
        t.resize(t.len().div_ceil(512) * 512, 0);
        raw.extend_from_slice(&t);
        raw.extend_from_slice(&raw_header(b"a/lnk", b'2', b"", 0));
        raw.extend_from_slice(&[0; 1024]);
        for chunk in [1, 511, 4096] {
            let r = run(&raw, &[rel("a")], chunk);
            assert_eq!(r.why, None, "chunk {chunk}: {:#?}", r.d);
            assert!(r.d.errors.is_empty(), "{:#?}", r.d.errors);
            let paths: Vec<_> = r.d.entries.iter().map(|e| e.path.as_str()).collect();
            assert_eq!(paths, [long.as_str(), "a/pax name", "a/lnk"]);
            assert_eq!(r.sink.files[&rel(&long)], b"abc");
            assert_eq!(r.d.entries[0].mode, 0o755);
            assert_eq!(r.d.entries[0].mtime, Mtime::new(1_700_000_000, 0));
            assert_eq!(r.sink.files[&rel("a/pax name")], b"wxyz");
            assert_eq!(r.d.entries[1].mtime, Mtime::new(1_600_000_000, 250_000_000));
            assert_eq!(
                r.d.entries[2].kind,
                DownloadedKind::Symlink {
                    target: target.clone()
                }
            );
        }
    }

    #[test]
    fn metadata_entries_are_bounded() {
        let mut b = Vec::new();
        b.extend_from_slice(&raw_header(b"././@LongLink", b'L', b"", 10 << 20));
        b.extend_from_slice(&[b'a'; 4096]);
        let r = run(&b, &[rel("a")], 512);
        assert_eq!(
            r.why.as_deref(),
            Some("a tar metadata entry of 10485760 bytes (at most 262144)")
        );
        // PAX sparse records make a regular entry a refused sparse file.
        let mut b = tar::Builder::new(Vec::new());
        b.append_pax_extensions([("GNU.sparse.realsize", &b"1099511627776"[..])])
            .unwrap();
        let mut raw = b.get_ref().clone();
        raw_entry(&mut raw, b"a/GNUSparseFile.0/s", b'0', b"", b"xx");
        raw.extend_from_slice(&[0; 1024]);
        let r = run(&raw, &[rel("a")], 512);
        assert_eq!(r.why, None);
        assert_eq!(r.d.errors.len(), 1);
        assert!(r.d.errors[0].message.contains("sparse"));
        assert!(r.sink.files.is_empty());
    }

    #[test]
    fn numbers_parse() {
        assert_eq!(numeric(b"00000000012\0"), Some(10));
        assert_eq!(numeric(b"     12 \0"), Some(10));
        assert_eq!(numeric(b"\0\0\0"), Some(0));
        assert_eq!(
            numeric(&[0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]),
            Some(1 << 32)
        );
        assert_eq!(numeric(&[0xff; 12]), None);
        assert_eq!(numeric(b"9"), None);
        assert_eq!(padding(0), 0);
        assert_eq!(padding(1), 511);
        assert_eq!(padding(512), 0);
    }
}
