/**
 * Bounds how many bcrypt compares run at once on an instance. bcryptjs runs on the event
 * loop in slices; with many compares interleaved, every one of them (and every other
 * request) waits for all. A small bound plus a short queue keeps latency for the requests
 * that need no bcrypt (cached secrets, Go-service SHA-256 keys) flat during a flood, and a
 * full queue answers "busy" (503) instead of growing without bound.
 */

export class ConcurrencyLimit {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    readonly concurrency: number,
    readonly maxQueue: number,
  ) {}

  get inFlight(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Runs `task` when a slot is free; `undefined` when the queue is full (nothing was run). */
  async run<T>(task: () => Promise<T>): Promise<T | undefined> {
    if (this.active >= this.concurrency) {
      if (this.waiting.length >= this.maxQueue) return undefined;
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.active += 1;
    }
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      // The slot passes straight to the next in line, so `active` stays the same.
      if (next) next();
      else this.active -= 1;
    }
  }
}
