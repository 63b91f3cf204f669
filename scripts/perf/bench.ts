/**
 * `npm run bench`: what the exchange costs beyond what the platform itself costs.
 *
 * On loopback, against the Datastore emulator (started here, or reused when
 * DATASTORE_EMULATOR_HOST answers), for an EdDSA, an ES256 and an RS256 signing key:
 *
 *   1. ours:           the bundled dist/exchangeIntegration under functions-framework, started
 *                      as Cloud Functions starts it, bcrypt (cost 10) keys, verified-secret
 *                      cache warm;
 *   1t. ours over TLS: (RS256 only) the same in production's shape: Datastore over HTTPS with
 *                      access tokens from a metadata server, the signing key from Secret
 *                      Manager, through the tests' stand-ins (bench/standIns.ts), which run in a
 *                      process of their own whose CPU per request is reported;
 *   2. ours uncached:  the same with VERIFIED_SECRET_CACHE_SIZE=0 (bcrypt on every request);
 *   3. floor (ff):     scripts/perf/bench/floor.ts under functions-framework: JSON body, split the
 *                      key, one Datastore get, SHA-256 compare, sign, respond; nothing else;
 *   4. floor (http):   the same handler under bare node:http.
 *
 * Each connection has a key of its own (no two connections share a key, so no request can
 * share another's compare or lookup of its key) and a client address of its own in
 * X-Forwarded-For, as the load balancer writes it.
 *
 * For each: req/s, p50/p99 latency, errors, the server's and the emulator's CPU ms per
 * request; beside them
 * the signing cost alone (in this process) and the cold starts (process start to first 200) of
 * exchangeIntegration and jwks beside a hello-world function, in production's shape first
 * (Secret Manager, a metadata-server token, Datastore over TLS), then with a key file on the
 * emulator (scripts/perf/bench/coldStarts.ts). Prints a markdown table and writes
 * bench/results.json with the ratios and their targets.
 *
 * Phases 1, 1t, 3 and 4 are measured interleaved, in short slices (ABCD DCBA ABCD …), so that
 * the shared machine's drift in load falls on all alike; each still gets BENCH_SECONDS
 * of measured load. Phase 2 runs alone.
 *
 * Settings (environment): BENCH_CONNECTIONS (32), BENCH_SECONDS (8, at most 12),
 * BENCH_WARMUP_SECONDS (1.5), BENCH_SLICE_SECONDS (1), BENCH_EMULATOR_WARMUP_SECONDS (10, once,
 * before the first algorithm), BENCH_COLD_STARTS (5),
 * BENCH_SKIP_COLD_START=1, BENCH_COLD_START_ONLY=1 (no load phases), BENCH_ALGORITHMS (e.g. "RS256"),
 * BENCH_CPU_PROF=<dir> (servers
 * run with --cpu-prof, profiles written there, and one more cold start of each cold-start target
 * is profiled after the measured ones), BENCH_OUT (default bench/results.json),
 * BENCH_OURS_DIR (a built function folder to measure as "ours" instead of
 * dist/exchangeIntegration, e.g. a candidate change built with `build.mts --outdir=`).
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Datastore } from '@google-cloud/datastore';
import { importJWK, jwtVerify, decodeProtectedHeader, decodeJwt } from 'jose';
import { formatApiKey, generateKeyId, generateSecret, parseApiKey } from '../../shared/keys/grammar';
import { apiKeyKey } from '../../shared/keys/entities';
import { createApiKey } from '../../shared/admin/keys';
import { createIntegration } from '../../shared/admin/owners';
import { sha256Hex } from '../../shared/keys/secretHash';
import { generateSigningKey, parseSigningKey, type SigningAlgorithm } from '../../shared/signing/signingKey';
import { cloudFunctionsEnv, functionsFrameworkBin, installBundled } from './coldStart';
import { installHelloWorld, measureColdStarts, type ColdStartReport } from './bench/coldStarts';
import { measureEmulatorTransports, type TransportFigures } from './bench/emulatorTransports';
import { freePort, isEmulatorReady, startEmulator } from '../dev/emulator';
import { bundleFunction, RUNTIME_FILES } from '../build/functionBundle.mts';
import { Load, type LoadFigures } from './bench/loadGenerator';
import { startServer, waitForPort, type ServerProcess } from './bench/servers';
import { measureSignCost, type SignCost } from './bench/signCost';
import { treeCpuMs } from './bench/processTree';
import { productionEnvironment } from './bench/productionShape';
import { ROLE_VARIABLE, serveStandIns, STAND_INS_ROLE, startStandIns, type StandIns } from './bench/standIns';
import { fmt, percentile, ratio } from './bench/stats';

const ROOT = resolve(__dirname, '..', '..');
const started = performance.now();

function setting(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(value) || value < min || value > max)
    throw new Error(`${name} must be a number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return value;
}

const CONNECTIONS = setting('BENCH_CONNECTIONS', 32, 1, 256);
const SECONDS = setting('BENCH_SECONDS', 8, 1, 12);
const WARMUP_SECONDS = setting('BENCH_WARMUP_SECONDS', 1.5, 0, 2);
const SLICE_SECONDS = setting('BENCH_SLICE_SECONDS', 1, 0.25, 12);
const EMULATOR_WARMUP_SECONDS = setting('BENCH_EMULATOR_WARMUP_SECONDS', 10, 0, 15);
const COLD_STARTS = setting('BENCH_COLD_STARTS', 5, 5, 15);
const SKIP_COLD_START = process.env.BENCH_SKIP_COLD_START === '1';
const COLD_START_ONLY = process.env.BENCH_COLD_START_ONLY === '1';
const CPU_PROF = process.env.BENCH_CPU_PROF ? resolve(process.env.BENCH_CPU_PROF) : undefined;
const OUT = resolve(ROOT, process.env.BENCH_OUT || 'bench/results.json');
const OURS_DIR = resolve(ROOT, process.env.BENCH_OURS_DIR || 'dist/exchangeIntegration');
const ALL_ALGORITHMS: readonly SigningAlgorithm[] = ['EdDSA', 'ES256', 'RS256'];
const ALGORITHMS = (
  process.env.BENCH_ALGORITHMS ? process.env.BENCH_ALGORITHMS.split(',').map((a) => a.trim()) : ALL_ALGORITHMS
) as SigningAlgorithm[];
for (const alg of ALGORITHMS)
  if (!ALL_ALGORITHMS.includes(alg)) throw new Error(`BENCH_ALGORITHMS: unknown algorithm ${alg}`);
/** Whole run; `npm run bench` must end within 5 minutes, the build included. */
const RUN_BUDGET_MS = 285_000;
/** The stand-ins' process: loading the gRPC Secret Manager fake and making the CA take a few seconds. */
const STAND_INS_TIMEOUT_MS = 30_000;
/** One server phase (start, first success, warm-up, measured load, drain, stop). */
const PHASE_BUDGET_MS = 15_000;
const INSTALL_TIMEOUT_MS = 150_000;

