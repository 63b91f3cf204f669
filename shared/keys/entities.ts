/**
 * The Datastore schema, shared with the Go service: kind names, property names and how a
 * stored key record reads. Entities written by either implementation read the same.
 *
 *   namespace CLIENT_INTEGRATION_NS:  IntegrationMeta/<integrationId> → IntegrationAPIKey/<keyId>
 *   namespace PLATFORM_NS:            Organization/<org> → APIKey/<keyId>
 *                                     LegacyAPIKey/<hex SHA-256 of a flat key>  (root)
 *
 * A Go-made flat autojoin key is `APIKey/<the key itself>` under its organisation, with
 * properties `key` (the same string) and `created_at`. Its `LegacyAPIKey` record (written by
 * `migrate-legacy` or by the exchange's first use of the key) holds `org`, `status`,
 * `created_at`, `migrated_at` and `plaintext_twin`: true while the plaintext entity still
 * exists and governs the key (deleting it, as the old tools revoke, refuses the key).
 */
import { isAcceptedKeyId, isLegacyAutojoinKey } from './grammar';
import { KINDS, namespaceFor, type KeyKind, type Namespaces } from './kinds';

export { namespaceFor, type Namespaces } from './kinds';

/** Datastore kinds by name; those of owners and key records come from the kinds table. */
export const KIND = {
  integration: KINDS.integration.ownerKind,
  integrationKey: KINDS.integration.keyKind,
  organization: KINDS.autojoin.ownerKind,
  organizationKey: KINDS.autojoin.keyKind,
  legacyKey: 'LegacyAPIKey',
  keyUsage: 'KeyUsage',
} as const;

export const KEY_STATUS = { active: 'active', revoked: 'revoked' } as const;

/** A key as Datastore names it: a namespace and a path of kinds and names. */
export interface KeyPath {
  readonly namespace: string;
  readonly path: string[];
}

/**
 * What makes a key from a KeyPath: the Datastore client (`datastore.key`, for operators'
 * writes), or KEY_PATHS, the path as it is (the exchange, which needs no client to read).
 */
export interface KeyBuilder<K> {
  key(options: KeyPath): K;
}

export const KEY_PATHS: KeyBuilder<KeyPath> = { key: (options) => options };

/**
 * A key's identity as one string: its namespace and path (kinds and names or ids, in order).
 * Unambiguous although names may hold `/` (the Go service's grammar allows it): two different
 * records never share an identity, so none share a cache, throttle or batch entry.
 */
export function keyPathId(namespace: string | undefined, path: ReadonlyArray<string | number>): string {
  return JSON.stringify([namespace ?? '', ...path.map(String)]);
}

export function ownerKey<K>(keys: KeyBuilder<K>, kind: KeyKind, ownerId: string, namespaces: Namespaces): K {
  return keys.key({ namespace: namespaceFor(kind, namespaces), path: [KINDS[kind].ownerKind, ownerId] });
}

export function apiKeyKey<K>(
  keys: KeyBuilder<K>,
  kind: KeyKind,
  ownerId: string,
  keyId: string,
  namespaces: Namespaces,
): K {
  return keys.key({
    namespace: namespaceFor(kind, namespaces),
    path: [KINDS[kind].ownerKind, ownerId, KINDS[kind].keyKind, keyId],
  });
}

export function legacyKeyKey<K>(keys: KeyBuilder<K>, name: string, namespaces: Namespaces): K {
  return keys.key({ namespace: namespaces.platformNamespace, path: [KIND.legacyKey, name] });
}

/** The Go service's plaintext entity of a flat key: `Organization/<org>/APIKey/<flat key>`. */
export function plaintextKeyKey<K>(keys: KeyBuilder<K>, org: string, flatKey: string, namespaces: Namespaces): K {
  return apiKeyKey(keys, 'autojoin', org, flatKey, namespaces);
}

/** The property of a key's usage record: when an exchange with the key last succeeded. */
export const LAST_USED_AT = 'last_used_at';

/**
 * Where a key's last use is recorded: `KeyUsage/last`, a child of the record the exchange
 * reads (the scoped key, or a flat key's LegacyAPIKey). A record of its own kind, so writing it
 * can never overwrite a concurrent revoke, tier change or reroll of the key record, and the
 * Go service's and autojoin's readers, which ask for kind `APIKey`, never see it.
 */
export function lastUseKey<K>(keys: KeyBuilder<K>, record: KeyPath): K {
  return keys.key({ namespace: record.namespace, path: [...record.path, KIND.keyUsage, 'last'] });
}

