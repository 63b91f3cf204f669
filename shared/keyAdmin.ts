/**
 * Creating integrations, organisations and API keys: the one implementation the admin CLI,
 * the local stack and the tests all use, so a key made anywhere reads the same to the
 * exchange. The plaintext key is returned once, here, and stored nowhere.
 */
import type { Datastore } from '@google-cloud/datastore';
import { formatApiKey, generateKeyId, generateSecret, isValidKeyId, isValidOwnerId, type KeyKind } from './apiKey';
import { apiKeyKey, KEY_STATUS, ownerKey, type Namespaces } from './entities';
import { DEFAULT_BCRYPT_COST, hashSecret } from './secretHash';

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

function checkOwnerId(id: string, what: string): void {
  if (!isValidOwnerId(id)) {
    throw new AdminError(`${what} ${JSON.stringify(id)} is not valid: use 1 to 64 of A-Z a-z 0-9 _ - (not __…__)`, 'invalid-argument');
  }
}

function isAlreadyExists(error: unknown): boolean {
  // gRPC ALREADY_EXISTS, as Datastore answers an insert of an existing key.
  return (error as { code?: unknown }).code === 6;
}

export async function createIntegration(ctx: AdminContext, integrationId: string, description = ''): Promise<void> {
  checkOwnerId(integrationId, 'integration id');
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
  checkOwnerId(input.name, 'organisation name');
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

export async function createApiKey(ctx: AdminContext, input: NewKeyInput): Promise<NewKey> {
  checkOwnerId(input.ownerId, input.kind === 'integration' ? 'integration id' : 'organisation name');
  const keyId = input.keyId ?? generateKeyId();
  if (!isValidKeyId(keyId)) throw new AdminError(`key id ${JSON.stringify(keyId)} is not valid: use ki_ and 16 lowercase hex digits`, 'invalid-argument');
  if (input.tier !== undefined && (input.kind !== 'integration' || !Number.isSafeInteger(input.tier) || input.tier < 0)) {
    throw new AdminError('tier is a whole number ≥ 0, for integration keys only', 'invalid-argument');
  }
  const [owner] = await ctx.datastore.get(ownerKey(ctx.datastore, input.kind, input.ownerId, ctx.namespaces));
  if (!owner) {
    throw new AdminError(`${input.kind === 'integration' ? 'integration' : 'organisation'} ${input.ownerId} does not exist`, 'not-found');
  }
  const secret = generateSecret();
  const now = (ctx.now ?? (() => new Date()))();
  const data: Record<string, unknown> = {
    key_hash: await hashSecret(secret, ctx.bcryptCost ?? DEFAULT_BCRYPT_COST),
    created_at: now,
    description: input.description ?? '',
    status: KEY_STATUS.active,
  };
  if (input.kind === 'integration') data.tier = ctx.datastore.int(input.tier ?? 0);
  if (input.expiresAt !== undefined) data.expires_at = input.expiresAt;
  try {
    await ctx.datastore.insert({
      key: apiKeyKey(ctx.datastore, input.kind, input.ownerId, keyId, ctx.namespaces),
      data,
      excludeFromIndexes: ['key_hash', 'description'],
    });
  } catch (error) {
    if (isAlreadyExists(error)) throw new AdminError(`key ${keyId} already exists`, 'already-exists');
    throw error;
  }
  return { kind: input.kind, ownerId: input.ownerId, keyId, apiKey: formatApiKey({ kind: input.kind, ownerId: input.ownerId, keyId, secret }) };
}
