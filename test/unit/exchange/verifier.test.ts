/**
 * The key verifier (shared/exchange/verifier.ts), with fakes: an EntityReader that records
 * the keys it is asked for, a bcrypt compare that counts calls (and can be held open) and an
 * injected clock. Covers its decision in order: parse (no I/O) → one Datastore get → status
 * and expiry → secret check (SHA-256 for Go-made keys, never throttled; bcrypt through the
 * cache, shared in-flight compares, the per-address throttle and the bounded bcrypt line).
 * No Datastore, no real bcrypt.
 */
import type { DatastoreKey } from '../../../shared/exchange/datastoreRest';
import { VerifiedSecretCache } from '../../../shared/exchange/cache';
import { FairLimit } from '../../../shared/exchange/fairLimit';
import type { EntityReader, Lookup } from '../../../shared/exchange/lookup';
import { GuessThrottle } from '../../../shared/exchange/throttle';
import { createKeyVerifier, type KeyVerifier } from '../../../shared/exchange/verifier';
import { apiKeyKey, KEY_PATHS, keyPathId } from '../../../shared/keys/entities';
import { formatApiKey, generateKeyId, generateSecret, type ScopedKey } from '../../../shared/keys/grammar';
import type { KeyKind } from '../../../shared/keys/kinds';
import { hashKind, sha256Hex } from '../../../shared/keys/secretHash';

const NAMESPACES = { integrationNamespace: 'ci-ns', platformNamespace: 'pf-ns' };
const NOW = new Date('2040-06-01T12:00:00Z');

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface TestKey extends ScopedKey {
  readonly apiKey: string;
  /** The same key with another secret: a wrong guess. */
  readonly wrong: () => string;
}

function newKey(kind: KeyKind = 'integration', ownerId = 'acme'): TestKey {
  const key = { kind, ownerId, keyId: generateKeyId(), secret: generateSecret() };
  return { ...key, apiKey: formatApiKey(key), wrong: () => formatApiKey({ ...key, secret: generateSecret() }) };
}

/** A string hashKind reads as bcrypt; the fake compare decides what matches it. */
function fakeBcryptHash(label: string): string {
  const hash = `$2b$10$${label.padEnd(53, 'x')}`;
  if (hashKind(hash) !== 'bcrypt') throw new Error(`not a bcrypt-shaped hash: ${hash}`);
  return hash;
}

const idOf = (key: DatastoreKey): string => keyPathId(key.namespace, key.path);

interface FakeReader extends EntityReader {
  /** Every key asked for, in order. */
  readonly gets: DatastoreKey[];
  /** Stores (or replaces) the record of `key`. */
  put(key: ScopedKey, entity: Record<string, unknown>): void;
}

/** Records put here are found; any other key answers `otherwise` (missing by default). */
function fakeReader(otherwise: Lookup = { status: 'missing' }): FakeReader {
  const records = new Map<string, Record<string, unknown>>();
  const gets: DatastoreKey[] = [];
  return {
    gets,
    put: (key, entity) => records.set(idOf(apiKeyKey(KEY_PATHS, key.kind, key.ownerId, key.keyId, NAMESPACES)), entity),
    get: (key) => {
      gets.push(key);
      const entity = records.get(idOf(key));
      return Promise.resolve(entity ? { status: 'found', entity } : otherwise);
    },
    getMany: () => Promise.reject(new Error('the verifier reads a scoped key with one get')),
  };
}

interface FakeBcrypt {
  readonly compare: (secret: string, hash: string) => Promise<boolean>;
  /** Every compare started, as (secret, stored hash). */
  readonly calls: Array<[string, string]>;
  /** Makes `hash` match `secret`. */
  accept(hash: string, secret: string): void;
  /** Compares from now on wait until the returned function is called. */
  hold(): () => void;
  /** Compares from now on throw, as bcryptjs does on a hash it cannot read. */
  breakDown(): void;
}

function fakeBcrypt(): FakeBcrypt {
  const secrets = new Map<string, string>();
  const calls: Array<[string, string]> = [];
  let gate: Promise<void> | undefined;
  let broken = false;
  return {
    calls,
    accept: (hash, secret) => secrets.set(hash, secret),
    hold: () => {
      let release = (): void => {};
      gate = new Promise((resolve) => (release = resolve));
      return () => {
        gate = undefined;
        release();
      };
    },
    breakDown: () => (broken = true),
    compare: async (secret, hash) => {
      calls.push([secret, hash]);
      if (gate) await gate;
      if (broken) throw new Error('Invalid salt version');
      return secrets.get(hash) === secret;
    },
  };
}

