/**
 * One Datastore lookup by full key path, with a deadline. An outage is a value here,
 * distinct from "not found", because the two must answer differently (503 versus 401): an
 * outage must never look like a bad key to an integrator, nor a bad key like an outage.
 *
 * The lookup goes straight to the Datastore API client (`v1.DatastoreClient`, public in
 * @google-cloud/datastore) rather than through `Datastore#get`, which wraps each call in a
 * stream, batching and a full entity conversion: measured here, that wrapper cost more CPU
 * per lookup than everything else this module does. The exchange reads four properties, and
 * decodes just those value kinds.
 */
import { v1, type Key } from '@google-cloud/datastore';
import { grpc } from 'google-gax';
import type { Config } from './config';

export type Lookup =
  | { readonly status: 'found'; readonly entity: Record<string, unknown> }
  | { readonly status: 'missing' }
  | { readonly status: 'unavailable'; readonly cause: string };

export interface EntityReader {
  get(key: Key): Promise<Lookup>;
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

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as Error & { code?: unknown }).code;
    return code === undefined ? error.message : `${String(code)}: ${error.message}`;
  }
  return String(error);
}

export function lookupReader(client: LookupClient, timeoutMs: number): EntityReader {
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
  // below is the real bound; the call options stop the client working on after it.
  const callOptions = { timeout: timeoutMs, retry: null };

  return {
    async get(key: Key): Promise<Lookup> {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<Lookup>((resolve) => {
        timer = setTimeout(() => resolve({ status: 'unavailable', cause: `no answer within ${timeoutMs} ms` }), timeoutMs);
      });
      const lookup = project()
        .then((id) => client.lookup({ projectId: id, keys: [keyProto(key, id)] }, callOptions))
        .then(([response]): Lookup => {
          const found = response.found?.[0]?.entity;
          if (found) return { status: 'found', entity: decodeProperties(found.properties as Record<string, ValueProto>) };
          if (response.missing?.length) return { status: 'missing' };
          // Datastore may defer a key it could not read in time: as good as no answer.
          return { status: 'unavailable', cause: 'lookup deferred' };
        })
        .catch((error: unknown): Lookup => ({ status: 'unavailable', cause: describe(error) }));
      try {
        return await Promise.race([lookup, deadline]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
