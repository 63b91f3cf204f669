/**
 * `npm run build`: esbuild, run by Node 24's own TypeScript support (nothing compiled first).
 *
 * 1. The project's scripts (local stack, admin CLI, benchmark, soak, cold-start measurement)
 *    into dist/scripts/<name>.js, with packages external: they run from node_modules.
 * 2. One deployable folder per Cloud Function, dist/<name>/, for
 *    `gcloud functions deploy <name> --source=dist/<name>`:
 *
 *    index.js            the function and what it runs, bundled into one CommonJS file
 *    googleLibraries.js  google-auth-library, bundled apart and loaded on first use only
 *                        (shared/platform/googleLibraries.ts): on Google Cloud, for tokens
 *    package.json        `main: index.js`, engines node 24, dependencies = exactly the
 *                        externals, pinned to the versions of the root package-lock.json
 *    package-lock.json   the root lock cut down to those externals and what they depend on,
 *                        so the buildpack installs exactly the tree the tests ran on
 *    .gcloudignore       gcloud reads it from the source folder only: upload nothing else
 *
 *    and dist/meta/<name>.json, esbuild's metafile of both bundles (what each holds), which
 *    the tests read and nothing uploads.
 *
 * What stays external, and why:
 * - @google-cloud/functions-framework: the buildpack starts the framework from the function's
 *   node_modules, and the function must register itself with that same copy. Bundled, it
 *   would register in a private registry and the framework reports "Function '<name>' is not
 *   defined in the provided module".
 * Everything else is bundled: none of it is a native addon, and one file starts faster than
 * a node_modules tree. The functions hold no Google client library, gRPC or google-gax: they
 * call Datastore's and Secret Manager's REST APIs (shared/platform/googleRest.ts), so no proto
 * file is read from disk; `npm run bench` measures the cold starts.
 */
import { build } from 'esbuild';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { bundleFunction, EXTERNAL } from './functionBundle.mts';
// The list shared/platform/functions.ts exports, read as JSON: Node runs this file uncompiled.
import FUNCTION_TABLE from '../../shared/platform/functions.json' with { type: 'json' };

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** `--outdir=<dir>` builds somewhere else than dist/ (the smoke test builds into a temp dir). */
const outArg = process.argv.slice(2).find((arg) => arg.startsWith('--outdir='));
const out = outArg ? resolve(outArg.slice('--outdir='.length)) : join(root, 'dist');

/** The Cloud Functions, one folder each under functions/. */
const FUNCTIONS = Object.keys(FUNCTION_TABLE);

const GCLOUDIGNORE = `# Written by scripts/build/build.mts. gcloud reads .gcloudignore from the --source folder only:
# upload the bundle and its package files, nothing installed or generated here by hand.
.gcloudignore
node_modules/
*.map
`;

interface LockEntry {
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  dev?: boolean;
  [field: string]: unknown;
}

interface Lock {
  lockfileVersion: number;
  packages: Record<string, LockEntry>;
}

/** Where node would find `name` from the package installed at `from` (a lock path). */
function resolveInLock(lock: Lock, from: string, name: string): string | undefined {
  let base = from;
  for (;;) {
    const candidate = `${base ? `${base}/` : ''}node_modules/${name}`;
    if (lock.packages[candidate]) return candidate;
    if (!base) return undefined;
    const cut = base.lastIndexOf('/node_modules/');
    base = cut === -1 ? '' : base.slice(0, cut);
  }
}

/** The root lock cut down to `roots` and everything they need at run time. */
function lockSubset(lock: Lock, packageName: string, roots: Record<string, string>): object {
  const keep = new Map<string, LockEntry>();
  const visit = (path: string): void => {
    if (keep.has(path)) return;
    const entry = lock.packages[path];
    const { dev: _dev, devOptional: _devOptional, ...rest } = entry;
    keep.set(path, rest);
    const optionalPeers = new Set(
      Object.entries(entry.peerDependenciesMeta ?? {})
        .filter(([, meta]) => meta.optional)
        .map(([name]) => name),
    );
    const needs = [
      ...Object.keys(entry.dependencies ?? {}),
      ...Object.keys(entry.optionalDependencies ?? {}),
      ...Object.keys(entry.peerDependencies ?? {}).filter((name) => !optionalPeers.has(name)),
    ];
    for (const name of needs) {
      const found = resolveInLock(lock, path, name);
      if (found) visit(found);
      else if (!(name in (entry.optionalDependencies ?? {})))
        throw new Error(`package-lock.json: ${path} needs ${name}, which is not in the lock`);
    }
  };
  for (const name of Object.keys(roots)) visit(`node_modules/${name}`);
  const packages: Record<string, object> = {
    '': { name: packageName, version: '0.0.0', license: 'Apache-2.0', dependencies: roots, engines: { node: '24' } },
  };
  for (const path of [...keep.keys()].sort()) packages[path] = keep.get(path) as LockEntry;
  return { name: packageName, lockfileVersion: 3, requires: true, packages };
}

async function buildScripts(): Promise<void> {
  // dist/scripts/<name>.js: the names package.json and bin/token-admin.js run.
  const scripts = {
    local: 'scripts/dev/local.ts',
    cli: 'scripts/cli/main.ts',
    bench: 'scripts/perf/bench.ts',
    soak: 'scripts/perf/soak.ts',
    coldStart: 'scripts/perf/coldStart.ts',
  };
  await build({
    absWorkingDir: root,
    entryPoints: scripts,
    outdir: join(out, 'scripts'),
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    packages: 'external',
    sourcemap: 'linked',
    logLevel: 'warning',
  });
}

async function buildFunction(
  name: string,
  lock: Lock,
  rootPackage: { dependencies: Record<string, string> },
): Promise<void> {
  const outdir = join(out, name);
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const metafile = await bundleFunction(root, `functions/${name}/index.ts`, join(outdir, 'index.js'));
  // What each bundle holds, for the tests (test/integration/build/bundle.smoke.test.ts); not uploaded.
  mkdirSync(join(out, 'meta'), { recursive: true });
  writeFileSync(join(out, 'meta', `${name}.json`), JSON.stringify(metafile));

  const dependencies: Record<string, string> = {};
  for (const dependency of EXTERNAL) {
    if (!(dependency in rootPackage.dependencies))
      throw new Error(`${dependency} is external to the bundles but not a dependency in package.json`);
    const version = lock.packages[`node_modules/${dependency}`]?.version;
    if (!version) throw new Error(`${dependency} is not in package-lock.json: run npm install`);
    dependencies[dependency] = version;
  }
  const packageName = `token-exchange-${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  const manifest = {
    name: packageName,
    version: '0.0.0',
    private: true,
    description:
      `Cloud Function ${name}, bundled by scripts/build/build.mts ` + 'from the token-exchange functions repository.',
    license: 'Apache-2.0',
    main: 'index.js',
    engines: { node: '24' },
    dependencies,
  };
  writeFileSync(join(outdir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  writeFileSync(
    join(outdir, 'package-lock.json'),
    `${JSON.stringify(lockSubset(lock, packageName, dependencies), null, 2)}\n`,
  );
  writeFileSync(join(outdir, '.gcloudignore'), GCLOUDIGNORE);
}

const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as Lock;
const rootPackage = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
};
await buildScripts();
for (const name of FUNCTIONS) await buildFunction(name, lock, rootPackage);
