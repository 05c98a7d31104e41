//! `ferry lsp` end to end: the real binary as a stdio Language Server, driven by a small
//! test client (`lsp_support`), against busybox pods in a local cluster (exec v5), one
//! cluster per test. Checked against `docs/protocol.md`:
//!
//! - `initialize`: the documented capabilities; `ferry/status` goes connecting →
//!   initialSync → watching, with work-done progress (create, begin, end) for the
//!   initial sync; the workspace configuration is asked for and a file watcher is
//!   registered;
//! - `textDocument/didSave` uploads the file; a container-side write arrives locally;
//! - a broken config is a diagnostic at its line, cleared when the file is fixed;
//! - the `profile` setting: an unknown profile is a diagnostic, the right one (pushed with
//!   `didChangeConfiguration`) syncs the profile's folder;
//! - a read-only root-owned file in the container is a diagnostic on the file, cleared
//!   by ferry's own retry once it is made writable;
//! - a Deployment's pod replaced: state `error`, then `watching` on the new pod;
//! - `workspace/executeCommand` `ferry.server.status|list|doctor|log` payloads;
//! - `shutdown` + `exit`: the process is gone within 2 s;
//! - stdout is nothing but framed JSON-RPC even with trace logging, through an error and
//!   reconnects;
//! - a client with minimal capabilities still syncs (the server's own watcher), with no
//!   progress and no progress tokens;
//! - a folder without a config is `noConfig`, with no error diagnostics;
//! - dropped exec streams (the pod stays): ferry reconnects and syncs on;
//! - stderr logs at `warn` unless `logLevel` or `FERRY_LOG` says otherwise;
//! - the stdout checker itself flags every kind of pollution.
//!
//! Timing is never asserted, except the 2 s for `shutdown` + `exit`; waits are generous
//! polls.

mod engine_support;
mod lsp_support;

use std::path::Path;
use std::time::{Duration, Instant};

use engine_support::env_with_pod;
use engine_support::{
    check, noise, ready_pod, sh_as, wait_until, web_deployment, Env, Exec, Workspace,
};
use ferry_testkit::PodBuilder;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams};
use lsp_support::{all_watching, blocking, file_uri, full, minimal, parse_stream, same_uri, Lsp};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(60);

/// The eleven documented commands.
const COMMANDS: [&str; 11] = [
    "ferry.server.start",
    "ferry.server.stop",
    "ferry.server.restart",
    "ferry.server.resync",
    "ferry.server.status",
    "ferry.server.list",
    "ferry.server.doctor",
    "ferry.server.log",
    "ferry.server.conflicts",
    "ferry.server.resolve",
    "ferry.server.containerVersion",
];

// --- helpers ----------------------------------------------------------------------

/// The states the first sync path went through, consecutive repeats collapsed.
fn path_states(statuses: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in statuses {
        if let Some(state) = s["paths"][0]["state"].as_str() {
            if out.last().map(String::as_str) != Some(state) {
                out.push(state.to_string());
            }
        }
    }
    out
}

/// Whether `want` appears in `seq` in order (not necessarily adjacent).
fn in_order(seq: &[String], want: &[&str]) -> bool {
    let mut it = seq.iter();
    want.iter().all(|w| it.any(|s| s == w))
}

// --- 1. initialize, status sequence, progress ---------------------------------------

