/**
 * The rotation's rules, through the real Secret Manager client against the in-memory server.
 * Times are moved with the fake's createTime and the admin's clock, never waited for.
 */
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AdminError } from '../../../shared/admin/adminError';
import { generateSigningKey } from '../../../shared/signing/signingKey';
import {
  listSigningKeys,
  promoteSigningKey,
  retireSigningKey,
  stageSigningKey,
  type SigningKeyAdminContext,
} from '../../../shared/admin/signingKeyRotation';
import { MAX_PUBLISHED_VERSIONS } from '../../../shared/signing/sources';
import { startFakeSecretManager, type FakeSecretManager } from '../../support/fakeSecretManager';

const SECRET = 'projects/token-exchange-test/secrets/rotation';
const HOUR = 3600_000;
const timing = {
  integrationTokenTtl: 20,
  autojoinTokenTtl: 3600,
  jwksRefreshSeconds: 300,
  jwksMaxAgeSeconds: 3600,
  signingKeyRefreshSeconds: 300,
};

let fake: FakeSecretManager;
let client: SecretManagerServiceClient;
let clock: Date;
let ctx: SigningKeyAdminContext;

beforeAll(async () => {
  fake = await startFakeSecretManager();
  client = fake.client();
});
afterAll(() => fake.stop());
beforeEach(() => {
  fake.reset();
  fake.createSecret(SECRET);
  clock = new Date();
  ctx = { client, secret: SECRET, alias: 'current', timing, now: () => clock };
});

const newKey = async (alg?: 'EdDSA' | 'ES256' | 'RS256'): Promise<string> =>
  JSON.stringify(await generateSigningKey(alg));
const refusal = (code: AdminError['code'], message: RegExp) =>
  expect.objectContaining({ name: 'AdminError', code, message: expect.stringMatching(message) });

/** A secret whose version 1 signs under `current`, published long ago. */
async function signingVersionOne(): Promise<void> {
  await stageSigningKey(ctx, await newKey());
  fake.setCreateTime(`${SECRET}/versions/1`, new Date(clock.getTime() - 24 * HOUR));
  await promoteSigningKey(ctx);
}

describe('stage', () => {
  it('adds a version that is published but not signing, and records its kid', async () => {
    await signingVersionOne();
    const jwk = await newKey('RS256');
    const staged = await stageSigningKey(ctx, jwk);
    expect(staged).toMatchObject({ version: 2, kid: JSON.parse(jwk).kid, alg: 'RS256' });
    expect(staged.promotableAt.getTime() - Date.now()).toBeGreaterThan(HOUR);
    expect(fake.annotations(SECRET)[`token-admin-key-2`]).toBe(`RS256:${JSON.parse(jwk).kid}`);
    const [current] = await client.accessSecretVersion({ name: `${SECRET}/versions/current` });
    expect(current.name).toBe(`${SECRET}/versions/1`);
  });

  it.each([
    ['not JSON', 'not json', /not valid JSON/],
    [
      'a public JWK',
      JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x: 'QLe9IwxPtMaP2mRZRPRZvPf7hu_CXE8F6rRntVq8xNQ' }),
      /public key/,
    ],
    ['a symmetric key', JSON.stringify({ kty: 'oct', k: 'c2VjcmV0' }), /unsupported key type/],
  ])('refuses %s', async (_, payload, message) => {
    await expect(stageSigningKey(ctx, payload)).rejects.toEqual(refusal('invalid-argument', message));
    expect(fake.calls.AddSecretVersion).toBe(0);
  });

  it('refuses a kid the secret already has', async () => {
    const goKey = readFileSync(join(__dirname, '../../fixtures/go-service-ed25519-private.jwk.json'), 'utf8');
    await stageSigningKey(ctx, goKey, { allowNonRsa: true });
    await promoteSigningKey(ctx, { force: true });
    await expect(stageSigningKey(ctx, goKey, { allowNonRsa: true })).rejects.toEqual(
      refusal('already-exists', /version 1 already has kid Kd-Wp0rnXg8rxIRO1ChTbcdd0wtB8jv5_H7RoTOJvLU=/),
    );
  });

  it.each(['EdDSA', 'ES256'] as const)('refuses an %s key, which ESPv2 cannot verify, unless allowed', async (alg) => {
    await signingVersionOne();
    const jwk = await newKey(alg);
    await expect(stageSigningKey(ctx, jwk)).rejects.toEqual(
      refusal('failed-precondition', new RegExp(`refusing to stage an ${alg} key: .*ESPv2.*--allow-non-rsa`)),
    );
    expect(fake.calls.AddSecretVersion).toBe(1);
    await expect(stageSigningKey(ctx, jwk, { allowNonRsa: true })).resolves.toMatchObject({ version: 2, alg });
  });

  it('refuses while signers cannot be reading the alias yet (a secret with keys but no alias)', async () => {
    fake.addVersion(SECRET, await newKey());
    await expect(stageSigningKey(ctx, await newKey())).rejects.toEqual(
      refusal('failed-precondition', /has no alias current/),
    );
  });

  it('refuses when every publishable slot is taken', async () => {
    await signingVersionOne();
    for (let i = 1; i < MAX_PUBLISHED_VERSIONS; i++) await stageSigningKey(ctx, await newKey());
    await expect(stageSigningKey(ctx, await newKey())).rejects.toEqual(
      refusal('failed-precondition', /retire one first/),
    );
  });
});

