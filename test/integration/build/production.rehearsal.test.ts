/**
 * Production, rehearsed: the bundled functions installed and started as the buildpack starts
 * them (test/support/bundles.ts, scripts/perf/coldStart.ts: `functions-framework` with
 * FUNCTION_TARGET, NODE_ENV=production, K_SERVICE, …), with production's settings and no
 * emulator variable, against stand-ins for what Google runs:
 * - a metadata server whose tokens expire and can be refused early (GCE_METADATA_HOST);
 * - Datastore's REST API over HTTPS in front of the emulator, checking the bearer token and
 *   injecting faults (DATASTORE_API_ENDPOINT);
 * - Secret Manager's REST API over HTTPS, with aliases, enabled versions and an outage
 *   (SECRET_MANAGER_API_ENDPOINT).
 * TLS is verified against a throwaway CA the processes trust through NODE_EXTRA_CA_CERTS, as
 * a deployment trusts the system's. HOME is an empty folder: no gcloud credentials to find.
 */
import type { Datastore } from '@google-cloud/datastore';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { send, startFunction, waitForSuccess, type FunctionProcess } from '../../../scripts/perf/coldStart';
import type { Namespaces } from '../../../shared/keys/entities';
import type { FunctionName } from '../../../shared/platform/functions';
import { generateSigningKey } from '../../../shared/signing/signingKey';
import { INSTALL_TIMEOUT_MS, installBundles, type InstalledBundles } from '../../support/bundles';
import { namespaceEnv, testDatastore, uniqueNamespaces } from '../../support/datastore';
import { startDatastoreFront, type DatastoreFault, type DatastoreFront } from '../../support/datastoreFront';
import { startFakeSecretManager, type FakeSecretManager } from '../../support/fakeSecretManager';
import { startMetadataServer, type MetadataServer } from '../../support/metadataServer';
import { goServiceIntegrationKey, newAutojoinKey, newIntegrationKey } from '../../support/seed';
import { testCertificates } from '../../support/tls';

const PROJECT_ID = process.env.PROJECT_ID as string;
const SECRET = `projects/${PROJECT_ID}/secrets/token-exchange-signing-key`;
/** Each Datastore call's deadline here: a 503 must come within it, plus this margin. */
const DATASTORE_TIMEOUT_MS = 1500;
const MARGIN_MS = 1500;

let bundles: InstalledBundles;
let metadata: MetadataServer;
let front: DatastoreFront;
let secrets: FakeSecretManager;
let datastore: Datastore;
let namespaces: Namespaces;
let environment: Record<string, string>;
const started: FunctionProcess[] = [];
const served = {} as Record<FunctionName, FunctionProcess>;
/** Every API key, secret and JWT the test handled: none may reach a log line. */
const secretsSeen: string[] = [];
let goKey: string;
let bcryptKey: string;
let autojoinKey: string;
const signingKeys: Array<{ kid: string; d: string }> = [];

async function start(name: FunctionName): Promise<FunctionProcess> {
  const fn = await startFunction({ dir: bundles.folders[name], target: name, env: environment });
  started.push(fn);
  return fn;
}

/** Polls until the function answers anything at all; throws if its process ends or `ms` pass. */
async function answering(fn: FunctionProcess, ms: number): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const ended = fn.exited();
    if (ended !== undefined) throw new Error(`${fn.url} ended (${ended}) before it listened:\n${fn.stderr()}`);
    try {
      await fetch(`${fn.url}/`);
      return;
    } catch (error) {
      if (Date.now() > until) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function exchange(
  fn: FunctionProcess,
  apiKey = goKey,
): Promise<{ status: number; body: string; headers: Headers }> {
  const response = await fetch(`${fn.url}/`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ api_key: apiKey }),
  });
  const body = await response.text();
  if (response.status === 200) secretsSeen.push((JSON.parse(body) as { token: string }).token);
  return { status: response.status, body, headers: response.headers };
}

async function addSigningKey(): Promise<{ version: number; kid: string }> {
  const jwk = await generateSigningKey('RS256');
  signingKeys.push({ kid: jwk.kid as string, d: String(jwk.d) });
  const name = secrets.addVersion(SECRET, JSON.stringify(jwk));
  return { version: Number(name.slice(name.lastIndexOf('/') + 1)), kid: jwk.kid as string };
}

