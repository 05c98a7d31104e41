//! `workspace/executeCommand` (`ferry.server.*`) and `textDocument/codeAction`; what
//! needs a sync path's answer runs in a task of its own.

use super::*;

impl Controller {
    /// The sync path `slot` of the folder `uri`, to ask from a task of its own.
    pub(super) fn requester(
        &self,
        uri: &str,
        slot: usize,
    ) -> Option<crate::engine::workspace::Requester> {
        self.folders
            .iter()
            .find(|f| f.uri.as_str() == uri)?
            .workspace
            .as_ref()?
            .requester(slot)
    }

    /// Code actions for ferry's conflict diagnostics (answered by a task of its own).
    pub(super) fn code_action(
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
        let compare = self
            .caps
            .client_commands
            .iter()
            .any(|c| c == conflicts::COMPARE);
        tokio::spawn(async move {
            let _ = reply.send(conflicts::code_actions(asks, compare).await);
        });
    }

    /// The folders a command addresses: `{"folder": uri}` as first argument, else all.
    pub(super) fn targets(&self, args: &[Value]) -> Result<Vec<usize>, String> {
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
    pub(super) async fn command(
        &mut self,
        command: &str,
        args: &[Value],
    ) -> Option<Result<Value, String>> {
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
                        match config::load(&f.root, over.as_deref(), &f.settings.profiles(), &env) {
                            Ok(Loaded::Config(c)) => json!({
                                "folder": f.uri.as_str(),
                                "configFile": c.file,
                                "profiles": c.profiles,
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

    pub(super) fn command_async(
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
                let report = crate::doctor::diagnose(
                    &root,
                    over.as_deref(),
                    &settings.profiles(),
                    &settings.kube(),
                )
                .await;
                out.push(json!({"folder": uri, "report": report}));
            }
            let _ = reply.send(Ok(Value::Array(out)));
        });
    }
}
