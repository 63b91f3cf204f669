/** `integration` and `org` commands against the emulator: what they write, print and refuse. */
import type { Datastore } from '@google-cloud/datastore';
import type { Namespaces } from '../../../shared/keys/entities';
import { apiKeyKey, KEY_PATHS, LAST_USED_AT, lastUseKey, ownerKey } from '../../../shared/keys/entities';
import { cliFor, namespaceEnv, parseJson, runCli, type CliResult } from '../../support/cli';
import { testDatastore, uniqueNamespaces } from '../../support/datastore';
import { uniqueId } from '../../support/seed';

let datastore: Datastore;
let namespaces: Namespaces;
let cli: (...argv: string[]) => Promise<CliResult>;

beforeAll(() => {
  datastore = testDatastore();
  namespaces = uniqueNamespaces('cli-owners');
  cli = cliFor(namespaceEnv(namespaces));
});

describe('integration', () => {
  it('create, list and show, as a table and as JSON', async () => {
    const id = uniqueId('int');
    expect(await cli('integration', 'create', id, '--description', 'Example Speed Test')).toEqual({
      code: 0,
      stdout: `created integration ${id}\n`,
      stderr: '',
    });
    await cli('key', 'create', '--integration', id);

    const table = await cli('integration', 'list');
    const [header, ...rows] = table.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^INTEGRATION\s+ACTIVE KEYS\s+KEYS\s+CREATED\s+LAST USED\s+DESCRIPTION$/);
    const row = rows.find((r) => r.startsWith(`${id} `)) as string;
    expect(row.split(/\s{2,}/)).toEqual([
      id,
      '1',
      '1',
      expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      'never',
      'Example Speed Test',
    ]);
    // Aligned: every row's second column starts where the header's does.
    expect(rows.every((r) => r.indexOf(r.split(/\s{2,}/)[1], id.length) === header.indexOf('ACTIVE KEYS'))).toBe(true);

    const shown = parseJson<{
      integration_id: string;
      description: string;
      active_keys: number;
      keys: Array<{ key_id: string; status: string; tier: number }>;
    }>(await cli('integration', 'show', id, '--json'));
    expect(shown).toMatchObject({
      integration_id: id,
      description: 'Example Speed Test',
      active_keys: 1,
      keys: [{ status: 'active', tier: 0 }],
    });
    expect((await cli('integration', 'show', id)).stdout).toMatch(new RegExp(`^integration: +${id}\\n`));
  });

  it('delete refuses while the integration has an active key, and with --force removes its keys too', async () => {
    const id = uniqueId('int');
    await cli('integration', 'create', id);
    const key = parseJson<{ key_id: string }>(await cli('key', 'create', '--integration', id, '--json'));

    const refused = await cli('integration', 'delete', id);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      `token-admin: integration ${id} has 1 active key: revoke it first, or delete with --force\n`,
    );

    expect(await cli('integration', 'delete', id, '--force')).toMatchObject({
      code: 0,
      stdout: `deleted integration ${id} and its 1 key\n`,
    });
    const [owner] = await datastore.get(ownerKey(datastore, 'integration', id, namespaces));
    const [record] = await datastore.get(apiKeyKey(datastore, 'integration', id, key.key_id, namespaces));
    expect([owner, record]).toEqual([undefined, undefined]);
  });

  it('delete takes the last-use record of each key with it (a child Datastore would leave behind)', async () => {
    const id = uniqueId('int');
    await cli('integration', 'create', id);
    const key = parseJson<{ key_id: string }>(await cli('key', 'create', '--integration', id, '--json'));
    const record = apiKeyKey(datastore, 'integration', id, key.key_id, namespaces);
    const usage = datastore.key(
      lastUseKey(KEY_PATHS, { namespace: record.namespace ?? '', path: record.path.map(String) }),
    );
    await datastore.save({ key: usage, data: { [LAST_USED_AT]: new Date() } });

    expect((await cli('integration', 'delete', id, '--force')).code).toBe(0);
    expect((await datastore.get(usage))[0]).toBeUndefined();
  });

  it('delete goes ahead without --force once every key is revoked', async () => {
    const id = uniqueId('int');
    await cli('integration', 'create', id);
    const key = parseJson<{ key_id: string }>(await cli('key', 'create', '--integration', id, '--json'));
    await cli('key', 'revoke', '--integration', id, key.key_id);
    expect(parseJson(await cli('integration', 'delete', id, '--json'))).toEqual({
      integration_id: id,
      deleted_keys: 1,
    });
  });

  it.each([
    [['integration', 'create', 'bad/id'], 2, /^token-admin: integration id "bad\/id" is not valid/],
    [
      ['integration', 'show', 'no-such-integration'],
      1,
      /^token-admin: integration no-such-integration does not exist\n$/,
    ],
    [['integration', 'create'], 2, /^token-admin: usage: token-admin integration create <integration-id>/],
    [['integration', 'list', '--colour'], 2, /^token-admin: Unknown option '--colour'/],
    [['key', 'create', '--integration', 'x', '--expires-in', 'soon'], 2, /--expires-in takes a duration such as 90d/],
    [
      ['key', 'create', '--integration', 'x', '--expires-at', '2030-01-01T00:00:00'],
      2,
      /--expires-at takes an ISO 8601 time/,
    ],
    [
      ['key', 'create', '--integration', 'x', '--expires-at', '2020-01-01'],
      2,
      /--expires-at 2020-01-01 is in the past/,
    ],
    [['key', 'create'], 2, /--integration <id> or --org <name>/],
    [['key', 'revoke', '--integration', 'x', 'not-a-key-id'], 2, /key id "not-a-key-id" is not valid/],
    [['nonsense'], 2, /unknown command "nonsense"/],
  ])('%j fails with one line and exit code %i', async (argv, code, message) => {
    const result = await cli(...argv);
    expect(result.code).toBe(code);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('an invalid namespace from the environment is named in the error', async () => {
    const result = await runCli(['integration', 'list'], { env: { CLIENT_INTEGRATION_NS: '__bad__' } });
    expect(result).toMatchObject({
      code: 1,
      stderr: 'token-admin: CLIENT_INTEGRATION_NS is not a valid Datastore namespace: "__bad__"\n',
    });
  });

  it('--integration-ns and --platform-ns override the environment', async () => {
    const other = uniqueNamespaces('cli-flags');
    const id = uniqueId('int');
    await runCli(['integration', 'create', id, '--integration-ns', other.integrationNamespace]);
    const [owner] = await datastore.get(ownerKey(datastore, 'integration', id, other));
    expect(owner).toBeDefined();
  });

  it('--help on every command shows its usage and examples, and exits 0', async () => {
    for (const argv of [
      ['--help'],
      ['key', '--help'],
      ['integration', 'delete', '--help'],
      ['signing-key', 'promote', '-h'],
      ['autojoin', 'migrate-legacy', '--help'],
    ]) {
      const result = await runCli(argv);
      expect([argv, result.code]).toEqual([argv, 0]);
      expect(result.stdout).toMatch(/^Usage: token-admin /);
    }
    expect((await runCli(['signing-key', 'promote', '--help'])).stdout).toMatch(
      /--secret <projects\/<p>\/secrets\/<name>>[\s\S]*Examples:/,
    );
  });
});

