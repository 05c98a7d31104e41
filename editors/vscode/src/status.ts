// The `ferry/status` payload (docs/protocol.md, "The status payload (version 1)") and what
// the status bar item shows for it: text, a Markdown tooltip, a plain-text label for
// screen readers, and the look. Pure: no `vscode` import, so it is unit-tested under Node.

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
  /** A secondary replica's problem: the pod it is on. */
  pod?: string | null;
}

/** One pod of a `replicas: all` sync path (docs/protocol.md, `paths[].replicas[]`). */
export interface ReplicaStatus {
  pod: string;
  podUid?: string;
  container?: string | null;
  role: 'primary' | 'secondary' | string;
  state: PathState | string;
  pending?: number;
  uploaded?: number;
  deleted?: number;
  lastError?: string | null;
  problemCount?: number;
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
  uploaded?: number;
  downloaded?: number;
  deleted?: number;
  lastActivity?: number | null;
  lastError?: string | null;
  problemCount?: number;
  problems?: Problem[];
  replicas?: ReplicaStatus[];
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

/**
 * How the item looks: `ok` in sync, `busy` transferring or connecting, `warning` per-file
 * problems, `error` something cannot sync, `stopped`, `locked` (another owner), `down` (the
 * server is not running), `idle` (nothing to sync).
 */
export type Look = 'ok' | 'busy' | 'warning' | 'error' | 'stopped' | 'locked' | 'down' | 'idle';

/** What the status bar item shows. `severity` picks the item's colours. */
export interface StatusView {
  text: string;
  /** Markdown (with theme icons and `command:` links to the extension's commands). */
  tooltip: string;
  /** Plain text: the item's accessibility label (text and each sync path). */
  label: string;
  severity: 'none' | 'warning' | 'error';
  look: Look;
}

export const SUPPORTED_VERSION = 1;

/** How the tooltip shows a time (ms since the epoch); the local clock time by default. */
export type Clock = (ms: number) => string;
const localClock: Clock = (ms) => new Date(ms).toLocaleTimeString();

const BUSY: ReadonlySet<string> = new Set(['connecting', 'initialSync', 'uploading', 'downloading']);
const MAX_PROBLEMS_SHOWN = 3;

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Escapes text for Markdown (names, paths and messages come from configs and clusters). */
export function md(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>~$]/g, (c) => `\\${c}`);
}

/** Inline code that cannot be broken out of (backticks in the text are replaced). */
function code(text: string): string {
  return `\`${text.replace(/`/g, "'")}\``;
}

/** The folder's name: the last segment of its URI's path. */
export function folderName(uri: string): string {
  try {
    const p = decodeURIComponent(new URL(uri).pathname).replace(/\/+$/, '');
    return p.slice(p.lastIndexOf('/') + 1) || p || uri;
  } catch {
    return uri;
  }
}

function folderPath(uri: string | undefined): string | undefined {
  if (!uri) return undefined;
  try {
    return decodeURIComponent(new URL(uri).pathname).replace(/\/+$/, '');
  } catch {
    return undefined;
  }
}

/** The local folder, relative to its workspace folder when inside it. */
function localShown(p: SyncPathStatus): string {
  const root = folderPath(p.folder);
  if (root && p.localPath === root) return '.';
  if (root && p.localPath.startsWith(root + '/')) return p.localPath.slice(root.length + 1);
  return p.localPath;
}

/** A failing path's reason in two or three words (the tooltip has the whole error). */
export function shortReason(lastError: string | null | undefined): string {
  const e = lastError ?? '';
  if (/no Running and Ready pod|no pod|pod .* not found|pods? .*(gone|deleted)/i.test(e)) return 'no pod';
  if (/cannot reach the cluster|connection refused|kubeconfig|unauthori[sz]ed|forbidden/i.test(e)) return 'no cluster';
  if (/connection lost|stream ended|watcher in the container stopped|went away/i.test(e)) return 'connection lost';
  if (/no shell|tools? (are )?missing|not found in the container/i.test(e)) return 'container unusable';
  return 'error';
}

/** Who holds a locked folder, from its message (`… synced by ferry sync (pid 42); …`). */
export function lockOwner(message: string | null | undefined): string | undefined {
  const m = /synced by (.+?)(?:;|$)/.exec(message ?? '');
  const owner = m?.[1]?.trim();
  return owner && owner !== 'another process (its lock file does not say which)' ? owner : undefined;
}

function stateIcon(state: string, problems: number): string {
  if (state === 'error') return '$(error)';
  if (state === 'stopped') return '$(stop-circle)';
  if (BUSY.has(state)) return '$(sync)';
  return problems > 0 ? '$(warning)' : '$(check)';
}

function pathWords(p: SyncPathStatus): string {
  let s = p.state;
  const total = p.total ?? 0;
  if (p.state === 'initialSync' && total > 0) s += ` ${percent(total, p.pending ?? 0)}%`;
  return s;
}

function percent(total: number, pending: number): number {
  return Math.max(0, Math.min(100, Math.floor(((total - pending) * 100) / total)));
}