/** Polls until `check` holds, or throws after `ms`. */
async function eventually<T>(what: string, probe: () => Promise<T>, check: (value: T) => boolean, ms = 15_000) {
  const until = Date.now() + ms;
  let last: T | undefined;
  while (Date.now() < until) {
    last = await probe();
    if (check(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${what}: not within ${ms} ms (last: ${JSON.stringify(last)})`);
}

beforeAll(async () => {
  const certificates = testCertificates();
  [bundles, metadata, secrets] = await Promise.all([
    installBundles('rehearsal'),
    startMetadataServer({ projectId: PROJECT_ID }),
    startFakeSecretManager(),
  ]);
  front = await startDatastoreFront({
    emulatorHost: process.env.DATASTORE_EMULATOR_HOST as string,
    checkToken: (token) => metadata.isValid(token),
  });
  const secretManager = await secrets.https({ checkToken: (token) => metadata.isValid(token) });

  secrets.createSecret(SECRET);
  const first = await addSigningKey();
  secrets.setAlias(SECRET, 'current', first.version);

  datastore = testDatastore();
  namespaces = uniqueNamespaces('rehearsal');
  const go = await goServiceIntegrationKey(datastore, namespaces);
  goKey = go.apiKey;
  bcryptKey = await newIntegrationKey(datastore, namespaces);
  autojoinKey = await newAutojoinKey(datastore, namespaces);
  secretsSeen.push(goKey, bcryptKey, autojoinKey);

  // What deploy.sh gives the functions, plus the stand-ins' addresses. No emulator variable.
  environment = {
    PROJECT_ID,
    ...namespaceEnv(namespaces),
    SIGNING_KEY_SECRET: SECRET,
    SIGNING_KEY_VERSION: 'current',
    TOKEN_ISSUER: 'token-exchange',
    DATASTORE_TIMEOUT_MS: String(DATASTORE_TIMEOUT_MS),
    SIGNING_KEY_REFRESH_SECONDS: '1',
    JWKS_REFRESH_SECONDS: '1',
    DATASTORE_API_ENDPOINT: front.host,
    SECRET_MANAGER_API_ENDPOINT: secretManager.host,
    GCE_METADATA_HOST: metadata.host,
    NODE_EXTRA_CA_CERTS: certificates.caFile,
    HOME: mkdtempSync(join(tmpdir(), 'rehearsal-home-')),
  };
  for (const name of ['exchangeIntegration', 'exchangeAutojoin', 'jwks'] as const) served[name] = await start(name);
  await waitForSuccess(served.jwks, {}, 60_000, 20);
  // The exchanges are listening too (a GET is refused with 405, sending no key): on a busy
  // machine the first test's request could otherwise find a port not yet open.
  await Promise.all([served.exchangeIntegration, served.exchangeAutojoin].map((fn) => answering(fn, 60_000)));
}, INSTALL_TIMEOUT_MS + 60_000);

afterAll(async () => {
  await Promise.all(started.map((fn) => fn.stop()));
  await Promise.all([metadata?.close(), front?.close(), secrets?.stop()]);
  bundles?.remove();
}, 30_000);

beforeEach(() => {
  front.clear();
  secrets.setDown(false);
  metadata.setAnswering(true);
});

describe('the bundled functions with TLS, tokens from the metadata server and Secret Manager', () => {
  test('the three functions answer, and their tokens verify against the published keys (RS256)', async () => {
    const jwks = createRemoteJWKSet(new URL(`${served.jwks.url}/`));
    const integration = await exchange(served.exchangeIntegration);
    expect(integration.status).toBe(200);
    const { token } = JSON.parse(integration.body) as { token: string };
    const verified = await jwtVerify(token, jwks, { issuer: 'token-exchange', audience: 'integration' });
    expect(verified.protectedHeader).toMatchObject({ alg: 'RS256', kid: signingKeys[0].kid, typ: 'JWT' });

    const bcrypt = await exchange(served.exchangeIntegration, bcryptKey);
    expect(bcrypt.status).toBe(200);

    const autojoin = await exchange(served.exchangeAutojoin, autojoinKey);
    expect(autojoin.status).toBe(200);
    const autojoinToken = (JSON.parse(autojoin.body) as { token: string }).token;
    await expect(
      jwtVerify(autojoinToken, jwks, { issuer: 'token-exchange', audience: 'autojoin' }),
    ).resolves.toBeTruthy();

    // Every call carried a token the metadata server issued; none was refused.
    expect(front.unauthorised).toBe(0);
    expect(metadata.tokenRequests).toBeGreaterThan(0);
  });

  test('moving the alias to a new version: it is published, then signs, without a restart', async () => {
    const next = await addSigningKey();
    await eventually(
      'the new key published',
      async () => (await send(served.jwks, {})).text(),
      (body) => (JSON.parse(body) as { keys: Array<{ kid: string }> }).keys.some((key) => key.kid === next.kid),
    );
    secrets.setAlias(SECRET, 'current', next.version);
    await eventually(
      'the new key signing',
      () => exchange(served.exchangeIntegration),
      (answer) =>
        answer.status === 200 &&
        decodeProtectedHeader((JSON.parse(answer.body) as { token: string }).token).kid === next.kid,
    );
    const jwks = createRemoteJWKSet(new URL(`${served.jwks.url}/`));
    const answer = await exchange(served.exchangeIntegration);
    await expect(
      jwtVerify((JSON.parse(answer.body) as { token: string }).token, jwks, { audience: 'integration' }),
    ).resolves.toBeTruthy();
  });

  test('an access token refused before its advertised expiry is replaced without a failed request', async () => {
    expect((await exchange(served.exchangeIntegration)).status).toBe(200);
    const before = metadata.tokenRequests;
    metadata.revokeAll();
    for (let i = 0; i < 3; i++) expect((await exchange(served.exchangeIntegration)).status).toBe(200);
    expect(front.unauthorised).toBeGreaterThan(0);
    expect(metadata.tokenRequests).toBeGreaterThan(before);
  });

  test.each<DatastoreFault>([
    'reset-reused',
    'unavailable',
    'internal',
    'deadline-exceeded',
    'bare-502',
    'bare-503',
    'bare-504',
    'deferred',
    'no-partition',
  ])('Datastore fault %s, once: 200', async (fault) => {
    // A warm keep-alive socket first, so a reset falls on a reused one.
    expect((await exchange(served.exchangeIntegration)).status).toBe(200);
    const calls = front.calls.lookup;
    front.inject(fault, { method: 'lookup' });
    const answer = await exchange(served.exchangeIntegration);
    expect([fault, answer.status]).toEqual([fault, 200]);
    expect(front.calls.lookup).toBeGreaterThan(calls);
  });

  test("PERMISSION_DENIED: 503 problem+json with Retry-After; the log has the reason, not Google's text", async () => {
    front.setPermanent('permission-denied');
    const answer = await exchange(served.exchangeIntegration);
    expect(answer.status).toBe(503);
    expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(0);
    const line = await eventually(
      'the refusal logged',
      () => Promise.resolve(served.exchangeIntegration.stdoutLines.filter((l) => l.includes('PERMISSION_DENIED'))),
      (lines) => lines.length > 0,
    );
    expect(line.at(-1)).toContain('PERMISSION_DENIED [SERVICE_DISABLED]');
    // Google's message quotes the key path's first name (here the integration id): never logged.
    expect(line.at(-1)).not.toMatch(/has not been used|was refused|Enable it/);
    front.setPermanent(undefined);
    expect((await exchange(served.exchangeIntegration)).status).toBe(200);
  });

  /** An exchange while something does not answer: a 503 with Retry-After, within the deadline and a margin. */
  async function expectPromptOutage(): Promise<void> {
    const started = Date.now();
    const answer = await exchange(served.exchangeIntegration);
    const elapsed = Date.now() - started;
    expect(answer.status).toBe(503);
    expect(answer.headers.get('retry-after')).not.toBeNull();
    expect(elapsed).toBeLessThan(DATASTORE_TIMEOUT_MS + MARGIN_MS);
  }

  test('Datastore not answering: 503 within DATASTORE_TIMEOUT_MS and a margin, then 200 once it answers', async () => {
    front.setPermanent('no-answer');
    await expectPromptOutage();
    front.setPermanent(undefined);
    expect((await exchange(served.exchangeIntegration)).status).toBe(200);
  });

  test('the metadata server not answering: 503 within DATASTORE_TIMEOUT_MS and a margin, then 200', async () => {
    expect((await exchange(served.exchangeIntegration)).status).toBe(200);
    // The token in hand is refused, and no new one comes: the request must not wait for ever.
    metadata.setAnswering(false);
    metadata.revokeAll();
    await expectPromptOutage();
    metadata.setAnswering(true);
    expect((await exchange(served.exchangeIntegration)).status).toBe(200);
  });

  test('a new instance while Secret Manager is down: 503 with Retry-After, then 200 without a restart', async () => {
    secrets.setDown(true);
    const [exchangeFn, jwksFn] = await Promise.all([start('exchangeIntegration'), start('jwks')]);
    const answer = await eventually(
      'the new instance answering',
      () => exchange(exchangeFn).catch(() => ({ status: 0, body: '', headers: new Headers() })),
      (a) => a.status !== 0,
    );
    expect(answer.status).toBe(503);
    expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(0);
    const keySet = await eventually(
      'the new jwks instance answering',
      () => send(jwksFn, {}).catch(() => undefined),
      (a) => a !== undefined,
    );
    expect(keySet?.status).toBe(503);
    expect(keySet?.headers.get('retry-after')).not.toBeNull();

    secrets.setDown(false);
    await eventually(
      'the new exchange instance signing',
      () => exchange(exchangeFn),
      (a) => a.status === 200,
    );
    await eventually(
      'the new jwks instance publishing',
      () => send(jwksFn, {}),
      (a) => a.status === 200,
    );
    expect(exchangeFn.exited()).toBeUndefined();
  }, 90_000);

  test('no API key, secret, access token, JWT or private key in any log line', () => {
    const lines = started.flatMap((fn) => [...fn.stdoutLines, fn.stderr()]).join('\n');
    expect(lines.length).toBeGreaterThan(0);
    const forbidden = [
      ...secretsSeen,
      ...secretsSeen.map((value) => value.split('.').at(-1) as string).filter((part) => part.length >= 16),
      ...metadata.issuedTokens(),
      ...signingKeys.map((key) => key.d),
    ];
    expect(forbidden.length).toBeGreaterThan(10);
    for (const value of forbidden) expect(lines.includes(value) ? value.slice(0, 8) : 'absent').toBe('absent');
  });
});
