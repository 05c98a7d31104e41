// Which `ferry` binary runs the server (pure: the file system is passed in, so the order
// is unit-tested). Order: the `ferry.server.path` setting, the binary bundled in the
// .vsix (`server/ferry`), `ferry` on `PATH`.
import * as path from 'node:path';

export type BinarySource = 'setting' | 'bundled' | 'PATH';

export interface Found {
  path: string;
  source: BinarySource;
}

export interface NotFound {
  /** What was looked for, in order, for the error message. */
  tried: string[];
  /** The setting names a file that is not there (the error offers to change it). */
  badSetting: boolean;
}

export interface Lookup {
  /** `ferry.server.path` as set (empty or unset: not set). */
  setting: string | undefined;
  /** The extension's folder (where a bundled `server/ferry` would be). */
  extensionPath: string;
  /** `PATH` of the environment the server gets. */
  pathEnv: string | undefined;
  home: string;
  /** Whether `file` is an executable regular file. */
  isExecutable: (file: string) => boolean;
}

/** `~/x` → home/x; other paths as they are. */
export function expandHome(p: string, home: string): string {
  if (p === '~') return home;
  return p.startsWith('~/') ? path.join(home, p.slice(2)) : p;
}

export function bundledPath(extensionPath: string): string {
  return path.join(extensionPath, 'server', 'ferry');
}

export function findBinary(l: Lookup): Found | NotFound {
  const setting = l.setting?.trim();
  if (setting) {
    const p = expandHome(setting, l.home);
    // A bare name (no slash) is looked up on PATH, as a shell would.
    if (!p.includes('/')) {
      const onPath = searchPath(p, l.pathEnv, l.isExecutable);
      if (onPath) return { path: onPath, source: 'setting' };
      return { tried: [`"${p}" on PATH (ferry.server.path)`], badSetting: true };
    }
    if (l.isExecutable(p)) return { path: p, source: 'setting' };
    return { tried: [`${p} (ferry.server.path)`], badSetting: true };
  }
  const bundled = bundledPath(l.extensionPath);
  if (l.isExecutable(bundled)) return { path: bundled, source: 'bundled' };
  const onPath = searchPath('ferry', l.pathEnv, l.isExecutable);
  if (onPath) return { path: onPath, source: 'PATH' };
  return { tried: [`${bundled} (bundled)`, '"ferry" on PATH'], badSetting: false };
}

function searchPath(name: string, pathEnv: string | undefined, isExecutable: (f: string) => boolean): string | undefined {
  for (const dir of (pathEnv ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export function isFound(r: Found | NotFound): r is Found {
  return 'path' in r;
}
