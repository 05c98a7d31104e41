//! Downloads: ferry parses what the container sends (a tar archive, or `getf` records
//! without tar) itself and hands the engine entries as data, after checking that every
//! one stays inside the sync root. The container is not trusted: an entry with an
//! absolute path, a `..` component, a path below a symlink of the same archive, a
//! symlink pointing out of the root, a hard link or a device becomes a
//! [`FileErrorKind::Unsafe`] error, and entries that were not asked for are refused.
//!
//! The engine writing the entries must still not follow symlinks that already exist on
//! the local side (e.g. open with `O_NOFOLLOW`, check parents): this module can only
//! check the archive.

use std::io::Read;

use super::error::{FileError, FileErrorKind};
use super::path::{Mtime, RelPath};

/// What a downloaded entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadedKind {
    /// A regular file and its content.
    File {
        /// The content.
        contents: Vec<u8>,
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

/// The result of a download.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Download {
    /// The entries, in archive order (a folder before its contents).
    pub entries: Vec<DownloadedEntry>,
    /// Entries refused or unreadable, one error each.
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

    /// Records as missing every requested path with nothing at or below it.
    fn finish(&mut self, requested: &[RelPath]) {
        for r in requested {
            let below = |p: &str| {
                p == r.as_str()
                    || p.strip_prefix(r.as_str())
                        .is_some_and(|s| s.starts_with('/'))
            };
            let seen = self
                .entries
                .iter()
                .any(|e| &e.path == r || r.is_ancestor_of(&e.path))
                || self.errors.iter().any(|e| below(&e.path));
            if !seen {
                self.missing.push(r.clone());
            }
        }
    }
}

