/** Revocation bites on the first request after it is written, even under load. */
import type { Datastore } from '@google-cloud/datastore';
import { parseApiKey } from '../../../shared/keys/grammar';
import { apiKeyKey, type Namespaces } from '../../../shared/keys/entities';
import { testDatastore, namespaceEnv, uniqueNamespaces } from '../../support/datastore';
import { postJson, serveFunctions, type ServedFunctions } from '../../support/functions';
import { newIntegrationKey } from '../../support/seed';
import { signingKeyFile } from '../../support/signingKeys';

let datastore: Datastore;
let namespaces: Namespaces;
let served: ServedFunctions;

beforeAll(async () => {
  datastore = testDatastore();
  namespaces = uniqueNamespaces('revocation');
  served = await serveFunctions({
    SIGNING_KEY_FILE: (await signingKeyFile('EdDSA')).path,
    ...namespaceEnv(namespaces),
  });
});
afterAll(() => served.close());

it('a key revoked while requests are flowing gets 401 on every request that starts after the write', async () => {
  const apiKey = await newIntegrationKey(datastore, namespaces);
  const parsed = parseApiKey(apiKey);
  if (!parsed.ok) throw new Error('seeded key does not parse');
  const record = apiKeyKey(datastore, 'integration', parsed.key.ownerId, parsed.key.keyId, namespaces);

  const results: Array<{ started: number; status: number }> = [];
  let revokedAt = Infinity;
  let stop = false;
  const workers = Array.from({ length: 8 }, async () => {
    while (!stop) {
      const started = performance.now();
      const { status } = await postJson(served.url('exchangeIntegration'), { api_key: apiKey });
      results.push({ started, status });
      if (results.filter((r) => r.started > revokedAt).length >= 40) stop = true;
    }
  });
  while (results.length < 40) await new Promise((resolve) => setTimeout(resolve, 5));
  const [entity] = await datastore.get(record);
  await datastore.save({ key: record, data: { ...entity, status: 'revoked', revoked_at: new Date() } });
  revokedAt = performance.now();
  await Promise.all(workers);

  const before = results.filter((r) => r.started < revokedAt);
  const after = results.filter((r) => r.started > revokedAt);
  expect(before.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(40);
  expect(after.length).toBeGreaterThanOrEqual(40);
  expect(after.map((r) => r.status)).toEqual(after.map(() => 401));
});
