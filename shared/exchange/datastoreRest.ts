/**
 * Datastore's REST API (v1), for the three calls the exchange makes: lookup, runQuery and
 * commit. The exchange needs nothing else of Datastore, and speaking JSON over HTTP/1.1
 * spares every cold start the gRPC stack (grpc-js, google-gax, protobufjs and Datastore's
 * descriptors), which is most of what loading the Datastore client costs. The calls go
 * through platform/googleRest.ts, which owns the deadline, the token and the retry rules.
 *
 * Two things Google's client does for lookups are done here: keys the answer lists as
 * `deferred` are asked again within the same deadline, and an answer is checked for the
 * shape the callers read, so a surprise is UNAVAILABLE for its requests, never a throw.
 *
 * The emulator speaks the same API at `http://<DATASTORE_EMULATOR_HOST>/v1/…` and needs no
 * credentials.
 *
 * Errors come back as values with gRPC's status names (`INVALID_ARGUMENT`, `ALREADY_EXISTS`,
 * …), so callers decide what each means.
 */

import { applicationDefaultCredentials, type GoogleCredentials } from '../platform/accessTokens';
import { deadlineIn, googleApi, type Deadline, type GoogleResult } from '../platform/googleRest';

/** A key as Datastore names it (a KeyPath, or @google-cloud/datastore's `Key`): kinds and names, in order. */
export interface DatastoreKey {
  readonly namespace?: string | undefined;
  readonly path: ReadonlyArray<string | number>;
}

export interface RestKey {
  /** Datastore leaves out an empty namespace, and may leave out the whole partition. */
  readonly partitionId?: { readonly projectId?: string; readonly namespaceId?: string };
  readonly path: ReadonlyArray<{ readonly kind: string; readonly name?: string; readonly id?: string }>;
}

export type RestValue =
  | { readonly stringValue: string }
  | { readonly integerValue: string }
  | { readonly doubleValue: number }
  | { readonly booleanValue: boolean }
  | { readonly timestampValue: string }
  | { readonly nullValue: null }
  | Readonly<Record<string, unknown>>;

export interface RestEntity {
  readonly key?: RestKey;
  readonly properties?: Readonly<Record<string, RestValue>>;
}

export interface LookupResponse {
  readonly found?: ReadonlyArray<{ readonly entity: RestEntity }>;
  readonly missing?: ReadonlyArray<{ readonly entity: RestEntity }>;
  readonly deferred?: readonly RestKey[];
}

export interface RunQueryResponse {
  readonly batch?: { readonly entityResults?: ReadonlyArray<{ readonly entity: RestEntity }> };
}

export type RestResult<T> = GoogleResult<T>;

export interface DatastoreRest {
  lookup(keys: readonly DatastoreKey[]): Promise<RestResult<LookupResponse>>;
  runQuery(namespace: string, query: Readonly<Record<string, unknown>>): Promise<RestResult<RunQueryResponse>>;
  insert(key: DatastoreKey, properties: Readonly<Record<string, RestValue>>): Promise<RestResult<unknown>>;
  /** Writes the entity whether or not it exists (a record of its own: nothing else to overwrite). */
  upsert(key: DatastoreKey, properties: Readonly<Record<string, RestValue>>): Promise<RestResult<unknown>>;
}

export interface DatastoreRestOptions {
  /** The project; detected by the credentials when unset (never with an emulator). */
  readonly projectId?: string | undefined;
  /** host:port of an emulator: plain HTTP, no credentials. */
  readonly emulatorHost?: string | undefined;
  /** `host[:port]` of the API over HTTPS (default Google's). */
  readonly endpoint?: string | undefined;
  /** Access tokens over HTTPS (default: the process's Application Default Credentials). */
  readonly credentials?: GoogleCredentials | undefined;
  /** Deadline of one call, token and retry included, in ms; past it the call fails. */
  readonly timeoutMs: number;
}

const ENDPOINT = 'datastore.googleapis.com';
/** Rounds of asking deferred keys again, at most (each within the call's one deadline). */
const MAX_DEFERRED_ROUNDS = 5;

