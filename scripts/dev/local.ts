/**
 * `npm start`: the whole exchange on this machine, for a newcomer's first five minutes.
 * Takes the port first (so a busy port fails before anything starts), starts the Datastore
 * emulator (unless DATASTORE_EMULATOR_HOST is set), makes an ephemeral RS256 signing key
 * (unless SIGNING_KEY_FILE or SIGNING_KEY_SECRET is set), seeds a demo integration key and a
 * demo autojoin key, and serves the three functions on that port.
 *
 * However it stops — Ctrl-C, SIGTERM, SIGHUP (a closed terminal), or its parent (npm) dying —
 * it stops everything it started; and the emulator is tied to this process's lifetime by its
 * watchdog (scripts/dev/emulator.ts), so even a SIGKILL leaves no java behind.
 */
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { createServer, type RequestListener, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminError } from '../../shared/admin/adminError';
import type { AdminContext } from '../../shared/admin/context';
import { createApiKey, type NewKey } from '../../shared/admin/keys';
import { createIntegration, createOrganization } from '../../shared/admin/owners';
import type { KeyKind } from '../../shared/keys/grammar';
import { apiKeyKey } from '../../shared/keys/entities';
import { Datastore } from '@google-cloud/datastore';
import { loadConfig } from '../../shared/platform/config';
import { datastoreOptions } from '../../shared/platform/googleClients';
import { generateSigningKey } from '../../shared/signing/signingKey';
import { isEmulatorReady, startEmulator, type Emulator } from './emulator';
import { createRouter, starting } from './localRouter';
import { FUNCTION_NAMES, type FunctionName } from '../../shared/platform/functions';

const DEMO_INTEGRATION = 'demo-integration';
const DEMO_ORG = 'demo-org';
// Fixed ids, so a reused emulator keeps exactly one demo key of each kind.
const DEMO_KEY_ID: Readonly<Record<KeyKind, string>> = {
  integration: 'ki_00000000000de301',
  autojoin: 'ki_00000000000de302',
};
/** How often we check that the process that started us is still there. */
const PARENT_POLL_MS = 500;

function parsePort(text: string | undefined): number {
  const port = Number(text || 8080);
  if (!Number.isInteger(port) || port < 1 || port > 65_535)
    throw new Error(`PORT must be a port number (1 to 65535), got ${JSON.stringify(text)}`);
  return port;
}

/** Binds the port before anything else starts: a port already taken fails in a second, not after the emulator. */
async function listen(server: Server, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'EADDRINUSE'
          ? new Error(
              `port ${port} on 127.0.0.1 is already in use (another npm start?): ` +
                'stop that, or choose another with PORT=<port>',
            )
          : error,
      );
    });
    server.listen(port, '127.0.0.1', () => resolve());
  });
}

async function ensureOwner(create: () => Promise<void>): Promise<boolean> {
  try {
    await create();
    return true;
  } catch (error) {
    if (error instanceof AdminError && error.code === 'already-exists') return false;
    throw error;
  }
}

/**
 * The demo key of one kind, with a fresh secret. On a reused emulator the key is already
 * there, but its secret cannot be shown again (only a hash is stored): it is replaced, so
 * the key printed now works and the one printed by an earlier start no longer does.
 */
async function demoKey(ctx: AdminContext, kind: KeyKind, ownerId: string): Promise<{ key: NewKey; replaced: boolean }> {
  const input = { kind, ownerId, keyId: DEMO_KEY_ID[kind], description: 'demo key (npm start)' };
  try {
    return { key: await createApiKey(ctx, input), replaced: false };
  } catch (error) {
    if (!(error instanceof AdminError && error.code === 'already-exists')) throw error;
  }
  await ctx.datastore.delete(apiKeyKey(ctx.datastore, kind, ownerId, DEMO_KEY_ID[kind], ctx.namespaces));
  return { key: await createApiKey(ctx, input), replaced: true };
}

