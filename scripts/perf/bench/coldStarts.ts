/**
 * The benchmark's cold starts: each function beside a hello-world function under the same
 * functions-framework, installed and started the same way, so that the ratio says what our
 * code adds to what the platform costs anyway.
 *
 * Cold start = process start to the end of the first successful answer:
 *   hello-world                  GET /                               → 200 "Hello, World"
 * in production's shape (productionShape.ts, standIns.ts): the signing key from Secret Manager
 * (its alias `current`), an access token from the metadata server, Datastore over TLS:
 *   exchangeIntegration          a Go-made key (hex SHA-256 stored)  → 200 token
 *   jwks                         GET /                               → 200 key set
 * with a key file, on the emulator over plain HTTP (no token, no TLS):
 *   exchangeIntegration          a Go-made key                       → 200 token
 *   exchangeIntegration          a bcrypt key (one compare, cost 10) → 200 token
 *   jwks                         GET /                               → 200 key set
 * Runs are interleaved, round-robin with the order rotated each round, after one discarded
 * warm-up each (it fills the page cache), so the machine's drift falls on all alike.
 */
import bcrypt from 'bcryptjs';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { installBundled, measureColdStart, type FunctionRequest } from '../coldStart';
import { coldStartFigures, median, type ColdStartFigures } from './stats';

export const COLD_TARGETS = [
  'hello-world',
  'exchangeIntegration, production-shaped (Go-made key)',
  'jwks, production-shaped',
  'exchangeIntegration, key file and emulator (Go-made key)',
  'exchangeIntegration, key file and emulator (bcrypt key)',
  'jwks, key file',
] as const;
export type ColdTarget = (typeof COLD_TARGETS)[number];

export interface ColdStartReport {
  readonly runs: number;
  readonly memoryMb: Readonly<Record<string, number>>;
  readonly targets: Record<ColdTarget, ColdStartFigures>;
  /**
   * One bcrypt compare (cost 10) as a new instance pays it: the first compare in a fresh
   * Node process (bcryptjs's code not yet optimised), timed inside it; median of 5, ms.
   */
  readonly bcryptCompareMs: number;
  /** The same compare once warm, in the benchmark's own process; median of 5, ms. */
  readonly bcryptCompareWarmMs: number;
}

/** What Cloud Functions gives each function by default here (deploy.sh's settings). */
const MEMORY_MB = { exchangeIntegration: 512, jwks: 256 } as const;

const HELLO_WORLD = `// Hello, World under functions-framework: the baseline of a cold start.
const functions = require('@google-cloud/functions-framework');
functions.http('helloWorld', (req, res) => {
  res.send('Hello, World');
});
`;

/**
 * A hello-world folder installed exactly as the functions are: the jwks folder's package.json
 * and lock (functions-framework alone, pinned to the tests' version) and its own index.js.
 */
export async function installHelloWorld(root: string, work: string, timeoutMs?: number): Promise<string> {
  const into = join(work, 'hello-world');
  mkdirSync(into, { recursive: true });
  const dir = await installBundled(root, 'jwks', into, timeoutMs);
  writeFileSync(join(dir, 'index.js'), HELLO_WORLD);
  return dir;
}

/** Where PROFILER writes the profile. */
const PROFILE_FILE_VARIABLE = 'BENCH_COLD_START_PROFILE';

/**
 * A CPU profiler for a function process started the buildpack's way, preloaded with
 * `--require` through NODE_OPTIONS (which refuses `--cpu-prof`). functions-framework ends on
 * SIGTERM with process.exit(), so the 'exit' handler writes the profile; the in-thread
 * inspector session answers synchronously, as an exit handler needs.
 */
const PROFILER = `'use strict';
const { Session } = require('node:inspector');
const { writeFileSync } = require('node:fs');
const session = new Session();
session.connect();
session.post('Profiler.enable');
session.post('Profiler.setSamplingInterval', { interval: 250 });
session.post('Profiler.start');
process.once('exit', () => {
  session.post('Profiler.stop', (error, result) => {
    if (!error) writeFileSync(process.env.${PROFILE_FILE_VARIABLE}, JSON.stringify(result.profile));
  });
});
`;

const SECRET = 'a secret of the usual length, 43 characters';

async function bcryptCompares(root: string): Promise<{ cold: number; warm: number }> {
  const hash = await bcrypt.hash(SECRET, 10);
  const warm: number[] = [];
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    await bcrypt.compare(SECRET, hash);
    warm.push(performance.now() - started);
  }
  const first = `const bcrypt = require('bcryptjs'); const t = performance.now();
    bcrypt.compare(process.argv[1], process.argv[2]).then(() => console.log(performance.now() - t));`;
  const cold: number[] = [];
  for (let i = 0; i < 5; i++) {
    const run = spawnSync(process.execPath, ['-e', first, SECRET, hash], {
      cwd: root,
      encoding: 'utf8',
      timeout: 30_000,
    });
    if (run.status !== 0) throw new Error(`bcrypt compare in a fresh process failed: ${run.stderr}`);
    cold.push(Number(run.stdout.trim()));
  }
  return { cold: median(cold), warm: median(warm) };
}

