/**
 * Datastore on the hot path: lookups by full key path (one key, or several in one RPC), and
 * the flat-key fallback's query and write, each one attempt with a deadline. An outage is a
 * value here, distinct from "not found", because the two must answer differently (503
 * versus 401): an outage must never look like a bad key to an integrator, nor a bad key like
 * an outage. A name Datastore refuses (INVALID_ARGUMENT: the key grammar accepts what the Go
 * service accepted, which Datastore may not) is a third value, `refused`: a bad key.
 *
 * The calls go straight to the Datastore API client (`v1.DatastoreClient`, public in
 * @google-cloud/datastore) rather than through `Datastore#get`, which wraps each call in a
 * stream, batching and a full entity conversion: measured here, that wrapper cost more CPU
 * per lookup than everything else this module does. The exchange reads a few properties, and
 * decodes just those value kinds.
 */
import { v1, type Key } from '@google-cloud/datastore';
import { grpc } from 'google-gax';
import type { Config } from '../platform/config';

/** Datastore could not answer in time: 503, never 401. */
export type Unavailable = { readonly status: 'unavailable'; readonly cause: string };
/** Datastore refused the request as malformed (INVALID_ARGUMENT): the key is bad, 401. */
export type Refused = { readonly status: 'refused'; readonly cause: string };

export type Lookup = { readonly status: 'found'; readonly entity: Record<string, unknown> } | { readonly status: 'missing' } | Unavailable | Refused;

/** Several keys read in one RPC: each entity in the order asked, `undefined` when missing. */
export type LookupMany = { readonly status: 'read'; readonly entities: ReadonlyArray<Record<string, unknown> | undefined> } | Unavailable | Refused;

export interface EntityReader {
  get(key: Key): Promise<Lookup>;
  getMany(keys: readonly Key[]): Promise<LookupMany>;
}

/** A Go-service flat key found by its plaintext: the name of its parent organisation. */
export type FlatKeyQuery = { readonly status: 'found'; readonly org: string; readonly createdAt: Date | undefined } | { readonly status: 'missing' } | Unavailable | Refused;

export type Insert = { readonly status: 'inserted' } | { readonly status: 'exists' } | Unavailable | Refused;

/** What the flat-key fallback needs of Datastore beyond lookups. */
export interface FlatKeyStore {
  /** The Go service's own query: kind `APIKey`, property `key` = the key, limit 1. */
  findFlatKey(namespace: string, flatKey: string): Promise<FlatKeyQuery>;
  /** Writes the entity unless its key exists (no overwrite: concurrent writers all succeed). */
  insertIfAbsent(key: Key, properties: Readonly<Record<string, string | boolean | Date>>): Promise<Insert>;
}

type LookupClient = InstanceType<typeof v1.DatastoreClient>;
type KeyProto = { partitionId: { projectId: string; namespaceId: string }; path: Array<{ kind: string; name?: string; id?: string }> };
type ValueProto = {
  valueType?: string | null;
  stringValue?: string | null;
  integerValue?: number | string | { toString(): string } | null;
  doubleValue?: number | null;
  booleanValue?: boolean | null;
  timestampValue?: { seconds?: number | string | { toString(): string } | null; nanos?: number | null } | null;
};

/**
 * The API client, on the emulator when one is named (`emulatorHost`, else
 * DATASTORE_EMULATOR_HOST), as @google-cloud/datastore itself would reach it.
 */
export function createLookupClient(config: Pick<Config, 'projectId'>, emulatorHost = process.env.DATASTORE_EMULATOR_HOST): LookupClient {
  const projectId = config.projectId ? { projectId: config.projectId } : {};
  if (!emulatorHost) return new v1.DatastoreClient(projectId);
  const separator = emulatorHost.lastIndexOf(':');
  return new v1.DatastoreClient({
    ...projectId,
    servicePath: emulatorHost.slice(0, separator).replace(/^\[|\]$/g, ''),
    port: Number(emulatorHost.slice(separator + 1)),
    sslCreds: grpc.credentials.createInsecure(),
    // An emulator needs no credentials; this skips looking for them.
    universeDomain: 'googleapis.com',
  });
}

