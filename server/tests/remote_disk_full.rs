//! A full disk in the container is a per-file problem: the sync folder is a 1 MiB
//! tmpfs (like an `emptyDir` with `medium: Memory, sizeLimit: 1Mi`); one upload of a
//! 3 MiB file and ten small ones lands the small ones, reports the big one with the
//! space left, and the session stays usable — on busybox and debian.

mod remote_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use ferry::core::{Action, Index, Item, Plan, RelPath};
use ferry::engine::execute::{Executor, Retry};
use ferry::local;
use ferry::remote::{FileErrorKind, Mtime, UploadFile};
use remote_support::{require_root, Rootfs};

fn rel(s: &str) -> RelPath {
    RelPath::new(s).unwrap()
}

/// A tmpfs of `size` mounted on a folder, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        let st = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0777"),
                "tmpfs",
            ])
            .arg(at)
            .status()
            .unwrap();
        assert!(st.success(), "mounting a tmpfs on {}", at.display());
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

async fn disk_full(image: &str) {
    let fs = Rootfs::new(image);
    let _tmpfs = Tmpfs::mount(&fs.host("/app"), "1m");
    let mut s = fs.session().await;

    // Session level: the archive cannot be unpacked; nothing lands, the reply says why.
    let big = UploadFile {
        path: rel("big.bin"),
        contents: vec![7; 3 << 20],
        mode: 0o644,
        mtime: Mtime::new(1_600_000_000, 0),
    };
    let r = s.upload(std::slice::from_ref(&big)).await.unwrap();
    let rejected = r.rejected.as_ref().expect("the upload is rejected as data");
    assert!(rejected.no_space(), "{image}: {rejected:?}");
    let free = rejected.free.expect("the free space is known");
    assert!(free <= 1 << 20, "{image}: {free}");
    assert!(r.landed.is_empty());
    assert_eq!(r.failed.len(), 1);
    assert_eq!(r.failed[0].kind, FileErrorKind::NoSpace);
    s.ping().await.unwrap();

    // Engine level: the batch is split until what fits has landed.
    let local_dir = tempfile::tempdir().unwrap();
    let root = local_dir.path();
    std::fs::write(root.join("big.bin"), vec![7u8; 3 << 20]).unwrap();
    let mut items = vec![];
    let mut names = vec!["big.bin".to_string()];
    for i in 0..10 {
        let n = format!("small{i}.txt");
        std::fs::write(root.join(&n), format!("small file {i}\n").repeat(100)).unwrap();
        names.push(n);
    }
    // The big file in the middle of the batch.
    names.swap(0, 5);
    for n in &names {
        let entry = local::stat(root, &rel(n)).unwrap().unwrap();
        items.push(Item {
            path: rel(n),
            entry,
        });
    }
    let plan = Plan {
        actions: vec![Action::Upload { items }],
        ..Plan::default()
    };
    let mut index = Index::default();
    let mut progress = |_| {};
    let trash_dir = tempfile::tempdir().unwrap();
    let trash = ferry::local::Trash::new(trash_dir.path());
    let followed = ferry::engine::links::Followed::default();
    let mut exec = Executor {
        root,
        followed: &followed,
        session: &mut s,
        index: &mut index,
        planned_local: None,
        progress: &mut progress,
        limits: (None, None),
        checkpoint: None,
        stop: None,
        keep: ferry::engine::execute::Keep {
            trash: &trash,
            sync: "test",
            deletion_reason: ferry::local::Reason::DeletedInContainer,
            remote_before: None,
            container_versions: true,
        },
        racy: Vec::new(),
    };
    let out = exec.run(&plan).await.unwrap();
    assert_eq!(out.uploaded, 10, "{image}: {:#?}", out.failures);
    assert_eq!(out.failures.len(), 1, "{image}: {:#?}", out.failures);
    let f = &out.failures[0];
    assert_eq!(f.path, "big.bin");
    assert_eq!(f.retry, Retry::Upload);
    assert!(
        f.message.contains("no space left in the container") && f.message.contains("KiB free"),
        "{image}: {}",
        f.message
    );
    eprintln!("{image}: {}", f.message);
    for n in names.iter().filter(|n| n.starts_with("small")) {
        assert_eq!(
            std::fs::read(fs.app(n)).unwrap(),
            std::fs::read(root.join(n)).unwrap(),
            "{image}: {n}"
        );
        assert!(index.get(&rel(n)).is_some(), "{image}: {n} booked");
    }
    assert!(!fs.app("big.bin").exists());
    assert!(index.get(&rel("big.bin")).is_none());
    // The session goes on.
    s.ping().await.unwrap();
    let l = s.list_all().await.unwrap();
    assert_eq!(l.entries.len(), 10, "{image}: {:#?}", l.entries);
    s.close().await.unwrap();
}

#[tokio::test]
async fn remote_disk_full_is_per_file_busybox() {
    require_root();
    disk_full("busybox").await;
}

#[tokio::test]
async fn remote_disk_full_is_per_file_debian() {
    require_root();
    disk_full("debian").await;
}
