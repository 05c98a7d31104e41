#!/usr/bin/env bash
# Installs what the VS Code extension's end-to-end test needs, outside the clone:
#   - code-server 4.96.4 (= VS Code 1.96.4, the newest release that runs on Node 20), from npm
#   - playwright-core, from npm (drives the browser; no browser download)
#   - Debian's chromium, ripgrep and libkrb5-dev (kerberos' headers), via apt, when missing
#
# Everything npm installs goes into a cache keyed by version:
#   ${FERRY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ferry}/code-server-4.96.4/
# Idempotent: a finished install (marker file `.complete`) is kept; a half-finished one is
# redone from nothing. Prints the paths it provides as shell assignments on stdout
# (everything else goes to stderr), so `eval "$(scripts/install-vscode-e2e.sh)"` works.
#
# code-server's own npm postinstall cannot run here (it fetches a git dependency from
# GitHub and prebuilt binaries); this script does its steps by hand. See
# editors/vscode/DEVELOPMENT.md for the pitfalls.
set -euo pipefail

CODE_SERVER_VERSION=4.96.4
PLAYWRIGHT_VERSION=1.65.0
PROXY_AGENT_VERSION=0.27.0

CACHE_ROOT=${FERRY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ferry}
DEST=$CACHE_ROOT/code-server-$CODE_SERVER_VERSION
CS=$DEST/node_modules/code-server
VSC=$CS/lib/vscode

log() { printf 'install-vscode-e2e: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

print_paths() {
  cat <<EOF
FERRY_CODE_SERVER_DIR=$DEST
FERRY_CODE_SERVER=$CS/out/node/entry.js
FERRY_PLAYWRIGHT_CORE=$DEST/node_modules/playwright-core
FERRY_CHROMIUM=$(command -v chromium)
EOF
}

# --- Node: code-server 4.96.x is built for Node 20 ---------------------------------------
command -v node >/dev/null || die "node is not installed (Node 20 is needed)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" = 20 ] || log "warning: Node $(node --version); code-server $CODE_SERVER_VERSION wants Node 20"

# --- apt packages -------------------------------------------------------------------------
need_apt=()
command -v chromium >/dev/null || need_apt+=(chromium)
command -v rg >/dev/null || need_apt+=(ripgrep)
[ -e /usr/include/krb5.h ] || [ -e /usr/include/gssapi/gssapi.h ] || need_apt+=(libkrb5-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "apt-get install ${need_apt[*]}"
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >&2
fi

if [ -e "$DEST/.complete" ]; then
  log "already installed in $DEST"
  print_paths
  exit 0
fi

# --- npm: code-server and playwright-core -------------------------------------------------
log "installing code-server $CODE_SERVER_VERSION and playwright-core $PLAYWRIGHT_VERSION into $DEST"
rm -rf "$DEST"
mkdir -p "$DEST"
cd "$DEST"
printf '{"name":"ferry-vscode-e2e","private":true}\n' > package.json
# node-gyp run by hand ignores npm's nodedir; pass it everywhere (Debian's headers in /usr).
NODEDIR=$(npm config get nodedir 2>/dev/null || true)
case "$NODEDIR" in ''|undefined|null) NODEDIR=/usr ;; esac
export npm_config_nodedir=$NODEDIR
npm install --no-audit --no-fund --ignore-scripts \
  "code-server@$CODE_SERVER_VERSION" "playwright-core@$PLAYWRIGHT_VERSION" >&2

# The shrinkwrap resolves @vscode/proxy-agent to a git+ssh URL (GitHub): use the registry's.
node - "$VSC/npm-shrinkwrap.json" "$PROXY_AGENT_VERSION" <<'EOF'
const fs = require('fs');
const [file, version] = process.argv.slice(2);
const sw = JSON.parse(fs.readFileSync(file, 'utf8'));
const e = sw.packages && sw.packages['node_modules/@vscode/proxy-agent'];
if (e && !String(e.resolved || '').startsWith('https://registry')) {
  e.version = version;
  e.resolved = `https://registry.npmjs.org/@vscode/proxy-agent/-/proxy-agent-${version}.tgz`;
  delete e.integrity;
  fs.writeFileSync(file, JSON.stringify(sw, null, 2));
}
EOF

log "installing VS Code's own dependencies (lib/vscode)"
(cd "$VSC" && npm install --no-audit --no-fund --omit=dev --ignore-scripts >&2)
log "building native modules"
(cd "$VSC" && npm rebuild node-pty @vscode/spdlog kerberos native-watchdog @vscode/deviceid >&2)
# @parcel/watcher ships a linux-x64 glibc prebuild; rebuild only when it does not load.
if ! (cd "$VSC" && node -e 'require("@parcel/watcher")' 2>/dev/null); then
  NODE_GYP=$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js
  (cd "$VSC/node_modules/@parcel/watcher" && node "$NODE_GYP" rebuild --nodedir="$NODEDIR" >&2)
fi
ARGON2=$DEST/node_modules/argon2; [ -d "$ARGON2" ] || ARGON2=$CS/node_modules/argon2
PRE_GYP=$DEST/node_modules/.bin/node-pre-gyp; [ -x "$PRE_GYP" ] || PRE_GYP=$CS/node_modules/.bin/node-pre-gyp
(cd "$ARGON2" && "$PRE_GYP" install --build-from-source >&2)

# @vscode/ripgrep cannot download its binary: Debian's rg serves.
mkdir -p "$VSC/node_modules/@vscode/ripgrep/bin"
ln -sf "$(command -v rg)" "$VSC/node_modules/@vscode/ripgrep/bin/rg"
# What the postinstall would have made.
ln -sfn node_modules "$VSC/node_modules.asar"
log "installing the built-in extensions' dependencies"
(cd "$VSC/extensions" && npm install --no-audit --no-fund --omit=dev --ignore-scripts >&2)

# entry.js writes ~/.config/code-server/config.yaml even for --version: keep it here.
XDG_CONFIG_HOME=$DEST/.config node "$CS/out/node/entry.js" --version >&2
touch "$DEST/.complete"
log "done"
print_paths
