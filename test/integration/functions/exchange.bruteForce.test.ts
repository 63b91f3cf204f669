/**
 * Guessing secrets: bcrypt guesses throttled per key id and client address before bcrypt,
 * without touching other keys or the key's owner elsewhere; SHA-256 keys never throttled;
 * a flood of wrong secrets does not starve valid keys, cached or not.
 */
import type { Datastore } from '@google-cloud/datastore';
import { request } from 'node:http';
import { formatApiKey, generateSecret, parseApiKey } from '../../../shared/keys/grammar';
import type { Namespaces } from '../../../shared/keys/entities';
import { createApiKey } from '../../../shared/admin/keys';
import { createIntegration } from '../../../shared/admin/owners';
import { matchesBcrypt } from '../../../shared/keys/secretHash';
import { testDatastore, namespaceEnv, uniqueNamespaces } from '../../support/datastore';
import { postJson, readJson, serveFunctions, type ServedFunctions } from '../../support/functions';
import { goServiceIntegrationKey, newIntegrationKey } from '../../support/seed';
import { signingKeyFile } from '../../support/signingKeys';

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

it(
  'after the allowed wrong secrets from one address, answers that address 429 with ' +
    'Retry-After without running bcrypt, and lets the right secret in after the window',
  async () => {
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
  },
);

