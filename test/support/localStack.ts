/**
 * The local stack (`npm start`'s scripts/dev/local.ts) and token-admin (scripts/cli/main.ts)
 * bundled the way scripts/build/build.mts bundles them, into a folder of its own under dist/
 * (other test files build dist/scripts at the same time; inside the repository, the bundles
 * find node_modules as dist/scripts/local.js and dist/scripts/cli.js do).
 */
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '../..');

export interface BuiltLocalStack {
  /** The folder: `scripts/local.js` and `scripts/cli.js` inside it. */
  readonly dir: string;
  readonly script: string;
  /** token-admin, as bin/token-admin.js runs it (run directly, it runs itself). */
  readonly cli: string;
  remove(): void;
}

export async function buildLocalStack(label: string): Promise<BuiltLocalStack> {
  const dir = join(ROOT, 'dist', `test-${label}-${process.pid}`);
  await build({
    absWorkingDir: ROOT,
    entryPoints: { local: 'scripts/dev/local.ts', cli: 'scripts/cli/main.ts' },
    outdir: join(dir, 'scripts'),
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    packages: 'external',
    logLevel: 'warning',
  });
  return {
    dir,
    script: join(dir, 'scripts', 'local.js'),
    cli: join(dir, 'scripts', 'cli.js'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
