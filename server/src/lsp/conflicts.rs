//! Conflicts resolved where you edit: the `data` of ferry's per-file diagnostics, the
//! code actions on conflict diagnostics ("Keep my version", "Take the container's
//! version"), and the `ferry.server.conflicts` / `ferry.server.resolve` commands. The
//! answers come from the sync path itself ([`Requester`]), in tasks of their own: the
//! controller never waits on them.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};
use tower_lsp_server::ls_types::*;

use crate::core::RelPath;
use crate::engine::resolve::{Keep, OpenConflict, Resolve, Seen};
use crate::engine::workspace::Requester;
use crate::engine::{FileProblem, ProblemKind};

/// The command a code action runs.
pub const RESOLVE: &str = "ferry.server.resolve";

/// The client command that shows the local file beside the container's version (a diff
/// view); offered only to clients that list it in `experimental.ferry.clientCommands`.
pub const COMPARE: &str = "ferry.compareWithContainer";

/// What a per-file diagnostic carries in `data`: the key of its sync path, the path and
/// the problem kind (`docs/protocol.md`, "Diagnostics").
pub fn diagnostic_data(folder: &str, slot: usize, problem: &FileProblem) -> Value {
    json!({
        "folder": folder,
        "slot": slot,
        "path": problem.path,
        "kind": problem.kind,
    })
}

/// A per-file diagnostic's `data`, read back.
#[derive(Clone, Debug, Deserialize)]
pub struct ProblemRef {
    pub folder: String,
    pub slot: usize,
    pub path: String,
    pub kind: ProblemKind,
}

impl ProblemRef {
    /// The reference in a diagnostic of ferry's, if it has one.
    pub fn of(d: &Diagnostic) -> Option<ProblemRef> {
        if d.source.as_deref() != Some("ferry") {
            return None;
        }
        serde_json::from_value(d.data.clone()?).ok()
    }
}

/// The code actions for `conflicts` (diagnostic, its reference, its sync path): for each
/// open conflict or `remoteNewer` file, keep local and keep the container's version, each a
/// `ferry.server.resolve` with the versions as they are now (so that a stale action is
/// refused).
/// With `compare`, a third action runs the client's [`COMPARE`] with `{folder, slot, path}`.
pub async fn code_actions(
    conflicts: Vec<(Diagnostic, ProblemRef, Requester)>,
    compare: bool,
) -> Vec<CodeActionOrCommand> {
    let mut out = Vec::new();
    for (d, r, requester) in conflicts {
        // Editors ask for code actions as the cursor moves: a sync path busy with a
        // transfer offers none now rather than holding the editor up.
        let open = requester.conflicts(Duration::from_secs(2)).await;
        let Some(c) = open.into_iter().find(|c| c.path == r.path) else {
            continue;
        };
        // A quick fix on `d` titled `title`, running `command` with `args`.
        let action = |title: &str, command: &str, args: Value| {
            CodeActionOrCommand::CodeAction(CodeAction {
                title: format!("ferry: {title} ({})", c.path),
                kind: Some(CodeActionKind::QUICKFIX),
                diagnostics: Some(vec![d.clone()]),
                command: Some(Command {
                    title: title.into(),
                    command: command.into(),
                    arguments: Some(vec![args]),
                }),
                ..Default::default()
            })
        };
        let key = json!({"folder": r.folder, "slot": r.slot, "path": r.path});
        for (keep, title) in [
            (Keep::Local, "Keep my version"),
            (Keep::Container, "Take the container's version"),
        ] {
            let mut args = key.clone();
            args["keep"] = json!(keep);
            args["expect"] = json!(c.versions);
            out.push(action(title, RESOLVE, args));
        }
        if compare {
            out.push(action(
                "Compare with the container's version",
                COMPARE,
                key.clone(),
            ));
        }
    }
    out
}

/// The command that fetches the container's version of a file (for a diff view).
pub const CONTAINER_VERSION: &str = "ferry.server.containerVersion";