function toRestKey(key: DatastoreKey, projectId: string): RestKey {
  const path: Array<{ kind: string; name?: string; id?: string }> = [];
  for (let i = 0; i < key.path.length; i += 2) {
    const kind = String(key.path[i]);
    const id = key.path[i + 1];
    path.push(typeof id === 'number' ? { kind, id: String(id) } : { kind, name: id ?? '' });
  }
  return { partitionId: { projectId, namespaceId: key.namespace ?? '' }, path };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A key as the callers read it: a path of objects with a kind; the partition may be left out. */
function isRestKey(value: unknown): boolean {
  if (!isObject(value) || !Array.isArray(value.path)) return false;
  if (value.partitionId !== undefined && !isObject(value.partitionId)) return false;
  return value.path.every((element) => isObject(element) && typeof element.kind === 'string');
}

function isEntityResults(value: unknown): boolean {
  if (value === undefined) return true;
  return (
    Array.isArray(value) &&
    value.every(
      (result) =>
        isObject(result) &&
        isObject(result.entity) &&
        isRestKey(result.entity.key) &&
        (result.entity.properties === undefined || isObject(result.entity.properties)),
    )
  );
}

function isLookupResponse(body: unknown): body is LookupResponse {
  return (
    isObject(body) &&
    isEntityResults(body.found) &&
    isEntityResults(body.missing) &&
    (body.deferred === undefined || (Array.isArray(body.deferred) && body.deferred.every(isRestKey)))
  );
}

function isRunQueryResponse(body: unknown): body is RunQueryResponse {
  return (
    isObject(body) && (body.batch === undefined || (isObject(body.batch) && isEntityResults(body.batch.entityResults)))
  );
}

const UNEXPECTED = { ok: false, status: 'UNAVAILABLE', message: 'answer of an unexpected shape', reasons: [] } as const;

export function datastoreRest(options: DatastoreRestOptions): DatastoreRest {
  const emulator = options.emulatorHost;
  const credentials = emulator ? undefined : (options.credentials ?? applicationDefaultCredentials(options.projectId));
  const api = googleApi({ endpoint: options.endpoint ?? ENDPOINT, emulatorHost: emulator, tokens: credentials });

  async function project(deadline: Deadline): Promise<string> {
    if (options.projectId) return options.projectId;
    if (!credentials) throw new Error('PROJECT_ID is required with an emulator');
    return credentials.projectId(Math.max(deadline.at - Date.now(), 0));
  }

  async function call<T>(
    method: string,
    body: (projectId: string) => object,
    deadline: Deadline,
    valid: (body: unknown) => body is T,
  ): Promise<RestResult<T>> {
    let projectId: string;
    try {
      projectId = await project(deadline);
    } catch (error) {
      return { ok: false, status: 'UNAVAILABLE', message: (error as Error).message, reasons: [] };
    }
    const path = `/v1/projects/${encodeURIComponent(projectId)}:${method}`;
    const result = await api.call<unknown>('POST', path, body(projectId), deadline);
    if (!result.ok) return result;
    return valid(result.body) ? { ok: true, body: result.body } : UNEXPECTED;
  }

  async function lookup(keys: readonly DatastoreKey[]): Promise<RestResult<LookupResponse>> {
    const deadline = deadlineIn(options.timeoutMs);
    const ask = (restKeys: (projectId: string) => readonly RestKey[]) =>
      call<LookupResponse>('lookup', (projectId) => ({ keys: restKeys(projectId) }), deadline, isLookupResponse);
    const first = await ask((projectId) => keys.map((key) => toRestKey(key, projectId)));
    if (!first.ok || !first.body.deferred?.length) return first;
    // Datastore could not read these in time: asked again, as Google's client does.
    const found = [...(first.body.found ?? [])];
    const missing = [...(first.body.missing ?? [])];
    let deferred: readonly RestKey[] = first.body.deferred;
    for (let round = 0; round < MAX_DEFERRED_ROUNDS && deferred.length > 0 && Date.now() < deadline.at; round++) {
      const asked = deferred;
      const again = await ask(() => asked);
      if (!again.ok) break;
      found.push(...(again.body.found ?? []));
      missing.push(...(again.body.missing ?? []));
      deferred = again.body.deferred ?? [];
    }
    return { ok: true, body: { found, missing, ...(deferred.length > 0 ? { deferred } : {}) } };
  }

  function commit(
    mutation: 'insert' | 'upsert',
    key: DatastoreKey,
    properties: Readonly<Record<string, RestValue>>,
  ): Promise<RestResult<object>> {
    return call<object>(
      'commit',
      (projectId) => ({
        mode: 'NON_TRANSACTIONAL',
        mutations: [{ [mutation]: { key: toRestKey(key, projectId), properties } }],
      }),
      deadlineIn(options.timeoutMs),
      isObject,
    );
  }

  return {
    lookup,
    runQuery(namespace, query) {
      return call<RunQueryResponse>(
        'runQuery',
        (projectId) => ({ partitionId: { projectId, namespaceId: namespace }, query }),
        deadlineIn(options.timeoutMs),
        isRunQueryResponse,
      );
    },
    // Both are retried like a read (googleRest.ts): an insert whose first attempt landed
    // answers ALREADY_EXISTS, which its caller takes as done; an upsert writes the same again.
    insert: (key, properties) => commit('insert', key, properties),
    upsert: (key, properties) => commit('upsert', key, properties),
  };
}
