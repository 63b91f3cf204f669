/**
 * scripts/deploy.sh: the exact gcloud commands it runs, read from --dry-run, and what it
 * really runs, through a stand-in `gcloud` on the PATH that records its arguments.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const FUNCTIONS = ['exchangeIntegration', 'exchangeAutojoin', 'jwks'] as const;

const SETTINGS = {
  PROJECT_ID: 'mlab-sandbox',
  SERVICE_ACCOUNT: 'token-exchange',
  SIGNING_KEY_SECRET: 'token-exchange-signing-key',
};

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  lines: string[];
}

function deploy(args: string[], env: Record<string, string | undefined> = SETTINGS, script = join(ROOT, 'scripts', 'deploy.sh'), path = process.env.PATH): Run {
  // Only what is given: nothing leaks in from the test's own environment.
  const result = spawnSync('bash', [script, ...args], {
    env: { PATH: path, HOME: process.env.HOME, ...env } as NodeJS.ProcessEnv,
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, lines: result.stdout.split('\n').filter((line) => line !== '') };
}

/** `--name=value` flags of one printed command (none of them needs quoting). */
function flags(line: string): Map<string, string | true> {
  const found = new Map<string, string | true>();
  for (const word of line.split(' ')) {
    if (!word.startsWith('--')) continue;
    const eq = word.indexOf('=');
    found.set(eq === -1 ? word : word.slice(0, eq), eq === -1 ? true : word.slice(eq + 1));
  }
  return found;
}

function envVars(line: string): Record<string, string> {
  return Object.fromEntries(String(flags(line).get('--set-env-vars')).split(',').map((pair) => pair.split(/=(.*)/s).slice(0, 2)));
}

function deployLine(run: Run, name: string): string {
  const line = run.lines.find((l) => l.startsWith(`gcloud functions deploy ${name} `));
  if (!line) throw new Error(`no deploy command for ${name} in:\n${run.stdout}`);
  return line;
}

