//! The cluster through kube-rs — the client ferry itself uses — and the behaviours a real
//! cluster has: list/watch, exec on v5 (stdin close) and v4, errors as `Status` objects,
//! deletion grace periods, restarts, Deployments replacing pods, volumes, users.

use std::time::{Duration, Instant};

use ferry_testkit::{
    create_namespace, create_ready_pod, wait_ready, ClusterOptions, PodBuilder, TestCluster,
};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams, DeleteParams, ListParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn exec_output(
    pods: &Api<Pod>,
    name: &str,
    cmd: &[&str],
    stdin: &[u8],
) -> (String, String, Option<i32>) {
    let mut p = pods
        .exec(
            name,
            cmd.to_vec(),
            &AttachParams::default()
                .stdin(true)
                .stdout(true)
                .stderr(true),
        )
        .await
        .expect("exec");
    let mut w = p.stdin().unwrap();
    w.write_all(stdin).await.unwrap();
    w.shutdown().await.unwrap(); // v5: closes the container's stdin
    let mut out = String::new();
    let mut err = String::new();
    p.stdout().unwrap().read_to_string(&mut out).await.unwrap();
    p.stderr().unwrap().read_to_string(&mut err).await.unwrap();
    let status = p.take_status().unwrap().await;
    p.join().await.unwrap();
    let code = status.and_then(|s| {
        if s.status.as_deref() == Some("Success") {
            Some(0)
        } else {
            s.details?
                .causes?
                .into_iter()
                .find(|c| c.reason.as_deref() == Some("ExitCode"))?
                .message?
                .parse()
                .ok()
        }
    });
    (out, err, code)
}

#[tokio::test]
async fn list_watch_and_label_selectors() {
    let cluster = TestCluster::start().unwrap();
    let client = cluster.client().await.unwrap();
    create_namespace(&client, "lw").await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "lw");
    let list = pods.list(&ListParams::default()).await.unwrap();
    assert!(list.items.is_empty());
    let rv = list.metadata.resource_version.clone().unwrap();
    let mut stream = pods
        .watch(&WatchParams::default().labels("app=a"), &rv)
        .await
        .unwrap()
        .boxed();
    create_ready_pod(&client, "lw", &PodBuilder::new("a", "busybox"))
        .await
        .unwrap();
    create_ready_pod(&client, "lw", &PodBuilder::new("b", "busybox"))
        .await
        .unwrap();
    let selected = pods
        .list(&ListParams::default().labels("app=b"))
        .await
        .unwrap();
    assert_eq!(selected.items.len(), 1);
    assert_eq!(selected.items[0].metadata.name.as_deref(), Some("b"));
    let by_name = pods
        .list(&ListParams::default().fields("metadata.name=a"))
        .await
        .unwrap();
    assert_eq!(by_name.items.len(), 1);
    // The watch saw only pod a: ADDED (Pending) then MODIFIED up to Running.
    let mut saw_running = false;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !saw_running && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(30), stream.try_next()).await {
            Ok(Ok(Some(WatchEvent::Added(p) | WatchEvent::Modified(p)))) => {
                assert_eq!(
                    p.metadata.name.as_deref(),
                    Some("a"),
                    "selector leaked another pod"
                );
                saw_running = p.status.and_then(|s| s.phase).as_deref() == Some("Running");
            }
            other => panic!("unexpected watch result: {other:?}"),
        }
    }
    assert!(saw_running);
}

#[tokio::test]
async fn exec_over_v5_closes_stdin_and_reports_exit_codes() {
    let cluster = TestCluster::start().unwrap();
    let client = cluster.client().await.unwrap();
    create_ready_pod(&client, "default", &PodBuilder::new("v5", "busybox"))
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    // `cat` ends only when stdin is closed: that needs v5.
    let (out, _, code) = exec_output(
        &pods,
        "v5",
        &["sh", "-c", "cat; echo done; exit 7"],
        b"abc\n",
    )
    .await;
    assert_eq!(out, "abc\ndone\n");
    assert_eq!(code, Some(7));
    let (out, err, code) = exec_output(&pods, "v5", &["sh", "-c", "echo oops >&2"], b"").await;
    assert_eq!((out.as_str(), err.as_str(), code), ("", "oops\n", Some(0)));
    let streams = cluster
        .control()
        .await
        .unwrap()
        .streams("default", "v5")
        .await
        .unwrap();
    assert!(streams
        .iter()
        .all(|s| s["protocol"] == "v5.channel.k8s.io" && s["transport"] == "websocket"));
    assert_eq!(streams[0]["stdin_bytes"], 4);
    assert_eq!(streams[0]["stdout_bytes"], 9);
}

