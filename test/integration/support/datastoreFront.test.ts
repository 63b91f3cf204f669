// The Datastore front must relay the emulator faithfully when nothing is injected, and fail
// exactly as described when something is: the rehearsal's verdicts rest on both. Clients
// here verify the certificate against the test CA, as production verifies Google's.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { startDatastoreFront, type DatastoreFront } from '../../support/datastoreFront';
import { testCertificates } from '../../support/tls';

const PROJECT = process.env.PROJECT_ID!;
const GOOD = 'ya29.good-token';
const NAMESPACE = `front-${randomBytes(4).toString('hex')}`;

let front: DatastoreFront;
let agent: https.Agent;

beforeAll(async () => {
  front = await startDatastoreFront({
    emulatorHost: process.env.DATASTORE_EMULATOR_HOST!,
    checkToken: (token) => token === GOOD,
  });
});
afterAll(async () => {
  agent?.destroy();
  await front.close();
});
beforeEach(() => {
  front.clear();
  agent?.destroy();
  // One socket, kept alive: the second request of a test is on a reused socket.
  agent = new https.Agent({ ca: readFileSync(testCertificates().caFile), keepAlive: true, maxSockets: 1 });
});

/** What JSON.parse gives: the tests go on to assert its shape. */
type Json = ReturnType<typeof JSON.parse>;

interface Answer {
  status: number;
  contentType: string;
  text: string;
  json: Json;
  reusedSocket: boolean;
}

function post(
  method: string,
  body: object,
  options: { token?: string | null; timeoutMs?: number; at?: DatastoreFront } = {},
): Promise<Answer> {
  const [host, port] = (options.at ?? front).host.split(':');
  const token = options.token === undefined ? GOOD : options.token;
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = https.request(
      {
        host,
        port,
        method: 'POST',
        path: `/v1/projects/${PROJECT}:${method}`,
        agent,
        headers: {
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(text),
          ...(token !== null && { Authorization: `Bearer ${token}` }),
        },
      },
      (response) => {
        let received = '';
        response.on('data', (chunk: Buffer) => (received += chunk.toString()));
        response.on('end', () => {
          let json: unknown;
          try {
            json = JSON.parse(received);
          } catch {
            json = undefined;
          }
          resolve({
            status: response.statusCode ?? 0,
            contentType: response.headers['content-type'] ?? '',
            text: received,
            json,
            reusedSocket: request.reusedSocket,
          });
        });
      },
    );
    if (options.timeoutMs) request.setTimeout(options.timeoutMs, () => request.destroy(new Error('timed out')));
    request.on('error', (error: NodeJS.ErrnoException) =>
      reject(Object.assign(error, { reusedSocket: request.reusedSocket })),
    );
    request.end(text);
  });
}

const key = (name: string): object => ({
  partitionId: { projectId: PROJECT, namespaceId: NAMESPACE },
  path: [{ kind: 'FrontTest', name }],
});

async function insert(name: string): Promise<Answer> {
  return post('commit', {
    mode: 'NON_TRANSACTIONAL',
    mutations: [{ insert: { key: key(name), properties: { note: { stringValue: 'hello' } } } }],
  });
}

const lookup = (...names: string[]): Promise<Answer> => post('lookup', { keys: names.map(key) });

