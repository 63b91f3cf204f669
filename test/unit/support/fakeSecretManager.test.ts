// Documents, through the REAL @google-cloud/secret-manager client and over REST as Google's
// reference describes it, that the fake behaves the way our code expects Secret Manager to.

import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { crc32c, startFakeSecretManager, type FakeSecretManager } from '../../support/fakeSecretManager';
import { testCertificates } from '../../support/tls';

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

// ---- the REST face: the functions read Secret Manager over REST (v1) ----

/** What JSON.parse gives: the tests go on to assert its shape. */
type Json = ReturnType<typeof JSON.parse>;

interface RestAnswer {
  status: number;
  json: Json;
}

function restGet(
  host: string,
  pathname: string,
  tls?: { ca: Buffer; token?: string | undefined },
): Promise<RestAnswer> {
  const [hostname, port] = host.split(':');
  const transport = tls ? https : http;
  return new Promise((resolve, reject) => {
    transport
      .get(
        {
          host: hostname,
          port,
          path: pathname,
          agent: false,
          ...(tls && { ca: tls.ca }),
          headers: tls?.token ? { Authorization: `Bearer ${tls.token}` } : {},
        },
        (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
        },
      )
      .on('error', reject);
  });
}

const NUMBERED = 'projects/123456789012/secrets/signing-key';

