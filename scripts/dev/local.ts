/**
 * `npm start`: the whole exchange on this machine, for a newcomer's first five minutes, and
 * a place to rehearse what operators do in production.
 *
 * Takes the port first (so a busy port fails before anything starts), starts the Datastore
 * emulator (unless DATASTORE_EMULATOR_HOST is set) and the Secret Manager stand-in holding an
 * RS256 signing key under the alias `current` (unless SIGNING_KEY_FILE or SIGNING_KEY_SECRET
 * is set), seeds a demo integration key, a demo autojoin key and a flat autojoin key as
 * autojoin's orgadm mints them, and serves the three functions on that port. The functions
 * read the signing key as in production (SIGNING_KEY_SECRET, SIGNING_KEY_VERSION=current,
 * over Secret Manager's REST API), with short refresh intervals and token lifetimes, which
 * its printed `export` lines hand to token-admin too: a signing-key rotation rehearsed here
 * takes seconds, and token-admin says its waits were shortened.
 *
 * However it stops — Ctrl-C, SIGTERM, SIGHUP (a closed terminal), or its parent (npm) dying —
 * it stops everything it started, and says so in an INFO log line; the Secret Manager
 * stand-in lives in this process, and the emulator is tied to this process's lifetime by its
 * watchdog (scripts/dev/emulator.ts), so even a SIGKILL leaves nothing behind.
 */
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { createServer, type RequestListener, type Server } from 'node:http';
import { AdminError } from '../../shared/admin/adminError';
import type { AdminContext } from '../../shared/admin/context';
import { createApiKey, keyAndUsageRecord, type NewKey } from '../../shared/admin/keys';
import { publicationDelaySeconds, retirementDelaySeconds } from '../../shared/admin/rotationRules';
import { createIntegration, createOrganization } from '../../shared/admin/owners';
import type { KeyKind } from '../../shared/keys/grammar';
import { apiKeyKey, isPlaintextFlatKey, KIND, ownerKey } from '../../shared/keys/entities';
import { Datastore, PropertyFilter, type Key } from '@google-cloud/datastore';
import { loadConfig, loadTimingSettings, SETTINGS } from '../../shared/platform/config';
import { datastoreOptions } from '../../shared/platform/googleClients';
import { stdoutLogger } from '../../shared/platform/log';
import { isEmulatorReady, startEmulator, type Emulator } from './emulator';
import { startLocalSecretManager, type LocalSecretManager } from './localSecretManager';
import { createRouter, starting } from './localRouter';
import { generateFlatAutojoinKey, saveFlatAutojoinKey } from './orgadm';
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

/**
 * The rotation's clocks on the local stack, unless set: `jwks` and the signers re-read
 * Secret Manager every 5 s (production: 300 s), the key set may be cached for 30 s
 * (production: an hour), and tokens live 20 s, so a staged version may be promoted 35 s
 * after it was staged and a version that stopped signing retired 25 s later (production:
 * 3900 s each). The export lines hand the same values to token-admin, whose rules must wait
 * for what these functions do.
 */
const LOCAL_TIMING: ReadonlyArray<readonly [string, string]> = [
  [SETTINGS.jwksRefreshSeconds.name, '5'],
  [SETTINGS.jwksMaxAgeSeconds.name, '30'],
  [SETTINGS.signingKeyRefreshSeconds.name, '5'],
  [SETTINGS.integrationTokenTtl.name, '20'],
  [SETTINGS.autojoinTokenTtl.name, '20'],
];

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
  const replaced = apiKeyKey(ctx.datastore, kind, ownerId, DEMO_KEY_ID[kind], ctx.namespaces);
  // Its last use too: the new key has the same id, and has not been used.
  await ctx.datastore.delete(keyAndUsageRecord(ctx, replaced));
  return { key: await createApiKey(ctx, input), replaced: true };
}

/**
 * The demo organisation's flat key, freshly minted as orgadm mints it. Earlier starts' flat
 * keys on a reused emulator (their plaintext entities, and the LegacyAPIKey records the
 * exchange or migrate-legacy made of them) are removed first, so the organisation holds one
 * and the printed one works, whatever was done with the last.
 */
