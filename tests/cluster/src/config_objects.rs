//! ConfigMaps and Secrets: what the API server checks and fills in when they are written
//! (key names, sizes, `stringData`, the type's required keys, `immutable`), and the one
//! way pods read them ([`entries`]), shared by env, `envFrom` and volumes.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{json, Value};

use crate::status::FieldError;

/// The most a ConfigMap's or Secret's data may hold, as on a real cluster.
pub const MAX_DATA_BYTES: usize = 1 << 20;

const KEY_MSG: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

/// A valid ConfigMap / Secret key (`IsConfigMapKey`).
pub fn is_config_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 253
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && k != "."
        && k != ".."
        && !k.starts_with("..")
}

fn check_keys(obj: &Value, field: &str, errors: &mut Vec<FieldError>) {
    if let Some(m) = obj[field].as_object() {
        for k in m.keys() {
            if !is_config_key(k) {
                errors.push(FieldError::invalid(format!("{field}[{k}]"), k, KEY_MSG));
            }
        }
    }
}

/// Validates a ConfigMap (already decoded into its normal JSON form).
pub fn validate_config_map(obj: &Value, errors: &mut Vec<FieldError>) {
    check_keys(obj, "data", errors);
    check_keys(obj, "binaryData", errors);
    if let (Some(d), Some(b)) = (obj["data"].as_object(), obj["binaryData"].as_object()) {
        for k in d.keys().filter(|k| b.contains_key(*k)) {
            errors.push(FieldError::invalid(
                format!("data[{k}]"),
                k,
                "duplicate of key present in binaryData",
            ));
        }
    }
    let size: usize = entries(obj, false)
        .iter()
        .map(|(k, v)| k.len() + v.len())
        .sum();
    if size > MAX_DATA_BYTES {
        errors.push(too_long("[]", size));
    }
}

fn too_long(field: &str, size: usize) -> FieldError {
    FieldError {
        field: field.to_string(),
        reason: "FieldValueTooLong",
        detail: format!("Too long: must have at most {MAX_DATA_BYTES} bytes (has {size})"),
    }
}

/// The keys each built-in Secret type requires.
fn required_keys(ty: &str) -> &'static [&'static str] {
    match ty {
        "kubernetes.io/tls" => &["tls.crt", "tls.key"],
        "kubernetes.io/dockerconfigjson" => &[".dockerconfigjson"],
        "kubernetes.io/dockercfg" => &[".dockercfg"],
        "kubernetes.io/ssh-auth" => &["ssh-privatekey"],
        _ => &[],
    }
}

/// What a write of a Secret does before validation: `stringData` is folded into `data`
/// (base64, winning over the same key in `data`) and dropped; `type` defaults to
/// `Opaque`.
pub fn fold_string_data(obj: &mut Value) {
    if let Some(Value::Object(sd)) = obj.as_object_mut().and_then(|o| o.remove("stringData")) {
        let data = &mut obj["data"];
        if !data.is_object() {
            *data = json!({});
        }
        for (k, v) in sd {
            let bytes = v.as_str().unwrap_or("").as_bytes();
            data[k] = json!(base64::engine::general_purpose::STANDARD.encode(bytes));
        }
    }
    if obj["type"].as_str().is_none_or(str::is_empty) {
        obj["type"] = json!("Opaque");
    }
}

/// Validates a Secret after [`fold_string_data`].
pub fn validate_secret(obj: &Value, errors: &mut Vec<FieldError>) {
    check_keys(obj, "data", errors);
    let ty = obj["type"].as_str().unwrap_or("Opaque");
    for k in required_keys(ty) {
        if obj["data"].get(*k).is_none() {
            errors.push(FieldError::required(format!("data[{k}]")));
        }
    }
    let size: usize = entries(obj, true)
        .iter()
        .map(|(k, v)| k.len() + v.len())
        .sum();
    if size > MAX_DATA_BYTES {
        errors.push(too_long("data", size));
    }
}

/// An update of an object with `immutable: true` may change only its metadata; `type` of
/// a Secret never changes.
pub fn check_update(kind: &str, current: &Value, next: &Value, errors: &mut Vec<FieldError>) {
    if kind == "Secret" && current["type"] != next["type"] {
        errors.push(FieldError::invalid(
            "type",
            next["type"].as_str().unwrap_or(""),
            "field is immutable",
        ));
    }
    if current["immutable"].as_bool() == Some(true) {
        let forbidden =
            |f: &str| FieldError::forbidden(f, "field is immutable when `immutable` is set");
        if next["immutable"].as_bool() != Some(true) {
            errors.push(forbidden("immutable"));
        }
        if current["data"] != next["data"] || current["binaryData"] != next["binaryData"] {
            errors.push(forbidden("data"));
        }
    }
}

