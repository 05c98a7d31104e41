//! The container marker through the real scripts (busybox and debian root file systems):
//! where it may live, reading it, moving its generation on, refusing hostile contents, and
//! the read-only session of a dry run.

mod remote_support;

use ferry::remote::place::{self, marker_dir};
use ferry::remote::{SessionError, SessionOptions};
use remote_support::{skip, Rootfs, ROOT};

#[tokio::test]
async fn remote_marker_is_created_moved_on_and_kept_beside_the_folder() {
    if skip() {
        return;
    }
    for image in ["busybox", "debian"] {
        let fs = Rootfs::new(image);
        let mut s = fs.session().await;
        let report = s.places().await.unwrap();
        let root = report
            .candidates
            .iter()
            .find(|c| c.name == "root")
            .unwrap_or_else(|| panic!("{image}: no root in {report:?}"));
        assert_eq!(root.path, ROOT);
        let chosen = place::choose(&report).unwrap_or_else(|| panic!("{image}: {report:?}"));
        // No /proc in the chroot: only the parent or the folder itself qualify; as root the
        // parent (/) is writable and on the same device.
        assert_eq!(chosen.name, "parent", "{image}: {report:?}");
        let dir = marker_dir(&chosen.path, ROOT);
        assert_eq!(dir, "/.ferry/app");

        let first = s.mark(&dir, "tokenA", true).await.unwrap();
        assert_eq!(
            (first.token.as_deref(), first.before, first.after),
            (Some("tokenA"), 0, 1)
        );
        assert!(first.root_inode.is_some());
        let read = s.mark(&dir, "tokenB", false).await.unwrap();
        assert_eq!(
            (read.token.as_deref(), read.before, read.after),
            (Some("tokenA"), 1, 1),
            "reading moves nothing and ignores the fresh token"
        );
        let second = s.mark(&dir, "tokenB", true).await.unwrap();
        assert_eq!(
            (second.token.as_deref(), second.before, second.after),
            (Some("tokenA"), 1, 2)
        );
        assert_eq!(
            std::fs::read_to_string(fs.host("/.ferry/app/marker")).unwrap(),
            "ferry-marker 1 tokenA 2\n"
        );
        // Nothing of the marker is in the sync folder.
        assert_eq!(std::fs::read_dir(fs.host(ROOT)).unwrap().count(), 0);

        // A hostile or damaged marker is no marker: replaced, never echoed.
        for junk in [
            "ferry-marker 1 $(touch /tmp/pwned) 5\n",
            "ferry-marker 1 tok 99999999999999999999\n",
            "ferry-marker 2 tok 5\n",
            // A leading zero would be octal to the shell's arithmetic.
            "ferry-marker 1 tok 010\n",
            "ferry-marker 1 tok 08\n",
            "garbage\n",
        ] {
            std::fs::write(fs.host("/.ferry/app/marker"), junk).unwrap();
            let m = s.mark(&dir, "fresh", true).await.unwrap();
            assert_eq!(
                (m.token.as_deref(), m.before, m.after),
                (Some("fresh"), 0, 1),
                "{image}: {junk:?}"
            );
        }
        assert!(!fs.host("/tmp/pwned").exists());

        // A folder made anew (here: another folder moved in its place, so that the file
        // system cannot hand the freed inode straight back) has another inode.
        let before = s.mark(&dir, "x", false).await.unwrap().root_inode;
        fs.sh("mkdir /app.new && chmod 777 /app.new && rmdir /app && mv /app.new /app");
        let after = s.mark(&dir, "x", false).await.unwrap().root_inode;
        assert_ne!(before, after, "{image}");
    }
}

#[tokio::test]
async fn remote_marker_without_a_writable_place_says_why() {
    if skip() {
        return;
    }
    for image in ["busybox", "debian"] {
        let fs = Rootfs::new(image);
        // As a user who can write neither / nor /app, nor (without a mount table) /tmp.
        fs.sh("chmod 755 /app");
        let shell = fs.shell().user(1000, 1000);
        let mut s = fs.session_with(shell, SessionOptions::default()).await;
        let report = s.places().await.unwrap();
        assert_eq!(place::choose(&report), None, "{image}: {report:?}");
        // Writing where the user may not: reported, nothing written.
        let m = s.mark("/.ferry/app", "tok", true).await.unwrap();
        assert!(!m.written(), "{image}: {m:?}");
        assert!(m.error.is_some(), "{image}: {m:?}");
    }
}

#[tokio::test]
async fn remote_read_only_session_changes_nothing() {
    if skip() {
        return;
    }
    for image in ["busybox", "debian"] {
        let fs = Rootfs::new(image);
        std::fs::write(fs.app("a.txt"), b"x").unwrap();
        let opts = SessionOptions {
            read_only: true,
            ..SessionOptions::default()
        };
        let mut s = fs.session_with(fs.shell(), opts.clone()).await;
        let listing = s.list_all().await.unwrap();
        assert_eq!(listing.entries.len(), 1);
        let err = s.mark("/.ferry/app", "tok", true).await.unwrap_err();
        assert!(
            matches!(&err, SessionError::Remote { message, .. } if message.contains("read-only")),
            "{image}: {err}"
        );
        let err = s
            .mkdir(&[ferry::remote::RelPath::new("x").unwrap()])
            .await
            .unwrap_err();
        assert!(matches!(err, SessionError::Remote { .. }), "{image}: {err}");
        assert!(!fs.app("x").exists());
        assert!(!fs.host("/.ferry").exists());
        drop(s);
        // A missing sync folder is not created by a read-only session.
        fs.sh("rm -rf /app");
        let s = fs.session_with(fs.shell(), opts).await;
        assert!(!s.capabilities().root_exists);
        assert!(
            !fs.host(ROOT).exists(),
            "{image}: a dry run must not create the sync folder"
        );
    }
}