/// `initialize` answers the documented capabilities; after `initialized` the server
/// asks for the `ferry` configuration and registers a `**/*` file watcher (the client
/// supports both); `ferry/status` goes connecting → initialSync → watching with folder
/// state `syncing`; the initial sync is reported as work-done progress on a token the
/// server created (`ferry/initialSync/<n>`): begin (title), reports (if any: `DONE/TOTAL
/// files`, percentage), end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initialize_then_status_connecting_initial_sync_watching_with_progress() {
    let (env, ws) = env_with_pod("lsp-init").await;
    // A slow link, so that each state lasts well beyond the ~100 ms status coalescing:
    // 150 ms one way (connecting needs round trips into the container), and 150 files
    // of incompressible 4 KiB at 300 KB/s (~2 s of initial sync).
    for i in 0..150u64 {
        ws.write(&format!("src/d{}/f{i:03}.bin", i % 5), noise(i, 4096));
    }
    env.control
        .set_shaping(150, 300_000)
        .await
        .expect("shaping on");
    let kubeconfig = env.cluster.kubeconfig();
    let lsp = Lsp::start(&[ws.root()], &kubeconfig, full(), Value::Null);

    // The capabilities.
    let caps = &lsp.init_result["capabilities"];
    let sync = &caps["textDocumentSync"];
    assert!(
        sync["save"] == json!({"includeText": false})
            || sync["save"]["includeText"] == json!(false),
        "textDocumentSync.save = {{includeText: false}}: {caps}"
    );
    assert_ne!(
        sync["openClose"],
        json!(true),
        "no open/close events: {caps}"
    );
    assert!(
        sync["change"].is_null() || sync["change"] == json!(0),
        "no change events: {caps}"
    );
    assert_eq!(
        caps["workspace"]["workspaceFolders"]["supported"],
        json!(true),
        "{caps}"
    );
    let change = &caps["workspace"]["workspaceFolders"]["changeNotifications"];
    assert!(
        change == &json!(true) || change.is_string(),
        "workspace folder change notifications: {caps}"
    );
    let commands: Vec<&str> = caps["executeCommandProvider"]["commands"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for c in COMMANDS {
        assert!(commands.contains(&c), "command {c} offered: {caps}");
    }
    assert_eq!(commands.len(), COMMANDS.len(), "no other command: {caps}");
    assert_eq!(
        caps["codeActionProvider"]["codeActionKinds"],
        json!(["quickfix"]),
        "{caps}"
    );
    assert_eq!(
        caps["experimental"]["ferry"],
        json!({"statusNotification": true, "protocolVersion": 1}),
        "{caps}"
    );

    let watching = blocking(|| lsp.wait_watching(WAIT));
    env.control.set_shaping(0, 0).await.expect("shaping off");
    eprintln!("watching: {watching}");
    assert_eq!(watching["version"], 1, "{watching}");
    assert_eq!(watching["paths"][0]["name"], "web", "{watching}");
    assert_eq!(watching["paths"][0]["pod"], "web", "{watching}");
    let folders = watching["folders"].as_array().cloned().unwrap_or_default();
    assert_eq!(folders.len(), 1, "one folder: {watching}");
    assert!(
        same_uri(
            folders[0]["uri"].as_str().unwrap_or(""),
            &file_uri(ws.root())
        ),
        "folder uri: {watching}"
    );
    assert_eq!(folders[0]["state"], "syncing", "{watching}");

    let states = path_states(&lsp.statuses());
    eprintln!("states: {states:?}");
    assert!(
        in_order(&states, &["connecting", "initialSync", "watching"]),
        "ferry/status goes connecting → initialSync → watching: {states:?}\n{}",
        lsp.context()
    );

    // The progress: a token created by the server, begin … end.
    let end =
        blocking(|| lsp.wait_notification("$/progress", |p| p["value"]["kind"] == "end", WAIT));
    let token = end["token"].clone();
    assert!(
        token
            .as_str()
            .is_some_and(|t| t.starts_with("ferry/initialSync/")),
        "token ferry/initialSync/<n>: {end}"
    );
    let creates = lsp.received("window/workDoneProgress/create", true);
    let create = creates
        .iter()
        .find(|c| c.params["token"] == token)
        .unwrap_or_else(|| panic!("the token {token} was created first: {creates:?}"));
    let progress: Vec<_> = lsp
        .received("$/progress", false)
        .into_iter()
        .filter(|p| p.params["token"] == token)
        .collect();
    let kinds: Vec<&str> = progress
        .iter()
        .map(|p| p.params["value"]["kind"].as_str().unwrap_or("?"))
        .collect();
    eprintln!("progress on {token}: {kinds:?}");
    assert_eq!(kinds.first(), Some(&"begin"), "begin first: {kinds:?}");
    assert_eq!(kinds.last(), Some(&"end"), "end last: {kinds:?}");
    assert_eq!(
        kinds.iter().filter(|k| **k == "begin").count(),
        1,
        "one begin: {kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "end").count(),
        1,
        "one end: {kinds:?}"
    );
    assert!(
        kinds[1..kinds.len() - 1].iter().all(|k| *k == "report"),
        "reports in between: {kinds:?}"
    );
    assert!(
        create.seq < progress[0].seq,
        "create before the first $/progress"
    );
    assert_eq!(
        progress[0].params["value"]["title"], "ferry: initial sync of web",
        "{}",
        progress[0].params
    );
    for r in progress
        .iter()
        .filter(|p| p.params["value"]["kind"] == "report")
    {
        let v = &r.params["value"];
        eprintln!("report: {v}");
        let ok = v["message"].as_str().is_some_and(|m| {
            m.strip_suffix(" files")
                .and_then(|n| n.split_once('/'))
                .is_some_and(|(a, b)| a.parse::<u64>().is_ok() && b.parse::<u64>().is_ok())
        });
        assert!(ok, "report message DONE/TOTAL files: {v}");
        assert!(
            v["percentage"].as_u64().is_some_and(|p| p <= 100),
            "percentage 0..=100: {v}"
        );
    }

    // The configuration was asked for (section `ferry`), a `**/*` watcher registered.
    let config_requests = lsp.server_requests("workspace/configuration");
    assert!(
        config_requests.iter().any(|p| p["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|i| i["section"] == "ferry"))),
        "workspace/configuration for section ferry: {config_requests:?}"
    );
    let registrations = lsp.server_requests("client/registerCapability");
    let watcher = registrations
        .iter()
        .flat_map(|p| p["registrations"].as_array().cloned().unwrap_or_default())
        .find(|r| r["method"] == "workspace/didChangeWatchedFiles");
    let watcher = watcher
        .unwrap_or_else(|| panic!("a didChangeWatchedFiles registration: {registrations:?}"));
    let globs: Vec<String> = watcher["registerOptions"]["watchers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|w| {
            let g = &w["globPattern"];
            g.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| g["pattern"].as_str().unwrap_or("").to_string())
        })
        .collect();
    assert!(
        globs.iter().any(|g| g == "**/*"),
        "a **/* watcher: {watcher}"
    );

    // Everything arrived.
    let probe = env.read("web", "/app/d3/f148.bin").await;
    assert_eq!(probe.as_deref(), Some(&noise(148, 4096)[..]), "uploaded");
    let mut lsp = lsp;
    blocking(|| lsp.shutdown_and_exit());
    lsp.assert_clean_stdout();
}

// --- 2. save → container, container → local ----------------------------------------

/// A local edit followed by `textDocument/didSave` arrives in the container (checked
/// through the control interface); a file written in the container arrives locally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn did_save_uploads_and_container_write_arrives_locally() {
    let (env, ws) = env_with_pod("lsp-save").await;
    ws.write("src/a.txt", "alpha\n");
    let kubeconfig = env.cluster.kubeconfig();
    let mut lsp = Lsp::start(&[ws.root()], &kubeconfig, full(), Value::Null);
    blocking(|| lsp.wait_watching(WAIT));
    wait_until("a.txt in the container", &lsp, || async {
        let c = env.read("web", "/app/a.txt").await;
        check(c.as_deref() == Some(b"alpha\n"), || format!("{c:?}"))
    })
    .await;

    // Edit + save.
    ws.write("src/a.txt", "alpha, edited in the editor\n");
    let saved = Instant::now();
    lsp.did_save(&ws.path("src/a.txt"));
    wait_until("the saved edit in the container", &lsp, || async {
        let c = env.read("web", "/app/a.txt").await;
        check(
            c.as_deref() == Some(b"alpha, edited in the editor\n"),
            || {
                format!(
                    "container has {:?}",
                    c.map(|c| String::from_utf8_lossy(&c).into_owned())
                )
            },
        )
    })
    .await;
    eprintln!("didSave → in the container: {:?}", saved.elapsed());

    // Container → local.
    let wrote = Instant::now();
    env.sh(
        "web",
        "mkdir -p /app/gen && echo from-pod > /app/gen/from-pod.txt",
    )
    .await;
    wait_until("the container's file locally", &lsp, || async {
        let c = ws.read("src/gen/from-pod.txt");
        check(c.as_deref() == Some(b"from-pod\n"), || format!("{c:?}"))
    })
    .await;
    eprintln!("container write → local: {:?}", wrote.elapsed());
    // Both uploads are counted (the initial one and the saved edit).
    blocking(|| {
        lsp.wait_notification(
            "ferry/status",
            |s| s["paths"][0]["uploaded"].as_u64().unwrap_or(0) >= 2,
            WAIT,
        )
    });
    blocking(|| lsp.shutdown_and_exit());
    lsp.assert_clean_stdout();
}

