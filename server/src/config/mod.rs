//! `ferry::config`: reads the sync configuration users of DevSpace already have, unchanged,
//! into the sync engine's input ([`Config`], one [`SyncPath`] per synced folder pair).
//!
//! # What it does
//!
//! - Finds the config file of a workspace ([`load`]): `devspace.yaml` (preferred) or the
//!   seed's `.devspace/config.yaml`, or a file the caller names. No file at all is not an
//!   error but [`Loaded::NoConfig`] ("no sync configured").
//! - Reads all three formats ([`Format`]): the seed's `devSpace.sync[]` (v1/v1alpha1),
//!   `dev.sync[]` with named selectors (v1alpha2 … v1beta11), and today's `v2beta1`
//!   `dev.<name>.sync[]` with `path: local:remote`. The format comes from `version`, or
//!   from the document's shape when there is none.
//! - Substitutes `${VAR}` from the environment and the file's `vars` (see the `vars`
//!   module docs for the order), in the values ferry reads only: an unresolvable variable
//!   in, say, `deployments` is not ferry's concern.
//! - Resolves selectors: `labelSelector`, `imageSelector` (with DevSpace's `image()` /
//!   `tag()` helpers and `${runtime.images.…}`), named selectors (`selector:`,
//!   `service:`), `imageName`.
//! - Validates with positions: every [`Diagnostic`] has file, line and column, for errors
//!   (syntax, wrong types, missing `path` / `containerPath`, no selector, unknown
//!   `initialSync`, unresolvable variables, unreadable `excludeFile`, an unknown field in
//!   a sync entry — a misspelt exclude must not sync what it meant to keep out) and
//!   warnings (other unknown fields, with a "did you mean"; DevSpace fields ferry does
//!   not support, named with the reason — never ignored silently). The known fields are listed in [`fields`],
//!   the single source for the checks and for `docs/config.schema.json`.
//! - Applies ferry's defaults: initial sync [`InitialSync::Merge`] (the seed's rules, also
//!   for a `devspace.yaml` without `initialSync`, where DevSpace would use `mirrorLocal`);
//!   `.devspace/` and `.ferry/` excluded in both directions ([`ALWAYS_EXCLUDED`]).
//! - Reads `excludeFile`, `uploadExcludeFile`, `downloadExcludeFile` (relative to the
//!   local sync folder); each pattern keeps its position in that file.
//!
//! - Applies DevSpace `profiles` to the document before reading it (the `profiles`
//!   module: activation by `env`/`vars`, the caller's [`ProfileChoice`], parents,
//!   `replace`, `merge`, `patches`), so diagnostics point into the profile that wrote a value.
//!
//! # What it does not do
//!
//! - It does not load `imports`, run variable `command`s, ask
//!   questions for `source: input` variables, or know DevSpace's runtime variables; each
//!   of these gives a diagnostic naming it.
//! - It does not touch the cluster: whether a selector matches a pod, or a container path
//!   exists, is the engine's business. Container paths are kept as written (relative ones
//!   are relative to the container's working directory).
//! - It does not watch the config file; the caller reloads on change.
//! - Apart from [`load`] (which reads the config file, `.env` and exclude files) it does
//!   no I/O: [`parse`] gets the text, the environment and a file reader from its caller.
//!
//! # Why `saphyr-parser`
//!
//! Diagnostics must point at the offending value, so the YAML layer must report where
//! every value is written, not just where parsing stopped. `serde_yaml` is archived
//! (unmaintained since 2024); it stops at the first error and keeps no positions once a
//! document is deserialized, so warnings (unknown fields) and errors found after
//! deserialization (an unresolvable `${VAR}`, an unknown `initialSync` inside a
//! substituted value) could not be placed, and its forks (`serde_yml`, `serde_norway`)
//! share that design. `saphyr-parser` is the maintained successor of
//! `yaml-rust`/`yaml-rust2` (the saphyr-rs project): a pure-Rust, YAML 1.2 compliant
//! parser (it runs the YAML test suite) whose events carry start *and* end positions,
//! with two small dependencies (`arraydeque`, `thiserror`). ferry builds its own small
//! tree on it (`yaml` module), which keeps scalars untyped until after `${VAR}`
//! substitution, expands anchors with a size budget, applies `<<` merge keys (which Go's
//! YAML reader, and hence DevSpace, supports) and rejects duplicate keys.
//! `marked-yaml` (built on `yaml-rust2`) was the other candidate; it turns every scalar
//! into a string and gives scalars only a start position, so a diagnostic could not
//! underline a value.

