/**
 * Hostile bodies against the built functions, each in a process of its own started as
 * Cloud Functions starts it (functions-framework's CLI with --target, NODE_ENV=production,
 * at the deploy's heap size): a 1 MB gzip bomb (1 GiB inflated), a 32 MiB JSON body and a
 * chunked 20 MiB body are each answered 413/415 while the server's resident memory, read
 * from /proc, grows by under 50 MB, and a valid request sent meanwhile still gets its 200.
 */
import type { Datastore } from '@google-cloud/datastore';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { startFunction, type FunctionProcess } from '../../../scripts/perf/coldStart';
import type { Namespaces } from '../../../shared/keys/entities';
import { namespaceEnv, testDatastore, uniqueNamespaces } from '../../support/datastore';
import { newIntegrationKey } from '../../support/seed';
import { signingKeyFile } from '../../support/signingKeys';

const ROOT = join(__dirname, '..', '..', '..');
const MB = 1024 * 1024;

function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for ${pid}`);
  return Number(match[1]) * 1024;
}

/** 1 GiB of zeros as ~1 MB of gzip: one compressed MiB, repeated (gunzip reads every member). */
function gzipBomb(): Buffer {
  const member = gzipSync(Buffer.alloc(MB), { level: 9 });
  return Buffer.concat(Array.from({ length: 1024 }, () => member));
}

interface Sent {
  status: number;
  /** Body bytes the client managed to hand to its socket before the answer ended the upload. */
  written: number;
}

/**
 * POSTs `total` bytes of `chunk` repeated (or `whole`), stopping at the first answer, as a
 * client that reads while it sends does. `chunked`: no Content-Length.
 */
function upload(
  url: string,
  options: { headers?: Record<string, string>; whole?: Buffer; chunk?: Buffer; total?: number; chunked?: boolean },
): Promise<Sent> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'Content-Type': 'application/json', ...options.headers };
    const total = options.whole ? options.whole.length : (options.total as number);
    if (!options.chunked) headers['Content-Length'] = String(total);
    let written = 0;
    let answered: number | undefined;
    const req = request(url, { method: 'POST', headers }, (res) => {
      answered = res.statusCode ?? 0;
      res.resume();
      res.on('end', () => resolve({ status: answered as number, written }));
      res.on('error', () => resolve({ status: answered as number, written }));
    });
    // The server closes after its answer: errors writing the rest are expected then.
    req.on('error', (error) => (answered === undefined ? reject(error) : resolve({ status: answered, written })));
    const pump = (): void => {
      while (answered === undefined && written < total) {
        const piece = options.whole
          ? options.whole.subarray(written, written + 64 * 1024)
          : (options.chunk as Buffer).subarray(0, Math.min((options.chunk as Buffer).length, total - written));
        written += piece.length;
        if (!req.write(piece)) {
          req.once('drain', pump);
          return;
        }
      }
      if (answered === undefined) req.end();
    };
    pump();
  });
}

let work: string;
let datastore: Datastore;
let namespaces: Namespaces;
let apiKey: string;
const servers: Record<'exchangeIntegration' | 'jwks', FunctionProcess> = {} as never;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'body-guard-'));
  const dist = join(work, 'dist');
  const built = spawnSync(process.execPath, ['scripts/build/build.mts', `--outdir=${dist}`], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (built.status !== 0) throw new Error(`the build failed:\n${built.stderr}`);
  datastore = testDatastore();
  namespaces = uniqueNamespaces('bodyguard');
  apiKey = await newIntegrationKey(datastore, namespaces);
  const env = {
    PROJECT_ID: process.env.PROJECT_ID as string,
    DATASTORE_EMULATOR_HOST: process.env.DATASTORE_EMULATOR_HOST as string,
    SIGNING_KEY_FILE: (await signingKeyFile('ES256')).path,
    ...namespaceEnv(namespaces),
  };
  for (const target of ['exchangeIntegration', 'jwks'] as const) {
    // The bundle and the repository's functions-framework, as `npm install` would lay them out.
    symlinkSync(join(ROOT, 'node_modules'), join(dist, target, 'node_modules'));
    // The deploy's memory: 512Mi leaves a heap of about 384 MB.
    servers[target] = await startFunction({
      dir: join(dist, target),
      target,
      env,
      nodeArgs: ['--max-old-space-size=384'],
    });
  }
  for (let i = 0; i < 100; i++) {
    try {
      const [a, b] = await Promise.all([valid(), fetch(servers.jwks.url)]);
      if (a === 200 && b.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the functions did not start: ${servers.exchangeIntegration.stderr()} ${servers.jwks.stderr()}`);
}, 120_000);
afterAll(async () => {
  await Promise.all(Object.values(servers).map((s) => s.stop()));
  rmSync(work, { recursive: true, force: true });
});