// --- 3. config diagnostics -------------------------------------------------------------

/// `initialSync: sideways` is an error diagnostic (source `ferry`) on the config file at
/// its line (0-based: line 9 of `devspace.yaml`), the folder is `configError`; when the
/// file is fixed on disk, the server (watching its config files) publishes an empty list
/// and the sync path reaches `watching`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_config_is_a_diagnostic_at_its_line_and_fixing_it_clears_it() {
    let (env, ws) = env_with_pod("lsp-config").await;
    // Lines (1-based): 1 version, 2 name, 3 dev, 4 web, 5 labelSelector, 6 app,
    // 7 namespace, 8 sync, 9 - path, 10 initialSync.
    ws.devspace(
        "web",
        "lsp-config",
        "src",
        "/app",
        "      initialSync: sideways",
    );
    let yaml = String::from_utf8(ws.read("devspace.yaml").unwrap()).unwrap();
    assert_eq!(
        yaml.lines().nth(9),
        Some("      initialSync: sideways"),
        "{yaml}"
    );
    ws.write("src/a.txt", "alpha\n");
    let config_uri = file_uri(&ws.path("devspace.yaml"));
    let kubeconfig = env.cluster.kubeconfig();
    let mut lsp = Lsp::start(&[ws.root()], &kubeconfig, full(), Value::Null);

    let diags = blocking(|| {
        lsp.wait_diagnostics(&config_uri, "an error diagnostic", |d| !d.is_empty(), WAIT)
    });
    eprintln!("config diagnostics: {}", Value::Array(diags.clone()));
    let d = diags
        .iter()
        .find(|d| d["severity"] == 1)
        .unwrap_or_else(|| panic!("an Error diagnostic: {diags:?}"));
    assert_eq!(d["source"], "ferry", "{d}");
    assert_eq!(
        d["range"]["start"]["line"], 9,
        "0-based line of the value: {d}"
    );
    assert_eq!(
        d["range"]["start"]["character"], 19,
        "0-based column of the value: {d}"
    );
    let msg = d["message"].as_str().unwrap_or("");
    assert!(
        msg.contains("initialSync") && msg.contains("sideways"),
        "the message names the field and the value: {msg}"
    );
    let status = blocking(|| {
        lsp.wait_notification(
            "ferry/status",
            |s| s["folders"][0]["state"] == "configError",
            WAIT,
        )
    });
    assert!(
        status["paths"].as_array().is_none_or(|p| p.is_empty()),
        "nothing syncs with a broken config: {status}"
    );
    assert!(
        env.read("web", "/app/a.txt").await.is_none(),
        "nothing was synced"
    );

    // Fix the file on disk (no editor event: the server watches its config files).
    let mark = lsp.mark();
    ws.devspace("web", "lsp-config", "src", "/app", "");
    let cleared = blocking(|| wait_cleared_since(&lsp, mark, &config_uri));
    eprintln!("cleared: {cleared}");
    let watching = blocking(|| lsp.wait_status_since(mark, all_watching, WAIT));
    assert_eq!(watching["folders"][0]["state"], "syncing", "{watching}");
    wait_until("a.txt in the container", &lsp, || async {
        let c = env.read("web", "/app/a.txt").await;
        check(c.as_deref() == Some(b"alpha\n"), || format!("{c:?}"))
    })
    .await;
    assert_eq!(
        lsp.diagnostics_for(&config_uri),
        Some(vec![]),
        "still clear"
    );
    blocking(|| lsp.shutdown_and_exit());
    lsp.assert_clean_stdout();
}

/// Waits for the diagnostics of `uri` to be published empty after `mark`.
fn wait_cleared_since(lsp: &Lsp, mark: u64, uri: &str) -> Value {
    lsp.wait_notification_since(
        mark,
        "textDocument/publishDiagnostics",
        |p| {
            p["uri"].as_str().is_some_and(|u| same_uri(u, uri))
                && p["diagnostics"].as_array().is_some_and(|d| d.is_empty())
        },
        WAIT,
    )
}

/// The `profile` setting: an unknown profile is an Error diagnostic on `profiles:` that
/// names the file's profiles, nothing syncs; set right (pushed with
/// `didChangeConfiguration`), the diagnostic clears and the profile's folder is synced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_profile_setting_chooses_the_profile_and_an_unknown_one_is_a_diagnostic() {
    let (env, ws) = env_with_pod("lsp-profile").await;
    ws.devspace("web", "lsp-profile", "src", "/app", "");
    let mut yaml = String::from_utf8(ws.read("devspace.yaml").unwrap()).unwrap();
    let profiles_line = yaml.lines().count();
    yaml.push_str(
        "profiles:\n- name: alt\n  patches:\n  - op: replace\n    path: dev.web.sync[0].path\n    value: ./src:/alt\n",
    );
    ws.write("devspace.yaml", &yaml);
    ws.write("src/a.txt", "alpha\n");
    let config_uri = file_uri(&ws.path("devspace.yaml"));
    let kubeconfig = env.cluster.kubeconfig();
    let mut lsp = Lsp::start(
        &[ws.root()],
        &kubeconfig,
        minimal(),
        serde_json::json!({"profile": "atl"}),
    );
    let diags = blocking(|| {
        lsp.wait_diagnostics(&config_uri, "an error diagnostic", |d| !d.is_empty(), WAIT)
    });
    let d = diags
        .iter()
        .find(|d| d["severity"] == 1)
        .unwrap_or_else(|| panic!("an Error diagnostic: {diags:?}"));
    let msg = d["message"].as_str().unwrap_or("");
    assert!(
        msg.contains("no profile `atl`") && msg.contains("`alt`"),
        "{d}"
    );
    assert_eq!(
        d["range"]["start"]["line"], profiles_line,
        "on `profiles:`: {d}"
    );
    assert!(
        env.read("web", "/app/a.txt").await.is_none(),
        "nothing was synced"
    );

    let mark = lsp.mark();
    lsp.notify(
        "workspace/didChangeConfiguration",
        serde_json::json!({"settings": {"ferry": {"profile": ["alt"]}}}),
    );
    blocking(|| wait_cleared_since(&lsp, mark, &config_uri));
    wait_until("a.txt in the profile's folder", &lsp, || async {
        let c = env.read("web", "/alt/a.txt").await;
        check(c.as_deref() == Some(b"alpha\n"), || format!("{c:?}"))
    })
    .await;
    assert!(
        env.read("web", "/app/a.txt").await.is_none(),
        "not in the base config's folder"
    );
    blocking(|| lsp.shutdown_and_exit());
    lsp.assert_clean_stdout();
}

