/**
 * The deployable bundles as the buildpack installs them, for the tests that start them as
 * Cloud Functions does (bundle.smoke.test.ts, production.rehearsal.test.ts): `npm run build`
 * (or the dist/ CI names in BUNDLE_SMOKE_DIST, so the build tested is the one deployed), each
 * dist/<name> copied to a folder of its own, and `npm install --omit=dev` there (the npm
 * registry is needed).
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { FUNCTION_NAMES, type FunctionName } from '../../shared/platform/functions';

const ROOT = join(__dirname, '..', '..');

/** One `npm install` per function, from the registry: generous, for a cold CI cache. */
export const INSTALL_TIMEOUT_MS = 240_000;

function install(dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['install', '--omit=dev', '--no-audit', '--no-fund'], {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        // already gone
      }
    }, INSTALL_TIMEOUT_MS);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`npm install --omit=dev in ${dir} ended with ${signal ?? code}:\n${stderr}`));
    });
  });
}

export interface InstalledBundles {
  /** The dist/ the folders were copied from. */
  readonly dist: string;
  /** Each function's installed folder. */
  readonly folders: Readonly<Record<FunctionName, string>>;
  /** Removes the folders (and a dist/ built here). */
  remove(): void;
}

export async function installBundles(label: string): Promise<InstalledBundles> {
  const work = mkdtempSync(join(tmpdir(), `${label}-`));
  const given = process.env.BUNDLE_SMOKE_DIST;
  // Otherwise a build into a folder of the test's own: a concurrent build cannot pull dist/ away.
  const dist = given ? resolve(ROOT, given) : join(work, 'dist');
  if (!given) {
    const args = ['scripts/build/build.mts', `--outdir=${dist}`];
    const built = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    if (built.status !== 0) throw new Error(`the build failed:\n${built.stderr}`);
  }
  const folders = {} as Record<FunctionName, string>;
  for (const name of FUNCTION_NAMES) {
    folders[name] = join(work, 'deploy', name);
    cpSync(join(dist, name), folders[name], { recursive: true });
  }
  await Promise.all(FUNCTION_NAMES.map((name) => install(folders[name])));
  return { dist, folders, remove: () => rmSync(work, { recursive: true, force: true }) };
}
