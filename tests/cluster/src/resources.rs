//! Create, update, patch and delete of stored objects, with each kind's admission
//! (decode, validate, default) and deletion semantics.

use std::sync::Arc;

use http::{HeaderValue, Request, Response};
use hyper::body::Incoming;
use serde_json::{json, Value};

use crate::admission::{self, FieldValidation};
use crate::cluster::Cluster;
use crate::config_objects;
use crate::discovery::ResourceDef;
use crate::http_util::{json_response, parse_object, read_body, Body, Query};
use crate::services;
use crate::status::{ApiError, FieldError};
use crate::store::Key;
use crate::util::{now_rfc3339, random_suffix, rfc3339};

const BODY_LIMIT: usize = 8 << 20;

/// A random RFC 4122 version-4 UUID, as Kubernetes assigns to `metadata.uid`.
pub fn new_uid() -> String {
    use rand::Rng;
    let mut b = [0u8; 16];
    rand::rng().fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn content_type(req: &Request<Incoming>) -> Option<String> {
    req.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

/// Decodes, validates and defaults `obj` as `def`'s kind. Returns warnings.
fn admit(
    def: &ResourceDef,
    obj: &mut Value,
    validation: FieldValidation,
) -> Result<Vec<String>, ApiError> {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret, Service};
    let api_version = def.api_version();
    let (kind, v) = (def.kind, validation);
    let (normalized, warnings) = match def.plural {
        "pods" => admission::decode::<Pod>(kind, &api_version, obj, v)?,
        "namespaces" => admission::decode::<Namespace>(kind, &api_version, obj, v)?,
        "deployments" => admission::decode::<Deployment>(kind, &api_version, obj, v)?,
        "configmaps" => admission::decode::<ConfigMap>(kind, &api_version, obj, v)?,
        "secrets" => admission::decode::<Secret>(kind, &api_version, obj, v)?,
        "services" => admission::decode::<Service>(kind, &api_version, obj, v)?,
        _ => return Err(ApiError::method_not_allowed()),
    };
    *obj = normalized;
    obj["kind"] = json!(def.kind);
    obj["apiVersion"] = json!(api_version);
    let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
    let mut errors: Vec<FieldError> = Vec::new();
    admission::validate_name(obj, &mut errors);
    match def.plural {
        "configmaps" => config_objects::validate_config_map(obj, &mut errors),
        "secrets" => {
            config_objects::fold_string_data(obj);
            config_objects::validate_secret(obj, &mut errors);
        }
        "services" => {
            services::apply_defaults(obj);
            services::validate(obj, &mut errors);
        }
        "pods" => admission::validate_pod_spec(&obj["spec"], "spec", &mut errors),
        "deployments" => {
            admission::validate_pod_spec(
                &obj["spec"]["template"]["spec"],
                "spec.template.spec",
                &mut errors,
            );
            let sel = obj["spec"]["selector"]["matchLabels"].as_object();
            match sel {
                None => errors.push(FieldError::required("spec.selector")),
                Some(sel) => {
                    let labels = &obj["spec"]["template"]["metadata"]["labels"];
                    let selects =
                        crate::selectors::LabelSelector::from_map(sel).matches(Some(labels));
                    if !selects {
                        errors.push(FieldError::invalid(
                            "spec.template.metadata.labels",
                            &labels.to_string(),
                            "`selector` does not match template `labels`",
                        ));
                    }
                }
            }
        }
        "namespaces" if !name.is_empty() && !admission::is_dns_label(&name) => {
            errors.push(FieldError::invalid("metadata.name", &name, "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'"));
        }
        _ => {}
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(def.kind, def.group, &name, &errors));
    }
    Ok(warnings)
}

fn with_warnings(mut r: Response<Body>, warnings: &[String]) -> Response<Body> {
    for w in warnings {
        let text = format!("299 - {:?}", w);
        if let Ok(v) = HeaderValue::from_str(&text) {
            r.headers_mut().append("warning", v);
        }
    }
    r
}

pub async fn create(
    cluster: &Arc<Cluster>,
    def: &'static ResourceDef,
    namespace: Option<&str>,
    req: Request<Incoming>,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    if !def.verbs.contains(&"create") {
        return Err(ApiError::method_not_allowed());
    }
    let validation = FieldValidation::parse(query.get("fieldValidation"))?;
    let ct = content_type(&req);
    let body = read_body(req.into_body(), BODY_LIMIT).await?;
    let obj = parse_object(&body, ct.as_deref())?;
    let dry_run = query.get("dryRun").is_some_and(|d| d == "All");
    let (stored, warnings) = create_object(cluster, def, namespace, obj, validation, dry_run)?;
    Ok(with_warnings(json_response(201, &stored), &warnings))
}

