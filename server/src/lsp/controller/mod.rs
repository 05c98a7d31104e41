//! The controller: one task that owns every workspace folder (its config and, while it
//! syncs, its [`Workspace`]) and everything sent to the client. It translates between
//! LSP and workspaces; the sync itself is the engine's. The LSP handlers only send it
//! [`Event`]s; it never waits on the client or on a sync path inside its loop (those
//! requests run in tasks of their own).
//!
//! | module | job |
//! |---|---|
//! | this one | the state, the event loop, status (`ferry/status`) |
//! | `folders` | folders' logs, start and stop, config reloads, reported changes |
//! | `diagnostics` | every diagnostic, published when it changes |
//! | `work_done` | initial-sync progress, its cancellation |
//! | `messages` | `window/showMessage` per state change, `window/logMessage` |
//! | `commands` | `ferry.server.*`, code actions |

mod commands;
mod diagnostics;
mod folders;
mod messages;
mod work_done;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tower_lsp_server::ls_types::notification::Notification;
use tower_lsp_server::ls_types::*;
use tower_lsp_server::Client;
use tracing::Instrument;

use super::conflicts::{self, ProblemRef, ResolveArgs};
use super::progress::{run_progress, ProgressMsg};
use super::settings::Settings;
use super::uri::{file_uri, uri_path};
use crate::config::{self, Config, Loaded, Severity, Span};
use crate::engine::workspace::{OpenError, Workspace};
use crate::engine::ProblemKind;
use crate::engine::{FolderState, FolderStatus, Notice, PathState, ReplicaRole, StatusReport};
use crate::logging::{folder_scope, FolderLogs, StderrLevel};
use crate::state::lock::WorkspaceLock;
use diagnostics::{diag, to_lsp_range};

/// The `ferry/status` notification.
pub enum StatusNotification {}

impl Notification for StatusNotification {
    type Params = StatusReport;
    const METHOD: &'static str = "ferry/status";
}

/// What the client can do (from `initialize`).
#[derive(Clone, Debug, Default)]
pub struct ClientCaps {
    /// `window.workDoneProgress`.
    pub progress: bool,
    /// `workspace.configuration`.
    pub configuration: bool,
    /// `workspace.didChangeWatchedFiles.dynamicRegistration`.
    pub watched_files_dynamic: bool,
    /// `experimental.ferry.statusUi`: the client shows `ferry/status` itself (a status
    /// bar, a statusline), so state changes are not also sent as `window/showMessage`.
    pub status_ui: bool,
    /// `experimental.ferry.clientCommands`: commands the client runs itself, which code
    /// actions may name (docs/protocol.md, "Client commands").
    pub client_commands: Vec<String>,
}

/// What the handlers and the controller's own tasks tell the controller.
pub enum Event {
    Initialize {
        folders: Vec<Uri>,
        caps: ClientCaps,
        settings: Settings,
    },
    Initialized,
    /// Pulled `workspace/configuration` values, one per folder (in folder order).
    Configured(Vec<(Uri, Settings)>),
    ConfigurationChanged(Value),
    Folders {
        added: Vec<Uri>,
        removed: Vec<Uri>,
    },
    /// Files changed (saved in the editor, or reported by the client's watcher).
    Changed(Vec<Uri>),
    Command {
        command: String,
        arguments: Vec<Value>,
        reply: oneshot::Sender<Result<Value, String>>,
    },
    Shutdown(oneshot::Sender<()>),
    /// The client cancelled the work-done progress with this token.
    CancelProgress(String),
    /// `textDocument/codeAction` for these diagnostics.
    CodeAction {
        diagnostics: Vec<Diagnostic>,
        reply: oneshot::Sender<Vec<CodeActionOrCommand>>,
    },
    /// A folder's status hub changed.
    StatusChanged,
    /// A folder's engine sent a notice.
    Notice {
        folder: Uri,
        notice: Notice,
    },
}

/// What identifies a sync path across folders: its folder's URI and its slot there.
type PathKey = (String, usize);

/// One workspace folder.
struct Folder {
    uri: Uri,
    root: PathBuf,
    settings: Settings,
    state: FolderState,
    message: Option<String>,
    /// The config files read (for diagnostics and reloads) and their mtimes.
    config_files: Vec<(PathBuf, Option<std::time::SystemTime>)>,
    config: Option<Config>,
    /// Config diagnostics by file.
    config_diagnostics: BTreeMap<PathBuf, Vec<Diagnostic>>,
    /// Its sync, while it runs.
    workspace: Option<Workspace>,
    /// The tasks that forward the workspace's status changes and notices here.
    forwarders: Vec<JoinHandle<()>>,
    /// Its `.ferry/sync.log`, once open.
    log: Option<PathBuf>,
}