mod current;
mod diagnostic;
mod entry;
mod ferry_file;
pub mod fields;
mod legacy;
mod profiles;
mod reader;
mod types;
mod vars;
mod yaml;

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

pub use diagnostic::{ConfigError, Diagnostic, Severity, Span};
pub use profiles::{AppliedProfile, ProfileChoice};
pub use types::{
    Bandwidth, Config, Excludes, Format, InitialSync, Pattern, Replicas, Symlinks, SyncPath,
    Target, UploadHook,
};

pub use ferry_file::FILE_NAME as FERRY_FILE_NAME;

use ferry_file::FerryFile;
use fields::{Object, DEVSPACE_SYNC, DEV_SYNC, V2BETA1};
use reader::{get, read_vars, Cx};
use yaml::{Kind, Node, Range};

/// The config files [`load`] looks for in the workspace root, in order of preference:
/// DevSpace's current file name, then the seed's.
pub const CONFIG_FILE_NAMES: [&str; 2] = ["devspace.yaml", ".devspace/config.yaml"];

/// Patterns excluded in both directions from every sync path, before the configured ones:
/// DevSpace's folder (its caches and logs, and the seed's config) and ferry's state folder
/// (index, lock, status, logs). A `!` pattern in the config cannot re-include them.
pub const ALWAYS_EXCLUDED: [&str; 2] = [".devspace/", ".ferry/"];

/// The variables file [`load`] reads from the workspace root (as DevSpace does).
pub const DOTENV_FILE: &str = ".env";

/// The outcome of [`load`] when nothing went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Loaded {
    /// A config file was found and read. Its `sync` may still be empty (a
    /// `devspace.yaml` without `dev` syncs nothing).
    Config(Config),
    /// No config file exists: there is nothing to sync. Not an error; front ends say
    /// "no sync configured". `searched` lists the paths that were tried.
    NoConfig {
        /// The absent files, in the order they were looked for.
        searched: Vec<PathBuf>,
    },
}

/// What [`parse`] needs besides the text: where relative paths start, the format (or
/// detection), the environment, and how to read `excludeFile`s.
pub struct ParseOptions<'a> {
    /// The workspace root: relative local paths in the config are relative to it. Should
    /// be absolute (the local paths in the result are as absolute as it is).
    pub workspace_root: &'a Path,
    /// The format to read the text as; `None`: detect it from `version` or the shape.
    pub format: Option<Format>,
    /// The environment, for `${VAR}` (e.g. `&|name| std::env::var(name).ok()`).
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Reads an exclude file (given its absolute path); e.g.
    /// `&|path| std::fs::read_to_string(path)`.
    pub read_file: &'a dyn Fn(&Path) -> io::Result<String>,
    /// The DevSpace profiles to apply besides the activated ones.
    pub profiles: &'a ProfileChoice,
}

