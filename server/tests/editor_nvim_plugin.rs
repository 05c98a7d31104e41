//! The Neovim plugin (`editors/nvim`) in real Neovim 0.11, headless, with the plugin on
//! the runtimepath, its own `XDG_*` folders and the real `ferry lsp`, against the local
//! cluster; driven over its `--listen` socket like `editor_plain_nvim.rs`. Issue 11's
//! acceptance, by number:
//!
//! - 1, 2, 3, 7, 8: one session — attached once (a second buffer and a `.env` reuse the
//!   server, a file outside gets none), `statusline()` reaches `ferry ✓`, `:w` lands in
//!   the container, a container write shows in the open buffer by itself, `:Ferry status
//!   | stop | start` do what they say, `:checkhealth ferry` is OK;
//! - 4: the pod replaced → `ferry ✗ no pod`, then `ferry ✓` on the new pod, one notify;
//! - 5: a config error saved → a diagnostic on its line; fixed → cleared;
//! - 6: a conflict → compare opens a diff, `:Ferry conflicts` fills the quickfix list, the
//!   code action "Take the container's version" resolves it on both sides;
//! - 8: `:checkhealth ferry` names a missing binary and the fix;
//! - 9: an older Neovim (the version check faked) → one notify, nothing else;
//! - issue 12: `replicas: all` over a Deployment of two → `:Ferry status` lists both
//!   replicas (primary, secondary), and `:w` lands in both pods.
//!
//! The pure Lua's unit tests (`nvim -l test/run.lua`) and luacheck run in
//! `scripts/test.sh` (group `nvim-lua`).
//!
//! Neovim comes from `scripts/install-nvim.sh`; `FERRY_NVIM` names another binary.

mod engine_support;
mod nvim_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use engine_support::{
    check, env_with_pod, ferry_bin, ready_pod, wait_ready_pods, wait_until, web_deployment_of,
    Context, Env, Exec, Workspace,
};
use nvim_support::{lua_str, recorder_lua, Nvim, WAIT};
use serde_json::Value;

/// `editors/nvim`.
fn plugin_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../editors/nvim")
        .canonicalize()
        .expect("editors/nvim")
}

/// The init.lua of a test: `before` (options, fakes), the plugin on the runtimepath, and
/// the recorders — every `vim.notify` (`notify.jsonl`) and every `User FerryStatus` with
/// `statusline()` (`status.jsonl`) — and `FerryTest.run(script)`.
fn init_lua(before: &str, out: &Path) -> String {
    let plugin = lua_str(&plugin_dir().display().to_string());
    format!(
        r#"{recorder}local notify = vim.notify
vim.notify = function(msg, level, opts)
  FerryRecord('notify.jsonl', {{ msg = msg, level = level or vim.NIL }})
  return notify(msg, level, opts)
end
{before}
vim.opt.rtp:prepend({plugin})
vim.api.nvim_create_autocmd('User', {{
  pattern = 'FerryStatus',
  callback = function(ev)
    FerryRecord('status.jsonl', {{ text = ev.data.text, look = ev.data.look, statusline = require('ferry').statusline() }})
  end,
}})
"#,
        recorder = recorder_lua(out),
    )
}

/// `vim.g.ferry` naming the binary under test.
fn with_ferry() -> String {
    format!(
        "vim.g.ferry = {{ binary = {} }}",
        lua_str(&ferry_bin().display().to_string())
    )
}
/// A headless Neovim in `cwd` editing `file`, with the plugin and `before` (options,
/// fakes) in its init.lua.
fn start_nvim(cwd: &Path, file: &str, kubeconfig: &Path, before: &str) -> Nvim {
    Nvim::start(cwd, file, kubeconfig, |out| init_lua(before, out))
}

/// Blocking waits on Neovim run on a worker of the multi-threaded runtime.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