async function main(): Promise<void> {
  process.env.NODE_ENV ??= 'production';
  process.env.PROJECT_ID ||= 'token-exchange-local';
  // A closed terminal turns writes into EIO/EPIPE: not a reason to crash before cleaning up.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

  const cleanups: Array<() => Promise<void> | void> = [];
  const cleanUp = async (): Promise<void> => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  };
  let stopping = false;
  const stop = (why: string): void => {
    if (stopping) return;
    stopping = true;
    console.error(`\nstopping (${why})…`);
    cleanUp().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => stop(signal));
  // npm does not pass every signal on (SIGHUP, or its own SIGKILL): when the process that
  // started us is gone we are reparented, and that is our cue to stop too.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) stop('its parent process exited');
  }, PARENT_POLL_MS).unref();

  try {
    const port = parsePort(process.env.PORT);
    let handler: RequestListener = starting;
    const server = createServer((req, res) => handler(req, res));
    await listen(server, port);
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    );

    let reusedEmulator = false;
    if (!process.env.DATASTORE_EMULATOR_HOST) {
      console.error('starting the Datastore emulator…');
      const emulator: Emulator = await startEmulator({ projectId: process.env.PROJECT_ID });
      cleanups.push(() => emulator.stop());
      process.env.DATASTORE_EMULATOR_HOST = emulator.host;
      console.error(`Datastore emulator on ${emulator.host}`);
    } else {
      reusedEmulator = true;
      const host = process.env.DATASTORE_EMULATOR_HOST;
      // Without this, a dead emulator would hang the demo data's first write for a minute of gRPC retries.
      if (!(await isEmulatorReady(host, 3000))) {
        throw new Error(
          `cannot reach the Datastore emulator at ${host} (DATASTORE_EMULATOR_HOST): ` +
            'start it, or unset the variable and npm start runs its own',
        );
      }
      console.error(`using the Datastore emulator at ${host}`);
    }
    if (stopping) return;

    if (!process.env.SIGNING_KEY_FILE && !process.env.SIGNING_KEY_SECRET) {
      const dir = mkdtempSync(join(tmpdir(), 'token-exchange-key-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      const file = join(dir, 'signing-key.jwk.json');
      // RS256 (RSA 2048), as in production: Locate's Cloud Endpoints proxy (ESPv2) verifies RSA, not EdDSA.
      writeFileSync(file, JSON.stringify(await generateSigningKey('RS256')), { mode: 0o600 });
      process.env.SIGNING_KEY_FILE = file;
      console.error('made an ephemeral RS256 signing key (set SIGNING_KEY_FILE to use your own)');
    }

    const config = loadConfig();
    const datastore = new Datastore(
      datastoreOptions({ projectId: config.projectId, emulatorHost: config.datastoreEmulatorHost }),
    );
    const ctx: AdminContext = { datastore, namespaces: config };
    const createdIntegration = await ensureOwner(() => createIntegration(ctx, DEMO_INTEGRATION, 'made by npm start'));
    const createdOrg = await ensureOwner(() => createOrganization(ctx, { name: DEMO_ORG, email: 'demo@example.org' }));
    const integrationKey = await demoKey(ctx, 'integration', DEMO_INTEGRATION);
    const autojoinKey = await demoKey(ctx, 'autojoin', DEMO_ORG);
    const reusedDemo = !createdIntegration || !createdOrg || integrationKey.replaced || autojoinKey.replaced;

    // Loaded only now that the environment is complete: each function reads it as it loads.
    // Literal paths, one per FUNCTION_NAMES entry: the bundler follows only those.
    /* eslint-disable @typescript-eslint/no-require-imports -- loaded after the environment is set, on purpose */
    require('../../functions/exchangeIntegration/index');
    require('../../functions/exchangeAutojoin/index');
    require('../../functions/jwks/index');
    /* eslint-enable @typescript-eslint/no-require-imports */
    const app = (name: FunctionName): RequestListener => getTestServer(name).listeners('request')[0] as RequestListener;
    handler = createRouter(
      Object.fromEntries(FUNCTION_NAMES.map((name) => [name, app(name)])) as Record<FunctionName, RequestListener>,
    );
    if (stopping) return;

    const base = `http://127.0.0.1:${port}`;
    const exports = [
      `export DATASTORE_EMULATOR_HOST=${process.env.DATASTORE_EMULATOR_HOST}`,
      `export PROJECT_ID=${process.env.PROJECT_ID}`,
      ...(process.env.CLIENT_INTEGRATION_NS
        ? [`export CLIENT_INTEGRATION_NS=${process.env.CLIENT_INTEGRATION_NS}`]
        : []),
      ...(process.env.PLATFORM_NS ? [`export PLATFORM_NS=${process.env.PLATFORM_NS}`] : []),
    ];
    const reuseNote = reusedDemo
      ? '\nThis emulator already held the demo data (from an earlier start): it is reused, and the two\n' +
        'demo keys got a fresh secret, so keys printed by an earlier start no longer work.\n'
      : '';
    // The demo keys are printed on purpose: this is a throwaway local stack, and showing a
    // key once at creation is the contract everywhere.
    process.stdout.write(`
token-exchange functions: local stack on ${base}

Demo integration key (${DEMO_INTEGRATION}):
  ${integrationKey.key.apiKey}
Demo autojoin key (${DEMO_ORG}):
  ${autojoinKey.key.apiKey}
${reuseNote}
Try:
  curl -s -X POST ${base}/exchangeIntegration -H 'Content-Type: application/json' \\
    -d '{"api_key": "${integrationKey.key.apiKey}"}'
  curl -s -X POST ${base}/exchangeAutojoin -H 'Content-Type: application/json' \\
    -d '{"api_key": "${autojoinKey.key.apiKey}"}'
  curl -s ${base}/jwks

Also at the Go service's paths: POST /v0/token/integration, POST /v0/token/autojoin,
GET /.well-known/jwks.json, GET /health.

token-admin on this stack's Datastore${reusedEmulator ? '' : ' (while this runs)'}, in another terminal:
  ${exports.join('\n  ')}
  bin/token-admin.js key list --integration ${DEMO_INTEGRATION}

Logs follow as JSON lines. Ctrl-C stops everything.

`);
  } catch (error) {
    console.error(`npm start failed: ${(error as Error).message}`);
    await cleanUp();
    process.exit(1);
  }
}

void main();
