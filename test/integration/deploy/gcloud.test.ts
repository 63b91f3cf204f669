/**
 * Every gcloud command deploy.sh can run, through the real gcloud parser. With an empty
 * configuration (CLOUDSDK_CONFIG a fresh folder, prompts off) gcloud parses every flag first
 * and then stops at "no active account"; an unknown flag or a bad value stops it earlier. Each
 * line of the dry runs (the marked look-ups, updates and replacements too) is run by bash with
 * `gcloud` a function that records its arguments and stdin; then all the recorded calls go
 * through gcloud's own CLI in one Python process (gcloudBatch.py), since a gcloud start costs
 * 1-2 s of CPU each. A command stops before it prints, so the --format expressions the look-ups
 * read are rendered by gcloud's own resource printer, in the same process, and what they print
 * is fed to the look-ups' own greps. One line also goes through the gcloud binary itself, to
 * show the two agree. Needs gcloud on the PATH (CI installs it for the Datastore emulator).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUTH_DOMAIN, ROOT, SETTINGS, deploy, shellLines, shellWord } from '../../support/deployScript';

const NO_ACCOUNT = 'You do not currently have an active account selected';
const ARGUMENT_ERROR = /unrecognized arguments|argument --|Invalid choice|Invalid value|Failed to parse/;

interface Call {
  line: string;
  args: string[];
  stdin?: string;
}

// Reads stdin before it writes, and writes its entry at once: in `sed "$(gcloud …)" | gcloud …`
// both calls run together, and their entries must not interleave. A call with --format prints
// something and succeeds, as a look-up that found something does, so that a look-up's
// `| grep -q . && gcloud …` or `x="$(gcloud …)" && … gcloud …` reaches its second gcloud too; the
// service a function reports is its name lowercased, as Google's is. Any other call fails.
const RECORDING_GCLOUD =
  'gcloud() { local entry="$GCLOUD_LINE"$\'\\x1f\' stdin=; for a in "$@"; do entry+="$a"$\'\\x1f\'; done; ' +
  'if [[ " $* " == *" --config-from-file=- "* || " $* " == *" --policy-from-file=- "* || ' +
  '"$2 $3" == "url-maps import" ]]; ' +
  'then stdin="stdin=$(base64 -w0)"; fi; ' +
  'printf \'%s%s\\n\' "$entry" "$stdin" >> "$GCLOUD_LOG"; ' +
  'if [[ "$1 $2 $*" == "functions describe "*"basename()"* ]]; then echo "${3,,}"; ' +
  'elif [[ " $* " == *" --format="* ]]; then echo recorded; else return 1; fi; }';

/** The gcloud calls the lines make, as bash splits their words (pipes and $(…) included). */
function callsOf(lines: string[], work: string): Call[] {
  const log = join(work, 'calls.log');
  const script = [RECORDING_GCLOUD, ...lines.map((line, n) => `GCLOUD_LINE=${n}; ( ${line} ) >/dev/null 2>&1`)].join(
    '\n',
  );
  spawnSync('bash', ['-c', script], { cwd: ROOT, env: { PATH: process.env.PATH, GCLOUD_LOG: log }, stdio: 'ignore' });
  return readFileSync(log, 'utf8')
    .trimEnd()
    .split('\n')
    .map((entry) => {
      const parts = entry.split('\x1f');
      const line = lines[Number(parts.shift())];
      const last = parts.pop() as string;
      return last.startsWith('stdin=')
        ? { line, args: parts, stdin: Buffer.from(last.slice(6), 'base64').toString('utf8') }
        : { line, args: parts };
    });
}

function gcloudLines(env: Record<string, string>): string[] {
  const run = deploy(['--dry-run'], { ...SETTINGS, ...env });
  if (run.status !== 0) throw new Error(run.stderr);
  return shellLines(run).filter((line) => /(^|[|(&] ?)gcloud /.test(line));
}

function emptyConfigEnv(config: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    CLOUDSDK_CONFIG: config,
    CLOUDSDK_CORE_DISABLE_PROMPTS: '1',
  };
}

