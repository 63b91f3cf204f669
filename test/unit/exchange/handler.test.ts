/**
 * The exchange handler (shared/exchange/handler.ts) on its own, with a fake verifier and a fake
 * signer, served the way Cloud Functions serves it: registered with functions-framework, the
 * framework guards installed first (as wiring.ts does), real requests over loopback. So the HTTP
 * contract (status, headers and body of every outcome) and the one log line of each request are
 * checked without Datastore, Secret Manager, Java or gcloud. The verifier and the signer have
 * tests of their own; these check what the handler makes of their answers: the verifier gets the
 * key, the kind and the client address; a refusal reveals neither the key nor the reason to the
 * client; and no log line ever carries the key or its secret.
 */
import { http, type Request } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { claimsFor, type TokenClaims, type TokenSettings } from '../../../shared/exchange/claims';
import { createExchangeHandler } from '../../../shared/exchange/handler';
import type { KeyIdentity, KeyVerifier, Verification } from '../../../shared/exchange/verifier';
import { formatApiKey, generateKeyId, generateSecret } from '../../../shared/keys/grammar';
import { KINDS, type KeyKind } from '../../../shared/keys/kinds';
import { installFrameworkGuards } from '../../../shared/platform/frameworkGuards';
import type { LogEntry } from '../../../shared/platform/log';
import type { ClaimsSigner } from '../../../shared/signing/signer';

// Distinct lifetimes, so a token of one kind given the other's shows.
const SETTINGS: TokenSettings = { issuer: 'handler-test', integrationTokenTtl: 20, autojoinTokenTtl: 3600 };
const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJ0ZXN0Ijp0cnVlfQ.c2lnbmF0dXJl';
const FUNCTION_NAMES: Readonly<Record<KeyKind, string>> = {
  integration: 'exchangeIntegration',
  autojoin: 'exchangeAutojoin',
};
const OWNERS: Readonly<Record<KeyKind, string>> = { integration: 'speedtest-example', autojoin: 'mlab-sandbox' };
const KIND_LIST: readonly KeyKind[] = ['integration', 'autojoin'];
/** The record a fake verification names (where the exchange would record the key's last use). */
const RECORD = { namespace: 'ns', path: ['IntegrationMeta', 'i', 'IntegrationAPIKey', 'ki_0123456789abcdef'] };

interface VerifyCall {
  readonly apiKey: string;
  readonly kind: KeyKind;
  readonly client: string | undefined;
}

/** Records what it is asked and answers what the test chose. */
class FakeVerifier implements KeyVerifier {
  readonly calls: VerifyCall[] = [];
  answer: Verification = { ok: false, outcome: 'busy' };

  verify(apiKey: string, kind: KeyKind, client?: string): Promise<Verification> {
    this.calls.push({ apiKey, kind, client });
    return Promise.resolve(this.answer);
  }

  reset(): void {
    this.calls.length = 0;
    this.answer = { ok: false, outcome: 'busy' };
  }
}

/** Records the claims and answers TOKEN, or fails with the test's error. */
class FakeSigner implements ClaimsSigner {
  readonly calls: TokenClaims[] = [];
  failure: Error | undefined;

  sign(claims: TokenClaims): Promise<string> {
    this.calls.push(claims);
    return this.failure ? Promise.reject(this.failure) : Promise.resolve(TOKEN);
  }

  reset(): void {
    this.calls.length = 0;
    this.failure = undefined;
  }
}

const verifier = new FakeVerifier();
const signer = new FakeSigner();
/** The handlers' log lines, in order. */
const logs: LogEntry[] = [];
/** What the framework guards log (console.error, the body guard): checked for leaks too. */
const frameworkLogs: LogEntry[] = [];
/** Every API key and secret sent in the current test: none may be in any log entry. */
const secrets: string[] = [];

// As wiring.ts: before functions-framework creates a server, so the body guard reads the body.
installFrameworkGuards((entry) => frameworkLogs.push(entry));

