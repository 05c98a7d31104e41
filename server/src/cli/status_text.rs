//! `ferry status` as text: a [`StatusReport`] in the protocol's words (`ok`,
//! `initialSync`, `remoteNewer`, …; `docs/protocol.md`), pure over the report, who owns
//! the workspace and the time now.

use std::fmt::Write;

use crate::engine::{PathState, StatusReport};

/// How long ago `ms` was, at `now` (both ms since the Unix epoch).
pub(super) fn ago(ms: u64, now: u64) -> String {
    let s = now.saturating_sub(ms) / 1000;
    match s {
        0..=59 => format!("{s} s ago"),
        60..=3599 => format!("{} min ago", s / 60),
        _ => format!("{} h ago", s / 3600),
    }
}

/// The report as `ferry status` prints it. `owner` is the process that syncs the
/// workspace now (`None`: nobody; then every path reads `stopped` and the report is the
/// last one recorded).
pub(super) fn render(report: &StatusReport, owner: Option<&str>, now: u64) -> String {
    let mut out = String::new();
    if owner.is_none() {
        let _ = writeln!(out, "last status, {}:", ago(report.updated, now));
    }
    let _ = writeln!(out, "health: {}", report.health.as_str());
    for f in &report.folders {
        let _ = write!(out, "folder {}: {}", f.uri, f.state.as_str());
        if let Some(m) = &f.message {
            let _ = write!(out, " ({m})");
        }
        out.push('\n');
    }
    for p in &report.paths {
        let state = if owner.is_none() {
            PathState::Stopped
        } else {
            p.state
        };
        let _ = writeln!(out);
        let _ = writeln!(out, "  {}: {}", p.name, state.as_str());
        let _ = writeln!(out, "    {} ⇄ {}", p.local_path, p.container_path);
        if let (Some(pod), Some(c)) = (&p.pod, &p.container) {
            let _ = writeln!(out, "    pod {pod}, container {c}");
        }
        if let Some(r) = &p.recognition {
            let _ = writeln!(out, "    {r}");
        }
        let _ = write!(
            out,
            "    uploaded {}, downloaded {}, deleted {}",
            p.uploaded, p.downloaded, p.deleted
        );
        if p.pending > 0 && owner.is_some() {
            let _ = write!(out, ", {} pending", p.pending);
        }
        if let Some(t) = p.last_activity {
            let _ = write!(out, "; last activity {}", ago(t, now));
        }
        out.push('\n');
        if let Some(e) = &p.last_error {
            let _ = writeln!(out, "    last error: {e}");
        }
        if !p.replicas.is_empty() {
            let _ = writeln!(out, "    {} replicas:", p.replicas.len());
            for r in &p.replicas {
                let state = if owner.is_none() {
                    PathState::Stopped
                } else {
                    r.state
                };
                let _ = write!(
                    out,
                    "      {} ({}): {}, uploaded {}, deleted {}",
                    r.pod,
                    r.role.as_str(),
                    state.as_str(),
                    r.uploaded,
                    r.deleted
                );
                if r.problem_count > 0 {
                    let _ = write!(out, ", {} problems", r.problem_count);
                }
                if let Some(e) = &r.last_error {
                    let _ = write!(out, "; last error: {e}");
                }
                out.push('\n');
            }
        }
        if p.problem_count > 0 {
            let _ = writeln!(out, "    {} problems:", p.problem_count);
            for f in &p.problems {
                let _ = writeln!(out, "      {} ({}): {}", f.path, f.kind.as_str(), f.message);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{FileProblem, FolderState, FolderStatus, PathStatus, ProblemKind};

    const STATES: [PathState; 7] = [
        PathState::Connecting,
        PathState::InitialSync,
        PathState::Watching,
        PathState::Uploading,
        PathState::Downloading,
        PathState::Error,
        PathState::Stopped,
    ];
    const KINDS: [ProblemKind; 4] = [
        ProblemKind::Error,
        ProblemKind::Conflict,
        ProblemKind::RemoteNewer,
        ProblemKind::Protected,
    ];
    const FOLDERS: [FolderState; 5] = [
        FolderState::Syncing,
        FolderState::NoConfig,
        FolderState::ConfigError,
        FolderState::Locked,
        FolderState::Stopped,
    ];

    /// A report with one path in `state` holding a problem of each kind, and a folder
    /// in `folder`.
    fn report(state: PathState, folder: FolderState) -> StatusReport {
        let mut p = PathStatus::new("web", "/w/src", "/app");
        p.state = state;
        p.pending = 3;
        p.problem_count = KINDS.len() as u64;
        p.problems = KINDS
            .iter()
            .map(|&kind| FileProblem {
                path: format!("f-{kind}"),
                kind,
                message: "m".into(),
                pod: None,
            })
            .collect();
        let folders = vec![FolderStatus {
            uri: "file:///w".into(),
            state: folder,
            message: None,
        }];
        StatusReport::of(vec![p], folders)
    }

    /// A `replicas: all` path lists its replicas in the protocol's words, each stopped
    /// when nobody syncs.
    #[test]
    fn replicas_are_listed() {
        use crate::engine::{ReplicaRole, ReplicaStatus};
        let mut r = report(PathState::Watching, FolderState::Syncing);
        let replica = |pod: &str, role, state, err: Option<&str>| ReplicaStatus {
            pod: pod.into(),
            pod_uid: format!("uid-{pod}"),
            container: Some("main".into()),
            role,
            state,
            pending: 0,
            uploaded: 2,
            deleted: 1,
            last_error: err.map(String::from),
            problem_count: u64::from(err.is_some()),
        };
        r.paths[0].replicas = vec![
            replica("web-a", ReplicaRole::Primary, PathState::Watching, None),
            replica(
                "web-b",
                ReplicaRole::Secondary,
                PathState::Error,
                Some("gone"),
            ),
        ];
        let text = render(&r, Some("ferry sync (pid 1)"), r.updated);
        assert!(text.contains("    2 replicas:\n"), "{text}");
        assert!(
            text.contains("      web-a (primary): watching, uploaded 2, deleted 1\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "      web-b (secondary): error, uploaded 2, deleted 1, 1 problems; last error: gone\n"
            ),
            "{text}"
        );
        let text = render(&r, None, r.updated);
        assert!(text.contains("      web-a (primary): stopped"), "{text}");
    }

    /// The Rust names of every state, kind and health: none may be printed.
    fn debug_words() -> Vec<String> {
        let mut words: Vec<String> = STATES.iter().map(|s| format!("{s:?}")).collect();
        words.extend(KINDS.iter().map(|k| format!("{k:?}")));
        words.extend(FOLDERS.iter().map(|f| format!("{f:?}")));
        words.extend(["Ok", "Warning", "Error", "Stopped"].map(String::from));
        words
    }

    #[test]
    fn status_text_uses_only_protocol_words_in_every_state() {
        for state in STATES {
            for folder in FOLDERS {
                let r = report(state, folder);
                let text = render(&r, Some("ferry sync (pid 1)"), r.updated);
                for w in debug_words() {
                    // `Error` and `Stopped` are also words of messages; the Rust names
                    // never stand after a colon or in parentheses.
                    for shape in [format!(": {w}\n"), format!("({w})"), format!(": {w} (")] {
                        assert!(!text.contains(&shape), "{shape:?} in\n{text}");
                    }
                }
                assert!(
                    text.contains(&format!("  web: {}\n", state.as_str())),
                    "{text}"
                );
                assert!(
                    text.contains(&format!("folder file:///w: {}\n", folder.as_str())),
                    "{text}"
                );
                assert!(
                    text.contains(&format!("health: {}\n", r.health.as_str())),
                    "{text}"
                );
                for k in KINDS {
                    assert!(
                        text.contains(&format!("f-{k} ({}): m", k.as_str())),
                        "{text}"
                    );
                }
                assert!(text.contains(", 3 pending"), "{text}");
            }
        }
    }

    #[test]
    fn without_an_owner_every_path_is_stopped_and_nothing_pending() {
        for state in STATES {
            let r = report(state, FolderState::Syncing);
            let text = render(&r, None, r.updated + 90_000);
            assert!(text.starts_with("last status, 1 min ago:\n"), "{text}");
            assert!(text.contains("  web: stopped\n"), "{text}");
            assert!(!text.contains("pending"), "{text}");
        }
    }
}
