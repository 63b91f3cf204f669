/**
 * Garbage at the public endpoints: every case gets its documented 4xx, never a 5xx, the
 * instance keeps serving, and no log line holds the key or its secret.
 */
import type { Datastore } from '@google-cloud/datastore';
import { request } from 'node:http';
import { deflateSync, gzipSync } from 'node:zlib';
import type { Namespaces } from '../../../shared/keys/entities';
import { testDatastore, namespaceEnv, uniqueNamespaces } from '../../support/datastore';
import { postJson, serveFunctions, type FunctionName, type ServedFunctions } from '../../support/functions';
import { newAutojoinKey, newIntegrationKey } from '../../support/seed';
import { signingKeyFile } from '../../support/signingKeys';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

interface Case {
  name: string;
  fn: FunctionName;
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Answered by functions-framework or Node before our code runs: not problem+json. */
  outsideOurCode?: boolean;
  status: number;
  /** Fragments of key material that must appear in no log line. */
  secrets?: string[];
}

function send(url: string, c: Case): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const target = new URL(c.path ?? '', url);
    const headers = { ...c.headers };
    // Node sends a DELETE or TRACE body without a length unless told; real clients say it.
    if (c.body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length')) {
      headers['Content-Length'] = String(Buffer.byteLength(c.body));
    }
    const req = request(target, { method: c.method ?? 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    req.on('error', reject);
    if (c.body !== undefined) req.write(c.body);
    req.end();
  });
}

const KEY_ID = 'ki_0123456789abcdef';
const SECRET = 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I';
const json = { 'Content-Type': 'application/json' };
const body = (apiKey: unknown): string => JSON.stringify({ api_key: apiKey });

let datastore: Datastore;
let namespaces: Namespaces;
let served: ServedFunctions;
const seeded: { integration: string; autojoin: string } = { integration: '', autojoin: '' };

