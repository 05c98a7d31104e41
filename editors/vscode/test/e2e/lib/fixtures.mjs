// The workspaces, namespaces and pods the scenarios share, made on first use, so that any
// subset (FERRY_E2E_ONLY) finds what it needs and a full run makes each only once.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { busyboxSpec } from './cluster.mjs';
import { ITEM, looks, Window } from './vscode.mjs';
import { say, until } from './util.mjs';
import { recentLogs } from './diagnose.mjs';

/** devspace.yaml syncing `./src` with `containerPath` in pods `app: <app>` of `ns` (9 lines). */
export function devspaceYaml(app, ns, containerPath = '/app') {
  return `version: v2beta1\nname: e2e\ndev:\n  ${app}:\n    labelSelector:\n      app: ${app}\n    namespace: ${ns}\n    sync:\n    - path: ./src:${containerPath}\n`;
}

export function writeTree(root, files) {
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), content);
  }
}

export const MAIN_NS = 'e2e-main';
export const RO_NS = 'e2e-ro';
export const MULTI_NS = 'e2e-multi';
export const GHOST_NS = 'e2e-ghost';
/** Files of the main workspace's initial sync besides the named ones (1 KiB each). */
export const BULK_FILES = 300;

export class Fixtures {
  constructor({ tmp, artifacts, cluster, codeServer, browser }) {
    this.tmp = tmp;
    this.artifacts = artifacts;
    this.cluster = cluster;
    this.cs = codeServer;
    this.browser = browser;
    this.pending = new Map();
    this.windows = new Set();
  }

  once(key, make) {
    if (!this.pending.has(key)) this.pending.set(key, make());
    return this.pending.get(key);
  }

  async open(query, name) {
    const w = await Window.open(this.browser, this.cs.url(query), name, this.artifacts);
    this.windows.add(w);
    return w;
  }

  /**
   * Opens a `.code-workspace` window and makes sure its extension host got the folders.
   * code-server sometimes starts the extension host of a workspace window without them
   * (seen in CI: VS Code's own git extension then scans 0 folders, and ferry logs "the
   * window has no workspace folders"); such a window is reloaded, as a person would.
   * Any other way the item fails to appear is left to the scenario's checks.
   */
  async openWorkspace(query, name) {
    for (let attempt = 1; ; attempt++) {
      const opened = Date.now();
      const w = await this.open(query, name);
      const outcome = await until(`the ferry item, or ferry's word that the window has no folders`, async () => {
        if ((await w.page.locator(ITEM).count()) > 0) return { ok: true, value: 'item' };
        const noFolders = recentLogs(path.join(this.cs.dir, 'user-data/logs'), 'ferry.log', opened).some((f) =>
          fs.readFileSync(f, 'utf8').includes('the window has no workspace folders'),
        );
        return noFolders ? { ok: true, value: 'no folders' } : { ok: false, seen: 'neither yet' };
      }, { timeout: 60_000 });
      if (outcome === 'item' || attempt === 3) return w;
      say(`the window's extension host started without the workspace's folders (a code-server race); reopening it (attempt ${attempt + 1})`);
      this.windows.delete(w);
      await w.close();
    }
  }

  async closeAll() {
    for (const w of this.windows) await w.close();
    this.windows.clear();
  }

  /** The namespaces and pods of the scenarios in `ids`, created at once (not awaited Ready). */
  prepareCluster(ids) {
    const c = this.cluster;
    const wants = (...s) => s.some((id) => ids.includes(id));
    const jobs = [];
    if (wants('1', '2', '3', '4', '5', '7', '8', '9', '12')) jobs.push(this.once('ns:main', () => c.createNamespace(MAIN_NS).then(() => c.createDeployment(MAIN_NS, 'web', busyboxSpec()))));
    if (wants('6')) jobs.push(this.once('ns:ro', () => c.createNamespace(RO_NS).then(() => c.createPod(RO_NS, 'ro', busyboxSpec({ user: 1000, volume: '/data' })))));
    if (wants('11')) {
      jobs.push(this.once('ns:multi', () => c.createNamespace(MULTI_NS).then(() => c.createDeployment(MULTI_NS, 'multi', busyboxSpec()))));
      jobs.push(this.once('ns:ghost', () => c.createNamespace(GHOST_NS)));
    }
    return Promise.all(jobs);
  }

  /**
   * The main workspace (`src` ⇄ `/app` of Deployment `web` in e2e-main) open in a window
   * and in sync: `{ ws, win, pod() }`. `onOpen(win)` runs before the wait for in sync.
   */
  main({ beforeOpen, onOpen } = {}) {
    return this.once('main', async () => {
      await this.prepareCluster(['1']);
      const ws = path.join(this.tmp, 'main');
      const files = {
        'devspace.yaml': devspaceYaml('web', MAIN_NS),
        'src/hello.txt': 'hello\n',
        'src/edit.txt': 'edit me\n',
        'src/watched.txt': 'as synced\n',
        'src/conflict.txt': 'conflict: as synced\n',
        'src/compare.txt': 'compare: as synced\n',
        'src/stop.txt': 'stop: as synced\n',
      };
      // Incompressible, so that a shaped link makes the initial sync take a while.
      for (let i = 0; i < BULK_FILES; i++) files[`src/bulk/f${String(i).padStart(3, '0')}.txt`] = crypto.randomBytes(768).toString('base64') + '\n';
      writeTree(ws, files);
      const m = { ws, pod: await this.cluster.readyPod(MAIN_NS, 'web'), files };
      if (beforeOpen) await beforeOpen(m);
      m.win = await this.open(`folder=${encodeURIComponent(ws)}`, 'main');
      if (onOpen) await onOpen(m);
      await m.win.waitLook('the in-sync look after opening the main workspace', looks.inSync, { from: 0 });
      say(`main workspace in sync with ${m.pod}`);
      return m;
    });
  }
}
