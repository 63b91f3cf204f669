/**
 * Migrating the Go service's flat autojoin keys.
 *
 * The Go service stored each organisation's autojoin key in plaintext, as the *name* of an
 * `APIKey` entity under `Organization/<org>` (with properties `key`, the same plaintext, and
 * `created_at`), and its clients (autojoin `register`, locate `heartbeat`) hold those flat
 * keys. Such a key has no path inside it, and searching by plaintext would need it stored.
 * So each one is rewritten as `LegacyAPIKey/<hex SHA-256 of the flat key>`: the exchange
 * hashes what it is given and does one get by key, O(1), and the same flat keys keep
 * working. A plain hash suffices because the keys are 256-bit random strings.
 *
 * The exchange also writes such a record itself on a key's first use (flatKeys.ts), so
 * this is no longer a precondition; it does every key in one pass, and it is how the plaintext
 * goes: while the plaintext entity exists it governs the key (`plaintext_twin` on the record:
 * autojoin's tools revoke by deleting it), and `deletePlaintext` first hands that authority to
 * the record (`plaintext_twin` false), then deletes the plaintext.
 *
 * The run is idempotent: a key already migrated is counted, not rewritten. The plaintext
 * entities are deleted only when asked, and only once their hashed form is in place. Nothing
 * here reports a plaintext key: only counts, organisation names and hash prefixes.
 */
import type { Key } from '@google-cloud/datastore';
import { isAcceptedOwnerId, legacyKeyId, legacyKeyName } from '../keys/grammar';
import {
  decodeStoredLegacyKey,
  isPlaintextFlatKey,
  isScopedKeyRecord,
  KIND,
  legacyKeyKey,
  newLegacyKeyRecord,
  PLAINTEXT_TWIN,
} from '../keys/entities';
import { isAlreadyExists, keyOf, nowOf, runQuery, type AdminContext, type Entity } from './context';

export interface MigrationOptions {
  /** Delete each plaintext entity once its hashed form exists (default: keep them). */
  readonly deletePlaintext?: boolean;
  /** Count what would be done, write nothing. */
  readonly dryRun?: boolean;
}

export interface OrgMigration {
  readonly org: string;
  readonly migrated: number;
  readonly alreadyMigrated: number;
  readonly plaintextDeleted: number;
}

export interface MigrationReport {
  /** `APIKey` entities read in PLATFORM_NS. */
  readonly scanned: number;
  /** Scoped keys (`ki_…`), which need no migration. */
  readonly scoped: number;
  /** Plaintext keys rewritten by this run. */
  readonly migrated: number;
  /** Plaintext keys whose hashed form already existed. */
  readonly alreadyMigrated: number;
  readonly plaintextDeleted: number;
  /** Plaintext keys whose hash is already taken by another organisation: left alone. */
  readonly conflicts: number;
  /** `APIKey` entities of neither shape (or not under an organisation): left alone. */
  readonly unrecognised: number;
  readonly dryRun: boolean;
  /** Hash prefixes (`legacy_…`) of the conflicting keys, for an operator to look into. */
  readonly conflictIds: readonly string[];
  readonly orgs: readonly OrgMigration[];
}

/** A Go-service plaintext key: its `key` property repeats its name, which is a flat key. */
function plaintextKeyOf(key: Key, entity: Entity): string | undefined {
  return key.name !== undefined && isPlaintextFlatKey(key.name, entity) ? key.name : undefined;
}

export async function migrateLegacyKeys(ctx: AdminContext, options: MigrationOptions = {}): Promise<MigrationReport> {
  const { datastore, namespaces } = ctx;
  const dryRun = options.dryRun ?? false;
  const now = nowOf(ctx);
  const entities = await runQuery(ctx, datastore.createQuery(namespaces.platformNamespace, KIND.organizationKey));
  const orgs = new Map<string, { migrated: number; alreadyMigrated: number; plaintextDeleted: number }>();
  const conflictIds: string[] = [];
  let scoped = 0;
  let unrecognised = 0;

  for (const entity of entities) {
    const key = keyOf(ctx, entity);
    const parent = key.parent;
    const org = parent?.kind === KIND.organization ? parent.name : undefined;
    if (isScopedKeyRecord(key.name ?? '', entity) && org !== undefined) {
      scoped += 1;
      continue;
    }
    const flatKey = plaintextKeyOf(key, entity);
    if (flatKey === undefined || org === undefined || !isAcceptedOwnerId(org)) {
      unrecognised += 1;
      continue;
    }
    const counts = orgs.get(org) ?? { migrated: 0, alreadyMigrated: 0, plaintextDeleted: 0 };
    orgs.set(org, counts);
    const name = legacyKeyName(flatKey);
    const target = legacyKeyKey(datastore, name, namespaces);

    const [existing] = (await datastore.get(target)) as [Entity | undefined];
    let inPlace: boolean;
    let governedByPlaintext = true;
    if (existing) {
      const stored = decodeStoredLegacyKey(existing);
      inPlace = stored.org === org;
      governedByPlaintext = stored.plaintextTwin;
      if (inPlace) counts.alreadyMigrated += 1;
    } else if (dryRun) {
      inPlace = true;
      counts.migrated += 1;
    } else {
      const createdAt = entity.created_at instanceof Date ? entity.created_at : now;
      try {
        await datastore.insert({
          key: target,
          data: newLegacyKeyRecord(org, createdAt, now),
        });
        inPlace = true;
        counts.migrated += 1;
      } catch (error) {
        // Another run got there first: the same outcome as finding it above.
        if (!isAlreadyExists(error)) throw error;
        const [raced] = (await datastore.get(target)) as [Entity | undefined];
        inPlace = raced !== undefined && decodeStoredLegacyKey(raced).org === org;
        governedByPlaintext = raced !== undefined && decodeStoredLegacyKey(raced).plaintextTwin;
        if (inPlace) counts.alreadyMigrated += 1;
      }
    }
    if (!inPlace) {
      conflictIds.push(legacyKeyId(name));
      continue;
    }
    if (options.deletePlaintext) {
      if (!dryRun) {
        // The record takes over first: an interrupted run leaves a key governed by its record
        // with the plaintext still there, never a record waiting for a deleted plaintext.
        if (governedByPlaintext) await datastore.merge({ key: target, data: { [PLAINTEXT_TWIN]: false } });
        await datastore.delete(key);
      }
      counts.plaintextDeleted += 1;
    }
  }

  const perOrg = [...orgs.entries()]
    .map(([org, counts]) => ({ org, ...counts }))
    .sort((a, b) => a.org.localeCompare(b.org));
  const total = (field: 'migrated' | 'alreadyMigrated' | 'plaintextDeleted'): number =>
    perOrg.reduce((sum, o) => sum + o[field], 0);
  return {
    scanned: entities.length,
    scoped,
    migrated: total('migrated'),
    alreadyMigrated: total('alreadyMigrated'),
    plaintextDeleted: total('plaintextDeleted'),
    conflicts: conflictIds.length,
    unrecognised,
    dryRun,
    conflictIds,
    orgs: perOrg,
  };
}
