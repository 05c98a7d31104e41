//! Port-forward through kube-rs (`Api::portforward`, WebSocket `v4.channel.k8s.io`) to
//! servers in a pod's own network namespace, and the errors a real cluster gives.
//! (kubectl's SPDY and WebSocket-tunnelled sessions are driven in the kubectl tests.)

use ferry_testkit::{create_ready_pod, PodBuilder, TestCluster};
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// busybox httpd on 8080 serving `hello from web`.
fn web_pod(name: &str) -> PodBuilder {
    PodBuilder::new(name, "busybox").command(&[
        "sh",
        "-c",
        "mkdir -p /www && echo hello from web > /www/index.html && exec httpd -f -p 8080 -h /www",
    ])
}

async fn get_index(stream: &mut tokio::io::DuplexStream) -> String {
    stream
        .write_all(b"GET /index.html HTTP/1.0\r\nHost: web\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        stream.read_to_end(&mut answer),
    )
    .await
    .expect("the forwarded connection did not end")
    .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// Waits for kube-rs' forwarding task. The server closed the WebSocket once every port's
/// connection had ended (as the kubelet does), so kube-rs' own close afterwards fails
/// with `SendAfterClosing`: that is the end, not a failure.
async fn finish(pf: kube::api::Portforwarder) {
    match pf.join().await {
        Ok(()) => {}
        Err(e) => assert!(format!("{e:?}").contains("SendAfterClosing"), "{e:?}"),
    }
}

#[tokio::test]
async fn forwards_to_a_server_in_the_pod_and_reports_refused_ports() {
    let cluster = TestCluster::start().unwrap();
    let client = cluster.client().await.unwrap();
    create_ready_pod(&client, "default", &web_pod("web"))
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client, "default");
    // httpd may take a moment to listen after the container started.
    let mut answer = String::new();
    for _ in 0..50 {
        let mut pf = pods.portforward("web", &[8080]).await.expect("portforward");
        let mut stream = pf.take_stream(8080).unwrap();
        answer = get_index(&mut stream).await;
        drop(stream);
        finish(pf).await;
        if !answer.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.ends_with("hello from web\n"), "{answer}");

    // Two ports on one WebSocket: one served, one nobody listens on.
    let mut pf = pods
        .portforward("web", &[8080, 9999])
        .await
        .expect("portforward");
    let refused = pf.take_error(9999).unwrap();
    let mut stream = pf.take_stream(8080).unwrap();
    let answer = get_index(&mut stream).await;
    assert!(answer.ends_with("hello from web\n"), "{answer}");
    let message = refused.await.expect("an error for port 9999");
    assert!(
        message.starts_with("error forwarding port 9999 to pod web, uid "),
        "{message}"
    );
    assert!(message.contains("connection refused"), "{message}");
    drop(stream);
    finish(pf).await;
}

#[tokio::test]
async fn unknown_and_pending_pods_are_refused_like_a_real_cluster() {
    let cluster = TestCluster::start().unwrap();
    let client = cluster.client().await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let code = |e: kube::Error| match e {
        kube::Error::Api(s) => (s.code, s.message),
        other => panic!("expected an API error, got {other:?}"),
    };
    let (status, message) = code(pods.portforward("nope", &[80]).await.err().unwrap());
    assert_eq!(status, 404, "{message}");
    assert_eq!(message, "pods \"nope\" not found");

    let pending = PodBuilder::new("pending", "no-such-image").pod();
    pods.create(&Default::default(), &pending).await.unwrap();
    let (status, message) = code(pods.portforward("pending", &[80]).await.err().unwrap());
    assert_eq!(status, 400, "{message}");
    assert!(message.contains("pod pending is not running"), "{message}");
}