// --- 4. per-file diagnostics: a read-only file in the container ----------------------

/// A root-owned read-only file in the container (pod as uid 1000, target in an
/// `emptyDir`) whose local version differs: an Error diagnostic (source `ferry`, line 0)
/// on that file's URI while everything else syncs; made writable in the container, it is
/// uploaded by ferry's own retry and the diagnostic is cleared (same process, no command).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_file_in_container_is_a_diagnostic_cleared_by_the_retry() {
    let env = Env::start("lsp-ro", Exec::V5).await;
    env.pod(
        &PodBuilder::new("web", "busybox")
            .user(1000)
            .empty_dir("data", "/data", None),
    )
    .await;
    let ws = Workspace::new();
    ws.devspace("web", "lsp-ro", "src", "/data", "");
    ws.write("src/locked.txt", "local version\n");
    ws.write("src/a.txt", "alpha\n");
    env.sh(
        "web",
        "echo x > /data/locked.txt && chown 0:0 /data/locked.txt && chmod 644 /data/locked.txt \
         && touch -d @1600000000 /data/locked.txt",
    )
    .await;
    assert_eq!(
        sh_as(
            &env,
            "web",
            "1000:1000",
            "test -w /data/locked.txt && echo w || echo ro"
        )
        .await,
        "ro\n",
        "the file is read-only for the container user"
    );
    let locked_uri = file_uri(&ws.path("src/locked.txt"));
    let kubeconfig = env.cluster.kubeconfig();
    let mut lsp = Lsp::start(&[ws.root()], &kubeconfig, full(), Value::Null);
    let pid = lsp.pid();

    let diags = blocking(|| {
        lsp.wait_diagnostics(
            &locked_uri,
            "a diagnostic on locked.txt",
            |d| !d.is_empty(),
            WAIT,
        )
    });
    eprintln!("locked.txt: {}", Value::Array(diags.clone()));
    assert_eq!(diags.len(), 1, "one diagnostic: {diags:?}");
    let d = &diags[0];
    assert_eq!(d["severity"], 1, "Error: {d}");
    assert_eq!(d["source"], "ferry", "{d}");
    assert_eq!(d["range"]["start"]["line"], 0, "line 1: {d}");
    assert!(
        d["message"].as_str().unwrap_or("").contains("read-only"),
        "the message is the problem's: {d}"
    );
    wait_until("a.txt synced meanwhile", &lsp, || async {
        let c = env.read("web", "/data/a.txt").await;
        check(c.as_deref() == Some(b"alpha\n"), || format!("{c:?}"))
    })
    .await;
    let status = lsp.latest_status().unwrap();
    assert_eq!(status["paths"][0]["problemCount"], 1, "{status}");
    assert_eq!(
        status["paths"][0]["problems"][0]["path"], "locked.txt",
        "{status}"
    );
    assert_eq!(env.read("web", "/data/locked.txt").await.unwrap(), b"x\n");

    // Fix it in the container; ferry's retry uploads it, the diagnostic goes.
    let fixed = lsp.mark();
    env.sh("web", "chmod 666 /data/locked.txt").await;
    blocking(|| {
        lsp.wait_diagnostics(
            &locked_uri,
            "the diagnostic cleared",
            |d| d.is_empty(),
            WAIT,
        )
    });
    wait_until("locked.txt uploaded", &lsp, || async {
        let c = env.read("web", "/data/locked.txt").await;
        check(c.as_deref() == Some(b"local version\n"), || {
            format!("{c:?}")
        })
    })
    .await;
    assert!(!lsp.exited(), "the same process");
    assert_eq!(lsp.pid(), pid);
    let status = blocking(|| {
        lsp.wait_status_since(
            fixed,
            |s| s["paths"][0]["problemCount"] == 0 && s["health"] == "ok",
            WAIT,
        )
    });
    assert_eq!(status["pid"], pid, "{status}");
    assert!(
        lsp.received("workspace/executeCommand", true).is_empty(),
        "no command involved"
    );
    blocking(|| lsp.shutdown_and_exit());
    lsp.assert_clean_stdout();
}

// --- 5. pod replaced ---------------------------------------------------------------------

