//! What the API server does to an object before it is stored: decode it against the real
//! Kubernetes types (k8s-openapi), report unknown fields per `fieldValidation`, validate
//! the fields ferry-cluster relies on, and fill in the defaults a real server fills in.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use crate::status::{ApiError, FieldError};

/// The `fieldValidation` query parameter (`Strict`, `Warn` — the default — or `Ignore`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValidation {
    Strict,
    Warn,
    Ignore,
}

impl FieldValidation {
    pub fn parse(s: Option<&str>) -> Result<FieldValidation, ApiError> {
        match s {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation parameter unsupported: {other}, must be one of Strict, Warn, Ignore"
            ))),
        }
    }
}

/// Decodes `input` as `T` and re-encodes it: the normalized object, plus the paths of
/// fields `T` does not know (warnings, or an error under `Strict`).
pub fn decode<T: DeserializeOwned + Serialize>(
    kind: &str,
    api_version: &str,
    input: &Value,
    validation: FieldValidation,
) -> Result<(Value, Vec<String>), ApiError> {
    if !input.is_object() {
        return Err(ApiError::bad_request(format!(
            "{kind} in version \"{api_version}\" cannot be handled as a {kind}: expected an object"
        )));
    }
    let typed: T = serde_json::from_value(input.clone()).map_err(|e| {
        ApiError::bad_request(format!(
            "{kind} in version \"{api_version}\" cannot be handled as a {kind}: {e}"
        ))
    })?;
    let normalized = serde_json::to_value(&typed).map_err(|e| ApiError::internal(e.to_string()))?;
    let mut unknown = Vec::new();
    if validation != FieldValidation::Ignore {
        unknown_fields(input, &normalized, "", &mut unknown);
        // apiVersion/kind are consumed by the type's own serde and always round-trip.
        unknown.retain(|p| p != "apiVersion" && p != "kind");
    }
    if validation == FieldValidation::Strict && !unknown.is_empty() {
        let list: Vec<String> = unknown
            .iter()
            .map(|p| format!("unknown field \"{p}\""))
            .collect();
        return Err(ApiError::bad_request(format!(
            "strict decoding error: {}",
            list.join(", ")
        )));
    }
    let warnings = unknown
        .iter()
        .map(|p| format!("unknown field \"{p}\""))
        .collect();
    Ok((normalized, warnings))
}