const PHASES = ['ours', 'ours-tls', 'ours-uncached', 'floor-ff', 'floor-http'] as const;
type Phase = (typeof PHASES)[number];
/** Measured for RS256 only (production's algorithm), and only when the stand-ins run. */
type OptionalPhase = 'ours-tls';
type PhaseResults = Record<Exclude<Phase, OptionalPhase>, PhaseResult> & Partial<Record<OptionalPhase, PhaseResult>>;
const PHASE_LABEL: Record<Phase, string> = {
  ours: '1. ours (bundled, ff, cache warm)',
  'ours-tls': '1t. ours over TLS with tokens: stand-ins, key from Secret Manager (bcrypt keys, cache warm)',
  'ours-uncached': '2. ours, cache off (bcrypt each time)',
  'floor-ff': '3. floor under functions-framework',
  'floor-http': '4. floor under node:http',
};

// ---- clean-up, also on Ctrl-C and past the budget ----

const cleanups: Array<() => Promise<void> | void> = [];
let cleaning: Promise<void> | undefined;
function cleanUp(): Promise<void> {
  return (cleaning ??= (async () => {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        console.error(`clean-up: ${(error as Error).message}`);
      }
    }
  })());
}
/** Ctrl-C and the budget stop everything the run started; returns the budget's timer. */
function guardRun(): NodeJS.Timeout {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`\n${signal}: stopping every process the benchmark started…`);
      void cleanUp().then(() => process.exit(130));
    });
  }
  const watchdog = setTimeout(() => {
    console.error(`bench: over the ${RUN_BUDGET_MS / 1000} s budget; stopping`);
    void cleanUp().then(() => process.exit(1));
  }, RUN_BUDGET_MS);
  watchdog.unref();
  return watchdog;
}

function elapsed(): string {
  return `${((performance.now() - started) / 1000).toFixed(0).padStart(3)} s`;
}
function progress(message: string): void {
  console.error(`[${elapsed()}] ${message}`);
}

/** The emulator's CPU ms so far: known when this run started it (processTree.ts). */
let emulatorCpuMs: () => number = () => Number.NaN;

/** Connection n's client address, after the load balancer's own as it appends them (FORWARDED_FOR_HOP 2). */
function clientAddressHeaders(connection: number): Record<string, string> {
  const client = `198.51.${100 + Math.floor(connection / 250)}.${(connection % 250) + 1}`;
  return { 'X-Forwarded-For': `${client}, 35.191.0.1` };
}

// ---- the floor's bundles ----

/**
 * The floor bundled as build.mts bundles the functions (everything but functions-framework in
 * one CommonJS file), with the Datastore client library and its proto beside it: the floor
 * reads over gRPC, ours over REST (emulatorTransports.ts puts the two side by side).
 * `node_modules` is a link to the repository's, so the framework the floor registers with is
 * the one that serves it (as for ours, below).
 */
async function buildFloor(into: string): Promise<string> {
  const dir = join(into, 'floor');
  mkdirSync(join(dir, 'protos'), { recursive: true });
  for (const [entry, out] of [
    ['scripts/perf/bench/floorFramework.ts', 'index.js'],
    ['scripts/perf/bench/floorNodeHttp.ts', 'http.js'],
  ] as const) {
    await bundleFunction(ROOT, entry, join(dir, out));
  }
  for (const [from, to] of RUNTIME_FILES) cpSync(join(ROOT, 'node_modules', from), join(dir, to));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'bench-floor', private: true, main: 'index.js' }));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

/**
 * dist/exchangeIntegration as built, beside a link to the repository's node_modules: the
 * framework that serves it is the one it registers with (its only external).
 */
