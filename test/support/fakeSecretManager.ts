// In-memory Secret Manager for tests. Secret Manager has no emulator, so tests run the
// real `@google-cloud/secret-manager` client over real gRPC against this server, which
// is built from the protos shipped inside that package: the wire format is the real one.
// The functions read Secret Manager over its REST API (v1) instead, so the same port also
// answers REST over HTTP/1.1, from the same store: a connection that opens with HTTP/2's
// preface goes to gRPC, any other to REST. `https()` adds the REST face over TLS with bearer
// tokens, as Google serves it, for the production rehearsal.
//
// Behaviour mirrors the real API only where our code depends on it (see the methods
// below); everything else answers UNIMPLEMENTED (gRPC) or 404 (REST).
//
// Client retries (@google-cloud/secret-manager 7.2.0 on google-gax 6, measured here):
// its built-in config retries AccessSecretVersion on UNAVAILABLE (and RESOURCE_EXHAUSTED),
// sleeping a random 0..2 s before the first retry (then 0..4 s, 0..8 s, ... at most 60 s)
// for up to 600 s in total. So with default call options `failNext('AccessSecretVersion', n)`
// is invisible to the caller except for the delay and `calls`. All the other methods
// have no retry codes: the first UNAVAILABLE reaches the caller.
// To see an AccessSecretVersion failure at once, pass the call option `{ retry: null }`.
// Beware `{ maxRetries: n }`: it counts attempts, not retries, and when they run out it
// sleeps 0..2 s and fails with DEADLINE_EXCEEDED ("Exceeded maximum number of retries"),
// not with the server's status; `{ maxRetries: 0 }` and `{ maxRetries: 1 }` both make a
// single attempt. `{ timeout: ms }` bounds the retrying, so it may or may not retry.

import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { SecretManagerServiceClient, protos } from '@google-cloud/secret-manager';
import { crc32c } from '../../shared/platform/crc32c';
import { testCertificates } from './tls';
import sm = protos.google.cloud.secretmanager.v1;

export { crc32c };

/** google-gax's ClientOptions, taken from the client so we need not import google-gax. */
export type ClientOptions = NonNullable<ConstructorParameters<typeof SecretManagerServiceClient>[0]>;

export type FakeMethod =
  | 'GetSecret'
  | 'CreateSecret'
  | 'UpdateSecret'
  | 'AddSecretVersion'
  | 'GetSecretVersion'
  | 'AccessSecretVersion'
  | 'ListSecretVersions'
  | 'EnableSecretVersion'
  | 'DisableSecretVersion'
  | 'DestroySecretVersion';

export type VersionState = 'ENABLED' | 'DISABLED' | 'DESTROYED';

export interface FakeSecretManagerOptions {
  /** The project number REST answers name versions with, as the real API does (default '123456789012'). */
  readonly projectNumber?: string;
  /** Versions per page of a REST list that names no pageSize (default 2), so clients must follow nextPageToken. */
  readonly restPageSize?: number;
}

