/**
 * The deployable bundles, started exactly the way Cloud Functions (2nd gen) starts them:
 * `npm run build`, each dist/<name> copied to a folder of its own, `npm install --omit=dev`
 * there (the buildpack's install; the npm registry is needed), then that folder's
 * `functions-framework --target=<name>` with NODE_ENV=production, PORT and the function's
 * environment, against the run's Datastore emulator. Each must answer a real request:
 * a token that verifies against the JWKS served by the bundled `jwks`, and the JWKS itself.
 * The same bundles with production's settings (TLS, tokens, Secret Manager, faults) are
 * production.rehearsal.test.ts.
 */
import type { Datastore } from '@google-cloud/datastore';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { INSTALL_TIMEOUT_MS, installBundles, type InstalledBundles } from '../../support/bundles';
import { send, startFunction, waitForSuccess, type FunctionProcess } from '../../../scripts/perf/coldStart';
import type { Namespaces } from '../../../shared/keys/entities';
import { testDatastore, uniqueNamespaces } from '../../support/datastore';
import { newAutojoinKey, newIntegrationKey } from '../../support/seed';
import { signingKeyFile } from '../../support/signingKeys';

const ROOT = join(__dirname, '..', '..', '..');
import { FUNCTION_NAMES as FUNCTIONS, type FunctionName } from '../../../shared/platform/functions';

let bundles: InstalledBundles;
let dist: string;
let datastore: Datastore;
let namespaces: Namespaces;
let environment: Record<string, string>;
let folders: Readonly<Record<FunctionName, string>>;
const started: FunctionProcess[] = [];
const served = {} as Record<FunctionName, FunctionProcess>;

async function start(name: FunctionName, env: Record<string, string> = environment): Promise<FunctionProcess> {
  const fn = await startFunction({ dir: folders[name], target: name, env });
  started.push(fn);
  return fn;
}

beforeAll(async () => {
  const [installed, key] = await Promise.all([installBundles('bundle-smoke'), signingKeyFile('EdDSA')]);
  bundles = installed;
  ({ dist, folders } = installed);
  datastore = testDatastore();
  namespaces = uniqueNamespaces('bundle');
  environment = {
    PROJECT_ID: process.env.PROJECT_ID as string,
    DATASTORE_EMULATOR_HOST: process.env.DATASTORE_EMULATOR_HOST as string,
    // Loopback only: no probe of the GCE metadata server.
    METADATA_SERVER_DETECTION: 'none',
    SIGNING_KEY_FILE: key.path,
    CLIENT_INTEGRATION_NS: namespaces.integrationNamespace,
    PLATFORM_NS: namespaces.platformNamespace,
  };
  for (const name of FUNCTIONS) served[name] = await start(name);
}, INSTALL_TIMEOUT_MS + 60_000);

afterAll(async () => {
  await Promise.all(started.map((fn) => fn.stop()));
  bundles?.remove();
}, 30_000);

describe('what the build ships', () => {
  test.each(FUNCTIONS)('dist/%s holds the bundle, its package files and the files it reads at run time', (name) => {
    const dir = join(dist, name);
    expect(readdirSync(dir, { recursive: true }).map(String).sort()).toEqual(
      ['.gcloudignore', 'googleLibraries.js', 'index.js', 'package-lock.json', 'package.json'].sort(),
    );
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8'));
    expect(manifest).toMatchObject({ main: 'index.js', engines: { node: '24' } });
    expect(manifest.scripts).toBeUndefined();
    expect(manifest.dependencies).toEqual({
      '@google-cloud/functions-framework': lock.packages['node_modules/@google-cloud/functions-framework'].version,
    });
    expect(existsSync(join(folders[name], 'node_modules', '@google-cloud', 'datastore'))).toBe(false);
  });
});

