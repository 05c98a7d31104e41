//! Downloads in bounded memory: a hostile 2 KB archive whose GNU sparse entry claims
//! 1 TiB is refused per file by a process running under an address-space limit
//! (`prlimit --as`), and a file far larger than any buffer streams to disk without the
//! process's peak memory growing.

mod remote_support;

use std::collections::HashMap;
use std::process::Command;
use std::time::Instant;

use ferry::engine::landing::{Landing, LocalSink};
use ferry::remote::{FileErrorKind, MemorySink, RelPath, Session, SessionOptions};
use remote_support::{require_root, Prelude, Rootfs};

/// The address-space limit the hostile-archive child runs under. The child (this test
/// binary, one test, a current-thread runtime, a chrooted busybox session) peaks at
/// about 140 MiB of address space here (VmPeak, printed by the child) and 5 MiB
/// resident; 256 MiB leaves room for that, and the way ferry read archives before (the
/// tar crate's `read_to_end`) dies under it (checked below).
const AS_LIMIT: u64 = 256 << 20;

/// Set in the child's environment.
const CHILD: &str = "FERRY_REMOTE_MEMORY_CHILD";

fn rel(s: &str) -> RelPath {
    RelPath::new(s).unwrap()
}

/// A field of `/proc/self/status` in KiB (`VmHWM`, `VmPeak`).
fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// One raw header with a valid checksum.
fn header(name: &[u8], kind: u8, size: u64) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name);
    h[100..107].copy_from_slice(b"0000644");
    h[108..115].copy_from_slice(b"0000000");
    h[116..123].copy_from_slice(b"0000000");
    h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
    h[136..147].copy_from_slice(b"14000000000");
    h[156] = kind;
    h[257..263].copy_from_slice(b"ustar ");
    h[263..265].copy_from_slice(b" \0");
    h
}

fn checksum(h: &mut [u8; 512]) {
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
}

/// 2 KB: a GNU sparse entry `huge` whose real size is 1 TiB (one data block at the
/// very end of the map), then a plain file `fine`.
fn hostile_sparse_tar() -> Vec<u8> {
    let mut h = header(b"./huge", b'S', 512);
    // GNU sparse map: first entry offset 1 TiB - 512, length 512; real size 1 TiB
    // (GNU base-256 numbers: too big for 11 octal digits).
    let field = |v: u64| {
        let mut f = [0u8; 12];
        f[0] = 0x80;
        f[4..].copy_from_slice(&v.to_be_bytes());
        f
    };
    h[386..398].copy_from_slice(&field((1 << 40) - 512));
    h[398..410].copy_from_slice(&field(512));
    h[483..495].copy_from_slice(&field(1 << 40));
    checksum(&mut h);
    let mut out = h.to_vec();
    out.extend_from_slice(&[b'A'; 512]);
    let mut f = header(b"./fine", b'0', 2);
    checksum(&mut f);
    out.extend_from_slice(&f);
    let mut data = b"ok".to_vec();
    data.resize(512, 0);
    out.extend_from_slice(&data);
    out.extend_from_slice(&[0; 1024]);
    out
}

/// The tar crate's own reading of that archive (what ferry did before): the entry
/// really claims 1 TiB.
#[test]
fn remote_memory_the_hostile_archive_claims_a_terabyte() {
    let bytes = hostile_sparse_tar();
    let mut ar = tar::Archive::new(&bytes[..]);
    let mut sizes = Vec::new();
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        sizes.push((
            String::from_utf8_lossy(&e.path_bytes()).into_owned(),
            e.size(),
        ));
    }
    assert_eq!(sizes[0], ("./huge".to_string(), 1 << 40), "{sizes:?}");
}

/// Runs the ignored test `name` of this binary under `prlimit --as=AS_LIMIT`.
fn child(name: &str) -> std::process::Output {
    remote_support::under_prlimit(name, AS_LIMIT, CHILD)
}

/// The limit is tight enough to matter: reading the archive the old way (the tar
/// crate, `read_to_end` of each entry) runs out of memory under it (which the old
/// ferry turned into a broken session, and without a limit into a machine out of
/// memory).
#[test]
fn remote_memory_the_old_way_runs_out_under_the_limit() {
    let out = child("remote_memory_child_reads_like_before");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.contains("child: out of memory"),
        "{}: {stderr}",
        out.status
    );
    eprintln!("the old way, under the limit: {}", stderr.trim());
}

/// Run only by [`remote_memory_the_old_way_runs_out_under_the_limit`], under the limit.
#[test]
#[ignore = "run under prlimit by remote_memory_the_old_way_runs_out_under_the_limit"]
fn remote_memory_child_reads_like_before() {
    assert!(std::env::var_os(CHILD).is_some(), "run under prlimit only");
    let bytes = hostile_sparse_tar();
    let mut ar = tar::Archive::new(&bytes[..]);
    let mut e = ar.entries().unwrap().next().unwrap().unwrap();
    let mut data = Vec::new();
    let r = std::io::Read::read_to_end(&mut e, &mut data);
    let err = r.expect_err("1 TiB cannot be read into memory under the limit");
    assert_eq!(err.kind(), std::io::ErrorKind::OutOfMemory, "{err}");
    eprintln!("child: out of memory after {} MiB", data.len() >> 20);
}

#[test]
fn remote_memory_hostile_sparse_tar_under_prlimit() {
    require_root();
    let out = child("remote_memory_child_hostile_sparse_tar");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}\n{stderr}");
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "the child under --as={AS_LIMIT} failed ({}): {stderr}",
        out.status
    );
    assert!(stderr.contains("child: ok"), "{stderr}");
}