describe('org', () => {
  it("create writes the Go service's properties; list and show read them", async () => {
    const name = uniqueId('org');
    expect((await cli('org', 'create', name, '--email', 'ops@example.org')).code).toBe(0);
    const [entity] = await datastore.get(ownerKey(datastore, 'autojoin', name, namespaces));
    expect(Object.fromEntries(Object.entries(entity))).toEqual({
      name,
      email: 'ops@example.org',
      created_at: expect.any(Date),
      probability_multiplier: 1,
    });

    const listed = parseJson<Array<Record<string, unknown>>>(await cli('org', 'list', '--json'));
    expect(listed.find((o) => o.name === name)).toEqual({
      name,
      email: 'ops@example.org',
      created_at: expect.stringMatching(/Z$/),
      probability_multiplier: 1,
      active_keys: 0,
      total_keys: 0,
      last_used_at: null,
    });
    const shown = await cli('org', 'show', name);
    expect(shown.stdout).toMatch(/probability multiplier: 1\n/);
    expect((await cli('org', 'create', name)).stderr).toBe(`token-admin: organisation ${name} already exists\n`);
  });

  it('refuses a tier for an organisation key', async () => {
    const name = uniqueId('org');
    await cli('org', 'create', name);
    const result = await cli('key', 'create', '--org', name, '--tier', '1');
    expect(result).toMatchObject({
      code: 2,
      stderr: 'token-admin: tier is a whole number ≥ 0, for integration keys only\n',
    });
  });
});
