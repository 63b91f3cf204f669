/**
 * The exchange's decision: is this API key good for a token of this kind right now?
 *
 *   parse (no I/O) → one Datastore get → status and expiry → secret check → result
 *
 * Expected failures are values, not exceptions: a bad key, an outage, a throttled key id.
 * The reasons are for logs only; the HTTP layer answers every bad-key reason identically.
 */
import type { Datastore, Key } from '@google-cloud/datastore';
import { isLegacyAutojoinKey, legacyKeyId, legacyKeyName, parseApiKey, type KeyKind } from './apiKey';
import type { ConcurrencyLimit } from './concurrencyLimit';
import { apiKeyKey, decodeStoredKey, decodeStoredLegacyKey, isUsable, legacyKeyKey, type Namespaces } from './entities';
import type { FailureThrottle } from './failureThrottle';
import type { EntityReader } from './keyStore';
import { hashKind, matchesBcrypt, matchesSha256 } from './secretHash';
import type { VerifiedSecretCache } from './verifiedSecretCache';

export interface VerifiedKey {
  readonly kind: KeyKind;
  /** Integration id or organisation name. */
  readonly ownerId: string;
  readonly keyId: string;
  readonly tier: number;
}

/** Who the request claimed to be, when that much could be parsed: for logs. */
export interface KeyIdentity {
  readonly ownerId?: string;
  readonly keyId?: string;
}

export type Verification =
  | { readonly ok: true; readonly key: VerifiedKey }
  | ({ readonly ok: false; readonly outcome: 'invalid'; readonly reason: string } & KeyIdentity)
  | ({ readonly ok: false; readonly outcome: 'throttled'; readonly retryAfter: number } & KeyIdentity)
  | ({ readonly ok: false; readonly outcome: 'unavailable'; readonly cause: string } & KeyIdentity)
  | ({ readonly ok: false; readonly outcome: 'busy' } & KeyIdentity);

/** What an exchange handler needs: something that verifies a key. */
export interface KeyVerifier {
  verify(apiKey: string, kind: KeyKind): Promise<Verification>;
}

export interface KeyVerifierDeps {
  readonly datastore: Datastore;
  readonly reader: EntityReader;
  readonly namespaces: Namespaces;
  readonly cache: VerifiedSecretCache;
  readonly throttle: FailureThrottle;
  readonly bcryptLimit: ConcurrencyLimit;
  /** Seam for tests that count compares; defaults to bcryptjs. */
  readonly compareBcrypt?: (secret: string, hash: string) => Promise<boolean>;
  readonly now?: () => Date;
}

function pathOf(key: Key): string {
  return `${key.namespace ?? ''}/${key.path.join('/')}`;
}

export function createKeyVerifier(deps: KeyVerifierDeps): KeyVerifier {
  const compareBcrypt = deps.compareBcrypt ?? matchesBcrypt;
  const now = deps.now ?? (() => new Date());

  async function checkSecret(
    path: string,
    secret: string,
    storedHash: string,
    who: KeyIdentity,
  ): Promise<Exclude<Verification, { ok: true }> | undefined> {
    const kind = hashKind(storedHash);
    if (kind === 'unknown') return { ok: false, outcome: 'invalid', reason: 'stored hash unreadable', ...who };
    if (kind === 'bcrypt' && deps.cache.has(path, storedHash, secret)) return undefined;
    const admission = deps.throttle.admit(path);
    if (!admission.admitted) return { ok: false, outcome: 'throttled', retryAfter: admission.retryAfter, ...who };
    let matches: boolean | undefined;
    try {
      if (kind === 'sha256') matches = matchesSha256(secret, storedHash);
      else matches = await deps.bcryptLimit.run(() => compareBcrypt(secret, storedHash));
    } finally {
      // A guess turned away as busy was never checked: it counts neither way.
      admission.attempt.settle(matches !== false);
    }
    if (matches === undefined) return { ok: false, outcome: 'busy', ...who };
    if (!matches) return { ok: false, outcome: 'invalid', reason: 'wrong secret', ...who };
    if (kind === 'bcrypt') deps.cache.remember(path, storedHash, secret);
    return undefined;
  }

  async function verifyLegacy(flatKey: string): Promise<Verification> {
    const name = legacyKeyName(flatKey);
    const keyId = legacyKeyId(name);
    const lookup = await deps.reader.get(legacyKeyKey(deps.datastore, name, deps.namespaces));
    if (lookup.status === 'unavailable') return { ok: false, outcome: 'unavailable', cause: lookup.cause, keyId };
    if (lookup.status === 'missing') return { ok: false, outcome: 'invalid', reason: 'unknown key', keyId };
    const stored = decodeStoredLegacyKey(lookup.entity);
    const who = { ownerId: stored.org, keyId };
    if (!isUsable(stored, now()) || stored.org === '') return { ok: false, outcome: 'invalid', reason: 'key not active', ...who };
    return { ok: true, key: { kind: 'autojoin', ownerId: stored.org, keyId, tier: 0 } };
  }

  return {
    async verify(apiKey: string, kind: KeyKind): Promise<Verification> {
      const parsed = parseApiKey(apiKey);
      if (!parsed.ok) {
        if (kind === 'autojoin' && !apiKey.startsWith('mlabk.') && isLegacyAutojoinKey(apiKey)) return verifyLegacy(apiKey);
        return { ok: false, outcome: 'invalid', reason: `malformed key: ${parsed.reason}` };
      }
      const { ownerId, keyId, secret } = parsed.key;
      const who = { ownerId, keyId };
      if (parsed.key.kind !== kind) return { ok: false, outcome: 'invalid', reason: `${parsed.key.kind} key`, ...who };

      const datastoreKey = apiKeyKey(deps.datastore, kind, ownerId, keyId, deps.namespaces);
      const lookup = await deps.reader.get(datastoreKey);
      if (lookup.status === 'unavailable') return { ok: false, outcome: 'unavailable', cause: lookup.cause, ...who };
      if (lookup.status === 'missing') return { ok: false, outcome: 'invalid', reason: 'unknown key', ...who };
      const stored = decodeStoredKey(lookup.entity);
      if (!isUsable(stored, now())) {
        return { ok: false, outcome: 'invalid', reason: stored.status === 'active' ? 'key expired' : 'key not active', ...who };
      }
      const refusal = await checkSecret(pathOf(datastoreKey), secret, stored.keyHash, who);
      if (refusal) return refusal;
      return { ok: true, key: { kind, ownerId, keyId, tier: stored.tier } };
    },
  };
}