#[tokio::test]
async fn exec_forced_onto_v4_when_the_cluster_refuses_v5() {
    let cluster = TestCluster::start_with(ClusterOptions {
        refuse_v5: true,
        ..Default::default()
    })
    .unwrap();
    let client = cluster.client().await.unwrap();
    create_ready_pod(&client, "default", &PodBuilder::new("v4", "debian"))
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    // v4 cannot signal end of stdin: the command reads exactly what it needs.
    let mut p = pods
        .exec(
            "v4",
            vec!["sh", "-c", "head -c 5; exit 4"],
            &AttachParams::default().stdin(true).stderr(false),
        )
        .await
        .unwrap();
    let mut w = p.stdin().unwrap();
    w.write_all(b"12345").await.unwrap();
    let mut out = String::new();
    p.stdout().unwrap().read_to_string(&mut out).await.unwrap();
    let status = p.take_status().unwrap().await.unwrap();
    assert_eq!(out, "12345");
    assert_eq!(status.reason.as_deref(), Some("NonZeroExitCode"));
    let streams = cluster
        .control()
        .await
        .unwrap()
        .streams("default", "v4")
        .await
        .unwrap();
    assert_eq!(streams.last().unwrap()["protocol"], "v4.channel.k8s.io");
}

#[tokio::test]
async fn errors_are_status_objects_with_real_codes() {
    let cluster = TestCluster::start().unwrap();
    let client = cluster.client().await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let err = |e: kube::Error| match e {
        kube::Error::Api(s) => s,
        other => panic!("expected an API Status, got {other:?}"),
    };
    let e = err(pods.get("missing").await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (404, "NotFound"));
    assert_eq!(e.message, "pods \"missing\" not found");

    let code = exec_refusal(
        pods.exec("missing", vec!["true"], &AttachParams::default())
            .await
            .map(|_| ()),
    );
    assert_eq!(code, 404);

    create_ready_pod(&client, "default", &PodBuilder::new("p", "busybox"))
        .await
        .unwrap();
    let e = err(pods
        .create(
            &PostParams::default(),
            &PodBuilder::new("p", "busybox").pod(),
        )
        .await
        .unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (409, "AlreadyExists"));
    let code = exec_refusal(
        pods.exec(
            "p",
            vec!["true"],
            &AttachParams::default().container("nope"),
        )
        .await
        .map(|_| ()),
    );
    assert_eq!(code, 404);

    // A manifest without an image: 422 Invalid naming the field.
    let mut bad = PodBuilder::new("bad", "busybox");
    bad.manifest["spec"]["containers"][0]["image"] = json!("");
    let e = err(pods
        .create(&PostParams::default(), &bad.pod())
        .await
        .unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    assert!(
        e.message
            .contains("spec.containers[0].image: Required value"),
        "{}",
        e.message
    );

    // Malformed JSON and unknown fields under Strict: 400 BadRequest.
    let raw = |body: &str, q: &str| {
        http::Request::post(format!("/api/v1/namespaces/default/pods{q}"))
            .header("content-type", "application/json")
            .body(body.as_bytes().to_vec())
            .unwrap()
    };
    let e = err(client.request_text(raw("{not json", "")).await.unwrap_err());
    assert_eq!(e.code, 400);
    let strict =
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"s"},"spec":{"containerz":[]}}"#;
    let e = err(client
        .request_text(raw(strict, "?fieldValidation=Strict"))
        .await
        .unwrap_err());
    assert_eq!(e.code, 400);
    assert!(
        e.message.contains("unknown field \"spec.containerz\""),
        "{}",
        e.message
    );
}

/// The HTTP status an exec upgrade was refused with (kube-rs reports it as a failed
/// protocol switch).
fn exec_refusal(r: Result<(), kube::Error>) -> u16 {
    match r {
        Err(kube::Error::UpgradeConnection(
            kube::client::UpgradeConnectionError::ProtocolSwitch(code),
        )) => code.as_u16(),
        Err(kube::Error::Api(s)) => s.code,
        Err(e) => panic!("unexpected exec error {e:?}"),
        Ok(()) => panic!("exec should have been refused"),
    }
}

