/** The local stack's one port: routes, /health, and answers that never echo the path. */
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRouter, starting } from '../../../scripts/dev/localRouter';
import type { FunctionName } from '../../../shared/platform/functions';

let server: Server;
let base: string;

function answer(name: FunctionName): RequestListener {
  return (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(name);
  };
}

function serve(listener: RequestListener): Promise<void> {
  server = createServer(listener);
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      resolve();
    }),
  );
}

afterEach(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('createRouter', () => {
  beforeEach(() =>
    serve(
      createRouter({
        exchangeIntegration: answer('exchangeIntegration'),
        exchangeAutojoin: answer('exchangeAutojoin'),
        jwks: answer('jwks'),
      }),
    ),
  );

  it.each([
    ['/exchangeIntegration', 'exchangeIntegration'],
    ['/v0/token/integration', 'exchangeIntegration'],
    ['/exchangeAutojoin', 'exchangeAutojoin'],
    ['/v0/token/autojoin', 'exchangeAutojoin'],
    ['/jwks', 'jwks'],
    ['/.well-known/jwks.json', 'jwks'],
  ])('Route_%s_ReachesItsFunction', async (path, name) => {
    const response = await fetch(`${base}${path}?x=1`, { method: 'POST' });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe(name);
  });

  it('Health_Get_200', async () => {
    const response = await fetch(`${base}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it.each(['POST', 'PUT', 'DELETE'])('Health_%s_405WithAllow', async (method) => {
    const response = await fetch(`${base}/health`, { method });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, HEAD');
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(await response.json()).toMatchObject({ status: 405, title: 'Method not allowed' });
  });

  it('UnknownPath_404_NeverEchoesThePath', async () => {
    const key = 'mlabk.cii_demo-integration.ki_00000000000de301.s3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3cr3t0';
    const response = await fetch(`${base}/${key}?api_key=${key}`);
    expect(response.status).toBe(404);
    const text = await response.text();
    expect(text).not.toContain('s3cr3t');
    expect(text).not.toContain('mlabk');
    expect(JSON.parse(text)).toMatchObject({ status: 404, title: 'Not found' });
    expect(JSON.parse(text).detail).toContain('/v0/token/integration');
  });
});

describe('starting', () => {
  beforeEach(() => serve(starting));

  it('Starting_AnyRequest_503WithRetryAfter', async () => {
    const response = await fetch(`${base}/exchangeIntegration`, { method: 'POST' });
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('2');
  });
});
