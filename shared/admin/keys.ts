/**
 * The lifecycle of integrations, organisations and API keys: the one implementation the
 * admin CLI, the local stack and the tests all use, so a key made anywhere reads the same to
 * the exchange. The plaintext key is returned once, at creation (or reroll), and stored
 * nowhere; listings carry ids and metadata, never a hash.
 *
 * Expected failures (a bad id, a missing owner, an integration that still has active keys)
 * are AdminErrors with a stable code, which the CLI prints as one line.
 */
import { PropertyFilter, type Datastore, type Key, type Transaction } from '@google-cloud/datastore';
import {
  formatApiKey,
  generateKeyId,
  generateSecret,
  isAcceptedKeyId,
  isAcceptedOwnerId,
  isLegacyKeyId,
  isValidKeyId,
  isValidOwnerId,
  legacyKeyId,
  legacyKeyName,
  type KeyKind,
} from '../keys/grammar';
import {
  apiKeyKey,
  decodeStoredKey,
  decodeStoredLegacyKey,
  isPlaintextFlatKey,
  isScopedKeyRecord,
  isUsable,
  KEY_STATUS,
  KIND,
  legacyKeyKey,
  namespaceFor,
  OWNER_KIND,
  ownerKey,
  PLAINTEXT_TWIN,
  type Namespaces,
} from '../keys/entities';
import { DEFAULT_BCRYPT_COST, hashSecret } from '../keys/secretHash';

export class AdminError extends Error {
  override readonly name = 'AdminError';
  constructor(
    message: string,
    readonly code: 'invalid-argument' | 'not-found' | 'already-exists' | 'failed-precondition',
  ) {
    super(message);
  }
}

export interface AdminContext {
  readonly datastore: Datastore;
  readonly namespaces: Namespaces;
  /** bcrypt cost for new keys (default 10). */
  readonly bcryptCost?: number;
  readonly now?: () => Date;
}

/** A new integration or organisation gets an id of the strict shape. */
function checkNewOwnerId(id: string, what: string): void {
  if (!isValidOwnerId(id)) {
    throw new AdminError(`${what} ${JSON.stringify(id)} is not valid: use 1 to 64 of A-Z a-z 0-9 _ - (not __…__)`, 'invalid-argument');
  }
}

/** An existing one may have any id the Go service (and its tool) accepted. */
function checkOwnerId(id: string, what: string): void {
  if (!isAcceptedOwnerId(id)) {
    throw new AdminError(`${what} ${JSON.stringify(id)} is not valid: 1 to 64 bytes without a dot (not __…__)`, 'invalid-argument');
  }
}

function isAlreadyExists(error: unknown): boolean {
  // gRPC ALREADY_EXISTS, as Datastore answers an insert of an existing key.
  return (error as { code?: unknown }).code === 6;
}

export async function createIntegration(ctx: AdminContext, integrationId: string, description = ''): Promise<void> {
  checkNewOwnerId(integrationId, 'integration id');
  const now = (ctx.now ?? (() => new Date()))();
  try {
    await ctx.datastore.insert({
      key: ownerKey(ctx.datastore, 'integration', integrationId, ctx.namespaces),
      data: { created_at: now, description },
      excludeFromIndexes: ['description'],
    });
  } catch (error) {
    if (isAlreadyExists(error)) throw new AdminError(`integration ${integrationId} already exists`, 'already-exists');
    throw error;
  }
}

export interface OrganizationInput {
  readonly name: string;
  readonly email?: string;
}

/** An autojoin organisation, with the properties the Go service and autojoin read. */
export async function createOrganization(ctx: AdminContext, input: OrganizationInput): Promise<void> {
  checkNewOwnerId(input.name, 'organisation name');
  const now = (ctx.now ?? (() => new Date()))();
  try {
    await ctx.datastore.insert({
      key: ownerKey(ctx.datastore, 'autojoin', input.name, ctx.namespaces),
      data: {
        name: input.name,
        email: input.email ?? '',
        created_at: now,
        // autojoin reads it; a float, as the Go service writes it.
        probability_multiplier: ctx.datastore.double(1.0),
      },
    });
  } catch (error) {
    if (isAlreadyExists(error)) throw new AdminError(`organisation ${input.name} already exists`, 'already-exists');
    throw error;
  }
}

export interface NewKeyInput {
  readonly kind: KeyKind;
  /** Integration id or organisation name; it must exist. */
  readonly ownerId: string;
  readonly description?: string;
  /** Integration keys only; 0 when omitted. */
  readonly tier?: number;
  readonly expiresAt?: Date;
  /** `ki_` + 16 lowercase hex; random when omitted. */
  readonly keyId?: string;
}

