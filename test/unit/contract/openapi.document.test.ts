/**
 * openapi.yaml on its own: a valid OpenAPI 3.1 document (checked against the OpenAPI 3.1
 * schema), whose schemas are sound JSON Schema 2020-12 and whose examples are instances of
 * them, describing exactly the paths the functions, the front door and the local stack answer.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { FUNCTIONS, FUNCTION_NAMES } from '../../../shared/platform/functions';
import { HTTP_METHODS, OpenApi, deref, jwtPart, validateDocument } from '../../support/openapi';

const api = new OpenApi();

describe('openapi.yaml', () => {
  it('is a valid OpenAPI 3.1 document', () => {
    const verdict = validateDocument();
    expect(verdict.errors).toBeUndefined();
    expect(verdict).toMatchObject({ valid: true, version: '3.1' });
  }, 30_000);

  it('the validator refuses a document off the 3.1 schema (so the check above can fail)', () => {
    // A response without its required description.
    const broken = structuredClone(api.doc) as unknown as { paths: Record<string, Record<string, unknown>> };
    broken.paths['/health'].get = { responses: { '200': { content: {} } } };
    const file = join(mkdtempSync(join(tmpdir(), 'openapi-')), 'broken.yaml');
    writeFileSync(file, stringify(broken));
    expect(validateDocument(file).valid).toBe(false);
  }, 30_000);

  it('check() reports what an answer does not match: status, header, media type, body', () => {
    const problem = {
      type: 'tag:measurementlab.net,2026:token-exchange/invalid-api-key',
      title: 'Invalid API key',
      status: 401,
      detail: 'The API key is not valid.',
    };
    const headers = {
      'content-type': 'application/problem+json; charset=utf-8',
      'cache-control': 'no-store',
      'www-authenticate': 'Bearer error="invalid_token"',
    };
    const answer = { status: 401, headers, body: JSON.stringify(problem) };
    expect(api.check('/v0/token/integration', 'post', answer)).toEqual([]);
    expect(api.check('/v0/token/integration', 'post', { ...answer, status: 402 })).toEqual([
      'POST /v0/token/integration → 402: status not documented',
    ]);
    const { 'www-authenticate': _dropped, ...withoutChallenge } = headers;
    expect(api.check('/v0/token/integration', 'post', { ...answer, headers: withoutChallenge })).toEqual([
      'POST /v0/token/integration → 401: header WWW-Authenticate missing',
    ]);
    expect(
      api.check('/v0/token/integration', 'post', { ...answer, headers: { ...headers, 'content-type': 'text/html' } }),
    ).toEqual(['POST /v0/token/integration → 401: media type text/html not documented']);
    const leaky = JSON.stringify({ ...problem, detail: 'no such key mlabk.cii_x.ki_y.z' });
    expect(api.check('/v0/token/integration', 'post', { ...answer, body: leaky })[0]).toContain('body:');
    expect(api.check('/health', 'get', { status: 200, headers: { 'cache-control': 'no-store' }, body: '' })).toEqual([
      'GET /health → 200: documented a body, got none',
    ]);
  });

  it.each(Object.keys(api.doc.components.schemas))('schema %s compiles as strict JSON Schema 2020-12', (name) => {
    expect(() => api.validator({ $ref: `#/components/schemas/${name}` })).not.toThrow();
  });

  it('describes each function at its name and at the Go service path, and /health: no more, no less', () => {
    const expected = [
      ...FUNCTION_NAMES.flatMap((name) => [`/${name}`, FUNCTIONS[name].goServicePath]),
      '/health',
    ].sort();
    expect(Object.keys(api.doc.paths).sort()).toEqual(expected);
  });

  it('names each operation once', () => {
    const ids = Object.values(api.doc.paths).flatMap((item) =>
      HTTP_METHODS.flatMap((method) => (item[method] ? [item[method].operationId] : [])),
    );
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('takes the exchange key in Authorization: Bearer, or in the body', () => {
    expect(api.doc.components.securitySchemes.apiKey).toMatchObject({ type: 'http', scheme: 'bearer' });
    for (const name of FUNCTION_NAMES.filter((n) => FUNCTIONS[n].kind !== 'jwks')) {
      for (const path of [`/${name}`, FUNCTIONS[name].goServicePath]) {
        // Either the Bearer header or nothing (the key in the body).
        expect(api.operation(path, 'post').security).toEqual([{ apiKey: [] }, {}]);
      }
    }
  });

  it.each(api.responseExamples().map((e) => [`${e.method.toUpperCase()} ${e.path} ${e.status} ${e.name}`, e]))(
    'response example %s is an instance of its schema',
    (_name, example) => {
      expect(api.validate(example.schema, example.value)).toEqual([]);
    },
  );

  it.each(api.requestExamples().map((e) => [`${e.method.toUpperCase()} ${e.path} ${e.name}`, e]))(
    'request example %s is an instance of its schema',
    (_name, example) => {
      expect(api.validate(example.schema, example.value)).toEqual([]);
    },
  );

  it("checks a token's decoded claims: an example token for the other audience is refused", () => {
    const integration = deref<{ value: { token: string } }>(api.doc, {
      $ref: '#/components/examples/IntegrationToken',
    });
    const autojoinSchema = { $ref: '#/components/schemas/AutojoinTokenResponse' };
    expect(api.validate(autojoinSchema, { ...integration.value, expires_in: 3600 })).not.toEqual([]);
    // …and the claims it carries are the integration ones.
    expect(jwtPart(integration.value.token, 1)).toMatchObject({ aud: 'integration', int_id: expect.any(String) });
  });

  it('refuses a public key set that carries a private member', () => {
    const jwks = deref<{ value: { keys: object[] } }>(api.doc, { $ref: '#/components/examples/Jwks' });
    const leaked = { keys: [{ ...jwks.value.keys[0], d: 'c2VjcmV0' }] };
    expect(api.validate({ $ref: '#/components/schemas/Jwks' }, leaked)).not.toEqual([]);
  });

  it('documents a problem+json body for every error that has a body, and Cache-Control on each', () => {
    for (const { path, method, status } of api.documentedStatuses()) {
      if (status < 400 || status === 431 || method === 'head') continue;
      const response = api.response(path, method, status);
      expect([`${path} ${status}`, Object.keys(response?.content ?? {})]).toEqual([
        `${path} ${status}`,
        ['application/problem+json'],
      ]);
      expect(Object.keys(response?.headers ?? {})).toContain('Cache-Control');
    }
  });
});