async function demoFlatKey(ctx: AdminContext, org: string): Promise<{ flatKey: string; replaced: boolean }> {
  const { datastore, namespaces } = ctx;
  const [plaintexts] = await datastore.runQuery(
    datastore
      .createQuery(namespaces.platformNamespace, KIND.organizationKey)
      .hasAncestor(ownerKey(datastore, 'autojoin', org, namespaces)),
  );
  const [records] = await datastore.runQuery(
    datastore
      .createQuery(namespaces.platformNamespace, KIND.legacyKey)
      .filter(new PropertyFilter('org', '=', org))
      .select('__key__'),
  );
  const keyOf = (entity: Record<string | symbol, unknown>): Key => entity[datastore.KEY] as Key;
  const stale = [
    ...(plaintexts as Array<Record<string | symbol, unknown>>)
      .filter((entity) => isPlaintextFlatKey(String(keyOf(entity).name), entity))
      .map(keyOf),
    ...(records as Array<Record<string | symbol, unknown>>).map(keyOf).flatMap((key) => keyAndUsageRecord(ctx, key)),
  ];
  if (stale.length > 0) await datastore.delete(stale);
  const flatKey = generateFlatAutojoinKey();
  await saveFlatAutojoinKey(datastore, namespaces, org, flatKey);
  return { flatKey, replaced: stale.length > 0 };
}

/** One structured log line, as the functions' own: after start-up, stdout is the log. */
function logInfo(message: string): void {
  stdoutLogger({ severity: 'INFO', message });
}

