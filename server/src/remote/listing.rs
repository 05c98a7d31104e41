//! Listing the container's tree: the [`RemoteEntry`] records of a `list` reply.

use super::caps::MtimeFormat;
use super::error::{FileError, FileErrorKind};
use super::path::{Mtime, RelPath};
use super::toolmsg;

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
    /// A symlink's target, once read (see `Session::read_link_targets`); `None` for
    /// other kinds, and for links whose target was not read or is not synced.
    pub target: Option<String>,
}

/// The result of a listing.
///
/// **Unknown is not empty.** A path that is not among [`Listing::entries`] is gone only
/// if the listing could see where it would be: check [`Listing::is_unknown`] first. A
/// folder the container's user may not read, a `find` or `stat` that failed, a name
/// ferry cannot sync: each is an error in [`Listing::errors`], and everything at or
/// below its path is unknown — never a deletion. An error whose path is the empty
/// string is about the sync root itself: then *everything* is unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Every entry found, in the container's order (parents before children).
    pub entries: Vec<RemoteEntry>,
    /// Paths ferry cannot see or sync, one error each: names with a newline or invalid
    /// UTF-8 (a folder reported once, without its contents), and
    /// [`FileErrorKind::Unreadable`] paths (a folder `find` could not read, a path whose
    /// listing failed as a whole; `""` = the root). Each makes its subtree unknown.
    pub errors: Vec<FileError>,
    /// Requested paths that do not exist (never one that is unknown).
    pub missing: Vec<RelPath>,
    /// Symlinks ferry does not sync (see `Session::set_links`), each with why: unknown
    /// like an error's path (nothing replaces or deletes what is there), but not a
    /// failure — they are left alone on purpose.
    pub skipped_links: Vec<FileError>,
    /// The container's clock when the listing started: the mtime of a file the script
    /// touched right before (in the same format as the entries'); `None` when it could
    /// not be read.
    pub now: Option<Mtime>,
}

impl Listing {
    /// Whether the listing cannot tell what is at `path`: an error at `path` or at one
    /// of its folders, or at the root (`""`).
    pub fn is_unknown(&self, path: &RelPath) -> bool {
        let p = path.as_str();
        self.errors.iter().chain(&self.skipped_links).any(|e| {
            e.path.is_empty()
                || p == e.path
                || (p.starts_with(e.path.as_str()) && p.as_bytes().get(e.path.len()) == Some(&b'/'))
        })
    }

    /// Whether the whole tree is unknown (an error for the root itself).
    pub fn root_unknown(&self) -> bool {
        self.errors.iter().any(|e| e.path.is_empty())
    }

    /// Whether every requested path was listed completely: no
    /// [`FileErrorKind::Unreadable`] error (names ferry cannot sync do not count).
    pub fn complete(&self) -> bool {
        !self
            .errors
            .iter()
            .any(|e| e.kind == FileErrorKind::Unreadable)
    }
}

/// How deep a listing goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// The path and, for a folder, its direct children.
    Children,
    /// The path and everything below it.
    Recursive,
}

/// How the listing of one requested path went, from its `W` and `F` lines.
#[derive(Debug, Default, Clone)]
struct Part {
    /// `W` lines whose path was read.
    parsed: usize,
    /// The first `W` line that could not be read.
    unparsed: Option<String>,
    /// `find`'s exit status, when not 0.
    status: Option<String>,
}

/// The path of a tool message (`.` or `./…`) relative to the root, if it is the
/// requested path `req` (`None`: the root) or below it.
fn under<'a>(req: Option<&RelPath>, path: &'a [u8]) -> Option<&'a [u8]> {
    let rel: &[u8] = if path == b"." {
        b""
    } else {
        path.strip_prefix(b"./")?
    };
    match req {
        None => Some(rel),
        Some(r) => {
            let r = r.as_str().as_bytes();
            (rel == r || (rel.starts_with(r) && rel.get(r.len()) == Some(&b'/'))).then_some(rel)
        }
    }
}

/// Splits `I REST` into the index and the rest.
fn indexed(rest: &[u8], count: usize) -> Option<(usize, &[u8])> {
    let sp = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
    let i: usize = std::str::from_utf8(&rest[..sp]).ok()?.parse().ok()?;
    (i < count).then(|| (i, rest.get(sp + 1..).unwrap_or_default()))
}

