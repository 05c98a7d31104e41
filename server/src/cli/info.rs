//! `ferry list`, `ferry status`, `ferry doctor`.

use std::process::ExitCode;

use serde_json::Value;

use super::{Common, EXIT_CONFIG, EXIT_FAILED};
use crate::engine::status::{now_ms, status_file, StatusReport};
use crate::state::lock::WorkspaceLock;
use crate::target::{describe_selector, KubeOverrides};

/// `ferry list`: the seed's `list sync`.
pub(super) fn list(common: &Common, json: bool) -> ExitCode {
    let cfg = match common.load() {
        Ok(c) => c,
        Err(code) => return code,
    };
    if json {
        match serde_json::to_string_pretty(&cfg.sync) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("ferry: {e}");
                return ExitCode::from(EXIT_FAILED);
            }
        }
        return ExitCode::SUCCESS;
    }
    let profiles = if cfg.profiles.is_empty() {
        String::new()
    } else {
        format!(
            " with profiles {}",
            cfg.profiles
                .iter()
                .map(|p| format!("{} ({})", p.name, p.reason))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    if cfg.sync.is_empty() {
        println!("{}{profiles}: no sync paths", cfg.file.display());
        return ExitCode::SUCCESS;
    }
    println!("sync paths of {}{profiles}:", cfg.file.display());
    for s in &cfg.sync {
        let patterns = |v: &[crate::config::Pattern]| {
            if v.is_empty() {
                "-".to_string()
            } else {
                v.iter()
                    .map(|p| p.text.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        println!();
        println!("  {}", s.name);
        println!("    local path:      {}", s.local_path.display());
        println!("    container path:  {}", s.container_path);
        println!("    selector:        {}", describe_selector(&s.target));
        println!(
            "    namespace:       {}",
            s.target.namespace.as_deref().unwrap_or("(the context's)")
        );
        println!(
            "    container:       {}",
            s.target
                .container
                .as_deref()
                .unwrap_or("(the selected image's, else the first)")
        );
        println!("    excluded:        {}", patterns(&s.excludes.both));
        println!("    upload-excluded: {}", patterns(&s.excludes.upload));
        println!("    download-excl.:  {}", patterns(&s.excludes.download));
        println!("    initial sync:    {}", s.initial_sync.config_name());
        let dirs = match (s.upload, s.download) {
            (true, true) => "both ways",
            (true, false) => "upload only",
            (false, true) => "download only",
            (false, false) => "none (both disabled)",
        };
        println!("    directions:      {dirs}");
        println!("    symlinks:        {}", s.symlinks.config_name());
        println!("    replicas:        {}", s.replicas.config_name());
    }
    ExitCode::SUCCESS
}

/// `ferry status`: the seed's `status sync`, from the status file the running sync keeps.
pub(super) fn status(common: &Common, json: bool) -> ExitCode {
    let state_dir = common.workspace().join(crate::state::STATE_DIR);
    let running = match WorkspaceLock::holder(&state_dir) {
        Ok(Some(Ok(owner))) => Some(owner.to_string()),
        Ok(Some(Err(()))) => Some("another ferry process".to_string()),
        Ok(None) | Err(_) => None,
    };
    // The owner's live report when it answers (the file may be up to 100 ms behind).
    let live = running
        .as_ref()
        .and_then(|_| crate::engine::endpoint::ask(&state_dir, "status", Value::Null).ok())
        .flatten()
        .and_then(|v| serde_json::from_value::<StatusReport>(v).ok());
    let report: Option<StatusReport> = live.or_else(|| {
        std::fs::read(status_file(&state_dir))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
    });
    if json {
        let v = serde_json::json!({ "running": running, "report": report });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return if running.is_some() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(EXIT_FAILED)
        };
    }
    match &running {
        Some(owner) => println!("synced by {owner}"),
        None => println!(
            "no ferry sync is running in {}",
            common.workspace().display()
        ),
    }
    let Some(report) = report else {
        println!("(no status recorded yet)");
        return if running.is_some() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(EXIT_FAILED)
        };
    };
    print!(
        "{}",
        super::status_text::render(&report, running.as_deref(), now_ms())
    );
    if running.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}

/// `ferry doctor`.
pub(super) async fn doctor(common: &Common, kube: KubeOverrides, json: bool) -> ExitCode {
    let report = crate::doctor::diagnose(
        &common.workspace(),
        common.config.as_deref(),
        &common.profiles(),
        &kube,
    )
    .await;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        print!("{}", report.render());
    }
    let config_broken = report
        .checks
        .iter()
        .any(|c| c.what == "config" && c.status == crate::doctor::CheckStatus::Error);
    if config_broken {
        ExitCode::from(EXIT_CONFIG)
    } else if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}