/// Admits and stores a new object, as a POST does (controllers use it too).
pub fn create_object(
    cluster: &Cluster,
    def: &'static ResourceDef,
    namespace: Option<&str>,
    mut obj: Value,
    validation: FieldValidation,
    dry_run: bool,
) -> Result<(Arc<Value>, Vec<String>), ApiError> {
    check_type_meta(def, &obj)?;
    if def.namespaced {
        let ns = namespace.unwrap_or("default");
        match obj["metadata"]["namespace"].as_str() {
            Some(n) if !n.is_empty() && n != ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ))
            }
            _ => {}
        }
        let Some(nsobj) = cluster.store.get(&Key::new("namespaces", "", ns)) else {
            return Err(ApiError::not_found("namespaces", "", ns));
        };
        if !nsobj["metadata"]["deletionTimestamp"].is_null() {
            return Err(ApiError::new(
                403,
                "Forbidden",
                format!("{} \"{}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                    def.plural, obj["metadata"]["name"].as_str().unwrap_or("")),
            ));
        }
        obj["metadata"]["namespace"] = json!(ns);
    }
    if obj["metadata"]["name"].as_str().is_none_or(str::is_empty) {
        if let Some(prefix) = obj["metadata"]["generateName"].as_str() {
            obj["metadata"]["name"] = json!(format!("{prefix}{}", random_suffix(5)));
        }
    }
    let warnings = admit(def, &mut obj, validation)?;
    let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
    let meta = &mut obj["metadata"];
    meta["uid"] = json!(new_uid());
    meta["creationTimestamp"] = json!(now_rfc3339());
    for k in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
    ] {
        if let Some(m) = meta.as_object_mut() {
            m.remove(k);
        }
    }
    match def.plural {
        "pods" => {
            admission::default_pod_spec(&mut obj["spec"]);
            obj["spec"]["nodeName"] = json!(crate::kubelet::NODE_NAME);
            obj["status"] = json!({
                "phase": "Pending",
                "qosClass": "BestEffort",
                "conditions": [{"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now_rfc3339()}],
            });
        }
        "deployments" => {
            obj["metadata"]["generation"] = json!(1);
            let spec = &mut obj["spec"];
            if spec["replicas"].is_null() {
                spec["replicas"] = json!(1);
            }
            admission::default_pod_spec(&mut spec["template"]["spec"]);
            obj["status"] = json!({});
        }
        "services" => {
            let (existing, _) = cluster.store.list("services", None);
            let refs: Vec<&Value> = existing.iter().map(|s| s.as_ref()).collect();
            services::allocate(&mut obj, &refs);
        }
        "namespaces" => {
            obj["spec"] = json!({"finalizers": ["kubernetes"]});
            obj["status"] = json!({"phase": "Active"});
            let labels = &mut obj["metadata"]["labels"];
            if labels.is_null() {
                *labels = json!({});
            }
            labels["kubernetes.io/metadata.name"] = json!(name);
        }
        _ => {}
    }
    if dry_run {
        return Ok((Arc::new(obj), warnings));
    }
    let key = Key::new(
        def.plural,
        namespace.filter(|_| def.namespaced).unwrap_or(""),
        &name,
    );
    let stored = cluster
        .store
        .create(key, obj)
        .map_err(|e| ApiError::from_store(e, def.plural, def.group, &name))?;
    Ok((stored, warnings))
}

fn check_type_meta(def: &ResourceDef, obj: &Value) -> Result<(), ApiError> {
    if !obj.is_object() {
        return Err(ApiError::bad_request("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml"));
    }
    if let Some(k) = obj["kind"].as_str().filter(|k| !k.is_empty()) {
        if k != def.kind {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                def.kind
            )));
        }
    }
    if let Some(v) = obj["apiVersion"].as_str().filter(|v| !v.is_empty()) {
        if v != def.api_version() {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({})",
                def.api_version()
            )));
        }
    }
    Ok(())
}

