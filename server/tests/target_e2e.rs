//! Target resolution against the local cluster, through the user's kubeconfig.

use std::collections::BTreeMap;

use ferry::config::Target;
use ferry::target::{connect, resolve, KubeOverrides, TargetError};
use ferry_testkit::{create_namespace, create_ready_pod, PodBuilder, TestCluster};

fn labels(app: &str) -> BTreeMap<String, String> {
    [("app".to_string(), app.to_string())].into()
}

#[tokio::test]
async fn resolves_by_labels_and_image_and_explains_a_miss() {
    let cluster = TestCluster::start().unwrap();
    let client = cluster.client().await.unwrap();
    create_namespace(&client, "team").await.unwrap();
    create_ready_pod(&client, "team", &PodBuilder::new("web", "busybox"))
        .await
        .unwrap();
    let overrides = KubeOverrides {
        kubeconfig: Some(cluster.kubeconfig()),
        context: None,
        namespace: Some("team".into()),
    };
    let conn = connect(&overrides).await.unwrap();
    assert_eq!(conn.context, "ferry-cluster");
    let by_labels = Target {
        label_selector: labels("web"),
        image_selector: None,
        namespace: None,
        container: None,
    };
    let r = resolve(&conn, &by_labels).await.unwrap();
    assert_eq!(
        (r.namespace.as_str(), r.pod.as_str(), r.container.as_str()),
        ("team", "web", "main")
    );
    let by_image = Target {
        label_selector: BTreeMap::new(),
        image_selector: Some("busybox".into()),
        namespace: Some("team".into()),
        container: None,
    };
    assert_eq!(resolve(&conn, &by_image).await.unwrap().pod, "web");

    let miss = Target {
        label_selector: labels("nothing"),
        image_selector: None,
        namespace: None,
        container: None,
    };
    let err = resolve(&conn, &miss).await.unwrap_err();
    assert!(matches!(err, TargetError::NoPod { .. }));
    let msg = err.to_string();
    for part in [
        "labels app=nothing",
        "namespace \"team\"",
        "context \"ferry-cluster\"",
    ] {
        assert!(msg.contains(part), "{msg}");
    }
}
