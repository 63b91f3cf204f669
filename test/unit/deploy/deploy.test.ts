/**
 * scripts/deploy/deploy.sh: the exact gcloud commands it runs, read from --dry-run, and what it
 * really runs, through a stand-in `gcloud` on the PATH that records its arguments and keeps the
 * project it makes (test/support/gcloudStandIn.sh), so a second run meets the first one's work.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SETTINGS as CONFIG_SETTINGS } from '../../../shared/platform/config';
import { FUNCTION_NAMES } from '../../../shared/platform/functions';
import {
  AUTH_DOMAIN,
  CHECK,
  ELSE_STOP,
  FUNCTIONS,
  ROOT,
  SETTINGS,
  StandIn,
  WHEN_FOUND,
  commandLine,
  deploy,
  flags,
  resourcePath,
  shellLines,
  type Call,
  type Project,
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

  test('prints the preflight, the build, the metrics, three deploys, dashboard, alerts, URLs; runs nothing', () => {
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const expected = [
      `${CHECK}gcloud compute url-maps list --global --filter=name=token-exchange `,
      `${ELSE_STOP}a front door exists in mlab-sandbox (URL map token-exchange)`,
      `${CHECK}gcloud iam service-accounts describe token-exchange@mlab-sandbox.iam.gserviceaccount.com `,
      `${ELSE_STOP}SERVICE_ACCOUNT token-exchange@mlab-sandbox.iam.gserviceaccount.com was not found`,
      `${CHECK}gcloud secrets describe token-exchange-signing-key --project=mlab-sandbox`,
      `${ELSE_STOP}the secret projects/mlab-sandbox/secrets/token-exchange-signing-key was not found`,
      `${CHECK}gcloud secrets versions describe current `,
      `${ELSE_STOP}SIGNING_KEY_VERSION=current names no enabled version`,
      `${CHECK}gcloud firestore databases describe `,
      `${ELSE_STOP}mlab-sandbox has no (default) database in Datastore mode`,
      `${CHECK}gcloud alpha monitoring policies list --project=mlab-sandbox --limit=1 `,
      `${ELSE_STOP}alert policies in mlab-sandbox could not be listed`,
      'npm run build',
      // Before the functions: Monitoring may take minutes to accept a new metric in a policy.
      ...['token_exchange_requests', 'token_exchange_latency'].flatMap((name) => [
        `${CHECK}gcloud logging metrics describe ${name} `,
        `gcloud logging metrics create ${name} `,
        `${WHEN_FOUND}gcloud logging metrics update ${name} `,
      ]),
      ...FUNCTIONS.map((name) => `gcloud functions deploy ${name} `),
      `${CHECK}gcloud monitoring dashboards describe token-exchange `,
      'sed -e \'1s|^{|{"name": "projects/mlab-sandbox/dashboards/token-exchange", |\' ' +
        'scripts/deploy/metrics/dashboard.json | gcloud monitoring dashboards create ',
      `${WHEN_FOUND}sed -e "1s|^{|{\\"name\\": \\"projects/mlab-sandbox/dashboards/token-exchange\\", ` +
        '\\"etag\\": \\"$(gcloud monitoring dashboards describe token-exchange ',
      ...['server_errors', 'signing_unavailable', 'latency_p99'].flatMap((alert) => [
        `${CHECK}gcloud alpha monitoring policies list --project=mlab-sandbox ` +
          `--filter=userLabels.token_exchange_alert=${alert} `,
        'tries=0; until out="$(sed ',
        `${WHEN_FOUND}condition="$(gcloud alpha monitoring policies list --project=mlab-sandbox ` +
          `--filter=userLabels.token_exchange_alert=${alert} `,
      ]),
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

  test('no front door without AUTH_DOMAIN: only the look-up that makes sure there is none', () => {
    expect(run.lines.filter((line) => /gcloud (compute|certificate-manager) /.test(line))).toEqual([
      expect.stringMatching(/^# check: gcloud compute url-maps list /),
    ]);
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
    [{ INGRESS: 'internal' }, 'INGRESS must be all or internal-and-gclb, got internal'],
    [{ INGRESS: 'internal-and-gclb' }, 'INGRESS=internal-and-gclb needs AUTH_DOMAIN'],
    [
      { AUTH_DOMAIN: 'auth.example.org', EDGE_RATE_LIMIT_COUNT: '0' },
      'EDGE_RATE_LIMIT_COUNT must be a whole number from 1 to 10000',
    ],
    // Above Google's maximum: gcloud's parser takes it and the API refuses it mid-deploy.
    [
      { AUTH_DOMAIN: 'auth.example.org', EDGE_RATE_LIMIT_COUNT: '10001' },
      "EDGE_RATE_LIMIT_COUNT must be a whole number from 1 to 10000 (Cloud Armor's maximum",
    ],
    [{ EDGE_JWKS_RATE_LIMIT_COUNT: '99999999999999999999' }, 'EDGE_JWKS_RATE_LIMIT_COUNT must be a whole number'],
    [
      { AUTH_DOMAIN: 'auth.example.org', EDGE_RATE_LIMIT_INTERVAL_SECONDS: '45' },
      "EDGE_RATE_LIMIT_INTERVAL_SECONDS must be one of Cloud Armor's windows",
    ],
    [
      { EDGE_JWKS_RATE_LIMIT_INTERVAL_SECONDS: '5' },
      "EDGE_JWKS_RATE_LIMIT_INTERVAL_SECONDS must be one of Cloud Armor's",
    ],
    [{ AUTH_DOMAIN: 'auth.example.org', EDGE_BAN_SECONDS: '5m' }, 'EDGE_BAN_SECONDS must be a whole number above 0'],
    [{ EDGE_JWKS_BAN_SECONDS: '0' }, 'EDGE_JWKS_BAN_SECONDS must be a whole number above 0'],
    [{ AUTH_DOMAIN: `${'a'.repeat(40)}.example.org` }, 'AUTH_DOMAIN is too long for a resource name'],
    // Each lands in a policy's JSON through sed: nothing but a channel name gets through.
    [{ ALERT_NOTIFICATION_CHANNELS: '1234567890' }, 'ALERT_NOTIFICATION_CHANNELS must be channel names'],
    [
      { ALERT_NOTIFICATION_CHANNELS: 'projects/p/notificationChannels/1, projects/p/notificationChannels/2' },
      'ALERT_NOTIFICATION_CHANNELS must be channel names, comma-separated without spaces',
    ],
    [{ ALERT_NOTIFICATION_CHANNELS: 'projects/p/notificationChannels/1,' }, 'ALERT_NOTIFICATION_CHANNELS'],
    [{ ALERT_NOTIFICATION_CHANNELS: ',projects/p/notificationChannels/1' }, 'ALERT_NOTIFICATION_CHANNELS'],
    [{ ALERT_NOTIFICATION_CHANNELS: 'projects/p/notificationChannels/1"]|&' }, 'ALERT_NOTIFICATION_CHANNELS'],
    [{ ALERT_NOTIFICATION_CHANNELS: 'projects/p/alertPolicies/1' }, 'ALERT_NOTIFICATION_CHANNELS'],
    [{ ALERT_5XX_PERCENT: '0' }, 'ALERT_5XX_PERCENT must be a percentage above 0 and at most 100'],
    [{ ALERT_5XX_PERCENT: '100.5' }, 'ALERT_5XX_PERCENT must be a percentage above 0 and at most 100'],
    [{ ALERT_5XX_PERCENT: '5%' }, 'ALERT_5XX_PERCENT'],
    [{ ALERT_5XX_PERCENT: '0.005' }, 'ALERT_5XX_PERCENT'],
    [{ ALERT_LATENCY_P99_MS: '1s' }, 'ALERT_LATENCY_P99_MS must be a whole number of milliseconds above 0'],
    [{ ALERT_LATENCY_P99_MS: '0' }, 'ALERT_LATENCY_P99_MS'],
    [{ ALERT_EDGE_429_COUNT: '-1' }, 'ALERT_EDGE_429_COUNT must be a whole number'],
    [{ ALERT_EDGE_429_COUNT: '1e3' }, 'ALERT_EDGE_429_COUNT'],
  ])('a bad value (%j) stops it before anything runs, in one line naming it', (bad, message) => {
    const run = deploy(['--dry-run'], { ...SETTINGS, ...bad });
    expect(run.status).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.trimEnd().split('\n')).toEqual([expect.stringContaining(message)]);
  });

  test("each edge count may be Google's maximum, 10000", () => {
    const run = deploy(['--dry-run'], {
      ...SETTINGS,
      AUTH_DOMAIN,
      EDGE_RATE_LIMIT_COUNT: '10000',
      EDGE_JWKS_RATE_LIMIT_COUNT: '10000',
    });
    expect(run.stderr).toBe('');
    expect(run.stdout.match(/--rate-limit-threshold-count=10000 /g)).toHaveLength(4); // create and update, twice
  });

  test('an unknown argument is refused', () => {
    const run = deploy(['--dryrun']);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('unknown argument --dryrun');
  });
});

describe('deploy.sh preflight: before any change, what the functions need and the deploy does not make', () => {
  const run = deploy(['--dry-run', '--skip-build']);
  const checks = run.lines.filter((line) => line.startsWith(CHECK));

  test('each is a look-up followed by the one line that stops the deploy', () => {
    const stops = run.lines.flatMap((line, i) => (line.startsWith(ELSE_STOP) ? [i] : []));
    const end = stops[stops.length - 1] + 1;
    expect(end).toBe(12);
    run.lines.slice(0, end).forEach((line, i) => expect(line.startsWith(i % 2 ? ELSE_STOP : CHECK)).toBe(true));
    expect(run.lines.findIndex((line) => !line.startsWith('#'))).toBeGreaterThan(end);
  });

  test('the service account, the secret, its version, the Datastore-mode database', () => {
    expect(checks.slice(1, 5)).toEqual([
      `${CHECK}gcloud iam service-accounts describe token-exchange@mlab-sandbox.iam.gserviceaccount.com ` +
        '--project=mlab-sandbox',
      `${CHECK}gcloud secrets describe token-exchange-signing-key --project=mlab-sandbox`,
      `${CHECK}gcloud secrets versions describe current --secret=token-exchange-signing-key --project=mlab-sandbox ` +
        "--format='value(state)' | grep -qx ENABLED",
      `${CHECK}gcloud firestore databases describe --database='(default)' --project=mlab-sandbox ` +
        "--format='value(type)' | grep -qx DATASTORE_MODE",
    ]);
  });

  test('a secret in another project is looked up there; a version by number is to be enabled, not aliased', () => {
    const other = deploy(['--dry-run', '--skip-build'], {
      ...SETTINGS,
      SIGNING_KEY_SECRET: 'projects/keys-project/secrets/jwk',
      SIGNING_KEY_VERSION: '7',
    });
    expect(other.lines).toContain(`${CHECK}gcloud secrets describe jwk --project=keys-project`);
    const version = other.lines.findIndex((line) => line.startsWith(`${CHECK}gcloud secrets versions describe 7 `));
    expect(other.lines[version]).toContain('--secret=jwk --project=keys-project');
    expect(other.lines[version + 1]).toBe(
      `${ELSE_STOP}SIGNING_KEY_VERSION=7 names no enabled version of projects/keys-project/secrets/jwk: ` +
        'enable that version or fix SIGNING_KEY_VERSION',
    );
  });

  test('without AUTH_DOMAIN it first makes sure no front door exists, by a list that fails unless it answers', () => {
    expect(checks[0]).toBe(
      `${CHECK}gcloud compute url-maps list --global --filter=name=token-exchange --format='value(name)' ` +
        '--project=mlab-sandbox | (! grep -q .)',
    );
    expect(run.lines[1]).toMatch(new RegExp(`^${ELSE_STOP.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*set AUTH_DOMAIN`));
    const front = deploy(['--dry-run'], { ...SETTINGS, AUTH_DOMAIN });
    expect(front.stdout).not.toContain('url-maps list');
  });

  test('INGRESS=internal-and-gclb also needs the certificate ACTIVE: an earlier run built the front door', () => {
    const closing = deploy(['--dry-run'], { ...SETTINGS, AUTH_DOMAIN, INGRESS: 'internal-and-gclb' });
    const at = closing.lines.findIndex((l) => l.startsWith(`${CHECK}gcloud certificate-manager certificates describe`));
    expect(closing.lines[at]).toBe(
      `${CHECK}gcloud certificate-manager certificates describe token-exchange-auth-mlab-sandbox-measurementlab-net ` +
        "--project=mlab-sandbox --format='value(managed.state)' | grep -qx ACTIVE",
    );
    expect(closing.lines[at + 1]).toContain('INGRESS=internal-and-gclb closes');
    expect(at).toBeLessThan(closing.lines.indexOf('npm run build'));
  });
});

/** The alert policies, by the label a rerun finds each by (their file names). */
const POLICIES: readonly string[] = ['server_errors', 'signing_unavailable', 'latency_p99', 'edge_429'];

