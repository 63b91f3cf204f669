/**
 * A stand-in for datastore.googleapis.com: HTTPS (the test CA of tls.ts) with bearer tokens,
 * in front of the Datastore emulator, which speaks the same REST API (v1) over plain HTTP
 * without credentials. Clients reach it as they reach Google (DATASTORE_API_ENDPOINT=<host>,
 * trusting the CA), and tests make it fail the ways Google's front end and Datastore do:
 * a keep-alive socket reset on reuse, Google's JSON errors, bare HTML errors from the front
 * end, deferred keys, an answer of unexpected shape, and no answer at all.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { testCertificates } from './tls';

export type DatastoreMethod = 'lookup' | 'runQuery' | 'commit';

export type DatastoreFault =
  /** The next request on a socket that has served one before: the socket is destroyed unanswered. */
  | 'reset-reused'
  /** 503 UNAVAILABLE, Google's JSON body. */
  | 'unavailable'
  /** 500 INTERNAL, Google's JSON body. */
  | 'internal'
  /** 504 DEADLINE_EXCEEDED, Google's JSON body. */
  | 'deadline-exceeded'
  /** That status with the HTML page of Google's front end, no JSON. */
  | 'bare-502'
  | 'bare-503'
  | 'bare-504'
  /** A lookup's answer with every key of `found` and `missing` moved to `deferred`. */
  | 'deferred'
  /** 403 PERMISSION_DENIED (SERVICE_DISABLED), its message quoting the request's first key name. */
  | 'permission-denied'
  /** The request is held open and never answered (until close()). */
  | 'no-answer'
  /** The answer's entity keys lose `partitionId`: in `found` and `missing`, or a query's `batch.entityResults`. */
  | 'no-partition';

export interface DatastoreFrontOptions {
  /** host:port of the Datastore emulator (DATASTORE_EMULATOR_HOST). */
  readonly emulatorHost: string;
  /** Whether a bearer token is good (a MetadataServer's `isValid`). */
  readonly checkToken: (token: string) => boolean;
}

export interface DatastoreFront {
  /** '127.0.0.1:<port>', HTTPS: the value for DATASTORE_API_ENDPOINT. */
  readonly host: string;
  /**
   * Queues `count` (default 1) faults for the next authorised requests (of `method`, if
   * given). Each request takes the first queued fault that applies to it: 'reset-reused'
   * applies only on a reused socket, 'deferred' only to lookup, 'no-partition' to lookup and
   * runQuery. A fault no request applies to stays queued.
   */
  inject(fault: DatastoreFault, options?: { count?: number; method?: DatastoreMethod }): void;
  /**
   * Applies `fault` to every authorised request it applies to, ahead of anything queued, until
   * cleared with undefined.
   */
  setPermanent(fault: DatastoreFault | undefined): void;
  /** Authorised requests received per method, faulted ones included. */
  readonly calls: Record<DatastoreMethod, number>;
  /** Requests refused for a missing or invalid bearer token (not counted in `calls`). */
  readonly unauthorised: number;
  /** Forgets faults and counters. */
  clear(): void;
  /** Stops listening and drops every connection, held ones too. */
  close(): Promise<void>;
}

interface Queued {
  readonly fault: DatastoreFault;
  readonly method: DatastoreMethod | undefined;
}

const METHODS: readonly DatastoreMethod[] = ['lookup', 'runQuery', 'commit'];
const ROUTE = /^\/v1\/projects\/([^/:]+):(lookup|runQuery|commit)$/;

const GOOGLE_ERRORS = {
  unavailable: [503, 'UNAVAILABLE', 'The service is currently unavailable.'],
  internal: [500, 'INTERNAL', 'Internal error encountered.'],
  'deadline-exceeded': [
    504,
    'DEADLINE_EXCEEDED',
    'The datastore operation timed out, or the data was temporarily unavailable.',
  ],
} as const;

const BARE_TITLES = { 502: 'Server Error', 503: 'Service Unavailable', 504: 'Gateway Timeout' } as const;

