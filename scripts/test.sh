#!/usr/bin/env bash
# Runs all of ferry's tests: sets up the machine (scripts/setup.sh), then formatting,
# lints and every test in the workspace (unit, local-cluster, kubectl and kube-rs
# end-to-end tests). Needs root (the local cluster runs real runc containers).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -q -- -D warnings
cargo build --workspace --all-targets -q
cargo test --workspace --no-fail-fast
