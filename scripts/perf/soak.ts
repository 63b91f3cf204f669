/**
 * `npm run soak`: sustained load on the built exchange functions, each served by the
 * repository's functions-framework in a process of its own (`--source=dist/<name>`,
 * NODE_ENV=production), on the Datastore emulator. (Cold starts, where the buildpack's exact
 * way of starting matters, are measured by the benchmark.)
 * Loopback only, bounded in time (SOAK_SECONDS, default 300).
 *
 * Mixed traffic: valid exchanges of both kinds (83%, split about evenly) from many client
 * addresses, plus wrong secrets for a few key ids from three addresses (throttled), unknown
 * key ids, malformed keys, bad bodies, gzip bodies (415) and bodies over 8 KiB, declared or
 * chunked (413). Every request carries X-Forwarded-For as Google's load balancer hands it
 * on. Passes when no response was a 5xx, no connection failed, and each server's resident
 * memory at the end is at most 1.2× what it was half-way through (every per-instance table is
 * bounded). Half-way, not after the first minute: V8 grows its heap to the working size of
 * the traffic it sees, and on a shared machine the first minute can run at a third of the
 * later rate, so memory still rises after it without anything leaking; a leak keeps growing
 * through the second half, which is what the check compares.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Datastore } from '@google-cloud/datastore';
import { datastoreOptions } from '../../shared/platform/googleClients';
import { formatApiKey, generateKeyId, generateSecret, parseApiKey } from '../../shared/keys/grammar';
import { createApiKey } from '../../shared/admin/keys';
import { createIntegration, createOrganization } from '../../shared/admin/owners';
import { generateSigningKey } from '../../shared/signing/signingKey';
import { freePort, startEmulator, type Emulator } from '../dev/emulator';

const ROOT = resolve(__dirname, '../..');
const SECONDS = Number(process.env.SOAK_SECONDS || 300);
const BASELINE_SECONDS = Math.floor(SECONDS / 2);
const CONNECTIONS = Number(process.env.SOAK_CONNECTIONS || 16);
const NAMESPACES = { integrationNamespace: 'soak-client-integration', platformNamespace: 'soak-platform-credentials' };

function rssKiB(pid: number): number {
  const match = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) : NaN;
}

async function serve(target: string, env: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
  const source = join(ROOT, 'dist', target);
  if (!existsSync(join(source, 'index.js'))) throw new Error(`${source}/index.js is missing: run npm run build`);
  const port = await freePort();
  // The framework the bundle registers with: the repository's own copy, which the bundle's
  // require('@google-cloud/functions-framework') also finds from dist/<name>.
  const main = join(ROOT, 'node_modules/@google-cloud/functions-framework/build/src/main.js');
  // SOAK_NODE_ARGS (e.g. "--expose-gc -r ./probe.js") passes options to the servers' node.
  const child = spawn(
    process.execPath,
    [
      ...(process.env.SOAK_NODE_ARGS ? process.env.SOAK_NODE_ARGS.split(' ') : []),
      main,
      `--target=${target}`,
      `--source=${source}`,
      `--port=${port}`,
    ],
    {
      env: { ...process.env, ...env, NODE_ENV: 'production' },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const url = `http://127.0.0.1:${port}/`;
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`${target} exited with ${child.exitCode}`);
    try {
      await fetch(url, { method: 'GET', signal: AbortSignal.timeout(500) });
      return { url, child };
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${target} did not start`);
}

async function main(): Promise<void> {
  const cleanups: Array<() => Promise<void> | void> = [];
  try {
    process.env.PROJECT_ID ||= 'token-exchange-soak';
    if (!process.env.DATASTORE_EMULATOR_HOST) {
      const emulator: Emulator = await startEmulator({ projectId: process.env.PROJECT_ID });
      cleanups.push(() => emulator.stop());
      process.env.DATASTORE_EMULATOR_HOST = emulator.host;
    }
    const dir = mkdtempSync(join(tmpdir(), 'soak-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const keyFile = join(dir, 'signing-key.jwk.json');
    writeFileSync(keyFile, JSON.stringify(await generateSigningKey('ES256')), { mode: 0o600 });

    console.log('seeding keys (bcrypt cost 10)…');
    // The emulator's own options: no credential discovery, so no metadata-server probe (and warning).
    const datastore = new Datastore(
      datastoreOptions({ projectId: process.env.PROJECT_ID, emulatorHost: process.env.DATASTORE_EMULATOR_HOST }),
    );
    const ctx = { datastore, namespaces: NAMESPACES };
    const suffix = Date.now().toString(36);
    await createIntegration(ctx, `soak-${suffix}`);
    await createOrganization(ctx, { name: `soak-${suffix}` });
    const integrationKeys: string[] = [];
    const autojoinKeys: string[] = [];
    for (let i = 0; i < 20; i++)
      integrationKeys.push(
        (await createApiKey(ctx, { kind: 'integration', ownerId: `soak-${suffix}`, tier: i % 3 })).apiKey,
      );
    for (let i = 0; i < 5; i++)
      autojoinKeys.push((await createApiKey(ctx, { kind: 'autojoin', ownerId: `soak-${suffix}` })).apiKey);
    const targets: string[] = [];
    for (let i = 0; i < 10; i++)
      targets.push((await createApiKey(ctx, { kind: 'integration', ownerId: `soak-${suffix}` })).apiKey);

    const env = {
      SIGNING_KEY_FILE: keyFile,
      PROJECT_ID: process.env.PROJECT_ID,
      CLIENT_INTEGRATION_NS: NAMESPACES.integrationNamespace,
      PLATFORM_NS: NAMESPACES.platformNamespace,
      DATASTORE_EMULATOR_HOST: process.env.DATASTORE_EMULATOR_HOST,
    };
    const servers = {
      integration: await serve('exchangeIntegration', env),
      autojoin: await serve('exchangeAutojoin', env),
    };
    for (const { child } of Object.values(servers)) cleanups.push(() => void child.kill('SIGTERM'));

    const pick = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)];
    const wrongSecret = (apiKey: string): string => {
      const parsed = parseApiKey(apiKey);
      return parsed.ok ? formatApiKey({ ...parsed.key, secret: generateSecret() }) : apiKey;
    };
    type Shot = {
      label: string;
      url: string;
      body: string | Buffer | (() => ReadableStream<Uint8Array>);
      headers?: Record<string, string>;
      from: string;
      expect: readonly number[];
    };
    // Clients at 50 addresses; the guesses come from 3 others.
    const clients = Array.from({ length: 50 }, (_, i) => `198.51.100.${i + 1}`);
    const attackers = ['203.0.113.1', '203.0.113.2', '203.0.113.3'];
    const gzipped = gzipSync(JSON.stringify({ api_key: pick(integrationKeys) }));
    const oversized = JSON.stringify({ api_key: 'x', pad: 'p'.repeat(64 * 1024) });
    // 256 KiB sent chunked (no Content-Length), refused as it passes 8 KiB.
    const chunked = (): ReadableStream<Uint8Array> => {
      let sent = 0;
      return new ReadableStream({
        pull(controller) {
          if (sent >= 256 * 1024) return controller.close();
          sent += 16 * 1024;
          controller.enqueue(new Uint8Array(16 * 1024).fill(0x70));
        },
      });
    };
    const shot = (): Shot => {
      const r = Math.random();
      // Refused bodies go to both servers alike (a draw of their own: r alone would pick one).
      const server = Math.random() < 0.5 ? servers.integration : servers.autojoin;
      // Both servers get a similar share, so both reach their steady state in the first minute.
      if (r < 0.45)
        return {
          label: 'valid integration',
          url: servers.integration.url,
          body: JSON.stringify({ api_key: pick(integrationKeys) }),
          from: pick(clients),
          expect: [200],
        };
      if (r < 0.83)
        return {
          label: 'valid autojoin',
          url: servers.autojoin.url,
          body: JSON.stringify({ api_key: pick(autojoinKeys) }),
          from: pick(clients),
          expect: [200],
        };
      if (r < 0.88)
        return {
          label: 'wrong secret',
          url: servers.integration.url,
          body: JSON.stringify({ api_key: wrongSecret(pick(targets)) }),
          from: pick(attackers),
          expect: [401, 429],
        };
      if (r < 0.92) {
        const unknown = formatApiKey({
          kind: 'integration',
          ownerId: `soak-${suffix}`,
          keyId: generateKeyId(),
          secret: generateSecret(),
        });
        return {
          label: 'unknown key id',
          url: servers.integration.url,
          body: JSON.stringify({ api_key: unknown }),
          from: pick(clients),
          expect: [401],
        };
      }
      if (r < 0.94)
        return {
          label: 'malformed key',
          url: servers.autojoin.url,
          body: JSON.stringify({ api_key: `mlabk.org_x.${generateSecret()}` }),
          from: pick(clients),
          expect: [401],
        };
      if (r < 0.95)
        return {
          label: 'bad body',
          url: servers.autojoin.url,
          body: '{"api_key": 7}',
          from: pick(clients),
          expect: [400],
        };
      if (r < 0.97)
        return {
          label: 'gzip',
          url: server.url,
          body: gzipped,
          headers: { 'Content-Encoding': 'gzip' },
          from: pick(attackers),
          expect: [415],
        };
      if (r < 0.99)
        return { label: 'declared 64 KiB', url: server.url, body: oversized, from: pick(attackers), expect: [413] };
      return { label: 'chunked 256 KiB', url: server.url, body: chunked, from: pick(attackers), expect: [413] };
    };

    const counts = new Map<number, number>();
    let unexpected = 0;
    let connectionErrors = 0;
    const errorKinds = new Map<string, number>();
    let requests = 0;
    const started = Date.now();
    const endAt = started + SECONDS * 1000;
    const rssNow = (): { integration: number; autojoin: number } => ({
      integration: rssKiB(servers.integration.child.pid as number),
      autojoin: rssKiB(servers.autojoin.child.pid as number),
    });
    const rssLine = (rss: { integration: number; autojoin: number }): string =>
      `RSS integration ${rss.integration} KiB, autojoin ${rss.autojoin} KiB`;
    let rssBaseline: { integration: number; autojoin: number } | undefined;
    const warmupTimer = setTimeout(() => {
      rssBaseline = rssNow();
      console.log(`half-way, ${BASELINE_SECONDS} s: ${requests} requests; ${rssLine(rssBaseline)}`);
    }, BASELINE_SECONDS * 1000);
    const progress = setInterval(
      () => console.log(`${Math.round((Date.now() - started) / 1000)} s: ${requests} requests; ${rssLine(rssNow())}`),
      Number(process.env.SOAK_PROGRESS_SECONDS || 30) * 1000,
    );
    console.log(`soaking for ${SECONDS} s with ${CONNECTIONS} connections…`);
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        while (Date.now() < endAt) {
          const s = shot();
          requests += 1;
          try {
            const body = typeof s.body === 'function' ? s.body() : s.body;
            const response = await fetch(s.url, {
              method: 'POST',
              headers: {
                'Content-Type': 'application/json',
                'X-Forwarded-For': `${s.from}, 130.211.0.1`,
                ...s.headers,
              },
              body,
              ...(typeof s.body === 'function' ? { duplex: 'half' } : {}),
              signal: AbortSignal.timeout(10_000),
            });
            await response.arrayBuffer();
            counts.set(response.status, (counts.get(response.status) ?? 0) + 1);
            if (!s.expect.includes(response.status)) unexpected += 1;
          } catch (error) {
            connectionErrors += 1;
            const cause = (error as Error & { cause?: { code?: string; message?: string } }).cause;
            const kind = `${s.label}: ${cause?.code ?? cause?.message ?? (error as Error).name}`;
            errorKinds.set(kind, (errorKinds.get(kind) ?? 0) + 1);
          }
        }
      }),
    );
    clearTimeout(warmupTimer);
    clearInterval(progress);
    const rssEnd = rssNow();

    const fivexx = [...counts].filter(([status]) => status >= 500).reduce((n, [, c]) => n + c, 0);
    const elapsed = (Date.now() - started) / 1000;
    const ratios = rssBaseline
      ? {
          integration: rssEnd.integration / rssBaseline.integration,
          autojoin: rssEnd.autojoin / rssBaseline.autojoin,
        }
      : undefined;
    const errorList = [...errorKinds].map(([k, c]) => `${k} × ${c}`).join(', ');
    const memory =
      rssBaseline && ratios
        ? `integration ${rssBaseline.integration} → ${rssEnd.integration} KiB (×${ratios.integration.toFixed(2)}), ` +
          `autojoin ${rssBaseline.autojoin} → ${rssEnd.autojoin} KiB (×${ratios.autojoin.toFixed(2)})`
        : 'not measured (run too short)';
    const rate = (requests / elapsed).toFixed(0);
    console.log(`
soak: ${requests} requests in ${elapsed.toFixed(0)} s (${rate} req/s), ${CONNECTIONS} connections
statuses: ${[...counts]
      .sort(([a], [b]) => a - b)
      .map(([s, c]) => `${s}: ${c}`)
      .join(', ')}
5xx responses: ${fivexx}
connection errors: ${connectionErrors}${errorKinds.size ? ` (${errorList})` : ''}
unexpected statuses: ${unexpected}
resident memory half-way (${BASELINE_SECONDS} s) → end: ${memory}`);
    const pass =
      fivexx === 0 &&
      connectionErrors === 0 &&
      unexpected === 0 &&
      ratios !== undefined &&
      ratios.integration <= 1.2 &&
      ratios.autojoin <= 1.2;
    console.log(pass ? 'PASS' : 'FAIL');
    process.exitCode = pass ? 0 : 1;
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
}

main().catch((error: Error) => {
  console.error(`soak failed: ${error.message}`);
  process.exit(1);
});
