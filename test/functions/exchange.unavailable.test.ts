/**
 * Outages answer 503 with Retry-After, never 401: an integrator must be able to tell "try
 * again" from "your key is bad".
 */
import { Datastore } from '@google-cloud/datastore';
import { freePort } from '../../scripts/emulator';
import type { Namespaces } from '../../shared/entities';
import { generateSigningKey } from '../../shared/signingKey';
import { testDatastore, uniqueNamespaces } from '../support/datastore';
import { startFakeSecretManager, type FakeSecretManager } from '../support/fakeSecretManager';
import { postJson, readJson, serveFunctions, type ServedFunctions } from '../support/functions';
import { newAutojoinKey, newIntegrationKey } from '../support/seed';
import { signingKeyFile } from '../support/signingKeys';

const SECRET = 'projects/token-exchange-test/secrets/signing-key';
let namespaces: Namespaces;

beforeAll(() => {
  namespaces = uniqueNamespaces('unavailable');
});

describe('Datastore cannot be reached', () => {
  let served: ServedFunctions;
  let unreachable: Datastore;

  beforeAll(async () => {
    const key = await signingKeyFile('EdDSA');
    unreachable = new Datastore({ projectId: process.env.PROJECT_ID, apiEndpoint: `127.0.0.1:${await freePort()}` });
    served = await serveFunctions(
      {
        SIGNING_KEY_FILE: key.path,
        CLIENT_INTEGRATION_NS: namespaces.integrationNamespace,
        PLATFORM_NS: namespaces.platformNamespace,
        DATASTORE_TIMEOUT_MS: '1500',
      },
      { datastore: unreachable },
    );
  });
  afterAll(async () => {
    await served.close();
    await unreachable.close?.();
  });

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
    // The cold-start read and the first request's retry both fail.
    fake.failNext('AccessSecretVersion', 2);
    const served = await serveFunctions(
      {
        SIGNING_KEY_SECRET: SECRET,
        CLIENT_INTEGRATION_NS: namespaces.integrationNamespace,
        PLATFORM_NS: namespaces.platformNamespace,
      },
      { secretManager: () => fake.client() },
    );
    try {
      const first = await postJson(served.url('exchangeIntegration'), { api_key: apiKey });
      expect(first.status).toBe(503);
      expect(first.headers.get('retry-after')).toBeTruthy();
      const second = await postJson(served.url('exchangeIntegration'), { api_key: apiKey });
      expect(second.status).toBe(200);
      const autojoin = await postJson(served.url('exchangeAutojoin'), { api_key: await newAutojoinKey(datastore, namespaces) });
      expect(autojoin.status).toBe(200);
      expect(fake.calls.AccessSecretVersion).toBe(3);
    } finally {
      await served.close();
    }
  });
});