it('admits only the allowed number of guesses from a concurrent burst', async () => {
  const apiKey = await newIntegrationKey(datastore, namespaces);
  const statuses = await Promise.all(
    Array.from({ length: 30 }, async () => (await exchange(withWrongSecret(apiKey))).status),
  );
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

it(
  'with the verified-secret cache off (VERIFIED_SECRET_CACHE_SIZE=0), ' +
    'concurrent valid requests still share one compare, none throttled',
  async () => {
    let uncachedCompares = 0;
    const instance = await serveFunctions(
      {
        SIGNING_KEY_FILE: (await signingKeyFile('EdDSA')).path,
        ...namespaceEnv(namespaces),
        VERIFIED_SECRET_CACHE_SIZE: '0',
      },
      {
        compareBcrypt: async (secret, hash) => {
          uncachedCompares += 1;
          await new Promise((resolve) => setTimeout(resolve, 50));
          return matchesBcrypt(secret, hash);
        },
      },
    );
    try {
      const apiKey = await newIntegrationKey(datastore, namespaces);
      const statuses = await Promise.all(
        Array.from(
          { length: 20 },
          async () => (await postJson(instance.url('exchangeIntegration'), { api_key: apiKey })).status,
        ),
      );
      // Before, the cache size also turned sharing off: each request was a guess in flight and
      // all but the throttle's allowance got 429. Requests that arrive while a compare is under
      // way share it (on a loaded machine some may arrive after it ended and pay their own).
      expect(statuses).toEqual(Array(20).fill(200));
      expect(uncachedCompares).toBeGreaterThanOrEqual(1);
      expect(uncachedCompares).toBeLessThan(20);
      // Nothing remembered: the next request pays bcrypt again.
      const before = uncachedCompares;
      expect((await postJson(instance.url('exchangeIntegration'), { api_key: apiKey })).status).toBe(200);
      expect(uncachedCompares).toBe(before + 1);
    } finally {
      await instance.close();
    }
  },
);

it('a secret this instance already verified keeps working while its key id is throttled', async () => {
  const apiKey = await newIntegrationKey(datastore, namespaces);
  expect((await exchange(apiKey)).status).toBe(200);
  for (let i = 0; i < 4; i++) await exchange(withWrongSecret(apiKey));
  expect((await exchange(withWrongSecret(apiKey))).status).toBe(429);
  expect((await exchange(apiKey)).status).toBe(200);
});

/** One POST on a connection of its own; resolves with the status. */
function postOnce(url: string, body: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent: false,
        headers: { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)), ...headers },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** X-Forwarded-For as Google's load balancer hands it on: what the client wrote, then `<client>, <load balancer>`. */
const from = (client: string, spoofed?: string): Record<string, string> => ({
  'X-Forwarded-For': `${spoofed ? `${spoofed}, ` : ''}${client}, 130.211.0.1`,
});

it('logs once per instance how many X-Forwarded-For entries its first request carried, never an address', async () => {
  const instance = await serveFunctions({
    SIGNING_KEY_FILE: (await signingKeyFile('RS256')).path,
    ...namespaceEnv(namespaces),
  });
  try {
    const go = await goServiceIntegrationKey(datastore, namespaces);
    const url = instance.url('exchangeIntegration');
    expect((await postJson(url, { api_key: go.apiKey }, from('203.0.113.9', '192.0.2.77'))).status).toBe(200);
    expect((await postJson(url, { api_key: go.apiKey }, from('198.51.100.9'))).status).toBe(200);
    expect((await postJson(instance.url('exchangeAutojoin'), { api_key: 'x' }, from('198.51.100.9'))).status).toBe(401);
    const noted = instance.logs.filter((entry) => entry.forwarded_for_entries !== undefined);
    expect(noted).toEqual([
      {
        severity: 'INFO',
        message: 'first request: 3 X-Forwarded-For entries (FORWARDED_FOR_HOP=2)',
        function: 'exchangeIntegration',
        forwarded_for_entries: 3,
        forwarded_for_hop: 2,
      },
    ]);
    expect(JSON.stringify(instance.logs)).not.toMatch(/203\.0\.113|192\.0\.2|198\.51\.100|130\.211/);
  } finally {
    await instance.close();
  }
});

it('a Go-service (SHA-256) key answers 200 after 50 wrong guesses, none throttled, no bcrypt', async () => {
  const go = await goServiceIntegrationKey(datastore, namespaces);
  const statuses: number[] = [];
  for (let i = 0; i < 50; i++)
    statuses.push(
      (await postJson(served.url('exchangeIntegration'), { api_key: withWrongSecret(go.apiKey) }, from('203.0.113.50')))
        .status,
    );
  expect(statuses).toEqual(Array(50).fill(401));
  // From the attacker's own address, too.
  expect((await postJson(served.url('exchangeIntegration'), { api_key: go.apiKey }, from('203.0.113.50'))).status).toBe(
    200,
  );
  expect(
    (await postJson(served.url('exchangeIntegration'), { api_key: go.apiKey }, from('198.51.100.50'))).status,
  ).toBe(200);
  expect(compares).toBe(0);
});

it(
  'a bcrypt key answers 200 to its owner on a fresh ' + 'instance after 50 wrong guesses from another address',
  async () => {
    const instance = await serveFunctions({
      SIGNING_KEY_FILE: (await signingKeyFile('EdDSA')).path,
      ...namespaceEnv(namespaces),
    });
    try {
      const apiKey = await newIntegrationKey(datastore, namespaces);
      const guesses: number[] = [];
      // The attacker varies what it writes into X-Forwarded-For: only the load balancer's entry counts.
      for (let i = 0; i < 50; i++) {
        guesses.push(
          (
            await postJson(
              instance.url('exchangeIntegration'),
              { api_key: withWrongSecret(apiKey) },
              from('203.0.113.7', `10.9.8.${i}`),
            )
          ).status,
        );
      }
      expect(guesses.slice(0, 5)).toEqual(Array(5).fill(401));
      expect(guesses.slice(5)).toEqual(Array(45).fill(429));
      // The owner, elsewhere, never verified on this instance: a bcrypt compare and a token.
      expect(
        (await postJson(instance.url('exchangeIntegration'), { api_key: apiKey }, from('198.51.100.20'))).status,
      ).toBe(200);
      expect(
        (await postJson(instance.url('exchangeIntegration'), { api_key: withWrongSecret(apiKey) }, from('203.0.113.7')))
          .status,
      ).toBe(429);
    } finally {
      await instance.close();
    }
  },
);

it(
  'during 600 wrong guesses over 60 key ids from 6 addresses, valid keys ' +
    '(cached or not) still get 200 before the flood ends, with bcrypt work bounded',
  async () => {
    // bcrypt at the test's cost 4 plus a wait, so a compare holds its slot about as long as
    // cost 10 does (≈ 90 ms) without burning the machine's CPU.
    let attackCompares = 0;
    const slowCompare = async (secret: string, hash: string): Promise<boolean> => {
      compares += 1;
      await new Promise((resolve) => setTimeout(resolve, 40));
      const ok = await matchesBcrypt(secret, hash);
      if (!ok) attackCompares += 1;
      return ok;
    };
    const instance = await serveFunctions(
      {
        SIGNING_KEY_FILE: (await signingKeyFile('EdDSA')).path,
        ...namespaceEnv(namespaces),
        THROTTLE_WINDOW_SECONDS: '600',
      },
      { compareBcrypt: slowCompare },
    );
    const exchange = (apiKey: string, headers: Record<string, string>): Promise<Response> =>
      postJson(instance.url('exchangeIntegration'), { api_key: apiKey }, headers);
    try {
      await createIntegration({ datastore, namespaces }, 'flood-targets');
      const targets = await Promise.all(
        Array.from(
          { length: 60 },
          async () =>
            (
              await createApiKey(
                { datastore, namespaces, bcryptCost: 4 },
                { kind: 'integration', ownerId: 'flood-targets' },
              )
            ).apiKey,
        ),
      );
      const cached = await newIntegrationKey(datastore, namespaces);
      expect((await exchange(cached, from('198.51.100.1'))).status).toBe(200);
      const uncached = await Promise.all(Array.from({ length: 5 }, () => newIntegrationKey(datastore, namespaces)));
      compares = 0;

      const attackers = Array.from({ length: 6 }, (_, i) => `203.0.113.${100 + i}`);
      const floodStatuses: number[] = [];
      let next = 0;
      // 150 guesses in flight at once: more than any first-come line of 64 would hold.
      const flood = Promise.all(
        Array.from({ length: 150 }, async () => {
          while (next < 600) {
            const i = next++;
            // A connection each (no keep-alive): reusing 150 idle sockets on a loaded machine races
            // the server's keep-alive timeout, which is about the client, not the exchange.
            floodStatuses.push(
              await postOnce(
                instance.url('exchangeIntegration'),
                JSON.stringify({ api_key: withWrongSecret(targets[i % 60]) }),
                from(attackers[i % 6], `10.0.${i % 250}.1`),
              ),
            );
          }
        }),
      ).then(() => performance.now());
      while (floodStatuses.length < 30) await new Promise((resolve) => setTimeout(resolve, 5));

      const valid = await Promise.all(
        [cached, ...uncached].map(async (apiKey, i) => {
          const response = await exchange(apiKey, from(`198.51.100.${10 + i}`));
          return { status: response.status, at: performance.now() };
        }),
      );
      const floodEnded = await flood;

      expect(valid.map((v) => v.status)).toEqual(Array(6).fill(200));
      // Answered within the flood, not after it.
      for (const v of valid) expect(v.at).toBeLessThan(floodEnded);
      expect(floodStatuses).toHaveLength(600);
      expect(floodStatuses.every((s) => s === 401 || s === 429 || s === 503)).toBe(true);
      // The bound: each address's wrong secrets over all keys (THROTTLE_ADDRESS_MAX_FAILURES, 20).
      expect(attackCompares).toBeGreaterThan(0);
      expect(attackCompares).toBeLessThanOrEqual(attackers.length * 20);
      expect(floodStatuses.filter((s) => s === 429).length).toBeGreaterThan(0);
      const byStatus = Object.fromEntries([401, 429, 503].map((s) => [s, floodStatuses.filter((x) => x === s).length]));
      process.stdout.write(`flood: ${attackCompares} attack compares; statuses ${JSON.stringify(byStatus)}\n`);
    } finally {
      await instance.close();
    }
  },
  90_000,
);

it('keeps answering cached and SHA-256 keys during a flood of wrong secrets at real bcrypt cost 10', async () => {
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
  const exchange = (apiKey: string, headers: Record<string, string> = {}): Promise<Response> =>
    postJson(instance.url('exchangeIntegration'), { api_key: apiKey }, headers);
  try {
    const ctx = { datastore, namespaces, bcryptCost: 10 };
    await createIntegration(ctx, 'cost10-targets');
    const targets: string[] = [];
    for (let i = 0; i < 6; i++)
      targets.push((await createApiKey(ctx, { kind: 'integration', ownerId: 'cost10-targets' })).apiKey);
    const valid = await newIntegrationKey(datastore, namespaces);
    const go = await goServiceIntegrationKey(datastore, namespaces);
    expect((await exchange(valid)).status).toBe(200);
    compares = 0;
    let flooding = true;
    const floodStatuses: number[] = [];
    const flood = Array.from({ length: 16 }, async (_, worker) => {
      for (let i = 0; flooding && i < 100; i++)
        floodStatuses.push(
          (await exchange(withWrongSecret(targets[(worker + i) % targets.length]), from('203.0.113.77'))).status,
        );
    });
    while (floodStatuses.length < 10) await new Promise((resolve) => setTimeout(resolve, 20));
    const validStatuses: number[] = [];
    for (let i = 0; i < 10; i++) validStatuses.push((await exchange(valid)).status, (await exchange(go.apiKey)).status);
    flooding = false;
    await Promise.all(flood);
    expect(validStatuses).toEqual(Array(20).fill(200));
    // One address: at most its allowance of wrong secrets reach bcrypt, over all key ids.
    expect(compares).toBeGreaterThan(0);
    expect(compares).toBeLessThanOrEqual(20);
    expect(floodStatuses.every((s) => s === 401 || s === 429 || s === 503)).toBe(true);
  } finally {
    await instance.close();
  }
}, 90_000);
