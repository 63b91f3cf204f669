/**
 * The examples under examples/, run as an integrator would run them.
 *
 * Each backend (Node and Python always; Go when a Go toolchain is on the PATH, as in CI, whose
 * .ci/run installs one: without it that test is not defined) runs against the bundled local
 * stack with a real key, and hands its page a token that verifies against the stack's JWKS, a
 * fresh one per request. Against a stand-in on loopback that answers what the stack cannot be
 * made to answer cheaply, it maps 401 to "fix the key" without a retry, waits out a 429's
 * Retry-After before retrying, and gives up on a 503 after a bounded number of attempts or at
 * once when Retry-After is longer than a user can wait. No run logs the key or a token.
 *
 * The Node verifier (examples/node/verify.mjs) accepts a fresh token and refuses an expired one,
 * one for the other audience, one without a kid, and ones signed by a key that is not published.
 * (The Go verifier needs go-jose from the network, so it is not run here.)
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createLocalJWKSet,
  decodeJwt,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
  SignJWT,
  type JSONWebKeySet,
  type JWK,
} from 'jose';
import { namespaceEnv, uniqueNamespaces } from '../../support/datastore';
import { buildLocalStack, type BuiltLocalStack } from '../../support/localStack';
import { startLocalStackProcess, type LocalStackProcess } from '../../support/localStackProcess';
import { ROOT } from '../../support/openapi';
import { signingKeyFile } from '../../support/signingKeys';

const EXAMPLES = join(ROOT, 'examples');
const GO_ON_PATH = spawnSync('go', ['version'], { stdio: 'ignore' }).status === 0;

interface Backend {
  readonly name: string;
  /** The command that runs it, once built. */
  command(): [string, string[]];
}

let goBinary = '';
const BACKENDS: Backend[] = [
  { name: 'Node', command: () => [process.execPath, [join(EXAMPLES, 'node', 'backend.mjs')]] },
  { name: 'Python', command: () => ['python3', [join(EXAMPLES, 'python', 'backend.py')]] },
  ...(GO_ON_PATH ? [{ name: 'Go', command: (): [string, string[]] => [goBinary, []] }] : []),
];

let built: BuiltLocalStack;
let stack: LocalStackProcess;
let keys: { integration: string; autojoin: string };
let signingJwk: JWK;
let scratch: string;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'examples-'));
  if (GO_ON_PATH) {
    goBinary = join(scratch, 'backend');
    // Standard library only: nothing to fetch, so no network and no toolchain download.
    execFileSync('go', ['build', '-o', goBinary, '.'], {
      cwd: join(EXAMPLES, 'go', 'backend'),
      env: { ...process.env, GOTOOLCHAIN: 'local', GOPROXY: 'off', GOFLAGS: '' },
      stdio: 'pipe',
    });
  }
  const key = await signingKeyFile('RS256');
  signingJwk = JSON.parse(readFileSync(key.path, 'utf8')) as JWK;
  built = await buildLocalStack('examples');
  stack = await startLocalStackProcess(built, {
    ...namespaceEnv(uniqueNamespaces('examples')),
    DATASTORE_EMULATOR_HOST: process.env.DATASTORE_EMULATOR_HOST,
    SIGNING_KEY_FILE: key.path,
    INTEGRATION_TOKEN_TTL: '20',
    AUTOJOIN_TOKEN_TTL: '3600',
  });
  await stack.serving();
  keys = stack.demoKeys();
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  built?.remove();
  rmSync(scratch, { recursive: true, force: true });
});

interface Running {
  readonly base: string;
  output(): string;
  stop(): Promise<void>;
}

