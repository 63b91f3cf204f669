/**
 * Every reason a key is refused gets the same 401: no oracle for which part was wrong,
 * and nothing of the key in the answer or the logs.
 */
import type { Datastore } from '@google-cloud/datastore';
import { formatApiKey, generateKeyId, generateSecret, parseApiKey, type ScopedKey } from '../../../shared/keys/grammar';
import { apiKeyKey, type Namespaces } from '../../../shared/keys/entities';
import { testDatastore, namespaceEnv, uniqueNamespaces } from '../../support/datastore';
import { postJson, readJson, serveFunctions, type ServedFunctions } from '../../support/functions';
import { newAutojoinKey, newIntegrationKey } from '../../support/seed';
import { signingKeyFile } from '../../support/signingKeys';

let datastore: Datastore;
let namespaces: Namespaces;
let served: ServedFunctions;

beforeAll(async () => {
  datastore = testDatastore();
  namespaces = uniqueNamespaces('unauthorized');
  served = await serveFunctions({
    SIGNING_KEY_FILE: (await signingKeyFile('ES256')).path,
    ...namespaceEnv(namespaces),
  });
});
afterAll(() => served.close());

function parts(apiKey: string): ScopedKey {
  const parsed = parseApiKey(apiKey);
  if (!parsed.ok) throw new Error('test key does not parse');
  return parsed.key;
}

async function setProperties(apiKey: string, changes: Record<string, unknown>): Promise<void> {
  const { kind, ownerId, keyId } = parts(apiKey);
  const key = apiKeyKey(datastore, kind, ownerId, keyId, namespaces);
  const [entity] = await datastore.get(key);
  await datastore.save({ key, data: { ...entity, ...changes } });
}

const REFERENCE_401 = {
  type: 'tag:measurementlab.net,2026:token-exchange/invalid-api-key',
  title: 'Invalid API key',
  status: 401,
  detail: 'The API key is not valid.',
};

const cases: Array<[string, 'exchangeIntegration' | 'exchangeAutojoin', () => Promise<string>]> = [
  [
    'an unknown integration',
    'exchangeIntegration',
    () =>
      Promise.resolve(
        formatApiKey({
          kind: 'integration',
          ownerId: 'no-such-integration',
          keyId: generateKeyId(),
          secret: generateSecret(),
        }),
      ),
  ],
  [
    'an unknown key id',
    'exchangeIntegration',
    async () => formatApiKey({ ...parts(await newIntegrationKey(datastore, namespaces)), keyId: generateKeyId() }),
  ],
  [
    'a wrong secret',
    'exchangeIntegration',
    async () => formatApiKey({ ...parts(await newIntegrationKey(datastore, namespaces)), secret: generateSecret() }),
  ],
  [
    'a revoked key',
    'exchangeIntegration',
    async () => {
      const apiKey = await newIntegrationKey(datastore, namespaces);
      await setProperties(apiKey, { status: 'revoked', revoked_at: new Date() });
      return apiKey;
    },
  ],
  [
    'an expired key',
    'exchangeIntegration',
    async () => newIntegrationKey(datastore, namespaces, { expiresAt: new Date(Date.now() - 1000) }),
  ],
  [
    'a key with an unreadable stored hash',
    'exchangeIntegration',
    async () => {
      const apiKey = await newIntegrationKey(datastore, namespaces);
      await setProperties(apiKey, { key_hash: 'plaintext?' });
      return apiKey;
    },
  ],
  ...['03', '32', '99'].map((cost): [string, 'exchangeIntegration', () => Promise<string>] => [
    `a stored bcrypt hash of cost ${cost}`,
    'exchangeIntegration',
    async () => {
      const apiKey = await newIntegrationKey(datastore, namespaces);
      const { kind, ownerId, keyId } = parts(apiKey);
      const [entity] = await datastore.get(apiKeyKey(datastore, kind, ownerId, keyId, namespaces));
      await setProperties(apiKey, {
        key_hash: (entity as { key_hash: string }).key_hash.replace(/^\$2b\$\d\d\$/, `$2b$${cost}$`),
      });
      return apiKey;
    },
  ]),
  [
    'a tier that is not an integer (2.5)',
    'exchangeIntegration',
    async () => {
      const apiKey = await newIntegrationKey(datastore, namespaces);
      await setProperties(apiKey, { tier: datastore.double(2.5) });
      return apiKey;
    },
  ],
  [
    'a tier stored as a string',
    'exchangeIntegration',
    async () => {
      const apiKey = await newIntegrationKey(datastore, namespaces);
      await setProperties(apiKey, { tier: '1' });
      return apiKey;
    },
  ],
  ['a malformed key', 'exchangeIntegration', () => Promise.resolve('mlabk.cii_x.ki_nothex.secret')],
  ['a flat (legacy) key at the integration function', 'exchangeIntegration', () => Promise.resolve(generateSecret())],
  [
    'an autojoin key at the integration function',
    'exchangeIntegration',
    async () => newAutojoinKey(datastore, namespaces),
  ],
  [
    'an integration key at the autojoin function',
    'exchangeAutojoin',
    async () => newIntegrationKey(datastore, namespaces),
  ],
  [
    'an unknown organisation',
    'exchangeAutojoin',
    () =>
      Promise.resolve(
        formatApiKey({ kind: 'autojoin', ownerId: 'no-such-org', keyId: generateKeyId(), secret: generateSecret() }),
      ),
  ],
  [
    'a revoked organisation key',
    'exchangeAutojoin',
    async () => {
      const apiKey = await newAutojoinKey(datastore, namespaces);
      await setProperties(apiKey, { status: 'revoked' });
      return apiKey;
    },
  ],
  ['an unmigrated flat autojoin key', 'exchangeAutojoin', () => Promise.resolve(generateSecret())],
];

