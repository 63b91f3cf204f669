/**
 * migrate-legacy over entities shaped exactly as the Go service writes them
 * (store/autojoin.go: APIKey named by the flat key, properties created_at and key), then
 * the very same flat keys exchanged at exchangeAutojoin.
 */
import type { Datastore } from '@google-cloud/datastore';
import { generateSecret, legacyKeyId, legacyKeyName } from '../../../shared/keys/grammar';
import { KIND, legacyKeyKey, ownerKey, type Namespaces } from '../../../shared/keys/entities';
import { createOrganization } from '../../../shared/admin/owners';
import { migrateLegacyKeys } from '../../../shared/admin/legacyMigration';
import { cliFor, namespaceEnv, parseJson } from '../../support/cli';
import { testDatastore, uniqueNamespaces } from '../../support/datastore';
import { postJson, serveFunctions, type ServedFunctions } from '../../support/functions';
import { newAutojoinKey, uniqueId } from '../../support/seed';
import { signingKeyFile } from '../../support/signingKeys';

let datastore: Datastore;
beforeAll(() => {
  datastore = testDatastore();
});

/** An organisation and its flat keys, written as the Go service's CreateOrganization and CreateAPIKeyWithValue do. */
async function goServiceOrg(
  namespaces: Namespaces,
  keys: number,
): Promise<{ org: string; flatKeys: string[]; createdAt: Date }> {
  const org = uniqueId('goorg');
  const createdAt = new Date('2025-03-01T12:00:00Z');
  await datastore.save({
    key: ownerKey(datastore, 'autojoin', org, namespaces),
    data: { name: org, email: 'ops@example.org', created_at: createdAt, probability_multiplier: datastore.double(1.0) },
  });
  const flatKeys = Array.from({ length: keys }, () => generateSecret()); // GenerateAPIKey: 32 random bytes, base64url
  for (const flatKey of flatKeys) {
    await datastore.save({
      key: datastore.key({
        namespace: namespaces.platformNamespace,
        path: [KIND.organization, org, KIND.organizationKey, flatKey],
      }),
      data: { created_at: createdAt, key: flatKey },
    });
  }
  return { org, flatKeys, createdAt };
}

function plaintextKey(namespaces: Namespaces, org: string, flatKey: string) {
  return datastore.key({
    namespace: namespaces.platformNamespace,
    path: [KIND.organization, org, KIND.organizationKey, flatKey],
  });
}

describe('migrateLegacyKeys', () => {
  it('rewrites each flat key as LegacyAPIKey/<sha256>, leaves scoped keys alone, and is idempotent', async () => {
    const namespaces = uniqueNamespaces('migrate');
    const a = await goServiceOrg(namespaces, 2);
    const b = await goServiceOrg(namespaces, 1);
    await newAutojoinKey(datastore, namespaces, { ownerId: b.org });
    const now = new Date('2026-05-01T00:00:00Z');

    const first = await migrateLegacyKeys({ datastore, namespaces, now: () => now });
    expect(first).toMatchObject({
      scanned: 4,
      scoped: 1,
      migrated: 3,
      alreadyMigrated: 0,
      plaintextDeleted: 0,
      conflicts: 0,
      unrecognised: 0,
    });
    expect(first.orgs).toEqual(
      [
        { org: a.org, migrated: 2, alreadyMigrated: 0, plaintextDeleted: 0 },
        { org: b.org, migrated: 1, alreadyMigrated: 0, plaintextDeleted: 0 },
      ].sort((x, y) => x.org.localeCompare(y.org)),
    );
    const [migrated] = await datastore.get(legacyKeyKey(datastore, legacyKeyName(a.flatKeys[0]), namespaces));
    expect(Object.fromEntries(Object.entries(migrated))).toEqual({
      org: a.org,
      status: 'active',
      created_at: a.createdAt,
      migrated_at: now,
      plaintext_twin: true,
    });

    const again = await migrateLegacyKeys({ datastore, namespaces });
    expect(again).toMatchObject({ migrated: 0, alreadyMigrated: 3, plaintextDeleted: 0 });
    const [plaintext] = await datastore.get(plaintextKey(namespaces, a.org, a.flatKeys[0]));
    expect(plaintext).toBeDefined();
  });

  it('deletes the plaintext entities only with deletePlaintext, once the hashed form exists', async () => {
    const namespaces = uniqueNamespaces('migrate-del');
    const { org, flatKeys } = await goServiceOrg(namespaces, 2);
    const dryRun = await migrateLegacyKeys({ datastore, namespaces }, { deletePlaintext: true, dryRun: true });
    expect(dryRun).toMatchObject({ dryRun: true, migrated: 2, plaintextDeleted: 2 });
    expect((await datastore.get(legacyKeyKey(datastore, legacyKeyName(flatKeys[0]), namespaces)))[0]).toBeUndefined();

    const report = await migrateLegacyKeys({ datastore, namespaces }, { deletePlaintext: true });
    expect(report).toMatchObject({ migrated: 2, plaintextDeleted: 2 });
    for (const flatKey of flatKeys) {
      expect((await datastore.get(plaintextKey(namespaces, org, flatKey)))[0]).toBeUndefined();
      // The record now governs the key alone.
      expect((await datastore.get(legacyKeyKey(datastore, legacyKeyName(flatKey), namespaces)))[0]).toMatchObject({
        org,
        plaintext_twin: false,
      });
    }
    expect(await migrateLegacyKeys({ datastore, namespaces }, { deletePlaintext: true })).toMatchObject({
      scanned: 0,
      migrated: 0,
      plaintextDeleted: 0,
    });
  });

  it('leaves alone an APIKey that is neither a scoped key nor a plaintext flat key', async () => {
    const namespaces = uniqueNamespaces('migrate-odd');
    const org = uniqueId('org');
    await createOrganization({ datastore, namespaces }, { name: org });
    await datastore.save({
      key: datastore.key({
        namespace: namespaces.platformNamespace,
        path: [KIND.organization, org, KIND.organizationKey, 'some-name-abcdefghijkl'],
      }),
      data: { created_at: new Date(), key: 'something else' },
    });
    expect(await migrateLegacyKeys({ datastore, namespaces })).toMatchObject({
      scanned: 1,
      migrated: 0,
      unrecognised: 1,
    });
  });
});

