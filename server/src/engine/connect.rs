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
use crate::target::{self, Connection, KubeOverrides};

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
            let launcher = PodLauncher::new(&conn, &resolved);
            Ok(Connected {
                launcher: Arc::new(launcher),
                pod: PodIdentity {
                    namespace: resolved.namespace,
                    pod: resolved.pod,
                    pod_uid: resolved.pod_uid,
                    container: resolved.container,
                    container_id: resolved.container_id,
                },
            })
        })
    }
}
