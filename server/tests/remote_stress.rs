//! 200 lockstep messages back to back on busybox (where `head -c N` and ash read ahead),
//! with payloads that look like protocol.

mod remote_support;

use ferry::remote::{Depth, Mtime, RelPath, UploadFile};
use remote_support::{download_all, require_root, Rootfs};

fn rel(s: &str) -> RelPath {
    RelPath::new(s).unwrap()
}

/// Content that looks like replies and commands, so a framing slip would show.
fn tricky(i: usize) -> Vec<u8> {
    let mut v = format!("ok {i}\nack 0\nerr 3\nput 10 z\nquit\n").into_bytes();
    v.extend((0..(i * 37) % 5000).map(|k| (k * 7 + i) as u8));
    v
}

#[tokio::test]
async fn remote_stress_200_lockstep_messages_busybox() {
    require_root();
    let fs = Rootfs::new("busybox");
    let mut s = fs.session().await;
    for i in 0..200 {
        match i % 4 {
            0 | 1 => {
                let f = UploadFile {
                    path: rel(&format!("stress/f{i}")),
                    contents: tricky(i),
                    mode: 0o644,
                    mtime: Mtime::new(1_600_000_000 + i as i64, 0),
                };
                let r = s.upload(&[f]).await.unwrap();
                assert!(r.failed.is_empty(), "message {i}: {:?}", r.failed);
            }
            2 => {
                let j = i - 2;
                let path = rel(&format!("stress/f{j}"));
                let (d, got) = download_all(&mut s, std::slice::from_ref(&path)).await;
                assert_eq!(d.entries.len(), 1, "message {i}");
                assert_eq!(got.files[&path], tricky(j), "message {i}");
            }
            _ => {
                s.ping().await.unwrap();
            }
        }
    }
    let l = s.list(&[rel("stress")], Depth::Children).await.unwrap();
    assert_eq!(l.entries.len(), 101);
    for i in (0..200).filter(|i| i % 4 < 2) {
        assert_eq!(
            std::fs::read(fs.app(&format!("stress/f{i}"))).unwrap(),
            tricky(i),
            "file {i}"
        );
    }
    s.close().await.unwrap();
}
