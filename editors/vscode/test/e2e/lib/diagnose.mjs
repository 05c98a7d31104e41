// What a failed scenario leaves for whoever reads CI's output: the item's look and
// tooltip at the failure, and the last lines of the logs written while it ran (the
// extension's output channel, one per window, and each sync folder's .ferry/sync.log).
// CI shows only the end of a run's output, so the run prints this again after its summary.
import fs from 'node:fs';
import path from 'node:path';
import { brief } from './vscode.mjs';

/** Files under `root` named `name` (no deeper than `depth`) modified at or after `since`. */
export function recentLogs(root, name, since) {
  return recentFiles(root, name, since);
}

function recentFiles(root, name, since, depth = 8) {
  const found = [];
  const walk = (dir, left) => {
    let entries;
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory() && left > 0 && e.name !== 'node_modules' && e.name !== 'containers') walk(p, left - 1);
      else if (e.isFile() && e.name === name && fs.statSync(p).mtimeMs >= since) found.push(p);
    }
  };
  walk(root, depth);
  return found;
}

function tail(file, lines) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines);
  } catch (err) {
    return [`(cannot read: ${err.message})`];
  }
}

/**
 * The diagnosis of a scenario that failed after starting at `since` (ms), in window
 * `win` (may be null): lines to print.
 */
export async function diagnose({ tmp, win, since, lines = 12 }) {
  const out = [];
  if (win) {
    const look = await win.look().catch((err) => `(no look: ${err.message})`);
    out.push(`look: ${typeof look === 'string' ? look : brief(look)}`);
    const tip = await win.tooltip().catch((err) => `(no tooltip: ${err.message.split('\n')[0]})`);
    out.push(`tooltip: ${JSON.stringify(tip)}`);
  } else {
    out.push('no window');
  }
  const logs = [...recentFiles(path.join(tmp, 'code-server'), 'ferry.log', since), ...recentFiles(tmp, 'sync.log', since)];
  if (logs.length === 0) out.push('no ferry log written while it ran');
  for (const log of logs) {
    out.push(`${path.relative(tmp, log)}:`);
    for (const l of tail(log, lines)) out.push(`  ${l.slice(0, 400)}`);
  }
  return out;
}