/// Parses a `list` reply body. `requested` are the listed paths (`None` = the root), in
/// payload order (the `I` of `W I TEXT` and `F I STATUS`).
///
/// Rules for what is unknown (see [`Listing`]): a `W` line naming a path at or below the
/// requested one makes that path [`FileErrorKind::Unreadable`] (or, when it says the
/// path does not exist, means it vanished while being listed); a `W` line that cannot
/// be read, or an `F` status other than 1 (find's "some error occurred"), or an `F`
/// without any readable `W`, makes the whole requested path unreadable.
pub(crate) fn parse(
    body: &[u8],
    format: MtimeFormat,
    requested: &[Option<&RelPath>],
) -> Result<Listing, String> {
    let mut out = Listing::default();
    let mut parts = vec![Part::default(); requested.len()];
    let mut unreadable: Vec<(String, String)> = Vec::new();
    for raw in body.split(|&b| b == b'\n') {
        if raw.is_empty() {
            continue;
        }
        let bad = || format!("bad listing line {:?}", String::from_utf8_lossy(raw));
        if let Some(t) = raw.strip_prefix(b"T ") {
            out.now = std::str::from_utf8(t)
                .ok()
                .and_then(|t| parse_time(t, format));
            continue;
        }
        if raw == b"T" {
            continue;
        }
        if let Some(rest) = raw.strip_prefix(b"W ") {
            let (i, text) = indexed(rest, requested.len()).ok_or_else(bad)?;
            let shown = || String::from_utf8_lossy(text).into_owned();
            match toolmsg::parse(text) {
                Some(m) => match under(requested[i], &m.path) {
                    Some(rel) => {
                        parts[i].parsed += 1;
                        // Vanished while listed: simply not there.
                        if !m.is_gone() {
                            let path = String::from_utf8_lossy(rel).into_owned();
                            if !unreadable.iter().any(|(p, _)| *p == path) {
                                unreadable.push((path, m.reason));
                            }
                        }
                    }
                    None => {
                        parts[i].unparsed.get_or_insert_with(shown);
                    }
                },
                None => {
                    parts[i].unparsed.get_or_insert_with(shown);
                }
            }
            continue;
        }
        if let Some(rest) = raw.strip_prefix(b"F ") {
            let (i, status) = indexed(rest, requested.len()).ok_or_else(bad)?;
            parts[i].status = Some(String::from_utf8_lossy(status).into_owned());
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
        let cols: Vec<&[u8]> = raw.splitn(fields, |&b| b == b' ').collect();
        if cols.len() != fields {
            return Err(bad());
        }
        let text = |b: &[u8]| {
            std::str::from_utf8(b)
                .map(str::to_string)
                .unwrap_or_default()
        };
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
            target: None,
        });
    }
    for (i, part) in parts.iter().enumerate() {
        let whole = match (&part.unparsed, &part.status) {
            (Some(line), _) => Some(format!("the container said: {line}")),
            (None, Some(s)) if s != "1" || part.parsed == 0 => Some(format!(
                "find exited with status {s} without naming a path; the listing is incomplete"
            )),
            _ => None,
        };
        if let Some(why) = whole {
            let path = requested[i].map_or(String::new(), |r| r.as_str().to_string());
            unreadable.retain(|(p, _)| *p != path);
            unreadable.push((path, why));
        }
    }
    for (path, why) in unreadable {
        out.errors
            .push(FileError::new(path, FileErrorKind::Unreadable, Some(&why)));
    }
    for r in requested.iter().flatten() {
        let found = out.entries.iter().any(|e| &e.path == *r) || out.is_unknown(r);
        if !found {
            out.missing.push((*r).clone());
        }
    }
    Ok(out)
}

