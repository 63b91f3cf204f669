/**
 * Outages answer 503 with Retry-After, never 401: an integrator must be able to tell "try
 * again" from "your key is bad".
 */
import type { Datastore } from '@google-cloud/datastore';
import { freePort, startEmulator, type Emulator } from '../../../scripts/dev/emulator';
import { apiKeyKey, ownerKey } from '../../../shared/keys/entities';
import { parseApiKey } from '../../../shared/keys/grammar';
import type { Namespaces } from '../../../shared/keys/entities';
import { generateSigningKey } from '../../../shared/signing/signingKey';
import { testDatastore, namespaceEnv, uniqueNamespaces } from '../../support/datastore';
import { startFakeSecretManager, type FakeSecretManager } from '../../support/fakeSecretManager';
import { postJson, readJson, serveFunctions, type ServedFunctions } from '../../support/functions';
import { newAutojoinKey, newIntegrationKey } from '../../support/seed';
import { signingKeyFile } from '../../support/signingKeys';

const SECRET = 'projects/token-exchange-test/secrets/signing-key';
let namespaces: Namespaces;

beforeAll(() => {
  namespaces = uniqueNamespaces('unavailable');
});

describe('Datastore cannot be reached', () => {
  let served: ServedFunctions;

  beforeAll(async () => {
    const key = await signingKeyFile('EdDSA');
    served = await serveFunctions(
      {
        SIGNING_KEY_FILE: key.path,
        ...namespaceEnv(namespaces),
        DATASTORE_TIMEOUT_MS: '1500',
      },
      { datastoreEmulatorHost: `127.0.0.1:${await freePort()}` },
    );
  });
  afterAll(() => served.close());

  it.each([
    ['exchangeIntegration', 'mlabk.cii_some-integration.ki_0123456789abcdef.c2VjcmV0c2VjcmV0c2VjcmV0'],
    ['exchangeAutojoin', 'mlabk.org_some-org.ki_0123456789abcdef.c2VjcmV0c2VjcmV0c2VjcmV0'],
  ] as const)('%s answers 503 with Retry-After within its deadline', async (fn, apiKey) => {
    const started = Date.now();
    const response = await postJson(served.url(fn), { api_key: apiKey });
    expect(response.status).toBe(503);
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await readJson(response)).toMatchObject({ status: 503, title: 'Service unavailable' });
    // Bounded: the deadline (1.5 s) plus generous slack for a loaded machine, not gax's 60 s.
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(served.logs.at(-1)).toMatchObject({ outcome: 'unavailable', severity: 'ERROR' });
  });
});

describe('Secret Manager fails at cold start', () => {
  let fake: FakeSecretManager;

  beforeAll(async () => {
    fake = await startFakeSecretManager();
    fake.createSecret(SECRET);
    fake.addVersion(SECRET, JSON.stringify(await generateSigningKey('ES256')));
  });
  afterAll(() => fake.stop());

  it('answers 503 while the signing key cannot be read, then tokens once it can, without a restart', async () => {
    const datastore = testDatastore();
    const apiKey = await newIntegrationKey(datastore, namespaces);
    // Down for the cold-start read and the first request's own (jwks reads at cold start too,
    // so a count of failures would be shared between them by timing).
    fake.setDown(true);
    const served = await serveFunctions({
      SIGNING_KEY_SECRET: SECRET,
      SECRET_MANAGER_EMULATOR_HOST: `127.0.0.1:${fake.port}`,
      ...namespaceEnv(namespaces),
    });
    try {
      const first = await postJson(served.url('exchangeIntegration'), { api_key: apiKey });
      expect(first.status).toBe(503);
      expect(first.headers.get('retry-after')).toBeTruthy();
      fake.setDown(false);
      const next = await postJson(served.url('exchangeIntegration'), { api_key: apiKey });
      expect(next.status).toBe(200);
      // The instance's other exchange signs with the key that request read, with no read of its
      // own: it answers while Secret Manager is down again.
      const autojoinKey = await newAutojoinKey(datastore, namespaces);
      fake.setDown(true);
      const autojoin = await postJson(served.url('exchangeAutojoin'), { api_key: autojoinKey });
      fake.setDown(false);
      expect(autojoin.status).toBe(200);
    } finally {
      await served.close();
    }
  });
});

