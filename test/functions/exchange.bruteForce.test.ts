/**
 * Guessing secrets: throttled per key id before bcrypt, without touching other keys, and a
 * flood of wrong secrets does not starve the requests that need no bcrypt.
 */
import type { Datastore } from '@google-cloud/datastore';
import { formatApiKey, generateSecret, parseApiKey } from '../../shared/apiKey';
import type { Namespaces } from '../../shared/entities';
import { createApiKey, createIntegration } from '../../shared/keyAdmin';
import { matchesBcrypt } from '../../shared/secretHash';
import { testDatastore, namespaceEnv, uniqueNamespaces } from '../support/datastore';
import { postJson, readJson, serveFunctions, type ServedFunctions } from '../support/functions';
import { newIntegrationKey } from '../support/seed';
import { signingKeyFile } from '../support/signingKeys';

let datastore: Datastore;
let namespaces: Namespaces;
let served: ServedFunctions;
let compares = 0;

function withWrongSecret(apiKey: string): string {
  const parsed = parseApiKey(apiKey);
  if (!parsed.ok) throw new Error('test key does not parse');
  return formatApiKey({ ...parsed.key, secret: generateSecret() });
}

async function exchange(apiKey: string): Promise<Response> {
  return postJson(served.url('exchangeIntegration'), { api_key: apiKey });
}

beforeAll(async () => {
  datastore = testDatastore();
  namespaces = uniqueNamespaces('brute');
  const key = await signingKeyFile('EdDSA');
  served = await serveFunctions(
    {
      SIGNING_KEY_FILE: key.path,
      ...namespaceEnv(namespaces),
      THROTTLE_MAX_FAILURES: '3',
      THROTTLE_WINDOW_SECONDS: '2',
    },
    {
      compareBcrypt: (secret, hash) => {
        compares += 1;
        return matchesBcrypt(secret, hash);
      },
    },
  );
});
afterAll(() => served.close());
beforeEach(() => {
  compares = 0;
});

it('after the allowed wrong secrets, answers 429 with Retry-After without running bcrypt, and lets the right secret in after the window', async () => {
  const apiKey = await newIntegrationKey(datastore, namespaces);
  const other = await newIntegrationKey(datastore, namespaces);
  for (let i = 0; i < 3; i++) expect((await exchange(withWrongSecret(apiKey))).status).toBe(401);
  expect(compares).toBe(3);

  const throttled = await exchange(withWrongSecret(apiKey));
  expect(throttled.status).toBe(429);
  expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  expect(await readJson(throttled)).toMatchObject({ status: 429, title: 'Too many attempts' });
  // Not even the right secret gets a bcrypt compare while the key id is throttled…
  expect((await exchange(apiKey)).status).toBe(429);
  expect(compares).toBe(3);
  // …and other keys are not affected.
  expect((await exchange(other)).status).toBe(200);
  expect(compares).toBe(4);

  await new Promise((resolve) => setTimeout(resolve, 2100));
  expect((await exchange(apiKey)).status).toBe(200);
  expect(served.logs.some((l) => l.outcome === 'throttled' && l.status === 429)).toBe(true);
});

it('admits only the allowed number of guesses from a concurrent burst', async () => {
  const apiKey = await newIntegrationKey(datastore, namespaces);
  const statuses = await Promise.all(Array.from({ length: 30 }, async () => (await exchange(withWrongSecret(apiKey))).status));
  expect(compares).toBe(3);
  expect(statuses.filter((s) => s === 401)).toHaveLength(3);
  expect(statuses.filter((s) => s === 429)).toHaveLength(27);
});

it('a burst of valid requests for a key not yet verified shares one bcrypt compare, none throttled', async () => {
  const apiKey = await newIntegrationKey(datastore, namespaces);
  const statuses = await Promise.all(Array.from({ length: 30 }, async () => (await exchange(apiKey)).status));
  expect(statuses).toEqual(Array(30).fill(200));
  expect(compares).toBe(1);
});

it('a secret this instance already verified keeps working while its key id is throttled', async () => {
  const apiKey = await newIntegrationKey(datastore, namespaces);
  expect((await exchange(apiKey)).status).toBe(200);
  for (let i = 0; i < 4; i++) await exchange(withWrongSecret(apiKey));
  expect((await exchange(withWrongSecret(apiKey))).status).toBe(429);
  expect((await exchange(apiKey)).status).toBe(200);
});

it('keeps answering valid requests during a flood of wrong secrets (real bcrypt, cost 10)', async () => {
  // A fresh instance whose window outlasts the flood, so the bound on compares is exact.
  const instance = await serveFunctions(
    {
      SIGNING_KEY_FILE: (await signingKeyFile('EdDSA')).path,
      ...namespaceEnv(namespaces),
      THROTTLE_MAX_FAILURES: '3',
      THROTTLE_WINDOW_SECONDS: '600',
    },
    {
      compareBcrypt: (secret, hash) => {
        compares += 1;
        return matchesBcrypt(secret, hash);
      },
    },
  );
  const exchange = (apiKey: string): Promise<Response> => postJson(instance.url('exchangeIntegration'), { api_key: apiKey });
  // Keys at the production cost, so every admitted wrong guess costs a real bcrypt compare.
  const ctx = { datastore, namespaces, bcryptCost: 10 };
  await createIntegration(ctx, 'flood-targets');
  const targets: string[] = [];
  for (let i = 0; i < 12; i++) targets.push((await createApiKey(ctx, { kind: 'integration', ownerId: 'flood-targets' })).apiKey);
  const valid = await newIntegrationKey(datastore, namespaces);
  expect((await exchange(valid)).status).toBe(200); // now a verified secret on this instance
  compares = 0;

  let flooding = true;
  const floodStatuses: number[] = [];
  const flood = Array.from({ length: 24 }, async (_, worker) => {
    for (let i = 0; flooding && i < 200; i++) {
      floodStatuses.push((await exchange(withWrongSecret(targets[(worker + i) % targets.length]!))).status);
    }
  });
  const validStatuses: number[] = [];
  while (floodStatuses.length < 30) await new Promise((resolve) => setTimeout(resolve, 20));
  for (let i = 0; i < 20; i++) validStatuses.push((await exchange(valid)).status);
  flooding = false;
  await Promise.all(flood);

  await instance.close();
  expect(validStatuses).toEqual(Array(20).fill(200));
  expect(compares).toBeGreaterThan(0);
  expect(compares).toBeLessThanOrEqual(targets.length * 3);
  expect(floodStatuses.every((s) => s === 401 || s === 429 || s === 503)).toBe(true);
  expect(floodStatuses.filter((s) => s >= 500).every((s) => s === 503)).toBe(true);
});
