//! The Neovim test harness: a headless Neovim 0.11 (from `scripts/install-nvim.sh`) with
//! its own temp folder, XDG folders and `--listen` socket, driven like a user over
//! `nvim --server … --remote-expr` (a Lua chunk per query, its result as JSON). Used by
//! `editor_plain_nvim.rs` (no plugin) and `editor_nvim_plugin.rs` (the plugin).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::engine_support::Context;

/// The generous wait for anything Neovim or the server does.
pub const WAIT: Duration = Duration::from_secs(60);

/// The Lua every test init.lua defines: `record(file, value)` appends a JSON line to
/// `out/<file>`, and `FerryTest.run(script)` runs a Lua file and writes its result as JSON
/// (what [`Nvim::try_lua`] reads). `{out}` is the out folder as a Lua string.
pub fn recorder_lua(out: &Path) -> String {
    format!(
        r#"local out = {out}
function FerryRecord(file, value)
  vim.fn.writefile({{ vim.json.encode(value) }}, out .. '/' .. file, 'a')
end
FerryTest = {{}}
function FerryTest.run(script)
  local ok, v = pcall(dofile, script)
  local text = vim.json.encode({{ ok = ok, value = ok and v or nil, error = (not ok) and tostring(v) or nil }})
  vim.fn.writefile({{ text }}, script .. '.json')
  return 'done'
end
"#,
        out = lua_str(&out.display().to_string())
    )
}

/// The `nvim` binary: `FERRY_NVIM`, else what `scripts/install-nvim.sh --path` reports
/// (it installs nothing). Panics with what to do when there is none.
pub fn nvim_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("FERRY_NVIM") {
        return PathBuf::from(p);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/install-nvim.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg("--path")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success() && !path.is_empty(),
        "Neovim is not installed: run scripts/setup.sh (or scripts/install-nvim.sh) first, \
         or set FERRY_NVIM to an nvim 0.11 binary.\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(path)
}

/// Lua string literal.
pub fn lua_str(s: &str) -> String {
    format!("{s:?}")
}

/// A headless Neovim in `cwd` editing `file`, listening on a socket in its own temp
/// folder, with its own XDG folders there (so `lsp.log` is the test's).
pub struct Nvim {
    bin: PathBuf,
    dir: tempfile::TempDir,
    child: Option<Child>,
    queries: usize,
}

