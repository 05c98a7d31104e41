//! `ferry.yaml`: ferry's own per-sync-path settings, in a file beside the config file.
//!
//! DevSpace checks `devspace.yaml` against its schema and refuses keys it does not know
//! (devspace-sh/devspace#1789), so fields only ferry has cannot go there. They live in
//! `ferry.yaml` next to the config file, keyed the way the config names a sync path: the
//! dev container (`dev.<name>`) and the entry's `path`.
//!
//! ```yaml
//! version: v1
//! defaults:            # every sync path
//!   symlinks: portable
//! dev:
//!   app:               # every sync path of dev.app
//!     symlinks: ignore
//!     sync:
//!       - path: ./:/app  # the sync paths of dev.app written with this path
//!         symlinks: portable
//! ```
//!
//! The most specific setting wins: `dev.<name>.sync[]`, then `dev.<name>`, then
//! `defaults`, then ferry's default. An unknown field is an error (a typo must not change
//! what is synced silently); a `dev` or `path` that matches no sync path is a warning (it
//! may match under another profile).

use std::path::{Path, PathBuf};

use super::entry::{normalize, split_sync_path};
use super::fields::{FERRY, FERRY_DEFAULTS, FERRY_DEV, FERRY_SYNC};
use super::reader::{closest, get, join, read_document, Cx};
use super::types::{Replicas, Symlinks};
use super::yaml::{Node, Range};
use super::{Diagnostic, Severity};

/// The file name, beside the config file.
pub const FILE_NAME: &str = "ferry.yaml";

/// The settings one level of `ferry.yaml` sets (`None`: not set there).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Settings {
    pub symlinks: Option<Symlinks>,
    pub replicas: Option<Replicas>,
}

impl Settings {
    /// `self` where set, else `fallback`.
    fn or(self, fallback: Settings) -> Settings {
        Settings {
            symlinks: self.symlinks.or(fallback.symlinks),
            replicas: self.replicas.or(fallback.replicas),
        }
    }
}

/// `dev.<name>.sync[]`: the settings of the sync paths written with `path`.
#[derive(Debug)]
struct PathRule {
    local: String,
    container: String,
    range: Range,
    settings: Settings,
    matched: bool,
}

/// `dev.<name>`.
#[derive(Debug)]
struct DevRule {
    name: String,
    range: Range,
    settings: Settings,
    paths: Vec<PathRule>,
    matched: bool,
}

/// A read `ferry.yaml` (or none), with its diagnostics.
pub(crate) struct FerryFile {
    /// Where it is (absolute when the workspace root is), whether or not it exists.
    pub path: PathBuf,
    text: String,
    defaults: Settings,
    devs: Vec<DevRule>,
    /// Its errors and warnings so far (more come from [`FerryFile::finish`]).
    pub diagnostics: Vec<Diagnostic>,
}

/// How a sync path is written in the config: what `ferry.yaml` matches it by.
pub(crate) struct Written<'a> {
    /// The dev container's name (`SyncPath::dev`).
    pub dev: &'a str,
    /// The local path as written, absolute and normalized.
    pub local: &'a Path,
    /// The container path as written.
    pub container: &'a str,
}

impl FerryFile {
    /// Reads `ferry.yaml` beside `config_file` through `read_file`. A missing file sets
    /// nothing; an unreadable one is an error.
    pub fn read(
        config_file: &Path,
        workspace_root: &Path,
        env: &dyn Fn(&str) -> Option<String>,
        read_file: &dyn Fn(&Path) -> std::io::Result<String>,
    ) -> FerryFile {
        let config = normalize(&workspace_root.join(config_file));
        let path = config
            .parent()
            .map_or_else(|| PathBuf::from(FILE_NAME), |d| d.join(FILE_NAME));
        let mut file = FerryFile {
            path,
            text: String::new(),
            defaults: Settings::default(),
            devs: Vec::new(),
            diagnostics: Vec::new(),
        };
        match read_file(&file.path) {
            Ok(text) => file.text = text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return file,
            Err(e) => {
                let mut cx = Cx::new(&file.path, "", env);
                cx.report(
                    Severity::Error,
                    &Range::default(),
                    format!("cannot read {}: {e}", file.path.display()),
                );
                file.diagnostics = cx.diagnostics;
                return file;
            }
        }
        let (text, path) = (file.text.clone(), file.path.clone());
        let mut cx = Cx::new(&path, &text, env);
        file.parse(&mut cx);
        file.diagnostics = cx.diagnostics;
        file
    }

