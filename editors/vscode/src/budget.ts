// How often a crashed server is restarted: at most `limit` times within `windowMs`, then
// the extension gives up and shows the server as stopped with "Restart Server" (so a
// server that crashes at start does not restart forever). Pure; the clock is passed in.

export class RestartBudget {
  private crashes: number[] = [];
  constructor(
    readonly limit = 4,
    readonly windowMs = 3 * 60_000,
  ) {}

  /** A crash at `now`: whether to restart. */
  crashed(now: number): boolean {
    this.crashes = this.crashes.filter((t) => now - t < this.windowMs);
    this.crashes.push(now);
    return this.crashes.length <= this.limit;
  }

  /** The crashes counted now (for the message). */
  get count(): number {
    return this.crashes.length;
  }

  /** A restart the user asked for starts a fresh budget. */
  reset(): void {
    this.crashes = [];
  }
}
