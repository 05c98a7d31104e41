// Which sync path a local file belongs to, and the key the server's conflict commands take
// (`{folder, slot, path}`, docs/protocol.md). Pure.
import type { StatusPayload } from './status';

export interface FileKey {
  folder: string;
  slot: number;
  /** Relative to the sync path's local folder, `/`-separated. */
  path: string;
}

/** The deepest sync path whose local folder holds `file` (an absolute path). */
export function locate(status: StatusPayload | undefined, file: string): FileKey | undefined {
  let best: { key: FileKey; depth: number } | undefined;
  for (const p of status?.paths ?? []) {
    if (!p.folder) continue;
    const root = p.localPath.replace(/\/+$/, '');
    if (!file.startsWith(root + '/')) continue;
    if (best && best.depth >= root.length) continue;
    best = { key: { folder: p.folder, slot: p.id, path: file.slice(root.length + 1) }, depth: root.length };
  }
  return best?.key;
}

/** The local file of a key (the inverse of [`locate`]). */
export function localFile(status: StatusPayload | undefined, key: FileKey): string | undefined {
  const p = status?.paths.find((x) => x.folder === key.folder && x.id === key.slot);
  return p ? `${p.localPath.replace(/\/+$/, '')}/${key.path}` : undefined;
}

/** A value as a file key (a code action's argument), or `undefined`. */
export function asFileKey(v: unknown): FileKey | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o['folder'] === 'string' && typeof o['slot'] === 'number' && typeof o['path'] === 'string') {
    return { folder: o['folder'], slot: o['slot'], path: o['path'] };
  }
  return undefined;
}
