/**
 * Google's REST APIs (Datastore, Secret Manager) as the functions call them: JSON over
 * HTTPS with node:https, owning what Google's client libraries would otherwise do for us.
 *
 * - One deadline per call, which includes getting the access token: a slow metadata server
 *   costs a request its deadline (503), never the function's own timeout.
 * - One retry, within what is left of that deadline, after a short jittered pause, on what
 *   Google documents as transient: UNAVAILABLE, INTERNAL, DEADLINE_EXCEEDED, a 502/503/504
 *   from a front end that carries no Google error body, and a reset or hang-up of a reused
 *   keep-alive socket (the server closed it while it sat idle; Node's http docs describe the
 *   race). Anything else is the caller's answer at once.
 * - UNAUTHENTICATED: the token may be refused before its advertised expiry, so it is
 *   dropped, a fresh one fetched and the call retried once.
 * - Keep-alive sockets are closed after FREE_SOCKET_MS idle, well before a front end would
 *   drop them; the retry covers a front end that drops them sooner.
 * - Failures are values with gRPC's status names, plus the `reason`s of Google's ErrorInfo
 *   details (SERVICE_DISABLED, ACCESS_TOKEN_SCOPE_INSUFFICIENT, …). Google's message text is
 *   never kept: it may quote a key path, and a Go-made flat key names its own entity.
 *
 * An emulator or local stand-in (`emulatorHost`) is plain HTTP without credentials.
 */
import http from 'node:http';
import https from 'node:https';
import { splitHostPort } from './hostPort';

export type GoogleFailure = {
  readonly ok: false;
  /** gRPC's status name (UNAVAILABLE, PERMISSION_DENIED, …), or HTTP_<n> when Google named none. */
  readonly status: string;
  /** Our own words, never Google's. */
  readonly message: string;
  /** `reason` of each ErrorInfo detail Google sent. */
  readonly reasons: readonly string[];
};

export type GoogleResult<T> = { readonly ok: true; readonly body: T } | GoogleFailure;

/** Where a call must be answered by: an absolute time on `Date.now()`'s clock. */
export interface Deadline {
  readonly at: number;
  readonly ms: number;
}

export function deadlineIn(ms: number): Deadline {
  return { at: Date.now() + ms, ms };
}

function leftOf(deadline: Deadline): number {
  return deadline.at - Date.now();
}

/** Access tokens for Google's APIs (accessTokens.ts). */
export interface AccessTokens {
  /** A token, or a thrown error once `timeoutMs` has passed without one. */
  token(timeoutMs: number): Promise<string>;
  /** The API refused `token`: the next `token()` gets a fresh one. */
  refused(token: string): void;
}

export interface GoogleApiOptions {
  /** `host[:port]` of the API over HTTPS, e.g. `datastore.googleapis.com`. */
  readonly endpoint: string;
  /** `host:port` of an emulator or stand-in: plain HTTP, no credentials; wins over `endpoint`. */
  readonly emulatorHost?: string | undefined;
  /** Required unless `emulatorHost` is set. */
  readonly tokens?: AccessTokens | undefined;
  /** A CA to trust instead of the system's (in-process tests; a process uses NODE_EXTRA_CA_CERTS). */
  readonly ca?: string | undefined;
}

export interface GoogleApi {
  /** GET (no body) or POST of JSON to `path` (`/v1/…`), answered by `deadline`. */
  call<T>(method: 'GET' | 'POST', path: string, body: object | undefined, deadline: Deadline): Promise<GoogleResult<T>>;
}

/** Idle keep-alive sockets are closed after this long (ms). */
const FREE_SOCKET_MS = 30_000;
/** The pause before the retry: a random time in this range (ms), cut to what the deadline leaves. */
const RETRY_PAUSE_MS = [20, 80] as const;
/** Below this much time left, a retry could not be answered anyway: the failure stands. */
const MIN_ATTEMPT_MS = 25;

const TRANSIENT = new Set(['UNAVAILABLE', 'INTERNAL', 'DEADLINE_EXCEEDED']);
/** Node's words for a socket the server closed under a request. */
const SOCKET_DROPPED = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

interface Answer {
  readonly status: number;
  readonly text: string;
}

class AttemptError extends Error {
  constructor(
    message: string,
    /** The request went out on a keep-alive socket that had served an earlier one, and the socket dropped. */
    readonly droppedReusedSocket: boolean,
    readonly timedOut: boolean,
  ) {
    super(message);
  }
}

function attempt(
  transport: typeof http | typeof https,
  agent: http.Agent,
  target: { host: string; port: number; path: string; method: string },
  headers: Record<string, string>,
  body: string | undefined,
  timeoutMs: number,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let timedOut = false;
    let settled = false;
    const fail = (error: NodeJS.ErrnoException): void => {
      if (settled) return;
      settled = true;
      reject(
        timedOut
          ? new AttemptError(`no answer within ${Math.round(timeoutMs)} ms`, false, true)
          : asAttemptError(error, request.reusedSocket),
      );
    };
    const request = transport.request({ ...target, agent, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        if (settled) return;
        settled = true;
        resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString() });
      });
      response.on('error', fail);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      request.destroy();
    }, timeoutMs);
    request.on('error', fail);
    // Whatever ended the exchange, the caller gets an answer: a close before the end is a failure.
    request.on('close', () => {
      clearTimeout(timer);
      fail(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    });
    request.end(body);
  });
}