describe('deploy.sh --dry-run', () => {
  const run = deploy(['--dry-run']);

  test('prints the build, three deploys, the metrics and the URLs, and runs nothing', () => {
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.lines[0]).toBe('npm run build');
    expect(run.lines.map((line) => line.split(' ').slice(0, 4).join(' '))).toEqual([
      'npm run build',
      ...FUNCTIONS.map((name) => `gcloud functions deploy ${name}`),
      'if gcloud logging metrics',
      'if gcloud logging metrics',
      ...FUNCTIONS.map((name) => `gcloud functions describe ${name}`),
    ]);
  });

  test('every printed line is valid shell', () => {
    for (const line of run.lines) expect(spawnSync('bash', ['-n', '-c', line]).status).toBe(0);
  });

  test.each(FUNCTIONS)('%s: 2nd gen, nodejs24, HTTP, public, from its own bundle folder', (name) => {
    const line = deployLine(run, name);
    const f = flags(line);
    expect(f.get('--gen2')).toBe(true);
    expect(f.get('--runtime')).toBe('nodejs24');
    expect(f.get('--trigger-http')).toBe(true);
    expect(f.get('--entry-point')).toBe(name);
    expect(f.get('--source')).toBe(`dist/${name}`);
    expect(f.get('--allow-unauthenticated')).toBe(true);
    expect(f.get('--project')).toBe('mlab-sandbox');
    expect(f.get('--region')).toBe('us-east1');
    expect(f.get('--service-account')).toBe('token-exchange@mlab-sandbox.iam.gserviceaccount.com');
    expect(f.get('--quiet')).toBe(true);
  });

  test.each(FUNCTIONS)('%s: the environment names the signing-key secret and its alias', (name) => {
    expect(envVars(deployLine(run, name))).toEqual({
      PROJECT_ID: 'mlab-sandbox',
      CLIENT_INTEGRATION_NS: 'client-integration',
      PLATFORM_NS: 'platform-credentials',
      SIGNING_KEY_SECRET: 'projects/mlab-sandbox/secrets/token-exchange-signing-key',
      SIGNING_KEY_VERSION: 'current',
      TOKEN_ISSUER: 'token-exchange',
    });
  });

  test.each(['exchangeIntegration', 'exchangeAutojoin'])('%s gets a whole vCPU for bcrypt, and handles requests concurrently', (name) => {
    const f = flags(deployLine(run, name));
    expect(Number(f.get('--cpu'))).toBeGreaterThanOrEqual(1);
    expect(f.get('--memory')).toBe('512Mi');
    expect(Number(f.get('--concurrency'))).toBeGreaterThan(1);
  });

  test('exchangeIntegration keeps one instance warm; the others scale to zero', () => {
    expect(flags(deployLine(run, 'exchangeIntegration')).get('--min-instances')).toBe('1');
    expect(flags(deployLine(run, 'exchangeAutojoin')).get('--min-instances')).toBe('0');
    expect(flags(deployLine(run, 'jwks')).get('--min-instances')).toBe('0');
    expect(flags(deployLine(run, 'jwks')).get('--memory')).toBe('256Mi');
  });

  test('log-based metrics: exchanges by function and outcome, and a latency distribution, created or updated', () => {
    const metrics = run.lines.filter((line) => line.includes('gcloud logging metrics'));
    expect(metrics).toEqual(
      ['token_exchange_requests', 'token_exchange_latency'].map(
        (name) =>
          `if gcloud logging metrics describe ${name} --project=mlab-sandbox >/dev/null 2>&1; ` +
          `then gcloud logging metrics update ${name} --project=mlab-sandbox --config-from-file=scripts/metrics/${name}.json; ` +
          `else gcloud logging metrics create ${name} --project=mlab-sandbox --config-from-file=scripts/metrics/${name}.json; fi`,
      ),
    );
    const requests = JSON.parse(readFileSync(join(ROOT, 'scripts/metrics/token_exchange_requests.json'), 'utf8'));
    expect(requests.metricDescriptor).toMatchObject({ metricKind: 'DELTA', valueType: 'INT64' });
    expect(requests.labelExtractors).toMatchObject({ function: 'EXTRACT(jsonPayload.function)', outcome: 'EXTRACT(jsonPayload.outcome)' });
    const latency = JSON.parse(readFileSync(join(ROOT, 'scripts/metrics/token_exchange_latency.json'), 'utf8'));
    expect(latency.metricDescriptor).toMatchObject({ metricKind: 'DELTA', valueType: 'DISTRIBUTION', unit: 'ms' });
    expect(latency.valueExtractor).toBe('EXTRACT(jsonPayload.latency_ms)');
    expect(latency.bucketOptions.exponentialBuckets).toBeDefined();
    for (const metric of [requests, latency]) {
      expect(metric.metricDescriptor.labels.map((label: { key: string }) => label.key).sort()).toEqual(Object.keys(metric.labelExtractors).sort());
      for (const name of FUNCTIONS) expect(metric.filter).toContain(`"${name}"`);
    }
  });
});

describe('deploy.sh settings', () => {
  test('overrides reach the commands', () => {
    const run = deploy(['--dry-run', '--skip-build'], {
      ...SETTINGS,
      SERVICE_ACCOUNT: 'runner@other-project.iam.gserviceaccount.com',
      SIGNING_KEY_SECRET: 'projects/keys-project/secrets/jwk',
      SIGNING_KEY_VERSION: '7',
      REGION: 'europe-west1',
      INTEGRATION_MIN_INSTANCES: '3',
      AUTOJOIN_CPU: '2',
      AUTOJOIN_MEMORY: '1Gi',
      JWKS_CONCURRENCY: '200',
      BCRYPT_CONCURRENCY: '4',
      TOKEN_ISSUER: 'https://token-exchange.example.org',
      BUILD_SERVICE_ACCOUNT: 'builder@mlab-sandbox.iam.gserviceaccount.com',
    });
    expect(run.stderr).toBe('');
    expect(run.lines[0]).not.toBe('npm run build');
    const integration = deployLine(run, 'exchangeIntegration');
    expect(flags(integration).get('--service-account')).toBe('runner@other-project.iam.gserviceaccount.com');
    expect(flags(integration).get('--region')).toBe('europe-west1');
    expect(flags(integration).get('--min-instances')).toBe('3');
    expect(flags(integration).get('--build-service-account')).toBe('projects/mlab-sandbox/serviceAccounts/builder@mlab-sandbox.iam.gserviceaccount.com');
    expect(envVars(integration)).toMatchObject({
      SIGNING_KEY_SECRET: 'projects/keys-project/secrets/jwk',
      SIGNING_KEY_VERSION: '7',
      BCRYPT_CONCURRENCY: '4',
      TOKEN_ISSUER: 'https://token-exchange.example.org',
    });
    expect(flags(deployLine(run, 'exchangeAutojoin')).get('--cpu')).toBe('2');
    expect(flags(deployLine(run, 'exchangeAutojoin')).get('--memory')).toBe('1Gi');
    expect(flags(deployLine(run, 'jwks')).get('--concurrency')).toBe('200');
  });

  test.each(Object.keys(SETTINGS))('without %s it stops with a one-line message naming it, and prints no command', (missing) => {
    const run = deploy(['--dry-run'], { ...SETTINGS, [missing]: undefined });
    expect(run.status).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.trimEnd().split('\n')).toEqual([expect.stringContaining(`${missing} is not set`)]);
  });

  test.each([
    [{ INTEGRATION_CPU: '0.5' }, 'INTEGRATION_CONCURRENCY above 1 needs INTEGRATION_CPU of at least 1'],
    [{ JWKS_MEMORY: 'lots' }, 'JWKS_MEMORY must look like'],
    [{ SIGNING_KEY_SECRET: 'projects/p/secrets/' }, 'SIGNING_KEY_SECRET must look like'],
    [{ TOKEN_ISSUER: 'a,b' }, 'TOKEN_ISSUER'],
  ])('a bad value (%j) stops it before anything runs', (bad, message) => {
    const run = deploy(['--dry-run'], { ...SETTINGS, ...bad });
    expect(run.status).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.trimEnd().split('\n')).toEqual([expect.stringContaining(message)]);
  });

  test('an unknown argument is refused', () => {
    const run = deploy(['--dryrun']);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('unknown argument --dryrun');
  });
});

