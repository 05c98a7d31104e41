//! DevSpace `profiles`: which of them apply, and applying them to the document tree
//! before the rest of the reader sees it — so that every later diagnostic points at the
//! text that produced the value, in the base config or in the profile.
//!
//! As DevSpace does (`pkg/devspace/config/loader`):
//! - The profiles that apply are those whose `activation` matches (in file order), then
//!   those the caller names ([`ProfileChoice::names`]: `--profile`, the editor's
//!   `profile` setting), in that order; a name given twice counts once, at its last place.
//! - An activation entry matches when each of its `env` and `vars` expressions matches
//!   the whole value (a regular expression, anchored at both ends); the profile is
//!   activated when any entry matches.
//! - Each profile is preceded by its `parent` or `parents` (recursively, in order).
//! - Within a profile: `replace` (top-level sections replaced), then `merge` (JSON Merge
//!   Patch, RFC 7386, per section: `null` deletes), then `patches` (`op: replace | add |
//!   remove` at a `path`; see [`selector`]). A `replace` whose path matches nothing adds
//!   it; a `remove` whose path matches nothing does nothing; `add` appends to a list,
//!   fills in a mapping, or creates the missing key.
//!
//! Not supported, each an error when the profile is applied (ignoring them would sync
//! something else than DevSpace): `strategicMerge`, parents from another file
//! (`parents[].source`). Patches may not touch `profiles`.

use super::fields::{PROFILE, PROFILE_ACTIVATION, PROFILE_PARENT, PROFILE_PATCH};
use super::reader::{get, join, Cx};
use super::vars::Vars;
use super::yaml::{Kind, Node, Range};

pub mod selector;

use selector::Selector;

/// The profiles a caller asks for, besides those the file activates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProfileChoice {
    /// Profile names, applied in this order after the activated ones (`--profile`).
    pub names: Vec<String>,
    /// Whether `activation` is ignored (DevSpace's `--disable-profile-activation`).
    pub no_activation: bool,
}

/// A profile that was applied, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppliedProfile {
    /// Its `name`.
    pub name: String,
    /// `activated` (its `activation` matched), `requested` (named by the caller), or
    /// `parent of NAME`.
    pub reason: String,
}

/// How deep parents may nest before it counts as a cycle (DevSpace allows 50).
const MAX_DEPTH: usize = 50;

/// One entry of `profiles`, as read.
struct Profile<'n> {
    name: String,
    node: &'n Node,
    entries: &'n [(Node, Node)],
}

