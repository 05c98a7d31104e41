//! Protobuf request bodies (`Content-Type: application/vnd.kubernetes.protobuf`).
//!
//! kubectl ≥ 1.32 sends the objects of its typed commands (`create namespace`, `create
//! deployment`, `create configmap`, `create secret`, `create service`) as protobuf and does
//! not retry with JSON. [`decode`] turns such a body into the JSON object the Kubernetes
//! JSON encoding of the same object would be, so the create path treats it like any JSON
//! body. The wire format: the magic `k8s\0`, then a `runtime.Unknown` whose `typeMeta`
//! names the kind and whose `raw` is the object's own message (k8s-pb's types).
//!
//! Every k8s-pb struct is destructured without `..`, so each field is either converted
//! or refused by [`refuse`] with a 415 naming its path; nothing is dropped unnoticed.
//! Exceptions: `status` (a real API server ignores it on create and update of the main
//! resource, and kubectl only sends an empty one), and fields newer than k8s-pb knows
//! (prost skips unknown fields; k8s-pb 0.9 already has fields added after Kubernetes
//! 1.33, such as `PodSpec.hostnameOverride`, so nothing kubectl ≤ 1.33 sends is unknown to
//! it). Zero values follow Go's JSON encoding: `omitempty` fields ([`Obj::nz`]) are
//! left out when zero, pointer fields ([`Obj::opt`]) are kept when sent, even if zero.

use std::collections::BTreeMap;

use base64::Engine;
use k8s_pb::api::{apps::v1 as apps, core::v1 as core};
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use prost::Message;
use serde_json::{Map, Value};

use crate::status::ApiError;

type R<T> = Result<T, ApiError>;

/// The four bytes every Kubernetes protobuf body starts with.
pub const MAGIC: &[u8; 4] = b"k8s\0";

/// Decodes a protobuf request body into the object's JSON form (with `apiVersion` and
/// `kind`). Malformed bytes → 400; kinds and fields ferry-cluster does not decode → 415.
pub fn decode(body: &[u8]) -> R<Value> {
    let Some(envelope) = body.strip_prefix(MAGIC) else {
        let start: Vec<String> = body.iter().take(4).map(|b| format!("{b:02x}")).collect();
        return Err(ApiError::bad_request(format!(
            "protobuf body does not start with the magic bytes 6b 38 73 00 (\"k8s\\0\"); it starts with [{}]",
            start.join(" ")
        )));
    };
    let Unknown {
        type_meta,
        raw,
        content_encoding,
        content_type,
    } = Unknown::decode(envelope).map_err(|e| {
        ApiError::bad_request(format!(
            "protobuf body is not a valid runtime.Unknown envelope: {e}"
        ))
    })?;
    if let Some(e) = content_encoding.filter(|e| !e.is_empty()) {
        return Err(unsupported(format!(
            "protobuf envelope with contentEncoding {e:?} is not supported by ferry-cluster"
        )));
    }
    if let Some(t) = content_type.filter(|t| !t.is_empty() && !t.contains("protobuf")) {
        return Err(unsupported(format!(
            "protobuf envelope with contentType {t:?} is not supported by ferry-cluster"
        )));
    }
    let TypeMeta { api_version, kind } = type_meta.unwrap_or_default();
    let (api_version, kind) = (api_version.unwrap_or_default(), kind.unwrap_or_default());
    let raw = raw.unwrap_or_default();
    let what = format!("{api_version} {kind}");
    let object = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Namespace") => namespace(message(&raw, &what)?)?,
        ("v1", "Pod") => pod(message(&raw, &what)?)?,
        ("v1", "ConfigMap") => config_map(message(&raw, &what)?)?,
        ("v1", "Secret") => secret(message(&raw, &what)?)?,
        ("v1", "Service") => service(message(&raw, &what)?)?,
        ("apps/v1", "Deployment") => deployment(message(&raw, &what)?)?,
        _ => {
            return Err(unsupported(format!(
                "protobuf bodies of kind {kind:?} in version {api_version:?} are not supported by ferry-cluster (it decodes v1 Namespace, Pod, ConfigMap, Secret, Service and apps/v1 Deployment); send the object as JSON"
            )))
        }
    };
    let Value::Object(fields) = object else {
        unreachable!("converters return objects")
    };
    let mut out = Map::new();
    out.insert("apiVersion".into(), api_version.into());
    out.insert("kind".into(), kind.into());
    out.extend(fields);
    Ok(Value::Object(out))
}

fn message<M: Message + Default>(raw: &[u8], what: &str) -> R<M> {
    M::decode(raw)
        .map_err(|e| ApiError::bad_request(format!("protobuf body is not a valid {what}: {e}")))
}

fn unsupported(message: String) -> ApiError {
    ApiError::new(415, "UnsupportedMediaType", message)
}

fn at(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

/// A field this module does not convert: fine when absent, a 415 naming it when set.
fn refuse(path: &str, fields: &[(&str, bool)]) -> R<()> {
    match fields.iter().find(|(_, set)| *set) {
        Some((field, _)) => Err(unsupported(format!(
            "protobuf field {} is not supported by ferry-cluster; send the object as JSON (kubectl apply -f FILE)",
            at(path, field)
        ))),
        None => Ok(()),
    }
}

/// A JSON object under construction, with Go's JSON rules for absent and zero values.
#[derive(Default)]
struct Obj(Map<String, Value>);

impl Obj {
    /// A pointer field (`*T` in Go): written whenever it was sent, zero or not.
    fn opt(&mut self, key: &str, v: Option<impl Into<Value>>) {
        if let Some(v) = v {
            self.0.insert(key.into(), v.into());
        }
    }

    /// An `omitempty` field: left out when zero, as Go leaves it out.
    fn nz<T: Into<Value> + Default + PartialEq>(&mut self, key: &str, v: Option<T>) {
        self.opt(key, v.filter(|v| *v != T::default()));
    }

    /// A field Go always writes (no `omitempty`).
    fn req<T: Into<Value> + Default>(&mut self, key: &str, v: Option<T>) {
        self.0.insert(key.into(), v.unwrap_or_default().into());
    }

    /// Any value but `null`.
    fn val(&mut self, key: &str, v: Value) {
        if !v.is_null() {
            self.0.insert(key.into(), v);
        }
    }

    fn strs(&mut self, key: &str, v: Vec<String>) {
        if !v.is_empty() {
            self.0.insert(key.into(), v.into());
        }
    }

    fn map<T: Into<Value>>(&mut self, key: &str, m: BTreeMap<String, T>) {
        if !m.is_empty() {
            let m = m.into_iter().map(|(k, v)| (k, v.into())).collect();
            self.0.insert(key.into(), Value::Object(m));
        }
    }

    /// A nested message, converted by `f` with its path.
    fn sub<T>(&mut self, path: &str, key: &str, v: Option<T>, f: fn(T, &str) -> R<Value>) -> R<()> {
        if let Some(v) = v {
            let converted = f(v, &at(path, key))?;
            self.0.insert(key.into(), converted);
        }
        Ok(())
    }

    /// A list of messages (left out when empty), each converted by `f` with its path.
    fn list<T>(&mut self, path: &str, key: &str, v: Vec<T>, f: fn(T, &str) -> R<Value>) -> R<()> {
        if !v.is_empty() {
            let items = v
                .into_iter()
                .enumerate()
                .map(|(i, x)| f(x, &format!("{}[{i}]", at(path, key))))
                .collect::<R<Vec<_>>>()?;
            self.0.insert(key.into(), items.into());
        }
        Ok(())
    }

    fn done(self) -> R<Value> {
        Ok(Value::Object(self.0))
    }
}

fn b64(bytes: Vec<u8>) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn quantity(q: Quantity) -> String {
    let Quantity { string } = q;
    string.unwrap_or_default()
}

fn quantities(m: BTreeMap<String, Quantity>) -> BTreeMap<String, String> {
    m.into_iter().map(|(k, q)| (k, quantity(q))).collect()
}

/// `IntOrString` as JSON: a number (type 0) or a string (type 1); `null` when zero.
fn int_or_string(v: IntOrString) -> Value {
    let IntOrString {
        r#type,
        int_val,
        str_val,
    } = v;
    match r#type {
        Some(1) => str_val.filter(|s| !s.is_empty()).into(),
        _ => int_val.filter(|i| *i != 0).into(),
    }
}

