//! What the format readers have in common: the sync options every format shares, the
//! intermediate sync entry, and turning entries into [`SyncPath`]s (names, local paths,
//! exclude patterns and `excludeFile`s).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

use super::diagnostic::Span;
use super::ferry_file::{FerryFile, Written};
use super::fields::{BANDWIDTH_LIMITS, IMAGE, ON_UPLOAD, UPLOAD_HOOK};
use super::reader::{self, closest, get, is_current_namespace_reference, join, Cx};
use super::types::{Bandwidth, Excludes, InitialSync, Pattern, SyncPath, Target, UploadHook};
use super::yaml::{Kind, Node, Range};
use super::ALWAYS_EXCLUDED;

/// Which exclude list an `excludeFile` feeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Both,
    Upload,
    Download,
}

/// An `excludeFile` reference, read when the entry is finished.
#[derive(Clone, Debug)]
pub(crate) struct ExcludeFile {
    pub direction: Direction,
    pub text: String,
    pub range: Range,
    pub path: String,
}

/// A sync entry as read from any format, before paths are resolved.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    /// The name before uniqueness suffixes.
    pub base_name: String,
    /// The field path of the entry, e.g. `dev.web.sync[0]`.
    pub path: String,
    /// Where the entry is written.
    pub origin: Range,
    /// The local path as written (after substitution), where, and its field path.
    pub local: (String, Range, String),
    pub container_path: String,
    pub target: Target,
    pub excludes: Excludes,
    pub exclude_files: Vec<ExcludeFile>,
    pub initial_sync: InitialSync,
    pub upload: bool,
    pub download: bool,
    pub bandwidth: Bandwidth,
    pub polling: bool,
    pub on_upload: Vec<UploadHook>,
    /// `file: true` (where it is written): the paths name one file, not folders.
    pub file: Option<Range>,
}

impl Entry {
    pub fn new(base_name: String, path: String, origin: Range, target: Target) -> Entry {
        Entry {
            base_name,
            local: (".".to_string(), origin, path.clone()),
            path,
            origin,
            container_path: ".".to_string(),
            target,
            excludes: Excludes::default(),
            exclude_files: Vec::new(),
            initial_sync: InitialSync::Merge,
            upload: true,
            download: true,
            bandwidth: Bandwidth::default(),
            polling: false,
            on_upload: Vec::new(),
            file: None,
        }
    }
}

