//! Uploads: the archive ferry sends (one tar stream per batch, gzip members that skip
//! already-compressed files) and the per-file failures the container reports back.

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;

use super::error::{FileError, FileErrorKind};
use super::path::{Mtime, RelPath};

/// One file to upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadFile {
    /// Where it goes, below the sync root.
    pub path: RelPath,
    /// Its content.
    pub contents: Vec<u8>,
    /// Permission bits (`0o7777` mask is applied), e.g. `0o755` for an executable.
    pub mode: u32,
    /// Modification time to give it in the container (whole seconds with busybox tar;
    /// GNU tar keeps nanoseconds).
    pub mtime: Mtime,
}

/// One symlink to create (or put in place of what is there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadLink {
    /// Where it goes, below the sync root.
    pub path: RelPath,
    /// The target, stored as given (never resolved).
    pub target: String,
    /// Modification time to give it where the container's tar sets link times.
    pub mtime: Mtime,
}

/// Builds the tar archive of `links` (symlink entries only; GNU long names and long
/// link targets as needed).
pub(crate) fn build_links(links: &[UploadLink]) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    for l in links {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        h.set_mtime(l.mtime.secs.max(0) as u64);
        h.set_uid(0);
        h.set_gid(0);
        b.append_link(&mut h, l.path.as_str(), &l.target)?;
    }
    b.into_inner()
}

/// What an upload did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadReport {
    /// Files now in place in the container.
    pub landed: Vec<RelPath>,
    /// Files that are not, one error each; the container is unchanged for them.
    pub failed: Vec<FileError>,
    /// Bytes of payload sent (after compression).
    pub sent_bytes: u64,
    /// Whether the archive was gzip-compressed.
    pub compressed: bool,
    /// The container could not unpack the archive at all (a full disk, …): nothing of
    /// this upload landed, and every file of it is in [`UploadReport::failed`] with
    /// this reason. A smaller upload may still fit: split the batch.
    pub rejected: Option<Rejected>,
}

/// Why the container could not unpack an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Bytes available to the container's user on the sync folder's file system, when
    /// the container could tell.
    pub free: Option<u64>,
    /// `tar`'s message.
    pub message: String,
}

impl Rejected {
    /// Whether the file system is full (or the quota exceeded): busybox tar says
    /// `No space left on device`, GNU tar `Wrote only N of M bytes`.
    pub fn no_space(&self) -> bool {
        let m = self.message.to_ascii_lowercase();
        m.contains("no space left") || m.contains("quota exceeded") || m.contains("wrote only")
    }

    /// The per-file error for `path`: "no space left in the container (N KiB free on
    /// its file system)", or tar's message.
    pub fn error_for(&self, path: &str) -> FileError {
        let free = match self.free {
            Some(n) => format!("{} free on its file system", super::human_bytes(n)),
            None => "free space unknown".to_string(),
        };
        if self.no_space() {
            let detail = format!("{free}; free some space there, ferry retries");
            FileError::new(path, FileErrorKind::NoSpace, Some(&detail))
        } else {
            FileError::new(
                path,
                FileErrorKind::Move,
                Some(&format!("unpacking failed: {}; {free}", self.message)),
            )
        }
    }
}

/// The `X FREE MESSAGE` body of a `put` whose archive could not be unpacked.
pub(crate) fn parse_rejection(body: &[u8]) -> Option<Rejected> {
    let text = String::from_utf8_lossy(body);
    let rest = text.strip_prefix("X ")?;
    let (free, message) = rest.split_once(' ').unwrap_or((rest, ""));
    Some(Rejected {
        free: free.parse().ok(),
        message: message.trim().to_string(),
    })
}

/// Below this many compressible bytes, gzip does not pay: the container's `gzip`
/// process costs more than the bytes it saves on any link worth syncing over.
const COMPRESS_MIN: usize = 16 * 1024;

