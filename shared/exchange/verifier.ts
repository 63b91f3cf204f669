/**
 * The exchange's decision: is this API key good for a token of this kind right now?
 *
 *   parse (no I/O) → one Datastore get → status and expiry → secret check → result
 *
 * A flat (Go-made) autojoin key goes to the legacy-key lookup instead (flatKeys.ts).
 *
 * Expected failures are values, not exceptions: a bad key, an outage, a throttled key id.
 * The reasons are for logs only; the HTTP layer answers every bad-key reason identically.
 */
import { isLegacyAutojoinKey, parseApiKey } from '../keys/grammar';
import { KINDS, type KeyKind } from '../keys/kinds';
import {
  apiKeyKey,
  decodeStoredKey,
  isUsable,
  keyPathId,
  type KeyBuilder,
  type KeyPath,
  type Namespaces,
} from '../keys/entities';
import type { FairLimit } from './fairLimit';
import type { GuessThrottle } from './throttle';
import type { EntityReader, FlatKeyStore } from './lookup';
import { createLegacyKeyLookup } from './flatKeys';
import { hashKind, matchesBcrypt, matchesSha256, secretDigest } from '../keys/secretHash';
import type { VerifiedSecretCache } from './cache';

export interface VerifiedKey {
  readonly kind: KeyKind;
  /** Integration id or organisation name. */
  readonly ownerId: string;
  readonly keyId: string;
  readonly tier: number;
  /** The record the key was verified by (its last use is recorded beside it: lastUse.ts). */
  readonly record: KeyPath;
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
  /** `client`: the client address (clientAddress.ts) that bcrypt guesses are counted and queued by. */
  verify(apiKey: string, kind: KeyKind, client?: string): Promise<Verification>;
}

export interface KeyVerifierDeps {
  /** Builds the keys looked up (KEY_PATHS: the exchange needs no Datastore client). */
  readonly keys: KeyBuilder<KeyPath>;
  readonly reader: EntityReader;
  readonly namespaces: Namespaces;
  readonly cache: VerifiedSecretCache;
  readonly throttle: GuessThrottle;
  /** bcrypt compares at once, the waiting line shared fairly between client addresses. */
  readonly bcryptLimit: FairLimit;
  /** Seam for tests that count compares; defaults to bcryptjs. */
  readonly compareBcrypt?: (secret: string, hash: string) => Promise<boolean>;
  readonly now?: () => Date;
  /**
   * The flat-key fallback (the Go service's query for a key with no LegacyAPIKey record) and
   * its per-instance budget; absent: off, such a key is a 401.
   */
  readonly legacyFallback?: { readonly store: FlatKeyStore; readonly queriesPerMinute: number } | undefined;
}