function prepareOurs(into: string): string {
  const dir = join(into, 'ours');
  cpSync(OURS_DIR, dir, { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

// ---- servers ----

interface ServedTarget {
  readonly phase: Phase;
  readonly server: ServerProcess;
  readonly load: Load;
  readonly startedAt: number;
  /** ms from spawn to the end of warm-up. */
  setupMs: number;
}

function nodeArgs(name: string): string[] {
  return CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF}`, `--cpu-prof-name=${name}.cpuprofile`] : [];
}

/** What the servers of a run talk to. */
interface Surroundings {
  /** The emulator over plain HTTP, a key file: every phase but 1t. */
  readonly env: Record<string, string>;
  /** Phase 1t's: the stand-ins (productionShape.ts), when they run. */
  readonly production?: { readonly env: Record<string, string>; readonly standIns: StandIns } | undefined;
}

async function serve(
  phase: Phase,
  alg: SigningAlgorithm,
  dirs: { ours: string; floor: string },
  surroundings: Surroundings,
  bodies: readonly Buffer[],
): Promise<ServedTarget> {
  const { env } = surroundings;
  const production = phase === 'ours-tls' ? surroundings.production : undefined;
  if (phase === 'ours-tls' && !production) throw new Error(`${phase}: the stand-ins are not running`);
  const port = await freePort();
  const name = `${phase}-${alg}`;
  const at = performance.now();
  let server: ServerProcess;
  if (phase === 'floor-http') {
    server = startServer({
      name,
      nodeArgs: nodeArgs(name),
      args: [join(dirs.floor, 'http.js')],
      cwd: dirs.floor,
      port,
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', PORT: String(port), ...env },
    });
  } else {
    // As Cloud Functions starts a function: the folder's own functions-framework, its environment.
    const dir = phase === 'floor-ff' ? dirs.floor : dirs.ours;
    const target = phase === 'floor-ff' ? 'floor' : 'exchangeIntegration';
    // Cache off: with a key per connection (no two requests share a compare), each request
    // pays its own bcrypt, as distinct keys not yet verified do.
    const extra = phase === 'ours-uncached' ? { ...env, VERIFIED_SECRET_CACHE_SIZE: '0' } : (production?.env ?? env);
    server = startServer({
      name,
      nodeArgs: nodeArgs(name),
      args: [functionsFrameworkBin(dir), `--target=${target}`, '--signature-type=http'],
      cwd: dir,
      port,
      env: cloudFunctionsEnv(target, port, extra),
    });
  }
  cleanups.push(() => server.stop());
  await waitForPort(server, 10_000);
  const load = new Load(
    {
      name,
      port,
      bodies,
      headers: clientAddressHeaders,
      cpuMs: () => server.cpuMs(),
      emulatorCpuMs: () => emulatorCpuMs(),
      ...(production ? { frontCpuMs: () => production.standIns.cpuMs() } : {}),
    },
    CONNECTIONS,
  );
  // The first exchange pays the Datastore client's set-up (and, for ours, one bcrypt compare).
  let last = '';
  for (;;) {
    if (performance.now() - at > 10_000)
      throw new Error(`${name}: no 200 within 10 s (last: ${last})\n${server.stderr()}`);
    try {
      const answer = await load.send(true);
      if (answer.status === 200) break;
      last = `${answer.status} ${answer.body.slice(0, 200)}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((done) => setTimeout(done, 50));
  }
  return { phase, server, load, startedAt: at, setupMs: 0 };
}

/**
 * Phase 1 measures the cache warm: each connection's key is exchanged once first, all at
 * once (each from its own address, so the fair bcrypt line holds them all), until each has
 * had a 200.
 */
async function verifyEachKeyOnce(target: ServedTarget): Promise<void> {
  let pending = target.load.target.bodies.map((_, connection) => connection);
  const deadline = performance.now() + 20_000;
  while (pending.length > 0) {
    if (performance.now() > deadline) throw new Error(`${target.phase}: ${pending.length} keys never verified`);
    const statuses = await Promise.all(
      pending.map((connection) =>
        target.load.send(false, target.load.bodyOf(connection), connection).then(
          (answer) => answer.status,
          () => 0,
        ),
      ),
    );
    pending = pending.filter((_, i) => statuses[i] !== 200);
  }
}

/** The floor must sign what ours signs: same header, same claim names, valid with the same key. */
async function checkSameToken(targets: readonly ServedTarget[], jwkText: string): Promise<void> {
  const key = await parseSigningKey(jwkText);
  const publicKey = await importJWK({ ...key.publicJwk }, key.alg);
  const shapes = new Map<Phase, string>();
  for (const target of targets) {
    const answer = await target.load.send(true);
    const {
      token,
      token_type: tokenType,
      expires_in: expiresIn,
    } = JSON.parse(answer.body) as { token: string; token_type: string; expires_in: number };
    await jwtVerify(token, publicKey, { issuer: 'token-exchange', audience: 'integration' });
    const header = decodeProtectedHeader(token);
    shapes.set(
      target.phase,
      JSON.stringify({ header, claims: Object.keys(decodeJwt(token)).sort(), tokenType, expiresIn }),
    );
  }
  const distinct = new Set(shapes.values());
  if (distinct.size !== 1)
    throw new Error(
      `the floor and ours do not sign the same token:\n${[...shapes].map(([p, s]) => `${p}: ${s}`).join('\n')}`,
    );
}

interface PhaseResult {
  readonly phase: Phase;
  readonly label: string;
  readonly reqPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly requests: number;
  readonly errors: number;
  readonly statuses: Record<string, number>;
  /** 200s per second: what phase 2's rate means (its other answers are quick 503s). */
  readonly okPerSec: number;
  readonly serverCpuMsPerReq: number;
  /** The emulator's CPU per request: NaN when the run reused an emulator it did not start. */
  readonly emulatorCpuMsPerReq: number;
  /** The stand-ins' CPU per request (phase 1t: mostly the TLS front's proxying); NaN for the others. */
  readonly frontCpuMsPerReq: number;
  readonly clientCpuMsPerReq: number;
  /** Bytes the server wrote on stdout per request (ours: its JSON log line). */
  readonly stdoutBytesPerReq: number;
  readonly measuredSeconds: number;
  /** Wall-clock seconds of the phase's own work: start, first 200, warm-up, measured load. */
  readonly phaseSeconds: number;
}

function summarize(target: ServedTarget, stdoutBytes: number): PhaseResult {
  const f: LoadFigures = target.load.figures;
  const seconds = f.activeMs / 1000;
  return {
    phase: target.phase,
    label: PHASE_LABEL[target.phase],
    reqPerSec: f.requests / seconds,
    p50Ms: percentile(f.latenciesMs, 50),
    p99Ms: percentile(f.latenciesMs, 99),
    requests: f.requests,
    errors: f.errors,
    statuses: f.statuses,
    okPerSec: (f.statuses['200'] ?? 0) / seconds,
    serverCpuMsPerReq: f.serverCpuMs / f.requests,
    emulatorCpuMsPerReq: f.emulatorCpuMs / f.requests,
    frontCpuMsPerReq: f.frontCpuMs / f.requests,
    clientCpuMsPerReq: f.clientCpuMs / f.requests,
    stdoutBytesPerReq: stdoutBytes / f.requests,
    measuredSeconds: seconds,
    phaseSeconds: (target.setupMs + f.activeMs) / 1000,
  };
}

async function stopAll(targets: readonly ServedTarget[]): Promise<void> {
  for (const target of targets) {
    target.load.close();
    await target.server.stop();
  }
}

/** A request body per connection: one key each, never shared. */
interface Bodies {
  readonly bcrypt: readonly Buffer[];
  readonly sha256: readonly Buffer[];
}

async function benchAlgorithm(
  alg: SigningAlgorithm,
  dirs: { ours: string; floor: string },
  surroundings: Surroundings,
  bodies: Bodies,
  jwkText: string,
): Promise<PhaseResults> {
  const results: Partial<Record<Phase, PhaseResult>> = {};
  const bodiesOf = (phase: Phase): readonly Buffer[] => (phase.startsWith('floor') ? bodies.sha256 : bodies.bcrypt);

  // Phases 1, 1t, 3, 4: started one after the other, each warmed, then measured interleaved.
  // 1t beside 1 (ABCD DCBA): the two differ only in what the server talks to.
  const withTls = alg === 'RS256' && surroundings.production !== undefined;
  const fastPhases: Phase[] = withTls
    ? ['ours', 'ours-tls', 'floor-ff', 'floor-http']
    : ['ours', 'floor-ff', 'floor-http'];
  const fast: ServedTarget[] = [];
  for (const phase of fastPhases) {
    const target = await serve(phase, alg, dirs, surroundings, bodiesOf(phase));
    if (phase === 'ours' || phase === 'ours-tls') await verifyEachKeyOnce(target);
    await target.load.run(WARMUP_SECONDS * 1000, false);
    target.setupMs = performance.now() - target.startedAt;
    fast.push(target);
  }
  await checkSameToken(fast, jwkText);
  const bytesBefore = fast.map((t) => t.server.stdoutBytes());
  const rounds = Math.max(1, Math.round(SECONDS / SLICE_SECONDS));
  const sliceMs = (SECONDS * 1000) / rounds;
  progress(
    `${alg}: phases ${withTls ? '1, 1t, 3, 4' : '1, 3, 4'} interleaved, ` +
      `${rounds} slices of ${(sliceMs / 1000).toFixed(2)} s each, ${CONNECTIONS} connections`,
  );
  for (let round = 0; round < rounds; round++) {
    for (const target of round % 2 === 0 ? fast : [...fast].reverse()) await target.load.run(sliceMs, true, 3000);
  }
  fast.forEach(
    (target, i) => (results[target.phase] = summarize(target, target.server.stdoutBytes() - bytesBefore[i])),
  );
  await stopAll(fast);

  // Phase 2: alone; each request pays bcrypt.
  progress(`${alg}: phase 2 (cache off), ${SECONDS} s`);
  // One continuous run: the warm-up fills the bcrypt queue, then the window is recorded;
  // whatever is still queued at its end is cut off, not drained (it would take seconds).
  const uncached = await serve('ours-uncached', alg, dirs, surroundings, bodies.bcrypt);
  uncached.setupMs = performance.now() - uncached.startedAt + WARMUP_SECONDS * 1000;
  const before = uncached.server.stdoutBytes();
  await uncached.load.run(SECONDS * 1000, true, 0, WARMUP_SECONDS * 1000);
  results['ours-uncached'] = summarize(uncached, uncached.server.stdoutBytes() - before);
  await stopAll([uncached]);

  for (const phase of PHASES) {
    const result = results[phase];
    if (result !== undefined && result.phaseSeconds * 1000 > PHASE_BUDGET_MS)
      console.error(
        `warning: ${alg} ${phase} took ${result.phaseSeconds.toFixed(1)} s, ` +
          `over the ${PHASE_BUDGET_MS / 1000} s a phase`,
      );
  }
  return results as PhaseResults;
}

// ---- report ----

interface RatioResult {
  readonly name: string;
  readonly algorithm: string;
  readonly value: number;
  readonly target: string;
  readonly pass: boolean | null;
}

function ratios(
  algorithms: Record<string, { phases: PhaseResults }>,
  cold: (ColdStartReport & { algorithm: string }) | undefined,
  transports: TransportFigures | undefined,
): RatioResult[] {
  const list: RatioResult[] = [];
  if (transports) {
    const value = ratio(transports.restLookupsPerSec, transports.grpcLookupsPerSec);
    list.push({
      name: "the emulator's lookups/s over REST (ours) ÷ over gRPC (the floor's)",
      algorithm: '—',
      value,
      target: '—',
      pass: null,
    });
    list.push({
      name: "the emulator's CPU per lookup of one key over REST ÷ over gRPC",
      algorithm: '—',
      value: ratio(transports.restEmulatorCpuMsPerLookup, transports.grpcEmulatorCpuMsPerLookup),
      target: '—',
      pass: null,
    });
  }
  for (const [alg, { phases }] of Object.entries(algorithms)) {
    const ff = ratio(phases.ours.reqPerSec, phases['floor-ff'].reqPerSec);
    list.push({
      name: 'ours ÷ floor under functions-framework (req/s)',
      algorithm: alg,
      value: ff,
      target: '≥ 0.9 (median of 3 runs ≥ 0.95)',
      pass: ff >= 0.9,
    });
    list.push({
      name: 'ours ÷ floor under node:http (req/s)',
      algorithm: alg,
      value: ratio(phases.ours.reqPerSec, phases['floor-http'].reqPerSec),
      target: '—',
      pass: null,
    });
    list.push({
      name: 'floor ÷ ours, server CPU ms per request (ff)',
      algorithm: alg,
      value: ratio(phases['floor-ff'].serverCpuMsPerReq, phases.ours.serverCpuMsPerReq),
      target: '—',
      pass: null,
    });
    // Phase 2 by its 200s: a request turned away as busy is a quick 503 that paid no bcrypt.
    const cached = ratio(phases.ours.okPerSec, phases['ours-uncached'].okPerSec);
    list.push({
      name: 'cached ÷ uncached (200s/s)',
      algorithm: alg,
      value: cached,
      target: '≥ 50',
      pass: cached >= 50,
    });
    const tls = phases['ours-tls'];
    if (tls) {
      // What TLS and access tokens cost a request: the same server, the same keys, only the transport differs.
      const warm = ratio(tls.reqPerSec, phases.ours.reqPerSec);
      list.push({
        name: 'warm, production-shaped ÷ emulator-shaped: ours over TLS with tokens ÷ ours on the emulator (req/s)',
        algorithm: alg,
        value: warm,
        target: '≥ 0.85',
        pass: warm >= 0.85,
      });
      list.push({
        name: 'warm, server CPU ms per request, over TLS with tokens ÷ on the emulator',
        algorithm: alg,
        value: ratio(tls.serverCpuMsPerReq, phases.ours.serverCpuMsPerReq),
        target: '—',
        pass: null,
      });
    }
  }
  if (cold) {
    const t = cold.targets;
    const hello = t['hello-world'].medianMs;
    const atMost = (name: string, value: number, limit: number): void =>
      void list.push({ name, algorithm: cold.algorithm, value, target: `≤ ${limit}`, pass: value <= limit });
    atMost(
      'cold start, production-shaped exchangeIntegration (Go-made key) ÷ hello-world',
      t['exchangeIntegration, production-shaped (Go-made key)'].timesHelloWorld,
      1.3,
    );
    atMost('cold start, production-shaped jwks ÷ hello-world', t['jwks, production-shaped'].timesHelloWorld, 1.25);
    atMost(
      'cold start, exchangeIntegration, key file and emulator (Go-made key) ÷ hello-world',
      t['exchangeIntegration, key file and emulator (Go-made key)'].timesHelloWorld,
      1.5,
    );
    const bcrypt = t['exchangeIntegration, key file and emulator (bcrypt key)'];
    atMost(
      'cold start, exchangeIntegration, key file and emulator (bcrypt key) less one bcrypt compare, ÷ hello-world',
      ratio(bcrypt.medianMs - cold.bcryptCompareMs, hello),
      1.5,
    );
    atMost('cold start, jwks, key file ÷ hello-world', t['jwks, key file'].timesHelloWorld, 1.3);
  }
  return list;
}

interface Report {
  date: string;
  machine: {
    cpu: string;
    cores: number;
    loadAverageStart: number[];
    loadAverageEnd: number[];
    node: string;
    platform: string;
  };
  settings: Record<string, number | string | boolean>;
  algorithms: Record<string, { signOnly: SignCost; phases: PhaseResults }>;
  coldStart: (ColdStartReport & { algorithm: string }) | null;
  emulatorTransports: TransportFigures | null;
  ratios: RatioResult[];
  durationSeconds: number;
}

/** A markdown table row. */
function row(cells: readonly string[]): string {
  return `| ${cells.join(' | ')} |`;
}

function isFraction(value: unknown): value is number {
  return typeof value === 'number' && !Number.isInteger(value);
}

function markdown(report: Report): string {
  const load = (l: number[]): string => l.map((v) => v.toFixed(2)).join(' ');
  const lines = [
    `Benchmark of ${report.date} on ${report.machine.cpu}, ${report.machine.cores} cores, ` +
      `Node ${report.machine.node}; load average ${load(report.machine.loadAverageStart)} at the start, ` +
      `${load(report.machine.loadAverageEnd)} at the end. Loopback, Datastore emulator, ` +
      `${report.settings.connections} connections, ${report.settings.seconds} s measured per phase.`,
  ];
  const measuredLoad = Object.keys(report.algorithms).length > 0;
  if (measuredLoad)
    lines.push(
      '',
      '| key | phase | req/s | p50 ms | p99 ms | errors | server CPU ms/req | emulator CPU ms/req | ' +
        'stand-ins CPU ms/req |',
      '|---|---|---:|---:|---:|---:|---:|---:|---:|',
    );
  for (const [alg, { phases }] of Object.entries(report.algorithms)) {
    for (const phase of PHASES) {
      const p = phases[phase];
      if (!p) continue;
      lines.push(
        row([
          alg,
          p.label,
          fmt(p.reqPerSec),
          fmt(p.p50Ms),
          fmt(p.p99Ms),
          String(p.errors),
          fmt(p.serverCpuMsPerReq),
          fmt(p.emulatorCpuMsPerReq),
          phase === 'ours-tls' ? fmt(p.frontCpuMsPerReq) : '—',
        ]),
      );
    }
  }
  if (measuredLoad) lines.push('', '| key | sign only, µs (mean) | median |', '|---|---:|---:|');
  for (const [alg, { signOnly }] of Object.entries(report.algorithms))
    lines.push(`| ${alg} | ${fmt(signOnly.meanUs)} | ${fmt(signOnly.medianUs)} |`);
  if (report.coldStart) {
    const c = report.coldStart;
    lines.push(
      '',
      row([
        `cold start (${c.algorithm} key), process start to first 200, ${c.runs} runs interleaved`,
        ...['memory', 'median ms', '× hello-world', 'runs (ms)', 'CPU ms (median)'],
      ]),
      '|---|---:|---:|---:|---|---:|',
    );
    for (const [name, f] of Object.entries(c.targets)) {
      const memory = `${c.memoryMb[name] ?? ''} MB`;
      const times = f.timesHelloWorld.toFixed(2);
      lines.push(row([name, memory, fmt(f.medianMs), times, f.runsMs.join(', '), fmt(f.medianCpuMs)]));
    }
    lines.push(`| one bcrypt compare (cost 10), the first in a fresh process | | ${fmt(c.bcryptCompareMs)} | | | |`);
    lines.push(
      `| one bcrypt compare (cost 10), warm, in the benchmark's process | | ${fmt(c.bcryptCompareWarmMs)} | | | |`,
    );
  }
  lines.push('', '| ratio | key | value | target | |', '|---|---|---:|---|---|');
  for (const r of report.ratios) {
    const verdict = r.pass === null ? '' : r.pass ? 'pass' : '**miss**';
    lines.push(row([r.name, r.algorithm, r.value.toFixed(3), r.target, verdict]));
  }
  return lines.join('\n');
}

// ---- main ----

async function main(): Promise<void> {
  if (!existsSync(join(OURS_DIR, 'index.js')))
    throw new Error(`${OURS_DIR}/index.js is missing: run npm run build first`);
  const loadAverageStart = loadavg();
  process.env.METADATA_SERVER_DETECTION = 'none'; // loopback only, also for the seeding client
  const work = mkdtempSync(join(tmpdir(), 'bench-'));
  cleanups.push(() => rmSync(work, { recursive: true, force: true }));
  if (CPU_PROF) mkdirSync(CPU_PROF, { recursive: true });

  // Production signs with RS256 (Locate's ESPv2 verifies RSA only): the cold starts and the
  // stand-ins' secret use that key.
  const coldAlg: SigningAlgorithm = ALGORITHMS.includes('RS256') ? 'RS256' : ALGORITHMS[0];
  const needStandIns = !SKIP_COLD_START || (!COLD_START_ONLY && ALGORITHMS.includes('RS256'));
  progress(
    'preparing: emulator, floor bundles, signing keys' +
      (needStandIns ? ', the stand-ins (TLS fronts, metadata server, Secret Manager)' : '') +
      (SKIP_COLD_START ? '' : ', the cold-start folders (npm install)'),
  );
  const emulatorReady = (async () => {
    const host = process.env.DATASTORE_EMULATOR_HOST;
    if (host && (await isEmulatorReady(host))) {
      process.env.PROJECT_ID ||= 'token-exchange-bench';
      return;
    }
    const emulator = await startEmulator({ projectId: 'token-exchange-bench' });
    cleanups.push(() => emulator.stop());
    emulatorCpuMs = () => treeCpuMs(emulator.pid);
    process.env.DATASTORE_EMULATOR_HOST = emulator.host;
    process.env.PROJECT_ID = emulator.projectId;
  })();
  const installs = SKIP_COLD_START
    ? Promise.resolve(undefined)
    : Promise.all([
        installHelloWorld(ROOT, work, INSTALL_TIMEOUT_MS),
        installBundled(ROOT, 'exchangeIntegration', work, INSTALL_TIMEOUT_MS),
        installBundled(ROOT, 'jwks', work, INSTALL_TIMEOUT_MS),
      ]).then(([helloWorld, exchangeIntegration, jwks]) => ({ helloWorld, exchangeIntegration, jwks }));
  const keys = Promise.all(
    ALGORITHMS.map(async (alg) => {
      const text = JSON.stringify(await generateSigningKey(alg));
      const path = join(work, `signing-key-${alg}.jwk.json`);
      writeFileSync(path, text, { mode: 0o600 });
      return [alg, { path, text }] as const;
    }),
  );
  const standInsReady = needStandIns
    ? Promise.all([emulatorReady, keys]).then(async ([, list]) => {
        const standIns = await startStandIns({
          script: __filename,
          emulatorHost: process.env.DATASTORE_EMULATOR_HOST as string,
          projectId: process.env.PROJECT_ID as string,
          keyFile: (list.find(([alg]) => alg === coldAlg) ?? list[0])[1].path,
          timeoutMs: STAND_INS_TIMEOUT_MS,
        });
        cleanups.push(() => standIns.stop());
        return standIns;
      })
    : Promise.resolve(undefined);
  const [floorDir, , keyList, layouts, standIns] = await Promise.all([
    buildFloor(work),
    emulatorReady,
    keys,
    installs,
    standInsReady,
  ]);
  const oursDir = prepareOurs(work);
  const keyFiles = Object.fromEntries(keyList) as Record<SigningAlgorithm, { path: string; text: string }>;

  progress(`seeding keys: ${CONNECTIONS} bcrypt (cost 10) for ours, ${CONNECTIONS} hex SHA-256 for the floor`);
  const suffix = Date.now().toString(36);
  const namespaces = { integrationNamespace: `bench-ci-${suffix}`, platformNamespace: `bench-pc-${suffix}` };
  const datastore = new Datastore({ projectId: process.env.PROJECT_ID as string });
  await createIntegration({ datastore, namespaces }, 'bench', 'npm run bench');
  const forEachConnection = <T>(make: (connection: number) => Promise<T>): Promise<T[]> =>
    Promise.all(Array.from({ length: CONNECTIONS }, (_, connection) => make(connection)));
  // bcrypt cost 10, as made in production.
  const bcryptKeys = await forEachConnection(
    async (connection) =>
      (
        await createApiKey(
          { datastore, namespaces },
          { kind: 'integration', ownerId: 'bench', description: `bench, bcrypt ${connection}` },
        )
      ).apiKey,
  );
  // As the Go service stores them: hex SHA-256.
  const sha256Keys = await forEachConnection(async (connection) => {
    const secret = generateSecret();
    const keyId = generateKeyId();
    await datastore.save({
      key: apiKeyKey(datastore, 'integration', 'bench', keyId, namespaces),
      data: {
        key_hash: sha256Hex(secret),
        created_at: new Date(),
        description: `bench, SHA-256 ${connection}`,
        status: 'active',
        tier: datastore.int(0),
      },
      excludeFromIndexes: ['key_hash', 'description'],
    });
    return formatApiKey({ kind: 'integration', ownerId: 'bench', keyId, secret });
  });
  const asBody = (apiKey: string): Buffer => Buffer.from(JSON.stringify({ api_key: apiKey }));
  const bodies: Bodies = { bcrypt: bcryptKeys.map(asBody), sha256: sha256Keys.map(asBody) };
  const baseEnv = {
    PROJECT_ID: process.env.PROJECT_ID as string,
    DATASTORE_EMULATOR_HOST: process.env.DATASTORE_EMULATOR_HOST as string,
    CLIENT_INTEGRATION_NS: namespaces.integrationNamespace,
    PLATFORM_NS: namespaces.platformNamespace,
    METADATA_SERVER_DETECTION: 'none',
  };
  const production = standIns && {
    standIns,
    env: productionEnvironment(standIns.addresses, {
      projectId: baseEnv.PROJECT_ID,
      ...namespaces,
      // Empty: no gcloud credentials to find, as on Cloud Functions.
      home: mkdtempSync(join(work, 'home-')),
    }),
  };

  // The emulator's JVM compiles its lookup paths during the first seconds of load: without
  // this, whichever algorithm runs first measured ≈ 25 % slower in every phase. Both of them:
  // ours asks over REST, the floor over gRPC (ours with the Go-made keys: no bcrypt to wait for).
  const firstAlg = ALGORITHMS[0];
  if (EMULATOR_WARMUP_SECONDS > 0 && !COLD_START_ONLY) {
    progress(`warming the emulator up: ${EMULATOR_WARMUP_SECONDS} s of exchanges, ours (REST) and the floor (gRPC)`);
    for (const phase of ['ours', 'floor-http'] as const) {
      const warmup = await serve(
        phase,
        firstAlg,
        { ours: oursDir, floor: floorDir },
        { env: { ...baseEnv, SIGNING_KEY_FILE: keyFiles[firstAlg].path } },
        bodies.sha256,
      );
      await warmup.load.run((EMULATOR_WARMUP_SECONDS * 1000) / 2, false);
      await stopAll([warmup]);
    }
  }

  let emulatorTransports: TransportFigures | null = null;
  if (!COLD_START_ONLY) {
    progress("the emulator's own capacity: lookups/s over REST and over gRPC");
    const parsed = parseApiKey(sha256Keys[0]);
    if (!parsed.ok) throw new Error(`a seeded key does not parse: ${parsed.reason}`);
    const path = ['IntegrationMeta', 'bench', 'IntegrationAPIKey', parsed.key.keyId];
    emulatorTransports = await measureEmulatorTransports(
      baseEnv.DATASTORE_EMULATOR_HOST,
      baseEnv.PROJECT_ID,
      { namespace: namespaces.integrationNamespace, path },
      CONNECTIONS,
      emulatorCpuMs,
    );
  }

  const algorithms: Report['algorithms'] = {};
  for (const alg of COLD_START_ONLY ? [] : ALGORITHMS) {
    progress(`${alg}: signing cost alone`);
    const signOnly = await measureSignCost(keyFiles[alg].text);
    const phases = await benchAlgorithm(
      alg,
      { ours: oursDir, floor: floorDir },
      { env: { ...baseEnv, SIGNING_KEY_FILE: keyFiles[alg].path }, production },
      bodies,
      keyFiles[alg].text,
    );
    algorithms[alg] = { signOnly, phases };
    const p = phases;
    progress(
      `${alg}: ours ${fmt(p.ours.reqPerSec)} req/s` +
        (p['ours-tls'] ? `, ours over TLS ${fmt(p['ours-tls'].reqPerSec)}` : '') +
        `, floor ff ${fmt(p['floor-ff'].reqPerSec)}, ` +
        `floor http ${fmt(p['floor-http'].reqPerSec)}, uncached ${fmt(p['ours-uncached'].reqPerSec)}`,
    );
  }

  let coldStart: Report['coldStart'] = null;
  if (layouts) {
    if (!production) throw new Error('the cold starts need the stand-ins');
    const alg = coldAlg;
    progress(
      `cold starts beside hello-world, production-shaped and with a key file: ${COLD_STARTS} runs each ` +
        'after one discarded, interleaved' +
        (CPU_PROF ? '; then one profiled cold start of each' : ''),
    );
    const measured = await measureColdStarts({
      root: ROOT,
      dirs: layouts,
      env: { ...baseEnv, SIGNING_KEY_FILE: keyFiles[alg].path },
      productionEnv: production.env,
      profileDir: CPU_PROF,
      bodies: {
        goMadeKey: bodies.sha256[0].toString(),
        bcryptKey: bodies.bcrypt[0].toString(),
      },
      runs: COLD_STARTS,
    });
    coldStart = { ...measured, algorithm: alg };
  }

  const report: Report = {
    date: new Date().toISOString(),
    machine: {
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      loadAverageStart,
      loadAverageEnd: loadavg(),
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
    },
    settings: {
      ours: OURS_DIR.startsWith(ROOT) ? OURS_DIR.slice(ROOT.length + 1) : OURS_DIR,
      connections: CONNECTIONS,
      seconds: SECONDS,
      warmupSeconds: WARMUP_SECONDS,
      sliceSeconds: SLICE_SECONDS,
      coldStarts: SKIP_COLD_START ? 0 : COLD_STARTS,
      stdout: 'pipe, read and discarded',
      cpuProfile: Boolean(CPU_PROF),
      productionShaped: production
        ? 'stand-ins in a process of their own: metadata server (GCE_METADATA_HOST), Datastore over HTTPS ' +
          'in front of the emulator (DATASTORE_API_ENDPOINT), Secret Manager over HTTPS ' +
          '(SECRET_MANAGER_API_ENDPOINT, SIGNING_KEY_VERSION=current); NODE_EXTRA_CA_CERTS, an empty HOME, ' +
          'no emulator variable'
        : 'not measured',
    },
    algorithms,
    coldStart,
    emulatorTransports,
    ratios: [],
    durationSeconds: 0,
  };
  report.ratios = ratios(algorithms, coldStart ?? undefined, emulatorTransports ?? undefined);
  report.durationSeconds = Math.round((performance.now() - started) / 1000);
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(
    OUT,
    `${JSON.stringify(report, (_, v: unknown) => (isFraction(v) ? Number(v.toPrecision(6)) : v), 2)}\n`,
  );
  console.log(markdown(report));
  console.log(
    `\n${report.durationSeconds} s in all; wrote ${OUT.startsWith(ROOT) ? OUT.slice(ROOT.length + 1) : OUT}` +
      (CPU_PROF ? `; CPU profiles in ${CPU_PROF}` : ''),
  );
}

if (process.env[ROLE_VARIABLE] === STAND_INS_ROLE) {
  // This bundle started again by startStandIns (bench/standIns.ts): serve, measure nothing.
  serveStandIns().catch((error: Error) => {
    console.error(`stand-ins failed: ${error.stack ?? error.message}`);
    process.exit(1);
  });
} else {
  const watchdog = guardRun();
  main()
    .catch((error: Error) => {
      console.error(`bench failed: ${error.stack ?? error.message}`);
      process.exitCode = 1;
    })
    .finally(async () => {
      await cleanUp();
      clearTimeout(watchdog);
    });
}