export interface FakeSecretManager {
  /** gRPC (HTTP/2 without TLS) and REST (HTTP/1.1) on 127.0.0.1. */
  readonly port: number;
  /** '127.0.0.1:<port>'. */
  readonly host: string;
  /**
   * Requests may name a project by this number or by its id (any id: the fake is one
   * project); REST answers name it by number.
   */
  readonly projectNumber: string;
  /** Options to pass to `new SecretManagerServiceClient(opts)` so it talks to this server. */
  readonly clientOptions: ClientOptions;
  /** A new real client with `clientOptions`; `stop()` closes it. */
  client(): SecretManagerServiceClient;
  /** `secret` is `projects/<p>/secrets/<s>`. */
  createSecret(secret: string): void;
  /** Returns the full version name; versions are numbered 1, 2, 3... per secret. */
  addVersion(secret: string, payload: string | Buffer, opts?: { state?: 'ENABLED' | 'DISABLED' }): string;
  setAlias(secret: string, alias: string, version: number): void;
  /** The secret's annotations, as UpdateSecret (update mask `annotations`) last set them. */
  annotations(secret: string): Record<string, string>;
  /**
   * Backdates (or postdates) a version's createTime, so tests of the rotation's time rules
   * need not wait an hour.
   */
  setCreateTime(version: string, createTime: Date): void;
  setVersionState(version: string, state: VersionState): void;
  /**
   * Make the next `count` calls of `method`, on either face, fail with the gRPC status `code`
   * (default UNAVAILABLE); REST answers its HTTP status with Google's JSON error body.
   */
  failNext(method: FakeMethod, count?: number, code?: grpc.status): void;
  /** While true, every call on either face answers UNAVAILABLE (REST: 503). */
  setDown(down: boolean): void;
  /** The next REST access that succeeds answers a wrong `dataCrc32c`. */
  corruptNextChecksum(): void;
  /**
   * Another listener on 127.0.0.1 with the REST face over HTTPS (tls.ts's certificate), which
   * wants `Authorization: Bearer <token>` that `checkToken` accepts (401 UNAUTHENTICATED
   * otherwise). `unauthorised` counts the requests it refused; they are not in `calls`.
   */
  https(options: { checkToken: (token: string) => boolean }): Promise<{ host: string; readonly unauthorised: number }>;
  /** How many calls each method has received on either face (failed ones included). */
  readonly calls: Record<FakeMethod, number>;
  /** Forget all secrets, failures, counters, `setDown` and `corruptNextChecksum`. */
  reset(): void;
  /** Close the clients made by `client()` and shut the server and every listener down. */
  stop(): Promise<void>;
}

type ISecret = sm.ISecret;
type ISecretVersion = sm.ISecretVersion;
type Timestamp = protos.google.protobuf.ITimestamp;

const SERVICE = 'google.cloud.secretmanager.v1.SecretManagerService';
const SECRET_NAME = /^projects\/[^/]+\/secrets\/[^/]+$/;
const VERSION_NAME = /^(projects\/[^/]+\/secrets\/[^/]+)\/versions\/([^/]+)$/;
const METHODS: readonly FakeMethod[] = [
  'GetSecret',
  'CreateSecret',
  'UpdateSecret',
  'AddSecretVersion',
  'GetSecretVersion',
  'AccessSecretVersion',
  'ListSecretVersions',
  'EnableSecretVersion',
  'DisableSecretVersion',
  'DestroySecretVersion',
];

const SECRET_PARTS = /^projects\/([^/]+)\/secrets\/([^/]+)$/;
const REST_ACCESS = /^\/v1\/projects\/([^/]+)\/secrets\/([^/]+)\/versions\/([^/:]+):access$/;
const REST_LIST = /^\/v1\/projects\/([^/]+)\/secrets\/([^/]+)\/versions$/;
/** What every HTTP/2 connection with prior knowledge opens with (RFC 9113 §3.4). */
const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0');

// google.rpc.Code to HTTP, as Google's REST APIs map them (google/rpc/code.proto).
const HTTP_STATUS: Record<grpc.status, number> = {
  [grpc.status.OK]: 200,
  [grpc.status.CANCELLED]: 499,
  [grpc.status.UNKNOWN]: 500,
  [grpc.status.INVALID_ARGUMENT]: 400,
  [grpc.status.DEADLINE_EXCEEDED]: 504,
  [grpc.status.NOT_FOUND]: 404,
  [grpc.status.ALREADY_EXISTS]: 409,
  [grpc.status.PERMISSION_DENIED]: 403,
  [grpc.status.RESOURCE_EXHAUSTED]: 429,
  [grpc.status.FAILED_PRECONDITION]: 400,
  [grpc.status.ABORTED]: 409,
  [grpc.status.OUT_OF_RANGE]: 400,
  [grpc.status.UNIMPLEMENTED]: 501,
  [grpc.status.INTERNAL]: 500,
  [grpc.status.UNAVAILABLE]: 503,
  [grpc.status.DATA_LOSS]: 500,
  [grpc.status.UNAUTHENTICATED]: 401,
};

const UNAUTHENTICATED_MESSAGE =
  'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid ' +
  'authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.';

/** A failure to report to the caller with a gRPC status. */
class RpcError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

interface StoredVersion {
  state: VersionState;
  data: Buffer | undefined; // dropped on destroy, like the real thing
  createTime: Date;
  destroyTime?: Date;
}

