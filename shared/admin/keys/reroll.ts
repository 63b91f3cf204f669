/** Rerolling a key: a successor for the same owner, and a grace period for the old key. */
import { KEY_STATUS } from '../../keys/entities';
import { AdminError } from '../adminError';
import { getOwner, nowOf, type AdminContext } from '../context';
import { prepareApiKey, type NewKey } from './create';
import { updateKey, type KeyRef } from './locate';
import type { KeyRecord } from './records';

export const DEFAULT_REROLL_GRACE_SECONDS = 24 * 3600;

export interface RerollOptions {
  /** How long the old key keeps working, in seconds (default 24 h); never beyond its own expiry. */
  readonly graceSeconds?: number;
  /**
   * Expiry of the new key. Default: the old key's lifetime policy — if it had an expiry, the
   * new key gets the same lifetime (its `expires_at` − `created_at`), counted from now; if
   * not, none.
   */
  readonly expiresAt?: Date;
  /** Reroll a key that was already rerolled and is still in its grace period (a second live successor). */
  readonly force?: boolean;
}

/** Where the new key's expiry came from. */
export type RerollExpiry = 'given' | 'same-lifetime' | 'same-date' | 'never';

export interface RerolledKey {
  readonly newKey: NewKey;
  /** The new key's expiry, if any, and why. */
  readonly newKeyExpiresAt: Date | undefined;
  readonly newKeyExpiry: RerollExpiry;
  /** The old key, now expiring at the end of the grace period (or earlier, as it was). */
  readonly oldKey: KeyRecord;
}

/**
 * The new key's expiry when none is given: the old key's policy carries over. A key that
 * lived N days gets a successor that lives N days from now — a reroll is how an expiring
 * key is renewed, and a successor that died with its predecessor would be no renewal. A key
 * without a known creation time keeps its date; a key that never expired gets one that
 * never does.
 */
function inheritedExpiry(record: KeyRecord, now: Date): { expiresAt: Date | undefined; expiry: RerollExpiry } {
  if (record.expiresAt === undefined) return { expiresAt: undefined, expiry: 'never' };
  const lifetime = record.createdAt === undefined ? 0 : record.expiresAt.getTime() - record.createdAt.getTime();
  if (lifetime > 0) return { expiresAt: new Date(now.getTime() + lifetime), expiry: 'same-lifetime' };
  return { expiresAt: record.expiresAt, expiry: 'same-date' };
}

/** The property on a rerolled key naming its successor: a second reroll in the grace period is refused. */
const REPLACED_BY = 'replaced_by';
/** The property on a successor naming the key it replaced. */
const REPLACES = 'replaces';

/**
 * Replaces a key with a new one for the same owner, tier and description. The old key
 * keeps working through the grace period so the integrator can switch without an outage.
 * Both writes commit together: there is never a new key whose plaintext was lost, nor an
 * old key cut short without its successor. A key already rerolled and still in its grace
 * period is refused unless `force`, naming its successor: a second successor is almost
 * always a mistake (the first one's plaintext is what the integrator was given).
 */
export async function rerollApiKey(ctx: AdminContext, ref: KeyRef, options: RerollOptions = {}): Promise<RerolledKey> {
  const graceSeconds = options.graceSeconds ?? DEFAULT_REROLL_GRACE_SECONDS;
  if (!Number.isFinite(graceSeconds) || graceSeconds < 0)
    throw new AdminError('the grace period is a duration ≥ 0', 'invalid-argument');
  if (options.expiresAt !== undefined && options.expiresAt.getTime() <= nowOf(ctx).getTime()) {
    throw new AdminError('the new key would be expired at birth: give an expiry in the future', 'invalid-argument');
  }
  let newKey: NewKey | undefined;
  let newExpiry: { expiresAt: Date | undefined; expiry: RerollExpiry } = { expiresAt: undefined, expiry: 'never' };
  const oldKey = await updateKey(ctx, ref, async (entity, record, tx) => {
    if (record.status !== KEY_STATUS.active) {
      throw new AdminError(`key ${ref.keyId} is ${record.status}: create a new key instead`, 'failed-precondition');
    }
    const successor = entity[REPLACED_BY];
    if (typeof successor === 'string' && successor !== '' && !options.force) {
      throw new AdminError(
        `key ${ref.keyId} was already rerolled: its successor is ${successor}, and ${ref.keyId} keeps working until ${record.expiresAt?.toISOString().replace(/\.\d{3}Z$/, 'Z') ?? 'it is revoked'}; reroll ${successor} instead, or pass --force for a second successor`,
        'failed-precondition',
      );
    }
    newExpiry =
      options.expiresAt !== undefined
        ? { expiresAt: options.expiresAt, expiry: 'given' }
        : inheritedExpiry(record, nowOf(ctx));
    const prepared = await prepareApiKey(ctx, {
      kind: ref.kind,
      ownerId: ref.ownerId,
      description: record.legacy ? `reroll of ${ref.keyId}` : record.description,
      ...(record.tier !== undefined && { tier: record.tier }),
      ...(newExpiry.expiresAt !== undefined && { expiresAt: newExpiry.expiresAt }),
    });
    await getOwner(ctx, ref.kind, ref.ownerId, tx);
    // Each names the other, so `key show` of either tells an operator where the traffic should go.
    tx.insert({ ...prepared.entity, data: { ...prepared.entity.data, [REPLACES]: ref.keyId } });
    newKey = prepared.newKey;
    const graceEnd = new Date(nowOf(ctx).getTime() + graceSeconds * 1000);
    const expiresAt =
      record.expiresAt !== undefined && record.expiresAt.getTime() < graceEnd.getTime() ? record.expiresAt : graceEnd;
    return { ...entity, expires_at: expiresAt, [REPLACED_BY]: prepared.newKey.keyId };
  });
  if (newKey === undefined) throw new Error('reroll committed without a new key');
  return { newKey, newKeyExpiresAt: newExpiry.expiresAt, newKeyExpiry: newExpiry.expiry, oldKey };
}
