/**
 * README.md's "HTTP contract" and openapi.yaml name the same facts; this holds them together,
 * and with the code where the code names them too: the statuses per path, the problem types
 * and titles, the headers, and the settings the answers show (issuer, lifetimes, body limit,
 * key count).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SETTINGS } from '../../../shared/platform/config';
import { FUNCTIONS, FUNCTION_NAMES } from '../../../shared/platform/functions';
import {
  BODY_TOO_LARGE,
  BODY_UNREADABLE,
  INVALID_API_KEY,
  MAX_BODY_BYTES,
  methodNotAllowed,
  tooManyAttempts,
  unavailable,
  UNSUPPORTED_ENCODING,
} from '../../../shared/platform/http';
import { MAX_PUBLISHED_VERSIONS } from '../../../shared/signing/sources';
import { deref, jwtPart, OpenApi, ROOT, type HttpMethod, type Schema } from '../../support/openapi';

const api = new OpenApi();
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The text under a heading, up to the next heading of the same or a higher level. */
function section(text: string, heading: string): string {
  const level = /^#+/.exec(heading)?.[0].length ?? 2;
  const start = text.split('\n').findIndex((line) => line === heading);
  if (start === -1) throw new Error(`README.md has no "${heading}"`);
  const lines = text.split('\n').slice(start + 1);
  const end = lines.findIndex((line) => new RegExp(`^#{1,${level}} `).test(line));
  return lines.slice(0, end === -1 ? undefined : end).join('\n');
}

/** The rows of the Markdown tables in `text`, cells trimmed, header and rule rows left out. */
function tableRows(text: string, header: string): string[][] {
  const lines = text.split('\n');
  const start = lines.findIndex((line) => line.startsWith(header));
  if (start === -1) throw new Error(`README.md has no table headed "${header}"`);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .slice(1, -1)
        .split('|')
        .map((cell) => cell.trim()),
    );
  }
  return rows;
}

const statusesIn = (cell: string): number[] => (cell.match(/\b[1-5]\d\d\b/g) ?? []).map(Number);
const codeSpans = (cell: string): string[] => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]);

const contract = section(readme, '## HTTP contract');
const exchangeSection = section(readme, '### `exchangeIntegration`, `exchangeAutojoin`');
const jwksSection = section(readme, '### `jwks`');

const exchangePaths = FUNCTION_NAMES.filter((n) => FUNCTIONS[n].kind !== 'jwks').flatMap((n) => [
  FUNCTIONS[n].goServicePath,
  `/${n}`,
]);

/** Statuses openapi.yaml documents for `path` answering `method` (or, for 'other', the methods it does not serve). */
function documented(path: string, method: HttpMethod | 'other'): number[] {
  const operation = api.operation(path, method === 'other' ? api.otherMethods(path) : method);
  return Object.keys(operation.responses).map(Number);
}

function schema(name: string): Schema {
  return api.doc.components.schemas[name];
}

function header(name: string): { required?: boolean; schema: Schema } {
  return deref<{ required?: boolean; schema: Schema }>(api.doc, { $ref: `#/components/headers/${name}` });
}

