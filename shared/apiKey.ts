/**
 * The API key formats, in one place.
 *
 * Design (as in the Go service's store/clientintegration.go): a scoped key carries the
 * Datastore path of its own record,
 *
 *   integration  mlabk.cii_<integrationId>.<keyId>.<secret>  → IntegrationMeta/<integrationId>/IntegrationAPIKey/<keyId>
 *   autojoin     mlabk.org_<org>.<keyId>.<secret>            → Organization/<org>/APIKey/<keyId>
 *
 * so validating one is a single get by key: O(1), no query, no index, and a malformed key
 * is refused here without touching Datastore. Only a hash of <secret> is stored. The cost
 * is that the ids are public (they travel inside every key), so they must never be the
 * secret part, and the grammar must be strict: anything outside it is refused before it
 * can reach a Datastore key (reserved `__…__` names, slashes, unicode, over-long input).
 *
 * <keyId> is `ki_` + 16 lowercase hex; the `ki_` is part of the Datastore name, as upstream.
 * <secret> is 32 random bytes, base64url without padding (43 chars); 1 to 128 base64url
 * chars are accepted. The whole key is at most 300 bytes.
 *
 * Legacy autojoin keys (flat random strings the Go service stored in plaintext) have no
 * path; they are found by the SHA-256 of what was presented (see legacyKeyName).
 */
import { createHash, randomBytes } from 'node:crypto';

export type KeyKind = 'integration' | 'autojoin';

export interface ScopedKey {
  readonly kind: KeyKind;
  /** The integration id (integration keys) or organisation name (autojoin keys). */
  readonly ownerId: string;
  /** `ki_` + 16 lowercase hex. */
  readonly keyId: string;
  readonly secret: string;
}

export type ParsedKey =
  | { readonly ok: true; readonly key: ScopedKey }
  | { readonly ok: false; readonly reason: string };

export const API_KEY_PREFIX = 'mlabk.';
export const MAX_API_KEY_BYTES = 300;
export const OWNER_PREFIX: Readonly<Record<KeyKind, string>> = { integration: 'cii_', autojoin: 'org_' };

const OWNER_ID = /^[A-Za-z0-9_-]{1,64}$/;
const RESERVED = /^__.*__$/;
const KEY_ID = /^ki_[0-9a-f]{16}$/;
const SECRET = /^[A-Za-z0-9_-]{1,128}$/;
// What the Go service's GenerateAPIKey made: base64url without padding. Kept loose in
// length because these keys were never formatted by us.
const LEGACY_KEY = /^[A-Za-z0-9_-]{16,128}$/;

/** An integration id or organisation name usable in a key and as a Datastore name. */
export function isValidOwnerId(id: string): boolean {
  return OWNER_ID.test(id) && !RESERVED.test(id);
}

export function isValidKeyId(id: string): boolean {
  return KEY_ID.test(id);
}

/**
 * Parses a scoped API key of either kind. Never throws; runs in time linear in at most
 * MAX_API_KEY_BYTES. Reasons are for logs and tests, never for the client.
 */
export function parseApiKey(input: unknown): ParsedKey {
  if (typeof input !== 'string') return { ok: false, reason: 'not a string' };
  // UTF-16 length bounds the byte length from below, so this is a cheap first cut.
  if (input.length > MAX_API_KEY_BYTES || Buffer.byteLength(input) > MAX_API_KEY_BYTES) {
    return { ok: false, reason: 'too long' };
  }
  if (!input.startsWith(API_KEY_PREFIX)) return { ok: false, reason: 'missing mlabk. prefix' };
  const parts = input.slice(API_KEY_PREFIX.length).split('.');
  if (parts.length !== 3) return { ok: false, reason: `expected 3 dot-separated parts after the prefix, got ${parts.length}` };
  const [owner, keyId, secret] = parts as [string, string, string];
  let kind: KeyKind;
  if (owner.startsWith(OWNER_PREFIX.integration)) kind = 'integration';
  else if (owner.startsWith(OWNER_PREFIX.autojoin)) kind = 'autojoin';
  else return { ok: false, reason: 'unknown owner prefix' };
  const ownerId = owner.slice(OWNER_PREFIX[kind].length);
  if (!OWNER_ID.test(ownerId)) return { ok: false, reason: 'malformed owner id' };
  if (RESERVED.test(ownerId)) return { ok: false, reason: 'reserved owner id' };
  if (!KEY_ID.test(keyId)) return { ok: false, reason: 'malformed key id' };
  if (!SECRET.test(secret)) return { ok: false, reason: 'malformed secret' };
  return { ok: true, key: { kind, ownerId, keyId, secret } };
}

export function formatApiKey(key: ScopedKey): string {
  return `${API_KEY_PREFIX}${OWNER_PREFIX[key.kind]}${key.ownerId}.${key.keyId}.${key.secret}`;
}

/** 32 random bytes, base64url without padding: 43 characters. */
export function generateSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function generateKeyId(): string {
  return `ki_${randomBytes(8).toString('hex')}`;
}

/** Whether a string has the shape of a Go-service flat autojoin key (not a scoped key). */
export function isLegacyAutojoinKey(input: unknown): input is string {
  return typeof input === 'string' && LEGACY_KEY.test(input);
}

/**
 * The Datastore name under which a migrated flat autojoin key is found: the hex SHA-256 of
 * the key as presented. A plain hash suffices because those keys are 256-bit random strings.
 */
export function legacyKeyName(flatKey: string): string {
  return createHash('sha256').update(flatKey, 'utf8').digest('hex');
}

export const LEGACY_KEY_ID_PREFIX = 'legacy_';

/**
 * How a migrated flat key is named to operators and in logs: a prefix of its hash, which
 * identifies it without revealing anything of the key.
 */
export function legacyKeyId(name: string): string {
  return `${LEGACY_KEY_ID_PREFIX}${name.slice(0, 16)}`;
}

export function isLegacyKeyId(id: string): boolean {
  return /^legacy_[0-9a-f]{16}$/.test(id);
}