interface StoredSecret {
  name: string;
  createTime: Date;
  aliases: Map<string, number>;
  annotations: Map<string, string>;
  versions: StoredVersion[]; // version n is versions[n - 1]
}

function timestamp(date: Date): Timestamp {
  const ms = date.getTime();
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}

function protoDirs(): string[] {
  // Both packages expose only their main module, so go from it to the sibling protos dir.
  // google-gax is resolved from secret-manager so we get the copy that the client uses.
  const secretManagerMain = require.resolve('@google-cloud/secret-manager');
  const gaxMain = require.resolve('google-gax', { paths: [path.dirname(secretManagerMain)] });
  return [path.join(path.dirname(secretManagerMain), '..', 'protos'), path.join(path.dirname(gaxMain), '..', 'protos')];
}

function loadService(): grpc.ServiceDefinition {
  const packageDefinition = protoLoader.loadSync('google/cloud/secretmanager/v1/service.proto', {
    includeDirs: protoDirs(),
    // Requests arrive as plain objects with camelCase fields, int64 as decimal strings,
    // enums as names and bytes as Buffers, which matches the protos.*.I* interfaces.
    longs: String,
    enums: String,
    oneofs: true,
  });
  let node: ReturnType<typeof grpc.loadPackageDefinition>[string] = grpc.loadPackageDefinition(packageDefinition);
  for (const part of SERVICE.split('.')) node = (node as grpc.GrpcObject)[part]!;
  if (typeof node !== 'function') throw new Error(`${SERVICE} not found in the secret-manager protos`);
  return node.service;
}

/** A page of versions, newest first. */
interface VersionPage {
  numbers: number[];
  nextPageToken: string;
  totalSize: number;
}

/** One Google JSON error answer. */
function sendError(res: http.ServerResponse, code: grpc.status, message: string): void {
  const status = HTTP_STATUS[code];
  sendJson(res, status, { error: { code: status, message, status: grpc.status[code] } });
}

function sendJson(res: http.ServerResponse, status: number, body: object): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=UTF-8' }).end(JSON.stringify(body));
}

class Fake implements FakeSecretManager {
  readonly clientOptions: ClientOptions;
  readonly calls = Object.fromEntries(METHODS.map((m) => [m, 0])) as Record<FakeMethod, number>;
  readonly host: string;
  private secrets = new Map<string, StoredSecret>();
  private failures = new Map<FakeMethod, grpc.status[]>();
  private clients: SecretManagerServiceClient[] = [];
  private down = false;
  private corruptChecksum = false;
  private readonly sockets = new Set<net.Socket>();
  private readonly httpsServers: https.Server[] = [];
  private readonly httpsFaces: Array<{ unauthorised: number }> = [];
  private readonly injector: grpc.ConnectionInjector;
  private readonly restServer: http.Server;

