//! A hostile container: its `tar` answers a download with an archive holding `../evil`,
//! absolute paths and symlink tricks. ferry writes only the safe file (through the
//! engine's sink, for real) and returns an error for each other entry; nothing lands
//! outside the local root.

mod remote_support;

use std::collections::HashMap;
use std::path::Path;

use ferry::engine::landing::{Landing, LocalSink};
use ferry::remote::{DownloadedKind, FileErrorKind, RelPath};
use remote_support::{require_root, Rootfs};

/// One raw ustar member (the `tar` crate refuses to write hostile paths).
fn member(out: &mut Vec<u8>, name: &str, kind: u8, link: &str, data: &[u8]) {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..107].copy_from_slice(b"0000644");
    h[108..115].copy_from_slice(b"0000000");
    h[116..123].copy_from_slice(b"0000000");
    h[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
    h[136..147].copy_from_slice(b"14000000000");
    h[156] = kind;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

#[tokio::test]
async fn remote_download_rejects_hostile_archives() {
    require_root();
    let fs = Rootfs::new("busybox");
    let mut evil = Vec::new();
    member(&mut evil, "./req/fine.txt", b'0', "", b"fine");
    member(&mut evil, "../evil", b'0', "", b"x");
    member(&mut evil, "/etc/evil", b'0', "", b"x");
    member(&mut evil, "req/../../evil", b'0', "", b"x");
    member(&mut evil, "req/link", b'2', "/etc", b"");
    member(
        &mut evil,
        "req/link/passwd",
        b'0',
        "",
        b"root::0:0::/:/bin/sh\n",
    );
    member(&mut evil, "req/up", b'2', "../..", b"");
    member(&mut evil, "req/hard", b'1', "/etc/shadow", b"");
    member(&mut evil, "req/dev", b'3', "", b"");
    member(&mut evil, "unrequested", b'0', "", b"x");
    member(&mut evil, "req/inside", b'2', "fine.txt", b"");
    evil.extend_from_slice(&[0; 1024]);
    std::fs::write(fs.host("/evil.tar"), &evil).unwrap();
    // The container's tar: honest for the probe, hostile when asked for ./req (which
    // exists: the session asks tar only for paths that do).
    std::fs::create_dir(fs.app("req")).unwrap();
    std::fs::remove_file(fs.host("/bin/tar")).unwrap();
    std::fs::write(
        fs.host("/bin/tar"),
        "#!/bin/sh\ncase \" $* \" in *' ./req '*) cat /evil.tar >\"$2\"; exit 0 ;; esac\nexec busybox tar \"$@\"\n",
    )
    .unwrap();
    fs.sh("chmod 755 /bin/tar");
    let mut s = fs.session().await;
    assert!(s.capabilities().tar.is_some());
    // Written for real, by the engine's sink, into a local folder with room around it.
    let local = tempfile::tempdir().unwrap();
    let root = local.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let trash_dir = tempfile::tempdir().unwrap();
    let trash = ferry::local::Trash::new(trash_dir.path());
    let mut sink = LocalSink::new(
        &root,
        Landing::Targets {
            planned: HashMap::new(),
            listed: HashMap::new(),
        },
        &trash,
        "test",
    );
    let d = s
        .download(
            &[RelPath::new("req").unwrap()],
            &|_| Some(1 << 20),
            &mut sink,
        )
        .await
        .unwrap();
    assert!(sink.failures.is_empty(), "{:#?}", sink.failures);
    let landed: Vec<_> = sink.landed.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(landed, ["req/fine.txt"]);
    drop(sink);
    let got: Vec<_> = d.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(got, ["req/fine.txt", "req/inside"]);
    assert!(matches!(
        d.entries[0].kind,
        DownloadedKind::File { size: 4, .. }
    ));
    let mut refused: Vec<_> = d.errors.iter().map(|e| e.path.as_str()).collect();
    refused.sort();
    assert_eq!(
        refused,
        [
            "../evil",
            "/etc/evil",
            "req/../../evil",
            "req/dev",
            "req/hard",
            "req/link",
            "req/link/passwd",
            "req/up",
            "unrequested"
        ],
        "{:#?}",
        d.errors
    );
    assert!(d.errors.iter().all(|e| e.kind == FileErrorKind::Unsafe));
    for e in &d.errors {
        eprintln!("refused: {e}");
    }
    // The session is still fine.
    s.ping().await.unwrap();
    // Exactly one file was written, inside the root; nothing escaped.
    assert_eq!(std::fs::read(root.join("req/fine.txt")).unwrap(), b"fine");
    let mut written = Vec::new();
    let mut stack = vec![local.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p.clone());
            } else {
                written.push(p.strip_prefix(local.path()).unwrap().display().to_string());
            }
        }
    }
    assert_eq!(written, ["root/req/fine.txt"], "written: {written:?}");
    assert!(!Path::new("/evil").exists() && !Path::new("/etc/evil").exists());
    assert!(!fs.host("/evil").exists() && !fs.host("/etc/evil").exists());
}

