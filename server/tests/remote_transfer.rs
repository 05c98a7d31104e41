//! Uploads and downloads through a remote session: byte-exact round trips with mtime
//! and mode, hostile names, compression, per-file failures, delete/mkdir/rename, the
//! fallbacks without tar / head / dd, and a v4 stream (stdin never closed).

mod remote_support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use ferry::remote::{
    DownloadedKind, FileErrorKind, LocalShell, Mtime, PayloadReader, RelPath, Session,
    SessionOptions, UploadFile,
};
use remote_support::{download_all, hostile_names, require_root, Rootfs};

fn rel(s: &str) -> RelPath {
    RelPath::new(s).unwrap()
}

/// The SHA-256 of `data`, with the system's `sha256sum` (an independent implementation).
fn sha256(data: &[u8]) -> [u8; 32] {
    use std::io::Write;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sha256sum");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    let hex = String::from_utf8(out.stdout).unwrap();
    let mut h = [0u8; 32];
    for (i, b) in h.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    h
}

fn noise(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// A batch covering the cases: hostile names, empty, binary with every byte value,
/// executable, big compressible text, already-compressed data, sub-second mtimes.
fn batch() -> Vec<UploadFile> {
    let mut files = Vec::new();
    for (i, n) in hostile_names().into_iter().enumerate() {
        files.push(UploadFile {
            path: rel(&n),
            contents: format!("content of {n}\n").into_bytes(),
            mode: if i % 2 == 0 { 0o644 } else { 0o755 },
            mtime: Mtime::new(1_600_000_000 + i as i64, 123_456_789),
        });
    }
    let all: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    files.push(UploadFile {
        path: rel("bin/every-byte"),
        contents: all,
        mode: 0o755,
        mtime: Mtime::new(1_500_000_000, 0),
    });
    files.push(UploadFile {
        path: rel("empty"),
        contents: Vec::new(),
        mode: 0o600,
        mtime: Mtime::new(1_400_000_000, 0),
    });
    files.push(UploadFile {
        path: rel("src/big.txt"),
        contents: b"let x = 42; // some source code\n".repeat(5000),
        mode: 0o644,
        mtime: Mtime::new(1_700_000_000, 1),
    });
    files.push(UploadFile {
        path: rel("assets/photo.jpg"),
        contents: noise(300_000, 7),
        mode: 0o644,
        mtime: Mtime::new(1_700_000_001, 0),
    });
    files
}

fn check_landed(fs: &Rootfs, files: &[UploadFile], nanos: bool) {
    for f in files {
        let p = fs.app(f.path.as_str());
        let got = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {:?}: {e}", fs.image, f.path));
        assert!(
            got == f.contents,
            "{}: {:?} content differs",
            fs.image,
            f.path
        );
        let md = std::fs::metadata(&p).unwrap();
        assert_eq!(
            md.permissions().mode() & 0o7777,
            f.mode,
            "{}: {:?} mode",
            fs.image,
            f.path
        );
        assert_eq!(md.mtime(), f.mtime.secs, "{}: {:?} mtime", fs.image, f.path);
        if nanos {
            assert_eq!(
                md.mtime_nsec() as u32,
                f.mtime.nanos,
                "{}: {:?} mtime nanos",
                fs.image,
                f.path
            );
        }
    }
}

/// After a session ended: no ferry folder anywhere.
fn assert_clean(fs: &Rootfs) {
    let left = fs.sh("find /app /tmp -name '.ferry*'");
    assert!(left.is_empty(), "{}: left behind: {left}", fs.image);
}

async fn round_trip(fs: &Rootfs, s: &mut Session, nanos: bool) {
    let files = batch();
    let report = s.upload(&files).await.unwrap();
    assert!(
        report.failed.is_empty(),
        "{}: {:#?}",
        fs.image,
        report.failed
    );
    assert_eq!(report.landed.len(), files.len());
    check_landed(fs, &files, nanos);
    for p in ["/tmp/pwned", "/tmp/pwned2"] {
        assert!(
            !fs.host(p).exists(),
            "{}: a name ran as a command",
            fs.image
        );
    }
    // The staging folder holds no files between uploads, and listings never show it.
    let stage: Vec<_> = std::fs::read_dir(fs.host("/app"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".ferry"))
        .collect();
    assert!(stage.len() <= 1, "{stage:?}");
    for d in &stage {
        let files = fs.sh(&format!(
            "find '/app/{}' ! -type d",
            d.file_name().to_string_lossy()
        ));
        assert!(
            files.is_empty(),
            "{}: files left in the staging folder: {files}",
            fs.image
        );
    }
    let l = s.list_all().await.unwrap();
    assert!(l
        .entries
        .iter()
        .all(|e| !e.path.as_str().starts_with(".ferry")));

    let paths: Vec<RelPath> = files
        .iter()
        .map(|f| f.path.clone())
        .chain([rel("not-there")])
        .collect();
    let (d, got) = download_all(s, &paths).await;
    assert!(d.errors.is_empty(), "{:#?}", d.errors);
    assert_eq!(d.missing, vec![rel("not-there")]);
    for f in &files {
        let e = d
            .entries
            .iter()
            .find(|e| e.path == f.path)
            .unwrap_or_else(|| panic!("{}: {:?} not downloaded", fs.image, f.path));
        assert!(
            got.files.get(&f.path) == Some(&f.contents),
            "{}: {:?} content differs",
            fs.image,
            f.path
        );
        assert_eq!(
            e.kind,
            DownloadedKind::File {
                size: f.contents.len() as u64,
                sha256: sha256(&f.contents)
            },
            "{:?}",
            f.path
        );
        assert_eq!(e.mode, f.mode, "{:?}", f.path);
        assert_eq!(e.mtime.secs, f.mtime.secs, "{:?}", f.path);
    }
}

#[tokio::test]
async fn remote_transfer_round_trip_busybox() {
    require_root();
    let fs = Rootfs::new("busybox");
    let mut s = fs.session().await;
    round_trip(&fs, &mut s, false).await;
    let report = s.upload(&batch()).await.unwrap();
    assert!(
        report.compressed,
        "a batch with 160 kB of text is compressed"
    );
    assert!(report.sent_bytes < 420_000, "{}", report.sent_bytes);
    s.close().await.unwrap();
    assert_clean(&fs);
}

#[tokio::test]
async fn remote_transfer_round_trip_debian() {
    require_root();
    let fs = Rootfs::new("debian");
    let mut s = fs.session().await;
    round_trip(&fs, &mut s, true).await;
    s.close().await.unwrap();
    assert_clean(&fs);
}

#[tokio::test]
async fn remote_transfer_without_tar() {
    require_root();
    for image in ["busybox:notar", "debian:notar"] {
        let fs = Rootfs::new(image);
        let mut s = fs.session().await;
        assert!(s.capabilities().tar.is_none());
        round_trip(&fs, &mut s, false).await;
        // Without tar, folders and symlinks cannot be downloaded: a clear error each.
        std::os::unix::fs::symlink("empty", fs.app("lnk")).unwrap();
        let (d, _) = download_all(&mut s, &[rel("src"), rel("lnk")]).await;
        assert_eq!(d.errors.len(), 2, "{:#?}", d.errors);
        assert!(d.errors.iter().all(|e| e.kind == FileErrorKind::NotFile));
    }
}

#[tokio::test]
async fn remote_transfer_fallback_readers() {
    require_root();
    for (image, disable, reader) in [
        ("busybox", vec!["head"], PayloadReader::DdCountBytes),
        ("debian", vec!["head"], PayloadReader::DdCountBytes),
        (
            "busybox",
            vec!["head", "ddcount"],
            PayloadReader::DdBytewise,
        ),
        ("debian", vec!["head", "ddcount"], PayloadReader::DdBytewise),
        ("busybox", vec!["head", "dd"], PayloadReader::ShellLines),
        ("debian", vec!["head", "dd"], PayloadReader::ShellLines),
        (
            "busybox",
            vec!["head", "dd", "tar", "gzip"],
            PayloadReader::ShellLines,
        ),
    ] {
        let fs = Rootfs::new(image);
        let opts = SessionOptions {
            disable: disable.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let mut s = fs.session_with(fs.shell(), opts).await;
        assert_eq!(
            s.capabilities().payload_reader,
            reader,
            "{image} {disable:?}"
        );
        round_trip(&fs, &mut s, false).await;
    }
}

#[tokio::test]
async fn remote_transfer_per_file_failures_and_edits() {
    require_root();
    for image in ["busybox", "debian"] {
        let fs = Rootfs::new(image);
        let mut s = fs.session().await;
        std::fs::create_dir_all(fs.app("dir/in/the/way")).unwrap();
        std::fs::write(fs.app("plain"), b"old").unwrap();
        std::fs::write(fs.app("blocker"), b"file").unwrap();
        std::os::unix::fs::symlink("/etc", fs.app("linkdir")).unwrap();
        let f = |p: &str, c: &str| UploadFile {
            path: rel(p),
            contents: c.as_bytes().to_vec(),
            mode: 0o644,
            mtime: Mtime::new(1_600_000_000, 0),
        };
        let r = s
            .upload(&[
                f("dir/in/the/way", "x"),
                f("plain", "new"),
                f("blocker/below", "x"),
                f("ok/deep/file", "y"),
                f("plain/clash", "z"),
                f("linkdir", "replaces the link"),
            ])
            .await
            .unwrap();
        let kinds: Vec<_> = r.failed.iter().map(|e| (e.path.as_str(), e.kind)).collect();
        assert_eq!(kinds.len(), 3, "{image}: {:#?}", r.failed);
        assert!(
            kinds.contains(&("dir/in/the/way", FileErrorKind::IsDir)),
            "{kinds:?}"
        );
        assert!(
            kinds.contains(&("blocker/below", FileErrorKind::Parent)),
            "{kinds:?}"
        );
        assert!(
            kinds.contains(&("plain/clash", FileErrorKind::Parent)),
            "{kinds:?}"
        );
        assert_eq!(
            r.landed,
            vec![rel("plain"), rel("ok/deep/file"), rel("linkdir")]
        );
        let md = std::fs::symlink_metadata(fs.app("linkdir")).unwrap();
        assert!(
            md.is_file(),
            "{image}: the symlink was replaced, not followed"
        );
        assert!(
            !fs.host("/etc/linkdir").exists(),
            "{image}: written through a symlink"
        );
        assert_eq!(std::fs::read(fs.app("plain")).unwrap(), b"new");
        assert_eq!(std::fs::read(fs.app("ok/deep/file")).unwrap(), b"y");

        // mkdir, rename (file and folder), delete (file, folder, missing).
        assert!(s
            .mkdir(&[rel("made/a b"), rel("-m")])
            .await
            .unwrap()
            .is_empty());
        assert!(fs.app("made/a b").is_dir() && fs.app("-m").is_dir());
        let errs = s
            .rename(&[
                (rel("plain"), rel("made/a b/$(x)")),
                (rel("ok"), rel("-renamed")),
                (rel("ghost"), rel("g2")),
            ])
            .await
            .unwrap();
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert_eq!(
            (errs[0].path.as_str(), errs[0].kind),
            ("ghost", FileErrorKind::Missing)
        );
        assert_eq!(std::fs::read(fs.app("made/a b/$(x)")).unwrap(), b"new");
        assert!(fs.app("-renamed/deep/file").is_file() && !fs.app("ok").exists());
        let errs = s
            .delete(&[rel("-renamed"), rel("made/a b/$(x)"), rel("never")])
            .await
            .unwrap();
        assert!(errs.is_empty(), "{errs:#?}");
        assert!(!fs.app("-renamed").exists() && !fs.app("made/a b/$(x)").exists());
        assert!(fs.app("made/a b").is_dir());
        // Only missing paths: an empty answer, not an error.
        let (d, _) = download_all(&mut s, &[rel("never"), rel("nope/x")]).await;
        assert!(
            d.entries.is_empty() && d.errors.is_empty(),
            "{image}: {d:?}"
        );
        assert_eq!(d.missing, vec![rel("never"), rel("nope/x")]);
        // A folder download brings its contents.
        std::fs::write(fs.app("made/a b/f"), b"z").unwrap();
        let (d, got) = download_all(&mut s, &[rel("made")]).await;
        let paths: Vec<_> = d.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["made", "made/a b", "made/a b/f"], "{image}");
        assert_eq!(d.entries[0].kind, DownloadedKind::Dir);
        assert_eq!(got.files[&rel("made/a b/f")], b"z");
    }
}

#[tokio::test]
async fn remote_transfer_over_v4_stream() {
    require_root();
    for image in ["busybox", "debian"] {
        let fs = Rootfs::new(image);
        let shell: LocalShell = fs.shell().protocol_v4();
        let mut s = fs.session_with(shell, SessionOptions::default()).await;
        assert!(!s.supports_stdin_close());
        round_trip(&fs, &mut s, image == "debian").await;
        for _ in 0..20 {
            s.ping().await.unwrap();
        }
        let pid = s.capabilities().session_pid;
        assert!(
            !fs.processes().is_empty(),
            "session alive: stdin was never closed"
        );
        s.close().await.unwrap();
        let left = fs
            .wait_no_processes(std::time::Duration::from_secs(5))
            .await;
        assert!(left.is_empty(), "{image}: session {pid} left {left:?}");
    }
}