describe('promote', () => {
  it('refuses until the staged version has been published longer than the JWKS max-age plus the refresh', async () => {
    await signingVersionOne();
    await stageSigningKey(ctx, await newKey());
    fake.setCreateTime(`${SECRET}/versions/2`, new Date(clock.getTime() - 3600_000 - 299_000));
    await expect(promoteSigningKey(ctx)).rejects.toEqual(
      refusal('failed-precondition', /promote it after .*, or pass --force/),
    );

    fake.setCreateTime(`${SECRET}/versions/2`, new Date(clock.getTime() - 3600_000 - 300_000));
    await expect(promoteSigningKey(ctx)).resolves.toMatchObject({ version: 2, previous: 1, forced: false });
    expect(fake.annotations(SECRET)['token-admin-stopped-1']).toBe(clock.toISOString());
  });

  it('with force, promotes at once', async () => {
    await signingVersionOne();
    await stageSigningKey(ctx, await newKey());
    await expect(promoteSigningKey(ctx, { force: true })).resolves.toMatchObject({ version: 2, forced: true });
    const [current] = await client.accessSecretVersion({ name: `${SECRET}/versions/current` });
    expect(current.name).toBe(`${SECRET}/versions/2`);
  });

  it('refuses the version already signing, a disabled one, and when nothing is staged', async () => {
    await signingVersionOne();
    await expect(promoteSigningKey(ctx)).rejects.toEqual(refusal('failed-precondition', /no staged version/));
    await expect(promoteSigningKey(ctx, { version: 1 })).rejects.toEqual(
      refusal('failed-precondition', /already the current version/),
    );
    await stageSigningKey(ctx, await newKey());
    fake.setVersionState(`${SECRET}/versions/2`, 'DISABLED');
    await expect(promoteSigningKey(ctx, { version: 2, force: true })).rejects.toEqual(
      refusal('failed-precondition', /disabled, so not published/),
    );
    await expect(promoteSigningKey(ctx, { version: 9 })).rejects.toEqual(
      refusal('not-found', /version 9 does not exist/),
    );
  });
});

describe('retire', () => {
  async function rotated(): Promise<void> {
    await signingVersionOne();
    await stageSigningKey(ctx, await newKey('ES256'), { allowNonRsa: true });
    await promoteSigningKey(ctx, { force: true });
  }

  it('refuses the version the alias points at, even with force', async () => {
    await rotated();
    await expect(retireSigningKey(ctx, { version: 2, force: true })).rejects.toEqual(
      refusal('failed-precondition', /is the current version/),
    );
  });

  it('refuses until instances have re-read the alias and the longest token lifetime has passed', async () => {
    await rotated();
    const promotedAt = clock;
    clock = new Date(promotedAt.getTime() + 3899_000);
    await expect(retireSigningKey(ctx, { version: 1 })).rejects.toEqual(
      refusal('failed-precondition', /stopped signing at .* retire it after .*, or pass --force/),
    );
    clock = new Date(promotedAt.getTime() + 3900_000);
    await expect(retireSigningKey(ctx, { version: 1 })).resolves.toEqual({
      version: 1,
      alreadyDisabled: false,
      forced: false,
    });
    const listed = await listSigningKeys(ctx);
    expect(listed.map((v) => [v.version, v.state, v.role, v.aliases])).toEqual([
      [2, 'ENABLED', 'signing', ['current']],
      [1, 'DISABLED', 'disabled', []],
    ]);
    expect(listed[1]?.kid).toBeDefined(); // from the annotation: a disabled payload cannot be read
    await expect(retireSigningKey(ctx, { version: 1 })).resolves.toMatchObject({ alreadyDisabled: true });
  });

  it('with force, retires at once', async () => {
    await rotated();
    await expect(retireSigningKey(ctx, { version: 1, force: true })).resolves.toMatchObject({ forced: true });
  });

  it('retires a staged version that never signed; refuses one with no record of when it stopped', async () => {
    await signingVersionOne();
    await stageSigningKey(ctx, await newKey());
    await expect(retireSigningKey(ctx, { version: 2 })).resolves.toMatchObject({ forced: false });

    fake.reset();
    fake.createSecret(SECRET);
    fake.addVersion(SECRET, await newKey());
    fake.addVersion(SECRET, await newKey());
    fake.setAlias(SECRET, 'current', 2);
    await expect(retireSigningKey(ctx, { version: 1 })).rejects.toEqual(
      refusal('failed-precondition', /no record of when version 1 stopped signing/),
    );
  });
});

describe('list', () => {
  it('names each version with its kid, alg, state, alias and role', async () => {
    await signingVersionOne();
    const staged = await stageSigningKey(ctx, await newKey('ES256'), { allowNonRsa: true });
    const listed = await listSigningKeys(ctx);
    expect(listed.map((v) => [v.version, v.alg, v.state, v.aliases, v.role])).toEqual([
      [2, 'ES256', 'ENABLED', [], 'staged'],
      [1, 'RS256', 'ENABLED', ['current'], 'signing'],
    ]);
    expect(listed[0]).toMatchObject({ kid: staged.kid, promotableAt: staged.promotableAt });
  });
});