describe('the Datastore emulator stops mid-run and comes back', () => {
  let emulator: Emulator;
  let port: number;
  let datastore: Datastore;
  let served: ServedFunctions;

  beforeAll(async () => {
    port = await freePort();
    emulator = await startEmulator({ projectId: process.env.PROJECT_ID, port });
    datastore = testDatastore(`127.0.0.1:${port}`);
    served = await serveFunctions(
      {
        SIGNING_KEY_FILE: (await signingKeyFile('EdDSA')).path,
        ...namespaceEnv(namespaces),
        DATASTORE_TIMEOUT_MS: '1500',
      },
      { datastoreEmulatorHost: `127.0.0.1:${port}` },
    );
  }, 90_000);
  afterAll(async () => {
    await served.close();
    await emulator.stop();
  });

  it(
    'answers 503 with Retry-After within the deadline while it is ' +
      'down, and tokens again once it is back, without a restart',
    async () => {
      const apiKey = await newIntegrationKey(datastore, namespaces);
      const parsed = parseApiKey(apiKey);
      if (!parsed.ok) throw new Error('seeded key does not parse');
      const owner = ownerKey(datastore, 'integration', parsed.key.ownerId, namespaces);
      const record = apiKeyKey(datastore, 'integration', parsed.key.ownerId, parsed.key.keyId, namespaces);
      const [ownerData] = await datastore.get(owner);
      const [recordData] = await datastore.get(record);
      // Tokens before the outage. A fresh emulator's first REST answers can take longer than
      // the 1.5 s deadline (its JVM not yet warm): those are 503s, as they should be, so wait.
      expect((await statusesUntil200(served.url('exchangeIntegration'), apiKey)).at(-1)).toBe(200);

      await emulator.stop();
      for (let i = 0; i < 3; i++) {
        const started = Date.now();
        const response = await postJson(served.url('exchangeIntegration'), { api_key: apiKey });
        expect(response.status).toBe(503);
        expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
        expect(Date.now() - started).toBeLessThan(15_000);
      }

      // Back on the same port; the emulator keeps nothing in memory, so the data is restored.
      emulator = await startEmulator({ projectId: process.env.PROJECT_ID, port });
      // This client's channel reconnects with backoff, like the function's.
      for (let attempt = 0; ; attempt++) {
        try {
          await datastore.save([
            { key: owner, data: ownerData },
            { key: record, data: recordData },
          ]);
          break;
        } catch (error) {
          if (attempt > 100) throw error;
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      }
      const statuses = await statusesUntil200(served.url('exchangeIntegration'), apiKey);
      expect(statuses.at(-1)).toBe(200);
      expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
    },
    120_000,
  );
});

/** Exchanges the key until a 200 (at most a minute), and answers every status seen, in order. */
async function statusesUntil200(url: string, apiKey: string): Promise<number[]> {
  const statuses: number[] = [];
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const status = (await postJson(url, { api_key: apiKey })).status;
    statuses.push(status);
    if (status === 200) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return statuses;
}

describe('Secret Manager holds an unusable signing key', () => {
  let fake: FakeSecretManager;
  beforeAll(async () => {
    fake = await startFakeSecretManager();
  });
  afterAll(() => fake.stop());

  it.each([
    ['text that is not a JWK', () => Promise.resolve('this is not JSON')],
    [
      'a public-only JWK',
      async () => {
        const { d: _d, ...publicOnly } = await generateSigningKey('EdDSA');
        return JSON.stringify(publicOnly);
      },
    ],
  ])(
    'with %s: a clear error in the log and 503, never a token; tokens once a good version is added',
    async (_, payload) => {
      const secret = `projects/token-exchange-test/secrets/bad-${Math.random().toString(16).slice(2)}`;
      fake.createSecret(secret);
      const text = await payload();
      fake.addVersion(secret, text);
      const apiKey = await newIntegrationKey(testDatastore(), namespaces);
      const served = await serveFunctions({
        SIGNING_KEY_SECRET: secret,
        SECRET_MANAGER_EMULATOR_HOST: `127.0.0.1:${fake.port}`,
        ...namespaceEnv(namespaces),
      });
      try {
        for (let i = 0; i < 2; i++) {
          const response = await postJson(served.url('exchangeIntegration'), { api_key: apiKey });
          expect(response.status).toBe(503);
          expect(await response.text()).not.toContain('eyJ');
        }
        const errors = served.logs.filter((l) => l.severity === 'ERROR');
        expect(errors.length).toBeGreaterThan(0);
        expect(errors.every((l) => /signing key/.test(String(l.message) + String(l.reason)))).toBe(true);
        expect(JSON.stringify(served.logs)).not.toContain(text.slice(0, 40));
        expect((await fetch(served.url('jwks'))).status).toBe(503);

        fake.addVersion(secret, JSON.stringify(await generateSigningKey('ES256')));
        expect((await postJson(served.url('exchangeIntegration'), { api_key: apiKey })).status).toBe(200);
      } finally {
        await served.close();
      }
    },
  );
});
