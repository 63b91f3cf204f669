/**
 * What `npm start` does before it serves, run as the bundled local stack in a child process:
 * a busy port fails before any emulator starts; on a reused emulator the demo data is made
 * once and the printed keys work; the key is RS256 and comes from the Secret Manager
 * stand-in, as production's comes from Secret Manager; the export lines point token-admin
 * (the bundled CLI, in a child process, given nothing but those lines) at the stack, so a
 * signing-key rotation can be rehearsed on it with shortened waits; the flat autojoin key it
 * seeds is shaped as autojoin's orgadm writes them, exchangeable, and migratable; a normal
 * stop logs INFO; no metadata-server probe.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { freePort } from '../../../scripts/dev/emulator';
import { KIND, ownerKey } from '../../../shared/keys/entities';
import { uniqueNamespaces, namespaceEnv, testDatastore } from '../../support/datastore';
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

/** Stops the stack as a terminal or a supervisor would; resolves with its exit code. */
async function stopLocal(started: Started, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (started.child.exitCode === null) started.child.kill(signal);
  return started.exited;
}

/** The log lines (JSON) the stack wrote after its banner. */
function logLines(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** A normal stop: one INFO line naming the signal, and nothing logged as an ERROR. */
function expectCleanStop(started: Started, signal: NodeJS.Signals): void {
  const logs = logLines(started.stdout());
  expect(logs).toContainEqual({ severity: 'INFO', message: `local stack stopping (${signal})` });
  expect(logs).toContainEqual({ severity: 'INFO', message: 'local stack stopped' });
  expect(logs.filter((entry) => entry.severity === 'ERROR' || 'stack_trace' in entry)).toEqual([]);
}

function printedKeys(stdout: string): { integration: string; autojoin: string; flat: string } {
  const integration = /^ {2}(mlabk\.cii_\S+)$/m.exec(stdout)?.[1];
  const autojoin = /^ {2}(mlabk\.org_\S+)$/m.exec(stdout)?.[1];
  const flat = /^Flat autojoin key \(demo-org\), as autojoin's orgadm mints them:\n {2}(\S+)$/m.exec(stdout)?.[1];
  if (!integration || !autojoin || !flat) throw new Error(`no demo keys in:\n${stdout}`);
  return { integration, autojoin, flat };
}

/** The variables of the printed `export` lines, as a shell that ran them would hold them. */
function printedExports(stdout: string): Record<string, string> {
  const lines = [...stdout.matchAll(/^ {2}export (.+)$/gm)].map((m) => m[1]);
  return Object.fromEntries(
    lines.flatMap((line) =>
      line.split(' ').map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
    ),
  );
}

/** Refresh intervals are what is tested here, not timers: this waits past one. */
const sleepUntil = (at: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));

