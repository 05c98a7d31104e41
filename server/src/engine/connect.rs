//! Finding the container of a sync path: the [`Connector`] seam between the engine and
//! the cluster.
//!
//! In production, [`KubeConnector`] resolves the sync path's target through the
//! Kubernetes API ([`crate::target`]) and returns a [`PodLauncher`] for it. Tests drive the
//! real [`super::SyncTask`] against an in-memory container by giving it another connector.
//! What a connector returns besides the launcher is the container's identity as the
//! cluster knows it ([`PodIdentity`]): the fallback for recognising the container when it
//! holds no marker (see [`super::identity`]).

use std::sync::Arc;

use crate::config::Target;
use crate::exec::PodLauncher;
use crate::remote::{BoxFuture, Launcher};
use crate::target::{self, Connection, KubeOverrides, Resolved};

use super::task::EngineError;

/// Who the container is, as the cluster reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodIdentity {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name (for messages: names are reused, identities are not).
    pub pod: String,
    /// The pod's UID: a replacement pod that reuses the name gets a new one.
    pub pod_uid: String,
    /// The container's name in the pod.
    pub container: String,
    /// The runtime's id of the running container: a restarted container gets a new one.
    /// `None` when the cluster does not report it.
    pub container_id: Option<String>,
}

/// A container to sync with.
pub struct Connected {
    /// Starts processes in it.
    pub launcher: Arc<dyn Launcher>,
    /// Who it is.
    pub pod: PodIdentity,
}

/// Finds the container of a sync path, each time the engine (re)connects.
pub trait Connector: Send + Sync {
    /// The container `target` selects now.
    fn connect<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, Result<Connected, EngineError>>;

    /// Every pod `target` selects now, the oldest first (`replicas: all`; see
    /// [`crate::target::choose_all`]). By default: the one [`Connector::connect`] finds.
    fn replicas<'a>(
        &'a self,
        target: &'a Target,
    ) -> BoxFuture<'a, Result<Vec<PodIdentity>, EngineError>> {
        Box::pin(async move { Ok(vec![self.connect(target).await?.pod]) })
    }

    /// The container of the pod with UID `pod_uid`, if `target` still selects it; an
    /// error naming the pod otherwise (it went away, or is no longer Ready).
    fn connect_to<'a>(
        &'a self,
        target: &'a Target,
        pod_uid: &'a str,
    ) -> BoxFuture<'a, Result<Connected, EngineError>> {
        Box::pin(async move {
            let c = self.connect(target).await?;
            if c.pod.pod_uid == pod_uid {
                Ok(c)
            } else {
                Err(gone(pod_uid))
            }
        })
    }
}

/// The error of a connection to a replica `target` no longer selects.
fn gone(pod_uid: &str) -> EngineError {
    EngineError::Other(format!(
        "the replica with pod UID {pod_uid} is gone or not Ready any more"
    ))
}

/// A [`Connector`] that always connects to one pod of the target: the one whose UID
/// `pod` holds now (a `replicas: all` sync path's primary follows its supervisor's
/// choice, a secondary stays with its pod). With no pod chosen yet, connecting fails
/// and is retried like any failed connection.
pub struct Pinned {
    inner: Arc<dyn Connector>,
    pod: tokio::sync::watch::Receiver<Option<String>>,
}

impl Pinned {
    /// Connects through `inner` to the pod `pod` names.
    pub fn new(
        inner: Arc<dyn Connector>,
        pod: tokio::sync::watch::Receiver<Option<String>>,
    ) -> Pinned {
        Pinned { inner, pod }
    }
}

impl Connector for Pinned {
    fn connect<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, Result<Connected, EngineError>> {
        Box::pin(async move {
            let uid = self.pod.borrow().clone();
            match uid {
                Some(uid) => self.inner.connect_to(target, &uid).await,
                // Why there is none, if the cluster says (no pod matches, …).
                None => {
                    self.inner.replicas(target).await?;
                    Err(EngineError::Other(
                        "waiting for a Running and Ready replica to sync with".into(),
                    ))
                }
            }
        })
    }

    fn replicas<'a>(
        &'a self,
        target: &'a Target,
    ) -> BoxFuture<'a, Result<Vec<PodIdentity>, EngineError>> {
        self.inner.replicas(target)
    }

    fn connect_to<'a>(
        &'a self,
        target: &'a Target,
        pod_uid: &'a str,
    ) -> BoxFuture<'a, Result<Connected, EngineError>> {
        self.inner.connect_to(target, pod_uid)
    }
}

/// The production [`Connector`]: the user's kubeconfig (with overrides), the pod by
/// labels and image, Kubernetes exec. The client is built once and reused.
pub struct KubeConnector {
    overrides: KubeOverrides,
    client: tokio::sync::Mutex<Option<Connection>>,
}

impl KubeConnector {
    /// A connector for the cluster `overrides` select.
    pub fn new(overrides: KubeOverrides) -> KubeConnector {
        KubeConnector {
            overrides,
            client: tokio::sync::Mutex::new(None),
        }
    }

    async fn connection(&self) -> Result<Connection, EngineError> {
        let mut cached = self.client.lock().await;
        if let Some(c) = cached.as_ref() {
            return Ok(c.clone());
        }
        let c = target::connect(&self.overrides).await?;
        *cached = Some(c.clone());
        Ok(c)
    }
}

impl Connector for KubeConnector {
    fn connect<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, Result<Connected, EngineError>> {
        Box::pin(async move {
            let conn = self.connection().await?;
            let resolved = target::resolve(&conn, target).await?;
            Ok(connected(&conn, resolved))
        })
    }

    fn replicas<'a>(
        &'a self,
        target: &'a Target,
    ) -> BoxFuture<'a, Result<Vec<PodIdentity>, EngineError>> {
        Box::pin(async move {
            let conn = self.connection().await?;
            let all = target::resolve_all(&conn, target).await?;
            Ok(all.into_iter().map(identity).collect())
        })
    }

    fn connect_to<'a>(
        &'a self,
        target: &'a Target,
        pod_uid: &'a str,
    ) -> BoxFuture<'a, Result<Connected, EngineError>> {
        Box::pin(async move {
            let conn = self.connection().await?;
            let all = target::resolve_all(&conn, target).await?;
            let resolved = all
                .into_iter()
                .find(|r| r.pod_uid == pod_uid)
                .ok_or_else(|| gone(pod_uid))?;
            Ok(connected(&conn, resolved))
        })
    }
}

/// A launcher into `resolved`, with its identity.
fn connected(conn: &Connection, resolved: Resolved) -> Connected {
    Connected {
        launcher: Arc::new(PodLauncher::new(conn, &resolved)),
        pod: identity(resolved),
    }
}

fn identity(resolved: Resolved) -> PodIdentity {
    PodIdentity {
        namespace: resolved.namespace,
        pod: resolved.pod,
        pod_uid: resolved.pod_uid,
        container: resolved.container,
        container_id: resolved.container_id,
    }
}
