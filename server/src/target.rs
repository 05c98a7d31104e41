//! Finding the container a sync path goes to.
//!
//! [`connect`] builds a kube-rs client from the user's kubeconfig exactly as kubectl
//! would (`KUBECONFIG` or `~/.kube/config`, the current context and its namespace), with
//! optional overrides. [`resolve`] lists the pods of the target's namespace that match
//! its label selector, keeps those that are Running and Ready (and, with an
//! `imageSelector`, run that image), and picks the newest; then the container: the one
//! named, else the one running the selected image, else the first. The choice itself is
//! the pure function [`choose`], unit-tested without a cluster.
//!
//! A rollout replaces pods: the engine calls [`resolve`] again when its pod goes away.
//!
//! Nothing here may hang a sync path: every API call ferry makes outside an exec stream
//! is limited to [`API_CALL_TIMEOUT`], and the client's TCP connections (exec streams
//! included) have keepalive probes and a user timeout, so a connection whose peer is
//! gone fails within about a minute (see [`client_with_nodelay`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

use crate::config::Target;

/// The time limit of one non-streaming API call (reading the kubeconfig with its auth
/// plugins, listing pods, starting an exec).
pub const API_CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// TCP keepalive of the client's connections: first probe after this much idleness…
const KEEPALIVE_IDLE: Duration = Duration::from_secs(20);
/// …then one probe every…
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// …and the connection is dropped after this many unanswered ones.
const KEEPALIVE_RETRIES: u32 = 3;
/// Sent data unacknowledged this long also drops the connection (`TCP_USER_TIMEOUT`;
/// keepalive alone does not cover a connection with data in flight).
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(60);

/// Overrides of what the kubeconfig says (CLI flags, editor settings).
#[derive(Clone, Debug, Default)]
pub struct KubeOverrides {
    /// A kubeconfig file to read instead of `KUBECONFIG` / `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// The context to use instead of the current one.
    pub context: Option<String>,
    /// The namespace for sync paths that name none, instead of the context's.
    pub namespace: Option<String>,
}

/// A client for one cluster, with the names needed to explain what it talks to.
#[derive(Clone)]
pub struct Connection {
    pub client: kube::Client,
    /// The kubeconfig context in use (for messages).
    pub context: String,
    /// The namespace used when a sync path names none.
    pub default_namespace: String,
}

/// The container a sync path syncs with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub namespace: String,
    pub pod: String,
    /// Distinguishes a replacement pod that reuses the name.
    pub pod_uid: String,
    pub container: String,
    pub image: String,
    /// The runtime's id of the running container (`containerd://…`), when the pod's
    /// status reports it: a restarted container gets a new one.
    pub container_id: Option<String>,
}

/// Why no container could be found; each variant's message says what to check.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("cannot read the kubeconfig: {0}")]
    Kubeconfig(String),
    #[error("cannot reach the cluster of context {context:?}: {message}")]
    Unreachable { context: String, message: String },
    #[error(
        "no Running and Ready pod matches {selector} in namespace {namespace:?} (context {context:?}){}",
        describe_seen(seen)
    )]
    NoPod {
        selector: String,
        namespace: String,
        context: String,
        /// Matching pods that are not usable yet, with their state.
        seen: Vec<String>,
    },
    #[error("pod {pod:?} has no container {wanted:?}; it has: {}", available.join(", "))]
    NoContainer {
        pod: String,
        wanted: String,
        available: Vec<String>,
    },
    #[error("listing pods in namespace {namespace:?} failed: {message}")]
    Api { namespace: String, message: String },
}

fn describe_seen(seen: &[String]) -> String {
    if seen.is_empty() {
        "; check the selector and the namespace (`kubectl get pods -n NAMESPACE --show-labels`)"
            .to_string()
    } else {
        format!("; matching pods not ready: {}", seen.join(", "))
    }
}

