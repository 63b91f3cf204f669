/**
 * Flat autojoin keys (the Go service's) at exchangeAutojoin without a migration step, on the
 * real emulator over real HTTP: the fallback query and the record it writes, the plaintext's
 * authority, the bounds on garbage, and outages. Each instance's Datastore calls are counted
 * through the runtime's key-store seam.
 */
import { PropertyFilter, type Datastore } from '@google-cloud/datastore';
import { decodeJwt } from 'jose';
import { Agent, request } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { freePort } from '../../../scripts/dev/emulator';
import { generateSecret, legacyKeyId, legacyKeyName } from '../../../shared/keys/grammar';
import { KIND, legacyKeyKey, ownerKey, type Namespaces } from '../../../shared/keys/entities';
import { datastoreRest } from '../../../shared/exchange/datastoreRest';
import { lookupReader, type EntityReader, type FlatKeyStore, type Insert } from '../../../shared/exchange/lookup';
import { migrateLegacyKeys } from '../../../shared/admin/legacyMigration';
import { cliFor, namespaceEnv, parseJson } from '../../support/cli';
import { testDatastore, uniqueNamespaces } from '../../support/datastore';
import { postJson, readJson, serveFunctions, type ServedFunctions, type TokenBody } from '../../support/functions';
import { newAutojoinKey, uniqueId } from '../../support/seed';
import { signingKeyFile } from '../../support/signingKeys';

type Store = EntityReader & FlatKeyStore;

interface Counts {
  /** Lookup RPCs, and the keys they asked for. */
  lookups: number;
  keysLookedUp: number;
  queries: number;
  inserted: number;
  existed: number;
}

const zero = (): Counts => ({ lookups: 0, keysLookedUp: 0, queries: 0, inserted: 0, existed: 0 });

/** Counts every Datastore call of an instance; `query` replaces the fallback's query. */
function counting(counts: Counts, query?: FlatKeyStore['findFlatKey']): (store: Store) => Store {
  return (store) => ({
    get(key) {
      counts.lookups += 1;
      counts.keysLookedUp += 1;
      return store.get(key);
    },
    getMany(keys) {
      counts.lookups += 1;
      counts.keysLookedUp += keys.length;
      return store.getMany(keys);
    },
    findFlatKey(namespace, flatKey) {
      counts.queries += 1;
      return (query ?? store.findFlatKey)(namespace, flatKey);
    },
    async insertIfAbsent(key, properties) {
      const result: Insert = await store.insertIfAbsent(key, properties);
      if (result.status === 'inserted') counts.inserted += 1;
      if (result.status === 'exists') counts.existed += 1;
      return result;
    },
  });
}

let datastore: Datastore;
let namespaces: Namespaces;
let signingKey: string;
const open: ServedFunctions[] = [];

beforeAll(async () => {
  datastore = testDatastore();
  namespaces = uniqueNamespaces('flat');
  signingKey = (await signingKeyFile('RS256')).path;
});
afterAll(async () => {
  await Promise.all(open.map((s) => s.close()));
});

/** A fresh instance: its own caches, memories and budget. */
async function instance(
  counts: Counts,
  env: Record<string, string> = {},
  options: Parameters<typeof serveFunctions>[1] = {},
): Promise<ServedFunctions> {
  const served = await serveFunctions(
    { SIGNING_KEY_FILE: signingKey, ...namespaceEnv(namespaces), ...env },
    { keyStore: counting(counts), ...options },
  );
  open.push(served);
  return served;
}

/** An organisation and a flat key, written as the Go service's CreateOrganization and CreateAPIKeyWithValue do. */
async function goServiceFlatKey(): Promise<{ org: string; flatKey: string; createdAt: Date }> {
  const org = uniqueId('goorg');
  const createdAt = new Date('2025-03-01T12:00:00Z');
  await datastore.save({
    key: ownerKey(datastore, 'autojoin', org, namespaces),
    data: { name: org, email: 'ops@example.org', created_at: createdAt, probability_multiplier: datastore.double(1.0) },
  });
  const flatKey = generateSecret();
  await datastore.save({ key: plaintextKey(org, flatKey), data: { created_at: createdAt, key: flatKey } });
  return { org, flatKey, createdAt };
}

