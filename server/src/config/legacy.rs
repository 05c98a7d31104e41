//! The older formats, with a list of sync entries that each carry their own selector:
//!
//! - `devSpace.sync[]` (DevSpace CLI v1/v2, `version: v1`/`v1alpha1`, the seed's
//!   `.devspace/config.yaml`), named selectors in `devSpace.services[]` (`service:`);
//! - `dev.sync[]` (DevSpace v3–v5, `version: v1alpha2` … `v1beta11`, in
//!   `.devspace/config.yaml` until v3.2, then `devspace.yaml`), named selectors in
//!   `dev.selectors[]` (`selector:`, v3), images in `images` (`imageName:`, v4).

use std::collections::HashMap;

use super::entry::{container, image_selector, namespace, read_options, Entry, Images};
use super::fields::{
    Object, DEVSPACE_SECTION, DEVSPACE_SERVICE, DEV_SECTION, DEV_SELECTOR, LEGACY_SYNC,
};
use super::reader::{get, join, Cx};
use super::types::{InitialSync, Target};
use super::yaml::Node;

/// Reads `devSpace.sync[]` (v1 / v1alpha1).
pub(crate) fn read_devspace_sync(
    cx: &mut Cx<'_>,
    root: &[(Node, Node)],
    images: &Images,
) -> Vec<Entry> {
    let Some(section) = get(root, "devSpace") else {
        return Vec::new();
    };
    let Some(section) = cx.map(section, "devSpace") else {
        return Vec::new();
    };
    cx.check_fields(section, "devSpace", &DEVSPACE_SECTION);
    let named = match get(section, "services") {
        Some(node) => read_named(cx, node, "devSpace.services", &DEVSPACE_SERVICE),
        None => HashMap::new(),
    };
    match get(section, "sync") {
        Some(node) => read_entries(
            cx,
            node,
            "devSpace.sync",
            &Named {
                map: named,
                list: "devSpace.services",
            },
            images,
            true,
        ),
        None => Vec::new(),
    }
}

/// Reads `dev.sync[]` (v1alpha2 … v1beta11).
pub(crate) fn read_dev_sync(cx: &mut Cx<'_>, root: &[(Node, Node)], images: &Images) -> Vec<Entry> {
    let Some(section) = get(root, "dev") else {
        return Vec::new();
    };
    let Some(section) = cx.map(section, "dev") else {
        return Vec::new();
    };
    cx.check_fields(section, "dev", &DEV_SECTION);
    let named = match get(section, "selectors") {
        Some(node) => read_named(cx, node, "dev.selectors", &DEV_SELECTOR),
        None => HashMap::new(),
    };
    match get(section, "sync") {
        Some(node) => read_entries(
            cx,
            node,
            "dev.sync",
            &Named {
                map: named,
                list: "dev.selectors",
            },
            images,
            false,
        ),
        None => Vec::new(),
    }
}

/// Named selectors (`devSpace.services[]` or `dev.selectors[]`).
struct Named {
    map: HashMap<String, Target>,
    list: &'static str,
}

fn read_named(
    cx: &mut Cx<'_>,
    node: &Node,
    path: &str,
    object: &Object,
) -> HashMap<String, Target> {
    let mut out = HashMap::new();
    let Some(items) = cx.seq(node, path) else {
        return out;
    };
    for (i, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        let Some(fields) = cx.map(item, &item_path) else {
            continue;
        };
        cx.check_fields(fields, &item_path, object);
        let Some(name) = get(fields, "name").and_then(|n| cx.string(n, &join(&item_path, "name")))
        else {
            cx.error(&item.range, &item_path, "a named selector needs a `name`");
            continue;
        };
        let target = read_selector_fields(cx, fields, &item_path);
        out.insert(name, target);
    }
    out
}

/// `labelSelector`, `namespace`, `containerName` and `resourceType` of an entry or a
/// named selector.
fn read_selector_fields(cx: &mut Cx<'_>, fields: &[(Node, Node)], path: &str) -> Target {
    let mut target = Target::default();
    if let Some(node) = get(fields, "labelSelector") {
        target.label_selector = cx.string_map(node, &join(path, "labelSelector"));
    }
    if let Some(node) = get(fields, "namespace") {
        target.namespace = namespace(cx, node, &join(path, "namespace"));
    }
    if let Some(node) = get(fields, "containerName") {
        target.container = container(cx, node, &join(path, "containerName"));
    }
    if let Some(node) = get(fields, "resourceType") {
        let field_path = join(path, "resourceType");
        if let Some(kind) = cx.string(node, &field_path) {
            if !kind.trim().is_empty() && !kind.trim().eq_ignore_ascii_case("pod") {
                cx.error(
                    &node.range,
                    &field_path,
                    format!("`resourceType: {kind}` is not supported: only pods can be synced"),
                );
            }
        }
    }
    target
}

