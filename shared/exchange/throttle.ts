/**
 * Counts wrong secrets per bucket (a string: GuessThrottle below makes them from key ids
 * and client addresses) and refuses further guesses for a while once there have been too
 * many, before they reach bcrypt. Without it, anyone who knows a key id (key ids are not
 * secret: they travel inside every key and every integration JWT) could keep an instance's
 * CPU busy with bcrypt compares and starve real exchanges.
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

export type Admission =
  { readonly admitted: true; readonly attempt: Attempt } | { readonly admitted: false; readonly retryAfter: number };

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
          if (admitted.failures === 0 && admitted.pending === 0 && this.windows.get(path) === admitted)
            this.windows.delete(path);
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

export interface GuessThrottleOptions {
  /** Wrong secrets per key id from one client address within a window (THROTTLE_MAX_FAILURES). */
  readonly maxFailuresPerKey: number;
  /** Wrong secrets from one client address, over all keys, within a window (THROTTLE_ADDRESS_MAX_FAILURES). */
  readonly maxFailuresPerAddress: number;
  readonly windowSeconds: number;
  readonly capacity?: number;
  readonly now?: () => number;
}

/**
 * Bcrypt guesses, counted where they come from: per key id and client address, and per
 * client address over all keys. A flood of wrong secrets from one address gets 429 there;
 * the key's owner, at another address, is not counted with it and still gets a compare.
 * The per-address count bounds the bcrypt work one address can cause across many key ids.
 */
export class GuessThrottle {
  private readonly perKey: FailureThrottle;
  private readonly perAddress: FailureThrottle;

  constructor(options: GuessThrottleOptions) {
    const common = {
      windowSeconds: options.windowSeconds,
      ...(options.capacity ? { capacity: options.capacity } : {}),
      ...(options.now ? { now: options.now } : {}),
    };
    this.perKey = new FailureThrottle({ ...common, maxFailures: options.maxFailuresPerKey });
    this.perAddress = new FailureThrottle({ ...common, maxFailures: options.maxFailuresPerAddress });
  }

  /** Admits one guess at the secret of the key at `path` from `address`, or says how long to wait. */
  admit(path: string, address: string): Admission {
    const key = this.perKey.admit(`${address}\n${path}`);
    if (!key.admitted) return key;
    const all = this.perAddress.admit(address);
    if (!all.admitted) {
      // Not checked, so it counts neither way.
      key.attempt.settle(true);
      return all;
    }
    return {
      admitted: true,
      attempt: {
        settle: (correct) => {
          key.attempt.settle(correct);
          all.attempt.settle(correct);
        },
      },
    };
  }
}