/** The property of a LegacyAPIKey record that says its plaintext twin still governs it. */
export const PLAINTEXT_TWIN = 'plaintext_twin';

/**
 * The LegacyAPIKey record of a Go-made flat key found under `org`, as the exchange and the
 * migration write it: active, governed by its plaintext twin while that exists.
 */
export function newLegacyKeyRecord(
  org: string,
  createdAt: Date,
  migratedAt: Date,
): { org: string; status: string; created_at: Date; migrated_at: Date; [PLAINTEXT_TWIN]: true } {
  return { org, status: KEY_STATUS.active, created_at: createdAt, migrated_at: migratedAt, [PLAINTEXT_TWIN]: true };
}

/** A key record as the exchange needs it. */
export interface StoredKey {
  /** bcrypt hash (ours) or lowercase hex SHA-256 (the Go service's) of the secret. */
  readonly keyHash: string;
  readonly status: string;
  /** 0 when absent (the Go service's keys have none). */
  readonly tier: number;
  readonly expiresAt: Date | undefined;
  /** Why the record cannot be used as stored (a tier that is not an integer), if it cannot. */
  readonly unreadable?: string;
}

/** A migrated flat autojoin key: its owner is a property, as the key has no path. */
export interface StoredLegacyKey {
  readonly org: string;
  readonly status: string;
  /** Set when the key was rerolled: it keeps working through a grace period, then stops. */
  readonly expiresAt: Date | undefined;
  /** The plaintext `APIKey/<flat key>` still governs the key: without it the key is refused. */
  readonly plaintextTwin: boolean;
}

function property(entity: Record<string, unknown>, name: string): unknown {
  return entity[name];
}

function asDate(value: unknown): Date | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value;
  if (typeof value === 'string' || typeof value === 'number') {
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? undefined : date;
  }
  return undefined;
}

/**
 * The tier: an integer, 0 when absent. Tokens carry integers (Locate compares them), and
 * the Go service could not load a record whose tier is not one, so neither do we: such a
 * record (2.5, "1", true) is refused as unreadable, rather than rounded into a tier nobody
 * set. Returns NaN for those.
 */
function asTier(value: unknown): number {
  if (value === undefined || value === null) return 0;
  // Integers beyond 2^53 arrive wrapped when wrapNumbers is on.
  const number = value !== null && typeof value === 'object' && 'value' in value ? Number(value.value) : value;
  return typeof number === 'number' && Number.isSafeInteger(number) ? number : Number.NaN;
}

/** Reads a stored key record; a missing or odd property reads as "not valid", never throws. */
export function decodeStoredKey(entity: Record<string, unknown>): StoredKey {
  const keyHash = property(entity, 'key_hash');
  const status = property(entity, 'status');
  const tier = asTier(property(entity, 'tier'));
  return {
    keyHash: typeof keyHash === 'string' ? keyHash : '',
    status: typeof status === 'string' ? status : '',
    tier: Number.isNaN(tier) ? 0 : tier,
    expiresAt: asDate(property(entity, 'expires_at')),
    ...(Number.isNaN(tier) ? { unreadable: 'tier is not an integer' } : {}),
  };
}

export function decodeStoredLegacyKey(entity: Record<string, unknown>): StoredLegacyKey {
  const org = property(entity, 'org');
  const status = property(entity, 'status');
  return {
    org: typeof org === 'string' ? org : '',
    status: typeof status === 'string' ? status : '',
    expiresAt: asDate(property(entity, 'expires_at')),
    // Absent in records written before the property existed: the record alone governs them.
    plaintextTwin: property(entity, PLAINTEXT_TWIN) === true,
  };
}

/** Whether a key record may be used now: active and not past its expiry. */
export function isUsable(key: { status: string; expiresAt?: Date | undefined }, now: Date): boolean {
  return key.status === KEY_STATUS.active && (key.expiresAt === undefined || key.expiresAt.getTime() > now.getTime());
}

/**
 * Under an organisation, `APIKey` entities are of two shapes: the Go service's plaintext flat
 * keys (named by the key, which `key` repeats) and scoped key records (named by a key id,
 * with a `key_hash`). Told apart by their properties as well as their names, since a flat key
 * may happen to start with `ki_`.
 */
export function isPlaintextFlatKey(name: string, entity: Record<string | symbol, unknown>): boolean {
  return entity.key === name && entity.key_hash === undefined && isLegacyAutojoinKey(name);
}

export function isScopedKeyRecord(name: string, entity: Record<string | symbol, unknown>): boolean {
  return isAcceptedKeyId(name) && !isPlaintextFlatKey(name, entity);
}
