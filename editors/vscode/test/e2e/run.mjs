#!/usr/bin/env node
// End-to-end test of the VS Code extension in real VS Code (code-server 4.96.4 = VS Code
// 1.96.4, in Debian's Chromium driven by playwright-core) against the local cluster
// (ferry-cluster): the packaged extension starts `ferry lsp`, and every scenario of
// scenarios.mjs is checked through the workbench's DOM. One cluster, one code-server and one
// browser serve all scenarios; the main workspace's window is shared by the scenarios on it.
//
// Needs: `scripts/install-vscode-e2e.sh` (run here when FERRY_CODE_SERVER is not set),
// the ferry binary (FERRY_BIN, default $CARGO_TARGET_DIR/debug/ferry, else
// <repo>/target/debug/ferry), ferry-cluster (FERRY_CLUSTER_BIN, default beside ferry), the
// vsix (FERRY_VSIX, default editors/vscode/ferry.vsix; `npm run package`), root (the
// cluster runs containers). FERRY_E2E_ONLY=1,4,7 runs those scenarios; screenshots go to
// FERRY_E2E_ARTIFACTS (default <repo>/target/vscode-e2e); FERRY_E2E_KEEP=1 keeps the
// temporary folder (code-server's and the cluster's logs; kept on failure anyway).
// Exit 0 when every scenario passed.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Buffer } from 'node:buffer';
import { clearTimeout, setTimeout } from 'node:timers';
import { fileURLToPath } from 'node:url';
import { Cluster } from './lib/cluster.mjs';
import { diagnose } from './lib/diagnose.mjs';
import { Fixtures } from './lib/fixtures.mjs';
import { since, say } from './lib/util.mjs';
import { CodeServer } from './lib/vscode.mjs';
import { scenarios } from './scenarios.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const extDir = path.resolve(here, '../..');
const repo = path.resolve(extDir, '../..');
const SCENARIO_TIMEOUT = 240_000;

function toolPaths() {
  if (process.env.FERRY_CODE_SERVER && process.env.FERRY_PLAYWRIGHT_CORE) return process.env;
  const out = execFileSync(path.join(repo, 'scripts/install-vscode-e2e.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const env = { ...process.env };
  for (const line of out.split('\n')) {
    const m = /^(FERRY_[A-Z_]+)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2];
  }
  return env;
}

const only = (process.env.FERRY_E2E_ONLY ?? '').split(',').map((s) => s.trim()).filter(Boolean);
const unknown = only.filter((id) => !scenarios.some((s) => s.id === id));
if (unknown.length) {
  console.error(`e2e: no scenario ${unknown.join(', ')} (there are ${scenarios.map((s) => s.id).join(', ')})`);
  process.exit(2);
}
const selected = scenarios.filter((s) => only.length === 0 || only.includes(s.id));

const tools = toolPaths();
const entry = tools.FERRY_CODE_SERVER;
const chromiumPath = tools.FERRY_CHROMIUM || '/usr/bin/chromium';
const { chromium } = createRequire(import.meta.url)(tools.FERRY_PLAYWRIGHT_CORE);
const ferryBin = path.resolve(process.env.FERRY_BIN || path.join(process.env.CARGO_TARGET_DIR || path.join(repo, 'target'), 'debug/ferry'));
const clusterBin = path.resolve(process.env.FERRY_CLUSTER_BIN || path.join(path.dirname(ferryBin), 'ferry-cluster'));
const vsix = path.resolve(process.env.FERRY_VSIX || path.join(extDir, 'ferry.vsix'));
const needCluster = selected.some((s) => s.cluster);
const required = [['code-server', entry], ['ferry binary', ferryBin], ['vsix', vsix], ['chromium', chromiumPath]];
// Whether the vsix bundles server/ferry (zip entry names are stored as they are).
const bundled = fs.existsSync(vsix) && fs.readFileSync(vsix).includes(Buffer.from('extension/server/ferry'));
say(bundled ? `the vsix bundles ferry: the extension runs it (ferry.server.path unset)` : `ferry.server.path = ${ferryBin}`);
if (needCluster) required.push(['ferry-cluster binary', clusterBin]);
for (const [what, file] of required) {
  if (!fs.existsSync(file)) {
    console.error(`e2e: no ${what} at ${file}`);
    process.exit(2);
  }
}
const bundle = path.join(extDir, 'dist/extension.js');
if (!process.env.FERRY_VSIX && fs.existsSync(bundle) && fs.statSync(bundle).mtimeMs > fs.statSync(vsix).mtimeMs) {
  console.error(`e2e: ${vsix} is older than dist/extension.js: run \`npm run package\` first`);
  process.exit(2);
}

const artifacts = path.resolve(process.env.FERRY_E2E_ARTIFACTS || path.join(repo, 'target/vscode-e2e'));
fs.mkdirSync(artifacts, { recursive: true });
for (const f of fs.readdirSync(artifacts)) if (f.endsWith('.png')) fs.rmSync(path.join(artifacts, f));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-vscode-e2e-'));

// A kubeconfig naming a cluster that is not there, for the no-cluster checks.
const nowhereKubeconfig = path.join(tmp, 'nowhere.kubeconfig');
fs.writeFileSync(
  nowhereKubeconfig,
  `apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: nobody
  user: {token: "none"}
contexts:
- name: nowhere
  context: {cluster: nowhere, user: nobody, namespace: ferry-e2e-nowhere}
current-context: nowhere
`,
);

let cluster;
let codeServer;
let browser;
let cleaned = false;
let interrupted = false;
async function cleanup(keep) {
  if (cleaned) return;
  cleaned = true;
  await browser?.close().catch(() => {});
  codeServer?.stop();
  cluster?.down();
  if (!keep && !process.env.FERRY_E2E_KEEP) fs.rmSync(tmp, { recursive: true, force: true });
  else say(`kept ${tmp}`);
}
// Whatever happens, the cluster goes down (its containers are real processes).
process.on('exit', () => {
  codeServer?.stop();
  cluster?.down();
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    say(`${sig}: tearing down`);
    interrupted = true;
    cleanup(true).finally(() => process.exit(130));
  });
}