/// Reads a list of sync entries. `container_path_required`: the seed's format requires
/// `containerPath`; in `dev.sync[]` (v3–v5) it defaults to the container's working
/// directory, and real configs rely on that.
fn read_entries(
    cx: &mut Cx<'_>,
    node: &Node,
    path: &str,
    named: &Named,
    images: &Images,
    container_path_required: bool,
) -> Vec<Entry> {
    let mut entries = Vec::new();
    let Some(items) = cx.seq(node, path) else {
        return entries;
    };
    for (i, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        let Some(fields) = cx.map(item, &item_path) else {
            continue;
        };
        cx.check_fields(fields, &item_path, &LEGACY_SYNC);
        let errors_before = cx.error_count();
        let base_name = get(fields, "name")
            .and_then(|n| cx.string(n, &join(&item_path, "name")))
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| "sync".to_string());

        // The named selector first, then the entry's own fields on top.
        let mut target = Target::default();
        for key in ["selector", "service"] {
            let Some(node) = get(fields, key) else {
                continue;
            };
            let field_path = join(&item_path, key);
            let Some(reference) = cx.string(node, &field_path) else {
                continue;
            };
            match named.map.get(reference.trim()) {
                Some(found) => target = found.clone(),
                None => {
                    let mut known: Vec<&str> = named.map.keys().map(String::as_str).collect();
                    known.sort_unstable();
                    cx.error(
                        &node.range,
                        &field_path,
                        format!(
                            "no entry named `{reference}` in `{}` (known: {})",
                            named.list,
                            if known.is_empty() {
                                "none".to_string()
                            } else {
                                known.join(", ")
                            }
                        ),
                    );
                }
            }
        }
        let own = read_selector_fields(cx, fields, &item_path);
        if !own.label_selector.is_empty() {
            target.label_selector = own.label_selector;
        }
        if own.namespace.is_some() {
            target.namespace = own.namespace;
        }
        if own.container.is_some() {
            target.container = own.container;
        }
        if let Some(node) = get(fields, "imageSelector") {
            target.image_selector =
                image_selector(cx, node, &join(&item_path, "imageSelector"), images);
        }
        if let Some(node) = get(fields, "imageName") {
            let field_path = join(&item_path, "imageName");
            if let Some(name) = cx.string(node, &field_path) {
                match images.get(name.trim()) {
                    Some(image) => {
                        let image = image.clone();
                        target.image_selector = cx.string(&image, &format!("images.{name}.image"));
                    }
                    None => {
                        let mut known: Vec<&str> = images.keys().map(String::as_str).collect();
                        known.sort_unstable();
                        cx.error(
                            &node.range,
                            &field_path,
                            format!(
                                "no image named `{name}` in `images` (known: {})",
                                if known.is_empty() {
                                    "none".to_string()
                                } else {
                                    known.join(", ")
                                }
                            ),
                        );
                    }
                }
            }
        }
        let selector_failed = cx.error_count() > errors_before;

        let mut e = Entry::new(base_name, item_path.clone(), item.range, target);
        if let Some(node) = get(fields, "localSubPath") {
            let field_path = join(&item_path, "localSubPath");
            if let Some(local) = cx.string(node, &field_path) {
                let local = if local.trim().is_empty() {
                    ".".to_string()
                } else {
                    local.trim().to_string()
                };
                e.local = (local, node.range, field_path);
            }
        }
        match get(fields, "containerPath") {
            Some(node) if !node.is_null() => {
                let field_path = join(&item_path, "containerPath");
                match cx.string(node, &field_path) {
                    Some(p) if !p.trim().is_empty() => e.container_path = p.trim().to_string(),
                    Some(_) => {
                        cx.error(&node.range, &field_path, "`containerPath` is empty");
                        continue;
                    }
                    None => continue,
                }
            }
            _ if container_path_required => {
                cx.error(
                    &item.range,
                    &item_path,
                    "sync entry has no `containerPath` (the folder in the container)",
                );
                continue;
            }
            _ => {}
        }
        read_options(cx, fields, &mut e);
        if get(fields, "initialSync").is_none() {
            if let Some(node) = get(fields, "downloadOnInitialSync") {
                if let Some(b) = cx.bool(node, &join(&item_path, "downloadOnInitialSync")) {
                    e.initial_sync = if b {
                        InitialSync::PreferLocal
                    } else {
                        InitialSync::MirrorLocal
                    };
                }
            }
        }
        if e.target.label_selector.is_empty()
            && e.target.image_selector.is_none()
            && !selector_failed
        {
            cx.error(
                &item.range,
                &item_path,
                format!(
                    "sync entry selects no pod: set `labelSelector`, `imageSelector`, `imageName` \
                     or name an entry of `{}`",
                    named.list
                ),
            );
            continue;
        }
        entries.push(e);
    }
    entries
}