function asAttemptError(error: NodeJS.ErrnoException, reusedSocket: boolean): AttemptError {
  const code = error.code ?? '';
  const dropped = SOCKET_DROPPED.has(code) || error.message === 'socket hang up';
  // The code names what failed (ECONNREFUSED, CERT_HAS_EXPIRED, …); the message may carry an address.
  return new AttemptError(code ? `connection failed: ${code}` : 'connection failed', dropped && reusedSocket, false);
}

interface GoogleErrorBody {
  readonly error?: {
    readonly status?: unknown;
    readonly details?: unknown;
  };
}

function reasonsOf(details: unknown): string[] {
  if (!Array.isArray(details)) return [];
  return details
    .map((detail: unknown) => (detail as { reason?: unknown } | null)?.reason)
    .filter((reason): reason is string => typeof reason === 'string' && /^[A-Z0-9_]{1,64}$/.test(reason));
}

/** A non-2xx answer as a failure: Google's status and reasons, or what the HTTP status says. */
function failureOf(answer: Answer): GoogleFailure & { readonly googleBody: boolean } {
  let error: GoogleErrorBody['error'];
  try {
    error = (JSON.parse(answer.text) as GoogleErrorBody).error;
  } catch {
    error = undefined;
  }
  const message = `HTTP ${answer.status}`;
  if (error && typeof error.status === 'string' && /^[A-Z_]{1,40}$/.test(error.status)) {
    return { ok: false, status: error.status, message, reasons: reasonsOf(error.details), googleBody: true };
  }
  // A front end's own page (502/503/504 from a proxy or load balancer): gRPC reads these as UNAVAILABLE.
  const bare = answer.status === 502 || answer.status === 503 || answer.status === 504;
  const status = bare ? 'UNAVAILABLE' : answer.status === 401 ? 'UNAUTHENTICATED' : `HTTP_${answer.status}`;
  return { ok: false, status, message, reasons: [], googleBody: false };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function jitteredPause(): number {
  const [low, high] = RETRY_PAUSE_MS;
  return low + Math.random() * (high - low);
}

function failed(status: string, message: string): GoogleFailure {
  return { ok: false, status, message, reasons: [] };
}

export function googleApi(options: GoogleApiOptions): GoogleApi {
  const emulator = options.emulatorHost ? splitHostPort(options.emulatorHost) : undefined;
  const transport = emulator ? http : https;
  const server = emulator ?? hostAndPort(options.endpoint);
  const agent = new transport.Agent({
    keepAlive: true,
    timeout: FREE_SOCKET_MS,
    ...(options.ca && !emulator ? { ca: options.ca } : {}),
  });
  const tokens = emulator ? undefined : options.tokens;
  if (!emulator && !tokens) throw new Error(`${options.endpoint}: access tokens are required over HTTPS`);

  return {
    async call<T>(method: 'GET' | 'POST', path: string, body: object | undefined, deadline: Deadline) {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      let transientRetryLeft = true;
      let authRetryLeft = true;
      for (;;) {
        const headers: Record<string, string> = { Accept: 'application/json' };
        if (payload !== undefined) {
          headers['Content-Type'] = 'application/json';
          headers['Content-Length'] = String(Buffer.byteLength(payload));
        }
        let token: string | undefined;
        if (tokens) {
          try {
            token = await tokens.token(Math.max(leftOf(deadline), 0));
          } catch (error) {
            // accessTokens.ts words its errors itself: no token, no address.
            return failed('UNAVAILABLE', `no access token: ${(error as Error).message}`);
          }
          headers.Authorization = `Bearer ${token}`;
        }
        const left = leftOf(deadline);
        if (left <= 0) return failed('DEADLINE_EXCEEDED', `no answer within ${deadline.ms} ms`);

        let failure: GoogleFailure;
        let transient: boolean;
        try {
          const answer = await attempt(transport, agent, { ...server, path, method }, headers, payload, left);
          if (answer.status >= 200 && answer.status < 300) {
            try {
              return { ok: true, body: JSON.parse(answer.text) as T };
            } catch {
              // JSON.parse's message may quote the text around the fault: entity names.
              return failed('UNAVAILABLE', 'unreadable answer');
            }
          }
          const refusal = failureOf(answer);
          if (refusal.status === 'UNAUTHENTICATED' && token !== undefined && authRetryLeft) {
            authRetryLeft = false;
            tokens?.refused(token);
            continue;
          }
          const { googleBody, ...rest } = refusal;
          failure = rest;
          transient = TRANSIENT.has(refusal.status) || (!googleBody && refusal.status === 'UNAVAILABLE');
        } catch (error) {
          const dropped = error instanceof AttemptError && error.droppedReusedSocket;
          const timedOut = error instanceof AttemptError && error.timedOut;
          failure = failed(timedOut ? 'DEADLINE_EXCEEDED' : 'UNAVAILABLE', (error as Error).message);
          transient = dropped;
        }
        if (!transient || !transientRetryLeft) return failure;
        transientRetryLeft = false;
        const pause = Math.min(jitteredPause(), leftOf(deadline) - MIN_ATTEMPT_MS);
        if (pause < 0) return failure;
        await sleep(pause);
      }
    },
  };
}

/** `host` or `host:port` (443 by default). */
function hostAndPort(endpoint: string): { host: string; port: number } {
  return /:\d+$/.test(endpoint) ? splitHostPort(endpoint) : { host: endpoint.replace(/^\[|\]$/g, ''), port: 443 };
}
