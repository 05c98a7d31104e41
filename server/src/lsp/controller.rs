//! The controller: one task that owns every workspace folder's sync (config, lock, sync
//! tasks, status hub) and everything sent to the client (status, progress,
//! diagnostics). The LSP handlers only send it [`Event`]s; it never waits on the client
//! inside its loop (requests to the client run in tasks of their own).

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
use crate::engine::{FolderState, FolderStatus, Notice, PathState, StatusReport};
use crate::logging::{folder_scope, FolderLogs, StderrLevel};
use crate::state::lock::WorkspaceLock;

/// The `ferry/status` notification.
pub enum StatusNotification {}

impl Notification for StatusNotification {
    type Params = StatusReport;
    const METHOD: &'static str = "ferry/status";
}

/// What the client can do (from `initialize`).
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientCaps {
    /// `window.workDoneProgress`.
    pub progress: bool,
    /// `workspace.configuration`.
    pub configuration: bool,
    /// `workspace.didChangeWatchedFiles.dynamicRegistration`.
    pub watched_files_dynamic: bool,
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

fn to_lsp_range(span: &Span) -> Range {
    let start = Position::new(span.line.saturating_sub(1), span.column.saturating_sub(1));
    let mut end = Position::new(
        span.end_line.saturating_sub(1),
        span.end_column.saturating_sub(1),
    );
    if (end.line, end.character) <= (start.line, start.character) {
        end = Position::new(start.line, start.character + 1);
    }
    Range::new(start, end)
}

fn diag(range: Range, severity: DiagnosticSeverity, message: String) -> Diagnostic {
    Diagnostic {
        range,
        severity: Some(severity),
        source: Some("ferry".into()),
        message,
        ..Default::default()
    }
}

fn mtime(p: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
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

    /// Opens folder `i`'s `.ferry/sync.log` (its sync logs there, and only there).
    fn open_log(&mut self, i: usize) {
        let f = &mut self.folders[i];
        let dir = f.root.join(crate::state::STATE_DIR);
        let path = crate::logging::log_file(&dir);
        match std::fs::create_dir_all(&dir).and_then(|()| self.logs.open(&path)) {
            Ok(()) => f.log = Some(path),
            Err(e) => tracing::warn!("cannot open {}: {e}", path.display()),
        }
    }

    /// The log scope of folder `i`: what runs in it logs to the folder's log only.
    fn scope(&self, i: usize) -> tracing::Span {
        match &self.folders[i].log {
            Some(log) => folder_scope(log),
            None => tracing::Span::none(),
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

    async fn start_all(&mut self) {
        for i in 0..self.folders.len() {
            if self.folders[i].settings.auto_start() {
                self.start_folder(i).await;
            } else {
                self.folders[i].message =
                    Some("not started (autoStart is off); run ferry.server.start".into());
            }
        }
    }

    async fn stop_all(&mut self) {
        for i in 0..self.folders.len() {
            self.stop_folder(i).await;
        }
    }

    /// Loads the folder's config and starts its sync paths.
    async fn start_folder(&mut self, i: usize) {
        if self.folders[i].workspace.is_some() {
            return;
        }
        let f = &mut self.folders[i];
        let env = |k: &str| std::env::var(k).ok();
        let override_path = f.settings.config_path.as_ref().map(PathBuf::from);
        let loaded = config::load(&f.root, override_path.as_deref(), &env);
        f.config_diagnostics.clear();
        f.config = None;
        match loaded {
            Ok(Loaded::NoConfig { searched }) => {
                f.config_files = searched.iter().map(|p| (p.clone(), mtime(p))).collect();
                f.state = FolderState::NoConfig;
                f.message = Some(format!(
                    "no sync configured (no {})",
                    searched
                        .iter()
                        .map(|p| p.strip_prefix(&f.root).unwrap_or(p).display().to_string())
                        .collect::<Vec<_>>()
                        .join(" or ")
                ));
            }
            Err(e) => {
                let files: BTreeSet<PathBuf> =
                    e.diagnostics.iter().map(|d| d.span.file.clone()).collect();
                f.config_files = files.iter().map(|p| (p.clone(), mtime(p))).collect();
                for d in &e.diagnostics {
                    let sev = match d.severity {
                        Severity::Error => DiagnosticSeverity::ERROR,
                        _ => DiagnosticSeverity::WARNING,
                    };
                    f.config_diagnostics
                        .entry(d.span.file.clone())
                        .or_default()
                        .push(diag(to_lsp_range(&d.span), sev, d.message.clone()));
                }
                f.state = FolderState::ConfigError;
                f.message = Some(format!(
                    "the config cannot be used: {}",
                    e.diagnostics
                        .first()
                        .map(|d| d.to_string())
                        .unwrap_or_default()
                ));
                tracing::warn!("{}: {e}", f.root.display());
            }
            Ok(Loaded::Config(cfg)) => {
                let mut files: BTreeSet<PathBuf> = BTreeSet::new();
                files.insert(cfg.file.clone());
                for d in &cfg.diagnostics {
                    files.insert(d.span.file.clone());
                    f.config_diagnostics
                        .entry(d.span.file.clone())
                        .or_default()
                        .push(diag(
                            to_lsp_range(&d.span),
                            DiagnosticSeverity::WARNING,
                            d.message.clone(),
                        ));
                }
                f.config_files = files.iter().map(|p| (p.clone(), mtime(p))).collect();
                if cfg.sync.is_empty() {
                    f.state = FolderState::NoConfig;
                    f.message = Some(format!("{} configures no sync paths", cfg.file.display()));
                } else {
                    f.config = Some(cfg);
                }
            }
        }
        let Some(cfg) = self.folders[i].config.clone() else {
            self.publish_diagnostics().await;
            self.status_dirty = true;
            return;
        };
        // The workspace's tasks log to this folder's log.
        let scope = self.scope(i);
        let f = &mut self.folders[i];
        let opened =
            scope.in_scope(|| Workspace::open(&f.root, "ferry lsp", f.settings.workspace()));
        let mut ws = match opened {
            Ok(ws) => ws,
            Err(e) => {
                f.state = match e {
                    OpenError::Locked(_) => FolderState::Locked,
                    _ => FolderState::Stopped,
                };
                f.message = Some(e.to_string());
                self.status_dirty = true;
                return;
            }
        };
        let hub = ws.hub().clone();
        hub.set_folder(f.uri.as_str());
        // Forward the hub's changes and notices to the controller.
        let mut changes = hub.subscribe();
        let events = self.events.clone();
        f.forwarders.push(tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                if events.send(Event::StatusChanged).is_err() {
                    return;
                }
            }
        }));
        let mut notices = hub.notices();
        let events = self.events.clone();
        let folder = f.uri.clone();
        f.forwarders.push(tokio::spawn(async move {
            loop {
                match notices.recv().await {
                    Ok(notice) => {
                        let folder = folder.clone();
                        if events.send(Event::Notice { folder, notice }).is_err() {
                            return;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return,
                }
            }
        }));
        for e in scope.in_scope(|| ws.start(cfg.sync, false)) {
            f.config_diagnostics
                .entry(e.sync.origin.file.clone())
                .or_default()
                .push(diag(
                    to_lsp_range(&e.sync.origin),
                    DiagnosticSeverity::ERROR,
                    e.error.to_string(),
                ));
        }
        f.workspace = Some(ws);
        f.state = FolderState::Syncing;
        f.message = None;
        self.publish_diagnostics().await;
        self.status_dirty = true;
    }

    /// Stops the folder's sync paths (index saved, container processes told to end) and
    /// releases its lock.
    async fn stop_folder(&mut self, i: usize) {
        let scope = self.scope(i);
        let f = &mut self.folders[i];
        if let Some(ws) = f.workspace.take() {
            ws.stop(Duration::from_secs(5)).instrument(scope).await;
        }
        for h in f.forwarders.drain(..) {
            h.abort();
        }
        if f.state == FolderState::Syncing {
            f.state = FolderState::Stopped;
        }
        let uri = f.uri.as_str().to_string();
        let ended: Vec<PathKey> = self
            .progress
            .keys()
            .filter(|(u, _)| *u == uri)
            .cloned()
            .collect();
        for key in ended {
            if let Some(p) = self.progress.remove(&key) {
                let _ = p.tx.send(ProgressMsg::End);
            }
        }
        self.status_dirty = true;
    }

    /// Reloads folders whose config files changed on disk.
    async fn poll_configs(&mut self) {
        if !self.initialized {
            return;
        }
        let mut reload = Vec::new();
        for (i, f) in self.folders.iter().enumerate() {
            let why = match f.state {
                // Try again once the other owner is gone (probing writes nothing).
                FolderState::Locked => {
                    let dir = f.root.join(crate::state::STATE_DIR);
                    match WorkspaceLock::holder(&dir) {
                        Ok(Some(_)) => continue,
                        _ => "the other owner is gone; starting",
                    }
                }
                FolderState::Stopped if f.workspace.is_none() => continue,
                _ if f.config_files.iter().any(|(p, m)| mtime(p) != *m) => {
                    "the config changed; restarting"
                }
                _ => continue,
            };
            reload.push((i, why));
        }
        for (i, why) in reload {
            self.scope(i)
                .in_scope(|| tracing::info!("{}: {why}", self.folders[i].root.display()));
            self.stop_folder(i).await;
            self.start_folder(i).await;
        }
    }

    async fn changed(&mut self, uris: Vec<Uri>) {
        let mut config_touched = BTreeSet::new();
        for uri in uris {
            let Some(path) = uri_path(&uri) else { continue };
            for (i, f) in self.folders.iter().enumerate() {
                if f.config_files.iter().any(|(p, _)| *p == path) {
                    config_touched.insert(i);
                }
                if let Some(ws) = &f.workspace {
                    ws.changed(&path);
                }
            }
        }
        for i in config_touched {
            let changed = self.folders[i]
                .config_files
                .iter()
                .any(|(p, m)| mtime(p) != *m);
            if changed {
                self.stop_folder(i).await;
                self.start_folder(i).await;
            }
        }
    }

    /// An engine notice: initial-sync progress goes to its work-done progress; batches
    /// and messages to `window/logMessage` (the lines `ferry sync` prints).
    async fn notice(&mut self, folder: &Uri, n: Notice) {
        let (typ, line) = match n {
            Notice::Progress {
                slot, done, total, ..
            } => {
                let key = (folder.as_str().to_string(), slot);
                if let Some(p) = self.progress.get_mut(&key) {
                    if done == total || p.last_report.elapsed() >= Duration::from_millis(200) {
                        p.last_report = Instant::now();
                        let _ = p.tx.send(ProgressMsg::Report { done, total });
                    }
                }
                return;
            }
            Notice::Batch { name, text } => (MessageType::INFO, format!("[{name}] {text}")),
            Notice::Message {
                name,
                text,
                problem,
            } => {
                let typ = if problem {
                    MessageType::WARNING
                } else {
                    MessageType::INFO
                };
                (typ, format!("[{name}] {text}"))
            }
        };
        if self.initialized {
            self.client.log_message(typ, line).await;
        }
    }

    /// The sync path `slot` of the folder `uri`, to ask from a task of its own.
    fn requester(&self, uri: &str, slot: usize) -> Option<crate::engine::workspace::Requester> {
        self.folders
            .iter()
            .find(|f| f.uri.as_str() == uri)?
            .workspace
            .as_ref()?
            .requester(slot)
    }

    /// Code actions for ferry's conflict diagnostics (answered by a task of its own).
    fn code_action(
        &self,
        diagnostics: Vec<Diagnostic>,
        reply: oneshot::Sender<Vec<CodeActionOrCommand>>,
    ) {
        let asks: Vec<_> = diagnostics
            .into_iter()
            .filter_map(|d| {
                let r = ProblemRef::of(&d)?;
                if !matches!(r.kind, ProblemKind::Conflict | ProblemKind::RemoteNewer) {
                    return None;
                }
                let requester = self.requester(&r.folder, r.slot)?;
                Some((d, r, requester))
            })
            .collect();
        tokio::spawn(async move {
            let _ = reply.send(conflicts::code_actions(asks).await);
        });
    }

    /// The user cancelled an initial sync: its sync path stops at its next batch boundary
    /// (the index holds what completed; `ferry.server.start` goes on from there). Its
    /// progress ends when the status says `stopped`.
    fn cancel_progress(&mut self, token: &str) {
        let Some((uri, slot)) = self
            .progress
            .iter()
            .find(|(_, p)| p.token == token)
            .map(|(k, _)| k.clone())
        else {
            return;
        };
        if let Some(ws) = self
            .folders
            .iter()
            .find(|f| f.uri.as_str() == uri)
            .and_then(|f| f.workspace.as_ref())
        {
            tracing::info!("{uri}: initial sync of slot {slot} cancelled by the user");
            ws.stop_path(slot);
        }
    }

    /// Starts or ends initial-sync progress as states change. An initial sync that came
    /// and went between two status updates still gets its begin and end.
    fn update_progress(&mut self, report: &StatusReport) {
        if !self.caps.progress {
            return;
        }
        for p in &report.paths {
            let key: PathKey = (p.folder.clone().unwrap_or_default(), p.id);
            let active = self.progress.contains_key(&key);
            match p.state {
                PathState::Connecting | PathState::Error | PathState::Stopped => {
                    if let Some(t) = self.progress.remove(&key) {
                        let _ = t.tx.send(ProgressMsg::End);
                    }
                    self.progress_seen.remove(&key);
                }
                PathState::InitialSync => {
                    if !active {
                        self.start_progress(key, &p.name);
                    }
                }
                PathState::Watching | PathState::Uploading | PathState::Downloading => {
                    if !active && !self.progress_seen.contains(&key) {
                        self.start_progress(key.clone(), &p.name);
                    }
                    if let Some(t) = self.progress.remove(&key) {
                        let _ = t.tx.send(ProgressMsg::End);
                    }
                }
            }
        }
    }

    fn start_progress(&mut self, key: PathKey, name: &str) {
        let (tx, rx) = mpsc::unbounded_channel();
        self.progress_tokens += 1;
        let token = format!("ferry/initialSync/{}", self.progress_tokens);
        let title = format!("ferry: initial sync of {name}");
        tokio::spawn(run_progress(self.client.clone(), token.clone(), title, rx));
        self.progress.insert(
            key.clone(),
            ProgressTask {
                token: token.clone(),
                tx,
                last_report: Instant::now(),
            },
        );
        self.progress_seen.insert(key);
    }

    /// Tells the user once, by `window/showMessage`, when a folder becomes locked or its
    /// config unusable, and when a sync path starts failing (until it syncs again or
    /// stops: its retries are not news); `window/logMessage` when that ends. Plain LSP
    /// clients see problems this way (`docs/protocol.md`, "Messages").
    async fn announce(&mut self, report: &StatusReport) {
        if !self.initialized {
            return;
        }
        // key → (type, subject, message)
        let mut now: BTreeMap<String, (MessageType, String, String)> = BTreeMap::new();
        for f in &report.folders {
            let what = match f.state {
                FolderState::Locked => "is synced by another process",
                FolderState::ConfigError => "has a config ferry cannot use",
                _ => continue,
            };
            let why = f.message.as_deref().unwrap_or("");
            now.insert(
                format!("{} {}", f.uri, f.state.as_str()),
                (
                    MessageType::WARNING,
                    f.uri.clone(),
                    format!("ferry: {} {what}: {why}", f.uri),
                ),
            );
        }
        for p in &report.paths {
            let key = format!("{}#{}", p.folder.as_deref().unwrap_or(""), p.id);
            match p.state {
                PathState::Error => {
                    let why = p.last_error.as_deref().unwrap_or("");
                    now.insert(
                        key,
                        (
                            MessageType::ERROR,
                            p.name.clone(),
                            format!("ferry: {} cannot sync: {why}", p.name),
                        ),
                    );
                }
                // Between two attempts: still failing.
                PathState::Connecting if self.alerts.contains_key(&key) => {
                    now.insert(key, (MessageType::ERROR, p.name.clone(), String::new()));
                }
                _ => {}
            }
        }
        for (key, (typ, _, text)) in &now {
            if !self.alerts.contains_key(key) {
                tracing::info!("{text}");
                self.client.show_message(*typ, text.clone()).await;
            }
        }
        for (key, subject) in &self.alerts {
            if !now.contains_key(key) {
                self.client
                    .log_message(MessageType::INFO, format!("ferry: {subject}: resolved"))
                    .await;
            }
        }
        self.alerts = now.into_iter().map(|(k, (_, s, _))| (k, s)).collect();
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

    /// Computes every diagnostic and publishes what changed.
    async fn publish_diagnostics(&mut self) {
        let mut want: BTreeMap<String, (Uri, Vec<Diagnostic>)> = BTreeMap::new();
        let mut add = |path: &Path, d: Diagnostic| {
            if let Some(uri) = file_uri(path) {
                want.entry(uri.as_str().to_string())
                    .or_insert_with(|| (uri.clone(), Vec::new()))
                    .1
                    .push(d);
            }
        };
        for f in &self.folders {
            for (file, ds) in &f.config_diagnostics {
                for d in ds {
                    add(file, d.clone());
                }
            }
            let Some(ws) = &f.workspace else { continue };
            let report = ws.hub().report();
            let syncs: BTreeMap<usize, &config::SyncPath> = ws.sync_paths().collect();
            for p in &report.paths {
                let Some(sync) = syncs.get(&p.id) else {
                    continue;
                };
                for problem in &p.problems {
                    let sev = if problem.kind == ProblemKind::Error {
                        DiagnosticSeverity::ERROR
                    } else {
                        DiagnosticSeverity::WARNING
                    };
                    let path = sync.local_path.join(&problem.path);
                    let mut d = diag(
                        Range::new(Position::new(0, 0), Position::new(0, 0)),
                        sev,
                        problem.message.clone(),
                    );
                    d.data = Some(conflicts::diagnostic_data(f.uri.as_str(), p.id, problem));
                    add(&path, d);
                }
                if p.state == PathState::Error {
                    if let Some(e) = &p.last_error {
                        add(
                            &sync.origin.file,
                            diag(
                                to_lsp_range(&sync.origin),
                                DiagnosticSeverity::ERROR,
                                format!("sync {}: {e}", p.name),
                            ),
                        );
                    }
                }
            }
        }
        let old = std::mem::take(&mut self.published);
        for (key, (uri, ds)) in &want {
            if old.get(key).map(|(_, o)| o) != Some(ds) {
                self.client
                    .publish_diagnostics(uri.clone(), ds.clone(), None)
                    .await;
            }
        }
        for (key, (uri, _)) in &old {
            if !want.contains_key(key) {
                self.client
                    .publish_diagnostics(uri.clone(), Vec::new(), None)
                    .await;
            }
        }
        self.published = want;
    }

    async fn clear_folder_diagnostics(&mut self, i: usize) {
        self.folders[i].config_diagnostics.clear();
        self.publish_diagnostics().await;
    }

    /// The folders a command addresses: `{"folder": uri}` as first argument, else all.
    fn targets(&self, args: &[Value]) -> Result<Vec<usize>, String> {
        match args
            .first()
            .and_then(|a| a.get("folder"))
            .and_then(Value::as_str)
        {
            Some(u) => self
                .folders
                .iter()
                .position(|f| f.uri.as_str() == u)
                .map(|i| vec![i])
                .ok_or_else(|| format!("{u} is not a workspace folder of this server")),
            None => Ok((0..self.folders.len()).collect()),
        }
    }

    /// Runs a command; `None` when it is answered by a task of its own.
    async fn command(&mut self, command: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let targets = match self.targets(args) {
            Ok(t) => t,
            Err(e) => return Some(Err(e)),
        };
        let r = match command {
            "ferry.server.start" => {
                for i in targets {
                    // A sync path stopped alone (its initial sync cancelled) resumes.
                    let ended = self.folders[i]
                        .workspace
                        .as_ref()
                        .is_some_and(Workspace::has_ended_paths);
                    if ended {
                        self.stop_folder(i).await;
                    }
                    self.start_folder(i).await;
                }
                Ok(Value::Null)
            }
            "ferry.server.stop" => {
                for i in targets {
                    self.stop_folder(i).await;
                    self.folders[i].message =
                        Some("stopped (ferry.server.start starts it again)".into());
                }
                Ok(Value::Null)
            }
            "ferry.server.restart" => {
                for i in targets {
                    self.stop_folder(i).await;
                    self.start_folder(i).await;
                }
                Ok(Value::Null)
            }
            "ferry.server.resync" => {
                for i in targets {
                    if let Some(ws) = &self.folders[i].workspace {
                        ws.resync();
                    }
                }
                Ok(Value::Null)
            }
            "ferry.server.status" => Ok(serde_json::to_value(self.report()).unwrap_or(Value::Null)),
            "ferry.server.list" => {
                let env = |k: &str| std::env::var(k).ok();
                let list: Vec<Value> = targets
                    .iter()
                    .map(|&i| {
                        let f = &self.folders[i];
                        let over = f.settings.config_path.as_ref().map(PathBuf::from);
                        match config::load(&f.root, over.as_deref(), &env) {
                            Ok(Loaded::Config(c)) => json!({
                                "folder": f.uri.as_str(),
                                "configFile": c.file,
                                "syncPaths": c.sync,
                            }),
                            Ok(Loaded::NoConfig { .. }) => json!({
                                "folder": f.uri.as_str(), "configFile": null, "syncPaths": []
                            }),
                            Err(e) => json!({
                                "folder": f.uri.as_str(), "configFile": null, "syncPaths": [],
                                "error": e.to_string(),
                            }),
                        }
                    })
                    .collect();
                Ok(Value::Array(list))
            }
            "ferry.server.log" => Ok(Value::Array(
                targets
                    .iter()
                    .map(|&i| {
                        json!({
                            "folder": self.folders[i].uri.as_str(),
                            "path": self.folders[i].log,
                        })
                    })
                    .collect(),
            )),
            "ferry.server.doctor"
            | "ferry.server.conflicts"
            | conflicts::RESOLVE
            | conflicts::CONTAINER_VERSION => return None,
            other => Err(format!("unknown command {other:?}")),
        };
        if matches!(
            command,
            "ferry.server.start" | "ferry.server.stop" | "ferry.server.restart"
        ) {
            self.flush_status().await;
        }
        Some(r)
    }

    fn command_async(
        &self,
        command: &str,
        args: &[Value],
        reply: oneshot::Sender<Result<Value, String>>,
    ) {
        if command == conflicts::CONTAINER_VERSION {
            let parsed = conflicts::FileArgs::parse(args).and_then(|(a, rel)| {
                let requester = self
                    .requester(&a.folder, a.slot)
                    .ok_or_else(|| format!("no sync path {} runs in {}", a.slot, a.folder))?;
                Ok((rel, requester))
            });
            tokio::spawn(async move {
                let answer = match parsed {
                    Ok((rel, requester)) => requester
                        .container_version(rel)
                        .await
                        .map(|p| json!({ "path": p })),
                    Err(e) => Err(e),
                };
                let _ = reply.send(answer);
            });
            return;
        }
        if command == conflicts::RESOLVE {
            let parsed = ResolveArgs::parse(args).and_then(|a| {
                let req = a.request()?;
                let requester = self
                    .requester(&a.folder, a.slot)
                    .ok_or_else(|| format!("no sync path {} runs in {}", a.slot, a.folder))?;
                Ok((req, requester))
            });
            tokio::spawn(async move {
                let answer = match parsed {
                    Ok((req, requester)) => requester
                        .resolve(req)
                        .await
                        .map(|done| json!({ "done": done })),
                    Err(e) => Err(e),
                };
                let _ = reply.send(answer);
            });
            return;
        }
        let targets = match self.targets(args) {
            Ok(t) => t,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        if command == "ferry.server.conflicts" {
            let paths: Vec<_> = targets
                .iter()
                .filter_map(|&i| {
                    let f = &self.folders[i];
                    let ws = f.workspace.as_ref()?;
                    Some(
                        ws.sync_paths()
                            .filter_map(|(slot, sync)| {
                                let r = ws.requester(slot)?;
                                Some((f.uri.as_str().to_string(), slot, sync.name.clone(), r))
                            })
                            .collect::<Vec<_>>(),
                    )
                })
                .flatten()
                .collect();
            tokio::spawn(async move {
                let _ = reply.send(Ok(conflicts::list(paths).await));
            });
            return;
        }
        if command != "ferry.server.doctor" {
            let _ = reply.send(Err(format!("unknown command {command:?}")));
            return;
        }
        let jobs: Vec<(String, PathBuf, Settings)> = targets
            .iter()
            .map(|&i| {
                let f = &self.folders[i];
                (
                    f.uri.as_str().to_string(),
                    f.root.clone(),
                    f.settings.clone(),
                )
            })
            .collect();
        tokio::spawn(async move {
            let mut out = Vec::new();
            for (uri, root, settings) in jobs {
                let over = settings.config_path.as_ref().map(PathBuf::from);
                let report =
                    crate::doctor::diagnose(&root, over.as_deref(), &settings.kube()).await;
                out.push(json!({"folder": uri, "report": report}));
            }
            let _ = reply.send(Ok(Value::Array(out)));
        });
    }
}