export function createKeyVerifier(deps: KeyVerifierDeps): KeyVerifier {
  const compareBcrypt = deps.compareBcrypt ?? matchesBcrypt;
  const now = deps.now ?? (() => new Date());

  // Compares under way, by record, stored hash and secret digest: concurrent requests with
  // the same key share one bcrypt compare. Without this a burst of valid requests for a key
  // not yet verified would each pay bcrypt and, counted as guesses in flight, trip the
  // throttle. Independent of the cache: it holds a compare only until its answer is known.
  const inFlight = new Map<string, Promise<Compared>>();

  type Compared = 'match' | 'wrong' | 'busy' | 'unreadable';

  async function compare(secret: string, storedHash: string, client: string): Promise<Compared> {
    try {
      const matches = await deps.bcryptLimit.run(client, () => compareBcrypt(secret, storedHash));
      return matches === undefined ? 'busy' : matches ? 'match' : 'wrong';
    } catch {
      // A hash bcrypt cannot read (hashKind let it through): the key cannot be checked.
      return 'unreadable';
    }
  }

  async function checkSecret(
    path: string,
    secret: string,
    storedHash: string,
    who: KeyIdentity,
    client: string,
  ): Promise<Exclude<Verification, { ok: true }> | undefined> {
    const kind = hashKind(storedHash);
    if (kind === 'unknown') return { ok: false, outcome: 'invalid', reason: 'stored hash unreadable', ...who };
    // A Go-service key's SHA-256 costs microseconds: there is no CPU to protect, so it is
    // never throttled, and wrong guesses at it lock nobody out.
    if (kind === 'sha256')
      return matchesSha256(secret, storedHash)
        ? undefined
        : { ok: false, outcome: 'invalid', reason: 'wrong secret', ...who };
    const digest = secretDigest(secret);
    if (deps.cache.has(path, storedHash, digest)) return undefined;
    const flightKey = `${path}\n${storedHash}\n${digest.toString('base64')}`;
    const shared = inFlight.get(flightKey);

    let result: Compared;
    if (shared !== undefined) {
      result = await shared;
    } else {
      const admission = deps.throttle.admit(path, client);
      if (!admission.admitted) return { ok: false, outcome: 'throttled', retryAfter: admission.retryAfter, ...who };
      const pending = compare(secret, storedHash, client);
      inFlight.set(flightKey, pending);
      try {
        result = await pending;
      } finally {
        inFlight.delete(flightKey);
      }
      // A guess turned away as busy was never checked: it counts neither way.
      admission.attempt.settle(result !== 'wrong');
      if (result === 'match') deps.cache.remember(path, storedHash, digest);
    }
    switch (result) {
      case 'match':
        return undefined;
      case 'busy':
        return { ok: false, outcome: 'busy', ...who };
      case 'unreadable':
        return { ok: false, outcome: 'invalid', reason: 'stored hash unreadable', ...who };
      case 'wrong':
        return { ok: false, outcome: 'invalid', reason: 'wrong secret', ...who };
    }
  }

  const verifyLegacy = createLegacyKeyLookup({
    keys: deps.keys,
    reader: deps.reader,
    namespaces: deps.namespaces,
    fallback: deps.legacyFallback,
    now,
  });

  return {
    async verify(apiKey: string, kind: KeyKind, client = ''): Promise<Verification> {
      const parsed = parseApiKey(apiKey);
      if (!parsed.ok) {
        const flat = KINDS[kind].hasFlatKeys && isLegacyAutojoinKey(apiKey);
        if (flat) return verifyLegacy(apiKey);
        return { ok: false, outcome: 'invalid', reason: `malformed key: ${parsed.reason}` };
      }
      const { ownerId, keyId, secret } = parsed.key;
      const who = { ownerId, keyId };
      if (parsed.key.kind !== kind) return { ok: false, outcome: 'invalid', reason: `${parsed.key.kind} key`, ...who };

      const datastoreKey = apiKeyKey(deps.keys, kind, ownerId, keyId, deps.namespaces);
      const lookup = await deps.reader.get(datastoreKey);
      if (lookup.status === 'unavailable') return { ok: false, outcome: 'unavailable', cause: lookup.cause, ...who };
      if (lookup.status === 'refused')
        return { ok: false, outcome: 'invalid', reason: 'name refused by Datastore', ...who };
      if (lookup.status === 'missing') return { ok: false, outcome: 'invalid', reason: 'unknown key', ...who };
      const stored = decodeStoredKey(lookup.entity);
      if (stored.unreadable !== undefined)
        return { ok: false, outcome: 'invalid', reason: `key record unreadable: ${stored.unreadable}`, ...who };
      if (!isUsable(stored, now())) {
        return {
          ok: false,
          outcome: 'invalid',
          reason: stored.status === 'active' ? 'key expired' : 'key not active',
          ...who,
        };
      }
      const refusal = await checkSecret(
        keyPathId(datastoreKey.namespace, datastoreKey.path),
        secret,
        stored.keyHash,
        who,
        client,
      );
      if (refusal) return refusal;
      return { ok: true, key: { kind, ownerId, keyId, tier: stored.tier, record: datastoreKey } };
    },
  };
}