export interface ColdStartSetup {
  /** The repository (its node_modules has bcryptjs). */
  readonly root: string;
  readonly dirs: Readonly<{ helloWorld: string; exchangeIntegration: string; jwks: string }>;
  /** The key-file rows' environment (emulator, namespaces, signing key file). */
  readonly env: Readonly<Record<string, string>>;
  /** The production-shaped rows' environment (productionShape.ts). */
  readonly productionEnv: Readonly<Record<string, string>>;
  readonly bodies: Readonly<{ goMadeKey: string; bcryptKey: string }>;
  readonly runs: number;
  /**
   * Where one more cold start of each target, after the measured ones, writes its CPU profile
   * (cold-start-<target>.cpuprofile); none when undefined. Profiling slows a process, so these
   * runs are not among the measured.
   */
  readonly profileDir?: string | undefined;
}

interface Plan {
  readonly dir: string;
  readonly target: string;
  readonly memoryMb: number;
  readonly request: FunctionRequest;
  readonly env: Readonly<Record<string, string>>;
}

export async function measureColdStarts(setup: ColdStartSetup): Promise<ColdStartReport> {
  const exchange = { dir: setup.dirs.exchangeIntegration, target: 'exchangeIntegration' };
  const exchangeMemoryMb = MEMORY_MB.exchangeIntegration;
  const plan: Record<ColdTarget, Plan> = {
    'hello-world': {
      dir: setup.dirs.helloWorld,
      target: 'helloWorld',
      memoryMb: exchangeMemoryMb,
      request: {},
      env: setup.env,
    },
    'exchangeIntegration, production-shaped (Go-made key)': {
      ...exchange,
      memoryMb: exchangeMemoryMb,
      request: { body: setup.bodies.goMadeKey },
      env: setup.productionEnv,
    },
    'jwks, production-shaped': {
      dir: setup.dirs.jwks,
      target: 'jwks',
      memoryMb: MEMORY_MB.jwks,
      request: {},
      env: setup.productionEnv,
    },
    'exchangeIntegration, key file and emulator (Go-made key)': {
      ...exchange,
      memoryMb: exchangeMemoryMb,
      request: { body: setup.bodies.goMadeKey },
      env: setup.env,
    },
    'exchangeIntegration, key file and emulator (bcrypt key)': {
      ...exchange,
      memoryMb: exchangeMemoryMb,
      request: { body: setup.bodies.bcryptKey },
      env: setup.env,
    },
    'jwks, key file': { dir: setup.dirs.jwks, target: 'jwks', memoryMb: MEMORY_MB.jwks, request: {}, env: setup.env },
  };
  const once = (name: ColdTarget, profile?: { preload: string; file: string }) => {
    const p = plan[name];
    return measureColdStart({
      dir: p.dir,
      target: p.target,
      env: profile ? { ...p.env, [PROFILE_FILE_VARIABLE]: profile.file } : p.env,
      memoryMb: p.memoryMb,
      request: p.request,
      ...(profile ? { nodeArgs: [`--require=${profile.preload}`] } : {}),
      timeoutMs: 15_000,
    });
  };
  for (const name of COLD_TARGETS) await once(name);
  const wall = new Map<ColdTarget, number[]>(COLD_TARGETS.map((name) => [name, []]));
  const cpu = new Map<ColdTarget, number[]>(COLD_TARGETS.map((name) => [name, []]));
  for (let round = 0; round < setup.runs; round++) {
    const order = COLD_TARGETS.map((_, i) => COLD_TARGETS[(i + round) % COLD_TARGETS.length]);
    for (const name of order) {
      const { msToFirstSuccess, cpuMsToFirstSuccess } = await once(name);
      wall.get(name)?.push(msToFirstSuccess);
      if (cpuMsToFirstSuccess !== undefined) cpu.get(name)?.push(cpuMsToFirstSuccess);
    }
  }
  if (setup.profileDir) {
    const preload = join(setup.profileDir, 'cold-start-profiler.cjs');
    writeFileSync(preload, PROFILER);
    for (const name of COLD_TARGETS) {
      const slug = name.replace(/[^A-Za-z0-9]+/g, '-').replace(/-$/, '');
      await once(name, { preload, file: join(setup.profileDir, `cold-start-${slug}.cpuprofile`) });
    }
  }
  const hello = median(wall.get('hello-world') ?? []);
  const targets = Object.fromEntries(
    COLD_TARGETS.map((name) => [name, coldStartFigures(wall.get(name) ?? [], cpu.get(name) ?? [], hello)]),
  ) as Record<ColdTarget, ColdStartFigures>;
  return {
    runs: setup.runs,
    memoryMb: Object.fromEntries(COLD_TARGETS.map((name) => [name, plan[name].memoryMb])),
    targets,
    ...(await bcryptCompares(setup.root).then(({ cold, warm }) => ({
      bcryptCompareMs: cold,
      bcryptCompareWarmMs: warm,
    }))),
  };
}
