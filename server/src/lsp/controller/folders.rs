//! Workspace folders: their logs, starting and stopping their sync (config, diagnostics,
//! the `engine::Workspace`), config reloads, and changes the client reports.

use super::*;

impl Controller {
    /// Opens folder `i`'s `.ferry/sync.log` (its sync logs there, and only there).
    pub(super) fn open_log(&mut self, i: usize) {
        let f = &mut self.folders[i];
        let dir = f.root.join(crate::state::STATE_DIR);
        let path = crate::logging::log_file(&dir);
        match std::fs::create_dir_all(&dir).and_then(|()| self.logs.open(&path)) {
            Ok(()) => f.log = Some(path),
            Err(e) => tracing::warn!("cannot open {}: {e}", path.display()),
        }
    }

    /// The log scope of folder `i`: what runs in it logs to the folder's log only.
    pub(super) fn scope(&self, i: usize) -> tracing::Span {
        match &self.folders[i].log {
            Some(log) => folder_scope(log),
            None => tracing::Span::none(),
        }
    }

    pub(super) async fn start_all(&mut self) {
        for i in 0..self.folders.len() {
            if self.folders[i].settings.auto_start() {
                self.start_folder(i).await;
            } else {
                self.folders[i].message =
                    Some("not started (autoStart is off); run ferry.server.start".into());
            }
        }
    }

    pub(super) async fn stop_all(&mut self) {
        for i in 0..self.folders.len() {
            self.stop_folder(i).await;
        }
    }

    /// Loads the folder's config and starts its sync paths.
    pub(super) async fn start_folder(&mut self, i: usize) {
        if self.folders[i].workspace.is_some() {
            return;
        }
        let f = &mut self.folders[i];
        let env = |k: &str| std::env::var(k).ok();
        let override_path = f.settings.config_path.as_ref().map(PathBuf::from);
        let loaded = config::load(
            &f.root,
            override_path.as_deref(),
            &f.settings.profiles(),
            &env,
        );
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
                // ferry.yaml, .env and exclude files: a change (or one appearing) reloads.
                files.extend(cfg.sync.iter().flat_map(|s| s.protected.iter().cloned()));
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
    pub(super) async fn stop_folder(&mut self, i: usize) {
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
    pub(super) async fn poll_configs(&mut self) {
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

    pub(super) async fn changed(&mut self, uris: Vec<Uri>) {
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
}

pub(super) fn mtime(p: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}
