//! Listing the container's tree with hostile names, in busybox and debian.

mod remote_support;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use ferry::remote::{Depth, EntryKind, FileErrorKind, Mtime, RelPath, SessionOptions};
use remote_support::{hostile_names, require_root, Prelude, Rootfs};

fn rel(s: &str) -> RelPath {
    RelPath::new(s).unwrap()
}

async fn hostile_listing(image: &str) {
    let fs = Rootfs::new(image);
    let names = hostile_names();
    for (i, n) in names.iter().enumerate() {
        let p = fs.app(n);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, vec![b'x'; i]).unwrap();
    }
    std::fs::create_dir(fs.app("new\nline dir")).unwrap();
    std::fs::write(fs.app("new\nline dir/inside"), b"x").unwrap();
    std::fs::write(fs.app("new\nline"), b"x").unwrap();
    std::fs::write(
        fs.host("/app").join(OsStr::from_bytes(b"bad\xffutf8")),
        b"x",
    )
    .unwrap();
    std::os::unix::fs::symlink("with space", fs.app("link")).unwrap();
    std::fs::create_dir(fs.app("empty")).unwrap();
    std::fs::set_permissions(fs.app("with space"), std::fs::Permissions::from_mode(0o751)).unwrap();

    let mut s = fs.session().await;
    let l = s.list_all().await.unwrap();
    for (i, n) in names.iter().enumerate() {
        let e = l
            .entries
            .iter()
            .find(|e| e.path.as_str() == n)
            .unwrap_or_else(|| panic!("{image}: {n:?} not listed: {:#?}", l.entries));
        assert_eq!(e.kind, EntryKind::File, "{n:?}");
        assert_eq!(e.size, i as u64, "{n:?}");
        let md = std::fs::metadata(fs.app(n)).unwrap();
        assert_eq!(
            e.mtime,
            Mtime::new(md.mtime(), md.mtime_nsec() as u32),
            "{image}: {n:?} mtime"
        );
    }
    let ws = l
        .entries
        .iter()
        .find(|e| e.path.as_str() == "with space")
        .unwrap();
    assert_eq!(ws.mode, 0o751);
    let link = l
        .entries
        .iter()
        .find(|e| e.path.as_str() == "link")
        .unwrap();
    assert_eq!(link.kind, EntryKind::Symlink);
    let dir = l
        .entries
        .iter()
        .find(|e| e.path.as_str() == "empty")
        .unwrap();
    assert_eq!(dir.kind, EntryKind::Dir);
    // Newline names: one error each (the folder once, without its contents), and
    // nothing of them among the entries.
    let nl: Vec<_> = l
        .errors
        .iter()
        .filter(|e| e.kind == FileErrorKind::NewlineInName)
        .map(|e| e.path.as_str())
        .collect();
    assert_eq!(nl.len(), 2, "{image}: {:#?}", l.errors);
    assert!(
        nl.contains(&"new\\nline dir") && nl.contains(&"new\\nline"),
        "{nl:?}"
    );
    assert!(l.entries.iter().all(|e| !e.path.as_str().contains("line")));
    let bad: Vec<_> = l
        .errors
        .iter()
        .filter(|e| e.kind == FileErrorKind::InvalidUtf8)
        .collect();
    assert_eq!(bad.len(), 1, "{:#?}", l.errors);
    assert!(bad[0].message.contains("UTF-8"));
    // Nothing was executed.
    for p in ["/tmp/pwned", "/tmp/pwned2"] {
        assert!(
            !fs.host(p).exists(),
            "{image}: {p} was created: a name ran as a command"
        );
    }
    assert!(!std::path::Path::new("/tmp/pwned").exists());

    // One folder's children only, and a missing path.
    let l = s
        .list(
            &[rel(&"d".repeat(60)), rel("nope"), rel("with space")],
            Depth::Children,
        )
        .await
        .unwrap();
    let paths: Vec<_> = l.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths.len(), 3, "{paths:?}");
    assert!(paths.contains(&"with space"));
    assert_eq!(l.missing, vec![rel("nope")]);
    let deep = format!("{}/{}", "a".repeat(90), "b".repeat(90));
    let l = s
        .list(&[rel(&"a".repeat(90))], Depth::Children)
        .await
        .unwrap();
    assert_eq!(l.entries.len(), 2, "{:?}", l.entries);
    assert!(l
        .entries
        .iter()
        .any(|e| e.path.as_str() == deep && e.kind == EntryKind::Dir));
    s.close().await.unwrap();
}

#[tokio::test]
async fn remote_list_hostile_names_busybox() {
    require_root();
    hostile_listing("busybox").await;
}

#[tokio::test]
async fn remote_list_hostile_names_debian() {
    require_root();
    hostile_listing("debian").await;
}

#[tokio::test]
async fn remote_list_without_maxdepth_filters_children() {
    require_root();
    let fs = Rootfs::new("busybox");
    std::fs::create_dir_all(fs.app("a/b/c")).unwrap();
    std::fs::write(fs.app("a/f"), b"1").unwrap();
    std::fs::write(fs.app("a/b/c/g"), b"1").unwrap();
    let opts = ferry::remote::SessionOptions {
        disable: vec!["maxdepth".into()],
        ..Default::default()
    };
    let mut s = fs.session_with(fs.shell(), opts).await;
    assert!(!s.capabilities().find_maxdepth);
    let l = s.list(&[rel("a")], Depth::Children).await.unwrap();
    let mut paths: Vec<_> = l.entries.iter().map(|e| e.path.as_str()).collect();
    paths.sort();
    assert_eq!(paths, ["a", "a/b", "a/f"]);
}