describe('the Datastore front, nothing injected', () => {
  test('relays lookup, runQuery and commit to the emulator, over one kept-alive socket', async () => {
    const name = `e-${randomBytes(4).toString('hex')}`;
    const inserted = await insert(name);
    expect(inserted.status).toBe(200);
    expect(inserted.json.mutationResults).toHaveLength(1);

    const found = await lookup(name, 'nobody');
    expect(found).toMatchObject({ status: 200, reusedSocket: true });
    expect(found.contentType).toMatch(/^application\/json/);
    expect(found.json.found[0].entity).toMatchObject({
      key: key(name),
      properties: { note: { stringValue: 'hello' } },
    });
    expect(found.json.missing[0].entity.key).toEqual(key('nobody'));

    const queried = await post('runQuery', {
      partitionId: { projectId: PROJECT, namespaceId: NAMESPACE },
      query: { kind: [{ name: 'FrontTest' }] },
    });
    expect(queried.status).toBe(200);
    expect(queried.json.batch).toBeDefined();
    expect(front.calls).toEqual({ lookup: 1, runQuery: 1, commit: 1 });
  });

  test("relays the emulator's own errors: inserting an existing entity", async () => {
    const name = `e-${randomBytes(4).toString('hex')}`;
    await insert(name);
    const again = await insert(name);
    expect(again.status).toBe(409);
    expect(again.json.error.status).toBe('ALREADY_EXISTS');
  });

  test('a missing or refused bearer token: 401 UNAUTHENTICATED, never reaching the emulator', async () => {
    for (const token of [null, 'ya29.someone-else', '']) {
      const answer = await lookup('x');
      expect(answer.status).toBe(200);
      const refused = await post('lookup', { keys: [key('x')] }, { token });
      expect(refused.status).toBe(401);
      expect(refused.json).toEqual({
        error: {
          code: 401,
          message: expect.stringMatching(
            /^Request had invalid authentication credentials\. Expected OAuth 2 access token/,
          ),
          status: 'UNAUTHENTICATED',
        },
      });
    }
    expect(front.unauthorised).toBe(3);
    expect(front.calls.lookup).toBe(3);
  });

  test('a path that is not one of the three methods: 404', async () => {
    const answer = await post('allocateIds', { keys: [] });
    expect(answer.status).toBe(404);
  });
});

