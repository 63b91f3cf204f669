// The metadata server stand-in must satisfy google-auth-library itself, or the rehearsal would
// test our code against a server production never meets. The library runs in a child process:
// gcp-metadata reads its environment at call time but caches what it found module-wide.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startMetadataServer, type MetadataServer } from '../../support/metadataServer';

const REPO = path.resolve(__dirname, '../../..');

let server: MetadataServer;
let gcloudConfig: string;

beforeAll(() => {
  // An empty gcloud config: google-auth-library asks gcloud for a project before the metadata server.
  gcloudConfig = mkdtempSync(path.join(tmpdir(), 'gcloud-config-'));
});
afterAll(() => {
  rmSync(gcloudConfig, { recursive: true, force: true });
});

beforeEach(async () => {
  server = await startMetadataServer({ projectId: 'rehearsal-project', projectNumber: '42' });
});
afterEach(async () => {
  await server.close();
});

interface Answer {
  status: number;
  flavor: string | undefined;
  body: string;
}

function get(pathname: string, headers: Record<string, string> = { 'Metadata-Flavor': 'Google' }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const [host, port] = server.host.split(':');
    http
      .get({ host, port, path: pathname, headers, agent: false }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, flavor: res.headers['metadata-flavor'] as string, body }),
        );
      })
      .on('error', reject);
  });
}

const TOKEN = '/computeMetadata/v1/instance/service-accounts/default/token';

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** Runs `script` with google-auth-library from the repository, on "Cloud Run" with our metadata server. */
function runWithGoogleAuth(script: string): Promise<string> {
  // Nothing of the machine's own Google set-up may leak in: no key file, no project, no gcloud config.
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(GOOGLE_|GCLOUD_|GCE_|CLOUDSDK_|METADATA_SERVER_DETECTION$|K_)/i.test(name)) env[name] = value;
  }
  Object.assign(env, {
    GCE_METADATA_HOST: server.host,
    K_SERVICE: 'exchangeintegration',
    CLOUDSDK_CONFIG: gcloudConfig,
    CLOUDSDK_CORE_DISABLE_PROMPTS: '1',
  });
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', script], { cwd: REPO, env, timeout: 20_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout.trim()),
    );
  });
}

describe('the metadata server, as google-auth-library uses it', () => {
  test('GoogleAuth on "Cloud Run" gets its access token from here', async () => {
    // The token itself never leaves the child: only its digest.
    const out = await runWithGoogleAuth(`
      const { GoogleAuth } = require('google-auth-library');
      const { createHash } = require('node:crypto');
      const auth = new GoogleAuth({ scopes: 'https://www.googleapis.com/auth/cloud-platform', projectId: 'x' });
      auth.getAccessToken().then(async (token) => {
        const again = await auth.getAccessToken(); // cached: no second request
        const digest = createHash('sha256').update(token).digest('hex');
        console.log(JSON.stringify({ digest, same: again === token }));
      }, (e) => { console.error(e.message); process.exit(1); });
    `);
    const { digest, same } = JSON.parse(out);
    expect(server.issuedTokens().map(sha256)).toEqual([digest]);
    expect(same).toBe(true);
    expect(server.tokenRequests).toBe(1);
    expect(server.isValid(server.issuedTokens()[0])).toBe(true);
  });

  test('without a projectId, GoogleAuth finds the project here', async () => {
    const out = await runWithGoogleAuth(`
      const { GoogleAuth } = require('google-auth-library');
      new GoogleAuth({ scopes: 'https://www.googleapis.com/auth/cloud-platform' }).getProjectId()
        .then((id) => console.log(id), (e) => { console.error(e.message); process.exit(1); });
    `);
    expect(out).toBe('rehearsal-project');
  });
});

describe('the metadata server, over HTTP', () => {
  test('every answer says Metadata-Flavor: Google; a request without the header is refused', async () => {
    await expect(get(TOKEN, {})).resolves.toMatchObject({ status: 403, flavor: 'Google' });
    await expect(get(TOKEN, { 'Metadata-Flavor': 'google-ish' })).resolves.toMatchObject({ status: 403 });
    await expect(get('/computeMetadata/v1/nothing/here')).resolves.toMatchObject({ status: 404, flavor: 'Google' });
    await expect(get('/computeMetadata/v1/instance')).resolves.toMatchObject({ status: 200, flavor: 'Google' });
    await expect(get('/computeMetadata/v1/')).resolves.toMatchObject({ status: 200, flavor: 'Google' });
    expect(server.issuedTokens()).toEqual([]);
  });

  test('the project id and number', async () => {
    await expect(get('/computeMetadata/v1/project/project-id')).resolves.toMatchObject({
      status: 200,
      body: 'rehearsal-project',
    });
    await expect(get('/computeMetadata/v1/project/numeric-project-id')).resolves.toMatchObject({ body: '42' });
  });

  test('each token request issues a new token, whatever the scopes', async () => {
    const first = await get(`${TOKEN}?scopes=https://www.googleapis.com/auth/datastore`);
    const second = await get(TOKEN);
    expect(first.status).toBe(200);
    const a = JSON.parse(first.body);
    const b = JSON.parse(second.body);
    expect(a).toEqual({
      access_token: expect.stringMatching(/^ya29\.[\w-]{40}$/),
      expires_in: 3600,
      token_type: 'Bearer',
    });
    expect(b.access_token).not.toBe(a.access_token);
    expect(server.issuedTokens()).toEqual([a.access_token, b.access_token]);
    expect(server.tokenRequests).toBe(2);
    expect(server.isValid(a.access_token)).toBe(true);
    expect(server.isValid(`${a.access_token}x`)).toBe(false);
    expect(server.isValid('')).toBe(false);
  });

  test('revokeAll refuses every token issued so far, before its expiry; later ones are valid', async () => {
    const old = JSON.parse((await get(TOKEN)).body).access_token;
    server.revokeAll();
    const fresh = JSON.parse((await get(TOKEN)).body).access_token;
    expect(server.isValid(old)).toBe(false);
    expect(server.isValid(fresh)).toBe(true);
  });

  test('a token is refused past its time to live', async () => {
    await server.close();
    server = await startMetadataServer({ tokenTtlSeconds: 60 });
    const answer = JSON.parse((await get(TOKEN)).body);
    expect(answer.expires_in).toBe(60);
    const now = Date.now();
    const clock = jest.spyOn(Date, 'now');
    try {
      clock.mockReturnValue(now + 59_000);
      expect(server.isValid(answer.access_token)).toBe(true);
      clock.mockReturnValue(now + 61_000);
      expect(server.isValid(answer.access_token)).toBe(false);
    } finally {
      clock.mockRestore();
    }
  });

  test('while not answering, requests are held for good; new ones are answered once it resumes', async () => {
    server.setAnswering(false);
    let settled = false;
    const held = get(TOKEN).finally(() => (settled = true));
    held.catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(server.tokenRequests).toBe(1);
    server.setAnswering(true);
    await expect(get('/computeMetadata/v1/project/project-id')).resolves.toMatchObject({ status: 200 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(settled).toBe(false);
    expect(server.issuedTokens()).toEqual([]);
    // close() drops the held connection: its client sees the socket end.
    await server.close();
    await expect(held).rejects.toMatchObject({ code: 'ECONNRESET' });
    server = await startMetadataServer();
  });
});