export interface NewKey {
  readonly kind: KeyKind;
  readonly ownerId: string;
  readonly keyId: string;
  /** The plaintext API key: show it once, store it nowhere. */
  readonly apiKey: string;
}

/** A key record ready to write, and the plaintext key it belongs to. */
interface PreparedKey {
  readonly entity: { key: Key; data: Record<string, unknown>; excludeFromIndexes: string[] };
  readonly newKey: NewKey;
}

// The secret's hash and the description are never queried: leave them out of the indexes.
const UNINDEXED_KEY_PROPERTIES = ['key_hash', 'description'];

async function prepareApiKey(ctx: AdminContext, input: NewKeyInput): Promise<PreparedKey> {
  checkOwnerId(input.ownerId, input.kind === 'integration' ? 'integration id' : 'organisation name');
  const keyId = input.keyId ?? generateKeyId();
  if (!isValidKeyId(keyId)) throw new AdminError(`key id ${JSON.stringify(keyId)} is not valid: use ki_ and 16 lowercase hex digits`, 'invalid-argument');
  if (input.tier !== undefined && (input.kind !== 'integration' || !Number.isSafeInteger(input.tier) || input.tier < 0)) {
    throw new AdminError('tier is a whole number ≥ 0, for integration keys only', 'invalid-argument');
  }
  const now = nowOf(ctx);
  const secret = generateSecret();
  const data: Record<string, unknown> = {
    key_hash: await hashSecret(secret, ctx.bcryptCost ?? DEFAULT_BCRYPT_COST),
    created_at: now,
    description: input.description ?? '',
    status: KEY_STATUS.active,
  };
  if (input.kind === 'integration') data.tier = ctx.datastore.int(input.tier ?? 0);
  if (input.expiresAt !== undefined) data.expires_at = input.expiresAt;
  return {
    entity: { key: apiKeyKey(ctx.datastore, input.kind, input.ownerId, keyId, ctx.namespaces), data, excludeFromIndexes: UNINDEXED_KEY_PROPERTIES },
    newKey: { kind: input.kind, ownerId: input.ownerId, keyId, apiKey: formatApiKey({ kind: input.kind, ownerId: input.ownerId, keyId, secret }) },
  };
}

function ownerWord(kind: KeyKind): string {
  return kind === 'integration' ? 'integration' : 'organisation';
}

export async function createApiKey(ctx: AdminContext, input: NewKeyInput): Promise<NewKey> {
  const prepared = await prepareApiKey(ctx, input);
  const [owner] = await ctx.datastore.get(ownerKey(ctx.datastore, input.kind, input.ownerId, ctx.namespaces));
  if (!owner) throw new AdminError(`${ownerWord(input.kind)} ${input.ownerId} does not exist`, 'not-found');
  try {
    await ctx.datastore.insert(prepared.entity);
  } catch (error) {
    if (isAlreadyExists(error)) throw new AdminError(`key ${prepared.newKey.keyId} already exists`, 'already-exists');
    throw error;
  }
  return prepared.newKey;
}

// ---- reading ----

type Entity = Record<string | symbol, unknown>;

function nowOf(ctx: AdminContext): Date {
  return (ctx.now ?? (() => new Date()))();
}

function keyOf(ctx: AdminContext, entity: Entity): Key {
  return entity[ctx.datastore.KEY] as Key;
}

function dateOf(value: unknown): Date | undefined {
  return value instanceof Date && !Number.isNaN(value.getTime()) ? value : undefined;
}

function textOf(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

async function runQuery(ctx: AdminContext, query: ReturnType<Datastore['createQuery']>): Promise<Entity[]> {
  const [entities] = await ctx.datastore.runQuery(query);
  return entities as Entity[];
}

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
}

function statusOf(stored: { status: string; expiresAt?: Date | undefined }, now: Date): string {
  if (stored.status === KEY_STATUS.active && !isUsable(stored, now)) return 'expired';
  return stored.status === '' ? 'unknown' : stored.status;
}

function scopedRecord(ctx: AdminContext, kind: KeyKind, ownerId: string, keyId: string, entity: Entity): KeyRecord {
  const stored = decodeStoredKey(entity);
  return {
    kind,
    ownerId,
    keyId,
    status: statusOf(stored, nowOf(ctx)),
    tier: kind === 'integration' ? stored.tier : undefined,
    description: textOf(entity.description),
    createdAt: dateOf(entity.created_at),
    expiresAt: stored.expiresAt,
    revokedAt: dateOf(entity.revoked_at),
    legacy: false,
    inPlaintext: false,
  };
}

