/**
 * The benchmark's cold starts: each function beside a hello-world function under the same
 * functions-framework, installed and started the same way, so that the ratio says what our
 * code adds to what the platform costs anyway.
 *
 * Cold start = process start to the end of the first successful answer:
 *   hello-world          GET /                               → 200 "Hello, World"
 *   exchangeIntegration  a Go-made key (hex SHA-256 stored)  → 200 token
 *   exchangeIntegration  a bcrypt key (one compare, cost 10) → 200 token
 *   jwks                 GET /                               → 200 key set
 * Runs are interleaved, round-robin with the order rotated each round, after one discarded
 * warm-up each (it fills the page cache), so the machine's drift falls on all alike.
 */
import bcrypt from 'bcryptjs';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { installBundled, measureColdStart, type FunctionRequest } from '../coldStart';
import { median } from './stats';

const COLD_TARGETS = [
  'hello-world',
  'exchangeIntegration (Go-made key)',
  'exchangeIntegration (bcrypt key)',
  'jwks',
] as const;
export type ColdTarget = (typeof COLD_TARGETS)[number];

export interface ColdStartFigures {
  readonly medianMs: number;
  readonly runsMs: number[];
  readonly medianCpuMs: number;
  /** medianMs ÷ hello-world's medianMs. */
  readonly timesHelloWorld: number;
}

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
  /** The functions' environment (emulator, namespaces, signing key file). */
  readonly env: Readonly<Record<string, string>>;
  readonly bodies: Readonly<{ goMadeKey: string; bcryptKey: string }>;
  readonly runs: number;
}

export async function measureColdStarts(setup: ColdStartSetup): Promise<ColdStartReport> {
  const plan: Record<ColdTarget, { dir: string; target: string; memoryMb: number; request: FunctionRequest }> = {
    'hello-world': {
      dir: setup.dirs.helloWorld,
      target: 'helloWorld',
      memoryMb: MEMORY_MB.exchangeIntegration,
      request: {},
    },
    'exchangeIntegration (Go-made key)': {
      dir: setup.dirs.exchangeIntegration,
      target: 'exchangeIntegration',
      memoryMb: MEMORY_MB.exchangeIntegration,
      request: { body: setup.bodies.goMadeKey },
    },
    'exchangeIntegration (bcrypt key)': {
      dir: setup.dirs.exchangeIntegration,
      target: 'exchangeIntegration',
      memoryMb: MEMORY_MB.exchangeIntegration,
      request: { body: setup.bodies.bcryptKey },
    },
    jwks: { dir: setup.dirs.jwks, target: 'jwks', memoryMb: MEMORY_MB.jwks, request: {} },
  };
  const once = (name: ColdTarget) => {
    const p = plan[name];
    return measureColdStart({
      dir: p.dir,
      target: p.target,
      env: setup.env,
      memoryMb: p.memoryMb,
      request: p.request,
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
  const hello = median(wall.get('hello-world') ?? []);
  const targets = Object.fromEntries(
    COLD_TARGETS.map((name) => {
      const runs = wall.get(name) ?? [];
      const figures: ColdStartFigures = {
        medianMs: median(runs),
        runsMs: runs.map((v) => Math.round(v)),
        medianCpuMs: median(cpu.get(name) ?? []),
        timesHelloWorld: median(runs) / hello,
      };
      return [name, figures];
    }),
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
