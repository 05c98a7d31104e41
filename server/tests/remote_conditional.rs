//! Conditional deletions in the container (`rm LEN c`) through the real scripts: a file is
//! removed only while its size and mtime are still what ferry listed, so an edit made in
//! the container after the listing is never deleted.

mod remote_support;

use ferry::remote::{FileErrorKind, RelPath};
use remote_support::{skip, Rootfs};

#[tokio::test]
async fn remote_delete_unchanged_keeps_what_the_container_changed() {
    if skip() {
        return;
    }
    for image in ["busybox", "debian"] {
        let fs = Rootfs::new(image);
        fs.sh("mkdir -p /app/d && printf one > /app/d/same && printf two > /app/d/edited && touch -d @1700000000 /app/d/same /app/d/edited && printf x > '/app/d/sp ace'");
        let mut s = fs.session().await;
        let listing = s.list_all().await.unwrap();
        let entry = |p: &str| {
            let e = listing
                .entries
                .iter()
                .find(|e| e.path.as_str() == p)
                .unwrap_or_else(|| panic!("{image}: {p} not listed"));
            (RelPath::new(p).unwrap(), e.size, e.mtime.secs)
        };
        let planned = vec![entry("d/same"), entry("d/edited"), entry("d/sp ace")];
        // The container edits one file after the listing (same size, another second).
        fs.sh("printf TWO > /app/d/edited && touch -d @1700000005 /app/d/edited");
        let failed = s.delete_unchanged(&planned).await.unwrap();
        assert_eq!(failed.len(), 1, "{image}: {failed:?}");
        assert_eq!(failed[0].path, "d/edited");
        assert_eq!(failed[0].kind, FileErrorKind::Changed);
        assert!(!fs.app("d/same").exists(), "{image}");
        assert!(!fs.app("d/sp ace").exists(), "{image}");
        assert_eq!(std::fs::read(fs.app("d/edited")).unwrap(), b"TWO");
        // A folder where a file was listed is never removed by it; a missing one is fine.
        fs.sh("mkdir /app/d/now-a-folder");
        let failed = s
            .delete_unchanged(&[
                (RelPath::new("d/now-a-folder").unwrap(), 0, 0),
                (RelPath::new("d/gone").unwrap(), 1, 1),
            ])
            .await
            .unwrap();
        assert_eq!(failed.len(), 1, "{image}: {failed:?}");
        assert!(fs.app("d/now-a-folder").is_dir());
    }
}

#[tokio::test]
async fn remote_checksums_match_the_local_hash_and_skip_what_is_no_regular_file() {
    if skip() {
        return;
    }
    for image in ["busybox", "debian"] {
        let fs = Rootfs::new(image);
        fs.sh("printf abc > /app/a && printf abc > '/app/back\\slash' && mkdir /app/d && ln -s a /app/link && mkfifo /app/fifo");
        let mut s = fs.session().await;
        let paths: Vec<RelPath> = ["a", "back\\slash", "d", "link", "fifo", "missing"]
            .iter()
            .map(|p| RelPath::new(p).unwrap())
            .collect();
        let sums = tokio::time::timeout(std::time::Duration::from_secs(20), s.checksums(&paths))
            .await
            .unwrap_or_else(|_| panic!("{image}: checksums hung (a FIFO read?)"))
            .unwrap();
        let abc = ferry::engine::racy::sha256(b"abc").0;
        assert_eq!(sums[0].as_deref(), Some(abc.as_str()), "{image}");
        assert_eq!(
            sums[1].as_deref(),
            Some(abc.as_str()),
            "{image}: a backslash name"
        );
        assert_eq!(&sums[2..], &[None, None, None, None], "{image}");
    }
}