async function valid(): Promise<number> {
  const response = await fetch(servers.exchangeIntegration.url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ api_key: apiKey }),
  });
  await response.arrayBuffer();
  return response.status;
}

async function underAttack(
  server: FunctionProcess,
  url: string,
  legit: () => Promise<number>,
): Promise<{ statuses: number[]; legit: number[]; growth: number; bomb: Sent; chunked: Sent }> {
  const before = rssBytes(server.pid);
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rssBytes(server.pid))), 10);
  try {
    const padding = Buffer.alloc(MB, 0x70);
    const attacks = [
      upload(url, { whole: gzipBomb(), headers: { 'Content-Encoding': 'gzip' } }),
      upload(url, { chunk: Buffer.concat([Buffer.from(`{"api_key":"${apiKey}","pad":"`), padding]), total: 32 * MB }),
      upload(url, { chunk: padding, total: 20 * MB, chunked: true }),
    ];
    const legitimate = Promise.all([legit(), legit(), legit()]);
    const [bomb, large, chunked] = await Promise.all(attacks);
    return {
      statuses: [bomb.status, large.status, chunked.status],
      legit: await legitimate,
      growth: peak - before,
      bomb: bomb,
      chunked: chunked,
    };
  } finally {
    clearInterval(sampler);
  }
}

it(
  'exchangeIntegration: a gzip bomb, 32 MiB of JSON and 20 MiB chunked ' +
    'get 415/413, RSS grows under 50 MB, a valid key still gets 200',
  async () => {
    const result = await underAttack(servers.exchangeIntegration, servers.exchangeIntegration.url, valid);
    process.stdout.write(`exchangeIntegration: RSS growth under attack ${(result.growth / MB).toFixed(1)} MB\n`);
    expect(result.statuses).toEqual([415, 413, 413]);
    expect(result.legit).toEqual([200, 200, 200]);
    expect(result.growth).toBeLessThan(50 * MB);
    // The chunked body was cut off: the client could not hand over all 20 MiB.
    expect(result.chunked.written).toBeLessThan(20 * MB);
    expect(servers.exchangeIntegration.exited()).toBeUndefined();
    expect(await valid()).toBe(200);
  },
);

it('jwks: the same bodies get 415/413, RSS grows under 50 MB, the JWKS is still served', async () => {
  const jwks = async (): Promise<number> => {
    const response = await fetch(servers.jwks.url);
    await response.arrayBuffer();
    return response.status;
  };
  const result = await underAttack(servers.jwks, servers.jwks.url, jwks);
  process.stdout.write(`jwks: RSS growth under attack ${(result.growth / MB).toFixed(1)} MB\n`);
  expect(result.statuses).toEqual([415, 413, 413]);
  expect(result.legit).toEqual([200, 200, 200]);
  expect(result.growth).toBeLessThan(50 * MB);
  expect(servers.jwks.exited()).toBeUndefined();
});

it('the refusals are problem+json and logged as one line each, without the key', async () => {
  const before = servers.exchangeIntegration.stdoutLines.length;
  const response = await fetch(servers.exchangeIntegration.url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' },
    body: gzipSync(JSON.stringify({ api_key: apiKey })),
  });
  expect(response.status).toBe(415);
  expect(response.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
  expect(await response.json()).toMatchObject({ status: 415, title: 'Unsupported content encoding' });
  await new Promise((r) => setTimeout(r, 100));
  const lines = servers.exchangeIntegration.stdoutLines
    .slice(before)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  expect(lines.filter((line) => line.status === 415)).toEqual([
    expect.objectContaining({ function: 'exchangeIntegration', outcome: 'bad-request', reason: 'content encoding' }),
  ]);
  expect(servers.exchangeIntegration.stdoutLines.join('\n') + servers.exchangeIntegration.stderr()).not.toContain(
    apiKey.split('.').pop(),
  );
});
