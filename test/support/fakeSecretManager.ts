// In-memory Secret Manager for tests. Secret Manager has no emulator, so tests run the
// real `@google-cloud/secret-manager` client over real gRPC against this server, which
// is built from the protos shipped inside that package: the wire format is the real one.
//
// Behaviour mirrors the real API only where our code depends on it (see the methods
// below); everything else answers UNIMPLEMENTED.
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

import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { SecretManagerServiceClient, protos } from '@google-cloud/secret-manager';
import sm = protos.google.cloud.secretmanager.v1;

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

export interface FakeSecretManager {
  readonly port: number;
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
  /** Make the next `count` calls of `method` fail with the gRPC status `code` (default UNAVAILABLE). */
  failNext(method: FakeMethod, count?: number, code?: grpc.status): void;
  /** How many calls each method has received (failed ones included). */
  readonly calls: Record<FakeMethod, number>;
  /** Forget all secrets, failures and counters. */
  reset(): void;
  /** Close the clients made by `client()` and shut the server down. */
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

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as in SecretPayload.data_crc32c.
const CRC32C_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

export function crc32c(data: Uint8Array | string): number {
  let crc = 0xffffffff;
  for (const byte of typeof data === 'string' ? Buffer.from(data) : data) {
    crc = CRC32C_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

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

class Fake implements FakeSecretManager {
  readonly clientOptions: ClientOptions;
  readonly calls = Object.fromEntries(METHODS.map((m) => [m, 0])) as Record<FakeMethod, number>;
  private secrets = new Map<string, StoredSecret>();
  private failures = new Map<FakeMethod, grpc.status[]>();
  private clients: SecretManagerServiceClient[] = [];

  constructor(
    private readonly server: grpc.Server,
    readonly port: number,
  ) {
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

  reset(): void {
    this.secrets.clear();
    this.failures.clear();
    for (const method of METHODS) this.calls[method] = 0; // in place: callers may hold `calls`
  }

  async stop(): Promise<void> {
    await Promise.all(this.clients.splice(0).map((c) => c.close()));
    // forceShutdown: don't wait on connections of clients the test forgot to close.
    this.server.forceShutdown();
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
    if (!SECRET_NAME.test(name ?? '')) throw new RpcError(grpc.status.INVALID_ARGUMENT, `Invalid secret name: ${name}`);
    const stored = this.secrets.get(name!);
    if (!stored) throw new RpcError(grpc.status.NOT_FOUND, `Secret [${name}] not found or has no versions.`);
    return stored;
  }

  /** Resolves `.../versions/<n | latest | alias>` to a stored version and its number. */
  private resolve(name: string | null | undefined): { secret: StoredSecret; version: StoredVersion; number: number } {
    const match = VERSION_NAME.exec(name ?? '');
    if (!match) throw new RpcError(grpc.status.INVALID_ARGUMENT, `Invalid secret version name: ${name}`);
    const secret = this.secretOrThrow(match[1]);
    const id = match[2];
    // `latest` is the most recently *created* version whatever its state (the proto says
    // so, and the real API answers FAILED_PRECONDITION "... is in DISABLED state" when it
    // is disabled); it does not fall back to an older enabled version.
    const number = id === 'latest' ? secret.versions.length : /^\d+$/.test(id) ? Number(id) : secret.aliases.get(id);
    const version = number === undefined ? undefined : secret.versions[number - 1];
    if (number === undefined || !version)
      throw new RpcError(grpc.status.NOT_FOUND, `Secret Version [${name}] not found.`);
    return { secret, version, number };
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

  /** Wraps a handler with call counting, injected failures and RpcError → status. */
  private unary<Req, Res>(method: FakeMethod, handle: (request: Req) => Res): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      this.calls[method]++;
      const injected = this.failures.get(method)?.shift();
      if (injected !== undefined) {
        callback({ code: injected, details: `fake: injected failure of ${method}` });
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
        if (version.state !== 'ENABLED' || !version.data) {
          throw new RpcError(grpc.status.FAILED_PRECONDITION, `Secret Version [${name}] is in ${version.state} state.`);
        }
        return { name, payload: { data: version.data, dataCrc32c: crc32c(version.data) } };
      }),

      // Newest first; `state:X` filters; pageToken is the offset into the filtered list.
      ListSecretVersions: this.unary('ListSecretVersions', (req: sm.IListSecretVersionsRequest) => {
        const secret = this.secretOrThrow(req.parent);
        const state = /^state:(ENABLED|DISABLED|DESTROYED)$/.exec(req.filter?.trim() ?? '')?.[1];
        const numbers = secret.versions.map((_, i) => i + 1).reverse();
        const matching = numbers.filter((n) => !state || secret.versions[n - 1].state === state);
        const offset = req.pageToken ? Number(req.pageToken) : 0;
        if (!Number.isInteger(offset) || offset < 0)
          throw new RpcError(grpc.status.INVALID_ARGUMENT, `bad page_token ${req.pageToken}`);
        const size = req.pageSize && req.pageSize > 0 ? Math.min(req.pageSize, 25000) : matching.length;
        const page = matching.slice(offset, offset + size);
        const next = offset + size < matching.length ? String(offset + size) : '';
        return {
          versions: page.map((n) => this.versionMessage(secret, n)),
          nextPageToken: next,
          totalSize: state ? 0 : matching.length, // the real API reports 0 when filtered
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
export async function startFakeSecretManager(): Promise<FakeSecretManager> {
  const server = new grpc.Server();
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    );
  });
  const fake = new Fake(server, port);
  // Unlisted RPCs (ListSecrets, DeleteSecret, IAM, rotation...) get UNIMPLEMENTED from grpc-js.
  server.addService(loadService(), fake.implementation());
  return fake;
}