/// Reads the sync options shared by all formats from the fields of a sync entry:
/// the exclude lists and files, `initialSync`, `disableUpload`, `disableDownload`,
/// `bandwidthLimits`, `polling` and `onUpload`.
pub(crate) fn read_options(cx: &mut Cx<'_>, fields: &[(Node, Node)], entry: &mut Entry) {
    let path = entry.path.clone();
    for (key, list) in [
        ("excludePaths", Direction::Both),
        ("uploadExcludePaths", Direction::Upload),
        ("downloadExcludePaths", Direction::Download),
    ] {
        if let Some(node) = get(fields, key) {
            let field_path = join(&path, key);
            for (i, (text, range)) in cx.string_list(node, &field_path).into_iter().enumerate() {
                let item_path = format!("{field_path}[{i}]");
                let span = cx.span(&range);
                if let Some(pattern) = pattern(cx, &text, span, &range, &item_path) {
                    list_mut(&mut entry.excludes, list).push(pattern);
                }
            }
        }
    }
    for (key, direction) in [
        ("excludeFile", Direction::Both),
        ("uploadExcludeFile", Direction::Upload),
        ("downloadExcludeFile", Direction::Download),
    ] {
        if let Some(node) = get(fields, key) {
            let field_path = join(&path, key);
            if let Some(text) = cx.string(node, &field_path) {
                if !text.trim().is_empty() {
                    entry.exclude_files.push(ExcludeFile {
                        direction,
                        text: text.trim().to_string(),
                        range: node.range,
                        path: field_path,
                    });
                }
            }
        }
    }
    if let Some(node) = get(fields, "initialSync") {
        let field_path = join(&path, "initialSync");
        if let Some(strategy) = initial_sync(cx, node, &field_path) {
            entry.initial_sync = strategy;
        }
    }
    if let Some(node) = get(fields, "disableUpload") {
        if let Some(b) = cx.bool(node, &join(&path, "disableUpload")) {
            entry.upload = !b;
        }
    }
    if let Some(node) = get(fields, "disableDownload") {
        if let Some(b) = cx.bool(node, &join(&path, "disableDownload")) {
            entry.download = !b;
        }
    }
    if !entry.upload && !entry.download {
        if let Some((key, _)) = reader::entry(fields, "disableDownload") {
            cx.warn(
                &key.range,
                &join(&path, "disableDownload"),
                "both `disableUpload` and `disableDownload` are set: this sync path transfers nothing",
            );
        }
    }
    if let Some(node) = get(fields, "bandwidthLimits") {
        let field_path = join(&path, "bandwidthLimits");
        if let Some(limits) = cx.map(node, &field_path) {
            cx.check_fields(limits, &field_path, &BANDWIDTH_LIMITS);
            if let Some(n) = get(limits, "upload") {
                entry.bandwidth.upload_kib_per_sec =
                    cx.positive_int(n, &join(&field_path, "upload"));
            }
            if let Some(n) = get(limits, "download") {
                entry.bandwidth.download_kib_per_sec =
                    cx.positive_int(n, &join(&field_path, "download"));
            }
        }
    }
    if let Some((key, node)) = reader::entry(fields, "file") {
        if cx.bool(node, &join(&path, "file")) == Some(true) {
            entry.file = Some(key.range);
        }
    }
    if let Some(node) = get(fields, "polling") {
        if let Some(b) = cx.bool(node, &join(&path, "polling")) {
            entry.polling = b;
        }
    }
    if let Some(node) = get(fields, "onUpload") {
        let field_path = join(&path, "onUpload");
        if let Some(on_upload) = cx.map(node, &field_path) {
            cx.check_fields(on_upload, &field_path, &ON_UPLOAD);
            if let Some(exec) = get(on_upload, "exec") {
                let exec_path = join(&field_path, "exec");
                if let Some(items) = cx.seq(exec, &exec_path) {
                    for (i, item) in items.iter().enumerate() {
                        if let Some(hook) = upload_hook(cx, item, &format!("{exec_path}[{i}]")) {
                            entry.on_upload.push(hook);
                        }
                    }
                }
            }
        }
    }
}

fn list_mut(excludes: &mut Excludes, direction: Direction) -> &mut Vec<Pattern> {
    match direction {
        Direction::Both => &mut excludes.both,
        Direction::Upload => &mut excludes.upload,
        Direction::Download => &mut excludes.download,
    }
}

/// A pattern from the config or an exclude file; `None` (with a warning) for an empty
/// one or one that would re-include an always-excluded folder.
fn pattern(cx: &mut Cx<'_>, text: &str, span: Span, range: &Range, path: &str) -> Option<Pattern> {
    let text = text.trim();
    if text.is_empty() {
        cx.warn(range, path, "an empty exclude pattern is ignored");
        return None;
    }
    if reincludes_builtin(text) {
        cx.warn(
            range,
            path,
            format!(
                "`{text}` would re-include a folder that is always excluded ({}); the pattern is ignored",
                ALWAYS_EXCLUDED.join(", ")
            ),
        );
        return None;
    }
    Some(Pattern {
        text: text.to_string(),
        span: Some(span),
    })
}

/// Whether a negation pattern targets `.devspace` or `.ferry` (or something inside).
fn reincludes_builtin(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('!') else {
        return false;
    };
    let mut rest = rest.trim_start_matches('/');
    while let Some(r) = rest.strip_prefix("**/") {
        rest = r;
    }
    let first = rest.split('/').next().unwrap_or_default();
    ALWAYS_EXCLUDED
        .iter()
        .any(|b| b.trim_end_matches('/') == first)
}

