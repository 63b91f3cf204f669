/** `npx token-admin` as operators run it: the built bin in a child process. */
import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { namespaceEnv } from '../../support/cli';
import { uniqueNamespaces } from '../../support/datastore';
import { uniqueId } from '../../support/seed';

const ROOT = join(__dirname, '../../..');
const BIN = join(ROOT, 'bin/token-admin.js');

beforeAll(() => {
  // CI names the dist/ it hands on (BUNDLE_SMOKE_DIST): npm ci's `prepare` built it from this
  // tree, and rebuilding it here would rewrite it under the bundle smoke test that reads it.
  if (process.env.BUNDLE_SMOKE_DIST) return;
  // The repo's own node (Node 24), as npm scripts use it.
  execFileSync(process.execPath, ['scripts/build/build.mts'], { cwd: ROOT, stdio: 'pipe' });
}, 60_000);

function tokenAdmin(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: ROOT, env: { ...process.env, ...env } },
      (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
      },
    );
  });
}

describe('bin/token-admin.js', () => {
  it('prints help and exits 0', async () => {
    const result = await tokenAdmin(['--help']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(/^Usage: token-admin <noun> <verb> \[options\]/);
  });

  it('creates an integration and a key on the emulator, then exits by itself', async () => {
    const env = namespaceEnv(uniqueNamespaces('cli-bin'));
    const id = uniqueId('bin');
    expect(await tokenAdmin(['integration', 'create', id], env)).toMatchObject({
      code: 0,
      stdout: `created integration ${id}\n`,
    });
    const created = await tokenAdmin(['key', 'create', '--integration', id], env);
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(new RegExp(`^mlabk\\.cii_${id}\\.ki_[0-9a-f]{16}\\.[A-Za-z0-9_-]{43}\\n$`));
    expect(created.stderr).toMatch(/cannot be shown again/);
  });

  it('reports an expected failure in one line, without a stack trace, and a non-zero exit', async () => {
    const result = await tokenAdmin(
      ['integration', 'show', 'no-such-integration'],
      namespaceEnv(uniqueNamespaces('cli-bin')),
    );
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: 'token-admin: integration no-such-integration does not exist\n',
    });
  });
});
