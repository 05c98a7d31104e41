//! Fidelity with clients no one here wrote: the machine's kubectl binaries — the
//! `/usr/bin/kubectl` dispatcher and each `kubectl.1.NN` beside it — against a
//! ferry-cluster that reports the matching Kubernetes version.

#[macro_use]
mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{kubectl_binaries, pod_yaml, Kubectl};
use ferry_testkit::{ClusterOptions, TestCluster};

const SLEEPER: &str = "trap 'exit 0' TERM; while true; do sleep 1; done";

/// Runs the whole kubectl scenario with one kubectl binary.
fn scenario(label: &str, minor: Option<u32>) {
    let Some((bin, cluster)) = common::kubectl_and_cluster(label, minor) else {
        return;
    };
    let k = Kubectl::new(&bin, &cluster.kubeconfig(), "default");

    // `get pods -w` sees the phases of a pod created and deleted while it watches.
    let mut watcher = k
        .cmd(&["get", "pods", "-w", "-l", "suite=kubectl"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl get -w");
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    {
        let lines = lines.clone();
        let out = watcher.stdout.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(l);
            }
        });
    }
    // Let the watch establish (kubectl prints nothing for an empty list, so wait on the
    // server: the watch shows up as an open connection only indirectly; a short pause
    // plus the ordering assertions below keep this deterministic).
    std::thread::sleep(Duration::from_millis(1500));

    k.create(&pod_yaml("web", "busybox", None, SLEEPER));
    k.ok(&["wait", "--for=condition=Ready", "pod/web", "--timeout=90s"]);

    // get pods -l: the server-side table with the real columns.
    let out = k.ok(&["get", "pods", "-l", "app=web"]);
    let mut rows = out.lines();
    let header: Vec<&str> = rows.next().unwrap_or("").split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        "{out}"
    );
    let row: Vec<&str> = rows.next().unwrap_or("").split_whitespace().collect();
    assert_eq!(&row[..4], ["web", "1/1", "Running", "0"], "{out}");
    let none = k.run(&["get", "pods", "-l", "app=nothing"]);
    assert!(none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("No resources found"));

    // exec -i: stdin in, stdout out, exit code propagated.
    let out = k.run_with_input(
        &["exec", "-i", "web", "--", "sh", "-c", "cat; exit 3"],
        b"hello from stdin\n",
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from stdin\n",
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ok = k.run_with_input(
        &["exec", "-i", "web", "--", "sh", "-c", "wc -c"],
        &vec![b'x'; 3 << 20],
    );
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout).trim(),
        (3u64 << 20).to_string()
    );
    assert_eq!(ok.status.code(), Some(0));
    // kubectl ≥ 1.30 speaks WebSocket v5; older ones only SPDY.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let streams = rt.block_on(async {
        cluster
            .control()
            .await
            .unwrap()
            .streams("default", "web")
            .await
            .unwrap()
    });
    let expected = if minor.is_none_or(|m| m >= 30) {
        "websocket"
    } else {
        "spdy"
    };
    for s in &streams {
        assert_eq!(s["transport"], expected, "{label}: {s}");
    }

    // cp both directions, byte for byte.
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("payload.bin");
    let data: Vec<u8> = (0..400_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&src, &data).unwrap();
    k.ok(&["cp", src.to_str().unwrap(), "web:/tmp/payload.bin"]);
    let back = tmp.path().join("back.bin");
    k.ok(&["cp", "web:/tmp/payload.bin", back.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(&back).unwrap(),
        data,
        "kubectl cp round trip changed the bytes"
    );

    // delete pod: graceful, and kubectl waits until it is gone.
    k.ok(&["delete", "pod", "web"]);
    let gone = k.run(&["get", "pod", "web"]);
    assert!(!gone.status.success());
    assert!(String::from_utf8_lossy(&gone.stderr).contains("pods \"web\" not found"));

    // The watcher saw Pending/ContainerCreating, then Running, then Terminating.
    let deadline = Instant::now() + Duration::from_secs(30);
    let seen = loop {
        let l = lines.lock().unwrap().clone();
        let has = |s: &str| {
            l.iter()
                .position(|x| x.starts_with("web ") && x.contains(s))
        };
        if let (Some(r), Some(t)) = (has("Running"), has("Terminating")) {
            let first = l.iter().position(|x| x.starts_with("web ")).unwrap();
            assert!(first < r && r < t, "phases out of order: {l:#?}");
            assert!(
                l[first].contains("Pending") || l[first].contains("ContainerCreating"),
                "{l:#?}"
            );
            break l;
        }
        assert!(
            Instant::now() < deadline,
            "get -w did not see Running and Terminating: {l:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = watcher.kill();
    let _ = watcher.wait();
    eprintln!("{label}: ok; get -w saw {} lines", seen.len());
}

// One test per kubectl on the machine (and the dispatcher), each running `scenario`.
kubectl_tests!(scenario);

/// Every kubectl on the machine is covered by a test above (a new one shows up here).
#[test]
fn every_installed_kubectl_has_a_test() {
    for (label, _, minor) in kubectl_binaries() {
        if let Some(m) = minor {
            assert!(
                common::KUBECTL_MINORS.contains(&m),
                "{label} is installed but has no test in kubectl.rs"
            );
        }
    }
}

/// A v4-only cluster (older than 1.29): kubectl ≥ 1.30 offers only v5 over WebSocket, is
/// refused, and falls back to SPDY; exec still works and the server recorded SPDY.
#[test]
fn kubectl_falls_back_to_spdy_when_v5_is_refused() {
    let Some(bin) = common::kubectl_version(33) else {
        eprintln!("SKIPPED: kubectl.1.33 not installed");
        return;
    };
    let cluster = TestCluster::start_with(ClusterOptions {
        refuse_v5: true,
        ..Default::default()
    })
    .unwrap();
    let k = Kubectl::new(&bin, &cluster.kubeconfig(), "default");
    k.create(&pod_yaml("old", "busybox", None, SLEEPER));
    k.ok(&["wait", "--for=condition=Ready", "pod/old", "--timeout=90s"]);
    let out = k.run_with_input(
        &["exec", "-i", "old", "--", "sh", "-c", "cat; exit 5"],
        b"v4 world\n",
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "v4 world\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(5));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let streams = rt.block_on(async {
        cluster
            .control()
            .await
            .unwrap()
            .streams("default", "old")
            .await
            .unwrap()
    });
    let last = streams.last().expect("a stream was recorded");
    assert_eq!(last["transport"], "spdy", "{last}");
    assert_ne!(last["protocol"], "v5.channel.k8s.io");
}