/**
 * A flat key's record. `plaintextPresent`: whether its Go-service plaintext entity exists, when
 * known; a record that the plaintext governs is refused once the plaintext is gone (as the
 * old tools revoke), so it lists as revoked.
 */
function legacyRecord(ctx: AdminContext, name: string, entity: Entity, plaintextPresent?: boolean): KeyRecord {
  const stored = decodeStoredLegacyKey(entity);
  const revokedByDeletion = stored.plaintextTwin && plaintextPresent === false;
  return {
    kind: 'autojoin',
    ownerId: stored.org,
    keyId: legacyKeyId(name),
    status: revokedByDeletion && stored.status === KEY_STATUS.active ? KEY_STATUS.revoked : statusOf(stored, nowOf(ctx)),
    tier: undefined,
    description: revokedByDeletion ? 'migrated flat key; its plaintext was deleted' : plaintextPresent ? 'migrated flat key, still in plaintext' : 'migrated flat key',
    createdAt: dateOf(entity.created_at),
    expiresAt: stored.expiresAt,
    revokedAt: dateOf(entity.revoked_at),
    legacy: true,
    inPlaintext: plaintextPresent === true,
  };
}

/** A Go-made flat key nobody migrated yet: only its plaintext entity exists. */
function plaintextRecord(org: string, flatKey: string, entity: Entity): KeyRecord {
  return {
    kind: 'autojoin',
    ownerId: org,
    keyId: legacyKeyId(legacyKeyName(flatKey)),
    status: KEY_STATUS.active,
    tier: undefined,
    description: 'flat key, still in plaintext (not migrated)',
    createdAt: dateOf(entity.created_at),
    expiresAt: undefined,
    revokedAt: undefined,
    legacy: true,
    inPlaintext: true,
  };
}

/**
 * The Go service's plaintext autojoin keys are `APIKey` children too: their name is the
 * key itself. They are listed by the hash prefix of the key, never by name.
 */
function isScopedKeyEntity(ctx: AdminContext, entity: Entity): boolean {
  return isScopedKeyRecord(keyOf(ctx, entity).name ?? '', entity);
}

function isPlaintextEntity(ctx: AdminContext, entity: Entity): boolean {
  return isPlaintextFlatKey(keyOf(ctx, entity).name ?? '', entity);
}

/**
 * The flat keys of organisations: their records, merged with the plaintext entities (each
 * record marked by whether its plaintext still exists; a plaintext without a record listed as
 * not migrated).
 */
function flatKeyRecords(ctx: AdminContext, records: readonly Entity[], plaintexts: readonly Entity[]): KeyRecord[] {
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
    result.push(plaintextRecord(key.parent?.name as string, key.name as string, entity));
  }
  return result;
}

function byCreation(a: KeyRecord, b: KeyRecord): number {
  return (a.createdAt?.getTime() ?? 0) - (b.createdAt?.getTime() ?? 0) || a.keyId.localeCompare(b.keyId);
}

async function keyEntitiesOf(ctx: AdminContext, kind: KeyKind, ownerId: string): Promise<Entity[]> {
  const query = ctx.datastore
    .createQuery(namespaceFor(kind, ctx.namespaces), OWNER_KIND[kind].key)
    .hasAncestor(ownerKey(ctx.datastore, kind, ownerId, ctx.namespaces));
  return runQuery(ctx, query);
}

async function legacyEntitiesOf(ctx: AdminContext, org: string): Promise<Entity[]> {
  const query = ctx.datastore
    .createQuery(ctx.namespaces.platformNamespace, KIND.legacyKey)
    .filter(new PropertyFilter('org', '=', org));
  return runQuery(ctx, query);
}

/** Every key of an integration or organisation (flat keys included, migrated or not), oldest first. */
export async function listApiKeys(ctx: AdminContext, kind: KeyKind, ownerId: string): Promise<KeyRecord[]> {
  await getOwner(ctx, kind, ownerId);
  const entities = await keyEntitiesOf(ctx, kind, ownerId);
  const keys = entities
    .filter((entity) => isScopedKeyEntity(ctx, entity))
    .map((entity) => scopedRecord(ctx, kind, ownerId, keyOf(ctx, entity).name as string, entity));
  if (kind === 'autojoin') {
    const plaintexts = entities.filter((entity) => isPlaintextEntity(ctx, entity));
    keys.push(...flatKeyRecords(ctx, await legacyEntitiesOf(ctx, ownerId), plaintexts));
  }
  return keys.sort(byCreation);
}