/// Run only by [`remote_memory_hostile_sparse_tar_under_prlimit`], under the limit.
#[tokio::test]
#[ignore = "run under prlimit by remote_memory_hostile_sparse_tar_under_prlimit"]
async fn remote_memory_child_hostile_sparse_tar() {
    assert!(
        std::env::var_os(CHILD).is_some(),
        "this test runs only under prlimit, from remote_memory_hostile_sparse_tar_under_prlimit"
    );
    // The limit is in force: the claimed size could not even be reserved.
    assert!(
        Vec::<u8>::new().try_reserve(AS_LIMIT as usize).is_err(),
        "the address-space limit is not in force"
    );
    let fs = Rootfs::new("busybox");
    std::fs::write(fs.host("/evil.tar"), hostile_sparse_tar()).unwrap();
    std::fs::write(fs.app("huge"), b"x").unwrap();
    std::fs::write(fs.app("fine"), b"ok").unwrap();
    // The container's tar answers with the hostile archive when asked for ./huge.
    let launcher = Prelude {
        shell: fs.shell(),
        prelude: "tar() {\n\
                  case \" $* \" in *' ./huge '*) cat /evil.tar >\"$2\"; return 0 ;; esac\n\
                  command tar \"$@\"\n\
                  }"
        .into(),
    };
    let mut s = Session::start(&launcher, "/app", SessionOptions::default())
        .await
        .unwrap();
    let mut sink = MemorySink::default();
    let d = s
        .download(&[rel("huge"), rel("fine")], &|_| Some(1 << 40), &mut sink)
        .await
        .unwrap();
    let errors: Vec<_> = d.errors.iter().map(|e| (e.path.as_str(), e.kind)).collect();
    assert_eq!(errors, [("huge", FileErrorKind::Unsafe)], "{d:#?}");
    assert!(d.errors[0].message.contains("sparse"), "{}", d.errors[0]);
    assert_eq!(
        sink.files.get(&rel("fine")).map(Vec::as_slice),
        Some(&b"ok"[..])
    );
    assert!(!sink.files.contains_key(&rel("huge")));
    s.ping().await.unwrap();
    s.close().await.unwrap();
    eprintln!(
        "child: ok (VmPeak {} KiB, VmHWM {} KiB, limit {} KiB)",
        status_kib("VmPeak"),
        status_kib("VmHWM"),
        AS_LIMIT / 1024
    );
}

/// A file much larger than any buffer, sparse on the container's disk (`truncate`),
/// downloads through the engine's sink without the peak resident memory growing.
async fn large_download(image: &str, size: u64) {
    let fs = Rootfs::new(image);
    fs.sh(&format!(
        "printf head >/app/big && truncate -s {size} /app/big && printf tail >>/app/big"
    ));
    let size = size + 4;
    let mut s = fs.session().await;
    let local = tempfile::tempdir().unwrap();
    let before = status_kib("VmHWM");
    let t = Instant::now();
    let trash_dir = tempfile::tempdir().unwrap();
    let trash = ferry::local::Trash::new(trash_dir.path());
    let mut sink = LocalSink::new(
        local.path(),
        Landing::Targets {
            planned: HashMap::new(),
            listed: HashMap::new(),
        },
        &trash,
        "test",
    );
    let d = s
        .download(&[rel("big")], &|_| Some(size), &mut sink)
        .await
        .unwrap();
    let took = t.elapsed();
    assert!(d.errors.is_empty(), "{image}: {:#?}", d.errors);
    assert!(sink.failures.is_empty(), "{image}: {:#?}", sink.failures);
    assert_eq!(sink.landed.len(), 1);
    let hash = sink.landed[0].entry.hash.clone().unwrap();
    drop(sink);
    let after = status_kib("VmHWM");
    let md = std::fs::metadata(local.path().join("big")).unwrap();
    assert_eq!(md.len(), size, "{image}");
    // The content arrived whole: its ends, and the hash of all of it.
    let mut f = std::fs::File::open(local.path().join("big")).unwrap();
    let mut head = [0u8; 4];
    std::io::Read::read_exact(&mut f, &mut head).unwrap();
    assert_eq!(&head, b"head");
    std::io::Seek::seek(&mut f, std::io::SeekFrom::End(-4)).unwrap();
    std::io::Read::read_exact(&mut f, &mut head).unwrap();
    assert_eq!(&head, b"tail");
    let sum = Command::new("sha256sum")
        .arg(local.path().join("big"))
        .output()
        .unwrap();
    let sum = String::from_utf8_lossy(&sum.stdout);
    assert_eq!(hash.0, format!("sha256:{}", &sum[..64]), "{image}");
    eprintln!(
        "{image}: {} MiB in {took:?}; VmHWM {before} KiB before, {after} KiB after",
        size >> 20
    );
    assert!(
        after.saturating_sub(before) < 32 * 1024,
        "{image}: peak memory grew by {} KiB while downloading {} MiB",
        after - before,
        size >> 20
    );
    s.close().await.unwrap();
}

#[tokio::test]
async fn remote_memory_large_download_streams() {
    require_root();
    // 1.5 GiB with tar (the container writes the archive to its /tmp first), 200 MiB
    // without (getf copies the file twice there).
    large_download("busybox", 3 << 29).await;
    large_download("busybox:notar", 200 << 20).await;
}
