/**
 * How a Cloud Function is bundled, shared by the build (scripts/build/build.mts) and the
 * benchmark's floor (scripts/bench.ts), so that both bundle the same way.
 */
import { build, type Plugin } from 'esbuild';
import { readFileSync } from 'node:fs';

/** Packages left out of the function bundles; each must be a dependency in package.json. */
export const EXTERNAL = ['@google-cloud/functions-framework'] as const;

/** Files the bundle reads at run time: [path in node_modules, path beside index.js]. */
export const RUNTIME_FILES: ReadonlyArray<readonly [string, string]> = [
  ['@google-cloud/datastore/build/protos/app_engine_key.proto', 'protos/app_engine_key.proto'],
];

/**
 * Rewrites datastore's `path.join(__dirname, '..', 'protos', …)` to `__dirname/protos/…`,
 * so the proto it loads at start-up is read from the function's own folder.
 */
export const datastoreProtoPath: Plugin = {
  name: 'datastore-proto-path',
  setup(context) {
    context.onLoad({ filter: /[\\/]@google-cloud[\\/]datastore[\\/]build[\\/]src[\\/]entity\.js$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      const from = "path.join(__dirname, '..', 'protos', 'app_engine_key.proto')";
      const count = source.split(from).length - 1;
      if (count !== 1) {
        throw new Error(`${args.path}: expected ${from} once, found it ${count} times; check which files @google-cloud/datastore reads at run time`);
      }
      return { contents: source.replace(from, "path.join(__dirname, 'protos', 'app_engine_key.proto')"), loader: 'js' };
    });
  },
};

/** Bundles one function entry point into a single CommonJS file, as Cloud Functions runs it. */
export async function bundleFunction(root: string, entry: string, outfile: string): Promise<void> {
  await build({
    absWorkingDir: root,
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    external: [...EXTERNAL],
    plugins: [datastoreProtoPath],
    logLevel: 'warning',
  });
}
