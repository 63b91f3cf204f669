/** Revoking a key, and setting an integration key's tier: one record changed in place. */
import { KEY_STATUS } from '../../keys/entities';
import { KINDS } from '../../keys/kinds';
import { AdminError } from '../adminError';
import { nowOf, type AdminContext } from '../context';
import { updateKey, type KeyRef } from './locate';
import type { KeyRecord } from './records';

/** Revokes a key: the next exchange with it is refused. Revoking a revoked key changes nothing. */
export async function revokeApiKey(ctx: AdminContext, ref: KeyRef): Promise<KeyRecord & { alreadyRevoked: boolean }> {
  let alreadyRevoked = false;
  const record = await updateKey(ctx, ref, (entity) => {
    if (entity.status === KEY_STATUS.revoked) {
      alreadyRevoked = true;
      return undefined;
    }
    return { ...entity, status: KEY_STATUS.revoked, revoked_at: nowOf(ctx) };
  });
  return { ...record, alreadyRevoked };
}

/** Sets the tier an integration key's tokens carry, from the next exchange on. */
export async function setKeyTier(ctx: AdminContext, ref: KeyRef, tier: number): Promise<KeyRecord> {
  if (!KINDS[ref.kind].hasTier) throw new AdminError('only integration keys have a tier', 'invalid-argument');
  if (!Number.isSafeInteger(tier) || tier < 0) throw new AdminError('tier is a whole number ≥ 0', 'invalid-argument');
  return updateKey(ctx, ref, (entity) => ({ ...entity, tier: ctx.datastore.int(tier) }));
}