/// Reads an `initialSync` value.
pub(crate) fn initial_sync(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<InitialSync> {
    if !matches!(node.kind, Kind::Scalar { .. }) {
        cx.type_error(node, path, "a string");
        return None;
    }
    let text = cx.string(node, path)?;
    if let Some(strategy) = InitialSync::from_config_name(text.trim()) {
        return Some(strategy);
    }
    let names: Vec<&str> = InitialSync::ALL.iter().map(|(_, n)| *n).collect();
    let hint = closest(text.trim(), &names)
        .map(|c| format!("did you mean `{c}`? "))
        .unwrap_or_default();
    cx.error(
        &node.range,
        path,
        format!(
            "unknown `initialSync` value `{text}`: {hint}expected one of {}",
            names.join(", ")
        ),
    );
    None
}

fn upload_hook(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<UploadHook> {
    let fields = cx.map(node, path)?;
    cx.check_fields(fields, path, &UPLOAD_HOOK);
    let command = match get(fields, "command") {
        Some(c) => cx.string(c, &join(path, "command")),
        None => {
            cx.error(
                &node.range,
                path,
                "an `onUpload.exec` entry needs a `command`",
            );
            return None;
        }
    };
    let args = get(fields, "args").and_then(|a| {
        if a.is_null() {
            None
        } else {
            Some(
                cx.string_list(a, &join(path, "args"))
                    .into_iter()
                    .map(|(s, _)| s)
                    .collect(),
            )
        }
    });
    let name = get(fields, "name").and_then(|n| cx.string(n, &join(path, "name")));
    let mut flag = |key: &str| {
        get(fields, key)
            .and_then(|n| cx.bool(n, &join(path, key)))
            .unwrap_or(false)
    };
    let (fail_on_error, local, once) = (flag("failOnError"), flag("local"), flag("once"));
    let on_change = get(fields, "onChange")
        .map(|n| {
            cx.string_list(n, &join(path, "onChange"))
                .into_iter()
                .map(|(s, _)| s)
                .collect()
        })
        .unwrap_or_default();
    let command = command?;
    if command.trim().is_empty() {
        cx.error(&node.range, &join(path, "command"), "`command` is empty");
        return None;
    }
    Some(UploadHook {
        name,
        command,
        args,
        fail_on_error,
        local,
        once,
        on_change,
        span: cx.span(&node.range),
    })
}

/// Reads a `namespace` value: empty or an unset `${DEVSPACE_NAMESPACE}` mean "the
/// current context's namespace" (`None`).
pub(crate) fn namespace(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<String> {
    if let Some(text) = node.scalar() {
        if is_current_namespace_reference(text) && (cx.vars.env)("DEVSPACE_NAMESPACE").is_none() {
            return None;
        }
    }
    if !matches!(node.kind, Kind::Scalar { .. }) {
        cx.type_error(node, path, "a string");
        return None;
    }
    cx.string(node, path).filter(|s| !s.trim().is_empty())
}

/// Reads a container name; empty means none.
pub(crate) fn container(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<String> {
    if !matches!(node.kind, Kind::Scalar { .. }) {
        cx.type_error(node, path, "a string");
        return None;
    }
    cx.string(node, path).filter(|s| !s.trim().is_empty())
}

/// The `images` section: image name → the node of its `image` (or v1 `name`) value.
pub(crate) type Images = HashMap<String, Node>;

/// Reads the `images` section (only the image references).
pub(crate) fn read_images(cx: &mut Cx<'_>, root: &[(Node, Node)]) -> Images {
    let mut images = Images::new();
    let Some(node) = get(root, "images") else {
        return images;
    };
    let Some(entries) = cx.map(node, "images") else {
        return images;
    };
    for (key, value) in entries {
        let Some(name) = key.scalar() else { continue };
        let path = join("images", name);
        let Kind::Map(fields) = &value.kind else {
            continue;
        };
        cx.check_fields(fields, &path, &IMAGE);
        if let Some(image) = get(fields, "image").or_else(|| get(fields, "name")) {
            images.insert(name.to_string(), image.clone());
        }
    }
    images
}

/// Marks "any tag" inside an image selector while it is being resolved.
const ANY_TAG: char = '\u{0}';

/// Reads an `imageSelector`, resolving DevSpace's image helpers against `images`:
/// `image(name)` and `${runtime.images.name.image}` become the image of `images.name`;
/// `tag(name)` and `${runtime.images.name.tag}` become "any tag" (dropped, with the `:`
/// before them); `${runtime.images.name}` is the image with any tag.
pub(crate) fn image_selector(
    cx: &mut Cx<'_>,
    node: &Node,
    path: &str,
    images: &Images,
) -> Option<String> {
    if node.is_null() {
        return None;
    }
    let Some(raw) = node.scalar() else {
        cx.type_error(node, path, "a string");
        return None;
    };
    let mut text = String::new();
    let mut rest = raw;
    while !rest.is_empty() {
        let helper = [
            ("image(", ")", false),
            ("tag(", ")", true),
            ("${runtime.images.", "}", false),
        ]
        .into_iter()
        .filter_map(|(open, close, is_tag)| rest.find(open).map(|at| (at, open, close, is_tag)))
        .min_by_key(|(at, ..)| *at);
        let Some((at, open, close, is_tag)) = helper else {
            text.push_str(rest);
            break;
        };
        let Some(len) = rest[at + open.len()..].find(close) else {
            text.push_str(rest);
            break;
        };
        let inner = rest[at + open.len()..at + open.len() + len].trim();
        let written = &rest[at..at + open.len() + len + close.len()];
        text.push_str(&rest[..at]);
        rest = &rest[at + open.len() + len + close.len()..];
        let (name, part) = if open.starts_with("${") {
            match inner.rsplit_once('.') {
                Some((n, "image")) => (n, "image"),
                Some((n, "tag")) => (n, "tag"),
                _ => (inner, "both"),
            }
        } else if is_tag {
            (inner, "tag")
        } else {
            (inner, "image")
        };
        if part == "tag" {
            text.push(ANY_TAG);
            continue;
        }
        let Some(image_node) = images.get(name) else {
            let known: Vec<&str> = images.keys().map(String::as_str).collect();
            let range = cx.locate(node, written);
            cx.error(
                &range,
                path,
                format!(
                    "`{written}` names no image in `images` (known: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            );
            return None;
        };
        let image_node = image_node.clone();
        let image = cx.string(&image_node, &format!("images.{name}.image"))?;
        text.push_str(&image);
        if part == "both" {
            text.push(':');
            text.push(ANY_TAG);
        }
    }
    let resolved = match cx.vars.substitute(&text) {
        Ok(s) => s,
        Err(unresolved) => {
            let range = cx.locate(node, &unresolved.reference);
            cx.error(
                &range,
                path,
                format!(
                    "cannot resolve {}: {}",
                    unresolved.reference, unresolved.message
                ),
            );
            return None;
        }
    };
    let mut resolved = resolved.trim().to_string();
    if resolved.ends_with(ANY_TAG) {
        resolved.pop();
        if resolved.ends_with(':') {
            resolved.pop();
        }
    }
    if resolved.contains(ANY_TAG) {
        cx.error(
            &node.range,
            path,
            "`tag(…)` can only stand at the end of an `imageSelector`",
        );
        return None;
    }
    (!resolved.is_empty()).then_some(resolved)
}

/// Splits a `path: local:remote` value at the last colon. A value without a colon is the
/// same path on both sides; an empty side is `.`.
pub(crate) fn split_sync_path(text: &str) -> (String, String) {
    let text = text.trim();
    let (local, remote) = match text.rfind(':') {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => (text, text),
    };
    let or_dot = |s: &str| {
        if s.trim().is_empty() {
            ".".to_string()
        } else {
            s.trim().to_string()
        }
    };
    (or_dot(local), or_dot(remote))
}

/// Lexically normalizes `path`: drops `.`, resolves `..` against earlier components.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if out.file_name().is_some() {
                    out.pop();
                } else if !out.has_root() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Something the finishing step needs from outside: the workspace root and a way to read
/// exclude files.
pub(crate) struct Finish<'a> {
    pub workspace_root: &'a Path,
    pub read_file: &'a dyn Fn(&Path) -> std::io::Result<String>,
}

/// Turns entries into sync paths: unique names, absolute local paths, built-in excludes,
/// exclude files. Entries with errors in their paths are dropped (the errors are in `cx`).
/// `ferry_file` gives each its settings and is told which of its rules matched.
pub(crate) fn finish(
    cx: &mut Cx<'_>,
    entries: Vec<Entry>,
    outside: &Finish<'_>,
    ferry_file: &mut FerryFile,
) -> Vec<SyncPath> {
    let root = normalize(outside.workspace_root);
    let mut used: HashSet<String> = HashSet::new();
    let mut counters: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for mut entry in entries {
        let name = unique_name(&entry.base_name, &mut used, &mut counters);
        // ferry.yaml matches the paths as written, before `file: true` splits them.
        let settings = ferry_file.settings_for(
            &root,
            &Written {
                dev: &entry.base_name,
                local: &normalize(&root.join(&entry.local.0)),
                container: &entry.container_path,
            },
        );
        // `file: true`: the parent folders, with everything but the file excluded.
        let only_file = match entry.file {
            Some(range) => match single_file(&mut entry) {
                Ok(file_name) => Some(file_name),
                Err(message) => {
                    cx.error(&range, &join(&entry.path, "file"), message);
                    continue;
                }
            },
            None => None,
        };
        let (local_text, local_range, local_path) = &entry.local;
        let written = PathBuf::from(local_text);
        let local = if written.is_absolute() {
            normalize(&written)
        } else {
            let joined = normalize(&root.join(&written));
            if !joined.starts_with(&root) {
                cx.error(
                    local_range,
                    local_path,
                    format!(
                        "the local path `{local_text}` leaves the workspace root {}; write it as an \
                         absolute path if this is intended",
                        root.display()
                    ),
                );
                continue;
            }
            joined
        };
        let mut excludes = Excludes {
            both: ALWAYS_EXCLUDED
                .iter()
                .map(|p| Pattern {
                    text: (*p).to_string(),
                    span: None,
                })
                .collect(),
            upload: entry.excludes.upload,
            download: entry.excludes.download,
        };
        if let Some(file_name) = &only_file {
            for text in ["**".to_string(), format!("!/{}", glob_literal(file_name))] {
                excludes.both.push(Pattern { text, span: None });
            }
        }
        excludes.both.extend(entry.excludes.both);
        // What configures ferry may never be written by the container side.
        let mut protected = vec![
            normalize(&root.join(cx.file)),
            root.join(super::DOTENV_FILE),
            ferry_file.path.clone(),
        ];
        for file in &entry.exclude_files {
            let path = normalize(&local.join(&file.text));
            protected.push(path.clone());
            match (outside.read_file)(&path) {
                Ok(text) => {
                    for (i, line) in text.lines().enumerate() {
                        let trimmed = line.trim();
                        if trimmed.is_empty() || trimmed.starts_with('#') {
                            continue;
                        }
                        let leading = line.chars().take_while(|c| c.is_whitespace()).count();
                        let line_no = u32::try_from(i + 1).unwrap_or(u32::MAX);
                        let column = u32::try_from(leading + 1).unwrap_or(u32::MAX);
                        let width = u32::try_from(trimmed.chars().count()).unwrap_or(u32::MAX);
                        let span = Span {
                            file: path.clone(),
                            line: line_no,
                            column,
                            end_line: line_no,
                            end_column: column.saturating_add(width),
                        };
                        if reincludes_builtin(trimmed) {
                            cx.warn(
                                &file.range,
                                &file.path,
                                format!(
                                    "`{trimmed}` (line {line_no} of {}) would re-include a folder that is always excluded; the pattern is ignored",
                                    path.display()
                                ),
                            );
                            continue;
                        }
                        list_mut(&mut excludes, file.direction).push(Pattern {
                            text: trimmed.to_string(),
                            span: Some(span),
                        });
                    }
                }
                Err(e) => {
                    cx.error(
                        &file.range,
                        &file.path,
                        format!("cannot read the exclude file {}: {e}", path.display()),
                    );
                }
            }
        }
        out.push(SyncPath {
            name,
            origin: cx.span(&entry.origin),
            local_path: local,
            container_path: entry.container_path,
            target: entry.target,
            excludes,
            initial_sync: entry.initial_sync,
            upload: entry.upload,
            download: entry.download,
            bandwidth: entry.bandwidth,
            polling: entry.polling,
            on_upload: entry.on_upload,
            protected,
            dev: entry.base_name,
            symlinks: settings.symlinks.unwrap_or_default(),
            replicas: settings.replicas.unwrap_or_default(),
        });
    }
    out
}

/// For `file: true`: checks that both paths end in the same file name and turns them
/// into their parent folders; returns the file name. DevSpace has the same rule.
fn single_file(entry: &mut Entry) -> Result<String, String> {
    let local = entry.local.0.trim_end_matches('/').to_string();
    let container = entry.container_path.trim_end_matches('/').to_string();
    let (local_parent, local_name) = match local.rsplit_once('/') {
        Some((parent, name)) => (if parent.is_empty() { "/" } else { parent }, name),
        None => (".", local.as_str()),
    };
    let (container_parent, container_name) = match container.rsplit_once('/') {
        Some((parent, name)) => (if parent.is_empty() { "/" } else { parent }, name),
        None => (".", container.as_str()),
    };
    if local_name.is_empty() || local_name == "." || local_name == ".." {
        return Err(format!(
            "`file: true` needs a file in the local path, e.g. `./config.json:/app/config.json` (found `{}`)",
            entry.local.0
        ));
    }
    if local_name != container_name {
        return Err(format!(
            "`file: true` syncs one file under the same name on both sides: the local path ends in \
             `{local_name}`, the container path in `{container_name}` (e.g. \
             `./config.json:/app/config.json`)"
        ));
    }
    let name = local_name.to_string();
    entry.local.0 = local_parent.to_string();
    entry.container_path = container_parent.to_string();
    Ok(name)
}

/// `name` as a gitignore pattern that matches exactly it.
fn glob_literal(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\' | '!' | '#') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn unique_name(
    base: &str,
    used: &mut HashSet<String>,
    counters: &mut BTreeMap<String, usize>,
) -> String {
    let counter = counters.entry(base.to_string()).or_insert(0);
    loop {
        let candidate = if *counter == 0 {
            base.to_string()
        } else {
            format!("{base}#{counter}")
        };
        *counter += 1;
        if used.insert(candidate.clone()) {
            return candidate;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_path_splits_at_the_last_colon() {
        let s = |t: &str| split_sync_path(t);
        assert_eq!(s("./src:/app"), ("./src".into(), "/app".into()));
        assert_eq!(
            s("C:/codeproject:/home/dev/codeproject"),
            ("C:/codeproject".into(), "/home/dev/codeproject".into())
        );
        assert_eq!(s("src"), ("src".into(), "src".into()));
        assert_eq!(s(""), (".".into(), ".".into()));
        assert_eq!(s(":/app"), (".".into(), "/app".into()));
        assert_eq!(s("./web:"), ("./web".into(), ".".into()));
        assert_eq!(s(".:."), (".".into(), ".".into()));
    }

    #[test]
    fn normalize_is_lexical() {
        assert_eq!(normalize(Path::new("/w/./a/../b/")), PathBuf::from("/w/b"));
        assert_eq!(normalize(Path::new("/w/../../x")), PathBuf::from("/x"));
        assert_eq!(normalize(Path::new("a/../../b")), PathBuf::from("../b"));
    }

    #[test]
    fn builtin_reinclusion_is_detected() {
        assert!(reincludes_builtin("!.ferry"));
        assert!(reincludes_builtin("!/.ferry/index"));
        assert!(reincludes_builtin("!**/.devspace/"));
        assert!(!reincludes_builtin(".ferry"));
        assert!(!reincludes_builtin("!.ferryboat"));
        assert!(!reincludes_builtin("!src/.ferry"));
    }

    #[test]
    fn names_get_suffixes() {
        let mut used = HashSet::new();
        let mut counters = BTreeMap::new();
        let mut n = |b: &str| unique_name(b, &mut used, &mut counters);
        assert_eq!(n("web"), "web");
        assert_eq!(n("web"), "web#1");
        assert_eq!(n("web#1"), "web#1#1");
        assert_eq!(n("web"), "web#2");
    }
}