/// File name extensions whose content is already compressed.
const PACKED: &[&str] = &[
    "7z", "apk", "avif", "br", "bz2", "deb", "docx", "gif", "gz", "heic", "ico", "jar", "jpeg",
    "jpg", "lz4", "m4a", "mkv", "mov", "mp3", "mp4", "ogg", "pdf", "png", "rar", "rpm", "tgz",
    "war", "webm", "webp", "whl", "woff", "woff2", "xlsx", "xz", "zip", "zst",
];

/// The archive for one batch.
pub(crate) struct Archive {
    /// The bytes to send.
    pub bytes: Vec<u8>,
    /// Whether they are gzip members (the container runs `gzip -dc | tar x`).
    pub gzip: bool,
}

/// Whether compressing `data` (named `path`) is worth it: not for known compressed
/// formats, nor when a sample does not shrink by a tenth.
fn compressible(path: &RelPath, data: &[u8]) -> bool {
    let name = path.name();
    if let Some((_, ext)) = name.rsplit_once('.') {
        if PACKED.iter().any(|p| p.eq_ignore_ascii_case(ext)) {
            return false;
        }
    }
    if data.len() < 512 {
        return true;
    }
    let sample = &data[..data.len().min(8192)];
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    let _ = enc.write_all(sample);
    let out = enc.finish().unwrap_or_default();
    out.len() * 10 < sample.len() * 9
}

/// Builds the tar archive of `files` (GNU long names for paths over 100 bytes, owner 0;
/// with `pax_mtime`, a PAX `mtime` record for sub-second times: only for GNU tar, as
/// busybox tar takes the nameless PAX header for the end of the archive). With `gzip`, and when at least
/// [`COMPRESS_MIN`] bytes would be compressed, the archive becomes a series of gzip
/// members, one per run of entries: level 1 for headers and compressible files, stored
/// (level 0) for already-compressed content. `gzip -dc` reads the members as one stream.
pub(crate) fn build(
    files: &[&UploadFile],
    gzip: bool,
    pax_mtime: bool,
) -> std::io::Result<Archive> {
    let mut b = tar::Builder::new(Vec::new());
    // (start, end) of each incompressible file's data.
    let mut packed: Vec<(usize, usize)> = Vec::new();
    let mut compressible_bytes = 0usize;
    for f in files {
        if pax_mtime && f.mtime.nanos != 0 && f.mtime.secs >= 0 {
            let v = format!("{}.{:09}", f.mtime.secs, f.mtime.nanos);
            b.append_pax_extensions([("mtime", v.as_bytes())])?;
        }
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(f.contents.len() as u64);
        h.set_mode(f.mode & 0o7777);
        h.set_mtime(f.mtime.secs.max(0) as u64);
        h.set_uid(0);
        h.set_gid(0);
        b.append_data(&mut h, f.path.as_str(), &f.contents[..])?;
        if compressible(&f.path, &f.contents) {
            compressible_bytes += f.contents.len();
        } else {
            let end = b.get_ref().len();
            let padded = f.contents.len().div_ceil(512) * 512;
            packed.push((end - padded, end));
        }
    }
    let tar = b.into_inner()?;
    if !gzip || compressible_bytes < COMPRESS_MIN {
        return Ok(Archive {
            bytes: tar,
            gzip: false,
        });
    }
    let mut out = Vec::with_capacity(tar.len() / 3);
    let mut member = |range: &[u8], level: Compression| -> std::io::Result<()> {
        if range.is_empty() {
            return Ok(());
        }
        let mut enc = GzEncoder::new(&mut out, level);
        enc.write_all(range)?;
        enc.finish()?;
        Ok(())
    };
    let mut at = 0;
    for (start, end) in packed {
        member(&tar[at..start], Compression::fast())?;
        member(&tar[start..end], Compression::none())?;
        at = end;
    }
    member(&tar[at..], Compression::fast())?;
    Ok(Archive {
        bytes: out,
        gzip: true,
    })
}