impl Nvim {
    /// Waits until `statusline()` of the current buffer is `want`.
    fn wait_statusline(&mut self, want: &str) {
        let want = want.to_string();
        self.wait_lua(
            &format!("statusline() = {want:?}"),
            "return require('ferry').statusline()",
            |v| v.as_str() == Some(&want),
        );
    }

    /// The `:messages` history.
    fn messages(&mut self) -> String {
        self.lua("return vim.fn.execute('messages')")
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// `:checkhealth ferry`: the report buffer's text.
    fn checkhealth(&mut self) -> String {
        let text = self
            .lua(
                "vim.cmd('checkhealth ferry')\n\
                 local t = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\\n')\n\
                 vim.cmd('bwipeout!')\n\
                 return t",
            )
            .as_str()
            .unwrap_or_default()
            .to_string();
        eprintln!("--- :checkhealth ferry\n{text}");
        text
    }

    /// The notifies recorded at `level` (vim.log.levels).
    fn notifies(&self, level: i64) -> Vec<Value> {
        self.recorded("notify.jsonl")
            .into_iter()
            .filter(|n| n["level"] == level)
            .collect()
    }
}

/// Acceptance 9: an older Neovim (`has('nvim-0.11')` faked to 0) gets one notify saying
/// so, no `:Ferry`, no autocmds, no server for a file in a workspace.
#[test]
fn an_older_neovim_is_told_once_and_nothing_else() {
    let ws = Workspace::new();
    ws.devspace("web", "nowhere", "src", "/app", "");
    ws.write("src/a.txt", "alpha\n");
    let fake = format!(
        "{}\nlocal has = vim.fn.has\nvim.fn.has = function(f) if f == 'nvim-0.11' then return 0 end return has(f) end",
        with_ferry()
    );
    let mut nvim = start_nvim(ws.root(), "src/a.txt", Path::new("/nonexistent"), &fake);
    let v = nvim.lua(
        "vim.cmd('edit devspace.yaml')\n\
         return { cmd = vim.fn.exists(':Ferry'), clients = #vim.lsp.get_clients(), \
                  autocmds = #vim.api.nvim_get_autocmds({ event = 'BufReadPost', group = nil }) > 0 and \
                     #vim.tbl_filter(function(a) return a.group_name == 'ferry' end, vim.api.nvim_get_autocmds({ event = 'BufReadPost' })) or 0, \
                  loaded = package.loaded['ferry'] ~= nil }",
    );
    assert_eq!(v["cmd"], 0, "no :Ferry: {v}");
    assert_eq!(v["clients"], 0, "no server: {v}");
    assert_eq!(v["autocmds"], 0, "no autocmds: {v}");
    assert_eq!(v["loaded"], false, "nothing loaded: {v}");
    let told = nvim.recorded("notify.jsonl");
    assert_eq!(told.len(), 1, "one notify: {told:?}");
    assert_eq!(
        told[0]["msg"], "ferry needs Neovim 0.11 or later",
        "{told:?}"
    );
    nvim.quit();
}

/// 8 (the failure): `:checkhealth ferry` with a binary that does not exist is an ERROR
/// naming it, with the fix. And `:help ferry` finds the vimdoc's tags.
#[test]
fn checkhealth_names_a_missing_binary_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "outside\n").unwrap();
    let mut nvim = start_nvim(
        dir.path(),
        "notes.txt",
        Path::new("/nonexistent"),
        "vim.g.ferry = { binary = 'ferry-not-installed' }",
    );
    let report = nvim.checkhealth();
    assert!(
        report.contains("ERROR") && report.contains("`ferry-not-installed` was not found"),
        "{report}"
    );
    assert!(
        report.contains("put it on PATH") && report.contains("binary = "),
        "the fix: {report}"
    );
    assert!(report.contains("OK Neovim 0.11"), "{report}");
    // The vimdoc: tags generated (in a copy), `:help` finds them.
    let doc = dir.path().join("rtp/doc");
    std::fs::create_dir_all(&doc).unwrap();
    std::fs::copy(plugin_dir().join("doc/ferry.txt"), doc.join("ferry.txt")).unwrap();
    let help = nvim.lua(&format!(
        "vim.opt.rtp:prepend({})\n\
         vim.cmd('helptags ' .. vim.fn.fnameescape({}))\n\
         local out = {{}}\n\
         for _, tag in ipairs({{ 'ferry', ':Ferry', 'ferry-statusline', 'ferry-config', ':Ferry-resolve' }}) do\n\
           vim.cmd('help ' .. tag)\n\
           table.insert(out, vim.fs.basename(vim.api.nvim_buf_get_name(0)))\n\
           vim.cmd('helpclose')\n\
         end\n\
         return out",
        lua_str(&dir.path().join("rtp").display().to_string()),
        lua_str(&doc.display().to_string())
    ));
    assert_eq!(
        help,
        serde_json::json!([
            "ferry.txt",
            "ferry.txt",
            "ferry.txt",
            "ferry.txt",
            "ferry.txt"
        ]),
        "{help}"
    );
    nvim.quit();
}