async function main(): Promise<void> {
  process.env.NODE_ENV ??= 'production';
  process.env.PROJECT_ID ||= 'token-exchange-local';
  for (const [name, value] of LOCAL_TIMING) process.env[name] ||= value;
  // A closed terminal turns writes into EIO/EPIPE: not a reason to crash before cleaning up.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

  const cleanups: Array<() => Promise<void> | void> = [];
  const cleanUp = async (): Promise<void> => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  };
  let stopping = false;
  // A stop is the normal end of a local stack: INFO, in the log's own format. (Once the
  // functions are loaded, console.error is theirs, and would make it an ERROR.)
  const stop = (why: string): void => {
    if (stopping) return;
    stopping = true;
    logInfo(`local stack stopping (${why})`);
    cleanUp().then(
      () => {
        logInfo('local stack stopped');
        process.exit(0);
      },
      (error: unknown) => {
        stdoutLogger({ severity: 'ERROR', message: `local stack: stopping failed: ${String(error).split('\n')[0]}` });
        process.exit(1);
      },
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

    if (!process.env.DATASTORE_EMULATOR_HOST) {
      console.error('starting the Datastore emulator…');
      const emulator: Emulator = await startEmulator({ projectId: process.env.PROJECT_ID });
      cleanups.push(() => emulator.stop());
      process.env.DATASTORE_EMULATOR_HOST = emulator.host;
      console.error(`Datastore emulator on ${emulator.host}`);
    } else {
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

    let secretManager: LocalSecretManager | undefined;
    if (!process.env.SIGNING_KEY_FILE && !process.env.SIGNING_KEY_SECRET) {
      const started = await startLocalSecretManager(process.env.PROJECT_ID, loadTimingSettings(process.env));
      cleanups.push(() => started.stop());
      secretManager = started;
      process.env.SECRET_MANAGER_EMULATOR_HOST = started.host;
      process.env.SIGNING_KEY_SECRET = started.secret;
      process.env.SIGNING_KEY_VERSION = started.alias;
      console.error(`Secret Manager stand-in on ${started.host}`);
    }
    if (stopping) return;

    const config = loadConfig();
    const datastore = new Datastore(
      datastoreOptions({ projectId: config.projectId, emulatorHost: config.datastoreEmulatorHost }),
    );
    const ctx: AdminContext = { datastore, namespaces: config };
    const createdIntegration = await ensureOwner(() => createIntegration(ctx, DEMO_INTEGRATION, 'made by npm start'));
    const createdOrg = await ensureOwner(() => createOrganization(ctx, { name: DEMO_ORG, email: 'demo@example.org' }));
    const integrationKey = await demoKey(ctx, 'integration', DEMO_INTEGRATION);
    const autojoinKey = await demoKey(ctx, 'autojoin', DEMO_ORG);
    const flatKey = await demoFlatKey(ctx, DEMO_ORG);
    const reusedDemo =
      !createdIntegration || !createdOrg || integrationKey.replaced || autojoinKey.replaced || flatKey.replaced;

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
    const env = process.env;
    const timing = LOCAL_TIMING.map(([name]) => `${name}=${env[name]}`).join(' ');
    const exports = [
      `export DATASTORE_EMULATOR_HOST=${env.DATASTORE_EMULATOR_HOST}`,
      `export PROJECT_ID=${env.PROJECT_ID}`,
      ...(env.CLIENT_INTEGRATION_NS ? [`export CLIENT_INTEGRATION_NS=${env.CLIENT_INTEGRATION_NS}`] : []),
      ...(env.PLATFORM_NS ? [`export PLATFORM_NS=${env.PLATFORM_NS}`] : []),
      ...(env.SECRET_MANAGER_EMULATOR_HOST
        ? [`export SECRET_MANAGER_EMULATOR_HOST=${env.SECRET_MANAGER_EMULATOR_HOST}`]
        : []),
      ...(env.SIGNING_KEY_SECRET ? [`export SIGNING_KEY_SECRET=${env.SIGNING_KEY_SECRET}`] : []),
      ...(env.SIGNING_KEY_SECRET && env.SIGNING_KEY_VERSION
        ? [`export SIGNING_KEY_VERSION=${env.SIGNING_KEY_VERSION}`]
        : []),
      `export ${timing}`,
    ];
    const signing = secretManager
      ? `Signing: version ${secretManager.version} (RS256, kid ${secretManager.kid}), alias ${secretManager.alias},\n` +
        `of ${secretManager.secret} in the Secret Manager stand-in,\nread as production reads Secret Manager.\n`
      : `Signing: ${env.SIGNING_KEY_FILE ? `the key file ${env.SIGNING_KEY_FILE}` : env.SIGNING_KEY_SECRET}.\n`;
    const next = (secretManager?.version ?? 0) + 1;
    const retireAfter = retirementDelaySeconds(config);
    const promoteAfter = publicationDelaySeconds(config);
    const rehearsal = secretManager
      ? `
Rehearse a signing-key rotation (token-admin says which settings shortened its waits):
  bin/token-admin.js signing-key stage       # version ${next}: published by jwks, not yet signing
  bin/token-admin.js signing-key promote     # ${promoteAfter} s after stage; sooner is refused
  bin/token-admin.js signing-key retire ${secretManager.version}    # ${retireAfter} s after promote; sooner is refused
  bin/token-admin.js signing-key list
`
      : '';
    const reuseNote = reusedDemo
      ? '\nThis emulator already held the demo data (from an earlier start): it is reused, and the\n' +
        'demo keys were made anew, so keys printed by an earlier start no longer work.\n'
      : '';
    // The demo keys are printed on purpose: this is a throwaway local stack, and showing a
    // key once at creation is the contract everywhere.
    process.stdout.write(`
token-exchange functions: local stack on ${base}

Demo integration key (${DEMO_INTEGRATION}):
  ${integrationKey.key.apiKey}
Demo autojoin key (${DEMO_ORG}):
  ${autojoinKey.key.apiKey}
Flat autojoin key (${DEMO_ORG}), as autojoin's orgadm mints them:
  ${flatKey.flatKey}
${reuseNote}
Try:
  curl -s -X POST ${base}/exchangeIntegration -H 'Content-Type: application/json' \\
    -d '{"api_key": "${integrationKey.key.apiKey}"}'
  curl -s -X POST ${base}/exchangeAutojoin -H 'Content-Type: application/json' \\
    -d '{"api_key": "${autojoinKey.key.apiKey}"}'
  curl -s -X POST ${base}/v0/token/autojoin -H 'Content-Type: application/json' \\
    -d '{"api_key": "${flatKey.flatKey}"}'
  curl -s ${base}/jwks

Also at the Go service's paths: POST /v0/token/integration, POST /v0/token/autojoin,
GET /.well-known/jwks.json, GET /health.

${signing}
token-admin on this stack, while it runs, in another terminal:
  ${exports.join('\n  ')}
  bin/token-admin.js key list --org ${DEMO_ORG}
${rehearsal}
Migrate the flat key as M-Lab will migrate the Go service's (it keeps working):
  bin/token-admin.js autojoin migrate-legacy --dry-run
  bin/token-admin.js autojoin migrate-legacy

Logs follow as JSON lines. Ctrl-C stops everything.

`);
  } catch (error) {
    console.error(`npm start failed: ${(error as Error).message}`);
    await cleanUp();
    process.exit(1);
  }
}

void main();
