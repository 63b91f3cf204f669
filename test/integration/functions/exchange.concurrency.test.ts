/**
 * Many exchanges at once share Datastore calls (lookupBatch.ts): against the emulator, behind
 * a proxy that counts the lookups, each still gets the answer for its own key, and a name
 * Datastore refuses spoils no one else's.
 */
import type { Datastore } from '@google-cloud/datastore';
import { decodeJwt } from 'jose';
import { Agent, createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { formatApiKey, generateKeyId, generateSecret, parseApiKey } from '../../../shared/keys/grammar';
import { apiKeyKey, type Namespaces } from '../../../shared/keys/entities';
import { testDatastore, namespaceEnv, testKeyStore, uniqueNamespaces } from '../../support/datastore';
import { serveFunctions, type ServedFunctions, type TokenBody } from '../../support/functions';
import { goServiceIntegrationKey, newIntegrationKey, uniqueId } from '../../support/seed';
import { createIntegration } from '../../../shared/admin/owners';
import { signingKeyFile } from '../../support/signingKeys';

let datastore: Datastore;
let namespaces: Namespaces;
let served: ServedFunctions;
/** The number of keys in each lookup the instance sent, as the proxy in front of the emulator saw them. */
const lookups: number[] = [];
let proxy: Server;

/** Passes everything on to the emulator, noting each lookup's keys. */
async function startCountingProxy(): Promise<string> {
  const [host, port] = (process.env.DATASTORE_EMULATOR_HOST as string).split(':');
  proxy = createServer((incoming, outgoing) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const body = Buffer.concat(chunks);
      if (incoming.url?.endsWith(':lookup'))
        lookups.push((JSON.parse(body.toString()) as { keys: unknown[] }).keys.length);
      const forwarded = httpRequest(
        { host, port: Number(port), method: incoming.method, path: incoming.url, headers: incoming.headers },
        (answer) => {
          outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(outgoing);
        },
      );
      forwarded.on('error', () => outgoing.destroy());
      forwarded.end(body);
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return `127.0.0.1:${(proxy.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  datastore = testDatastore();
  namespaces = uniqueNamespaces('concurrency');
  served = await serveFunctions(
    { SIGNING_KEY_FILE: (await signingKeyFile('EdDSA')).path, ...namespaceEnv(namespaces) },
    { datastoreEmulatorHost: await startCountingProxy() },
  );
});
afterAll(async () => {
  await served.close();
  await new Promise((resolve) => proxy.close(resolve));
});

async function updateRecord(apiKey: string, change: Record<string, unknown>): Promise<void> {
  const parsed = parseApiKey(apiKey);
  if (!parsed.ok) throw new Error('seeded key does not parse');
  const record = apiKeyKey(datastore, 'integration', parsed.key.ownerId, parsed.key.keyId, namespaces);
  const [entity] = (await datastore.get(record)) as [Record<string, unknown>];
  await datastore.save({ key: record, data: { ...entity, ...change } });
}

/**
 * Sends every body at the same moment, each on a connection of its own already open, so that
 * they reach the server in one turn of its event loop (fetch would open them one by one).
 */
async function postAllAtOnce(
  url: string,
  bodies: readonly unknown[],
): Promise<Array<{ status: number; body: TokenBody | null }>> {
  const agent = new Agent({ keepAlive: true, maxSockets: bodies.length });
  const post = (body: unknown) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const text = JSON.stringify(body);
      const request = httpRequest(
        url,
        {
          method: 'POST',
          agent,
          headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () =>
            resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString() }),
          );
        },
      );
      request.on('error', reject);
      request.end(text);
    });
  try {
    // Opens the connections: a malformed key is refused without Datastore.
    await Promise.all(bodies.map(() => post({ api_key: 'not-a-key' })));
    const answers = await Promise.all(bodies.map(post));
    return answers.map(({ status, text }) => ({
      status,
      body: status === 200 ? (JSON.parse(text) as TokenBody) : null,
    }));
  } finally {
    agent.destroy();
  }
}

it('40 exchanges at once for 40 different keys each get the answer for their own key', async () => {
  const integrations = [uniqueId('left'), uniqueId('right')];
  for (const id of integrations) await createIntegration({ datastore, namespaces }, id, 'test');
  const valid = await Promise.all(
    Array.from({ length: 16 }, (_, i) =>
      newIntegrationKey(datastore, namespaces, { ownerId: integrations[i % 2], tier: i % 4 }),
    ),
  );
  const goMade = await Promise.all(Array.from({ length: 8 }, () => goServiceIntegrationKey(datastore, namespaces)));
  const revoked = await Promise.all(
    Array.from({ length: 6 }, async () => {
      const apiKey = await newIntegrationKey(datastore, namespaces, { ownerId: integrations[0] });
      await updateRecord(apiKey, { status: 'revoked', revoked_at: new Date() });
      return apiKey;
    }),
  );
  const expired = await Promise.all(
    Array.from({ length: 4 }, async () => {
      const apiKey = await newIntegrationKey(datastore, namespaces, { ownerId: integrations[1] });
      await updateRecord(apiKey, { expires_at: new Date(Date.now() - 1000) });
      return apiKey;
    }),
  );
  // Never stored: the right shape, an id nobody made.
  const unknown = Array.from({ length: 6 }, () =>
    formatApiKey({ kind: 'integration', ownerId: integrations[0], keyId: generateKeyId(), secret: generateSecret() }),
  );
  const asked: Array<{ apiKey: string; expect: number; tier?: number }> = [
    ...valid.map((apiKey, i) => ({ apiKey, expect: 200, tier: i % 4 })),
    ...goMade.map(({ apiKey }) => ({ apiKey, expect: 200, tier: 0 })),
    ...revoked.map((apiKey) => ({ apiKey, expect: 401 })),
    ...expired.map((apiKey) => ({ apiKey, expect: 401 })),
    ...unknown.map((apiKey) => ({ apiKey, expect: 401 })),
  ].sort(() => Math.random() - 0.5);
  expect(asked).toHaveLength(40);

  lookups.length = 0;
  const answers = await postAllAtOnce(
    served.url('exchangeIntegration'),
    asked.map(({ apiKey }) => ({ api_key: apiKey })),
  );
  expect(answers.map((a) => a.status)).toEqual(asked.map((a) => a.expect));
  // Asked together, they shared calls: fewer lookups than exchanges, all 40 keys asked for.
  expect(lookups.length).toBeLessThan(40);
  expect(lookups.reduce((sum, keys) => sum + keys, 0)).toBe(40);
  answers.forEach((answer, i) => {
    if (answer.body === null) return;
    const parsed = parseApiKey(asked[i].apiKey);
    if (!parsed.ok) throw new Error('seeded key does not parse');
    expect(decodeJwt(answer.body.token)).toMatchObject({
      int_id: parsed.key.ownerId,
      key_id: parsed.key.keyId,
      tier: asked[i].tier,
    });
  });
});

it('a name Datastore refuses, asked in the same turn as good keys, is refused alone', async () => {
  const reader = testKeyStore();
  const { integrationId, keyId } = await goServiceIntegrationKey(datastore, namespaces);
  const good = apiKeyKey(datastore, 'integration', integrationId, keyId, namespaces);
  const absent = apiKeyKey(datastore, 'integration', integrationId, generateKeyId(), namespaces);
  const refused = {
    namespace: namespaces.integrationNamespace,
    path: ['IntegrationMeta', 'x', 'IntegrationAPIKey', ''],
  };
  const [first, second, third] = await Promise.all([reader.get(good), reader.get(refused), reader.get(absent)]);
  expect(first).toMatchObject({ status: 'found', entity: { status: 'active' } });
  expect(second).toMatchObject({ status: 'refused', cause: expect.stringMatching(/^INVALID_ARGUMENT:/) });
  expect(third).toEqual({ status: 'missing' });
});