#[tokio::test]
async fn remote_conditional_upload_never_replaces_a_container_edit() {
    use ferry::remote::{Expect, Mtime, UploadFile};
    if skip() {
        return;
    }
    let file = |p: &str, c: &str| UploadFile {
        path: RelPath::new(p).unwrap(),
        contents: c.as_bytes().to_vec(),
        mode: 0o644,
        mtime: Mtime::new(1_700_000_100, 0),
    };
    for image in ["busybox", "debian"] {
        let fs = Rootfs::new(image);
        fs.sh("printf old > /app/seen && touch -d @1600000000 /app/seen && printf theirs > /app/edited && printf new > /app/appeared");
        let mut s = fs.session().await;
        let expect = |p: &RelPath| match p.as_str() {
            "seen" => Expect::File {
                size: 3,
                secs: 1_600_000_000,
            },
            // ferry saw "edited" as 3 bytes; the container rewrote it since.
            "edited" => Expect::File {
                size: 3,
                secs: 1_600_000_000,
            },
            // ferry saw nothing at "appeared" and "fresh".
            _ => Expect::Absent,
        };
        let files = [
            file("seen", "mine"),
            file("edited", "mine"),
            file("appeared", "mine"),
            file("fresh", "mine"),
        ];
        let report = s.upload_expecting(&files, &expect).await.unwrap();
        let mut changed: Vec<&str> = report
            .failed
            .iter()
            .filter(|f| f.kind == FileErrorKind::Changed)
            .map(|f| f.path.as_str())
            .collect();
        changed.sort();
        assert_eq!(changed, ["appeared", "edited"], "{image}: {report:?}");
        assert_eq!(std::fs::read(fs.app("seen")).unwrap(), b"mine");
        assert_eq!(std::fs::read(fs.app("fresh")).unwrap(), b"mine");
        assert_eq!(std::fs::read(fs.app("edited")).unwrap(), b"theirs");
        assert_eq!(std::fs::read(fs.app("appeared")).unwrap(), b"new");
        // The session goes on; nothing of the refused files is left staged.
        s.upload(&[file("later", "x")]).await.unwrap();
        assert!(fs.app("later").exists());
    }
}

/// A symlink upload (`symlinks: portable`) is conditional like a file's: a container file
/// rewritten, or one created, since ferry looked is never replaced by the link; where
/// the container still has what ferry saw, the link lands.
#[tokio::test]
async fn remote_conditional_link_upload_never_replaces_a_container_edit() {
    use ferry::remote::{Expect, Mtime, UploadLink};
    if skip() {
        return;
    }
    let link = |p: &str, t: &str| UploadLink {
        path: RelPath::new(p).unwrap(),
        target: t.to_string(),
        mtime: Mtime::new(1_700_000_100, 0),
    };
    for image in ["busybox", "debian"] {
        let fs = Rootfs::new(image);
        fs.sh("printf old > /app/seen && touch -d @1600000000 /app/seen && printf theirs > /app/edited && printf new > /app/appeared");
        let mut s = fs.session().await;
        let expect = |p: &RelPath| match p.as_str() {
            "seen" | "edited" => Expect::File {
                size: 3,
                secs: 1_600_000_000,
            },
            _ => Expect::Absent,
        };
        let links = [
            link("seen", "t1"),
            link("edited", "t2"),
            link("appeared", "t3"),
            link("fresh", "t4"),
        ];
        let report = s.upload_links(&links, &expect).await.unwrap();
        let mut changed: Vec<&str> = report
            .failed
            .iter()
            .filter(|f| f.kind == FileErrorKind::Changed)
            .map(|f| f.path.as_str())
            .collect();
        changed.sort();
        assert_eq!(changed, ["appeared", "edited"], "{image}: {report:?}");
        let landed: Vec<&str> = report.landed.iter().map(|p| p.as_str()).collect();
        assert_eq!(landed, ["seen", "fresh"], "{image}");
        assert_eq!(
            std::fs::read_link(fs.app("seen")).unwrap().as_os_str(),
            "t1"
        );
        assert_eq!(
            std::fs::read_link(fs.app("fresh")).unwrap().as_os_str(),
            "t4"
        );
        assert_eq!(std::fs::read(fs.app("edited")).unwrap(), b"theirs");
        assert_eq!(std::fs::read(fs.app("appeared")).unwrap(), b"new");
    }
}
