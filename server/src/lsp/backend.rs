//! The `LanguageServer` handlers: thin. Each forwards an [`Event`] to the controller
//! and returns; requests that need an answer wait for it on a oneshot channel with a
//! time limit. No handler ever waits on a request to the client.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::LanguageServer;

use super::controller::{ClientCaps, Event};
use super::settings::Settings;
use super::COMMANDS;

/// The server object tower-lsp-server drives.
pub struct Backend {
    pub(super) events: mpsc::UnboundedSender<Event>,
}

impl Backend {
    /// `window/workDoneProgress/cancel`: the user cancelled an initial sync's progress.
    pub async fn work_done_progress_cancel(&self, params: WorkDoneProgressCancelParams) {
        if let NumberOrString::String(token) = params.token {
            self.send(Event::CancelProgress(token));
        }
    }

    fn send(&self, e: Event) {
        let _ = self.events.send(e);
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Event,
        limit: Duration,
    ) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.send(make(tx));
        match tokio::time::timeout(limit, rx).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_)) => Err(Error::internal_error()),
            Err(_) => Err(Error {
                code: tower_lsp_server::jsonrpc::ErrorCode::InternalError,
                message: "ferry did not answer in time".into(),
                data: None,
            }),
        }
    }
}

fn caps_of(c: &ClientCapabilities) -> ClientCaps {
    ClientCaps {
        progress: c
            .window
            .as_ref()
            .and_then(|w| w.work_done_progress)
            .unwrap_or(false),
        configuration: c
            .workspace
            .as_ref()
            .and_then(|w| w.configuration)
            .unwrap_or(false),
        watched_files_dynamic: c
            .workspace
            .as_ref()
            .and_then(|w| w.did_change_watched_files.as_ref())
            .and_then(|d| d.dynamic_registration)
            .unwrap_or(false),
        status_ui: ferry_experimental(c)
            .and_then(|f| f.get("statusUi"))
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false),
        client_commands: ferry_experimental(c)
            .and_then(|f| f.get("clientCommands"))
            .and_then(serde_json::Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// The client's `experimental.ferry` capabilities (docs/protocol.md, "Client capabilities").
fn ferry_experimental(c: &ClientCapabilities) -> Option<&serde_json::Value> {
    c.experimental.as_ref()?.get("ferry")
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        let mut folders: Vec<Uri> = params
            .workspace_folders
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|f| f.uri)
            .collect();
        #[allow(deprecated)]
        if folders.is_empty() {
            if let Some(root) = params.root_uri.clone() {
                folders.push(root);
            }
        }
        self.send(Event::Initialize {
            folders,
            caps: caps_of(&params.capabilities),
            settings: Settings::from_json(params.initialization_options.as_ref()),
        });
        Ok(InitializeResult {
            capabilities: ServerCapabilities {
                text_document_sync: Some(TextDocumentSyncCapability::Options(
                    TextDocumentSyncOptions {
                        open_close: Some(false),
                        change: Some(TextDocumentSyncKind::NONE),
                        save: Some(TextDocumentSyncSaveOptions::SaveOptions(SaveOptions {
                            include_text: Some(false),
                        })),
                        ..Default::default()
                    },
                )),
                workspace: Some(WorkspaceServerCapabilities {
                    workspace_folders: Some(WorkspaceFoldersServerCapabilities {
                        supported: Some(true),
                        change_notifications: Some(OneOf::Left(true)),
                    }),
                    file_operations: None,
                }),
                code_action_provider: Some(CodeActionProviderCapability::Options(
                    CodeActionOptions {
                        code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
                        work_done_progress_options: Default::default(),
                        resolve_provider: Some(false),
                    },
                )),
                execute_command_provider: Some(ExecuteCommandOptions {
                    commands: COMMANDS.iter().map(|c| c.to_string()).collect(),
                    work_done_progress_options: Default::default(),
                }),
                experimental: Some(serde_json::json!({
                    "ferry": {"statusNotification": true, "protocolVersion": 1}
                })),
                ..Default::default()
            },
            server_info: Some(ServerInfo {
                name: "ferry".into(),
                version: Some(crate::VERSION.into()),
            }),
            offset_encoding: None,
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        self.send(Event::Initialized);
    }

    async fn shutdown(&self) -> Result<()> {
        self.ask(Event::Shutdown, Duration::from_secs(10)).await
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        self.send(Event::Changed(vec![params.text_document.uri]));
    }

    async fn did_change_watched_files(&self, params: DidChangeWatchedFilesParams) {
        self.send(Event::Changed(
            params.changes.into_iter().map(|c| c.uri).collect(),
        ));
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        self.send(Event::ConfigurationChanged(params.settings));
    }

    async fn did_change_workspace_folders(&self, params: DidChangeWorkspaceFoldersParams) {
        self.send(Event::Folders {
            added: params.event.added.into_iter().map(|f| f.uri).collect(),
            removed: params.event.removed.into_iter().map(|f| f.uri).collect(),
        });
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        let actions = self
            .ask(
                |reply| Event::CodeAction {
                    diagnostics: params.context.diagnostics.clone(),
                    reply,
                },
                Duration::from_secs(10),
            )
            .await?;
        Ok((!actions.is_empty()).then_some(actions))
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<LSPAny>> {
        if !COMMANDS.contains(&params.command.as_str()) {
            return Err(Error::invalid_params(format!(
                "unknown command {:?}; ferry knows {}",
                params.command,
                COMMANDS.join(", ")
            )));
        }
        let r = self
            .ask(
                |reply| Event::Command {
                    command: params.command.clone(),
                    arguments: params.arguments.clone(),
                    reply,
                },
                Duration::from_secs(120),
            )
            .await?;
        r.map(Some).map_err(Error::invalid_params)
    }
}
