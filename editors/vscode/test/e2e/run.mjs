#!/usr/bin/env node
// End-to-end proof in real VS Code (code-server 4.96.4 = VS Code 1.96.4, in Debian's Chromium):
// the packaged extension starts `ferry lsp`, and its status bar item shows the server's
// `ferry/status`. The workspace's devspace.yaml points at a cluster that is not there
// (a kubeconfig naming 127.0.0.1:1), so the status is an error state — which still proves
// extension → server → status bar.
//
// Needs: `scripts/install-vscode-e2e.sh` (run here when FERRY_CODE_SERVER is not set),
// the ferry binary (FERRY_BIN, default $CARGO_TARGET_DIR/debug/ferry, else
// <repo>/target/debug/ferry) and the vsix (FERRY_VSIX, default editors/vscode/ferry.vsix;
// `npm run package`). FERRY_E2E_KEEP=1 keeps the temporary folder (with code-server's log and
// a screenshot; it is kept on failure anyway). Exit 0 on success.
import { execFileSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const extDir = path.resolve(here, '../..');
const repo = path.resolve(extDir, '../..');
const t0 = Date.now();
const since = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`;
const say = (msg) => console.error(`[e2e ${since()}] ${msg}`);

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

const tools = toolPaths();
const entry = tools.FERRY_CODE_SERVER;
const chromiumPath = tools.FERRY_CHROMIUM || '/usr/bin/chromium';
const { chromium } = createRequire(import.meta.url)(tools.FERRY_PLAYWRIGHT_CORE);
const ferryBin = path.resolve(
  process.env.FERRY_BIN || path.join(process.env.CARGO_TARGET_DIR || path.join(repo, 'target'), 'debug/ferry'),
);
const vsix = path.resolve(process.env.FERRY_VSIX || path.join(extDir, 'ferry.vsix'));
for (const [what, file] of [['code-server', entry], ['ferry binary', ferryBin], ['vsix', vsix], ['chromium', chromiumPath]]) {
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

// --- a temporary world: user data, extensions, config home, workspace, kubeconfig --------
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-vscode-e2e-'));
const ud = path.join(tmp, 'user-data');
const exts = path.join(tmp, 'extensions');
const ws = path.join(tmp, 'workspace');
fs.mkdirSync(path.join(ud, 'User'), { recursive: true });
fs.mkdirSync(exts);
fs.mkdirSync(path.join(ws, 'src'), { recursive: true });
fs.writeFileSync(path.join(ws, 'src/hello.txt'), 'hello\n');
fs.writeFileSync(
  path.join(ws, 'devspace.yaml'),
  'version: v2beta1\ndev:\n  web:\n    labelSelector:\n      app: web\n    namespace: ferry-e2e-nowhere\n    sync:\n    - path: ./src:/app\n',
);
const kubeconfig = path.join(tmp, 'kubeconfig');
fs.writeFileSync(
  kubeconfig,
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
fs.writeFileSync(
  path.join(ud, 'User/settings.json'),
  JSON.stringify(
    {
      'security.workspace.trust.enabled': false,
      'workbench.startupEditor': 'none',
      'telemetry.telemetryLevel': 'off',
      'extensions.autoUpdate': false,
      'extensions.autoCheckUpdates': false,
      'ferry.serverPath': ferryBin,
      'ferry.kubeconfig': kubeconfig,
    },
    null,
    2,
  ),
);
const env = { ...process.env, XDG_CONFIG_HOME: path.join(tmp, 'config'), KUBECONFIG: kubeconfig };
const common = ['--user-data-dir', ud, '--extensions-dir', exts];

let server;
let browser;
let ok = false;
async function cleanup() {
  await browser?.close().catch(() => {});
  if (server && server.exitCode === null) {
    try {
      process.kill(-server.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  if (ok && !process.env.FERRY_E2E_KEEP) fs.rmSync(tmp, { recursive: true, force: true });
  else say(`kept ${tmp}`);
}

try {
  say(`installing ${path.basename(vsix)}`);
  execFileSync('node', [entry, ...common, '--install-extension', vsix], { env, stdio: ['ignore', 'pipe', 'inherit'] });

  // --- code-server on a port the kernel picks (bind-addr port 0), read back from its log ---
  const serverLog = fs.openSync(path.join(tmp, 'code-server.log'), 'w');
  server = spawn(
    'node',
    [entry, '--auth', 'none', '--bind-addr', '127.0.0.1:0', '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', ...common, ws],
    { env, stdio: ['ignore', serverLog, serverLog], detached: true },
  );
  const port = await new Promise((resolve, reject) => {
    const deadline = Date.now() + 30_000;
    const timer = setInterval(() => {
      const text = fs.readFileSync(path.join(tmp, 'code-server.log'), 'utf8');
      const m = /HTTP server listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(text);
      if (m && m[1] !== '0') {
        clearInterval(timer);
        resolve(Number(m[1]));
      } else if (server.exitCode !== null || Date.now() > deadline) {
        clearInterval(timer);
        reject(new Error(`code-server did not start:\n${text}`));
      }
    }, 100);
  });
  say(`code-server on port ${port}`);

  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(ws)}`);
  await page.waitForSelector('.statusbar', { timeout: 60_000 });
  say('workbench loaded');

  // The extension's item: `.statusbar-item` whose id is the extension's and item's.
  const item = page.locator('.statusbar-item[id^="ferry.ferry"]');
  await item.first().waitFor({ timeout: 60_000 });
  say(`status item appeared: ${JSON.stringify(await item.first().innerText())}`);
  // Wait until the text is the server's error state for the missing cluster. On the way it
  // may show the extension's own "starting" view and the server's first report (the sync
  // path still `stopped`, before it starts): every text seen is logged.
  const deadline = Date.now() + 60_000;
  const seen = [];
  let text = '';
  let label = '';
  for (;;) {
    text = (await item.first().innerText()).trim();
    label = (await item.first().getAttribute('aria-label')) ?? '';
    if (seen.at(-1) !== text) seen.push(text);
    if (/not running/.test(text)) throw new Error(`the server did not run: ${JSON.stringify(label)}`);
    if (/ferry: error/.test(text)) break;
    if (Date.now() > deadline) throw new Error(`no error state from the server; texts seen ${JSON.stringify(seen)}`);
    await page.waitForTimeout(100);
  }
  say(`status texts seen: ${JSON.stringify(seen)}`);
  say(`status from the server: aria-label ${JSON.stringify(label)}`);
  await page.screenshot({ path: path.join(tmp, 'status.png') });
  // The sync path's name and its lastError come only from the server's payload (the
  // item's aria-label is its text and tooltip).
  if (!/web: error — cannot reach the cluster/.test(label)) throw new Error(`no sync path in the status: ${JSON.stringify(label)}`);
  // The server's connection diagnostic (on the sync entry of devspace.yaml) reaches VS Code.
  const problems = page.locator('#status\\.problems');
  let problemsLabel = '';
  for (const until = Date.now() + 20_000; ; ) {
    problemsLabel = (await problems.getAttribute('aria-label')) ?? '';
    if (/Errors?: [1-9]|[1-9]\d* Errors?/.test(problemsLabel)) break;
    if (Date.now() > until) throw new Error(`no connection diagnostic; Problems: ${JSON.stringify(problemsLabel)}`);
    await page.waitForTimeout(200);
  }
  say(`Problems entry: ${JSON.stringify(problemsLabel)}`);

  // A palette command reaches the server: "ferry: List sync paths" (ferry.list →
  // ferry.server.list) opens the sync paths as the read-only document ferry:/list.json.
  await page.locator('.monaco-workbench').click({ position: { x: 700, y: 400 } });
  await page.keyboard.press('F1');
  await page.waitForSelector('.quick-input-widget .quick-input-box input', { timeout: 10_000 });
  await page.keyboard.type('ferry: List sync paths');
  await page.waitForSelector('.quick-input-list .monaco-list-row', { timeout: 10_000 });
  await page.keyboard.press('Enter');
  const output = page.locator('.editor-group-container .monaco-editor .view-lines');
  let outputText = '';
  for (const until = Date.now() + 20_000; ; ) {
    outputText = (await output.allInnerTexts().catch(() => [])).join('\n');
    if (/"syncPaths"/.test(outputText) && /"web"/.test(outputText)) break;
    if (Date.now() > until) {
      await page.screenshot({ path: path.join(tmp, 'palette.png') });
      throw new Error(`ferry.list showed nothing; editor: ${JSON.stringify(outputText.slice(0, 500))}`);
    }
    await page.waitForTimeout(200);
  }
  await page.screenshot({ path: path.join(tmp, 'list.png') });
  say('palette command ferry.list answered by the server');

  // A click on the status item runs ferry.showLog: the folder's .ferry/sync.log opens.
  await item.first().click();
  await page.waitForSelector('.tabs-container .tab[aria-label*="sync.log"]', { timeout: 20_000 });
  say('the status item opened .ferry/sync.log');

  // A folder without a devspace.yaml does not activate the extension.
  const empty = path.join(tmp, 'no-config');
  fs.mkdirSync(empty);
  const other = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await other.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(empty)}`);
  await other.waitForSelector('.statusbar', { timeout: 60_000 });
  await other.waitForSelector('#status\\.problems', { timeout: 60_000 });
  await other.waitForTimeout(5_000);
  const stray = await other.locator('.statusbar-item[id^="ferry.ferry"]').count();
  if (stray !== 0) throw new Error('the extension activated in a folder without devspace.yaml');
  say('no status item in a folder without devspace.yaml');

  ok = true;
  say(`PASS in ${since()}`);
} catch (err) {
  console.error(`e2e: FAIL: ${err instanceof Error ? err.stack : err}`);
  try {
    const pages = browser?.contexts()[0]?.pages() ?? [];
    if (pages[0]) await pages[0].screenshot({ path: path.join(tmp, 'failure.png') });
  } catch {
    // no page to show
  }
} finally {
  await cleanup();
}
process.exit(ok ? 0 : 1);
