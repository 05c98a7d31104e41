//! `ferry conflicts`, `ferry resolve`, `ferry resync`, `ferry stop`: asked of the process
//! that owns the workspace (`ferry sync` or `ferry lsp`) through its control endpoint
//! ([`crate::engine::endpoint`]); with no owner, `conflicts` and `resolve` work on the
//! local folders themselves (under the workspace lock; the next sync sends the result).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::{json, Value};

use super::{Common, EXIT_FAILED, EXIT_LOCKED};
use crate::core::RelPath;
use crate::engine::endpoint;
use crate::engine::resolve::{conflicts_in, resolve_files, Keep, OpenConflict, Resolve};
use crate::state::lock::{LockError, WorkspaceLock};

fn state_dir(common: &Common) -> PathBuf {
    common.workspace().join(crate::state::STATE_DIR)
}

/// Prints the owner's error and fails.
fn failed(e: &str) -> ExitCode {
    eprintln!("ferry: {e}");
    ExitCode::from(EXIT_FAILED)
}

/// `ferry conflicts`: the open conflicts of every sync path.
pub(super) fn conflicts(common: &Common, json: bool) -> ExitCode {
    let listed = match endpoint::ask(&state_dir(common), "conflicts", Value::Null) {
        Ok(Some(v)) => v,
        Ok(None) => {
            // Nobody runs: the copies in the local folders say it.
            let cfg = match common.load() {
                Ok(c) => c,
                Err(code) => return code,
            };
            Value::Array(
                cfg.sync
                    .iter()
                    .enumerate()
                    .map(|(slot, s)| {
                        json!({
                            "slot": slot,
                            "name": s.name,
                            "localPath": s.local_path,
                            "conflicts": conflicts_in(&s.local_path),
                        })
                    })
                    .collect(),
            )
        }
        Err(e) => return failed(&e),
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&listed).unwrap_or_default()
        );
        return ExitCode::SUCCESS;
    }
    let mut any = false;
    for p in listed.as_array().into_iter().flatten() {
        let open: Vec<OpenConflict> =
            serde_json::from_value(p["conflicts"].clone()).unwrap_or_default();
        for c in open {
            any = true;
            let local = Path::new(p["localPath"].as_str().unwrap_or("")).join(&c.path);
            println!(
                "{} [{}]: both sides changed; the container's version is in {}",
                local.display(),
                p["name"].as_str().unwrap_or(""),
                c.copy
            );
        }
    }
    if !any {
        println!("no open conflicts");
    } else {
        println!("resolve with: ferry resolve PATH --keep local|container");
    }
    ExitCode::SUCCESS
}

/// `ferry resolve PATH --keep local|container`.
pub(super) fn resolve(common: &Common, path: &Path, keep: Keep) -> ExitCode {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let params = json!({ "path": abs, "keep": keep });
    let dir = state_dir(common);
    match endpoint::ask(&dir, "resolve", params) {
        Ok(Some(v)) => {
            println!("{}", v["done"].as_str().unwrap_or("resolved"));
            return ExitCode::SUCCESS;
        }
        Ok(None) => {}
        Err(e) => return failed(&e),
    }
    // Nobody runs: resolve in the local folder, holding the lock meanwhile.
    let cfg = match common.load() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let _lock = match WorkspaceLock::acquire(&dir, "ferry resolve") {
        Ok(l) => l,
        Err(e @ (LockError::Held(_) | LockError::HeldUnknown)) => {
            eprintln!("ferry: {e}");
            return ExitCode::from(EXIT_LOCKED);
        }
        Err(e) => return failed(&e.to_string()),
    };
    let Some((sync, rel)) = cfg.sync.iter().find_map(|s| {
        let rel = abs.strip_prefix(&s.local_path).ok()?;
        Some((s, RelPath::from_path(rel).ok()?))
    }) else {
        return failed(&format!(
            "{} is in no sync path's local folder (`ferry list` shows them)",
            abs.display()
        ));
    };
    let Some(open) = conflicts_in(&sync.local_path)
        .into_iter()
        .find(|c| c.path == rel.as_str())
    else {
        return failed(&format!(
            "{} has no open conflict (`ferry conflicts` lists them)",
            abs.display()
        ));
    };
    let Ok(copy) = RelPath::new(&open.copy) else {
        return failed(&format!("{}: a copy with an unusable name", open.copy));
    };
    let trash = crate::local::Trash::new(&dir);
    let r = Resolve {
        path: rel,
        keep,
        expect: Some(open.versions),
    };
    match resolve_files(&sync.local_path, &trash, &sync.name, &copy, &r) {
        Ok((done, upload)) => {
            println!("{done}");
            if !upload.is_empty() {
                println!("(the next `ferry sync` sends it to the container)");
            }
            ExitCode::SUCCESS
        }
        Err(e) => failed(&e),
    }
}

/// `ferry resync` / `ferry stop`: only an owner can.
pub(super) fn tell(common: &Common, method: &str) -> ExitCode {
    match endpoint::ask(&state_dir(common), method, Value::Null) {
        Ok(Some(_)) => ExitCode::SUCCESS,
        Ok(None) => failed(&format!(
            "no ferry sync or ferry lsp runs in {}; nothing to {method}",
            common.workspace().display()
        )),
        Err(e) => failed(&e),
    }
}
