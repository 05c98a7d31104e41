// Small helpers shared by the e2e modules: logging with the run's clock, polling waits
// whose failures say what was expected and what was seen.
import { setTimeout } from 'node:timers';

const t0 = Date.now();

export const since = (from = t0) => `${((Date.now() - from) / 1000).toFixed(1)}s`;
export const say = (msg) => console.error(`[e2e ${since()}] ${msg}`);
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A failed expectation: `expected` and `seen` end up in the message. */
export class Expectation extends Error {
  constructor(expected, seen) {
    super(`expected ${expected}; seen ${typeof seen === 'string' ? seen : JSON.stringify(seen)}`);
    this.name = 'Expectation';
  }
}

/**
 * Polls `probe` (sync or async) every `every` ms until it returns `{ ok: true, value }`
 * (or any truthy non-object); throws an Expectation naming `what` and the last thing seen
 * after `timeout` ms. A probe may return `{ ok: false, seen }` to say what it saw.
 */
export async function until(what, probe, { timeout = 60_000, every = 200 } = {}) {
  const deadline = Date.now() + timeout;
  let seen;
  for (;;) {
    let r;
    try {
      r = await probe();
    } catch (err) {
      r = { ok: false, seen: `error: ${err instanceof Error ? err.message : err}` };
    }
    if (r && typeof r === 'object' && 'ok' in r) {
      if (r.ok) return r.value;
      seen = r.seen;
    } else if (r) {
      return r;
    } else {
      seen = r;
    }
    if (Date.now() > deadline) throw new Expectation(`${what} within ${timeout / 1000} s`, seen ?? '(nothing)');
    await sleep(every);
  }
}

export function check(cond, expected, seen) {
  if (!cond) throw new Expectation(expected, seen);
}
