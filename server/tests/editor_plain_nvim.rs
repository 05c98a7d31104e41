//! Plain Neovim 0.11 (no plugin) with `ferry lsp`, configured as `docs/editors.md` tells
//! users: the real editor, headless, driven like a user over its `--listen` socket (a
//! Unix socket in a temp folder; `nvim --server … --remote-expr`).
//!
//! - a file opened, edited and `:write`n in Neovim arrives in the container; the initial
//!   sync reached Neovim as work-done progress; `ferry.server.status` runs through
//!   `workspace/executeCommand`;
//! - a broken config is an Error diagnostic from source `ferry` on the config file in
//!   `vim.diagnostic.get()`, and one `window/showMessage`;
//! - no pod in the namespace: one `window/showMessage` (Error, `… cannot sync: …`) and
//!   `window/logMessage` lines reach Neovim.
//!
//! Neovim comes from `scripts/install-nvim.sh` (run by `scripts/setup.sh`); without it
//! these tests fail and say so. `FERRY_NVIM` names another `nvim` binary.

mod engine_support;
mod nvim_support;

use std::path::Path;
use std::time::{Duration, Instant};

use engine_support::{check, ferry_bin, sync_pod, wait_until, Context, Env, Exec, Workspace};
use nvim_support::{lua_str, recorder_lua, Nvim, WAIT};
use serde_json::Value;

/// The init.lua of a test: the configuration of `docs/editors.md` ("Neovim"), with the
/// absolute path of the binary under test, plus what the test records — every
/// `window/showMessage` and `window/logMessage` (the handlers wrapped, so Neovim still
/// shows them) and every `LspProgress` event, one JSON line each in `out/`, and
/// `FerryTest.run(script)`, which runs a Lua file and writes its result as JSON.
fn init_lua(ferry: &Path, out: &Path) -> String {
    let ferry = lua_str(&ferry.display().to_string());
    format!(
        r#"-- As in docs/editors.md:
vim.lsp.config('ferry', {{
  cmd = {{ {ferry}, 'lsp' }},
  root_markers = {{ {{ 'devspace.yaml', '.devspace' }} }},
  workspace_required = true,
}})
vim.lsp.enable('ferry')

-- The test's recorders.
{recorder}for _, method in ipairs({{ 'window/showMessage', 'window/logMessage' }}) do
  local orig = vim.lsp.handlers[method]
  vim.lsp.handlers[method] = function(err, params, ctx, config)
    FerryRecord(method:gsub('/', '.') .. '.jsonl', params)
    return orig(err, params, ctx, config)
  end
end
vim.api.nvim_create_autocmd('LspProgress', {{
  callback = function(ev)
    local p = ev.data.params
    FerryRecord('progress.jsonl', {{ token = p.token, kind = p.value.kind, title = p.value.title }})
  end,
}})
"#,
        recorder = recorder_lua(out),
    )
}

/// A headless Neovim in `cwd` editing `file`, configured as docs/editors.md says.
fn start_nvim(cwd: &Path, file: &str, kubeconfig: &Path) -> Nvim {
    Nvim::start(cwd, file, kubeconfig, |out| init_lua(&ferry_bin(), out))
}

impl Nvim {
    /// The `window/showMessage` params Neovim received.
    fn shown(&self) -> Vec<Value> {
        self.recorded("window.showMessage.jsonl")
    }

    /// The `window/logMessage` params Neovim received.
    fn logged(&self) -> Vec<Value> {
        self.recorded("window.logMessage.jsonl")
    }

