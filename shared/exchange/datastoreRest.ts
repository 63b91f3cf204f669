/**
 * Datastore's REST API (v1), for the three calls the exchange makes: lookup, runQuery and
 * commit. The exchange needs nothing else of Datastore, and speaking JSON over HTTP/1.1 with
 * node:http(s) spares every cold start the gRPC stack (grpc-js, google-gax, protobufjs and
 * Datastore's descriptors), which is most of what loading the Datastore client costs. Plain
 * node:http with a keep-alive agent, rather than fetch: functions-framework has loaded it
 * already, while fetch loads undici on first use, and it costs less CPU per call.
 *
 * The emulator speaks the same API at `http://<DATASTORE_EMULATOR_HOST>/v1/…` and needs no
 * credentials. On Google Cloud, google-auth-library supplies (and refreshes) the access
 * token; it is loaded only then, on first use.
 *
 * Errors come back as values with gRPC's status names (`INVALID_ARGUMENT`, `ALREADY_EXISTS`,
 * …), or `UNAVAILABLE` when there was no answer, so callers decide what each means.
 */

import http from 'node:http';
import https from 'node:https';
import { splitHostPort } from '../platform/hostPort';

/** A key as Datastore names it (a KeyPath, or @google-cloud/datastore's `Key`): kinds and names, in order. */
export interface DatastoreKey {
  readonly namespace?: string | undefined;
  readonly path: ReadonlyArray<string | number>;
}