/// Checks an archive member's path: relative (leading `./` dropped), no `..`, `.` or
/// empty components, UTF-8, no newline. `Ok(None)` for the root itself (`.` or `./`).
fn member_path(raw: &[u8]) -> Result<Option<RelPath>, (String, FileErrorKind, &'static str)> {
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

/// Whether a symlink at `link` with `target` stays inside the root (lexically).
fn target_inside(link: &RelPath, target: &str) -> bool {
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

/// Parses and checks a tar archive from the container; `requested` are the paths asked
/// for (entries must be one of them or below one). An archive that is not valid tar is
/// an error as a whole.
pub fn parse_archive(bytes: &[u8], requested: &[RelPath]) -> Result<Download, String> {
    let mut out = Download::default();
    let mut symlinks: Vec<RelPath> = Vec::new();
    let mut ar = tar::Archive::new(bytes);
    let entries = ar
        .entries()
        .map_err(|e| format!("not a tar archive: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("corrupt tar archive: {e}"))?;
        let etype = entry.header().entry_type();
        if matches!(etype, tar::EntryType::XGlobalHeader) {
            continue;
        }
        let raw = entry.path_bytes().into_owned();
        let path = match member_path(&raw) {
            Ok(Some(p)) => p,
            Ok(None) => continue,
            Err((shown, kind, why)) => {
                out.errors.push(FileError::new(shown, kind, Some(why)));
                continue;
            }
        };
        let refuse = |out: &mut Download, why: &str| {
            out.errors.push(FileError::new(
                path.as_str(),
                FileErrorKind::Unsafe,
                Some(why),
            ));
        };
        if !requested
            .iter()
            .any(|r| &path == r || r.is_ancestor_of(&path))
        {
            refuse(
                &mut out,
                "the container sent an entry that was not asked for",
            );
            continue;
        }
        if symlinks.iter().any(|s| s.is_ancestor_of(&path)) {
            refuse(
                &mut out,
                "the path lies below a symlink of the same archive",
            );
            continue;
        }
        let header = entry.header();
        let mode = header.mode().unwrap_or(0o644) & 0o777;
        let mut mtime = Mtime::new(header.mtime().unwrap_or(0) as i64, 0);
        if let Ok(Some(pax)) = entry.pax_extensions() {
            for ext in pax.flatten() {
                if ext.key() == Ok("mtime") {
                    if let Some(t) = ext.value().ok().and_then(Mtime::parse_decimal) {
                        mtime = t;
                    }
                }
            }
        }
        let kind = match etype {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let mut contents = Vec::new();
                entry
                    .read_to_end(&mut contents)
                    .map_err(|e| format!("corrupt tar archive at {path}: {e}"))?;
                DownloadedKind::File { contents }
            }
            tar::EntryType::Directory => DownloadedKind::Dir,
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                let Ok(target) = String::from_utf8(target) else {
                    refuse(&mut out, "the symlink target is not UTF-8");
                    continue;
                };
                symlinks.push(path.clone());
                if !target_inside(&path, &target) {
                    refuse(&mut out, "the symlink points outside the sync folder");
                    continue;
                }
                DownloadedKind::Symlink { target }
            }
            tar::EntryType::Link => {
                refuse(&mut out, "hard links are not written");
                continue;
            }
            _ => {
                refuse(
                    &mut out,
                    "devices, FIFOs and other special files are not written",
                );
                continue;
            }
        };
        out.entries.push(DownloadedEntry {
            path,
            kind,
            mode,
            mtime,
        });
    }
    out.finish(requested);
    Ok(out)
}

/// Parses a `getf` reply (downloads without tar): per requested path, in order,
/// `F INDEX MODEHEX MTIME SIZE\n` and SIZE bytes, or `E INDEX CODE\n`.
pub(crate) fn parse_files(body: &[u8], requested: &[RelPath]) -> Result<Download, String> {
    let mut out = Download::default();
    let mut rest = body;
    while !rest.is_empty() {
        let nl = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("truncated getf record")?;
        let line = std::str::from_utf8(&rest[..nl]).map_err(|_| "getf record is not text")?;
        rest = &rest[nl + 1..];
        let f: Vec<&str> = line.split(' ').collect();
        let path = |i: &str| -> Result<&RelPath, String> {
            i.parse::<usize>()
                .ok()
                .and_then(|i| requested.get(i))
                .ok_or_else(|| format!("bad index in getf record {line:?}"))
        };
        match f.as_slice() {
            ["F", i, mode, mtime, size] => {
                let p = path(i)?;
                let size: usize = size
                    .parse()
                    .map_err(|_| format!("bad getf record {line:?}"))?;
                if size > rest.len() {
                    return Err("truncated getf content".into());
                }
                let mode = u32::from_str_radix(mode, 16)
                    .map_err(|_| format!("bad getf record {line:?}"))?;
                out.entries.push(DownloadedEntry {
                    path: p.clone(),
                    kind: DownloadedKind::File {
                        contents: rest[..size].to_vec(),
                    },
                    mode: mode & 0o777,
                    mtime: Mtime::parse_decimal(mtime)
                        .ok_or_else(|| format!("bad getf record {line:?}"))?,
                });
                rest = &rest[size..];
            }
            ["E", i, code] => {
                let p = path(i)?;
                let kind = match *code {
                    "missing" => continue,
                    "notfile" => FileErrorKind::NotFile,
                    _ => FileErrorKind::Read,
                };
                let detail = (kind == FileErrorKind::NotFile).then_some(
                    "without tar in the container, only regular files can be downloaded",
                );
                out.errors.push(FileError::new(p.as_str(), kind, detail));
            }
            _ => return Err(format!("bad getf record {line:?}")),
        }
    }
    out.finish(requested);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(s: &str) -> RelPath {
        RelPath::new(s).unwrap()
    }

    fn raw_entry(b: &mut Vec<u8>, name: &[u8], kind: u8, link: &[u8], data: &[u8]) {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name);
        h[100..107].copy_from_slice(b"0000644");
        h[108..115].copy_from_slice(b"0000000");
        h[116..123].copy_from_slice(b"0000000");
        h[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
        h[136..147].copy_from_slice(b"00000000001");
        h[156] = kind;
        h[157..157 + link.len()].copy_from_slice(link);
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&x| x as u32).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        b.extend_from_slice(&h);
        b.extend_from_slice(data);
        b.resize(b.len().div_ceil(512) * 512, 0);
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
        raw_entry(&mut b, b"other", b'0', b"", b"x");
        b.extend_from_slice(&[0; 1024]);
        let d = parse_archive(&b, &[rel("a"), rel("gone")]).unwrap();
        let paths: Vec<_> = d.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["a/ok", "a/rel"]);
        assert_eq!(
            d.entries[0].kind,
            DownloadedKind::File {
                contents: b"fine".to_vec()
            }
        );
        assert_eq!(d.errors.len(), 8, "{:#?}", d.errors);
        assert!(d.errors.iter().all(|e| e.kind == FileErrorKind::Unsafe));
        assert_eq!(d.missing, vec![rel("gone")]);
        assert!(
            parse_archive(b"not a tar archive at all, no sir", &[rel("a")]).is_err() || {
                let d = parse_archive(b"not a tar archive at all, no sir", &[rel("a")]).unwrap();
                d.entries.is_empty()
            }
        );
    }

    #[test]
    fn getf_records_parse() {
        let body = b"F 0 81ed 5 3\nabcE 1 missing\nE 2 notfile\n";
        let d = parse_files(body, &[rel("x"), rel("y"), rel("z")]).unwrap();
        assert_eq!(d.entries.len(), 1);
        assert_eq!(d.entries[0].mode, 0o755);
        assert_eq!(d.missing, vec![rel("y")]);
        assert_eq!(d.errors[0].kind, FileErrorKind::NotFile);
    }
}
