/**
 * The local stack (`npm start`'s scripts/dev/local.ts) bundled the way scripts/build/build.mts bundles
 * it, into a folder of its own under dist/ (other test files build dist/scripts at the same
 * time; inside the repository, the bundle finds node_modules as dist/scripts/local.js does).
 */
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '../..');

export interface BuiltLocalStack {
  /** The folder: `scripts/local.js` inside it. */
  readonly dir: string;
  readonly script: string;
  remove(): void;
}

export async function buildLocalStack(label: string): Promise<BuiltLocalStack> {
  const dir = join(ROOT, 'dist', `test-${label}-${process.pid}`);
  await build({
    absWorkingDir: ROOT,
    entryPoints: { local: 'scripts/dev/local.ts' },
    outdir: join(dir, 'scripts'),
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    packages: 'external',
    logLevel: 'warning',
  });
  return { dir, script: join(dir, 'scripts', 'local.js'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}
