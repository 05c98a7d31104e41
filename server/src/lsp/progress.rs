//! Server-initiated work-done progress for one initial sync: create the token, `begin`,
//! `report`s, and always an `end` — in order, in a task of its own, so the controller
//! never waits on the client.

use std::time::Duration;

use tower_lsp_server::ls_types::*;
use tower_lsp_server::Client;

/// What the controller tells a running progress.
pub enum ProgressMsg {
    /// `done` of `total` files.
    Report {
        /// Files done.
        done: u64,
        /// Files to do.
        total: u64,
    },
    /// The initial sync ended (or stopped).
    End,
}

/// Runs one server-initiated progress: create the token, begin, reports, end — in order,
/// and always ending (also when the controller drops the sender).
pub async fn run_progress(
    client: Client,
    token: String,
    title: String,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<ProgressMsg>,
) {
    let token = NumberOrString::String(token);
    let created = tokio::time::timeout(
        Duration::from_secs(10),
        client.create_work_done_progress(token.clone()),
    )
    .await;
    if !matches!(created, Ok(Ok(()))) {
        // The client refused the token: no progress on it (the spec says so).
        while rx.recv().await.is_some() {}
        return;
    }
    let send = |v: WorkDoneProgress| {
        let client = client.clone();
        let token = token.clone();
        async move {
            client
                .send_notification::<notification::Progress>(ProgressParams {
                    token,
                    value: ProgressParamsValue::WorkDone(v),
                })
                .await;
        }
    };
    send(WorkDoneProgress::Begin(WorkDoneProgressBegin {
        title,
        cancellable: Some(true),
        message: None,
        percentage: Some(0),
    }))
    .await;
    while let Some(m) = rx.recv().await {
        match m {
            ProgressMsg::Report { done, total } => {
                let pct = (done * 100).checked_div(total).unwrap_or(100).min(100) as u32;
                send(WorkDoneProgress::Report(WorkDoneProgressReport {
                    cancellable: Some(true),
                    message: Some(format!("{done}/{total} files")),
                    percentage: Some(pct),
                }))
                .await;
            }
            ProgressMsg::End => break,
        }
    }
    send(WorkDoneProgress::End(WorkDoneProgressEnd {
        message: Some("done".into()),
    }))
    .await;
}
