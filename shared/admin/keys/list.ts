/** Listing and showing keys: an owner's, or every owner's at once (one query per kind, not one per owner). */
import { KIND, namespaceFor } from '../../keys/entities';
import { KINDS, type KeyKind } from '../../keys/kinds';
import { AdminError } from '../adminError';
import { getOwner, keyOf, runQuery, type AdminContext, type Entity } from '../context';
import { withLastUse } from './lastUse';
import { locateKey, type KeyRef } from './locate';
import { keyEntitiesOf, legacyEntitiesOf } from './queries';
import {
  byCreation,
  flatKeyRecords,
  isPlaintextEntity,
  isScopedKeyEntity,
  scopedRecord,
  type KeyRecord,
} from './records';

/**
 * Every key of an integration or organisation (flat keys included, migrated or not), oldest
 * first, each with its last use.
 */
export async function listApiKeys(ctx: AdminContext, kind: KeyKind, ownerId: string): Promise<KeyRecord[]> {
  await getOwner(ctx, kind, ownerId);
  const entities = await keyEntitiesOf(ctx, kind, ownerId);
  const keys = entities
    .filter((entity) => isScopedKeyEntity(ctx, entity))
    .map((entity) => scopedRecord(ctx, kind, ownerId, keyOf(ctx, entity).name as string, entity));
  if (KINDS[kind].hasFlatKeys) {
    const plaintexts = entities.filter((entity) => isPlaintextEntity(ctx, entity));
    keys.push(...flatKeyRecords(ctx, await legacyEntitiesOf(ctx, ownerId), plaintexts));
  }
  return withLastUse(ctx, keys.sort(byCreation));
}

/** One key of an integration or organisation, with its last use. */
export async function showApiKey(ctx: AdminContext, ref: KeyRef): Promise<KeyRecord> {
  const { key, legacy } = await locateKey(ctx, ref);
  if (!legacy) {
    const [entity] = (await ctx.datastore.get(key)) as [Entity | undefined];
    if (!entity)
      throw new AdminError(
        `key ${ref.keyId} of ${KINDS[ref.kind].ownerWord} ${ref.ownerId} does not exist`,
        'not-found',
      );
    const [record] = await withLastUse(ctx, [scopedRecord(ctx, ref.kind, ref.ownerId, ref.keyId, entity)]);
    return record;
  }
  const found = (await listApiKeys(ctx, ref.kind, ref.ownerId)).find((record) => record.keyId === ref.keyId);
  if (!found)
    throw new AdminError(`key ${ref.keyId} of ${KINDS[ref.kind].ownerWord} ${ref.ownerId} does not exist`, 'not-found');
  return found;
}

/**
 * Groups every key record of a kind in its namespace by owner, each with its last use: one
 * query (and batched gets of the usage records), not one per owner.
 */
export async function allKeysByOwner(ctx: AdminContext, kind: KeyKind): Promise<Map<string, KeyRecord[]>> {
  const all: KeyRecord[] = [];
  const add = (record: KeyRecord): void => void all.push(record);
  const plaintexts: Entity[] = [];
  for (const entity of await runQuery(
    ctx,
    ctx.datastore.createQuery(namespaceFor(kind, ctx.namespaces), KINDS[kind].keyKind),
  )) {
    const key = keyOf(ctx, entity);
    const owner = key.parent?.name;
    if (owner !== undefined && isScopedKeyEntity(ctx, entity))
      add(scopedRecord(ctx, kind, owner, key.name as string, entity));
    else if (KINDS[kind].hasFlatKeys && owner !== undefined && isPlaintextEntity(ctx, entity)) plaintexts.push(entity);
  }
  if (KINDS[kind].hasFlatKeys) {
    const records = await runQuery(ctx, ctx.datastore.createQuery(ctx.namespaces.platformNamespace, KIND.legacyKey));
    for (const record of flatKeyRecords(ctx, records, plaintexts)) add(record);
  }
  const byOwner = new Map<string, KeyRecord[]>();
  for (const record of await withLastUse(ctx, all)) {
    const list = byOwner.get(record.ownerId) ?? [];
    list.push(record);
    byOwner.set(record.ownerId, list);
  }
  return byOwner;
}