/// Reading the container's link targets (`symlinks: portable`) goes through the same
/// checks: its `tar` answers with a link to `/etc`, a link climbing out, a regular file
/// where a link was listed, a file below a link and an entry nobody asked for. Only the
/// honest inside link gets its target; every other listed link is skipped (unknown, so
/// nothing replaces it), and nothing is written anywhere.
#[tokio::test]
async fn remote_link_targets_from_a_hostile_tar_are_checked() {
    require_root();
    let fs = Rootfs::new("busybox");
    for (link, target) in [("in", "f"), ("abs", "f"), ("up", "f"), ("nolink", "f")] {
        std::os::unix::fs::symlink(target, fs.app(link)).unwrap();
    }
    std::fs::write(fs.app("f"), b"file").unwrap();
    let mut evil = Vec::new();
    member(&mut evil, "./in", b'2', "f", b"");
    member(&mut evil, "./abs", b'2', "/etc", b"");
    member(
        &mut evil,
        "./abs/passwd",
        b'0',
        "",
        b"root::0:0::/:/bin/sh\n",
    );
    member(&mut evil, "./up", b'2', "../../..", b"");
    member(&mut evil, "./nolink", b'0', "", b"not a link");
    member(&mut evil, "./unasked", b'2', "f", b"");
    evil.extend_from_slice(&[0; 1024]);
    std::fs::write(fs.host("/evil.tar"), &evil).unwrap();
    // Hostile only when asked for the links (the probe and other commands stay honest).
    std::fs::remove_file(fs.host("/bin/tar")).unwrap();
    std::fs::write(
        fs.host("/bin/tar"),
        "#!/bin/sh\ncase \" $* \" in *' ./abs '*) echo called >/tar-was-called; cat /evil.tar >\"$2\"; exit 0 ;; esac\nexec busybox tar \"$@\"\n",
    )
    .unwrap();
    fs.sh("chmod 755 /bin/tar");
    let mut s = fs.session().await;
    s.set_links(ferry::remote::LinkPolicy::Read);
    let listing = s.list_all().await.unwrap();
    assert!(
        fs.host("/tar-was-called").exists(),
        "the hostile tar was the one ferry called"
    );
    let targets: Vec<(&str, Option<&str>)> = listing
        .entries
        .iter()
        .filter(|e| e.kind == ferry::remote::EntryKind::Symlink)
        .map(|e| (e.path.as_str(), e.target.as_deref()))
        .collect();
    let mut targets = targets;
    targets.sort();
    assert_eq!(
        targets,
        [
            ("abs", None),
            ("in", Some("f")),
            ("nolink", None),
            ("up", None)
        ]
    );
    let mut skipped: Vec<&str> = listing
        .skipped_links
        .iter()
        .map(|e| e.path.as_str())
        .collect();
    skipped.sort();
    assert_eq!(
        skipped,
        ["abs", "nolink", "up"],
        "{:#?}",
        listing.skipped_links
    );
    assert!(listing
        .skipped_links
        .iter()
        .all(|e| e.kind == FileErrorKind::SkippedLink));
    for p in ["abs", "nolink", "up"] {
        assert!(
            listing.is_unknown(&RelPath::new(p).unwrap()),
            "{p} is unknown"
        );
    }
    assert!(!listing.is_unknown(&RelPath::new("in").unwrap()));
    // The container's folder is as it was, and the session still answers.
    assert_eq!(std::fs::read(fs.app("f")).unwrap(), b"file");
    assert!(!fs.app("abs/passwd").exists() && !fs.app("unasked").exists());
    s.ping().await.unwrap();
}
