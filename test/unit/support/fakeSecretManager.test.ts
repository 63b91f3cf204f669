// Documents, through the REAL @google-cloud/secret-manager client, that the fake behaves
// the way our code expects Secret Manager to behave.

import * as grpc from '@grpc/grpc-js';
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { crc32c, startFakeSecretManager, type FakeSecretManager } from '../../support/fakeSecretManager';

const SECRET = 'projects/test-project/secrets/signing-key';

let fake: FakeSecretManager;
let client: SecretManagerServiceClient;

beforeAll(async () => {
  fake = await startFakeSecretManager();
  client = fake.client();
});

afterAll(async () => {
  await fake.stop(); // also closes `client`
});

beforeEach(() => {
  fake.reset();
  fake.createSecret(SECRET);
});

async function access(name: string, options?: { retry: null }): Promise<{ name: string; data: string }> {
  const [response] = await client.accessSecretVersion({ name }, options);
  return { name: response.name ?? '', data: Buffer.from(response.payload?.data ?? []).toString() };
}

describe('fake Secret Manager via the real client', () => {
  test('latest is the newest version, reported under its number', async () => {
    fake.addVersion(SECRET, 'one');
    fake.addVersion(SECRET, 'two');

    await expect(access(`${SECRET}/versions/latest`)).resolves.toEqual({ name: `${SECRET}/versions/2`, data: 'two' });
  });

  test('a numbered version', async () => {
    expect(fake.addVersion(SECRET, 'one')).toBe(`${SECRET}/versions/1`);
    expect(fake.addVersion(SECRET, Buffer.from('two'))).toBe(`${SECRET}/versions/2`);

    await expect(access(`${SECRET}/versions/1`)).resolves.toEqual({ name: `${SECRET}/versions/1`, data: 'one' });
  });

  test('an alias set with updateSecret (update mask version_aliases)', async () => {
    fake.addVersion(SECRET, 'one');
    fake.addVersion(SECRET, 'two');

    const [updated] = await client.updateSecret({
      secret: { name: SECRET, versionAliases: { current: 1 } },
      updateMask: { paths: ['version_aliases'] },
    });

    // int64 map values come back as decimal strings.
    expect(updated.versionAliases).toEqual({ current: '1' });
    await expect(access(`${SECRET}/versions/current`)).resolves.toEqual({ name: `${SECRET}/versions/1`, data: 'one' });

    fake.setAlias(SECRET, 'current', 2);
    await expect(access(`${SECRET}/versions/current`)).resolves.toMatchObject({ data: 'two' });
  });

  test('annotations set with updateSecret (update mask annotations), alone or with the aliases', async () => {
    fake.addVersion(SECRET, 'one');
    fake.addVersion(SECRET, 'two');

    await client.updateSecret({
      secret: { name: SECRET, annotations: { note: 'a' } },
      updateMask: { paths: ['annotations'] },
    });
    expect(fake.annotations(SECRET)).toEqual({ note: 'a' });
    const [updated] = await client.updateSecret({
      secret: { name: SECRET, versionAliases: { current: 2 }, annotations: { other: 'b' } },
      updateMask: { paths: ['version_aliases', 'annotations'] },
    });
    expect(updated).toMatchObject({ versionAliases: { current: '2' }, annotations: { other: 'b' } });
    const [read] = await client.getSecret({ name: SECRET });
    expect(read.annotations).toEqual({ other: 'b' });
    await expect(
      client.updateSecret({
        secret: { name: SECRET, annotations: { '-bad': 'x' } },
        updateMask: { paths: ['annotations'] },
      }),
    ).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    await expect(
      client.updateSecret({ secret: { name: SECRET }, updateMask: { paths: ['labels'] } }),
    ).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
    });
  });

  test('setCreateTime backdates a version', async () => {
    const version = fake.addVersion(SECRET, 'one');
    fake.setCreateTime(version, new Date('2020-01-02T03:04:05.678Z'));
    const [read] = await client.getSecretVersion({ name: version });
    expect(read.createTime).toMatchObject({ seconds: String(Date.parse('2020-01-02T03:04:05Z') / 1000), nanos: 678e6 });
  });

  test('listSecretVersions with state:ENABLED lists enabled versions newest first, across pages', async () => {
    for (let i = 1; i <= 8; i++) fake.addVersion(SECRET, `v${i}`, { state: i === 2 ? 'DISABLED' : 'ENABLED' });
    fake.setVersionState(`${SECRET}/versions/5`, 'DISABLED');
    fake.setVersionState(`${SECRET}/versions/6`, 'DESTROYED');

    // autoPaginate (the default) follows nextPageToken; with a pageSize google-gax emits
    // a one-off AutopaginateTrueWarning but still returns every page.
    const [versions] = await client.listSecretVersions({ parent: SECRET, filter: 'state:ENABLED', pageSize: 2 });

    expect(versions.map((v) => [v.name, v.state])).toEqual([
      [`${SECRET}/versions/8`, 'ENABLED'],
      [`${SECRET}/versions/7`, 'ENABLED'],
      [`${SECRET}/versions/4`, 'ENABLED'],
      [`${SECRET}/versions/3`, 'ENABLED'],
      [`${SECRET}/versions/1`, 'ENABLED'],
    ]);
    expect(versions[0]?.createTime?.seconds).toBeDefined();
    expect(fake.calls.ListSecretVersions).toBe(3); // 5 results, 2 per page

    const [all] = await client.listSecretVersions({ parent: SECRET });
    expect(all.map((v) => v.name?.split('/').pop())).toEqual(['8', '7', '6', '5', '4', '3', '2', '1']);
  });

  test('a disabled or destroyed version refuses access; unknown ones are NOT_FOUND', async () => {
    fake.addVersion(SECRET, 'one');
    fake.addVersion(SECRET, 'two', { state: 'DISABLED' });
    await client.destroySecretVersion({ name: `${SECRET}/versions/1` });

    await expect(access(`${SECRET}/versions/2`)).rejects.toMatchObject({ code: grpc.status.FAILED_PRECONDITION });
    await expect(access(`${SECRET}/versions/1`)).rejects.toMatchObject({ code: grpc.status.FAILED_PRECONDITION });
    // Like the real API, `latest` does not skip to an older enabled version.
    await expect(access(`${SECRET}/versions/latest`)).rejects.toMatchObject({ code: grpc.status.FAILED_PRECONDITION });
    await expect(access(`${SECRET}/versions/3`)).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    await expect(access(`${SECRET}/versions/no-such-alias`)).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    await expect(access('projects/test-project/secrets/missing/versions/1')).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
    });

    await client.enableSecretVersion({ name: `${SECRET}/versions/2` });
    await expect(access(`${SECRET}/versions/latest`)).resolves.toMatchObject({ data: 'two' });
  });

  test('failNext makes the next call fail with UNAVAILABLE, then calls succeed', async () => {
    fake.addVersion(SECRET, 'one');
    fake.failNext('AccessSecretVersion', 1);

    // retry: null turns off the client's own retry of UNAVAILABLE for AccessSecretVersion.
    await expect(access(`${SECRET}/versions/1`, { retry: null })).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
    await expect(access(`${SECRET}/versions/1`, { retry: null })).resolves.toMatchObject({ data: 'one' });
    expect(fake.calls.AccessSecretVersion).toBe(2);
  });

  test('with default call options the client retries AccessSecretVersion past UNAVAILABLE', async () => {
    fake.addVersion(SECRET, 'one');
    fake.failNext('AccessSecretVersion', 1);

    // One call, two RPCs; the client sleeps a random 0..2 s in between.
    await expect(access(`${SECRET}/versions/1`)).resolves.toMatchObject({ data: 'one' });
    expect(fake.calls.AccessSecretVersion).toBe(2);
  });

  test('the payload carries a correct CRC-32C', async () => {
    fake.addVersion(SECRET, '123456789');

    const [response] = await client.accessSecretVersion({ name: `${SECRET}/versions/latest` });

    expect(crc32c('123456789')).toBe(0xe3069283); // the standard CRC-32C check value
    // int64 arrives as a decimal string.
    expect(response.payload?.dataCrc32c).toBe(String(0xe3069283));
  });
});
