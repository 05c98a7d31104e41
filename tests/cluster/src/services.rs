//! Services as stored objects: validated, defaulted and allocated a cluster IP (and node
//! ports) the way a real API server does, so manifests apply and `kubectl get svc` reads
//! as usual. Nothing routes to them: ferry-cluster has no kube-proxy. A container's port
//! is reached on the host's loopback or through `kubectl port-forward`.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use serde_json::{json, Value};

use crate::status::FieldError;

const TYPES: &[&str] = &["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];
const PROTOCOLS: &[&str] = &["TCP", "UDP", "SCTP"];
/// The service CIDR a default cluster uses (`--service-cluster-ip-range`).
const CIDR_BASE: u32 = 0x0a60_0000; // 10.96.0.0
const CIDR_SIZE: u32 = 1 << 20; // /12
pub const NODE_PORTS: std::ops::RangeInclusive<i64> = 30000..=32767;

fn in_cidr(ip: Ipv4Addr) -> bool {
    u32::from(ip).wrapping_sub(CIDR_BASE) < CIDR_SIZE
}

fn is_port_name(s: &str) -> bool {
    // IANA service name: at most 15 lowercase alphanumerics or '-', with a letter.
    !s.is_empty()
        && s.len() <= 15
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.bytes().any(|b| b.is_ascii_lowercase())
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

/// Validates a Service's spec (after [`apply_defaults`]).
pub fn validate(obj: &Value, errors: &mut Vec<FieldError>) {
    let spec = &obj["spec"];
    let ty = spec["type"].as_str().unwrap_or("ClusterIP");
    if !TYPES.contains(&ty) {
        errors.push(FieldError::not_supported("spec.type", ty, TYPES));
    }
    let cluster_ip = spec["clusterIP"].as_str().unwrap_or("");
    if ty == "ExternalName" {
        if spec["externalName"].as_str().is_none_or(str::is_empty) {
            errors.push(FieldError::required("spec.externalName"));
        }
    } else if cluster_ip != "None" && !cluster_ip.is_empty() {
        match cluster_ip.parse::<Ipv4Addr>() {
            Err(_) => errors.push(FieldError::invalid(
                "spec.clusterIPs[0]",
                cluster_ip,
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            )),
            Ok(ip) if !in_cidr(ip) => errors.push(FieldError::invalid(
                "spec.clusterIPs[0]",
                cluster_ip,
                "failed to allocate IP: the provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/12",
            )),
            Ok(_) => {}
        }
    }
    let empty = Vec::new();
    let ports = spec["ports"].as_array().unwrap_or(&empty);
    if ports.is_empty() && ty != "ExternalName" && cluster_ip != "None" {
        errors.push(FieldError::required("spec.ports"));
    }
    let mut names = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let f = |k: &str| format!("spec.ports[{i}].{k}");
        let name = p["name"].as_str().unwrap_or("");
        if ports.len() > 1 && name.is_empty() {
            errors.push(FieldError::required(f("name")));
        } else if !name.is_empty() {
            if !crate::admission::is_dns_label(name) {
                errors.push(FieldError::invalid(f("name"), name, "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"));
            } else if !names.insert(name) {
                errors.push(FieldError::duplicate(f("name"), name));
            }
        }
        let range = "must be between 1 and 65535, inclusive";
        match p["port"].as_i64() {
            None => errors.push(FieldError::required(f("port"))),
            Some(n) if !(1..=65535).contains(&n) => {
                errors.push(FieldError::invalid(f("port"), &n.to_string(), range))
            }
            _ => {}
        }
        let proto = p["protocol"].as_str().unwrap_or("TCP");
        if !PROTOCOLS.contains(&proto) {
            errors.push(FieldError::not_supported(f("protocol"), proto, PROTOCOLS));
        }
        match &p["targetPort"] {
            Value::Number(n) if !(1..=65535).contains(&n.as_i64().unwrap_or(0)) => {
                errors.push(FieldError::invalid(f("targetPort"), &n.to_string(), range))
            }
            Value::String(s) if !is_port_name(s) => errors.push(FieldError::invalid(
                f("targetPort"),
                s,
                "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-), at most 15 characters, with at least one letter",
            )),
            _ => {}
        }
        if let Some(np) = p["nodePort"].as_i64() {
            if !matches!(ty, "NodePort" | "LoadBalancer") {
                errors.push(FieldError::forbidden(
                    f("nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            } else if !NODE_PORTS.contains(&np) {
                errors.push(FieldError::invalid(
                    f("nodePort"),
                    &np.to_string(),
                    "provided port is not in the valid range. The range of valid ports is 30000-32767",
                ));
            }
        }
    }
}

/// The defaults of every write: type, session affinity, each port's protocol and target.
pub fn apply_defaults(obj: &mut Value) {
    let spec = &mut obj["spec"];
    if !spec.is_object() {
        *spec = json!({});
    }
    let set = |v: &mut Value, k: &str, d: Value| {
        if v[k].is_null() {
            v[k] = d;
        }
    };
    set(spec, "type", json!("ClusterIP"));
    let ty = spec["type"].as_str().unwrap_or("").to_string();
    if ty != "ExternalName" {
        set(spec, "sessionAffinity", json!("None"));
        set(spec, "internalTrafficPolicy", json!("Cluster"));
        set(spec, "ipFamilies", json!(["IPv4"]));
        set(spec, "ipFamilyPolicy", json!("SingleStack"));
    }
    if matches!(ty.as_str(), "NodePort" | "LoadBalancer") {
        set(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if ty == "LoadBalancer" {
        set(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
    if let Some(ports) = spec["ports"].as_array_mut() {
        for p in ports {
            set(p, "protocol", json!("TCP"));
            let port = p["port"].clone();
            set(p, "targetPort", port);
        }
    }
    set(obj, "status", json!({"loadBalancer": {}}));
}

/// Gives a new Service its cluster IP and node ports, avoiding those of `existing`.
pub fn allocate(obj: &mut Value, existing: &[&Value]) {
    let ty = obj["spec"]["type"]
        .as_str()
        .unwrap_or("ClusterIP")
        .to_string();
    if ty == "ExternalName" {
        return;
    }
    let used_ips: HashSet<&str> = existing
        .iter()
        .filter_map(|s| s["spec"]["clusterIP"].as_str())
        .collect();
    if obj["spec"]["clusterIP"].as_str().is_none_or(str::is_empty) {
        // Start where a hash of the name points, then probe: stable and collision-free.
        let meta = &obj["metadata"];
        let seed = fnv1a(&format!("{}/{}", meta["namespace"], meta["name"]));
        let ip = (0..CIDR_SIZE - 2)
            .map(|i| Ipv4Addr::from(CIDR_BASE + 2 + seed.wrapping_add(i) % (CIDR_SIZE - 2)))
            .find(|ip| !used_ips.contains(ip.to_string().as_str()))
            .unwrap_or(Ipv4Addr::new(10, 96, 0, 2));
        obj["spec"]["clusterIP"] = json!(ip.to_string());
    }
    let spec = &mut obj["spec"];
    let ip = spec["clusterIP"].clone();
    spec["clusterIPs"] = json!([ip]);
    if matches!(ty.as_str(), "NodePort" | "LoadBalancer") {
        let mut used: HashSet<i64> = existing
            .iter()
            .flat_map(|s| s["spec"]["ports"].as_array().cloned().unwrap_or_default())
            .filter_map(|p| p["nodePort"].as_i64())
            .collect();
        if let Some(ports) = spec["ports"].as_array_mut() {
            for p in ports.iter_mut().filter(|p| p["nodePort"].is_null()) {
                if let Some(np) = NODE_PORTS.clone().find(|n| !used.contains(n)) {
                    used.insert(np);
                    p["nodePort"] = json!(np);
                }
            }
        }
    }
}

fn fnv1a(s: &str) -> u32 {
    s.bytes()
        .fold(2166136261u32, |h, b| (h ^ b as u32).wrapping_mul(16777619))
}

/// What an update keeps of the stored Service: its allocations, and that they do not
/// change once set.
pub fn check_update(current: &Value, next: &mut Value, errors: &mut Vec<FieldError>) {
    let cur_ip = current["spec"]["clusterIP"].clone();
    let next_ip = next["spec"]["clusterIP"].clone();
    if next_ip.as_str().is_none_or(str::is_empty) {
        next["spec"]["clusterIP"] = cur_ip.clone();
        next["spec"]["clusterIPs"] = current["spec"]["clusterIPs"].clone();
    } else if next_ip != cur_ip && next["spec"]["type"] == current["spec"]["type"] {
        errors.push(FieldError::invalid(
            "spec.clusterIPs[0]",
            next_ip.as_str().unwrap_or(""),
            "may not change once set",
        ));
    }
    if next["spec"]["clusterIPs"].is_null() {
        next["spec"]["clusterIPs"] = current["spec"]["clusterIPs"].clone();
    }
}

/// `80/TCP,443:30443/TCP` — the PORT(S) column.
pub fn ports_text(svc: &Value) -> String {
    let empty = Vec::new();
    let ports = svc["spec"]["ports"].as_array().unwrap_or(&empty);
    if ports.is_empty() {
        return "<none>".into();
    }
    ports
        .iter()
        .map(|p| {
            let proto = p["protocol"].as_str().unwrap_or("TCP");
            match p["nodePort"].as_i64() {
                Some(np) => format!("{}:{np}/{proto}", p["port"]),
                None => format!("{}/{proto}", p["port"]),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The EXTERNAL-IP column.
pub fn external_ip_text(svc: &Value) -> String {
    let spec = &svc["spec"];
    match spec["type"].as_str().unwrap_or("ClusterIP") {
        "ExternalName" => spec["externalName"].as_str().unwrap_or("").to_string(),
        "LoadBalancer" => "<pending>".into(),
        _ => match spec["externalIPs"].as_array() {
            Some(a) if !a.is_empty() => a
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
            _ => "<none>".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(spec: Value) -> Value {
        json!({"metadata": {"name": "web"}, "spec": spec})
    }

    #[test]
    fn defaults_and_allocation_match_a_real_server() {
        let mut s = svc(json!({"selector": {"app": "web"}, "ports": [{"port": 80}]}));
        apply_defaults(&mut s);
        allocate(&mut s, &[]);
        let spec = &s["spec"];
        assert_eq!(spec["type"], "ClusterIP");
        assert_eq!(spec["ports"][0]["protocol"], "TCP");
        assert_eq!(spec["ports"][0]["targetPort"], 80);
        let ip: Ipv4Addr = spec["clusterIP"].as_str().unwrap().parse().unwrap();
        assert!(in_cidr(ip), "{ip}");
        assert_eq!(spec["clusterIPs"], json!([ip.to_string()]));
        let mut errors = Vec::new();
        validate(&s, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(ports_text(&s), "80/TCP");
        assert_eq!(external_ip_text(&s), "<none>");

        // A second Service gets another IP; node ports are allocated once each.
        let mut t = svc(json!({"type": "NodePort", "ports": [{"port": 80}, {"port": 81}]}));
        apply_defaults(&mut t);
        allocate(&mut t, &[&s]);
        assert_ne!(t["spec"]["clusterIP"], s["spec"]["clusterIP"]);
        let a = t["spec"]["ports"][0]["nodePort"].as_i64().unwrap();
        let b = t["spec"]["ports"][1]["nodePort"].as_i64().unwrap();
        assert!(NODE_PORTS.contains(&a) && NODE_PORTS.contains(&b) && a != b);
        assert_eq!(ports_text(&t), format!("80:{a}/TCP,81:{b}/TCP"));
    }

    #[test]
    fn invalid_services_name_each_field() {
        let mut s = svc(json!({"type": "Bogus", "clusterIP": "192.168.0.1",
            "ports": [{"port": 0}, {"port": 80, "protocol": "HTTP", "targetPort": "NotAName"}]}));
        apply_defaults(&mut s);
        let mut errors = Vec::new();
        validate(&s, &mut errors);
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.type",
                "spec.clusterIPs[0]",
                "spec.ports[0].name",
                "spec.ports[0].port",
                "spec.ports[0].targetPort",
                "spec.ports[1].name",
                "spec.ports[1].protocol",
                "spec.ports[1].targetPort",
            ]
        );
        let mut none = svc(json!({}));
        apply_defaults(&mut none);
        let mut errors = Vec::new();
        validate(&none, &mut errors);
        assert_eq!(errors[0].field, "spec.ports");
    }

    #[test]
    fn updates_keep_the_cluster_ip() {
        let mut cur = svc(json!({"ports": [{"port": 80}]}));
        apply_defaults(&mut cur);
        allocate(&mut cur, &[]);
        let mut next = svc(json!({"ports": [{"port": 81}]}));
        apply_defaults(&mut next);
        let mut errors = Vec::new();
        check_update(&cur, &mut next, &mut errors);
        assert!(errors.is_empty());
        assert_eq!(next["spec"]["clusterIP"], cur["spec"]["clusterIP"]);
        let mut moved = svc(json!({"clusterIP": "10.96.9.9", "ports": [{"port": 81}]}));
        apply_defaults(&mut moved);
        check_update(&cur, &mut moved, &mut errors);
        assert_eq!(errors[0].field, "spec.clusterIPs[0]");
    }
}
