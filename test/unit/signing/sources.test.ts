/**
 * The signing key from Secret Manager over its REST API, as the functions read it, against
 * the in-memory stand-in's REST face (Secret Manager has no emulator). The HTTPS face, with
 * tokens, is the production rehearsal's.
 */
import { claimsFor } from '../../../shared/exchange/claims';
import { googleApi, type GoogleApi } from '../../../shared/platform/googleRest';
import { JwksPublisher } from '../../../shared/signing/jwksPublisher';
import type { LogEntry } from '../../../shared/platform/log';
import { generateSigningKey } from '../../../shared/signing/signingKey';
import { MAX_PUBLISHED_VERSIONS, secretManagerSource } from '../../../shared/signing/sources';
import { TokenSigner } from '../../../shared/signing/signer';
import { startFakeSecretManager, type FakeSecretManager } from '../../support/fakeSecretManager';

const SECRET = 'projects/token-exchange-test/secrets/signing-key';
const key = { kind: 'autojoin', ownerId: 'mlab', keyId: 'ki_0123456789abcdef', tier: 0 } as const;
const settings = { issuer: 'token-exchange', integrationTokenTtl: 20, autojoinTokenTtl: 3600 };

let fake: FakeSecretManager;
let client: GoogleApi;

beforeAll(async () => {
  fake = await startFakeSecretManager();
  client = googleApi({ endpoint: 'secretmanager.googleapis.com', emulatorHost: `127.0.0.1:${fake.port}` });
});
afterAll(() => fake.stop());

/** The version's number: Secret Manager names versions with the project number, not its id. */
const numberOf = (version: string): string => version.slice(version.lastIndexOf('/') + 1);
beforeEach(() => {
  fake.reset();
  fake.createSecret(SECRET);
});

async function addKey(alg: 'EdDSA' | 'ES256' | 'RS256' = 'EdDSA'): Promise<{ kid: string; version: string }> {
  const jwk = await generateSigningKey(alg);
  return { kid: jwk.kid as string, version: fake.addVersion(SECRET, JSON.stringify(jwk)) };
}

describe('the signing key in Secret Manager', () => {
  it('reads the latest version, a numbered version and an alias', async () => {
    const first = await addKey();
    const second = await addKey();
    fake.setAlias(SECRET, 'current', 1);
    const kidOf = async (version: string): Promise<string> =>
      JSON.parse(await secretManagerSource(client, SECRET, version).signingKey()).kid;
    await expect(kidOf('latest')).resolves.toBe(second.kid);
    await expect(kidOf('1')).resolves.toBe(first.kid);
    await expect(kidOf('current')).resolves.toBe(first.kid);
  });

  it('publishes every enabled version, newest first, at most a few', async () => {
    const added = [];
    for (let i = 0; i < MAX_PUBLISHED_VERSIONS + 2; i++) added.push(await addKey(i % 2 ? 'ES256' : 'EdDSA'));
    fake.setVersionState(added[added.length - 2].version, 'DISABLED');
    const published = await secretManagerSource(client, SECRET, 'latest').publishedKeys();
    const expected = added
      .filter((_, i) => i !== added.length - 2)
      .reverse()
      .slice(0, MAX_PUBLISHED_VERSIONS);
    expect(published.map((p) => p.version)).toEqual(
      expected.map((a) => `projects/123456789012/secrets/signing-key/versions/${numberOf(a.version)}`),
    );
    expect(published.map((p) => JSON.parse(p.jwk).kid)).toEqual(expected.map((a) => a.kid));
  });

  it('rides out one UNAVAILABLE with the retry', async () => {
    const added = await addKey();
    fake.failNext('AccessSecretVersion', 1);
    const jwk = await secretManagerSource(client, SECRET, 'latest').signingKey();
    expect(JSON.parse(jwk).kid).toBe(added.kid);
    expect(fake.calls.AccessSecretVersion).toBe(2);
  });

  it('a first read that fails is retried by the next signature, which succeeds', async () => {
    await addKey();
    fake.failNext('AccessSecretVersion', 2);
    const signer = TokenSigner.fromSource(secretManagerSource(client, SECRET, 'latest'));
    await expect(signer.sign(claimsFor(key, settings))).rejects.toThrow(/UNAVAILABLE/);
    await expect(signer.sign(claimsFor(key, settings))).resolves.toMatch(/^ey/);
    await signer.sign(claimsFor(key, settings));
    expect(fake.calls.AccessSecretVersion).toBe(3);
  });

  it("names the call and Google's status when refused, never the payload", async () => {
    await addKey();
    fake.setVersionState(`${SECRET}/versions/1`, 'DISABLED');
    const read = secretManagerSource(client, SECRET, '1').signingKey();
    await expect(read).rejects.toThrow(`Secret Manager access to ${SECRET}/versions/1: FAILED_PRECONDITION (HTTP 400)`);
    await expect(secretManagerSource(client, SECRET, 'missing-alias').signingKey()).rejects.toThrow(/NOT_FOUND/);
  });

  it('refuses a payload whose CRC32C does not match (a corrupted read must not sign)', async () => {
    await addKey();
    fake.corruptNextChecksum();
    await expect(secretManagerSource(client, SECRET, 'latest').signingKey()).rejects.toThrow(/DATA_LOSS/);
  });
});