impl Nvim {
    /// `init(out)` is the init.lua (recording JSON lines into `out/`); it must define
    /// [`recorder_lua`].
    pub fn start(
        cwd: &Path,
        file: &str,
        kubeconfig: &Path,
        init: impl FnOnce(&Path) -> String,
    ) -> Nvim {
        let bin = nvim_bin();
        let dir = tempfile::Builder::new()
            .prefix("ferry-nvim.")
            .tempdir()
            .unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        let init_file = dir.path().join("init.lua");
        std::fs::write(&init_file, init(&out)).unwrap();
        let mut cmd = Command::new(&bin);
        cmd.args(["--headless", "--clean", "-u"])
            .arg(&init_file)
            .arg("--listen")
            .arg(dir.path().join("nvim.sock"))
            .arg(file)
            .current_dir(cwd)
            .env("KUBECONFIG", kubeconfig)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.path().join("stdout")).unwrap())
            .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap());
        for (var, sub) in [
            ("XDG_CONFIG_HOME", "config"),
            ("XDG_DATA_HOME", "data"),
            ("XDG_STATE_HOME", "state"),
            ("XDG_CACHE_HOME", "cache"),
        ] {
            cmd.env(var, dir.path().join(sub));
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut nvim = Nvim {
            bin,
            dir,
            child: Some(child),
            queries: 0,
        };
        // Until the socket answers.
        let t = Instant::now();
        while nvim.try_lua("return 1").is_err() {
            assert!(
                t.elapsed() < WAIT,
                "Neovim does not answer\n{}",
                nvim.context()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        nvim
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("nvim.sock")
    }

    /// Runs `code` (a Lua chunk) in Neovim; its return value, or the Lua error.
    pub fn try_lua(&mut self, code: &str) -> Result<Value, String> {
        self.queries += 1;
        let script = self.dir.path().join(format!("q{}.lua", self.queries));
        std::fs::write(&script, code).unwrap();
        let out = Command::new(&self.bin)
            .arg("--server")
            .arg(self.socket())
            .arg("--remote-expr")
            .arg(format!("v:lua.FerryTest.run('{}')", script.display()))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() || !String::from_utf8_lossy(&out.stdout).contains("done") {
            return Err(format!(
                "remote-expr failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let text = std::fs::read_to_string(script.with_extension("lua.json"))
            .map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
        if v["ok"] == true {
            Ok(v["value"].clone())
        } else {
            Err(format!("Lua error: {}", v["error"]))
        }
    }

    /// Runs `code` in Neovim; panics on a Lua error.
    pub fn lua(&mut self, code: &str) -> Value {
        self.try_lua(code)
            .unwrap_or_else(|e| panic!("{e}\n{code}\n{}", self.context()))
    }

    /// Polls `code` until `ok` holds for its value (up to [`WAIT`]); returns the value.
    pub fn wait_lua(&mut self, what: &str, code: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let t = Instant::now();
        loop {
            let v = self.try_lua(code);
            if let Ok(v) = &v {
                if ok(v) {
                    return v.clone();
                }
            }
            assert!(
                t.elapsed() < WAIT,
                "timed out waiting for: {what}\nlast seen: {v:?}\n{}",
                self.context()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The JSON lines recorded in `out/<name>`.
    pub fn recorded(&self, name: &str) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("out").join(name))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits until the ferry client is attached to the current buffer and initialized.
    pub fn wait_attached(&mut self) -> Value {
        self.wait_lua(
            "ferry attached to the buffer",
            "local c = vim.lsp.get_clients({ name = 'ferry', bufnr = 0 })[1]\n\
             return c and { initialized = c.initialized, root = c.root_dir } or false",
            |v| v["initialized"] == true,
        )
    }

    /// The diagnostics of the buffer of `path` (`vim.diagnostic.get`).
    pub fn diagnostics(&mut self, path: &Path) -> Value {
        self.lua(&format!(
            "local b = vim.fn.bufnr({})\n\
             if b < 0 then return {{}} end\n\
             local out = {{}}\n\
             for _, d in ipairs(vim.diagnostic.get(b)) do\n\
               table.insert(out, {{ source = d.source, severity = d.severity, lnum = d.lnum, col = d.col, message = d.message }})\n\
             end\n\
             return out",
            lua_str(&path.display().to_string())
        ))
    }

    /// Quits Neovim (`:qa!`, which stops the language server) and waits for it.
    pub fn quit(&mut self) {
        let _ = Command::new(&self.bin)
            .arg("--server")
            .arg(self.socket())
            .arg("--remote-send")
            .arg("<C-\\><C-N>:qa!<CR>")
            .stdin(Stdio::null())
            .output();
        let Some(mut child) = self.child.take() else {
            return;
        };
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(20) {
            if child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("Neovim did not quit in 20 s\n{}", self.context());
    }
}

impl Context for Nvim {
    fn context(&self) -> String {
        let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
        let lsp_log = read(self.dir.path().join("state/nvim/lsp.log"));
        let tail: String = {
            let lines: Vec<&str> = lsp_log.lines().collect();
            lines[lines.len().saturating_sub(60)..].join("\n")
        };
        let mut recorded: Vec<String> = std::fs::read_dir(self.dir.path().join("out"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        recorded.sort();
        let mut text = format!(
            "--- nvim stderr:\n{}\n",
            read(self.dir.path().join("stderr"))
        );
        for name in recorded {
            text += &format!("--- {name}: {:?}\n", self.recorded(&name));
        }
        text + &format!("--- lsp.log (tail):\n{tail}")
    }
}

impl Drop for Nvim {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
