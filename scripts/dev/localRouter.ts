/**
 * The local stack's one port: each function under its own name, as Cloud Functions serves
 * them, and at the Go service's paths, so clients written for either work unchanged.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { FUNCTIONS, FUNCTION_NAMES, type FunctionName } from '../../shared/platform/functions';

/** Each function by its own name (`/exchangeIntegration`), then each at the Go service's path. */
const ROUTES: Readonly<Record<string, FunctionName>> = Object.fromEntries([
  ...FUNCTION_NAMES.map((name) => [`/${name}`, name] as const),
  ...FUNCTION_NAMES.map((name) => [FUNCTIONS[name].goServicePath, name] as const),
]);

function send(
  res: ServerResponse,
  status: number,
  body: object,
  type = 'application/json',
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

function problem(
  res: ServerResponse,
  status: number,
  title: string,
  detail: string,
  headers: Record<string, string> = {},
): void {
  send(res, status, { type: 'about:blank', title, status, detail }, 'application/problem+json', headers);
}

// The 404 names the paths there are, never the one asked for: a key pasted into a URL
// would otherwise come back in the answer (and in whatever logs the answer).
const NOT_FOUND_DETAIL = `No function at this path; try ${Object.keys(ROUTES).join(', ')} or /health.`;

export function createRouter(functions: Readonly<Record<FunctionName, RequestListener>>): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    const target = ROUTES[path];
    if (target !== undefined) {
      functions[target](req, res);
      return;
    }
    if (path === '/health') {
      if (req.method === 'GET' || req.method === 'HEAD') send(res, 200, { status: 'ok' });
      else problem(res, 405, 'Method not allowed', '/health answers GET and HEAD.', { Allow: 'GET, HEAD' });
      return;
    }
    problem(res, 404, 'Not found', NOT_FOUND_DETAIL);
  };
}

/** What the one port answers while the emulator and the functions are still being set up. */
export const starting: RequestListener = (_req, res) => {
  problem(res, 503, 'Starting', 'The local stack is still starting; try again in a few seconds.', {
    'Retry-After': '2',
  });
};
