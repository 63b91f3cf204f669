/**
 * What `npm start` does before it serves, run as the bundled local stack in a child process:
 * a busy port fails before any emulator starts; on a reused emulator the demo data is made
 * once and the printed keys work; the key is RS256; the export lines point token-admin at
 * the stack's Datastore; no metadata-server probe.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { Datastore } from '@google-cloud/datastore';
import { freePort } from '../../../scripts/dev/emulator';
import { uniqueNamespaces, namespaceEnv } from '../../support/datastore';
import { buildLocalStack, type BuiltLocalStack } from '../../support/localStack';

let built: BuiltLocalStack;

beforeAll(async () => {
  built = await buildLocalStack('local-start');
}, 60_000);

afterAll(() => built.remove());

interface Started {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
}

function startLocal(env: Record<string, string | undefined>): Started {
  const full: Record<string, string | undefined> = { ...process.env, ...env };
  delete full.SIGNING_KEY_FILE;
  const child = spawn(process.execPath, [built.script], { env: full, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

async function serving(started: Started): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (!started.stdout().includes('Ctrl-C stops everything')) {
    if (Date.now() > deadline || started.child.exitCode !== null)
      throw new Error(`the stack did not come up:\n${started.stdout()}\n${started.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function stopLocal(started: Started): Promise<void> {
  if (started.child.exitCode === null) started.child.kill('SIGTERM');
  await started.exited;
}

function printedKeys(stdout: string): { integration: string; autojoin: string } {
  const integration = /^ {2}(mlabk\.cii_\S+)$/m.exec(stdout)?.[1];
  const autojoin = /^ {2}(mlabk\.org_\S+)$/m.exec(stdout)?.[1];
  if (!integration || !autojoin) throw new Error(`no demo keys in:\n${stdout}`);
  return { integration, autojoin };
}

async function exchange(port: number, path: string, apiKey: string): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ api_key: apiKey }),
  });
}

describe('npm start', () => {
  it('fails at once, naming the port, when the port is taken, and starts no emulator', async () => {
    const blocker: Server = createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', () => resolve()));
    try {
      const started = startLocal({ PORT: String(port), DATASTORE_EMULATOR_HOST: undefined });
      expect(await started.exited).toBe(1);
      expect(started.stderr()).toContain(`port ${port} on 127.0.0.1 is already in use`);
      expect(started.stderr()).toContain('PORT=');
      expect(started.stderr()).not.toContain('emulator');
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  it('fails at once, naming the host, when DATASTORE_EMULATOR_HOST does not answer', async () => {
    const host = `127.0.0.1:${await freePort()}`;
    const started = startLocal({ PORT: String(await freePort()), DATASTORE_EMULATOR_HOST: host });
    expect(await started.exited).toBe(1);
    expect(started.stderr()).toContain(`cannot reach the Datastore emulator at ${host} (DATASTORE_EMULATOR_HOST)`);
  });

  it('refuses a PORT that is not a port number', async () => {
    const started = startLocal({ PORT: 'eighty' });
    expect(await started.exited).toBe(1);
    expect(started.stderr()).toContain('PORT must be a port number');
  });

  it(
    'on a reused emulator makes the demo data once; each ' + 'start prints keys that work, RS256, and the export lines',
    async () => {
      const namespaces = uniqueNamespaces('local');
      const env = { ...namespaceEnv(namespaces), DATASTORE_EMULATOR_HOST: process.env.DATASTORE_EMULATOR_HOST };
      const port = await freePort();

      const first = startLocal({ ...env, PORT: String(port) });
      let firstKeys: { integration: string; autojoin: string };
      try {
        await serving(first);
        firstKeys = printedKeys(first.stdout());
        expect(first.stdout()).not.toContain('already held the demo data');
        expect(first.stdout()).toContain(`export DATASTORE_EMULATOR_HOST=${process.env.DATASTORE_EMULATOR_HOST}\n`);
        expect(first.stdout()).toContain(`export PROJECT_ID=${process.env.PROJECT_ID}\n`);
        expect(first.stdout()).toContain(`export CLIENT_INTEGRATION_NS=${namespaces.integrationNamespace}\n`);
        expect((await exchange(port, '/v0/token/integration', firstKeys.integration)).status).toBe(200);
      } finally {
        await stopLocal(first);
      }

      const second = startLocal({ ...env, PORT: String(port) });
      try {
        await serving(second);
        const keys = printedKeys(second.stdout());
        expect(second.stdout()).toContain('already held the demo data');
        expect(second.stdout()).toContain('keys printed by an earlier start no longer work');
        const integration = await exchange(port, '/exchangeIntegration', keys.integration);
        expect(integration.status).toBe(200);
        const { token } = (await integration.json()) as { token: string };
        expect(JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString())).toMatchObject({
          alg: 'RS256',
          typ: 'JWT',
        });
        expect((await exchange(port, '/exchangeAutojoin', keys.autojoin)).status).toBe(200);
        expect((await exchange(port, '/exchangeIntegration', firstKeys.integration)).status).toBe(401);
        const jwks = (await (await fetch(`http://127.0.0.1:${port}/jwks`)).json()) as {
          keys: Array<Record<string, unknown>>;
        };
        expect(jwks.keys).toHaveLength(1);
        expect(jwks.keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS256' });
        expect(jwks.keys[0]).not.toHaveProperty('d');
        expect(`${second.stderr()}${first.stderr()}`).not.toContain('MetadataLookupWarning');
      } finally {
        await stopLocal(second);
      }

      const datastore = new Datastore({ projectId: process.env.PROJECT_ID });
      const [integrationKeys] = await datastore.runQuery(
        datastore.createQuery(namespaces.integrationNamespace, 'IntegrationAPIKey'),
      );
      const [orgKeys] = await datastore.runQuery(datastore.createQuery(namespaces.platformNamespace, 'APIKey'));
      const [integrations] = await datastore.runQuery(
        datastore.createQuery(namespaces.integrationNamespace, 'IntegrationMeta'),
      );
      expect([integrations.length, integrationKeys.length, orgKeys.length]).toEqual([1, 1, 1]);
    },
    150_000,
  );
});