/// The arguments of `ferry.server.containerVersion`.
#[derive(Debug, Deserialize)]
pub struct FileArgs {
    pub folder: String,
    pub slot: usize,
    pub path: String,
}

impl FileArgs {
    /// Reads the first argument of the command; the path is checked.
    pub fn parse(args: &[Value]) -> Result<(FileArgs, RelPath), String> {
        let v = args.first().cloned().unwrap_or(Value::Null);
        let a: FileArgs = serde_json::from_value(v)
            .map_err(|e| format!("{CONTAINER_VERSION} takes {{folder, slot, path}}: {e}"))?;
        let rel = RelPath::new(&a.path).map_err(|e| format!("{}: {e}", a.path))?;
        Ok((a, rel))
    }
}

/// The arguments of `ferry.server.resolve`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolveArgs {
    pub folder: String,
    pub slot: usize,
    pub path: String,
    pub keep: Keep,
    #[serde(default)]
    pub expect: Option<Seen>,
}

impl ResolveArgs {
    /// Reads the first argument of the command.
    pub fn parse(args: &[Value]) -> Result<ResolveArgs, String> {
        let v = args.first().cloned().unwrap_or(Value::Null);
        serde_json::from_value(v).map_err(|e| {
            format!(
                "{RESOLVE} takes {{folder, slot, path, keep: \"local\" | \"container\", \
                 expect?}}: {e}"
            )
        })
    }

    /// The request for the sync path.
    pub fn request(&self) -> Result<Resolve, String> {
        Ok(Resolve {
            path: RelPath::new(&self.path).map_err(|e| format!("{}: {e}", self.path))?,
            keep: self.keep,
            expect: self.expect.clone(),
        })
    }
}

/// `ferry.server.conflicts` for `paths` (folder, slot, name, requester).
pub async fn list(paths: Vec<(String, usize, String, Requester)>) -> Value {
    let mut out = Vec::new();
    for (folder, slot, name, requester) in paths {
        let conflicts: Vec<OpenConflict> = requester.conflicts(Duration::from_secs(30)).await;
        out.push(json!({
            "folder": folder,
            "slot": slot,
            "name": name,
            "conflicts": conflicts,
        }));
    }
    Value::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diagnostic_names_its_sync_path_and_problem() {
        let p = FileProblem {
            path: "src/a.txt".into(),
            kind: ProblemKind::Conflict,
            message: "m".into(),
            pod: None,
        };
        let d = Diagnostic {
            source: Some("ferry".into()),
            data: Some(diagnostic_data("file:///w", 2, &p)),
            ..Default::default()
        };
        let r = ProblemRef::of(&d).unwrap();
        assert_eq!(
            (r.folder.as_str(), r.slot, r.path.as_str()),
            ("file:///w", 2, "src/a.txt")
        );
        assert_eq!(r.kind, ProblemKind::Conflict);
        let other = Diagnostic {
            source: Some("other".into()),
            ..d
        };
        assert!(ProblemRef::of(&other).is_none());
    }

    #[test]
    fn resolve_arguments_are_checked() {
        let ok = ResolveArgs::parse(&[json!({
            "folder": "file:///w", "slot": 0, "path": "a.txt", "keep": "container"
        })])
        .unwrap();
        assert_eq!(ok.keep, Keep::Container);
        assert!(ok.request().is_ok());
        let bad = ResolveArgs::parse(&[
            json!({"folder": "file:///w", "slot": 0, "path": "a.txt", "keep": "both"}),
        ]);
        assert!(bad.unwrap_err().contains("\"local\" | \"container\""));
        let escape = ResolveArgs::parse(&[json!({
            "folder": "file:///w", "slot": 0, "path": "../x", "keep": "local"
        })])
        .unwrap();
        assert!(
            escape.request().is_err(),
            "a path outside the folder is refused"
        );
    }
}
