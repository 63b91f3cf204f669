/**
 * The local stack's one port: each function under its own name, as Cloud Functions serves
 * them, and at the Go service's paths, so clients written for either work unchanged.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';

export type FunctionName = 'exchangeIntegration' | 'exchangeAutojoin' | 'jwks';

export const ROUTES: Readonly<Record<string, FunctionName>> = {
  '/exchangeIntegration': 'exchangeIntegration',
  '/exchangeAutojoin': 'exchangeAutojoin',
  '/jwks': 'jwks',
  '/v0/token/integration': 'exchangeIntegration',
  '/v0/token/autojoin': 'exchangeAutojoin',
  '/.well-known/jwks.json': 'jwks',
};

function send(res: ServerResponse, status: number, body: object, type = 'application/json'): void {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
  res.end(JSON.stringify(body));
}

export function createRouter(functions: Readonly<Record<FunctionName, RequestListener>>): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0] as string;
    const target = ROUTES[path];
    if (target !== undefined) {
      functions[target](req, res);
      return;
    }
    if (path === '/health' && (req.method === 'GET' || req.method === 'HEAD')) {
      send(res, 200, { status: 'ok' });
      return;
    }
    send(
      res,
      404,
      { type: 'about:blank', title: 'Not found', status: 404, detail: `No function at ${path.slice(0, 100)}; try ${Object.keys(ROUTES).join(', ')} or /health.` },
      'application/problem+json',
    );
  };
}