/** One key of an integration or organisation. */
export async function showApiKey(ctx: AdminContext, ref: KeyRef): Promise<KeyRecord> {
  const { key, legacy } = await locateKey(ctx, ref);
  if (!legacy) {
    const [entity] = await ctx.datastore.get(key);
    if (!entity) throw new AdminError(`key ${ref.keyId} of ${ownerWord(ref.kind)} ${ref.ownerId} does not exist`, 'not-found');
    return scopedRecord(ctx, ref.kind, ref.ownerId, ref.keyId, entity as Entity);
  }
  const found = (await listApiKeys(ctx, ref.kind, ref.ownerId)).find((record) => record.keyId === ref.keyId);
  if (!found) throw new AdminError(`key ${ref.keyId} of ${ownerWord(ref.kind)} ${ref.ownerId} does not exist`, 'not-found');
  return found;
}

async function getOwner(ctx: AdminContext, kind: KeyKind, ownerId: string): Promise<Entity> {
  checkOwnerId(ownerId, kind === 'integration' ? 'integration id' : 'organisation name');
  const [owner] = await ctx.datastore.get(ownerKey(ctx.datastore, kind, ownerId, ctx.namespaces));
  if (!owner) throw new AdminError(`${ownerWord(kind)} ${ownerId} does not exist`, 'not-found');
  return owner as Entity;
}

export interface IntegrationRecord {
  readonly integrationId: string;
  readonly description: string;
  readonly createdAt: Date | undefined;
  /** Keys usable now. */
  readonly activeKeys: number;
  readonly totalKeys: number;
}

export interface OrganizationRecord {
  readonly name: string;
  readonly email: string;
  readonly createdAt: Date | undefined;
  readonly probabilityMultiplier: number | undefined;
  readonly activeKeys: number;
  readonly totalKeys: number;
}

function integrationRecord(id: string, entity: Entity, keys: readonly KeyRecord[]): IntegrationRecord {
  return {
    integrationId: id,
    description: textOf(entity.description),
    createdAt: dateOf(entity.created_at),
    activeKeys: keys.filter((k) => k.status === KEY_STATUS.active).length,
    totalKeys: keys.length,
  };
}

function organizationRecord(name: string, entity: Entity, keys: readonly KeyRecord[]): OrganizationRecord {
  const multiplier = entity.probability_multiplier;
  return {
    name,
    email: textOf(entity.email),
    createdAt: dateOf(entity.created_at),
    probabilityMultiplier: typeof multiplier === 'number' ? multiplier : undefined,
    activeKeys: keys.filter((k) => k.status === KEY_STATUS.active).length,
    totalKeys: keys.length,
  };
}

/** Groups every key record of a kind in its namespace by owner: one query, not one per owner. */
async function allKeysByOwner(ctx: AdminContext, kind: KeyKind): Promise<Map<string, KeyRecord[]>> {
  const byOwner = new Map<string, KeyRecord[]>();
  const add = (record: KeyRecord): void => {
    const list = byOwner.get(record.ownerId) ?? [];
    list.push(record);
    byOwner.set(record.ownerId, list);
  };
  const plaintexts: Entity[] = [];
  for (const entity of await runQuery(ctx, ctx.datastore.createQuery(namespaceFor(kind, ctx.namespaces), OWNER_KIND[kind].key))) {
    const key = keyOf(ctx, entity);
    const owner = key.parent?.name;
    if (owner !== undefined && isScopedKeyEntity(ctx, entity)) add(scopedRecord(ctx, kind, owner, key.name as string, entity));
    else if (kind === 'autojoin' && owner !== undefined && isPlaintextEntity(ctx, entity)) plaintexts.push(entity);
  }
  if (kind === 'autojoin') {
    const records = await runQuery(ctx, ctx.datastore.createQuery(ctx.namespaces.platformNamespace, KIND.legacyKey));
    for (const record of flatKeyRecords(ctx, records, plaintexts)) add(record);
  }
  return byOwner;
}

export async function listIntegrations(ctx: AdminContext): Promise<IntegrationRecord[]> {
  const [metas, keys] = await Promise.all([
    runQuery(ctx, ctx.datastore.createQuery(ctx.namespaces.integrationNamespace, KIND.integration)),
    allKeysByOwner(ctx, 'integration'),
  ]);
  return metas
    .map((entity) => {
      const id = keyOf(ctx, entity).name as string;
      return integrationRecord(id, entity, keys.get(id) ?? []);
    })
    .sort((a, b) => a.integrationId.localeCompare(b.integrationId));
}

