/**
 * HTTP glue shared by the functions: problem responses (RFC 9457), the request guards of
 * the exchange contract, and reading the API key from a request. The rules of what a key
 * is and whether it is good live elsewhere; this module only moves bytes.
 */
import type { Request, Response } from '@google-cloud/functions-framework';

export const MAX_BODY_BYTES = 8 * 1024;

export type ProblemCode =
  | 'invalid-request'
  | 'invalid-api-key'
  | 'method-not-allowed'
  | 'body-too-large'
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

export function sendProblem(res: Response, problem: Problem): void {
  res.status(problem.status);
  res.set({
    'Content-Type': 'application/problem+json',
    'Cache-Control': 'no-store',
    ...problem.headers,
  });
  res.send(
    JSON.stringify({ type: PROBLEM_TYPE_BASE + problem.code, title: problem.title, status: problem.status, detail: problem.detail }),
  );
}

/** The one answer for every bad-key reason, so it reveals nothing about which part was wrong. */
export const INVALID_API_KEY: Problem = {
  status: 401,
  code: 'invalid-api-key',
  title: 'Invalid API key',
  detail: 'The API key is not valid.',
  headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
};

export function badRequest(detail: string): Problem {
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
 * The raw request body, whatever its content type: the Go service decoded JSON regardless
 * of Content-Type (curl's -d sends a form type), and so do we. functions-framework has
 * usually read and kept it already; without a Content-Type it has not, and we read it here.
 */
export async function readBody(req: Request): Promise<BodyRead> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) return { ok: false, problem: BODY_TOO_LARGE };
  let body: Buffer;
  if (Buffer.isBuffer(req.rawBody)) body = req.rawBody;
  else if (req.readable && !req.readableEnded) {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        // Stop reading; the rest is not worth receiving, so the connection closes after the answer.
        req.res?.set('Connection', 'close');
        return { ok: false, problem: BODY_TOO_LARGE };
      }
      chunks.push(chunk);
    }
    body = Buffer.concat(chunks);
  } else body = Buffer.alloc(0);
  if (body.length > MAX_BODY_BYTES) return { ok: false, problem: BODY_TOO_LARGE };
  return { ok: true, body };
}

const BEARER = /^Bearer[ ]+([^\s]+)[ ]*$/i;

export type KeyRead = { readonly ok: true; readonly apiKey: string } | { readonly ok: false; readonly problem: Problem };

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
      if (typeof apiKey !== 'string' || apiKey === '') return { ok: false, problem: badRequest('"api_key" must be a non-empty string.') };
      return { ok: true, apiKey };
    }
  }
  const authorization = req.headers.authorization;
  if (authorization !== undefined) {
    const match = BEARER.exec(authorization);
    if (!match) return { ok: false, problem: badRequest('The Authorization header must be "Bearer <API key>".') };
    return { ok: true, apiKey: match[1] as string };
  }
  return { ok: false, problem: badRequest('No API key: send {"api_key": "..."} as the JSON body, or an Authorization: Bearer header.') };
}
