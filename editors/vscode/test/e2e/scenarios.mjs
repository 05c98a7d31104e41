// The scenarios of the e2e (issue 10's acceptance list, plus the checks that need no
// cluster), each checked in the workbench DOM. Run in this order; FERRY_E2E_ONLY picks some.
import fs from 'node:fs';
import path from 'node:path';
import { devspaceYaml, GHOST_NS, MAIN_NS, MULTI_NS, RO_NS, writeTree } from './lib/fixtures.mjs';
import { brief, ITEM, looks } from './lib/vscode.mjs';
import { check, Expectation, say, sleep, until } from './lib/util.mjs';

/** Whether `text` is a JSON rendering (of the doctor's payload, say). */
const rawJson = (text) => /"(checks|what|status|detail|report)"\s*:/.test(text) || /^\s*[[{]\s*$/m.test(text);

const read = (file) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null);

/** Waits until the container file `file` of the main pod holds `want`. */
function containerHas(ctx, ns, pod, file, want, what, timeout = 30_000) {
  return until(
    `${what}: ${ns}/${pod}:${file} to hold ${JSON.stringify(want)}`,
    async () => {
      const got = await ctx.cluster.file(ns, pod, file);
      return got === want ? true : { ok: false, seen: got };
    },
    { timeout },
  );
}

function localHas(file, want, what, timeout = 30_000) {
  return until(
    `${what}: the local ${path.basename(file)} to hold ${JSON.stringify(want)}`,
    () => {
      const got = read(file);
      return got === want ? true : { ok: false, seen: got };
    },
    { timeout },
  );
}

/** The Problems panel's rows, waited until `pred(rows)` holds. */
function problemsUntil(win, what, pred, timeout = 30_000) {
  return until(
    `the Problems panel to show ${what}`,
    async () => {
      const rows = await win.problems();
      return pred(rows) ? { ok: true, value: rows } : { ok: false, seen: rows.map((r) => r.label || r.text) };
    },
    { timeout, every: 300 },
  );
}

/** The 1-based line of a Problems row (`[Ln 10, Col 20]` in its text, or its aria-label). */
function rowLine(row) {
  const m = /\bLn (\d+)/.exec(row.text) ?? /\bline (\d+)/i.exec(row.label);
  return m ? Number(m[1]) : null;
}

/** Types `text` replacing the whole active editor's content, and saves with Ctrl+S. */
async function replaceAndSave(win, text) {
  await win.focusEditor();
  await win.page.keyboard.press('Control+a');
  await win.page.keyboard.type(text);
  await win.page.keyboard.press('Control+s');
}

async function stopSync(win, what) {
  const from = await win.mark();
  await win.command('Ferry: Stop');
  return win.waitLook(`the stopped look (${what})`, looks.stopped, { from });
}

async function startSync(win, what, pred = looks.inSync) {
  const from = await win.mark();
  await win.command('Ferry: Start');
  return win.waitLook(`${pred === looks.inSync ? 'the in-sync look' : 'the expected look'} (${what})`, pred, { from });
}

/**
 * Runs the palette command `title` and waits for what it opens — a new editor tab (a
 * document or a Markdown preview) or a webview (its text is in frames of its own) — to
 * hold text for which `want(text)` holds; fails if that is raw JSON.
 */
async function readableReport(win, title, what, want) {
  const activeTab = () => win.page.locator('.tabs-container .tab.active').getAttribute('aria-label', { timeout: 1_000 }).catch(() => null);
  const tabBefore = await activeTab();
  const framesBefore = new Set(win.page.frames());
  await win.command(title);
  const found = await until(`${title} to open ${what} in a new editor tab or webview`, async () => {
    const texts = await win.frameTexts(framesBefore);
    const tab = await activeTab();
    if (tab !== tabBefore) texts.push({ where: `the editor tab ${JSON.stringify(tab)}`, text: await win.editorText() });
    const hit = texts.find((x) => want(x.text)) ?? texts.find((x) => rawJson(x.text));
    return hit ? { ok: true, value: hit } : { ok: false, seen: texts.map((x) => `${x.where}: ${x.text.slice(0, 200)}`) };
  }, { timeout: 20_000, every: 500 });
  say(`${title}: in ${found.where}: ${JSON.stringify(found.text.slice(0, 400))}`);
  check(!rawJson(found.text), `${title}: a readable rendering, not raw JSON, in ${found.where}`, found.text.slice(0, 300));
  return found;
}

/**
 * Opens the quick fix menu (Ctrl+.) at the start of the active editor, waits for an entry
 * matching `offer`, optionally screenshots it, and chooses `choose` (default `offer`) with
 * the keyboard (the menu's overlay takes the pointer). Returns the entries' titles.
 */
async function quickFix(win, offer, { shot, choose = offer } = {}) {
  await win.focusEditor();
  await win.page.keyboard.press('Control+Home');
  await win.page.keyboard.press('Control+.');
  const actions = win.page.locator('.action-widget .monaco-list-row');
  const titles = await until(`the quick fix menu to offer ${offer}`, async () => {
    const t = await actions.evaluateAll((els) => els.map((e) => e.getAttribute('aria-label') || e.textContent || ''));
    return t.some((x) => offer.test(x)) && t.some((x) => choose.test(x)) ? { ok: true, value: t } : { ok: false, seen: t };
  }, { timeout: 15_000 });
  say(`quick fixes: ${JSON.stringify(titles)}`);
  if (shot) await win.screenshot(shot);
  for (let i = 0; i < titles.length + 2; i++) {
    const focused = (await actions.evaluateAll((els) => els.filter((e) => e.classList.contains('focused')).map((e) => e.getAttribute('aria-label') || e.textContent || '')))[0] ?? '';
    if (choose.test(focused)) break;
    await win.page.keyboard.press('ArrowDown');
  }
  await win.page.keyboard.press('Enter');
  return titles;
}

/**
 * A conflict on `src/<name>.txt` of the main workspace: synced, then `Ferry: Stop`, both
 * sides changed (`<name>: the local side` / `<name>: the container side`), `Ferry: Start`
 * (the warning look). Returns the local file.
 */
async function makeConflict(ctx, m, name) {
  const win = m.win;
  const local = path.join(m.ws, `src/${name}.txt`);
  await containerHas(ctx, MAIN_NS, m.pod, `/app/${name}.txt`, read(local), `${name}.txt synced before the test`);
  await stopSync(win, 'Ferry: Stop before the conflict');
  fs.writeFileSync(local, `${name}: the local side\n`);
  await ctx.cluster.sh(MAIN_NS, m.pod, `echo "${name}: the container side" > /app/${name}.txt`);
  await startSync(win, 'Ferry: Start with a conflict', looks.warning);
  return local;
}

export const scenarios = [
  {
    id: '1',
    title: 'opening a workspace: initial sync (busy look) → in sync, tooltip names the pod',
    cluster: true,
    async run(ctx) {
      // A slow link (per exec stream) so that the initial sync of ~300 KiB lasts a few
      // seconds and its busy look is seen; back to full speed once in sync.
      let shaped = false;
      const m = await ctx.fixtures.main({
        beforeOpen: async () => {
          await ctx.cluster.shape(0, 150_000);
          shaped = true;
        },
      });
      if (shaped) await ctx.cluster.shape(0, 0);
      // The fixture saw the in-sync look live; the page's record of looks (sampled every
      // 40 ms) may be a sample behind on a loaded machine.
      const seen = await until('the recorded looks to reach the in-sync look', async () => {
        const l = await m.win.looks();
        return l.some(looks.inSync) ? { ok: true, value: l } : { ok: false, seen: l.slice(-3).map(brief) };
      }, { timeout: 10_000 });
      say(`looks seen: ${JSON.stringify(seen.map((l) => `+${((l.t - seen[0].t) / 1000).toFixed(1)}s ${brief(l)}`))}`);
      const firstInSync = seen.findIndex(looks.inSync);
      const busy = seen.slice(0, firstInSync).filter(looks.busy);
      check(
        busy.some((l) => /initial sync/.test(l.text)),
        'a busy look ($(sync~spin), "initial sync …") before the first in-sync look',
        seen.map(brief),
      );
      const percents = busy.map((l) => /(\d+)%/.exec(l.text)?.[1]).filter(Boolean);
      say(`initial sync percentages seen: ${JSON.stringify(percents)}`);
      const now = await m.win.look();
      check(looks.inSync(now), 'the in-sync look now', brief(now));
      const progress = await m.win.progress();
      say(`window progress seen: ${JSON.stringify(progress)}`);
      check(progress.some((t) => /initial sync/.test(t)), 'VS Code\'s window progress for the initial sync (a status bar entry "ferry: initial sync of web")', progress);
      const tip = await m.win.waitTooltip(`the pod ${m.pod}`, [new RegExp(m.pod), /web/], { shot: '1-in-sync.png' });
      say(`tooltip: ${JSON.stringify(tip)}`);
    },
  },
  {
    id: '2',
    title: 'a file opened from the explorer, typed into, saved with Ctrl+S → in the container',
    cluster: true,
    async run(ctx) {
      const m = await ctx.fixtures.main();
      const win = m.win;
      await win.showExplorer();
      const src = win.explorerRow('src');
      await src.waitFor({ timeout: 10_000 });
      if ((await src.getAttribute('aria-expanded')) !== 'true') await src.click();
      const row = win.explorerRow('edit.txt');
      await row.waitFor({ timeout: 10_000 });
      await row.click();
      await win.waitTab('edit.txt');
      const text = `typed in VS Code at ${Date.now()}`;
      await replaceAndSave(win, text);
      await localHas(path.join(m.ws, 'src/edit.txt'), text, 'Ctrl+S saved the file');
      await containerHas(ctx, MAIN_NS, m.pod, '/app/edit.txt', text, 'the saved edit synced');
    },
  },
  {
    id: '3',
    title: 'files written in the container → a new one in the explorer, an open editor shows the change',
    cluster: true,
    async run(ctx) {
      const m = await ctx.fixtures.main();
      const win = m.win;
      await win.quickOpen('src/watched.txt');
      await until('the editor to show watched.txt as synced', async () => /as synced/.test(await win.editorText()) || { ok: false, seen: await win.editorText() });
      await win.showExplorer();
      const src = win.explorerRow('src');
      if ((await src.getAttribute('aria-expanded')) !== 'true') await src.click();
      await ctx.cluster.sh(MAIN_NS, m.pod, 'echo "changed in the container" > /app/watched.txt && echo "made in the container" > /app/from-container.txt');
      await until('from-container.txt in the explorer', async () => (await win.explorerRow('from-container.txt').isVisible()) || { ok: false, seen: await win.page.locator('.explorer-folders-view .monaco-list-row').evaluateAll((els) => els.map((e) => e.getAttribute('aria-label'))) });
      check(read(path.join(m.ws, 'src/from-container.txt')) === 'made in the container\n', 'from-container.txt on disk', read(path.join(m.ws, 'src/from-container.txt')));
      await until('the open editor of watched.txt to show the container\'s change', async () => {
        const t = await win.editorText();
        return /changed in the container/.test(t) || { ok: false, seen: t };
      });
    },
  },
  {
    id: '4',
    title: 'the pod deleted → error look, then in sync on the replacement pod (tooltip names it)',
    cluster: true,
    async run(ctx) {
      const m = await ctx.fixtures.main();
      const win = m.win;
      const old = m.pod;
      const from = await win.mark();
      await ctx.cluster.deletePod(MAIN_NS, old);
      await win.waitLook('the error look after the pod was deleted', looks.error, { from });
      await win.screenshot('4-pod-replaced.png');
      const errorTip = await win.tooltip().catch((e) => `(no tooltip: ${e.message})`);
      say(`then: ${brief(await win.look())}, tooltip ${JSON.stringify(errorTip)}`);
      m.pod = await ctx.cluster.readyPod(MAIN_NS, 'web', { not: old });
      await win.waitLook('the in-sync look on the replacement pod', looks.inSync, { from });
      const tip = await win.waitTooltip(`the new pod ${m.pod}`, [new RegExp(m.pod)], { shot: '4-back-in-sync.png' });
      check(!tip.includes(old), `a tooltip not naming the deleted pod ${old}`, tip);
      say(`looks since the deletion: ${JSON.stringify((await win.looks(from)).map(brief))}`);
      await containerHas(ctx, MAIN_NS, m.pod, '/app/hello.txt', 'hello\n', 'the files in the new pod');
      // The item shows the state; the server's messages for editors without one
      // ("web cannot sync: …") must not pop up as notifications (experimental.ferry.statusUi).
      const toasts = (await win.toasts()).filter((t) => /cannot sync/.test(t.message));
      check(toasts.length === 0, 'no "cannot sync" notification (the status item shows it)', toasts);
    },
  },
  {
    id: '5',
    title: 'a config error typed into devspace.yaml → a Problems entry at its line; fixed → gone',
    cluster: true,
    async run(ctx) {
      const m = await ctx.fixtures.main();
      const win = m.win;
      const yamlFile = path.join(m.ws, 'devspace.yaml');
      const before = read(yamlFile);
      await win.quickOpen('devspace.yaml');
      await win.focusEditor();
      // The file's 9 lines end with a newline: line 10 is empty; the error goes there.
      await win.page.keyboard.press('Control+End');
      await win.page.keyboard.type('      initialSync: sideways');
      await win.page.keyboard.press('Control+s');
      await localHas(yamlFile, `${before}      initialSync: sideways`, 'the broken config saved');
      const from = await win.mark();
      const rows = await problemsUntil(win, 'the config error (initialSync: sideways) on devspace.yaml', (rs) => rs.some((r) => /initialSync/.test(r.label + r.text)));
      const row = rows.find((r) => /initialSync/.test(r.label + r.text));
      say(`Problems: ${JSON.stringify(rows.map((r) => r.text))}`);
      check(rowLine(row) === 10, 'the config error at line 10 (Ln 10)', row);
      check(/\bferry\b/.test(row.text), 'the source "ferry" in the row', row);
      check(rows.some((r) => /devspace\.yaml/.test(r.label + r.text)), 'a devspace.yaml row in the Problems panel', rows);
      await win.waitLook('the error look for the broken config', looks.error, { from: from - 1 });
      await win.screenshot('5-config-error.png');
      // Fix it: delete the line (Ctrl+Shift+K) and save.
      await win.focusEditor();
      await win.page.keyboard.press('Control+End');
      await win.page.keyboard.press('Control+Shift+k');
      await win.page.keyboard.press('Control+s');
      await until('the fixed config saved', () => {
        const t = read(yamlFile);
        return (t !== null && !t.includes('initialSync')) || { ok: false, seen: t };
      });
      await problemsUntil(win, 'no config error any more', (rs) => !rs.some((r) => /initialSync/.test(r.label + r.text)));
      await win.waitLook('the in-sync look after the fix', looks.inSync);
    },
  },
  {
    id: '6',
    title: 'a read-only file in the container → a Problems entry on that file',
    cluster: true,
    async run(ctx) {
      await ctx.fixtures.prepareCluster(['6']);
      const pod = await ctx.cluster.readyPod(RO_NS, 'ro');
      await ctx.cluster.sh(RO_NS, pod, 'echo x > /data/locked.txt && chown 0:0 /data/locked.txt && chmod 644 /data/locked.txt && touch -d @1600000000 /data/locked.txt');
      const ro = await ctx.cluster.sh(RO_NS, pod, 'test -w /data/locked.txt && echo writable || echo read-only', { user: '1000:1000' });
      check(ro.trim() === 'read-only', 'locked.txt read-only for uid 1000', ro);
      const ws = path.join(ctx.tmp, 'read-only');
      writeTree(ws, { 'devspace.yaml': devspaceYaml('ro', RO_NS, '/data'), 'src/locked.txt': 'local version\n', 'src/a.txt': 'alpha\n' });
      const win = await ctx.fixtures.open(`folder=${encodeURIComponent(ws)}`, 'read-only');
      ctx.win = win;
      await win.waitLook('the warning look (1 problem)', looks.warning, { from: 0 });
      say(`look: ${brief(await win.look())}`);
      const rows = await problemsUntil(win, 'an entry on locked.txt saying read-only', (rs) => {
        const file = rs.findIndex((r) => /locked\.txt/.test(r.label + r.text));
        return file >= 0 && rs.slice(file).some((r) => /read-only/.test(r.label + r.text));
      });
      say(`Problems: ${JSON.stringify(rows.map((r) => r.text))}`);
      const row = rows.find((r) => /read-only/.test(r.text));
      check(rowLine(row) === 1 && /\bferry\b/.test(row.text), 'the problem at line 1 with source ferry', row);
      await containerHas(ctx, RO_NS, pod, '/data/a.txt', 'alpha\n', 'the other file synced meanwhile');
      check((await ctx.cluster.file(RO_NS, pod, '/data/locked.txt')) === 'x\n', 'locked.txt unchanged in the container', await ctx.cluster.file(RO_NS, pod, '/data/locked.txt'));
      await win.close();
    },
  },
  {
    id: '7',
    title: 'a conflict (both sides changed while stopped) → a problem with quick fixes; "Take the container\'s version" resolves it',
    cluster: true,
    async run(ctx) {
      const m = await ctx.fixtures.main();
      const win = m.win;
      const local = await makeConflict(ctx, m, 'conflict');
      const rows = await problemsUntil(win, 'a problem on conflict.txt', (rs) => rs.some((r) => /conflict\.txt/.test(r.label + r.text)) && rs.length >= 2);
      say(`Problems: ${JSON.stringify(rows.map((r) => r.text))}`);
      await win.quickOpen('src/conflict.txt');
      const from = await win.mark();
      const titles = await quickFix(win, /Take the container's version/, { shot: '7-conflict.png' });
      check(titles.some((x) => /Keep my version/.test(x)), 'a "Keep my version" quick fix too', titles);
      const want = 'conflict: the container side\n';
      await localHas(local, want, 'the container\'s version taken locally');
      await containerHas(ctx, MAIN_NS, m.pod, '/app/conflict.txt', want, 'the container\'s version kept in the container');
      await problemsUntil(win, 'no problem on conflict.txt any more', (rs) => !rs.some((r) => /conflict\.txt/.test(r.label + r.text)));
      await win.waitLook('the in-sync look after the resolution', looks.inSync, { from });
      check(!fs.existsSync(`${local}.ferry-conflict-remote`), 'no conflict copy left', fs.readdirSync(path.dirname(local)).filter((f) => f.includes('conflict')));
      await until('the editor to show the container\'s version', async () => /the container side/.test(await win.editorText()) || { ok: false, seen: await win.editorText() });
    },
  },
  {
    id: '12',
    // After a conflict the container holds the local version (ferry keeps it on both
    // sides) and its edit is only in the copy: the diff must show the copy (this failed
    // when the extension diffed against ferry.server.containerVersion).
    title: 'a conflict: "Compare with the container\'s version" opens a diff of both versions; "Keep my version" resolves it',
    cluster: true,
    async run(ctx) {
      const m = await ctx.fixtures.main();
      const win = m.win;
      const local = await makeConflict(ctx, m, 'compare');
      await problemsUntil(win, 'a problem on compare.txt', (rs) => rs.some((r) => /compare\.txt/.test(r.label + r.text)));
      await win.quickOpen('src/compare.txt');
      await quickFix(win, /Keep my version/, { choose: /Compare with the container's version/ });
      // The container's edit is what "Take the container's version" would take: the diff
      // must show it beside the local file. (Checked to the end even when this fails.)
      let compareFailed = null;
      try {
        const diff = await until('a diff editor of compare.txt showing the local side and the container\'s edit', async () => {
          const sides = await win.page.locator('.editor-group-container.active .monaco-diff-editor .view-lines').allInnerTexts().catch(() => []);
          const t = sides.join('\n').replace(/\u00a0/g, ' ');
          return /the local side/.test(t) && /the container side/.test(t) ? { ok: true, value: sides } : { ok: false, seen: `sides ${JSON.stringify(sides)}; the container's compare.txt ${JSON.stringify(await ctx.cluster.file(MAIN_NS, m.pod, '/app/compare.txt'))}` };
        }, { timeout: 10_000 });
        say(`diff editor: ${JSON.stringify(diff)}; tab ${JSON.stringify(await win.page.locator('.tabs-container .tab.active').getAttribute('aria-label'))}`);
      } catch (err) {
        compareFailed = err;
        say(`compare: ${err.message}`);
      }
      await win.screenshot('12-compare.png');
      await win.command('View: Close Editor');
      await win.quickOpen('src/compare.txt');
      const from = await win.mark();
      await quickFix(win, /Keep my version/);
      const want = 'compare: the local side\n';
      await containerHas(ctx, MAIN_NS, m.pod, '/app/compare.txt', want, 'my version kept in the container');
      await problemsUntil(win, 'no problem on compare.txt any more', (rs) => !rs.some((r) => /compare\.txt/.test(r.label + r.text)));
      await win.waitLook('the in-sync look after the resolution', looks.inSync, { from });
      check(read(local) === want, 'my version kept locally', read(local));
      check(!fs.existsSync(`${local}.ferry-conflict-remote`), 'no conflict copy left', fs.readdirSync(path.dirname(local)).filter((f) => f.includes('compare')));
      if (compareFailed) throw compareFailed;
    },
  },
  {
    id: '8',
    title: 'Ferry: Stop → stopped look, a saved edit stays local; Ferry: Start → in sync, the edit arrives',
    cluster: true,
    async run(ctx) {
      const m = await ctx.fixtures.main();
      const win = m.win;
      const local = path.join(m.ws, 'src/stop.txt');
      const synced = read(local);
      await containerHas(ctx, MAIN_NS, m.pod, '/app/stop.txt', synced, 'stop.txt synced before the test');
      await stopSync(win, 'Ferry: Stop from the palette');
      await win.quickOpen('src/stop.txt');
      const text = `edited while stopped at ${Date.now()}`;
      await replaceAndSave(win, text);
      await localHas(local, text, 'the edit saved');
      // Nothing must happen: watch the container for a few seconds.
      for (const until = Date.now() + 4_000; Date.now() < until; ) {
        const got = await ctx.cluster.file(MAIN_NS, m.pod, '/app/stop.txt');
        check(got === synced, 'the container\'s stop.txt unchanged while stopped', got);
        check(looks.stopped(await win.look()), 'the stopped look while stopped', brief(await win.look()));
        await sleep(500);
      }
      await startSync(win, 'Ferry: Start from the palette');
      await containerHas(ctx, MAIN_NS, m.pod, '/app/stop.txt', text, 'the edit synced after Ferry: Start');
    },
  },
  {
    id: '9',
    title: 'Ferry: Doctor (and Ferry: Show Status) show readable reports, not raw JSON',
    cluster: true,
    async run(ctx) {
      const m = await ctx.fixtures.main();
      const win = m.win;
      await readableReport(win, 'Ferry: Doctor', 'a doctor report naming its checks (cluster, pod, shell)', (t) => /cluster/i.test(t) && /pod/i.test(t) && /shell/i.test(t));
      await win.screenshot('9-doctor.png');
      await readableReport(win, 'Ferry: Show Status', `the status naming web, its state and the pod ${m.pod}`, (t) => /\bweb\b/.test(t) && /watching|in sync/i.test(t) && t.includes(m.pod));
    },
  },
  {
    id: '11',
    title: 'a multi-root workspace: one folder in sync, one without a pod → error look, tooltip shows both',
    cluster: true,
    async run(ctx) {
      await ctx.fixtures.prepareCluster(['11']);
      const pod = await ctx.cluster.readyPod(MULTI_NS, 'multi');
      const root = path.join(ctx.tmp, 'multi-root');
      writeTree(root, {
        'app-folder/devspace.yaml': devspaceYaml('multi', MULTI_NS),
        'app-folder/src/a.txt': 'a\n',
        'ghost-folder/devspace.yaml': devspaceYaml('ghost', GHOST_NS),
        'ghost-folder/src/g.txt': 'g\n',
        'both.code-workspace': JSON.stringify({ folders: [{ path: 'app-folder' }, { path: 'ghost-folder' }] }, null, 2),
      });
      const win = await ctx.fixtures.openWorkspace(`workspace=${encodeURIComponent(path.join(root, 'both.code-workspace'))}`, 'multi-root');
      ctx.win = win;
      await containerHas(ctx, MULTI_NS, pod, '/app/a.txt', 'a\n', 'the folder with a pod synced', 60_000);
      await win.waitLook('the error look (one folder has no pod)', looks.error, { from: 0 });
      const tip = await win.waitTooltip('both folders with their states, the pod of the one in sync', [/app-folder/, /ghost-folder/, new RegExp(pod), /no pod|error/i, /watching|in sync/i], { shot: '11-multi-root.png' });
      say(`look ${brief(await win.look())}; tooltip ${JSON.stringify(tip)}`);
      await win.close();
    },
  },
  {
    id: '0',
    title: 'no cluster: the error state, Problems, palette, click quick pick; no item without devspace.yaml',
    cluster: false,
    async run(ctx) {
      const ws = path.join(ctx.tmp, 'nowhere');
      writeTree(ws, {
        'devspace.yaml': devspaceYaml('web', 'ferry-e2e-nowhere'),
        'src/hello.txt': 'hello\n',
        // This folder's kubeconfig names a cluster that is not there (127.0.0.1:1).
        '.vscode/settings.json': JSON.stringify({ 'ferry.kubeconfig': ctx.nowhereKubeconfig }),
      });
      const win = await ctx.fixtures.open(`folder=${encodeURIComponent(ws)}`, 'nowhere');
      ctx.win = win;
      const l = await win.waitLook('the error look (cluster unreachable)', looks.error, { from: 0 });
      check(/web: error — cannot reach the cluster/.test(l.label), 'the aria-label naming web and "cannot reach the cluster"', l.label);
      const problems = win.page.locator('#status\\.problems');
      const plabel = await until('the Problems count to show the connection error', async () => {
        const a = (await problems.getAttribute('aria-label')) ?? '';
        return /Errors?: [1-9]|[1-9]\d* Errors?/.test(a) ? { ok: true, value: a } : { ok: false, seen: a };
      });
      say(`Problems entry: ${JSON.stringify(plabel)}`);
      await win.command('Ferry: List Sync Paths');
      await until('the sync paths (naming web) in the editor', async () => {
        const t = [await win.editorText(), ...(await win.frameTexts()).map((f) => f.text)].join('\n');
        return /\bweb\b/.test(t) && /\/app/.test(t) ? true : { ok: false, seen: t.slice(0, 300) };
      }, { timeout: 20_000 });
      // A click on the item: a quick pick of actions.
      await win.escape();
      await win.page.locator(ITEM).first().click();
      const picks = await until('a quick pick of actions after a click on the item', async () => {
        const rows = await win.page.locator('.quick-input-widget .quick-input-list .monaco-list-row').evaluateAll((els) => els.filter((e) => e.offsetParent).map((e) => e.getAttribute('aria-label') ?? ''));
        return rows.length >= 2 && rows.some((r) => /log/i.test(r)) ? { ok: true, value: rows } : { ok: false, seen: rows };
      }, { timeout: 10_000 });
      say(`the item's quick pick: ${JSON.stringify(picks)}`);
      await win.escape();
      await win.close();

      const empty = path.join(ctx.tmp, 'no-config');
      fs.mkdirSync(empty, { recursive: true });
      const other = await ctx.fixtures.open(`folder=${encodeURIComponent(empty)}`, 'no-config');
      ctx.win = other;
      await other.page.waitForSelector('#status\\.problems', { timeout: 60_000 });
      // Absence cannot be awaited: give activation a few seconds to (wrongly) happen.
      await sleep(5_000);
      check((await other.page.locator(ITEM).count()) === 0, 'no ferry item in a folder without devspace.yaml', 'a ferry item');
      // The extension is active (onStartupFinished) but dormant: a config written now
      // starts the server, with no reload.
      fs.writeFileSync(path.join(empty, 'devspace.yaml'), devspaceYaml('web', 'ferry-e2e-nowhere'));
      const woke = await other.waitLook('an item once devspace.yaml is written (the dormant extension wakes)', (l) => l !== null && /web/.test(`${l.label} ${l.text}`), { from: 0, timeout: 30_000 });
      say(`after devspace.yaml appeared: ${brief(woke)}`);
      await other.close();
    },
  },
  {
    id: '10',
    title: 'ferry.server.path naming a missing file → one error with "Set path…", not running, no crash loop',
    cluster: false,
    async run(ctx) {
      const missing = path.join(ctx.tmp, 'no-such-dir/ferry');
      ctx.codeServer.writeSettings({ ...ctx.settings, 'ferry.server.path': missing });
      try {
        const ws = path.join(ctx.tmp, 'missing-binary');
        writeTree(ws, { 'devspace.yaml': devspaceYaml('web', 'ferry-e2e-nowhere'), 'src/a.txt': 'a\n' });
        const win = await ctx.fixtures.open(`folder=${encodeURIComponent(ws)}`, 'missing-binary');
        ctx.win = win;
        const first = await win.waitLook('the not-running look', looks.notRunning, { from: 0 });
        const toast = await until('an error notification that ferry cannot start the server, naming the path, with "Set path…" and "Show log"', async () => {
          const ts = await win.toasts();
          const t = ts.find((x) => /cannot start/i.test(x.message) && x.message.includes(missing));
          return t && t.buttons.some((b) => /^Set path/.test(b)) && t.buttons.some((b) => /Show log/i.test(b)) ? { ok: true, value: t } : { ok: false, seen: ts };
        }, { timeout: 20_000 });
        say(`notification: ${JSON.stringify(toast)}`);
        const from = (await win.mark()) - 1;
        // A crash loop would show new notifications or other looks: watch for 10 s.
        for (const end = Date.now() + 10_000; Date.now() < end; ) {
          const ts = (await win.toasts()).filter((x) => /ferry/i.test(x.message));
          check(ts.length <= 1, 'one ferry notification', ts);
          await sleep(500);
        }
        const since = await win.looks(from);
        check(since.every(looks.notRunning), 'the not-running look throughout 10 s', since.map(brief));
        const center = (await win.page.locator('.statusbar-item[id="status.notifications"]').getAttribute('aria-label').catch(() => '')) ?? '';
        say(`look ${brief(first)}; notifications entry ${JSON.stringify(center)}`);
        check(!/([2-9]|\d\d+) New Notifications/.test(center), 'at most one new notification', center);
        await win.screenshot('10-missing-binary.png');
        await win.close();
      } finally {
        ctx.codeServer.writeSettings(ctx.settings);
      }
    },
  },
  {
    id: '13',
    title: 'the server crashing again and again → restarted 4 times, then not running with "Restart Server", which brings it back; ferry.server.path changed live restarts it',
    cluster: false,
    async run(ctx) {
      const ws = path.join(ctx.tmp, 'crashing');
      writeTree(ws, { 'devspace.yaml': devspaceYaml('web', 'ferry-e2e-nowhere'), 'src/a.txt': 'a\n' });
      const win = await ctx.fixtures.open(`folder=${encodeURIComponent(ws)}`, 'crashing');
      ctx.win = win;
      const running = (l) => looks.error(l) && !looks.notRunning(l);
      await win.waitLook('the error look (cluster unreachable): the server runs', running, { from: 0 });
      // This window's `ferry lsp`: the one that holds the folder's .ferry/lock open.
      const server = () => serverOf(ws);
      const killed = [];
      for (let i = 1; i <= 5; i++) {
        const pid = await until(`ferry lsp for ${ws} (crash ${i})`, () => {
          const p = server();
          return p && !killed.includes(p) ? { ok: true, value: p } : { ok: false, seen: p };
        }, { timeout: 30_000 });
        process.kill(pid, 'SIGKILL');
        killed.push(pid);
        say(`killed ferry lsp pid ${pid} (${i} of 5)`);
        await until(`pid ${pid} gone`, () => !fs.existsSync(`/proc/${pid}`), { timeout: 10_000 });
      }
      const from = (await win.mark()) - 1;
      const l = await win.waitLook('the not-running look after the fifth crash', looks.notRunning, { from });
      // Not restarted a sixth time.
      await sleep(3_000);
      check(server() === undefined, 'no ferry lsp after the client gave up', server());
      const toast = await until('a notification that ferry gave up, with "Restart Server"', async () => {
        const ts = await win.toasts();
        const t = ts.find((x) => /not restarted/i.test(x.message));
        return t && t.buttons.includes('Restart Server') ? { ok: true, value: t } : { ok: false, seen: ts };
      }, { timeout: 20_000 });
      say(`look ${brief(l)}; notification ${JSON.stringify(toast)}`);
      await win.page.locator('.notifications-toasts .notification-toast .monaco-button', { hasText: 'Restart Server' }).first().click();
      const back = await win.mark();
      await win.waitLook('the server running again (the error look of the unreachable cluster)', running, { from: back });
      const again = await until('a new ferry lsp', () => {
        const p = server();
        return p && !killed.includes(p) ? true : { ok: false, seen: p };
      }, { timeout: 30_000 });
      check(again, 'a new ferry lsp', again);
      // Settings apply without reloading the window: ferry.server.path typed into the
      // workspace settings (JSON) and saved, as a user would (the setting is
      // machine-overridable: in a remote window, VS Code takes it from the remote's or
      // the workspace's settings), restarts the server at once — here a missing file, so
      // not running — and removing it brings the server back.
      const missing = path.join(ctx.tmp, 'gone/ferry');
      const typeSettings = async (settings) => {
        await win.command('Preferences: Open Workspace Settings (JSON)');
        await win.waitTab('settings.json');
        await win.focusEditor();
        await win.page.keyboard.press('Control+a');
        await win.page.keyboard.press('Delete');
        await win.page.keyboard.insertText(JSON.stringify(settings));
        await win.page.keyboard.press('Control+s');
      };
      try {
        const before = await win.mark();
        await typeSettings({ 'ferry.server.path': missing });
        await win.waitLook('the not-running look once ferry.server.path names a missing file', looks.notRunning, { from: before });
      } finally {
        const restored = await win.mark();
        await typeSettings({});
        await win.waitLook('running again once the setting is removed', running, { from: restored });
      }
      await win.close();
    },
  },
];

/** The pid of the `ferry lsp` that has `ws/.ferry/lock` open, if any. */
function serverOf(ws) {
  const lock = path.join(ws, '.ferry/lock');
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (cmd[1] !== 'lsp' || !/ferry$/.test(cmd[0])) continue;
      for (const fd of fs.readdirSync(`/proc/${d}/fd`)) {
        if (fs.readlinkSync(`/proc/${d}/fd/${fd}`) === lock) return Number(d);
      }
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return undefined;
}

export { Expectation };