/// 1, 2, 3, 7, 8: a session in one workspace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_with_the_plugin() {
    let ns = "nvim-plugin";
    let (env, ws) = env_with_pod(ns).await;
    ws.write("src/a.txt", "alpha\n");
    ws.write("src/b.txt", "bravo\n");
    ws.write("src/.env", "A=1\n");
    ws.write("src/Procfile", "web: serve\n");
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("notes.txt"), "outside\n").unwrap();
    let started = Instant::now();
    let mut nvim = start_nvim(
        ws.root(),
        "src/a.txt",
        &env.cluster.kubeconfig(),
        &with_ferry(),
    );

    // 1. Attached once; in sync; reused by a second buffer and by `.env`; none outside.
    let attached = blocking(|| nvim.wait_attached());
    let id =
        blocking(|| nvim.lua("return vim.lsp.get_clients({ name = 'ferry', bufnr = 0 })[1].id"));
    blocking(|| nvim.wait_statusline("ferry ✓"));
    eprintln!(
        "nvim started → ferry ✓: {:?} ({attached})",
        started.elapsed()
    );
    let code = format!(
        "local function on(file)\n\
           vim.cmd('edit ' .. vim.fn.fnameescape(file))\n\
           local c = vim.lsp.get_clients({{ name = 'ferry', bufnr = 0 }})\n\
           return {{ ids = vim.tbl_map(function(x) return x.id end, c), ft = vim.bo.filetype }}\n\
         end\n\
         local r = {{ b = on('src/b.txt'), env = on('src/.env'), procfile = on('src/Procfile'), outside = on({}) }}\n\
         vim.cmd('edit src/a.txt')\n\
         r.all = #vim.lsp.get_clients({{ name = 'ferry' }})\n\
         return r",
        lua_str(&outside.path().join("notes.txt").display().to_string())
    );
    let r = blocking(|| nvim.lua(&code));
    assert_eq!(
        r["b"]["ids"],
        serde_json::json!([id]),
        "b.txt reuses the server: {r}"
    );
    assert_eq!(
        r["env"]["ids"],
        serde_json::json!([id]),
        ".env reuses the server: {r}"
    );
    assert_eq!(
        r["procfile"]["ids"],
        serde_json::json!([id]),
        "Procfile reuses the server: {r}"
    );
    assert_eq!(
        r["procfile"]["ft"], "",
        "Procfile has no filetype (no FileType event): {r}"
    );
    assert_eq!(
        r["outside"]["ids"],
        serde_json::json!([]),
        "none outside: {r}"
    );
    assert_eq!(r["all"], 1, "one server: {r}");

    // 2. An edit and :w → in the container.
    let saved = Instant::now();
    blocking(|| {
        nvim.lua("vim.cmd('normal! ggcGalpha, edited in Neovim') vim.cmd('write') return 1")
    });
    wait_until("the edit in the container", &nvim, || async {
        let c = env.read("web", "/app/a.txt").await;
        check(c.as_deref() == Some(b"alpha, edited in Neovim\n"), || {
            format!("{c:?}")
        })
    })
    .await;
    eprintln!(":w → in the container: {:?}", saved.elapsed());

    // 3. A container write shows in the open, unmodified buffer by itself.
    let written = Instant::now();
    env.sh("web", "echo 'alpha, from the container' > /app/a.txt")
        .await;
    blocking(|| {
        nvim.wait_lua(
            "the buffer shows the container's write",
            "return table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\\n')",
            |v| v.as_str() == Some("alpha, from the container"),
        )
    });
    eprintln!("container write → in the buffer: {:?}", written.elapsed());

    // 7. :Ferry status shows the sync path.
    blocking(|| nvim.lua("vim.cmd('Ferry status') return 1"));
    let msgs = blocking(|| {
        nvim.wait_lua(
            "the :Ferry status report",
            "return vim.fn.execute('messages')",
            |v| {
                v.as_str()
                    .is_some_and(|m| m.contains("web: watching · src ⇄ /app · pod web/main"))
            },
        )
    });
    eprintln!("--- :Ferry status\n{}", msgs.as_str().unwrap_or_default());
    // :Ferry stop: a local edit is not synced; :Ferry start: it is.
    blocking(|| nvim.lua("vim.cmd('Ferry stop') return 1"));
    blocking(|| nvim.wait_statusline("ferry ■ stopped"));
    blocking(|| {
        nvim.lua("vim.cmd('edit src/b.txt') vim.cmd('normal! ggcGbravo, while stopped') vim.cmd('write') return 1")
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        env.read("web", "/app/b.txt").await.as_deref(),
        Some(&b"bravo\n"[..]),
        "nothing synced while stopped"
    );
    blocking(|| nvim.lua("vim.cmd('Ferry start') return 1"));
    wait_until(
        "the edit made while stopped, after :Ferry start",
        &nvim,
        || async {
            let c = env.read("web", "/app/b.txt").await;
            check(c.as_deref() == Some(b"bravo, while stopped\n"), || {
                format!("{c:?}")
            })
        },
    )
    .await;
    blocking(|| nvim.wait_statusline("ferry ✓"));
    let msgs = blocking(|| nvim.messages());
    assert!(
        msgs.contains("ferry: stopped") && msgs.contains("ferry: started"),
        "{msgs}"
    );

    // 8. :checkhealth ferry on a good setup.
    let report = blocking(|| nvim.checkhealth());
    assert!(!report.contains("ERROR"), "no error: {report}");
    assert!(report.contains("OK ferry 0."), "the version: {report}");
    assert!(report.contains("config found and valid"), "{report}");
    assert!(report.contains("OK") && report.contains("pod"), "{report}");
    // No error was told in all this.
    assert!(nvim.notifies(4).is_empty(), "{:?}", nvim.notifies(4));
    blocking(|| nvim.quit());
}

