//! Diagnostics: config problems at their span, per-file problems on the file (with
//! `data` for code actions), connection problems on the sync entry; published when they
//! change.

use super::*;

impl Controller {
    /// Computes every diagnostic and publishes what changed.
    pub(super) async fn publish_diagnostics(&mut self) {
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
                // A replica that cannot sync is a warning on the entry: the others go on.
                for r in &p.replicas {
                    if r.role == ReplicaRole::Secondary && r.state == PathState::Error {
                        if let Some(e) = &r.last_error {
                            add(
                                &sync.origin.file,
                                diag(
                                    to_lsp_range(&sync.origin),
                                    DiagnosticSeverity::WARNING,
                                    format!("sync {}, replica {}: {e}", p.name, r.pod),
                                ),
                            );
                        }
                    }
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

    pub(super) async fn clear_folder_diagnostics(&mut self, i: usize) {
        self.folders[i].config_diagnostics.clear();
        self.publish_diagnostics().await;
    }
}

pub(super) fn to_lsp_range(span: &Span) -> Range {
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

pub(super) fn diag(range: Range, severity: DiagnosticSeverity, message: String) -> Diagnostic {
    Diagnostic {
        range,
        severity: Some(severity),
        source: Some("ferry".into()),
        message,
        ..Default::default()
    }
}
