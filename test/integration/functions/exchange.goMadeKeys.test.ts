/**
 * Keys the Go service made with its own tool (cmd/create-integration: any integration id,
 * `-key-id=ki_custom`), outside the shape we mint, get tokens here and are managed by
 * token-admin; and a name Datastore refuses is a bad key, not an outage.
 */
import type { Datastore } from '@google-cloud/datastore';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { formatApiKey, generateSecret } from '../../../shared/keys/grammar';
import { apiKeyKey, ownerKey, type Namespaces } from '../../../shared/keys/entities';
import { sha256Hex } from '../../../shared/keys/secretHash';
import { cliFor, namespaceEnv, parseJson } from '../../support/cli';
import { testDatastore, testKeyStore, uniqueNamespaces } from '../../support/datastore';
import { postJson, readJson, serveFunctions, type ServedFunctions, type TokenBody } from '../../support/functions';
import { signingKeyFile } from '../../support/signingKeys';

let datastore: Datastore;
let namespaces: Namespaces;
let served: ServedFunctions;
let verify: (token: string) => ReturnType<typeof jwtVerify>;

beforeAll(async () => {
  datastore = testDatastore();
  namespaces = uniqueNamespaces('gomade');
  served = await serveFunctions({
    SIGNING_KEY_FILE: (await signingKeyFile('RS256')).path,
    ...namespaceEnv(namespaces),
  });
  const jwks = createRemoteJWKSet(new URL(served.url('jwks')));
  verify = (token) =>
    jwtVerify(token, jwks, { issuer: 'token-exchange', audience: 'integration', algorithms: ['RS256'] });
});
afterAll(() => served.close());

/** As the Go service's CreateIntegration and CreateAPIKey write them: hex SHA-256, with a tier. */
async function goMadeKey(integrationId: string, keyId: string, tier = 0): Promise<string> {
  await datastore.save({
    key: ownerKey(datastore, 'integration', integrationId, namespaces),
    data: { created_at: new Date(), description: 'Go tool' },
  });
  const secret = generateSecret();
  await datastore.save({
    key: apiKeyKey(datastore, 'integration', integrationId, keyId, namespaces),
    data: {
      key_hash: sha256Hex(secret),
      created_at: new Date(),
      description: 'custom',
      status: 'active',
      tier: datastore.int(tier),
    },
  });
  return formatApiKey({ kind: 'integration', ownerId: integrationId, keyId, secret });
}

const exchange = (apiKey: string): Promise<Response> =>
  postJson(served.url('exchangeIntegration'), { api_key: apiKey });

describe('Go-made keys outside the shape we mint', () => {
  it.each([
    ['a custom key id', 'my-integration', 'ki_custom'],
    ['a key id with a dash', 'speedtest', 'ki_2025-prod'],
    ['an integration id with a colon and a space', 'acme:speed test', 'ki_0123456789abcdef'],
    ['unicode and a slash', 'café/ü', 'ki_é'],
  ])('%s gets a token naming it', async (_, integrationId, keyId) => {
    const apiKey = await goMadeKey(integrationId, keyId, 2);
    const response = await exchange(apiKey);
    expect(response.status).toBe(200);
    const { payload } = await verify((await readJson<TokenBody>(response)).token);
    expect(payload).toMatchObject({ int_id: integrationId, key_id: keyId, tier: 2 });
    // And only with its own secret.
    expect((await exchange(`${apiKey.slice(0, apiKey.lastIndexOf('.'))}.${generateSecret()}`)).status).toBe(401);
  });

  it('token-admin lists, shows, re-tiers, rerolls and revokes them', async () => {
    const integrationId = 'acme:managed key';
    const apiKey = await goMadeKey(integrationId, 'ki_custom');
    const other = await goMadeKey(integrationId, 'ki_2025-prod');
    const cli = cliFor(namespaceEnv(namespaces));

    const listed = parseJson<Array<{ key_id: string; status: string }>>(
      await cli('key', 'list', '--integration', integrationId, '--json'),
    );
    expect(listed.map((k) => k.key_id).sort()).toEqual(['ki_2025-prod', 'ki_custom']);
    expect(parseJson(await cli('key', 'show', '--integration', integrationId, 'ki_custom', '--json'))).toMatchObject({
      key_id: 'ki_custom',
      integration_id: integrationId,
      status: 'active',
      tier: 0,
    });
    expect(parseJson(await cli('integration', 'show', integrationId, '--json'))).toMatchObject({
      integration_id: integrationId,
      active_keys: 2,
    });

    expect((await cli('key', 'set-tier', '--integration', integrationId, 'ki_custom', '--tier', '4')).code).toBe(0);
    const retiered = await exchange(apiKey);
    expect((await verify((await readJson<TokenBody>(retiered)).token)).payload).toMatchObject({
      key_id: 'ki_custom',
      tier: 4,
    });

    const rerolled = parseJson<{ api_key: string; key_id: string; replaces: { key_id: string } }>(
      await cli('key', 'reroll', '--integration', integrationId, 'ki_custom', '--json'),
    );
    expect(rerolled.replaces.key_id).toBe('ki_custom');
    expect(rerolled.key_id).toMatch(/^ki_[0-9a-f]{16}$/); // what we mint stays strict
    expect((await exchange(rerolled.api_key)).status).toBe(200);
    expect((await exchange(apiKey)).status).toBe(200); // within its grace period

    expect((await cli('key', 'revoke', '--integration', integrationId, 'ki_2025-prod')).code).toBe(0);
    expect((await exchange(other)).status).toBe(401);
  });

  it('a new integration still gets an id of the strict shape', async () => {
    const result = await cliFor(namespaceEnv(namespaces))('integration', 'create', 'acme:new one');
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/not valid/);
  });
});

describe('a name Datastore refuses', () => {
  it('is "refused" by the key store (INVALID_ARGUMENT), which the exchange answers as a bad key', async () => {
    const reader = testKeyStore();
    const empty = {
      namespace: namespaces.integrationNamespace,
      path: ['IntegrationMeta', 'x', 'IntegrationAPIKey', ''],
    };
    // Keys as the exchange builds them (KEY_PATHS): the name is sent as it is.
    expect(await reader.get(empty)).toMatchObject({ status: 'refused' });
    const tooLong = { namespace: namespaces.integrationNamespace, path: ['IntegrationMeta', 'x'.repeat(1501)] };
    expect(await reader.getMany([tooLong])).toMatchObject({
      status: 'refused',
      cause: expect.stringMatching(/^INVALID_ARGUMENT:/),
    });
  });
});
