//! `ferry doctor`: checks everything a sync needs, path by path, and says exactly what is
//! missing and how to fix it — the config, the cluster, the pod, a shell in the
//! container, each tool, and the target folder's writability.
//!
//! Nothing is synced. Every step has a time limit, so a container without a shell or an
//! unreachable cluster is reported within seconds instead of hanging.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::config::{self, Loaded, Replicas};
use crate::engine::task::container_root;
use crate::exec::PodLauncher;
use crate::remote::{Launcher, Session, SessionError, SessionOptions};
use crate::target::{self, KubeOverrides};

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CheckStatus {
    /// Fine.
    Ok,
    /// Works, with a cost (a missing extra tool).
    Warning,
    /// Prevents syncing.
    Error,
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    /// The sync path it is about (`None`: the workspace or the cluster).
    pub sync: Option<String>,
    /// What was checked, e.g. `pod`, `shell`, `tar`, `folder`.
    pub what: String,
    /// The outcome.
    pub status: CheckStatus,
    /// What was found.
    pub detail: String,
    /// What to do about it.
    pub fix: Option<String>,
}

/// Everything `ferry doctor` found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DoctorReport {
    /// No check is an error.
    pub ok: bool,
    /// The findings, in order.
    pub checks: Vec<Check>,
}

struct Builder {
    checks: Vec<Check>,
}

impl Builder {
    fn add(
        &mut self,
        sync: Option<&str>,
        what: &str,
        status: CheckStatus,
        detail: String,
        fix: Option<String>,
    ) {
        self.checks.push(Check {
            sync: sync.map(str::to_string),
            what: what.to_string(),
            status,
            detail,
            fix,
        });
    }

    fn done(self) -> DoctorReport {
        DoctorReport {
            ok: !self.checks.iter().any(|c| c.status == CheckStatus::Error),
            checks: self.checks,
        }
    }
}

/// What to do when the container has no usable shell.
const NO_SHELL_FIX: &str = "ferry needs a POSIX shell and the seed's tools (sh tar cd sleep find stat mkdir rm cat printf echo kill) in the container; images without them (distroless, scratch) cannot be synced: add busybox to the image, or sync into a sidecar container that shares the volume";

/// How long each step in the cluster may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(15);