/// Builds a client from the user's kubeconfig and `overrides`.
pub async fn connect(overrides: &KubeOverrides) -> Result<Connection, TargetError> {
    let kubeconfig = match &overrides.kubeconfig {
        Some(path) => kube::config::Kubeconfig::read_from(path)
            .map_err(|e| TargetError::Kubeconfig(format!("{}: {e}", path.display())))?,
        None => {
            kube::config::Kubeconfig::read().map_err(|e| TargetError::Kubeconfig(e.to_string()))?
        }
    };
    let context = overrides
        .context
        .clone()
        .or_else(|| kubeconfig.current_context.clone())
        .unwrap_or_default();
    let options = kube::config::KubeConfigOptions {
        context: overrides.context.clone(),
        ..Default::default()
    };
    let mut config = tokio::time::timeout(
        API_CALL_TIMEOUT,
        kube::Config::from_custom_kubeconfig(kubeconfig, &options),
    )
    .await
    .map_err(|_| {
        TargetError::Kubeconfig(format!(
            "reading it (with its auth plugins) took more than {} s",
            API_CALL_TIMEOUT.as_secs()
        ))
    })?
    .map_err(|e| TargetError::Kubeconfig(e.to_string()))?;
    if let Some(ns) = &overrides.namespace {
        config.default_namespace = ns.clone();
    }
    let default_namespace = config.default_namespace.clone();
    let client = client_with_nodelay(config).map_err(|e| TargetError::Unreachable {
        context: context.clone(),
        message: e.to_string(),
    })?;
    Ok(Connection {
        client,
        context,
        default_namespace,
    })
}

/// A kube client like `kube::Client::try_from(config)`, but with `TCP_NODELAY` on its
/// connections. The remote protocol is lockstep (a header, the container's ack, the
/// payload); with Nagle's algorithm on, a payload that leaves in two segments waits for
/// the API server's delayed ACK — about 40 ms per upload on Linux.
///
/// Its connections also have TCP keepalive (first probe after 20 s idle, then every
/// 10 s, 3 probes) and a 60 s `TCP_USER_TIMEOUT`: a connection whose peer vanished (a
/// laptop that changed networks, a dropped NAT entry, a dead node) fails within about a
/// minute instead of leaving an exec stream waiting. kube-rs' read timeout is not used:
/// it would also cut exec streams that are merely quiet.
fn client_with_nodelay(config: kube::Config) -> Result<kube::Client, kube::Error> {
    use kube::client::ConfigExt;
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(config.connect_timeout);
    http.set_keepalive(Some(KEEPALIVE_IDLE));
    http.set_keepalive_interval(Some(KEEPALIVE_INTERVAL));
    http.set_keepalive_retries(Some(KEEPALIVE_RETRIES));
    http.set_tcp_user_timeout(Some(TCP_USER_TIMEOUT));
    let https = config.rustls_https_connector_with_connector(http)?;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(https);
    let service = tower::ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(tower::BoxError::from)
        .service(client);
    Ok(kube::Client::new(service, config.default_namespace))
}

/// Finds the pod and container for `target` (see the module docs).
pub async fn resolve(conn: &Connection, target: &Target) -> Result<Resolved, TargetError> {
    let (namespace, pods) = list_pods(conn, target).await?;
    let r = choose(&pods, target).map_err(|e| in_context(e, conn, &namespace))?;
    Ok(Resolved { namespace, ..r })
}

/// Every Running and Ready pod `target` selects with its container, the oldest first
/// ([`choose_all`]): the pods of a `replicas: all` sync path.
pub async fn resolve_all(conn: &Connection, target: &Target) -> Result<Vec<Resolved>, TargetError> {
    let (namespace, pods) = list_pods(conn, target).await?;
    let all = choose_all(&pods, target).map_err(|e| in_context(e, conn, &namespace))?;
    Ok(all
        .into_iter()
        .map(|r| Resolved {
            namespace: namespace.clone(),
            ..r
        })
        .collect())
}