describe('JwksPublisher', () => {
  function publisher(refreshMs: number, clock: { t: number }, logs: LogEntry[] = []): JwksPublisher {
    return new JwksPublisher(
      secretManagerSource(client, SECRET, 'latest'),
      refreshMs,
      (e) => logs.push(e),
      () => clock.t,
    );
  }

  it('shows a new version after the refresh interval, without a restart', async () => {
    const first = await addKey();
    const clock = { t: 0 };
    const jwks = publisher(1000, clock);
    expect((await jwks.current()).keys.map((k) => k.kid)).toEqual([first.kid]);
    const second = await addKey('RS256');
    expect((await jwks.current()).keys.map((k) => k.kid)).toEqual([first.kid]);
    clock.t = 1000;
    await jwks.current(); // starts the refresh, serves the old set meanwhile
    await new Promise((resolve) => setTimeout(resolve, 200));
    const refreshed = await jwks.current();
    expect(refreshed.keys.map((k) => k.kid)).toEqual([second.kid, first.kid]);
    expect(JSON.parse(refreshed.body)).toEqual({ keys: refreshed.keys });
    expect(refreshed.body).not.toMatch(/"d"/);
  });

  it('keeps the last good set when a refresh fails', async () => {
    const first = await addKey();
    const clock = { t: 0 };
    const logs: LogEntry[] = [];
    const jwks = publisher(1000, clock, logs);
    const before = await jwks.current();
    fake.failNext('ListSecretVersions', 5);
    clock.t = 5000;
    await jwks.current();
    await new Promise((resolve) => setTimeout(resolve, 200));
    await expect(jwks.current()).resolves.toEqual(before);
    expect(before.keys[0]?.kid).toBe(first.kid);
    expect(logs.some((l) => l.severity === 'ERROR')).toBe(true);
  });

  it('leaves out a version that is not a usable key and says so, publishing the rest', async () => {
    const good = await addKey();
    const bad = fake.addVersion(SECRET, '{"kty":"oct","k":"c2VjcmV0"}');
    const logs: LogEntry[] = [];
    const published = await publisher(1000, { t: 0 }, logs).current();
    expect(published.keys.map((k) => k.kid)).toEqual([good.kid]);
    expect(logs.map((l) => l.message)).toEqual([expect.stringContaining(`versions/${numberOf(bad)} is not published`)]);
    expect(JSON.stringify(logs)).not.toContain('c2VjcmV0');
  });

  it('fails while the first read fails, and reads again on the next request (no cached failure)', async () => {
    const good = await addKey();
    const logs: LogEntry[] = [];
    const jwks = publisher(1000, { t: 0 }, logs);
    fake.failNext('ListSecretVersions', 2);
    await expect(jwks.current()).rejects.toThrow(/UNAVAILABLE/);
    const failure = { severity: 'ERROR', message: expect.stringContaining('cannot read the signing keys') };
    expect(logs).toEqual([expect.objectContaining(failure)]);
    expect((await jwks.current()).keys.map((k) => k.kid)).toEqual([good.kid]);
  });

  it('fails when no version holds a usable key', async () => {
    fake.addVersion(SECRET, '{"kty":"oct","k":"c2VjcmV0"}');
    await expect(publisher(1000, { t: 0 }).current()).rejects.toThrow('no usable signing key to publish');
  });
});