describe('fake Secret Manager over REST', () => {
  const rest = (pathname: string): Promise<RestAnswer> => restGet(fake.host, pathname);
  const access = (version: string, secret = SECRET): Promise<RestAnswer> =>
    rest(`/v1/${secret}/versions/${version}:access`);

  test('gRPC and REST on one port see one store', async () => {
    expect(fake.host).toBe(`127.0.0.1:${fake.port}`);
    await client.addSecretVersion({ parent: SECRET, payload: { data: Buffer.from('from gRPC') } });
    const answer = await access('1');
    expect(answer.status).toBe(200);
    expect(Buffer.from(answer.json.payload.data, 'base64').toString()).toBe('from gRPC');

    await client.updateSecret({
      secret: { name: SECRET, versionAliases: { current: 1 } },
      updateMask: { paths: ['version_aliases'] },
    });
    await expect(access('current')).resolves.toMatchObject({ status: 200, json: { name: `${NUMBERED}/versions/1` } });
  });

  test('the REST face keeps sockets alive, and tells HTTP/1.1 from HTTP/2 however the first bytes arrive', async () => {
    fake.addVersion(SECRET, 'one');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const reused = [];
      for (let i = 0; i < 2; i++) {
        reused.push(
          await new Promise<boolean>((resolve, reject) => {
            const request = http.get(
              { host: '127.0.0.1', port: fake.port, path: `/v1/${SECRET}/versions/1:access`, agent },
              (res) => res.resume().on('end', () => resolve(request.reusedSocket)),
            );
            request.on('error', reject);
          }),
        );
      }
      expect(reused).toEqual([false, true]);
    } finally {
      agent.destroy();
    }

    // 'P' could begin HTTP/2's preface ("PRI * HTTP/2.0"): the fake waits for more before choosing.
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(fake.port, '127.0.0.1', () => {
        socket.write('P');
        setTimeout(() => socket.end('UT /v1/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), 50);
      });
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 404 /);
  });

  test('access: a number, latest or an alias; named by project number; a CRC-32C as a decimal string', async () => {
    fake.addVersion(SECRET, '123456789');
    fake.addVersion(SECRET, 'two');
    fake.setAlias(SECRET, 'current', 1);

    const latest = await access('latest');
    expect(latest).toEqual({
      status: 200,
      json: {
        name: `${NUMBERED}/versions/2`,
        payload: { data: Buffer.from('two').toString('base64'), dataCrc32c: String(crc32c('two')) },
      },
    });
    const aliased = await access('current');
    expect(aliased.json).toMatchObject({ name: `${NUMBERED}/versions/1`, payload: { dataCrc32c: '3808858755' } });
    // The project may be named by its number, as the names in answers do.
    await expect(access('1', NUMBERED)).resolves.toMatchObject({
      status: 200,
      json: { name: `${NUMBERED}/versions/1` },
    });
    expect(fake.calls.AccessSecretVersion).toBe(3);
  });

  test("errors: Google's JSON body, NOT_FOUND 404 and FAILED_PRECONDITION 400", async () => {
    fake.addVersion(SECRET, 'one');
    fake.addVersion(SECRET, 'two', { state: 'DISABLED' });
    fake.addVersion(SECRET, 'three');
    fake.setVersionState(`${SECRET}/versions/3`, 'DESTROYED');
    const error = (code: number, status: string): object => ({
      status: code,
      json: { error: { code, message: expect.any(String), status } },
    });

    await expect(access('9')).resolves.toEqual(error(404, 'NOT_FOUND'));
    await expect(access('no-such-alias')).resolves.toEqual(error(404, 'NOT_FOUND'));
    await expect(access('1', 'projects/test-project/secrets/missing')).resolves.toEqual(error(404, 'NOT_FOUND'));
    await expect(access('2')).resolves.toEqual(error(400, 'FAILED_PRECONDITION'));
    await expect(access('3')).resolves.toEqual(error(400, 'FAILED_PRECONDITION'));
    // As on gRPC (and at Google), `latest` is the newest version, even one that cannot be read.
    await expect(access('latest')).resolves.toEqual(error(400, 'FAILED_PRECONDITION'));
    expect((await access('2')).json.error.message).toBe(
      `Secret Version [${NUMBERED}/versions/2] is in DISABLED state.`,
    );
    await expect(rest(`/v1/${SECRET}`)).resolves.toMatchObject({ status: 404 });
  });

  test('list: newest first, 2 a page by default, filtered by state, named by project number', async () => {
    for (let i = 1; i <= 5; i++) fake.addVersion(SECRET, `v${i}`);
    fake.setVersionState(`${SECRET}/versions/4`, 'DISABLED');
    fake.setCreateTime(`${SECRET}/versions/5`, new Date('2020-01-02T03:04:05.678Z'));

    const pages: Json[] = [];
    let token: string | undefined = '';
    while (token !== undefined) {
      const page = await rest(
        `/v1/${SECRET}/versions?filter=${encodeURIComponent('state:ENABLED')}${token && `&pageToken=${token}`}`,
      );
      expect(page.status).toBe(200);
      pages.push(page.json);
      token = page.json.nextPageToken;
    }
    expect(pages.map((p) => p.versions.map((v: Json) => v.name.split('/').pop()))).toEqual([
      ['5', '3'],
      ['2', '1'],
    ]);
    expect(pages[0].versions[0]).toEqual({
      name: `${NUMBERED}/versions/5`,
      createTime: '2020-01-02T03:04:05.678Z',
      state: 'ENABLED',
    });
    expect(fake.calls.ListSecretVersions).toBe(2);

    const all = await rest(`/v1/${SECRET}/versions?pageSize=10`);
    expect(all.json.versions.map((v: Json) => [v.name.split('/').pop(), v.state])).toEqual([
      ['5', 'ENABLED'],
      ['4', 'DISABLED'],
      ['3', 'ENABLED'],
      ['2', 'ENABLED'],
      ['1', 'ENABLED'],
    ]);
    expect(all.json.nextPageToken).toBeUndefined();
    expect(all.json.totalSize).toBe(5);

    await expect(rest(`/v1/${SECRET}/versions?filter=name:foo`)).resolves.toMatchObject({
      status: 400,
      json: { error: { status: 'INVALID_ARGUMENT' } },
    });
    await expect(client.listSecretVersions({ parent: SECRET, filter: 'name:foo' })).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
    });
    await expect(rest(`/v1/projects/test-project/secrets/missing/versions`)).resolves.toMatchObject({ status: 404 });
  });

  test('failNext applies to REST too, with the HTTP status of the gRPC code; one queue for both faces', async () => {
    fake.addVersion(SECRET, 'one');
    fake.failNext('AccessSecretVersion', 1);
    fake.failNext('AccessSecretVersion', 1, grpc.status.PERMISSION_DENIED);
    fake.failNext('ListSecretVersions', 1, grpc.status.DEADLINE_EXCEEDED);
    fake.failNext('AccessSecretVersion', 1, grpc.status.INTERNAL);

    await expect(access('1')).resolves.toMatchObject({
      status: 503,
      json: { error: { code: 503, status: 'UNAVAILABLE' } },
    });
    await expect(access('1')).resolves.toMatchObject({ status: 403, json: { error: { status: 'PERMISSION_DENIED' } } });
    await expect(rest(`/v1/${SECRET}/versions`)).resolves.toMatchObject({
      status: 504,
      json: { error: { status: 'DEADLINE_EXCEEDED' } },
    });
    await expect(client.accessSecretVersion({ name: `${SECRET}/versions/1` }, { retry: null })).rejects.toMatchObject({
      code: grpc.status.INTERNAL,
    });
    await expect(access('1')).resolves.toMatchObject({ status: 200 });
    expect(fake.calls).toMatchObject({ AccessSecretVersion: 4, ListSecretVersions: 1 });
  });

  test('setDown: every call on both faces is UNAVAILABLE until it is up again', async () => {
    fake.addVersion(SECRET, 'one');
    fake.setDown(true);
    await expect(access('1')).resolves.toMatchObject({ status: 503, json: { error: { status: 'UNAVAILABLE' } } });
    await expect(rest(`/v1/${SECRET}/versions`)).resolves.toMatchObject({ status: 503 });
    await expect(client.getSecret({ name: SECRET })).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    fake.setDown(false);
    await expect(access('1')).resolves.toMatchObject({ status: 200 });
    await expect(client.getSecret({ name: SECRET })).resolves.toBeDefined();
  });

  test('corruptNextChecksum: the next access answers a wrong dataCrc32c, the one after is right again', async () => {
    fake.addVersion(SECRET, 'one');
    fake.corruptNextChecksum();
    const wrong = await access('1');
    expect(wrong.json.payload.dataCrc32c).not.toBe(String(crc32c('one')));
    expect(Buffer.from(wrong.json.payload.data, 'base64').toString()).toBe('one');
    expect((await access('1')).json.payload.dataCrc32c).toBe(String(crc32c('one')));
  });

  test('https(): the REST face over TLS, wanting a valid bearer token', async () => {
    fake.addVersion(SECRET, 'one');
    const face = await fake.https({ checkToken: (token) => token === 'ya29.good' });
    const ca = readFileSync(testCertificates().caFile);
    const path = `/v1/${SECRET}/versions/latest:access`;

    for (const token of [undefined, 'ya29.bad']) {
      await expect(restGet(face.host, path, { ca, token })).resolves.toEqual({
        status: 401,
        json: {
          error: {
            code: 401,
            message: expect.stringMatching(/^Request had invalid authentication credentials\./),
            status: 'UNAUTHENTICATED',
          },
        },
      });
    }
    expect(face.unauthorised).toBe(2);
    expect(fake.calls.AccessSecretVersion).toBe(0);
    await expect(restGet(face.host, path, { ca, token: 'ya29.good' })).resolves.toMatchObject({
      status: 200,
      json: { name: `${NUMBERED}/versions/1` },
    });
    // The plaintext face stands for an emulator: no token.
    await expect(rest(path)).resolves.toMatchObject({ status: 200 });
    expect(fake.calls.AccessSecretVersion).toBe(2);
  });
});

describe('startFakeSecretManager options', () => {
  test('projectNumber and restPageSize', async () => {
    const other = await startFakeSecretManager({ projectNumber: '42', restPageSize: 3 });
    try {
      other.createSecret(SECRET);
      for (let i = 1; i <= 4; i++) other.addVersion(SECRET, `v${i}`);
      expect(other.projectNumber).toBe('42');
      const page = await restGet(other.host, `/v1/${SECRET}/versions`);
      expect(page.json.versions.map((v: Json) => v.name)).toEqual([
        'projects/42/secrets/signing-key/versions/4',
        'projects/42/secrets/signing-key/versions/3',
        'projects/42/secrets/signing-key/versions/2',
      ]);
      expect(page.json.nextPageToken).toBeDefined();
      await expect(
        restGet(other.host, '/v1/projects/42/secrets/signing-key/versions/latest:access'),
      ).resolves.toMatchObject({ status: 200 });
    } finally {
      await other.stop();
    }
  });
});