/** Each call's command up to its verb: "compute backend-services add-backend", "logging metrics update"… */
const VERBS = ['create', 'update', 'import', 'add-backend', 'remove-backend', 'deploy', 'describe', 'delete', 'list'];
const verbs = (calls: Call[]): string[] =>
  calls
    .map((call) => call.args.slice(0, call.args.findIndex((arg) => VERBS.includes(arg)) + 1).join(' '))
    .filter((verb) => !verb.endsWith(' describe') && !verb.endsWith(' list'));
const CHANGES = / (create|delete|add-backend|remove-backend)$/;

/** The project's paths that differ between two states, each with its value before and after. */
function changed(before: Project, after: Project): Record<string, [string | undefined, string | undefined]> {
  const out: Record<string, [string | undefined, string | undefined]> = {};
  for (const path of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (before[path] !== after[path]) out[path] = [before[path], after[path]];
  }
  return out;
}

describe.each([
  ['without AUTH_DOMAIN', {}],
  ['with AUTH_DOMAIN', { AUTH_DOMAIN }],
])('deploy.sh, for real, against a stand-in gcloud, %s', (_, env: Record<string, string>) => {
  let standIn: StandIn;
  let made: Project;
  beforeAll(() => {
    standIn = new StandIn();
  });
  afterAll(() => standIn.remove());

  test('a first run (the project has none of its resources) does exactly what the dry run says', () => {
    const before = standIn.project();
    const dry = standIn.dryRun(env);
    const { run, calls } = standIn.run(env);
    expect(run.stderr).not.toMatch(/deploy\.sh:/);
    expect(run.status).toBe(0);
    expect(calls).toEqual(standIn.replay(dry, before).calls);
    expect(verbs(calls)).toEqual(
      expect.arrayContaining([
        'logging metrics create',
        'monitoring dashboards create',
        'alpha monitoring policies create',
      ]),
    );
    if (env.AUTH_DOMAIN)
      expect(verbs(calls)).toEqual(
        expect.arrayContaining(['compute backend-services add-backend', 'compute forwarding-rules create']),
      );
    made = standIn.project();
    // One alert policy per file, the load balancer's only with the front door; none twice.
    expect(Object.keys(made).filter((path) => /^alpha_monitoring_policies\/[^/]+\/$/.test(path))).toEqual(
      (env.AUTH_DOMAIN ? [...POLICIES] : POLICIES.filter((id) => id !== 'edge_429'))
        .sort()
        .map((id) => `${resourcePath('alpha monitoring policies', id)}/`),
    );
  });

  test('a second run changes nothing: it creates and deletes nothing and applies the same settings again', () => {
    const dry = standIn.dryRun(env);
    const { run, calls } = standIn.run(env);
    expect(run.status).toBe(0);
    expect(calls).toEqual(standIn.replay(dry, made).calls);
    const ran = verbs(calls);
    expect(ran.filter((verb) => CHANGES.test(verb))).toEqual([]);
    expect(ran).toEqual(expect.arrayContaining(['logging metrics update', 'monitoring dashboards update']));
    // Each policy replaced by its file, keeping its condition (the stand-in checks the name).
    expect(ran.filter((verb) => verb === 'alpha monitoring policies update')).toHaveLength(env.AUTH_DOMAIN ? 4 : 3);
    if (env.AUTH_DOMAIN) expect(ran).toContain('compute security-policies rules update');
    // Every setting of every resource is as the first run left it.
    expect(changed(made, standIn.project())).toEqual({});
    // A dashboard update carries the etag it has just read, as the API requires.
    const update = calls.find((call) => call.args.slice(0, 3).join(' ') === 'monitoring dashboards update');
    expect(JSON.parse(update?.stdin ?? 'null')).toMatchObject({
      name: 'projects/mlab-sandbox/dashboards/token-exchange',
      etag: 'etag-from-describe',
    });
  });

  test('refuses to deploy a function that was not built, and changes nothing', () => {
    rmSync(join(standIn.work, 'dist', 'jwks'), { recursive: true });
    const { run, calls } = standIn.run(env);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('dist/jwks/index.js is missing');
    expect(verbs(calls)).toEqual([]); // the preflight's look-ups only
    expect(changed(made, standIn.project())).toEqual({});
  });
});

