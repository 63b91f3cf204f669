/**
 * When keys were last used, as operators read it: each key's usage record (written by the
 * exchange, exchange/lastUse.ts), fetched by key in batches, never by a query. A time is
 * known to within LAST_USED_RESOLUTION_SECONDS (default 600): an instance writes a key's use
 * at most that often.
 */
import type { Key } from '@google-cloud/datastore';
import { KEY_STATUS, keyPathId, LAST_USED_AT, lastUseKey } from '../../keys/entities';
import { dateOf, keyOf, type AdminContext, type Entity } from '../context';
import type { KeyRecord } from './records';

/** Keys a lookup asks for at once (Datastore takes up to 1,000). */
const BATCH = 1000;

/** `records` with `lastUsedAt` read: the time, or null for a key never used since recording began. */
export async function withLastUse(ctx: AdminContext, records: readonly KeyRecord[]): Promise<KeyRecord[]> {
  const usedAt = new Map<string, Date>();
  for (let start = 0; start < records.length; start += BATCH) {
    const keys = records.slice(start, start + BATCH).map((record) => lastUseKey(ctx.datastore, record.recordPath));
    const [entities] = (await ctx.datastore.get(keys)) as [Entity[]];
    for (const entity of entities) {
      const key = keyOf(ctx, entity);
      const at = dateOf(entity[LAST_USED_AT]);
      // The usage record is `<the key's record>/KeyUsage/last`: its parent names the key.
      if (at !== undefined) usedAt.set(keyPathId(key.namespace, key.path.slice(0, -2)), at);
    }
  }
  return records.map((record) => ({
    ...record,
    lastUsedAt: usedAt.get(keyPathId(record.recordPath.namespace, record.recordPath.path)) ?? null,
  }));
}

/**
 * What deleting a key record must delete: the record and its usage record, a child, which
 * Datastore does not delete with its parent (our keys are named, never numbered, so the
 * path's elements are strings).
 */
export function keyAndUsageRecord(ctx: Pick<AdminContext, 'datastore'>, key: Key): Key[] {
  return [key, lastUseKey(ctx.datastore, { namespace: key.namespace ?? '', path: key.path.map(String) })];
}

/** The latest use over some keys (an owner's): null when none was ever used. */
export function latestUse(records: readonly KeyRecord[]): Date | null {
  let latest: Date | null = null;
  for (const { lastUsedAt } of records) if (lastUsedAt && (!latest || lastUsedAt > latest)) latest = lastUsedAt;
  return latest;
}

/**
 * Active keys with no use since `cutoff`: last used before it, or never used and made before
 * it (a key made yesterday has not been unused for 90 days).
 */
export function unusedSince(records: readonly KeyRecord[], cutoff: Date): KeyRecord[] {
  return records.filter((record) => {
    if (record.status !== KEY_STATUS.active) return false;
    const since = record.lastUsedAt ?? record.createdAt;
    return since === undefined || since.getTime() < cutoff.getTime();
  });
}
