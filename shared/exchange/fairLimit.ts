/**
 * Bounds how many bcrypt compares run at once on an instance, and shares the waiting line
 * fairly between client addresses. bcryptjs runs on the event loop (≈ 90 ms a compare at
 * cost 10): a small bound keeps the requests that need no bcrypt fast during a flood. With
 * one first-come line, whoever sends most fills it, and a key's owner waits behind the
 * whole flood or is turned away; here each address (a "lane") waits in a line of its own,
 * and a freed slot goes to the lanes in turn. An owner's compare waits for at most one
 * compare per address ahead of it, however many guesses each address has sent.
 *
 * A lane holds at most `maxQueuePerLane` waiting compares, and all lanes together
 * `maxQueue`; past either the answer is "busy" (503) rather than an ever longer wait.
 */

export class FairLimit {
  private active = 0;
  private waitingCount = 0;
  /** Waiting compares per lane; Map order is the turn order (a served lane goes to the back). */
  private readonly lanes = new Map<string, Array<() => void>>();

  constructor(
    readonly concurrency: number,
    readonly maxQueue: number,
    readonly maxQueuePerLane: number,
  ) {}

  get inFlight(): number {
    return this.active;
  }

  get queued(): number {
    return this.waitingCount;
  }

  /** Runs `task` in `lane`'s turn; `undefined` when its line or the whole queue is full (nothing ran). */
  async run<T>(lane: string, task: () => Promise<T>): Promise<T | undefined> {
    if (this.active >= this.concurrency) {
      const waiting = this.lanes.get(lane);
      if (this.waitingCount >= this.maxQueue || (waiting?.length ?? 0) >= this.maxQueuePerLane) return undefined;
      this.waitingCount += 1;
      await new Promise<void>((resolve) => {
        if (waiting) waiting.push(resolve);
        else this.lanes.set(lane, [resolve]);
      });
    } else {
      this.active += 1;
    }
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  private release(): void {
    const first = this.lanes.entries().next();
    if (first.done) {
      this.active -= 1;
      return;
    }
    const [lane, waiting] = first.value;
    const next = waiting.shift() as () => void;
    this.lanes.delete(lane);
    if (waiting.length > 0) this.lanes.set(lane, waiting);
    this.waitingCount -= 1;
    // The slot passes straight to the next lane's first compare, so `active` stays the same.
    next();
  }
}
