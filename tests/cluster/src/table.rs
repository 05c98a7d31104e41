//! Server-side `Table` output (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`),
//! the way `kubectl get` asks for it, with the columns a real cluster prints.

use std::time::SystemTime;

use serde_json::{json, Value};

use crate::util::{human_duration, parse_rfc3339};

/// Whether the Accept header asks for a Table.
pub fn wants_table(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.contains("as=Table"))
}

/// How much of each object a row carries (`includeObject=None|Metadata|Object`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn parse(s: Option<&str>) -> IncludeObject {
        match s {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

fn columns(resource: &str) -> Value {
    let col = |name: &str, ty: &str, format: &str, desc: &str, priority: u32| json!({"name": name, "type": ty, "format": format, "description": desc, "priority": priority});
    match resource {
        "pods" => json!([
            col("Name", "string", "name", "Name must be unique within a namespace.", 0),
            col("Ready", "string", "", "The aggregate readiness state of this pod for accepting traffic.", 0),
            col("Status", "string", "", "The aggregate status of the containers in this pod.", 0),
            col("Restarts", "string", "", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.", 0),
            col("Age", "string", "", "CreationTimestamp is a timestamp representing the server time when this object was created.", 0),
            col("IP", "string", "", "podIP is an IP address allocated to the pod.", 1),
            col("Node", "string", "", "NodeName is the name of the node this pod runs on.", 1),
            col("Nominated Node", "string", "", "nominatedNodeName is set when this pod preempts other pods on the node.", 1),
            col("Readiness Gates", "string", "", "If specified, all readiness gates will be evaluated for pod readiness.", 1),
        ]),
        "deployments" => json!([
            col("Name", "string", "name", "Name must be unique within a namespace.", 0),
            col("Ready", "string", "", "Number of the pod with ready state", 0),
            col("Up-to-date", "string", "", "Total number of non-terminated pods targeted by this deployment that have the desired template spec.", 0),
            col("Available", "string", "", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.", 0),
            col("Age", "string", "", "CreationTimestamp is a timestamp representing the server time when this object was created.", 0),
            col("Containers", "string", "", "Names of each container in the template.", 1),
            col("Images", "string", "", "Images referenced by each container in the template.", 1),
            col("Selector", "string", "", "Label selector for pods.", 1),
        ]),
        "namespaces" => json!([
            col("Name", "string", "name", "Name must be unique within a namespace.", 0),
            col("Status", "string", "", "The status of the namespace", 0),
            col("Age", "string", "", "CreationTimestamp is a timestamp representing the server time when this object was created.", 0),
        ]),
        "configmaps" => json!([
            col("Name", "string", "name", "Name must be unique within a namespace.", 0),
            col("Data", "string", "", "Data contains the configuration data.", 0),
            col("Age", "string", "", "CreationTimestamp is a timestamp representing the server time when this object was created.", 0),
        ]),
        "secrets" => json!([
            col("Name", "string", "name", "Name must be unique within a namespace.", 0),
            col("Type", "string", "", "Used to facilitate programmatic handling of secret data.", 0),
            col("Data", "string", "", "Data contains the secret data.", 0),
            col("Age", "string", "", "CreationTimestamp is a timestamp representing the server time when this object was created.", 0),
        ]),
        "services" => json!([
            col("Name", "string", "name", "Name must be unique within a namespace.", 0),
            col("Type", "string", "", "type determines how the Service is exposed.", 0),
            col("Cluster-IP", "string", "", "clusterIP is the IP address of the service and is usually assigned randomly.", 0),
            col("External-IP", "string", "", "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.", 0),
            col("Port(s)", "string", "", "The list of ports that are exposed by this service.", 0),
            col("Age", "string", "", "CreationTimestamp is a timestamp representing the server time when this object was created.", 0),
            col("Selector", "string", "", "Route service traffic to pods with label keys and values matching this selector.", 1),
        ]),
        "nodes" => json!([
            col("Name", "string", "name", "Name must be unique within a namespace.", 0),
            col("Status", "string", "", "The status of the node", 0),
            col("Roles", "string", "", "The roles of the node", 0),
            col("Age", "string", "", "CreationTimestamp is a timestamp representing the server time when this object was created.", 0),
            col("Version", "string", "", "Kubelet Version reported by the node.", 0),
        ]),
        _ => json!([
            col("Name", "string", "name", "Name must be unique within a namespace.", 0),
            col("Created At", "date", "", "CreationTimestamp is a timestamp representing the server time when this object was created.", 0),
        ]),
    }
}

fn age(obj: &Value) -> String {
    obj["metadata"]["creationTimestamp"]
        .as_str()
        .and_then(parse_rfc3339)
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .map(human_duration)
        .unwrap_or_else(|| "<unknown>".into())
}

/// The STATUS column of `kubectl get pods`, computed as kubectl's printer does.
pub fn pod_status_text(pod: &Value) -> String {
    let status = &pod["status"];
    let mut reason = status["reason"]
        .as_str()
        .or(status["phase"].as_str())
        .unwrap_or("Unknown")
        .to_string();
    let empty = Vec::new();
    let statuses = status["containerStatuses"].as_array().unwrap_or(&empty);
    let mut has_running = false;
    for cs in statuses.iter().rev() {
        let state = &cs["state"];
        if let Some(r) = state["waiting"]["reason"]
            .as_str()
            .filter(|r| !r.is_empty())
        {
            reason = r.to_string();
        } else if !state["terminated"].is_null() {
            let t = &state["terminated"];
            reason = match t["reason"].as_str().filter(|r| !r.is_empty()) {
                Some(r) => r.to_string(),
                None => match t["signal"].as_i64().filter(|s| *s != 0) {
                    Some(sig) => format!("Signal:{sig}"),
                    None => format!("ExitCode:{}", t["exitCode"].as_i64().unwrap_or(0)),
                },
            };
        } else if cs["ready"].as_bool() == Some(true) && !state["running"].is_null() {
            has_running = true;
        }
    }
    if reason == "Completed" && has_running {
        reason = "Running".into();
    }
    if !pod["metadata"]["deletionTimestamp"].is_null() {
        reason = "Terminating".into();
    }
    reason
}

fn pod_cells(pod: &Value) -> Vec<Value> {
    let empty = Vec::new();
    let specs = pod["spec"]["containers"].as_array().unwrap_or(&empty);
    let statuses = pod["status"]["containerStatuses"]
        .as_array()
        .unwrap_or(&empty);
    let ready = statuses
        .iter()
        .filter(|c| c["ready"].as_bool() == Some(true))
        .count();
    let restarts: i64 = statuses
        .iter()
        .map(|c| c["restartCount"].as_i64().unwrap_or(0))
        .sum();
    let last_restart = statuses
        .iter()
        .filter_map(|c| c["lastState"]["terminated"]["finishedAt"].as_str())
        .filter_map(parse_rfc3339)
        .max();
    let restarts_text = match last_restart {
        Some(t) if restarts > 0 => format!(
            "{restarts} ({} ago)",
            human_duration(SystemTime::now().duration_since(t).unwrap_or_default())
        ),
        _ => restarts.to_string(),
    };
    let or_none = |v: &Value| v.as_str().unwrap_or("<none>").to_string();
    vec![
        json!(pod["metadata"]["name"]),
        json!(format!("{ready}/{}", specs.len())),
        json!(pod_status_text(pod)),
        json!(restarts_text),
        json!(age(pod)),
        json!(or_none(&pod["status"]["podIP"])),
        json!(or_none(&pod["spec"]["nodeName"])),
        json!("<none>"),
        json!("<none>"),
    ]
}

fn deployment_cells(d: &Value) -> Vec<Value> {
    let want = d["spec"]["replicas"].as_i64().unwrap_or(1);
    let ready = d["status"]["readyReplicas"].as_i64().unwrap_or(0);
    let updated = d["status"]["updatedReplicas"].as_i64().unwrap_or(0);
    let available = d["status"]["availableReplicas"].as_i64().unwrap_or(0);
    let empty = Vec::new();
    let containers = d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap_or(&empty);
    let names: Vec<_> = containers
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    let images: Vec<_> = containers
        .iter()
        .filter_map(|c| c["image"].as_str())
        .collect();
    let selector = selector_text(&d["spec"]["selector"]["matchLabels"]);
    vec![
        json!(d["metadata"]["name"]),
        json!(format!("{ready}/{want}")),
        json!(updated.to_string()),
        json!(available.to_string()),
        json!(age(d)),
        json!(names.join(",")),
        json!(images.join(",")),
        json!(selector),
    ]
}

fn cells(resource: &str, obj: &Value) -> Vec<Value> {
    match resource {
        "pods" => pod_cells(obj),
        "deployments" => deployment_cells(obj),
        "namespaces" => vec![
            json!(obj["metadata"]["name"]),
            json!(obj["status"]["phase"].as_str().unwrap_or("Active")),
            json!(age(obj)),
        ],
        "configmaps" => vec![
            json!(obj["metadata"]["name"]),
            json!(count(&obj["data"]) + count(&obj["binaryData"])),
            json!(age(obj)),
        ],
        "secrets" => vec![
            json!(obj["metadata"]["name"]),
            json!(obj["type"].as_str().unwrap_or("Opaque")),
            json!(count(&obj["data"])),
            json!(age(obj)),
        ],
        "services" => vec![
            json!(obj["metadata"]["name"]),
            json!(obj["spec"]["type"].as_str().unwrap_or("ClusterIP")),
            json!(obj["spec"]["clusterIP"].as_str().unwrap_or("<none>")),
            json!(crate::services::external_ip_text(obj)),
            json!(crate::services::ports_text(obj)),
            json!(age(obj)),
            json!(selector_text(&obj["spec"]["selector"])),
        ],
        "nodes" => vec![
            json!(obj["metadata"]["name"]),
            json!("Ready"),
            json!("control-plane"),
            json!(age(obj)),
            json!(obj["status"]["nodeInfo"]["kubeletVersion"]),
        ],
        _ => vec![
            json!(obj["metadata"]["name"]),
            json!(obj["metadata"]["creationTimestamp"]),
        ],
    }
}

fn count(map: &Value) -> usize {
    map.as_object().map_or(0, |m| m.len())
}

/// `app=web,tier=front`, or `<none>`.
fn selector_text(map: &Value) -> String {
    match map.as_object().filter(|m| !m.is_empty()) {
        None => "<none>".into(),
        Some(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
            .collect::<Vec<_>>()
            .join(","),
    }
}

fn row(resource: &str, obj: &Value, include: IncludeObject) -> Value {
    let mut row = json!({"cells": cells(resource, obj)});
    match include {
        IncludeObject::None => {}
        IncludeObject::Object => row["object"] = obj.clone(),
        IncludeObject::Metadata => {
            row["object"] = json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            })
        }
    }
    row
}

/// A Table of `objects`; `list_meta` is the list's metadata (resourceVersion).
pub fn table(
    resource: &str,
    objects: &[&Value],
    include: IncludeObject,
    resource_version: Option<u64>,
) -> Value {
    let mut meta = json!({});
    if let Some(rv) = resource_version {
        meta["resourceVersion"] = json!(rv.to_string());
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": columns(resource),
        "rows": objects.iter().map(|o| row(resource, o, include)).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_status_text_follows_kubectl_rules() {
        let running = json!({"status": {"phase": "Running", "containerStatuses": [
            {"ready": true, "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]}});
        assert_eq!(pod_status_text(&running), "Running");
        let pulling = json!({"status": {"phase": "Pending", "containerStatuses": [
            {"ready": false, "state": {"waiting": {"reason": "ErrImagePull"}}}]}});
        assert_eq!(pod_status_text(&pulling), "ErrImagePull");
        let mut deleting = running.clone();
        deleting["metadata"] = json!({"deletionTimestamp": "2026-01-01T00:00:00Z"});
        assert_eq!(pod_status_text(&deleting), "Terminating");
        let exited = json!({"status": {"phase": "Failed", "containerStatuses": [
            {"ready": false, "state": {"terminated": {"exitCode": 3}}}]}});
        assert_eq!(pod_status_text(&exited), "ExitCode:3");
    }

    fn header(resource: &str) -> Vec<String> {
        let t = table(resource, &[], IncludeObject::None, None);
        t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["priority"] == 0)
            .map(|c| c["name"].as_str().unwrap().to_uppercase())
            .collect()
    }

    #[test]
    fn config_and_service_rows_have_the_kubectl_columns() {
        assert_eq!(header("configmaps"), ["NAME", "DATA", "AGE"]);
        assert_eq!(header("secrets"), ["NAME", "TYPE", "DATA", "AGE"]);
        assert_eq!(
            header("services"),
            [
                "NAME",
                "TYPE",
                "CLUSTER-IP",
                "EXTERNAL-IP",
                "PORT(S)",
                "AGE"
            ]
        );
        let cm = json!({"metadata": {"name": "c"}, "data": {"a": "1"}, "binaryData": {"b": ""}});
        assert_eq!(cells("configmaps", &cm)[1], 2);
        let svc = json!({"metadata": {"name": "s"}, "spec": {"type": "ClusterIP",
            "clusterIP": "10.96.0.9", "selector": {"app": "web"},
            "ports": [{"port": 80, "protocol": "TCP"}]}});
        let c = cells("services", &svc);
        assert_eq!(c[2], "10.96.0.9");
        assert_eq!(c[3], "<none>");
        assert_eq!(c[4], "80/TCP");
        assert_eq!(c[6], "app=web");
    }

    #[test]
    fn pod_rows_have_the_kubectl_columns() {
        let pod = json!({"metadata": {"name": "web", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "ferry-node"},
            "status": {"phase": "Running", "containerStatuses": [
                {"ready": true, "restartCount": 0, "state": {"running": {}}},
                {"ready": false, "restartCount": 2, "state": {"running": {}}}]}});
        let t = table("pods", &[&pod], IncludeObject::Metadata, Some(7));
        let cols: Vec<_> = t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["priority"] == 0)
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(cols, ["Name", "Ready", "Status", "Restarts", "Age"]);
        let cells = &t["rows"][0]["cells"];
        assert_eq!(cells[0], "web");
        assert_eq!(cells[1], "1/2");
        assert_eq!(cells[3], "2");
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(t["metadata"]["resourceVersion"], "7");
    }
}
