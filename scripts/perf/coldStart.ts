/**
 * Starting a deployable function folder the way Cloud Functions (2nd gen) starts it, and
 * measuring its cold start: process start to the first successful response.
 *
 * Google's Node.js buildpack (GoogleCloudPlatform/buildpacks, cmd/nodejs/functions_framework)
 * installs the folder's dependencies and defines the web process as
 * `/bin/bash -c node_modules/.bin/functions-framework`, in the folder: the framework reads
 * its target from FUNCTION_TARGET and FUNCTION_SIGNATURE_TYPE, and NODE_OPTIONS carries
 * `--max-old-space-size=<memory − 64 MB>`; the runtime adds PORT, NODE_ENV=production,
 * K_SERVICE, K_REVISION, K_CONFIGURATION. `startFunction` does the same with the folder's own
 * installed functions-framework, on this Node (24, first on PATH), in a process group of its
 * own so that `stop()` ends everything it started. (The buildpack can also build a V8 compile
 * cache, but only under a build study flag, not for ordinary deploys, so it is not used here.)
 *
 * `node dist/scripts/coldStart.js [repetitions]` (after `npm run build`) compares the two
 * layouts the build could ship, side by side on the same emulator and the same keys:
 * - bundled:   dist/<name>/ as built (one file; only functions-framework installed),
 * - unbundled: functions/ and shared/ compiled file by file (no bundling) beside the
 *              project's whole runtime node_modules (`npm ci --omit=dev`).
 * Installs happen in temporary folders (the npm registry is needed once per layout).
 */
import { spawn, spawnSync } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import { cpSync, existsSync, globSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { Datastore } from '@google-cloud/datastore';
import { build } from 'esbuild';
import { createApiKey } from '../../shared/admin/keys';
import { createIntegration, createOrganization } from '../../shared/admin/owners';
import { generateSigningKey } from '../../shared/signing/signingKey';
import { FUNCTION_NAMES as FUNCTIONS, type FunctionName } from '../../shared/platform/functions';
import { median } from './bench/stats';
import { freePort, startEmulator } from '../dev/emulator';
import { spawnGroup } from '../dev/processGroup';
import { procStat } from './bench/processTree';

export interface FunctionRequest {
  /** Default GET, or POST when there is a body. */
  readonly method?: string;
  /** Default `/`. */
  readonly path?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
}

export interface StartFunctionOptions {
  /** A deployable folder with its dependencies installed (node_modules). */
  readonly dir: string;
  /** The function's name, as `--target` / `--entry-point`. */
  readonly target: string;
  /** The function's environment (Cloud Functions passes only what was deployed, plus its own). */
  readonly env?: Readonly<Record<string, string>>;
  /** Port on 127.0.0.1 (default: a free one). */
  readonly port?: number;
  /**
   * Options for node itself, passed in NODE_OPTIONS (which allows e.g. `--max-old-space-size` and
   * `--require`, not `--cpu-prof`); default none.
   */
  readonly nodeArgs?: readonly string[];
  /** The function's memory: the buildpack sets --max-old-space-size to this less 64 MB. */
  readonly memoryMb?: number;
}

export interface FunctionProcess {
  readonly url: string;
  readonly pid: number;
  /** performance.now() just before the process was spawned. */
  readonly startedAt: number;
  /** Lines the process wrote on stdout so far. */
  readonly stdoutLines: string[];
  /** What the process wrote on stderr so far. */
  stderr(): string;
  /** Why the process ended (`exit code 1`, `signal SIGKILL`), or undefined while it runs. */
  exited(): string | undefined;
  /** Ends the process group (SIGTERM, then SIGKILL after 3 s) and waits for the process. */
  stop(): Promise<void>;
}

/** The folder's own functions-framework entry point (what its node_modules/.bin links to). */
export function functionsFrameworkBin(dir: string): string {
  const link = join(dir, 'node_modules', '.bin', 'functions-framework');
  if (!existsSync(link))
    throw new Error(
      `${dir} has no node_modules/.bin/functions-framework: install its dependencies first (npm install --omit=dev)`,
    );
  return realpathSync(link);
}

/**
 * The environment Cloud Functions (2nd gen, on Cloud Run) gives every function, plus PATH
 * and HOME; the function's own variables come on top (`extra`).
 */
export function cloudFunctionsEnv(
  target: string,
  port: number,
  extra: Readonly<Record<string, string>> = {},
): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? tmpdir(),
    NODE_ENV: 'production',
    PORT: String(port),
    FUNCTION_TARGET: target,
    FUNCTION_SIGNATURE_TYPE: 'http',
    K_SERVICE: target.toLowerCase(),
    K_REVISION: `${target.toLowerCase()}-00001-local`,
    K_CONFIGURATION: target.toLowerCase(),
    // Functions deployed with `gcloud functions deploy` get execution ids in their logs.
    LOG_EXECUTION_ID: 'true',
    ...extra,
  };
}

