/**
 * How a stored key reads to operators (a KeyRecord: ids, status and dates, never a hash), and
 * how an organisation's flat keys are told apart and merged. A Go-made flat key lives as a
 * plaintext `APIKey/<the key>` entity, a `LegacyAPIKey/<sha256>` record, or both; operators
 * see one record per key either way, named by its hash prefix, never by the key itself.
 */
import { legacyKeyId, legacyKeyName } from '../../keys/grammar';
import { KINDS, type KeyKind } from '../../keys/kinds';
import {
  apiKeyKey,
  decodeStoredKey,
  decodeStoredLegacyKey,
  isPlaintextFlatKey,
  isScopedKeyRecord,
  isUsable,
  KEY_PATHS,
  KEY_STATUS,
  legacyKeyKey,
  type KeyPath,
} from '../../keys/entities';
import { dateOf, keyOf, nowOf, textOf, type AdminContext, type Entity } from '../context';

/** What operators see of an API key: never its secret or hash. */
export interface KeyRecord {
  readonly kind: KeyKind;
  readonly ownerId: string;
  /** `ki_…`, or `legacy_…` (a hash prefix) for a migrated flat autojoin key. */
  readonly keyId: string;
  /** `active`, `revoked`, or `expired` (active but past `expires_at`). */
  readonly status: string;
  /** Integration keys only. */
  readonly tier: number | undefined;
  readonly description: string;
  readonly createdAt: Date | undefined;
  readonly expiresAt: Date | undefined;
  readonly revokedAt: Date | undefined;
  readonly legacy: boolean;
  /** A flat key whose Go-service plaintext entity still exists (and governs it). */
  readonly inPlaintext: boolean;
  /** The key that replaced this one in a reroll (`replaced_by`), and the one this replaced (`replaces`). */
  readonly replacedBy: string | undefined;
  readonly replaces: string | undefined;
  /** The record the exchange verifies the key by: its last use is recorded beside it. */
  readonly recordPath: KeyPath;
  /** When an exchange with it last succeeded (null: never); undefined: not read (lastUse.ts). */
  readonly lastUsedAt?: Date | null;
}

/** A property naming another key (`replaced_by`, `replaces`), if it holds one. */
function keyIdOf(value: unknown): string | undefined {
  const text = textOf(value);
  return text === '' ? undefined : text;
}

function statusOf(stored: { status: string; expiresAt?: Date | undefined }, now: Date): string {
  if (stored.status === KEY_STATUS.active && !isUsable(stored, now)) return 'expired';
  return stored.status === '' ? 'unknown' : stored.status;
}

export function scopedRecord(
  ctx: AdminContext,
  kind: KeyKind,
  ownerId: string,
  keyId: string,
  entity: Entity,
): KeyRecord {
  const stored = decodeStoredKey(entity);
  return {
    kind,
    ownerId,
    keyId,
    status: statusOf(stored, nowOf(ctx)),
    tier: KINDS[kind].hasTier ? stored.tier : undefined,
    description: textOf(entity.description),
    createdAt: dateOf(entity.created_at),
    expiresAt: stored.expiresAt,
    revokedAt: dateOf(entity.revoked_at),
    legacy: false,
    inPlaintext: false,
    replacedBy: keyIdOf(entity.replaced_by),
    replaces: keyIdOf(entity.replaces),
    recordPath: apiKeyKey(KEY_PATHS, kind, ownerId, keyId, ctx.namespaces),
  };
}

/**
 * A flat key's record. `plaintextPresent`: whether its Go-service plaintext entity exists, when
 * known; a record that the plaintext governs is refused once the plaintext is gone (as the
 * old tools revoke), so it lists as revoked.
 */
export function legacyRecord(ctx: AdminContext, name: string, entity: Entity, plaintextPresent?: boolean): KeyRecord {
  const stored = decodeStoredLegacyKey(entity);
  const revokedByDeletion = stored.plaintextTwin && plaintextPresent === false;
  return {
    kind: 'autojoin',
    ownerId: stored.org,
    keyId: legacyKeyId(name),
    status:
      revokedByDeletion && stored.status === KEY_STATUS.active ? KEY_STATUS.revoked : statusOf(stored, nowOf(ctx)),
    tier: undefined,
    description: revokedByDeletion
      ? 'migrated flat key; its plaintext was deleted'
      : plaintextPresent
        ? 'migrated flat key, still in plaintext'
        : 'migrated flat key',
    createdAt: dateOf(entity.created_at),
    expiresAt: stored.expiresAt,
    revokedAt: dateOf(entity.revoked_at),
    legacy: true,
    inPlaintext: plaintextPresent === true,
    replacedBy: keyIdOf(entity.replaced_by),
    replaces: undefined,
    recordPath: legacyKeyKey(KEY_PATHS, name, ctx.namespaces),
  };
}

/** A Go-made flat key nobody migrated yet: only its plaintext entity exists. */
function plaintextRecord(ctx: AdminContext, org: string, flatKey: string, entity: Entity): KeyRecord {
  const name = legacyKeyName(flatKey);
  return {
    kind: 'autojoin',
    ownerId: org,
    keyId: legacyKeyId(name),
    status: KEY_STATUS.active,
    tier: undefined,
    description: 'flat key, still in plaintext (not migrated)',
    createdAt: dateOf(entity.created_at),
    expiresAt: undefined,
    revokedAt: undefined,
    legacy: true,
    inPlaintext: true,
    replacedBy: undefined,
    replaces: undefined,
    // The exchange records a flat key when it first uses it, and its last use beside that record.
    recordPath: legacyKeyKey(KEY_PATHS, name, ctx.namespaces),
  };
}

/**
 * The Go service's plaintext autojoin keys are `APIKey` children too: their name is the
 * key itself. They are listed by the hash prefix of the key, never by name.
 */
export function isScopedKeyEntity(ctx: AdminContext, entity: Entity): boolean {
  return isScopedKeyRecord(keyOf(ctx, entity).name ?? '', entity);
}

export function isPlaintextEntity(ctx: AdminContext, entity: Entity): boolean {
  return isPlaintextFlatKey(keyOf(ctx, entity).name ?? '', entity);
}

/**
 * The flat keys of organisations: their records, merged with the plaintext entities (each
 * record marked by whether its plaintext still exists; a plaintext without a record listed as
 * not migrated).
 */
export function flatKeyRecords(
  ctx: AdminContext,
  records: readonly Entity[],
  plaintexts: readonly Entity[],
): KeyRecord[] {
  const plaintextByName = new Map<string, Entity>();
  for (const entity of plaintexts) {
    const key = keyOf(ctx, entity);
    if (key.parent?.name !== undefined) plaintextByName.set(legacyKeyName(key.name as string), entity);
  }
  const result: KeyRecord[] = [];
  for (const entity of records) {
    const name = keyOf(ctx, entity).name as string;
    const plaintext = plaintextByName.get(name);
    const owner = decodeStoredLegacyKey(entity).org;
    const present = plaintext !== undefined && keyOf(ctx, plaintext).parent?.name === owner;
    if (present) plaintextByName.delete(name);
    result.push(legacyRecord(ctx, name, entity, present));
  }
  for (const entity of plaintextByName.values()) {
    const key = keyOf(ctx, entity);
    result.push(plaintextRecord(ctx, key.parent?.name as string, key.name as string, entity));
  }
  return result;
}

export function byCreation(a: KeyRecord, b: KeyRecord): number {
  return (a.createdAt?.getTime() ?? 0) - (b.createdAt?.getTime() ?? 0) || a.keyId.localeCompare(b.keyId);
}