/// Applies the profiles `choice` and the file select to `root` (the top-level mapping),
/// then removes `profiles` from it. Returns what was applied, in order. Errors go to
/// `cx`; after an error the tree is left as far as it got.
pub(crate) fn apply(
    cx: &mut Cx<'_>,
    root: &mut Vec<(Node, Node)>,
    choice: &ProfileChoice,
    vars_for_activation: &Vars<'_>,
) -> Vec<AppliedProfile> {
    let Some(index) = root
        .iter()
        .position(|(k, _)| k.scalar() == Some("profiles"))
    else {
        for name in &choice.names {
            let range = root.first().map(|(k, _)| k.range).unwrap_or_default();
            cx.error(
                &range,
                "",
                format!(
                    "no profile `{name}`: this config file has no `profiles` (asked for with \
                     --profile or the editor's `profile` setting)"
                ),
            );
        }
        return Vec::new();
    };
    let (profiles_key, profiles_node) = root.remove(index);
    let list: Vec<Profile<'_>> = read_profiles(cx, &profiles_node);
    let known: Vec<&str> = list.iter().map(|p| p.name.as_str()).collect();

    // Which apply, in order: activated, then requested; the last mention counts.
    let mut order: Vec<(String, String)> = Vec::new();
    if !choice.no_activation {
        for p in &list {
            if activated(cx, p, vars_for_activation) {
                order.push((p.name.clone(), "activated".into()));
            }
        }
    }
    for name in &choice.names {
        if known.contains(&name.as_str()) {
            order.push((name.clone(), "requested".into()));
        } else {
            let hint = super::reader::closest(name, &known)
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            cx.error(
                &profiles_key.range,
                "profiles",
                format!(
                    "no profile `{name}` in this file{hint}; its profiles are {} (asked for \
                     with --profile or the editor's `profile` setting)",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known
                            .iter()
                            .map(|n| format!("`{n}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
            );
        }
    }
    let mut deduped: Vec<(String, String)> = Vec::new();
    for (i, (name, why)) in order.iter().enumerate() {
        if !order[i + 1..].iter().any(|(n, _)| n == name) {
            deduped.push((name.clone(), why.clone()));
        }
    }

    // Each with its parents first.
    let mut chain: Vec<(usize, String)> = Vec::new();
    for (name, why) in &deduped {
        let i = list.iter().position(|p| &p.name == name).expect("known");
        with_parents(cx, &list, i, why.clone(), 0, &mut chain);
    }
    let mut applied = Vec::new();
    for (i, why) in chain {
        let p = &list[i];
        apply_one(cx, root, p);
        applied.push(AppliedProfile {
            name: p.name.clone(),
            reason: why,
        });
    }
    applied
}

fn read_profiles<'n>(cx: &mut Cx<'_>, node: &'n Node) -> Vec<Profile<'n>> {
    let mut out: Vec<Profile<'n>> = Vec::new();
    let Some(items) = cx.seq(node, "profiles") else {
        return out;
    };
    for (i, item) in items.iter().enumerate() {
        let path = format!("profiles[{i}]");
        let Some(entries) = cx.map(item, &path) else {
            continue;
        };
        let entries = cx.check_fields(entries, &path, &PROFILE);
        let Some(name_node) = get(entries, "name") else {
            cx.error(&item.range, &path, "a profile needs a `name`");
            continue;
        };
        // Names are literal in DevSpace (no variables).
        let Some(name) = name_node.scalar().map(str::to_string) else {
            cx.type_error(name_node, &join(&path, "name"), "a string");
            continue;
        };
        if out.iter().any(|p| p.name == name) {
            cx.warn(
                &name_node.range,
                &join(&path, "name"),
                format!("a second profile named `{name}`: only the first is used"),
            );
            continue;
        }
        out.push(Profile {
            name,
            node: item,
            entries,
        });
    }
    out
}

/// Whether any `activation` entry of `p` matches.
fn activated(cx: &mut Cx<'_>, p: &Profile<'_>, vars: &Vars<'_>) -> bool {
    let Some(list) = get(p.entries, "activation") else {
        return false;
    };
    let path = format!("profiles.{}.activation", p.name);
    let Some(items) = cx.seq(list, &path) else {
        return false;
    };
    let mut any = false;
    for (i, item) in items.iter().enumerate() {
        let path = format!("{path}[{i}]");
        let Some(entries) = cx.map(item, &path) else {
            continue;
        };
        let entries = cx.check_fields(entries, &path, &PROFILE_ACTIVATION);
        let mut all = true;
        for (section, lookup) in [("env", Lookup::Env), ("vars", Lookup::Var)] {
            let Some(m) = get(entries, section) else {
                continue;
            };
            let Some(pairs) = cx.map(m, &join(&path, section)) else {
                all = false;
                continue;
            };
            for (k, v) in pairs {
                let name = k.scalar().unwrap_or_default();
                let Some(pattern) = v.scalar() else {
                    cx.type_error(v, &join(&path, name), "a regular expression");
                    all = false;
                    continue;
                };
                let anchored = format!(
                    "^(?:{})$",
                    pattern.trim_start_matches('^').trim_end_matches('$')
                );
                let re = match regex::Regex::new(&anchored) {
                    Ok(re) => re,
                    Err(e) => {
                        cx.error(
                            &v.range,
                            &join(&path, name),
                            format!("not a regular expression: {e}"),
                        );
                        all = false;
                        continue;
                    }
                };
                let value = match lookup {
                    Lookup::Env => (vars.env)(name).unwrap_or_default(),
                    Lookup::Var => vars.substitute(&format!("${{{name}}}")).unwrap_or_default(),
                };
                if !re.is_match(&value) {
                    all = false;
                }
            }
        }
        any |= all;
    }
    any
}

#[derive(Clone, Copy)]
enum Lookup {
    Env,
    Var,
}

/// Appends profile `i` to `chain`, after its parents.
fn with_parents(
    cx: &mut Cx<'_>,
    list: &[Profile<'_>],
    i: usize,
    why: String,
    depth: usize,
    chain: &mut Vec<(usize, String)>,
) {
    let p = &list[i];
    if depth >= MAX_DEPTH {
        cx.error(
            &p.node.range,
            "profiles",
            format!(
                "profile `{}`: its parents refer to each other in a cycle",
                p.name
            ),
        );
        return;
    }
    let mut parents: Vec<(String, Range)> = Vec::new();
    if let Some(parent) = get(p.entries, "parent") {
        if let Some(n) = parent.scalar().filter(|_| !parent.is_null()) {
            parents.push((n.to_string(), parent.range));
        }
    }
    if let Some(list_node) = get(p.entries, "parents") {
        if !parents.is_empty() {
            cx.error(
                &list_node.range,
                &format!("profiles.{}.parents", p.name),
                "`parent` and `parents` cannot both be set; choose one",
            );
        }
        let path = format!("profiles.{}.parents", p.name);
        for (j, item) in cx
            .seq(list_node, &path)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let path = format!("{path}[{j}]");
            let Some(entries) = cx.map(item, &path) else {
                continue;
            };
            let entries = cx.check_fields(entries, &path, &PROFILE_PARENT);
            if let Some(source) = get(entries, "source") {
                if !source.is_null() {
                    cx.error(
                        &source.range,
                        &join(&path, "source"),
                        "parents from another config file (`source`) are not supported: \
                         copy that profile into this file",
                    );
                    continue;
                }
            }
            match get(entries, "profile").and_then(|n| n.scalar().map(|s| (s, n.range))) {
                Some((name, range)) => parents.push((name.to_string(), range)),
                None => cx.error(&item.range, &path, "a parent needs a `profile`"),
            }
        }
    }
    for (name, range) in parents {
        match list.iter().position(|q| q.name == name) {
            Some(j) => with_parents(
                cx,
                list,
                j,
                format!("parent of {}", p.name),
                depth + 1,
                chain,
            ),
            None => cx.error(
                &range,
                &format!("profiles.{}", p.name),
                format!("no profile `{name}` (named as a parent of `{}`)", p.name),
            ),
        }
    }
    chain.push((i, why));
}

/// `replace`, `merge`, then `patches` of one profile.
fn apply_one(cx: &mut Cx<'_>, root: &mut Vec<(Node, Node)>, p: &Profile<'_>) {
    let at = |field: &str| format!("profiles.{}.{field}", p.name);
    if let Some(s) = get(p.entries, "strategicMerge") {
        if !s.is_null() {
            cx.error(
                &s.range,
                &at("strategicMerge"),
                "`strategicMerge` is not supported by ferry; write it as `merge` or `patches`",
            );
        }
    }
    if let Some(replace) = get(p.entries, "replace") {
        if let Some(sections) = section_map(cx, replace, &at("replace")) {
            for (k, v) in sections {
                set_key(root, k, v.clone());
            }
        }
    }
    if let Some(merge) = get(p.entries, "merge") {
        if let Some(sections) = section_map(cx, merge, &at("merge")) {
            for (k, v) in sections {
                let name = k.scalar().unwrap_or_default();
                match root.iter_mut().find(|(rk, _)| rk.scalar() == Some(name)) {
                    Some((_, target)) => merge_patch(target, v),
                    None if v.is_null() => {}
                    None => {
                        let mut fresh = null_at(v.range);
                        merge_patch(&mut fresh, v);
                        root.push((k.clone(), fresh));
                    }
                }
            }
        }
    }
    if let Some(patches) = get(p.entries, "patches") {
        let path = at("patches");
        let Some(items) = cx.seq(patches, &path) else {
            return;
        };
        for (i, item) in items.iter().enumerate() {
            let path = format!("{path}[{i}]");
            let Some(entries) = cx.map(item, &path) else {
                continue;
            };
            let entries = cx.check_fields(entries, &path, &PROFILE_PATCH);
            patch(cx, root, entries, item, &path);
        }
    }
}

/// The sections of `replace` / `merge`: a mapping whose keys may not be `profiles`.
fn section_map<'n>(cx: &mut Cx<'_>, node: &'n Node, path: &str) -> Option<&'n [(Node, Node)]> {
    let entries = cx.map(node, path)?;
    if let Some((k, _)) = entries.iter().find(|(k, _)| k.scalar() == Some("profiles")) {
        cx.error(&k.range, path, "a profile cannot change `profiles`");
        return None;
    }
    Some(entries)
}

fn set_key(map: &mut Vec<(Node, Node)>, key: &Node, value: Node) {
    let name = key.scalar();
    match map.iter_mut().find(|(k, _)| k.scalar() == name) {
        Some((_, v)) => *v = value,
        None => map.push((key.clone(), value)),
    }
}

fn null_at(range: Range) -> Node {
    Node {
        range,
        kind: Kind::Scalar {
            text: String::new(),
            style: super::yaml::Style::Plain,
            tag: None,
        },
    }
}

/// RFC 7386: a mapping patches a mapping key by key (`null` deletes the key); anything
/// else replaces the target.
pub(crate) fn merge_patch(target: &mut Node, patch: &Node) {
    let Kind::Map(patch_entries) = &patch.kind else {
        *target = patch.clone();
        return;
    };
    if !matches!(target.kind, Kind::Map(_)) {
        *target = Node {
            range: patch.range,
            kind: Kind::Map(Vec::new()),
        };
    }
    let Kind::Map(entries) = &mut target.kind else {
        unreachable!("made a mapping above");
    };
    for (k, v) in patch_entries {
        let name = k.scalar();
        let at = entries.iter().position(|(ek, _)| ek.scalar() == name);
        match (at, v.is_null()) {
            (Some(i), true) => {
                entries.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => merge_patch(&mut entries[i].1, v),
            (None, false) => {
                let mut fresh = null_at(v.range);
                merge_patch(&mut fresh, v);
                entries.push((k.clone(), fresh));
            }
        }
    }
}

/// One entry of `patches`.
fn patch(
    cx: &mut Cx<'_>,
    root: &mut Vec<(Node, Node)>,
    entries: &[(Node, Node)],
    item: &Node,
    path: &str,
) {
    let op_node = get(entries, "op");
    let path_node = get(entries, "path");
    let value = get(entries, "value");
    let Some(op) = op_node.and_then(Node::scalar) else {
        cx.error(
            &item.range,
            path,
            "a patch needs an `op` (replace, add or remove)",
        );
        return;
    };
    let op_node = op_node.expect("has op");
    let Some(text) = path_node.and_then(Node::scalar).filter(|t| !t.is_empty()) else {
        cx.error(&item.range, path, "a patch needs a `path`");
        return;
    };
    let path_node = path_node.expect("has path");
    let selector = match Selector::parse(text) {
        Ok(s) => s,
        Err(e) => {
            cx.error(
                &path_node.range,
                &join(path, "path"),
                format!("cannot read the path `{text}`: {e}"),
            );
            return;
        }
    };
    if selector.first_key() == Some("profiles") {
        cx.error(
            &path_node.range,
            &join(path, "path"),
            "a patch cannot change `profiles`",
        );
        return;
    }
    let needs_value = matches!(op, "replace" | "add");
    let value = match (needs_value, value) {
        (true, None) => {
            cx.error(&item.range, path, format!("`op: {op}` needs a `value`"));
            return;
        }
        (_, v) => v,
    };
    // The tree as one node, so that the root is addressable like any other mapping.
    let mut doc = Node {
        range: item.range,
        kind: Kind::Map(std::mem::take(root)),
    };
    let result = match op {
        "replace" => selector::replace(&mut doc, &selector, value.expect("checked")),
        "add" => selector::add(&mut doc, &selector, value.expect("checked")),
        "remove" => {
            selector::remove(&mut doc, &selector);
            Ok(())
        }
        other => {
            cx.error(
                &op_node.range,
                &join(path, "op"),
                format!("unknown patch op `{other}`; ferry knows replace, add and remove"),
            );
            Ok(())
        }
    };
    let Kind::Map(entries) = doc.kind else {
        unreachable!("the root stays a mapping: the root itself cannot be replaced");
    };
    *root = entries;
    if let Err(e) = result {
        cx.error(
            &path_node.range,
            &join(path, "path"),
            format!("the patch at `{text}` cannot be applied: {e}"),
        );
    }
}
