// Readable renderings of the server's command results (docs/protocol.md, "Commands") for
// the extension's report view: `ferry.server.doctor`, `ferry.server.status`,
// `ferry.server.list`. Pure: HTML bodies from payloads, unit-tested without VS Code.
import { folderName, type StatusPayload } from './status';

export interface DoctorCheck {
  sync?: string | null;
  what: string;
  status: 'ok' | 'warning' | 'error' | string;
  detail: string;
  fix?: string | null;
}

export interface DoctorEntry {
  folder: string;
  report: { ok: boolean; checks: DoctorCheck[] };
}

export interface ListEntry {
  folder: string;
  configFile?: string | null;
  syncPaths: Array<Record<string, unknown>>;
}

export function esc(text: unknown): string {
  return String(text ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const MARK: Record<string, string> = { ok: '✓', warning: '⚠', error: '✗' };

function table(head: string[], rows: string[][]): string {
  const th = head.map((h) => `<th>${esc(h)}</th>`).join('');
  const trs = rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${trs}\n</tbody></table>`;
}

export function renderDoctor(entries: DoctorEntry[] | null | undefined): string {
  const list = entries ?? [];
  if (list.length === 0) return '<h1>ferry doctor</h1><p>No workspace folder with a ferry config.</p>';
  const parts = ['<h1>ferry doctor</h1>'];
  for (const e of list) {
    const checks = e.report?.checks ?? [];
    const errors = checks.filter((c) => c.status === 'error').length;
    const warnings = checks.filter((c) => c.status === 'warning').length;
    const verdict = e.report?.ok
      ? `everything needed works${warnings > 0 ? ` (${warnings} warning${warnings === 1 ? '' : 's'})` : ''}`
      : `${errors} problem${errors === 1 ? '' : 's'} to fix`;
    parts.push(`<h2>${esc(folderName(e.folder))}: ${esc(verdict)}</h2>`);
    parts.push(
      table(
        ['', 'sync path', 'check', 'found', 'what to do'],
        checks.map((c) => [
          `<span class="${esc(c.status)}">${esc(MARK[c.status] ?? c.status)}</span>`,
          esc(c.sync ?? '—'),
          esc(c.what),
          esc(c.detail),
          esc(c.fix ?? ''),
        ]),
      ),
    );
  }
  return parts.join('\n');
}

function time(ms: number | null | undefined): string {
  return ms ? new Date(ms).toLocaleString() : '—';
}

export function renderStatus(s: StatusPayload | null | undefined): string {
  if (!s) return '<h1>ferry status</h1><p>No status yet.</p>';
  const parts = [`<h1>ferry status: ${esc(s.health)}</h1>`];
  const folders = s.folders ?? [];
  if (folders.length > 0) {
    parts.push('<h2>Workspace folders</h2>');
    parts.push(table(['folder', 'state', 'message'], folders.map((f) => [esc(folderName(f.uri)), esc(f.state), esc(f.message ?? '')])));
  }
  parts.push('<h2>Sync paths</h2>');
  if ((s.paths ?? []).length === 0) parts.push('<p>None.</p>');
  else
    parts.push(
      table(
        ['sync path', 'local ⇄ container', 'pod', 'state', 'pending ↑/↓', 'up / down / deleted', 'last activity', 'error'],
        s.paths.map((p) => [
          esc(p.name) + (folders.length > 1 && p.folder ? ` <small>(${esc(folderName(p.folder))})</small>` : ''),
          `<code>${esc(p.localPath)}</code> ⇄ <code>${esc(p.containerPath)}</code>`,
          esc(p.pod ? `${p.pod}${p.container ? `/${p.container}` : ''}` : '—'),
          esc(p.state),
          `${p.pendingUp ?? 0} / ${p.pendingDown ?? 0}`,
          `${p.uploaded ?? 0} / ${p.downloaded ?? 0} / ${p.deleted ?? 0}`,
          esc(time(p.lastActivity)),
          esc(p.lastError ?? ''),
        ]),
      ),
    );
  const problems = (s.paths ?? []).flatMap((p) => (p.problems ?? []).map((pr) => ({ p, pr })));
  if (problems.length > 0) {
    parts.push('<h2>Problems</h2>');
    parts.push(table(['sync path', 'file', 'kind', 'message'], problems.map(({ p, pr }) => [esc(p.name), `<code>${esc(pr.path)}</code>`, esc(pr.kind), esc(pr.message)])));
  }
  return parts.join('\n');
}

export function renderList(entries: ListEntry[] | null | undefined): string {
  const list = entries ?? [];
  const parts = ['<h1>ferry sync paths</h1>'];
  if (list.length === 0) parts.push('<p>No workspace folder with a ferry config.</p>');
  for (const e of list) {
    parts.push(`<h2>${esc(folderName(e.folder))}</h2>`);
    if (e.configFile) parts.push(`<p>config: <code>${esc(e.configFile)}</code></p>`);
    parts.push(
      table(
        ['name', 'local', 'container', 'selector', 'excludes'],
        (e.syncPaths ?? []).map((p) => [
          esc(p['name']),
          `<code>${esc(p['localPath'])}</code>`,
          `<code>${esc(p['containerPath'])}</code>`,
          esc(targetText(p['target'])),
          esc(excludesText(p['excludes'])),
        ]),
      ),
    );
  }
  return parts.join('\n');
}

/** `ferry list`'s target: `namespace/` and the label selector (or image selector). */
function targetText(v: unknown): string {
  if (!v || typeof v !== 'object') return '—';
  const t = v as { labelSelector?: Record<string, string>; imageSelector?: string | null; namespace?: string | null };
  const sel = Object.entries(t.labelSelector ?? {}).map(([k, x]) => `${k}=${x}`).join(',');
  const what = sel || (t.imageSelector ? `image ${t.imageSelector}` : '—');
  return t.namespace ? `${t.namespace}/${what}` : what;
}

/** The exclude patterns, by direction: `node_modules/, *.log; ↑ only: …; ↓ only: …`. */
function excludesText(v: unknown): string {
  if (!v || typeof v !== 'object') return '—';
  const e = v as Record<string, Array<{ text?: string }> | undefined>;
  const words = (k: string) => (e[k] ?? []).map((p) => p.text ?? '').filter(Boolean).join(', ');
  const parts = [words('both'), words('upload') && `↑ only: ${words('upload')}`, words('download') && `↓ only: ${words('download')}`];
  return parts.filter(Boolean).join('; ') || '—';
}

/** A whole page for a webview: the body, styled with the editor's theme variables. */
export function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline';">
<title>${esc(title)}</title>
<style>
body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); padding: 0 1em; }
table { border-collapse: collapse; margin-bottom: 1em; }
th, td { text-align: left; vertical-align: top; padding: 2px 8px; border-bottom: 1px solid var(--vscode-panel-border); }
code { font-family: var(--vscode-editor-font-family); }
.ok { color: var(--vscode-testing-iconPassed); }
.warning { color: var(--vscode-editorWarning-foreground); }
.error { color: var(--vscode-editorError-foreground); }
</style></head>
<body>
${body}
</body></html>`;
}