/// Paths present (and not null) in `input` but dropped by the typed round trip. The
/// k8s-openapi types keep empty lists and objects (`Option<Vec<_>>`), so only `null`
/// can vanish legitimately.
fn unknown_fields(input: &Value, normalized: &Value, path: &str, out: &mut Vec<String>) {
    match (input, normalized) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match b.get(k) {
                    Some(nv) => unknown_fields(v, nv, &p, out),
                    None if v.is_null() => {}
                    None => out.push(p),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (v, nv)) in a.iter().zip(b.iter()).enumerate() {
                unknown_fields(v, nv, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// DNS-1123 label (container names, namespaces).
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// DNS-1123 subdomain (object names).
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

const DNS_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

/// Checks `metadata.name` (after `generateName` was applied).
pub fn validate_name(obj: &Value, errors: &mut Vec<FieldError>) {
    match obj["metadata"]["name"].as_str() {
        None | Some("") => errors.push(FieldError::required("metadata.name")),
        Some(n) if !is_dns_subdomain(n) => {
            errors.push(FieldError::invalid("metadata.name", n, DNS_SUBDOMAIN_MSG))
        }
        _ => {}
    }
}

/// Validates a pod spec at `prefix` (`spec` for a Pod, `spec.template.spec` for a
/// Deployment).
pub fn validate_pod_spec(spec: &Value, prefix: &str, errors: &mut Vec<FieldError>) {
    let containers = spec["containers"].as_array();
    match containers {
        None => errors.push(FieldError::required(format!("{prefix}.containers"))),
        Some(cs) if cs.is_empty() => {
            errors.push(FieldError::required(format!("{prefix}.containers")))
        }
        Some(cs) => {
            let mut seen = std::collections::HashSet::new();
            for (i, c) in cs.iter().enumerate() {
                let field = format!("{prefix}.containers[{i}]");
                match c["name"].as_str() {
                    None | Some("") => errors.push(FieldError::required(format!("{field}.name"))),
                    Some(n) if !is_dns_label(n) => errors.push(FieldError::invalid(
                        format!("{field}.name"),
                        n,
                        DNS_LABEL_MSG,
                    )),
                    Some(n) => {
                        if !seen.insert(n.to_string()) {
                            errors.push(FieldError::duplicate(format!("{field}.name"), n));
                        }
                    }
                }
                if c["image"].as_str().is_none_or(|s| s.trim().is_empty()) {
                    errors.push(FieldError::required(format!("{field}.image")));
                }
            }
        }
    }
    if let Some(vols) = spec["volumes"].as_array() {
        for (i, v) in vols.iter().enumerate() {
            let field = format!("{prefix}.volumes[{i}]");
            let sources = [
                "emptyDir",
                "hostPath",
                "configMap",
                "secret",
                "persistentVolumeClaim",
                "projected",
                "downwardAPI",
            ];
            let n = sources.iter().filter(|s| !v[**s].is_null()).count();
            if n == 0 {
                errors.push(
                    FieldError::required(field.clone()).with_detail("must specify a volume type"),
                );
            }
            if let Some(p) = v["hostPath"]["path"].as_str() {
                if !p.starts_with('/') {
                    errors.push(FieldError::invalid(
                        format!("{field}.hostPath.path"),
                        p,
                        "must be an absolute path",
                    ));
                }
            }
        }
    }
    if let Some(restart) = spec["restartPolicy"].as_str() {
        if !matches!(restart, "Always" | "OnFailure" | "Never") {
            errors.push(FieldError::not_supported(
                format!("{prefix}.restartPolicy"),
                restart,
                &["Always", "OnFailure", "Never"],
            ));
        }
    }
}

impl FieldError {
    fn with_detail(mut self, d: &str) -> FieldError {
        self.detail = d.to_string();
        self.reason = "FieldValueRequired";
        self
    }
}

/// The defaults a real API server fills into a pod spec.
pub fn default_pod_spec(spec: &mut Value) {
    let set = |v: &mut Value, k: &str, d: Value| {
        if v[k].is_null() {
            v[k] = d;
        }
    };
    set(spec, "restartPolicy", json!("Always"));
    set(spec, "terminationGracePeriodSeconds", json!(30));
    set(spec, "dnsPolicy", json!("ClusterFirst"));
    set(spec, "schedulerName", json!("default-scheduler"));
    set(spec, "securityContext", json!({}));
    set(spec, "serviceAccountName", json!("default"));
    set(spec, "serviceAccount", json!("default"));
    set(spec, "enableServiceLinks", json!(true));
    set(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
    set(spec, "priority", json!(0));
    if let Some(cs) = spec.get_mut("containers").and_then(Value::as_array_mut) {
        for c in cs {
            let image = c["image"].as_str().unwrap_or("").to_string();
            let latest =
                !image.rsplit('/').next().unwrap_or("").contains(':') || image.ends_with(":latest");
            set(
                c,
                "imagePullPolicy",
                json!(if latest { "Always" } else { "IfNotPresent" }),
            );
            set(c, "terminationMessagePath", json!("/dev/termination-log"));
            set(c, "terminationMessagePolicy", json!("File"));
            set(c, "resources", json!({}));
        }
    }
    if let Some(vols) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
        for v in vols {
            if v["hostPath"].is_object() && v["hostPath"]["type"].is_null() {
                v["hostPath"]["type"] = json!("");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;

    #[test]
    fn strict_decoding_names_unknown_fields() {
        let input = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"},
            "spec": {"containers": [{"name": "c", "image": "busybox", "bogus": 1}], "extra": true}});
        let err = decode::<Pod>("Pod", "v1", &input, FieldValidation::Strict).unwrap_err();
        assert_eq!(err.code, 400);
        assert!(
            err.message
                .contains("unknown field \"spec.containers[0].bogus\""),
            "{}",
            err.message
        );
        assert!(
            err.message.contains("unknown field \"spec.extra\""),
            "{}",
            err.message
        );
        let (_, warnings) = decode::<Pod>("Pod", "v1", &input, FieldValidation::Warn).unwrap();
        assert_eq!(warnings.len(), 2);
        let (_, none) = decode::<Pod>("Pod", "v1", &input, FieldValidation::Ignore).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn wrong_types_are_bad_requests() {
        let input = json!({"metadata": {"name": "a"}, "spec": {"containers": "nope"}});
        let err = decode::<Pod>("Pod", "v1", &input, FieldValidation::Strict).unwrap_err();
        assert_eq!(err.code, 400);
        assert!(err
            .message
            .starts_with("Pod in version \"v1\" cannot be handled as a Pod"));
    }

    #[test]
    fn a_well_formed_pod_round_trips_without_warnings() {
        let input = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "labels": {"app": "x"}},
            "spec": {"securityContext": {"runAsUser": 1000}, "containers": [{"name": "c", "image": "busybox",
            "command": ["sh"], "args": [], "volumeMounts": [{"name": "v", "mountPath": "/app"}]}],
            "volumes": [{"name": "v", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}]}});
        let (_, warnings) = decode::<Pod>("Pod", "v1", &input, FieldValidation::Strict).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn pod_spec_validation_reports_each_field() {
        let spec = json!({"containers": [{"name": "Bad_Name"}, {"name": "ok", "image": "busybox"}, {"name": "ok", "image": "x"}]});
        let mut errors = Vec::new();
        validate_pod_spec(&spec, "spec", &mut errors);
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.containers[0].name",
                "spec.containers[0].image",
                "spec.containers[2].name"
            ]
        );
    }
}