/// A cluster with the Deployment `web` of `replicas` in namespace `ns`, a workspace
/// syncing `src` (holding `a.txt`) with its `/app` (and `ferry_yaml`, when not empty), and
/// Neovim editing `src/a.txt`, attached.
async fn on_deployment(
    ns: &str,
    replicas: u32,
    ferry_yaml: &str,
) -> (
    Env,
    kube::Api<k8s_openapi::api::core::v1::Pod>,
    Workspace,
    Nvim,
) {
    let env = Env::start(ns, Exec::V5).await;
    web_deployment_of(&env, replicas).await;
    // Ready before Neovim starts: a first sync with no pod yet would be an error of its own.
    wait_ready_pods(&env, "app=web", replicas as usize).await;
    let pods = kube::Api::namespaced(env.client.clone(), &env.ns);
    let ws = Workspace::new();
    ws.devspace("web", ns, "src", "/app", "");
    if !ferry_yaml.is_empty() {
        ws.write("ferry.yaml", ferry_yaml);
    }
    ws.write("src/a.txt", "alpha\n");
    let mut nvim = start_nvim(
        ws.root(),
        "src/a.txt",
        &env.cluster.kubeconfig(),
        &with_ferry(),
    );
    blocking(|| nvim.wait_attached());
    (env, pods, ws, nvim)
}