function keyProto(key: Key, projectId: string): KeyProto {
  const path: KeyProto['path'] = [];
  for (let k: Key | undefined = key; k !== undefined; k = k.parent) {
    path.unshift(k.name !== undefined ? { kind: k.kind, name: k.name } : { kind: k.kind, id: String(k.id) });
  }
  return { partitionId: { projectId, namespaceId: key.namespace ?? '' }, path };
}

function decodeValue(value: ValueProto): unknown {
  switch (value.valueType) {
    case 'stringValue':
      return value.stringValue;
    case 'integerValue':
      return Number(String(value.integerValue));
    case 'doubleValue':
      return value.doubleValue;
    case 'booleanValue':
      return value.booleanValue;
    case 'timestampValue':
      return new Date(Number(String(value.timestampValue?.seconds ?? 0)) * 1000 + Math.floor((value.timestampValue?.nanos ?? 0) / 1e6));
    case 'nullValue':
      return null;
    default:
      // Keys, blobs, arrays, embedded entities: nothing the exchange reads.
      return undefined;
  }
}

function decodeProperties(properties: Record<string, ValueProto> | null | undefined): Record<string, unknown> {
  const entity: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(properties ?? {})) entity[name] = decodeValue(value);
  return entity;
}

/** gRPC INVALID_ARGUMENT and ALREADY_EXISTS, as Datastore answers them. */
const INVALID_ARGUMENT = 3;
const ALREADY_EXISTS = 6;

function codeOf(error: unknown): unknown {
  return error !== null && typeof error === 'object' ? (error as { code?: unknown }).code : undefined;
}

function failure(error: unknown): Unavailable | Refused {
  return codeOf(error) === INVALID_ARGUMENT ? { status: 'refused', cause: describe(error) } : { status: 'unavailable', cause: describe(error) };
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as Error & { code?: unknown }).code;
    return code === undefined ? error.message : `${String(code)}: ${error.message}`;
  }
  return String(error);
}

function pathKey(path: ReadonlyArray<{ kind?: string | null; name?: string | null; id?: unknown }> | null | undefined): string {
  return JSON.stringify((path ?? []).map((element) => [element.kind ?? '', element.name ?? (element.id === undefined || element.id === null ? '' : String(element.id))]));
}

type EncodedValue = { stringValue: string } | { booleanValue: boolean } | { timestampValue: { seconds: number; nanos: number } };

function encodeValue(value: string | boolean | Date): EncodedValue {
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { booleanValue: value };
  const ms = value.getTime();
  return { timestampValue: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 } };
}

/** One attempt at `call`, answered by its deadline at the latest. */
function bounded<T>(timeoutMs: number, call: () => Promise<T>, onError: (error: unknown) => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(onError(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'DEADLINE' }))), timeoutMs);
  });
  const attempt = call().catch(onError);
  return Promise.race([attempt, deadline]).finally(() => clearTimeout(timer));
}

