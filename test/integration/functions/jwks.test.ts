/** The public key set verifiers fetch: cacheable, CORS-open, conditional. */
import { join } from 'node:path';
import { generateSigningKey } from '../../../shared/signing/signingKey';
import { startFakeSecretManager, type FakeSecretManager } from '../../support/fakeSecretManager';
import { readJson, serveFunctions, type ServedFunctions } from '../../support/functions';

const GO_FIXTURE = join(__dirname, '../../fixtures/go-service-ed25519-private.jwk.json');
const SECRET = 'projects/token-exchange-test/secrets/signing-key';

describe('jwks from a key file', () => {
  let served: ServedFunctions;
  beforeAll(async () => {
    served = await serveFunctions({ SIGNING_KEY_FILE: GO_FIXTURE });
  });
  afterAll(() => served.close());

  it("serves the public part of the Go service's key with its kid, cacheable for an hour", async () => {
    const response = await fetch(served.url('jwks'));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.headers.get('cache-control')).toBe('public, max-age=3600, must-revalidate');
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    expect(response.headers.get('etag')).toMatch(/^"[A-Za-z0-9_-]+"$/);
    expect(await readJson(response)).toEqual({
      keys: [
        {
          kty: 'OKP',
          crv: 'Ed25519',
          x: 'QLe9IwxPtMaP2mRZRPRZvPf7hu_CXE8F6rRntVq8xNQ',
          kid: 'Kd-Wp0rnXg8rxIRO1ChTbcdd0wtB8jv5_H7RoTOJvLU=',
          alg: 'EdDSA',
          use: 'sig',
        },
      ],
    });
  });

  it('is cacheable for JWKS_MAX_AGE_SECONDS when the deployment sets it', async () => {
    const shorter = await serveFunctions({ SIGNING_KEY_FILE: GO_FIXTURE, JWKS_MAX_AGE_SECONDS: '600' });
    try {
      const response = await fetch(shorter.url('jwks'));
      expect(response.headers.get('cache-control')).toBe('public, max-age=600, must-revalidate');
    } finally {
      await shorter.close();
    }
  });

  it('answers a matching If-None-Match with 304 and no body', async () => {
    const etag = (await fetch(served.url('jwks'))).headers.get('etag') as string;
    for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const response = await fetch(served.url('jwks'), { headers: { 'If-None-Match': ifNoneMatch } });
      expect([ifNoneMatch, response.status]).toEqual([ifNoneMatch, 304]);
      expect(response.headers.get('etag')).toBe(etag);
      expect(await response.text()).toBe('');
    }
    const stale = await fetch(served.url('jwks'), { headers: { 'If-None-Match': '"stale"' } });
    expect(stale.status).toBe(200);
  });

  it('answers HEAD with the headers of GET and no body', async () => {
    const get = await fetch(served.url('jwks'));
    const head = await fetch(served.url('jwks'), { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('etag')).toBe(get.headers.get('etag'));
    expect(head.headers.get('content-length')).toBe(String((await get.text()).length));
    expect(await head.text()).toBe('');
  });

  it(
    'answers GET /health with 200 {"status":"ok"}, not ' + "cached; the Go service's path still gets the keys",
    async () => {
      const health = await fetch(new URL('/health', served.url('jwks')));
      expect(health.status).toBe(200);
      expect(health.headers.get('content-type')).toMatch(/^application\/json/);
      expect(health.headers.get('cache-control')).toBe('no-store');
      expect(health.headers.get('etag')).toBeNull();
      expect(await readJson(health)).toEqual({ status: 'ok' });
      expect(served.logs.at(-1)).toMatchObject({ function: 'jwks', outcome: 'health', status: 200 });
      const head = await fetch(new URL('/health', served.url('jwks')), { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(await head.text()).toBe('');
      const keys = await fetch(new URL('/.well-known/jwks.json', served.url('jwks')));
      expect(keys.status).toBe(200);
      expect((await readJson<{ keys: unknown[] }>(keys)).keys).toHaveLength(1);
    },
  );

  it('answers POST /health with 405 and Allow: GET, HEAD', async () => {
    const response = await fetch(new URL('/health', served.url('jwks')), { method: 'POST' });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, HEAD');
  });

  it.each(['POST', 'PUT', 'DELETE'])('answers %s with 405 and Allow: GET, HEAD', async (method) => {
    const response = await fetch(served.url('jwks'), { method });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, HEAD');
  });
});

describe('jwks from Secret Manager', () => {
  let fake: FakeSecretManager;
  beforeAll(async () => {
    fake = await startFakeSecretManager();
  });
  afterAll(() => fake.stop());

  it('publishes every enabled version newest first; 503 until it can read them', async () => {
    fake.createSecret(SECRET);
    const older = await generateSigningKey('RS256');
    const newer = await generateSigningKey('EdDSA');
    const disabled = await generateSigningKey('ES256');
    fake.addVersion(SECRET, JSON.stringify(older));
    fake.addVersion(SECRET, JSON.stringify(disabled), { state: 'DISABLED' });
    fake.addVersion(SECRET, JSON.stringify(newer));
    // Down at the cold-start read and the first request's; back for the second request's.
    fake.setDown(true);
    const served = await serveFunctions({
      SIGNING_KEY_SECRET: SECRET,
      SECRET_MANAGER_EMULATOR_HOST: `127.0.0.1:${fake.port}`,
    });
    try {
      const first = await fetch(served.url('jwks'));
      expect(first.status).toBe(503);
      expect(first.headers.get('retry-after')).toBeTruthy();
      fake.setDown(false);
      const second = await fetch(served.url('jwks'));
      expect(second.status).toBe(200);
      const body = await readJson<{ keys: Array<Record<string, string>> }>(second);
      expect(body.keys.map((k) => k.kid)).toEqual([newer.kid, older.kid]);
      expect(JSON.stringify(body)).not.toMatch(/"(d|p|q|dp|dq|qi)":/);
    } finally {
      await served.close();
    }
  });

  it('answers /health with 200 while the signing keys cannot be read', async () => {
    const secret = `${SECRET}-health`;
    fake.createSecret(secret);
    fake.addVersion(secret, JSON.stringify(await generateSigningKey('RS256')));
    fake.setDown(true);
    const served = await serveFunctions({
      SIGNING_KEY_SECRET: secret,
      SECRET_MANAGER_EMULATOR_HOST: `127.0.0.1:${fake.port}`,
    });
    try {
      const health = await fetch(new URL('/health', served.url('jwks')));
      expect(health.status).toBe(200);
      expect(await readJson(health)).toEqual({ status: 'ok' });
      expect((await fetch(served.url('jwks'))).status).toBe(503);
    } finally {
      fake.setDown(false);
      await served.close();
    }
  });
});