function plaintextKey(org: string, flatKey: string) {
  return datastore.key({
    namespace: namespaces.platformNamespace,
    path: [KIND.organization, org, KIND.organizationKey, flatKey],
  });
}

async function record(flatKey: string): Promise<Record<string, unknown> | undefined> {
  const [entity] = await datastore.get(legacyKeyKey(datastore, legacyKeyName(flatKey), namespaces));
  return entity === undefined ? undefined : Object.fromEntries(Object.entries(entity as Record<string, unknown>));
}

const exchange = (served: ServedFunctions, apiKey: string): Promise<Response> =>
  postJson(served.url('exchangeAutojoin'), { api_key: apiKey });

describe('a flat key nobody migrated', () => {
  it('gets a token for its organisation, and records itself: the next exchange runs no query', async () => {
    const { org, flatKey, createdAt } = await goServiceFlatKey();
    const counts = zero();
    const served = await instance(counts);

    const first = await exchange(served, flatKey);
    expect(first.status).toBe(200);
    expect(decodeJwt((await readJson<TokenBody>(first)).token)).toMatchObject({ aud: 'autojoin', org });
    // One get of the record (a miss), the Go service's query, one insert.
    expect(counts).toEqual({ lookups: 1, keysLookedUp: 1, queries: 1, inserted: 1, existed: 0 });
    expect(await record(flatKey)).toMatchObject({ org, status: 'active', created_at: createdAt, plaintext_twin: true });

    Object.assign(counts, zero());
    expect((await exchange(served, flatKey)).status).toBe(200);
    // The record and its plaintext twin in one lookup RPC.
    expect(counts).toEqual({ lookups: 1, keysLookedUp: 2, queries: 0, inserted: 0, existed: 0 });

    // A fresh instance learns the organisation from the record: one more get, the first time.
    const freshCounts = zero();
    const fresh = await instance(freshCounts);
    expect((await exchange(fresh, flatKey)).status).toBe(200);
    expect(freshCounts).toEqual({ lookups: 2, keysLookedUp: 2, queries: 0, inserted: 0, existed: 0 });
    expect((await exchange(fresh, flatKey)).status).toBe(200);
    expect(freshCounts).toMatchObject({ lookups: 3, queries: 0 });
  });

  it('concurrent first uses, on two instances at once, all succeed and write one record', async () => {
    const { org, flatKey } = await goServiceFlatKey();
    const counts = [zero(), zero()];
    const served = await Promise.all(counts.map((c) => instance(c)));
    const responses = await Promise.all(Array.from({ length: 24 }, (_, i) => exchange(served[i % 2], flatKey)));
    expect(responses.map((r) => r.status)).toEqual(Array(24).fill(200));
    // Each instance shares a query among the requests in flight (a request that arrives just
    // after it ended, before the record is written, may make one more: a loaded machine spreads
    // the 24 out); one insert wins.
    for (const c of counts) expect(c.queries).toBeLessThanOrEqual(2);
    expect(counts[0].inserted + counts[1].inserted).toBe(1);
    const [records] = await datastore.runQuery(
      datastore.createQuery(namespaces.platformNamespace, KIND.legacyKey).filter(new PropertyFilter('org', '=', org)),
    );
    expect(records).toHaveLength(1);
  });

  it(
    'is refused from the next exchange once its plaintext is ' +
      'deleted, as the old tools revoke, also after self-migration',
    async () => {
      const { flatKey, org } = await goServiceFlatKey();
      const counts = zero();
      const served = await instance(counts);
      expect((await exchange(served, flatKey)).status).toBe(200);
      await datastore.delete(plaintextKey(org, flatKey));

      Object.assign(counts, zero());
      expect((await exchange(served, flatKey)).status).toBe(401);
      expect(counts).toMatchObject({ lookups: 1, queries: 0 });
      const fresh = await instance(zero());
      expect((await exchange(fresh, flatKey)).status).toBe(401);
    },
  );

  it(
    'token-admin key revoke refuses it, migrated by use or not ' +
      'migrated at all; key list and org list show it meanwhile',
    async () => {
      const used = await goServiceFlatKey();
      const unused = await goServiceFlatKey();
      const served = await instance(zero());
      const cli = cliFor(namespaceEnv(namespaces));
      expect((await exchange(served, used.flatKey)).status).toBe(200);

      const listed = parseJson<Array<Record<string, unknown>>>(await cli('key', 'list', '--org', unused.org, '--json'));
      expect(listed).toEqual([
        expect.objectContaining({
          key_id: legacyKeyId(legacyKeyName(unused.flatKey)),
          status: 'active',
          legacy: true,
          in_plaintext: true,
        }),
      ]);
      const table = await cli('org', 'show', unused.org);
      expect(table.stdout).toContain('still in plaintext');
      const orgs = parseJson<Array<{ name: string; total_keys: number; active_keys: number }>>(
        await cli('org', 'list', '--json'),
      );
      expect(orgs.find((o) => o.name === unused.org)).toMatchObject({ total_keys: 1, active_keys: 1 });
      for (const output of [JSON.stringify(listed), table.stdout]) expect(output).not.toContain(unused.flatKey);

      for (const { org, flatKey } of [used, unused]) {
        const revoked = await cli('key', 'revoke', '--org', org, legacyKeyId(legacyKeyName(flatKey)));
        expect(revoked).toMatchObject({ code: 0 });
        expect((await exchange(served, flatKey)).status).toBe(401);
      }
      // The plaintext stays for autojoin's tools; the record decides.
      expect((await datastore.get(plaintextKey(unused.org, unused.flatKey)))[0]).toBeDefined();
      expect(await record(unused.flatKey)).toMatchObject({ org: unused.org, status: 'revoked', plaintext_twin: true });
    },
  );

  it('migrate-legacy --delete-plaintext hands the authority to the record', async () => {
    const { org, flatKey } = await goServiceFlatKey();
    const served = await instance(zero());
    expect((await exchange(served, flatKey)).status).toBe(200);
    await migrateLegacyKeys({ datastore, namespaces }, { deletePlaintext: true });
    expect((await datastore.get(plaintextKey(org, flatKey)))[0]).toBeUndefined();
    expect(await record(flatKey)).toMatchObject({ org, plaintext_twin: false });
    expect((await exchange(served, flatKey)).status).toBe(200);
    expect((await exchange(await instance(zero()), flatKey)).status).toBe(200);
  });

  it('is a 401 with no query when LEGACY_AUTOJOIN_FALLBACK=off; a migrated key still works', async () => {
    const { flatKey } = await goServiceFlatKey();
    const counts = zero();
    const served = await instance(counts, { LEGACY_AUTOJOIN_FALLBACK: 'off' });
    expect((await exchange(served, flatKey)).status).toBe(401);
    expect(counts.queries).toBe(0);
    expect((await exchange(await instance(zero()), flatKey)).status).toBe(200);
    expect((await exchange(served, flatKey)).status).toBe(200);
  });

  it('a key that missed is remembered: asking again runs no query', async () => {
    const counts = zero();
    const served = await instance(counts);
    const garbage = generateSecret();
    expect((await exchange(served, garbage)).status).toBe(401);
    expect((await exchange(served, garbage)).status).toBe(401);
    expect(counts).toMatchObject({ lookups: 2, queries: 1, inserted: 0 });
  });
});

