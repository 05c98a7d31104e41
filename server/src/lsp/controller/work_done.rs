//! Initial-sync work-done progress: begun and ended as states change, cancelled by the
//! user (the sync path stops at its next batch boundary).

use super::*;

impl Controller {
    /// The user cancelled an initial sync: its sync path stops at its next batch boundary
    /// (the index holds what completed; `ferry.server.start` goes on from there). Its
    /// progress ends when the status says `stopped`.
    pub(super) fn cancel_progress(&mut self, token: &str) {
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
    pub(super) fn update_progress(&mut self, report: &StatusReport) {
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

    pub(super) fn start_progress(&mut self, key: PathKey, name: &str) {
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
}