const group = (name: string): string =>
  `https://www.googleapis.com/compute/v1/projects/mlab-sandbox/regions/us-east1/networkEndpointGroups/${name}`;

/**
 * What the look-ups read: a --format, a resource shaped as the API answers it, the reading the
 * dry run pipes its output into, and whether that reading then passes.
 */
const READINGS: Array<{ format: string; resource: unknown; single: boolean; reading: string; passes: boolean }> = [
  // The front door's URL map, listed: absent, then present.
  { format: 'value(name)', resource: [], single: false, reading: '(! grep -q .)', passes: true },
  {
    format: 'value(name)',
    resource: [{ name: 'token-exchange' }],
    single: false,
    reading: '(! grep -q .)',
    passes: false,
  },
  { format: 'value(state)', resource: { state: 'ENABLED' }, single: true, reading: 'grep -qx ENABLED', passes: true },
  { format: 'value(state)', resource: { state: 'DISABLED' }, single: true, reading: 'grep -qx ENABLED', passes: false },
  {
    format: 'value(type)',
    resource: { name: 'projects/mlab-sandbox/databases/(default)', type: 'DATASTORE_MODE' },
    single: true,
    reading: 'grep -qx DATASTORE_MODE',
    passes: true,
  },
  {
    format: 'value(type)',
    resource: { type: 'FIRESTORE_NATIVE' },
    single: true,
    reading: 'grep -qx DATASTORE_MODE',
    passes: false,
  },
  {
    format: 'value(managed.state)',
    resource: { managed: { state: 'ACTIVE' } },
    single: true,
    reading: 'grep -qx ACTIVE',
    passes: true,
  },
  {
    format: 'value(managed.state)',
    resource: { managed: { state: 'PROVISIONING' } },
    single: true,
    reading: 'grep -qx ACTIVE',
    passes: false,
  },
  // An alert policy the deploy made, listed by its label: found, then not.
  {
    format: 'value(name)',
    resource: [
      { name: 'projects/mlab-sandbox/alertPolicies/123', userLabels: { token_exchange_alert: 'latency_p99' } },
    ],
    single: false,
    reading: 'grep -q .',
    passes: true,
  },
  { format: 'value(name)', resource: [], single: false, reading: 'grep -q .', passes: false },
  // A network endpoint group of the 1st-gen type, then of the Cloud Run type.
  {
    format: 'value(cloudFunction.function)',
    resource: { networkEndpointType: 'SERVERLESS', cloudFunction: { function: 'exchangeIntegration' } },
    single: true,
    reading: 'grep -q .',
    passes: true,
  },
  {
    format: 'value(cloudFunction.function)',
    resource: { networkEndpointType: 'SERVERLESS', cloudRun: { service: 'exchangeintegration' } },
    single: true,
    reading: 'grep -q .',
    passes: false,
  },
  // A backend service holding the group, first or last of several; one holding another; none.
  ...[
    [[group('token-exchange-jwks'), group('other')], true],
    [[group('other'), group('token-exchange-jwks')], true],
    [[group('token-exchange-jwks-old')], false],
    [[], false],
  ].map(([groups, passes]) => ({
    format: 'value(backends[].group)',
    resource: { backends: (groups as string[]).map((g) => ({ group: g })) },
    single: true,
    reading: "grep -Eq '/networkEndpointGroups/token-exchange-jwks(;|$)'",
    passes: passes as boolean,
  })),
];

/** A 2nd-gen function as `gcloud functions describe --gen2` reads it: its Cloud Run service, by full name. */
const FUNCTION = {
  name: 'projects/mlab-sandbox/locations/us-east1/functions/exchangeIntegration',
  environment: 'GEN_2',
  serviceConfig: { service: 'projects/mlab-sandbox/locations/us-east1/services/exchangeintegration' },
};
const SERVICE_FORMAT = 'value(serviceConfig.service.basename())';