/// Runs every check for the workspace at `workspace`.
pub async fn diagnose(
    workspace: &Path,
    config_override: Option<&Path>,
    profiles: &config::ProfileChoice,
    kube: &KubeOverrides,
) -> DoctorReport {
    let mut b = Builder { checks: Vec::new() };
    let env = |k: &str| std::env::var(k).ok();
    let cfg = match config::load(workspace, config_override, profiles, &env) {
        Ok(Loaded::Config(c)) => {
            let warnings = c.diagnostics.len();
            b.add(
                None,
                "config",
                if warnings > 0 {
                    CheckStatus::Warning
                } else {
                    CheckStatus::Ok
                },
                format!(
                    "{} ({} sync path{}{})",
                    c.file.display(),
                    c.sync.len(),
                    if c.sync.len() == 1 { "" } else { "s" },
                    if warnings > 0 {
                        format!(
                            ", {warnings} warning{}: {}",
                            if warnings == 1 { "" } else { "s" },
                            c.diagnostics
                                .iter()
                                .map(|d| d.to_string())
                                .collect::<Vec<_>>()
                                .join("; ")
                        )
                    } else {
                        String::new()
                    }
                ),
                None,
            );
            c
        }
        Ok(Loaded::NoConfig { searched }) => {
            b.add(
                None,
                "config",
                CheckStatus::Error,
                format!(
                    "no config found (looked for {})",
                    searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
                ),
                Some("create a devspace.yaml with a dev section that has sync entries (docs/config.md)".into()),
            );
            return b.done();
        }
        Err(e) => {
            b.add(
                None,
                "config",
                CheckStatus::Error,
                e.to_string(),
                Some("fix the config at the positions shown".into()),
            );
            return b.done();
        }
    };
    if cfg.sync.is_empty() {
        b.add(
            None,
            "config",
            CheckStatus::Error,
            "the config has no sync paths".into(),
            Some("add sync entries to a dev section".into()),
        );
        return b.done();
    }
    let conn = match tokio::time::timeout(STEP_TIMEOUT, target::connect(kube)).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            b.add(
                None,
                "cluster",
                CheckStatus::Error,
                e.to_string(),
                Some(
                    "check KUBECONFIG, the context (--context) and that `kubectl get pods` works"
                        .into(),
                ),
            );
            return b.done();
        }
        Err(_) => {
            b.add(
                None,
                "cluster",
                CheckStatus::Error,
                "no answer from the kubeconfig setup within 15 s".into(),
                None,
            );
            return b.done();
        }
    };
    b.add(
        None,
        "cluster",
        CheckStatus::Ok,
        format!(
            "context {:?}, default namespace {:?}",
            conn.context, conn.default_namespace
        ),
        None,
    );
    for sync in &cfg.sync {
        let name = Some(sync.name.as_str());
        // `replicas: all`: every Ready pod; the checks below are the primary's (the
        // oldest), the pod that syncs both ways.
        let found = async {
            match sync.replicas {
                Replicas::One => target::resolve(&conn, &sync.target).await.map(|r| vec![r]),
                Replicas::All => target::resolve_all(&conn, &sync.target).await,
            }
        };
        let resolved = match tokio::time::timeout(STEP_TIMEOUT, found).await {
            Ok(Ok(mut all)) => {
                if sync.replicas == Replicas::All {
                    let names: Vec<String> = all
                        .iter()
                        .enumerate()
                        .map(|(i, r)| {
                            format!("{}{}", r.pod, if i == 0 { " (primary)" } else { "" })
                        })
                        .collect();
                    b.add(
                        name,
                        "replicas",
                        CheckStatus::Ok,
                        format!(
                            "replicas: all — {} pods: {}; the primary syncs both ways, the \
                                 others one way (made to mirror the local folder)",
                            all.len(),
                            names.join(", ")
                        ),
                        None,
                    );
                }
                all.remove(0)
            }
            Ok(Err(e)) => {
                b.add(
                    name,
                    "pod",
                    CheckStatus::Error,
                    e.to_string(),
                    Some(
                        "check the selector in the config and that the pod is Running and Ready"
                            .into(),
                    ),
                );
                continue;
            }
            Err(_) => {
                b.add(
                    name,
                    "pod",
                    CheckStatus::Error,
                    format!(
                        "listing pods did not answer within {} s",
                        STEP_TIMEOUT.as_secs()
                    ),
                    Some("check that the cluster is reachable".into()),
                );
                continue;
            }
        };
        b.add(
            name,
            "pod",
            CheckStatus::Ok,
            format!(
                "pod {} container {} (namespace {}, image {})",
                resolved.pod, resolved.container, resolved.namespace, resolved.image
            ),
            None,
        );
        let launcher = PodLauncher::new(&conn, &resolved);
        let root = match tokio::time::timeout(
            STEP_TIMEOUT,
            container_root(&launcher, &sync.container_path),
        )
        .await
        {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                b.add(
                    name,
                    "shell",
                    CheckStatus::Error,
                    format!("cannot run sh in {}: {e}", launcher.describe()),
                    Some(NO_SHELL_FIX.into()),
                );
                continue;
            }
            Err(_) => {
                b.add(
                    name,
                    "shell",
                    CheckStatus::Error,
                    format!(
                        "sh in {} did not answer within {} s",
                        launcher.describe(),
                        STEP_TIMEOUT.as_secs()
                    ),
                    Some(NO_SHELL_FIX.into()),
                );
                continue;
            }
        };
        let opts = SessionOptions {
            reply_timeout: STEP_TIMEOUT,
            ..SessionOptions::default()
        };
        let mut session =
            match tokio::time::timeout(STEP_TIMEOUT * 2, Session::start(&launcher, &root, opts))
                .await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    let detail = match &e {
                        SessionError::Closed { status, stderr } => format!(
                            "the shell in {} could not be started or ended at once ({status}){}",
                            launcher.describe(),
                            if stderr.trim().is_empty() {
                                String::new()
                            } else {
                                format!(": {}", stderr.trim())
                            }
                        ),
                        other => format!("{} in {}", other, launcher.describe()),
                    };
                    b.add(
                        name,
                        "shell",
                        CheckStatus::Error,
                        detail,
                        Some(NO_SHELL_FIX.into()),
                    );
                    continue;
                }
                Err(_) => {
                    b.add(
                        name,
                        "shell",
                        CheckStatus::Error,
                        format!(
                            "the shell in {} did not answer within {} s",
                            launcher.describe(),
                            (STEP_TIMEOUT * 2).as_secs()
                        ),
                        Some(NO_SHELL_FIX.into()),
                    );
                    continue;
                }
            };
        let caps = session.capabilities().clone();
        b.add(
            name,
            "shell",
            CheckStatus::Ok,
            format!(
                "sh runs in {} (uid {})",
                launcher.describe(),
                caps.uid
                    .map(|u| u.to_string())
                    .unwrap_or_else(|| "?".into())
            ),
            None,
        );
        for m in caps.missing_extras() {
            b.add(
                name,
                m.tool,
                CheckStatus::Warning,
                format!("the container has no {}: {}", m.tool, m.cost),
                Some(format!("add {} to the image (busybox has it)", m.tool)),
            );
        }
        if !caps.root_exists {
            b.add(
                name,
                "folder",
                CheckStatus::Error,
                format!("{root} does not exist in the container and cannot be created"),
                Some(
                    "create it in the image or mount a volume there, or change containerPath"
                        .into(),
                ),
            );
        } else if !caps.root_writable {
            b.add(
                name,
                "folder",
                CheckStatus::Error,
                format!(
                    "{root} is not writable for the container's user{}",
                    caps.uid.map(|u| format!(" (uid {u})")).unwrap_or_default()
                ),
                Some("make the folder writable for that user (e.g. mount an emptyDir there, or chown it in the image), or change containerPath".into()),
            );
        } else {
            b.add(
                name,
                "folder",
                CheckStatus::Ok,
                format!("{root} is writable"),
                None,
            );
        }
        if caps.root_exists {
            match tokio::time::timeout(STEP_TIMEOUT, session.places()).await {
                Ok(Ok(report)) => match crate::remote::place::choose(&report) {
                    Some(place) => b.add(
                        name,
                        "marker",
                        CheckStatus::Ok,
                        format!(
                            "ferry recognises this container folder by its marker in {}",
                            crate::remote::place::marker_dir(&place.path, &root)
                        ),
                        None,
                    ),
                    None => b.add(
                        name,
                        "marker",
                        CheckStatus::Warning,
                        format!(
                            "no writable folder on the mount of {root} (its parent, $HOME, /tmp \
                             or the folder itself) for ferry's marker: the container is \
                             recognised by its pod and container ID only, so after a container \
                             restart ferry merges and deletes nothing"
                        ),
                        Some(format!(
                            "make {root} (or its parent) writable for the container's user"
                        )),
                    ),
                },
                Ok(Err(e)) => b.add(name, "marker", CheckStatus::Warning, e.to_string(), None),
                Err(_) => b.add(
                    name,
                    "marker",
                    CheckStatus::Warning,
                    format!(
                        "finding a place for the marker took over {} s",
                        STEP_TIMEOUT.as_secs()
                    ),
                    None,
                ),
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(3), session.close()).await;
    }
    b.done()
}

impl DoctorReport {
    /// The report as text, one line per check (`✓`, `!`, `✗`), with fixes indented.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            let mark = match c.status {
                CheckStatus::Ok => "ok  ",
                CheckStatus::Warning => "warn",
                CheckStatus::Error => "FAIL",
            };
            let scope = c
                .sync
                .as_deref()
                .map(|s| format!("[{s}] "))
                .unwrap_or_default();
            out.push_str(&format!("{mark} {scope}{}: {}\n", c.what, c.detail));
            if let Some(fix) = &c.fix {
                if c.status != CheckStatus::Ok {
                    out.push_str(&format!("     fix: {fix}\n"));
                }
            }
        }
        out.push_str(if self.ok {
            "ferry doctor: ready to sync\n"
        } else {
            "ferry doctor: problems found (see FAIL above)\n"
        });
        out
    }
}
