#!/usr/bin/env bash
# Runs all of ferry's tests: sets up the machine (scripts/setup.sh), then formatting,
# lints, the VS Code extension (checks, unit tests, real VS Code) and every test in the
# workspace (unit, model, local-cluster, kubectl, kube-rs and editor end-to-end tests). Needs root (the local cluster runs real runc containers). Prints how
# long each group took.
set -euo pipefail
cd "$(dirname "$0")/.."

group() {
  local name=$1
  shift
  local t0=$SECONDS rc=0
  echo "== $name"
  "$@" || rc=$?
  if [ "$rc" = 0 ]; then
    echo "== $name: $((SECONDS - t0)) s"
  else
    echo "== $name: FAILED (exit $rc) after $((SECONDS - t0)) s"
  fi
  return "$rc"
}

group setup scripts/setup.sh
group format cargo fmt --all -- --check
group lints cargo clippy --workspace --all-targets -q -- -D warnings
group build cargo build --workspace --all-targets -q
# The VS Code extension: its type checks, lints and unit tests, then the real VS Code
# (code-server in Chromium, scripts/install-vscode-e2e.sh) with the ferry built above.
# The .vsix bundles the debug ferry built above (stripped), as CI's package would.
ferry_bin="$(realpath "${CARGO_TARGET_DIR:-target}")/debug/ferry"
group vscode-build bash -c "cd editors/vscode && npm ci --no-audit --no-fund && npm run lint && npm run compile && npm test && npm run package -- '$ferry_bin'"
group vscode-e2e bash -c 'cd editors/vscode && npm run e2e'
# The Neovim plugin's Lua: luacheck and its unit tests (under `nvim -l`); the plugin in real
# Neovim against the local cluster is server/tests/editor_nvim_plugin.rs, below.
nvim_bin="$(scripts/install-nvim.sh --path)"
group nvim-lua bash -c "cd editors/nvim && luacheck --no-color . && '$nvim_bin' -l test/run.lua"
# The benchmark suite's smoke mode on the debug build (a small tree once; no timing is
# asserted): the suite cannot rot. The real run is the README's bench command.
group bench-smoke "$(realpath "${CARGO_TARGET_DIR:-target}")/debug/ferry-bench" --smoke
# Everything in the workspace, the Neovim editor tests included (the plugin, and plain
# Neovim configured as docs/editors.md says).
group tests cargo test --workspace --no-fail-fast
