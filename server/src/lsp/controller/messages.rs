//! What plain LSP clients are told: `window/showMessage` once per state change,
//! `window/logMessage` for the engine's notices.

use super::*;

impl Controller {
    /// An engine notice: initial-sync progress goes to its work-done progress; batches
    /// and messages to `window/logMessage` (the lines `ferry sync` prints).
    pub(super) async fn notice(&mut self, folder: &Uri, n: Notice) {
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

    /// Tells the user once, by `window/showMessage`, when a folder becomes locked or its
    /// config unusable, and when a sync path starts failing (until it syncs again or
    /// stops: its retries are not news); `window/logMessage` when that ends. Plain LSP
    /// clients see problems this way (`docs/protocol.md`, "Messages"); a client with
    /// `experimental.ferry.statusUi` gets the same lines as `window/logMessage`.
    pub(super) async fn announce(&mut self, report: &StatusReport) {
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
                if self.caps.status_ui {
                    // The client shows the state itself: a toast would say it twice.
                    self.client.log_message(*typ, text.clone()).await;
                } else {
                    self.client.show_message(*typ, text.clone()).await;
                }
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
}
