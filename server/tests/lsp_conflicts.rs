//! Conflicts resolved where you edit (`ferry lsp`, docs/protocol.md "Problem kinds and
//! their resolutions"): files changed on both sides while nothing ran are conflicts
//! after the next start — the local version on both sides, the container's in a
//! `*.ferry-conflict-remote` copy, a diagnostic with `data`. Its code actions resolve it
//! through `ferry.server.resolve`: both sides get the kept version, the other one is in
//! the trash, the copy and the diagnostic are gone; a resolution whose versions are
//! stale is refused and changes nothing; a conflict still shows after a restart.

mod engine_support;
mod lsp_support;

use std::path::Path;
use std::time::Duration;

use engine_support::env_with_pod;
use engine_support::{check, wait_until, Env, Workspace};
use lsp_support::{blocking, file_uri, full, Lsp};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(60);

/// Every file's bytes under `dir`.
fn all_contents(dir: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(b) = std::fs::read(&p) {
                out.push(b);
            }
        }
    }
    out
}

/// The conflict diagnostic on `file` (waits for it).
fn conflict_diagnostic(lsp: &Lsp, file: &Path) -> Value {
    let d = blocking(|| {
        lsp.wait_diagnostics(
            &file_uri(file),
            "a conflict diagnostic",
            |d| d.iter().any(|d| d["data"]["kind"] == "conflict"),
            WAIT,
        )
    });
    d.into_iter()
        .find(|d| d["data"]["kind"] == "conflict")
        .unwrap()
}

/// The code actions offered on `diagnostic` of `file`.
fn code_actions(lsp: &Lsp, file: &Path, diagnostic: &Value) -> Vec<Value> {
    let r = blocking(|| {
        lsp.request(
            "textDocument/codeAction",
            json!({
                "textDocument": {"uri": file_uri(file)},
                "range": diagnostic["range"],
                "context": {"diagnostics": [diagnostic]},
            }),
        )
    });
    r.as_array().cloned().unwrap_or_default()
}

