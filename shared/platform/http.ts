/**
 * HTTP glue shared by the functions: problem responses (RFC 9457), the request guards of
 * the exchange contract, and reading the API key from a request. The rules of what a key
 * is and whether it is good live elsewhere; this module only moves bytes.
 */
import type { Request, Response } from '@google-cloud/functions-framework';
import type { ServerResponse } from 'node:http';

export const MAX_BODY_BYTES = 8 * 1024;

export type ProblemCode =
  | 'invalid-request'
  | 'invalid-api-key'
  | 'method-not-allowed'
  | 'body-too-large'
  | 'unsupported-media-type'
  | 'too-many-attempts'
  | 'unavailable';

export interface Problem {
  readonly status: number;
  readonly code: ProblemCode;
  readonly title: string;
  readonly detail: string;
  readonly headers?: Readonly<Record<string, string>>;
}

const PROBLEM_TYPE_BASE = 'tag:measurementlab.net,2026:token-exchange/';

function problemBody(problem: Problem): string {
  return JSON.stringify({
    type: PROBLEM_TYPE_BASE + problem.code,
    title: problem.title,
    status: problem.status,
    detail: problem.detail,
  });
}

export function sendProblem(res: Response, problem: Problem): void {
  res.status(problem.status);
  res.set({
    'Content-Type': 'application/problem+json',
    'Cache-Control': 'no-store',
    ...problem.headers,
  });
  res.send(problemBody(problem));
}

/**
 * The same answer on a bare Node response, for the body guard, which answers before
 * Express exists for the request. Headers and body match sendProblem's byte for byte.
 */
export function writeProblem(
  res: ServerResponse,
  problem: Problem,
  extraHeaders: Readonly<Record<string, string>> = {},
): void {
  const body = problemBody(problem);
  res.writeHead(problem.status, {
    'Content-Type': 'application/problem+json; charset=utf-8',
    'Cache-Control': 'no-store',
    'Content-Length': String(Buffer.byteLength(body)),
    ...problem.headers,
    ...extraHeaders,
  });
  res.end(body);
}

/** The one answer for every bad-key reason, so it reveals nothing about which part was wrong. */
export const INVALID_API_KEY: Problem = {
  status: 401,
  code: 'invalid-api-key',
  title: 'Invalid API key',
  detail: 'The API key is not valid.',
  headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
};

function badRequest(detail: string): Problem {
  return { status: 400, code: 'invalid-request', title: 'Invalid request', detail };
}

export function methodNotAllowed(allow: readonly string[]): Problem {
  return {
    status: 405,
    code: 'method-not-allowed',
    title: 'Method not allowed',
    detail: `Use ${allow.join(' or ')}.`,
    headers: { Allow: allow.join(', ') },
  };
}

export const BODY_TOO_LARGE: Problem = {
  status: 413,
  code: 'body-too-large',
  title: 'Request body too large',
  detail: `The request body must be at most ${MAX_BODY_BYTES} bytes.`,
};

export const UNSUPPORTED_ENCODING: Problem = {
  status: 415,
  code: 'unsupported-media-type',
  title: 'Unsupported content encoding',
  detail: 'Send the request body without Content-Encoding (identity).',
  headers: { 'Accept-Encoding': 'identity' },
};

const UNSUPPORTED_CHARSET: Problem = {
  status: 415,
  code: 'unsupported-media-type',
  title: 'Unsupported charset',
  detail: 'Send the request body as UTF-8.',
};

export const BODY_UNREADABLE: Problem = badRequest('The request body could not be read.');

export function tooManyAttempts(retryAfterSeconds: number): Problem {
  return {
    status: 429,
    code: 'too-many-attempts',
    title: 'Too many attempts',
    detail: 'Too many failed attempts for this API key; try again later.',
    headers: { 'Retry-After': String(retryAfterSeconds) },
  };
}

export function unavailable(detail: string, retryAfterSeconds = 1): Problem {
  return {
    status: 503,
    code: 'unavailable',
    title: 'Service unavailable',
    detail,
    headers: { 'Retry-After': String(retryAfterSeconds) },
  };
}