describe('deploy.sh preflight, for real, against a stand-in gcloud', () => {
  let standIn: StandIn;
  let start: Project;
  beforeAll(() => {
    standIn = new StandIn();
    start = standIn.project();
  });
  afterEach(() => standIn.restore(start));
  afterAll(() => standIn.remove());

  test.each([
    [
      'the service account',
      `${resourcePath('iam service-accounts', 'token-exchange@mlab-sandbox.iam.gserviceaccount.com')}/`,
      'SERVICE_ACCOUNT token-exchange@mlab-sandbox.iam.gserviceaccount.com was not found',
    ],
    [
      'the secret',
      `${resourcePath('secrets', 'token-exchange-signing-key')}/`,
      'the secret projects/mlab-sandbox/secrets/token-exchange-signing-key was not found',
    ],
    [
      'the alias current',
      `${resourcePath('secrets versions', 'current@token-exchange-signing-key')}/`,
      'SIGNING_KEY_VERSION=current names no enabled version of ' +
        'projects/mlab-sandbox/secrets/token-exchange-signing-key: ' +
        'point the alias at the version that signs (gcloud secrets update token-exchange-signing-key ' +
        '--project=mlab-sandbox --update-version-aliases=current=<version>) or fix SIGNING_KEY_VERSION',
    ],
    [
      'the Datastore-mode database',
      `${resourcePath('firestore databases', '(default)')}/`,
      'mlab-sandbox has no (default) database in Datastore mode',
    ],
  ])('without %s it stops before any change, in one line naming what to fix', (_, missing, message) => {
    const project = Object.fromEntries(Object.entries(start).filter(([path]) => !path.startsWith(missing)));
    standIn.restore(project);
    const dry = standIn.dryRun({ AUTH_DOMAIN });
    const { run, calls } = standIn.run({ AUTH_DOMAIN });
    expect(run.status).toBe(2);
    expect(run.stderr.trimEnd().split('\n')).toEqual([expect.stringContaining(`deploy.sh: ${message}`)]);
    expect(verbs(calls)).toEqual([]);
    expect(standIn.project()).toEqual(project);
    expect(standIn.replay(dry, project)).toEqual({ status: 2, stderr: run.stderr, calls });
  });

  test.each([
    ['disabled', { state: 'DISABLED' }],
    ['a Firestore-native database', { type: 'FIRESTORE_NATIVE' }],
  ])('a version or database that exists but is %s stops it too', (_, field) => {
    const [name, value] = Object.entries(field)[0];
    const path =
      name === 'state'
        ? `${resourcePath('secrets versions', 'current@token-exchange-signing-key')}/state`
        : `${resourcePath('firestore databases', '(default)')}/type`;
    standIn.restore({ ...start, [path]: value });
    const { run, calls } = standIn.run({});
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(
      /^deploy\.sh: (SIGNING_KEY_VERSION=current names no enabled version|mlab-sandbox has no)/,
    );
    expect(verbs(calls)).toEqual([]);
  });
});