/** The page Google's front end serves when there is no backend answer to relay. */
function barePage(status: 502 | 503 | 504): string {
  return [
    '<!DOCTYPE html>',
    '<html lang=en>',
    '  <meta charset=utf-8>',
    '  <meta name=viewport content="initial-scale=1, minimum-scale=1, width=device-width">',
    `  <title>Error ${status} (${BARE_TITLES[status]})!!1</title>`,
    '  <a href=//www.google.com/><span id=logo aria-label=Google></span></a>',
    `  <p><b>${status}.</b> <ins>That’s an error.</ins>`,
    '  <p>The server encountered a temporary error and could not complete your request.' +
      '<p>Please try again in 30 seconds.  <ins>That’s all we know.</ins>',
    '',
  ].join('\n');
}

function googleError(status: number, name: string, message: string, details?: unknown[]): string {
  return JSON.stringify({ error: { code: status, message, status: name, ...(details && { details }) } });
}

/** The first key path name in a request (or, for a query, its first string value): what Google might quote. */
function firstName(body: unknown): string | undefined {
  let value: string | undefined;
  const walk = (node: unknown): string | undefined => {
    if (Array.isArray(node)) {
      for (const item of node) {
        const found = walk(item);
        if (found !== undefined) return found;
      }
    } else if (node && typeof node === 'object') {
      const record = node as Record<string, unknown>;
      if (Array.isArray(record.path)) {
        const element = (record.path as Array<Record<string, unknown>>).find((e) => typeof e?.name === 'string');
        if (element) return element.name as string;
      }
      if (typeof record.stringValue === 'string') value ??= record.stringValue;
      for (const child of Object.values(record)) {
        const found = walk(child);
        if (found !== undefined) return found;
      }
    }
    return undefined;
  };
  return walk(body) ?? value;
}

function stripPartitions(results: unknown): void {
  if (!Array.isArray(results)) return;
  for (const result of results as Array<{ entity?: { key?: Record<string, unknown> } }>) {
    if (result?.entity?.key) delete result.entity.key.partitionId;
  }
}

class Front implements DatastoreFront {
  readonly calls = Object.fromEntries(METHODS.map((m) => [m, 0])) as Record<DatastoreMethod, number>;
  unauthorised = 0;
  private queue: Queued[] = [];
  private permanent: DatastoreFault | undefined;
  private readonly served = new WeakMap<Socket, number>();
  private readonly sockets = new Set<Socket>();
  // Keep-alive to the emulator too, so the front adds little to each call.
  private readonly agent = new http.Agent({ keepAlive: true });
  private readonly emulator: { host: string; port: number };