/** token-admin, bundled, in a child process with exactly `env`. */
function runBundledCli(
  cli: string,
  args: readonly string[],
  env: Record<string, string | undefined>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { env }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
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
    'on a reused emulator makes the demo data once; each start prints keys that work, RS256, and the export lines; ' +
      'SIGINT and SIGTERM stop it with an INFO line',
    async () => {
      const namespaces = uniqueNamespaces('local');
      const env = { ...namespaceEnv(namespaces), DATASTORE_EMULATOR_HOST: process.env.DATASTORE_EMULATOR_HOST };
      const port = await freePort();

      const first = startLocal({ ...env, PORT: String(port) });
      let firstKeys: { integration: string; autojoin: string; flat: string };
      try {
        await serving(first);
        firstKeys = printedKeys(first.stdout());
        expect(first.stdout()).not.toContain('already held the demo data');
        expect(first.stdout()).toContain(`export DATASTORE_EMULATOR_HOST=${process.env.DATASTORE_EMULATOR_HOST}\n`);
        expect(first.stdout()).toContain(`export PROJECT_ID=${process.env.PROJECT_ID}\n`);
        expect(first.stdout()).toContain(`export CLIENT_INTEGRATION_NS=${namespaces.integrationNamespace}\n`);
        expect((await exchange(port, '/v0/token/integration', firstKeys.integration)).status).toBe(200);
        expect((await exchange(port, '/v0/token/autojoin', firstKeys.flat)).status).toBe(200);
      } finally {
        expect(await stopLocal(first, 'SIGINT')).toBe(0);
      }
      expectCleanStop(first, 'SIGINT');

      const datastore = testDatastore();
      const count = async (namespace: string, kind: string): Promise<number> =>
        (await datastore.runQuery(datastore.createQuery(namespace, kind)))[0].length;
      const second = startLocal({ ...env, PORT: String(port) });
      try {
        await serving(second);
        // The replaced keys' last uses went with them: a new key is never shown as used.
        expect(await count(namespaces.integrationNamespace, 'KeyUsage')).toBe(0);
        expect(await count(namespaces.platformNamespace, 'KeyUsage')).toBe(0);
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
        expect((await exchange(port, '/v0/token/autojoin', keys.flat)).status).toBe(200);
        expect((await exchange(port, '/exchangeIntegration', firstKeys.integration)).status).toBe(401);
        expect((await exchange(port, '/exchangeAutojoin', firstKeys.autojoin)).status).toBe(401);
        expect((await exchange(port, '/v0/token/autojoin', firstKeys.flat)).status).toBe(401);
        const jwks = (await (await fetch(`http://127.0.0.1:${port}/jwks`)).json()) as {
          keys: Array<Record<string, unknown>>;
        };
        expect(jwks.keys).toHaveLength(1);
        expect(jwks.keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS256' });
        expect(jwks.keys[0]).not.toHaveProperty('d');
        expect(`${second.stderr()}${first.stderr()}`).not.toContain('MetadataLookupWarning');
      } finally {
        expect(await stopLocal(second, 'SIGTERM')).toBe(0);
      }
      expectCleanStop(second, 'SIGTERM');

      // One of each demo key, the flat one included, however many starts: the second
      // start's flat key, exchanged once, has the LegacyAPIKey record the exchange makes.
      expect([
        await count(namespaces.integrationNamespace, 'IntegrationMeta'),
        await count(namespaces.integrationNamespace, 'IntegrationAPIKey'),
        await count(namespaces.platformNamespace, 'APIKey'),
        await count(namespaces.platformNamespace, 'LegacyAPIKey'),
        await count(namespaces.integrationNamespace, 'KeyUsage'),
        await count(namespaces.platformNamespace, 'KeyUsage'),
      ]).toEqual([1, 1, 2, 1, 1, 2]);
    },
    150_000,
  );

  it(
    'signs through the Secret Manager stand-in, and its export lines let token-admin rehearse a rotation ' +
      '(stage, promote, retire, with shortened waits) and migrate the flat key orgadm minted',
    async () => {
      const namespaces = uniqueNamespaces('local-rotation');
      const port = await freePort();
      // Shorter still than npm start's own (5 s, 30 s, 20 s), so the rehearsal's waits are 3 s and 5 s.
      const timing = {
        JWKS_REFRESH_SECONDS: '1',
        JWKS_MAX_AGE_SECONDS: '2',
        SIGNING_KEY_REFRESH_SECONDS: '1',
        INTEGRATION_TOKEN_TTL: '4',
        AUTOJOIN_TOKEN_TTL: '4',
      };
      const stack = startLocal({
        ...namespaceEnv(namespaces),
        ...timing,
        DATASTORE_EMULATOR_HOST: process.env.DATASTORE_EMULATOR_HOST,
        PORT: String(port),
        SIGNING_KEY_SECRET: undefined,
        SIGNING_KEY_VERSION: undefined,
        SECRET_MANAGER_EMULATOR_HOST: undefined,
      });
      try {
        await serving(stack);
        const keys = printedKeys(stack.stdout());
        const exported = printedExports(stack.stdout());
        expect(exported).toEqual({
          DATASTORE_EMULATOR_HOST: process.env.DATASTORE_EMULATOR_HOST,
          PROJECT_ID: process.env.PROJECT_ID,
          ...namespaceEnv(namespaces),
          SECRET_MANAGER_EMULATOR_HOST: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
          SIGNING_KEY_SECRET: `projects/${process.env.PROJECT_ID}/secrets/token-exchange-signing-key`,
          SIGNING_KEY_VERSION: 'current',
          ...timing,
        });

        // token-admin as a new terminal runs it: the shell's own environment, then the export lines.
        const shell: Record<string, string | undefined> = { PATH: process.env.PATH, HOME: process.env.HOME };
        const tokenAdmin = (...args: string[]) => runBundledCli(built.cli, args, { ...shell, ...exported });
        const note =
          'note: waits shortened by JWKS_REFRESH_SECONDS=1, JWKS_MAX_AGE_SECONDS=2, SIGNING_KEY_REFRESH_SECONDS=1, ' +
          'INTEGRATION_TOKEN_TTL=4, AUTOJOIN_TOKEN_TTL=4: promote after 3 s, retire after 5 s; ' +
          'production (the defaults) waits 3900 s and 3900 s\n';
        const base = `http://127.0.0.1:${port}`;
        const jwks = async (): Promise<string[]> =>
          ((await (await fetch(`${base}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> }).keys.map(
            (k) => k.kid,
          );
        const verify = (token: string) =>
          jwtVerify(token, createRemoteJWKSet(new URL(`${base}/.well-known/jwks.json`)), {
            issuer: 'token-exchange',
            audience: decodeJwt(token).aud as string,
          });
        const tokenOf = async (path: string, apiKey: string): Promise<string> => {
          const response = await exchange(port, path, apiKey);
          expect(response.status).toBe(200);
          return ((await response.json()) as { token: string }).token;
        };
        const kidOf = (token: string): string | undefined => decodeProtectedHeader(token).kid;

        // The key that signs is the stand-in's version 1, under the alias the functions read.
        const listed = await tokenAdmin('signing-key', 'list', '--json');
        expect(listed).toMatchObject({ code: 0, stderr: note });
        const [v1] = JSON.parse(listed.stdout) as Array<{ version: number; kid: string; role: string }>;
        expect(v1).toMatchObject({ version: 1, alg: 'RS256', aliases: ['current'], role: 'signing' });
        const before = await tokenOf('/v0/token/integration', keys.integration);
        expect(decodeProtectedHeader(before)).toMatchObject({ alg: 'RS256', kid: v1.kid });
        expect(await jwks()).toEqual([v1.kid]);
        await verify(before);

        // Stage: published by jwks within its refresh, not signing.
        const staged = await tokenAdmin('signing-key', 'stage', '--json');
        expect(staged).toMatchObject({ code: 0, stderr: note });
        const v2 = JSON.parse(staged.stdout) as { version: number; kid: string };
        expect(v2).toMatchObject({ version: 2, alg: 'RS256' });
        // An instance idle for longer than its refresh interval reads again before it answers:
        // the first set served after that interval has the new key (never a set read before).
        const stagedAt = Date.now();
        await sleepUntil(stagedAt + 1100);
        expect(await jwks()).toEqual([v2.kid, v1.kid]);
        expect(kidOf(await tokenOf('/exchangeIntegration', keys.integration))).toBe(v1.kid);

        // Promote: refused until verifiers' cache of the set without it has run out (max-age + refresh).
        const early = await tokenAdmin('signing-key', 'promote');
        expect(early.code).toBe(1);
        expect(early.stderr.startsWith(note)).toBe(true);
        expect(early.stderr.slice(note.length)).toMatch(/^token-admin: version 2 .*cache the JWKS for 3 s.*--force\n$/);
        await sleepUntil(stagedAt + 3500);
        const promoted = await tokenAdmin('signing-key', 'promote');
        expect(promoted).toMatchObject({
          code: 0,
          stdout: `current is now version 2 (kid ${v2.kid}); version 1 stopped signing: retire it after 5 s\n`,
        });
        const promotedAt = Date.now();
        // Likewise the signer: once its refresh interval has passed, the next token, whichever
        // function's, is signed with the promoted key. Every token, either key's, verifies
        // against the published set (checked as it is issued: they live 4 s).
        await sleepUntil(promotedAt + 1100);
        for (const [path, apiKey] of [
          ['/exchangeIntegration', keys.integration],
          ['/exchangeAutojoin', keys.autojoin],
        ] as const) {
          const token = await tokenOf(path, apiKey);
          await verify(token);
          expect(kidOf(token)).toBe(v2.kid);
        }

        // Retire: refused until the shortened wait (refresh + longest token) is over, then done.
        const tooSoon = await tokenAdmin('signing-key', 'retire', '1');
        expect(tooSoon.code).toBe(1);
        expect(tooSoon.stderr).toMatch(/version 1 stopped signing at .*for 1 s more and tokens live up to 4 s/);
        await sleepUntil(promotedAt + 5500);
        expect(await tokenAdmin('signing-key', 'retire', '1')).toEqual({
          code: 0,
          stdout: 'disabled version 1: jwks stops publishing it at its next refresh\n',
          stderr: note,
        });
        await sleepUntil(Date.now() + 1100);
        expect(await jwks()).toEqual([v2.kid]);
        await verify(await tokenOf('/v0/token/autojoin', keys.autojoin));
        const roles = JSON.parse((await tokenAdmin('signing-key', 'list', '--json')).stdout) as Array<object>;
        expect(roles).toMatchObject([
          { version: 2, kid: v2.kid, state: 'ENABLED', role: 'signing' },
          { version: 1, kid: v1.kid, state: 'DISABLED', role: 'disabled' },
        ]);

        // The flat key, exactly as orgadm writes it.
        expect(keys.flat).toMatch(/^[A-Za-z0-9_-]{43}$/);
        const datastore = testDatastore();
        const [plaintext] = await datastore.get(
          datastore.key({
            namespace: namespaces.platformNamespace,
            path: [KIND.organization, 'demo-org', KIND.organizationKey, keys.flat],
          }),
        );
        expect(plaintext).toMatchObject({ key: keys.flat, created_at: expect.any(Date) });
        expect(Object.keys(plaintext).sort()).toEqual(['created_at', 'key']);
        expect((await datastore.get(ownerKey(datastore, 'autojoin', 'demo-org', namespaces)))[0]).toBeDefined();

        // migrate-legacy through the printed lines, then the same key at the Go service's path.
        const migrated = await tokenAdmin('autojoin', 'migrate-legacy', '--json');
        expect(migrated.code).toBe(0);
        expect(JSON.parse(migrated.stdout)).toMatchObject({
          migrated: 1,
          scoped: 1,
          orgs: [{ org: 'demo-org', migrated: 1 }],
        });
        expect(migrated.stdout + migrated.stderr).not.toContain(keys.flat);
        const flatToken = await tokenOf('/v0/token/autojoin', keys.flat);
        expect(decodeJwt(flatToken)).toMatchObject({ aud: 'autojoin', org: 'demo-org' });
        await verify(flatToken);
      } finally {
        expect(await stopLocal(stack, 'SIGINT')).toBe(0);
      }
      expectCleanStop(stack, 'SIGINT');
      expect(stack.stdout() + stack.stderr()).not.toContain('MetadataLookupWarning');
    },
    120_000,
  );
});