/// Runs a code action's command; returns the response (result or error).
fn run(lsp: &Lsp, action: &Value) -> Result<Value, String> {
    let cmd = &action["command"];
    blocking(|| {
        lsp.request_full(
            "workspace/executeCommand",
            json!({"command": cmd["command"], "arguments": cmd["arguments"]}),
            Duration::from_secs(60),
        )
    })
    .map_err(|e| e["message"].as_str().unwrap_or_default().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_are_resolved_by_code_actions_and_survive_a_restart() {
    let ns = "lsp-conflicts";
    let (env, ws) = env_with_pod(ns).await;
    for f in ["a", "b", "c"] {
        ws.write(&format!("src/{f}.txt"), format!("{f}: as synced\n"));
    }
    let kubeconfig = env.cluster.kubeconfig();
    ws.once_ok(&env, "the first sync");
    // Both sides change each file while nothing runs.
    for f in ["a", "b", "c"] {
        ws.write(&format!("src/{f}.txt"), format!("{f}: local edit\n"));
    }
    env.sh(
        "web",
        "for f in a b c; do echo \"$f: container edit\" > /app/$f.txt; done",
    )
    .await;

    let mut lsp = Lsp::start(&[ws.root()], &kubeconfig, full(), Value::Null);
    blocking(|| lsp.wait_watching(WAIT));
    let a = ws.path("src/a.txt");
    let d = conflict_diagnostic(&lsp, &a);
    assert_eq!(d["data"]["path"], "a.txt", "{d}");
    assert!(ws.path("src/a.txt.ferry-conflict-remote").is_file());
    let actions = code_actions(&lsp, &a, &d);
    let titles: Vec<&str> = actions.iter().filter_map(|a| a["title"].as_str()).collect();
    assert_eq!(actions.len(), 2, "{actions:?}");
    assert!(titles[0].contains("Keep my version"), "{titles:?}");
    assert!(
        titles[1].contains("Take the container's version"),
        "{titles:?}"
    );
    for a in &actions {
        assert_eq!(a["kind"], "quickfix", "{a}");
    }

    // A stale action (the local file changed since it was offered) is refused.
    ws.write("src/a.txt", "a: local edit, again\n");
    let refused = run(&lsp, &actions[0]);
    let e = refused.expect_err("a stale resolution is refused");
    assert!(e.contains("changed since you looked"), "{e}");
    assert_eq!(
        ws.read("src/a.txt").as_deref(),
        Some(&b"a: local edit, again\n"[..])
    );
    assert!(
        ws.path("src/a.txt.ferry-conflict-remote").is_file(),
        "nothing moved"
    );

    // Fresh actions: keep mine.
    wait_until("the newer local edit in the container", &lsp, || async {
        let c = env.read("web", "/app/a.txt").await;
        check(c.as_deref() == Some(b"a: local edit, again\n"), || {
            format!("{c:?}")
        })
    })
    .await;
    let actions = code_actions(&lsp, &a, &d);
    let done = run(&lsp, &actions[0]).expect("keep my version");
    assert!(done["done"].as_str().is_some(), "{done}");
    assert!(!ws.path("src/a.txt.ferry-conflict-remote").exists());
    assert_eq!(
        env.read("web", "/app/a.txt").await.as_deref(),
        Some(&b"a: local edit, again\n"[..])
    );
    let trash = all_contents(&ws.path(".ferry/trash"));
    assert!(
        trash.iter().any(|t| t == b"a: container edit\n"),
        "the container's version is in the trash"
    );
    blocking(|| {
        lsp.wait_diagnostics(
            &file_uri(&a),
            "a.txt's conflict cleared",
            |d| d.iter().all(|d| d["data"]["kind"] != "conflict"),
            WAIT,
        )
    });

    // b: take the container's version.
    let b = ws.path("src/b.txt");
    let d = conflict_diagnostic(&lsp, &b);
    let actions = code_actions(&lsp, &b, &d);
    run(&lsp, &actions[1]).expect("take the container's version");
    assert_eq!(
        ws.read("src/b.txt").as_deref(),
        Some(&b"b: container edit\n"[..])
    );
    assert!(!ws.path("src/b.txt.ferry-conflict-remote").exists());
    wait_until("the container's version on both sides", &lsp, || async {
        let c = env.read("web", "/app/b.txt").await;
        check(c.as_deref() == Some(b"b: container edit\n"), || {
            format!("{c:?}")
        })
    })
    .await;
    let trash = all_contents(&ws.path(".ferry/trash"));
    assert!(
        trash.iter().any(|t| t == b"b: local edit\n"),
        "the local version is in the trash"
    );
    let status = blocking(|| {
        lsp.wait_notification("ferry/status", |s| s["paths"][0]["problemCount"] == 1, WAIT)
    });
    assert_eq!(
        status["paths"][0]["problems"][0]["path"], "c.txt",
        "{status}"
    );

    // c is still open after a restart of the server — this time for a client that runs
    // `ferry.compareWithContainer` itself, which is offered a third action.
    blocking(|| lsp.shutdown_and_exit());
    let mut caps = full();
    caps["experimental"] = json!({"ferry": {"clientCommands": ["ferry.compareWithContainer"]}});
    let mut lsp = Lsp::start(&[ws.root()], &kubeconfig, caps, Value::Null);
    blocking(|| lsp.wait_watching(WAIT));
    let c = ws.path("src/c.txt");
    let d = conflict_diagnostic(&lsp, &c);
    assert_eq!(d["data"]["path"], "c.txt");
    let actions = code_actions(&lsp, &c, &d);
    assert_eq!(actions.len(), 3, "{actions:?}");
    let compare = &actions[2];
    assert!(
        compare["title"]
            .as_str()
            .is_some_and(|t| t.contains("Compare with the container's version")),
        "{compare}"
    );
    assert_eq!(compare["command"]["command"], "ferry.compareWithContainer");
    assert_eq!(
        compare["command"]["arguments"][0],
        json!({"folder": d["data"]["folder"], "slot": 0, "path": "c.txt"})
    );
    let listed = blocking(|| lsp.command("ferry.server.conflicts", vec![]));
    let open = &listed[0]["conflicts"];
    assert_eq!(open.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(open[0]["path"], "c.txt", "{listed}");
    assert_eq!(open[0]["copy"], "c.txt.ferry-conflict-remote", "{listed}");
    assert!(open[0]["versions"]["local"]["sha256"]
        .as_str()
        .is_some_and(|h| h.starts_with("sha256:")));

    // The container's current version, fetched for a diff view.
    env.sh("web", "echo 'c: newer in the container' > /app/c.txt")
        .await;
    let fetched = blocking(|| {
        lsp.command(
            "ferry.server.containerVersion",
            vec![json!({"folder": file_uri(ws.root()), "slot": 0, "path": "c.txt"})],
        )
    });
    let at = std::path::PathBuf::from(fetched["path"].as_str().unwrap_or_default());
    assert!(at.starts_with(ws.path(".ferry/compare")), "{fetched}");
    assert_eq!(
        std::fs::read(&at).ok(),
        env.read("web", "/app/c.txt").await,
        "the container's bytes"
    );
    blocking(|| lsp.shutdown_and_exit());
}

/// What `ferry ARGS` printed, and whether it succeeded.
fn ferry(ws: &Workspace, env: &Env, args: &[&str]) -> (String, bool) {
    let out = ws.ferry(&env.cluster.kubeconfig(), args);
    (engine_support::printed(&out), out.status.success())
}

/// The command line talks to the running owner: `ferry conflicts` and `ferry resolve`
/// while `ferry lsp` owns the folder (the editor sees the diagnostic go), the same with
/// nobody running (in the local folder; the next sync sends it), `ferry status` from the
/// owner, and `ferry stop` ending a `ferry sync`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_resolves_with_whoever_owns_the_folder() {
    let ns = "lsp-conflicts-cli";
    let (env, ws) = env_with_pod(ns).await;
    for f in ["d", "e"] {
        ws.write(&format!("src/{f}.txt"), format!("{f}: as synced\n"));
    }
    let kubeconfig = env.cluster.kubeconfig();
    ws.once_ok(&env, "the first sync");
    for f in ["d", "e"] {
        ws.write(&format!("src/{f}.txt"), format!("{f}: local edit\n"));
    }
    env.sh(
        "web",
        "for f in d e; do echo \"$f: container edit\" > /app/$f.txt; done",
    )
    .await;
    let mut lsp = Lsp::start(&[ws.root()], &kubeconfig, full(), Value::Null);
    blocking(|| lsp.wait_watching(WAIT));
    let d = ws.path("src/d.txt");
    conflict_diagnostic(&lsp, &d);

    // While ferry lsp owns the folder.
    let (text, ok) = ferry(&ws, &env, &["conflicts", "--json"]);
    assert!(ok, "{text}");
    assert!(
        text.contains("\"d.txt\"") && text.contains("\"e.txt\""),
        "{text}"
    );
    let (text, ok) = ferry(&ws, &env, &["status"]);
    assert!(ok && text.contains("synced by ferry lsp"), "{text}");
    assert!(
        text.contains("d.txt (conflict)"),
        "the owner's live status: {text}"
    );
    let path = d.display().to_string();
    let (text, ok) = ferry(&ws, &env, &["resolve", &path, "--keep", "container"]);
    assert!(ok, "{text}");
    assert!(text.contains("took the container's version"), "{text}");
    assert_eq!(
        ws.read("src/d.txt").as_deref(),
        Some(&b"d: container edit\n"[..])
    );
    wait_until("the container's d.txt on both sides", &lsp, || async {
        let c = env.read("web", "/app/d.txt").await;
        check(c.as_deref() == Some(b"d: container edit\n"), || {
            format!("{c:?}")
        })
    })
    .await;
    blocking(|| {
        lsp.wait_diagnostics(
            &file_uri(&d),
            "d.txt's conflict cleared in the editor",
            |ds| ds.iter().all(|x| x["data"]["kind"] != "conflict"),
            WAIT,
        )
    });
    // A resolution of what is not a conflict is refused.
    let (text, ok) = ferry(&ws, &env, &["resolve", &path, "--keep", "local"]);
    assert!(!ok && text.contains("no open conflict"), "{text}");
    blocking(|| lsp.shutdown_and_exit());

    // Nobody runs.
    let (text, ok) = ferry(&ws, &env, &["conflicts"]);
    assert!(ok, "{text}");
    assert!(
        text.contains("e.txt") && !text.contains("d.txt ["),
        "{text}"
    );
    let e = ws.path("src/e.txt").display().to_string();
    let (text, ok) = ferry(&ws, &env, &["resolve", &e, "--keep", "local"]);
    assert!(ok, "{text}");
    assert!(!ws.path("src/e.txt.ferry-conflict-remote").exists());
    assert_eq!(
        ws.read("src/e.txt").as_deref(),
        Some(&b"e: local edit\n"[..])
    );
    let trash = all_contents(&ws.path(".ferry/trash"));
    assert!(
        trash.iter().any(|t| t == b"e: container edit\n"),
        "in the trash"
    );
    let (text, ok) = ferry(&ws, &env, &["conflicts"]);
    assert!(ok && text.contains("no open conflicts"), "{text}");
    let (text, ok) = ferry(&ws, &env, &["stop"]);
    assert!(!ok && text.contains("nothing to stop"), "{text}");

    // ferry stop ends a running ferry sync.
    let mut sync = ws.sync(&kubeconfig);
    ws.wait_watching(&kubeconfig, WAIT);
    let (text, ok) = ferry(&ws, &env, &["stop"]);
    assert!(ok, "{text}");
    let exit = sync
        .wait_exit(WAIT)
        .expect("ferry sync ended after ferry stop");
    assert!(exit.success(), "{exit}\n{}", sync.output());
}

/// Files the container has newer at the first sync (`remoteNewer`: kept local, not
/// overwritten) get the same two code actions: taking the container's version downloads
/// it (the local one to the trash), keeping mine uploads it (the container's to the
/// trash); a stale one is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_newer_files_are_resolved_by_code_actions() {
    let ns = "lsp-remote-newer";
    let (env, ws) = env_with_pod(ns).await;
    let old = std::time::SystemTime::now() - Duration::from_secs(3600);
    for f in ["r", "s"] {
        ws.write(&format!("src/{f}.txt"), format!("{f}: older local\n"));
        std::fs::File::options()
            .write(true)
            .open(ws.path(&format!("src/{f}.txt")))
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
    env.sh(
        "web",
        "for f in r s; do echo \"$f: newer in the container\" > /app/$f.txt; done",
    )
    .await;
    let kubeconfig = env.cluster.kubeconfig();
    let mut lsp = Lsp::start(&[ws.root()], &kubeconfig, full(), Value::Null);
    blocking(|| lsp.wait_watching(WAIT));
    let newer = |file: &Path| {
        let d = blocking(|| {
            lsp.wait_diagnostics(
                &file_uri(file),
                "a remoteNewer diagnostic",
                |d| d.iter().any(|d| d["data"]["kind"] == "remoteNewer"),
                WAIT,
            )
        });
        d.into_iter()
            .find(|d| d["data"]["kind"] == "remoteNewer")
            .unwrap()
    };
    let r = ws.path("src/r.txt");
    let d = newer(&r);
    let actions = code_actions(&lsp, &r, &d);
    assert_eq!(actions.len(), 2, "{actions:?}");
    // Stale: the container's version changed since.
    env.sh("web", "echo 'r: newer still' > /app/r.txt").await;
    let e = run(&lsp, &actions[1]).expect_err("stale");
    assert!(e.contains("changed since you looked"), "{e}");
    assert_eq!(
        ws.read("src/r.txt").as_deref(),
        Some(&b"r: older local\n"[..])
    );
    let actions = code_actions(&lsp, &r, &d);
    run(&lsp, &actions[1]).expect("take the container's version");
    assert_eq!(
        ws.read("src/r.txt").as_deref(),
        Some(&b"r: newer still\n"[..])
    );
    let trash = all_contents(&ws.path(".ferry/trash"));
    assert!(
        trash.iter().any(|t| t == b"r: older local\n"),
        "local in the trash"
    );

    let s = ws.path("src/s.txt");
    let d = newer(&s);
    let actions = code_actions(&lsp, &s, &d);
    run(&lsp, &actions[0]).expect("keep my version");
    assert_eq!(
        env.read("web", "/app/s.txt").await.as_deref(),
        Some(&b"s: older local\n"[..])
    );
    let trash = all_contents(&ws.path(".ferry/trash"));
    assert!(
        trash.iter().any(|t| t == b"s: newer in the container\n"),
        "the container's version in the trash"
    );
    let status = blocking(|| {
        lsp.wait_notification("ferry/status", |s| s["paths"][0]["problemCount"] == 0, WAIT)
    });
    assert_eq!(status["paths"][0]["problems"], json!([]), "{status}");
    blocking(|| lsp.shutdown_and_exit());
}