/// A Deployment's pod deleted: the path goes to state `error` (with `lastError`), then
/// `watching` on the replacement pod (named in `pod`). While in `error`, a connection
/// diagnostic is on the sync entry in the config file; it is cleared once watching.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_pod_is_error_then_watching_on_the_new_pod() {
    let env = Env::start("lsp-resume", Exec::V5).await;
    web_deployment(&env).await;
    let pods: Api<Pod> = Api::namespaced(env.client.clone(), &env.ns);
    let first = ready_pod(&pods, "app=web", None).await;
    let ws = Workspace::new();
    ws.devspace("web", "lsp-resume", "src", "/app", "");
    ws.write("src/a.txt", "alpha\n");
    let config_uri = file_uri(&ws.path("devspace.yaml"));
    let kubeconfig = env.cluster.kubeconfig();
    let mut lsp = Lsp::start(&[ws.root()], &kubeconfig, full(), Value::Null);
    let watching = blocking(|| lsp.wait_watching(WAIT));
    assert_eq!(watching["paths"][0]["pod"], first.as_str(), "{watching}");

    let mark = lsp.mark();
    pods.delete(&first, &DeleteParams::default())
        .await
        .expect("delete pod");
    let error =
        blocking(|| lsp.wait_status_since(mark, |s| s["paths"][0]["state"] == "error", WAIT));
    eprintln!("error: {}", error["paths"][0]);
    assert!(
        error["paths"][0]["lastError"].is_string(),
        "lastError says why: {error}"
    );
    assert_eq!(error["health"], "error", "{error}");
    let second = ready_pod(&pods, "app=web", Some(&first)).await;
    let back = blocking(|| {
        lsp.wait_status_since(
            mark,
            |s| all_watching(s) && s["paths"][0]["pod"] == second.as_str(),
            WAIT,
        )
    });
    eprintln!("watching again: {}", back["paths"][0]);
    let states = path_states(
        &lsp.received("ferry/status", false)
            .into_iter()
            .filter(|r| r.seq > mark)
            .map(|r| r.params)
            .collect::<Vec<_>>(),
    );
    assert!(
        in_order(&states, &["error", "watching"]),
        "error, then watching: {states:?}"
    );
    wait_until("a.txt in the new pod", &lsp, || async {
        let c = env.read(&second, "/app/a.txt").await;
        check(c.as_deref() == Some(b"alpha\n"), || format!("{c:?}"))
    })
    .await;

    // The connection problem as a diagnostic on the sync entry (line 9, 0-based 8).
    let history = lsp.diagnostics_history(&config_uri);
    let connection = history
        .iter()
        .flatten()
        .find(|d| d["source"] == "ferry")
        .cloned();
    let connection = connection.unwrap_or_else(|| {
        panic!("a connection diagnostic on {config_uri} while in error: {history:?}")
    });
    eprintln!("connection diagnostic: {connection}");
    assert_eq!(
        connection["range"]["start"]["line"], 8,
        "on the sync entry: {connection}"
    );
    blocking(|| {
        lsp.wait_diagnostics(
            &config_uri,
            "the connection diagnostic cleared",
            |d| d.is_empty(),
            WAIT,
        )
    });
    blocking(|| lsp.shutdown_and_exit());
    lsp.assert_clean_stdout();
}

// --- 6. commands -------------------------------------------------------------------------

/// `ferry.server.status` is the status payload, `ferry.server.list` the sync paths as
/// `ferry list --json` prints them, `ferry.server.doctor` the doctor report per folder,
/// `ferry.server.log` the sync log's path (which exists).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_status_list_doctor_log_return_the_documented_payloads() {
    let (env, ws) = env_with_pod("lsp-cmd").await;
    ws.write("src/a.txt", "alpha\n");
    let kubeconfig = env.cluster.kubeconfig();
    let folder = file_uri(ws.root());
    let mut lsp = Lsp::start(&[ws.root()], &kubeconfig, full(), Value::Null);
    blocking(|| lsp.wait_watching(WAIT));

    // status
    for args in [vec![], vec![json!({"folder": folder})]] {
        let s = blocking(|| lsp.command("ferry.server.status", args.clone()));
        eprintln!("status {args:?}: {s}");
        assert_eq!(s["version"], 1, "{s}");
        assert_eq!(s["health"], "ok", "{s}");
        assert_eq!(s["pid"], lsp.pid(), "{s}");
        assert!(
            s["updated"].as_u64().is_some_and(|u| u > 1_600_000_000_000),
            "{s}"
        );
        let p = &s["paths"][0];
        assert_eq!(s["paths"].as_array().map(Vec::len), Some(1), "{s}");
        assert_eq!(p["name"], "web", "{s}");
        assert_eq!(p["state"], "watching", "{s}");
        assert_eq!(p["pod"], "web", "{s}");
        assert_eq!(p["container"], "main", "{s}");
        assert_eq!(p["containerPath"], "/app", "{s}");
        assert_eq!(
            p["localPath"].as_str().map(Path::new),
            Some(ws.path("src").as_path()),
            "{s}"
        );
        for k in [
            "pending",
            "uploaded",
            "downloaded",
            "deleted",
            "problemCount",
        ] {
            assert!(p[k].is_u64(), "{k}: {s}");
        }
        assert!(p["problems"].is_array(), "{s}");
    }

    // list
    let list = blocking(|| lsp.command("ferry.server.list", vec![]));
    eprintln!("list: {list}");
    let entries = list.as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 1, "one folder: {list}");
    assert!(
        same_uri(entries[0]["folder"].as_str().unwrap_or(""), &folder),
        "{list}"
    );
    assert!(
        entries[0]["configFile"]
            .as_str()
            .is_some_and(|c| c.ends_with("devspace.yaml")),
        "{list}"
    );
    let cli = ws.ferry(&kubeconfig, &["list", "--json"]);
    assert!(cli.status.success(), "ferry list --json: {cli:?}");
    let cli: Value = serde_json::from_slice(&cli.stdout).expect("list JSON");
    assert_eq!(
        entries[0]["syncPaths"], cli,
        "syncPaths as `ferry list --json` prints them"
    );

    // doctor
    let doctor = blocking(|| lsp.command("ferry.server.doctor", vec![json!({"folder": folder})]));
    eprintln!("doctor: {doctor}");
    let entries = doctor.as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 1, "one folder: {doctor}");
    assert!(
        same_uri(entries[0]["folder"].as_str().unwrap_or(""), &folder),
        "{doctor}"
    );
    let report = &entries[0]["report"];
    assert!(report["ok"].is_boolean(), "{doctor}");
    let checks = report["checks"].as_array().cloned().unwrap_or_default();
    assert!(!checks.is_empty(), "{doctor}");
    for c in &checks {
        let o = c
            .as_object()
            .unwrap_or_else(|| panic!("a check object: {c}"));
        for k in ["sync", "what", "status", "detail", "fix"] {
            assert!(o.contains_key(k), "check has `{k}`: {c}");
        }
        assert!(
            c["what"].is_string() && c["status"].is_string() && c["detail"].is_string(),
            "{c}"
        );
    }
    assert!(
        checks.iter().any(|c| c["what"] == "pod"),
        "a pod check: {doctor}"
    );

    // log
    let log = blocking(|| lsp.command("ferry.server.log", vec![]));
    eprintln!("log: {log}");
    let entries = log.as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 1, "{log}");
    assert!(
        same_uri(entries[0]["folder"].as_str().unwrap_or(""), &folder),
        "{log}"
    );
    let path = entries[0]["path"].as_str().unwrap_or("");
    assert_eq!(Path::new(path), ws.path(".ferry/sync.log"), "{log}");
    assert!(Path::new(path).is_file(), "{path} exists");
    blocking(|| lsp.shutdown_and_exit());
    lsp.assert_clean_stdout();
}