impl Folder {
    fn new(uri: Uri, settings: Settings) -> Folder {
        let root = uri_path(&uri).unwrap_or_default();
        Folder {
            uri,
            root,
            settings,
            state: FolderState::Stopped,
            message: None,
            config_files: Vec::new(),
            config: None,
            config_diagnostics: BTreeMap::new(),
            workspace: None,
            forwarders: Vec::new(),
            log: None,
        }
    }
}

/// An initial-sync progress in flight.
struct ProgressTask {
    token: String,
    tx: mpsc::UnboundedSender<ProgressMsg>,
    last_report: Instant,
}

/// The controller's state.
pub struct Controller {
    client: Client,
    events: mpsc::UnboundedSender<Event>,
    caps: ClientCaps,
    init_settings: Settings,
    folders: Vec<Folder>,
    /// Each folder's `.ferry/sync.log`.
    logs: FolderLogs,
    level: StderrLevel,
    /// Diagnostics last published, by URI.
    published: BTreeMap<String, (Uri, Vec<Diagnostic>)>,
    /// Initial-sync progress per sync path.
    progress: BTreeMap<PathKey, ProgressTask>,
    /// Sync paths whose initial sync of the current connection was reported.
    progress_seen: BTreeSet<PathKey>,
    /// What `window/showMessage` told the user about and still holds (see
    /// [`Controller::announce`]).
    alerts: BTreeMap<String, String>,
    /// Progress tokens handed out (each progress has a token of its own).
    progress_tokens: u64,
    status_dirty: bool,
    initialized: bool,
}

impl Controller {
    /// A controller talking to `client`, logging to `log` once a folder is known.
    pub fn new(
        client: Client,
        events: mpsc::UnboundedSender<Event>,
        logs: FolderLogs,
        level: StderrLevel,
    ) -> Controller {
        Controller {
            client,
            events,
            caps: ClientCaps::default(),
            init_settings: Settings::default(),
            folders: Vec::new(),
            logs,
            level,
            published: BTreeMap::new(),
            progress: BTreeMap::new(),
            progress_seen: BTreeSet::new(),
            progress_tokens: 0,
            alerts: BTreeMap::new(),
            status_dirty: false,
            initialized: false,
        }
    }