    fn parse(&mut self, cx: &mut Cx<'_>) {
        let Some(document) = read_document(cx, &self.text) else {
            return;
        };
        let Some(root) = document.root else { return };
        let Some(top) = cx.map(&root, "") else { return };
        cx.check_fields(top, "", &FERRY);
        if let Some(version) = get(top, "version") {
            match version.scalar() {
                Some("v1") => {}
                _ => cx.error(
                    &version.range,
                    "version",
                    format!(
                        "`version` must be `v1` (the only version of {FILE_NAME}), found {}",
                        version.describe()
                    ),
                ),
            }
        }
        if let Some(node) = get(top, "defaults") {
            if let Some(fields) = cx.map(node, "defaults") {
                cx.check_fields(fields, "defaults", &FERRY_DEFAULTS);
                self.defaults = settings(cx, fields, "defaults");
            }
        }
        let Some(dev) = get(top, "dev") else { return };
        let Some(dev) = cx.map(dev, "dev") else {
            return;
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
            cx.check_fields(fields, &path, &FERRY_DEV);
            let mut rule = DevRule {
                name: name.to_string(),
                range: key.range,
                settings: settings(cx, fields, &path),
                paths: Vec::new(),
                matched: false,
            };
            if let Some(sync) = get(fields, "sync") {
                let sync_path = join(&path, "sync");
                for (i, item) in cx.seq(sync, &sync_path).unwrap_or(&[]).iter().enumerate() {
                    let item_path = format!("{sync_path}[{i}]");
                    let Some(item_fields) = cx.map(item, &item_path) else {
                        continue;
                    };
                    cx.check_fields(item_fields, &item_path, &FERRY_SYNC);
                    let Some(written) = get(item_fields, "path") else {
                        cx.error(
                            &item.range,
                            &item_path,
                            "an entry of `sync` needs the `path` of the sync entry it sets, as \
                             written in the config (`path: ./:/app`)",
                        );
                        continue;
                    };
                    let Some(text) = cx.string(written, &join(&item_path, "path")) else {
                        continue;
                    };
                    let (local, container) = split_sync_path(&text);
                    rule.paths.push(PathRule {
                        local,
                        container,
                        range: written.range,
                        settings: settings(cx, item_fields, &item_path),
                        matched: false,
                    });
                }
            }
            self.devs.push(rule);
        }
    }

    /// The settings for the sync path written as `written`: the most specific level that
    /// sets each one. Marks the rules it uses as matched.
    pub fn settings_for(&mut self, workspace_root: &Path, written: &Written<'_>) -> Settings {
        let mut out = Settings::default();
        for dev in self.devs.iter_mut().filter(|d| d.name == written.dev) {
            dev.matched = true;
            let mut level = dev.settings;
            for rule in &mut dev.paths {
                let local = normalize(&workspace_root.join(&rule.local));
                if local == written.local
                    && trim_slash(&rule.container) == trim_slash(written.container)
                {
                    rule.matched = true;
                    level = rule.settings.or(level);
                }
            }
            out = level.or(out);
        }
        out.or(self.defaults)
    }

    /// Warns about `dev` names and paths that matched no sync path; `devs` are the
    /// config's dev container names. Returns every diagnostic of the file.
    pub fn finish(
        mut self,
        devs: &[&str],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Vec<Diagnostic> {
        let (text, path) = (std::mem::take(&mut self.text), self.path.clone());
        let mut cx = Cx::new(&path, &text, env);
        for dev in &self.devs {
            if !dev.matched {
                let hint = closest(&dev.name, devs)
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                cx.warn(
                    &dev.range,
                    &join("dev", &dev.name),
                    format!(
                        "`dev.{}` names no dev container with sync paths in the config{hint}; \
                         its settings apply to nothing",
                        dev.name
                    ),
                );
                continue;
            }
            for rule in dev.paths.iter().filter(|r| !r.matched) {
                cx.warn(
                    &rule.range,
                    &join("dev", &dev.name),
                    format!(
                        "no sync entry of `dev.{}` is written with the path `{}:{}`; its \
                         settings apply to nothing",
                        dev.name, rule.local, rule.container
                    ),
                );
            }
        }
        let mut out = self.diagnostics;
        out.extend(cx.diagnostics);
        out
    }
}

fn trim_slash(path: &str) -> &str {
    match path.trim_end_matches('/') {
        "" if path.starts_with('/') => "/",
        trimmed => trimmed,
    }
}

/// The settings written in `fields` (an object whose known fields were checked).
fn settings(cx: &mut Cx<'_>, fields: &[(Node, Node)], path: &str) -> Settings {
    Settings {
        symlinks: choice(cx, fields, path, "symlinks", &Symlinks::ALL),
        replicas: choice(cx, fields, path, "replicas", &Replicas::ALL),
    }
}

/// The value of the field `name` of `fields`, one of `all` (by the name it is written
/// as); a value that is none of them is an error with the closest name as a hint.
fn choice<T: Copy>(
    cx: &mut Cx<'_>,
    fields: &[(Node, Node)],
    path: &str,
    name: &str,
    all: &[(T, &'static str)],
) -> Option<T> {
    let node = get(fields, name)?;
    let field_path = join(path, name);
    let text = cx.string(node, &field_path)?;
    if let Some((value, _)) = all.iter().find(|(_, n)| *n == text) {
        return Some(*value);
    }
    let names: Vec<&str> = all.iter().map(|(_, n)| *n).collect();
    let hint = closest(&text, &names)
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default();
    cx.error(
        &node.range,
        &field_path,
        format!(
            "`{name}` must be one of {}, found `{text}`{hint}",
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    None
}