const results = [];
try {
  say(`scenarios: ${selected.map((s) => s.id).join(', ')}`);
  if (needCluster) {
    cluster = await Cluster.up(clusterBin, path.join(tmp, 'cluster'));
    say(`cluster up at ${cluster.server.host}`);
  }
  const settings = {
    'security.workspace.trust.enabled': false,
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'workbench.editor.enablePreview': false,
    'telemetry.telemetryLevel': 'off',
    'extensions.autoUpdate': false,
    'extensions.autoCheckUpdates': false,
    'extensions.ignoreRecommendations': true,
    'editor.quickSuggestions': { other: false, comments: false, strings: false },
    'editor.suggestOnTriggerCharacters': false,
    'editor.autoClosingBrackets': 'never',
    'editor.autoClosingQuotes': 'never',
    'editor.autoIndent': 'none',
    'editor.formatOnSave': false,
    'files.insertFinalNewline': false,
    'files.trimTrailingWhitespace': false,
    // A vsix with ferry inside (as CI packs it) runs its bundled binary: the lookup the
    // users get. Otherwise the setting names the built one.
    ...(bundled ? {} : { 'ferry.server.path': ferryBin }),
    'ferry.kubeconfig': cluster ? cluster.kubeconfig : nowhereKubeconfig,
  };
  codeServer = await CodeServer.start({ entry, vsix, dir: path.join(tmp, 'code-server'), settings, env: { ...process.env, KUBECONFIG: nowhereKubeconfig } });
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const fixtures = new Fixtures({ tmp, artifacts, cluster, codeServer, browser });
  if (cluster) fixtures.prepareCluster(selected.map((s) => s.id)).catch(() => {}); // awaited again where needed
  const ctx = { tmp, artifacts, cluster, codeServer, settings, nowhereKubeconfig, fixtures, win: null };

  for (const s of selected) {
    if (interrupted) break;
    const start = Date.now();
    ctx.win = null;
    say(`--- ${s.id}: ${s.title}`);
    let timer;
    try {
      await Promise.race([
        s.run(ctx),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`scenario ${s.id} did not finish within ${SCENARIO_TIMEOUT / 1000} s`)), SCENARIO_TIMEOUT);
        }),
      ]);
      results.push({ id: s.id, ok: true, secs: (Date.now() - start) / 1000 });
      say(`PASS ${s.id} in ${since(start)}`);
    } catch (err) {
      results.push({ id: s.id, ok: false, secs: (Date.now() - start) / 1000, error: err });
      say(`FAIL ${s.id} in ${since(start)}: ${err instanceof Error ? err.stack : err}`);
      const win = ctx.win ?? (await fixtures.pending.get('main')?.catch(() => null))?.win;
      const page = win?.page ?? browser.contexts()[0]?.pages().at(-1);
      const shot = path.join(artifacts, `fail-${s.id}.png`);
      await page?.screenshot({ path: shot }).then(() => say(`screenshot ${shot}`)).catch(() => {});
      const diagnosis = await diagnose({ tmp, win, since: start }).catch((e) => [`(no diagnosis: ${e.message})`]);
      results.at(-1).diagnosis = diagnosis;
      for (const l of diagnosis) say(`  ${l}`);
    } finally {
      clearTimeout(timer);
    }
  }
} catch (err) {
  results.push({ id: 'setup', ok: false, secs: 0, error: err });
  say(`FAIL setup: ${err instanceof Error ? err.stack : err}`);
}

const failed = results.filter((r) => !r.ok);
say('summary:');
for (const r of results) {
  const why = r.ok ? '' : `  ${String(r.error?.message ?? r.error).split('\n')[0].slice(0, 300)}`;
  console.error(`  ${(r.ok ? 'pass' : 'FAIL').padEnd(5)}  ${r.id.padStart(5)}  ${r.secs.toFixed(1).padStart(6)} s${why}`);
}
// Again at the end, where CI's excerpt of the output is.
for (const r of failed) {
  if (!r.diagnosis) continue;
  console.error(`scenario ${r.id} at its failure:`);
  for (const l of r.diagnosis) console.error(`  ${l}`);
}
say(`${failed.length === 0 ? 'PASS' : `FAIL (${failed.map((r) => r.id).join(', ')})`} in ${since()}; screenshots in ${artifacts}`);
await cleanup(failed.length > 0);
process.exit(failed.length === 0 ? 0 : 1);