#[tokio::test]
async fn wrong_token_is_401() {
    let cluster = TestCluster::start().unwrap();
    let text = std::fs::read_to_string(cluster.kubeconfig()).unwrap();
    let token_line = text.lines().find(|l| l.contains("token:")).unwrap();
    let token = token_line.split(':').nth(1).unwrap().trim();
    std::fs::write(
        cluster.kubeconfig().with_extension("bad"),
        text.replace(token, "not-the-token"),
    )
    .unwrap();
    let kc =
        kube::config::Kubeconfig::read_from(cluster.kubeconfig().with_extension("bad")).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(cfg).unwrap();
    let pods: Api<Pod> = Api::namespaced(client, "default");
    match pods.list(&ListParams::default()).await {
        Err(kube::Error::Api(s)) => assert_eq!((s.code, s.reason.as_str()), (401, "Unauthorized")),
        other => panic!("expected 401, got {other:?}"),
    }
}

#[tokio::test]
async fn unknown_image_stays_pending_with_err_image_pull() {
    let cluster = TestCluster::start().unwrap();
    let client = cluster.client().await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(
        &PostParams::default(),
        &PodBuilder::new("ghost", "nginx:1.27").pod(),
    )
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let p = pods.get("ghost").await.unwrap();
        let st = p.status.unwrap();
        let reason = st
            .container_statuses
            .and_then(|c| c.into_iter().next())
            .and_then(|c| c.state?.waiting?.reason);
        if matches!(reason.as_deref(), Some("ErrImagePull" | "ImagePullBackOff")) {
            assert_eq!(st.phase.as_deref(), Some("Pending"));
            break;
        }
        assert!(Instant::now() < deadline, "no ErrImagePull: {reason:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The cluster still serves.
    pods.list(&ListParams::default()).await.unwrap();
}

#[tokio::test]
async fn deletion_honours_the_grace_period() {
    let cluster = TestCluster::start().unwrap();
    let client = cluster.client().await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    // Ignores SIGTERM: only SIGKILL after the 3 s grace period ends it.
    let mut stubborn = PodBuilder::new("stubborn", "busybox").command(&[
        "sh",
        "-c",
        "trap '' TERM; while true; do sleep 1; done",
    ]);
    stubborn.manifest["spec"]["terminationGracePeriodSeconds"] = json!(3);
    create_ready_pod(&client, "default", &stubborn)
        .await
        .unwrap();
    create_ready_pod(&client, "default", &PodBuilder::new("polite", "busybox"))
        .await
        .unwrap();

    let t = Instant::now();
    pods.delete("stubborn", &DeleteParams::default())
        .await
        .unwrap();
    // Terminating is visible meanwhile.
    let p = pods.get("stubborn").await.unwrap();
    assert!(p.metadata.deletion_timestamp.is_some());
    wait_gone(&pods, "stubborn").await;
    let stubborn_took = t.elapsed();
    let t = Instant::now();
    pods.delete("polite", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&pods, "polite").await;
    let polite_took = t.elapsed();
    assert!(
        stubborn_took >= Duration::from_millis(2900),
        "SIGKILL came early: {stubborn_took:?}"
    );
    assert!(
        polite_took < Duration::from_secs(3),
        "SIGTERM was not delivered: {polite_took:?}"
    );
}

async fn wait_gone(pods: &Api<Pod>, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while pods.get_opt(name).await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "pod {name} never went away");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_killed_main_process_restarts_the_container_with_a_fresh_root() {
    let cluster = TestCluster::start().unwrap();
    let client = cluster.client().await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    create_ready_pod(
        &client,
        "default",
        &PodBuilder::new("r", "busybox").empty_dir("data", "/data", None),
    )
    .await
    .unwrap();
    exec_output(
        &pods,
        "r",
        &["sh", "-c", "echo e > /ephemeral; echo v > /data/kept"],
        b"",
    )
    .await;
    cluster
        .control()
        .await
        .unwrap()
        .kill_main("default", "r", "KILL")
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let p = pods.get("r").await.unwrap();
        let cs = p
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|c| c.first().cloned())
            .unwrap();
        if cs.restart_count == 1 && cs.ready {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "container did not restart: {cs:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (out, _, _) = exec_output(
        &pods,
        "r",
        &["sh", "-c", "cat /ephemeral 2>/dev/null; cat /data/kept"],
        b"",
    )
    .await;
    assert_eq!(
        out, "v\n",
        "ephemeral files must be gone, emptyDir files kept"
    );
}

