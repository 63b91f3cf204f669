/**
 * `npm start`: the whole exchange on this machine, for a newcomer's first five minutes.
 * Starts the Datastore emulator (unless DATASTORE_EMULATOR_HOST is set), makes an ephemeral
 * signing key (unless SIGNING_KEY_FILE or SIGNING_KEY_SECRET is set), seeds a demo
 * integration key and a demo autojoin key, and serves the three functions on one port.
 * Ctrl-C stops everything it started.
 */
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { createServer, type RequestListener } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminError, createApiKey, createIntegration, createOrganization } from '../shared/keyAdmin';
import { runtime } from '../shared/runtime';
import { generateSigningKey } from '../shared/signingKey';
import { startEmulator, type Emulator } from './emulator';
import { createRouter, type FunctionName } from './localRouter';

const DEMO_INTEGRATION = 'demo-integration';
const DEMO_ORG = 'demo-org';

async function main(): Promise<void> {
  process.env.NODE_ENV ??= 'production';
  process.env.PROJECT_ID ||= 'token-exchange-local';
  const port = Number(process.env.PORT || 8080);
  const cleanups: Array<() => Promise<void> | void> = [];
  const cleanUp = async (): Promise<void> => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  };
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      console.error('\nstopping…');
      cleanUp().then(() => process.exit(0), () => process.exit(1));
    });
  }

  try {
    if (!process.env.DATASTORE_EMULATOR_HOST) {
      console.error('starting the Datastore emulator…');
      const emulator: Emulator = await startEmulator({ projectId: process.env.PROJECT_ID });
      cleanups.push(() => emulator.stop());
      process.env.DATASTORE_EMULATOR_HOST = emulator.host;
      console.error(`Datastore emulator on ${emulator.host}`);
    } else {
      console.error(`using the Datastore emulator at ${process.env.DATASTORE_EMULATOR_HOST}`);
    }

    if (!process.env.SIGNING_KEY_FILE && !process.env.SIGNING_KEY_SECRET) {
      const dir = mkdtempSync(join(tmpdir(), 'token-exchange-key-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      const file = join(dir, 'signing-key.jwk.json');
      writeFileSync(file, JSON.stringify(await generateSigningKey('EdDSA')), { mode: 0o600 });
      process.env.SIGNING_KEY_FILE = file;
      console.error('made an ephemeral EdDSA signing key (set SIGNING_KEY_FILE to use your own)');
    }

    const rt = runtime();
    const ctx = { datastore: rt.datastore, namespaces: rt.config };
    const ensure = async (create: () => Promise<void>): Promise<void> => {
      try {
        await create();
      } catch (error) {
        if (!(error instanceof AdminError && error.code === 'already-exists')) throw error;
      }
    };
    await ensure(() => createIntegration(ctx, DEMO_INTEGRATION, 'made by npm start'));
    await ensure(() => createOrganization(ctx, { name: DEMO_ORG, email: 'demo@example.org' }));
    const integrationKey = await createApiKey(ctx, { kind: 'integration', ownerId: DEMO_INTEGRATION, description: 'demo key (npm start)' });
    const autojoinKey = await createApiKey(ctx, { kind: 'autojoin', ownerId: DEMO_ORG, description: 'demo key (npm start)' });

    // Loaded only now that the environment is complete: each function reads it as it loads.
    require('../functions/exchangeIntegration/index');
    require('../functions/exchangeAutojoin/index');
    require('../functions/jwks/index');
    const app = (name: FunctionName): RequestListener => getTestServer(name).listeners('request')[0] as RequestListener;
    const server = createServer(createRouter({ exchangeIntegration: app('exchangeIntegration'), exchangeAutojoin: app('exchangeAutojoin'), jwks: app('jwks') }));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    cleanups.push(() => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }));

    const base = `http://127.0.0.1:${port}`;
    // The demo keys are printed on purpose: this is a throwaway local stack, and showing a
    // key once at creation is the contract everywhere.
    process.stdout.write(`
token-exchange functions: local stack on ${base}

Demo integration key (${DEMO_INTEGRATION}):
  ${integrationKey.apiKey}
Demo autojoin key (${DEMO_ORG}):
  ${autojoinKey.apiKey}

Try:
  curl -s -X POST ${base}/exchangeIntegration -H 'Content-Type: application/json' \\
    -d '{"api_key": "${integrationKey.apiKey}"}'
  curl -s -X POST ${base}/exchangeAutojoin -H 'Content-Type: application/json' \\
    -d '{"api_key": "${autojoinKey.apiKey}"}'
  curl -s ${base}/jwks

Also at the Go service's paths: POST /v0/token/integration, POST /v0/token/autojoin,
GET /.well-known/jwks.json, GET /health. Logs follow as JSON lines. Ctrl-C stops everything.

`);
  } catch (error) {
    console.error(`npm start failed: ${(error as Error).message}`);
    await cleanUp();
    process.exit(1);
  }
}

void main();
