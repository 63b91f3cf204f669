/**
 * `npm run build`: compiles the project's scripts (local stack, admin CLI, benchmark) into
 * dist/scripts with esbuild. Runs on Node 24's own TypeScript support, so it needs nothing
 * compiled first.
 */
import { build } from 'esbuild';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SCRIPTS = ['local', 'cli', 'bench', 'soak'].map((name) => `scripts/${name}.ts`).filter((file) => existsSync(join(root, file)));

await build({
  absWorkingDir: root,
  entryPoints: SCRIPTS,
  outdir: 'dist/scripts',
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'cjs',
  packages: 'external',
  sourcemap: 'linked',
  logLevel: 'warning',
});
