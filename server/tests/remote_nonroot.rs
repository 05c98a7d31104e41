//! A non-root container whose sync folder is an emptyDir (world-writable): root-owned
//! read-only files give a clear per-file error while everything else syncs.

mod remote_support;

use std::os::unix::fs::PermissionsExt;

use ferry::remote::{FileErrorKind, MemorySink, Mtime, RelPath, SessionOptions, UploadFile};
use remote_support::{owner, require_root, Rootfs};

fn rel(s: &str) -> RelPath {
    RelPath::new(s).unwrap()
}

async fn nonroot(image: &str) {
    let fs = Rootfs::new(image);
    std::fs::write(fs.app("ro.txt"), b"root's").unwrap();
    std::fs::set_permissions(fs.app("ro.txt"), std::fs::Permissions::from_mode(0o444)).unwrap();
    std::fs::create_dir(fs.app("rodir")).unwrap();
    std::fs::write(fs.app("rodir/x"), b"root's").unwrap();
    let mut s = fs
        .session_with(fs.shell().user(1000, 1000), SessionOptions::default())
        .await;
    assert_eq!(s.capabilities().uid, Some(1000));
    assert!(s.capabilities().root_writable);
    let f = |p: &str| UploadFile {
        path: rel(p),
        contents: format!("new {p}").into_bytes(),
        mode: 0o755,
        mtime: Mtime::new(1_650_000_000, 0),
    };
    let r = s
        .upload(&[
            f("ro.txt"),
            f("ok1"),
            f("rodir/x"),
            f("rodir/new"),
            f("sub/ok2"),
        ])
        .await
        .unwrap();
    let mut failed: Vec<_> = r.failed.iter().map(|e| (e.path.as_str(), e.kind)).collect();
    failed.sort_by_key(|(p, _)| *p);
    assert_eq!(
        failed,
        [
            ("ro.txt", FileErrorKind::ReadOnly),
            ("rodir/new", FileErrorKind::Move),
            ("rodir/x", FileErrorKind::ReadOnly)
        ],
        "{image}: {:#?}",
        r.failed
    );
    let denied = r.failed.iter().find(|e| e.path == "rodir/new").unwrap();
    assert!(
        denied.message.contains("ermission denied"),
        "{image}: {}",
        denied.message
    );
    let ro = r.failed.iter().find(|e| e.path == "ro.txt").unwrap();
    assert!(ro.message.contains("read-only"), "{}", ro.message);
    eprintln!("{image}: {ro}\n{image}: {denied}");
    assert_eq!(r.landed, vec![rel("ok1"), rel("sub/ok2")]);
    assert_eq!(std::fs::read(fs.app("ro.txt")).unwrap(), b"root's");
    assert_eq!(std::fs::read(fs.app("rodir/x")).unwrap(), b"root's");
    for p in ["ok1", "sub/ok2"] {
        assert_eq!(
            std::fs::read(fs.app(p)).unwrap(),
            format!("new {p}").as_bytes()
        );
        assert_eq!(owner(&fs.app(p)), 1000);
        let mode = std::fs::metadata(fs.app(p)).unwrap().permissions().mode() & 0o7777;
        assert_eq!(
            mode, 0o755,
            "{image}: {p}: the exact mode, not masked by the umask"
        );
    }
    // Deleting inside the root-owned folder fails for that path only.
    let errs = s.delete(&[rel("rodir/x"), rel("ok1")]).await.unwrap();
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(
        (errs[0].path.as_str(), errs[0].kind),
        ("rodir/x", FileErrorKind::Remove)
    );
    assert!(!fs.app("ok1").exists());
    s.close().await.unwrap();
    // No staging folder is left behind.
    assert!(std::fs::read_dir(fs.host("/app"))
        .unwrap()
        .flatten()
        .all(|e| !e.file_name().to_string_lossy().starts_with(".ferry")));
}

#[tokio::test]
async fn remote_nonroot_busybox() {
    require_root();
    nonroot("busybox").await;
}

#[tokio::test]
async fn remote_nonroot_debian() {
    require_root();
    nonroot("debian").await;
}

#[tokio::test]
async fn remote_nonroot_without_tar() {
    require_root();
    nonroot("busybox:notar").await;
}

/// A file the container's user cannot read makes `tar` fail: the batch is fetched again
/// one path at a time, so that file is one per-file error and the others arrive. A
/// file bigger than listed is refused alone.
async fn unreadable_download(image: &str) {
    let fs = Rootfs::new(image);
    std::fs::create_dir(fs.app("d")).unwrap();
    for (p, c) in [
        ("a", "alpha"),
        ("d/b", "bravo"),
        ("secret", "root's"),
        ("grown", "0123456789"),
    ] {
        std::fs::write(fs.app(p), c).unwrap();
    }
    std::fs::set_permissions(fs.app("secret"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut s = fs
        .session_with(fs.shell().user(1000, 1000), SessionOptions::default())
        .await;
    let paths = [rel("a"), rel("secret"), rel("d/b"), rel("grown")];
    // "grown" was listed with 4 bytes.
    let expected = |p: &RelPath| Some(if p.as_str() == "grown" { 4 } else { 100 });
    let mut sink = MemorySink::default();
    let d = s.download(&paths, &expected, &mut sink).await.unwrap();
    let got: Vec<_> = sink.files.keys().map(RelPath::as_str).collect();
    assert_eq!(got, ["a", "d/b"], "{image}: {d:#?}");
    assert_eq!(sink.files[&rel("a")], b"alpha");
    assert_eq!(sink.files[&rel("d/b")], b"bravo");
    let errors: Vec<_> = d.errors.iter().map(|e| (e.path.as_str(), e.kind)).collect();
    assert_eq!(
        errors,
        [
            ("secret", FileErrorKind::Read),
            ("grown", FileErrorKind::Changed)
        ],
        "{image}: {:#?}",
        d.errors
    );
    assert!(
        d.errors[0].message.contains("ermission denied"),
        "{image}: {}",
        d.errors[0]
    );
    eprintln!("{image}: {}\n{image}: {}", d.errors[0], d.errors[1]);
    assert!(d.missing.is_empty());
    assert!(sink.aborted.is_empty());
    // The session goes on.
    s.ping().await.unwrap();
    let mut sink = MemorySink::default();
    let d = s.download(&[rel("a")], &expected, &mut sink).await.unwrap();
    assert_eq!(d.entries.len(), 1);
    s.close().await.unwrap();
}

#[tokio::test]
async fn remote_nonroot_unreadable_download_busybox() {
    require_root();
    unreadable_download("busybox").await;
}

#[tokio::test]
async fn remote_nonroot_unreadable_download_debian() {
    require_root();
    unreadable_download("debian").await;
}