/// Issue 12: `replicas: all` — `:Ferry status` lists every replica with its role, and a
/// save lands in every pod.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ferry_status_lists_the_replicas_and_a_save_lands_in_each() {
    let (env, pods, _ws, mut nvim) =
        on_deployment("nvim-plugin-replicas", 2, "defaults:\n  replicas: all\n").await;
    let one = ready_pod(&pods, "app=web", None).await;
    let two = ready_pod(&pods, "app=web", Some(&one)).await;
    blocking(|| {
        nvim.wait_lua(
            "both replicas watching",
            "local s = require('ferry').status() local rs = s and s.paths[1].replicas or {} \
             local n = 0 for _, r in ipairs(rs) do if r.state == 'watching' then n = n + 1 end end return n",
            |v| v.as_i64() == Some(2),
        )
    });
    blocking(|| nvim.lua("vim.cmd('Ferry status') return 1"));
    let msgs = blocking(|| {
        nvim.wait_lua(
            "the :Ferry status report with its replicas",
            "return vim.fn.execute('messages')",
            |v| {
                v.as_str().is_some_and(|m| {
                    m.contains("  2 replicas:")
                        && m.contains(" (primary) · watching")
                        && m.contains(" (secondary) · watching")
                })
            },
        )
    });
    let msgs = msgs.as_str().unwrap_or_default().to_string();
    for pod in [&one, &two] {
        assert!(msgs.contains(&format!("  - {pod} (")), "{pod} in\n{msgs}");
    }
    blocking(|| nvim.lua("vim.cmd('normal! ggcGalpha, saved') vim.cmd('write') return 1"));
    for pod in [&one, &two] {
        wait_until(&format!("the save in {pod}"), &nvim, || async {
            let got = env.read(pod, "/app/a.txt").await;
            check(got.as_deref() == Some(&b"alpha, saved\n"[..]), || {
                format!(
                    "{:?}",
                    got.map(|g| String::from_utf8_lossy(&g).into_owned())
                )
            })
        })
        .await;
    }
    blocking(|| nvim.quit());
}

/// 4. The pod replaced: `ferry ✗ no pod` (or another error), then `ferry ✓` on the new
/// pod, and exactly one `vim.notify` for the error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_pod_is_one_error_then_in_sync() {
    let (_env, pods, _ws, mut nvim) = on_deployment("nvim-plugin-pod", 1, "").await;
    let first = ready_pod(&pods, "app=web", None).await;
    blocking(|| nvim.wait_statusline("ferry ✓"));
    pods.delete(&first, &Default::default())
        .await
        .expect("delete pod");
    let t = Instant::now();
    blocking(|| loop {
        if nvim.recorded("status.jsonl").iter().any(|s| {
            s["look"] == "error"
                && s["statusline"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("ferry ✗"))
        }) {
            break;
        }
        assert!(
            t.elapsed() < WAIT,
            "the statusline shows the error\n{}",
            nvim.context()
        );
        std::thread::sleep(Duration::from_millis(200));
    });
    let second = ready_pod(&pods, "app=web", Some(&first)).await;
    blocking(|| {
        nvim.wait_lua(
            "in sync on the new pod",
            "local s = require('ferry').status() return { text = require('ferry').statusline(), pod = s and s.paths[1].pod }",
            |v| v["text"] == "ferry ✓" && v["pod"] == second.as_str(),
        )
    });
    let history: Vec<String> = nvim
        .recorded("status.jsonl")
        .iter()
        .filter_map(|s| s["statusline"].as_str().map(str::to_string))
        .collect();
    eprintln!("statusline history: {history:?}");
    let errors = nvim.notifies(4);
    eprintln!("notified: {errors:?}");
    assert_eq!(errors.len(), 1, "one notify for the error: {errors:?}");
    assert!(
        errors[0]["msg"]
            .as_str()
            .is_some_and(|m| m.starts_with("ferry: web cannot sync: ")),
        "{errors:?}"
    );
    blocking(|| nvim.quit());
}