/// `metav1.Time` as RFC 3339 with second precision; `null` for the zero time (an empty
/// message: Go writes nothing for it).
fn time(t: Option<meta::Time>, path: &str) -> R<Value> {
    let Some(meta::Time { seconds, nanos }) = t else {
        return Ok(Value::Null);
    };
    if seconds.is_none() && nanos.is_none() {
        return Ok(Value::Null);
    }
    let dt = time::OffsetDateTime::from_unix_timestamp(seconds.unwrap_or(0))
        .map_err(|e| ApiError::bad_request(format!("protobuf field {path}: invalid time: {e}")))?;
    Ok(crate::util::rfc3339(dt.into()).into())
}

fn object_meta(m: meta::ObjectMeta, p: &str) -> R<Value> {
    let meta::ObjectMeta {
        name,
        generate_name,
        namespace,
        self_link,
        uid,
        resource_version,
        generation,
        creation_timestamp,
        deletion_timestamp,
        deletion_grace_period_seconds,
        labels,
        annotations,
        owner_references,
        finalizers,
        managed_fields,
    } = m;
    refuse(p, &[("managedFields", !managed_fields.is_empty())])?;
    let mut o = Obj::default();
    o.nz("name", name);
    o.nz("generateName", generate_name);
    o.nz("namespace", namespace);
    o.nz("selfLink", self_link);
    o.nz("uid", uid);
    o.nz("resourceVersion", resource_version);
    o.nz("generation", generation);
    o.val(
        "creationTimestamp",
        time(creation_timestamp, &at(p, "creationTimestamp"))?,
    );
    o.val(
        "deletionTimestamp",
        time(deletion_timestamp, &at(p, "deletionTimestamp"))?,
    );
    o.opt("deletionGracePeriodSeconds", deletion_grace_period_seconds);
    o.map("labels", labels);
    o.map("annotations", annotations);
    o.list(p, "ownerReferences", owner_references, owner_reference)?;
    o.strs("finalizers", finalizers);
    o.done()
}

fn owner_reference(r: meta::OwnerReference, _: &str) -> R<Value> {
    let meta::OwnerReference {
        api_version,
        kind,
        name,
        uid,
        controller,
        block_owner_deletion,
    } = r;
    let mut o = Obj::default();
    o.req("apiVersion", api_version);
    o.req("kind", kind);
    o.req("name", name);
    o.req("uid", uid);
    o.opt("controller", controller);
    o.opt("blockOwnerDeletion", block_owner_deletion);
    o.done()
}

fn label_selector(s: meta::LabelSelector, p: &str) -> R<Value> {
    let meta::LabelSelector {
        match_labels,
        match_expressions,
    } = s;
    let mut o = Obj::default();
    o.map("matchLabels", match_labels);
    o.list(p, "matchExpressions", match_expressions, |r, _| {
        let meta::LabelSelectorRequirement {
            key,
            operator,
            values,
        } = r;
        let mut o = Obj::default();
        o.req("key", key);
        o.req("operator", operator);
        o.strs("values", values);
        o.done()
    })?;
    o.done()
}

fn namespace(n: core::Namespace) -> R<Value> {
    let core::Namespace {
        metadata,
        spec,
        status: _,
    } = n;
    let mut o = Obj::default();
    o.sub("", "metadata", metadata, object_meta)?;
    o.sub("", "spec", spec, |s, _| {
        let core::NamespaceSpec { finalizers } = s;
        let mut o = Obj::default();
        o.strs("finalizers", finalizers);
        o.done()
    })?;
    o.done()
}

fn pod(pod: core::Pod) -> R<Value> {
    let core::Pod {
        metadata,
        spec,
        status: _,
    } = pod;
    let mut o = Obj::default();
    o.sub("", "metadata", metadata, object_meta)?;
    o.sub("", "spec", spec, pod_spec)?;
    o.done()
}

fn config_map(c: core::ConfigMap) -> R<Value> {
    let core::ConfigMap {
        metadata,
        immutable,
        data,
        binary_data,
    } = c;
    let mut o = Obj::default();
    o.sub("", "metadata", metadata, object_meta)?;
    o.opt("immutable", immutable);
    o.map("data", data);
    o.map(
        "binaryData",
        binary_data.into_iter().map(|(k, v)| (k, b64(v))).collect(),
    );
    o.done()
}

