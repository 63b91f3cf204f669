/**
 * `npx token-admin` as operators run it: the built bin in a child process. Whatever goes
 * wrong, it says so in one line that says what to do: no stack trace, no raw gRPC status.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { freePort } from '../../../scripts/dev/emulator';
import { namespaceEnv } from '../../support/cli';
import { uniqueNamespaces } from '../../support/datastore';
import { startFakeSecretManager, type FakeSecretManager } from '../../support/fakeSecretManager';
import { uniqueId } from '../../support/seed';

const ROOT = join(__dirname, '../../..');
const BIN = join(ROOT, 'bin/token-admin.js');

beforeAll(() => {
  // CI names the dist/ it hands on (BUNDLE_SMOKE_DIST): npm ci's `prepare` built it from this
  // tree, and rebuilding it here would rewrite it under the bundle smoke test that reads it.
  if (process.env.BUNDLE_SMOKE_DIST) return;
  // The repo's own node (Node 24), as npm scripts use it.
  execFileSync(process.execPath, ['scripts/build/build.mts'], { cwd: ROOT, stdio: 'pipe' });
}, 60_000);

function tokenAdmin(
  args: string[],
  env: Record<string, string | undefined> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: ROOT, env: { ...process.env, ...env } },
      (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
      },
    );
  });
}

describe('bin/token-admin.js', () => {
  it('prints help and exits 0', async () => {
    const result = await tokenAdmin(['--help']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(/^Usage: token-admin <noun> <verb> \[options\]/);
  });

  it('creates an integration and a key on the emulator, then exits by itself', async () => {
    const env = namespaceEnv(uniqueNamespaces('cli-bin'));
    const id = uniqueId('bin');
    expect(await tokenAdmin(['integration', 'create', id], env)).toMatchObject({
      code: 0,
      stdout: `created integration ${id}\n`,
    });
    const created = await tokenAdmin(['key', 'create', '--integration', id], env);
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(new RegExp(`^mlabk\\.cii_${id}\\.ki_[0-9a-f]{16}\\.[A-Za-z0-9_-]{43}\\n$`));
    expect(created.stderr).toMatch(/cannot be shown again/);
  });

  it('reports an expected failure in one line, without a stack trace, and a non-zero exit', async () => {
    const result = await tokenAdmin(
      ['integration', 'show', 'no-such-integration'],
      namespaceEnv(uniqueNamespaces('cli-bin')),
    );
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: 'token-admin: integration no-such-integration does not exist\n',
    });
  });
});

describe('bin/token-admin.js: one line that says what to do', () => {
  const SECRET = 'projects/mlab-sandbox/secrets/token-exchange-signing-key';
  let home: string;
  let fake: FakeSecretManager;

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'token-admin-home-'));
    fake = await startFakeSecretManager();
  });
  afterAll(async () => {
    rmSync(home, { recursive: true, force: true });
    await fake.stop();
  });

  /**
   * A machine with no Google credentials at all: an empty home and gcloud configuration, no
   * key file, no emulator, and the metadata server a closed port on this machine.
   */
  async function noCredentials(): Promise<Record<string, string | undefined>> {
    return {
      HOME: home,
      CLOUDSDK_CONFIG: home,
      GOOGLE_APPLICATION_CREDENTIALS: undefined,
      GCE_METADATA_HOST: `127.0.0.1:${await freePort()}`,
      DATASTORE_EMULATOR_HOST: undefined,
      SECRET_MANAGER_EMULATOR_HOST: undefined,
      PROJECT_ID: 'mlab-sandbox',
      SIGNING_KEY_SECRET: SECRET,
    };
  }

  it('without credentials, Datastore commands name the login and DATASTORE_EMULATOR_HOST from npm start', async () => {
    expect(await tokenAdmin(['key', 'list', '--integration', 'speedtest'], await noCredentials())).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'token-admin: no Google credentials to reach Datastore: run gcloud auth application-default login; ' +
        'for the local stack instead, export DATASTORE_EMULATOR_HOST as npm start prints it\n',
    });
  });

  it('without credentials, a signing-key command names the login, the secret and the stand-in settings', async () => {
    for (const verb of ['list', 'stage']) {
      expect(await tokenAdmin(['signing-key', verb], await noCredentials())).toEqual({
        code: 1,
        stdout: '',
        stderr:
          `token-admin: no Google credentials to reach Secret Manager (${SECRET}): ` +
          'run gcloud auth application-default login; for the local stack instead, ' +
          'export SECRET_MANAGER_EMULATOR_HOST and SIGNING_KEY_SECRET as npm start prints them\n',
      });
    }
  });

  it('a Secret Manager stand-in that does not answer is named, with the secret and the setting', async () => {
    const host = `127.0.0.1:${await freePort()}`;
    const result = await tokenAdmin(['signing-key', 'stage'], {
      SECRET_MANAGER_EMULATOR_HOST: host,
      SIGNING_KEY_SECRET: SECRET,
    });
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr:
        `token-admin: cannot reach Secret Manager at ${host} (SECRET_MANAGER_EMULATOR_HOST) for ${SECRET} ` +
        '(SIGNING_KEY_SECRET): is npm start still running? It prints the host to use\n',
    });
  });

  it('Secret Manager refusing, or not holding the secret, is said in words with what to check', async () => {
    const secret = `projects/p/secrets/${uniqueId('refusing')}`;
    fake.createSecret(secret);
    const env = { SECRET_MANAGER_EMULATOR_HOST: fake.host, SIGNING_KEY_SECRET: undefined };
    fake.failNext('GetSecret', 1, status.PERMISSION_DENIED);
    expect(await tokenAdmin(['signing-key', 'list', '--secret', secret], env)).toEqual({
      code: 1,
      stdout: '',
      stderr:
        `token-admin: Secret Manager refused access to ${secret} (--secret) (permission denied): ` +
        'check the name, and that your account may manage the secret (roles/secretmanager.admin)\n',
    });
    const missing = `projects/p/secrets/${uniqueId('missing')}`;
    expect(await tokenAdmin(['signing-key', 'promote', '--secret', missing], env)).toEqual({
      code: 1,
      stdout: '',
      stderr: `token-admin: Secret Manager has no ${missing} (--secret): check the name, or create the secret first\n`,
    });
  });

  it('an unknown option names the closest one', async () => {
    expect(await tokenAdmin(['integration', 'list', '--jsno'])).toEqual({
      code: 2,
      stdout: '',
      stderr: "token-admin: Unknown option '--jsno' (did you mean --json?); run token-admin integration list --help\n",
    });
  });
});