/** Alert policies as `gcloud alpha monitoring policies list` reads them: the deploy's, and others. */
const POLICY = (id: number, label?: string): unknown => ({
  name: `projects/mlab-sandbox/alertPolicies/${id}`,
  displayName: `policy ${id}`,
  ...(label === undefined ? {} : { userLabels: { token_exchange_alert: label } }),
  conditions: [{ name: `projects/mlab-sandbox/alertPolicies/${id}/conditions/${id + 1000}`, displayName: 'c' }],
});
const ALERT_POLICIES = [
  POLICY(1, 'server_errors'),
  POLICY(2, 'server_errors_old'),
  POLICY(3, 'old_server_errors'),
  POLICY(4),
  POLICY(5, 'latency_p99'),
  POLICY(6, 'signing_unavailable'),
  POLICY(7, 'edge_429'),
];
const CONDITION_FORMAT = 'value(conditions[0].name)';

describe('every command of the deploy parses in the real gcloud', () => {
  // Every mode, and the settings that change a command's shape: the build identity, a metric
  // prefix that rewrites the dashboard's metric names; the front door, whose dry run also holds
  // the replacement of a 1st-gen network endpoint group under "# when found:"; and closing
  // ingress with a secret in another project, named by version number.
  const runs = [
    gcloudLines({ BUILD_SERVICE_ACCOUNT: 'builder@mlab-sandbox.iam.gserviceaccount.com', METRIC_PREFIX: 'te_sandbox' }),
    gcloudLines({
      AUTH_DOMAIN,
      ALERT_NOTIFICATION_CHANNELS:
        'projects/mlab-sandbox/notificationChannels/1,projects/mlab-sandbox/notificationChannels/2',
    }),
    gcloudLines({
      AUTH_DOMAIN,
      INGRESS: 'internal-and-gclb',
      SIGNING_KEY_SECRET: 'projects/keys-project/secrets/jwk',
      SIGNING_KEY_VERSION: '7',
    }),
  ];
  const lines = [...new Set(runs.flat())];
  let config: string;
  let work: string;
  let calls: Call[];
  let parsed: Array<{ code: number; stderr: string }>;
  let control: { code: number; stderr: string };
  let rendered: Array<{ code: number; stdout: string; stderr: string }>;
  let formats: string[];
  let policies: Array<{ id: string; json: string }>;
  let decoded: Array<{ code: number; stdout: string; stderr: string }>;
  let filtered: Array<{ filter: string; result: { code: number; stdout: string; stderr: string } }>;
  let condition: { code: number; stdout: string; stderr: string };

  beforeAll(() => {
    config = mkdtempSync(join(tmpdir(), 'gcloud-config-'));
    work = mkdtempSync(join(tmpdir(), 'gcloud-calls-'));
    calls = callsOf(lines, work);
    formats = [
      ...new Set(calls.flatMap((call) => call.args.filter((a) => a.startsWith('--format=')).map((a) => a.slice(9)))),
    ];
    // A call that must fail, so a parser that accepted anything would show here.
    const bad = { args: ['compute', 'addresses', 'create', 'x', '--global', '--no-such-flag'] };
    const printing = [
      ...READINGS.map(({ format, resource, single }) => ({ format, resource, single })),
      { format: SERVICE_FORMAT, resource: FUNCTION, single: true },
      // Every other --format the deploy prints with (the operator's tables) renders too.
      ...formats.map((format) => ({ format, resource: {}, single: true })),
    ];
    // Every alert policy definition sent, created or updated, decoded as Monitoring's AlertPolicy.
    policies = calls.flatMap((call) =>
      call.args.slice(0, 3).join(' ') === 'alpha monitoring policies' && call.stdin !== undefined
        ? [{ id: /"token_exchange_alert": "([a-z0-9_]+)"/.exec(call.stdin)?.[1] ?? '?', json: call.stdin }]
        : [],
    );
    const messages = policies.map(({ json }) => ({ message: 'monitoring/v3/AlertPolicy', json }));
    // Each --filter a policy look-up uses, over policies with near labels.
    const filters = [
      ...new Set(
        calls.flatMap((call) =>
          call.args[2] === 'policies' ? call.args.filter((a) => a.startsWith('--filter=')).map((a) => a.slice(9)) : [],
        ),
      ),
    ];
    const filtering = filters.map((filter) => ({ filter, resources: ALERT_POLICIES }));
    const info = spawnSync('gcloud', ['info', '--format=value(basic.python_location,installation.sdk_root)'], {
      env: emptyConfigEnv(config),
      encoding: 'utf8',
    });
    const [python, sdkRoot] = info.stdout.trim().split('\t') as [string, string];
    const batch = spawnSync(python, [join(__dirname, '..', '..', 'support', 'gcloudBatch.py'), sdkRoot], {
      input: JSON.stringify([
        ...calls,
        bad,
        ...printing,
        ...messages,
        ...filtering,
        { format: CONDITION_FORMAT, resource: [ALERT_POLICIES[4]], single: false },
      ]),
      env: emptyConfigEnv(config),
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
      timeout: 240_000,
    });
    expect(batch.stderr).toBe('');
    const results = JSON.parse(batch.stdout) as Array<{ code: number; stdout: string; stderr: string }>;
    expect(results).toHaveLength(calls.length + 1 + printing.length + messages.length + filtering.length + 1);
    parsed = results.slice(0, calls.length);
    control = results[calls.length];
    let at = calls.length + 1;
    const next = (count: number) => results.slice(at, (at += count));
    rendered = next(printing.length);
    decoded = next(messages.length);
    filtered = next(filtering.length).map((result, i) => ({ filter: filters[i], result }));
    condition = next(1)[0];
  }, 300_000);
  afterAll(() => {
    rmSync(config, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  test('the dry runs hold the preflight, the whole front door, its replacement path and the dashboard', () => {
    expect(lines.length).toBeGreaterThan(60);
    for (const verb of [
      'compute url-maps list',
      'iam service-accounts describe',
      'secrets versions describe',
      'firestore databases describe',
      "--format='value(managed.state)'",
      'url-maps import',
      'security-policies rules create',
      'security-policies rules update',
      'network-endpoint-groups create',
      'backend-services remove-backend',
      'network-endpoint-groups delete',
      'certificate-manager certificates create',
      'monitoring dashboards update',
      'alpha monitoring policies list --project=mlab-sandbox --limit=1',
      'alpha monitoring policies create',
      'alpha monitoring policies update',
      '/alerts/edge_429.json',
    ]) {
      expect([verb, lines.some((line) => line.includes(verb))]).toEqual([verb, true]);
    }
  });

  test('every gcloud of every line reaches the parser, those inside $(…) and after && too', () => {
    lines.forEach((line) => {
      const written = line.match(/(?:^|[|&(] ?)gcloud /g)?.length ?? 0;
      expect([line, calls.filter((call) => call.line === line).length]).toEqual([line, written]);
    });
    // The dashboard reaches gcloud whole: the YAML parser reads it before the account check.
    expect(
      calls.filter((call) => call.args[1] === 'dashboards' && call.stdin !== undefined).length,
    ).toBeGreaterThanOrEqual(2);
    // So do the alert policies, each created and updated, in each run that has it.
    const sent = (id: string) => policies.filter((policy) => policy.id === id).length;
    expect(['server_errors', 'signing_unavailable', 'latency_p99', 'edge_429'].map(sent)).toEqual([6, 6, 6, 4]);
  });

  test("every alert policy sent is Monitoring's AlertPolicy: no field, and no enum value, it does not know", () => {
    expect(decoded.map((result, i) => [policies[i].id, result])).toEqual(
      policies.map(({ id }) => [id, { code: 0, stdout: '[]', stderr: '' }]),
    );
  });

  test("each policy look-up's --filter selects its own policy alone, as gcloud's filter reads it", () => {
    expect(filtered.map(({ filter }) => filter).sort()).toEqual(
      ['edge_429', 'latency_p99', 'server_errors', 'signing_unavailable'].map(
        (id) => `userLabels.token_exchange_alert=${id}`,
      ),
    );
    for (const { filter, result } of filtered) {
      const id = filter.split('=')[1];
      const expected = ALERT_POLICIES.map((policy) => (policy as { userLabels?: Record<string, string> }).userLabels);
      expect([filter, result.stderr, JSON.parse(result.stdout)]).toEqual([
        filter,
        '',
        expected.map((labels) => labels?.token_exchange_alert === id),
      ]);
    }
  });

  test("an update names the policy and the condition it read: gcloud's printer, then the line's own expansion", () => {
    expect(formats).toContain(CONDITION_FORMAT);
    expect(condition).toEqual({
      code: 0,
      stdout: 'projects/mlab-sandbox/alertPolicies/5/conditions/1005\n',
      stderr: '',
    });
    const update = lines.find((line) => line.includes('gcloud alpha monitoring policies update ')) as string;
    expect(update).toContain('gcloud alpha monitoring policies update "${condition%/conditions/*}" ');
    const policy = spawnSync(
      'bash',
      ['-c', `condition="$(printf %s ${shellWord(condition.stdout)})"; echo "\${condition%/conditions/*}"`],
      {
        encoding: 'utf8',
      },
    );
    expect(policy.stdout).toBe('projects/mlab-sandbox/alertPolicies/5\n');
  });

  test('each call stops at "no active account", never at an argument error', () => {
    expect(control.stderr).toContain('unrecognized arguments: --no-such-flag');
    const failed = calls
      .map((call, i) => ({ call, result: parsed[i] }))
      .filter(
        ({ result }) => result.code === 0 || !result.stderr.includes(NO_ACCOUNT) || ARGUMENT_ERROR.test(result.stderr),
      )
      .map(({ call, result }) => ({
        line: call.line,
        args: call.args.join(' '),
        stderr: result.stderr.trim().split('\n').slice(0, 3).join('\n'),
      }));
    expect(failed).toEqual([]);
  });

  test("every --format renders in gcloud's own printer", () => {
    const renderedFormats = rendered.slice(READINGS.length + 1);
    expect(formats.length).toBeGreaterThanOrEqual(12);
    expect(formats.map((format, i) => [format, renderedFormats[i].stderr])).toEqual(formats.map((f) => [f, '']));
  });

  test("the service a network endpoint group names is the last segment of the function's serviceConfig.service", () => {
    expect(lines.some((line) => line.includes(`--cloud-run-service="$(gcloud functions describe `))).toBe(true);
    expect(formats).toContain(SERVICE_FORMAT);
    expect(rendered[READINGS.length]).toEqual({ code: 0, stdout: 'exchangeintegration\n', stderr: '' });
  });

  test.each(READINGS.map(({ format, passes }, i) => ({ i, format, outcome: passes ? 'passes' : 'fails' })))(
    'reading $i: $format, as gcloud prints it, $outcome the look-up',
    ({ i }) => {
      const { format, reading, passes } = READINGS[i];
      // The reading is the dry run's own: a look-up pipes that --format into it.
      expect(lines.some((line) => line.includes(`--format='${format}'`) && line.includes(`| ${reading}`))).toBe(true);
      expect(rendered[i].stderr).toBe('');
      const run = spawnSync('bash', ['-c', `set -o pipefail; printf %s ${shellWord(rendered[i].stdout)} | ${reading}`]);
      expect([rendered[i].stdout, run.status === 0]).toEqual([rendered[i].stdout, passes]);
    },
  );

  test('the gcloud binary itself stops the same way', () => {
    const line = lines.find((l) => l.startsWith('gcloud compute security-policies rules create ')) as string;
    const run = spawnSync('bash', ['-c', line], {
      cwd: ROOT,
      env: emptyConfigEnv(config),
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.stderr).toContain(NO_ACCOUNT);
    const broken = spawnSync('bash', ['-c', line.replace('--exceed-action=deny-429', '--exceed-action=deny-430')], {
      cwd: ROOT,
      env: emptyConfigEnv(config),
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(broken.stderr).toMatch(/argument --exceed-action: Invalid choice/);
  }, 120_000);
});