describe('token-admin autojoin migrate-legacy, then exchangeAutojoin', () => {
  let served: ServedFunctions;
  let namespaces: Namespaces;
  beforeAll(async () => {
    namespaces = uniqueNamespaces('migrate-e2e');
    served = await serveFunctions({
      SIGNING_KEY_FILE: (await signingKeyFile('ES256')).path,
      ...namespaceEnv(namespaces),
    });
  });
  afterAll(() => served.close());

  const exchange = (apiKey: string): Promise<Response> => postJson(served.url('exchangeAutojoin'), { api_key: apiKey });

  it('the same flat keys work after migration, even once the plaintext is deleted; no output names a key', async () => {
    const { org, flatKeys } = await goServiceOrg(namespaces, 2);
    const cli = cliFor(namespaceEnv(namespaces));
    const run = await cli('autojoin', 'migrate-legacy');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`${org}\\s+2\\s+0\\s+0`));
    expect(run.stdout).toMatch(/migrated 2 legacy keys, 0 already migrated, 0 plaintext deleted/);
    const response = await exchange(flatKeys[0]);
    expect(response.status).toBe(200);

    const refused = await cli('autojoin', 'migrate-legacy', '--delete-plaintext');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/ends the rollback path: the Go service .* add --yes/);
    // Nothing was deleted: the confirmed run below still finds both plaintext entities to delete.

    const rerun = await cli('autojoin', 'migrate-legacy', '--delete-plaintext', '--yes', '--json');
    expect(parseJson(rerun)).toMatchObject({
      migrated: 0,
      already_migrated: 2,
      plaintext_deleted: 2,
      orgs: [{ org, migrated: 0, already_migrated: 2, plaintext_deleted: 2 }],
    });
    for (const flatKey of flatKeys) expect((await exchange(flatKey)).status).toBe(200);

    const listed = await cli('key', 'list', '--org', org, '--json');
    const keys = parseJson<Array<{ key_id: string; status: string; legacy: boolean }>>(listed);
    expect(keys.map((k) => k.key_id).sort()).toEqual(flatKeys.map((k) => legacyKeyId(legacyKeyName(k))).sort());
    for (const output of [run, rerun, listed, await cli('org', 'show', org)]) {
      for (const flatKey of flatKeys) expect(output.stdout + output.stderr).not.toContain(flatKey);
    }
  });

  it('a migrated key can be revoked, or rerolled into a scoped key with a grace period', async () => {
    const { org, flatKeys } = await goServiceOrg(namespaces, 2);
    const cli = cliFor(namespaceEnv(namespaces));
    await cli('autojoin', 'migrate-legacy', '--delete-plaintext', '--yes');
    const [revokeId, rerollId] = flatKeys.map((k) => legacyKeyId(legacyKeyName(k))) as [string, string];

    expect((await cli('key', 'revoke', '--org', org, revokeId)).code).toBe(0);
    expect((await exchange(flatKeys[0])).status).toBe(401);

    const rerolled = parseJson<{ api_key: string; replaces: { key_id: string; expires_at: string } }>(
      await cli('key', 'reroll', '--org', org, rerollId, '--grace', '1s', '--json'),
    );
    expect(rerolled.replaces.key_id).toBe(rerollId);
    expect((await exchange(rerolled.api_key)).status).toBe(200);
    const until = Date.parse(rerolled.replaces.expires_at);
    while (Date.now() <= until) await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await exchange(flatKeys[1])).status).toBe(401);
    expect((await exchange(rerolled.api_key)).status).toBe(200);
  });
});