interface Options {
  readonly reader?: FakeReader;
  readonly maxFailuresPerKey?: number;
  readonly maxFailuresPerAddress?: number;
  readonly bcryptLimit?: FairLimit;
  readonly now?: Date;
}

interface Harness {
  readonly verifier: KeyVerifier;
  readonly reader: FakeReader;
  readonly bcrypt: FakeBcrypt;
  /** Stores an active bcrypt-hashed record for `key` that its secret matches; returns the hash. */
  storeBcrypt(key: TestKey, fields?: Record<string, unknown>, label?: string): string;
  /** Stores an active record holding the Go service's SHA-256 of the secret. */
  storeSha256(key: TestKey, fields?: Record<string, unknown>): void;
}

function harness(options: Options = {}): Harness {
  const reader = options.reader ?? fakeReader();
  const bcrypt = fakeBcrypt();
  const verifier = createKeyVerifier({
    keys: KEY_PATHS,
    reader,
    namespaces: NAMESPACES,
    cache: new VerifiedSecretCache(100),
    throttle: new GuessThrottle({
      maxFailuresPerKey: options.maxFailuresPerKey ?? 5,
      maxFailuresPerAddress: options.maxFailuresPerAddress ?? 100,
      windowSeconds: 60,
    }),
    bcryptLimit: options.bcryptLimit ?? new FairLimit(4, 32, 8),
    compareBcrypt: bcrypt.compare,
    now: () => options.now ?? NOW,
  });
  return {
    verifier,
    reader,
    bcrypt,
    storeBcrypt: (key, fields = {}, label = key.keyId.replace('_', '')) => {
      const hash = fakeBcryptHash(label);
      bcrypt.accept(hash, key.secret);
      reader.put(key, { key_hash: hash, status: 'active', tier: 1, ...fields });
      return hash;
    },
    storeSha256: (key, fields = {}) =>
      reader.put(key, { key_hash: sha256Hex(key.secret), status: 'active', tier: 1, ...fields }),
  };
}

const wrongSecret = { ok: false, outcome: 'invalid', reason: 'wrong secret' };

describe('parsing, before any lookup', () => {
  it.each([
    ['integration', 'not an api key', 'malformed key: missing mlabk. prefix'],
    ['integration', 'mlabk.cii_acme.custom.secret', 'malformed key: malformed key id'],
    ['integration', 'mlabk.cii_acme.ki_0123456789abcdef', 'malformed key: expected 3 dot-separated parts'],
    ['integration', 'mlabk.xyz_acme.ki_0123456789abcdef.secret', 'malformed key: unknown owner prefix'],
    ['autojoin', 'mlabk.org_acme.ki_0123456789abcdef.', 'malformed key: malformed secret'],
    // Flat-key shaped (base64url, 16+ characters) but sent to the kind that has none.
    ['integration', generateSecret(), 'malformed key: missing mlabk. prefix'],
  ] as const)('a malformed %s key is invalid without a lookup: %s', async (kind, apiKey, reason) => {
    const h = harness();
    expect(await h.verifier.verify(apiKey, kind)).toEqual({
      ok: false,
      outcome: 'invalid',
      reason: expect.stringContaining(reason),
    });
    expect(h.reader.gets).toEqual([]);
    expect(h.bcrypt.calls).toEqual([]);
  });

  it.each([
    ['autojoin', 'integration'],
    ['integration', 'autojoin'],
  ] as const)('an %s key sent to the %s exchange is invalid without a lookup', async (keyKind, exchange) => {
    const h = harness();
    const key = newKey(keyKind);
    h.storeSha256(key);
    expect(await h.verifier.verify(key.apiKey, exchange)).toEqual({
      ok: false,
      outcome: 'invalid',
      reason: `${keyKind} key`,
      ownerId: key.ownerId,
      keyId: key.keyId,
    });
    expect(h.reader.gets).toEqual([]);
  });
});

