/**
 * A key's last use, end to end: exchanges through the functions served over real sockets
 * record it beside the key's record, and token-admin shows it (key list/show, the owners'
 * listings, --unused-for, a reroll's grace). Every kind of key: scoped integration and
 * autojoin keys, and a Go-made flat key nobody migrated.
 */
import type { Datastore } from '@google-cloud/datastore';
import { apiKeyKey, lastUseKey, KEY_PATHS, type Namespaces } from '../../../shared/keys/entities';
import { generateKeyId, generateSecret, formatApiKey, legacyKeyId, legacyKeyName } from '../../../shared/keys/grammar';
import { sha256Hex } from '../../../shared/keys/secretHash';
import { createIntegration, createOrganization } from '../../../shared/admin/owners';
import { cliFor, namespaceEnv, parseJson, type CliResult } from '../../support/cli';
import { testDatastore, uniqueNamespaces } from '../../support/datastore';
import { postJson, serveFunctions, type ServedFunctions } from '../../support/functions';
import { goServiceIntegrationKey, newAutojoinKey, newIntegrationKey, uniqueId } from '../../support/seed';
import { signingKeyFile } from '../../support/signingKeys';

let namespaces: Namespaces;
let datastore: Datastore;
let served: ServedFunctions;
let cli: (...argv: string[]) => Promise<CliResult>;

beforeAll(async () => {
  namespaces = uniqueNamespaces('last-use');
  datastore = testDatastore();
  served = await serveFunctions({
    SIGNING_KEY_FILE: (await signingKeyFile('RS256')).path,
    ...namespaceEnv(namespaces),
  });
  cli = cliFor(namespaceEnv(namespaces));
});
afterAll(() => served.close());

const exchange = (path: 'exchangeIntegration' | 'exchangeAutojoin', apiKey: string) =>
  postJson(served.url(path), { api_key: apiKey });

interface KeyJson {
  key_id: string;
  status: string;
  last_used_at: string | null;
  replaced_by?: string;
  replaces?: string;
  used_since_replaced?: boolean;
}

