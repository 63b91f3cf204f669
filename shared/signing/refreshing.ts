/**
 * A value read once and re-read every `refreshMs`, for the signing key and the published key
 * set: what a rotation's waits are computed from (`shared/admin/rotationRules.ts`) is that
 * no instance uses a value read more than `refreshMs` before.
 *
 * A busy instance never waits: from three quarters of the interval on, a request starts the
 * re-read in the background and is answered with the value in hand. An instance that sat idle
 * past the whole interval cannot do that (Cloud Run gives it no CPU between requests, so no
 * timer would have run): its next request waits for the re-read. If that re-read fails, the
 * value in hand is used (a Secret Manager outage must not stop signing or unpublish keys) and
 * the re-read is tried again after `retryMs` (or the interval, if shorter). A failed first
 * read is not remembered: the next request reads again.
 */

export interface RefreshingOptions {
  /** Re-read this often, in ms; 0 never re-reads. */
  readonly refreshMs: number;
  /** After a failed re-read, try again after this long (or `refreshMs`, if shorter). */
  readonly retryMs?: number;
  /** Told about a failed re-read (the value in hand is still used). */
  readonly onRefreshError?: (error: Error) => void;
  readonly now?: () => number;
}

const DEFAULT_RETRY_MS = 30_000;

interface InHand<T> {
  readonly value: T;
  /** From here a request starts a re-read in the background. */
  refreshAt: number;
  /** From here a request waits for the re-read. */
  mustReadAt: number;
}

export class Refreshing<T> {
  private inHand: InHand<T> | undefined;
  private reading: Promise<T> | undefined;
  private readonly now: () => number;

  constructor(
    private readonly load: () => Promise<T>,
    private readonly options: RefreshingOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** The value: the one in hand while it is fresh enough, else a new read. */
  async get(): Promise<T> {
    const held = this.inHand;
    if (held === undefined) return this.read();
    if (this.options.refreshMs <= 0) return held.value;
    const now = this.now();
    if (now >= held.mustReadAt) {
      try {
        return await this.read();
      } catch {
        return held.value;
      }
    }
    if (now >= held.refreshAt) this.read().catch(() => undefined);
    return held.value;
  }

  private read(): Promise<T> {
    if (this.reading === undefined) {
      // Timed from the read's start: a value read before a change is not taken as newer.
      const startedAt = this.now();
      const refreshMs = this.options.refreshMs;
      const reading = this.load().then(
        (value) => {
          this.inHand = { value, refreshAt: startedAt + (refreshMs * 3) / 4, mustReadAt: startedAt + refreshMs };
          return value;
        },
        (error: unknown) => {
          if (this.inHand !== undefined) {
            const again = this.now() + Math.min(this.options.retryMs ?? DEFAULT_RETRY_MS, refreshMs);
            this.inHand.refreshAt = again;
            this.inHand.mustReadAt = again;
            this.options.onRefreshError?.(error instanceof Error ? error : new Error(String(error)));
          }
          throw error;
        },
      );
      this.reading = reading;
      reading.then(
        () => (this.reading = undefined),
        () => (this.reading = undefined),
      );
    }
    return this.reading;
  }
}
