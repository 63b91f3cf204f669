/**
 * Finding one key by what operators type, and changing it in a transaction. A scoped key is
 * named by its path; a flat key, which has no path of its own, by the hash prefix `key list`
 * shows.
 */
import type { Key, Transaction } from '@google-cloud/datastore';
import { isAcceptedKeyId, isLegacyKeyId, legacyKeyId, legacyKeyName, type KeyKind } from '../../keys/grammar';
import { apiKeyKey, legacyKeyKey, newLegacyKeyRecord } from '../../keys/entities';
import { KINDS } from '../../keys/kinds';
import { AdminError } from '../adminError';
import { checkOwnerId, dateOf, keyOf, nowOf, type AdminContext, type Entity } from '../context';
import { UNINDEXED_KEY_PROPERTIES } from './create';
import { keyEntitiesOf, legacyEntitiesOf } from './queries';
import { isPlaintextEntity, legacyRecord, scopedRecord, type KeyRecord } from './records';

/** Names one API key: an integration's or organisation's `ki_…` key, or an org's `legacy_…` key. */
export interface KeyRef {
  readonly kind: KeyKind;
  readonly ownerId: string;
  readonly keyId: string;
}

/** Runs `change` on one key record in a transaction and writes back what it returns. */
export async function updateKey(
  ctx: AdminContext,
  ref: KeyRef,
  change: (entity: Entity, record: KeyRecord, tx: Transaction) => Promise<Entity | undefined> | Entity | undefined,
): Promise<KeyRecord> {
  const { key, legacy, absentAs } = await locateKey(ctx, ref);
  const tx = ctx.datastore.transaction();
  await tx.run();
  try {
    const [found] = (await tx.get(key)) as [Entity | undefined];
    if (!found && !absentAs)
      throw new AdminError(
        `key ${ref.keyId} of ${KINDS[ref.kind].ownerWord} ${ref.ownerId} does not exist`,
        'not-found',
      );
    const entity = (found ?? absentAs) as Entity;
    const record = legacy
      ? legacyRecord(ctx, key.name as string, entity)
      : scopedRecord(ctx, ref.kind, ref.ownerId, ref.keyId, entity);
    const updated = await change(entity, record, tx);
    if (updated !== undefined) {
      const write = { key, data: stripKey(updated), excludeFromIndexes: legacy ? [] : UNINDEXED_KEY_PROPERTIES };
      // A flat key nobody migrated gets its record now, in the same commit as the change.
      if (found) tx.update(write);
      else tx.insert(write);
    }
    await tx.commit();
    const result = updated ?? entity;
    return legacy
      ? legacyRecord(ctx, key.name as string, result)
      : scopedRecord(ctx, ref.kind, ref.ownerId, ref.keyId, result);
  } catch (error) {
    await tx.rollback().catch(() => undefined);
    throw error;
  }
}

function stripKey(entity: Entity): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(entity)) data[name] = value;
  return data;
}

/**
 * A flat key has no path of its own: operators name it by the hash prefix that `key list`
 * shows, which must match exactly one of the organisation's flat keys. One nobody migrated
 * yet has no record: `absentAs` is the record to write with the change (governed by its
 * plaintext, as the exchange would write it).
 */
export async function locateKey(
  ctx: AdminContext,
  ref: KeyRef,
): Promise<{ key: Key; legacy: boolean; absentAs?: Entity }> {
  checkOwnerId(ref.ownerId, KINDS[ref.kind].ownerIdWord);
  // Any key id the Go service accepted (its tool documents -key-id=ki_custom).
  if (isAcceptedKeyId(ref.keyId))
    return { key: apiKeyKey(ctx.datastore, ref.kind, ref.ownerId, ref.keyId, ctx.namespaces), legacy: false };
  if (KINDS[ref.kind].hasFlatKeys && isLegacyKeyId(ref.keyId)) {
    const matches = (await legacyEntitiesOf(ctx, ref.ownerId)).filter(
      (entity) => legacyKeyId(keyOf(ctx, entity).name as string) === ref.keyId,
    );
    if (matches.length > 1) throw new AdminError(`key id ${ref.keyId} is ambiguous`, 'failed-precondition');
    if (matches.length === 1) return { key: keyOf(ctx, matches[0]), legacy: true };
    const plaintexts = (await keyEntitiesOf(ctx, 'autojoin', ref.ownerId)).filter(
      (entity) =>
        isPlaintextEntity(ctx, entity) && legacyKeyId(legacyKeyName(keyOf(ctx, entity).name as string)) === ref.keyId,
    );
    if (plaintexts.length === 0)
      throw new AdminError(`key ${ref.keyId} of organisation ${ref.ownerId} does not exist`, 'not-found');
    if (plaintexts.length > 1) throw new AdminError(`key id ${ref.keyId} is ambiguous`, 'failed-precondition');
    const plaintext = plaintexts[0];
    const now = nowOf(ctx);
    return {
      key: legacyKeyKey(ctx.datastore, legacyKeyName(keyOf(ctx, plaintext).name as string), ctx.namespaces),
      legacy: true,
      absentAs: newLegacyKeyRecord(ref.ownerId, dateOf(plaintext.created_at) ?? now, now),
    };
  }
  throw new AdminError(
    `key id ${JSON.stringify(ref.keyId)} is not valid: use ki_ and up to 61 more bytes without a dot` +
      (KINDS[ref.kind].hasFlatKeys ? ' (or legacy_ and 16 hex, for a flat key)' : ''),
    'invalid-argument',
  );
}