/** The write starts after the answer is sent: poll `key show` until it lands. */
async function lastUsedOf(option: string, owner: string, keyId: string): Promise<string | null> {
  const until = Date.now() + 10_000;
  for (;;) {
    const shown = parseJson<KeyJson>(await cli('key', 'show', option, owner, keyId, '--json'));
    if (shown.last_used_at !== null || Date.now() > until) return shown.last_used_at;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('last use', () => {
  it('an integration key: never, then its exchange time, in key list/show and integration list/show', async () => {
    const apiKey = await newIntegrationKey(datastore, namespaces);
    const [, integrationId, keyId] = /^mlabk\.cii_([^.]+)\.([^.]+)\./.exec(apiKey) as RegExpExecArray;
    const before = parseJson<KeyJson>(await cli('key', 'show', '--integration', integrationId, keyId, '--json'));
    expect(before.last_used_at).toBeNull();
    expect((await cli('key', 'list', '--integration', integrationId)).stdout).toMatch(/LAST USED[\s\S]*\snever\s/);

    const sent = new Date();
    expect((await exchange('exchangeIntegration', apiKey)).status).toBe(200);
    const used = await lastUsedOf('--integration', integrationId, keyId);
    expect(used).not.toBeNull();
    expect(Math.abs(Date.parse(used as string) - sent.getTime())).toBeLessThan(10_000);

    const table = (await cli('key', 'list', '--integration', integrationId)).stdout;
    expect(table).toContain((used as string).replace(/\.\d{3}Z$/, 'Z'));
    const listed = parseJson<Array<{ integration_id: string; last_used_at: string | null }>>(
      await cli('integration', 'list', '--json'),
    );
    expect(listed.find((i) => i.integration_id === integrationId)?.last_used_at).toBe(used);
    expect((await cli('integration', 'show', integrationId)).stdout).toMatch(/last used:\s+\d{4}-/);
  });

  it('is a record of its own: the key record the Go service reads is left as it was', async () => {
    const go = await goServiceIntegrationKey(datastore, namespaces);
    const recordKey = apiKeyKey(datastore, 'integration', go.integrationId, go.keyId, namespaces);
    const [stored] = (await datastore.get(recordKey)) as [Record<string, unknown>];
    expect((await exchange('exchangeIntegration', go.apiKey)).status).toBe(200);
    expect(await lastUsedOf('--integration', go.integrationId, go.keyId)).not.toBeNull();
    const [after] = (await datastore.get(recordKey)) as [Record<string, unknown>];
    expect(after).toEqual(stored);
    const record = apiKeyKey(KEY_PATHS, 'integration', go.integrationId, go.keyId, namespaces);
    const [usage] = (await datastore.get(datastore.key(lastUseKey(KEY_PATHS, record)))) as [Record<string, unknown>];
    expect(Object.keys(usage)).toEqual(['last_used_at']);
  });

  it('an autojoin key and a Go-made flat key nobody migrated: org list/show and key list', async () => {
    const org = uniqueId('org');
    await createOrganization({ datastore, namespaces }, { name: org, email: 'ops@example.org' });
    const scoped = await newAutojoinKey(datastore, namespaces, { ownerId: org });
    const flatKey = generateSecret();
    await datastore.save({
      key: apiKeyKey(datastore, 'autojoin', org, flatKey, namespaces),
      data: { key: flatKey, created_at: new Date() },
    });
    expect((await exchange('exchangeAutojoin', flatKey)).status).toBe(200);
    const flatId = legacyKeyId(legacyKeyName(flatKey));
    expect(await lastUsedOf('--org', org, flatId)).not.toBeNull();
    const keys = parseJson<KeyJson[]>(await cli('key', 'list', '--org', org, '--json'));
    const scopedId = /^mlabk\.org_[^.]+\.([^.]+)\./.exec(scoped)?.[1];
    expect(keys.find((k) => k.key_id === scopedId)?.last_used_at).toBeNull();
    expect(keys.find((k) => k.key_id === flatId)?.last_used_at).not.toBeNull();
    const shown = (await cli('org', 'show', org)).stdout;
    expect(shown).toMatch(/last used:\s+\d{4}-/);
    expect(shown + JSON.stringify(keys)).not.toContain(flatKey);
  });

  it('--unused-for lists active keys unused that long, over every owner or one', async () => {
    const integrationId = uniqueId('unused');
    await createIntegration({ datastore, namespaces }, integrationId, 'old keys');
    // A key made 100 days ago and never used, and one made then but used now.
    const made = new Date(Date.now() - 100 * 86_400_000);
    const seed = async (): Promise<{ keyId: string; apiKey: string }> => {
      const keyId = generateKeyId();
      const secret = generateSecret();
      await datastore.save({
        key: apiKeyKey(datastore, 'integration', integrationId, keyId, namespaces),
        data: { key_hash: sha256Hex(secret), created_at: made, description: 'old', status: 'active' },
      });
      return { keyId, apiKey: formatApiKey({ kind: 'integration', ownerId: integrationId, keyId, secret }) };
    };
    const idle = await seed();
    const busy = await seed();
    const fresh = await newIntegrationKey(datastore, namespaces, { ownerId: integrationId });
    expect((await exchange('exchangeIntegration', busy.apiKey)).status).toBe(200);
    expect(await lastUsedOf('--integration', integrationId, busy.keyId)).not.toBeNull();

    const one = parseJson<KeyJson[]>(
      await cli('key', 'list', '--integration', integrationId, '--unused-for', '90d', '--json'),
    );
    expect(one.map((k) => k.key_id)).toEqual([idle.keyId]);
    const everyOwner = await cli('key', 'list', '--unused-for', '90d');
    expect(everyOwner.stdout).toMatch(/^OWNER\s+KEY ID/);
    expect(everyOwner.stdout).toContain(`integration ${integrationId}  ${idle.keyId}`);
    expect(everyOwner.stdout).not.toContain(busy.keyId);
    expect(everyOwner.stdout).not.toContain(fresh.split('.')[2]);
  });

  it('a key in its reroll grace names its successor and whether it was used since; the successor, it', async () => {
    const apiKey = await newIntegrationKey(datastore, namespaces);
    const [, integrationId, keyId] = /^mlabk\.cii_([^.]+)\.([^.]+)\./.exec(apiKey) as RegExpExecArray;
    const rerolled = parseJson<{ key_id: string }>(
      await cli('key', 'reroll', '--integration', integrationId, keyId, '--grace', '1h', '--json'),
    );
    const notYet = parseJson<KeyJson>(await cli('key', 'show', '--integration', integrationId, keyId, '--json'));
    expect(notYet).toMatchObject({ replaced_by: rerolled.key_id, used_since_replaced: false });
    expect((await cli('key', 'show', '--integration', integrationId, keyId)).stdout).toMatch(
      new RegExp(`replaced by ${rerolled.key_id} \\(made [^)]+\\); not used since then`),
    );

    expect((await exchange('exchangeIntegration', apiKey)).status).toBe(200);
    expect(await lastUsedOf('--integration', integrationId, keyId)).not.toBeNull();
    const since = parseJson<KeyJson>(await cli('key', 'show', '--integration', integrationId, keyId, '--json'));
    expect(since.used_since_replaced).toBe(true);
    expect((await cli('key', 'show', '--integration', integrationId, keyId)).stdout).toMatch(
      /used since then, last at \d{4}-[^:]+:\d\d:\d\dZ: the integrator has not switched yet/,
    );
    const successor = parseJson<KeyJson>(
      await cli('key', 'show', '--integration', integrationId, rerolled.key_id, '--json'),
    );
    expect(successor.replaces).toBe(keyId);
  });
});
