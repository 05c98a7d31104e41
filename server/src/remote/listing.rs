//! Listing the container's tree: the [`RemoteEntry`] records of a `list` reply.

use super::caps::MtimeFormat;
use super::error::{FileError, FileErrorKind};
use super::path::{Mtime, RelPath};

/// What kind of file system object an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A folder.
    Dir,
    /// A symbolic link (not followed; `size` is the target's length).
    Symlink,
    /// A device, FIFO or socket.
    Other,
}

/// One entry of the container's tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteEntry {
    /// Path below the sync root.
    pub path: RelPath,
    /// What it is.
    pub kind: EntryKind,
    /// Size in bytes.
    pub size: u64,
    /// Modification time (nanoseconds when the container's `stat` has them).
    pub mtime: Mtime,
    /// Permission bits (`0o7777` mask).
    pub mode: u32,
}

/// The result of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Every entry found, in the container's order (parents before children).
    pub entries: Vec<RemoteEntry>,
    /// Entries ferry cannot sync (a newline in the name, invalid UTF-8), one error
    /// each; a folder with such a name is reported once, without its contents.
    pub errors: Vec<FileError>,
    /// Requested paths that do not exist.
    pub missing: Vec<RelPath>,
}

/// How deep a listing goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// The path and, for a folder, its direct children.
    Children,
    /// The path and everything below it.
    Recursive,
}

/// Parses a `list` reply body. `requested` are the listed paths (`None` = the root).
pub(crate) fn parse(
    body: &[u8],
    format: MtimeFormat,
    requested: &[Option<&RelPath>],
) -> Result<Listing, String> {
    let mut out = Listing::default();
    for raw in body.split(|&b| b == b'\n') {
        if raw.is_empty() {
            continue;
        }
        if let Some(name) = raw.strip_prefix(b"! ") {
            let shown =
                String::from_utf8_lossy(name.strip_prefix(b"./").unwrap_or(name)).into_owned();
            out.errors
                .push(FileError::new(shown, FileErrorKind::NewlineInName, None));
            continue;
        }
        let fields = if format == MtimeFormat::Human { 6 } else { 4 };
        let mut parts = raw.splitn(fields, |&b| b == b' ');
        let cols: Vec<&[u8]> = (&mut parts).collect();
        if cols.len() != fields {
            return Err(format!(
                "bad listing line {:?}",
                String::from_utf8_lossy(raw)
            ));
        }
        let text = |b: &[u8]| {
            std::str::from_utf8(b)
                .map(str::to_string)
                .unwrap_or_default()
        };
        let bad = || format!("bad listing line {:?}", String::from_utf8_lossy(raw));
        let mode = u32::from_str_radix(&text(cols[0]), 16).map_err(|_| bad())?;
        let size: u64 = text(cols[1]).parse().map_err(|_| bad())?;
        let mtime = match format {
            MtimeFormat::Human => {
                Mtime::parse_human(&text(cols[2]), &text(cols[3]), &text(cols[4]))
            }
            _ => Mtime::parse_decimal(&text(cols[2])),
        }
        .ok_or_else(bad)?;
        let name = cols[fields - 1];
        let rel: &[u8] = if name == b"." {
            continue;
        } else {
            name.strip_prefix(b"./").ok_or_else(bad)?
        };
        let Ok(rel) = std::str::from_utf8(rel) else {
            out.errors.push(FileError::new(
                String::from_utf8_lossy(rel).into_owned(),
                FileErrorKind::InvalidUtf8,
                None,
            ));
            continue;
        };
        let path = match RelPath::new(rel) {
            Ok(path) => path,
            // A carriage return (a newline is flagged by the container as `!`).
            Err(e) if rel.contains('\r') => {
                out.errors.push(FileError::new(
                    rel.escape_debug().to_string(),
                    FileErrorKind::NewlineInName,
                    Some(&e.to_string()),
                ));
                continue;
            }
            Err(e) => return Err(format!("bad path in listing: {e}")),
        };
        let kind = match mode & 0o170000 {
            0o100000 => EntryKind::File,
            0o040000 => EntryKind::Dir,
            0o120000 => EntryKind::Symlink,
            _ => EntryKind::Other,
        };
        out.entries.push(RemoteEntry {
            path,
            kind,
            size,
            mtime,
            mode: mode & 0o7777,
        });
    }
    for r in requested.iter().flatten() {
        let found = out.entries.iter().any(|e| &e.path == *r)
            || out.errors.iter().any(|e| e.path == r.as_str());
        if !found {
            out.missing.push((*r).clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_lines_parse() {
        let body = b"41ed 4096 1700000000.5 .\n81a4 3 1700000001.000000001 ./a b\n! ./x\\ny\n81ed 0 1 ./bad\xff\n";
        let l = parse(body, MtimeFormat::Decimal, &[None]).unwrap();
        assert_eq!(l.entries.len(), 1);
        assert_eq!(l.entries[0].path.as_str(), "a b");
        assert_eq!(l.entries[0].mode, 0o644);
        assert_eq!(l.entries[0].kind, EntryKind::File);
        assert_eq!(l.entries[0].mtime, Mtime::new(1_700_000_001, 1));
        assert_eq!(l.errors.len(), 2);
        assert_eq!(l.errors[0].kind, FileErrorKind::NewlineInName);
        assert_eq!(l.errors[0].path, "x\\ny");
        assert_eq!(l.errors[1].kind, FileErrorKind::InvalidUtf8);
        let body = b"a1ff 7 2023-11-14 22:13:20.000000000 +0000 ./l n k\n";
        let want = RelPath::new("gone").unwrap();
        let l = parse(body, MtimeFormat::Human, &[Some(&want)]).unwrap();
        assert_eq!(l.entries[0].kind, EntryKind::Symlink);
        assert_eq!(l.entries[0].path.as_str(), "l n k");
        assert_eq!(l.entries[0].mtime, Mtime::new(1_700_000_000, 0));
        assert_eq!(l.missing, vec![want]);
    }
}