function pathTooltip(p: SyncPathStatus, clock: Clock): string[] {
  const problems = p.problemCount ?? 0;
  const lines = [`${stateIcon(p.state, problems)} **${md(p.name)}** · ${md(pathWords(p))}`];
  let where = `${code(localShown(p))} ⇄ ${code(p.containerPath)}`;
  if (p.pod) where += ` · pod ${code(p.pod + (p.container ? `/${p.container}` : ''))}`;
  lines.push(where);
  const counts: string[] = [];
  const up = p.pendingUp ?? 0;
  const down = p.pendingDown ?? 0;
  if (up > 0 || down > 0) counts.push(`pending ↑${up} ↓${down}`);
  counts.push(`${p.uploaded ?? 0} up, ${p.downloaded ?? 0} down, ${p.deleted ?? 0} deleted`);
  if (p.lastActivity) counts.push(`last activity ${md(clock(p.lastActivity))}`);
  lines.push(counts.join(' · '));
  if (p.lastError) lines.push(`$(error) ${md(p.lastError)}`);
  const replicas = p.replicas ?? [];
  if (replicas.length > 0) {
    lines.push(`${plural(replicas.length, 'replica')}:`);
    for (const r of replicas) lines.push(`- ${replicaLine(r, code, md)}`);
  }
  if (problems > 0) {
    lines.push(`$(warning) ${plural(problems, 'problem')}:`);
    for (const pr of (p.problems ?? []).slice(0, MAX_PROBLEMS_SHOWN)) {
      lines.push(`- ${code(pr.path)} (${md(pr.kind)}): ${md(pr.message)}`);
    }
    if (problems > MAX_PROBLEMS_SHOWN) lines.push(`- … and ${problems - MAX_PROBLEMS_SHOWN} more (Problems panel)`);
  }
  return lines;
}

/**
 * One replica in words: `web-1 (primary) · watching · 3 up`, with its error. `name` and
 * `text` quote the pod's name and the other words for where the line goes (Markdown or
 * plain text).
 */
export function replicaLine(
  r: ReplicaStatus,
  name: (s: string) => string,
  text: (s: string) => string,
): string {
  let line = `${name(r.pod)} (${text(r.role)}) · ${text(r.state)}`;
  const pending = r.pending ?? 0;
  if (pending > 0) line += ` · pending ${pending}`;
  line += ` · ${r.uploaded ?? 0} up, ${r.deleted ?? 0} deleted`;
  const problems = r.problemCount ?? 0;
  if (problems > 0) line += ` · ${plural(problems, 'problem')}`;
  if (r.lastError) line += ` — ${text(r.lastError)}`;
  return line;
}

function pathLabel(p: SyncPathStatus): string {
  let line = `${p.name}: ${pathWords(p)}`;
  if (p.pod) line += ` (${p.pod}${p.container ? `/${p.container}` : ''})`;
  const up = p.pendingUp ?? 0;
  const down = p.pendingDown ?? 0;
  if (up > 0 || down > 0) line += ` ↑${up} ↓${down}`;
  if (p.lastError) line += ` — ${p.lastError}`;
  const problems = p.problemCount ?? 0;
  if (problems > 0) line += ` — ${plural(problems, 'problem')}`;
  const replicas = p.replicas ?? [];
  if (replicas.length > 0) line += ` — ${plural(replicas.length, 'replica')}`;
  return line;
}

/** The links at the bottom of the tooltip (the extension's palette commands). */
function links(stoppedAll: boolean): string {
  const l = [
    '[Show Log](command:ferry.showLog)',
    '[Show Status](command:ferry.status)',
    '[Resync](command:ferry.resync)',
    stoppedAll ? '[Start](command:ferry.start)' : '[Stop](command:ferry.stop)',
    '[Doctor](command:ferry.doctor)',
  ];
  return l.join(' · ');
}

function tooltipOf(s: StatusPayload, headline: string, clock: Clock, stoppedAll: boolean): string {
  const paths = s.paths ?? [];
  const folders = s.folders ?? [];
  const blocks: string[] = [`**ferry** · ${md(headline)}`];
  // Group by workspace folder; folders without paths still show (config error, locked…).
  const uris = [...new Set([...folders.map((f) => f.uri), ...paths.map((p) => p.folder ?? '')])];
  const named = uris.length > 1 || folders.some((f) => f.state !== 'syncing');
  for (const uri of uris) {
    const f = folders.find((x) => x.uri === uri);
    const mine = paths.filter((p) => (p.folder ?? '') === uri);
    const lines: string[] = [];
    if (named && uri) {
      let head = `$(folder) **${md(folderName(uri))}** · ${md(f?.state ?? 'syncing')}`;
      if (f?.message) head += ` — ${md(f.message)}`;
      lines.push(head);
    }
    if (mine.length === 0 && f?.state === 'syncing') lines.push('no sync paths');
    for (const p of mine) lines.push(...pathTooltip(p, clock));
    if (lines.length > 0) blocks.push(lines.join('  \n'));
  }
  if (paths.length === 0 && folders.length === 0) blocks.push('nothing to sync');
  blocks.push(links(stoppedAll));
  return blocks.join('\n\n---\n\n');
}

