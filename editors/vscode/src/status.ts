// The `ferry/status` payload (docs/protocol.md, "The status payload (version 1)") and its
// formatting for the status bar. Pure: no `vscode` import, so it is unit-tested under Node.

export type Health = 'ok' | 'warning' | 'error' | 'stopped';
export type PathState =
  | 'connecting'
  | 'initialSync'
  | 'watching'
  | 'uploading'
  | 'downloading'
  | 'error'
  | 'stopped';
export type FolderState = 'syncing' | 'noConfig' | 'configError' | 'locked' | 'stopped';

export interface Problem {
  path: string;
  kind: string;
  message: string;
}

export interface SyncPathStatus {
  id: number;
  folder?: string;
  name: string;
  localPath: string;
  containerPath: string;
  state: PathState | string;
  pod?: string | null;
  container?: string | null;
  pending?: number;
  pendingUp?: number;
  pendingDown?: number;
  total?: number;
  lastError?: string | null;
  problemCount?: number;
  problems?: Problem[];
}

export interface FolderStatus {
  uri: string;
  state: FolderState | string;
  message?: string | null;
}

export interface StatusPayload {
  version: number;
  health: Health | string;
  pid?: number;
  updated?: number;
  paths: SyncPathStatus[];
  folders?: FolderStatus[];
}

/** What the status bar item shows. `severity` picks the item's colours. */
export interface StatusView {
  text: string;
  tooltip: string;
  severity: 'none' | 'warning' | 'error';
}

export const SUPPORTED_VERSION = 1;

const BUSY: ReadonlySet<string> = new Set(['connecting', 'initialSync', 'uploading', 'downloading']);

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function pathLine(p: SyncPathStatus): string {
  let line = `${p.name}: ${p.state}`;
  if (p.pod) line += ` (${p.pod}${p.container ? `/${p.container}` : ''})`;
  const up = p.pendingUp ?? 0;
  const down = p.pendingDown ?? 0;
  if (up > 0 || down > 0) line += ` ↑${up} ↓${down}`;
  if (p.lastError) line += ` — ${p.lastError}`;
  const problems = p.problemCount ?? 0;
  if (problems > 0) line += ` — ${plural(problems, 'problem')}`;
  return line;
}

function folderLine(f: FolderStatus): string {
  return `${f.uri}: ${f.state}${f.message ? ` — ${f.message}` : ''}`;
}

/** Before the first `ferry/status`. */
export function startingView(): StatusView {
  return { text: '$(sync~spin) ferry', tooltip: 'ferry: starting the server', severity: 'none' };
}

/** The server is not running (it failed to start, or was stopped). */
export function serverDownView(reason: string): StatusView {
  return { text: '$(error) ferry: not running', tooltip: `ferry: ${reason}`, severity: 'error' };
}

export function formatStatus(s: StatusPayload): StatusView {
  if (s.version !== SUPPORTED_VERSION) {
    return {
      text: '$(warning) ferry: unknown status',
      tooltip: `ferry: the server sends status version ${s.version}; this extension knows version ${SUPPORTED_VERSION}. Update the extension or the server.`,
      severity: 'warning',
    };
  }
  const paths = s.paths ?? [];
  const folders = s.folders ?? [];
  const lines = [...paths.map(pathLine), ...folders.filter((f) => f.state !== 'syncing').map(folderLine)];
  const tooltip = lines.length > 0 ? lines.join('\n') : 'ferry: nothing to sync';

  const locked = folders.filter((f) => f.state === 'locked');
  const configErrors = folders.filter((f) => f.state === 'configError');
  const problems = paths.reduce((n, p) => n + (p.problemCount ?? 0), 0);
  const failing = paths.filter((p) => p.state === 'error');
  const up = paths.reduce((n, p) => n + (p.pendingUp ?? 0), 0);
  const down = paths.reduce((n, p) => n + (p.pendingDown ?? 0), 0);

  if (configErrors.length > 0) return { text: '$(error) ferry: config error', tooltip, severity: 'error' };
  if (s.health === 'error' || failing.length > 0) {
    const what = failing.length === 1 && paths.length > 1 ? `${failing[0]!.name} error` : 'error';
    return { text: `$(error) ferry: ${what}`, tooltip, severity: 'error' };
  }
  if (locked.length > 0) return { text: '$(lock) ferry: locked', tooltip, severity: 'warning' };
  if (paths.length === 0) {
    const noConfig = folders.length > 0 && folders.every((f) => f.state === 'noConfig');
    if (noConfig) return { text: 'ferry: no config', tooltip, severity: 'none' };
  }
  if (s.health === 'stopped' || (paths.length > 0 && paths.every((p) => p.state === 'stopped'))) {
    return { text: '$(stop-circle) ferry: stopped', tooltip, severity: 'none' };
  }
  const warning = s.health === 'warning' || problems > 0;
  const icon = warning ? '$(warning)' : paths.some((p) => BUSY.has(p.state)) ? '$(sync~spin)' : '$(check)';
  let text = `${icon} ferry`;
  const initial = paths.filter((p) => p.state === 'initialSync');
  const connecting = paths.filter((p) => p.state === 'connecting');
  if (initial.length > 0) {
    const total = initial.reduce((n, p) => n + (p.total ?? 0), 0);
    const pending = initial.reduce((n, p) => n + (p.pending ?? 0), 0);
    text += total > 0 ? `: initial sync ${Math.floor(((total - pending) * 100) / total)}%` : ': initial sync';
  } else if (connecting.length > 0 && connecting.length === paths.length) {
    text += ': connecting';
  } else if (up > 0 || down > 0) {
    text += ` ↑${up} ↓${down}`;
  }
  if (warning && problems > 0) text += ` (${plural(problems, 'problem')})`;
  return { text, tooltip, severity: warning ? 'warning' : 'none' };
}
