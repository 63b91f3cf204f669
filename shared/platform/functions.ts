/**
 * The Cloud Functions this repository deploys, named once (functions.json): the build bundles
 * each, the deploy creates each (scripts/deploy/deploy.sh keeps a bash copy; a unit test
 * compares it with this), and the front door and the local stack route the Go service's path
 * to each. JSON, so that scripts/build/build.mts, an ES module run by Node without a compiler,
 * reads the same list.
 */
import table from './functions.json';

export type FunctionName = keyof typeof table;

/** What a function exchanges: a key of that kind for a token, or (jwks) nothing: it publishes. */
export type FunctionKind = 'integration' | 'autojoin' | 'jwks';

export interface FunctionInfo {
  readonly kind: FunctionKind;
  /** Where the Go service answered it, and the front door and the local stack still do. */
  readonly goServicePath: string;
}

const KINDS: readonly string[] = ['integration', 'autojoin', 'jwks'] satisfies FunctionKind[];

function checked(name: string, info: { readonly kind: string; readonly goServicePath: string }): FunctionInfo {
  if (!KINDS.includes(info.kind)) throw new Error(`functions.json: ${name} has an unknown kind ${info.kind}`);
  return info as FunctionInfo;
}

export const FUNCTIONS = Object.fromEntries(
  Object.entries(table).map(([name, info]) => [name, checked(name, info)]),
) as Readonly<Record<FunctionName, FunctionInfo>>;

/** In the file's order, which is the deploy's: the function a user waits on first. */
export const FUNCTION_NAMES = Object.keys(table) as readonly FunctionName[];