function cases(): Case[] {
  const malformedKeys: Array<[string, string]> = [
    ['no prefix', `cii_x.${KEY_ID}.${SECRET}`],
    ['a wrong prefix', `mlab.cii_x.${KEY_ID}.${SECRET}`],
    ['an unknown owner prefix', `mlabk.abc_x.${KEY_ID}.${SECRET}`],
    ['a missing secret part', `mlabk.cii_x.${KEY_ID}`],
    ['a missing key id part', `mlabk.cii_x.${SECRET}`],
    ['an extra dot', `mlabk.cii_x.${KEY_ID}.${SECRET}.more`],
    ['only dots', 'mlabk....'],
    ['ki_ without hex', `mlabk.cii_x.ki_${'z'.repeat(16)}.${SECRET}`],
    ['a key id without ki_', `mlabk.cii_x.0123456789abcdef.${SECRET}`],
    ['an empty secret', `mlabk.cii_x.${KEY_ID}.`],
    ['a non-base64url secret', `mlabk.cii_x.${KEY_ID}.${SECRET.slice(0, 10)}+/=`],
    ['a reserved integration id', `mlabk.cii___x__.${KEY_ID}.${SECRET}`],
    ['a reserved organisation name', `mlabk.org___kind__.${KEY_ID}.${SECRET}`],
    ['unicode in the id', `mlabk.cii_ĩntégration.${KEY_ID}.${SECRET}`],
    ['a slash in the id', `mlabk.cii_a/b.${KEY_ID}.${SECRET}`],
    ['a space in the id', `mlabk.cii_a b.${KEY_ID}.${SECRET}`],
    ['a NUL byte', `mlabk.cii_x.${KEY_ID}.${SECRET}\u0000`],
    ['a key over 300 bytes', `mlabk.cii_x.${KEY_ID}.${'A'.repeat(400)}`],
    ['a key of 8000 bytes', 'A'.repeat(8000)],
    ['whitespace only', '   '],
    ['an emoji', '🔑'],
    // Outside the Go service's grammar too: refused without touching Datastore.
    ['ki_ alone as the key id', `mlabk.cii_x.ki_.${SECRET}`],
    ['a key id of 65 bytes', `mlabk.cii_x.ki_${'k'.repeat(62)}.${SECRET}`],
    ['an id of 65 bytes', `mlabk.org_${'o'.repeat(65)}.${KEY_ID}.${SECRET}`],
    ['a secret of 129 bytes', `mlabk.cii_x.${KEY_ID}.${'s'.repeat(129)}`],
    ['a reserved id with a newline', `mlabk.cii___a\nb__.${KEY_ID}.${SECRET}`],
    // Inside it (the Go service accepted such keys), but unknown: the same 401.
    ['a custom key id nobody made', `mlabk.cii_x.ki_custom.${SECRET}`],
    ['an id with a colon and a space nobody made', `mlabk.cii_acme:speed test.${KEY_ID}.${SECRET}`],
  ];
  const list: Case[] = [];
  for (const fn of ['exchangeIntegration', 'exchangeAutojoin'] as const) {
    // The seeded keys: cases() runs again in the first test, after beforeAll (names are taken before).
    const real = (): string => (fn === 'exchangeIntegration' ? seeded.integration : seeded.autojoin);
    const realSecret = (): string => real().split('.').pop() as string;
    list.push(
      ...malformedKeys.map(([name, key]): Case => ({
        name: `${name}`,
        fn,
        headers: json,
        body: body(key),
        status: 401,
        secrets: [SECRET],
      })),
      {
        name: 'malformed JSON sent as text/plain',
        fn,
        headers: { 'Content-Type': 'text/plain' },
        body: `{"api_key": "x${SECRET}`,
        status: 400,
        secrets: [SECRET],
      },
      {
        name: 'malformed JSON sent as application/json',
        fn,
        headers: json,
        body: `{"api_key": "mlabk.cii_x.${KEY_ID}.${SECRET}"`,
        status: 400,
        secrets: [SECRET],
      },
      { name: 'truncated JSON', fn, headers: { 'Content-Type': 'text/plain' }, body: '{"api_k', status: 400 },
      { name: 'deeply nested arrays', fn, headers: json, body: '['.repeat(4000) + ']'.repeat(4000), status: 400 },
      {
        name: 'deeply nested objects without a key',
        fn,
        headers: json,
        body: '{"a":'.repeat(1300) + '1' + '}'.repeat(1300),
        status: 400,
      },
      { name: 'api_key as a number', fn, headers: json, body: body(42), status: 400 },
      { name: 'api_key as an array', fn, headers: json, body: body(['mlabk.cii_x']), status: 400 },
      { name: 'api_key as an object', fn, headers: json, body: body({ key: 'x' }), status: 400 },
      { name: 'api_key as null', fn, headers: json, body: body(null), status: 400 },
      { name: 'api_key empty', fn, headers: json, body: body(''), status: 400 },
      { name: 'an empty body', fn, headers: json, body: '', status: 400 },
      { name: 'a body of spaces', fn, headers: { 'Content-Type': 'text/plain' }, body: '   \n ', status: 400 },
      { name: 'a JSON null', fn, headers: { 'Content-Type': 'text/plain' }, body: 'null', status: 400 },
      {
        name: 'a body over 8 KiB',
        fn,
        headers: json,
        body: JSON.stringify({ api_key: 'x', pad: 'p'.repeat(9000) }),
        status: 413,
      },
      { name: 'a body over 8 KiB without a content type', fn, body: Buffer.alloc(10_000, 0x7b), status: 413 },
      // The bytes past the declared length are not HTTP: Node's server refuses them itself.
      {
        name: 'a declared length shorter than the body',
        fn,
        headers: { 'Content-Type': 'text/plain', 'Content-Length': '7' },
        body: body(`mlabk.cii_x.${KEY_ID}.${SECRET}`),
        status: 400,
        outsideOurCode: true,
        secrets: [SECRET],
      },
      { name: 'no content type', fn, body: body(`mlabk.cii_x.${KEY_ID}.${SECRET}`), status: 401, secrets: [SECRET] },
      {
        name: 'an odd content type',
        fn,
        headers: { 'Content-Type': 'application/x-made-up' },
        body: body(`mlabk.cii_x.${KEY_ID}.${SECRET}`),
        status: 401,
        secrets: [SECRET],
      },
      {
        name: 'a form-encoded body',
        fn,
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: `api_key=mlabk.cii_x.${KEY_ID}.${SECRET}`,
        status: 400,
        secrets: [SECRET],
      },
      {
        name: 'a multipart body',
        fn,
        headers: { 'Content-Type': 'multipart/form-data; boundary=b' },
        body: `--b\r\nContent-Disposition: form-data; name="api_key"\r\n\r\n${SECRET}\r\n--b--`,
        status: 400,
        secrets: [SECRET],
      },
      // One member a real key, the other unknown: the answer says which one was read (the last, as Go's decoder).
      {
        name: 'duplicate api_key members, the real key last',
        fn,
        headers: json,
        body: `{"api_key": "mlabk.cii_x.${KEY_ID}.${SECRET}", "api_key": "${real()}"}`,
        status: 200,
        secrets: [SECRET, realSecret()],
      },
      {
        name: 'duplicate api_key members, the real key first',
        fn,
        headers: json,
        body: `{"api_key": "${real()}", "api_key": "mlabk.cii_x.${KEY_ID}.${SECRET}"}`,
        status: 401,
        secrets: [SECRET, realSecret()],
      },
      {
        name: 'invalid UTF-8 in the key',
        fn,
        headers: json,
        body: Buffer.concat([
          Buffer.from(`{"api_key": "mlabk.cii_x.${KEY_ID}.`),
          Buffer.from([0xff, 0xfe, 0xc3]),
          Buffer.from('"}'),
        ]),
        status: 401,
      },
      {
        name: 'an unsupported charset',
        fn,
        headers: { 'Content-Type': 'application/json; charset=utf-7' },
        body: body('x'),
        status: 415,
      },
      {
        name: 'a UTF-16 charset',
        fn,
        headers: { 'Content-Type': 'application/json; charset=UTF-16LE' },
        body: Buffer.from(body('x'), 'utf16le'),
        status: 415,
      },
      {
        name: 'a Latin-1 charset (ASCII reads the same)',
        fn,
        headers: { 'Content-Type': 'application/json; charset=ISO-8859-1' },
        body: body(`mlabk.cii_x.${KEY_ID}.${SECRET}`),
        status: 401,
        secrets: [SECRET],
      },
      {
        name: 'a gzip body',
        fn,
        headers: { ...json, 'Content-Encoding': 'gzip' },
        body: gzipSync(body(`mlabk.cii_x.${KEY_ID}.${SECRET}`)),
        status: 415,
        secrets: [SECRET],
      },
      {
        name: 'a br body',
        fn,
        headers: { ...json, 'Content-Encoding': 'br' },
        body: Buffer.from('garbage'),
        status: 415,
      },
      {
        name: 'an identity encoding',
        fn,
        headers: { ...json, 'Content-Encoding': 'Identity' },
        body: body(`mlabk.cii_x.${KEY_ID}.${SECRET}`),
        status: 401,
        secrets: [SECRET],
      },
      { name: 'a JSON null as application/json', fn, headers: json, body: 'null', status: 400 },
      { name: 'a bare JSON string as application/json', fn, headers: json, body: '"mlabk.cii_x"', status: 400 },
      {
        name: 'a form body with 1,001 parameters',
        fn,
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: `api_key=mlabk.cii_x.${KEY_ID}.${SECRET}&` + Array.from({ length: 1000 }, (_, i) => `p${i}=1`).join('&'),
        status: 400,
        secrets: [SECRET],
      },
      {
        name: 'a form body nested deeper than 32',
        fn,
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: `api_key=mlabk.cii_x.${KEY_ID}.${SECRET}&a${'[a]'.repeat(40)}=1`,
        status: 400,
        secrets: [SECRET],
      },
      {
        name: 'the key in the query string',
        fn,
        path: `?api_key=mlabk.cii_x.${KEY_ID}.${SECRET}`,
        headers: json,
        body: '{}',
        status: 400,
        secrets: [SECRET],
      },
      {
        name: 'a Basic Authorization header',
        fn,
        headers: { Authorization: `Basic ${Buffer.from(`u:${SECRET}`).toString('base64')}` },
        status: 400,
      },
      {
        name: 'a Bearer header with a malformed key',
        fn,
        headers: { Authorization: `Bearer mlabk.cii_x.${KEY_ID}.${SECRET}!` },
        status: 401,
        secrets: [SECRET],
      },
      { name: 'a Bearer header with two tokens', fn, headers: { Authorization: `Bearer a b` }, status: 400 },
      {
        name: 'a Bearer header of 8000 bytes',
        fn,
        headers: { Authorization: `Bearer ${'A'.repeat(8000)}` },
        status: 401,
      },
      {
        name: 'very large headers',
        fn,
        headers: { ...json, 'X-Padding': 'p'.repeat(20_000) },
        body: body('x'),
        status: 431,
        outsideOurCode: true,
      },
      ...(['PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'GET'] as const).map((method): Case => ({
        name: `${method}`,
        fn,
        method,
        status: 405,
      })),
    );
  }
  list.push(
    {
      name: 'an autojoin key',
      fn: 'exchangeIntegration',
      headers: json,
      body: body(seeded.autojoin),
      status: 401,
      secrets: [seeded.autojoin.split('.').pop() as string],
    },
    {
      name: 'an integration key',
      fn: 'exchangeAutojoin',
      headers: json,
      body: body(seeded.integration),
      status: 401,
      secrets: [seeded.integration.split('.').pop() as string],
    },
    ...(['POST', 'PUT', 'DELETE', 'PATCH', 'TRACE'] as const).map((method): Case => ({
      name: `${method}`,
      fn: 'jwks',
      method,
      body: body(`mlabk.cii_x.${KEY_ID}.${SECRET}`),
      status: 405,
      secrets: [SECRET],
    })),
    { name: 'a body over 8 KiB', fn: 'jwks', method: 'POST', headers: json, body: 'x'.repeat(9000), status: 413 },
    {
      name: 'a gzip body',
      fn: 'jwks',
      method: 'POST',
      headers: { ...json, 'Content-Encoding': 'gzip' },
      body: gzipSync('{}'),
      status: 415,
    },
    {
      name: 'malformed JSON',
      fn: 'jwks',
      method: 'POST',
      headers: json,
      body: `{"api_key": "${SECRET}`,
      status: 405,
      secrets: [SECRET],
    },
    {
      name: 'very large headers',
      fn: 'jwks',
      method: 'GET',
      headers: { 'X-Padding': 'p'.repeat(20_000) },
      status: 431,
      outsideOurCode: true,
    },
    {
      name: 'a garbage If-None-Match',
      fn: 'jwks',
      method: 'GET',
      headers: { 'If-None-Match': 'W/W/"",,, *x'.repeat(200) },
      status: 200,
    },
    {
      name: 'a query string',
      fn: 'jwks',
      method: 'GET',
      path: `?api_key=${SECRET}&x=${'%ff'.repeat(50)}`,
      status: 200,
    },
  );
  return list;
}