/// The pods of `target`'s namespace that match its labels, with the namespace.
async fn list_pods(conn: &Connection, target: &Target) -> Result<(String, Vec<Pod>), TargetError> {
    let namespace = target
        .namespace
        .clone()
        .unwrap_or_else(|| conn.default_namespace.clone());
    let api: Api<Pod> = Api::namespaced(conn.client.clone(), &namespace);
    let selector = label_selector(&target.label_selector);
    let pods = tokio::time::timeout(
        API_CALL_TIMEOUT,
        api.list(&ListParams::default().labels(&selector)),
    )
    .await
    .map_err(|_| TargetError::Unreachable {
        context: conn.context.clone(),
        message: format!(
            "no answer to listing pods in namespace {namespace:?} within {} s; the API \
             server or the connection to it stalled",
            API_CALL_TIMEOUT.as_secs()
        ),
    })?
    .map_err(|e| match e {
        kube::Error::Api(s) => TargetError::Api {
            namespace: namespace.clone(),
            message: s.message,
        },
        other => TargetError::Unreachable {
            context: conn.context.clone(),
            message: other.to_string(),
        },
    })?;
    Ok((namespace, pods.items))
}

/// A [`TargetError::NoPod`] from the pure choice, with the namespace and context named.
fn in_context(e: TargetError, conn: &Connection, namespace: &str) -> TargetError {
    match e {
        TargetError::NoPod { selector, seen, .. } => TargetError::NoPod {
            selector,
            namespace: namespace.to_string(),
            context: conn.context.clone(),
            seen,
        },
        other => other,
    }
}

/// `app=web,tier=front` for a `matchLabels` map.
pub fn label_selector(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// How a target was selected, for messages: `labels app=web` / `image nginx`.
pub fn describe_selector(target: &Target) -> String {
    let mut parts = Vec::new();
    if !target.label_selector.is_empty() {
        parts.push(format!("labels {}", label_selector(&target.label_selector)));
    }
    if let Some(image) = &target.image_selector {
        parts.push(format!("image {image}"));
    }
    if parts.is_empty() {
        "any pod".to_string()
    } else {
        parts.join(" and ")
    }
}

/// Whether a container image matches an `imageSelector`: equal, or — for a selector
/// without tag or digest — the same repository with any tag.
pub fn image_matches(selector: &str, image: &str) -> bool {
    if selector == image {
        return true;
    }
    let last = selector.rsplit('/').next().unwrap_or(selector);
    let has_tag = last.contains(':') || selector.contains('@');
    if has_tag {
        return false;
    }
    let repo = image.split('@').next().unwrap_or(image);
    let repo = match repo.rsplit_once(':') {
        Some((r, tag)) if !tag.contains('/') => r,
        _ => repo,
    };
    repo == selector
}

fn is_ready(p: &Pod) -> bool {
    let st = p.status.as_ref();
    st.and_then(|s| s.phase.as_deref()) == Some("Running")
        && p.metadata.deletion_timestamp.is_none()
        && st
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Picks the newest Running and Ready pod among `pods` (already filtered by labels) and
/// its container for `target`. Pure.
pub fn choose(pods: &[Pod], target: &Target) -> Result<Resolved, TargetError> {
    let ready = ready_pods(pods, target)?;
    let pod = ready
        .iter()
        .max_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .expect("ready_pods returns at least one");
    resolved(pod, target)
}

/// Every Running and Ready pod among `pods` (already filtered by labels) with its
/// container for `target`, the oldest first (by creation, then name): the first is a
/// `replicas: all` sync path's primary, so scaling up never moves it. Pure.
pub fn choose_all(pods: &[Pod], target: &Target) -> Result<Vec<Resolved>, TargetError> {
    let mut ready = ready_pods(pods, target)?;
    ready.sort_by_key(|p| {
        (
            p.metadata.creation_timestamp.as_ref().map(|t| t.0),
            p.metadata.name.clone(),
        )
    });
    ready.into_iter().map(|p| resolved(p, target)).collect()
}

/// The Running and Ready pods of `pods` that run `target`'s image; none is an error that
/// names the matching pods that are not usable yet.
fn ready_pods<'a>(pods: &'a [Pod], target: &Target) -> Result<Vec<&'a Pod>, TargetError> {
    let runs_image = |p: &Pod| match &target.image_selector {
        None => true,
        Some(sel) => p.spec.as_ref().is_some_and(|s| {
            s.containers
                .iter()
                .any(|c| c.image.as_deref().is_some_and(|i| image_matches(sel, i)))
        }),
    };
    let candidates: Vec<&Pod> = pods.iter().filter(|p| runs_image(p)).collect();
    let ready: Vec<&Pod> = candidates.iter().copied().filter(|p| is_ready(p)).collect();
    if !ready.is_empty() {
        return Ok(ready);
    }
    let seen = candidates
        .iter()
        .map(|p| {
            let name = p.metadata.name.clone().unwrap_or_default();
            let state = if p.metadata.deletion_timestamp.is_some() {
                "Terminating".to_string()
            } else {
                p.status
                    .as_ref()
                    .and_then(|s| s.phase.clone())
                    .unwrap_or_else(|| "Unknown".into())
            };
            format!("{name} ({state})")
        })
        .collect();
    Err(TargetError::NoPod {
        selector: describe_selector(target),
        namespace: String::new(),
        context: String::new(),
        seen,
    })
}

