//! The measured round trip of a one-file upload (save → file in place in the
//! container), printed, not asserted: its own test binary, so nothing else of ferry's
//! runs meanwhile. Target: p50 ≤ 30 ms on loopback.

mod remote_support;

use std::time::{Duration, Instant};

use ferry::remote::{Mtime, RelPath, Session, UploadFile};
use remote_support::{require_root, Rootfs};

fn rel(s: &str) -> RelPath {
    RelPath::new(s).unwrap()
}

async fn upload_latency(image: &str, shell_v4: bool) -> (Duration, Duration) {
    let fs = Rootfs::new(image);
    let shell = if shell_v4 {
        fs.shell().protocol_v4()
    } else {
        fs.shell()
    };
    let mut s: Session = fs.session_with(shell, Default::default()).await;
    let mut times = Vec::new();
    for i in 0..60 {
        let f = UploadFile {
            path: rel("src/app.js"),
            contents: format!("console.log({i});\n").repeat(100).into_bytes(),
            mode: 0o644,
            mtime: Mtime::new(1_700_000_000 + i, 0),
        };
        let t = Instant::now();
        let r = s.upload(&[f]).await.unwrap();
        times.push(t.elapsed());
        assert!(r.failed.is_empty());
    }
    times.sort();
    (times[times.len() / 2], times[times.len() * 99 / 100])
}

#[tokio::test]
async fn remote_latency_one_file_upload() {
    require_root();
    for image in ["busybox", "debian", "busybox:notar"] {
        let (p50, p99) = upload_latency(image, false).await;
        eprintln!("one-file upload round trip, {image}: p50 {p50:?}, p99 {p99:?}");
    }
    let (p50, p99) = upload_latency("busybox", true).await;
    eprintln!(
        "one-file upload round trip, busybox over a v4-like stream: p50 {p50:?}, p99 {p99:?}"
    );
}