describe('Datastore failing during the fallback', () => {
  let hanging: Server;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    // Accepts connections and never answers: Datastore past its deadline.
    hanging = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => hanging.close(resolve));
  });

  it.each([
    ['unreachable', async () => `127.0.0.1:${await freePort()}`],
    ['past its deadline', () => Promise.resolve(`127.0.0.1:${(hanging.address() as { port: number }).port}`)],
  ])('%s: 503 with Retry-After, never 401', async (_, host) => {
    const { flatKey } = await goServiceFlatKey();
    const broken = lookupReader(
      datastoreRest({ projectId: process.env.PROJECT_ID, emulatorHost: await host(), timeoutMs: 300 }),
    );
    const counts = zero();
    const served = await serveFunctions(
      { SIGNING_KEY_FILE: signingKey, ...namespaceEnv(namespaces), DATASTORE_TIMEOUT_MS: '300' },
      { keyStore: counting(counts, (ns, key) => broken.findFlatKey(ns, key)) },
    );
    open.push(served);
    const response = await exchange(served, flatKey);
    expect(response.status).toBe(503);
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(counts.queries).toBe(1);
    expect(served.logs.at(-1)).toMatchObject({ outcome: 'unavailable' });
    // Not remembered as a miss: once Datastore answers again, the key works.
    expect(await record(flatKey)).toBeUndefined();
  });
});

