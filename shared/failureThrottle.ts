/**
 * Counts wrong secrets per key record and refuses further guesses for a while once there
 * have been too many, before they reach bcrypt. Without it, anyone who knows a key id
 * (key ids are not secret: they travel inside every key) could keep an instance's CPU
 * busy with bcrypt compares and starve real exchanges.
 *
 * Fixed window per key: the first failure opens a window of `windowSeconds`; after
 * `maxFailures` failures within it, guesses are refused until it closes. Bounded: when full,
 * the oldest windows are dropped (they are also the likeliest to have expired).
 */

export interface ThrottleOptions {
  /** Wrong secrets allowed per key within a window (default 5). */
  readonly maxFailures: number;
  /** Window length in seconds (default 60). */
  readonly windowSeconds: number;
  /** Keys tracked at most (default 10 000). */
  readonly capacity?: number;
  readonly now?: () => number;
}

interface Window {
  readonly opensAt: number;
  failures: number;
}

export class FailureThrottle {
  private readonly windows = new Map<string, Window>();
  private readonly capacity: number;
  private readonly now: () => number;

  constructor(private readonly options: ThrottleOptions) {
    this.capacity = options.capacity ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.windows.size;
  }

  /** Seconds until guesses for `path` are allowed again, or 0 when they are allowed now. */
  retryAfter(path: string): number {
    const window = this.current(path);
    if (window === undefined || window.failures < this.options.maxFailures) return 0;
    return Math.max(1, Math.ceil((window.opensAt + this.options.windowSeconds * 1000 - this.now()) / 1000));
  }

  recordFailure(path: string): void {
    const window = this.current(path);
    if (window !== undefined) {
      window.failures += 1;
      return;
    }
    this.windows.set(path, { opensAt: this.now(), failures: 1 });
    while (this.windows.size > this.capacity) {
      this.windows.delete(this.windows.keys().next().value as string);
    }
  }

  private current(path: string): Window | undefined {
    const window = this.windows.get(path);
    if (window === undefined) return undefined;
    if (this.now() - window.opensAt >= this.options.windowSeconds * 1000) {
      this.windows.delete(path);
      return undefined;
    }
    return window;
  }
}