/// Every key of a ConfigMap (`data` and `binaryData`) or a Secret (`data`, decoded) with
/// its bytes.
pub fn entries(obj: &Value, secret: bool) -> BTreeMap<String, Vec<u8>> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = BTreeMap::new();
    let decoded = |v: &Value| b64.decode(v.as_str().unwrap_or("")).unwrap_or_default();
    if let Some(m) = obj["data"].as_object() {
        for (k, v) in m {
            let bytes = if secret {
                decoded(v)
            } else {
                v.as_str().unwrap_or("").as_bytes().to_vec()
            };
            out.insert(k.clone(), bytes);
        }
    }
    if let Some(m) = obj["binaryData"].as_object().filter(|_| !secret) {
        for (k, v) in m {
            out.insert(k.clone(), decoded(v));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keys_follow_kubernetes_rules() {
        for ok in ["a", "KEY_NAME", "key.name", "key-name", ".hidden", "a..b"] {
            assert!(is_config_key(ok), "{ok}");
        }
        for bad in ["", ".", "..", "..x", "a/b", "a b", &"k".repeat(254)] {
            assert!(!is_config_key(bad), "{bad}");
        }
    }

    #[test]
    fn config_map_errors_name_the_field() {
        let mut errors = Vec::new();
        let cm = json!({"data": {"ok": "1", "bad/key": "2", "dup": "x"},
                        "binaryData": {"dup": "eA=="}});
        validate_config_map(&cm, &mut errors);
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["data[bad/key]", "data[dup]"]);
        let mut errors = Vec::new();
        let big = json!({"data": {"k": "x".repeat(MAX_DATA_BYTES)}});
        validate_config_map(&big, &mut errors);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].detail.contains("1048576"), "{}", errors[0].detail);
    }

    #[test]
    fn string_data_folds_into_data_and_wins() {
        let mut s = json!({"data": {"a": "b2xk", "keep": "eA=="}, "stringData": {"a": "new"}});
        fold_string_data(&mut s);
        assert_eq!(s["type"], "Opaque");
        assert!(s.get("stringData").is_none());
        let e = entries(&s, true);
        assert_eq!(e["a"], b"new");
        assert_eq!(e["keep"], b"x");
    }

    #[test]
    fn secret_types_require_their_keys() {
        let mut errors = Vec::new();
        let tls = json!({"type": "kubernetes.io/tls", "data": {"tls.crt": "eA=="}});
        validate_secret(&tls, &mut errors);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "data[tls.key]");
    }

    #[test]
    fn immutable_objects_keep_their_data() {
        let cur = json!({"immutable": true, "data": {"a": "1"}});
        let mut errors = Vec::new();
        check_update(
            "ConfigMap",
            &cur,
            &json!({"immutable": true, "data": {"a": "2"}}),
            &mut errors,
        );
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "data");
        let mut errors = Vec::new();
        check_update("ConfigMap", &cur, &json!({"data": {"a": "1"}}), &mut errors);
        assert_eq!(errors[0].field, "immutable");
        let mut errors = Vec::new();
        let labels =
            json!({"immutable": true, "data": {"a": "1"}, "metadata": {"labels": {"x": "y"}}});
        check_update("ConfigMap", &cur, &labels, &mut errors);
        assert!(errors.is_empty());
        let mut errors = Vec::new();
        check_update(
            "Secret",
            &json!({"type": "Opaque"}),
            &json!({"type": "x"}),
            &mut errors,
        );
        assert_eq!(errors[0].field, "type");
    }

    #[test]
    fn entries_read_config_maps_and_secrets() {
        let cm = json!({"data": {"a": "text"}, "binaryData": {"b": "AAEC"}});
        let e = entries(&cm, false);
        assert_eq!(e["a"], b"text");
        assert_eq!(e["b"], [0, 1, 2]);
        let s = json!({"data": {"p": "cGFzcw=="}});
        assert_eq!(entries(&s, true)["p"], b"pass");
    }
}
