//! A minimal Deployment controller: keeps `spec.replicas` pods of the template running,
//! replaces pods that are deleted (under a new name, as in a rollout), replaces pods of
//! an older template, reports `status`, and deletes a deleted Deployment's pods.
//!
//! Simplifications (documented in the README): pods are owned by the Deployment directly
//! (no ReplicaSet objects), and a template change replaces all old pods at once
//! (Recreate-like) rather than rolling.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde_json::{json, Value};
use tracing::warn;

use crate::admission::FieldValidation;
use crate::cluster::Cluster;
use crate::store::{EventType, Key};

pub async fn run_deployments(cluster: Arc<Cluster>) {
    let mut rx = cluster.store.subscribe();
    // Pods or deployments may exist before we subscribed (none do at start-up, but be safe).
    reconcile_all(&cluster);
    loop {
        match rx.recv().await {
            Ok(e) if e.resource == "deployments" && e.kind == EventType::Deleted => {
                let uid = e.object["metadata"]["uid"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                for pod in owned_pods(&cluster, &e.namespace, &uid) {
                    let name = pod["metadata"]["name"].as_str().unwrap_or("");
                    let _ = crate::resources::delete_pod(
                        &cluster.store,
                        &Key::new("pods", &e.namespace, name),
                        None,
                    );
                }
            }
            Ok(e) if e.resource == "deployments" => reconcile(&cluster, &e.namespace, &e.name),
            Ok(e) if e.resource == "pods" => {
                let owner = e.object["metadata"]["ownerReferences"]
                    .as_array()
                    .and_then(|refs| refs.iter().find(|r| r["kind"] == "Deployment"))
                    .and_then(|r| r["name"].as_str())
                    .map(String::from);
                if let Some(d) = owner {
                    reconcile(&cluster, &e.namespace, &d);
                }
            }
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => reconcile_all(&cluster),
            Err(_) => return,
        }
    }
}

fn reconcile_all(cluster: &Cluster) {
    let (ds, _) = cluster.store.list("deployments", None);
    for d in ds {
        let ns = d["metadata"]["namespace"].as_str().unwrap_or("");
        let name = d["metadata"]["name"].as_str().unwrap_or("");
        reconcile(cluster, ns, name);
    }
}

fn owned_pods(cluster: &Cluster, ns: &str, uid: &str) -> Vec<Arc<Value>> {
    let (pods, _) = cluster.store.list("pods", Some(ns));
    pods.into_iter()
        .filter(|p| {
            p["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
        })
        .collect()
}

/// A stable short hash of the pod template (the `pod-template-hash` label).
pub fn template_hash(template: &Value) -> String {
    let mut h = DefaultHasher::new();
    template.to_string().hash(&mut h);
    let mut n = h.finish();
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..10)
        .map(|_| {
            let c = ALPHABET[(n % ALPHABET.len() as u64) as usize] as char;
            n /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

fn reconcile(cluster: &Cluster, ns: &str, name: &str) {
    let key = Key::new("deployments", ns, name);
    let Some(d) = cluster.store.get(&key) else {
        return;
    };
    let uid = d["metadata"]["uid"].as_str().unwrap_or("").to_string();
    let template = &d["spec"]["template"];
    let hash = template_hash(template);
    let want = d["spec"]["replicas"].as_u64().unwrap_or(1) as usize;
    let pods = owned_pods(cluster, ns, &uid);
    let alive: Vec<_> = pods
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .collect();
    let (current, old): (Vec<&Arc<Value>>, Vec<&Arc<Value>>) = alive
        .iter()
        .copied()
        .partition(|p| p["metadata"]["labels"]["pod-template-hash"] == hash.as_str());
    for p in &old {
        let pname = p["metadata"]["name"].as_str().unwrap_or("");
        let _ = crate::resources::delete_pod(&cluster.store, &Key::new("pods", ns, pname), None);
    }
    if current.len() > want {
        let mut extra: Vec<_> = current.clone();
        extra.sort_by(|a, b| {
            b["metadata"]["creationTimestamp"]
                .as_str()
                .cmp(&a["metadata"]["creationTimestamp"].as_str())
        });
        for p in extra.iter().take(current.len() - want) {
            let pname = p["metadata"]["name"].as_str().unwrap_or("");
            let _ =
                crate::resources::delete_pod(&cluster.store, &Key::new("pods", ns, pname), None);
        }
    }
    for _ in current.len()..want {
        let mut labels = template["metadata"]["labels"].clone();
        labels["pod-template-hash"] = json!(hash);
        let mut meta = template["metadata"].clone();
        if meta.is_null() {
            meta = json!({});
        }
        meta["generateName"] = json!(format!("{name}-{hash}-"));
        meta["labels"] = labels;
        meta["ownerReferences"] = json!([{
            "apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": uid,
            "controller": true, "blockOwnerDeletion": true,
        }]);
        let pod =
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template["spec"]});
        if let Err(e) = crate::resources::create_object(
            cluster,
            &crate::discovery::PODS,
            Some(ns),
            pod,
            FieldValidation::Ignore,
            false,
        ) {
            warn!(deployment = name, "creating a pod failed: {}", e.message);
            break;
        }
    }
    let ready = |p: &Value| {
        p["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
    };
    let n_ready = current.iter().filter(|p| ready(p)).count().min(want);
    let generation = d["metadata"]["generation"].clone();
    let _ = cluster.store.update(&key, None, |o| {
        let available = if n_ready >= want { "True" } else { "False" };
        o["status"] = json!({
            "observedGeneration": generation,
            "replicas": alive.len(),
            "updatedReplicas": current.len().min(want),
            "readyReplicas": n_ready,
            "availableReplicas": n_ready,
            "unavailableReplicas": want.saturating_sub(n_ready),
            "conditions": [{"type": "Available", "status": available, "reason": if available == "True" { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" }}],
        });
    });
}

#[cfg(test)]
mod tests {
    use super::template_hash;
    use serde_json::json;

    #[test]
    fn template_hash_is_stable_and_changes_with_the_template() {
        let a = json!({"spec": {"containers": [{"image": "busybox"}]}});
        let b = json!({"spec": {"containers": [{"image": "debian"}]}});
        assert_eq!(template_hash(&a), template_hash(&a));
        assert_ne!(template_hash(&a), template_hash(&b));
        assert_eq!(template_hash(&a).len(), 10);
    }
}
