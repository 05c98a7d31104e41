// Real VS Code for the e2e: one code-server (kernel-chosen loopback port, its own
// user-data and extensions folders, the vsix installed) and one headless Chromium, with
// windows (pages) driven through the workbench DOM like a person would.
/* global window, document */ // in the functions that run in the page
import { execFileSync, spawn } from 'node:child_process';
import { clearTimeout, setTimeout } from 'node:timers';
import fs from 'node:fs';
import path from 'node:path';
import { Expectation, say, sleep, until } from './util.mjs';

export const ITEM = '.statusbar-item[id^="ferry.ferry"]';

export class CodeServer {
  /** Installs `vsix` into fresh folders under `dir` and starts code-server on 127.0.0.1:0. */
  static async start({ entry, vsix, dir, settings, env }) {
    const ud = path.join(dir, 'user-data');
    const exts = path.join(dir, 'extensions');
    fs.mkdirSync(path.join(ud, 'User'), { recursive: true });
    fs.mkdirSync(exts, { recursive: true });
    const cs = new CodeServer(dir, ud);
    cs.writeSettings(settings);
    const common = ['--user-data-dir', ud, '--extensions-dir', exts];
    env = { ...env, XDG_CONFIG_HOME: path.join(dir, 'config') };
    say(`installing ${path.basename(vsix)}`);
    execFileSync('node', [entry, ...common, '--install-extension', vsix], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    const logFile = path.join(dir, 'code-server.log');
    const log = fs.openSync(logFile, 'w');
    cs.child = spawn(
      'node',
      [entry, '--auth', 'none', '--bind-addr', '127.0.0.1:0', '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', ...common],
      { env, stdio: ['ignore', log, log], detached: true },
    );
    cs.port = await until(
      'code-server to listen (its log line "HTTP server listening on …")',
      () => {
        const text = fs.readFileSync(logFile, 'utf8');
        const m = /HTTP server listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(text);
        if (m && m[1] !== '0') return { ok: true, value: Number(m[1]) };
        if (cs.child.exitCode !== null) throw new Error(`code-server exited:\n${text}`);
        return { ok: false, seen: text.slice(-2000) };
      },
      { timeout: 30_000, every: 100 },
    );
    say(`code-server on port ${cs.port}`);
    return cs;
  }

  constructor(dir, ud) {
    this.dir = dir;
    this.ud = ud;
  }

  /** Replaces the user settings (VS Code picks the file up in open windows too). */
  writeSettings(settings) {
    fs.writeFileSync(path.join(this.ud, 'User/settings.json'), JSON.stringify(settings, null, 2));
  }

  url(query) {
    return `http://127.0.0.1:${this.port}/?${query}`;
  }

  stop() {
    if (this.child && this.child.exitCode === null) {
      try {
        process.kill(-this.child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  }
}

// Runs in the page before the workbench: records every look of the ferry item (text,
// codicons, background kind, aria-label) with a timestamp, so that short states (the
// initial sync, an error between pod replacements) are seen even between two polls.
function recorder() {
  window.__ferryLooks = [];
  const read = () => {
    const el = document.querySelector('.statusbar-item[id^="ferry.ferry"]');
    if (!el) return null;
    const classes = [el, ...el.querySelectorAll('*')].flatMap((e) => [...e.classList]);
    return {
      text: el.innerText.trim(),
      icons: classes.filter((c) => c.startsWith('codicon-')),
      kind: classes.filter((c) => c.endsWith('-kind')),
      label: el.querySelector('[aria-label]')?.getAttribute('aria-label') ?? el.getAttribute('aria-label') ?? '',
    };
  };
  window.__ferryLook = read;
  // VS Code's own window progress (the server's `$/progress`), also a status bar entry.
  window.__ferryProgress = [];
  setInterval(() => {
    for (const el of document.querySelectorAll('.statusbar-item')) {
      if (el.id.startsWith('ferry.ferry')) continue;
      const t = el.innerText.trim() || (el.getAttribute('aria-label') ?? '');
      if (/ferry/i.test(t) && window.__ferryProgress.at(-1) !== t) window.__ferryProgress.push(t);
    }
    const l = read();
    if (!l) return;
    const last = window.__ferryLooks.at(-1);
    if (last && last.text === l.text && last.label === l.label && last.icons.join() === l.icons.join() && last.kind.join() === l.kind.join()) return;
    window.__ferryLooks.push({ t: Date.now(), ...l });
  }, 40);
}

/** What a look is, by its codicons, background kind and text (the UI contract). */
export const looks = {
  busy: (l) => l.icons.includes('codicon-sync') || l.icons.includes('codicon-loading'),
  inSync: (l) => l.icons.includes('codicon-check') && /^ferry$/.test(l.text) && l.kind.length === 0,
  warning: (l) => l.icons.includes('codicon-warning') && l.kind.includes('warning-kind') && /\d+ problems?/.test(l.text),
  error: (l) => l.icons.includes('codicon-error') && l.kind.includes('error-kind') && /^ferry: /.test(l.text),
  stopped: (l) => l.icons.includes('codicon-stop-circle') && /ferry: stopped/.test(l.text),
  notRunning: (l) => l.icons.includes('codicon-error') && /ferry: not running/.test(l.text),
};
export const brief = (l) => (l ? `${l.icons.filter((c) => c !== 'codicon-modifier-spin').join('+') || '-'} ${JSON.stringify(l.text)}${l.kind.length ? ` [${l.kind.join(',')}]` : ''}` : '(no item)');

/** A frame's text; '' when it has none yet (a frame still loading would block evaluate). */
function frameText(frame) {
  let timer;
  return Promise.race([
    frame.evaluate(() => document.body?.innerText ?? '').catch(() => ''),
    new Promise((resolve) => {
      timer = setTimeout(() => resolve(''), 1_000);
    }),
  ]).finally(() => clearTimeout(timer));
}

export class Window {
  /** Opens `url` in a new page (1400×900) and waits for the workbench's status bar. */
  static async open(browser, url, name, artifacts) {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.addInitScript(recorder);
    const w = new Window(page, name, artifacts);
    await page.goto(url);
    await page.waitForSelector('.statusbar', { timeout: 60_000 });
    return w;
  }

  constructor(page, name, artifacts) {
    this.page = page;
    this.name = name;
    this.artifacts = artifacts;
  }

  async close() {
    await this.page.close().catch(() => {});
  }

  async screenshot(file) {
    const p = path.join(this.artifacts, file);
    await this.page.screenshot({ path: p }).catch((err) => say(`screenshot ${file}: ${err.message}`));
    return p;
  }

  // --- the status item ----------------------------------------------------------------------
  look() {
    return this.page.evaluate(() => window.__ferryLook?.() ?? null);
  }

  /** The looks recorded so far (from index `from`). */
  async looks(from = 0) {
    return (await this.page.evaluate(() => window.__ferryLooks ?? [])).slice(from);
  }

  /** The texts of other status bar entries naming ferry (VS Code's window progress). */
  progress() {
    return this.page.evaluate(() => window.__ferryProgress ?? []);
  }

  async mark() {
    return (await this.looks()).length;
  }

  /**
   * Waits until the item's look satisfies `pred` (and `extra(look)` if given); fails
   * with the looks seen meanwhile. Returns the look.
   */
  async waitLook(what, pred, { timeout = 60_000, from } = {}) {
    const start = from ?? Math.max(0, (await this.mark()) - 1);
    try {
      return await until(
        `the ferry item to show ${what}`,
        async () => {
          const l = await this.look();
          return l && pred(l) ? { ok: true, value: l } : { ok: false, seen: l };
        },
        { timeout, every: 100 },
      );
    } catch {
      const seen = (await this.looks(start)).map(brief);
      throw new Expectation(`the ferry item to show ${what} within ${timeout / 1000} s`, `looks ${JSON.stringify(seen)}`);
    }
  }

  /**
   * Hovers the item and returns the hover widget's text (the tooltip). With `keep` the
   * hover stays open (for a screenshot); `unhover()` closes it.
   */
  async tooltip({ keep = false } = {}) {
    const page = this.page;
    await this.unhover();
    await page.locator(ITEM).first().hover();
    const hover = page.locator('.workbench-hover-container .monaco-hover, .monaco-hover.workbench-hover, .workbench-hover').first();
    await hover.waitFor({ state: 'visible', timeout: 10_000 });
    const text = (await hover.innerText()).replace(/\u00a0/g, ' ');
    if (!keep) await this.unhover();
    return text;
  }

  async unhover() {
    await this.page.mouse.move(700, 450);
    await this.escape();
  }

  /**
   * Waits until the tooltip's text matches every regex of `want`; with `shot`, saves a
   * screenshot (file name in the artifacts) with the tooltip shown.
   */
  async waitTooltip(what, want, { timeout = 30_000, shot } = {}) {
    const text = await until(
      `the item's tooltip to show ${what} (${want.map(String).join(', ')})`,
      async () => {
        const t = await this.tooltip({ keep: true });
        if (want.every((re) => re.test(t))) return { ok: true, value: t };
        await this.unhover();
        return { ok: false, seen: t };
      },
      { timeout, every: 500 },
    );
    if (shot) await this.screenshot(shot);
    await this.unhover();
    return text;
  }

  async escape() {
    await this.page.keyboard.press('Escape');
  }

  // --- the command palette --------------------------------------------------------------------
  /** Runs the palette command titled exactly `title` (e.g. "Ferry: Stop"). */
  async command(title) {
    const page = this.page;
    await this.escape();
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget .quick-input-box input');
    await input.waitFor({ timeout: 10_000 });
    await input.fill(`>${title}`);
    const rows = page.locator('.quick-input-widget .quick-input-list .monaco-list-row');
    const row = await until(
      `a palette entry titled ${JSON.stringify(title)}`,
      async () => {
        const labels = await rows.evaluateAll((els) => els.map((e) => e.querySelector('.label-name')?.textContent?.replace(/\u00a0/g, ' ') ?? e.textContent));
        const i = labels.findIndex((l) => l.trim() === title);
        return i >= 0 ? { ok: true, value: i } : { ok: false, seen: labels };
      },
      { timeout: 10_000 },
    );
    await rows.nth(row).click();
  }

  // --- files and editors ----------------------------------------------------------------------
  /** Opens `rel` (relative to the workspace) with Quick Open (Ctrl+P). */
  async quickOpen(rel) {
    const page = this.page;
    await this.escape();
    await page.keyboard.press('Control+p');
    const input = page.locator('.quick-input-widget .quick-input-box input');
    await input.waitFor({ timeout: 10_000 });
    await input.fill(rel);
    const base = path.basename(rel);
    await until(
      `Quick Open to list ${rel}`,
      async () => {
        const labels = await page.locator('.quick-input-widget .quick-input-list .monaco-list-row').evaluateAll((els) => els.map((e) => e.getAttribute('aria-label') ?? ''));
        return labels.some((l) => l.includes(base)) ? true : { ok: false, seen: labels };
      },
      { timeout: 15_000 },
    );
    await page.keyboard.press('Enter');
    await this.waitTab(base);
  }

  async waitTab(base) {
    await this.page.waitForSelector(`.tabs-container .tab.active[aria-label^="${base}"]`, { timeout: 15_000 });
  }

  /** The explorer row of `name` (a file or folder name at any depth shown). */
  explorerRow(name) {
    return this.page.locator(`.explorer-folders-view .monaco-list-row[aria-label="${name}"], .explorer-folders-view .monaco-list-row:has(.label-name:text-is("${name}"))`).first();
  }

  async showExplorer() {
    if (!(await this.page.locator('.explorer-folders-view').isVisible().catch(() => false))) {
      await this.page.keyboard.press('Control+Shift+e');
      await this.page.waitForSelector('.explorer-folders-view', { timeout: 10_000 });
    }
  }

  /** The active editor's visible text (spaces normalised). */
  async editorText() {
    const lines = this.page.locator('.editor-group-container.active .monaco-editor .view-lines').first();
    const t = (await lines.count()) === 0 ? '' : await lines.innerText({ timeout: 2_000 }).catch(() => '');
    return t.replace(/\u00a0/g, ' ');
  }

  /** Focuses the active editor's text. */
  async focusEditor() {
    await this.page.locator('.editor-group-container.active .monaco-editor .view-lines').first().click();
  }

  // --- Problems panel ------------------------------------------------------------------------
  /** Opens the Problems panel and returns its rows: `{ label, text }` (aria-label, text). */
  async problems() {
    const page = this.page;
    if (!(await page.locator('.markers-panel').isVisible().catch(() => false))) {
      await this.escape();
      await page.keyboard.press('Control+Shift+m');
      await page.waitForSelector('.markers-panel', { timeout: 10_000 });
    }
    return page.locator('.markers-panel .monaco-list-row').evaluateAll((els) =>
      els.map((e) => ({ label: e.getAttribute('aria-label') ?? '', text: e.innerText.replace(/\u00a0/g, ' ').replace(/\s+/g, ' ').trim() })),
    );
  }

  // --- notifications -------------------------------------------------------------------------
  async toasts() {
    return this.page.locator('.notifications-toasts .notification-toast').evaluateAll((els) =>
      els.map((e) => ({
        message: e.querySelector('.notification-list-item-message')?.textContent ?? e.textContent,
        buttons: [...e.querySelectorAll('.monaco-button')].map((b) => b.textContent?.trim() ?? ''),
      })),
    );
  }

  /**
   * The text of every frame but the workbench's (webviews and Markdown previews render in
   * iframes) and not in `skip`: `[{ frame, where, text }]`.
   */
  async frameTexts(skip = new Set()) {
    const out = [];
    for (const f of this.page.frames()) {
      if (f === this.page.mainFrame() || skip.has(f) || f.isDetached()) continue;
      const t = await frameText(f);
      if (t.trim()) out.push({ frame: f, where: `a frame (${f.url().slice(0, 60)}…)`, text: t });
    }
    return out;
  }
}

export { sleep };