describe('the lookup', () => {
  it.each([
    ['integration', { namespace: 'ci-ns', path: ['IntegrationMeta', 'acme-speed', 'IntegrationAPIKey'] }],
    ['autojoin', { namespace: 'pf-ns', path: ['Organization', 'acme-speed', 'APIKey'] }],
  ] as const)('of an %s key asks for exactly its record, once', async (kind, where) => {
    const h = harness();
    const key = newKey(kind, 'acme-speed');
    h.storeSha256(key);
    expect(await h.verifier.verify(key.apiKey, kind)).toMatchObject({ ok: true });
    expect(h.reader.gets).toEqual([apiKeyKey(KEY_PATHS, kind, key.ownerId, key.keyId, NAMESPACES)]);
    expect(h.reader.gets).toEqual([{ namespace: where.namespace, path: [...where.path, key.keyId] }]);
  });

  it('of a key with no record is invalid: unknown key', async () => {
    const h = harness();
    const key = newKey();
    expect(await h.verifier.verify(key.apiKey, 'integration')).toEqual({
      ok: false,
      outcome: 'invalid',
      reason: 'unknown key',
      ownerId: key.ownerId,
      keyId: key.keyId,
    });
    expect(h.bcrypt.calls).toEqual([]);
  });

  it('that Datastore cannot answer is an outage carrying the cause, not a bad key', async () => {
    const cause = 'DEADLINE_EXCEEDED: lookup timed out';
    const h = harness({ reader: fakeReader({ status: 'unavailable', cause }) });
    const key = newKey();
    expect(await h.verifier.verify(key.apiKey, 'integration')).toEqual({
      ok: false,
      outcome: 'unavailable',
      cause,
      ownerId: key.ownerId,
      keyId: key.keyId,
    });
    expect(h.reader.gets).toHaveLength(1);
  });

  it('that Datastore refuses (INVALID_ARGUMENT) is a bad key', async () => {
    const h = harness({ reader: fakeReader({ status: 'refused', cause: 'INVALID_ARGUMENT: bad name' }) });
    const key = newKey();
    expect(await h.verifier.verify(key.apiKey, 'integration')).toEqual({
      ok: false,
      outcome: 'invalid',
      reason: 'name refused by Datastore',
      ownerId: key.ownerId,
      keyId: key.keyId,
    });
  });

  it('of a record with a tier that is not an integer is invalid: unreadable', async () => {
    const h = harness();
    const key = newKey();
    h.storeSha256(key, { tier: 2.5 });
    expect(await h.verifier.verify(key.apiKey, 'integration')).toMatchObject({
      ok: false,
      outcome: 'invalid',
      reason: 'key record unreadable: tier is not an integer',
    });
  });
});

describe('status and expiry', () => {
  it('a revoked key is invalid, and its secret is never checked', async () => {
    const h = harness();
    const key = newKey();
    h.storeBcrypt(key, { status: 'revoked' });
    expect(await h.verifier.verify(key.apiKey, 'integration')).toMatchObject({
      ok: false,
      outcome: 'invalid',
      reason: 'key not active',
    });
    expect(h.bcrypt.calls).toEqual([]);
  });

  it('revocation bites on the next request, although the secret is cached', async () => {
    const h = harness();
    const key = newKey();
    const hash = h.storeBcrypt(key);
    expect(await h.verifier.verify(key.apiKey, 'integration')).toMatchObject({ ok: true });
    h.reader.put(key, { key_hash: hash, status: 'revoked', tier: 1 });
    expect(await h.verifier.verify(key.apiKey, 'integration')).toMatchObject({
      ok: false,
      outcome: 'invalid',
      reason: 'key not active',
    });
  });

  it('a key past its expires_at by the injected clock is invalid (though still ahead of the real one)', async () => {
    const h = harness();
    const key = newKey();
    h.storeSha256(key, { expires_at: new Date(NOW.getTime() - 1) });
    expect(new Date(NOW.getTime() - 1).getTime()).toBeGreaterThan(Date.now());
    expect(await h.verifier.verify(key.apiKey, 'integration')).toMatchObject({
      ok: false,
      outcome: 'invalid',
      reason: 'key expired',
    });
  });

  it('a key before its expires_at by the injected clock is good (though past by the real one)', async () => {
    const h = harness({ now: new Date('2020-01-01T00:00:00Z') });
    const key = newKey();
    h.storeSha256(key, { expires_at: new Date('2020-01-01T00:00:01Z') });
    expect(await h.verifier.verify(key.apiKey, 'integration')).toMatchObject({ ok: true });
  });

  it('a key whose expires_at is in the future is good', async () => {
    const h = harness();
    const key = newKey();
    h.storeSha256(key, { expires_at: new Date(NOW.getTime() + 60_000) });
    expect(await h.verifier.verify(key.apiKey, 'integration')).toMatchObject({ ok: true });
  });
});

