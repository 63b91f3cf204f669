/**
 * Flat autojoin keys (the Go service's), whether or not anyone migrated them.
 *
 * A flat key has no path inside it. Its record is `LegacyAPIKey/<hex SHA-256 of the key>`,
 * found with one get. A key nobody migrated has no record yet: then this does what the Go
 * service did on every exchange — one query, kind `APIKey`, property `key` = the key, limit 1
 * — and on a hit writes the record itself (insert-if-absent, so concurrent first uses all
 * succeed and leave one record). From then on that key costs one lookup, no query.
 *
 * While the plaintext `APIKey/<flat key>` exists it stays the authority (autojoin's own tools
 * revoke by deleting it): a record says so (`plaintext_twin`), and the exchange then checks
 * the plaintext entity in the same lookup RPC as the record. That needs the organisation
 * before the lookup, so this remembers hash → organisation per instance (bounded); a fresh
 * instance's first exchange of such a key takes a second get, later ones one RPC for both.
 *
 * Garbage must not become a query flood: fallback queries are bounded per instance by a
 * budget (a token bucket, `queriesPerMinute`), past which the answer is "busy" (503, retry),
 * and keys that missed are remembered briefly, by hash only, so a repeated miss is a 401 with
 * no query. An outage during any of it is "unavailable" (503), never a bad key.
 */
import { legacyKeyId, legacyKeyName } from '../keys/grammar';
import {
  decodeStoredLegacyKey,
  isUsable,
  KEY_PATHS,
  legacyKeyKey,
  newLegacyKeyRecord,
  plaintextKeyKey,
  type KeyBuilder,
  type KeyPath,
  type Namespaces,
} from '../keys/entities';
import { BoundedMap } from './boundedMap';
import type { EntityReader, FlatKeyStore } from './lookup';
import type { Verification } from './verifier';

/** Per-instance bounds of the fallback (each documented in the README). */
const MISS_MEMORY_ENTRIES = 10_000;
const MISS_MEMORY_SECONDS = 60;
const ORG_MEMORY_ENTRIES = 10_000;

export interface LegacyKeyLookupDeps {
  /** Builds the keys looked up (KEY_PATHS: the exchange needs no Datastore client). */
  readonly keys: KeyBuilder<KeyPath>;
  readonly reader: EntityReader;
  readonly namespaces: Namespaces;
  /** The query and write of the fallback; absent: the fallback is off (a miss is a 401). */
  readonly fallback?: { readonly store: FlatKeyStore; readonly queriesPerMinute: number } | undefined;
  readonly now: () => Date;
}

/** At most `perMinute` takes in any minute, up to `perMinute` at once after a quiet spell. */
class TokenBucket {
  private tokens: number;
  private at: number;
  constructor(
    private readonly perMinute: number,
    private readonly now: () => Date,
  ) {
    this.tokens = perMinute;
    this.at = now().getTime();
  }