/** Before the first `ferry/status`. */
export function startingView(): StatusView {
  return {
    text: '$(sync~spin) ferry',
    tooltip: '**ferry** · starting the server',
    label: 'ferry: starting the server',
    severity: 'none',
    look: 'busy',
  };
}

/** The server is not running (it failed to start, crashed too often, or was stopped). */
export function serverDownView(reason: string): StatusView {
  return {
    text: '$(error) ferry: not running',
    tooltip: `**ferry** · not running\n\n${md(reason)}\n\n---\n\n[Restart Server](command:ferry.restartServer) · [Show Log](command:ferry.showLog)`,
    label: `ferry: not running — ${reason}`,
    severity: 'error',
    look: 'down',
  };
}

export function formatStatus(s: StatusPayload, clock: Clock = localClock): StatusView {
  if (s.version !== SUPPORTED_VERSION) {
    const why = `the server sends status version ${s.version}; this extension knows version ${SUPPORTED_VERSION}. Update the extension or the server.`;
    return { text: '$(warning) ferry: unknown status', tooltip: md(why), label: `ferry: ${why}`, severity: 'warning', look: 'warning' };
  }
  const paths = s.paths ?? [];
  const folders = s.folders ?? [];
  const locked = folders.filter((f) => f.state === 'locked');
  const configErrors = folders.filter((f) => f.state === 'configError');
  const problems = paths.reduce((n, p) => n + (p.problemCount ?? 0), 0);
  const failing = paths.filter((p) => p.state === 'error');
  const up = paths.reduce((n, p) => n + (p.pendingUp ?? 0), 0);
  const down = paths.reduce((n, p) => n + (p.pendingDown ?? 0), 0);
  const stoppedAll = s.health === 'stopped' || (paths.length > 0 && paths.every((p) => p.state === 'stopped'));

  let text: string;
  let look: Look;
  let headline: string;
  if (configErrors.length > 0) {
    text = '$(error) ferry: config error';
    look = 'error';
    headline = 'the config has an error (Problems panel)';
  } else if (s.health === 'error' || failing.length > 0) {
    const reason = failing.length > 0 ? shortReason(failing[0]!.lastError) : 'error';
    const who = failing.length === 1 && paths.length > 1 ? `${failing[0]!.name} ` : '';
    text = `$(error) ferry: ${who}${reason}`;
    look = 'error';
    headline = failing.length === 1 ? `${failing[0]!.name} cannot sync` : `${plural(failing.length, 'sync path')} cannot sync`;
  } else if (locked.length > 0) {
    const owner = lockOwner(locked[0]!.message);
    text = `$(lock) ferry: locked${owner ? ` by ${owner}` : ''}`;
    look = 'locked';
    headline = `synced by ${owner ?? 'another process'}`;
  } else if (paths.length === 0 && folders.length > 0 && folders.every((f) => f.state === 'noConfig')) {
    text = 'ferry: no config';
    look = 'idle';
    headline = 'no devspace.yaml in the workspace';
  } else if (stoppedAll) {
    text = '$(stop-circle) ferry: stopped';
    look = 'stopped';
    headline = 'stopped (Ferry: Start resumes)';
  } else {
    const initial = paths.filter((p) => p.state === 'initialSync');
    const connecting = paths.filter((p) => p.state === 'connecting');
    const busy = paths.some((p) => BUSY.has(p.state));
    text = `${problems > 0 ? '$(warning)' : busy ? '$(sync~spin)' : '$(check)'} ferry`;
    if (initial.length > 0) {
      const total = initial.reduce((n, p) => n + (p.total ?? 0), 0);
      const pending = initial.reduce((n, p) => n + (p.pending ?? 0), 0);
      text += total > 0 ? `: initial sync ${percent(total, pending)}%` : ': initial sync';
    } else if (connecting.length > 0 && connecting.length === paths.length) {
      text += ': connecting';
    } else if (up > 0 || down > 0) {
      text += ` ↑${up} ↓${down}`;
    }
    if (problems > 0) text += ` (${plural(problems, 'problem')})`;
    look = problems > 0 ? 'warning' : busy ? 'busy' : paths.length === 0 ? 'idle' : 'ok';
    headline = problems > 0 ? plural(problems, 'problem') : busy ? 'syncing' : paths.length === 0 ? 'nothing to sync' : 'in sync';
  }
  const severity = look === 'error' ? 'error' : look === 'warning' || look === 'locked' ? 'warning' : 'none';
  const labelLines = [
    text.replace(/\$\([^)]*\)\s*/g, ''),
    ...paths.map(pathLabel),
    ...folders.filter((f) => f.state !== 'syncing').map((f) => `${folderName(f.uri)}: ${f.state}${f.message ? ` — ${f.message}` : ''}`),
  ];
  return { text, tooltip: tooltipOf(s, headline, clock, stoppedAll), label: labelLines.join('; '), severity, look };
}