describe('a Go-made key (SHA-256)', () => {
  it('with the right secret is good, with the tier from its record', async () => {
    const h = harness();
    const key = newKey();
    h.storeSha256(key, { tier: 3 });
    expect(await h.verifier.verify(key.apiKey, 'integration')).toEqual({
      ok: true,
      key: {
        kind: 'integration',
        ownerId: key.ownerId,
        keyId: key.keyId,
        tier: 3,
        record: {
          namespace: expect.any(String),
          path: ['IntegrationMeta', key.ownerId, 'IntegrationAPIKey', key.keyId],
        },
      },
    });
    expect(h.bcrypt.calls).toEqual([]);
  });

  it('with a wrong secret is invalid', async () => {
    const h = harness();
    const key = newKey();
    h.storeSha256(key);
    expect(await h.verifier.verify(key.wrong(), 'integration')).toEqual({
      ...wrongSecret,
      ownerId: key.ownerId,
      keyId: key.keyId,
    });
  });

  it('is never throttled: after many wrong guesses from one address the right secret is still good', async () => {
    const h = harness({ maxFailuresPerKey: 2, maxFailuresPerAddress: 2 });
    const key = newKey();
    h.storeSha256(key);
    for (let i = 0; i < 20; i++) {
      expect(await h.verifier.verify(key.wrong(), 'integration', '198.51.100.7')).toMatchObject(wrongSecret);
    }
    expect(await h.verifier.verify(key.apiKey, 'integration', '198.51.100.7')).toMatchObject({ ok: true });
    expect(h.bcrypt.calls).toEqual([]);
  });
});

describe('a bcrypt key', () => {
  it('with the right secret is good, after one compare of that secret against the stored hash', async () => {
    const h = harness();
    const key = newKey();
    const hash = h.storeBcrypt(key);
    expect(await h.verifier.verify(key.apiKey, 'integration')).toMatchObject({ ok: true });
    expect(h.bcrypt.calls).toEqual([[key.secret, hash]]);
  });

  it('verified once is not compared again (the cache), while the record is still read', async () => {
    const h = harness();
    const key = newKey();
    h.storeBcrypt(key);
    expect(await h.verifier.verify(key.apiKey, 'integration')).toMatchObject({ ok: true });
    expect(await h.verifier.verify(key.apiKey, 'integration')).toMatchObject({ ok: true });
    expect(h.bcrypt.calls).toHaveLength(1);
    expect(h.reader.gets).toHaveLength(2);
  });

  it('is compared again once its stored hash has changed', async () => {
    const h = harness();
    const key = newKey();
    h.storeBcrypt(key, {}, 'first');
    expect(await h.verifier.verify(key.apiKey, 'integration')).toMatchObject({ ok: true });
    const rehashed = h.storeBcrypt(key, {}, 'second');
    expect(await h.verifier.verify(key.apiKey, 'integration')).toMatchObject({ ok: true });
    expect(h.bcrypt.calls).toHaveLength(2);
    expect(h.bcrypt.calls[1]).toEqual([key.secret, rehashed]);
  });

  it('with a wrong secret is invalid, even once the right one is cached', async () => {
    const h = harness();
    const key = newKey();
    h.storeBcrypt(key);
    expect(await h.verifier.verify(key.wrong(), 'integration')).toEqual({
      ...wrongSecret,
      ownerId: key.ownerId,
      keyId: key.keyId,
    });
    expect(await h.verifier.verify(key.apiKey, 'integration')).toMatchObject({ ok: true });
    expect(await h.verifier.verify(key.wrong(), 'integration')).toMatchObject(wrongSecret);
    expect(h.bcrypt.calls).toHaveLength(3);
  });

  it('asked for concurrently before it is verified shares one compare, and every request is good', async () => {
    const h = harness({ maxFailuresPerKey: 2 });
    const key = newKey();
    h.storeBcrypt(key);
    const release = h.bcrypt.hold();
    const requests = Array.from({ length: 6 }, () => h.verifier.verify(key.apiKey, 'integration', '192.0.2.1'));
    await tick();
    expect(h.bcrypt.calls).toHaveLength(1);
    release();
    for (const result of await Promise.all(requests)) expect(result).toMatchObject({ ok: true });
    expect(h.bcrypt.calls).toHaveLength(1);
  });

  it('a wrong secret concurrent with the right one gets its own compare, not the right one’s answer', async () => {
    const h = harness();
    const key = newKey();
    h.storeBcrypt(key);
    const release = h.bcrypt.hold();
    const right = [h.verifier.verify(key.apiKey, 'integration'), h.verifier.verify(key.apiKey, 'integration')];
    const wrong = h.verifier.verify(key.wrong(), 'integration');
    await tick();
    release();
    expect(await wrong).toMatchObject(wrongSecret);
    for (const result of await Promise.all(right)) expect(result).toMatchObject({ ok: true });
    expect(h.bcrypt.calls).toHaveLength(2);
  });

  it('guessed wrong too often from one address is throttled there, and still verifies from another', async () => {
    const h = harness({ maxFailuresPerKey: 3 });
    const key = newKey();
    h.storeBcrypt(key);
    for (let i = 0; i < 3; i++) {
      expect(await h.verifier.verify(key.wrong(), 'integration', '198.51.100.7')).toMatchObject(wrongSecret);
    }
    const throttled = await h.verifier.verify(key.wrong(), 'integration', '198.51.100.7');
    expect(throttled).toMatchObject({ ok: false, outcome: 'throttled', ownerId: key.ownerId, keyId: key.keyId });
    expect((throttled as { retryAfter: number }).retryAfter).toBeGreaterThan(0);
    expect(h.bcrypt.calls).toHaveLength(3);
    expect(await h.verifier.verify(key.apiKey, 'integration', '203.0.113.9')).toMatchObject({ ok: true });
    expect(h.bcrypt.calls).toHaveLength(4);
  });

  it('is busy when the bcrypt line is full, and the request turned away counts as no guess', async () => {
    const h = harness({ bcryptLimit: new FairLimit(1, 0, 0), maxFailuresPerKey: 1 });
    const first = newKey();
    const second = newKey();
    h.storeBcrypt(first);
    h.storeBcrypt(second);
    const release = h.bcrypt.hold();
    const pending = h.verifier.verify(first.apiKey, 'integration', '192.0.2.1');
    await tick();
    expect(h.bcrypt.calls).toHaveLength(1);
    expect(await h.verifier.verify(second.apiKey, 'integration', '192.0.2.2')).toEqual({
      ok: false,
      outcome: 'busy',
      ownerId: second.ownerId,
      keyId: second.keyId,
    });
    expect(h.bcrypt.calls).toHaveLength(1);
    release();
    expect(await pending).toMatchObject({ ok: true });
    // With one failure allowed, a busy answer counted as a wrong guess would throttle this.
    expect(await h.verifier.verify(second.apiKey, 'integration', '192.0.2.2')).toMatchObject({ ok: true });
  });
});

