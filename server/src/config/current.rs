//! Today's format: `devspace.yaml` with `version: v2beta1` (DevSpace v6).
//!
//! ```yaml
//! dev:
//!   web:                       # SyncPath names: web, web#1, …
//!     imageSelector: ${IMAGE}  # or labelSelector: {app: web}
//!     namespace: dev
//!     container: app
//!     sync:
//!     - path: ./src:/app/src
//!       excludePaths: [node_modules/]
//!     containers:
//!       sidecar:               # SyncPath names: web/sidecar, …
//!         sync:
//!         - path: ./conf:/etc/conf
//! ```

use super::entry::{self, container, image_selector, namespace, read_options, Entry, Images};
use super::fields::{V2BETA1_CONTAINER, V2BETA1_DEV, V2BETA1_SYNC};
use super::reader::{get, join, Cx};
use super::types::Target;
use super::yaml::Node;

/// Reads the sync entries of every `dev.<name>` of a v2beta1 document.
pub(crate) fn read(cx: &mut Cx<'_>, root: &[(Node, Node)], images: &Images) -> Vec<Entry> {
    let mut entries = Vec::new();
    let Some(dev) = get(root, "dev") else {
        return entries;
    };
    let Some(dev) = cx.map(dev, "dev") else {
        return entries;
    };
    for (key, value) in dev {
        let Some(name) = key.scalar() else {
            cx.type_error(key, "dev", "a mapping with text keys");
            continue;
        };
        let path = join("dev", name);
        let Some(fields) = cx.map(value, &path) else {
            continue;
        };
        cx.check_fields(fields, &path, &V2BETA1_DEV);
        let mut target = Target::default();
        let errors_before = cx.error_count();
        if let Some(node) = get(fields, "imageSelector") {
            target.image_selector = image_selector(cx, node, &join(&path, "imageSelector"), images);
        }
        if let Some(node) = get(fields, "labelSelector") {
            target.label_selector = cx.string_map(node, &join(&path, "labelSelector"));
        }
        if let Some(node) = get(fields, "namespace") {
            target.namespace = namespace(cx, node, &join(&path, "namespace"));
        }
        if let Some(node) = get(fields, "container") {
            target.container = container(cx, node, &join(&path, "container"));
        }
        let selector_failed = cx.error_count() > errors_before;
        let before = entries.len();
        if let Some(sync) = get(fields, "sync") {
            read_sync_list(cx, sync, &join(&path, "sync"), name, &target, &mut entries);
        }
        if let Some(containers) = get(fields, "containers") {
            let containers_path = join(&path, "containers");
            if let Some(containers) = cx.map(containers, &containers_path) {
                for (ckey, cvalue) in containers {
                    let Some(cname) = ckey.scalar() else {
                        cx.type_error(ckey, &containers_path, "a mapping with text keys");
                        continue;
                    };
                    let cpath = join(&containers_path, cname);
                    let Some(cfields) = cx.map(cvalue, &cpath) else {
                        continue;
                    };
                    cx.check_fields(cfields, &cpath, &V2BETA1_CONTAINER);
                    let mut ctarget = target.clone();
                    ctarget.container = match get(cfields, "container") {
                        Some(node) => container(cx, node, &join(&cpath, "container")),
                        None => None,
                    }
                    .or_else(|| Some(cname.to_string()));
                    if let Some(sync) = get(cfields, "sync") {
                        let base = format!("{name}/{cname}");
                        read_sync_list(
                            cx,
                            sync,
                            &join(&cpath, "sync"),
                            &base,
                            &ctarget,
                            &mut entries,
                        );
                    }
                }
            }
        }
        let has_selector = !target.label_selector.is_empty() || target.image_selector.is_some();
        if entries.len() > before && !has_selector && !selector_failed {
            cx.error(
                &key.range,
                &path,
                format!(
                    "`dev.{name}` has sync paths but selects no pod: set `labelSelector` or `imageSelector`"
                ),
            );
        }
    }
    entries
}

fn read_sync_list(
    cx: &mut Cx<'_>,
    node: &Node,
    path: &str,
    base_name: &str,
    target: &Target,
    entries: &mut Vec<Entry>,
) {
    let Some(items) = cx.seq(node, path) else {
        return;
    };
    for (i, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        let Some(fields) = cx.map(item, &item_path) else {
            continue;
        };
        cx.check_fields(fields, &item_path, &V2BETA1_SYNC);
        let mut e = Entry::new(
            base_name.to_string(),
            item_path.clone(),
            item.range,
            target.clone(),
        );
        match get(fields, "path") {
            Some(value) => {
                let field_path = join(&item_path, "path");
                if !value.is_null() && value.scalar().is_none() {
                    cx.type_error(value, &field_path, "a string `local:remote`");
                    continue;
                }
                let text = cx.string(value, &field_path).unwrap_or_default();
                let (local, remote) = entry::split_sync_path(&text);
                e.local = (local, value.range, field_path);
                e.container_path = remote;
            }
            None => {
                cx.error(
                    &item.range,
                    &item_path,
                    "sync entry has no `path` (`local:remote`; write `path: .` to sync the \
                     project folder with the container's working directory)",
                );
                continue;
            }
        }
        read_options(cx, fields, &mut e);
        entries.push(e);
    }
}
