// Conflicts where you edit: "Compare with the container's version" (the server's code
// action names this client command; also a palette command for the active file), "Keep my
// version" / "Take the container's version" for the active file, and `Ferry: Show
// Conflicts`. The decisions are the server's (`ferry.server.resolve`, docs/protocol.md).
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Ferry } from './ferry';
import { asFileKey, localFile, locate, type FileKey } from './locate';

interface Versions {
  local?: unknown;
  container?: unknown;
}
interface OpenConflict {
  path: string;
  kind: string;
  copy: string;
  message: string;
  versions: Versions;
}
interface PathConflicts {
  folder: string;
  slot: number;
  name: string;
  conflicts: OpenConflict[];
}

/** The file a command is about: its argument (a code action's), else the active editor's. */
function target(ferry: Ferry, arg: unknown): FileKey | undefined {
  const key = asFileKey(arg);
  if (key) return key;
  const doc = vscode.window.activeTextEditor?.document;
  if (!doc || doc.uri.scheme !== 'file') {
    void vscode.window.showInformationMessage('ferry: open a synced file first.');
    return undefined;
  }
  const found = locate(ferry.status, doc.uri.fsPath);
  if (!found) void vscode.window.showInformationMessage(`ferry: ${path.basename(doc.uri.fsPath)} is in no sync path.`);
  return found;
}

export async function compareWithContainer(ferry: Ferry, arg?: unknown): Promise<void> {
  const key = target(ferry, arg);
  if (!key) return;
  const local = localFile(ferry.status, key);
  const fetched = await ferry.execute<{ path: string }>('ferry.server.containerVersion', [key]);
  if (!fetched || !local) return;
  await vscode.commands.executeCommand(
    'vscode.diff',
    vscode.Uri.file(fetched.path),
    vscode.Uri.file(local),
    `${key.path} (container ↔ local)`,
  );
}

async function openConflicts(ferry: Ferry, folder?: string): Promise<PathConflicts[]> {
  return (await ferry.execute<PathConflicts[]>('ferry.server.conflicts', folder ? [{ folder }] : [])) ?? [];
}

export async function keep(ferry: Ferry, which: 'local' | 'container', arg?: unknown): Promise<void> {
  const key = target(ferry, arg);
  if (!key) return;
  const open = (await openConflicts(ferry, key.folder)).find((p) => p.slot === key.slot);
  const conflict = open?.conflicts.find((c) => c.path === key.path);
  if (!conflict) {
    void vscode.window.showInformationMessage(`ferry: ${key.path} has no open conflict.`);
    return;
  }
  await resolve(ferry, key, which, conflict.versions);
}

async function resolve(ferry: Ferry, key: FileKey, which: 'local' | 'container', expect: Versions): Promise<void> {
  try {
    const done = await ferry.execute<{ done: string }>('ferry.server.resolve', [{ ...key, keep: which, expect }]);
    if (done) void vscode.window.setStatusBarMessage(`ferry: ${done.done}`, 5_000);
  } catch (err) {
    void vscode.window.showErrorMessage(`ferry: ${err instanceof Error ? err.message : String(err)}`);
  }
}

interface ConflictPick extends vscode.QuickPickItem {
  key: FileKey;
  conflict: OpenConflict;
}

/** `Ferry: Show Conflicts`: every open conflict; picking one offers what to do with it. */
export async function showConflicts(ferry: Ferry): Promise<void> {
  const all = await openConflicts(ferry);
  const items: ConflictPick[] = all.flatMap((p) =>
    p.conflicts.map((c) => ({
      label: c.path,
      description: `${p.name} · ${c.kind}`,
      detail: c.message,
      key: { folder: p.folder, slot: p.slot, path: c.path },
      conflict: c,
    })),
  );
  if (items.length === 0) {
    void vscode.window.showInformationMessage('ferry: no conflicts.');
    return;
  }
  const picked = await vscode.window.showQuickPick(items, {
    title: `ferry: ${items.length} conflict${items.length === 1 ? '' : 's'}`,
    placeHolder: 'Pick a file to resolve',
    matchOnDescription: true,
    matchOnDetail: true,
  });
  if (!picked) return;
  const actions = [
    { label: "$(diff) Compare with the container's version", run: () => compareWithContainer(ferry, picked.key) },
    { label: '$(check) Keep my version', run: () => resolve(ferry, picked.key, 'local', picked.conflict.versions) },
    {
      label: "$(cloud-download) Take the container's version",
      run: () => resolve(ferry, picked.key, 'container', picked.conflict.versions),
    },
    {
      label: '$(go-to-file) Open the file',
      run: async () => {
        const file = localFile(ferry.status, picked.key);
        if (file) await vscode.window.showTextDocument(vscode.Uri.file(file));
      },
    },
  ];
  const action = await vscode.window.showQuickPick(actions, { title: `ferry: ${picked.key.path}` });
  await action?.run();
}