describe('the Datastore front, faults', () => {
  test('reset-reused: a fresh socket passes and keeps it; the next request on a reused socket is dropped', async () => {
    front.inject('reset-reused');
    const first = await lookup('a');
    expect(first).toMatchObject({ status: 200, reusedSocket: false });

    const error = await lookup('a').then(
      () => undefined,
      (e: NodeJS.ErrnoException & { reusedSocket: boolean }) => e,
    );
    // What a Node https client sees: Node's http docs' reused-socket race, retry-worthy.
    expect(error).toMatchObject({ code: 'ECONNRESET', message: 'socket hang up', reusedSocket: true });
    // The fault is spent; the next request opens a fresh socket and succeeds.
    await expect(lookup('a')).resolves.toMatchObject({ status: 200, reusedSocket: false });
    expect(front.calls.lookup).toBe(3);
  });

  test.each([
    ['unavailable', 503, 'UNAVAILABLE'],
    ['internal', 500, 'INTERNAL'],
    ['deadline-exceeded', 504, 'DEADLINE_EXCEEDED'],
  ] as const)('%s: %i with Google JSON body %s', async (fault, status, name) => {
    front.inject(fault);
    const answer = await lookup('a');
    expect(answer.status).toBe(status);
    expect(answer.json).toEqual({ error: { code: status, message: expect.any(String), status: name } });
    await expect(lookup('a')).resolves.toMatchObject({ status: 200 });
  });

  test.each([502, 503, 504] as const)('bare-%i: that status, an HTML page, no JSON', async (status) => {
    front.inject(`bare-${status}`);
    const answer = await lookup('a');
    expect(answer.status).toBe(status);
    expect(answer.contentType).toMatch(/^text\/html/);
    expect(answer.json).toBeUndefined();
    expect(answer.text).toMatch(/^<!DOCTYPE html>/);
    expect(answer.text).toContain(`<title>Error ${status} (`);
  });

  test('count and method: faults go, in order, to the requests they name', async () => {
    front.inject('unavailable', { count: 2, method: 'commit' });
    front.inject('internal');
    expect((await lookup('a')).status).toBe(500); // the first queued fault that applies to a lookup
    expect((await lookup('a')).status).toBe(200);
    expect((await insert(`e-${randomBytes(4).toString('hex')}`)).status).toBe(503);
    expect((await insert(`e-${randomBytes(4).toString('hex')}`)).status).toBe(503);
    expect((await insert(`e-${randomBytes(4).toString('hex')}`)).status).toBe(200);
  });

  test('faults are applied only to authorised requests', async () => {
    front.inject('unavailable');
    expect((await post('lookup', { keys: [key('a')] }, { token: null })).status).toBe(401);
    expect((await lookup('a')).status).toBe(503);
  });

  test('deferred: every key found or missing comes back in deferred, keys only', async () => {
    const name = `e-${randomBytes(4).toString('hex')}`;
    await insert(name);
    front.inject('deferred');
    const answer = await lookup(name, 'nobody');
    expect(answer.status).toBe(200);
    expect(answer.json.found).toBeUndefined();
    expect(answer.json.missing).toBeUndefined();
    expect(answer.json.deferred).toEqual([key(name), key('nobody')]);
    expect((await lookup(name)).json.found).toHaveLength(1);
  });

  test("permission-denied: 403 SERVICE_DISABLED, its message quoting the request's key", async () => {
    front.inject('permission-denied');
    const answer = await lookup('the-first-name', 'second');
    expect(answer.status).toBe(403);
    expect(answer.json.error).toMatchObject({
      code: 403,
      status: 'PERMISSION_DENIED',
      details: [
        {
          '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
          reason: 'SERVICE_DISABLED',
          domain: 'googleapis.com',
          metadata: { service: 'datastore.googleapis.com' },
        },
      ],
    });
    expect(answer.json.error.message).toContain('the-first-name');

    // A query has no key: its first string value is quoted instead (the exchange queries by API key).
    front.inject('permission-denied');
    const query = await post('runQuery', {
      partitionId: { projectId: PROJECT, namespaceId: NAMESPACE },
      query: {
        kind: [{ name: 'FrontTest' }],
        filter: { propertyFilter: { property: { name: 'key' }, op: 'EQUAL', value: { stringValue: 'quoted-value' } } },
      },
    });
    expect(query.json.error.message).toContain('quoted-value');
  });

  test('no-answer: the request is held unanswered; the next one is answered', async () => {
    front.inject('no-answer');
    await expect(post('lookup', { keys: [key('a')] }, { timeoutMs: 500 })).rejects.toThrow('timed out');
    await expect(lookup('a')).resolves.toMatchObject({ status: 200 });
  });

  test('close() drops held requests', async () => {
    const other = await startDatastoreFront({
      emulatorHost: process.env.DATASTORE_EMULATOR_HOST!,
      checkToken: () => true,
    });
    other.setPermanent('no-answer');
    const held = post('lookup', { keys: [key('a')] }, { at: other });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(other.calls.lookup).toBe(1);
    await other.close();
    await expect(held).rejects.toMatchObject({ code: 'ECONNRESET' });
  });

  test('no-partition: entity keys in found and missing lose partitionId', async () => {
    const name = `e-${randomBytes(4).toString('hex')}`;
    await insert(name);
    front.inject('no-partition');
    const answer = await lookup(name, 'nobody');
    expect(answer.status).toBe(200);
    expect(answer.json.found[0].entity.key).toEqual({ path: [{ kind: 'FrontTest', name }] });
    expect(answer.json.missing[0].entity.key).toEqual({ path: [{ kind: 'FrontTest', name: 'nobody' }] });

    front.inject('no-partition', { method: 'runQuery' });
    const queried = await post('runQuery', {
      partitionId: { projectId: PROJECT, namespaceId: NAMESPACE },
      query: { kind: [{ name: 'FrontTest' }], limit: 1 },
    });
    expect(queried.json.batch.entityResults[0].entity.key.partitionId).toBeUndefined();
    expect(queried.json.batch.entityResults[0].entity.key.path).toBeDefined();
  });

  test('setPermanent: every authorised request until cleared', async () => {
    front.setPermanent('permission-denied');
    for (let i = 0; i < 3; i++) expect((await lookup('a')).status).toBe(403);
    front.setPermanent(undefined);
    expect((await lookup('a')).status).toBe(200);
    expect(front.calls.lookup).toBe(4);
  });

  test('clear() forgets faults and counters', async () => {
    front.inject('unavailable', { count: 3 });
    front.setPermanent('internal');
    await lookup('a');
    front.clear();
    expect(front.calls).toEqual({ lookup: 0, runQuery: 0, commit: 0 });
    expect(front.unauthorised).toBe(0);
    expect((await lookup('a')).status).toBe(200);
  });
});