    /// Runs until shutdown.
    pub async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Event>) {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut config_poll = tokio::time::interval(Duration::from_secs(1));
        config_poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                e = rx.recv() => {
                    let Some(e) = e else { return };
                    if let Event::Shutdown(reply) = e {
                        self.stop_all().await;
                        self.flush_status().await;
                        let _ = reply.send(());
                        return;
                    }
                    self.handle(e).await;
                }
                _ = tick.tick() => {
                    if self.status_dirty {
                        self.flush_status().await;
                    }
                }
                _ = config_poll.tick() => self.poll_configs().await,
            }
        }
    }

    async fn handle(&mut self, e: Event) {
        match e {
            Event::Initialize {
                folders,
                caps,
                settings,
            } => {
                self.caps = caps;
                self.apply_log_level(&settings);
                self.init_settings = settings.clone();
                self.folders = folders
                    .into_iter()
                    .map(|u| Folder::new(u, settings.clone()))
                    .collect();
            }
            Event::Initialized => {
                self.initialized = true;
                for i in 0..self.folders.len() {
                    self.open_log(i);
                }
                tracing::info!(
                    "ferry lsp {} initialized: {} folders",
                    crate::VERSION,
                    self.folders.len()
                );
                if self.caps.watched_files_dynamic {
                    self.register_watchers();
                }
                if self.caps.configuration {
                    self.pull_configuration();
                } else {
                    self.start_all().await;
                }
                self.status_dirty = true;
            }
            Event::Configured(values) => {
                let mut restart = Vec::new();
                for (uri, s) in values {
                    if let Some(i) = self.folders.iter().position(|f| f.uri == uri) {
                        let merged = self.init_settings.merged(&s);
                        self.apply_log_level(&merged);
                        let first = self.folders[i].workspace.is_none()
                            && self.folders[i].state == FolderState::Stopped
                            && self.folders[i].config_files.is_empty();
                        let changed = self.folders[i].settings.restart_needed(&merged);
                        self.folders[i].settings = merged;
                        if first || changed {
                            restart.push(i);
                        }
                    }
                }
                for i in restart {
                    self.stop_folder(i).await;
                    if self.folders[i].settings.auto_start() {
                        self.start_folder(i).await;
                    } else {
                        self.folders[i].message =
                            Some("not started (autoStart is off); run ferry.server.start".into());
                    }
                }
                self.status_dirty = true;
            }
            Event::ConfigurationChanged(v) => {
                if self.caps.configuration {
                    self.pull_configuration();
                } else {
                    // Push model: the notification carries the settings (`ferry` section
                    // or the whole object).
                    let s = Settings::from_json(v.get("ferry").or(Some(&v)));
                    let values = self
                        .folders
                        .iter()
                        .map(|f| (f.uri.clone(), s.clone()))
                        .collect();
                    let _ = self.events.send(Event::Configured(values));
                }
            }
            Event::Folders { added, removed } => {
                for uri in removed {
                    if let Some(i) = self.folders.iter().position(|f| f.uri == uri) {
                        self.stop_folder(i).await;
                        self.clear_folder_diagnostics(i).await;
                        if let Some(log) = &self.folders[i].log {
                            self.logs.close(log);
                        }
                        self.folders.remove(i);
                    }
                }
                for uri in added {
                    if self.folders.iter().any(|f| f.uri == uri) {
                        continue;
                    }
                    self.folders
                        .push(Folder::new(uri.clone(), self.init_settings.clone()));
                    let i = self.folders.len() - 1;
                    if self.initialized {
                        self.open_log(i);
                    }
                    if self.folders[i].settings.auto_start() {
                        self.start_folder(i).await;
                    }
                }
                if self.caps.configuration {
                    self.pull_configuration();
                }
                self.status_dirty = true;
            }
            Event::Changed(uris) => self.changed(uris).await,
            Event::Command {
                command,
                arguments,
                reply,
            } => {
                let r = self.command(&command, &arguments).await;
                if let Some(r) = r {
                    let _ = reply.send(r);
                } else {
                    // Answered by a task of its own (doctor).
                    self.command_async(&command, &arguments, reply);
                }
            }
            Event::Shutdown(_) => {}
            Event::CancelProgress(token) => self.cancel_progress(&token),
            Event::CodeAction { diagnostics, reply } => self.code_action(diagnostics, reply),
            Event::StatusChanged => {
                self.status_dirty = true;
            }
            Event::Notice { folder, notice } => self.notice(&folder, notice).await,
        }
    }

    fn apply_log_level(&self, s: &Settings) {
        if let Some(l) = &s.log_level {
            match <tracing_subscriber::filter::LevelFilter as std::str::FromStr>::from_str(l) {
                Ok(level) => self.level.set(level),
                Err(_) => {
                    tracing::warn!("logLevel {l:?} is not one of error, warn, info, debug, trace")
                }
            }
        }
    }

    fn register_watchers(&self) {
        let client = self.client.clone();
        tokio::spawn(async move {
            let opts = DidChangeWatchedFilesRegistrationOptions {
                watchers: vec![FileSystemWatcher {
                    glob_pattern: GlobPattern::String("**/*".into()),
                    kind: None,
                }],
            };
            let reg = Registration {
                id: "ferry-watched-files".into(),
                method: "workspace/didChangeWatchedFiles".into(),
                register_options: serde_json::to_value(opts).ok(),
            };
            let r = tokio::time::timeout(
                Duration::from_secs(10),
                client.register_capability(vec![reg]),
            )
            .await;
            if !matches!(r, Ok(Ok(()))) {
                tracing::info!("the client did not accept the file watcher registration; ferry's own watcher covers it");
            }
        });
    }

    fn pull_configuration(&self) {
        let client = self.client.clone();
        let events = self.events.clone();
        let uris: Vec<Uri> = self.folders.iter().map(|f| f.uri.clone()).collect();
        tokio::spawn(async move {
            let items = uris
                .iter()
                .map(|u| ConfigurationItem {
                    scope_uri: Some(u.clone()),
                    section: Some("ferry".into()),
                })
                .collect();
            let values =
                match tokio::time::timeout(Duration::from_secs(10), client.configuration(items))
                    .await
                {
                    Ok(Ok(v)) => v,
                    _ => {
                        tracing::info!(
                            "workspace/configuration failed; using initializationOptions"
                        );
                        Vec::new()
                    }
                };
            let pairs = uris
                .into_iter()
                .enumerate()
                .map(|(i, u)| (u, Settings::from_json(values.get(i))))
                .collect();
            let _ = events.send(Event::Configured(pairs));
        });
    }

    /// The combined report of every folder.
    fn report(&self) -> StatusReport {
        let mut paths = Vec::new();
        let mut folders = Vec::new();
        for f in &self.folders {
            if let Some(ws) = &f.workspace {
                paths.extend(ws.hub().report().paths);
            }
            folders.push(FolderStatus {
                uri: f.uri.as_str().to_string(),
                state: f.state,
                message: f.message.clone(),
            });
        }
        StatusReport::of(paths, folders)
    }

    async fn flush_status(&mut self) {
        self.status_dirty = false;
        let report = self.report();
        self.update_progress(&report);
        self.announce(&report).await;
        self.publish_diagnostics().await;
        if self.initialized {
            self.client
                .send_notification::<StatusNotification>(report)
                .await;
        }
    }
}
