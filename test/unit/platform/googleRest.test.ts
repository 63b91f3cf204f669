/**
 * googleRest's rules against a scripted HTTPS server on loopback: which failures are retried
 * (once, within the deadline), a refused token replaced, Google's status and reasons kept and
 * its text dropped.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { deadlineIn, googleApi, type AccessTokens, type GoogleApi } from '../../../shared/platform/googleRest';
import { testCertificates } from '../../support/tls';

type Reply = (req: IncomingMessage, res: ServerResponse) => void;

const google =
  (code: number, status: string, extra: Record<string, unknown> = {}): Reply =>
  (_req, res) => {
    res.writeHead(code, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ error: { code, status, message: 'Google says APIKey/secret-flat-key', ...extra } }));
  };
const bare =
  (code: number): Reply =>
  (_req, res) => {
    res.writeHead(code, { 'Content-Type': 'text/html' });
    res.end(`<!DOCTYPE html><title>Error ${code} (Server Error)!!1</title>`);
  };
const ok: Reply = (_req, res) => {
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end('{"answer":42}');
};
/** Drops the connection without an answer. */
const drop: Reply = (req) => req.socket.destroy();

let server: Server;
let endpoint: string;
/** Replies for the next requests, in order; then `ok`. */
let script: Reply[] = [];
let seen: Array<{ authorization: string | undefined; socketUse: number }> = [];
const uses = new WeakMap<Socket, number>();

