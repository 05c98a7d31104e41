//! A container's environment as the kubelet builds it: `envFrom` (ConfigMaps and
//! Secrets, with `prefix`), then `env` (values with `$(VAR)` references, and `valueFrom`
//! ConfigMap / Secret keys and pod fields), later entries winning. Pure over a lookup of
//! the referenced objects, so every rule is unit-tested; the kubelet supplies the store.
//!
//! A missing reference that is not `optional` is an error in the kubelet's words
//! (`configmap "app" not found`); the kubelet then keeps the container waiting in
//! `CreateContainerConfigError` and retries.

use std::collections::BTreeMap;

use serde_json::Value;

/// The kind of object an env source names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    ConfigMap,
    Secret,
}

impl Source {
    fn lower(self) -> &'static str {
        match self {
            Source::ConfigMap => "configmap",
            Source::Secret => "secret",
        }
    }
    fn kind(self) -> &'static str {
        match self {
            Source::ConfigMap => "ConfigMap",
            Source::Secret => "Secret",
        }
    }
}

/// Reads a ConfigMap's or Secret's entries by name (in the pod's namespace).
pub type Lookup<'a> = dyn Fn(Source, &str) -> Option<BTreeMap<String, Vec<u8>>> + 'a;

fn set(env: &mut Vec<(String, String)>, name: String, value: String) {
    match env.iter_mut().find(|(n, _)| *n == name) {
        Some(slot) => slot.1 = value,
        None => env.push((name, value)),
    }
}

