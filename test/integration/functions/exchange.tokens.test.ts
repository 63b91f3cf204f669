/**
 * Tokens from both exchange functions, served by functions-framework over real sockets and
 * verified as Locate and the NDT servers would: with the JWKS fetched over HTTP from `jwks`.
 */
import type { Datastore } from '@google-cloud/datastore';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { parseApiKey } from '../../../shared/keys/grammar';
import type { Namespaces } from '../../../shared/keys/entities';
import { testDatastore, namespaceEnv, uniqueNamespaces } from '../../support/datastore';
import { postJson, readJson, serveFunctions, type ServedFunctions, type TokenBody } from '../../support/functions';
import { goServiceIntegrationKey, newAutojoinKey, newIntegrationKey } from '../../support/seed';
import { signingKeyFile } from '../../support/signingKeys';

let datastore: Datastore;
beforeAll(() => {
  datastore = testDatastore();
});

describe.each(['EdDSA', 'ES256', 'RS256'] as const)('with an %s signing key', (alg) => {
  let served: ServedFunctions;
  let namespaces: Namespaces;
  let kid: string;
  let verifyWithJwks: (token: string, audience: string) => ReturnType<typeof jwtVerify>;

  beforeAll(async () => {
    namespaces = uniqueNamespaces(alg.toLowerCase());
    const key = await signingKeyFile(alg);
    kid = key.kid;
    served = await serveFunctions({
      SIGNING_KEY_FILE: key.path,
      ...namespaceEnv(namespaces),
    });
    const jwks = createRemoteJWKSet(new URL(served.url('jwks')));
    verifyWithJwks = (token, audience) =>
      jwtVerify(token, jwks, { issuer: 'token-exchange', audience, algorithms: [alg], clockTolerance: 0 });
  });
  afterAll(() => served.close());

  it('exchangeIntegration answers an active key with a 20-second integration token', async () => {
    const apiKey = await newIntegrationKey(datastore, namespaces, { tier: 3 });
    const parsed = parseApiKey(apiKey);
    if (!parsed.ok) throw new Error('seeded key does not parse');
    const response = await postJson(served.url('exchangeIntegration'), { api_key: apiKey });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const body = await readJson<TokenBody>(response);
    expect(body).toEqual({ token: expect.any(String), token_type: 'Bearer', expires_in: 20 });
    expect(decodeProtectedHeader(body.token)).toEqual({ alg, kid, typ: 'JWT' });
    const { payload } = await verifyWithJwks(body.token, 'integration');
    expect(payload).toEqual({
      iss: 'token-exchange',
      aud: 'integration',
      iat: expect.any(Number),
      nbf: payload.iat,
      exp: (payload.iat as number) + 20,
      jti: expect.any(String),
      int_id: parsed.key.ownerId,
      key_id: parsed.key.keyId,
      tier: 3,
    });
  });

  it('exchangeAutojoin answers an active organisation key with a one-hour autojoin token', async () => {
    const apiKey = await newAutojoinKey(datastore, namespaces);
    const parsed = parseApiKey(apiKey);
    if (!parsed.ok) throw new Error('seeded key does not parse');
    const response = await postJson(served.url('exchangeAutojoin'), { api_key: apiKey });
    expect(response.status).toBe(200);
    const body = await readJson<TokenBody>(response);
    expect(body).toEqual({ token: expect.any(String), token_type: 'Bearer', expires_in: 3600 });
    const { payload } = await verifyWithJwks(body.token, 'autojoin');
    expect(payload).toEqual({
      iss: 'token-exchange',
      aud: 'autojoin',
      iat: expect.any(Number),
      nbf: payload.iat,
      exp: (payload.iat as number) + 3600,
      jti: expect.any(String),
      org: parsed.key.ownerId,
    });
  });
});

describe('exchange requests', () => {
  let served: ServedFunctions;
  let namespaces: Namespaces;

  beforeAll(async () => {
    namespaces = uniqueNamespaces('requests');
    const key = await signingKeyFile('EdDSA');
    served = await serveFunctions({
      SIGNING_KEY_FILE: key.path,
      ...namespaceEnv(namespaces),
    });
  });
  afterAll(() => served.close());

  it('accepts keys the Go service made (hex SHA-256), with tier 0', async () => {
    const { apiKey, integrationId, keyId } = await goServiceIntegrationKey(datastore, namespaces);
    const response = await postJson(served.url('exchangeIntegration'), { api_key: apiKey });
    expect(response.status).toBe(200);
    expect(decodeJwt((await readJson<TokenBody>(response)).token)).toMatchObject({
      int_id: integrationId,
      key_id: keyId,
      tier: 0,
    });
  });

  it('accepts the key as Authorization: Bearer with no body', async () => {
    const apiKey = await newIntegrationKey(datastore, namespaces);
    const response = await fetch(served.url('exchangeIntegration'), {
      method: 'POST',
      headers: { Authorization: `Bearer ${apiKey}` },
    });
    expect(response.status).toBe(200);
  });

  it('accepts a JSON body whatever its content type, as the Go service did (curl -d sends a form type)', async () => {
    const apiKey = await newIntegrationKey(datastore, namespaces);
    for (const contentType of ['application/x-www-form-urlencoded', 'text/plain', undefined]) {
      const response = await fetch(served.url('exchangeIntegration'), {
        method: 'POST',
        headers: contentType ? { 'Content-Type': contentType } : {},
        body: Buffer.from(JSON.stringify({ api_key: apiKey })),
      });
      expect([contentType, response.status]).toEqual([contentType, 200]);
    }
  });

  it('gives every exchange a token of its own', async () => {
    const apiKey = await newIntegrationKey(datastore, namespaces);
    const tokens = [];
    for (let i = 0; i < 3; i++)
      tokens.push(
        (await readJson<TokenBody>(await postJson(served.url('exchangeIntegration'), { api_key: apiKey }))).token,
      );
    expect(new Set(tokens.map((t) => decodeJwt(t).jti)).size).toBe(3);
  });
});
