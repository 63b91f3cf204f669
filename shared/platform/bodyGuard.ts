/**
 * The request body, read at the Node HTTP layer before functions-framework's Express app
 * sees the request. The framework parses every body itself ahead of the function (JSON,
 * text, forms, raw; up to 1024 MB; inflating gzip, deflate and br on the way) and offers
 * no hook before its parsers, so one compressed megabyte could hold a gigabyte of an
 * instance's memory. It creates its server with `http.createServer(expressApp)` after it
 * has loaded the function module, so this module, loaded with the function, wraps that
 * call: every server whose request listener is an Express application gets a listener
 * that first
 *
 *   - refuses any Content-Encoding but identity (415) and a declared Content-Length over
 *     MAX_BODY_BYTES (413), without reading a byte of the body;
 *   - reads the body, at most MAX_BODY_BYTES of it (a chunked body past that: 413 at once);
 *   - hands Express the request with the body consumed and kept as `req.rawBody`. A
 *     finished request is one body-parser skips, so no framework parser ever runs, and
 *     our handlers own the parse (and its problem+json answers).
 *
 * This holds wherever the framework makes its server: the deployed bundle (its CLI with
 * --target), getTestServer in tests and in the local stack.
 */
import http, { type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import {
  BODY_TOO_LARGE,
  BODY_UNREADABLE,
  MAX_BODY_BYTES,
  UNSUPPORTED_ENCODING,
  writeProblem,
  type Problem,
} from './http';
import type { Logger } from './log';
import { requestRecorder, type RecordRequest } from './outcomes';

/** How long a refused request's connection is held open, unread, for its answer to arrive. */
const LINGER_MS = 2000;

/** Marks the patched createServer, so that loading this module twice wraps it once. */
const PATCHED = Symbol.for('token-exchange.bodyGuard');
/** Where the guard's log lines go: the latest install's logger (one per process in production). */
const LOGGER = Symbol.for('token-exchange.bodyGuard.log');

type Read =
  | { readonly ok: true; readonly body: Buffer }
  | { readonly ok: false; readonly problem: Problem; readonly reason: string };

/** A refusal from the headers alone, before any of the body is read. */
function headerRefusal(req: IncomingMessage): { problem: Problem; reason: string } | undefined {
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.trim() !== '' && encoding.trim().toLowerCase() !== 'identity') {
    return { problem: UNSUPPORTED_ENCODING, reason: 'content encoding' };
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES)
    return { problem: BODY_TOO_LARGE, reason: 'declared length' };
  return undefined;
}

function hasBody(req: IncomingMessage): boolean {
  return (
    req.headers['transfer-encoding'] !== undefined ||
    (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0')
  );
}

function readWithin(req: IncomingMessage, limit: number): Promise<Read> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (read: Read): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      resolve(read);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.pause();
        finish({ ok: false, problem: BODY_TOO_LARGE, reason: 'body length' });
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => finish({ ok: true, body: Buffer.concat(chunks, size) });
    // A client that hangs up mid-body, or a malformed chunk: Node's parser reports either here.
    const onError = (): void => finish({ ok: false, problem: BODY_UNREADABLE, reason: 'body not received' });
    const onClose = (): void => finish({ ok: false, problem: BODY_UNREADABLE, reason: 'connection closed mid-body' });
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/**
 * Answers a refused request and closes its connection without reading the rest of the
 * body. Node ends a `Connection: close` exchange with socket.destroySoon(), closing the
 * socket once the answer is written; with body bytes still arriving, the kernel then sends
 * a reset, which can reach the client before it has read the answer. So this socket only
 * half-closes (FIN after the answer), stays unread (the client stalls on TCP flow control)
 * and is destroyed when the client goes, or after LINGER_MS.
 */
function refuse(
  req: IncomingMessage,
  res: ServerResponse,
  problem: Problem,
  reason: string,
  record: RecordRequest,
): void {
  const socket = req.socket;
  req.on('error', () => undefined);
  req.pause();
  // Marks the body as being consumed, so Node does not drain (read and drop) the rest of it.
  req.read(0);
  if (socket !== null && !socket.destroyed && socket.writable && !res.headersSent) {
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    Object.defineProperty(socket, 'destroySoon', { value: () => socket.end(), configurable: true, writable: true });
    writeProblem(res, problem, { Connection: 'close' });
  }
  // FUNCTION_TARGET is unset outside Cloud Functions' way of starting: then no `function` field.
  record(problem.status, 'bad-request', { function: process.env.FUNCTION_TARGET, reason });
}

/** The listener in front of an Express app: the body within the limit, or an answer. */
function guardBody(app: RequestListener, log: Logger): RequestListener {
  return (req, res) => {
    const record = requestRecorder(log, process.env.FUNCTION_TARGET ?? 'request');
    const early = headerRefusal(req);
    if (early !== undefined) {
      refuse(req, res, early.problem, early.reason, record);
      return;
    }
    const request = req as IncomingMessage & { rawBody?: Buffer; body?: unknown };
    if (!hasBody(req)) {
      request.rawBody = Buffer.alloc(0);
      app(req, res);
      return;
    }
    void readWithin(req, MAX_BODY_BYTES).then((read) => {
      if (!read.ok) {
        refuse(req, res, read.problem, read.reason, record);
        return;
      }
      request.rawBody = read.body;
      request.body = read.body;
      app(req, res);
    });
  };
}

function isExpressApp(listener: unknown): listener is RequestListener {
  if (typeof listener !== 'function') return false;
  const app = listener as unknown as Record<string, unknown>;
  return typeof app.handle === 'function' && typeof app.set === 'function' && typeof app.settings === 'object';
}

type GuardedCreateServer = typeof http.createServer & { [PATCHED]?: true; [LOGGER]?: Logger };

/**
 * Guards the servers the framework will create from now on; idempotent. The patch is on the
 * process's one `http` module, which outlives any one copy of this module (jest loads a copy
 * per test file): a later install keeps the patch and points the log lines at its logger.
 */
export function installBodyGuard(log: Logger): void {
  const current = http.createServer as GuardedCreateServer;
  if (current[PATCHED]) {
    current[LOGGER] = log;
    return;
  }
  const createServer: GuardedCreateServer = (...args: unknown[]): Server => {
    const last = args.length - 1;
    const listener = args[last];
    if (!isExpressApp(listener)) return (current as (...a: unknown[]) => Server)(...args);
    const guarded = guardBody(listener, (entry) => (createServer[LOGGER] ?? log)(entry));
    args[last] = guarded;
    const server = (current as (...a: unknown[]) => Server)(...args);
    // `Expect: 100-continue`: refuse from the headers before inviting the body.
    server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
      if (headerRefusal(req) === undefined) res.writeContinue();
      guarded(req, res);
    });
    return server;
  };
  Object.defineProperty(createServer, PATCHED, { value: true });
  createServer[LOGGER] = log;
  http.createServer = createServer;
}
