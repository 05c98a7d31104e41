#!/usr/bin/env bash
# The demo: sets up the machine, builds ferry, starts the built-in local Kubernetes
# cluster, runs a pod in it and talks to the pod with the machine's own kubectl.
#   scripts/demo.sh          run it and clean up
#   scripts/demo.sh --keep   leave the cluster running afterwards (it prints how to stop it)
set -euo pipefail
cd "$(dirname "$0")/.."
keep=no
[ "${1:-}" = "--keep" ] && keep=yes

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "Setting up the machine and building (first build takes a few minutes)"
scripts/setup.sh
cargo build --workspace --bins -q

D=$(mktemp -d -t ferry-demo.XXXXXX)
step "Starting a local cluster in $D"
target/debug/ferry-cluster up --dir "$D" 2>"$D/cluster.log" &
stop_cluster() { target/debug/ferry-cluster down --dir "$D" >/dev/null 2>&1 || true; }
[ "$keep" = yes ] || trap stop_cluster EXIT
for _ in $(seq 1 240); do [ -s "$D/kubeconfig" ] && break; sleep 0.25; done
[ -s "$D/kubeconfig" ] || { echo "the cluster did not start:"; tail -n 20 "$D/cluster.log"; exit 1; }
export KUBECONFIG="$D/kubeconfig"
kubectl version 2>/dev/null | sed 's/^/    /'

step "Creating a pod (a real runc container from a local busybox image)"
kubectl apply -f - <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: demo
  labels: {app: demo}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "mkdir -p /app; trap 'exit 0' TERM; while true; do sleep 1; done"]
YAML
kubectl wait --for=condition=Ready pod/demo --timeout=90s
kubectl get pods -l app=demo

step "kubectl exec: stdin in, output and the exit code out"
set +e
echo "hello from $(hostname)" | kubectl exec -i demo -- sh -c 'cat; echo "  ...answered by $(hostname), uid $(id -u), in $(uname -s)"; exit 3'
echo "exit code: $?"
set -e

if [ "$keep" = yes ]; then
  step "The cluster keeps running"
  echo "  export KUBECONFIG=$D/kubeconfig"
  echo "  stop it with: target/debug/ferry-cluster down --dir $D"
else
  step "Stopping the cluster (ferry-cluster down)"
fi