describe('the front door over time, for real, against a stand-in gcloud', () => {
  let standIn: StandIn;
  let built: Project;
  beforeAll(() => {
    standIn = new StandIn();
    expect(standIn.run({ AUTH_DOMAIN }).run.status).toBe(0);
    built = standIn.project();
  });
  afterEach(() => standIn.restore(built));
  afterAll(() => standIn.remove());

  test('a push without AUTH_DOMAIN after it was built stops before any change, naming AUTH_DOMAIN', () => {
    const dry = standIn.dryRun({});
    const { run, calls } = standIn.run({});
    expect(run.status).toBe(2);
    expect(run.stderr.trimEnd().split('\n')).toEqual([
      expect.stringMatching(/^deploy\.sh: a front door exists in mlab-sandbox \(URL map token-exchange\).*AUTH_DOMAIN/),
    ]);
    expect(calls.map((call) => call.args.slice(0, 3).join(' '))).toEqual(['compute url-maps list']);
    expect(changed(built, standIn.project())).toEqual({});
    expect(standIn.replay(dry, built)).toEqual({ status: 2, stderr: run.stderr, calls });
  });

  test('a network endpoint group of the 1st-gen type is detached, deleted, made again of the Cloud Run type', () => {
    // What the deploy.sh before this one made: the groups named the function, not its service.
    for (const [fn, name] of [
      ['exchangeIntegration', 'token-exchange-integration'],
      ['exchangeAutojoin', 'token-exchange-autojoin'],
      ['jwks', 'token-exchange-jwks'],
    ]) {
      const where = [`--region=us-east1`, '--project=mlab-sandbox'];
      const backend = ['--global', `--network-endpoint-group=${name}`, '--network-endpoint-group-region=us-east1'];
      standIn.gcloud('compute', 'backend-services', 'remove-backend', name, ...backend, '--project=mlab-sandbox');
      standIn.gcloud('compute', 'network-endpoint-groups', 'delete', name, ...where, '--quiet');
      standIn.gcloud(
        'compute',
        'network-endpoint-groups',
        'create',
        name,
        ...where.slice(0, 1),
        '--network-endpoint-type=serverless',
        `--cloud-function-name=${fn}`,
        where[1],
      );
      standIn.gcloud('compute', 'backend-services', 'add-backend', name, ...backend, '--project=mlab-sandbox');
    }
    const legacy = standIn.project();
    expect(
      legacy[`${resourcePath('compute network-endpoint-groups', 'token-exchange-jwks')}/cloudFunction.function`],
    ).toBe('jwks');

    const dry = standIn.dryRun({ AUTH_DOMAIN });
    const { run, calls } = standIn.run({ AUTH_DOMAIN });
    expect(run.stderr).not.toMatch(/deploy\.sh:|ERROR/);
    expect(run.status).toBe(0);
    expect(calls).toEqual(standIn.replay(dry, legacy).calls);
    const neg = (name: string): string[] =>
      calls
        .filter((call) => call.args.includes(name) && !call.args.includes('describe'))
        .map((call) => call.args.slice(1, 3).join(' '));
    expect(neg('token-exchange-autojoin')).toEqual([
      'backend-services remove-backend',
      'network-endpoint-groups delete',
      'network-endpoint-groups create',
      'backend-services add-backend',
      'backend-services update',
    ]);
    // As a fresh build makes them: the Cloud Run type, naming each function's service, each in its backend.
    expect(changed(built, standIn.project())).toEqual({});
    expect(
      built[`${resourcePath('compute network-endpoint-groups', 'token-exchange-integration')}/cloudRun.service`],
    ).toBe('exchangeintegration');
    // And the run after that changes nothing.
    const again = standIn.run({ AUTH_DOMAIN });
    expect(verbs(again.calls).filter((verb) => CHANGES.test(verb))).toEqual([]);
  });

  test('closing ingress waits for the certificate; then it changes the functions’ ingress and nothing else', () => {
    const closing = { AUTH_DOMAIN, INGRESS: 'internal-and-gclb' };
    const refused = standIn.run(closing);
    expect(refused.run.status).toBe(2);
    expect(refused.run.stderr).toMatch(/^deploy\.sh: INGRESS=internal-and-gclb closes .* is not ACTIVE/);
    expect(verbs(refused.calls)).toEqual([]);

    // Google issued it once the CNAME resolved.
    const certificate = resourcePath(
      'certificate-manager certificates',
      'token-exchange-auth-mlab-sandbox-measurementlab-net',
    );
    const active = { ...built, [`${certificate}/managed.state`]: 'ACTIVE' };
    standIn.restore(active);
    const dry = standIn.dryRun(closing);
    const { run, calls } = standIn.run(closing);
    expect(run.status).toBe(0);
    expect(calls).toEqual(standIn.replay(dry, active).calls);
    expect(changed(active, standIn.project())).toEqual(
      Object.fromEntries(
        FUNCTIONS.map((name) => [
          `${resourcePath('functions', name)}/flag--ingress-settings`,
          ['all', 'internal-and-gclb'],
        ]),
      ),
    );
  });
});