describe('a stored hash that cannot be checked', () => {
  it('neither bcrypt nor SHA-256 is invalid: stored hash unreadable, with no compare', async () => {
    const h = harness();
    const key = newKey();
    h.reader.put(key, { key_hash: 'md5:0123456789abcdef', status: 'active' });
    expect(await h.verifier.verify(key.apiKey, 'integration')).toEqual({
      ok: false,
      outcome: 'invalid',
      reason: 'stored hash unreadable',
      ownerId: key.ownerId,
      keyId: key.keyId,
    });
    expect(h.bcrypt.calls).toEqual([]);
  });

  it('that bcrypt throws on is invalid: stored hash unreadable', async () => {
    const h = harness();
    const key = newKey();
    h.storeBcrypt(key);
    h.bcrypt.breakDown();
    expect(await h.verifier.verify(key.apiKey, 'integration')).toMatchObject({
      ok: false,
      outcome: 'invalid',
      reason: 'stored hash unreadable',
    });
    expect(h.bcrypt.calls).toHaveLength(1);
  });
});

describe('the result', () => {
  it.each([
    ['integration', { tier: 7 }, 7],
    ['autojoin', {}, 0],
  ] as const)('of a good %s key carries its kind, owner id, key id and tier', async (kind, fields, tier) => {
    const h = harness();
    const key = newKey(kind, 'speed-test_org');
    h.storeBcrypt(key, { tier: undefined, ...fields });
    expect(await h.verifier.verify(key.apiKey, kind)).toEqual({
      ok: true,
      key: {
        kind,
        ownerId: 'speed-test_org',
        keyId: key.keyId,
        tier,
        // The record it was verified by: where its last use is recorded.
        record: {
          namespace: expect.any(String),
          path:
            kind === 'integration'
              ? ['IntegrationMeta', 'speed-test_org', 'IntegrationAPIKey', key.keyId]
              : ['Organization', 'speed-test_org', 'APIKey', key.keyId],
        },
      },
    });
  });
});