// --- 7. shutdown + exit ----------------------------------------------------------------

/// While syncing: `shutdown` (answered `null`) then `exit` → the process is gone within
/// 2 s of sending `shutdown`, exit code 0, the workspace released (`ferry status` says
/// nothing runs) and the index saved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_and_exit_end_the_process_within_2s() {
    let (env, ws) = env_with_pod("lsp-exit").await;
    ws.write("src/a.txt", "alpha\n");
    let kubeconfig = env.cluster.kubeconfig();
    let mut lsp = Lsp::start(&[ws.root()], &kubeconfig, full(), Value::Null);
    blocking(|| lsp.wait_watching(WAIT));
    wait_until("a.txt in the container", &lsp, || async {
        let c = env.read("web", "/app/a.txt").await;
        check(c.as_deref() == Some(b"alpha\n"), || format!("{c:?}"))
    })
    .await;
    let took = blocking(|| lsp.shutdown_and_exit());
    assert!(
        took <= Duration::from_secs(2),
        "gone {took:?} after shutdown (2 s allowed)\n{}",
        lsp.context()
    );
    let exit = lsp.exit_status().expect("exited");
    assert!(exit.success(), "exit code 0 after shutdown + exit: {exit}");
    let status = ws.status(&kubeconfig);
    assert!(
        status["running"].is_null(),
        "the workspace is released (`ferry status`: nothing runs): {status}"
    );
    assert!(
        ws.path(".ferry/index/web.json").is_file(),
        "the index is saved"
    );
    lsp.assert_clean_stdout();
}

// --- 8. stdout is only JSON-RPC ------------------------------------------------------

/// With `FERRY_LOG=trace`, `RUST_LOG=trace` and `logLevel: trace`, through a sync, a
/// save and a replaced pod (error, reconnect), every byte on stdout is well-framed
/// JSON-RPC 2.0 (and the logs went to stderr).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdout_is_only_framed_json_rpc_with_trace_logging_through_errors() {
    let env = Env::start("lsp-stdout", Exec::V5).await;
    web_deployment(&env).await;
    let pods: Api<Pod> = Api::namespaced(env.client.clone(), &env.ns);
    let first = ready_pod(&pods, "app=web", None).await;
    let ws = Workspace::new();
    ws.devspace("web", "lsp-stdout", "src", "/app", "");
    for i in 0..20 {
        ws.write(&format!("src/f{i}.txt"), format!("file {i}\n"));
    }
    let kubeconfig = env.cluster.kubeconfig();
    let mut lsp = Lsp::builder(&[ws.root()], &kubeconfig)
        .capabilities(full())
        .init_options(json!({"logLevel": "trace"}))
        .configuration(json!({"logLevel": "trace"}))
        .env("FERRY_LOG", "trace")
        .env("RUST_LOG", "trace")
        .start();
    blocking(|| lsp.wait_watching(WAIT));

    ws.write("src/f0.txt", "edited\n");
    lsp.did_save(&ws.path("src/f0.txt"));
    wait_until("the edit in the container", &lsp, || async {
        let c = env.read(&first, "/app/f0.txt").await;
        check(c.as_deref() == Some(b"edited\n"), || format!("{c:?}"))
    })
    .await;

    // A replaced pod: error, then watching on the new one.
    let mark = lsp.mark();
    pods.delete(&first, &DeleteParams::default())
        .await
        .expect("delete pod");
    blocking(|| lsp.wait_status_since(mark, |s| s["paths"][0]["state"] == "error", WAIT));
    let second = ready_pod(&pods, "app=web", Some(&first)).await;
    blocking(|| {
        lsp.wait_status_since(
            mark,
            |s| all_watching(s) && s["paths"][0]["pod"] == second.as_str(),
            WAIT,
        )
    });
    blocking(|| lsp.command("ferry.server.status", vec![]));
    blocking(|| lsp.shutdown_and_exit());
    let stderr = lsp.stderr();
    eprintln!(
        "{} messages, {} bytes on stdout; {} bytes on stderr",
        lsp.message_count(),
        lsp.stdout_bytes(),
        stderr.len()
    );
    assert!(
        !stderr.is_empty(),
        "trace logging went somewhere (stderr), so stdout was really put to the test"
    );
    lsp.assert_clean_stdout();
}

// --- 9. a minimal client ---------------------------------------------------------------

/// A client without didSave, workDoneProgress, configuration, dynamic registration and
/// workspace folders support (only `rootUri`): a file written locally without any notification arrives
/// in the container (the server's own watcher), and the server never sends `$/progress`,
/// `window/workDoneProgress/create`, `workspace/configuration` or
/// `client/registerCapability`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minimal_client_syncs_through_the_servers_own_watcher_without_progress() {
    let (env, ws) = env_with_pod("lsp-minimal").await;
    ws.write("src/a.txt", "alpha\n");
    let kubeconfig = env.cluster.kubeconfig();
    // Without workspaceFolders support the client sends only `rootUri`.
    let mut lsp = Lsp::builder(&[ws.root()], &kubeconfig)
        .capabilities(minimal())
        .root_uri_only()
        .start();
    blocking(|| lsp.wait_watching(WAIT));
    wait_until("a.txt in the container", &lsp, || async {
        let c = env.read("web", "/app/a.txt").await;
        check(c.as_deref() == Some(b"alpha\n"), || format!("{c:?}"))
    })
    .await;

    ws.write("src/new/b.txt", "written by a build tool\n");
    ws.write("src/a.txt", "alpha 2\n");
    wait_until(
        "local changes in the container, no notification sent",
        &lsp,
        || async {
            let b = env.read("web", "/app/new/b.txt").await;
            let a = env.read("web", "/app/a.txt").await;
            check(
                b.as_deref() == Some(b"written by a build tool\n")
                    && a.as_deref() == Some(b"alpha 2\n"),
                || format!("b.txt {b:?}, a.txt {a:?}"),
            )
        },
    )
    .await;
    blocking(|| lsp.shutdown_and_exit());
    assert!(
        lsp.notifications("$/progress").is_empty(),
        "no $/progress: {:?}",
        lsp.notifications("$/progress")
    );
    for m in [
        "window/workDoneProgress/create",
        "workspace/configuration",
        "client/registerCapability",
    ] {
        assert!(
            lsp.server_requests(m).is_empty(),
            "no {m}: {:?}",
            lsp.server_requests(m)
        );
    }
    lsp.assert_clean_stdout();
}

