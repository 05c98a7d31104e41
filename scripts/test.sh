#!/usr/bin/env bash
# Runs all of ferry's tests: sets up the machine (scripts/setup.sh), then formatting,
# lints and every test in the workspace (unit, model, local-cluster, kubectl and kube-rs
# end-to-end tests). Needs root (the local cluster runs real runc containers). Prints how
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
group tests cargo test --workspace --no-fail-fast
