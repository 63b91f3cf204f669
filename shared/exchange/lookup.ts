/**
 * Datastore on the hot path: lookups by full key path, and the flat-key fallback's query and
 * write, each with one deadline (retries within it: platform/googleRest.ts). Lookups asked
 * for in the same turn of the event loop share one call (lookupBatch.ts). An outage is a
 * value here, distinct from "not found", because the two must answer differently (503
 * versus 401): an outage must never look like a bad key to an integrator, nor a bad key like
 * an outage. A name Datastore refuses (INVALID_ARGUMENT: the key grammar accepts what the Go
 * service accepted, which Datastore may not) is a third value, `refused`: a bad key.
 *
 * The calls go over Datastore's REST API (datastoreRest.ts), not through the client library:
 * the exchange reads a few properties of one entity, and decodes just those value kinds,
 * without loading gRPC, google-gax and protobufjs on every cold start.
 */
import type { DatastoreRest, DatastoreKey, RestEntity, RestResult, RestValue } from './datastoreRest';
import { LAST_USED_AT } from '../keys/entities';
import { lookupBatcher } from './lookupBatch';

/** Datastore could not answer in time: 503, never 401. */
export type Unavailable = { readonly status: 'unavailable'; readonly cause: string };
/** Datastore refused the request as malformed (INVALID_ARGUMENT): the key is bad, 401. */
export type Refused = { readonly status: 'refused'; readonly cause: string };

export type Lookup =
  | { readonly status: 'found'; readonly entity: Record<string, unknown> }
  | { readonly status: 'missing' }
  | Unavailable
  | Refused;

/** Several keys read in one call: each entity in the order asked, `undefined` when missing. */
export type LookupMany =
  | { readonly status: 'read'; readonly entities: ReadonlyArray<Record<string, unknown> | undefined> }
  | Unavailable
  | Refused;

export interface EntityReader {
  get(key: DatastoreKey): Promise<Lookup>;
  getMany(keys: readonly DatastoreKey[]): Promise<LookupMany>;
}

/** A Go-service flat key found by its plaintext: the name of its parent organisation. */
export type FlatKeyQuery =
  | { readonly status: 'found'; readonly org: string; readonly createdAt: Date | undefined }
  | { readonly status: 'missing' }
  | Unavailable
  | Refused;

export type Insert = { readonly status: 'inserted' } | { readonly status: 'exists' } | Unavailable | Refused;

export type Write = { readonly status: 'written' } | Unavailable | Refused;

/** Records when a key was last used (lastUse.ts). */
export interface LastUseStore {
  /** Writes `last_used_at` = `at` into the usage record `key`, whether or not it exists. */
  recordLastUse(key: DatastoreKey, at: Date): Promise<Write>;
}

/** What the flat-key fallback needs of Datastore beyond lookups. */
export interface FlatKeyStore {
  /** The Go service's own query: kind `APIKey`, property `key` = the key, limit 1. */
  findFlatKey(namespace: string, flatKey: string): Promise<FlatKeyQuery>;
  /** Writes the entity unless its key exists (no overwrite: concurrent writers all succeed). */
  insertIfAbsent(key: DatastoreKey, properties: Readonly<Record<string, string | boolean | Date>>): Promise<Insert>;
}

function decodeValue(value: RestValue): unknown {
  if ('stringValue' in value) return value.stringValue;
  if ('integerValue' in value) return Number(value.integerValue);
  if ('doubleValue' in value) return value.doubleValue;
  if ('booleanValue' in value) return value.booleanValue;
  if ('timestampValue' in value) return new Date(String(value.timestampValue));
  if ('nullValue' in value) return null;
  // Keys, blobs, arrays, embedded entities: nothing the exchange reads.
  return undefined;
}

function decodeProperties(entity: RestEntity | undefined): Record<string, unknown> {
  const decoded: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(entity?.properties ?? {})) decoded[name] = decodeValue(value);
  return decoded;
}

function encodeValue(value: string | boolean | Date): RestValue {
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { booleanValue: value };
  return { timestampValue: value.toISOString() };
}

/** Any failure that is not Datastore refusing the request outright is an outage. */
function failure(result: Extract<RestResult<unknown>, { ok: false }>): Unavailable | Refused {
  // Google's reasons (SERVICE_DISABLED, …) tell an operator what to fix; its text is never kept.
  const reasons = result.reasons.length > 0 ? ` [${result.reasons.join(', ')}]` : '';
  const cause = `${result.status}${reasons}: ${result.message}`;
  return result.status === 'INVALID_ARGUMENT' ? { status: 'refused', cause } : { status: 'unavailable', cause };
}

export function lookupReader(rest: DatastoreRest): EntityReader & FlatKeyStore & LastUseStore {
  const lookupKey = lookupBatcher((keys) => rest.lookup(keys));

  async function get(key: DatastoreKey): Promise<Lookup> {
    const answer = await lookupKey(key);
    switch (answer.status) {
      case 'found':
        return { status: 'found', entity: decodeProperties(answer.entity) };
      case 'missing':
        return { status: 'missing' };
      // Datastore may defer a key it could not read in time: as good as no answer.
      case 'deferred':
        return { status: 'unavailable', cause: 'lookup deferred' };
      case 'unanswered':
        return { status: 'unavailable', cause: 'lookup answered only part of the keys' };
      case 'failed':
        return failure(answer.result);
    }
  }

  return {
    get,

    // Each key joins the turn's batch (lookupBatch.ts): asked together, they go out in one call.
    async getMany(keys) {
      const lookups = await Promise.all(keys.map(get));
      const outage = lookups.find((l): l is Unavailable => l.status === 'unavailable');
      if (outage) return outage;
      const refused = lookups.find((l): l is Refused => l.status === 'refused');
      if (refused) return refused;
      return { status: 'read', entities: lookups.map((l) => (l.status === 'found' ? l.entity : undefined)) };
    },

    async findFlatKey(namespace, flatKey) {
      const result = await rest.runQuery(namespace, {
        kind: [{ name: 'APIKey' }],
        filter: { propertyFilter: { property: { name: 'key' }, op: 'EQUAL', value: { stringValue: flatKey } } },
        limit: 1,
      });
      if (!result.ok) return failure(result);
      const entity = result.body.batch?.entityResults?.[0]?.entity;
      const path = entity?.key?.path ?? [];
      // As the Go service: the organisation is the found key's parent.
      const org = path.length >= 2 ? path[path.length - 2]?.name : undefined;
      if (!entity || !org) return { status: 'missing' };
      const createdAt = decodeProperties(entity).created_at;
      const valid = createdAt instanceof Date && !Number.isNaN(createdAt.getTime());
      return { status: 'found', org, createdAt: valid ? createdAt : undefined };
    },

    async recordLastUse(key, at) {
      const result = await rest.upsert(key, { [LAST_USED_AT]: encodeValue(at) });
      return result.ok ? { status: 'written' } : failure(result);
    },

    async insertIfAbsent(key, properties) {
      const encoded: Record<string, RestValue> = {};
      for (const [name, value] of Object.entries(properties)) encoded[name] = encodeValue(value);
      const result = await rest.insert(key, encoded);
      if (result.ok) return { status: 'inserted' };
      if (result.status === 'ALREADY_EXISTS') return { status: 'exists' };
      return failure(result);
    },
  };
}