/// Finds and reads the config of a workspace.
///
/// With `config_override` that file is read (relative to `workspace_root` if relative),
/// and it must exist. Otherwise the first of [`CONFIG_FILE_NAMES`] that exists in
/// `workspace_root` is read (a warning notes a second one that is ignored); none →
/// [`Loaded::NoConfig`]. Relative local paths in the file are relative to
/// `workspace_root`. `profiles` names DevSpace profiles to apply after the activated
/// ones. Variables come from `env`, then from a `.env` file in
/// `workspace_root` (as DevSpace loads it: `KEY=VALUE` lines, real environment wins),
/// then from the file's `vars`.
///
/// # Errors
///
/// A [`ConfigError`] with every diagnostic when the file cannot be read or is invalid;
/// its diagnostics all carry the file and a position (1:1 when the file itself cannot
/// be read).
pub fn load(
    workspace_root: &Path,
    config_override: Option<&Path>,
    profiles: &ProfileChoice,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, ConfigError> {
    let mut notes = Vec::new();
    let file = match config_override {
        Some(path) => workspace_root.join(path),
        None => {
            let candidates: Vec<PathBuf> = CONFIG_FILE_NAMES
                .iter()
                .map(|n| workspace_root.join(n))
                .collect();
            let existing: Vec<&PathBuf> = candidates.iter().filter(|p| p.is_file()).collect();
            let Some(first) = existing.first() else {
                return Ok(Loaded::NoConfig {
                    searched: candidates,
                });
            };
            if let Some(second) = existing.get(1) {
                notes.push(Diagnostic {
                    severity: Severity::Warning,
                    span: Span::point(first, 1, 1),
                    message: format!(
                        "{} is read; {} is ignored",
                        first.display(),
                        second.display()
                    ),
                    field_path: None,
                });
            }
            (*first).clone()
        }
    };
    let text = std::fs::read_to_string(&file).map_err(|e| ConfigError {
        diagnostics: vec![Diagnostic {
            severity: Severity::Error,
            span: Span::point(&file, 1, 1),
            message: format!("cannot read the config file: {e}"),
            field_path: None,
        }],
    })?;
    let dotenv = std::fs::read_to_string(workspace_root.join(DOTENV_FILE))
        .map(|t| parse_dotenv(&t))
        .unwrap_or_default();
    let env_with_dotenv = |name: &str| env(name).or_else(|| dotenv.get(name).cloned());
    let read_file = |path: &Path| std::fs::read_to_string(path);
    let options = ParseOptions {
        workspace_root,
        format: None,
        env: &env_with_dotenv,
        read_file: &read_file,
        profiles,
    };
    match parse(&text, &file, &options) {
        Ok(mut config) => {
            config.diagnostics.extend(notes);
            diagnostic::sort(&mut config.diagnostics);
            Ok(Loaded::Config(config))
        }
        Err(mut error) => {
            error.diagnostics.extend(notes);
            diagnostic::sort(&mut error.diagnostics);
            Err(error)
        }
    }
}

/// Parses `KEY=VALUE` lines of a `.env` file (`#` comments, optional `export `, quotes
/// around the value removed).
fn parse_dotenv(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value);
        out.insert(key.trim().to_string(), value.to_string());
    }
    out
}

/// Parses the text of a config file. Pure: the environment and exclude files come
/// through `options`.
///
/// `file` is only used in positions and in [`Config::file`]. An empty document gives a
/// config without sync paths.
///
/// # Errors
///
/// A [`ConfigError`] with every diagnostic (errors and warnings, sorted by position) when
/// the text has a YAML syntax error or any error-level finding.
pub fn parse(text: &str, file: &Path, options: &ParseOptions<'_>) -> Result<Config, ConfigError> {
    let mut cx = Cx::new(file, text, options.env);
    let Some(document) = reader::read_document(&mut cx, text) else {
        return Err(ConfigError {
            diagnostics: cx.diagnostics,
        });
    };
    let default_format = options.format.unwrap_or(Format::V2Beta1);
    let Some(root) = document.root else {
        if let Some(name) = options.profiles.names.first() {
            cx.report(
                Severity::Error,
                &Range::default(),
                format!("no profile `{name}`: the config file is empty"),
            );
            return Err(ConfigError {
                diagnostics: cx.diagnostics,
            });
        }
        return Ok(Config {
            file: file.to_path_buf(),
            format: default_format,
            sync: Vec::new(),
            diagnostics: cx.diagnostics,
            profiles: Vec::new(),
        });
    };
    let root_map: &[(Node, Node)] = match &root.kind {
        Kind::Map(entries) => entries,
        _ if root.is_null() => &[],
        _ => {
            cx.error(
                &root.range,
                "",
                format!("a config file must be a mapping, found {}", root.describe()),
            );
            return Err(ConfigError {
                diagnostics: cx.diagnostics,
            });
        }
    };
    let format = options
        .format
        .unwrap_or_else(|| detect_format(&mut cx, root_map));
    if let Some(name) = get(root_map, "name") {
        cx.vars.config_name = name.scalar().map(str::to_string);
    }
    // Profiles change the tree before anything is read from it.
    let mut patched: Vec<(Node, Node)> = root_map.to_vec();
    let profiles = if format == Format::DevSpaceSync {
        if let Some(name) = options.profiles.names.first() {
            cx.error(
                &root.range,
                "",
                format!("no profile `{name}`: the seed's format (devSpace.sync) has no profiles"),
            );
        }
        Vec::new()
    } else {
        // `activation.vars` sees the base config's variables (read quietly: the
        // reader reports them below, from the patched tree).
        let mut quiet = Cx::new(file, text, options.env);
        quiet.vars.config_name = cx.vars.config_name.clone();
        if let Some(vars) = get(root_map, "vars") {
            read_vars(&mut quiet, vars);
        }
        profiles::apply(&mut cx, &mut patched, options.profiles, &quiet.vars)
    };
    let root_map: &[(Node, Node)] = &patched;
    let object: &Object = match format {
        Format::DevSpaceSync => &DEVSPACE_SYNC,
        Format::DevSync => &DEV_SYNC,
        Format::V2Beta1 => &V2BETA1,
    };
    cx.check_fields(root_map, "", object);
    if let Some(vars) = get(root_map, "vars") {
        if format != Format::DevSpaceSync {
            read_vars(&mut cx, vars);
        }
    }
    let images = entry::read_images(&mut cx, root_map);
    let entries = match format {
        Format::DevSpaceSync => legacy::read_devspace_sync(&mut cx, root_map, &images),
        Format::DevSync => legacy::read_dev_sync(&mut cx, root_map, &images),
        Format::V2Beta1 => current::read(&mut cx, root_map, &images),
    };
    let finish = entry::Finish {
        workspace_root: options.workspace_root,
        read_file: options.read_file,
    };
    let mut ferry_file =
        FerryFile::read(file, options.workspace_root, options.env, options.read_file);
    let mut devs: Vec<String> = entries.iter().map(|e| e.base_name.clone()).collect();
    devs.dedup();
    let sync = entry::finish(&mut cx, entries, &finish, &mut ferry_file);
    let devs: Vec<&str> = devs.iter().map(String::as_str).collect();
    let mut diagnostics = cx.diagnostics;
    diagnostics.extend(ferry_file.finish(&devs, options.env));
    diagnostic::sort(&mut diagnostics);
    if diagnostics.iter().any(|d| d.severity == Severity::Error) {
        return Err(ConfigError { diagnostics });
    }
    Ok(Config {
        file: file.to_path_buf(),
        format,
        sync,
        diagnostics,
        profiles,
    })
}