describe.each(cases)('%s', (_, fn, makeKey) => {
  it('gets the one 401 answer, and neither the answer nor the logs hold the key', async () => {
    const apiKey = await makeKey();
    const logsBefore = served.logs.length;
    const response = await postJson(served.url(fn), { api_key: apiKey });
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const text = await response.text();
    expect(JSON.parse(text)).toEqual(REFERENCE_401);
    const logged = JSON.stringify(served.logs.slice(logsBefore));
    // One line for the request (the instance's first request adds its X-Forwarded-For count).
    const requestLines = served.logs.slice(logsBefore).filter((entry) => entry.status !== undefined);
    expect(requestLines).toHaveLength(1);
    expect(requestLines[0]).toMatchObject({ function: fn, status: 401, outcome: 'invalid' });
    expect(logged).not.toContain(apiKey);
    const secret = apiKey.split('.').pop() as string;
    expect(logged).not.toContain(secret);
  });
});

it('a key that worked stops working on the next request after it is revoked', async () => {
  const apiKey = await newIntegrationKey(datastore, namespaces);
  expect((await postJson(served.url('exchangeIntegration'), { api_key: apiKey })).status).toBe(200);
  await setProperties(apiKey, { status: 'revoked' });
  expect((await postJson(served.url('exchangeIntegration'), { api_key: apiKey })).status).toBe(401);
});

it('a verified secret stops working once the stored hash changes', async () => {
  const apiKey = await newIntegrationKey(datastore, namespaces);
  expect((await postJson(served.url('exchangeIntegration'), { api_key: apiKey })).status).toBe(200);
  await setProperties(apiKey, { key_hash: '0'.repeat(64) });
  expect((await postJson(served.url('exchangeIntegration'), { api_key: apiKey })).status).toBe(401);
});

it('a key that expires while in use is refused from then on', async () => {
  const apiKey = await newIntegrationKey(datastore, namespaces, { expiresAt: new Date(Date.now() + 60_000) });
  expect((await postJson(served.url('exchangeIntegration'), { api_key: apiKey })).status).toBe(200);
  await setProperties(apiKey, { expires_at: new Date(Date.now() - 1) });
  const response = await postJson(served.url('exchangeIntegration'), { api_key: apiKey });
  expect(response.status).toBe(401);
  expect(await readJson(response)).toEqual(REFERENCE_401);
});

it('logs why a record cannot be used: an unreadable stored hash, a tier that is not an integer', async () => {
  const hashKey = await newIntegrationKey(datastore, namespaces);
  const { kind, ownerId, keyId } = parts(hashKey);
  const [entity] = await datastore.get(apiKeyKey(datastore, kind, ownerId, keyId, namespaces));
  await setProperties(hashKey, {
    key_hash: (entity as { key_hash: string }).key_hash.replace(/^\$2b\$\d\d\$/, '$2b$32$'),
  });
  expect((await postJson(served.url('exchangeIntegration'), { api_key: hashKey })).status).toBe(401);
  expect(served.logs.at(-1)).toMatchObject({ status: 401, outcome: 'invalid', reason: 'stored hash unreadable' });

  const tierKey = await newIntegrationKey(datastore, namespaces, { tier: 2 });
  expect((await postJson(served.url('exchangeIntegration'), { api_key: tierKey })).status).toBe(200);
  await setProperties(tierKey, { tier: datastore.double(2.5) });
  expect((await postJson(served.url('exchangeIntegration'), { api_key: tierKey })).status).toBe(401);
  expect(served.logs.at(-1)).toMatchObject({
    status: 401,
    outcome: 'invalid',
    reason: 'key record unreadable: tier is not an integer',
  });
  // A whole number stored as a double is still that integer.
  await setProperties(tierKey, { tier: datastore.double(3) });
  expect((await postJson(served.url('exchangeIntegration'), { api_key: tierKey })).status).toBe(200);
  expect(served.logs.at(-1)).toMatchObject({ status: 200, tier: 3 });
});