describe('garbage flat keys', () => {
  it(
    '5,000 distinct ones at once cost at most the budget in ' + 'queries, get 401 or 503, and valid keys keep working',
    async () => {
      const counts = zero();
      // A still clock: the budget does not refill during the test, so the bound is exact.
      const frozen = new Date();
      // A generous deadline: on a loaded machine a slow emulator would turn lookups into 503s,
      // which is right but not what this test measures.
      const served = await instance(counts, { DATASTORE_TIMEOUT_MS: '30000' }, { now: () => frozen });
      const scoped = await newAutojoinKey(datastore, namespaces);
      const migrated = await goServiceFlatKey();
      await migrateLegacyKeys({ datastore, namespaces }, { deletePlaintext: true });
      expect((await exchange(served, scoped)).status).toBe(200); // now cached
      expect((await exchange(served, migrated.flatKey)).status).toBe(200);
      const before = { ...counts };

      const agent = new Agent({ keepAlive: true, maxSockets: 64 });
      const post = (apiKey: string): Promise<{ status: number; retryAfter: string | undefined }> =>
        new Promise((resolve, reject) => {
          const body = JSON.stringify({ api_key: apiKey });
          const req = request(
            served.url('exchangeAutojoin'),
            {
              method: 'POST',
              agent,
              headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
            },
            (res) => {
              res.resume();
              res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] }));
            },
          );
          req.on('error', reject);
          req.end(body);
        });
      const GARBAGE = 5000;
      const garbage = Array.from({ length: GARBAGE }, () => post(generateSecret()));
      const valid = Array.from({ length: 50 }, (_, i) => post(i % 2 === 0 ? scoped : migrated.flatKey));
      const [garbageReplies, validReplies] = await Promise.all([Promise.all(garbage), Promise.all(valid)]);
      agent.destroy();

      const queries = counts.queries - before.queries;
      expect(queries).toBeLessThanOrEqual(60); // LEGACY_AUTOJOIN_FALLBACK_PER_MINUTE's default
      expect(queries).toBeGreaterThan(0);
      const statuses = new Map<number, number>();
      for (const reply of garbageReplies) statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
      expect([...statuses.keys()].sort()).toEqual([401, 503]);
      expect(statuses.get(401)).toBe(queries); // exactly the keys that were looked up
      for (const reply of garbageReplies.filter((r) => r.status === 503))
        expect(Number(reply.retryAfter)).toBeGreaterThan(0);
      expect(validReplies.map((r) => r.status)).toEqual(Array(50).fill(200));
      expect(counts.inserted - before.inserted).toBe(0);
      if (process.env.FLAT_KEY_FLOOD_REPORT) {
        process.stderr.write(
          `flood: ${GARBAGE} garbage keys, ${queries} queries (${(queries * 1000) / GARBAGE} per 1,000), ` +
            `${statuses.get(401)} × 401, ${statuses.get(503)} × 503; ${validReplies.length} valid all 200\n`,
        );
      }
    },
    180_000,
  );
});