/// Parses the per-file failure records of a `put`, `putf`, `rm`, `mkdir` or `mv`
/// reply: `E CODE PATH` lines, each maybe followed by `M MESSAGE`.
pub(crate) fn parse_failures(body: &[u8]) -> Vec<FileError> {
    let text = String::from_utf8_lossy(body);
    let mut out: Vec<FileError> = Vec::new();
    let mut pending: Option<(String, FileErrorKind)> = None;
    let flush = |p: &mut Option<(String, FileErrorKind)>,
                 out: &mut Vec<FileError>,
                 detail: Option<&str>| {
        if let Some((path, kind)) = p.take() {
            out.push(FileError::new(path, kind, detail));
        }
    };
    for line in text.lines() {
        if let Some(msg) = line.strip_prefix("M ") {
            flush(&mut pending, &mut out, Some(msg));
        } else if let Some(rest) = line.strip_prefix("E ") {
            flush(&mut pending, &mut out, None);
            let (code, path) = rest.split_once(' ').unwrap_or((rest, ""));
            let kind = match code {
                "readonly" => FileErrorKind::ReadOnly,
                "isdir" => FileErrorKind::IsDir,
                "parent" => FileErrorKind::Parent,
                "missing" => FileErrorKind::Missing,
                "rm" => FileErrorKind::Remove,
                "mkdir" => FileErrorKind::Mkdir,
                "changed" => FileErrorKind::Changed,
                _ => FileErrorKind::Move,
            };
            pending = Some((path.to_string(), kind));
        }
    }
    flush(&mut pending, &mut out, None);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, contents: Vec<u8>) -> UploadFile {
        UploadFile {
            path: RelPath::new(path).unwrap(),
            contents,
            mode: 0o644,
            mtime: Mtime::new(1_700_000_000, 5),
        }
    }

    #[test]
    fn archives_round_trip_through_gzip_members() {
        let text = b"fn main() {}\n".repeat(4000);
        let noise: Vec<u8> = (0..50_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let files = [
            file("src/main.rs", text.clone()),
            file("img.png", noise.clone()),
            file(&format!("{}/long", "d".repeat(120)), b"x".to_vec()),
        ];
        let refs: Vec<&UploadFile> = files.iter().collect();
        let a = build(&refs, true, true).unwrap();
        assert!(a.gzip);
        assert!(a.bytes.len() < noise.len() + 10_000, "{}", a.bytes.len());
        let mut tar_bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::MultiGzDecoder::new(&a.bytes[..]),
            &mut tar_bytes,
        )
        .unwrap();
        let mut ar = tar::Archive::new(&tar_bytes[..]);
        let mut seen = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let path = String::from_utf8(e.path_bytes().into_owned()).unwrap();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            seen.push((path, data));
        }
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0], ("src/main.rs".to_string(), text));
        assert_eq!(seen[1].1, noise);
        assert!(seen[2].0.len() > 120);
        let small = build(&refs[..1], false, false).unwrap();
        assert!(!small.gzip);
    }

    #[test]
    fn rejections_parse() {
        let r = parse_rejection(b"X 524288 tar: ./big: Cannot write: No space left on device\n")
            .unwrap();
        assert_eq!(r.free, Some(524_288));
        assert!(r.no_space());
        let e = r.error_for("big");
        assert_eq!(e.kind, FileErrorKind::NoSpace);
        assert!(e.message.contains("512 KiB free"), "{}", e.message);
        let gnu = parse_rejection(b"X 1048576 tar: big: Wrote only 4608 of 10240 bytes\n");
        assert!(gnu.unwrap().no_space());
        let r = parse_rejection(b"X - tar: short read\n").unwrap();
        assert_eq!(r.free, None);
        assert_eq!(r.error_for("x").kind, FileErrorKind::Move);
        assert!(r.error_for("x").message.contains("short read"));
        assert_eq!(parse_rejection(b"E move a\n"), None);
    }

    #[test]
    fn failures_parse() {
        let f = parse_failures(
            b"E readonly a b\nE move c\nM mv: can't rename: Permission denied\nE isdir d\n",
        );
        assert_eq!(f.len(), 3);
        assert_eq!(
            (f[0].path.as_str(), f[0].kind),
            ("a b", FileErrorKind::ReadOnly)
        );
        assert!(f[1].message.contains("Permission denied"));
        assert_eq!(f[2].kind, FileErrorKind::IsDir);
    }
}
