/**
 * scripts/deploy/deploy.sh: the exact gcloud commands it runs, read from --dry-run, and what it
 * really runs, through a stand-in `gcloud` on the PATH that records its arguments.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { SETTINGS as CONFIG_SETTINGS } from '../../../shared/platform/config';
import { FUNCTION_NAMES } from '../../../shared/platform/functions';
import {
  CHECK,
  FUNCTIONS,
  ROOT,
  SETTINGS,
  StandIn,
  WHEN_FOUND,
  commandLine,
  deploy,
  flags,
  linesRunWhen,
  shellLines,
  type Run,
} from '../../support/deployScript';

function envVars(line: string): Record<string, string> {
  return Object.fromEntries(
    String(flags(line).get('--set-env-vars'))
      .split(',')
      .map((pair) => pair.split(/=(.*)/s).slice(0, 2)),
  );
}

const deployLine = (run: Run, name: string): string => commandLine(run, `gcloud functions deploy ${name} `);

describe('deploy.sh --dry-run', () => {
  const run = deploy(['--dry-run']);

  test('prints the build, three deploys, the metrics, the dashboard and the URLs, and runs nothing', () => {
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const expected = [
      'npm run build',
      ...FUNCTIONS.map((name) => `gcloud functions deploy ${name} `),
      ...['token_exchange_requests', 'token_exchange_latency'].flatMap((name) => [
        `${CHECK}gcloud logging metrics describe ${name} `,
        `gcloud logging metrics create ${name} `,
        `${WHEN_FOUND}gcloud logging metrics update ${name} `,
      ]),
      `${CHECK}gcloud monitoring dashboards describe token-exchange `,
      'sed -e \'1s|^{|{"name": "projects/mlab-sandbox/dashboards/token-exchange", |\' ' +
        'scripts/deploy/metrics/dashboard.json | gcloud monitoring dashboards create ',
      `${WHEN_FOUND}sed -e "1s|^{|{\\"name\\": \\"projects/mlab-sandbox/dashboards/token-exchange\\", ` +
        '\\"etag\\": \\"$(gcloud monitoring dashboards describe token-exchange ',
      ...FUNCTIONS.map((name) => `gcloud functions describe ${name} `),
    ];
    expect(run.lines.map((line, i) => (line.startsWith(expected[i] ?? '\0') ? expected[i] : line))).toEqual(expected);
  });

  test('every printed line, and every marked look-up and update, is valid shell', () => {
    for (const line of shellLines(run)) expect([line, spawnSync('bash', ['-n', '-c', line]).status]).toEqual([line, 0]);
  });

  test.each(FUNCTIONS)('%s: 2nd gen, nodejs24, HTTP, public at its own URL, from its own bundle folder', (name) => {
    const line = deployLine(run, name);
    const f = flags(line);
    expect(f.get('--gen2')).toBe(true);
    expect(f.get('--runtime')).toBe('nodejs24');
    expect(f.get('--trigger-http')).toBe(true);
    expect(f.get('--entry-point')).toBe(name);
    expect(f.get('--source')).toBe(`dist/${name}`);
    expect(f.get('--allow-unauthenticated')).toBe(true);
    expect(f.get('--ingress-settings')).toBe('all');
    expect(f.get('--project')).toBe('mlab-sandbox');
    expect(f.get('--region')).toBe('us-east1');
    expect(f.get('--service-account')).toBe('token-exchange@mlab-sandbox.iam.gserviceaccount.com');
    expect(f.get('--quiet')).toBe(true);
  });

  test.each(FUNCTIONS)(
    '%s: the environment names the signing-key secret and its alias, and the client address at its own URL',
    (name) => {
      expect(envVars(deployLine(run, name))).toEqual({
        PROJECT_ID: 'mlab-sandbox',
        CLIENT_INTEGRATION_NS: 'client-integration',
        PLATFORM_NS: 'platform-credentials',
        SIGNING_KEY_SECRET: 'projects/mlab-sandbox/secrets/token-exchange-signing-key',
        SIGNING_KEY_VERSION: 'current',
        TOKEN_ISSUER: 'token-exchange',
        // Google's front end appends just <client> there: hop 2 would read what the client wrote.
        FORWARDED_FOR_HOP: '1',
      });
    },
  );

  test.each(['exchangeIntegration', 'exchangeAutojoin'])(
    '%s gets a whole vCPU for bcrypt, and handles requests concurrently',
    (name) => {
      const f = flags(deployLine(run, name));
      expect(Number(f.get('--cpu'))).toBeGreaterThanOrEqual(1);
      expect(f.get('--memory')).toBe('512Mi');
      expect(Number(f.get('--concurrency'))).toBeGreaterThan(1);
    },
  );

  test('exchangeIntegration keeps one instance warm; the others scale to zero', () => {
    expect(flags(deployLine(run, 'exchangeIntegration')).get('--min-instances')).toBe('1');
    expect(flags(deployLine(run, 'exchangeAutojoin')).get('--min-instances')).toBe('0');
    expect(flags(deployLine(run, 'jwks')).get('--min-instances')).toBe('0');
    expect(flags(deployLine(run, 'jwks')).get('--memory')).toBe('256Mi');
  });

  test('log-based metrics: looked up, created when absent, updated when found', () => {
    const metrics = run.lines.filter((line) => line.includes('gcloud logging metrics'));
    expect(metrics).toEqual(
      ['token_exchange_requests', 'token_exchange_latency'].flatMap((name) => [
        `${CHECK}gcloud logging metrics describe ${name} --project=mlab-sandbox`,
        `gcloud logging metrics create ${name} --project=mlab-sandbox ` +
          `--config-from-file=scripts/deploy/metrics/${name}.json`,
        `${WHEN_FOUND}gcloud logging metrics update ${name} --project=mlab-sandbox ` +
          `--config-from-file=scripts/deploy/metrics/${name}.json`,
      ]),
    );
    const requests = JSON.parse(
      readFileSync(join(ROOT, 'scripts/deploy/metrics/token_exchange_requests.json'), 'utf8'),
    );
    expect(requests.metricDescriptor).toMatchObject({ metricKind: 'DELTA', valueType: 'INT64' });
    expect(requests.labelExtractors).toMatchObject({
      function: 'EXTRACT(jsonPayload.function)',
      outcome: 'EXTRACT(jsonPayload.outcome)',
    });
    const latency = JSON.parse(readFileSync(join(ROOT, 'scripts/deploy/metrics/token_exchange_latency.json'), 'utf8'));
    expect(latency.metricDescriptor).toMatchObject({ metricKind: 'DELTA', valueType: 'DISTRIBUTION', unit: 'ms' });
    expect(latency.valueExtractor).toBe('EXTRACT(jsonPayload.latency_ms)');
    expect(latency.bucketOptions.exponentialBuckets).toBeDefined();
    for (const metric of [requests, latency]) {
      expect(metric.metricDescriptor.labels.map((label: { key: string }) => label.key).sort()).toEqual(
        Object.keys(metric.labelExtractors).sort(),
      );
      for (const name of FUNCTIONS) expect(metric.filter).toContain(`"${name}"`);
    }
  });

  test('no front door without AUTH_DOMAIN', () => {
    expect(run.stdout).not.toMatch(/gcloud (compute|certificate-manager) /);
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
    expect(flags(integration).get('--build-service-account')).toBe(
      'projects/mlab-sandbox/serviceAccounts/builder@mlab-sandbox.iam.gserviceaccount.com',
    );
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

  test.each([
    [
      'behind the front door, the default hop (the load balancer appends two entries)',
      { AUTH_DOMAIN: 'auth.example.org' },
      undefined,
    ],
    ["a hop set by hand, at the functions' own URLs", { FORWARDED_FOR_HOP: '0' }, '0'],
    ['a hop set by hand, behind the front door', { AUTH_DOMAIN: 'auth.example.org', FORWARDED_FOR_HOP: '3' }, '3'],
  ])('FORWARDED_FOR_HOP: %s', (_, env: Record<string, string>, hop: string | undefined) => {
    const run = deploy(['--dry-run', '--skip-build'], { ...SETTINGS, ...env });
    expect(run.status).toBe(0);
    for (const name of FUNCTIONS) expect(envVars(deployLine(run, name)).FORWARDED_FOR_HOP).toBe(hop);
  });

  test.each(Object.keys(SETTINGS))(
    'without %s it stops with a one-line message naming it, and prints no command',
    (missing) => {
      const run = deploy(['--dry-run'], { ...SETTINGS, [missing]: undefined });
      expect(run.status).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr.trimEnd().split('\n')).toEqual([expect.stringContaining(`${missing} is not set`)]);
    },
  );

  test.each([
    [{ INTEGRATION_CPU: '0.5' }, 'INTEGRATION_CONCURRENCY above 1 needs INTEGRATION_CPU of at least 1'],
    [{ JWKS_MEMORY: 'lots' }, 'JWKS_MEMORY must look like'],
    [{ SIGNING_KEY_SECRET: 'projects/p/secrets/' }, 'SIGNING_KEY_SECRET must look like'],
    [{ TOKEN_ISSUER: 'a,b' }, 'TOKEN_ISSUER'],
    [{ AUTH_DOMAIN: 'Auth.Example.org' }, 'AUTH_DOMAIN must be a lowercase DNS name'],
    [{ AUTH_DOMAIN: 'https://auth.example.org/' }, 'AUTH_DOMAIN must be a lowercase DNS name'],
    [
      { AUTH_DOMAIN: 'auth.example.org', EDGE_RATE_LIMIT_COUNT: '0' },
      'EDGE_RATE_LIMIT_COUNT must be a whole number above 0',
    ],
    [
      { AUTH_DOMAIN: 'auth.example.org', EDGE_RATE_LIMIT_INTERVAL_SECONDS: '45' },
      "EDGE_RATE_LIMIT_INTERVAL_SECONDS must be one of Cloud Armor's windows",
    ],
    [{ AUTH_DOMAIN: 'auth.example.org', EDGE_BAN_SECONDS: '5m' }, 'EDGE_BAN_SECONDS must be a whole number above 0'],
    [{ AUTH_DOMAIN: `${'a'.repeat(40)}.example.org` }, 'AUTH_DOMAIN is too long for a resource name'],
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

describe.each([
  ['without AUTH_DOMAIN', {}],
  ['with AUTH_DOMAIN', { AUTH_DOMAIN: 'auth.mlab-sandbox.measurementlab.net' }],
])('deploy.sh, for real, against a stand-in gcloud, %s', (_, env: Record<string, string>) => {
  let standIn: StandIn;
  beforeAll(() => {
    standIn = new StandIn();
  });
  afterAll(() => standIn.remove());

  // Each call's command up to its verb: "compute backend-services add-backend", "logging metrics update"…
  const VERBS = ['create', 'update', 'import', 'add-backend', 'deploy', 'describe'];
  const verbs = (calls: Array<{ args: string[] }>): string[] =>
    calls
      .map((call) => call.args.slice(0, call.args.findIndex((arg) => VERBS.includes(arg)) + 1).join(' '))
      .filter((verb) => !verb.endsWith(' describe'));

  test('a first run (nothing exists) runs exactly what the dry run prints, its look-ups included', () => {
    const dry = standIn.dryRun(env);
    const { run, calls } = standIn.run(env, false);
    expect(run.stderr).not.toMatch(/deploy\.sh:/);
    expect(run.status).toBe(0);
    expect(calls).toEqual(standIn.replay(linesRunWhen(dry, 'absent'), false));
    expect(verbs(calls)).toEqual(expect.arrayContaining(['logging metrics create', 'monitoring dashboards create']));
    if (env.AUTH_DOMAIN)
      expect(verbs(calls)).toEqual(
        expect.arrayContaining(['compute backend-services add-backend', 'compute forwarding-rules create']),
      );
  });

  test(
    'a second run (everything exists) creates nothing: it ' + 'updates what can change and runs what the dry run marks',
    () => {
      const dry = standIn.dryRun(env);
      const { run, calls } = standIn.run(env, true);
      expect(run.status).toBe(0);
      expect(calls).toEqual(standIn.replay(linesRunWhen(dry, 'present'), true));
      const ran = verbs(calls);
      expect(ran.filter((verb) => / create$| add-backend$/.test(verb))).toEqual([]);
      expect(ran).toEqual(expect.arrayContaining(['logging metrics update', 'monitoring dashboards update']));
      if (env.AUTH_DOMAIN) expect(ran).toContain('compute security-policies rules update');
      // A dashboard update carries the etag it has just read, as the API requires.
      const update = calls.find((call) => call.args.slice(0, 3).join(' ') === 'monitoring dashboards update');
      expect(JSON.parse(update?.stdin ?? 'null')).toMatchObject({
        name: 'projects/mlab-sandbox/dashboards/token-exchange',
        etag: 'etag-from-describe',
      });
    },
  );

  test('refuses to deploy a function that was not built', () => {
    rmSync(join(standIn.work, 'dist', 'jwks'), { recursive: true });
    const { run, calls } = standIn.run(env, false);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('dist/jwks/index.js is missing');
    expect(calls).toEqual([]); // nothing was deployed
  });
});

describe('deploy.sh and shared/platform/config.ts SETTINGS', () => {
  const every = Object.values(CONFIG_SETTINGS);
  const run = deploy(['--dry-run'], {
    ...SETTINGS,
    // Each pass-through setting at its default: a valid value, and one deploy.sh does not set itself.
    ...Object.fromEntries(every.filter((s) => s.deploy === 'when-set').map((s) => [s.name, s.fallback])),
  });

  test.each(FUNCTIONS)('%s gets every function setting: the deployed ones always, the others when set', (name) => {
    expect(run.stderr).toBe('');
    const vars = envVars(deployLine(run, name));
    const passed = every.filter((s) => s.deploy !== 'never').map((s) => s.name);
    expect(Object.keys(vars).sort()).toEqual(passed.sort());
    for (const s of every.filter((setting) => setting.deploy === 'when-set')) {
      expect([s.name, vars[s.name]]).toEqual([s.name, s.fallback]);
    }
  });
});

describe('deploy.sh and shared/platform/functions.ts', () => {
  test('its bash list of functions is FUNCTION_NAMES, in order', () => {
    const script = readFileSync(join(ROOT, 'scripts', 'deploy', 'deploy.sh'), 'utf8');
    const list = /^functions=\(([^)]*)\)$/m.exec(script);
    expect(list?.[1]?.split(' ')).toEqual([...FUNCTION_NAMES]);
  });
});