/// A folder the container's user may not read (root-owned, 0700) is one
/// `Unreadable` error, its subtree unknown; everything else is listed as usual.
async fn unreadable_folder(image: &str) {
    let fs = Rootfs::new(image);
    std::fs::create_dir_all(fs.app("secret/inner")).unwrap();
    std::fs::write(fs.app("secret/inner/g"), b"hidden").unwrap();
    std::fs::set_permissions(fs.app("secret"), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::create_dir_all(fs.app("ok/deeper")).unwrap();
    std::fs::write(fs.app("ok/f"), b"1").unwrap();
    std::fs::write(fs.app("ok/deeper/g"), b"22").unwrap();
    let mut s = fs
        .session_with(fs.shell().user(1000, 1000), SessionOptions::default())
        .await;
    let before = std::time::SystemTime::now();
    let l = s.list_all().await.unwrap();
    let unreadable: Vec<_> = l
        .errors
        .iter()
        .filter(|e| e.kind == FileErrorKind::Unreadable)
        .map(|e| e.path.as_str())
        .collect();
    assert_eq!(unreadable, ["secret"], "{image}: {:#?}", l.errors);
    assert_eq!(l.errors.len(), 1, "{image}: {:#?}", l.errors);
    eprintln!("{image}: {}", l.errors[0]);
    assert!(!l.complete());
    assert!(l.is_unknown(&rel("secret/inner/g")));
    assert!(!l.root_unknown());
    let mut paths: Vec<_> = l.entries.iter().map(|e| e.path.as_str()).collect();
    paths.sort();
    // The folder itself is seen (its parent is readable), nothing below it.
    assert_eq!(
        paths,
        ["ok", "ok/deeper", "ok/deeper/g", "ok/f", "secret"],
        "{image}"
    );
    // The container's clock, from the file the script touched.
    let now = l.now.expect("the listing carries the container's time");
    let host = Mtime::from_system_time(before);
    assert!(
        (now.secs - host.secs).abs() <= 2,
        "{image}: container time {now:?}, host {host:?}"
    );
    // Asking for a path below it: unknown, not missing.
    let l = s
        .list(
            &[rel("secret/inner"), rel("ok"), rel("nope")],
            Depth::Recursive,
        )
        .await
        .unwrap();
    assert_eq!(l.missing, vec![rel("nope")], "{image}: {l:#?}");
    let unreadable: Vec<_> = l.errors.iter().map(|e| (e.path.as_str(), e.kind)).collect();
    assert_eq!(
        unreadable,
        [("secret/inner", FileErrorKind::Unreadable)],
        "{image}"
    );
    assert_eq!(l.entries.len(), 4, "{image}: {:#?}", l.entries);
    s.close().await.unwrap();
}

#[tokio::test]
async fn remote_list_unreadable_folder_busybox() {
    require_root();
    unreadable_folder("busybox").await;
}

#[tokio::test]
async fn remote_list_unreadable_folder_debian() {
    require_root();
    unreadable_folder("debian").await;
}

/// A `find` that fails without saying where (exit 1 and nothing on stderr, or killed
/// like by the OOM killer) leaves the listed path unknown — not empty.
#[tokio::test]
async fn remote_list_failed_find_is_unknown() {
    require_root();
    for image in ["busybox", "debian"] {
        let fs = Rootfs::new(image);
        for d in ["sub", "killed", "fine"] {
            std::fs::create_dir_all(fs.app(&format!("{d}/x"))).unwrap();
            std::fs::write(fs.app(&format!("{d}/x/f")), b"1").unwrap();
        }
        // find, but for ./sub it fails silently (exit 1, stderr dropped), and for
        // ./killed and the root it ends as if killed (137) after its output.
        let prelude = "find() {\n\
             case $1 in\n\
             ./sub) command find \"$@\" 2>/dev/null; return 1 ;;\n\
             ./killed | .) command find \"$@\"; return 137 ;;\n\
             esac\n\
             command find \"$@\"\n\
             }";
        let launcher = Prelude {
            shell: fs.shell(),
            prelude: prelude.into(),
        };
        let mut s = ferry::remote::Session::start(&launcher, "/app", SessionOptions::default())
            .await
            .unwrap();
        let l = s
            .list(&[rel("sub"), rel("killed"), rel("fine")], Depth::Recursive)
            .await
            .unwrap();
        let errors: Vec<_> = l.errors.iter().map(|e| (e.path.as_str(), e.kind)).collect();
        assert_eq!(
            errors,
            [
                ("sub", FileErrorKind::Unreadable),
                ("killed", FileErrorKind::Unreadable)
            ],
            "{image}: the wrapper did not run, or a failure was taken for a listing: {l:#?}"
        );
        assert!(l.errors[1].message.contains("137"), "{}", l.errors[1]);
        assert!(l.missing.is_empty());
        assert!(l.is_unknown(&rel("sub/x/f")) && l.is_unknown(&rel("killed/x")));
        assert!(!l.is_unknown(&rel("fine/x/f")));
        assert!(l.entries.iter().any(|e| e.path.as_str() == "fine/x/f"));
        // The whole tree: the root is unknown, so everything is.
        let l = s.list_all().await.unwrap();
        assert!(l.root_unknown(), "{image}: {:#?}", l.errors);
        assert!(l.is_unknown(&rel("fine/x/f")));
        s.close().await.unwrap();
    }
}