  constructor(
    private readonly server: https.Server,
    readonly host: string,
    private readonly options: DatastoreFrontOptions,
  ) {
    const at = options.emulatorHost.lastIndexOf(':');
    this.emulator = { host: options.emulatorHost.slice(0, at), port: Number(options.emulatorHost.slice(at + 1)) };
    server.on('secureConnection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    server.on('request', (req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        // A bug of the front's, not a fault of Google's: say so rather than crash the test run.
        if (res.headersSent) return void res.destroy();
        this.json(res, 500, googleError(500, 'INTERNAL', `fake front: ${String(error)}`));
      });
    });
  }

  inject(fault: DatastoreFault, options: { count?: number; method?: DatastoreMethod } = {}): void {
    for (let i = 0; i < (options.count ?? 1); i++) this.queue.push({ fault, method: options.method });
  }

  setPermanent(fault: DatastoreFault | undefined): void {
    this.permanent = fault;
  }

  clear(): void {
    this.queue = [];
    this.permanent = undefined;
    for (const method of METHODS) this.calls[method] = 0; // in place: callers may hold `calls`
    this.unauthorised = 0;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    this.agent.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private applies(fault: DatastoreFault, method: DatastoreMethod, reused: boolean): boolean {
    if (fault === 'reset-reused') return reused;
    if (fault === 'deferred') return method === 'lookup';
    if (fault === 'no-partition') return method !== 'commit';
    return true;
  }

  /** The fault for this request, taken off the queue if it came from there. */
  private takeFault(method: DatastoreMethod, reused: boolean): DatastoreFault | undefined {
    if (this.permanent !== undefined && this.applies(this.permanent, method, reused)) return this.permanent;
    const index = this.queue.findIndex(
      (q) => (q.method === undefined || q.method === method) && this.applies(q.fault, method, reused),
    );
    return index < 0 ? undefined : this.queue.splice(index, 1)[0].fault;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const socket = req.socket;
    const before = this.served.get(socket) ?? 0;
    this.served.set(socket, before + 1);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);

    const route = ROUTE.exec(req.url ?? '');
    if (req.method !== 'POST' || !route) {
      return this.json(res, 404, googleError(404, 'NOT_FOUND', `fake front: no method at ${req.method} ${req.url}`));
    }
    const method = route[2] as DatastoreMethod;
    const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (token === undefined || !this.options.checkToken(token)) {
      this.unauthorised++;
      const message =
        'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other ' +
        'valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.';
      res.setHeader('WWW-Authenticate', 'Bearer realm="https://accounts.google.com/"');
      return this.json(res, 401, googleError(401, 'UNAUTHENTICATED', message));
    }
    this.calls[method]++;

    const fault = this.takeFault(method, before > 0);
    switch (fault) {
      case 'reset-reused':
        return void socket.destroy();
      case 'no-answer':
        return; // held: close() destroys the socket
      case 'unavailable':
      case 'internal':
      case 'deadline-exceeded': {
        const [status, name, message] = GOOGLE_ERRORS[fault];
        return this.json(res, status, googleError(status, name, message));
      }
      case 'bare-502':
      case 'bare-503':
      case 'bare-504': {
        const status = Number(fault.slice(5)) as 502 | 503 | 504;
        res.writeHead(status, { 'Content-Type': 'text/html; charset=UTF-8' });
        return void res.end(barePage(status));
      }
      case 'permission-denied': {
        const project = route[1];
        const name = firstName(JSON.parse(body.toString() || '{}')) ?? '';
        const message =
          `Cloud Datastore API has not been used in project ${project} before or it is disabled, ` +
          `so the request for "${name}" was refused. Enable it, then retry.`;
        const details = [
          {
            '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
            reason: 'SERVICE_DISABLED',
            domain: 'googleapis.com',
            metadata: { service: 'datastore.googleapis.com' },
          },
        ];
        return this.json(res, 403, googleError(403, 'PERMISSION_DENIED', message, details));
      }
      case undefined:
      case 'deferred':
      case 'no-partition':
        break;
    }

    let answer: { status: number; text: string };
    try {
      answer = await this.forward(req.url!, body);
    } catch (error) {
      return this.json(res, 503, googleError(503, 'UNAVAILABLE', `fake front: emulator: ${(error as Error).message}`));
    }
    if (answer.status !== 200 || fault === undefined) return this.json(res, answer.status, answer.text);
    const parsed = JSON.parse(answer.text) as Record<string, unknown>;
    if (fault === 'deferred') {
      const keys = [...((parsed.found as unknown[]) ?? []), ...((parsed.missing as unknown[]) ?? [])].map(
        (result) => (result as { entity: { key: unknown } }).entity.key,
      );
      delete parsed.found;
      delete parsed.missing;
      parsed.deferred = [...((parsed.deferred as unknown[]) ?? []), ...keys];
    } else {
      stripPartitions(parsed.found);
      stripPartitions(parsed.missing);
      stripPartitions((parsed.batch as { entityResults?: unknown } | undefined)?.entityResults);
    }
    return this.json(res, 200, JSON.stringify(parsed));
  }

  private forward(path: string, body: Buffer): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const request = http.request(
        {
          ...this.emulator,
          path,
          method: 'POST',
          agent: this.agent,
          headers: { 'Content-Type': 'application/json', 'Content-Length': body.length },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () =>
            resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString() }),
          );
          response.on('error', reject);
        },
      );
      request.on('error', reject);
      request.end(body);
    });
  }

  private json(res: http.ServerResponse, status: number, text: string): void {
    res.writeHead(status, { 'Content-Type': 'application/json; charset=UTF-8' }).end(text);
  }
}

/** Starts the HTTPS front on 127.0.0.1 (a free port). Call `close()` when done. */
export async function startDatastoreFront(options: DatastoreFrontOptions): Promise<DatastoreFront> {
  const { key, cert } = testCertificates();
  // Keep-alive longer than any client's idle time, so that clients reuse sockets (as they do
  // with Google's front end) and a reset on reuse is ours, never Node's idle close.
  const server = https.createServer({ key, cert, keepAliveTimeout: 60_000 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return new Front(server, `127.0.0.1:${port}`, options);
}
