//! `onUpload.exec` hooks (in the container, `onChange` filters, `args`) and
//! `bandwidthLimits` (transfers are paced to the cap).

mod engine_support;

use std::time::{Duration, Instant};

use engine_support::{noise, sync_pod, Env, Exec, Workspace};

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn upload_hooks_run_in_the_container_after_batches() {
    let env = Env::start("hooks", Exec::V5).await;
    env.pod(&sync_pod("web", "busybox")).await;
    let kubeconfig = env.cluster.kubeconfig();
    let ws = Workspace::new();
    ws.devspace(
        "web",
        "hooks",
        "src",
        "/app",
        "      onUpload:\n        exec:\n        - command: cat /app/package.json >> /tmp/installs.log\n          onChange: [package.json]\n        - command: touch\n          args: [/tmp/any-upload]",
    );
    ws.write("src/package.json", "{\"v\": 1}\n");
    let _sync = ws.sync(&kubeconfig);
    ws.wait_watching(&kubeconfig, WAIT);
    // Not run for the initial sync.
    assert_eq!(env.sh_status("web", "test ! -e /tmp/any-upload").await, 0);

    // A batch without package.json runs only the unfiltered hook.
    ws.write("src/a.txt", "a\n");
    env.wait_for("the unfiltered hook ran", WAIT, || async {
        env.sh_status("web", "test -e /tmp/any-upload").await == 0
    })
    .await;
    assert_eq!(
        env.sh_status("web", "test ! -e /tmp/installs.log").await,
        0,
        "the onChange hook does not run for a.txt"
    );

    // package.json changes: the filtered hook runs, after the file landed.
    ws.write("src/package.json", "{\"v\": 2}\n");
    env.wait_for("the onChange hook ran with the new file", WAIT, || async {
        env.read("web", "/tmp/installs.log").await.as_deref() == Some(b"{\"v\": 2}\n")
    })
    .await;
}

#[tokio::test]
async fn upload_bandwidth_limit_paces_transfers() {
    let env = Env::start("bw", Exec::V5).await;
    env.pod(&sync_pod("web", "busybox")).await;
    let ws = Workspace::new();
    ws.devspace(
        "web",
        "bw",
        "src",
        "/app",
        "      bandwidthLimits:\n        upload: 64",
    );
    let data = noise(1, 320 * 1024);
    ws.write("src/big.bin", &data);
    let t = Instant::now();
    let out = ws.sync_once(&env.cluster.kubeconfig());
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.read("web", "/app/big.bin").await.unwrap(), data);
    // 320 KiB at 64 KiB/s cannot take less than 5 s (a lower bound: pacing only waits).
    assert!(
        took >= Duration::from_secs(5),
        "the upload was not paced: {took:?}"
    );
}

/// A container hook that writes 1 MiB to stderr (four times the exec stream's buffer)
/// and fails: the sync loop does not wait for the 600 s hook timeout, the failure is
/// reported with the end of the hook's stderr, and the next change still syncs.
#[tokio::test]
async fn a_hook_that_floods_stderr_does_not_stall_the_sync() {
    let env = Env::start("hookflood", Exec::V5).await;
    env.pod(&sync_pod("web", "busybox")).await;
    let kubeconfig = env.cluster.kubeconfig();
    let ws = Workspace::new();
    ws.devspace(
        "web",
        "hookflood",
        "src",
        "/app",
        "      onUpload:\n        exec:\n        - command: \"i=0; while [ $i -lt 16 ]; do head -c 65536 /dev/zero | tr '\\\\0' e >&2; i=$((i + 1)); done; echo flood-end >&2; exit 4\"\n          onChange: [flood.txt]",
    );
    ws.write("src/a.txt", "a\n");
    let sync = ws.sync(&kubeconfig);
    ws.wait_watching(&kubeconfig, WAIT);
    let t = Instant::now();
    ws.write("src/flood.txt", "go\n");
    let deadline = Instant::now() + WAIT;
    loop {
        let log = std::fs::read_to_string(&sync.log).unwrap_or_default();
        if log.contains("failed (exit code 4)") && log.contains("flood-end") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the hook's failure was not reported with its stderr's tail\n{}",
            sync.output()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = t.elapsed();
    eprintln!("a hook writing 1 MiB to stderr was reported after {took:?}");
    assert!(took < Duration::from_secs(20), "{took:?}");
    ws.write("src/after.txt", "after\n");
    env.wait_for("a later change synced", Duration::from_secs(20), || async {
        env.read("web", "/app/after.txt").await.as_deref() == Some(b"after\n")
    })
    .await;
}