describe("what each bundle holds (esbuild's metafile, dist/meta/<name>.json)", () => {
  /** The source files and packages in one output file of a function's folder. */
  function inputsOf(name: FunctionName, file: 'index.js' | 'googleLibraries.js'): string[] {
    const meta = JSON.parse(readFileSync(join(dist, 'meta', `${name}.json`), 'utf8')) as {
      outputs: Record<string, { inputs: Record<string, unknown> }>;
    };
    const output = Object.entries(meta.outputs).find(([path]) => path.endsWith(`/${name}/${file}`));
    if (!output) throw new Error(`no ${name}/${file} in the metafile`);
    return Object.keys(output[1].inputs);
  }
  /** What the functions never carry: they call Google's REST APIs (shared/platform/googleRest.ts). */
  const CLIENT_LIBRARIES = /node_modules\/(@google-cloud\/(secret-manager|datastore)|google-gax|@grpc\/|protobufjs)\//;

  test('jwks holds no Datastore client and no Datastore code of ours', () => {
    const inputs = [...inputsOf('jwks', 'index.js'), ...inputsOf('jwks', 'googleLibraries.js')];
    expect(inputs.filter((path) => path.includes('node_modules/@google-cloud/datastore/'))).toEqual([]);
    expect(inputs.filter((path) => /^shared\/(exchange|admin)\//.test(path))).toEqual([]);
    expect(inputs).toContain('shared/signing/jwksPublisher.ts');
  });

  test.each(['exchangeIntegration', 'exchangeAutojoin'] as const)(
    '%s holds no JWKS publisher and no Datastore client library',
    (name) => {
      const inputs = inputsOf(name, 'index.js');
      expect(inputs.filter((path) => /^shared\/signing\/jwks/.test(path))).toEqual([]);
      expect(inputs.filter((path) => path.includes('node_modules/@google-cloud/datastore/'))).toEqual([]);
      expect(inputs).toContain('shared/exchange/verifier.ts');
    },
  );

  test.each(FUNCTIONS)(
    '%s: no operator code, no gRPC client library, and google-auth-library only in the file loaded on first use',
    (name) => {
      const inputs = inputsOf(name, 'index.js');
      const lazy = inputsOf(name, 'googleLibraries.js');
      expect(inputs.filter((path) => path.startsWith('shared/admin/'))).toEqual([]);
      expect([...inputs, ...lazy].filter((path) => CLIENT_LIBRARIES.test(path))).toEqual([]);
      expect(inputs.filter((path) => path.includes('node_modules/google-auth-library/'))).toEqual([]);
      expect(lazy.some((path) => path.includes('node_modules/google-auth-library/'))).toBe(true);
    },
  );
});

describe('what gcloud uploads from dist/<name>', () => {
  test.each(FUNCTIONS)('%s: the bundle and its package files, even beside a node_modules and a source map', (name) => {
    // The installed copy has a node_modules; add a source map too. gcloud reads the folder's
    // own .gcloudignore (this lists files locally, without credentials).
    cpSync(join(folders[name], 'index.js'), join(folders[name], 'index.js.map'));
    const listed = spawnSync('gcloud', ['meta', 'list-files-for-upload', folders[name]], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    rmSync(join(folders[name], 'index.js.map'));
    expect(listed.status).toBe(0);
    expect(listed.stdout.trim().split('\n').sort()).toEqual([
      'googleLibraries.js',
      'index.js',
      'package-lock.json',
      'package.json',
    ]);
  });
});

describe('each bundle, installed and started as Cloud Functions does', () => {
  let verify: (token: string, audience: string) => ReturnType<typeof jwtVerify>;
  beforeAll(() => {
    const jwks = createRemoteJWKSet(new URL(`${served.jwks.url}/`));
    verify = (token, audience) => jwtVerify(token, jwks, { issuer: 'token-exchange', audience, clockTolerance: 0 });
  });

  test('jwks serves the public signing key', async () => {
    const { body } = await waitForSuccess(served.jwks, {}, 60_000, 20);
    expect(JSON.parse(body)).toEqual({
      keys: [expect.objectContaining({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' })],
    });
  });

  test('exchangeIntegration exchanges an integration key for a token that verifies', async () => {
    const apiKey = await newIntegrationKey(datastore, namespaces);
    const { body } = await waitForSuccess(
      served.exchangeIntegration,
      { body: JSON.stringify({ api_key: apiKey }) },
      60_000,
      20,
    );
    const token = JSON.parse(body);
    expect(token).toMatchObject({ token_type: 'Bearer', expires_in: 20 });
    await expect(verify(token.token, 'integration')).resolves.toMatchObject({ payload: { aud: 'integration' } });
  });

  test('exchangeAutojoin exchanges an organisation key for a token that verifies', async () => {
    const apiKey = await newAutojoinKey(datastore, namespaces);
    const { body } = await waitForSuccess(
      served.exchangeAutojoin,
      { body: JSON.stringify({ api_key: apiKey }) },
      60_000,
      20,
    );
    const token = JSON.parse(body);
    expect(token).toMatchObject({ token_type: 'Bearer', expires_in: 3600 });
    await expect(verify(token.token, 'autojoin')).resolves.toMatchObject({ payload: { aud: 'autojoin' } });
  });

  test('a bad key is a 401, not a crash', async () => {
    const response = await send(served.exchangeIntegration, {
      body: JSON.stringify({ api_key: 'mlabk.cii_nobody.ki_0000000000000000.AAAA' }),
    });
    expect(response.status).toBe(401);
  });

  test.each(FUNCTIONS)('%s stays up and writes only JSON log lines on stdout', async (name) => {
    const fn = served[name];
    const response = await send(fn, { method: 'GET' });
    expect(response.status).toBe(name === 'jwks' ? 200 : 405);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(fn.exited()).toBeUndefined();
    const lines = fn.stdoutLines.filter((line) => line.trim() !== '');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      const entry = JSON.parse(line);
      expect(entry).toEqual(expect.objectContaining({ severity: expect.any(String), message: expect.any(String) }));
    }
    expect(lines.map((line) => JSON.parse(line).function)).toContain(name);
  });
});