/** Starts a backend on a free port with only this environment's M-Lab settings; resolves once it listens. */
async function run(backend: Backend, env: { MLAB_API_KEY: string; MLAB_TOKEN_URL: string }): Promise<Running> {
  const [command, args] = backend.command();
  const child: ChildProcess = spawn(command, args, {
    env: { ...process.env, LOCATE_URL: undefined, HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 20_000;
  let base: string | undefined;
  while ((base = /listening on (http:\/\/\S+)/.exec(stdout)?.[1]) === undefined) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the ${backend.name} example did not start (exit ${child.exitCode})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return {
    base,
    output: () => `${stdout}\n${stderr}`,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** What the page gets from its backend's token route. */
interface PageAnswer {
  readonly status: number;
  readonly retryAfter: string | null;
  readonly body: { readonly token?: string; readonly expires_in?: number; readonly error?: string };
}

async function pageAsksForToken(base: string): Promise<PageAnswer> {
  const response = await fetch(`${base}/mlab-token`, { method: 'POST' });
  return {
    status: response.status,
    retryAfter: response.headers.get('retry-after'),
    body: (await response.json()) as PageAnswer['body'],
  };
}

/**
 * Neither the key (nor its secret alone) nor any of these tokens (nor a signature) appears in
 * what the example printed. Asserted as booleans, so that a failure does not print them either.
 */
function expectNothingSecretIn(output: string, apiKey: string, tokens: readonly string[]): void {
  expect({
    key: output.includes(apiKey),
    secret: output.includes(apiKey.slice(apiKey.lastIndexOf('.') + 1)),
    token: tokens.some((token) => output.includes(token) || output.includes(token.split('.')[2])),
    anyJwt: /eyJ[\w-]{10,}/.test(output),
  }).toEqual({ key: false, secret: false, token: false, anyJwt: false });
}

interface Scripted {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body: unknown;
}

/**
 * A stand-in for the token exchange on loopback: answers with the script, in order (the last
 * answer repeats), and records when each request came and what key it carried.
 */
async function standIn(script: readonly Scripted[]): Promise<{
  url: string;
  requests: Array<{ at: number; apiKey: unknown }>;
  close(): Promise<void>;
}> {
  const requests: Array<{ at: number; apiKey: unknown }> = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      let apiKey: unknown;
      try {
        apiKey = (JSON.parse(body) as { api_key?: unknown }).api_key;
      } catch {
        apiKey = undefined;
      }
      requests.push({ at: performance.now(), apiKey });
      const answer = script[Math.min(requests.length - 1, script.length - 1)];
      const type = answer.status === 200 ? 'application/json' : 'application/problem+json';
      res.writeHead(answer.status, { 'Content-Type': type, 'Cache-Control': 'no-store', ...answer.headers });
      res.end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v0/token/integration`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const problem = (status: number, title: string) => ({ type: 'about:blank', title, status, detail: title });
const STAND_IN_KEY = 'mlabk.cii_stand-in.ki_0123456789abcdef.c3RhbmQtaW4tc2VjcmV0LW5vdC1hLXJlYWwta2V5LTAw';
const STAND_IN_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdGFuZC1pbiI6dHJ1ZX0.c3RhbmQtaW4tc2lnbmF0dXJl';

describe('the example sources', () => {
  it('hold no API key: each reads it from the environment', () => {
    const sources = [
      'node/backend.mjs',
      'python/backend.py',
      'go/backend/main.go',
      'node/verify.mjs',
      'go/verify/main.go',
    ].map((file) => readFileSync(join(EXAMPLES, file), 'utf8'));
    for (const source of sources) {
      expect(source).toContain('MLAB_');
      expect(source).not.toMatch(/mlabk\.(cii|org)_[^.\s…]+\.ki_[^.\s…]+\.[\w-]{8,}/);
    }
  });
});

describe.each(BACKENDS)('the $name backend example', (backend) => {
  it('hands its page a fresh token per test, which verifies, from the local stack with a real key', async () => {
    const running = await run(backend, {
      MLAB_API_KEY: keys.integration,
      MLAB_TOKEN_URL: `${stack.base}/v0/token/integration`,
    });
    try {
      const page = await fetch(`${running.base}/`);
      expect(page.status).toBe(200);
      const html = await page.text();
      // The page asks its own backend, then calls Locate's priority endpoint with the token.
      expect(html).toContain("fetch('/mlab-token', { method: 'POST'");
      expect(html).toContain('https://locate.measurementlab.net/v2/priority/nearest/ndt/ndt7');
      expect(html).toContain("Authorization: 'Bearer ' + token");

      const first = await pageAsksForToken(running.base);
      const second = await pageAsksForToken(running.base);
      expect([first.status, second.status]).toEqual([200, 200]);
      expect({ ...first.body, token: typeof first.body.token }).toEqual({ token: 'string', expires_in: 20 });
      // Nothing cached: each test gets its own token.
      const [firstToken, secondToken] = [String(first.body.token), String(second.body.token)];
      expect(decodeJwt(firstToken).jti).not.toBe(decodeJwt(secondToken).jti);
      const published = (await (await fetch(`${stack.base}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
      const jwks = createLocalJWKSet(published);
      const { payload } = await jwtVerify(firstToken, jwks, { issuer: 'token-exchange', audience: 'integration' });
      expect(payload).toMatchObject({ int_id: 'demo-integration', key_id: 'ki_00000000000de301' });
      await running.stop();
      expectNothingSecretIn(running.output(), keys.integration, [firstToken, secondToken]);
    } finally {
      await running.stop();
    }
  });

  it('on a 401 from the local stack tells the operator to fix the key, and the page it is misconfigured', async () => {
    const badKey = `${keys.integration.slice(0, keys.integration.lastIndexOf('.') + 1)}${'A'.repeat(43)}`;
    const running = await run(backend, { MLAB_API_KEY: badKey, MLAB_TOKEN_URL: `${stack.base}/exchangeIntegration` });
    try {
      const answer = await pageAsksForToken(running.base);
      expect(answer.status).toBe(500);
      await running.stop();
      expect(running.output()).toContain('fix MLAB_API_KEY (not retrying)');
      expect(running.output()).not.toContain('retrying in');
      expectNothingSecretIn(running.output(), badKey, []);
    } finally {
      await running.stop();
    }
  });

  it('calls exactly once on a 401: no retry', async () => {
    const exchange = await standIn([{ status: 401, body: problem(401, 'Invalid API key') }]);
    const running = await run(backend, { MLAB_API_KEY: STAND_IN_KEY, MLAB_TOKEN_URL: exchange.url });
    try {
      expect((await pageAsksForToken(running.base)).status).toBe(500);
      expect(exchange.requests.map((r) => r.apiKey)).toEqual([STAND_IN_KEY]);
    } finally {
      await running.stop();
      await exchange.close();
    }
  });

  it("waits out a 429's Retry-After, retries, and hands the page the token", async () => {
    const exchange = await standIn([
      { status: 429, headers: { 'Retry-After': '1' }, body: problem(429, 'Too many attempts') },
      { status: 200, body: { token: STAND_IN_TOKEN, token_type: 'Bearer', expires_in: 20 } },
    ]);
    const running = await run(backend, { MLAB_API_KEY: STAND_IN_KEY, MLAB_TOKEN_URL: exchange.url });
    try {
      const answer = await pageAsksForToken(running.base);
      expect([answer.status, answer.body]).toEqual([200, { token: STAND_IN_TOKEN, expires_in: 20 }]);
      expect(exchange.requests).toHaveLength(2);
      expect(exchange.requests[1].at - exchange.requests[0].at).toBeGreaterThanOrEqual(950);
      await running.stop();
      expect(running.output()).toContain('token exchange: 429; retrying in 1 s');
      expectNothingSecretIn(running.output(), STAND_IN_KEY, [STAND_IN_TOKEN]);
    } finally {
      await running.stop();
      await exchange.close();
    }
  });

  it('gives up on a 503 after three calls, and passes Retry-After to the page', async () => {
    const exchange = await standIn([
      { status: 503, headers: { 'Retry-After': '0' }, body: problem(503, 'Service unavailable') },
    ]);
    const running = await run(backend, { MLAB_API_KEY: STAND_IN_KEY, MLAB_TOKEN_URL: exchange.url });
    try {
      const answer = await pageAsksForToken(running.base);
      expect([answer.status, answer.retryAfter]).toEqual([503, '0']);
      expect(exchange.requests).toHaveLength(3);
    } finally {
      await running.stop();
      await exchange.close();
    }
  });

  it('does not keep the user waiting when Retry-After is longer than it can wait', async () => {
    const exchange = await standIn([
      { status: 503, headers: { 'Retry-After': '3600' }, body: problem(503, 'Service unavailable') },
    ]);
    const running = await run(backend, { MLAB_API_KEY: STAND_IN_KEY, MLAB_TOKEN_URL: exchange.url });
    try {
      const started = performance.now();
      const answer = await pageAsksForToken(running.base);
      expect([answer.status, answer.retryAfter]).toEqual([503, '3600']);
      expect(exchange.requests).toHaveLength(1);
      expect(performance.now() - started).toBeLessThan(5000);
    } finally {
      await running.stop();
      await exchange.close();
    }
  });
});

describe('the Node verifier example', () => {
  /** Runs examples/node/verify.mjs on one token: its exit code and what it printed. */
  function verify(token: string, audience: string): { status: number | null; stdout: string; stderr: string } {
    const result = spawnSync(process.execPath, [join(EXAMPLES, 'node', 'verify.mjs')], {
      input: token,
      encoding: 'utf8',
      env: { ...process.env, MLAB_JWKS_URL: `${stack.base}/.well-known/jwks.json`, MLAB_TOKEN_AUDIENCE: audience },
    });
    expect(`${result.stdout}${result.stderr}`.includes(token.split('.')[2])).toBe(false);
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  async function exchange(path: string, apiKey: string): Promise<string> {
    const response = await fetch(`${stack.base}${path}`, { method: 'POST', body: JSON.stringify({ api_key: apiKey }) });
    return ((await response.json()) as { token: string }).token;
  }

  /** A token with the live token's claims, re-timed or re-signed. */
  async function forged(
    claims: Record<string, unknown>,
    key: { jwk: JWK; kid?: string },
    times: { iat: number; exp: number },
  ): Promise<string> {
    const header = { alg: 'RS256', typ: 'JWT', ...(key.kid ? { kid: key.kid } : {}) };
    return new SignJWT({ ...claims, iat: times.iat, nbf: times.iat, exp: times.exp })
      .setProtectedHeader(header)
      .sign(await importJWK(key.jwk, 'RS256'));
  }

  it('accepts a fresh token and prints the claims to trust', async () => {
    const integration = verify(await exchange('/v0/token/integration', keys.integration), 'integration');
    expect([integration.status, JSON.parse(integration.stdout)]).toEqual([
      0,
      { int_id: 'demo-integration', key_id: 'ki_00000000000de301', tier: 0 },
    ]);
    const autojoin = verify(await exchange('/v0/token/autojoin', keys.autojoin), 'autojoin');
    expect([autojoin.status, JSON.parse(autojoin.stdout)]).toEqual([0, { org: 'demo-org' }]);
  });

  it('refuses a token for the other audience', async () => {
    const result = verify(await exchange('/v0/token/autojoin', keys.autojoin), 'integration');
    expect([result.status, result.stderr]).toEqual([1, expect.stringContaining('ERR_JWT_CLAIM_VALIDATION_FAILED')]);
    expect(result.stderr).toContain('"aud"');
  });

  it('refuses an expired token signed by the published key', async () => {
    const live = decodeJwt(await exchange('/v0/token/integration', keys.integration));
    const now = Math.floor(Date.now() / 1000);
    const token = await forged(live, { jwk: signingJwk, kid: signingJwk.kid }, { iat: now - 80, exp: now - 60 });
    // The same token, in time, is accepted: only its expiry is wrong.
    const inTime = await forged(live, { jwk: signingJwk, kid: signingJwk.kid }, { iat: now, exp: now + 20 });
    expect(verify(inTime, 'integration').status).toBe(0);
    const result = verify(token, 'integration');
    expect([result.status, result.stderr]).toEqual([1, expect.stringContaining('ERR_JWT_EXPIRED')]);
  });

  it('refuses a token signed by a key that is not published, under its own kid or the published one', async () => {
    const live = decodeJwt(await exchange('/v0/token/integration', keys.integration));
    const now = Math.floor(Date.now() / 1000);
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const other = await exportJWK(privateKey);
    const unknownKid = verify(
      await forged(live, { jwk: other, kid: 'not-published' }, { iat: now, exp: now + 20 }),
      'integration',
    );
    expect([unknownKid.status, unknownKid.stderr]).toEqual([1, expect.stringContaining('ERR_JWKS_NO_MATCHING_KEY')]);
    const sameKid = verify(
      await forged(live, { jwk: other, kid: signingJwk.kid }, { iat: now, exp: now + 20 }),
      'integration',
    );
    expect([sameKid.status, sameKid.stderr]).toEqual([
      1,
      expect.stringContaining('ERR_JWS_SIGNATURE_VERIFICATION_FAILED'),
    ]);
  });

  it('refuses a token that names no kid, even one signed by the published key', async () => {
    const live = decodeJwt(await exchange('/v0/token/integration', keys.integration));
    const now = Math.floor(Date.now() / 1000);
    const result = verify(await forged(live, { jwk: signingJwk }, { iat: now, exp: now + 20 }), 'integration');
    expect([result.status, result.stderr]).toEqual([1, expect.stringContaining('names no kid')]);
  });
});
