// The server's stderr, line by line, into the "ferry" LogOutputChannel at the level each
// line was logged at (`ferry lsp` logs with tracing: `TIMESTAMP  LEVEL message`), so a
// warning reads `[warning]` and not every line `[error]`. Pure.

export type Level = 'error' | 'warn' | 'info' | 'debug' | 'trace';

export interface LogLine {
  level: Level;
  message: string;
}

const LEVELS: Record<string, Level> = { ERROR: 'error', WARN: 'warn', INFO: 'info', DEBUG: 'debug', TRACE: 'trace' };

/** One stderr line: its level and message (the timestamp dropped; the channel adds one). */
export function parseLine(line: string): LogLine {
  const m = /^\S+\s+(ERROR|WARN|INFO|DEBUG|TRACE)\s+(.*)$/.exec(line);
  if (m) return { level: LEVELS[m[1]!]!, message: m[2]! };
  // Not a tracing line (a panic, a message from the runtime): show it as it is, loudly.
  return { level: /panicked|fatal|error/i.test(line) ? 'error' : 'info', message: line };
}

/** Splits a stream into lines across chunks. */
export class LineSplitter {
  private rest = '';
  push(chunk: string): string[] {
    const text = this.rest + chunk;
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    return lines.map((l) => l.replace(/\r$/, '')).filter((l) => l.length > 0);
  }
  flush(): string[] {
    const last = this.rest;
    this.rest = '';
    return last ? [last] : [];
  }
}