export function lookupReader(client: LookupClient, timeoutMs: number): EntityReader & FlatKeyStore {
  let projectId: Promise<string> | undefined;
  // Detected once (on Cloud Functions, from the metadata server) unless configured.
  const project = (): Promise<string> => {
    if (projectId === undefined) {
      const detecting = client.getProjectId();
      projectId = detecting;
      detecting.catch(() => {
        if (projectId === detecting) projectId = undefined;
      });
    }
    return projectId;
  };
  // One attempt, bounded: gax would otherwise retry UNAVAILABLE for up to a minute. The race
  // in `bounded` is the real bound; the call options stop the client working on after it.
  const callOptions = { timeout: timeoutMs, retry: null };
  const timedOut = (error: unknown): Unavailable | Refused =>
    codeOf(error) === 'DEADLINE' ? { status: 'unavailable', cause: (error as Error).message } : failure(error);

  async function getMany(keys: readonly Key[]): Promise<LookupMany> {
    return bounded<LookupMany>(
      timeoutMs,
      async () => {
        const id = await project();
        const protos = keys.map((key) => keyProto(key, id));
        const [response] = await client.lookup({ projectId: id, keys: protos }, callOptions);
        // Datastore may defer a key it could not read in time: as good as no answer.
        if (response.deferred?.length) return { status: 'unavailable', cause: 'lookup deferred' };
        const found = new Map<string, Record<string, unknown>>();
        for (const result of response.found ?? []) {
          if (result.entity) found.set(pathKey(result.entity.key?.path), decodeProperties(result.entity.properties as Record<string, ValueProto>));
        }
        const entities = protos.map((proto) => found.get(pathKey(proto.path)));
        const answered = entities.filter((entity) => entity !== undefined).length + (response.missing?.length ?? 0);
        if (answered < keys.length) return { status: 'unavailable', cause: 'lookup answered only part of the keys' };
        return { status: 'read', entities };
      },
      timedOut,
    );
  }

  return {
    // The hot path's one key: no matching of answers to keys needed (one asked, one answered).
    async get(key: Key): Promise<Lookup> {
      return bounded<Lookup>(
        timeoutMs,
        async () => {
          const id = await project();
          const [response] = await client.lookup({ projectId: id, keys: [keyProto(key, id)] }, callOptions);
          const found = response.found?.[0]?.entity;
          if (found) return { status: 'found', entity: decodeProperties(found.properties as Record<string, ValueProto>) };
          if (response.missing?.length) return { status: 'missing' };
          // Datastore may defer a key it could not read in time: as good as no answer.
          return { status: 'unavailable', cause: 'lookup deferred' };
        },
        timedOut,
      );
    },

    getMany,

    async findFlatKey(namespace: string, flatKey: string): Promise<FlatKeyQuery> {
      return bounded<FlatKeyQuery>(
        timeoutMs,
        async () => {
          const id = await project();
          const [response] = await client.runQuery(
            {
              projectId: id,
              partitionId: { projectId: id, namespaceId: namespace },
              query: {
                kind: [{ name: 'APIKey' }],
                filter: { propertyFilter: { property: { name: 'key' }, op: 'EQUAL', value: { stringValue: flatKey } } },
                limit: { value: 1 },
              },
            },
            callOptions,
          );
          const entity = response.batch?.entityResults?.[0]?.entity;
          if (!entity) return { status: 'missing' };
          const path = entity.key?.path ?? [];
          // As the Go service: the organisation is the found key's parent.
          const org = path.length >= 2 ? path[path.length - 2]?.name : undefined;
          if (!org) return { status: 'missing' };
          const createdAt = decodeProperties(entity.properties as Record<string, ValueProto>).created_at;
          return { status: 'found', org, createdAt: createdAt instanceof Date && !Number.isNaN(createdAt.getTime()) ? createdAt : undefined };
        },
        timedOut,
      );
    },

    async insertIfAbsent(key: Key, properties: Readonly<Record<string, string | boolean | Date>>): Promise<Insert> {
      return bounded<Insert>(
        timeoutMs,
        async () => {
          const id = await project();
          const encoded: Record<string, EncodedValue> = {};
          for (const [name, value] of Object.entries(properties)) encoded[name] = encodeValue(value);
          try {
            await client.commit({ projectId: id, mode: 'NON_TRANSACTIONAL', mutations: [{ insert: { key: keyProto(key, id), properties: encoded } }] }, callOptions);
            return { status: 'inserted' };
          } catch (error) {
            if (codeOf(error) === ALREADY_EXISTS) return { status: 'exists' };
            throw error;
          }
        },
        timedOut,
      );
    },
  };
}
