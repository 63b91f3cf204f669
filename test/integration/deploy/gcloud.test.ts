/**
 * Every gcloud command deploy.sh can run, through the real gcloud parser. With an empty
 * configuration (CLOUDSDK_CONFIG a fresh folder, prompts off) gcloud parses every flag first
 * and then stops at "no active account"; an unknown flag or a bad value stops it earlier. Each
 * line of the dry runs (the marked look-ups and updates too) is run by bash with `gcloud` a
 * function that records its arguments and stdin; then all the recorded calls go through
 * gcloud's own CLI in one Python process (gcloudBatch.py), since a gcloud start costs 1-2 s of
 * CPU each. One line also goes through the gcloud binary itself, to show the two agree.
 * Needs gcloud on the PATH (CI installs it for the Datastore emulator).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUTH_DOMAIN, ROOT, SETTINGS, deploy, shellLines } from '../../support/deployScript';

const NO_ACCOUNT = 'You do not currently have an active account selected';
const ARGUMENT_ERROR = /unrecognized arguments|argument --|Invalid choice|Invalid value|Failed to parse/;

interface Call {
  line: string;
  args: string[];
  stdin?: string;
}

// Reads stdin before it writes, and writes its entry at once: in `sed "$(gcloud …)" | gcloud …`
// both calls run together, and their entries must not interleave.
const RECORDING_GCLOUD =
  'gcloud() { local entry="$GCLOUD_LINE"$\'\\x1f\' stdin=; for a in "$@"; do entry+="$a"$\'\\x1f\'; done; ' +
  'if [[ " $* " == *" --config-from-file=- "* || "$2 $3" == "url-maps import" ]]; ' +
  'then stdin="stdin=$(base64 -w0)"; fi; ' +
  'printf \'%s%s\\n\' "$entry" "$stdin" >> "$GCLOUD_LOG"; return 1; }';

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
  return shellLines(run).filter((line) => /(^|[|(] ?)gcloud /.test(line));
}

function emptyConfigEnv(config: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    CLOUDSDK_CONFIG: config,
    CLOUDSDK_CORE_DISABLE_PROMPTS: '1',
  };
}

describe('every command of the deploy parses in the real gcloud', () => {
  // Both modes, and the settings that change a command's shape (the build identity, a metric
  // prefix that rewrites the dashboard's metric names).
  const lines = [
    ...new Set([
      ...gcloudLines({
        BUILD_SERVICE_ACCOUNT: 'builder@mlab-sandbox.iam.gserviceaccount.com',
        METRIC_PREFIX: 'te_sandbox',
      }),
      ...gcloudLines({ AUTH_DOMAIN }),
    ]),
  ];
  let config: string;
  let work: string;
  beforeAll(() => {
    config = mkdtempSync(join(tmpdir(), 'gcloud-config-'));
    work = mkdtempSync(join(tmpdir(), 'gcloud-calls-'));
  });
  afterAll(() => {
    rmSync(config, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  test('the dry runs hold the whole front door and the dashboard', () => {
    expect(lines.length).toBeGreaterThan(50);
    for (const verb of [
      'url-maps import',
      'security-policies rules create',
      'certificate-manager certificates create',
      'monitoring dashboards update',
    ]) {
      expect(lines.some((line) => line.includes(verb))).toBe(true);
    }
  });

  test('each call stops at "no active account", never at an argument error', () => {
    const calls = callsOf(lines, work);
    expect(calls.length).toBeGreaterThanOrEqual(lines.length);
    // The dashboard reaches gcloud whole: the YAML parser reads it before the account check.
    expect(
      calls.filter((call) => call.args[1] === 'dashboards' && call.stdin !== undefined).length,
    ).toBeGreaterThanOrEqual(2);
    // A call that must fail, so a parser that accepted anything would show here.
    const bad: Call = {
      line: '(control)',
      args: ['compute', 'addresses', 'create', 'x', '--global', '--no-such-flag'],
    };
    const info = spawnSync('gcloud', ['info', '--format=value(basic.python_location,installation.sdk_root)'], {
      env: emptyConfigEnv(config),
      encoding: 'utf8',
    });
    const [python, sdkRoot] = info.stdout.trim().split('\t') as [string, string];
    const batch = spawnSync(python, [join(__dirname, '..', '..', 'support', 'gcloudBatch.py'), sdkRoot], {
      input: JSON.stringify([...calls, bad]),
      env: emptyConfigEnv(config),
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
      timeout: 240_000,
    });
    expect(batch.stderr).toBe('');
    const results = JSON.parse(batch.stdout) as Array<{ code: number; stderr: string }>;
    expect(results).toHaveLength(calls.length + 1);
    const control = results.pop() as { code: number; stderr: string };
    expect(control.stderr).toContain('unrecognized arguments: --no-such-flag');
    const failed = calls
      .map((call, i) => ({ call, result: results[i] }))
      .filter(
        ({ result }) => result.code === 0 || !result.stderr.includes(NO_ACCOUNT) || ARGUMENT_ERROR.test(result.stderr),
      )
      .map(({ call, result }) => ({
        line: call.line,
        args: call.args.join(' '),
        stderr: result.stderr.trim().split('\n').slice(0, 3).join('\n'),
      }));
    expect(failed).toEqual([]);
  }, 300_000);

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