describe('the alert policies over time, for real, against a stand-in gcloud', () => {
  let standIn: StandIn;
  beforeEach(() => {
    standIn = new StandIn();
  });
  afterEach(() => standIn.remove());
  const creates = (calls: Call[], id: string): Call[] =>
    calls.filter(
      (call) =>
        call.args.slice(0, 4).join(' ') === 'alpha monitoring policies create' &&
        call.stdin?.includes(`"token_exchange_alert": "${id}"`),
    );
  const policies = (project: Project): string[] =>
    Object.keys(project).filter((path) => /^alpha_monitoring_policies\/[^/]+\/$/.test(path));

  test('a first deploy waits for Monitoring to know the new metrics, a minute apart; each policy made once', () => {
    const { run, calls, sleeps } = standIn.run({ AUTH_DOMAIN, GCLOUD_METRICS_LAG: '2' });
    expect(run.stderr).not.toMatch(/deploy\.sh:/);
    expect(run.status).toBe(0);
    expect(creates(calls, 'server_errors')).toHaveLength(3);
    for (const id of POLICIES.slice(1)) expect(creates(calls, id)).toHaveLength(1);
    expect(sleeps).toEqual(['60', '60']);
    expect(run.stderr.match(/^Monitoring does not know the new metrics yet; trying again in 60 s$/gm)).toHaveLength(2);
    // Then the front door, after the policies.
    expect(verbs(calls)).toContain('compute forwarding-rules create');
    expect(policies(standIn.project())).toHaveLength(4);
    // And a second run finds them all.
    const again = standIn.run({ AUTH_DOMAIN });
    expect(verbs(again.calls).filter((verb) => CHANGES.test(verb))).toEqual([]);
  });

  test('it gives up after 10 tries, with Monitoring’s own message, and goes no further', () => {
    const { run, calls, sleeps } = standIn.run({ AUTH_DOMAIN, GCLOUD_METRICS_LAG: '10' });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('NOT_FOUND: Cannot find metric(s) that match type');
    expect(creates(calls, 'server_errors')).toHaveLength(10);
    expect(sleeps).toHaveLength(9);
    expect(verbs(calls)).not.toContain('compute forwarding-rules create');
    expect(policies(standIn.project())).toEqual([]);
  });

  test('any other refusal of a create is not tried again', () => {
    // A policy without the label: the stand-in refuses it, as a deploy could never find it again.
    const file = join(standIn.work, 'scripts', 'deploy', 'alerts', 'server_errors.json');
    writeFileSync(file, readFileSync(file, 'utf8').replace('"token_exchange_alert"', '"owner"'));
    const { run, calls, sleeps } = standIn.run({});
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('a policy without the user label token_exchange_alert');
    expect(calls.filter((call) => call.args.slice(0, 4).join(' ') === 'alpha monitoring policies create')).toHaveLength(
      1,
    );
    expect(sleeps).toEqual([]);
  });

  test('a changed threshold or channel list replaces those policies in place, and nothing else', () => {
    expect(standIn.run({ AUTH_DOMAIN }).run.status).toBe(0);
    const before = standIn.project();
    const env = {
      AUTH_DOMAIN,
      ALERT_LATENCY_P99_MS: '2500',
      ALERT_NOTIFICATION_CHANNELS: 'projects/mlab-sandbox/notificationChannels/42',
    };
    const dry = standIn.dryRun(env);
    const { run, calls } = standIn.run(env);
    expect(run.status).toBe(0);
    expect(calls).toEqual(standIn.replay(dry, before).calls);
    expect(verbs(calls).filter((verb) => CHANGES.test(verb))).toEqual([]);
    const diff = changed(before, standIn.project());
    expect(Object.keys(diff).sort()).toEqual(
      POLICIES.map((id) => `${resourcePath('alpha monitoring policies', id)}/stdin`).sort(),
    );
    for (const [, after] of Object.values(diff)) {
      expect(JSON.parse(after as string).notificationChannels).toEqual([
        'projects/mlab-sandbox/notificationChannels/42',
      ]);
    }
    const latency = diff[`${resourcePath('alpha monitoring policies', 'latency_p99')}/stdin`];
    expect(JSON.parse(latency[1] as string).conditions[0].conditionThreshold.thresholdValue).toBe(2500);
  });
});

describe("the README's dry run", () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.split(/^## Build and deploy$/m)[1]?.split(/^## /m)[0] ?? '';
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';

  test('runs as written, in an environment with nothing set, and prints the deploy', () => {
    // The example's command, its continuation lines joined.
    const command = block
      .replace(/\\\n/g, ' ')
      .split('\n')
      .find((line) => line.includes('scripts/deploy/deploy.sh --dry-run'));
    expect(command).toBeDefined();
    const run = spawnSync('bash', ['-c', command as string], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
      encoding: 'utf8',
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('gcloud functions deploy exchangeIntegration ');
    expect(run.stdout).toContain('gcloud alpha monitoring policies create ');
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