/// 5. A config error saved in the config buffer: a diagnostic on that line; fixed:
/// cleared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_error_is_a_diagnostic_until_fixed() {
    let ns = "nvim-plugin-config";
    let (env, ws) = env_with_pod(ns).await;
    ws.write("src/a.txt", "alpha\n");
    let mut nvim = start_nvim(
        ws.root(),
        "devspace.yaml",
        &env.cluster.kubeconfig(),
        &with_ferry(),
    );
    blocking(|| nvim.wait_attached());
    blocking(|| nvim.wait_statusline("ferry ✓"));
    // Line 10 (0-based 9): `initialSync: sideways`.
    blocking(|| {
        nvim.lua("vim.api.nvim_buf_set_lines(0, 9, 9, false, { '      initialSync: sideways' }) vim.cmd('write') return 1")
    });
    let config = ws.path("devspace.yaml");
    let diags = blocking(|| {
        let t = Instant::now();
        loop {
            let d = nvim.diagnostics(&config);
            if d.as_array()
                .is_some_and(|a| a.iter().any(|d| d["lnum"] == 9))
            {
                return d;
            }
            assert!(
                t.elapsed() < WAIT,
                "a diagnostic on line 10: {d}\n{}",
                nvim.context()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    eprintln!("diagnostics: {diags}");
    let d = diags
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["lnum"] == 9)
        .unwrap();
    assert_eq!(d["source"], "ferry", "{d}");
    assert!(
        d["message"]
            .as_str()
            .is_some_and(|m| m.contains("sideways")),
        "{d}"
    );
    blocking(|| nvim.wait_statusline("ferry ✗ config error"));
    // Fixed: cleared.
    blocking(|| {
        nvim.lua("vim.api.nvim_buf_set_lines(0, 9, 10, false, {}) vim.cmd('write') return 1")
    });
    blocking(|| {
        let t = Instant::now();
        loop {
            let d = nvim.diagnostics(&config);
            if d.as_array().is_some_and(|a| a.is_empty()) {
                return;
            }
            assert!(
                t.elapsed() < WAIT,
                "the diagnostic cleared: {d}\n{}",
                nvim.context()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    blocking(|| nvim.wait_statusline("ferry ✓"));
    blocking(|| nvim.quit());
}

/// 6 and 7 (conflicts): a file changed on both sides while nothing ran. "Compare with the
/// container's version" opens a diff; `:Ferry conflicts` lists it in the quickfix list;
/// "Take the container's version" through `vim.lsp.buf.code_action` resolves it on both
/// sides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_is_resolved_by_a_code_action() {
    let ns = "nvim-plugin-conflict";
    let (env, ws) = env_with_pod(ns).await;
    ws.write("src/a.txt", "a: as synced\n");
    ws.once_ok(&env, "the first sync");
    ws.write("src/a.txt", "a: local edit\n");
    env.sh("web", "echo 'a: container edit' > /app/a.txt").await;

    let mut nvim = start_nvim(
        ws.root(),
        "src/a.txt",
        &env.cluster.kubeconfig(),
        &with_ferry(),
    );
    blocking(|| nvim.wait_attached());
    let a = ws.path("src/a.txt");
    blocking(|| {
        let t = Instant::now();
        loop {
            let d = nvim.diagnostics(&a);
            if d.as_array().is_some_and(|d| !d.is_empty()) {
                return;
            }
            assert!(
                t.elapsed() < WAIT,
                "a conflict diagnostic\n{}",
                nvim.context()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    blocking(|| nvim.wait_statusline("ferry ✓ ! 1 problem"));

    // Compare: a diff of the local file against the container's version.
    blocking(|| {
        nvim.lua(
            "vim.lsp.buf.code_action({ apply = true, filter = function(a) return a.title:find('Compare', 1, true) ~= nil end })\n\
             return 1",
        )
    });
    let diff = blocking(|| {
        nvim.wait_lua(
            "two windows in diff mode",
            "local n, lines = 0, {}\n\
             for _, w in ipairs(vim.api.nvim_tabpage_list_wins(0)) do\n\
               if vim.wo[w].diff then\n\
                 local b = vim.api.nvim_win_get_buf(w)\n\
                 n = n + 1\n\
                 table.insert(lines, { name = vim.api.nvim_buf_get_name(b), text = vim.api.nvim_buf_get_lines(b, 0, -1, false)[1] })\n\
               end\n\
             end\n\
             return { n = n, lines = lines }",
            |v| v["n"] == 2,
        )
    });
    // The container's version of a conflict is its copy (both sides hold the local
    // version by then): the diff is the local edit against the container's edit.
    let windows = diff["lines"].as_array().unwrap();
    let theirs = windows
        .iter()
        .find(|w| {
            w["name"]
                .as_str()
                .is_some_and(|n| n.ends_with("a.txt.ferry-conflict-remote"))
        })
        .unwrap_or_else(|| panic!("a window of the container's version: {diff}"));
    assert_eq!(theirs["text"], "a: container edit", "{diff}");
    assert!(
        windows.iter().any(|w| w["text"] == "a: local edit"),
        "the local version beside it: {diff}"
    );
    blocking(|| {
        nvim.lua("vim.cmd('diffoff!') vim.cmd('only') vim.cmd('buffer ' .. vim.fn.bufnr('src/a.txt')) return 1")
    });

    // :Ferry conflicts → the quickfix list.
    blocking(|| nvim.lua("vim.cmd('Ferry conflicts') return 1"));
    let qf = blocking(|| {
        nvim.wait_lua(
            "the conflict in the quickfix list",
            "return vim.tbl_map(function(i) return { file = vim.api.nvim_buf_get_name(i.bufnr), text = i.text } end, vim.fn.getqflist())",
            |v| v.as_array().is_some_and(|a| a.len() == 1),
        )
    });
    assert!(
        qf[0]["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("/src/a.txt")),
        "{qf}"
    );
    assert!(
        qf[0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("conflict")),
        "{qf}"
    );
    blocking(|| {
        nvim.lua("vim.cmd('cclose') vim.cmd('buffer ' .. vim.fn.bufnr('src/a.txt')) vim.api.nvim_win_set_cursor(0, { 1, 0 }) return 1")
    });

    // Take the container's version.
    blocking(|| {
        nvim.lua(
            "vim.lsp.buf.code_action({ apply = true, filter = function(a) return a.title:find(\"Take the container's version\", 1, true) ~= nil end })\n\
             return 1",
        )
    });
    wait_until("the container's version on both sides", &nvim, || async {
        let local = ws.read("src/a.txt");
        let remote = env.read("web", "/app/a.txt").await;
        check(
            local.as_deref() == Some(b"a: container edit\n")
                && remote.as_deref() == Some(b"a: container edit\n"),
            || format!("local {local:?}, container {remote:?}"),
        )
    })
    .await;
    assert!(
        !ws.path("src/a.txt.ferry-conflict-remote").exists(),
        "the copy is gone"
    );
    blocking(|| nvim.wait_statusline("ferry ✓"));
    blocking(|| {
        let t = Instant::now();
        while nvim
            .diagnostics(&a)
            .as_array()
            .is_some_and(|d| !d.is_empty())
        {
            assert!(
                t.elapsed() < WAIT,
                "the diagnostic cleared\n{}",
                nvim.context()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    blocking(|| nvim.quit());
}
