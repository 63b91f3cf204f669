/**
 * token-admin without surprises: a missing project and an unreachable emulator are named
 * (at once), an expiry not in the future is refused however it is written, a second reroll
 * in the grace period is refused naming the successor, set-tier names only what it takes,
 * and a reroll keeps the old key's lifetime.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { describeError } from '../../../scripts/cli/main';
import { NO_PROJECT } from '../../../scripts/cli/command';
import { freePort } from '../../../scripts/dev/emulator';
import { cliFor, namespaceEnv, parseJson, runCli, type CliResult } from '../../support/cli';
import { uniqueNamespaces } from '../../support/datastore';
import { uniqueId } from '../../support/seed';

const ROOT = join(__dirname, '../../..');
const BIN = join(ROOT, 'bin/token-admin.js');
const DAY = 86_400_000;

function oneLine(result: CliResult, code: number, message: RegExp | string): void {
  expect(result.code).toBe(code);
  expect(result.stdout).toBe('');
  expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
  if (typeof message === 'string') expect(result.stderr).toContain(message);
  else expect(result.stderr).toMatch(message);
}

describe('token-admin names what is missing', () => {
  it('NoProject_OnEmulator_SaysSetProjectIdOrProject', async () => {
    const result = await runCli(['integration', 'list'], {
      env: { PROJECT_ID: undefined, DATASTORE_PROJECT_ID: undefined },
    });
    oneLine(result, 1, `token-admin: ${NO_PROJECT}\n`);
    expect(NO_PROJECT).toMatch(/PROJECT_ID.*--project/);
  });

  it('NoProject_Detected_LibraryErrorBecomesTheHint', () => {
    expect(
      describeError(
        new Error(
          'Unable to detect a Project Id in the current environment. \nTo learn more about authentication and Google APIs, visit: https://cloud.google.com/docs/authentication/getting-started',
        ),
      ),
    ).toBe(NO_PROJECT);
  });

  it('NoProject_NoEmulator_TheBinSaysSo', async () => {
    // Nothing to detect a project from: an empty gcloud configuration, no credentials.
    const config = mkdtempSync(join(tmpdir(), 'gcloud-empty-'));
    try {
      const env: Record<string, string | undefined> = {
        ...process.env,
        CLOUDSDK_CONFIG: config,
        CLOUDSDK_CORE_DISABLE_PROMPTS: '1',
      };
      for (const name of [
        'PROJECT_ID',
        'DATASTORE_EMULATOR_HOST',
        'DATASTORE_PROJECT_ID',
        'GOOGLE_CLOUD_PROJECT',
        'GCLOUD_PROJECT',
        'GOOGLE_APPLICATION_CREDENTIALS',
      ])
        delete env[name];
      const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          [BIN, 'integration', 'list'],
          { cwd: ROOT, env, timeout: 25_000 },
          (error, stdout, stderr) =>
            resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
        );
      });
      expect(result).toEqual({ code: 1, stdout: '', stderr: `token-admin: ${NO_PROJECT}\n` });
    } finally {
      rmSync(config, { recursive: true, force: true });
    }
  });

  it('DeadEmulator_FailsWithinTheTestTimeout_NamingTheHost', async () => {
    const host = `127.0.0.1:${await freePort()}`;
    const result = await runCli(['key', 'list', '--integration', 'x'], { env: { DATASTORE_EMULATOR_HOST: host } });
    oneLine(result, 1, `token-admin: cannot reach Datastore at ${host} (DATASTORE_EMULATOR_HOST)`);
  });
});

describe('token-admin key rules', () => {
  const env = namespaceEnv(uniqueNamespaces('cli-operate'));
  const cli = cliFor(env);

  it.each([
    [
      ['key', 'create', '--integration', 'x', '--expires-in', '0s'],
      '--expires-in 0s is not in the future: a key must not be expired at birth',
    ],
    [['key', 'create', '--integration', 'x', '--expires-in', '0d0h'], '--expires-in 0d0h is not in the future'],
    [
      ['key', 'create', '--integration', 'x', '--expires-at', '2020-01-01'],
      '--expires-at 2020-01-01 is in the past: a key must not be expired at birth',
    ],
    [
      ['key', 'reroll', '--integration', 'x', 'ki_0000000000000001', '--expires-in', '0s'],
      '--expires-in 0s is not in the future',
    ],
  ])('Expiry_NotInTheFuture_%j_RefusedWithUsageExit', async (argv, message) => {
    oneLine(await cli(...argv), 2, message);
  });

  it('SetTier_NoOwner_NamesOnlyIntegration', async () => {
    const result = await cli('key', 'set-tier', 'ki_0000000000000001', '--tier', '2');
    oneLine(result, 2, '--integration <id>');
    expect(result.stderr).not.toContain('--org');
  });

  it('Reroll_AlreadyRerolledInGrace_RefusedNamingTheSuccessor_UnlessForce', async () => {
    const id = uniqueId('int');
    await cli('integration', 'create', id);
    const first = parseJson<{ key_id: string }>(await cli('key', 'create', '--integration', id, '--json'));
    const successor = parseJson<{ key_id: string }>(
      await cli('key', 'reroll', '--integration', id, first.key_id, '--json'),
    );

    const again = await cli('key', 'reroll', '--integration', id, first.key_id);
    oneLine(again, 1, `key ${first.key_id} was already rerolled: its successor is ${successor.key_id}`);
    expect(again.stderr).toContain('--force');
    const keys = parseJson<Array<{ key_id: string }>>(await cli('key', 'list', '--integration', id, '--json'));
    expect(keys).toHaveLength(2);

    const forced = parseJson<{ key_id: string }>(
      await cli('key', 'reroll', '--integration', id, first.key_id, '--force', '--json'),
    );
    expect([first.key_id, successor.key_id]).not.toContain(forced.key_id);
    // The successor itself is not rerolled yet: no --force needed.
    expect((await cli('key', 'reroll', '--integration', id, successor.key_id)).code).toBe(0);
  });
});

describe('token-admin key reroll: the new key keeps the old key policy on expiry', () => {
  const env = namespaceEnv(uniqueNamespaces('cli-expiry'));
  const start = new Date('2031-03-01T00:00:00Z');
  let now = start;
  const cli = cliFor(env, () => now);

  it('Reroll_OldKeyLived30Days_NewKeyLives30DaysFromNow', async () => {
    now = start;
    const id = uniqueId('int');
    await cli('integration', 'create', id);
    const created = parseJson<{ key_id: string }>(
      await cli('key', 'create', '--integration', id, '--expires-in', '30d', '--json'),
    );
    now = new Date(start.getTime() + 5 * DAY);
    const rerolled = parseJson<{ expires_at: string; expiry: string }>(
      await cli('key', 'reroll', '--integration', id, created.key_id, '--json'),
    );
    expect(rerolled).toMatchObject({ expires_at: '2031-04-05T00:00:00.000Z', expiry: 'same-lifetime' });
  });

  it('Reroll_Human_SaysWhereTheExpiryCameFrom', async () => {
    now = start;
    const id = uniqueId('int');
    await cli('integration', 'create', id);
    const created = parseJson<{ key_id: string }>(
      await cli('key', 'create', '--integration', id, '--expires-in', '10d', '--json'),
    );
    now = new Date(start.getTime() + DAY);
    const rerolled = await cli('key', 'reroll', '--integration', id, created.key_id);
    expect(rerolled.code).toBe(0);
    expect(rerolled.stderr).toContain("expires 2031-03-12T00:00:00Z (the old key's lifetime, from now)");
  });

  it('Reroll_OldKeyNeverExpired_NewKeyNeverExpires', async () => {
    now = start;
    const id = uniqueId('int');
    await cli('integration', 'create', id);
    const created = parseJson<{ key_id: string }>(await cli('key', 'create', '--integration', id, '--json'));
    const rerolled = parseJson<Record<string, unknown>>(
      await cli('key', 'reroll', '--integration', id, created.key_id, '--json'),
    );
    expect(rerolled.expiry).toBe('never');
    expect(rerolled).not.toHaveProperty('expires_at');
  });

  it('Reroll_ExpiryGiven_Wins', async () => {
    now = start;
    const id = uniqueId('int');
    await cli('integration', 'create', id);
    const created = parseJson<{ key_id: string }>(
      await cli('key', 'create', '--integration', id, '--expires-in', '30d', '--json'),
    );
    const rerolled = parseJson<{ expires_at: string; expiry: string }>(
      await cli('key', 'reroll', '--integration', id, created.key_id, '--expires-at', '2031-12-31', '--json'),
    );
    expect(rerolled).toMatchObject({ expires_at: '2031-12-31T00:00:00.000Z', expiry: 'given' });
  });
});

/** A node on PATH other than the project's own (the system's, under which npx warns), else this one. */
function otherNode(): string {
  const own = realpathSync(join(ROOT, 'node_modules/node/bin/node'));
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'node');
    if (existsSync(candidate) && realpathSync(candidate) !== own) return candidate;
  }
  return process.execPath;
}

describe('bin/token-admin.js', () => {
  it('Bin_StartedByAnyNode_RunsOnTheProjectsNode_Quietly', async () => {
    const result = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
      execFile(otherNode(), [BIN, '--version'], { cwd: tmpdir() }, (error, stdout, stderr) =>
        error ? reject(new Error(error.message, { cause: error })) : resolve({ stdout, stderr }),
      );
    });
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/^token-admin \d+\.\d+\.\d+ \(Node v24\.\d+\.\d+\)\n$/);
  });
});
