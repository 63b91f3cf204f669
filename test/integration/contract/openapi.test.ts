/**
 * openapi.yaml against what the functions answer: the bundled local stack (`npm start`) is
 * driven through a response of every status the document lists, on every path and method it
 * documents, and through each of its examples; every answer (status, headers, body, and a
 * token's decoded header and claims) is validated against the document. The last test fails
 * if any documented status went unanswered, so the document cannot promise more than the
 * functions do, and each answer's check fails if they answer more than it promises.
 *
 * How each status is made: 200, 304, 400, 401, 405, 413, 415 and 431 by the request itself;
 * 429 by wrong secrets for one key id (THROTTLE_MAX_FAILURES, default 5); 503 on a second
 * stack whose Datastore sits behind a gate: held while it starts (every path answers
 * "Starting"), then with its signing key file missing (exchanges and jwks cannot sign or
 * publish), then with the gate cut (Datastore unreachable).
 */
import { request } from 'node:http';
import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FUNCTIONS, FUNCTION_NAMES, type FunctionName } from '../../../shared/platform/functions';
import type { KeyKind } from '../../../shared/keys/kinds';
import { namespaceEnv, testDatastore, uniqueNamespaces } from '../../support/datastore';
import { gatedForwarder, type GatedForwarder } from '../../support/gatedForwarder';
import { buildLocalStack, type BuiltLocalStack } from '../../support/localStack';
import { startLocalStackProcess, type LocalStackProcess } from '../../support/localStackProcess';
import { jwtPart, OpenApi, type Answer, type HttpMethod } from '../../support/openapi';
import { newAutojoinKey, newIntegrationKey } from '../../support/seed';

const api = new OpenApi();

const EXCHANGES = FUNCTION_NAMES.filter((name) => FUNCTIONS[name].kind !== 'jwks');
const JWKS = FUNCTION_NAMES.filter((name) => FUNCTIONS[name].kind === 'jwks');
/** Each function's paths: the Go service's, and its own name. */
const pathsOf = (names: readonly FunctionName[]): string[] =>
  names.flatMap((name) => [FUNCTIONS[name].goServicePath, `/${name}`]);
const EXCHANGE_PATHS = pathsOf(EXCHANGES);
const JWKS_PATHS = pathsOf(JWKS);
const kindOf = (path: string): KeyKind => {
  const name = EXCHANGES.find((n) => pathsOf([n]).includes(path));
  return FUNCTIONS[name as FunctionName].kind as KeyKind;
};

/** Headers past Node's 16 KiB limit. */
const HUGE_HEADER = { 'X-Padding': 'a'.repeat(17 * 1024) };
const OVER_8_KIB = JSON.stringify({ api_key: 'x', padding: 'p'.repeat(9000) });

interface Exchange {
  readonly method: string;
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
}