/// The `T` line's time, in the listing's format.
fn parse_time(t: &str, format: MtimeFormat) -> Option<Mtime> {
    match format {
        MtimeFormat::Human => {
            let mut f = t.splitn(3, ' ');
            Mtime::parse_human(f.next()?, f.next()?, f.next()?)
        }
        _ => Mtime::parse_decimal(t),
    }
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

    fn req(paths: &[&str]) -> Vec<RelPath> {
        paths.iter().map(|p| RelPath::new(p).unwrap()).collect()
    }

    #[test]
    fn the_clock_line_parses_in_each_format() {
        let l = parse(b"T 1700000000.25\n", MtimeFormat::Decimal, &[None]).unwrap();
        assert_eq!(l.now, Some(Mtime::new(1_700_000_000, 250_000_000)));
        let body = b"T 2023-11-14 22:13:20.000000000 +0000\n";
        let l = parse(body, MtimeFormat::Human, &[None]).unwrap();
        assert_eq!(l.now, Some(Mtime::new(1_700_000_000, 0)));
        let l = parse(b"T \n", MtimeFormat::Seconds, &[None]).unwrap();
        assert_eq!(l.now, None);
        assert!(l.complete() && l.errors.is_empty());
    }

    #[test]
    fn unreadable_folders_are_unknown_not_empty() {
        // busybox, listing the root: one folder find could not open.
        let body = b"T 5\n41ff 4096 5 .\n41c0 4096 5 ./secret\n41ed 4096 5 ./ok\n81a4 0 5 ./ok/f\n\
W 0 find: ./secret: Permission denied\nF 0 1\n";
        let l = parse(body, MtimeFormat::Seconds, &[None]).unwrap();
        assert_eq!(l.errors.len(), 1, "{:#?}", l.errors);
        assert_eq!(l.errors[0].kind, FileErrorKind::Unreadable);
        assert_eq!(l.errors[0].path, "secret");
        assert!(l.errors[0].message.contains("Permission denied"));
        assert!(!l.complete());
        assert!(l.is_unknown(&RelPath::new("secret").unwrap()));
        assert!(l.is_unknown(&RelPath::new("secret/x/y").unwrap()));
        assert!(!l.is_unknown(&RelPath::new("secretly").unwrap()));
        assert!(!l.is_unknown(&RelPath::new("ok/f").unwrap()));
        assert!(!l.root_unknown());
        assert_eq!(l.entries.len(), 3);
        // GNU, a requested path below an unreadable folder: unknown, not missing.
        let r = req(&["a/b", "gone", "c"]);
        let rr: Vec<Option<&RelPath>> = r.iter().map(Some).collect();
        let body = b"W 0 stat: cannot statx './a/b': Permission denied\nF 0 1\n\
W 1 find: './gone': No such file or directory\nF 1 1\n81a4 1 5 ./c\n";
        let l = parse(body, MtimeFormat::Seconds, &rr).unwrap();
        assert_eq!(l.missing, req(&["gone"]));
        assert_eq!(l.errors.len(), 1, "{:#?}", l.errors);
        assert_eq!(
            (l.errors[0].path.as_str(), l.errors[0].kind),
            ("a/b", FileErrorKind::Unreadable)
        );
    }

    #[test]
    fn a_failed_find_without_a_path_makes_the_requested_path_unknown() {
        // Exit 1 and nothing on stderr: the whole root is unknown.
        let body = b"T 5\n81a4 1 5 ./a\nF 0 1\n";
        let l = parse(body, MtimeFormat::Seconds, &[None]).unwrap();
        assert!(l.root_unknown());
        assert_eq!(l.errors[0].path, "");
        assert!(l.is_unknown(&RelPath::new("anything/at/all").unwrap()));
        // Killed (137) after naming one folder: still the whole path.
        let r = req(&["d"]);
        let body = b"41ed 1 5 ./d\nW 0 find: ./d/x: Permission denied\nF 0 137\n";
        let l = parse(body, MtimeFormat::Seconds, &[Some(&r[0])]).unwrap();
        let paths: Vec<_> = l.errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["d/x", "d"]);
        assert!(l.errors[1].message.contains("status 137"));
        assert!(l.missing.is_empty());
        // A line that is not a path: the requested path, whatever the status.
        let body = b"41ed 1 5 ./d\nW 0 find: fts_read failed: Cannot allocate memory\n";
        let l = parse(body, MtimeFormat::Seconds, &[Some(&r[0])]).unwrap();
        assert_eq!(l.errors.len(), 1);
        assert_eq!(l.errors[0].path, "d");
        assert!(l.errors[0].message.contains("fts_read"));
        // A path outside the requested one is not trusted either.
        let body = b"41ed 1 5 ./d\nW 0 find: ./e: Permission denied\nF 0 1\n";
        let l = parse(body, MtimeFormat::Seconds, &[Some(&r[0])]).unwrap();
        assert_eq!(l.errors.len(), 1);
        assert_eq!(l.errors[0].path, "d");
        // W and F lines for a path that was not requested are a protocol error.
        assert!(parse(b"F 3 1\n", MtimeFormat::Seconds, &[None]).is_err());
    }
}