export async function startFunction(options: StartFunctionOptions): Promise<FunctionProcess> {
  functionsFrameworkBin(options.dir); // fails early, with a clear message, when not installed
  const port = options.port ?? (await freePort());
  const nodeOptions = [
    ...(options.memoryMb ? [`--max-old-space-size=${options.memoryMb - 64}`] : []),
    ...(options.nodeArgs ?? []),
  ];
  const env = cloudFunctionsEnv(options.target, port, {
    ...(nodeOptions.length ? { NODE_OPTIONS: nodeOptions.join(' ') } : {}),
    ...options.env,
    PATH: `${dirname(process.execPath)}:${options.env?.PATH ?? process.env.PATH ?? '/usr/bin:/bin'}`,
  });
  const startedAt = performance.now();
  const stdoutLines: string[] = [];
  const decoder = new StringDecoder('utf8');
  let partial = '';
  const group = spawnGroup('/bin/bash', ['-c', 'node_modules/.bin/functions-framework'], {
    cwd: options.dir,
    env,
    onStdout: (chunk) => {
      const lines = (partial + decoder.write(chunk)).split('\n');
      partial = lines.pop() ?? '';
      stdoutLines.push(...lines);
    },
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: group.pid,
    startedAt,
    stdoutLines,
    stderr: () => group.stderr(),
    exited: () => group.exited(),
    async stop() {
      await group.stop();
      if (partial) stdoutLines.push(partial);
      partial = '';
    },
  };
}

/** Sends `request` to a started function. */
export function send(fn: Pick<FunctionProcess, 'url'>, request: FunctionRequest): Promise<Response> {
  const method = request.method ?? (request.body === undefined ? 'GET' : 'POST');
  return fetch(`${fn.url}${request.path ?? '/'}`, {
    method,
    headers: { ...(request.body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...request.headers },
    ...(request.body !== undefined ? { body: request.body } : {}),
    signal: AbortSignal.timeout(10_000),
  });
}

/**
 * Polls until `request` succeeds (2xx), every `intervalMs` while the port is closed or the
 * answer is not yet a success; throws if the process dies or `timeoutMs` passes. The time
 * counts from the process's start, and one attempt is always made: a process started long
 * before (a test's set-up on a busy machine) is asked at least once.
 */
export async function waitForSuccess(
  fn: FunctionProcess,
  request: FunctionRequest,
  timeoutMs = 30_000,
  intervalMs = 2,
): Promise<{ status: number; body: string; at: number }> {
  const deadline = fn.startedAt + timeoutMs;
  let last = 'no answer';
  for (let first = true; first || performance.now() < deadline; first = false) {
    const ended = fn.exited();
    if (ended !== undefined)
      throw new Error(
        `${fn.url}: the function process ended (${ended}) before a successful response:\n` +
          `${fn.stderr()}${fn.stdoutLines.join('\n')}`,
      );
    try {
      const response = await send(fn, request);
      const body = await response.text();
      const at = performance.now();
      if (response.ok) return { status: response.status, body, at };
      last = `${response.status} ${body.slice(0, 300)}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((done) => setTimeout(done, intervalMs));
  }
  throw new Error(`${fn.url}: no successful response within ${timeoutMs} ms (last: ${last})\n${fn.stderr()}`);
}

export interface ColdStartOptions extends StartFunctionOptions {
  /** The request that must succeed; default GET /. */
  readonly request?: FunctionRequest;
  readonly timeoutMs?: number;
}

export interface ColdStart {
  /** Wall-clock ms from spawning the process to the end of the first successful response. */
  readonly msToFirstSuccess: number;
  /**
   * CPU ms (user + system) the process had used by then, from /proc (Linux; 10 ms ticks);
   * undefined elsewhere. Much less sensitive to a busy machine than the wall-clock figure.
   */
  readonly cpuMsToFirstSuccess: number | undefined;
}

/** CPU time a process has used, in ms, or undefined where /proc is not available. */
export function cpuMs(pid: number): number | undefined {
  return procStat(pid)?.cpuMs;
}

/** Starts the function, waits for the first successful response to `request`, stops it. */
export async function measureColdStart(options: ColdStartOptions): Promise<ColdStart> {
  const fn = await startFunction(options);
  try {
    const success = await waitForSuccess(fn, options.request ?? {}, options.timeoutMs);
    return { msToFirstSuccess: success.at - fn.startedAt, cpuMsToFirstSuccess: cpuMs(fn.pid) };
  } finally {
    await fn.stop();
  }
}

// ---- the side-by-side measurement (node dist/scripts/coldStart.js [repetitions]) ----

/** Runs a command in its own process group; the whole group is killed after `timeoutMs`. */
function run(command: string, args: string[], cwd: string, timeoutMs = 600_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      if (stderr.length < 100_000) stderr += chunk;
    });
    const timer = setTimeout(() => {
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        // already gone
      }
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else
        reject(
          new Error(`${command} ${args.join(' ')} failed in ${cwd} (${signal ?? `exit code ${code}`}):\n${stderr}`),
        );
    });
  });
}

/** dist/<name> copied to a temporary folder and installed as the buildpack would. */
export async function installBundled(
  root: string,
  name: FunctionName,
  into: string,
  timeoutMs?: number,
): Promise<string> {
  const dir = join(into, `bundled-${name}`);
  cpSync(join(root, 'dist', name), dir, { recursive: true });
  await run('npm', ['install', '--omit=dev', '--no-audit', '--no-fund'], dir, timeoutMs);
  return dir;
}

/**
 * The unbundled layout: the sources compiled one file each (esbuild, no bundling), the
 * project's package.json and lock, `npm ci --omit=dev`. `main` is set per function.
 */
async function installUnbundled(root: string, into: string, timeoutMs?: number): Promise<string> {
  const dir = join(into, 'unbundled');
  const entryPoints = [
    ...globSync('functions/*/index.ts', { cwd: root }),
    ...globSync('shared/**/*.ts', { cwd: root }),
  ];
  await build({
    absWorkingDir: root,
    entryPoints,
    outdir: dir,
    outbase: '.',
    bundle: false,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    logLevel: 'warning',
  });
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
  delete manifest.scripts;
  delete manifest.bin;
  writeFileSync(join(dir, 'package.json'), JSON.stringify(manifest, null, 2));
  cpSync(join(root, 'package-lock.json'), join(dir, 'package-lock.json'));
  await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], dir, timeoutMs);
  return dir;
}

/** Points the unbundled layout's package.json `main` at one function. */
function setMain(dir: string, name: FunctionName): void {
  const file = join(dir, 'package.json');
  const manifest = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  manifest.main = `functions/${name}/index.js`;
  writeFileSync(file, JSON.stringify(manifest, null, 2));
}

function stats(values: number[]): string {
  if (values.length === 0) return 'n/a';
  const sorted = [...values].sort((a, b) => a - b);
  const [min, max, all] = [sorted[0]?.toFixed(0), sorted.at(-1)?.toFixed(0), values.map((v) => v.toFixed(0)).join(' ')];
  return `median ${median(values).toFixed(0)} ms (min ${min}, max ${max}; ${all})`;
}

async function main(): Promise<void> {
  const repetitions = Number(process.argv[2] ?? 7);
  const root = resolve(__dirname, '..', '..');
  for (const name of FUNCTIONS) {
    if (!existsSync(join(root, 'dist', name, 'index.js')))
      throw new Error(`dist/${name} is missing: run npm run build first`);
  }
  process.env.METADATA_SERVER_DETECTION = 'none'; // loopback only, also for the seeding client
  const work = mkdtempSync(join(tmpdir(), 'cold-start-'));
  const emulator = await startEmulator({ projectId: 'token-exchange-cold' });
  try {
    const keyFile = join(work, 'signing-key.jwk.json');
    writeFileSync(keyFile, JSON.stringify(await generateSigningKey('EdDSA')), { mode: 0o600 });
    process.env.DATASTORE_EMULATOR_HOST = emulator.host;
    const datastore = new Datastore({ projectId: emulator.projectId });
    const namespaces = { integrationNamespace: 'client-integration', platformNamespace: 'platform-credentials' };
    // bcrypt cost 10, as keys are made in production: the first exchange pays one compare.
    await createIntegration({ datastore, namespaces }, 'cold-start');
    await createOrganization({ datastore, namespaces }, { name: 'cold-start' });
    const integrationKey = (
      await createApiKey({ datastore, namespaces }, { kind: 'integration', ownerId: 'cold-start' })
    ).apiKey;
    const autojoinKey = (await createApiKey({ datastore, namespaces }, { kind: 'autojoin', ownerId: 'cold-start' }))
      .apiKey;
    const requests: Record<FunctionName, FunctionRequest> = {
      exchangeIntegration: { body: JSON.stringify({ api_key: integrationKey }) },
      exchangeAutojoin: { body: JSON.stringify({ api_key: autojoinKey }) },
      jwks: {},
    };
    const env = {
      PROJECT_ID: emulator.projectId,
      DATASTORE_EMULATOR_HOST: emulator.host,
      SIGNING_KEY_FILE: keyFile,
      METADATA_SERVER_DETECTION: 'none',
    };

    console.error('installing the layouts…');
    const [unbundled, ...bundledDirs] = await Promise.all([
      installUnbundled(root, work),
      ...FUNCTIONS.map((name) => installBundled(root, name, work)),
    ]);
    const bundled = Object.fromEntries(FUNCTIONS.map((name, i) => [name, bundledDirs[i]])) as Record<
      FunctionName,
      string
    >;
    const size = (dir: string): string =>
      spawnSync('du', ['-sh', dir], { encoding: 'utf8' }).stdout.split('\t')[0] ?? '?';
    console.log(
      `bundled folder (index.js + node_modules): ${size(bundled.exchangeIntegration)}; unbundled: ${size(unbundled)}`,
    );
    console.log(
      `machine: ${cpus().length} CPUs, load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(
          ' ',
        )}; Node ${process.version}; ${repetitions} repetitions, alternating, after one discarded warm-up each`,
    );

    const results: Record<string, number[]> = {};
    for (const name of FUNCTIONS) {
      const layouts: Array<[string, () => string]> = [
        ['bundled', () => bundled[name]],
        ['unbundled', () => (setMain(unbundled, name), unbundled)],
      ];
      for (const [, dir] of layouts) await measureColdStart({ dir: dir(), target: name, env, request: requests[name] });
      for (let i = 0; i < repetitions; i++) {
        for (const [layout, dir] of i % 2 === 0 ? layouts : [...layouts].reverse()) {
          const { msToFirstSuccess, cpuMsToFirstSuccess } = await measureColdStart({
            dir: dir(),
            target: name,
            env,
            request: requests[name],
          });
          (results[`${name} ${layout}`] ??= []).push(msToFirstSuccess);
          if (cpuMsToFirstSuccess !== undefined) (results[`${name} ${layout} cpu`] ??= []).push(cpuMsToFirstSuccess);
        }
      }
      for (const [layout] of layouts) {
        console.log(`${name.padEnd(20)} ${layout.padEnd(10)} wall ${stats(results[`${name} ${layout}`] ?? [])}`);
        console.log(`${''.padEnd(20)} ${''.padEnd(10)} cpu  ${stats(results[`${name} ${layout} cpu`] ?? [])}`);
      }
    }
  } finally {
    await emulator.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

// Only when run as dist/scripts/coldStart.js: bench.js bundles this module and is main too.
if (require.main === module && /^coldStart\.[cm]?[jt]s$/.test(basename(__filename))) {
  main().catch((error: Error) => {
    console.error(`cold-start measurement failed: ${error.stack ?? error.message}`);
    process.exit(1);
  });
}