/** One request over its own connection, with exactly these headers and body. */
function send(base: string, exchange: Exchange): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${base}${exchange.path}`,
      {
        method: exchange.method,
        // Declared, whatever the method: Node sends a GET's body unframed otherwise.
        headers: {
          ...(exchange.body === undefined ? {} : { 'Content-Length': String(Buffer.byteLength(exchange.body)) }),
          ...exchange.headers,
        },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: Object.fromEntries(
              Object.entries(res.headers).map(([name, value]) => [
                name,
                Array.isArray(value) ? value.join(', ') : `${value}`,
              ]),
            ),
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(exchange.body);
  });
}

const JSON_TYPE = { 'Content-Type': 'application/json' };
const post = (path: string, body: unknown, headers: Record<string, string> = {}): Exchange => ({
  method: 'POST',
  path,
  headers: { ...JSON_TYPE, ...headers },
  body: JSON.stringify(body),
});

/** Every documented answer seen, by `METHOD path status`, as parsed bodies (undefined: none). */
const seen = new Map<string, unknown[]>();
const key = (path: string, method: HttpMethod, status: number): string => `${method.toUpperCase()} ${path} ${status}`;

/**
 * Sends, checks the answer against `method path` of the document (the operation documenting
 * the request's method, or for a method the path does not serve the one that documents its 405),
 * records it, and returns it.
 */
async function documented(base: string, exchange: Exchange, documentedAs?: HttpMethod): Promise<Answer> {
  const answer = await send(base, exchange);
  const method = documentedAs ?? (exchange.method.toLowerCase() as HttpMethod);
  expect([
    exchange.method,
    exchange.path,
    answer.status,
    api.check(exchange.path, method, answer, exchange.method),
  ]).toEqual([exchange.method, exchange.path, answer.status, []]);
  const bodies = seen.get(key(exchange.path, method, answer.status)) ?? [];
  bodies.push(answer.body === '' ? undefined : JSON.parse(answer.body));
  seen.set(key(exchange.path, method, answer.status), bodies);
  return answer;
}

/** A key of the same owner and id with a different secret: a wrong secret, checked by bcrypt. */
function wrongSecret(apiKey: string): string {
  return `${apiKey.slice(0, apiKey.lastIndexOf('.') + 1)}${randomBytes(32).toString('base64url')}`;
}

let built: BuiltLocalStack;

beforeAll(async () => {
  built = await buildLocalStack('openapi');
}, 60_000);

afterAll(() => built.remove());

describe('the local stack, serving', () => {
  let stack: LocalStackProcess;
  let keys: { integration: string; autojoin: string };
  const namespaces = uniqueNamespaces('openapi');

  beforeAll(async () => {
    stack = await startLocalStackProcess(built, {
      ...namespaceEnv(namespaces),
      DATASTORE_EMULATOR_HOST: process.env.DATASTORE_EMULATOR_HOST,
      // Production's lifetimes, which the document's examples show (the local stack shortens them unless set).
      INTEGRATION_TOKEN_TTL: '20',
      AUTOJOIN_TOKEN_TTL: '3600',
      // The 429 below comes after this many wrong secrets (the default, stated so the test stands alone).
      THROTTLE_MAX_FAILURES: '5',
    });
    await stack.serving();
    keys = stack.demoKeys();
  }, 120_000);

  afterAll(() => stack.stop());

  it.each(EXCHANGE_PATHS)('POST %s: 200 with the key in the body or in Authorization: Bearer', async (path) => {
    const apiKey = keys[kindOf(path)];
    for (const exchange of [
      post(path, { api_key: apiKey }),
      { method: 'POST', path, headers: { Authorization: `Bearer ${apiKey}` } },
    ]) {
      const answer = await documented(stack.base, exchange);
      expect(answer.status).toBe(200);
      const { token, expires_in } = JSON.parse(answer.body) as { token: string; expires_in: number };
      const claims = jwtPart(token, 1) as { aud: string; iat: number; exp: number };
      expect(claims.aud).toBe(kindOf(path));
      expect(claims.exp - claims.iat).toBe(expires_in);
    }
  });

  it.each(EXCHANGE_PATHS)('POST %s: each request example, as written (401) and with a live key (200)', async (path) => {
    const examples = api.requestExamples().filter((e) => e.path === path);
    expect(examples.length).toBeGreaterThan(0);
    for (const example of examples) {
      expect((await documented(stack.base, post(path, example.value))).status).toBe(401);
      const live = { ...(example.value as object), api_key: keys[kindOf(path)] };
      expect((await documented(stack.base, post(path, live))).status).toBe(200);
    }
  });

  it.each(EXCHANGE_PATHS)('POST %s: 400, 413, 415 (encoding, charset) and 431', async (path) => {
    const statuses = [
      await documented(stack.base, post(path, {})),
      await documented(stack.base, { method: 'POST', path, headers: JSON_TYPE, body: OVER_8_KIB }),
      await documented(stack.base, post(path, { api_key: 'x' }, { 'Content-Encoding': 'gzip' })),
      await documented(
        stack.base,
        post(path, { api_key: 'x' }, { 'Content-Type': 'application/json; charset=utf-16' }),
      ),
      await documented(stack.base, post(path, { api_key: keys[kindOf(path)] }, HUGE_HEADER)),
    ].map((answer) => answer.status);
    expect(statuses).toEqual([400, 413, 415, 415, 431]);
  });

  it.each(EXCHANGE_PATHS)('%s: any method but POST gets 405', async (path) => {
    const other = api.otherMethods(path);
    for (const method of ['GET', 'HEAD', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
      expect((await documented(stack.base, { method, path }, other)).status).toBe(405);
    }
  });

  it.each(['integration', 'autojoin'] as const)(
    '%s: wrong secrets for one key id get 429 with Retry-After, at both of its paths',
    async (kind) => {
      const datastore = testDatastore();
      const apiKey =
        kind === 'integration'
          ? await newIntegrationKey(datastore, namespaces)
          : await newAutojoinKey(datastore, namespaces);
      const [goPath, namePath] = EXCHANGE_PATHS.filter((path) => kindOf(path) === kind);
      const statuses: number[] = [];
      for (let attempt = 0; attempt < 5; attempt++) {
        statuses.push((await documented(stack.base, post(goPath, { api_key: wrongSecret(apiKey) }))).status);
      }
      for (const path of [goPath, namePath]) {
        statuses.push((await documented(stack.base, post(path, { api_key: wrongSecret(apiKey) }))).status);
      }
      expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429]);
    },
  );

  it.each(JWKS_PATHS)('GET and HEAD %s: 200, 304 with its ETag, 413, 415, 431', async (path) => {
    for (const method of ['GET', 'HEAD'] as const) {
      const ok = await documented(stack.base, { method, path });
      expect(ok.status).toBe(200);
      const etag = ok.headers.etag;
      const statuses = [
        await documented(stack.base, { method, path, headers: { 'If-None-Match': etag } }),
        await documented(stack.base, { method, path, headers: { 'Content-Type': 'text/plain' }, body: OVER_8_KIB }),
        await documented(stack.base, { method, path, headers: { 'Content-Encoding': 'gzip' } }),
        await documented(stack.base, { method, path, headers: HUGE_HEADER }),
      ].map((answer) => answer.status);
      expect(statuses).toEqual([304, 413, 415, 431]);
    }
  });

  it.each(JWKS_PATHS)('%s: any method but GET and HEAD gets 405', async (path) => {
    const other = api.otherMethods(path);
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
      expect((await documented(stack.base, { method, path }, other)).status).toBe(405);
    }
  });

  it('GET and HEAD /health: 200, and 431; any other method 405', async () => {
    for (const method of ['GET', 'HEAD']) {
      expect((await documented(stack.base, { method, path: '/health' })).status).toBe(200);
      expect((await documented(stack.base, { method, path: '/health', headers: HUGE_HEADER })).status).toBe(431);
    }
    for (const method of ['POST', 'PUT', 'DELETE']) {
      expect((await documented(stack.base, { method, path: '/health' }, api.otherMethods('/health'))).status).toBe(405);
    }
  });
});

describe('the local stack, starting, then without its signing key, then without Datastore', () => {
  let stack: LocalStackProcess;
  let gate: GatedForwarder;

  beforeAll(async () => {
    gate = await gatedForwarder(process.env.DATASTORE_EMULATOR_HOST as string);
    stack = await startLocalStackProcess(built, {
      ...namespaceEnv(uniqueNamespaces('openapi-503')),
      DATASTORE_EMULATOR_HOST: gate.host,
      // A file that is not there: the functions start, and cannot sign or publish.
      SIGNING_KEY_FILE: join(mkdtempSync(join(tmpdir(), 'openapi-')), 'absent.jwk.json'),
      DATASTORE_TIMEOUT_MS: '1000',
    });
  }, 60_000);

  afterAll(async () => {
    await stack.stop();
    await gate.cut();
  });

  it('answers every path 503 with Retry-After while it starts', async () => {
    // Past the emulator's readiness probe, its demo data waits at the gate: still starting.
    await stack.printed('using the Datastore emulator');
    // Its first Datastore call is waiting at the gate: until released, it cannot finish starting.
    const deadline = Date.now() + 30_000;
    while (gate.waiting() === 0) {
      if (Date.now() > deadline) throw new Error('the local stack never called Datastore');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const exchange = api.requestExamples()[0];
    const answers = [
      ...(await Promise.all(EXCHANGE_PATHS.map((path) => documented(stack.base, post(path, exchange.value))))),
      ...(await Promise.all(
        [...JWKS_PATHS, '/health'].flatMap((path) =>
          ['GET', 'HEAD'].map((method) => documented(stack.base, { method, path })),
        ),
      )),
    ];
    expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 503));
  }, 60_000);

  it('answers 503 where it cannot sign or publish, and /health 200', async () => {
    gate.release();
    await stack.serving();
    const keys = stack.demoKeys();
    for (const path of EXCHANGE_PATHS) {
      expect((await documented(stack.base, post(path, { api_key: keys[kindOf(path)] }))).status).toBe(503);
    }
    for (const path of JWKS_PATHS) {
      for (const method of ['GET', 'HEAD']) expect((await documented(stack.base, { method, path })).status).toBe(503);
    }
    expect((await documented(stack.base, { method: 'GET', path: '/health' })).status).toBe(200);
  }, 120_000);

  it('answers 503, never 401, when Datastore is unreachable', async () => {
    await gate.cut();
    const keys = stack.demoKeys();
    for (const path of EXCHANGE_PATHS) {
      const answer = await documented(stack.base, post(path, { api_key: keys[kindOf(path)] }));
      expect([answer.status, JSON.parse(answer.body).detail]).toEqual([
        503,
        'The key store is unavailable; try again shortly.',
      ]);
    }
  }, 60_000);
});

/**
 * An example and a live answer are the same answer when they agree on everything but what
 * differs per answer: a token (compared by its header's and claims' members and audience), a
 * key set (by each key's kty, alg and use).
 */
function comparable(body: unknown): unknown {
  if (typeof body !== 'object' || body === null) return body;
  const value = { ...(body as Record<string, unknown>) };
  if (typeof value.token === 'string') {
    const header = jwtPart(value.token, 0) as Record<string, unknown>;
    const claims = jwtPart(value.token, 1) as Record<string, unknown>;
    value.token = { header: Object.keys(header).sort(), claims: Object.keys(claims).sort(), aud: claims.aud };
  }
  if (Array.isArray(value.keys)) {
    value.keys = (value.keys as Array<Record<string, unknown>>).map(({ kty, alg, use }) => ({ kty, alg, use }));
  }
  return value;
}

describe('the document', () => {
  it('every response example is what the stack answered there', () => {
    const unmatched = api
      .responseExamples()
      .filter(
        ({ path, method, status, value }) =>
          !(seen.get(key(path, method, status)) ?? []).some((live) =>
            isDeepStrictEqual(comparable(live), comparable(value)),
          ),
      )
      .map(({ path, method, status, name }) => `${key(path, method, status)} ${name}`);
    expect(unmatched).toEqual([]);
  });

  it('every documented status was answered', () => {
    const unanswered = api
      .documentedStatuses()
      .map(({ path, method, status }) => key(path, method, status))
      .filter((documentedStatus) => !seen.has(documentedStatus));
    expect(unanswered).toEqual([]);
  });

  it('no answer repeated a key, or carried a stack trace or a path', () => {
    const bodies = JSON.stringify([...seen.values()]);
    // Booleans, so that a failure prints no token either.
    expect({ key: bodies.includes('mlabk.'), trace: /at .*\.(js|ts):\d+|node_modules/.test(bodies) }).toEqual({
      key: false,
      trace: false,
    });
  });
});
