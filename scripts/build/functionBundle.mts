/**
 * How a Cloud Function is bundled, shared by the build (scripts/build/build.mts) and the
 * benchmark's floor (scripts/perf/bench.ts), so that both bundle the same way.
 */
import { build, type BuildOptions, type Metafile, type Plugin } from 'esbuild';
import { dirname, join } from 'node:path';
import { readFileSync } from 'node:fs';

/** Packages left out of the function bundles; each must be a dependency in package.json. */
export const EXTERNAL = ['@google-cloud/functions-framework'] as const;

/**
 * The Google libraries a function loads only on first use (shared/platform/googleLibraries.ts),
 * bundled as a file of their own beside index.js, which requires it at run time.
 */
const LAZY_MODULE = { source: 'shared/platform/googleLibraries.ts', file: 'googleLibraries.js' } as const;

const lazyModule: Plugin = {
  name: 'lazy-google-libraries',
  setup(context) {
    context.onResolve({ filter: /[\\/]googleLibraries$/ }, () => ({ path: `./${LAZY_MODULE.file}`, external: true }));
  },
};

/**
 * Files the Datastore client library reads at run time: [path in node_modules, path beside the
 * bundle]. No function holds that library (the exchange reads over REST); the benchmark's floor
 * does, and copies these beside its bundle. The plugin below is a no-op for a bundle without it.
 */
export const RUNTIME_FILES: ReadonlyArray<readonly [string, string]> = [
  ['@google-cloud/datastore/build/protos/app_engine_key.proto', 'protos/app_engine_key.proto'],
];

/**
 * Rewrites datastore's `path.join(__dirname, '..', 'protos', …)` to `__dirname/protos/…`,
 * so the proto it loads at start-up is read from the function's own folder.
 */
const datastoreProtoPath: Plugin = {
  name: 'datastore-proto-path',
  setup(context) {
    context.onLoad({ filter: /[\\/]@google-cloud[\\/]datastore[\\/]build[\\/]src[\\/]entity\.js$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      const from = "path.join(__dirname, '..', 'protos', 'app_engine_key.proto')";
      const count = source.split(from).length - 1;
      if (count !== 1) {
        throw new Error(
          `${args.path}: expected ${from} once, found it ${count} times; ` +
            'check which files @google-cloud/datastore reads at run time',
        );
      }
      return { contents: source.replace(from, "path.join(__dirname, 'protos', 'app_engine_key.proto')"), loader: 'js' };
    });
  },
};

/**
 * Bundles one function entry point into CommonJS, as Cloud Functions runs it: `outfile`, and
 * beside it the lazily loaded Google libraries (LAZY_MODULE). Returns esbuild's metafile of
 * both, which says what each bundle holds.
 */
export async function bundleFunction(root: string, entry: string, outfile: string): Promise<Metafile> {
  const common: BuildOptions & { metafile: true } = {
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    external: [...EXTERNAL],
    plugins: [datastoreProtoPath],
    logLevel: 'warning',
    metafile: true,
  };
  const main = await build({ ...common, entryPoints: [entry], outfile, plugins: [lazyModule, datastoreProtoPath] });
  const lazy = await build({
    ...common,
    entryPoints: [LAZY_MODULE.source],
    outfile: join(dirname(outfile), LAZY_MODULE.file),
  });
  return {
    inputs: { ...main.metafile.inputs, ...lazy.metafile.inputs },
    outputs: { ...main.metafile.outputs, ...lazy.metafile.outputs },
  };
}
