/**
 * The request contract of both exchange functions: POST only, 8 KiB, a JSON body or a
 * Bearer header; every refusal is a problem+json 4xx, never a 5xx.
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import type { Namespaces } from '../../../shared/keys/entities';
import { namespaceEnv, uniqueNamespaces } from '../../support/datastore';
import { readJson, serveFunctions, type ServedFunctions } from '../../support/functions';
import { signingKeyFile } from '../../support/signingKeys';

let served: ServedFunctions;
let namespaces: Namespaces;

beforeAll(async () => {
  namespaces = uniqueNamespaces('requests');
  served = await serveFunctions({
    SIGNING_KEY_FILE: (await signingKeyFile('EdDSA')).path,
    ...namespaceEnv(namespaces),
  });
});
afterAll(() => served.close());

describe.each(['exchangeIntegration', 'exchangeAutojoin'] as const)('%s', (fn) => {
  it.each(['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'])('answers %s with 405 and Allow: POST', async (method) => {
    const response = await fetch(served.url(fn), { method });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
    expect(await readJson(response)).toMatchObject({ status: 405, title: 'Method not allowed' });
  });

  it('answers a body over 8 KiB with 413', async () => {
    const response = await fetch(served.url(fn), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ api_key: 'x', padding: 'p'.repeat(9000) }),
    });
    expect(response.status).toBe(413);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });

  it('answers an over-long body sent without a content type with 413', async () => {
    const response = await fetch(served.url(fn), { method: 'POST', body: Buffer.alloc(20_000, 0x61) });
    expect(response.status).toBe(413);
  });

  it.each([
    ['no body and no header', undefined, {}],
    ['an empty JSON object', '{}', {}],
    ['api_key as a number', '{"api_key": 12}', {}],
    ['api_key as null', '{"api_key": null}', {}],
    ['api_key as an array', '{"api_key": ["a"]}', {}],
    ['api_key empty', '{"api_key": ""}', {}],
    ['a JSON array', '[1]', {}],
    ['a JSON string', '"mlabk.cii_x"', { 'Content-Type': 'text/plain' }],
    ['a form body', 'api_key=mlabk.cii_x', { 'Content-Type': 'application/x-www-form-urlencoded' }],
    ['an Authorization header that is not Bearer', undefined, { Authorization: 'Basic dXNlcjpwYXNz' }],
  ])('answers %s with 400', async (_, body, headers: Record<string, string>) => {
    const response = await fetch(served.url(fn), { method: 'POST', headers, ...(body !== undefined ? { body } : {}) });
    expect(response.status).toBe(400);
    const problem = await readJson(response);
    expect(problem).toMatchObject({ status: 400, title: 'Invalid request', detail: expect.any(String) });
  });

  it('refuses a key in the URL', async () => {
    const response = await fetch(`${served.url(fn)}?api_key=mlabk.cii_x.ki_0123456789abcdef.abc`, { method: 'POST' });
    expect(response.status).toBe(400);
    expect(JSON.stringify(served.logs)).not.toContain('ki_0123456789abcdef.abc');
  });

  it(
    'answers malformed JSON sent as application/json itself: problem+json ' +
      '400, no stack trace, path or key, nothing logged from the framework',
    async () => {
      // The body guard reads the body before functions-framework's parsers could, so our
      // code parses it and answers; the framework never sees (nor logs) the raw body.
      const key = 'mlabk.cii_leak.ki_0123456789abcdef.c2VjcmV0LWluLWEtYnJva2VuLWJvZHk';
      const written: string[] = [];
      const capture = (chunk: string | Uint8Array): boolean => {
        written.push(String(chunk));
        return true;
      };
      const out = jest.spyOn(process.stdout, 'write').mockImplementation(capture);
      const err = jest.spyOn(process.stderr, 'write').mockImplementation(capture);
      try {
        const response = await fetch(served.url(fn), {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: `{"api_key": "${key}",`,
        });
        expect(response.status).toBe(400);
        expect(response.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
        const text = await response.text();
        expect(JSON.parse(text)).toMatchObject({ status: 400, title: 'Invalid request' });
        expect(text).not.toMatch(/node_modules|at .*\(|\/work\/|SyntaxError/);
        expect(text).not.toContain(key);
      } finally {
        out.mockRestore();
        err.mockRestore();
      }
      expect(written.join('')).not.toContain('functions-framework');
      expect(written.join('')).not.toContain('c2VjcmV0LWluLWEtYnJva2VuLWJvZHk');
      expect(served.logs.at(-1)).toMatchObject({ outcome: 'bad-request', status: 400 });
    },
  );

  it('answers a declared length shorter than the body with a 4xx for what was declared', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        served.url(fn),
        { method: 'POST', headers: { 'Content-Type': 'text/plain', 'Content-Length': '5' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end('{"api_key":"mlabk.cii_x.ki_0123456789abcdef.abc"}');
    });
    expect(status).toBe(400);
  });
});

describe('a body that never arrives whole', () => {
  /** Sends raw bytes, then either hangs up or waits for the answer; resolves with what came back. */
  function raw(url: string, bytes: string, hangUp: boolean): Promise<string> {
    const { hostname, port } = new URL(url);
    return new Promise((resolve) => {
      const socket = connect(Number(port), hostname, () => {
        socket.write(bytes);
        if (hangUp) setTimeout(() => socket.destroy(), 50);
      });
      let answer = '';
      socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(answer));
    });
  }

  async function captured(action: () => Promise<string>): Promise<{ answer: string; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const o = jest
      .spyOn(process.stdout, 'write')
      .mockImplementation((chunk: string | Uint8Array) => out.push(String(chunk)) > 0);
    const e = jest
      .spyOn(process.stderr, 'write')
      .mockImplementation((chunk: string | Uint8Array) => err.push(String(chunk)) > 0);
    try {
      const answer = await action();
      // The guard logs when the request's stream closes: let that happen.
      await new Promise((resolve) => setTimeout(resolve, 100));
      return { answer, out: out.join(''), err: err.join('') };
    } finally {
      o.mockRestore();
      e.mockRestore();
    }
  }

  it(
    'a client that hangs up mid-body: one structured bad-request ' +
      'line, nothing unstructured, the instance serves on',
    async () => {
      const secret = 'c2VjcmV0LWhhbmdzLXVwLW1pZC1ib2R5LXNlY3JldA';
      const { out, err } = await captured(() =>
        raw(
          served.url('exchangeIntegration'),
          'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 400\r\n\r\n' +
            `{"api_key": "mlabk.cii_x.ki_0123456789abcdef.${secret}`,
          true,
        ),
      );
      const lines = out
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(lines).toEqual([expect.objectContaining({ severity: 'NOTICE', outcome: 'bad-request', status: 400 })]);
      expect(err).toBe('');
      expect(out).not.toContain(secret);
      const after = await fetch(served.url('exchangeIntegration'), { method: 'POST', body: '{}' });
      expect(after.status).toBe(400);
    },
  );

  it('a malformed chunk: answered 400 by Node, logged as one structured bad-request line', async () => {
    const { answer, out, err } = await captured(() =>
      raw(
        served.url('exchangeIntegration'),
        'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"api\r\nzz-not-a-size\r\n',
        false,
      ),
    );
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    const lines = out
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toEqual([expect.objectContaining({ outcome: 'bad-request', status: 400 })]);
    expect(err).toBe('');
  });
});