beforeAll(async () => {
  const { key, cert } = testCertificates();
  server = createServer({ key, cert }, (req, res) => {
    req.resume();
    const use = (uses.get(req.socket) ?? 0) + 1;
    uses.set(req.socket, use);
    seen.push({ authorization: req.headers.authorization, socketUse: use });
    req.on('end', () => (script.shift() ?? ok)(req, res));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  script = [];
  seen = [];
  server.closeAllConnections();
});

function tokens(): AccessTokens & { refusedTokens: string[]; issued: number } {
  let issued = 0;
  const refusedTokens: string[] = [];
  return {
    get issued() {
      return issued;
    },
    refusedTokens,
    token: () => Promise.resolve(`token-${(issued += 1)}`),
    refused: (token) => void refusedTokens.push(token),
  };
}

function api(given: AccessTokens = tokens()): GoogleApi {
  return googleApi({ endpoint, tokens: given, ca: readFileSync(testCertificates().caFile, 'utf8') });
}

const get = (client: GoogleApi, ms = 5000) =>
  client.call<{ answer: number }>('GET', '/v1/x', undefined, deadlineIn(ms));

describe('googleApi', () => {
  it.each([
    ['UNAVAILABLE', google(503, 'UNAVAILABLE')],
    ['INTERNAL', google(500, 'INTERNAL')],
    ['DEADLINE_EXCEEDED', google(504, 'DEADLINE_EXCEEDED')],
    ['a bare 502', bare(502)],
    ['a bare 503', bare(503)],
    ['a bare 504', bare(504)],
  ])('retries %s once and answers with the retry', async (_name, reply) => {
    script = [reply];
    expect(await get(api())).toEqual({ ok: true, body: { answer: 42 } });
    expect(seen).toHaveLength(2);
  });

  it('retries only once', async () => {
    script = [google(503, 'UNAVAILABLE'), google(503, 'UNAVAILABLE'), ok];
    expect(await get(api())).toEqual({ ok: false, status: 'UNAVAILABLE', message: 'HTTP 503', reasons: [] });
    expect(seen).toHaveLength(2);
  });

  it.each([
    ['PERMISSION_DENIED', 403],
    ['NOT_FOUND', 404],
    ['RESOURCE_EXHAUSTED', 429],
    ['INVALID_ARGUMENT', 400],
    ['FAILED_PRECONDITION', 400],
  ])('answers %s at once, without a retry', async (status, code) => {
    script = [google(code, status)];
    expect(await get(api())).toEqual({ ok: false, status, message: `HTTP ${code}`, reasons: [] });
    expect(seen).toHaveLength(1);
  });

  it("keeps Google's status and ErrorInfo reasons, never its text", async () => {
    script = [
      google(403, 'PERMISSION_DENIED', {
        details: [
          { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'SERVICE_DISABLED', domain: 'googleapis.com' },
          { '@type': 'type.googleapis.com/google.rpc.Help', links: [] },
        ],
      }),
    ];
    const result = await get(api());
    expect(result).toEqual({
      ok: false,
      status: 'PERMISSION_DENIED',
      message: 'HTTP 403',
      reasons: ['SERVICE_DISABLED'],
    });
    expect(JSON.stringify(result)).not.toContain('secret-flat-key');
  });

  it('retries a reused keep-alive socket that the server dropped', async () => {
    const client = api();
    expect(await get(client)).toMatchObject({ ok: true });
    script = [drop];
    expect(await get(client)).toEqual({ ok: true, body: { answer: 42 } });
    expect(seen.map((s) => s.socketUse)).toEqual([1, 2, 1]);
  });

  it('does not retry a fresh connection that was dropped (the request may have been read)', async () => {
    script = [drop];
    expect(await get(api())).toMatchObject({ ok: false, status: 'UNAVAILABLE' });
    expect(seen).toHaveLength(1);
  });

  it('replaces a token refused before its expiry, and retries with the fresh one', async () => {
    const given = tokens();
    script = [google(401, 'UNAUTHENTICATED')];
    expect(await get(api(given))).toEqual({ ok: true, body: { answer: 42 } });
    expect(given.refusedTokens).toEqual(['token-1']);
    expect(seen.map((s) => s.authorization)).toEqual(['Bearer token-1', 'Bearer token-2']);
  });

  it('gives up after one refused fresh token', async () => {
    const given = tokens();
    script = [google(401, 'UNAUTHENTICATED'), google(401, 'UNAUTHENTICATED')];
    expect(await get(api(given))).toMatchObject({ ok: false, status: 'UNAUTHENTICATED' });
    expect(seen).toHaveLength(2);
  });

  it('hands the token fetch what is left of the deadline, and fails the call when it fails', async () => {
    const asked: number[] = [];
    const failing: AccessTokens = {
      token: (ms) => {
        asked.push(ms);
        return Promise.reject(new Error('the token took over 300 ms'));
      },
      refused: () => undefined,
    };
    const result = await get(api(failing), 300);
    expect(result).toEqual({
      ok: false,
      status: 'UNAVAILABLE',
      message: 'no access token: the token took over 300 ms',
      reasons: [],
    });
    expect(asked[0]).toBeLessThanOrEqual(300);
    expect(seen).toHaveLength(0);
  });

  it('answers DEADLINE_EXCEEDED when the server does not answer in time, and no retry past it', async () => {
    script = [() => undefined];
    expect(await get(api(), 200)).toMatchObject({ ok: false, status: 'DEADLINE_EXCEEDED' });
    expect(seen).toHaveLength(1);
  });

  it('answers a 2xx that is not JSON as UNAVAILABLE, without quoting it', async () => {
    script = [
      (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end('{"found": [APIKey/secret-flat-key]}');
      },
    ];
    expect(await get(api())).toEqual({ ok: false, status: 'UNAVAILABLE', message: 'unreadable answer', reasons: [] });
  });

  it('sends JSON bodies with their length, and the bearer token', async () => {
    let received = '';
    script = [
      (req, res) => {
        received = req.headers['content-type'] ?? '';
        ok(req, res);
      },
    ];
    const result = await api().call('POST', '/v1/projects/p:lookup', { keys: [] }, deadlineIn(5000));
    expect(result).toMatchObject({ ok: true });
    expect(received).toBe('application/json');
    expect(seen[0].authorization).toBe('Bearer token-1');
  });

  it('refuses HTTPS without credentials', () => {
    expect(() => googleApi({ endpoint })).toThrow(/access tokens are required/);
  });
});
