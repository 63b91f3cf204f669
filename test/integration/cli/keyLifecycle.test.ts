/**
 * The scenario, end to end: keys made with the CLI, exchanged by the functions served
 * over real sockets, tokens checked against the JWKS fetched over HTTP.
 *   create → token → revoke → 401 → reroll → the new key works, the old one until its grace ends.
 */
import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { Namespaces } from '../../../shared/keys/entities';
import { cliFor, namespaceEnv, parseJson, type CliResult } from '../../support/cli';
import { uniqueNamespaces } from '../../support/datastore';
import { postJson, readJson, serveFunctions, type ServedFunctions, type TokenBody } from '../../support/functions';
import { uniqueId } from '../../support/seed';
import { signingKeyFile } from '../../support/signingKeys';

let namespaces: Namespaces;
let served: ServedFunctions;
let cli: (...argv: string[]) => Promise<CliResult>;
let verify: (token: string, audience: string) => ReturnType<typeof jwtVerify>;

beforeAll(async () => {
  namespaces = uniqueNamespaces('cli-life');
  const key = await signingKeyFile('EdDSA');
  served = await serveFunctions({ SIGNING_KEY_FILE: key.path, ...namespaceEnv(namespaces) });
  cli = cliFor(namespaceEnv(namespaces));
  const jwks = createRemoteJWKSet(new URL(served.url('jwks')));
  verify = (token, audience) => jwtVerify(token, jwks, { issuer: 'token-exchange', audience, algorithms: ['EdDSA'] });
});
afterAll(() => served.close());

async function exchange(kind: 'integration' | 'autojoin', apiKey: string): Promise<Response> {
  return postJson(served.url(kind === 'integration' ? 'exchangeIntegration' : 'exchangeAutojoin'), { api_key: apiKey });
}

async function tokenFor(kind: 'integration' | 'autojoin', apiKey: string): Promise<Record<string, unknown>> {
  const response = await exchange(kind, apiKey);
  expect(response.status).toBe(200);
  const { token } = await readJson<TokenBody>(response);
  return (await verify(token, kind)).payload;
}

async function waitUntilPast(time: string): Promise<void> {
  const until = Date.parse(time);
  while (Date.now() <= until)
    await new Promise((resolve) => setTimeout(resolve, Math.max(10, until - Date.now() + 10)));
}

describe('an integration key through its whole life with token-admin', () => {
  it('issues tokens until revoked; a reroll hands over with a grace period, then the old key is refused', async () => {
    const integration = uniqueId('speedtest');
    expect((await cli('integration', 'create', integration, '--description', 'Example Speed Test')).code).toBe(0);

    const created = parseJson<{ api_key: string; key_id: string; tier: number; warning: string }>(
      await cli('key', 'create', '--integration', integration, '--tier', '2', '--description', 'production', '--json'),
    );
    expect(created.warning).toMatch(/cannot be shown again/);
    expect(created.api_key).toMatch(new RegExp(`^mlabk\\.cii_${integration}\\.${created.key_id}\\.[A-Za-z0-9_-]{43}$`));
    await expect(tokenFor('integration', created.api_key)).resolves.toMatchObject({
      int_id: integration,
      key_id: created.key_id,
      tier: 2,
    });

    const revoked = await cli('key', 'revoke', '--integration', integration, created.key_id);
    expect(revoked).toMatchObject({ code: 0, stdout: `revoked key ${created.key_id} of integration ${integration}\n` });
    expect((await exchange('integration', created.api_key)).status).toBe(401);

    const second = parseJson<{ api_key: string; key_id: string }>(
      await cli('key', 'create', '--integration', integration, '--description', 'staging', '--json'),
    );
    const rerolled = parseJson<{ api_key: string; key_id: string; replaces: { key_id: string; expires_at: string } }>(
      await cli('key', 'reroll', '--integration', integration, second.key_id, '--grace', '3s', '--json'),
    );
    expect(rerolled.replaces.key_id).toBe(second.key_id);
    expect(rerolled.key_id).not.toBe(second.key_id);
    await expect(tokenFor('integration', rerolled.api_key)).resolves.toMatchObject({
      key_id: rerolled.key_id,
      tier: 0,
    });
    await expect(tokenFor('integration', second.api_key)).resolves.toMatchObject({ key_id: second.key_id });

    await waitUntilPast(rerolled.replaces.expires_at);
    expect((await exchange('integration', second.api_key)).status).toBe(401);
    await expect(tokenFor('integration', rerolled.api_key)).resolves.toMatchObject({ key_id: rerolled.key_id });

    const listed = parseJson<Array<{ key_id: string; status: string; description: string }>>(
      await cli('key', 'list', '--integration', integration, '--json'),
    );
    expect(listed.map((k) => [k.key_id, k.status, k.description])).toEqual([
      [created.key_id, 'revoked', 'production'],
      [second.key_id, 'expired', 'staging'],
      [rerolled.key_id, 'active', 'staging'],
    ]);
  });

  it('prints the key once on stdout, with the warning on stderr, and never again', async () => {
    const integration = uniqueId('once');
    await cli('integration', 'create', integration);
    const created = await cli('key', 'create', '--integration', integration, '--expires-in', '90d');
    expect(created.code).toBe(0);
    const apiKey = created.stdout.trim();
    expect(apiKey).toMatch(/^mlabk\.cii_/);
    expect(created.stderr).toMatch(/shown only once: it cannot be shown again/);
    const secret = apiKey.split('.').pop() as string;

    const outputs = [
      await cli('key', 'list', '--integration', integration),
      await cli('key', 'list', '--integration', integration, '--json'),
      await cli('integration', 'show', integration),
      await cli('integration', 'show', integration, '--json'),
      await cli('integration', 'list', '--json'),
    ];
    for (const output of outputs) {
      expect(output.code).toBe(0);
      expect(output.stdout + output.stderr).not.toContain(secret);
      expect(output.stdout).not.toMatch(/\$2[aby]\$|key_hash/);
    }
  });

  it('set-tier changes the tier of the next token', async () => {
    const integration = uniqueId('tier');
    await cli('integration', 'create', integration);
    const created = parseJson<{ api_key: string; key_id: string }>(
      await cli('key', 'create', '--integration', integration, '--json'),
    );
    expect(await cli('key', 'set-tier', '--integration', integration, created.key_id, '--tier', '5')).toMatchObject({
      code: 0,
    });
    await expect(tokenFor('integration', created.api_key)).resolves.toMatchObject({ tier: 5 });
  });

  it('an organisation key works at exchangeAutojoin, and a key that expired is refused', async () => {
    const org = uniqueId('org');
    await cli('org', 'create', org, '--email', 'ops@example.org');
    const created = parseJson<{ api_key: string; key_id: string }>(await cli('key', 'create', '--org', org, '--json'));
    await expect(tokenFor('autojoin', created.api_key)).resolves.toMatchObject({ org });

    const shortLived = parseJson<{ api_key: string; expires_at: string }>(
      await cli('key', 'create', '--org', org, '--expires-in', '1s', '--json'),
    );
    await waitUntilPast(shortLived.expires_at);
    expect((await exchange('autojoin', shortLived.api_key)).status).toBe(401);
  });
});