describe('README.md and openapi.yaml', () => {
  it('README links openapi.yaml from its HTTP contract', () => {
    expect(contract).toContain('[`openapi.yaml`](openapi.yaml)');
  });

  it("agree on every path's statuses, method by method (README's table of paths)", () => {
    const rows = tableRows(contract, '| path | method | statuses |');
    let paths: string[] = [];
    const covered = new Set<string>();
    for (const [pathCell, methodCell, statusCell] of rows) {
      if (pathCell !== 'the same') paths = codeSpans(pathCell);
      const methods: Array<HttpMethod | 'other'> =
        methodCell === 'any other' ? ['other'] : codeSpans(methodCell).map((m) => m.toLowerCase() as HttpMethod);
      for (const path of paths) {
        for (const method of methods) {
          expect([path, method, documented(path, method).sort()]).toEqual([
            path,
            method,
            statusesIn(statusCell).sort(),
          ]);
          covered.add(`${method} ${path}`);
        }
      }
    }
    // Every operation of the document is in the table.
    for (const { path, method } of api.documentedStatuses()) {
      const row = api.otherMethods(path) === method ? 'other' : method;
      expect(covered).toContain(`${row} ${path}`);
    }
  });

  it("agree on the exchanges' statuses with README's table of when each is answered", () => {
    const table = tableRows(exchangeSection, '| status | when |').flatMap(([status]) => statusesIn(status));
    // 200 is the example answer, 431 the one Node's parser gives before any of our code.
    expect(exchangeSection).toContain('HTTP/1.1 200 OK');
    expect(exchangeSection).toContain('`431`');
    const readmeStatuses = [...new Set([200, ...table, 431])].sort();
    for (const path of exchangePaths) {
      expect([path, [...documented(path, 'post'), ...documented(path, 'other')].sort()]).toEqual([
        path,
        readmeStatuses,
      ]);
    }
  });

  it('agree on every problem type and title, and so does the code', () => {
    const base = 'tag:measurementlab.net,2026:token-exchange/';
    expect(contract).toContain(`Each problem's \`type\` is \`${base}\` followed by:`);
    const fromReadme = tableRows(contract, '| status | type | title |')
      .flatMap(([status, type, titles]) =>
        titles.split(', ').map((title) => `${status} ${base}${codeSpans(type)[0]} ${title}`),
      )
      .sort();
    const fromDocument = [
      ...new Set(
        Object.values(api.doc.components.schemas)
          .filter((s) => JSON.stringify(s.allOf) === JSON.stringify([{ $ref: '#/components/schemas/Problem' }]))
          .flatMap((s) => {
            const properties = s.properties as Record<string, { const?: unknown; enum?: unknown[] }>;
            const values = (p: { const?: unknown; enum?: unknown[] }): unknown[] => p.enum ?? [p.const];
            return values(properties.type).flatMap((type) =>
              values(properties.title).map(
                (title) => `${String(properties.status.const)} ${String(type)} ${String(title)}`,
              ),
            );
          })
          .filter((entry) => entry.includes(base)),
      ),
    ].sort();
    expect(fromDocument).toEqual(fromReadme);
    const fromCode = [
      INVALID_API_KEY,
      methodNotAllowed(['POST']),
      BODY_TOO_LARGE,
      UNSUPPORTED_ENCODING,
      BODY_UNREADABLE,
      tooManyAttempts(1),
      unavailable('x'),
    ].map((problem) => `${problem.status} ${base}${problem.code} ${problem.title}`);
    for (const entry of fromCode) expect(fromReadme).toContain(entry);
  });

  it("agree on the 401's body, word for word, and the code sends it", () => {
    const readmeBody = /```json\n(\{"type":"[^\n]*invalid-api-key[^\n]*)\n```/.exec(exchangeSection)?.[1];
    const example = deref<{ value: unknown }>(api.doc, { $ref: '#/components/examples/InvalidApiKeyProblem' });
    expect(JSON.parse(readmeBody ?? 'null')).toEqual(example.value);
    expect(example.value).toMatchObject({ title: INVALID_API_KEY.title, detail: INVALID_API_KEY.detail });
  });

  it('agree on the headers', () => {
    const mentions = (value: string): boolean => readme.includes(`\`${value}\``);
    expect(mentions(`Allow: ${String(header('AllowPost').schema.const)}`)).toBe(true);
    expect(mentions(`Allow: ${String(header('AllowGetHead').schema.const)}`)).toBe(true);
    expect(mentions(`Cache-Control: ${String(header('CacheControlNoStore').schema.const)}`)).toBe(true);
    // jwks's Cache-Control: the document's default is the setting's, and what the README says.
    const jwksCacheControl = `public, max-age=${SETTINGS.jwksMaxAgeSeconds.fallback}, must-revalidate`;
    expect(header('CacheControlJwks').schema.default).toBe(jwksCacheControl);
    expect(new RegExp(String(header('CacheControlJwks').schema.pattern)).test(jwksCacheControl)).toBe(true);
    expect(mentions(`Cache-Control: ${jwksCacheControl}`)).toBe(true);
    expect(mentions(`Access-Control-Allow-Origin: ${String(header('AccessControlAllowOrigin').schema.const)}`)).toBe(
      true,
    );
    // README says `WWW-Authenticate: Bearer`; the document the whole value, which the code sends.
    expect(mentions('WWW-Authenticate: Bearer')).toBe(true);
    expect(header('WwwAuthenticate').schema.const).toBe(INVALID_API_KEY.headers?.['WWW-Authenticate']);
    expect(String(header('WwwAuthenticate').schema.const).startsWith('Bearer')).toBe(true);

    // Retry-After: the README's 429 and 503 rows say it; the document requires it on both.
    const rows = Object.fromEntries(tableRows(exchangeSection, '| status | when |').map(([s, when]) => [s, when]));
    for (const status of [429, 503]) {
      expect(rows[String(status)]).toContain('`Retry-After`');
      for (const path of exchangePaths) {
        expect(Object.keys(api.response(path, 'post', status)?.headers ?? {})).toContain('Retry-After');
      }
    }
    expect(header('RetryAfter').required).toBe(true);
    // The ETag and its 304.
    expect(jwksSection).toContain('an `ETag`; `If-None-Match` with it gets `304`');
    for (const path of ['/.well-known/jwks.json', '/jwks']) {
      for (const status of [200, 304]) {
        expect(Object.keys(api.response(path, 'get', status)?.headers ?? {})).toContain('ETag');
      }
    }
  });

  it('agree on the settings the answers show, and with their defaults in the code', () => {
    const config = Object.fromEntries(
      tableRows(section(readme, '## Configuration'), '| variable | default | meaning |').map(([name, value]) => [
        codeSpans(name)[0],
        codeSpans(value)[0],
      ]),
    );
    const integration = deref<{ value: { token: string; expires_in: number } }>(api.doc, {
      $ref: '#/components/examples/IntegrationToken',
    }).value;
    const autojoin = deref<{ value: { token: string; expires_in: number } }>(api.doc, {
      $ref: '#/components/examples/AutojoinToken',
    }).value;
    const claims = (token: string) => jwtPart(token, 1) as { iss: string; iat: number; exp: number };

    expect([config.TOKEN_ISSUER, SETTINGS.issuer.fallback]).toEqual(['token-exchange', 'token-exchange']);
    expect(claims(integration.token).iss).toBe(config.TOKEN_ISSUER);
    expect(claims(autojoin.token).iss).toBe(config.TOKEN_ISSUER);

    for (const [value, name, setting] of [
      [integration, 'INTEGRATION_TOKEN_TTL', SETTINGS.integrationTokenTtl.fallback],
      [autojoin, 'AUTOJOIN_TOKEN_TTL', SETTINGS.autojoinTokenTtl.fallback],
    ] as const) {
      expect([name, String(value.expires_in), String(claims(value.token).exp - claims(value.token).iat)]).toEqual([
        name,
        config[name],
        config[name],
      ]);
      expect(config[name]).toBe(setting);
    }

    // The body limit: 8 KiB in the README, its bytes in the document, the guard's constant.
    expect(MAX_BODY_BYTES).toBe(8 * 1024);
    expect(exchangeSection).toContain('The body is at most 8 KiB');
    const body = deref<{ description: string }>(api.doc, { $ref: '#/components/requestBodies/IntegrationKey' });
    expect(body.description).toContain(`8 KiB (${MAX_BODY_BYTES} bytes)`);

    // At most 5 published keys.
    expect(jwksSection).toContain(`at most ${MAX_PUBLISHED_VERSIONS}`);
    const keys = (schema('Jwks').properties as Record<string, { maxItems: number }>).keys;
    expect(keys.maxItems).toBe(MAX_PUBLISHED_VERSIONS);
  });

  it("agree on the token's audiences and custom claims", () => {
    const rows = Object.fromEntries(
      tableRows(exchangeSection, '| claim | integration | autojoin |').map(([claim, ...kinds]) => [claim, kinds]),
    );
    const [integrationAud, autojoinAud] = rows['`aud`'].map((cell) => codeSpans(cell)[0]);
    const [integrationCustom, autojoinCustom] = rows.custom.map(codeSpans);
    const properties = (name: string) => schema(name).properties as Record<string, { const?: string }>;
    expect(properties('IntegrationClaims').aud.const).toBe(integrationAud);
    expect(properties('AutojoinClaims').aud.const).toBe(autojoinAud);
    expect(schema('IntegrationClaims').required).toEqual(integrationCustom);
    expect(schema('AutojoinClaims').required).toEqual(autojoinCustom);
  });
});
