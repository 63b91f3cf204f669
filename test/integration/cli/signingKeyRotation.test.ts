/**
 * A full signing-key rotation with token-admin, while the functions serve tokens from
 * Secret Manager (the in-memory server, through the real client). A verifier that fetched
 * the JWKS once, after `stage`, verifies every token issued before and after `promote`.
 * Instances re-read the alias every SIGNING_KEY_REFRESH_SECONDS (1 s here), so an instance
 * started before `promote` switches to the new key by itself, without a redeploy.
 */
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Namespaces } from '../../../shared/keys/entities';
import { espv2Warning } from '../../../shared/signing/signingKey';
import { cliFor, namespaceEnv, parseJson, runCli, type CliResult } from '../../support/cli';
import { testDatastore, uniqueNamespaces } from '../../support/datastore';
import { startFakeSecretManager, type FakeSecretManager } from '../../support/fakeSecretManager';
import { postJson, readJson, serveFunctions, type ServedFunctions, type TokenBody } from '../../support/functions';
import { newAutojoinKey, newIntegrationKey } from '../../support/seed';

const SECRET = 'projects/token-exchange-test/secrets/cli-rotation';
const HOUR = 3600_000;

let fake: FakeSecretManager;
let namespaces: Namespaces;
const instances: ServedFunctions[] = [];

beforeAll(async () => {
  fake = await startFakeSecretManager();
  namespaces = uniqueNamespaces('cli-rotation');
});
afterAll(async () => {
  await Promise.all(instances.map((i) => i.close()));
  await fake.stop();
});

function env(): Record<string, string> {
  return {
    ...namespaceEnv(namespaces),
    SECRET_MANAGER_EMULATOR_HOST: `127.0.0.1:${fake.port}`,
    SIGNING_KEY_SECRET: SECRET,
    SIGNING_KEY_VERSION: 'current',
    SIGNING_KEY_REFRESH_SECONDS: '1',
  };
}

/** A new instance of the functions: it reads the alias at its cold start, then every second. */
async function coldStart(): Promise<ServedFunctions> {
  const served = await serveFunctions({ ...env(), JWKS_REFRESH_SECONDS: '1' });
  instances.push(served);
  return served;
}

async function integrationToken(served: ServedFunctions, apiKey: string): Promise<string> {
  const response = await postJson(served.url('exchangeIntegration'), { api_key: apiKey });
  expect(response.status).toBe(200);
  return (await readJson<TokenBody>(response)).token;
}

async function autojoinToken(served: ServedFunctions, apiKey: string): Promise<string> {
  const response = await postJson(served.url('exchangeAutojoin'), { api_key: apiKey });
  expect(response.status).toBe(200);
  return (await readJson<TokenBody>(response)).token;
}