#[tokio::test]
async fn deployment_replaces_a_deleted_pod_under_a_new_name() {
    let cluster = TestCluster::start().unwrap();
    let client = cluster.client().await.unwrap();
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "app"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "app"}},
                 "template": {"metadata": {"labels": {"app": "app"}},
                              "spec": {"terminationGracePeriodSeconds": 1, "containers": [{"name": "main", "image": "busybox",
                                       "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]}]}}}
    })).unwrap();
    deploys.create(&PostParams::default(), &d).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let first = wait_for_ready_with_label(&pods, "app=app", None).await;
    pods.delete(&first, &DeleteParams::default()).await.unwrap();
    let second = wait_for_ready_with_label(&pods, "app=app", Some(&first)).await;
    assert_ne!(first, second);
    assert!(second.starts_with("app-"));
    let st = deploys.get("app").await.unwrap().status.unwrap();
    assert_eq!(st.ready_replicas, Some(1));
    deploys
        .delete("app", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&pods, &second).await;
}

async fn wait_for_ready_with_label(pods: &Api<Pod>, sel: &str, not: Option<&str>) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for p in pods.list(&ListParams::default().labels(sel)).await.unwrap() {
            let name = p.metadata.name.clone().unwrap();
            let ready = p.metadata.deletion_timestamp.is_none()
                && p.status
                    .and_then(|s| s.conditions)
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            if ready && Some(name.as_str()) != not {
                return name;
            }
        }
        assert!(Instant::now() < deadline, "no Ready pod for {sel}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn volumes_users_and_root_owned_files() {
    let cluster = TestCluster::start().unwrap();
    let client = cluster.client().await.unwrap();
    let host = tempfile::tempdir().unwrap();
    // hostPath keeps the host's ownership and mode, as on a real node: open it to uid 1000.
    std::fs::set_permissions(
        host.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let pod = PodBuilder::new("vol", "debian")
        .user(1000)
        .empty_dir("work", "/work", None)
        .empty_dir("small", "/small", Some("1Mi"))
        .host_path("keep", host.path(), "/keep");
    create_ready_pod(&client, "default", &pod).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let (out, _, _) = exec_output(
        &pods,
        "vol",
        &[
            "sh",
            "-c",
            "id -u; stat -c %a /work; echo hi > /work/f && cat /work/f",
        ],
        b"",
    )
    .await;
    assert_eq!(out, "1000\n777\nhi\n");
    // A size-limited memory volume fills up: ENOSPC.
    let (_, err, code) = exec_output(
        &pods,
        "vol",
        &[
            "sh",
            "-c",
            "dd if=/dev/zero of=/small/big bs=1024 count=2048",
        ],
        b"",
    )
    .await;
    assert_ne!(code, Some(0));
    assert!(err.contains("No space left on device"), "{err}");
    // A root-owned read-only file placed through the control interface.
    let control = cluster.control().await.unwrap();
    let r = control
        .run(
            "default",
            "vol",
            &[
                "sh",
                "-c",
                "echo root > /work/ro && chmod 444 /work/ro && chown 0:0 /work/ro",
            ],
            b"",
        )
        .await
        .unwrap();
    assert_eq!(r.exit_code, 0, "{}", r.stderr);
    let (_, err, code) =
        exec_output(&pods, "vol", &["sh", "-c", "echo user > /work/ro"], b"").await;
    assert_ne!(code, Some(0));
    assert!(err.contains("Permission denied"), "{err}");
    assert_eq!(
        control
            .read_file("default", "vol", "/work/ro")
            .await
            .unwrap(),
        b"root\n"
    );
    // hostPath files are the host's.
    let (_, err, code) =
        exec_output(&pods, "vol", &["sh", "-c", "echo persisted > /keep/f"], b"").await;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        std::fs::read_to_string(host.path().join("f")).unwrap(),
        "persisted\n"
    );
}