/// The format from `version`, or from the shape: `devSpace` → v1; `dev.sync` or
/// `dev.selectors` as lists → v1alpha2…v1beta11; anything else → v2beta1.
fn detect_format(cx: &mut Cx<'_>, root: &[(Node, Node)]) -> Format {
    if let Some(version) = get(root, "version") {
        let text = version.scalar().unwrap_or_default().trim().to_string();
        match text.as_str() {
            "v1" | "v1alpha1" => return Format::DevSpaceSync,
            "v1alpha2" | "v1alpha3" | "v1alpha4" => return Format::DevSync,
            "v2beta1" => return Format::V2Beta1,
            t if t.starts_with("v1beta") => return Format::DevSync,
            t if t.starts_with("v2") => {
                cx.warn(
                    &version.range,
                    "version",
                    format!("unknown config version `{t}`; reading it as v2beta1"),
                );
                return Format::V2Beta1;
            }
            "" if version.is_null() => {}
            t => {
                cx.warn(
                    &version.range,
                    "version",
                    format!(
                        "unknown config version `{t}` (ferry reads v1, v1alpha1 … v1alpha3, \
                         v1beta1 … v1beta11 and v2beta1); guessing the format from the content"
                    ),
                );
            }
        }
    }
    if get(root, "devSpace").is_some() {
        return Format::DevSpaceSync;
    }
    if let Some(Node {
        kind: Kind::Map(dev),
        ..
    }) = get(root, "dev")
    {
        let is_list = |key: &str| {
            matches!(
                get(dev, key),
                Some(Node {
                    kind: Kind::Seq(_),
                    ..
                })
            )
        };
        if is_list("sync") || is_list("selectors") {
            return Format::DevSync;
        }
    }
    Format::V2Beta1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_lines() {
        let env = parse_dotenv("# c\nA=1\nexport B = two \nC=\"q v\"\nD='s'\nbad\n");
        assert_eq!(env.get("A").map(String::as_str), Some("1"));
        assert_eq!(env.get("B").map(String::as_str), Some("two"));
        assert_eq!(env.get("C").map(String::as_str), Some("q v"));
        assert_eq!(env.get("D").map(String::as_str), Some("s"));
        assert_eq!(env.len(), 4);
    }
}
