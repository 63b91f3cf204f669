/**
 * The API key formats, in one place.
 *
 * Design (as in the Go service's store/clientintegration.go): a scoped key carries the
 * Datastore path of its own record,
 *
 *   integration  mlabk.cii_<integrationId>.<keyId>.<secret>
 *                → IntegrationMeta/<integrationId>/IntegrationAPIKey/<keyId>
 *   autojoin     mlabk.org_<org>.<keyId>.<secret>            → Organization/<org>/APIKey/<keyId>
 *
 * so validating one is a single get by key: O(1), no query, no index, and a malformed key
 * is refused here without touching Datastore. Only a hash of <secret> is stored. The cost
 * is that the ids are public (they travel inside every key), so they must never be the
 * secret part.
 *
 * Two grammars, on purpose:
 * - What the exchange *accepts* is exactly the Go service's `parseAPIKey`, because every key
 *   it accepted must keep working (its own tool made `-key-id=ki_custom`, and took any
 *   integration id): <integrationId> / <org> any 1 to 64 bytes, <keyId> `ki_` + 1 to 61 more
 *   bytes, <secret> 1 to 128 bytes, none holding a dot, 300 bytes in all. Plus one refusal the
 *   Go service never needed: Datastore's reserved `__…__` names, which it could never have
 *   stored. A name Datastore refuses for another reason is answered by the key store as a
 *   bad key, not an outage.
 * - What we *mint* is strict: ids of `[A-Za-z0-9_-]`, <keyId> `ki_` + 16 lowercase hex (the
 *   `ki_` is part of the Datastore name, as upstream), <secret> 32 random bytes in base64url.
 *
 * Lengths are UTF-8 bytes, as Go's len(). A lone UTF-16 surrogate (only a JSON `\ud800`
 * escape makes one) reads as U+FFFD, as Go's JSON decoder reads it.
 *
 * Legacy autojoin keys (flat random strings the Go service stored in plaintext) have no
 * path; they are found by the SHA-256 of what was presented (see legacyKeyName).
 */
import { createHash, randomBytes } from 'node:crypto';
import { KEY_KINDS, KINDS, type KeyKind } from './kinds';

export type { KeyKind } from './kinds';

export interface ScopedKey {
  readonly kind: KeyKind;
  /** The integration id or organisation name: 1 to 64 bytes without a dot. */
  readonly ownerId: string;
  /** `ki_` + 1 to 61 bytes without a dot (ours: `ki_` + 16 lowercase hex). */
  readonly keyId: string;
  readonly secret: string;
}

export type ParsedKey =
  { readonly ok: true; readonly key: ScopedKey } | { readonly ok: false; readonly reason: string };

export const API_KEY_PREFIX = 'mlabk.';
export const MAX_API_KEY_BYTES = 300;
export const KEY_ID_PREFIX = 'ki_';
/** The Go service's limits, in bytes. */
export const MAX_OWNER_ID_BYTES = 64;
export const MAX_KEY_ID_BYTES = 64;
export const MAX_SECRET_BYTES = 128;

// `[\s\S]`, not `.`: a newline inside must not hide a reserved name.
const RESERVED = /^__[\s\S]*__$/;
const STRICT_OWNER_ID = /^[A-Za-z0-9_-]{1,64}$/;
const STRICT_KEY_ID = /^ki_[0-9a-f]{16}$/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');
// What the Go service's GenerateAPIKey made: base64url without padding. Kept loose in
// length because these keys were never formatted by us.
const LEGACY_KEY = /^[A-Za-z0-9_-]{16,128}$/;

function bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** The text as Go would hold it after decoding JSON: lone surrogates become U+FFFD. */
function wellFormed(text: string): string {
  return LONE_SURROGATE.test(text) ? text.replace(LONE_SURROGATES, '\uFFFD') : text;
}

/** An integration id or organisation name the Go service accepted (and Datastore can hold). */
export function isAcceptedOwnerId(id: string): boolean {
  return (
    id.length > 0 && bytes(id) <= MAX_OWNER_ID_BYTES && !id.includes('.') && !RESERVED.test(id) && wellFormed(id) === id
  );
}

/** A key id the Go service accepted: `ki_` + 1 to 61 bytes, no dot. */
export function isAcceptedKeyId(id: string): boolean {
  return (
    id.startsWith(KEY_ID_PREFIX) &&
    id.length > KEY_ID_PREFIX.length &&
    bytes(id) <= MAX_KEY_ID_BYTES &&
    !id.includes('.') &&
    wellFormed(id) === id
  );
}

/** An integration id or organisation name as we make them: 1 to 64 of A-Z a-z 0-9 _ - (not __…__). */
export function isValidOwnerId(id: string): boolean {
  return STRICT_OWNER_ID.test(id) && !RESERVED.test(id);
}

/** A key id as we make them: `ki_` + 16 lowercase hex. */
export function isValidKeyId(id: string): boolean {
  return STRICT_KEY_ID.test(id);
}

/**
 * Parses a scoped API key of either kind, in the Go service's grammar. Never throws; runs in
 * time linear in at most MAX_API_KEY_BYTES. Reasons are for logs and tests, never for the
 * client.
 */
export function parseApiKey(input: unknown): ParsedKey {
  if (typeof input !== 'string') return { ok: false, reason: 'not a string' };
  // UTF-16 length bounds the byte length from below, so this is a cheap first cut.
  if (input.length > MAX_API_KEY_BYTES) return { ok: false, reason: 'too long' };
  const text = wellFormed(input);
  if (bytes(text) > MAX_API_KEY_BYTES) return { ok: false, reason: 'too long' };
  if (!text.startsWith(API_KEY_PREFIX)) return { ok: false, reason: 'missing mlabk. prefix' };
  const parts = text.slice(API_KEY_PREFIX.length).split('.');
  if (parts.length !== 3)
    return { ok: false, reason: `expected 3 dot-separated parts after the prefix, got ${parts.length}` };
  const [owner, keyId, secret] = parts as [string, string, string];
  const kind = KEY_KINDS.find((k) => owner.startsWith(KINDS[k].prefix));
  if (kind === undefined) return { ok: false, reason: 'unknown owner prefix' };
  const ownerId = owner.slice(KINDS[kind].prefix.length);
  if (ownerId === '' || bytes(ownerId) > MAX_OWNER_ID_BYTES) return { ok: false, reason: 'malformed owner id' };
  if (RESERVED.test(ownerId)) return { ok: false, reason: 'reserved owner id' };
  if (!isAcceptedKeyId(keyId)) return { ok: false, reason: 'malformed key id' };
  if (secret === '' || bytes(secret) > MAX_SECRET_BYTES) return { ok: false, reason: 'malformed secret' };
  return { ok: true, key: { kind, ownerId, keyId, secret } };
}

export function formatApiKey(key: ScopedKey): string {
  return `${API_KEY_PREFIX}${KINDS[key.kind].prefix}${key.ownerId}.${key.keyId}.${key.secret}`;
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