pub async fn update(
    cluster: &Arc<Cluster>,
    def: &'static ResourceDef,
    key: Key,
    req: Request<Incoming>,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    if !def.verbs.contains(&"update") {
        return Err(ApiError::method_not_allowed());
    }
    let validation = FieldValidation::parse(query.get("fieldValidation"))?;
    let is_patch = req.method() == http::Method::PATCH;
    let ct = content_type(&req).unwrap_or_default();
    let body = read_body(req.into_body(), BODY_LIMIT).await?;
    let current = cluster
        .store
        .get(&key)
        .ok_or_else(|| ApiError::not_found(def.plural, def.group, &key.name))?;
    let (mut next, expected_rv) = if is_patch {
        (patched(&current, &ct, &body)?, None)
    } else {
        let obj = parse_object(&body, Some(&ct))?;
        check_type_meta(def, &obj)?;
        let rv = obj["metadata"]["resourceVersion"]
            .as_str()
            .map(String::from);
        (obj, rv)
    };
    // Identity and system fields stay the server's.
    for k in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        next["metadata"][k] = current["metadata"][k].clone();
    }
    let warnings = admit(def, &mut next, validation)?;
    let mut errors = Vec::new();
    match def.plural {
        "configmaps" | "secrets" => {
            config_objects::check_update(def.kind, &current, &next, &mut errors)
        }
        "services" => services::check_update(&current, &mut next, &mut errors),
        _ => {}
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(def.kind, def.group, &key.name, &errors));
    }
    if next["status"].is_null() {
        next["status"] = current["status"].clone();
    }
    if def.plural == "deployments" && next["spec"] != current["spec"] {
        let g = current["metadata"]["generation"].as_i64().unwrap_or(1);
        next["metadata"]["generation"] = json!(g + 1);
    }
    if query.get("dryRun").is_some_and(|d| d == "All") {
        return Ok(with_warnings(json_response(200, &next), &warnings));
    }
    let stored = cluster
        .store
        .update(&key, expected_rv.as_deref(), move |o| *o = next)
        .map_err(|e| ApiError::from_store(e, def.plural, def.group, &key.name))?;
    Ok(with_warnings(json_response(200, &stored), &warnings))
}

/// `current` with a PATCH body of content type `ct` applied.
pub fn patched(current: &Value, ct: &str, body: &[u8]) -> Result<Value, ApiError> {
    let mut next = current.clone();
    if ct.starts_with("application/json-patch+json") {
        let ops: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
        json_patch(&mut next, &ops)?;
    } else if ct.starts_with("application/merge-patch+json")
        || ct.starts_with("application/strategic-merge-patch+json")
    {
        let patch: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("invalid merge patch: {e}")))?;
        merge_patch(&mut next, &patch);
    } else {
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got {ct:?}; server-side apply is not supported)"),
        ));
    }
    Ok(next)
}

/// RFC 7386 JSON merge patch (also used for strategic merge patches: lists are replaced
/// whole rather than merged by key).
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().unwrap();
            for (k, v) in p {
                if k.starts_with("$") {
                    continue; // strategic-merge directives
                }
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// RFC 6902 JSON patch: add, remove, replace, test.
fn json_patch(target: &mut Value, ops: &Value) -> Result<(), ApiError> {
    let ops = ops
        .as_array()
        .ok_or_else(|| ApiError::bad_request("a JSON patch must be an array"))?;
    for op in ops {
        let path = op["path"].as_str().unwrap_or("");
        let kind = op["op"].as_str().unwrap_or("");
        let (parent_path, last) = path.rsplit_once('/').unwrap_or(("", path));
        let last = last.replace("~1", "/").replace("~0", "~");
        let parent = if parent_path.is_empty() {
            Some(&mut *target)
        } else {
            target.pointer_mut(parent_path)
        }
        .ok_or_else(|| ApiError::new(422, "Invalid", format!("path {path} does not exist")))?;
        match (kind, parent) {
            ("add" | "replace", Value::Object(m)) => {
                m.insert(last, op["value"].clone());
            }
            ("add", Value::Array(a)) if last == "-" => a.push(op["value"].clone()),
            ("add" | "replace", Value::Array(a)) => {
                let i: usize = last
                    .parse()
                    .map_err(|_| ApiError::bad_request("bad index"))?;
                if kind == "add" && i <= a.len() {
                    a.insert(i, op["value"].clone());
                } else if i < a.len() {
                    a[i] = op["value"].clone();
                } else {
                    return Err(ApiError::new(
                        422,
                        "Invalid",
                        format!("index {i} out of range"),
                    ));
                }
            }
            ("remove", Value::Object(m)) => {
                m.remove(&last);
            }
            ("remove", Value::Array(a)) => {
                let i: usize = last
                    .parse()
                    .map_err(|_| ApiError::bad_request("bad index"))?;
                if i < a.len() {
                    a.remove(i);
                }
            }
            ("test", p) => {
                let actual = match p {
                    Value::Array(a) => last.parse::<usize>().ok().and_then(|i| a.get(i)),
                    _ if last.is_empty() => Some(&*p),
                    _ => p.get(&last),
                };
                if actual != Some(&op["value"]) {
                    return Err(ApiError::new(
                        422,
                        "Invalid",
                        format!("test failed at {path}"),
                    ));
                }
            }
            _ => {
                return Err(ApiError::bad_request(format!(
                    "unsupported JSON patch op {kind:?}"
                )))
            }
        }
    }
    Ok(())
}

/// `DeleteOptions` from the body or the query.
fn grace_period(body: &[u8], query: &Query) -> Option<u64> {
    if let Some(g) = query
        .get("gracePeriodSeconds")
        .and_then(|g| g.parse::<i64>().ok())
    {
        return Some(g.max(0) as u64);
    }
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["gracePeriodSeconds"].as_i64())
        .map(|g| g.max(0) as u64)
}