/// `pod` and its container for `target`: the one named, else the one running the
/// selected image, else the first.
fn resolved(pod: &Pod, target: &Target) -> Result<Resolved, TargetError> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let containers = pod
        .spec
        .as_ref()
        .map(|s| s.containers.clone())
        .unwrap_or_default();
    let container = match (&target.container, &target.image_selector) {
        (Some(wanted), _) => containers
            .iter()
            .find(|c| &c.name == wanted)
            .ok_or_else(|| TargetError::NoContainer {
                pod: name.clone(),
                wanted: wanted.clone(),
                available: containers.iter().map(|c| c.name.clone()).collect(),
            })?,
        (None, Some(sel)) => containers
            .iter()
            .find(|c| c.image.as_deref().is_some_and(|i| image_matches(sel, i)))
            .ok_or_else(|| TargetError::NoContainer {
                pod: name.clone(),
                wanted: format!("(running {sel})"),
                available: containers.iter().map(|c| c.name.clone()).collect(),
            })?,
        (None, None) => containers.first().ok_or_else(|| TargetError::NoContainer {
            pod: name.clone(),
            wanted: "(any)".into(),
            available: Vec::new(),
        })?,
    };
    Ok(Resolved {
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        pod: name,
        pod_uid: pod.metadata.uid.clone().unwrap_or_default(),
        container: container.name.clone(),
        image: container.image.clone().unwrap_or_default(),
        container_id: pod
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.name == container.name))
            .and_then(|c| c.container_id.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, created: &str, ready: bool, containers: &[(&str, &str)]) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"), "creationTimestamp": created},
            "spec": {"containers": containers.iter().map(|(n, i)| json!({"name": n, "image": i})).collect::<Vec<_>>()},
            "status": {"phase": if ready { "Running" } else { "Pending" },
                       "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]},
        }))
        .unwrap()
    }

    fn target(image: Option<&str>, container: Option<&str>) -> Target {
        Target {
            label_selector: [("app".to_string(), "web".to_string())].into(),
            image_selector: image.map(String::from),
            namespace: None,
            container: container.map(String::from),
        }
    }

    #[test]
    fn picks_the_newest_ready_pod_and_its_first_container() {
        let pods = [
            pod(
                "old",
                "2026-01-01T00:00:00Z",
                true,
                &[("app", "web:1"), ("side", "proxy")],
            ),
            pod("new", "2026-01-02T00:00:00Z", true, &[("app", "web:2")]),
            pod(
                "newest-pending",
                "2026-01-03T00:00:00Z",
                false,
                &[("app", "web:3")],
            ),
        ];
        let r = choose(&pods, &target(None, None)).unwrap();
        assert_eq!(
            (r.pod.as_str(), r.container.as_str(), r.pod_uid.as_str()),
            ("new", "app", "uid-new")
        );
    }

    /// `replicas: all`: every Ready pod, the oldest first (the primary), pending ones
    /// left out; none Ready is the same error as for one pod.
    #[test]
    fn all_ready_pods_oldest_first() {
        let pods = [
            pod("b", "2026-01-02T00:00:00Z", true, &[("app", "web:1")]),
            pod(
                "pending",
                "2026-01-01T00:00:00Z",
                false,
                &[("app", "web:1")],
            ),
            pod("c", "2026-01-03T00:00:00Z", true, &[("app", "web:1")]),
            pod("a2", "2026-01-01T00:00:00Z", true, &[("app", "web:1")]),
            pod("a1", "2026-01-01T00:00:00Z", true, &[("app", "web:1")]),
        ];
        let all = choose_all(&pods, &target(None, None)).unwrap();
        let names: Vec<&str> = all.iter().map(|r| r.pod.as_str()).collect();
        assert_eq!(names, ["a1", "a2", "b", "c"]);
        assert_eq!(all[0].pod_uid, "uid-a1");
        assert_eq!(choose(&pods, &target(None, None)).unwrap().pod, "c");
        let none = [pod("p", "2026-01-01T00:00:00Z", false, &[("app", "web")])];
        assert!(matches!(
            choose_all(&none, &target(None, None)),
            Err(TargetError::NoPod { .. })
        ));
    }

    #[test]
    fn container_by_name_or_by_image() {
        let pods = [pod(
            "p",
            "2026-01-01T00:00:00Z",
            true,
            &[("app", "registry/web:1"), ("side", "registry/proxy:2")],
        )];
        assert_eq!(
            choose(&pods, &target(None, Some("side")))
                .unwrap()
                .container,
            "side"
        );
        assert_eq!(
            choose(&pods, &target(Some("registry/proxy"), None))
                .unwrap()
                .container,
            "side"
        );
        assert_eq!(
            choose(&pods, &target(Some("registry/proxy:2"), None))
                .unwrap()
                .container,
            "side"
        );
        let err = choose(&pods, &target(None, Some("nope")))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("has no container \"nope\"; it has: app, side"),
            "{err}"
        );
    }

    #[test]
    fn no_ready_pod_names_what_was_seen() {
        let pods = [pod("p", "2026-01-01T00:00:00Z", false, &[("app", "web")])];
        match choose(&pods, &target(None, None)).unwrap_err() {
            TargetError::NoPod { selector, seen, .. } => {
                assert_eq!(selector, "labels app=web");
                assert_eq!(seen, ["p (Pending)"]);
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn image_matching_rules() {
        assert!(image_matches("nginx", "nginx:1.27"));
        assert!(image_matches("registry:5000/app", "registry:5000/app:dev"));
        assert!(image_matches("nginx:1.27", "nginx:1.27"));
        assert!(!image_matches("nginx:1.27", "nginx:1.28"));
        assert!(!image_matches("nginx", "nginx-extra:1"));
        assert!(!image_matches(
            "registry:5000/app",
            "registry:5000/app/sub:dev"
        ));
    }

    /// An API server that accepts connections and then says nothing (a half-open or
    /// stalled connection looks like this): the pod list gives up after
    /// API_CALL_TIMEOUT with a message, instead of hanging the sync path.
    #[tokio::test]
    async fn a_silent_api_server_is_given_up() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for c in listener.incoming().flatten() {
                held.push(c);
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:{port}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n    namespace: default\ncurrent-context: x\n"
            ),
        )
        .unwrap();
        let conn = connect(&KubeOverrides {
            kubeconfig: Some(kubeconfig),
            ..Default::default()
        })
        .await
        .unwrap();
        let target = Target {
            label_selector: [("app".to_string(), "web".to_string())].into(),
            image_selector: None,
            namespace: None,
            container: None,
        };
        let t = std::time::Instant::now();
        let r = tokio::time::timeout(API_CALL_TIMEOUT * 2, resolve(&conn, &target))
            .await
            .expect("listing pods on a silent API server hangs");
        let took = t.elapsed();
        let e = r.unwrap_err();
        assert!(matches!(e, TargetError::Unreachable { .. }), "{e}");
        assert!(e.to_string().contains("within 20 s"), "{e}");
        assert!(took < API_CALL_TIMEOUT + Duration::from_secs(3), "{took:?}");
    }
}