const written: string[] = [];
let restore: () => void = () => undefined;

beforeAll(async () => {
  datastore = testDatastore();
  namespaces = uniqueNamespaces('hostile');
  served = await serveFunctions({
    SIGNING_KEY_FILE: (await signingKeyFile('ES256')).path,
    ...namespaceEnv(namespaces),
  });
  seeded.integration = await newIntegrationKey(datastore, namespaces);
  seeded.autojoin = await newAutojoinKey(datastore, namespaces);
  // Everything the process writes, framework included, is a log line on Cloud Functions.
  const capture = (chunk: string | Uint8Array): boolean => {
    written.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  };
  const out = jest.spyOn(process.stdout, 'write').mockImplementation(capture);
  const err = jest.spyOn(process.stderr, 'write').mockImplementation(capture);
  restore = () => {
    out.mockRestore();
    err.mockRestore();
  };
});
afterAll(async () => {
  restore();
  await served.close();
});

describe('every hostile request', () => {
  let built: ReturnType<typeof cases> | undefined;
  it.each(cases().map((c, i) => [`${c.fn}: ${c.name}`, i] as const))(
    '%s gets its documented answer',
    async (_, index) => {
      // Built once, after beforeAll has seeded the keys the cases use (the titles need none).
      const c = (built ??= cases())[index];
      const logsBefore = served.logs.length;
      const writtenBefore = written.length;
      const reply = await send(served.url(c.fn), c);
      expect(reply.status).toBe(c.status);
      expect(reply.status).toBeLessThan(500);
      if (!c.outsideOurCode && reply.status !== 200) {
        expect(reply.headers['content-type']).toBe('application/problem+json; charset=utf-8');
        expect(JSON.parse(reply.body)).toMatchObject({
          type: expect.any(String),
          title: expect.any(String),
          status: c.status,
          detail: expect.any(String),
        });
      }
      expect(reply.body).not.toMatch(/node_modules|\/work\/|\bat .+:\d+:\d+/);
      const logged = JSON.stringify(served.logs.slice(logsBefore)) + written.slice(writtenBefore).join('');
      for (const secret of c.secrets ?? []) {
        expect(reply.body).not.toContain(secret);
        expect(logged).not.toContain(secret);
      }
    },
  );
});