// --- 10. a folder without a config -----------------------------------------------------

/// A workspace folder with no `devspace.yaml` / `.devspace/config.yaml`: `folders[].state`
/// is `noConfig` (with a message), no sync paths, no error diagnostics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folder_without_config_is_no_config_without_error_diagnostics() {
    let ws = Workspace::new();
    ws.write("notes.txt", "just notes\n");
    // No cluster is needed: nothing is configured. The kubeconfig does not exist.
    let kubeconfig = ws.logs.path().join("no-kubeconfig");
    let mut lsp = Lsp::start(&[ws.root()], &kubeconfig, full(), Value::Null);
    let status = blocking(|| {
        lsp.wait_notification(
            "ferry/status",
            |s| s["folders"][0]["state"] == "noConfig",
            WAIT,
        )
    });
    eprintln!("status: {status}");
    assert!(
        same_uri(
            status["folders"][0]["uri"].as_str().unwrap_or(""),
            &file_uri(ws.root())
        ),
        "{status}"
    );
    assert!(status["folders"][0]["message"].is_string(), "{status}");
    assert!(
        status["paths"].as_array().is_some_and(|p| p.is_empty()),
        "no sync paths: {status}"
    );
    let by_command = blocking(|| lsp.command("ferry.server.status", vec![]));
    assert!(
        by_command["paths"].as_array().is_some_and(|p| p.is_empty()),
        "{by_command}"
    );
    // Give a wrongly published diagnostic a moment to show up (not a timing bound).
    std::thread::sleep(Duration::from_secs(2));
    blocking(|| lsp.shutdown_and_exit());
    let errors: Vec<Value> = lsp
        .notifications("textDocument/publishDiagnostics")
        .into_iter()
        .filter(|p| {
            p["diagnostics"]
                .as_array()
                .is_some_and(|d| d.iter().any(|d| d["severity"] == 1))
        })
        .collect();
    assert!(errors.is_empty(), "no error diagnostics: {errors:?}");
    lsp.assert_clean_stdout();
}

// --- 11. dropped exec streams ----------------------------------------------------------

/// The exec streams into the pod torn down by the cluster (a dropped connection, the pod
/// itself stays): ferry notices, reconnects (a new stream into the same pod), and a later
/// local change arrives; the status is `watching` again. stdout stays clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_exec_streams_reconnect_and_sync_resumes() {
    let (env, ws) = env_with_pod("lsp-drop").await;
    ws.write("src/a.txt", "alpha\n");
    let kubeconfig = env.cluster.kubeconfig();
    let mut lsp = Lsp::start(&[ws.root()], &kubeconfig, full(), Value::Null);
    blocking(|| lsp.wait_watching(WAIT));
    wait_until("a.txt in the container", &lsp, || async {
        let c = env.read("web", "/app/a.txt").await;
        check(c.as_deref() == Some(b"alpha\n"), || format!("{c:?}"))
    })
    .await;
    let before = env
        .control
        .streams(&env.ns, "web")
        .await
        .expect("streams")
        .len();
    let mark = lsp.mark();
    let dropped = env
        .control
        .drop_streams(&env.ns, "web")
        .await
        .expect("drop");
    assert!(dropped > 0, "ferry had streams to drop");
    // A local change right after the drop: it must arrive over the new connection.
    ws.write("src/after-drop.txt", "after the drop\n");
    wait_until(
        "a reconnect and the change after the drop in the container",
        &lsp,
        || async {
            let now = env
                .control
                .streams(&env.ns, "web")
                .await
                .expect("streams")
                .len();
            let c = env.read("web", "/app/after-drop.txt").await;
            check(
                now > before && c.as_deref() == Some(b"after the drop\n"),
                || format!("streams {before} → {now}; after-drop.txt: {c:?}"),
            )
        },
    )
    .await;
    let back = blocking(|| lsp.wait_status_since(mark, all_watching, WAIT));
    eprintln!(
        "states after the drop: {:?}; {}",
        path_states(
            &lsp.received("ferry/status", false)
                .into_iter()
                .filter(|r| r.seq > mark)
                .map(|r| r.params)
                .collect::<Vec<_>>()
        ),
        back["paths"][0]
    );
    ws.write("src/b.txt", "beta\n");
    wait_until("b.txt in the container", &lsp, || async {
        let c = env.read("web", "/app/b.txt").await;
        check(c.as_deref() == Some(b"beta\n"), || format!("{c:?}"))
    })
    .await;
    blocking(|| lsp.shutdown_and_exit());
    lsp.assert_clean_stdout();
}

// --- 12. stderr log level ------------------------------------------------------------

/// Runs a server over a folder without a config with `ferry_log` (if any) and
/// `logLevel` (if any) until the first status, then shuts it down; returns its stderr.
fn stderr_of_a_short_run(ferry_log: Option<&str>, log_level: Option<&str>) -> String {
    let ws = Workspace::new();
    let kubeconfig = ws.logs.path().join("no-kubeconfig");
    let mut b = Lsp::builder(&[ws.root()], &kubeconfig)
        .capabilities(minimal())
        .env("FERRY_LOG", ferry_log.unwrap_or(""));
    if let Some(l) = log_level {
        b = b.init_options(json!({"logLevel": l}));
    }
    let mut lsp = b.start();
    lsp.wait_notification(
        "ferry/status",
        |s| s["folders"][0]["state"] == "noConfig",
        WAIT,
    );
    lsp.shutdown_and_exit();
    lsp.assert_clean_stdout();
    lsp.stderr()
}

