/**
 * Counts wrong secrets per key record and refuses further guesses for a while once there
 * have been too many, before they reach bcrypt. Without it, anyone who knows a key id
 * (key ids are not secret: they travel inside every key) could keep an instance's CPU
 * busy with bcrypt compares and starve real exchanges.
 *
 * Fixed window per key: the first failure opens a window of `windowSeconds`; after
 * `maxFailures` failures within it, guesses are refused until it closes. Guesses still
 * being checked count against the limit too, so a burst of concurrent guesses cannot all
 * slip in before the first failure is recorded. Bounded: when full, the oldest windows are
 * dropped (they are also the likeliest to have expired).
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
  opensAt: number;
  failures: number;
  /** Guesses admitted and not yet settled. */
  pending: number;
}

/** An admitted guess: settle it exactly once with its outcome. */
export interface Attempt {
  settle(correct: boolean): void;
}

export type Admission = { readonly admitted: true; readonly attempt: Attempt } | { readonly admitted: false; readonly retryAfter: number };

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

  /** Admits one guess at the secret of the key at `path`, or says how long to wait. */
  admit(path: string): Admission {
    let window = this.current(path);
    if (window !== undefined && window.failures + window.pending >= this.options.maxFailures) {
      return { admitted: false, retryAfter: this.retryAfter(window) };
    }
    if (window === undefined) {
      window = { opensAt: this.now(), failures: 0, pending: 0 };
      this.windows.set(path, window);
      while (this.windows.size > this.capacity) this.windows.delete(this.windows.keys().next().value as string);
    }
    window.pending += 1;
    const admitted = window;
    let settled = false;
    return {
      admitted: true,
      attempt: {
        settle: (correct) => {
          if (settled) return;
          settled = true;
          admitted.pending -= 1;
          if (!correct) admitted.failures += 1;
          // A window that holds nothing is dropped at once, so correct guesses leave no trace.
          if (admitted.failures === 0 && admitted.pending === 0 && this.windows.get(path) === admitted) this.windows.delete(path);
        },
      },
    };
  }

  private retryAfter(window: Window): number {
    return Math.max(1, Math.ceil((window.opensAt + this.options.windowSeconds * 1000 - this.now()) / 1000));
  }

  private current(path: string): Window | undefined {
    const window = this.windows.get(path);
    if (window === undefined) return undefined;
    if (window.pending === 0 && this.now() - window.opensAt >= this.options.windowSeconds * 1000) {
      this.windows.delete(path);
      return undefined;
    }
    return window;
  }
}