    /// Waits until Neovim received a `window/showMessage` for which `ok` holds.
    fn wait_shown(&self, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let t = Instant::now();
        loop {
            if let Some(m) = self.shown().into_iter().find(&ok) {
                return m;
            }
            assert!(
                t.elapsed() < WAIT,
                "timed out waiting for a showMessage: {what}\n{}",
                self.context()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `ferry.server.status` through `workspace/executeCommand`.
    fn status(&mut self) -> Result<Value, String> {
        let v = self.try_lua(
            "local c = vim.lsp.get_clients({ name = 'ferry' })[1]\n\
             local r = c:request_sync('workspace/executeCommand', { command = 'ferry.server.status' }, 10000)\n\
             return r and r.result or vim.NIL",
        )?;
        Ok(v)
    }
}

/// Blocking waits on Neovim run on a worker of the multi-threaded runtime.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// Open `src/a.txt`, edit it, `:write`: the saved content arrives in the container. The
/// initial sync was work-done progress (begin with the documented title, then end), and
/// `ferry.server.status` answers the status payload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_written_in_neovim_arrives_in_the_container() {
    let ns = "nvim-save";
    let env = Env::start(ns, Exec::V5).await;
    env.pod(&sync_pod("web", "busybox")).await;
    let ws = Workspace::new();
    ws.devspace("web", ns, "src", "/app", "");
    ws.write("src/a.txt", "alpha\n");
    let started = Instant::now();
    let mut nvim = start_nvim(ws.root(), "src/a.txt", &env.cluster.kubeconfig());
    let attached = blocking(|| nvim.wait_attached());
    assert!(
        attached["root"]
            .as_str()
            .is_some_and(|r| Path::new(r).canonicalize().ok() == ws.root().canonicalize().ok()),
        "the workspace root is the folder of devspace.yaml: {attached}"
    );
    wait_until("a.txt in the container", &nvim, || async {
        let c = env.read("web", "/app/a.txt").await;
        check(c.as_deref() == Some(b"alpha\n"), || format!("{c:?}"))
    })
    .await;
    eprintln!("nvim started → initial sync done: {:?}", started.elapsed());

    // The status through workspace/executeCommand.
    let status = blocking(|| {
        let t = Instant::now();
        loop {
            let s = nvim.status();
            if let Ok(s) = &s {
                if s["paths"][0]["state"] == "watching" {
                    return s.clone();
                }
            }
            assert!(
                t.elapsed() < WAIT,
                "ferry.server.status says watching: {s:?}\n{}",
                nvim.context()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    assert_eq!(status["version"], 1, "{status}");
    assert_eq!(status["paths"][0]["name"], "web", "{status}");

    // Edit like a user and :write.
    let saved = Instant::now();
    let buffer = blocking(|| {
        nvim.lua(
            "vim.cmd('normal! ggcGalpha, edited in Neovim')\n\
             vim.cmd('write')\n\
             return table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\\n')",
        )
    });
    assert_eq!(buffer, "alpha, edited in Neovim", "the buffer as written");
    assert_eq!(
        ws.read("src/a.txt").as_deref(),
        Some(&b"alpha, edited in Neovim\n"[..]),
        "Neovim wrote the file"
    );
    wait_until("the written edit in the container", &nvim, || async {
        let c = env.read("web", "/app/a.txt").await;
        check(c.as_deref() == Some(b"alpha, edited in Neovim\n"), || {
            format!(
                "container has {:?}",
                c.map(|c| String::from_utf8_lossy(&c).into_owned())
            )
        })
    })
    .await;
    eprintln!(":write → in the container: {:?}", saved.elapsed());

    // The initial sync's progress, as Neovim's LspProgress events.
    let progress = nvim.recorded("progress.jsonl");
    let begin = progress
        .iter()
        .find(|p| p["kind"] == "begin")
        .unwrap_or_else(|| panic!("a progress begin\n{}", nvim.context()));
    assert_eq!(begin["title"], "ferry: initial sync of web", "{begin}");
    let token = begin["token"].as_str().unwrap_or_default();
    assert!(token.starts_with("ferry/initialSync/"), "{begin}");
    assert!(
        progress
            .iter()
            .any(|p| p["kind"] == "end" && p["token"] == token),
        "the progress ended: {progress:?}"
    );
    // Nothing went wrong, so nothing was shown.
    assert!(nvim.shown().is_empty(), "{:?}", nvim.shown());
    assert!(
        nvim.logged().iter().any(|m| m["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("[web] "))),
        "the engine's lines as logMessage: {:?}",
        nvim.logged()
    );
    blocking(|| nvim.quit());
}

/// `initialSync: sideways` in `devspace.yaml`: Neovim has an Error diagnostic from
/// source `ferry` at its line on the config buffer, and one Warning `showMessage`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_config_is_a_diagnostic_in_neovim() {
    let ns = "nvim-config";
    let env = Env::start(ns, Exec::V5).await;
    env.pod(&sync_pod("web", "busybox")).await;
    let ws = Workspace::new();
    // Line 10 (0-based 9) is `initialSync: sideways`.
    ws.devspace("web", ns, "src", "/app", "      initialSync: sideways");
    ws.write("src/a.txt", "alpha\n");
    let mut nvim = start_nvim(ws.root(), "devspace.yaml", &env.cluster.kubeconfig());
    blocking(|| nvim.wait_attached());
    let config = ws.path("devspace.yaml");
    let diags = blocking(|| {
        let t = Instant::now();
        loop {
            let d = nvim.diagnostics(&config);
            if d.as_array().is_some_and(|a| !a.is_empty()) {
                return d;
            }
            assert!(
                t.elapsed() < WAIT,
                "a diagnostic on devspace.yaml\n{}",
                nvim.context()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    eprintln!("diagnostics in Neovim: {diags}");
    let d = diags
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["severity"] == 1)
        .unwrap_or_else(|| panic!("an Error diagnostic: {diags}"));
    assert_eq!(d["source"], "ferry", "{d}");
    assert_eq!(d["lnum"], 9, "{d}");
    let msg = d["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("initialSync") && msg.contains("sideways"),
        "{msg}"
    );
    let shown = blocking(|| {
        nvim.wait_shown("the config ferry cannot use", |m| {
            m["message"]
                .as_str()
                .is_some_and(|m| m.contains("has a config ferry cannot use"))
        })
    });
    assert_eq!(shown["type"], 2, "a Warning: {shown}");
    assert_eq!(nvim.shown().len(), 1, "once: {:?}", nvim.shown());
    assert!(
        env.read("web", "/app/a.txt").await.is_none(),
        "nothing was synced"
    );
    blocking(|| nvim.quit());
}

/// No pod in the namespace: Neovim gets one Error `showMessage` (`ferry: web cannot
/// sync: …`) however often the sync is retried, the retries as `logMessage` lines, and
/// the connection problem as a diagnostic on the sync entry of `devspace.yaml`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_pod_is_one_message_in_neovim() {
    let ns = "nvim-nopod";
    let env = Env::start(ns, Exec::V5).await;
    let ws = Workspace::new();
    ws.devspace("web", ns, "src", "/app", "");
    ws.write("src/a.txt", "alpha\n");
    let mut nvim = start_nvim(ws.root(), "src/a.txt", &env.cluster.kubeconfig());
    blocking(|| nvim.wait_attached());
    let shown = blocking(|| {
        nvim.wait_shown("web cannot sync", |m| {
            m["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("ferry: web cannot sync: "))
        })
    });
    assert_eq!(shown["type"], 1, "an Error: {shown}");
    assert!(
        shown["message"]
            .as_str()
            .is_some_and(|m| m.contains("no Running and Ready pod")),
        "{shown}"
    );
    // Two retries later, still one message.
    blocking(|| {
        let t = Instant::now();
        let retries = |n: &Nvim| {
            n.logged()
                .iter()
                .filter(|m| {
                    m["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("retrying in"))
                })
                .count()
        };
        while retries(&nvim) < 2 {
            assert!(t.elapsed() < WAIT, "two retries\n{}", nvim.context());
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    assert_eq!(nvim.shown().len(), 1, "once: {:?}", nvim.shown());
    // The connection problem on the sync entry of the config (loaded or not, Neovim
    // keeps the diagnostics of the file's buffer).
    let config = ws.path("devspace.yaml");
    let code = format!(
        "local b = vim.uri_to_bufnr(vim.uri_from_fname({}))\n\
         local out = {{}}\n\
         for _, d in ipairs(vim.diagnostic.get(b)) do\n\
           table.insert(out, {{ source = d.source, severity = d.severity, lnum = d.lnum, message = d.message }})\n\
         end\n\
         return out",
        lua_str(&config.display().to_string())
    );
    let diags = blocking(|| {
        nvim.wait_lua("the connection diagnostic on devspace.yaml", &code, |v| {
            v.as_array().is_some_and(|a| {
                a.iter().any(|d| {
                    d["source"] == "ferry"
                        && d["message"]
                            .as_str()
                            .is_some_and(|m| m.starts_with("sync web: "))
                })
            })
        })
    });
    eprintln!("connection diagnostic in Neovim: {diags}");
    blocking(|| nvim.quit());
}