describe('every kind of body functions-framework would refuse, carrying a real key', () => {
  // What its parsers refused (and Express logged, body included) before the body guard:
  // each now reaches our code or the guard, and neither the key, its secret nor its stored
  // hash reaches stdout or stderr, nor a multi-line stack.
  const kinds = (apiKey: string): Array<[string, Record<string, string>, string | Buffer]> => [
    ['malformed JSON', json, `{"api_key": "${apiKey}"`],
    ['JSON nested past any limit', json, '{"a":'.repeat(40) + `"${apiKey}"` + '}'.repeat(39)],
    [
      'a form with 1,001 parameters',
      { 'Content-Type': 'application/x-www-form-urlencoded' },
      `api_key=${apiKey}&` + Array.from({ length: 1000 }, (_, i) => `p${i}=1`).join('&'),
    ],
    [
      'a form nested deeper than 32',
      { 'Content-Type': 'application/x-www-form-urlencoded' },
      `api_key=${apiKey}&a${'[a]'.repeat(40)}=1`,
    ],
    ['a charset nobody knows', { 'Content-Type': 'application/json; charset=x-unknown' }, body(apiKey)],
    ['UTF-7', { 'Content-Type': 'text/plain; charset=utf-7' }, body(apiKey)],
    ['gzip', { ...json, 'Content-Encoding': 'gzip' }, gzipSync(body(apiKey))],
    ['broken gzip', { ...json, 'Content-Encoding': 'gzip' }, Buffer.from(body(apiKey))],
    ['deflate', { ...json, 'Content-Encoding': 'deflate' }, deflateSync(body(apiKey))],
    ['an unknown encoding', { ...json, 'Content-Encoding': 'x-made-up' }, body(apiKey)],
    ['a cloudevent', { 'Content-Type': 'application/cloudevents+json' }, `{"data": "${apiKey}"`],
    ['over 8 KiB', json, JSON.stringify({ api_key: apiKey, pad: 'p'.repeat(9000) })],
  ];

  it.each(['exchangeIntegration', 'jwks'] as const)(
    '%s: a 4xx of ours for each, and no key material in any output',
    async (fn) => {
      const parsed = seeded.integration.split('.');
      const secret = parsed.pop() as string;
      const keyId = parsed.pop() as string;
      const [entity] = await datastore.get(
        datastore.key({
          namespace: namespaces.integrationNamespace,
          path: ['IntegrationMeta', parsed[1].slice('cii_'.length), 'IntegrationAPIKey', keyId],
        }),
      );
      const hash = (entity as { key_hash: string }).key_hash;
      expect(hash).toMatch(/^\$2/);
      const writtenBefore = written.length;
      for (const [name, headers, payload] of kinds(seeded.integration)) {
        const reply = await send(served.url(fn), { name, fn, method: 'POST', headers, body: payload, status: 0 });
        // Labelled, so a failure names the request.
        expect([name, reply.status >= 400 && reply.status < 500]).toEqual([name, true]);
        expect(reply.headers['content-type']).toBe('application/problem+json; charset=utf-8');
        expect(reply.body).not.toContain(secret);
      }
      const output = written.slice(writtenBefore).join('');
      expect(output).not.toContain(secret);
      expect(output).not.toContain(hash);
      expect(output).not.toContain(seeded.integration);
      expect(output).not.toMatch(/\n\s+at /);
      expect(output).not.toContain('functions-framework');
    },
  );
});

it('leaves the instance serving tokens', async () => {
  expect((await postJson(served.url('exchangeIntegration'), { api_key: seeded.integration })).status).toBe(200);
  expect((await postJson(served.url('exchangeAutojoin'), { api_key: seeded.autojoin })).status).toBe(200);
  expect((await fetch(served.url('jwks'))).status).toBe(200);
  expect(written.join('')).not.toContain(seeded.integration);
  expect(JSON.stringify(served.logs)).not.toContain(seeded.integration.split('.').pop());
});