#[tokio::test]
async fn debian_image_is_dash_and_gnu() {
    let cluster = TestCluster::start().unwrap();
    let client = cluster.client().await.unwrap();
    create_ready_pod(&client, "default", &PodBuilder::new("deb", "debian"))
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let (out, _, _) = exec_output(
        &pods,
        "deb",
        &[
            "sh",
            "-c",
            "readlink -f /proc/$$/exe; tar --version | head -n 1; ls --version | head -n 1",
        ],
        b"",
    )
    .await;
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].ends_with("/dash"), "{out}");
    assert!(lines[1].contains("GNU tar"), "{out}");
    assert!(lines[2].contains("GNU coreutils"), "{out}");
    let _ = wait_ready(&client, "default", "deb", Duration::from_secs(5))
        .await
        .unwrap();
}

#[tokio::test]
async fn shaping_adds_latency_and_caps_bandwidth() {
    let cluster = TestCluster::start().unwrap();
    let client = cluster.client().await.unwrap();
    create_ready_pod(&client, "default", &PodBuilder::new("shaped", "busybox"))
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let control = cluster.control().await.unwrap();
    // Unshaped baseline: echoing one line back.
    let t = Instant::now();
    exec_output(&pods, "shaped", &["cat"], b"x\n").await;
    let baseline = t.elapsed();
    // 150 ms each way: stdin → container → stdout costs at least 300 ms more.
    control.set_shaping(150, 0).await.unwrap();
    let t = Instant::now();
    let (out, _, _) = exec_output(&pods, "shaped", &["cat"], b"x\n").await;
    assert_eq!(out, "x\n");
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "latency not applied: {:?} (baseline {baseline:?})",
        t.elapsed()
    );
    // 200 KB/s: 600 KB of output takes about 3 s.
    control.set_shaping(0, 200_000).await.unwrap();
    let t = Instant::now();
    let (out, _, code) = exec_output(
        &pods,
        "shaped",
        &["sh", "-c", "head -c 600000 /dev/zero"],
        b"",
    )
    .await;
    assert_eq!((out.len(), code), (600_000, Some(0)));
    assert!(
        t.elapsed() >= Duration::from_millis(2500),
        "bandwidth cap not applied: {:?}",
        t.elapsed()
    );
    control.set_shaping(0, 0).await.unwrap();
    let streams = control.streams("default", "shaped").await.unwrap();
    assert_eq!(streams.last().unwrap()["stdout_bytes"], 600_000);
}

#[tokio::test]
async fn dropped_streams_do_not_kill_their_processes() {
    let cluster = TestCluster::start().unwrap();
    let client = cluster.client().await.unwrap();
    create_ready_pod(&client, "default", &PodBuilder::new("drop", "busybox"))
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let control = cluster.control().await.unwrap();
    // A process that ignores its stdin and writes a marker a while after the drop.
    let mut p = pods
        .exec(
            "drop",
            vec![
                "sh",
                "-c",
                "echo started; sleep 2; echo after > /tmp/marker; sleep 2",
            ],
            &AttachParams::default().stdin(true),
        )
        .await
        .unwrap();
    let mut first = [0u8; 8];
    p.stdout().unwrap().read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"started\n");
    assert_eq!(control.drop_streams("default", "drop").await.unwrap(), 1);
    // The client sees its connection end…
    let ended = tokio::time::timeout(Duration::from_secs(10), p.join()).await;
    assert!(
        ended.is_ok(),
        "the dropped stream did not end on the client"
    );
    // …while the process lives on and finishes its work.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = control
            .run("default", "drop", &["cat", "/tmp/marker"], b"")
            .await
            .unwrap();
        if r.exit_code == 0 {
            assert_eq!(r.stdout, b"after\n");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the process died with its stream"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let streams = control.streams("default", "drop").await.unwrap();
    assert_eq!(streams[0]["open"], false);
}

#[tokio::test]
async fn exec_into_an_image_without_a_shell_fails_fast() {
    let cluster = TestCluster::start().unwrap();
    let client = cluster.client().await.unwrap();
    let pod = PodBuilder::new("nosh", "distroless").command(&["/bin/sleep", "3600"]);
    create_ready_pod(&client, "default", &pod).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let t = Instant::now();
    let (_, err, code) = exec_output(&pods, "nosh", &["sh", "-c", "true"], b"").await;
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
    assert_ne!(code, Some(0));
    assert!(err.contains("executable file not found"), "{err}");
}
