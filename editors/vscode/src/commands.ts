// The palette commands (`ferry.*`, docs/protocol.md "The front ends' commands") and the
// status item's menu.
import * as vscode from 'vscode';
import { compareWithContainer, keep, showConflicts } from './conflicts';
import type { Ferry } from './ferry';
import { renderDoctor, renderList, renderStatus, type DoctorEntry, type ListEntry } from './render';
import { showReport } from './reports';
import { folderName, type StatusPayload } from './status';

/** Palette commands that only forward to the server (the status bar shows the outcome). */
const FORWARDED: ReadonlyArray<[palette: string, server: string]> = [
  ['ferry.start', 'ferry.server.start'],
  ['ferry.stop', 'ferry.server.stop'],
  ['ferry.restart', 'ferry.server.restart'],
  ['ferry.resync', 'ferry.server.resync'],
];

function failed(err: unknown): void {
  void vscode.window.showErrorMessage(`ferry: ${err instanceof Error ? err.message : String(err)}`);
}

/** Wraps a command so that a failure is shown, never lost. */
function guarded(run: (...args: unknown[]) => Promise<void>): (...args: unknown[]) => Promise<void> {
  return async (...args) => {
    try {
      await run(...args);
    } catch (err) {
      failed(err);
    }
  };
}

async function showLog(ferry: Ferry): Promise<void> {
  const client = ferry.running();
  if (!client) {
    ferry.log.show(true);
    return;
  }
  const logs = (await ferry.execute<Array<{ folder: string; path: string }>>('ferry.server.log')) ?? [];
  let chosen: { folder: string; path: string } | undefined = logs[0];
  if (logs.length > 1) {
    const pick = await vscode.window.showQuickPick(
      logs.map((l) => ({ label: folderName(l.folder), description: l.path, log: l })),
      { title: 'ferry: which sync log?' },
    );
    if (!pick) return;
    chosen = pick.log;
  }
  if (!chosen) {
    ferry.log.show(true);
    return;
  }
  await vscode.window.showTextDocument(vscode.Uri.file(chosen.path), { preview: true });
}

async function doctor(ferry: Ferry): Promise<void> {
  const result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Window, title: 'ferry: checking the setup' },
    () => ferry.execute<DoctorEntry[]>('ferry.server.doctor'),
  );
  if (result !== undefined) showReport('doctor', 'ferry: Doctor', renderDoctor(result));
}

async function status(ferry: Ferry): Promise<void> {
  const result = await ferry.execute<StatusPayload>('ferry.server.status');
  if (result !== undefined) showReport('status', 'ferry: Status', renderStatus(result));
}

async function list(ferry: Ferry): Promise<void> {
  const result = await ferry.execute<ListEntry[]>('ferry.server.list');
  if (result !== undefined) showReport('list', 'ferry: Sync Paths', renderList(result));
}

/** A click on the status item: what can be done now. */
async function menu(ferry: Ferry): Promise<void> {
  const look = ferry.look;
  const problems = (ferry.status?.paths ?? []).reduce((n, p) => n + (p.problemCount ?? 0), 0);
  const items: Array<vscode.QuickPickItem & { command: string }> = [];
  if (look === 'down') {
    items.push({ label: '$(debug-restart) Restart Server', command: 'ferry.restartServer' });
    items.push({ label: '$(output) Show Log', description: 'the extension and server log', command: 'ferry.showLog' });
  } else {
    const running = ferry.cancellableProgress();
    if (running.length > 0) {
      items.push({ label: '$(close) Cancel', description: running.join(', '), command: 'ferry.cancel' });
    }
    items.push({ label: '$(info) Show Status', command: 'ferry.status' });
    items.push({ label: '$(output) Show Log', description: 'the sync log', command: 'ferry.showLog' });
    if (problems > 0) items.push({ label: '$(warning) Show Problems', description: `${problems}`, command: 'workbench.actions.view.problems' });
    items.push({ label: '$(git-compare) Show Conflicts', command: 'ferry.conflicts' });
    items.push({ label: '$(refresh) Resync', description: 'compare both sides again', command: 'ferry.resync' });
    if (look === 'stopped') items.push({ label: '$(play) Start', command: 'ferry.start' });
    else items.push({ label: '$(debug-stop) Stop', command: 'ferry.stop' });
    items.push({ label: '$(debug-restart) Restart', description: 'stop, then start syncing', command: 'ferry.restart' });
    items.push({ label: '$(checklist) Doctor', description: 'check the setup', command: 'ferry.doctor' });
    items.push({ label: '$(server-process) Restart Server', command: 'ferry.restartServer' });
  }
  const picked = await vscode.window.showQuickPick(items, { title: 'ferry' });
  if (picked) await vscode.commands.executeCommand(picked.command);
}

export function registerCommands(context: vscode.ExtensionContext, ferry: Ferry): void {
  const register = (id: string, run: (...args: unknown[]) => Promise<void>) =>
    context.subscriptions.push(
      vscode.commands.registerCommand(
        id,
        guarded(async (...args) => {
          // A command in a window without a config starts the server (it says so).
          await ferry.wake();
          await run(...args);
        }),
      ),
    );
  for (const [palette, server] of FORWARDED) {
    register(palette, async () => {
      await ferry.execute(server);
    });
  }
  register('ferry.status', () => status(ferry));
  register('ferry.list', () => list(ferry));
  register('ferry.doctor', () => doctor(ferry));
  register('ferry.showLog', () => showLog(ferry));
  register('ferry.conflicts', () => showConflicts(ferry));
  register('ferry.compareWithContainer', (arg) => compareWithContainer(ferry, arg));
  register('ferry.keepLocal', (arg) => keep(ferry, 'local', arg));
  register('ferry.keepContainer', (arg) => keep(ferry, 'container', arg));
  register('ferry.restartServer', () => ferry.restartServer());
  register('ferry.menu', () => menu(ferry));
  register('ferry.cancel', () => ferry.cancelProgress());
}