/// stderr is at `warn` by default; `logLevel: info` or `FERRY_LOG=ferry=info` raise it
/// (docs/protocol.md: "level `warn` unless `logLevel` or `FERRY_LOG` says otherwise").
/// The `info` line `ferry lsp … initialized` is the probe.
#[test]
fn stderr_is_warn_unless_log_level_or_ferry_log_says_otherwise() {
    let info = |s: &str| {
        s.lines()
            .any(|l| l.contains("INFO") && l.contains("initialized"))
    };
    let default = stderr_of_a_short_run(None, None);
    assert!(!info(&default), "no info on stderr by default:\n{default}");
    let by_setting = stderr_of_a_short_run(None, Some("info"));
    assert!(
        info(&by_setting),
        "logLevel: info → info on stderr:\n{by_setting}"
    );
    let by_env = stderr_of_a_short_run(Some("ferry=info"), None);
    assert!(
        info(&by_env),
        "FERRY_LOG=ferry=info → info on stderr:\n{by_env}"
    );
}

// --- the checker itself ----------------------------------------------------------------

/// The strict stdout parser accepts well-framed JSON-RPC (with `Content-Type`) and
/// flags every kind of pollution, so that `assert_clean_stdout` means something.
#[test]
fn the_stdout_checker_flags_every_kind_of_pollution() {
    fn frame(body: &str) -> Vec<u8> {
        format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
    }
    let note = r#"{"jsonrpc":"2.0","method":"ferry/status","params":{"version":1}}"#;
    let resp = r#"{"jsonrpc":"2.0","id":1,"result":null}"#;
    let mut good = frame(note);
    good.extend(
        format!(
            "Content-Length: {}\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n{resp}",
            resp.len()
        )
        .into_bytes(),
    );
    let (m, v) = parse_stream(&good);
    assert_eq!((m.len(), v.len()), (2, 0), "{v:?}");

    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("a log line before a message", {
            let mut b = b"2026-01-01T00:00:00Z INFO hello\n".to_vec();
            b.extend(frame(note));
            b
        }),
        (
            "\\n line ends",
            format!("Content-Length: {}\n\n{note}", note.len()).into_bytes(),
        ),
        (
            "an unknown header",
            format!("Content-Length: {}\r\nX-Debug: 1\r\n\r\n{note}", note.len()).into_bytes(),
        ),
        (
            "a Content-Length too short",
            format!("Content-Length: {}\r\n\r\n{note}", note.len() - 1).into_bytes(),
        ),
        (
            "a Content-Length too long (the stream ends)",
            format!("Content-Length: {}\r\n\r\n{note}", note.len() + 5).into_bytes(),
        ),
        ("a body that is not JSON", frame("hello world")),
        ("jsonrpc 1.0", frame(r#"{"jsonrpc":"1.0","method":"x"}"#)),
        ("no jsonrpc", frame(r#"{"method":"x","params":{}}"#)),
        (
            "result and error",
            frame(r#"{"jsonrpc":"2.0","id":1,"result":1,"error":{"code":1,"message":"m"}}"#),
        ),
        ("a batch", frame(&format!("[{note}]"))),
        ("stray bytes after a message", {
            let mut b = frame(note);
            b.extend(b"\n");
            b
        }),
        ("a log line between messages", {
            let mut b = frame(note);
            b.extend(b"WARN something\r\n");
            b.extend(frame(note));
            b
        }),
    ];
    for (what, bytes) in bad {
        let (m, v) = parse_stream(&bytes);
        assert!(!v.is_empty(), "{what}: not flagged (messages {m:?})");
    }
    // After pollution the checker resynchronises: the later message is still seen.
    let mut b = b"garbage\n".to_vec();
    b.extend(frame(note));
    let (m, v) = parse_stream(&b);
    assert_eq!((m.len(), v.len()), (1, 1), "{v:?}");
}

// --- one change, several reports; one owner per folder --------------------------------

/// One edit reported three ways (didSave, didChangeWatchedFiles, the server's own
/// watcher) is uploaded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_reported_three_ways_is_uploaded_once() {
    let (env, ws) = env_with_pod("lsp-once").await;
    ws.write("src/a.txt", "alpha\n");
    let kubeconfig = env.cluster.kubeconfig();
    let mut lsp = Lsp::start(&[ws.root()], &kubeconfig, full(), Value::Null);
    let status = blocking(|| lsp.wait_watching(WAIT));
    let before = status["paths"][0]["uploaded"].as_u64().unwrap();
    ws.write("src/a.txt", "alpha 2\n");
    lsp.did_save(&ws.path("src/a.txt"));
    lsp.notify(
        "workspace/didChangeWatchedFiles",
        json!({"changes": [{"uri": file_uri(&ws.path("src/a.txt")), "type": 2}]}),
    );
    wait_until("the edit in the container", &lsp, || async {
        let c = env.read("web", "/app/a.txt").await;
        check(c.as_deref() == Some(b"alpha 2\n"), || format!("{c:?}"))
    })
    .await;
    // A second file after it: by the time it arrived, every report of the first was
    // handled (one queue, in order).
    ws.write("src/b.txt", "beta\n");
    lsp.did_save(&ws.path("src/b.txt"));
    wait_until("b.txt in the container", &lsp, || async {
        let c = env.read("web", "/app/b.txt").await;
        check(c.as_deref() == Some(b"beta\n"), || format!("{c:?}"))
    })
    .await;
    let s = lsp.command("ferry.server.status", vec![]);
    assert_eq!(
        s["paths"][0]["uploaded"].as_u64().unwrap(),
        before + 2,
        "a.txt once, b.txt once: {s}"
    );
    blocking(|| lsp.shutdown_and_exit());
}

/// A folder another ferry owns shows who holds it, and is synced by the server once the
/// other owner is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_owned_by_ferry_sync_says_who_holds_it() {
    let (env, ws) = env_with_pod("lsp-owner").await;
    ws.write("src/a.txt", "alpha\n");
    let kubeconfig = env.cluster.kubeconfig();
    let mut cli = ws.sync(&kubeconfig);
    ws.wait_watching(&kubeconfig, WAIT);
    let mut lsp = Lsp::start(&[ws.root()], &kubeconfig, full(), Value::Null);
    let locked = blocking(|| {
        lsp.wait_notification(
            "ferry/status",
            |s| s["folders"][0]["state"] == "locked",
            WAIT,
        )
    });
    let message = locked["folders"][0]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("ferry sync (pid"),
        "says who holds it: {locked}"
    );
    assert!(cli.stop().success());
    let status = blocking(|| lsp.wait_watching(WAIT));
    assert_eq!(status["folders"][0]["state"], "syncing", "{status}");
    blocking(|| lsp.shutdown_and_exit());
}
