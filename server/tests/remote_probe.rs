//! The capability probe of a remote session in each test image, and the costs it
//! reports for missing extras.

mod remote_support;

use ferry::remote::{PayloadReader, SessionOptions, TarFlavor};
use remote_support::{require_root, Rootfs};

#[tokio::test]
async fn remote_probe_busybox() {
    require_root();
    let fs = Rootfs::new("busybox");
    let s = fs.session().await;
    let c = s.capabilities().clone();
    assert_eq!(c.payload_reader, PayloadReader::Head);
    assert_eq!(c.tar, Some(TarFlavor::Busybox));
    assert!(c.mv && c.chmod && c.touch && c.gzip && c.find_maxdepth && c.find_newer);
    assert!(!c.inotifywait);
    assert!(c.mtime_nanos(), "busybox stat %y has nanoseconds");
    assert_eq!(c.uid, Some(0));
    assert!(c.root_exists && c.root_writable);
    assert!(
        c.state_dir.starts_with("/tmp/.ferry-tmp-"),
        "{}",
        c.state_dir
    );
    assert!(fs.host(&c.state_dir).is_dir());
    let missing: Vec<_> = c.missing_extras().iter().map(|m| m.tool).collect();
    assert_eq!(missing, ["inotifywait"]);
    s.close().await.unwrap();
    assert!(
        !fs.host(&c.state_dir).exists(),
        "state folder removed on quit"
    );
}

#[tokio::test]
async fn remote_probe_debian() {
    require_root();
    let fs = Rootfs::new("debian");
    let s = fs.session().await;
    let c = s.capabilities();
    assert_eq!(c.payload_reader, PayloadReader::Head);
    assert_eq!(c.tar, Some(TarFlavor::Gnu));
    assert!(c.mv && c.chmod && c.touch && c.gzip && c.mtime_nanos());
    assert!(!c.inotifywait);
    assert!(c.checksum.is_some());
}

#[tokio::test]
async fn remote_probe_without_tar_and_with_inotify() {
    require_root();
    for image in ["busybox:notar", "debian:notar"] {
        let fs = Rootfs::new(image);
        let s = fs.session().await;
        let c = s.capabilities();
        assert_eq!(c.tar, None, "{image}");
        assert!(c.mv && c.chmod && c.touch, "{image}");
        let tar = c
            .missing_extras()
            .into_iter()
            .find(|m| m.tool == "tar")
            .expect("tar reported missing");
        assert!(tar.cost.contains("one by one"), "{}", tar.cost);
    }
    let fs = Rootfs::new("debian:inotify");
    let s = fs.session().await;
    assert!(s.capabilities().inotifywait);
    assert!(
        s.capabilities().missing_extras().is_empty(),
        "{:?}",
        s.capabilities().missing_extras()
    );
}

#[tokio::test]
async fn remote_probe_honours_disabled_tools() {
    require_root();
    let fs = Rootfs::new("busybox");
    let opts = |d: &[&str]| SessionOptions {
        disable: d.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    let s = fs.session_with(fs.shell(), opts(&["head"])).await;
    assert_eq!(s.capabilities().payload_reader, PayloadReader::DdCountBytes);
    let s = fs.session_with(fs.shell(), opts(&["head", "dd"])).await;
    assert_eq!(s.capabilities().payload_reader, PayloadReader::ShellLines);
    let costs = s.capabilities().missing_extras();
    assert!(costs.iter().any(|m| m.tool == "head or dd"), "{costs:?}");
    let s = fs
        .session_with(fs.shell(), opts(&["mv", "gzip", "tar"]))
        .await;
    let c = s.capabilities();
    assert!(!c.mv && !c.gzip && c.tar.is_none());
    for m in c.missing_extras() {
        eprintln!("doctor: without {}: {}", m.tool, m.cost);
    }
}

#[tokio::test]
async fn remote_probe_reports_setup_errors() {
    require_root();
    let fs = Rootfs::new("busybox");
    let err =
        ferry::remote::Session::start(&fs.shell(), "relative/path", SessionOptions::default())
            .await
            .unwrap_err();
    assert!(err.to_string().contains("absolute"), "{err}");
    // A shell that does not exist in the rootfs: the launch works (chroot runs) but the
    // process ends at once; the error carries its stderr.
    std::fs::remove_file(fs.host("/bin/sh")).unwrap();
    let err = ferry::remote::Session::start(&fs.shell(), "/app", SessionOptions::default())
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("ended") && msg.contains("sh"), "{msg}");
}

#[tokio::test]
async fn remote_probe_requires_stat_and_find() {
    require_root();
    let fs = Rootfs::new("debian");
    std::fs::remove_file(fs.host("/usr/bin/stat")).unwrap();
    let err = ferry::remote::Session::start(&fs.shell(), "/app", SessionOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("stat"), "{err}");
    let fs = Rootfs::new("debian");
    std::fs::remove_file(fs.host("/usr/bin/find")).unwrap();
    let err = ferry::remote::Session::start(&fs.shell(), "/app", SessionOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no find"), "{err}");
}