/// Deletes a pod as the API does: with a grace period (default: the pod's
/// `terminationGracePeriodSeconds`) it is marked with `deletionTimestamp` and the kubelet
/// stops it and removes the object; with 0 it is removed at once. Returns the object.
pub fn delete_pod(
    store: &crate::store::Store,
    key: &Key,
    grace: Option<u64>,
) -> Result<Arc<Value>, crate::store::StoreError> {
    let current = store.get(key).ok_or(crate::store::StoreError::NotFound)?;
    let spec_grace = current["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap_or(30);
    let grace = grace.unwrap_or(spec_grace);
    if grace == 0 {
        return store.delete(key);
    }
    let deadline = std::time::SystemTime::now() + std::time::Duration::from_secs(grace);
    store.update(key, None, |o| {
        let m = &mut o["metadata"];
        let shorter = m["deletionGracePeriodSeconds"]
            .as_u64()
            .is_none_or(|g| grace < g);
        if shorter {
            m["deletionTimestamp"] = json!(rfc3339(deadline));
            m["deletionGracePeriodSeconds"] = json!(grace);
        }
    })
}

pub async fn delete(
    cluster: &Arc<Cluster>,
    def: &'static ResourceDef,
    key: Key,
    req: Request<Incoming>,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    if !def.verbs.contains(&"delete") {
        return Err(ApiError::method_not_allowed());
    }
    let body = read_body(req.into_body(), BODY_LIMIT).await?;
    if cluster.store.get(&key).is_none() {
        return Err(ApiError::not_found(def.plural, def.group, &key.name));
    }
    let not_found = |e| ApiError::from_store(e, def.plural, def.group, &key.name);
    match def.plural {
        "pods" => {
            let grace = grace_period(&body, query);
            let obj = delete_pod(&cluster.store, &key, grace).map_err(not_found)?;
            Ok(json_response(200, &obj))
        }
        "namespaces" => {
            if matches!(key.name.as_str(), "default" | "kube-system" | "kube-public") {
                return Err(ApiError::new(
                    403,
                    "Forbidden",
                    format!(
                        "namespaces \"{}\" is forbidden: this namespace may not be deleted",
                        key.name
                    ),
                ));
            }
            let updated = cluster
                .store
                .update(&key, None, |o| {
                    if o["metadata"]["deletionTimestamp"].is_null() {
                        o["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
                        o["status"]["phase"] = json!("Terminating");
                    }
                })
                .map_err(not_found)?;
            let cluster = cluster.clone();
            tokio::spawn(async move { cluster.finish_namespace(&key.name).await });
            Ok(json_response(200, &updated))
        }
        _ => {
            let last = cluster.store.delete(&key).map_err(not_found)?;
            Ok(json_response(
                200,
                &json!({
                    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                    "details": {"name": key.name, "group": def.group, "kind": def.plural,
                                "uid": last["metadata"]["uid"]},
                }),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_is_a_version_4_uuid() {
        let u = new_uid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(new_uid(), u);
    }

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut t = json!({"a": 1, "b": {"c": 2, "d": 3}, "l": [1, 2]});
        merge_patch(
            &mut t,
            &json!({"a": null, "b": {"c": 5}, "l": [9], "n": "x"}),
        );
        assert_eq!(t, json!({"b": {"c": 5, "d": 3}, "l": [9], "n": "x"}));
    }

    #[test]
    fn json_patch_ops() {
        let mut t = json!({"metadata": {"labels": {"a": "1"}}, "list": [1, 2]});
        json_patch(
            &mut t,
            &json!([
                {"op": "add", "path": "/metadata/labels/b", "value": "2"},
                {"op": "remove", "path": "/metadata/labels/a"},
                {"op": "add", "path": "/list/-", "value": 3},
                {"op": "replace", "path": "/list/0", "value": 0},
                {"op": "test", "path": "/list/1", "value": 2},
            ]),
        )
        .unwrap();
        assert_eq!(
            t,
            json!({"metadata": {"labels": {"b": "2"}}, "list": [0, 2, 3]})
        );
        assert!(json_patch(
            &mut t,
            &json!([{"op": "test", "path": "/list/0", "value": 7}])
        )
        .is_err());
    }
}
