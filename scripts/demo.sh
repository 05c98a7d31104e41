#!/usr/bin/env bash
# The demo: sets up the machine, builds ferry, starts the built-in local Kubernetes
# cluster, runs a pod in it, and syncs an example workspace into it with `ferry sync`:
# a local edit arrives in the container, a file written in the container comes back.
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

step "An example workspace, synced into the pod by ferry"
W="$D/workspace"
mkdir -p "$W/src"
cat > "$W/devspace.yaml" <<'YAML'
version: v2beta1
name: demo
dev:
  demo:
    labelSelector:
      app: demo
    sync:
    - path: ./src:/app
      excludePaths:
      - node_modules/
YAML
printf 'console.log("hello from ferry");\n' > "$W/src/index.js"
printf '# demo\n' > "$W/src/README.md"
mkdir -p "$W/src/node_modules/left-pad" && echo 'excluded' > "$W/src/node_modules/left-pad/index.js"
sed 's/^/    /' "$W/devspace.yaml"
( cd "$W" && exec "$OLDPWD/target/debug/ferry" sync ) > >(sed -u 's/^/    ferry sync | /') 2>&1 &
FERRY_PID=$!
stop_all() { kill "$FERRY_PID" 2>/dev/null; wait "$FERRY_PID" 2>/dev/null; [ "$keep" = yes ] || stop_cluster; }
trap stop_all EXIT
wait_for() { for _ in $(seq 1 200); do eval "$1" && return 0; sleep 0.1; done; echo "    (timed out: $1)"; return 1; }
wait_for 'kubectl exec demo -- test -f /app/index.js 2>/dev/null'
sleep 0.5
echo "    in the container:"; kubectl exec demo -- ls -la /app | sed 's/^/      /'

step "A local edit arrives in the container"
printf 'console.log("edited locally at %s");\n' "$(date +%T)" > "$W/src/index.js"
wait_for 'kubectl exec demo -- grep -q "edited locally" /app/index.js 2>/dev/null'
echo "    container's /app/index.js: $(kubectl exec demo -- cat /app/index.js)"

step "A file written in the container comes back"
kubectl exec demo -- sh -c 'echo "written in the pod by $(hostname)" > /app/from-pod.txt'
wait_for '[ -f "$W/src/from-pod.txt" ]'
echo "    local src/from-pod.txt: $(cat "$W/src/from-pod.txt")"

step "ferry status"
( cd "$W" && "$OLDPWD/target/debug/ferry" status ) | sed 's/^/    /'
kill "$FERRY_PID" 2>/dev/null; wait "$FERRY_PID" 2>/dev/null || true
trap - EXIT
[ "$keep" = yes ] || trap stop_cluster EXIT

if [ "$keep" = yes ]; then
  step "The cluster keeps running"
  echo "  export KUBECONFIG=$D/kubeconfig"
  echo "  stop it with: target/debug/ferry-cluster down --dir $D"
else
  step "Stopping the cluster (ferry-cluster down)"
fi