  constructor(
    private readonly server: grpc.Server,
    private readonly listener: net.Server,
    readonly port: number,
    readonly projectNumber: string,
    private readonly restPageSize: number,
  ) {
    this.host = `127.0.0.1:${port}`;
    this.injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    // Long keep-alive: a stand-in must not close idle sockets sooner than Google does, or
    // clients would meet the reused-socket race where no test asked for it.
    this.restServer = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => this.rest(req, res, undefined));
    listener.on('connection', (socket) => this.sniff(socket));
    this.clientOptions = {
      apiEndpoint: '127.0.0.1',
      port,
      sslCreds: grpc.credentials.createInsecure(),
      // An explicit universeDomain stops the client from probing for credentials (without
      // it, it queries the GCE metadata server and warns MetadataLookupWarning offline);
      // the insecure channel would not send credentials anyway.
      universeDomain: 'googleapis.com',
    };
  }

  client(): SecretManagerServiceClient {
    const client = new SecretManagerServiceClient(this.clientOptions);
    this.clients.push(client);
    return client;
  }

  // ---- test-side helpers (throw plain Errors: misuse is a bug in the test) ----

  createSecret(secret: string): void {
    if (!SECRET_NAME.test(secret)) throw new Error(`not a secret name: ${secret}`);
    if (this.secrets.has(secret)) throw new Error(`secret exists: ${secret}`);
    this.secrets.set(secret, {
      name: secret,
      createTime: new Date(),
      aliases: new Map(),
      annotations: new Map(),
      versions: [],
    });
  }

  addVersion(secret: string, payload: string | Buffer, opts: { state?: 'ENABLED' | 'DISABLED' } = {}): string {
    const stored = this.mustGet(secret);
    stored.versions.push({ state: opts.state ?? 'ENABLED', data: Buffer.from(payload), createTime: new Date() });
    return `${secret}/versions/${stored.versions.length}`;
  }

  setAlias(secret: string, alias: string, version: number): void {
    const stored = this.mustGet(secret);
    if (!stored.versions[version - 1]) throw new Error(`no version ${version} in ${secret}`);
    stored.aliases.set(alias, version);
  }

  annotations(secret: string): Record<string, string> {
    return Object.fromEntries(this.mustGet(secret).annotations);
  }

  setCreateTime(version: string, createTime: Date): void {
    this.resolve(version).version.createTime = createTime;
  }

  setVersionState(version: string, state: VersionState): void {
    const stored = this.resolve(version).version;
    if (stored.state === 'DESTROYED' && state !== 'DESTROYED') throw new Error(`${version} is destroyed`);
    this.changeState(stored, state);
  }

  failNext(method: FakeMethod, count = 1, code: grpc.status = grpc.status.UNAVAILABLE): void {
    const queue = this.failures.get(method) ?? [];
    queue.push(...Array<grpc.status>(count).fill(code));
    this.failures.set(method, queue);
  }

  setDown(down: boolean): void {
    this.down = down;
  }

  corruptNextChecksum(): void {
    this.corruptChecksum = true;
  }

  async https(options: { checkToken: (token: string) => boolean }): Promise<{ host: string; unauthorised: number }> {
    const { key, cert } = testCertificates();
    const face = { host: '', unauthorised: 0 };
    const server = https.createServer({ key, cert, keepAliveTimeout: 60_000 }, (req, res) =>
      this.rest(req, res, (token) => {
        const good = token !== undefined && options.checkToken(token);
        if (!good) face.unauthorised++;
        return good;
      }),
    );
    server.on('connection', (socket: net.Socket) => this.track(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.httpsServers.push(server);
    this.httpsFaces.push(face);
    face.host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    return face;
  }

  reset(): void {
    this.secrets.clear();
    this.failures.clear();
    for (const method of METHODS) this.calls[method] = 0; // in place: callers may hold `calls`
    for (const face of this.httpsFaces) face.unauthorised = 0;
    this.down = false;
    this.corruptChecksum = false;
  }

  async stop(): Promise<void> {
    await Promise.all(this.clients.splice(0).map((c) => c.close()));
    // forceShutdown: don't wait on connections of clients the test forgot to close. It
    // closes the sessions of injected connections too; the sockets below are all of them.
    this.server.forceShutdown();
    this.injector.destroy();
    for (const socket of this.sockets) socket.destroy();
    const closing = [this.listener, this.restServer, ...this.httpsServers.splice(0)].map(
      (server) => new Promise<void>((resolve) => server.close(() => resolve())),
    );
    await Promise.all(closing);
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
  }

  /**
   * Reads a connection's first bytes and hands it, bytes put back, to gRPC if they are
   * HTTP/2's preface, else to the REST face. Both take a socket that has been read from:
   * node:http2 passes what is buffered to its session, node:http reads what was unshifted
   * once the socket flows again.
   */
  private sniff(socket: net.Socket): void {
    this.track(socket);
    let head = Buffer.alloc(0);
    const ignore = (): void => undefined; // a client gone before saying anything
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const n = Math.min(head.length, HTTP2_PREFACE.length);
      const http2 = head.subarray(0, n).equals(HTTP2_PREFACE.subarray(0, n));
      if (http2 && head.length < HTTP2_PREFACE.length) return; // too soon to tell
      socket.off('data', onData);
      socket.off('error', ignore);
      socket.pause();
      socket.unshift(head);
      if (http2) {
        this.injector.injectConnection(socket);
      } else {
        this.restServer.emit('connection', socket);
        socket.resume(); // node:http leaves a socket as it finds it: paused, it would never read the request
      }
    };
    socket.on('error', ignore);
    socket.on('data', onData);
  }

  private mustGet(secret: string): StoredSecret {
    const stored = this.secrets.get(secret);
    if (!stored) throw new Error(`no secret ${secret}`);
    return stored;
  }

  private changeState(version: StoredVersion, state: VersionState): void {
    version.state = state;
    if (state === 'DESTROYED') {
      version.data = undefined;
      version.destroyTime = new Date();
    }
  }

  // ---- the service ----

  private secretOrThrow(name: string | null | undefined): StoredSecret {
    const parts = SECRET_PARTS.exec(name ?? '');
    if (!parts) throw new RpcError(grpc.status.INVALID_ARGUMENT, `Invalid secret name: ${name}`);
    const stored = this.findSecret(parts[1], parts[2]);
    if (!stored) throw new RpcError(grpc.status.NOT_FOUND, `Secret [${name}] not found or has no versions.`);
    return stored;
  }

  /** The secret `id` of `project`, named by id or by the fake's project number. */
  private findSecret(project: string, id: string): StoredSecret | undefined {
    const exact = this.secrets.get(`projects/${project}/secrets/${id}`);
    if (exact || project !== this.projectNumber) return exact;
    const named = [...this.secrets.values()].filter((s) => SECRET_PARTS.exec(s.name)?.[2] === id);
    if (named.length > 1) {
      throw new RpcError(grpc.status.INTERNAL, `fake: ${id} is a secret of several project ids; name one`);
    }
    return named[0];
  }

  /** A secret's name as the REST API gives it: under the project number. */
  private restName(secret: StoredSecret): string {
    return `projects/${this.projectNumber}/secrets/${SECRET_PARTS.exec(secret.name)![2]}`;
  }

  /** Resolves `.../versions/<n | latest | alias>` to a stored version and its number. */
  private resolve(name: string | null | undefined): { secret: StoredSecret; version: StoredVersion; number: number } {
    const match = VERSION_NAME.exec(name ?? '');
    if (!match) throw new RpcError(grpc.status.INVALID_ARGUMENT, `Invalid secret version name: ${name}`);
    return this.resolveIn(this.secretOrThrow(match[1]), match[2], name!);
  }

  /** Resolves version `id` (a number, `latest` or an alias) of `secret`; `shownAs` names it in errors. */
  private resolveIn(
    secret: StoredSecret,
    id: string,
    shownAs: string,
  ): { secret: StoredSecret; version: StoredVersion; number: number } {
    // `latest` is the most recently *created* version whatever its state (the proto says
    // so, and the real API answers FAILED_PRECONDITION "... is in DISABLED state" when it
    // is disabled); it does not fall back to an older enabled version.
    const number = id === 'latest' ? secret.versions.length : /^\d+$/.test(id) ? Number(id) : secret.aliases.get(id);
    const version = number === undefined ? undefined : secret.versions[number - 1];
    if (number === undefined || !version)
      throw new RpcError(grpc.status.NOT_FOUND, `Secret Version [${shownAs}] not found.`);
    return { secret, version, number };
  }

  /** The payload of an accessible version; `name` is the resolved version's name. */
  private payloadOf(version: StoredVersion, name: string): Buffer {
    if (version.state !== 'ENABLED' || !version.data) {
      throw new RpcError(grpc.status.FAILED_PRECONDITION, `Secret Version [${name}] is in ${version.state} state.`);
    }
    return version.data;
  }

  /**
   * Newest first; `state:X` filters (no other filter is supported, so any other is refused
   * rather than ignored); pageToken is the offset into the filtered list. `pageSize`
   * undefined: all at once.
   */
  private listPage(
    secret: StoredSecret,
    filter: string | null | undefined,
    pageSize: number | undefined,
    pageToken: string | null | undefined,
  ): VersionPage {
    const trimmed = filter?.trim() ?? '';
    const state = /^state:(ENABLED|DISABLED|DESTROYED)$/.exec(trimmed)?.[1];
    if (trimmed && !state) throw new RpcError(grpc.status.INVALID_ARGUMENT, `fake supports only state:<STATE> filters`);
    const numbers = secret.versions.map((_, i) => i + 1).reverse();
    const matching = numbers.filter((n) => !state || secret.versions[n - 1].state === state);
    const offset = pageToken ? Number(pageToken) : 0;
    if (!Number.isInteger(offset) || offset < 0)
      throw new RpcError(grpc.status.INVALID_ARGUMENT, `bad page_token ${pageToken}`);
    const size = pageSize === undefined ? matching.length : Math.min(pageSize, 25000);
    return {
      numbers: matching.slice(offset, offset + size),
      nextPageToken: offset + size < matching.length ? String(offset + size) : '',
      totalSize: state ? 0 : matching.length, // the real API reports 0 when filtered
    };
  }

  private secretMessage(secret: StoredSecret): ISecret {
    return {
      name: secret.name,
      createTime: timestamp(secret.createTime),
      versionAliases: Object.fromEntries(secret.aliases),
      annotations: Object.fromEntries(secret.annotations),
    };
  }

  private versionMessage(secret: StoredSecret, number: number): ISecretVersion {
    const version = secret.versions[number - 1];
    return {
      name: `${secret.name}/versions/${number}`,
      state: version.state,
      createTime: timestamp(version.createTime),
      ...(version.destroyTime && { destroyTime: timestamp(version.destroyTime) }),
    };
  }

  private setState(name: string | null | undefined, state: VersionState): ISecretVersion {
    const { secret, version, number } = this.resolve(name);
    if (version.state === 'DESTROYED') {
      throw new RpcError(
        grpc.status.FAILED_PRECONDITION,
        `Secret Version [${secret.name}/versions/${number}] is in DESTROYED state.`,
      );
    }
    this.changeState(version, state);
    return this.versionMessage(secret, number);
  }

  /** Counts a call of either face; the failure it must answer, if any (down, or injected). */
  private admit(method: FakeMethod): RpcError | undefined {
    this.calls[method]++;
    if (this.down) return new RpcError(grpc.status.UNAVAILABLE, 'fake: Secret Manager is down');
    const injected = this.failures.get(method)?.shift();
    return injected === undefined ? undefined : new RpcError(injected, `fake: injected failure of ${method}`);
  }

  /** Wraps a handler with call counting, injected failures and RpcError → status. */
  private unary<Req, Res>(method: FakeMethod, handle: (request: Req) => Res): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      const refused = this.admit(method);
      if (refused) {
        callback({ code: refused.code, details: refused.message });
        return;
      }
      try {
        callback(null, handle(call.request));
      } catch (err) {
        // Anything else is a bug in the fake: report it rather than crash the server.
        callback(
          err instanceof RpcError
            ? { code: err.code, details: err.message }
            : { code: grpc.status.INTERNAL, details: `fake: ${String(err)}` },
        );
      }
    };
  }

  // ---- the REST face ----

  /**
   * `GET /v1/projects/{p}/secrets/{s}/versions/{v}:access` and `GET …/versions`, as the
   * REST reference describes them. `checkToken` (the HTTPS face) is given the bearer token,
   * or undefined when there is none.
   */
  private rest(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    checkToken: ((token: string | undefined) => boolean) | undefined,
  ): void {
    req.resume(); // GETs carry no body; whatever comes is not ours to read
    const url = new URL(req.url ?? '/', 'http://secretmanager.googleapis.com');
    let parts: string[];
    try {
      parts = (REST_ACCESS.exec(url.pathname) ?? REST_LIST.exec(url.pathname) ?? []).map(decodeURIComponent);
    } catch {
      parts = [];
    }
    const method: FakeMethod | undefined =
      req.method !== 'GET' || parts.length === 0
        ? undefined
        : parts.length === 4
          ? 'AccessSecretVersion'
          : 'ListSecretVersions';
    if (!method) {
      return sendError(res, grpc.status.NOT_FOUND, `fake: no REST method at ${req.method} ${url.pathname}`);
    }
    if (checkToken) {
      const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (!checkToken(token)) {
        res.setHeader('WWW-Authenticate', 'Bearer realm="https://accounts.google.com/"');
        return sendError(res, grpc.status.UNAUTHENTICATED, UNAUTHENTICATED_MESSAGE);
      }
    }
    const refused = this.admit(method);
    if (refused) return sendError(res, refused.code, refused.message);
    const [, project, secretId, versionId] = parts;
    try {
      const secret = this.findSecret(project, secretId);
      const shown = `projects/${project}/secrets/${secretId}`;
      if (!secret) throw new RpcError(grpc.status.NOT_FOUND, `Secret [${shown}] not found or has no versions.`);
      const base = this.restName(secret);
      if (method === 'AccessSecretVersion') {
        const { version, number } = this.resolveIn(secret, versionId, `${base}/versions/${versionId}`);
        const name = `${base}/versions/${number}`;
        const data = this.payloadOf(version, name);
        let checksum = crc32c(data);
        if (this.corruptChecksum) {
          this.corruptChecksum = false;
          checksum = (checksum + 1) >>> 0;
        }
        // int64 fields are decimal strings in Google's JSON.
        return sendJson(res, 200, { name, payload: { data: data.toString('base64'), dataCrc32c: String(checksum) } });
      }
      const size = url.searchParams.get('pageSize');
      if (size !== null && !/^\d+$/.test(size)) {
        throw new RpcError(grpc.status.INVALID_ARGUMENT, `Invalid value at 'page_size' (TYPE_INT32), "${size}"`);
      }
      const pageSize = size && Number(size) > 0 ? Number(size) : this.restPageSize;
      const page = this.listPage(secret, url.searchParams.get('filter'), pageSize, url.searchParams.get('pageToken'));
      // Google's JSON leaves out fields at their default: no empty token, no zero total.
      return sendJson(res, 200, {
        versions: page.numbers.map((n) => {
          const version = secret.versions[n - 1];
          return {
            name: `${base}/versions/${n}`,
            createTime: version.createTime.toISOString(),
            state: version.state,
            ...(version.destroyTime && { destroyTime: version.destroyTime.toISOString() }),
          };
        }),
        ...(page.nextPageToken && { nextPageToken: page.nextPageToken }),
        ...(page.totalSize && { totalSize: page.totalSize }),
      });
    } catch (err) {
      if (err instanceof RpcError) return sendError(res, err.code, err.message);
      return sendError(res, grpc.status.INTERNAL, `fake: ${String(err)}`);
    }
  }

  // ---- the gRPC face ----

  implementation(): grpc.UntypedServiceImplementation {
    return {
      GetSecret: this.unary('GetSecret', (req: sm.IGetSecretRequest) =>
        this.secretMessage(this.secretOrThrow(req.name)),
      ),

      // The real API also requires `secret.replication`; we don't, nothing of ours creates secrets.
      CreateSecret: this.unary('CreateSecret', (req: sm.ICreateSecretRequest) => {
        const name = `${req.parent}/secrets/${req.secretId}`;
        if (!/^projects\/[^/]+$/.test(req.parent ?? '') || !SECRET_NAME.test(name)) {
          throw new RpcError(grpc.status.INVALID_ARGUMENT, `Invalid parent or secret_id: ${name}`);
        }
        if (this.secrets.has(name)) throw new RpcError(grpc.status.ALREADY_EXISTS, `Secret [${name}] already exists.`);
        this.createSecret(name);
        return this.secretMessage(this.mustGet(name));
      }),

      // Only `version_aliases` and `annotations` are supported; other paths are refused
      // rather than pretended. Both replace the whole map, as the real API does.
      UpdateSecret: this.unary('UpdateSecret', (req: sm.IUpdateSecretRequest) => {
        const secret = this.secretOrThrow(req.secret?.name);
        const paths = req.updateMask?.paths ?? [];
        const supported = ['version_aliases', 'annotations'];
        if (paths.length === 0 || paths.some((p) => !supported.includes(p))) {
          throw new RpcError(
            grpc.status.INVALID_ARGUMENT,
            `fake supports only update_mask version_aliases and annotations, got [${paths.join(',')}]`,
          );
        }
        let aliases = secret.aliases;
        if (paths.includes('version_aliases')) {
          aliases = new Map(Object.entries(req.secret?.versionAliases ?? {}).map(([k, v]) => [k, Number(v)]));
          for (const [alias, number] of aliases) {
            if (!secret.versions[number - 1])
              throw new RpcError(grpc.status.INVALID_ARGUMENT, `alias ${alias}: no version ${number}`);
          }
        }
        let annotations = secret.annotations;
        if (paths.includes('annotations')) {
          annotations = new Map(Object.entries(req.secret?.annotations ?? {}));
          // The real API's limits: keys of at most 63 characters, 16 KiB in all.
          for (const key of annotations.keys()) {
            if (!/^[a-zA-Z0-9](?:[a-zA-Z0-9._-]{0,61}[a-zA-Z0-9])?$/.test(key)) {
              throw new RpcError(grpc.status.INVALID_ARGUMENT, `invalid annotation key ${key}`);
            }
          }
          const size = [...annotations].reduce((sum, [k, v]) => sum + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
          if (size > 16 * 1024) throw new RpcError(grpc.status.INVALID_ARGUMENT, 'annotations exceed 16 KiB');
        }
        // Both or neither, as one request.
        secret.aliases = aliases;
        secret.annotations = annotations;
        return this.secretMessage(secret);
      }),

      AddSecretVersion: this.unary('AddSecretVersion', (req: sm.IAddSecretVersionRequest) => {
        const secret = this.secretOrThrow(req.parent);
        const data = Buffer.from(req.payload?.data ?? []);
        const sent = req.payload?.dataCrc32c;
        if (sent !== undefined && sent !== null && Number(sent) !== crc32c(data)) {
          throw new RpcError(grpc.status.INVALID_ARGUMENT, 'Checksum mismatch: data_crc32c does not match data.');
        }
        this.addVersion(secret.name, data);
        return this.versionMessage(secret, secret.versions.length);
      }),

      GetSecretVersion: this.unary('GetSecretVersion', (req: sm.IGetSecretVersionRequest) => {
        const { secret, number } = this.resolve(req.name);
        return this.versionMessage(secret, number);
      }),

      AccessSecretVersion: this.unary('AccessSecretVersion', (req: sm.IAccessSecretVersionRequest) => {
        const { secret, version, number } = this.resolve(req.name);
        const name = `${secret.name}/versions/${number}`; // the real API answers with the resolved number
        const data = this.payloadOf(version, name);
        return { name, payload: { data, dataCrc32c: crc32c(data) } };
      }),

      ListSecretVersions: this.unary('ListSecretVersions', (req: sm.IListSecretVersionsRequest) => {
        const secret = this.secretOrThrow(req.parent);
        const pageSize = req.pageSize && req.pageSize > 0 ? req.pageSize : undefined;
        const page = this.listPage(secret, req.filter, pageSize, req.pageToken);
        return {
          versions: page.numbers.map((n) => this.versionMessage(secret, n)),
          nextPageToken: page.nextPageToken,
          totalSize: page.totalSize,
        };
      }),

      EnableSecretVersion: this.unary('EnableSecretVersion', (req: sm.IEnableSecretVersionRequest) =>
        this.setState(req.name, 'ENABLED'),
      ),
      DisableSecretVersion: this.unary('DisableSecretVersion', (req: sm.IDisableSecretVersionRequest) =>
        this.setState(req.name, 'DISABLED'),
      ),
      DestroySecretVersion: this.unary('DestroySecretVersion', (req: sm.IDestroySecretVersionRequest) =>
        this.setState(req.name, 'DESTROYED'),
      ),
    };
  }
}

/** Starts a fake Secret Manager on 127.0.0.1 (a free port). Call `stop()` when done. */
export async function startFakeSecretManager(options: FakeSecretManagerOptions = {}): Promise<FakeSecretManager> {
  const server = new grpc.Server();
  const listener = net.createServer();
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = listener.address() as net.AddressInfo;
  const fake = new Fake(server, listener, port, options.projectNumber ?? '123456789012', options.restPageSize ?? 2);
  // Unlisted RPCs (ListSecrets, DeleteSecret, IAM, rotation...) get UNIMPLEMENTED from grpc-js.
  server.addService(loadService(), fake.implementation());
  return fake;
}