describe('token-admin signing-key: a full rotation', () => {
  it('stage → promote → retire, with no token left unverifiable', async () => {
    fake.createSecret(SECRET);
    const datastore = testDatastore();
    const integrationKey = await newIntegrationKey(datastore, namespaces);
    const autojoinKey = await newAutojoinKey(datastore, namespaces);
    let clock = new Date();
    const cli: (...argv: string[]) => Promise<CliResult> = cliFor(env(), () => clock);

    // The first key of a new secret: nothing was ever published, so promote takes --force.
    const first = parseJson<{ version: number; kid: string }>(
      await cli('signing-key', 'stage', '--alg', 'EdDSA', '--allow-non-rsa', '--json'),
    );
    expect(first.version).toBe(1);
    const early = await cli('signing-key', 'promote');
    expect(early.code).toBe(1);
    // The instances here re-read the alias every second: token-admin says its waits are not production's.
    const note =
      'note: waits shortened by SIGNING_KEY_REFRESH_SECONDS=1: promote after 3900 s, retire after 3601 s; ' +
      'production (the defaults) waits 3900 s and 3900 s\n';
    expect(early.stderr.slice(0, note.length)).toBe(note);
    expect(early.stderr.slice(note.length)).toMatch(
      /^token-admin: version 1 has been published since .*, or pass --force\n$/,
    );
    expect(parseJson(await cli('signing-key', 'promote', '--force', '--json'))).toMatchObject({
      version: 1,
      alias: 'current',
      forced: true,
    });

    const before = await coldStart();
    const tokensBefore = [await integrationToken(before, integrationKey), await autojoinToken(before, autojoinKey)];

    // Stage the next key; a verifier fetches the JWKS now, once, and never again.
    const staged = parseJson<{ version: number; kid: string }>(
      await cli('signing-key', 'stage', '--alg', 'ES256', '--allow-non-rsa', '--json'),
    );
    expect(staged.version).toBe(2);
    const afterStage = await coldStart();
    const jwks = createRemoteJWKSet(new URL(afterStage.url('jwks')), {
      cooldownDuration: 24 * HOUR,
      cacheMaxAge: Infinity,
    });
    await jwks.reload();
    expect(jwks.jwks()?.keys.map((k) => k.kid)).toEqual([staged.kid, first.kid]);
    const jwksFetches = (): number => afterStage.logs.filter((entry) => entry.function === 'jwks').length;
    const fetchesAfterStage = jwksFetches();
    const verify = (token: string, audience: string) => jwtVerify(token, jwks, { issuer: 'token-exchange', audience });

    // Staged, not signing: the old instance and a new one both still sign with version 1.
    const tokensWhileStaged = [
      await integrationToken(before, integrationKey),
      await autojoinToken(afterStage, autojoinKey),
    ];
    for (const token of tokensWhileStaged) expect(decodeProtectedHeader(token).kid).toBe(first.kid);

    const refused = await cli('signing-key', 'promote');
    expect(refused).toMatchObject({ code: 1, stdout: '' });
    expect(refused.stderr).toMatch(/verifiers may cache the JWKS for 3900 s, so promote it after /);

    // An hour and then some later (the fake's createTime stands in for waiting).
    fake.setCreateTime(`${SECRET}/versions/2`, new Date(clock.getTime() - 2 * HOUR));
    const promoted = await cli('signing-key', 'promote');
    expect(promoted).toMatchObject({
      code: 0,
      stdout: `current is now version 2 (kid ${staged.kid}); version 1 stopped signing: retire it after 3601 s\n`,
    });

    const after = await coldStart();
    const tokensAfter = [await integrationToken(after, integrationKey), await autojoinToken(after, autojoinKey)];
    for (const token of tokensAfter)
      expect(decodeProtectedHeader(token)).toMatchObject({ kid: staged.kid, alg: 'ES256' });
    // An instance from before the promote signs with version 1 until its next re-read of the
    // alias, then with version 2: no redeploy.
    const tokensFromOldInstance = [await autojoinToken(before, autojoinKey)];
    const switchDeadline = Date.now() + 15_000;
    while (
      decodeProtectedHeader(tokensFromOldInstance.at(-1) as string).kid !== staged.kid &&
      Date.now() < switchDeadline
    ) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      tokensFromOldInstance.push(await integrationToken(before, integrationKey));
    }
    expect(decodeProtectedHeader(tokensFromOldInstance.at(-1) as string).kid).toBe(staged.kid);

    for (const token of [...tokensBefore, ...tokensWhileStaged, ...tokensAfter, ...tokensFromOldInstance]) {
      const { payload } = await verify(token, decodeJwt(token).aud as string);
      expect(payload.iss).toBe('token-exchange');
    }
    expect(jwksFetches()).toBe(fetchesAfterStage);

    // Retire: never the signing version; the old one once its last token has expired.
    expect((await cli('signing-key', 'retire', '2', '--force')).stderr).toMatch(
      /version 2 is the current version and may be signing/,
    );
    const tooSoon = await cli('signing-key', 'retire', '1');
    expect(tooSoon.code).toBe(1);
    expect(tooSoon.stderr).toMatch(
      /version 1 stopped signing at .*; instances may sign with it for 1 s more and tokens live up to 3600 s: retire it after .*, or pass --force\n$/,
    );
    clock = new Date(clock.getTime() + HOUR + 5000);
    expect(await cli('signing-key', 'retire', '1')).toMatchObject({
      code: 0,
      stdout: 'disabled version 1: jwks stops publishing it at its next refresh\n',
    });

    const listed = await cli('signing-key', 'list');
    const rows = listed.stdout
      .trimEnd()
      .split('\n')
      .map((line) => line.split(/\s{2,}/));
    expect(rows[0]).toEqual(['VERSION', 'KID', 'ALG', 'STATE', 'ALIAS', 'ROLE', 'CREATED', 'NEXT']);
    expect(rows.slice(1).map((r) => r.slice(0, 6))).toEqual([
      ['2', staged.kid, 'ES256', 'ENABLED', 'current', 'signing'],
      ['1', first.kid, 'EdDSA', 'DISABLED', '-', 'disabled'],
    ]);
    const published = await readJson<{ keys: Array<{ kid: string }> }>(await fetch((await coldStart()).url('jwks')));
    expect(published.keys.map((k) => k.kid)).toEqual([staged.kid]);
  });
});