/// Expands `$(NAME)` from `env` as the kubelet does: `$$` is a literal `$`, a reference
/// to an unknown name stays as written.
pub fn expand(s: &str, env: &[(String, String)]) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('(') {
            match inner.find(')') {
                Some(end) => {
                    let name = &inner[..end];
                    match env.iter().rev().find(|(n, _)| n == name) {
                        Some((_, v)) => out.push_str(v),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &inner[end + 1..];
                }
                None => {
                    out.push_str(&rest[i..]);
                    rest = "";
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// `metadata.labels['app']` and the other `fieldRef` paths a kubelet resolves.
fn field_value(pod: &Value, path: &str) -> Result<String, String> {
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    let keyed = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|r| r.strip_prefix("['"))
            .and_then(|r| r.strip_suffix("']"))
    };
    let meta = &pod["metadata"];
    Ok(match path {
        "metadata.name" => text(&meta["name"]),
        "metadata.namespace" => text(&meta["namespace"]),
        "metadata.uid" => text(&meta["uid"]),
        "spec.nodeName" => text(&pod["spec"]["nodeName"]),
        "spec.serviceAccountName" => text(&pod["spec"]["serviceAccountName"]),
        "status.hostIP" | "status.hostIPs" => "127.0.0.1".into(),
        "status.podIP" | "status.podIPs" => text(&pod["status"]["podIP"]),
        _ => {
            if let Some(k) = keyed("metadata.labels") {
                text(&meta["labels"][k])
            } else if let Some(k) = keyed("metadata.annotations") {
                text(&meta["annotations"][k])
            } else {
                return Err(format!("unsupported fieldRef path {path:?}"));
            }
        }
    })
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The environment of `container` (a container spec of `pod`).
pub fn container_env(
    pod: &Value,
    container: &Value,
    lookup: &Lookup,
) -> Result<Vec<(String, String)>, String> {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default");
    let mut env: Vec<(String, String)> = Vec::new();
    let empty = Vec::new();
    for from in container["envFrom"].as_array().unwrap_or(&empty) {
        let prefix = from["prefix"].as_str().unwrap_or("");
        let (source, r) = if from["configMapRef"].is_object() {
            (Source::ConfigMap, &from["configMapRef"])
        } else if from["secretRef"].is_object() {
            (Source::Secret, &from["secretRef"])
        } else {
            continue;
        };
        let name = r["name"].as_str().unwrap_or("");
        match lookup(source, name) {
            Some(entries) => {
                for (k, v) in entries {
                    let var = format!("{prefix}{k}");
                    // The kubelet skips names that cannot be variables (and reports an event).
                    if !var.is_empty() && !var.contains('=') {
                        set(&mut env, var, lossy(&v));
                    }
                }
            }
            None if r["optional"].as_bool() == Some(true) => {}
            None => return Err(format!("{} \"{name}\" not found", source.lower())),
        }
    }
    for e in container["env"].as_array().unwrap_or(&empty) {
        let Some(name) = e["name"].as_str() else {
            continue;
        };
        let from = &e["valueFrom"];
        let value = if let Some(v) = e["value"].as_str() {
            expand(v, &env)
        } else if from.is_object() {
            let key_ref = [
                (Source::ConfigMap, &from["configMapKeyRef"]),
                (Source::Secret, &from["secretKeyRef"]),
            ]
            .into_iter()
            .find(|(_, r)| r.is_object());
            if let Some((source, r)) = key_ref {
                let obj = r["name"].as_str().unwrap_or("");
                let key = r["key"].as_str().unwrap_or("");
                let optional = r["optional"].as_bool() == Some(true);
                match lookup(source, obj) {
                    None if optional => continue,
                    None => return Err(format!("{} \"{obj}\" not found", source.lower())),
                    Some(entries) => match entries.get(key) {
                        Some(v) => lossy(v),
                        None if optional => continue,
                        None => {
                            return Err(format!(
                                "couldn't find key {key} in {} {ns}/{obj}",
                                source.kind()
                            ))
                        }
                    },
                }
            } else if let Some(path) = from["fieldRef"]["fieldPath"].as_str() {
                field_value(pod, path)?
            } else if from["resourceFieldRef"].is_object() {
                return Err(format!(
                    "env {name}: resourceFieldRef is not supported by ferry-cluster (it enforces no resources)"
                ));
            } else {
                String::new()
            }
        } else {
            String::new()
        };
        set(&mut env, name.to_string(), value);
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn objects(source: Source, name: &str) -> Option<BTreeMap<String, Vec<u8>>> {
        let pairs: &[(&str, &str)] = match (source, name) {
            (Source::ConfigMap, "app") => &[("MODE", "dev"), ("PORT", "8080"), ("bad=name", "x")],
            (Source::Secret, "creds") => &[("PASSWORD", "s3cret")],
            _ => return None,
        };
        Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect(),
        )
    }

    fn pod() -> Value {
        json!({"metadata": {"name": "web", "namespace": "dev", "uid": "u-1",
            "labels": {"app": "web"}}, "spec": {"nodeName": "ferry-node"}})
    }

    fn env_of(container: Value) -> Result<Vec<(String, String)>, String> {
        container_env(&pod(), &container, &objects)
    }

    #[test]
    fn env_from_then_env_with_later_entries_winning() {
        let env = env_of(json!({
            "envFrom": [{"configMapRef": {"name": "app"}}, {"secretRef": {"name": "creds"}, "prefix": "DB_"}],
            "env": [
                {"name": "PORT", "value": "9090"},
                {"name": "URL", "value": "http://$(MODE):$(PORT)/$(NOPE)/$$(MODE)"},
                {"name": "USER_PASS", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "PASSWORD"}}},
                {"name": "CM_MODE", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "MODE"}}},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                {"name": "EMPTY"},
            ],
        }))
        .unwrap();
        let got: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            got,
            [
                ("MODE", "dev"),
                ("PORT", "9090"),
                ("DB_PASSWORD", "s3cret"),
                ("URL", "http://dev:9090/$(NOPE)/$(MODE)"),
                ("USER_PASS", "s3cret"),
                ("CM_MODE", "dev"),
                ("POD", "web"),
                ("NS", "dev"),
                ("APP", "web"),
                ("EMPTY", ""),
            ]
        );
    }

    #[test]
    fn missing_references_fail_in_the_kubelets_words_unless_optional() {
        let err = env_of(json!({"envFrom": [{"configMapRef": {"name": "gone"}}]}));
        assert_eq!(err.unwrap_err(), "configmap \"gone\" not found");
        let err = env_of(json!({"env": [{"name": "X", "valueFrom":
            {"secretKeyRef": {"name": "gone", "key": "k"}}}]}));
        assert_eq!(err.unwrap_err(), "secret \"gone\" not found");
        let err = env_of(json!({"env": [{"name": "X", "valueFrom":
            {"configMapKeyRef": {"name": "app", "key": "nope"}}}]}));
        assert_eq!(
            err.unwrap_err(),
            "couldn't find key nope in ConfigMap dev/app"
        );
        let ok = env_of(json!({
        "envFrom": [{"secretRef": {"name": "gone", "optional": true}}],
        "env": [
            {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "nope", "optional": true}}},
            {"name": "Y", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k", "optional": true}}},
        ]}));
        assert_eq!(ok.unwrap(), []);
        let err = env_of(json!({"env": [{"name": "X", "valueFrom":
            {"fieldRef": {"fieldPath": "spec.bogus"}}}]}));
        assert!(err.unwrap_err().contains("spec.bogus"));
    }

    #[test]
    fn expansion_edge_cases() {
        let env = vec![("A".to_string(), "1".to_string())];
        assert_eq!(expand("$(A)$(A)", &env), "11");
        assert_eq!(expand("$A $(A", &env), "$A $(A");
        assert_eq!(expand("$$$$", &env), "$$");
        assert_eq!(expand("cost: 5$", &env), "cost: 5$");
    }
}
