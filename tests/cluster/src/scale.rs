//! The `scale` subresource of Deployments: an `autoscaling/v1` `Scale` that `kubectl
//! scale` (and autoscalers) read and write. Writing it sets the Deployment's
//! `spec.replicas`; the Deployment controller then adds or removes pods.

use std::sync::Arc;

use http::{Request, Response};
use hyper::body::Incoming;
use serde_json::{json, Value};

use crate::cluster::Cluster;
use crate::http_util::{json_response, parse_object, read_body, Body, Query};
use crate::status::{ApiError, FieldError};
use crate::store::Key;

const BODY_LIMIT: usize = 1 << 20;

/// `app=web,tier=front`: a Deployment's selector as a Scale's `status.selector`.
fn selector_text(d: &Value) -> String {
    let mut parts: Vec<String> = d["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    parts.sort();
    parts.join(",")
}

/// The Scale view of a stored Deployment.
pub fn scale_of(d: &Value) -> Value {
    let m = &d["metadata"];
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
            "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"],
        },
        "spec": {"replicas": d["spec"]["replicas"].as_i64().unwrap_or(1)},
        "status": {
            "replicas": d["status"]["replicas"].as_i64().unwrap_or(0),
            "selector": selector_text(d),
        },
    })
}

fn current(cluster: &Cluster, key: &Key) -> Result<Arc<Value>, ApiError> {
    cluster
        .store
        .get(key)
        .ok_or_else(|| ApiError::not_found("deployments", "apps", &key.name))
}

pub fn get(cluster: &Cluster, key: &Key) -> Result<Response<Body>, ApiError> {
    let d = current(cluster, key)?;
    Ok(json_response(200, &scale_of(&d)))
}

/// The replica count a written Scale asks for, checked as a real server does.
fn wanted_replicas(scale: &Value, name: &str) -> Result<i64, ApiError> {
    for (field, want) in [("kind", "Scale"), ("apiVersion", "autoscaling/v1")] {
        if let Some(v) = scale[field]
            .as_str()
            .filter(|v| !v.is_empty() && *v != want)
        {
            return Err(ApiError::bad_request(format!(
                "the {field} in the data ({v}) does not match the expected {field} ({want})"
            )));
        }
    }
    let replicas = &scale["spec"]["replicas"];
    let invalid = |detail: &str| {
        ApiError::invalid(
            "Scale",
            "autoscaling",
            name,
            &[FieldError::invalid(
                "spec.replicas",
                &replicas.to_string(),
                detail,
            )],
        )
    };
    match replicas.as_i64() {
        Some(n) if n >= 0 && n <= i32::MAX as i64 => Ok(n),
        Some(_) => Err(invalid("must be greater than or equal to 0")),
        None if replicas.is_null() => Ok(0),
        None => Err(invalid("must be an integer")),
    }
}

/// PUT or PATCH of `deployments/NAME/scale`.
pub async fn update(
    cluster: &Arc<Cluster>,
    key: Key,
    req: Request<Incoming>,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    let is_patch = req.method() == http::Method::PATCH;
    let ct = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = read_body(req.into_body(), BODY_LIMIT).await?;
    let d = current(cluster, &key)?;
    let view = scale_of(&d);
    let (scale, expected_rv) = if is_patch {
        (crate::resources::patched(&view, &ct, &body)?, None)
    } else {
        let s = parse_object(&body, Some(&ct))?;
        let rv = s["metadata"]["resourceVersion"]
            .as_str()
            .filter(|r| !r.is_empty())
            .map(String::from);
        (s, rv)
    };
    let replicas = wanted_replicas(&scale, &key.name)?;
    if query.get("dryRun").is_some_and(|d| d == "All") {
        let mut out = view;
        out["spec"]["replicas"] = json!(replicas);
        return Ok(json_response(200, &out));
    }
    let stored = cluster
        .store
        .update(&key, expected_rv.as_deref(), |o| {
            if o["spec"]["replicas"].as_i64() != Some(replicas) {
                o["spec"]["replicas"] = json!(replicas);
                let g = o["metadata"]["generation"].as_i64().unwrap_or(1);
                o["metadata"]["generation"] = json!(g + 1);
            }
        })
        .map_err(|e| ApiError::from_store(e, "deployments", "apps", &key.name))?;
    Ok(json_response(200, &scale_of(&stored)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_view_carries_replicas_and_selector() {
        let d = json!({"metadata": {"name": "web", "namespace": "ns", "resourceVersion": "7"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"tier": "f", "app": "web"}}},
            "status": {"replicas": 2}});
        let s = scale_of(&d);
        assert_eq!(s["spec"]["replicas"], 3);
        assert_eq!(
            s["status"],
            json!({"replicas": 2, "selector": "app=web,tier=f"})
        );
        assert_eq!(s["metadata"]["resourceVersion"], "7");
    }

    #[test]
    fn written_scales_are_checked() {
        assert_eq!(
            wanted_replicas(&json!({"spec": {"replicas": 4}}), "w").unwrap(),
            4
        );
        let neg = wanted_replicas(&json!({"spec": {"replicas": -1}}), "w").unwrap_err();
        assert_eq!(neg.code, 422);
        assert!(
            neg.message
                .contains("Scale.autoscaling \"w\" is invalid: spec.replicas"),
            "{}",
            neg.message
        );
        let kind = wanted_replicas(&json!({"kind": "Pod", "spec": {"replicas": 1}}), "w");
        assert_eq!(kind.unwrap_err().code, 400);
        let text = wanted_replicas(&json!({"spec": {"replicas": "3"}}), "w");
        assert_eq!(text.unwrap_err().code, 422);
    }
}