describe('token-admin signing-key generate and stage from a file', () => {
  it('writes a private JWK with kid to a new file, mode 0600, that stage accepts', async () => {
    const secret = `${SECRET}-file`;
    fake.createSecret(secret);
    const dir = mkdtempSync(join(tmpdir(), 'token-admin-'));
    const file = join(dir, 'key.jwk.json');
    const generated = await runCli(['signing-key', 'generate', '--alg', 'RS256', '--out', file]);
    expect(generated.code).toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const jwk = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
    expect(jwk).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig', kid: expect.any(String), d: expect.any(String) });
    expect(generated.stdout).toBe(`wrote a private RS256 JWK, kid ${jwk.kid}, to ${file}\n`);
    // never overwrites
    expect((await runCli(['signing-key', 'generate', '--alg', 'RS256', '--out', file])).code).toBe(1);

    const stage = (...argv: string[]) =>
      runCli(['signing-key', 'stage', ...argv, '--secret', secret], {
        env: { SECRET_MANAGER_EMULATOR_HOST: `127.0.0.1:${fake.port}` },
      });
    expect((await stage(file)).stdout).toMatch(new RegExp(`^staged version 1 \\(RS256, kid ${jwk.kid}\\)`));
    const publicOnly = join(dir, 'public.jwk.json');
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicJwk } = jwk;
    writeFileSync(publicOnly, JSON.stringify(publicJwk));
    expect(await stage(publicOnly)).toMatchObject({ code: 2, stderr: expect.stringMatching(/public key/) });
  });

  it('warns on stderr when the private key would go to a terminal', async () => {
    const result = await runCli(['signing-key', 'generate', '--alg', 'EdDSA'], { stdoutIsTTY: true });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ kty: 'OKP', crv: 'Ed25519', d: expect.any(String) });
    expect(result.stderr).toMatch(/^warning: this is a private key/m);
  });

  it('generates RS256 by default; EdDSA and ES256 come with one line saying ESPv2 cannot verify them', async () => {
    const rsa = await runCli(['signing-key', 'generate']);
    expect(JSON.parse(rsa.stdout)).toMatchObject({ kty: 'RSA', alg: 'RS256' });
    expect(Buffer.from(JSON.parse(rsa.stdout).n, 'base64url')).toHaveLength(256); // RSA 2048
    expect(rsa.stderr).toBe('');
    for (const alg of ['EdDSA', 'ES256']) {
      const other = await runCli(['signing-key', 'generate', '--alg', alg]);
      expect(other).toMatchObject({ code: 0, stderr: `${espv2Warning(alg as 'EdDSA')}\n` });
      expect(other.stderr).toMatch(/^warning: .*Cloud Endpoints \(ESPv2\) cannot verify/);
    }
  });

  it('stage generates RS256 without a file, and refuses an EdDSA or ES256 key without --allow-non-rsa', async () => {
    const secret = `${SECRET}-algs`;
    fake.createSecret(secret);
    const stage = (...argv: string[]) =>
      runCli(['signing-key', 'stage', ...argv, '--secret', secret], {
        env: { SECRET_MANAGER_EMULATOR_HOST: `127.0.0.1:${fake.port}` },
      });
    const generated = await stage('--json');
    expect(parseJson(generated)).toMatchObject({ version: 1, alg: 'RS256' });
    expect(generated.stderr).toBe('');
    await runCli(['signing-key', 'promote', '--force', '--secret', secret], {
      env: { SECRET_MANAGER_EMULATOR_HOST: `127.0.0.1:${fake.port}` },
    });

    const refused = await stage('--alg', 'EdDSA');
    expect(refused).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^token-admin: refusing to stage an EdDSA key: .*ESPv2.*--allow-non-rsa/),
    });
    const allowed = await stage('--alg', 'ES256', '--allow-non-rsa');
    expect(allowed).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^staged version 2 \(ES256/),
      stderr: `${espv2Warning('ES256')}\n`,
    });
  });

  it('needs the secret and an alias, named in one line', async () => {
    const noSecret = await runCli(['signing-key', 'list'], { env: { SIGNING_KEY_SECRET: undefined } });
    expect(noSecret).toMatchObject({
      code: 2,
      stderr:
        'token-admin: no signing-key secret: ' +
        'pass --secret projects/<project>/secrets/<name> or set SIGNING_KEY_SECRET\n',
    });
    const latest = await runCli(['signing-key', 'list', '--secret', SECRET], {
      env: { SIGNING_KEY_VERSION: 'latest' },
    });
    expect(latest.code).toBe(1);
    expect(latest.stderr).toMatch(/^token-admin: SIGNING_KEY_VERSION is "latest", not an alias/);
  });
});