fn secret(s: core::Secret) -> R<Value> {
    let core::Secret {
        metadata,
        immutable,
        data,
        string_data,
        r#type,
    } = s;
    let mut o = Obj::default();
    o.sub("", "metadata", metadata, object_meta)?;
    o.opt("immutable", immutable);
    o.map("data", data.into_iter().map(|(k, v)| (k, b64(v))).collect());
    o.map("stringData", string_data);
    o.nz("type", r#type);
    o.done()
}

fn service(s: core::Service) -> R<Value> {
    let core::Service {
        metadata,
        spec,
        status: _,
    } = s;
    let mut o = Obj::default();
    o.sub("", "metadata", metadata, object_meta)?;
    o.sub("", "spec", spec, service_spec)?;
    o.done()
}

fn service_spec(s: core::ServiceSpec, p: &str) -> R<Value> {
    let core::ServiceSpec {
        ports,
        selector,
        cluster_ip,
        cluster_ips,
        r#type,
        external_ips,
        session_affinity,
        load_balancer_ip,
        load_balancer_source_ranges,
        external_name,
        external_traffic_policy,
        health_check_node_port,
        publish_not_ready_addresses,
        session_affinity_config,
        ip_families,
        ip_family_policy,
        allocate_load_balancer_node_ports,
        load_balancer_class,
        internal_traffic_policy,
        traffic_distribution,
    } = s;
    let mut o = Obj::default();
    o.list(p, "ports", ports, |port, _| {
        let core::ServicePort {
            name,
            protocol,
            app_protocol,
            port,
            target_port,
            node_port,
        } = port;
        let mut o = Obj::default();
        o.nz("name", name);
        o.nz("protocol", protocol);
        o.opt("appProtocol", app_protocol);
        o.req("port", port);
        o.val("targetPort", target_port.map_or(Value::Null, int_or_string));
        o.nz("nodePort", node_port);
        o.done()
    })?;
    o.map("selector", selector);
    o.nz("clusterIP", cluster_ip);
    o.strs("clusterIPs", cluster_ips);
    o.nz("type", r#type);
    o.strs("externalIPs", external_ips);
    o.nz("sessionAffinity", session_affinity);
    o.nz("loadBalancerIP", load_balancer_ip);
    o.strs("loadBalancerSourceRanges", load_balancer_source_ranges);
    o.nz("externalName", external_name);
    o.nz("externalTrafficPolicy", external_traffic_policy);
    o.nz("healthCheckNodePort", health_check_node_port);
    o.nz("publishNotReadyAddresses", publish_not_ready_addresses);
    o.sub(
        p,
        "sessionAffinityConfig",
        session_affinity_config,
        |c, p| {
            let core::SessionAffinityConfig { client_ip } = c;
            let mut o = Obj::default();
            o.sub(p, "clientIP", client_ip, |c, _| {
                let core::ClientIpConfig { timeout_seconds } = c;
                let mut o = Obj::default();
                o.opt("timeoutSeconds", timeout_seconds);
                o.done()
            })?;
            o.done()
        },
    )?;
    o.strs("ipFamilies", ip_families);
    o.opt("ipFamilyPolicy", ip_family_policy);
    o.opt(
        "allocateLoadBalancerNodePorts",
        allocate_load_balancer_node_ports,
    );
    o.opt("loadBalancerClass", load_balancer_class);
    o.opt("internalTrafficPolicy", internal_traffic_policy);
    o.opt("trafficDistribution", traffic_distribution);
    o.done()
}

fn deployment(d: apps::Deployment) -> R<Value> {
    let apps::Deployment {
        metadata,
        spec,
        status: _,
    } = d;
    let mut o = Obj::default();
    o.sub("", "metadata", metadata, object_meta)?;
    o.sub("", "spec", spec, deployment_spec)?;
    o.done()
}

fn deployment_spec(s: apps::DeploymentSpec, p: &str) -> R<Value> {
    let apps::DeploymentSpec {
        replicas,
        selector,
        template,
        strategy,
        min_ready_seconds,
        revision_history_limit,
        paused,
        progress_deadline_seconds,
    } = s;
    let mut o = Obj::default();
    o.opt("replicas", replicas);
    o.sub(p, "selector", selector, label_selector)?;
    o.sub(p, "template", template, pod_template_spec)?;
    o.sub(p, "strategy", strategy, |s, p| {
        let apps::DeploymentStrategy {
            r#type,
            rolling_update,
        } = s;
        let mut o = Obj::default();
        o.nz("type", r#type);
        o.sub(p, "rollingUpdate", rolling_update, |r, _| {
            let apps::RollingUpdateDeployment {
                max_unavailable,
                max_surge,
            } = r;
            let mut o = Obj::default();
            o.val(
                "maxUnavailable",
                max_unavailable.map_or(Value::Null, int_or_string),
            );
            o.val("maxSurge", max_surge.map_or(Value::Null, int_or_string));
            o.done()
        })?;
        o.done()
    })?;
    o.nz("minReadySeconds", min_ready_seconds);
    o.opt("revisionHistoryLimit", revision_history_limit);
    o.nz("paused", paused);
    o.opt("progressDeadlineSeconds", progress_deadline_seconds);
    o.done()
}

fn pod_template_spec(t: core::PodTemplateSpec, p: &str) -> R<Value> {
    let core::PodTemplateSpec { metadata, spec } = t;
    let mut o = Obj::default();
    o.sub(p, "metadata", metadata, object_meta)?;
    o.sub(p, "spec", spec, pod_spec)?;
    o.done()
}

fn pod_spec(s: core::PodSpec, p: &str) -> R<Value> {
    let core::PodSpec {
        volumes,
        init_containers,
        containers,
        ephemeral_containers,
        restart_policy,
        termination_grace_period_seconds,
        active_deadline_seconds,
        dns_policy,
        node_selector,
        service_account_name,
        service_account,
        automount_service_account_token,
        node_name,
        host_network,
        host_pid,
        host_ipc,
        share_process_namespace,
        security_context,
        image_pull_secrets,
        hostname,
        subdomain,
        affinity,
        scheduler_name,
        tolerations,
        host_aliases,
        priority_class_name,
        priority,
        dns_config,
        readiness_gates,
        runtime_class_name,
        enable_service_links,
        preemption_policy,
        overhead,
        topology_spread_constraints,
        set_hostname_as_fqdn,
        os,
        host_users,
        scheduling_gates,
        resource_claims,
        resources,
        hostname_override,
        workload_ref,
    } = s;
    refuse(
        p,
        &[
            ("ephemeralContainers", !ephemeral_containers.is_empty()),
            ("affinity", affinity.is_some()),
            ("hostAliases", !host_aliases.is_empty()),
            ("dnsConfig", dns_config.is_some()),
            ("readinessGates", !readiness_gates.is_empty()),
            (
                "topologySpreadConstraints",
                !topology_spread_constraints.is_empty(),
            ),
            ("os", os.is_some()),
            ("schedulingGates", !scheduling_gates.is_empty()),
            ("resourceClaims", !resource_claims.is_empty()),
            ("resources", resources.is_some()),
            ("workloadRef", workload_ref.is_some()),
        ],
    )?;
    let mut o = Obj::default();
    o.list(p, "volumes", volumes, volume)?;
    o.list(p, "initContainers", init_containers, container)?;
    // Required: an empty list rather than none, so validation names it.
    o.list(p, "containers", containers, container)?;
    o.0.entry("containers").or_insert(Value::Array(vec![]));
    o.nz("restartPolicy", restart_policy);
    o.opt(
        "terminationGracePeriodSeconds",
        termination_grace_period_seconds,
    );
    o.opt("activeDeadlineSeconds", active_deadline_seconds);
    o.nz("dnsPolicy", dns_policy);
    o.map("nodeSelector", node_selector);
    o.nz("serviceAccountName", service_account_name);
    o.nz("serviceAccount", service_account);
    o.opt(
        "automountServiceAccountToken",
        automount_service_account_token,
    );
    o.nz("nodeName", node_name);
    o.nz("hostNetwork", host_network);
    o.nz("hostPID", host_pid);
    o.nz("hostIPC", host_ipc);
    o.opt("shareProcessNamespace", share_process_namespace);
    o.sub(p, "securityContext", security_context, pod_security_context)?;
    o.list(p, "imagePullSecrets", image_pull_secrets, |r, _| {
        named(Some(r)).done()
    })?;
    o.nz("hostname", hostname);
    o.nz("subdomain", subdomain);
    o.nz("schedulerName", scheduler_name);
    o.list(p, "tolerations", tolerations, |t, _| {
        let core::Toleration {
            key,
            operator,
            value,
            effect,
            toleration_seconds,
        } = t;
        let mut o = Obj::default();
        o.nz("key", key);
        o.nz("operator", operator);
        o.nz("value", value);
        o.nz("effect", effect);
        o.opt("tolerationSeconds", toleration_seconds);
        o.done()
    })?;
    o.nz("priorityClassName", priority_class_name);
    o.opt("priority", priority);
    o.opt("runtimeClassName", runtime_class_name);
    o.opt("enableServiceLinks", enable_service_links);
    o.opt("preemptionPolicy", preemption_policy);
    o.map("overhead", quantities(overhead));
    o.opt("setHostnameAsFQDN", set_hostname_as_fqdn);
    o.opt("hostUsers", host_users);
    o.opt("hostnameOverride", hostname_override);
    o.done()
}

fn container(c: core::Container, p: &str) -> R<Value> {
    let core::Container {
        name,
        image,
        command,
        args,
        working_dir,
        ports,
        env_from,
        env,
        resources,
        resize_policy,
        restart_policy,
        restart_policy_rules,
        volume_mounts,
        volume_devices,
        liveness_probe,
        readiness_probe,
        startup_probe,
        lifecycle,
        termination_message_path,
        termination_message_policy,
        image_pull_policy,
        security_context,
        stdin,
        stdin_once,
        tty,
    } = c;
    refuse(
        p,
        &[
            ("resizePolicy", !resize_policy.is_empty()),
            ("restartPolicyRules", !restart_policy_rules.is_empty()),
            ("volumeDevices", !volume_devices.is_empty()),
            ("livenessProbe", liveness_probe.is_some()),
            ("readinessProbe", readiness_probe.is_some()),
            ("startupProbe", startup_probe.is_some()),
            ("lifecycle", lifecycle.is_some()),
        ],
    )?;
    let mut o = Obj::default();
    o.req("name", name);
    o.nz("image", image);
    o.strs("command", command);
    o.strs("args", args);
    o.nz("workingDir", working_dir);
    o.list(p, "ports", ports, |port, _| {
        let core::ContainerPort {
            name,
            host_port,
            container_port,
            protocol,
            host_ip,
        } = port;
        let mut o = Obj::default();
        o.nz("name", name);
        o.nz("hostPort", host_port);
        o.req("containerPort", container_port);
        o.nz("protocol", protocol);
        o.nz("hostIP", host_ip);
        o.done()
    })?;
    o.list(p, "envFrom", env_from, env_from_source)?;
    o.list(p, "env", env, env_var)?;
    o.sub(p, "resources", resources, resource_requirements)?;
    o.opt("restartPolicy", restart_policy);
    o.list(p, "volumeMounts", volume_mounts, |m, _| {
        let core::VolumeMount {
            name,
            read_only,
            recursive_read_only,
            mount_path,
            sub_path,
            mount_propagation,
            sub_path_expr,
        } = m;
        let mut o = Obj::default();
        o.req("name", name);
        o.nz("readOnly", read_only);
        o.opt("recursiveReadOnly", recursive_read_only);
        o.req("mountPath", mount_path);
        o.nz("subPath", sub_path);
        o.opt("mountPropagation", mount_propagation);
        o.nz("subPathExpr", sub_path_expr);
        o.done()
    })?;
    o.nz("terminationMessagePath", termination_message_path);
    o.nz("terminationMessagePolicy", termination_message_policy);
    o.nz("imagePullPolicy", image_pull_policy);
    o.sub(p, "securityContext", security_context, security_context_)?;
    o.nz("stdin", stdin);
    o.nz("stdinOnce", stdin_once);
    o.nz("tty", tty);
    o.done()
}

/// An object started with the inlined `LocalObjectReference` (`name`, `omitempty`) of the
/// `…Ref`, `…KeySelector` and `…Source` types.
fn named(r: Option<core::LocalObjectReference>) -> Obj {
    let mut o = Obj::default();
    if let Some(core::LocalObjectReference { name }) = r {
        o.nz("name", name);
    }
    o
}

fn env_var(e: core::EnvVar, p: &str) -> R<Value> {
    let core::EnvVar {
        name,
        value,
        value_from,
    } = e;
    let mut o = Obj::default();
    o.req("name", name);
    o.nz("value", value);
    o.sub(p, "valueFrom", value_from, |s, p| {
        let core::EnvVarSource {
            field_ref,
            resource_field_ref,
            config_map_key_ref,
            secret_key_ref,
            file_key_ref,
        } = s;
        refuse(p, &[("fileKeyRef", file_key_ref.is_some())])?;
        let mut o = Obj::default();
        o.sub(p, "fieldRef", field_ref, |f, _| {
            let core::ObjectFieldSelector {
                api_version,
                field_path,
            } = f;
            let mut o = Obj::default();
            o.nz("apiVersion", api_version);
            o.req("fieldPath", field_path);
            o.done()
        })?;
        o.sub(p, "resourceFieldRef", resource_field_ref, |f, _| {
            let core::ResourceFieldSelector {
                container_name,
                resource,
                divisor,
            } = f;
            let mut o = Obj::default();
            o.nz("containerName", container_name);
            o.req("resource", resource);
            o.nz("divisor", divisor.map(quantity));
            o.done()
        })?;
        o.sub(p, "configMapKeyRef", config_map_key_ref, |s, _| {
            let core::ConfigMapKeySelector {
                local_object_reference,
                key,
                optional,
            } = s;
            let mut o = named(local_object_reference);
            o.req("key", key);
            o.opt("optional", optional);
            o.done()
        })?;
        o.sub(p, "secretKeyRef", secret_key_ref, |s, _| {
            let core::SecretKeySelector {
                local_object_reference,
                key,
                optional,
            } = s;
            let mut o = named(local_object_reference);
            o.req("key", key);
            o.opt("optional", optional);
            o.done()
        })?;
        o.done()
    })?;
    o.done()
}

fn env_from_source(e: core::EnvFromSource, p: &str) -> R<Value> {
    let core::EnvFromSource {
        prefix,
        config_map_ref,
        secret_ref,
    } = e;
    let mut o = Obj::default();
    o.nz("prefix", prefix);
    o.sub(p, "configMapRef", config_map_ref, |s, _| {
        let core::ConfigMapEnvSource {
            local_object_reference,
            optional,
        } = s;
        let mut o = named(local_object_reference);
        o.opt("optional", optional);
        o.done()
    })?;
    o.sub(p, "secretRef", secret_ref, |s, _| {
        let core::SecretEnvSource {
            local_object_reference,
            optional,
        } = s;
        let mut o = named(local_object_reference);
        o.opt("optional", optional);
        o.done()
    })?;
    o.done()
}

fn resource_requirements(r: core::ResourceRequirements, p: &str) -> R<Value> {
    let core::ResourceRequirements {
        limits,
        requests,
        claims,
    } = r;
    let mut o = Obj::default();
    o.map("limits", quantities(limits));
    o.map("requests", quantities(requests));
    o.list(p, "claims", claims, |c, _| {
        let core::ResourceClaim { name, request } = c;
        let mut o = Obj::default();
        o.req("name", name);
        o.nz("request", request);
        o.done()
    })?;
    o.done()
}

fn security_context_(s: core::SecurityContext, p: &str) -> R<Value> {
    let core::SecurityContext {
        capabilities,
        privileged,
        se_linux_options,
        windows_options,
        run_as_user,
        run_as_group,
        run_as_non_root,
        read_only_root_filesystem,
        allow_privilege_escalation,
        proc_mount,
        seccomp_profile,
        app_armor_profile,
    } = s;
    refuse(
        p,
        &[
            ("seLinuxOptions", se_linux_options.is_some()),
            ("windowsOptions", windows_options.is_some()),
            ("seccompProfile", seccomp_profile.is_some()),
            ("appArmorProfile", app_armor_profile.is_some()),
        ],
    )?;
    let mut o = Obj::default();
    o.sub(p, "capabilities", capabilities, |c, _| {
        let core::Capabilities { add, drop } = c;
        let mut o = Obj::default();
        o.strs("add", add);
        o.strs("drop", drop);
        o.done()
    })?;
    o.opt("privileged", privileged);
    o.opt("runAsUser", run_as_user);
    o.opt("runAsGroup", run_as_group);
    o.opt("runAsNonRoot", run_as_non_root);
    o.opt("readOnlyRootFilesystem", read_only_root_filesystem);
    o.opt("allowPrivilegeEscalation", allow_privilege_escalation);
    o.opt("procMount", proc_mount);
    o.done()
}

fn pod_security_context(s: core::PodSecurityContext, p: &str) -> R<Value> {
    let core::PodSecurityContext {
        se_linux_options,
        windows_options,
        run_as_user,
        run_as_group,
        run_as_non_root,
        supplemental_groups,
        supplemental_groups_policy,
        fs_group,
        sysctls,
        fs_group_change_policy,
        seccomp_profile,
        app_armor_profile,
        se_linux_change_policy,
    } = s;
    refuse(
        p,
        &[
            ("seLinuxOptions", se_linux_options.is_some()),
            ("windowsOptions", windows_options.is_some()),
            ("sysctls", !sysctls.is_empty()),
            ("seccompProfile", seccomp_profile.is_some()),
            ("appArmorProfile", app_armor_profile.is_some()),
        ],
    )?;
    let mut o = Obj::default();
    o.opt("runAsUser", run_as_user);
    o.opt("runAsGroup", run_as_group);
    o.opt("runAsNonRoot", run_as_non_root);
    if !supplemental_groups.is_empty() {
        o.val("supplementalGroups", supplemental_groups.into());
    }
    o.opt("supplementalGroupsPolicy", supplemental_groups_policy);
    o.opt("fsGroup", fs_group);
    o.opt("fsGroupChangePolicy", fs_group_change_policy);
    o.opt("seLinuxChangePolicy", se_linux_change_policy);
    o.done()
}

fn key_to_path(k: core::KeyToPath, _: &str) -> R<Value> {
    let core::KeyToPath { key, path, mode } = k;
    let mut o = Obj::default();
    o.req("key", key);
    o.req("path", path);
    o.opt("mode", mode);
    o.done()
}

fn volume(v: core::Volume, p: &str) -> R<Value> {
    let core::Volume {
        name,
        volume_source,
    } = v;
    let mut o = Obj::default();
    o.req("name", name);
    let Some(source) = volume_source else {
        return o.done();
    };
    let core::VolumeSource {
        host_path,
        empty_dir,
        gce_persistent_disk,
        aws_elastic_block_store,
        git_repo,
        secret,
        nfs,
        iscsi,
        glusterfs,
        persistent_volume_claim,
        rbd,
        flex_volume,
        cinder,
        cephfs,
        flocker,
        downward_api,
        fc,
        azure_file,
        config_map,
        vsphere_volume,
        quobyte,
        azure_disk,
        photon_persistent_disk,
        projected,
        portworx_volume,
        scale_io,
        storageos,
        csi,
        ephemeral,
        image,
    } = source;
    refuse(
        p,
        &[
            ("gcePersistentDisk", gce_persistent_disk.is_some()),
            ("awsElasticBlockStore", aws_elastic_block_store.is_some()),
            ("gitRepo", git_repo.is_some()),
            ("nfs", nfs.is_some()),
            ("iscsi", iscsi.is_some()),
            ("glusterfs", glusterfs.is_some()),
            ("persistentVolumeClaim", persistent_volume_claim.is_some()),
            ("rbd", rbd.is_some()),
            ("flexVolume", flex_volume.is_some()),
            ("cinder", cinder.is_some()),
            ("cephfs", cephfs.is_some()),
            ("flocker", flocker.is_some()),
            ("downwardAPI", downward_api.is_some()),
            ("fc", fc.is_some()),
            ("azureFile", azure_file.is_some()),
            ("vsphereVolume", vsphere_volume.is_some()),
            ("quobyte", quobyte.is_some()),
            ("azureDisk", azure_disk.is_some()),
            ("photonPersistentDisk", photon_persistent_disk.is_some()),
            ("projected", projected.is_some()),
            ("portworxVolume", portworx_volume.is_some()),
            ("scaleIO", scale_io.is_some()),
            ("storageos", storageos.is_some()),
            ("csi", csi.is_some()),
            ("ephemeral", ephemeral.is_some()),
            ("image", image.is_some()),
        ],
    )?;
    o.sub(p, "hostPath", host_path, |h, _| {
        let core::HostPathVolumeSource { path, r#type } = h;
        let mut o = Obj::default();
        o.req("path", path);
        o.opt("type", r#type);
        o.done()
    })?;
    o.sub(p, "emptyDir", empty_dir, |e, _| {
        let core::EmptyDirVolumeSource { medium, size_limit } = e;
        let mut o = Obj::default();
        o.nz("medium", medium);
        o.opt("sizeLimit", size_limit.map(quantity));
        o.done()
    })?;
    o.sub(p, "secret", secret, |s, p| {
        let core::SecretVolumeSource {
            secret_name,
            items,
            default_mode,
            optional,
        } = s;
        let mut o = Obj::default();
        o.nz("secretName", secret_name);
        o.list(p, "items", items, key_to_path)?;
        o.opt("defaultMode", default_mode);
        o.opt("optional", optional);
        o.done()
    })?;
    o.sub(p, "configMap", config_map, |c, p| {
        let core::ConfigMapVolumeSource {
            local_object_reference,
            items,
            default_mode,
            optional,
        } = c;
        let mut o = named(local_object_reference);
        o.list(p, "items", items, key_to_path)?;
        o.opt("defaultMode", default_mode);
        o.opt("optional", optional);
        o.done()
    })?;
    o.done()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::{self, FieldValidation};
    use serde_json::json;

    fn envelope(api_version: &str, kind: &str, msg: &impl Message) -> Vec<u8> {
        let unknown = Unknown {
            type_meta: Some(TypeMeta {
                api_version: Some(api_version.into()),
                kind: Some(kind.into()),
            }),
            raw: Some(msg.encode_to_vec()),
            content_encoding: Some(String::new()),
            content_type: Some(String::new()),
        };
        [MAGIC.as_slice(), &unknown.encode_to_vec()].concat()
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Decodes `value` strictly as `T` (k8s-openapi): no unknown fields, no type errors.
    fn typed<T: serde::de::DeserializeOwned + serde::Serialize>(value: &Value) {
        let kind = value["kind"].as_str().unwrap();
        let version = value["apiVersion"].as_str().unwrap();
        let (_, warnings) = admission::decode::<T>(kind, version, value, FieldValidation::Strict)
            .unwrap_or_else(|e| panic!("{kind} does not decode: {}", e.message));
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    /// kubectl's JSON without what this module leaves out: `null` times and `status`.
    fn json_without_nulls_and_status(text: &str) -> Value {
        fn strip(v: &mut Value) {
            if let Value::Object(m) = v {
                m.retain(|_, x| !x.is_null());
                m.values_mut().for_each(strip);
            }
        }
        let mut v: Value = serde_json::from_str(text).unwrap();
        v.as_object_mut().unwrap().remove("status");
        strip(&mut v);
        v
    }

    /// Bodies kubectl 1.33 sent (the same bytes as 1.32's), against the JSON kubectl 1.31
    /// sent for the same commands.
    #[test]
    fn kubectl_typed_commands_decode_as_their_json() {
        use k8s_openapi::api::{apps::v1::Deployment, core::v1};
        let cases = [
            (
                "kubectl create namespace x",
                "6b3873000a0f0a02763112094e616d65737061636512190a110a017812001a0022002a0032003800420012001a020a00",
                r#"{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"x","creationTimestamp":null},"spec":{},"status":{}}"#,
            ),
            (
                "kubectl create deployment d --image=busybox --replicas=2 -- sleep 3600",
                "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412b5010a1b0a016412001a0022002a003200380042005a080a036170701201641287010802120a0a080a036170701201641a6f0a1a0a0012001a0022002a003200380042005a080a03617070120164125112330a0762757379626f78120762757379626f781a05736c6565701a04333630302a0042006a007200800100880100900100a201001a00320042004a0052005800600068008201008a01009a0100c2010022020a00280038001a0c0800100018002000280038001a002200",
                r#"{"kind":"Deployment","apiVersion":"apps/v1","metadata":{"name":"d","creationTimestamp":null,"labels":{"app":"d"}},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"d"}},"template":{"metadata":{"creationTimestamp":null,"labels":{"app":"d"}},"spec":{"containers":[{"name":"busybox","image":"busybox","command":["sleep","3600"],"resources":{}}]}},"strategy":{}},"status":{}}"#,
            ),
            (
                "kubectl create configmap c --from-literal=a=b --from-literal=k=v",
                "6b3873000a0f0a0276311209436f6e6669674d617012230a110a016312001a0022002a0032003800420012060a016112016212060a016b1201761a002200",
                r#"{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"c","creationTimestamp":null},"data":{"a":"b","k":"v"}}"#,
            ),
            (
                "kubectl create secret generic s --from-literal=a=b",
                "6b3873000a0c0a0276311206536563726574121d0a110a017312001a0022002a0032003800420012060a01611201621a001a002200",
                r#"{"kind":"Secret","apiVersion":"v1","metadata":{"name":"s","creationTimestamp":null},"data":{"a":"Yg=="}}"#,
            ),
            (
                "kubectl create service clusterip svc --tcp=80:8080",
                "6b3873000a0d0a02763112075365727669636512690a1f0a0373766312001a0022002a003200380042005a0a0a03617070120373766312420a1b0a0738302d38303830120354435018502207080010903f1a002800120a0a0361707012037376631a002209436c757374657249503a00420052005a00600068001a020a001a002200",
                r#"{"kind":"Service","apiVersion":"v1","metadata":{"name":"svc","creationTimestamp":null,"labels":{"app":"svc"}},"spec":{"ports":[{"name":"80-8080","protocol":"TCP","port":80,"targetPort":8080}],"selector":{"app":"svc"},"type":"ClusterIP"},"status":{"loadBalancer":{}}}"#,
            ),
        ];
        for (command, body, kubectl_json) in cases {
            let got = decode(&hex(body)).unwrap_or_else(|e| panic!("{command}: {}", e.message));
            assert_eq!(
                got,
                json_without_nulls_and_status(kubectl_json),
                "{command}"
            );
            match got["kind"].as_str().unwrap() {
                "Namespace" => typed::<v1::Namespace>(&got),
                "Deployment" => typed::<Deployment>(&got),
                "ConfigMap" => typed::<v1::ConfigMap>(&got),
                "Secret" => typed::<v1::Secret>(&got),
                _ => typed::<v1::Service>(&got),
            }
        }
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn lref(name: &str) -> Option<core::LocalObjectReference> {
        Some(core::LocalObjectReference { name: s(name) })
    }

    fn q(v: &str) -> Quantity {
        Quantity { string: s(v) }
    }

    /// A container with every supported field set, Go-style (zero values sent too).
    fn full_container() -> core::Container {
        core::Container {
            name: s("main"),
            image: s("busybox"),
            command: vec!["sh".into(), "-c".into()],
            args: vec!["sleep 3600".into()],
            working_dir: s("/work"),
            ports: vec![core::ContainerPort {
                name: s("http"),
                host_port: Some(0),
                container_port: Some(8080),
                protocol: s("TCP"),
                host_ip: s(""),
            }],
            env_from: vec![core::EnvFromSource {
                prefix: s("CM_"),
                config_map_ref: Some(core::ConfigMapEnvSource {
                    local_object_reference: lref("cm"),
                    optional: Some(true),
                }),
                secret_ref: None,
            }],
            env: vec![
                core::EnvVar {
                    name: s("PLAIN"),
                    value: s("1"),
                    value_from: None,
                },
                core::EnvVar {
                    name: s("FROM_CM"),
                    value: s(""),
                    value_from: Some(core::EnvVarSource {
                        config_map_key_ref: Some(core::ConfigMapKeySelector {
                            local_object_reference: lref("cm"),
                            key: s("k"),
                            optional: None,
                        }),
                        ..Default::default()
                    }),
                },
                core::EnvVar {
                    name: s("FROM_SECRET"),
                    value: None,
                    value_from: Some(core::EnvVarSource {
                        secret_key_ref: Some(core::SecretKeySelector {
                            local_object_reference: lref("sec"),
                            key: s("password"),
                            optional: Some(false),
                        }),
                        ..Default::default()
                    }),
                },
                core::EnvVar {
                    name: s("POD_NAME"),
                    value: None,
                    value_from: Some(core::EnvVarSource {
                        field_ref: Some(core::ObjectFieldSelector {
                            api_version: s("v1"),
                            field_path: s("metadata.name"),
                        }),
                        ..Default::default()
                    }),
                },
            ],
            resources: Some(core::ResourceRequirements {
                limits: [("memory".to_string(), q("64Mi"))].into(),
                requests: [("cpu".to_string(), q("100m"))].into(),
                claims: vec![],
            }),
            volume_mounts: vec![core::VolumeMount {
                name: s("scratch"),
                read_only: Some(true),
                mount_path: s("/scratch"),
                sub_path: s(""),
                ..Default::default()
            }],
            termination_message_path: s("/dev/termination-log"),
            termination_message_policy: s("File"),
            image_pull_policy: s("IfNotPresent"),
            security_context: Some(core::SecurityContext {
                run_as_user: Some(1000),
                run_as_group: Some(0),
                ..Default::default()
            }),
            stdin: Some(false),
            stdin_once: Some(false),
            tty: Some(false),
            ..Default::default()
        }
    }

    fn full_pod() -> core::Pod {
        core::Pod {
            metadata: Some(meta::ObjectMeta {
                name: s(""),
                generate_name: s("web-"),
                namespace: s("default"),
                labels: labels(&[("app", "web")]),
                annotations: labels(&[("note", "hi")]),
                creation_timestamp: Some(meta::Time {
                    seconds: Some(1_767_323_045),
                    nanos: Some(5),
                }),
                deletion_timestamp: None,
                owner_references: vec![meta::OwnerReference {
                    api_version: s("apps/v1"),
                    kind: s("Deployment"),
                    name: s("web"),
                    uid: s("0c4a3b1e-0000-4000-8000-000000000001"),
                    controller: Some(true),
                    block_owner_deletion: None,
                }],
                finalizers: vec!["example.com/keep".into()],
                generation: Some(0),
                ..Default::default()
            }),
            spec: Some(core::PodSpec {
                volumes: vec![
                    core::Volume {
                        name: s("scratch"),
                        volume_source: Some(core::VolumeSource {
                            empty_dir: Some(core::EmptyDirVolumeSource {
                                medium: s("Memory"),
                                size_limit: Some(q("1Mi")),
                            }),
                            ..Default::default()
                        }),
                    },
                    core::Volume {
                        name: s("host"),
                        volume_source: Some(core::VolumeSource {
                            host_path: Some(core::HostPathVolumeSource {
                                path: s("/tmp/data"),
                                r#type: s("DirectoryOrCreate"),
                            }),
                            ..Default::default()
                        }),
                    },
                    core::Volume {
                        name: s("conf"),
                        volume_source: Some(core::VolumeSource {
                            config_map: Some(core::ConfigMapVolumeSource {
                                local_object_reference: lref("cm"),
                                items: vec![core::KeyToPath {
                                    key: s("k"),
                                    path: s("k.txt"),
                                    mode: Some(0o400),
                                }],
                                default_mode: Some(0o644),
                                optional: None,
                            }),
                            ..Default::default()
                        }),
                    },
                    core::Volume {
                        name: s("creds"),
                        volume_source: Some(core::VolumeSource {
                            secret: Some(core::SecretVolumeSource {
                                secret_name: s("sec"),
                                items: vec![],
                                default_mode: Some(0o600),
                                optional: Some(true),
                            }),
                            ..Default::default()
                        }),
                    },
                ],
                init_containers: vec![core::Container {
                    name: s("init"),
                    image: s("busybox"),
                    command: vec!["true".into()],
                    ..Default::default()
                }],
                containers: vec![full_container()],
                restart_policy: s("OnFailure"),
                termination_grace_period_seconds: Some(0),
                dns_policy: s("ClusterFirst"),
                scheduler_name: s("default-scheduler"),
                host_network: Some(false),
                security_context: Some(core::PodSecurityContext {
                    run_as_user: Some(1000),
                    fs_group: Some(2000),
                    supplemental_groups: vec![3000, 4000],
                    ..Default::default()
                }),
                tolerations: vec![core::Toleration {
                    key: s("k"),
                    operator: s("Exists"),
                    value: s(""),
                    effect: s("NoSchedule"),
                    toleration_seconds: None,
                }],
                ..Default::default()
            }),
            status: Some(core::PodStatus {
                phase: s("Running"),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn pod_with_every_supported_field() {
        let got = decode(&envelope("v1", "Pod", &full_pod())).unwrap();
        let want = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "generateName": "web-",
                "namespace": "default",
                "labels": {"app": "web"},
                "annotations": {"note": "hi"},
                "creationTimestamp": "2026-01-02T03:04:05Z",
                "ownerReferences": [{
                    "apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                    "uid": "0c4a3b1e-0000-4000-8000-000000000001", "controller": true,
                }],
                "finalizers": ["example.com/keep"],
            },
            "spec": {
                "volumes": [
                    {"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
                    {"name": "host", "hostPath": {"path": "/tmp/data", "type": "DirectoryOrCreate"}},
                    {"name": "conf", "configMap": {"name": "cm", "items": [{"key": "k", "path": "k.txt", "mode": 256}], "defaultMode": 420}},
                    {"name": "creds", "secret": {"secretName": "sec", "defaultMode": 384, "optional": true}},
                ],
                "initContainers": [{"name": "init", "image": "busybox", "command": ["true"]}],
                "containers": [{
                    "name": "main",
                    "image": "busybox",
                    "command": ["sh", "-c"],
                    "args": ["sleep 3600"],
                    "workingDir": "/work",
                    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                    "envFrom": [{"prefix": "CM_", "configMapRef": {"name": "cm", "optional": true}}],
                    "env": [
                        {"name": "PLAIN", "value": "1"},
                        {"name": "FROM_CM", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}},
                        {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "password", "optional": false}}},
                        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
                    ],
                    "resources": {"limits": {"memory": "64Mi"}, "requests": {"cpu": "100m"}},
                    "volumeMounts": [{"name": "scratch", "readOnly": true, "mountPath": "/scratch"}],
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                    "imagePullPolicy": "IfNotPresent",
                    "securityContext": {"runAsUser": 1000, "runAsGroup": 0},
                }],
                "restartPolicy": "OnFailure",
                "terminationGracePeriodSeconds": 0,
                "dnsPolicy": "ClusterFirst",
                "schedulerName": "default-scheduler",
                "securityContext": {"runAsUser": 1000, "fsGroup": 2000, "supplementalGroups": [3000, 4000]},
                "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
            },
        });
        assert_eq!(got, want);
        typed::<k8s_openapi::api::core::v1::Pod>(&got);
    }

    #[test]
    fn deployment_config_map_and_secret_fields() {
        let deployment = apps::Deployment {
            metadata: Some(meta::ObjectMeta {
                name: s("web"),
                ..Default::default()
            }),
            spec: Some(apps::DeploymentSpec {
                replicas: Some(0),
                selector: Some(meta::LabelSelector {
                    match_labels: labels(&[("app", "web")]),
                    match_expressions: vec![meta::LabelSelectorRequirement {
                        key: s("tier"),
                        operator: s("In"),
                        values: vec!["a".into(), "b".into()],
                    }],
                }),
                template: Some(core::PodTemplateSpec {
                    metadata: Some(meta::ObjectMeta {
                        labels: labels(&[("app", "web"), ("tier", "a")]),
                        ..Default::default()
                    }),
                    spec: Some(core::PodSpec {
                        containers: vec![core::Container {
                            name: s("c"),
                            image: s("busybox"),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }),
                }),
                strategy: Some(apps::DeploymentStrategy {
                    r#type: s("RollingUpdate"),
                    rolling_update: Some(apps::RollingUpdateDeployment {
                        max_unavailable: Some(IntOrString {
                            r#type: Some(0),
                            int_val: Some(1),
                            str_val: s(""),
                        }),
                        max_surge: Some(IntOrString {
                            r#type: Some(1),
                            int_val: Some(0),
                            str_val: s("25%"),
                        }),
                    }),
                }),
                min_ready_seconds: Some(0),
                revision_history_limit: Some(10),
                paused: Some(false),
                progress_deadline_seconds: Some(600),
            }),
            status: None,
        };
        let got = decode(&envelope("apps/v1", "Deployment", &deployment)).unwrap();
        assert_eq!(
            got["spec"],
            json!({
                "replicas": 0,
                "selector": {
                    "matchLabels": {"app": "web"},
                    "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}],
                },
                "template": {
                    "metadata": {"labels": {"app": "web", "tier": "a"}},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]},
                },
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": "25%"}},
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600,
            })
        );
        typed::<k8s_openapi::api::apps::v1::Deployment>(&got);

        let config_map = core::ConfigMap {
            metadata: Some(meta::ObjectMeta {
                name: s("c"),
                ..Default::default()
            }),
            immutable: Some(true),
            data: labels(&[("a", "b")]),
            binary_data: [("bin".to_string(), vec![0u8, 255, 1])].into(),
        };
        let got = decode(&envelope("v1", "ConfigMap", &config_map)).unwrap();
        assert_eq!(
            got,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                   "immutable": true, "data": {"a": "b"}, "binaryData": {"bin": "AP8B"}})
        );
        typed::<k8s_openapi::api::core::v1::ConfigMap>(&got);

        let secret = core::Secret {
            metadata: Some(meta::ObjectMeta {
                name: s("s"),
                ..Default::default()
            }),
            immutable: None,
            data: [("password".to_string(), b"hunter2".to_vec())].into(),
            string_data: labels(&[("user", "me")]),
            r#type: s("kubernetes.io/basic-auth"),
        };
        let got = decode(&envelope("v1", "Secret", &secret)).unwrap();
        assert_eq!(
            got,
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                   "data": {"password": "aHVudGVyMg=="}, "stringData": {"user": "me"},
                   "type": "kubernetes.io/basic-auth"})
        );
        typed::<k8s_openapi::api::core::v1::Secret>(&got);
    }

    fn refused(body: Vec<u8>) -> (u16, String) {
        let e = decode(&body).expect_err("should be refused");
        (e.code, e.message)
    }

    #[test]
    fn set_unsupported_fields_are_refused_by_path() {
        let mut pod = full_pod();
        pod.spec.as_mut().unwrap().containers[0].liveness_probe = Some(Default::default());
        let (code, msg) = refused(envelope("v1", "Pod", &pod));
        assert_eq!(code, 415);
        assert_eq!(msg, "protobuf field spec.containers[0].livenessProbe is not supported by ferry-cluster; send the object as JSON (kubectl apply -f FILE)");

        let mut pod = full_pod();
        pod.spec.as_mut().unwrap().volumes[1]
            .volume_source
            .as_mut()
            .unwrap()
            .nfs = Some(Default::default());
        assert!(refused(envelope("v1", "Pod", &pod))
            .1
            .starts_with("protobuf field spec.volumes[1].nfs is not supported"));

        let deployment = apps::Deployment {
            spec: Some(apps::DeploymentSpec {
                template: Some(core::PodTemplateSpec {
                    metadata: None,
                    spec: Some(core::PodSpec {
                        affinity: Some(Default::default()),
                        ..Default::default()
                    }),
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let (code, msg) = refused(envelope("apps/v1", "Deployment", &deployment));
        assert_eq!(code, 415);
        assert!(
            msg.starts_with("protobuf field spec.template.spec.affinity is not supported"),
            "{msg}"
        );

        let ns = core::Namespace {
            metadata: Some(meta::ObjectMeta {
                managed_fields: vec![Default::default()],
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(refused(envelope("v1", "Namespace", &ns))
            .1
            .starts_with("protobuf field metadata.managedFields is not supported"));
    }

    #[test]
    fn malformed_and_unknown_bodies_say_what_is_wrong() {
        let (code, msg) = refused(b"{\"kind\":\"Pod\"}".to_vec());
        assert_eq!(code, 400);
        assert!(
            msg.contains("magic bytes") && msg.contains("[7b 22 6b 69]"),
            "{msg}"
        );

        let (code, msg) = refused(b"k8s\0\x0a\x05\x0a\x02v1".to_vec());
        assert_eq!(code, 400);
        assert!(
            msg.starts_with("protobuf body is not a valid runtime.Unknown envelope"),
            "{msg}"
        );

        // A valid envelope around a Pod cut short.
        let pod = full_pod().encode_to_vec();
        let unknown = Unknown {
            type_meta: Some(TypeMeta {
                api_version: s("v1"),
                kind: s("Pod"),
            }),
            raw: Some(pod[..pod.len() - 40].to_vec()),
            ..Default::default()
        };
        let body = [MAGIC.as_slice(), &unknown.encode_to_vec()].concat();
        let (code, msg) = refused(body);
        assert_eq!(code, 400);
        assert!(
            msg.starts_with("protobuf body is not a valid v1 Pod: "),
            "{msg}"
        );

        let (code, msg) = refused(envelope("batch/v1", "Job", &core::Pod::default()));
        assert_eq!(code, 415);
        assert!(
            msg.contains("kind \"Job\" in version \"batch/v1\" are not supported"),
            "{msg}"
        );

        let mut unknown = Unknown::decode(&envelope("v1", "Pod", &full_pod())[4..]).unwrap();
        unknown.content_encoding = s("gzip");
        let (code, msg) = refused([MAGIC.as_slice(), &unknown.encode_to_vec()].concat());
        assert_eq!(code, 415);
        assert!(msg.contains("contentEncoding \"gzip\""), "{msg}");
    }

    #[test]
    fn parse_object_routes_protobuf_content_types_here() {
        let body = envelope("v1", "ConfigMap", &core::ConfigMap::default());
        let got =
            crate::http_util::parse_object(&body, Some("application/vnd.kubernetes.protobuf"))
                .unwrap();
        assert_eq!(got, json!({"apiVersion": "v1", "kind": "ConfigMap"}));
    }
}