export type BodyRead = { readonly ok: true; readonly body: Buffer } | { readonly ok: false; readonly problem: Problem };

/**
 * Charsets whose bytes read as UTF-8 for every body we accept: the key and JSON's syntax
 * are ASCII, so an ASCII-compatible label changes nothing. Any other declared charset
 * (UTF-16, UTF-7, EBCDIC…) would be misread, so it is refused (415) rather than guessed.
 */
const READABLE_CHARSETS = new Set(['utf-8', 'utf8', 'us-ascii', 'ascii', 'iso-8859-1', 'latin1']);

function declaredCharset(contentType: string | undefined): string | undefined {
  if (contentType === undefined) return undefined;
  const match = /;\s*charset\s*=\s*(?:"([^"]*)"|([^;\s]*))/i.exec(contentType);
  if (!match) return undefined;
  return (match[1] ?? match[2] ?? '').toLowerCase();
}

/**
 * The raw request body, whatever its content type: the Go service decoded JSON regardless
 * of Content-Type (curl's -d sends a form type), and so do we. The body guard
 * (bodyGuard.ts) has read it already, within MAX_BODY_BYTES, and kept it as req.rawBody;
 * without the guard (a handler called on its own) it is read here, within the same limit.
 */
export async function readBody(req: Request): Promise<BodyRead> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) return { ok: false, problem: BODY_TOO_LARGE };
  const charset = declaredCharset(req.headers['content-type']);
  if (charset !== undefined && !READABLE_CHARSETS.has(charset)) return { ok: false, problem: UNSUPPORTED_CHARSET };
  let body: Buffer;
  if (Buffer.isBuffer(req.rawBody)) body = req.rawBody;
  else if (req.readable && !req.readableEnded) {
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of req as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) {
          // Stop reading; the rest is not worth receiving, so the connection closes after the answer.
          req.res?.set('Connection', 'close');
          return { ok: false, problem: BODY_TOO_LARGE };
        }
        chunks.push(chunk);
      }
    } catch {
      // The client hung up mid-body, or sent a malformed chunk.
      return { ok: false, problem: BODY_UNREADABLE };
    }
    body = Buffer.concat(chunks);
  } else body = Buffer.alloc(0);
  if (body.length > MAX_BODY_BYTES) return { ok: false, problem: BODY_TOO_LARGE };
  return { ok: true, body };
}

const BEARER = /^Bearer[ ]+([^\s]+)[ ]*$/i;

export type KeyRead =
  { readonly ok: true; readonly apiKey: string } | { readonly ok: false; readonly problem: Problem };

/**
 * The API key of an exchange request: `{"api_key": "..."}` in the body, else
 * `Authorization: Bearer <key>`. A key in the URL is refused: URLs end up in logs.
 */
export function readApiKey(req: Request, body: Buffer): KeyRead {
  const query = req.url.indexOf('?');
  if (query !== -1 && /(^|&)(api_key|apikey|key|token)=/i.test(req.url.slice(query + 1))) {
    return { ok: false, problem: badRequest('Send the API key in the request body, not in the URL.') };
  }
  const text = body.toString('utf8').trim();
  if (text !== '') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return { ok: false, problem: badRequest('The body must be a JSON object: {"api_key": "..."}.') };
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      return { ok: false, problem: badRequest('The body must be a JSON object: {"api_key": "..."}.') };
    }
    const apiKey: unknown = (parsed as Record<string, unknown>).api_key;
    if (apiKey !== undefined) {
      if (typeof apiKey !== 'string' || apiKey === '')
        return { ok: false, problem: badRequest('"api_key" must be a non-empty string.') };
      return { ok: true, apiKey };
    }
  }
  const authorization = req.headers.authorization;
  if (authorization !== undefined) {
    const match = BEARER.exec(authorization);
    if (!match) return { ok: false, problem: badRequest('The Authorization header must be "Bearer <API key>".') };
    return { ok: true, apiKey: match[1] };
  }
  return {
    ok: false,
    problem: badRequest('No API key: send {"api_key": "..."} as the JSON body, or an Authorization: Bearer header.'),
  };
}