export async function showIntegration(ctx: AdminContext, integrationId: string): Promise<IntegrationRecord & { keys: KeyRecord[] }> {
  const entity = await getOwner(ctx, 'integration', integrationId);
  const keys = await listApiKeys(ctx, 'integration', integrationId);
  return { ...integrationRecord(integrationId, entity, keys), keys };
}

export async function listOrganizations(ctx: AdminContext): Promise<OrganizationRecord[]> {
  const [orgs, keys] = await Promise.all([
    runQuery(ctx, ctx.datastore.createQuery(ctx.namespaces.platformNamespace, KIND.organization)),
    allKeysByOwner(ctx, 'autojoin'),
  ]);
  return orgs
    .map((entity) => {
      const name = keyOf(ctx, entity).name as string;
      return organizationRecord(name, entity, keys.get(name) ?? []);
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

export async function showOrganization(ctx: AdminContext, name: string): Promise<OrganizationRecord & { keys: KeyRecord[] }> {
  const entity = await getOwner(ctx, 'autojoin', name);
  const keys = await listApiKeys(ctx, 'autojoin', name);
  return { ...organizationRecord(name, entity, keys), keys };
}

// ---- changing ----

/** Datastore commits at most 500 mutations. */
const MAX_MUTATIONS = 500;

/**
 * Deletes an integration and every key under it. While any key is still usable this is
 * refused unless `force`: deleting cuts off an integrator at once, which revoking says
 * more plainly.
 */
export async function deleteIntegration(ctx: AdminContext, integrationId: string, options: { force?: boolean } = {}): Promise<{ deletedKeys: number }> {
  await getOwner(ctx, 'integration', integrationId);
  const owner = ownerKey(ctx.datastore, 'integration', integrationId, ctx.namespaces);
  const children = await runQuery(ctx, ctx.datastore.createQuery(ctx.namespaces.integrationNamespace, KIND.integrationKey).hasAncestor(owner));
  const active = children.filter((entity) => isUsable(decodeStoredKey(entity), nowOf(ctx))).length;
  if (active > 0 && !options.force) {
    throw new AdminError(
      `integration ${integrationId} has ${active} active key${active === 1 ? '' : 's'}: revoke ${active === 1 ? 'it' : 'them'} first, or delete with --force`,
      'failed-precondition',
    );
  }
  const keys = children.map((entity) => keyOf(ctx, entity));
  // Keys first, the integration last: an interrupted run leaves no key without its owner.
  for (let i = 0; i < keys.length; i += MAX_MUTATIONS) await ctx.datastore.delete(keys.slice(i, i + MAX_MUTATIONS));
  await ctx.datastore.delete(owner);
  return { deletedKeys: keys.length };
}

/** Names one API key: an integration's or organisation's `ki_…` key, or an org's `legacy_…` key. */
export interface KeyRef {
  readonly kind: KeyKind;
  readonly ownerId: string;
  readonly keyId: string;
}

/** Runs `change` on one key record in a transaction and writes back what it returns. */
async function updateKey(
  ctx: AdminContext,
  ref: KeyRef,
  change: (entity: Entity, record: KeyRecord, tx: Transaction) => Promise<Entity | undefined> | Entity | undefined,
): Promise<KeyRecord> {
  const { key, legacy, absentAs } = await locateKey(ctx, ref);
  const tx = ctx.datastore.transaction();
  await tx.run();
  try {
    const [found] = await tx.get(key);
    if (!found && !absentAs) throw new AdminError(`key ${ref.keyId} of ${ownerWord(ref.kind)} ${ref.ownerId} does not exist`, 'not-found');
    const entity = (found ?? absentAs) as Entity;
    const record = legacy ? legacyRecord(ctx, key.name as string, entity) : scopedRecord(ctx, ref.kind, ref.ownerId, ref.keyId, entity);
    const updated = await change(entity, record, tx);
    if (updated !== undefined) {
      const write = { key, data: stripKey(updated), excludeFromIndexes: legacy ? [] : UNINDEXED_KEY_PROPERTIES };
      // A flat key nobody migrated gets its record now, in the same commit as the change.
      if (found) tx.update(write);
      else tx.insert(write);
    }
    await tx.commit();
    const result = updated ?? entity;
    return legacy ? legacyRecord(ctx, key.name as string, result) : scopedRecord(ctx, ref.kind, ref.ownerId, ref.keyId, result);
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
async function locateKey(ctx: AdminContext, ref: KeyRef): Promise<{ key: Key; legacy: boolean; absentAs?: Entity }> {
  checkOwnerId(ref.ownerId, ref.kind === 'integration' ? 'integration id' : 'organisation name');
  // Any key id the Go service accepted (its tool documents -key-id=ki_custom).
  if (isAcceptedKeyId(ref.keyId)) return { key: apiKeyKey(ctx.datastore, ref.kind, ref.ownerId, ref.keyId, ctx.namespaces), legacy: false };
  if (ref.kind === 'autojoin' && isLegacyKeyId(ref.keyId)) {
    const matches = (await legacyEntitiesOf(ctx, ref.ownerId)).filter((entity) => legacyKeyId(keyOf(ctx, entity).name as string) === ref.keyId);
    if (matches.length > 1) throw new AdminError(`key id ${ref.keyId} is ambiguous`, 'failed-precondition');
    if (matches.length === 1) return { key: keyOf(ctx, matches[0] as Entity), legacy: true };
    const plaintexts = (await keyEntitiesOf(ctx, 'autojoin', ref.ownerId)).filter(
      (entity) => isPlaintextEntity(ctx, entity) && legacyKeyId(legacyKeyName(keyOf(ctx, entity).name as string)) === ref.keyId,
    );
    if (plaintexts.length === 0) throw new AdminError(`key ${ref.keyId} of organisation ${ref.ownerId} does not exist`, 'not-found');
    if (plaintexts.length > 1) throw new AdminError(`key id ${ref.keyId} is ambiguous`, 'failed-precondition');
    const plaintext = plaintexts[0] as Entity;
    const now = nowOf(ctx);
    return {
      key: legacyKeyKey(ctx.datastore, legacyKeyName(keyOf(ctx, plaintext).name as string), ctx.namespaces),
      legacy: true,
      absentAs: { org: ref.ownerId, status: KEY_STATUS.active, created_at: dateOf(plaintext.created_at) ?? now, migrated_at: now, [PLAINTEXT_TWIN]: true },
    };
  }
  throw new AdminError(
    `key id ${JSON.stringify(ref.keyId)} is not valid: use ki_ and up to 61 more bytes without a dot${ref.kind === 'autojoin' ? ' (or legacy_ and 16 hex, for a flat key)' : ''}`,
    'invalid-argument',
  );
}

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
  if (ref.kind !== 'integration') throw new AdminError('only integration keys have a tier', 'invalid-argument');
  if (!Number.isSafeInteger(tier) || tier < 0) throw new AdminError('tier is a whole number ≥ 0', 'invalid-argument');
  return updateKey(ctx, ref, (entity) => ({ ...entity, tier: ctx.datastore.int(tier) }));
}

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
  if (!Number.isFinite(graceSeconds) || graceSeconds < 0) throw new AdminError('the grace period is a duration ≥ 0', 'invalid-argument');
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
    newExpiry = options.expiresAt !== undefined ? { expiresAt: options.expiresAt, expiry: 'given' } : inheritedExpiry(record, nowOf(ctx));
    const prepared = await prepareApiKey(ctx, {
      kind: ref.kind,
      ownerId: ref.ownerId,
      description: record.legacy ? `reroll of ${ref.keyId}` : record.description,
      ...(record.tier !== undefined && { tier: record.tier }),
      ...(newExpiry.expiresAt !== undefined && { expiresAt: newExpiry.expiresAt }),
    });
    const [owner] = await tx.get(ownerKey(ctx.datastore, ref.kind, ref.ownerId, ctx.namespaces));
    if (!owner) throw new AdminError(`${ownerWord(ref.kind)} ${ref.ownerId} does not exist`, 'not-found');
    tx.insert(prepared.entity);
    newKey = prepared.newKey;
    const graceEnd = new Date(nowOf(ctx).getTime() + graceSeconds * 1000);
    const expiresAt = record.expiresAt !== undefined && record.expiresAt.getTime() < graceEnd.getTime() ? record.expiresAt : graceEnd;
    return { ...entity, expires_at: expiresAt, [REPLACED_BY]: prepared.newKey.keyId };
  });
  if (newKey === undefined) throw new Error('reroll committed without a new key');
  return { newKey, newKeyExpiresAt: newExpiry.expiresAt, newKeyExpiry: newExpiry.expiry, oldKey };
}
