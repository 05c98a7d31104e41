//! What the cluster tells clients about itself: `/version`, the discovery documents
//! (`/api`, `/api/v1`, `/apis`, `/apis/apps/v1`) and just enough OpenAPI for kubectl.
//!
//! kubectl's default validation on `create -f` / `apply -f` asks OpenAPI v3 whether the
//! server supports the `fieldValidation` query parameter for the object's kind (a PATCH
//! operation tagged with `x-kubernetes-group-version-kind` that lists the parameter). When
//! it does, kubectl leaves validation to the server and sends `fieldValidation=Strict`,
//! which the API implements. OpenAPI v2 is only fetched as protobuf; an empty document is
//! a valid (empty) protobuf message and satisfies kubectl's factory.

use serde_json::{json, Value};

/// One API resource the cluster serves.
pub struct ResourceDef {
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub group: &'static str,
    pub version: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub verbs: &'static [&'static str],
    pub subresources: &'static [(&'static str, &'static str, &'static [&'static str])],
}

impl ResourceDef {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The URL prefix of the group version: `/api/v1` or `/apis/apps/v1`.
    pub fn gv_path(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }
}

const RW: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

pub const PODS: ResourceDef = ResourceDef {
    plural: "pods",
    singular: "pod",
    kind: "Pod",
    group: "",
    version: "v1",
    namespaced: true,
    short_names: &["po"],
    verbs: RW,
    subresources: &[
        ("exec", "PodExecOptions", &["create", "get"]),
        ("log", "Pod", &["get"]),
        ("status", "Pod", &["get", "patch", "update"]),
    ],
};

pub const NAMESPACES: ResourceDef = ResourceDef {
    plural: "namespaces",
    singular: "namespace",
    kind: "Namespace",
    group: "",
    version: "v1",
    namespaced: false,
    short_names: &["ns"],
    verbs: &[
        "create", "delete", "get", "list", "patch", "update", "watch",
    ],
    subresources: &[],
};

pub const EVENTS: ResourceDef = ResourceDef {
    plural: "events",
    singular: "event",
    kind: "Event",
    group: "",
    version: "v1",
    namespaced: true,
    short_names: &["ev"],
    verbs: &["get", "list", "watch"],
    subresources: &[],
};

pub const NODES: ResourceDef = ResourceDef {
    plural: "nodes",
    singular: "node",
    kind: "Node",
    group: "",
    version: "v1",
    namespaced: false,
    short_names: &["no"],
    verbs: &["get", "list", "watch"],
    subresources: &[],
};

pub const DEPLOYMENTS: ResourceDef = ResourceDef {
    plural: "deployments",
    singular: "deployment",
    kind: "Deployment",
    group: "apps",
    version: "v1",
    namespaced: true,
    short_names: &["deploy"],
    verbs: RW,
    subresources: &[
        ("scale", "Scale", &["get", "patch", "update"]),
        ("status", "Deployment", &["get", "patch", "update"]),
    ],
};

pub const CONFIGMAPS: ResourceDef = ResourceDef {
    plural: "configmaps",
    singular: "configmap",
    kind: "ConfigMap",
    group: "",
    version: "v1",
    namespaced: true,
    short_names: &["cm"],
    verbs: RW,
    subresources: &[],
};

pub const SECRETS: ResourceDef = ResourceDef {
    plural: "secrets",
    singular: "secret",
    kind: "Secret",
    group: "",
    version: "v1",
    namespaced: true,
    short_names: &[],
    verbs: RW,
    subresources: &[],
};

/// Stored and validated; no networking behind them (the containers share the host's
/// loopback, so a port in a container is reached at 127.0.0.1 directly).
pub const SERVICES: ResourceDef = ResourceDef {
    plural: "services",
    singular: "service",
    kind: "Service",
    group: "",
    version: "v1",
    namespaced: true,
    short_names: &["svc"],
    verbs: &[
        "create", "delete", "get", "list", "patch", "update", "watch",
    ],
    subresources: &[("status", "Service", &["get", "patch", "update"])],
};

pub const ALL: &[&ResourceDef] = &[
    &PODS,
    &NAMESPACES,
    &EVENTS,
    &NODES,
    &CONFIGMAPS,
    &SECRETS,
    &SERVICES,
    &DEPLOYMENTS,
];

