/**
 * When each key was last used, for operators ("is this integrator's old key still in use?",
 * "which keys have not been used in a year?"): a successful exchange records the time in the
 * key's usage record (entities.ts lastUseKey), a record of its own, so it never touches the
 * key record the Go service's tools and autojoin read, nor races a revoke or a reroll.
 *
 * Written at most once per key per LAST_USED_RESOLUTION_SECONDS per instance (as GitLab
 * writes a token's last use only when the stored one is older than ten minutes): a busy key
 * costs a write every ten minutes per instance, not one per exchange. The write starts after
 * the answer is sent and nobody waits for it, so it never delays or fails an exchange. A
 * failed write is logged and not retried: the key's next exchange after the resolution
 * writes again.
 */
import { KEY_PATHS, keyPathId, lastUseKey } from '../keys/entities';
import type { Logger } from '../platform/log';
import { BoundedMap } from './boundedMap';
import type { LastUseStore } from './lookup';
import type { VerifiedKey } from './verifier';

/** Keys whose last write this instance remembers; one forgotten costs at most one early write. */
const REMEMBERED_KEYS = 50_000;

export class LastUseRecorder {
  private readonly written = new BoundedMap<number>(REMEMBERED_KEYS);

  constructor(
    private readonly store: LastUseStore,
    private readonly resolutionMs: number,
    private readonly log: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Called once the answer is sent; returns at once. */
  record(key: VerifiedKey, functionName: string): void {
    const id = keyPathId(key.record.namespace, key.record.path);
    const at = this.now();
    const last = this.written.get(id);
    if (last !== undefined && at.getTime() - last < this.resolutionMs) return;
    this.written.set(id, at.getTime());
    const who = { function: functionName, owner: key.ownerId, key_id: key.keyId };
    this.store.recordLastUse(lastUseKey(KEY_PATHS, key.record), at).then(
      (result) => {
        if (result.status !== 'written')
          this.log({ severity: 'WARNING', message: `cannot record the key's last use: ${result.cause}`, ...who });
      },
      (error: Error) =>
        this.log({ severity: 'WARNING', message: `cannot record the key's last use: ${error.message}`, ...who }),
    );
  }
}