export interface RestKey {
  readonly partitionId: { readonly projectId: string; readonly namespaceId: string };
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

export type RestResult<T> =
  { readonly ok: true; readonly body: T } | { readonly ok: false; readonly status: string; readonly message: string };

export interface DatastoreRest {
  lookup(keys: readonly DatastoreKey[]): Promise<RestResult<LookupResponse>>;
  runQuery(namespace: string, query: Readonly<Record<string, unknown>>): Promise<RestResult<RunQueryResponse>>;
  insert(key: DatastoreKey, properties: Readonly<Record<string, RestValue>>): Promise<RestResult<unknown>>;
}

export interface DatastoreRestOptions {
  /** The project; detected from the environment (metadata server) when unset. */
  readonly projectId?: string | undefined;
  /** host:port of an emulator: plain HTTP, no credentials. */
  readonly emulatorHost?: string | undefined;
  /** Deadline of one call, in ms; past it the call answers UNAVAILABLE. */
  readonly timeoutMs: number;
}

const SCOPE = 'https://www.googleapis.com/auth/datastore';
const ENDPOINT = 'datastore.googleapis.com';

interface Credentials {
  headers(): Promise<Record<string, string>>;
  projectId(): Promise<string>;
}

function emulatorCredentials(projectId: string | undefined): Credentials {
  return {
    headers: () => Promise.resolve({}),
    projectId: () =>
      projectId ? Promise.resolve(projectId) : Promise.reject(new Error('PROJECT_ID is required with an emulator')),
  };
}

function googleCredentials(projectId: string | undefined): Credentials {
  type Auth = { getAccessToken(): Promise<string | null | undefined>; getProjectId(): Promise<string> };
  let auth: Auth | undefined;
  const client = (): Auth => {
    if (auth === undefined) {
      // Loaded on first use, and only on Google Cloud: the emulator needs no token.
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use (googleLibraries.ts)
      const { GoogleAuth } = require('../platform/googleLibraries') as typeof import('../platform/googleLibraries');
      auth = new GoogleAuth({ scopes: SCOPE });
    }
    return auth;
  };
  let project: Promise<string> | undefined;
  return {
    async headers() {
      const token = await client().getAccessToken();
      if (!token) throw new Error('no access token for Datastore');
      return { Authorization: `Bearer ${token}` };
    },
    projectId() {
      if (projectId) return Promise.resolve(projectId);
      if (project === undefined) {
        const detecting = client().getProjectId();
        project = detecting;
        // A failed detection is retried by the next call, never remembered.
        detecting.catch(() => {
          if (project === detecting) project = undefined;
        });
      }
      return project;
    },
  };
}

function toRestKey(key: DatastoreKey, projectId: string): RestKey {
  const path: Array<{ kind: string; name?: string; id?: string }> = [];
  for (let i = 0; i < key.path.length; i += 2) {
    const kind = String(key.path[i]);
    const id = key.path[i + 1];
    path.push(typeof id === 'number' ? { kind, id: String(id) } : { kind, name: id ?? '' });
  }
  return { partitionId: { projectId, namespaceId: key.namespace ?? '' }, path };
}

interface ErrorBody {
  readonly error?: { readonly status?: string; readonly message?: string };
}

/** One POST of JSON, answered within `timeoutMs`: the status and body, or a thrown error. */
function post(
  transport: typeof http | typeof https,
  agent: http.Agent,
  target: { host: string; port: number; path: string },
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const request = transport.request(
      {
        ...target,
        method: 'POST',
        agent,
        headers: { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        response.on('error', reject);
      },
    );
    const timer = setTimeout(() => request.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    request.on('close', () => clearTimeout(timer));
    request.on('error', reject);
    request.end(body);
  });
}

export function datastoreRest(options: DatastoreRestOptions): DatastoreRest {
  const emulator = options.emulatorHost ? splitHostPort(options.emulatorHost) : undefined;
  const transport = emulator ? http : https;
  const server = emulator ?? { host: ENDPOINT, port: 443 };
  const agent = new transport.Agent({ keepAlive: true });
  const credentials = emulator ? emulatorCredentials(options.projectId) : googleCredentials(options.projectId);

  async function call<T>(method: string, body: (projectId: string) => object): Promise<RestResult<T>> {
    const started = Date.now();
    try {
      const [projectId, headers] = await Promise.all([credentials.projectId(), credentials.headers()]);
      const left = options.timeoutMs - (Date.now() - started);
      if (left <= 0) return { ok: false, status: 'UNAVAILABLE', message: `no answer within ${options.timeoutMs} ms` };
      const path = `/v1/projects/${encodeURIComponent(projectId)}:${method}`;
      const response = await post(
        transport,
        agent,
        { ...server, path },
        headers,
        JSON.stringify(body(projectId)),
        left,
      );
      if (response.status >= 200 && response.status < 300) {
        try {
          return { ok: true, body: JSON.parse(response.text) as T };
        } catch {
          // JSON.parse's message may quote the text around the fault: entity names, and a flat
          // key's entity is named by the key.
          return { ok: false, status: 'UNAVAILABLE', message: 'unreadable answer' };
        }
      }
      let error: ErrorBody['error'];
      try {
        error = (JSON.parse(response.text) as ErrorBody).error;
      } catch {
        error = undefined;
      }
      // Datastore's own text is left out: it may quote the key path, and the plaintext entity
      // of a Go-made flat key is named by the API key itself. Its status says enough.
      return { ok: false, status: error?.status ?? `HTTP_${response.status}`, message: `HTTP ${response.status}` };
    } catch (error) {
      return { ok: false, status: 'UNAVAILABLE', message: (error as Error).message };
    }
  }

  return {
    lookup(keys) {
      return call<LookupResponse>('lookup', (projectId) => ({ keys: keys.map((key) => toRestKey(key, projectId)) }));
    },
    runQuery(namespace, query) {
      return call<RunQueryResponse>('runQuery', (projectId) => ({
        partitionId: { projectId, namespaceId: namespace },
        query,
      }));
    },
    insert(key, properties) {
      return call<unknown>('commit', (projectId) => ({
        mode: 'NON_TRANSACTIONAL',
        mutations: [{ insert: { key: toRestKey(key, projectId), properties } }],
      }));
    },
  };
}