const servers: Server[] = [];
const urls = new Map<KeyKind, string>();

beforeAll(async () => {
  for (const kind of KIND_LIST) {
    const registered = `${FUNCTION_NAMES[kind]}-handler-test`;
    http(
      registered,
      createExchangeHandler({
        functionName: FUNCTION_NAMES[kind],
        kind,
        verifier,
        signer,
        settings: SETTINGS,
        log: (entry) => logs.push(entry),
        clientAddress: (req: Request) => req.get('x-test-client') ?? 'peer',
      }),
    );
    const server = getTestServer(registered);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    urls.set(kind, `http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  }
});

afterAll(async () => {
  await Promise.all(
    servers.map(
      (server) =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    ),
  );
});

beforeEach(() => {
  verifier.reset();
  signer.reset();
  logs.length = 0;
  frameworkLogs.length = 0;
  secrets.length = 0;
});

afterEach(() => {
  const logged = JSON.stringify([...logs, ...frameworkLogs]);
  for (const secret of secrets) expect(logged).not.toContain(secret);
});

interface TestKey {
  readonly apiKey: string;
  readonly ownerId: string;
  readonly keyId: string;
  readonly secret: string;
}

function newKey(kind: KeyKind): TestKey {
  const ownerId = OWNERS[kind];
  const keyId = generateKeyId();
  const secret = generateSecret();
  const apiKey = formatApiKey({ kind, ownerId, keyId, secret });
  secrets.push(apiKey, secret);
  return { apiKey, ownerId, keyId, secret };
}

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
}

async function send(kind: KeyKind, init: RequestInit, path = ''): Promise<Answer> {
  const response = await fetch(`${urls.get(kind)}${path}`, init);
  return { status: response.status, headers: response.headers, text: await response.text() };
}

function postKey(kind: KeyKind, apiKey: string, headers: Record<string, string> = {}): Promise<Answer> {
  return send(kind, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify({ api_key: apiKey }),
  });
}

/** The request's one log line. */
function theLogLine(): LogEntry {
  expect(logs).toHaveLength(1);
  return logs[0];
}

const PROBLEM_TYPE = 'tag:measurementlab.net,2026:token-exchange/';

function expectProblem(answer: Answer, status: number, code: string): void {
  expect(answer.status).toBe(status);
  expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json(;|$)/);
  expect(answer.headers.get('cache-control')).toBe('no-store');
  expect(JSON.parse(answer.text)).toMatchObject({ type: PROBLEM_TYPE + code, status });
}

/** The fields naming who a log line is about, by kind: `integration_id` or `org`, and the key id. */
function who(kind: KeyKind, key: Pick<TestKey, 'ownerId' | 'keyId'>): Record<string, string> {
  return { [KINDS[kind].ownerField]: key.ownerId, key_id: key.keyId };
}

describe('createExchangeHandler: a method other than POST', () => {
  it.each(['GET', 'PUT', 'DELETE', 'PATCH'])(
    '%s: 405 with Allow: POST, never verified, one bad-request line',
    async (method) => {
      const key = newKey('integration');
      const answer = await send('integration', {
        method,
        headers: { Authorization: `Bearer ${key.apiKey}`, 'Content-Type': 'application/json' },
        ...(method === 'GET' ? {} : { body: JSON.stringify({ api_key: key.apiKey }) }),
      });
      expectProblem(answer, 405, 'method-not-allowed');
      expect(answer.headers.get('allow')).toBe('POST');
      expect(answer.text).not.toContain(key.apiKey);
      expect(verifier.calls).toEqual([]);
      expect(signer.calls).toEqual([]);
      expect(theLogLine()).toMatchObject({
        severity: 'NOTICE',
        function: 'exchangeIntegration',
        outcome: 'bad-request',
        status: 405,
        method,
      });
    },
  );
});

describe('createExchangeHandler: no usable key', () => {
  // A key in a form the handler must refuse before verify(): it must reach no log either.
  const NOT_VERIFIED_KEY = formatApiKey({
    kind: 'integration',
    ownerId: OWNERS.integration,
    keyId: 'ki_0123456789abcdef',
    secret: 'never-verified-secret',
  });
  // Objects, not tuples: jest takes a test function with more parameters than a row has for one awaiting done().
  const cases: Array<{ readonly label: string; readonly init: RequestInit; readonly path?: string }> = [
    { label: 'no body and no Authorization header', init: { method: 'POST' } },
    { label: 'an empty JSON object', init: { method: 'POST', body: '{}' } },
    { label: 'a JSON array', init: { method: 'POST', body: `["${NOT_VERIFIED_KEY}"]` } },
    { label: 'a JSON string', init: { method: 'POST', body: `"${NOT_VERIFIED_KEY}"` } },
    { label: 'JSON null', init: { method: 'POST', body: 'null' } },
    { label: 'a JSON number', init: { method: 'POST', body: '42' } },
    { label: 'a body that is not JSON', init: { method: 'POST', body: `api_key=${NOT_VERIFIED_KEY}` } },
    { label: 'an api_key that is not a string', init: { method: 'POST', body: '{"api_key": 42}' } },
    { label: 'an empty api_key', init: { method: 'POST', body: '{"api_key": ""}' } },
    {
      label: 'an Authorization header that is not Bearer',
      init: { method: 'POST', headers: { Authorization: 'Basic dXNlcjpwYXNz' } },
    },
    { label: 'a key in the URL', init: { method: 'POST' }, path: `?api_key=${NOT_VERIFIED_KEY}` },
  ];

  it.each(cases)('$label: 400, never verified, one bad-request line', async ({ init, path }) => {
    secrets.push(NOT_VERIFIED_KEY, 'never-verified-secret');
    const answer = await send('integration', init, path);
    expectProblem(answer, 400, 'invalid-request');
    expect(verifier.calls).toEqual([]);
    expect(signer.calls).toEqual([]);
    expect(theLogLine()).toMatchObject({ severity: 'NOTICE', outcome: 'bad-request', status: 400 });
  });
});

describe('createExchangeHandler: reading the key', () => {
  it.each(KIND_LIST)('%s: the JSON body’s key, with the kind and the client address, to verify()', async (kind) => {
    const key = newKey(kind);
    await postKey(kind, key.apiKey, { 'X-Test-Client': '203.0.113.9' });
    expect(verifier.calls).toEqual([{ apiKey: key.apiKey, kind, client: '203.0.113.9' }]);
  });

  it.each(KIND_LIST)('%s: the Authorization: Bearer key, to verify()', async (kind) => {
    const key = newKey(kind);
    await send(kind, { method: 'POST', headers: { Authorization: `Bearer ${key.apiKey}` } });
    // 'peer': clientAddress's answer, not the socket's address (the handler's default).
    expect(verifier.calls).toEqual([{ apiKey: key.apiKey, kind, client: 'peer' }]);
  });

  it('takes the body’s key over the header’s', async () => {
    const inBody = newKey('autojoin');
    const inHeader = newKey('autojoin');
    await postKey('autojoin', inBody.apiKey, { Authorization: `Bearer ${inHeader.apiKey}` });
    expect(verifier.calls.map((call) => call.apiKey)).toEqual([inBody.apiKey]);
  });
});

describe('createExchangeHandler: a refused key', () => {
  const REFERENCE_401 = {
    type: `${PROBLEM_TYPE}invalid-api-key`,
    title: 'Invalid API key',
    status: 401,
    detail: 'The API key is not valid.',
  };
  const REASONS = [
    'wrong secret',
    'unknown key',
    'key expired',
    'key not active',
    'stored hash unreadable',
    'integration key',
    'name refused by Datastore',
  ];

  it.each(KIND_LIST)('%s: every invalid reason, the same 401 body; the reason only in the log', async (kind) => {
    const bodies: string[] = [];
    for (const reason of REASONS) {
      const key = newKey(kind);
      verifier.answer = { ok: false, outcome: 'invalid', reason, ownerId: key.ownerId, keyId: key.keyId };
      logs.length = 0;
      const answer = await postKey(kind, key.apiKey);
      expectProblem(answer, 401, 'invalid-api-key');
      expect(answer.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
      expect(answer.headers.get('retry-after')).toBeNull();
      for (const hidden of [reason, key.apiKey, key.secret]) expect(answer.text).not.toContain(hidden);
      expect(theLogLine()).toMatchObject({
        severity: 'NOTICE',
        outcome: 'invalid',
        status: 401,
        reason,
        ...who(kind, key),
      });
      bodies.push(answer.text);
    }
    expect(bodies.map((body) => JSON.parse(body))).toEqual(REASONS.map(() => REFERENCE_401));
    expect(new Set(bodies).size).toBe(1);
    expect(signer.calls).toEqual([]);
  });

  it('a key that did not parse: 401, the line without owner or key id', async () => {
    verifier.answer = { ok: false, outcome: 'invalid', reason: 'malformed key: missing mlabk. prefix' };
    secrets.push('not-a-key-at-all');
    const answer = await postKey('autojoin', 'not-a-key-at-all');
    expectProblem(answer, 401, 'invalid-api-key');
    expect(answer.text).not.toContain('malformed');
    const line = theLogLine();
    expect(line).toMatchObject({ outcome: 'invalid', status: 401, reason: 'malformed key: missing mlabk. prefix' });
    expect(line.org).toBeUndefined();
    expect(line.key_id).toBeUndefined();
  });

  // What each refusal answers, from a verification naming the key (identity) and its log line.
  const refusals: Array<{
    readonly label: string;
    readonly answer: (identity: KeyIdentity) => Verification;
    readonly status: number;
    readonly code: string;
    readonly headers: Record<string, string>;
    readonly line: Record<string, unknown>;
    readonly hidden?: string;
  }> = [
    {
      label: 'throttled',
      answer: (identity) => ({ ok: false, outcome: 'throttled', retryAfter: 37, ...identity }),
      status: 429,
      code: 'too-many-attempts',
      headers: { 'retry-after': '37' },
      line: { severity: 'WARNING', outcome: 'throttled', status: 429 },
    },
    {
      label: 'throttled, another wait',
      answer: (identity) => ({ ok: false, outcome: 'throttled', retryAfter: 1234, ...identity }),
      status: 429,
      code: 'too-many-attempts',
      headers: { 'retry-after': '1234' },
      line: { severity: 'WARNING', outcome: 'throttled', status: 429 },
    },
    {
      label: 'unavailable',
      answer: (identity) => ({
        ok: false,
        outcome: 'unavailable',
        cause: 'DEADLINE_EXCEEDED after 5000 ms',
        ...identity,
      }),
      status: 503,
      code: 'unavailable',
      headers: { 'retry-after': '2' },
      line: { severity: 'ERROR', outcome: 'unavailable', status: 503, reason: 'DEADLINE_EXCEEDED after 5000 ms' },
      hidden: 'DEADLINE_EXCEEDED',
    },
    {
      label: 'busy',
      answer: (identity) => ({ ok: false, outcome: 'busy', ...identity }),
      status: 503,
      code: 'unavailable',
      headers: { 'retry-after': '1' },
      line: { severity: 'WARNING', outcome: 'busy', status: 503 },
    },
  ];

  describe.each(KIND_LIST)('%s', (kind) => {
    it.each(refusals)('$label: $status with its headers, never signed', async (refusal) => {
      const key = newKey(kind);
      verifier.answer = refusal.answer({ ownerId: key.ownerId, keyId: key.keyId });
      const answer = await postKey(kind, key.apiKey);
      expectProblem(answer, refusal.status, refusal.code);
      for (const [name, value] of Object.entries(refusal.headers)) expect(answer.headers.get(name)).toBe(value);
      expect(answer.headers.get('www-authenticate')).toBeNull();
      for (const hidden of [key.apiKey, key.secret, ...(refusal.hidden ? [refusal.hidden] : [])])
        expect(answer.text).not.toContain(hidden);
      expect(signer.calls).toEqual([]);
      expect(theLogLine()).toMatchObject({ ...refusal.line, function: FUNCTION_NAMES[kind], ...who(kind, key) });
    });
  });
});

describe('createExchangeHandler: a good key', () => {
  const TIER = 3;
  // The claims that differ by kind: the owner claim, and key id and tier for integrations only.
  const OWNER_CLAIMS: Readonly<Record<KeyKind, (key: TestKey) => Record<string, unknown>>> = {
    integration: (key) => ({ aud: 'integration', int_id: key.ownerId, key_id: key.keyId, tier: TIER }),
    autojoin: (key) => ({ aud: 'autojoin', org: key.ownerId }),
  };
  const EXPIRES_IN: Readonly<Record<KeyKind, number>> = { integration: 20, autojoin: 3600 };

  it.each(KIND_LIST)('%s: 200, a Bearer token for the kind’s lifetime, not to be cached', async (kind) => {
    const key = newKey(kind);
    verifier.answer = { ok: true, key: { kind, ownerId: key.ownerId, keyId: key.keyId, tier: TIER, record: RECORD } };
    const answer = await postKey(kind, key.apiKey);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toMatch(/^application\/json(;|$)/);
    expect(answer.headers.get('cache-control')).toBe('no-store');
    expect(answer.headers.get('pragma')).toBe('no-cache');
    expect(JSON.parse(answer.text)).toEqual({ token: TOKEN, token_type: 'Bearer', expires_in: EXPIRES_IN[kind] });
  });

  it.each(KIND_LIST)('%s: the signer gets claimsFor(the verified key, the settings)', async (kind) => {
    const key = newKey(kind);
    const verified = { kind, ownerId: key.ownerId, keyId: key.keyId, tier: TIER, record: RECORD };
    verifier.answer = { ok: true, key: verified };
    const before = Math.floor(Date.now() / 1000);
    await postKey(kind, key.apiKey);
    const after = Math.floor(Date.now() / 1000);
    expect(signer.calls).toHaveLength(1);
    const claims = signer.calls[0];
    expect(claims.iat).toBeGreaterThanOrEqual(before);
    expect(claims.iat).toBeLessThanOrEqual(after);
    expect(claims).toEqual({ ...claimsFor(verified, SETTINGS, claims.iat), jti: claims.jti });
    expect(claims).toEqual({
      iss: 'handler-test',
      iat: claims.iat,
      nbf: claims.iat,
      exp: claims.iat + EXPIRES_IN[kind],
      jti: expect.any(String),
      ...OWNER_CLAIMS[kind](key),
    });
  });

  it('integration: one ok line with integration_id, key_id and tier', async () => {
    const key = newKey('integration');
    verifier.answer = {
      ok: true,
      key: { kind: 'integration', ownerId: key.ownerId, keyId: key.keyId, tier: TIER, record: RECORD },
    };
    await postKey('integration', key.apiKey);
    const line = theLogLine();
    expect(line).toMatchObject({
      severity: 'INFO',
      message: 'exchangeIntegration 200 ok',
      function: 'exchangeIntegration',
      outcome: 'ok',
      status: 200,
      integration_id: key.ownerId,
      key_id: key.keyId,
      tier: TIER,
      latency_ms: expect.any(Number),
    });
    expect(line).not.toHaveProperty('org');
    expect(JSON.stringify(logs)).not.toContain(TOKEN);
  });

  it('autojoin: one ok line with org and key_id, no tier', async () => {
    const key = newKey('autojoin');
    verifier.answer = {
      ok: true,
      key: { kind: 'autojoin', ownerId: key.ownerId, keyId: key.keyId, tier: TIER, record: RECORD },
    };
    await postKey('autojoin', key.apiKey);
    const line = theLogLine();
    expect(line).toMatchObject({
      severity: 'INFO',
      message: 'exchangeAutojoin 200 ok',
      function: 'exchangeAutojoin',
      outcome: 'ok',
      status: 200,
      org: key.ownerId,
      key_id: key.keyId,
    });
    expect(line).not.toHaveProperty('tier');
    expect(line).not.toHaveProperty('integration_id');
    expect(JSON.stringify(logs)).not.toContain(TOKEN);
  });
});

describe('createExchangeHandler: the signer failing', () => {
  const MESSAGE = 'Secret Manager: PERMISSION_DENIED on projects/p/secrets/signing-key';

  it.each(KIND_LIST)('%s: 503 signing-unavailable; the error in the log line, not the answer', async (kind) => {
    const key = newKey(kind);
    verifier.answer = { ok: true, key: { kind, ownerId: key.ownerId, keyId: key.keyId, tier: 1, record: RECORD } };
    signer.failure = new Error(MESSAGE);
    const answer = await postKey(kind, key.apiKey);
    expectProblem(answer, 503, 'unavailable');
    expect(answer.headers.get('retry-after')).toBe('2');
    for (const hidden of ['PERMISSION_DENIED', 'Secret Manager', key.apiKey]) expect(answer.text).not.toContain(hidden);
    expect(signer.calls).toHaveLength(1);
    expect(theLogLine()).toMatchObject({
      severity: 'ERROR',
      function: FUNCTION_NAMES[kind],
      outcome: 'signing-unavailable',
      status: 503,
      reason: MESSAGE,
      ...who(kind, key),
    });
  });
});

describe('createExchangeHandler: the log', () => {
  it.each(KIND_LIST)('%s: one line a request, whatever the outcome, never the key or its secret', async (kind) => {
    const key = newKey(kind);
    const identity = { ownerId: key.ownerId, keyId: key.keyId };
    const verified: Verification = { ok: true, key: { kind, ...identity, tier: 2, record: RECORD } };
    const scenarios: Array<Verification | 'sign-fails'> = [
      { ok: false, outcome: 'invalid', reason: 'wrong secret', ...identity },
      { ok: false, outcome: 'throttled', retryAfter: 9, ...identity },
      { ok: false, outcome: 'unavailable', cause: 'deadline', ...identity },
      { ok: false, outcome: 'busy', ...identity },
      verified,
      'sign-fails',
    ];
    await send(kind, { method: 'GET', headers: { Authorization: `Bearer ${key.apiKey}` } });
    await send(kind, { method: 'POST' }, `?key=${encodeURIComponent(key.apiKey)}`);
    for (const scenario of scenarios) {
      signer.failure = scenario === 'sign-fails' ? new Error('no key') : undefined;
      verifier.answer = scenario === 'sign-fails' ? verified : scenario;
      await postKey(kind, key.apiKey);
      await send(kind, { method: 'POST', headers: { Authorization: `Bearer ${key.apiKey}` } });
    }
    expect(logs.map((line) => line.outcome)).toEqual([
      'bad-request',
      'bad-request',
      ...['invalid', 'throttled', 'unavailable', 'busy', 'ok', 'signing-unavailable'].flatMap((o) => [o, o]),
    ]);
    const logged = JSON.stringify([...logs, ...frameworkLogs]);
    expect(logged).not.toContain(key.apiKey);
    expect(logged).not.toContain(key.secret);
    expect(logged).toContain(key.keyId);
  });
});
