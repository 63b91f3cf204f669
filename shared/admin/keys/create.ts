/** Making an API key: its record and the plaintext key, which is returned once and stored nowhere. */
import type { Key } from '@google-cloud/datastore';
import { formatApiKey, generateKeyId, generateSecret, isValidKeyId, type KeyKind } from '../../keys/grammar';
import { apiKeyKey, KEY_STATUS } from '../../keys/entities';
import { DEFAULT_BCRYPT_COST, hashSecret } from '../../keys/secretHash';
import { KINDS } from '../../keys/kinds';
import { AdminError } from '../adminError';
import { checkOwnerId, getOwner, isAlreadyExists, nowOf, type AdminContext } from '../context';

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
export interface PreparedKey {
  readonly entity: { key: Key; data: Record<string, unknown>; excludeFromIndexes: string[] };
  readonly newKey: NewKey;
}

// The secret's hash and the description are never queried: leave them out of the indexes.
export const UNINDEXED_KEY_PROPERTIES = ['key_hash', 'description'];

export async function prepareApiKey(ctx: AdminContext, input: NewKeyInput): Promise<PreparedKey> {
  checkOwnerId(input.ownerId, KINDS[input.kind].ownerIdWord);
  const keyId = input.keyId ?? generateKeyId();
  if (!isValidKeyId(keyId))
    throw new AdminError(
      `key id ${JSON.stringify(keyId)} is not valid: use ki_ and 16 lowercase hex digits`,
      'invalid-argument',
    );
  if (input.tier !== undefined && (!KINDS[input.kind].hasTier || !Number.isSafeInteger(input.tier) || input.tier < 0)) {
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
  if (KINDS[input.kind].hasTier) data.tier = ctx.datastore.int(input.tier ?? 0);
  if (input.expiresAt !== undefined) data.expires_at = input.expiresAt;
  return {
    entity: {
      key: apiKeyKey(ctx.datastore, input.kind, input.ownerId, keyId, ctx.namespaces),
      data,
      excludeFromIndexes: UNINDEXED_KEY_PROPERTIES,
    },
    newKey: {
      kind: input.kind,
      ownerId: input.ownerId,
      keyId,
      apiKey: formatApiKey({ kind: input.kind, ownerId: input.ownerId, keyId, secret }),
    },
  };
}

export async function createApiKey(ctx: AdminContext, input: NewKeyInput): Promise<NewKey> {
  const prepared = await prepareApiKey(ctx, input);
  await getOwner(ctx, input.kind, input.ownerId);
  try {
    await ctx.datastore.insert(prepared.entity);
  } catch (error) {
    if (isAlreadyExists(error)) throw new AdminError(`key ${prepared.newKey.keyId} already exists`, 'already-exists');
    throw error;
  }
  return prepared.newKey;
}
