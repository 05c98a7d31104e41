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