describe('deploy.sh, for real, against a stand-in gcloud', () => {
  let work: string;
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'deploy-'));
    mkdirSync(join(work, 'scripts'));
    cpSync(join(ROOT, 'scripts', 'deploy.sh'), join(work, 'scripts', 'deploy.sh'));
    cpSync(join(ROOT, 'scripts', 'metrics'), join(work, 'scripts', 'metrics'), { recursive: true });
    for (const name of FUNCTIONS) {
      mkdirSync(join(work, 'dist', name), { recursive: true });
      writeFileSync(join(work, 'dist', name, 'index.js'), '');
    }
    mkdirSync(join(work, 'bin'));
    // Records each call's arguments (separated by \x1f); "metrics describe" finds nothing.
    writeFileSync(
      join(work, 'bin', 'gcloud'),
      '#!/usr/bin/env bash\n{ for a in "$@"; do printf \'%s\\x1f\' "$a"; done; printf \'\\n\'; } >> "$GCLOUD_LOG"\n' +
        '[ "$1 $2 $3" = "logging metrics describe" ] && exit 1\nexit 0\n',
    );
    chmodSync(join(work, 'bin', 'gcloud'), 0o755);
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  test('runs exactly the commands the dry run prints', () => {
    const log = join(work, 'gcloud.log');
    const script = join(work, 'scripts', 'deploy.sh');
    const path = `${join(work, 'bin')}:${process.env.PATH}`;
    const run = deploy(['--skip-build'], { ...SETTINGS, GCLOUD_LOG: log }, script, path);
    expect(run.status).toBe(0);
    const calls = readFileSync(log, 'utf8').trimEnd().split('\n').map((line) => line.split('\x1f').slice(0, -1));

    const dry = deploy(['--dry-run', '--skip-build'], SETTINGS, script, path);
    const expected = dry.lines.flatMap((line) => {
      const metric = /^if gcloud logging metrics describe (\S+) (\S+) .*; else gcloud logging metrics create (.*); fi$/.exec(line);
      if (metric) return [['logging', 'metrics', 'describe', metric[1], metric[2]], ['logging', 'metrics', 'create', ...(metric[3] as string).split(' ')]];
      const words = line.split(' ');
      return [(words[0] === 'gcloud' ? words.slice(1) : words).map((word) => word.replace(/^'(.*)'$/, '$1'))];
    });
    expect(calls).toEqual(expected);
  });

  test('refuses to deploy a function that was not built', () => {
    rmSync(join(work, 'dist', 'jwks'), { recursive: true });
    const run = deploy(['--skip-build'], { ...SETTINGS, GCLOUD_LOG: join(work, 'second.log') }, join(work, 'scripts', 'deploy.sh'), `${join(work, 'bin')}:${process.env.PATH}`);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('dist/jwks/index.js is missing');
    expect(() => readFileSync(join(work, 'second.log'))).toThrow(); // nothing was deployed
  });
});