  take(): boolean {
    const t = this.now().getTime();
    this.tokens = Math.min(this.perMinute, this.tokens + ((t - this.at) * this.perMinute) / 60_000);
    this.at = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export type LegacyKeyLookup = (flatKey: string) => Promise<Verification>;

export function createLegacyKeyLookup(deps: LegacyKeyLookupDeps): LegacyKeyLookup {
  const { keys, reader, namespaces, now } = deps;
  const orgs = new BoundedMap<string>(ORG_MEMORY_ENTRIES);
  const misses = new BoundedMap<number>(MISS_MEMORY_ENTRIES);
  const budget = deps.fallback ? new TokenBucket(deps.fallback.queriesPerMinute, now) : undefined;
  // Concurrent first uses of one key share one query and one write.
  const inFlight = new Map<string, Promise<Verification>>();

  const recordOf = (name: string): KeyPath => legacyKeyKey(KEY_PATHS, name, namespaces);

  function decide(name: string, entity: Record<string, unknown>, plaintextPresent: boolean | undefined): Verification {
    const keyId = legacyKeyId(name);
    const stored = decodeStoredLegacyKey(entity);
    const who = { ownerId: stored.org, keyId };
    if (stored.org === '' || !isUsable(stored, now()))
      return { ok: false, outcome: 'invalid', reason: 'key not active', ...who };
    if (stored.plaintextTwin && plaintextPresent !== true)
      return { ok: false, outcome: 'invalid', reason: 'plaintext key deleted', ...who };
    return { ok: true, key: { kind: 'autojoin', ownerId: stored.org, keyId, tier: 0, record: recordOf(name) } };
  }

  /** The record, with its plaintext twin read in the same RPC when the organisation is known. */
  async function fromRecord(flatKey: string, name: string): Promise<Verification | 'missing'> {
    const keyId = legacyKeyId(name);
    const recordKey = legacyKeyKey(keys, name, namespaces);
    const knownOrg = orgs.get(name);
    const wanted =
      knownOrg === undefined ? [recordKey] : [recordKey, plaintextKeyKey(keys, knownOrg, flatKey, namespaces)];
    const read = await reader.getMany(wanted);
    if (read.status === 'unavailable') return { ok: false, outcome: 'unavailable', cause: read.cause, keyId };
    if (read.status === 'refused') return { ok: false, outcome: 'invalid', reason: 'refused by Datastore', keyId };
    const [record, twin] = read.entities;
    if (record === undefined) return 'missing';
    const stored = decodeStoredLegacyKey(record);
    if (stored.org !== '') orgs.set(name, stored.org);
    // Revoked or expired, or governed by the record alone: the plaintext need not be read.
    if (!stored.plaintextTwin || stored.org === '' || !isUsable(stored, now())) return decide(name, record, undefined);
    if (knownOrg === stored.org) return decide(name, record, twin !== undefined);
    // A fresh instance: the organisation was learnt from this record; one more get.
    const second = await reader.get(plaintextKeyKey(keys, stored.org, flatKey, namespaces));
    if (second.status === 'unavailable')
      return { ok: false, outcome: 'unavailable', cause: second.cause, ownerId: stored.org, keyId };
    if (second.status === 'refused')
      return { ok: false, outcome: 'invalid', reason: 'refused by Datastore', ownerId: stored.org, keyId };
    return decide(name, record, second.status === 'found');
  }

  /** The Go service's query, then the record written for next time. */
  async function fallback(store: FlatKeyStore, flatKey: string, name: string): Promise<Verification> {
    const keyId = legacyKeyId(name);
    if (!(budget as TokenBucket).take()) return { ok: false, outcome: 'busy', keyId };
    const found = await store.findFlatKey(namespaces.platformNamespace, flatKey);
    if (found.status === 'unavailable') return { ok: false, outcome: 'unavailable', cause: found.cause, keyId };
    if (found.status === 'refused') return { ok: false, outcome: 'invalid', reason: 'refused by Datastore', keyId };
    if (found.status === 'missing') {
      misses.set(name, now().getTime() + MISS_MEMORY_SECONDS * 1000);
      return { ok: false, outcome: 'invalid', reason: 'unknown key', keyId };
    }
    const at = now();
    const written = await store.insertIfAbsent(
      legacyKeyKey(keys, name, namespaces),
      newLegacyKeyRecord(found.org, found.createdAt ?? at, at),
    );
    orgs.set(name, found.org);
    // Someone wrote the record meanwhile (another instance, or an operator revoking): it decides.
    if (written.status === 'exists') {
      const again = await fromRecord(flatKey, name);
      if (again !== 'missing') return again;
    }
    // The query found the plaintext, which governs the key; a failed write is retried next time.
    return { ok: true, key: { kind: 'autojoin', ownerId: found.org, keyId, tier: 0, record: recordOf(name) } };
  }

  return async (flatKey) => {
    const name = legacyKeyName(flatKey);
    const result = await fromRecord(flatKey, name);
    if (result !== 'missing') return result;
    const keyId = legacyKeyId(name);
    const missedUntil = misses.get(name);
    if (missedUntil !== undefined) {
      if (missedUntil > now().getTime())
        return { ok: false, outcome: 'invalid', reason: 'unknown key (recent miss)', keyId };
      misses.delete(name);
    }
    if (deps.fallback === undefined) return { ok: false, outcome: 'invalid', reason: 'unknown key', keyId };
    const shared = inFlight.get(name);
    if (shared !== undefined) return shared;
    const running = fallback(deps.fallback.store, flatKey, name);
    inFlight.set(name, running);
    try {
      return await running;
    } finally {
      inFlight.delete(name);
    }
  };
}
