/**
 * A name Datastore refuses (INVALID_ARGUMENT, the key store's `refused`) is a bad key: the
 * verifier answers `invalid` (401), never `unavailable` (503), for scoped and flat keys alike.
 */
import { KEY_PATHS } from '../../../shared/keys/entities';
import { generateSecret } from '../../../shared/keys/grammar';
import { FairLimit } from '../../../shared/exchange/fairLimit';
import { GuessThrottle } from '../../../shared/exchange/throttle';
import type { EntityReader, FlatKeyStore, Lookup, LookupMany } from '../../../shared/exchange/lookup';
import { createKeyVerifier } from '../../../shared/exchange/verifier';
import { VerifiedSecretCache } from '../../../shared/exchange/cache';

const refused = { status: 'refused', cause: '3: INVALID_ARGUMENT' } as const;

function verifierAnswering(answer: Lookup & LookupMany): ReturnType<typeof createKeyVerifier> {
  const store: EntityReader & FlatKeyStore = {
    get: () => Promise.resolve(answer),
    getMany: () => Promise.resolve(answer),
    findFlatKey: () => Promise.resolve(answer),
    insertIfAbsent: () => Promise.resolve(answer),
  };
  return createKeyVerifier({
    keys: KEY_PATHS,
    reader: store,
    namespaces: { integrationNamespace: 'ci', platformNamespace: 'pc' },
    cache: new VerifiedSecretCache(10),
    throttle: new GuessThrottle({ maxFailuresPerKey: 5, maxFailuresPerAddress: 50, windowSeconds: 60 }),
    bcryptLimit: new FairLimit(1, 1, 1),
    legacyFallback: { store, queriesPerMinute: 10 },
  });
}

describe('a lookup Datastore refuses', () => {
  it.each([
    ['integration', 'mlabk.cii_acme:speed test.ki_custom.secret'],
    ['autojoin', 'mlabk.org_some org.ki_2025-prod.secret'],
    ['autojoin', generateSecret()],
  ] as const)('is an invalid %s key, not an outage: %s', async (kind, apiKey) => {
    expect(await verifierAnswering(refused).verify(apiKey, kind)).toMatchObject({ ok: false, outcome: 'invalid' });
  });

  it('while an unavailable store is an outage', async () => {
    const unavailable = { status: 'unavailable', cause: 'no answer' } as const;
    expect(await verifierAnswering(unavailable).verify('mlabk.cii_acme.ki_custom.secret', 'integration')).toMatchObject(
      { ok: false, outcome: 'unavailable' },
    );
    expect(await verifierAnswering(unavailable).verify(generateSecret(), 'autojoin')).toMatchObject({
      ok: false,
      outcome: 'unavailable',
    });
  });
});