/// The kinds a namespace's deletion removes, in order (owners before what they own).
pub const NAMESPACED_STORED: &[&ResourceDef] =
    &[&DEPLOYMENTS, &SERVICES, &CONFIGMAPS, &SECRETS, &PODS];

pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceDef> {
    ALL.iter()
        .copied()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// `/version` for a server that claims Kubernetes `1.<minor>`.
pub fn version(minor: u32) -> Value {
    json!({
        "major": "1",
        "minor": minor.to_string(),
        "gitVersion": format!("v1.{minor}.0"),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

pub fn api_group_list() -> Value {
    json!({
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [api_group("apps")],
    })
}

pub fn api_group(name: &str) -> Value {
    json!({
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": name,
        "versions": [{"groupVersion": format!("{name}/v1"), "version": "v1"}],
        "preferredVersion": {"groupVersion": format!("{name}/v1"), "version": "v1"},
    })
}

/// The APIResourceList of one group version (`""`/`v1` or `apps`/`v1`).
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let defs: Vec<_> = ALL
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if defs.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for r in defs {
        let mut entry = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs,
        });
        if !r.short_names.is_empty() {
            entry["shortNames"] = json!(r.short_names);
        }
        if matches!(r.plural, "pods" | "deployments" | "services") {
            entry["categories"] = json!(["all"]);
        }
        resources.push(entry);
        for (sub, kind, verbs) in r.subresources {
            let mut entry = json!({
                "name": format!("{}/{}", r.plural, sub),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": kind,
                "verbs": verbs,
            });
            if *kind == "Scale" {
                // The scale client (`kubectl scale`) reads the subresource's group version.
                entry["group"] = json!("autoscaling");
                entry["version"] = json!("v1");
            }
            resources.push(entry);
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": resources,
    }))
}

/// `/openapi/v3`: where each group version's document lives.
pub fn openapi_v3_root() -> Value {
    let mut paths = serde_json::Map::new();
    for gv in ["api/v1", "apis/apps/v1"] {
        paths.insert(
            gv.to_string(),
            json!({"serverRelativeURL": format!("/openapi/v3/{gv}?hash=FERRY0000000001")}),
        );
    }
    json!({ "paths": paths })
}

/// `/openapi/v3/api/v1` or `/openapi/v3/apis/apps/v1`.
pub fn openapi_v3_group_version(gv_path: &str) -> Option<Value> {
    let (group, version) = match gv_path {
        "api/v1" => ("", "v1"),
        "apis/apps/v1" => ("apps", "v1"),
        _ => return None,
    };
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    for r in ALL
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        let gvk = json!({"group": r.group, "version": r.version, "kind": r.kind});
        let schema_name = schema_name(r);
        let body_ref = json!({"$ref": format!("#/components/schemas/{schema_name}")});
        let write_params = json!([
            {"name": "dryRun", "in": "query", "schema": {"type": "string"}, "uniqueItems": true},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string"}, "uniqueItems": true},
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}, "uniqueItems": true},
        ]);
        let op = |action: &str, op_id: String| {
            json!({
                "operationId": op_id,
                "parameters": write_params,
                "requestBody": {"content": {"application/json": {"schema": body_ref}}},
                "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": body_ref}}}},
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
            })
        };
        let prefix = format!("/{gv_path}");
        let (collection, item) = if r.namespaced {
            (
                format!("{prefix}/namespaces/{{namespace}}/{}", r.plural),
                format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", r.plural),
            )
        } else {
            (
                format!("{prefix}/{}", r.plural),
                format!("{prefix}/{}/{{name}}", r.plural),
            )
        };
        if r.verbs.contains(&"create") {
            paths.insert(
                collection,
                json!({"post": op("post", format!("create{}", r.kind))}),
            );
            paths.insert(
                item,
                json!({
                    "put": op("put", format!("replace{}", r.kind)),
                    "patch": op("patch", format!("patch{}", r.kind)),
                }),
            );
        }
        schemas.insert(
            schema_name,
            json!({
                "type": "object",
                "description": format!("{} (ferry-cluster serves a permissive schema; the server validates)", r.kind),
                "x-kubernetes-preserve-unknown-fields": true,
                "x-kubernetes-group-version-kind": [gvk],
            }),
        );
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

fn schema_name(r: &ResourceDef) -> String {
    let pkg = if r.group.is_empty() { "core" } else { r.group };
    format!("io.k8s.api.{pkg}.{}.{}", r.version, r.kind)
}
