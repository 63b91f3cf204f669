/**
 * The REST transport's answers against a stand-in server on loopback: what a refusal carries
 * to the log, an answer that is not JSON or of an unexpected shape, deferred keys asked again,
 * and an outage as a value.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { datastoreRest } from '../../../shared/exchange/datastoreRest';

const FLAT_KEY = 'aFlatGoMadeKeyThatIsAlsoAnEntityName0123456789';
let server: Server;
const asked: number[] = [];
let host: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    if (req.url?.startsWith('/v1/projects/deferring:')) {
      // Defers every key of the first ask, answers the second: the keys asked are echoed back.
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const { keys } = JSON.parse(Buffer.concat(chunks).toString()) as { keys: unknown[] };
        asked.push(keys.length);
        res.writeHead(200, { 'Content-Type': 'application/json' });
        const body =
          asked.length % 2 === 1
            ? { deferred: keys }
            : { found: [{ entity: { key: keys[0], properties: { status: { stringValue: 'active' } } } }] };
        res.end(JSON.stringify(body));
      });
      return;
    }
    if (req.url?.startsWith('/v1/projects/shapeless:')) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ found: [{ entity: { key: 'APIKey/not-a-key-object' } }] }));
      return;
    }
    if (req.url?.startsWith('/v1/projects/garbled:')) {
      // A whole answer that is not JSON: JSON.parse's message would quote the text around the fault.
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(`{"found": [APIKey/${FLAT_KEY}]}`);
      return;
    }
    res.writeHead(400, { 'Content-Type': 'application/json' });
    // Datastore's error text can quote the key path, which for a flat key is the key itself.
    res.end(
      JSON.stringify({ error: { code: 400, status: 'INVALID_ARGUMENT', message: `bad key APIKey/${FLAT_KEY}` } }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('datastoreRest', () => {
  it("answers a refusal with Datastore's status, never its text (which may quote a key)", async () => {
    const rest = datastoreRest({ projectId: 'p', emulatorHost: host, timeoutMs: 2000 });
    const result = await rest.lookup([{ namespace: 'pc', path: ['Organization', 'o', 'APIKey', FLAT_KEY] }]);
    expect(result).toEqual({ ok: false, status: 'INVALID_ARGUMENT', message: 'HTTP 400', reasons: [] });
  });

  it('answers an unreadable answer as UNAVAILABLE, without quoting it', async () => {
    const rest = datastoreRest({ projectId: 'garbled', emulatorHost: host, timeoutMs: 2000 });
    const result = await rest.lookup([{ namespace: 'pc', path: ['Organization', 'o', 'APIKey', FLAT_KEY] }]);
    expect(result).toEqual({ ok: false, status: 'UNAVAILABLE', message: 'unreadable answer', reasons: [] });
  });

  it("asks deferred keys again within the deadline, as Google's client does", async () => {
    asked.length = 0;
    const rest = datastoreRest({ projectId: 'deferring', emulatorHost: host, timeoutMs: 2000 });
    const result = await rest.lookup([{ namespace: 'pc', path: ['Organization', 'o', 'APIKey', 'ki_1'] }]);
    expect(asked).toEqual([1, 1]);
    expect(result).toMatchObject({
      ok: true,
      body: { found: [{ entity: { properties: { status: { stringValue: 'active' } } } }] },
    });
    expect(result.ok && result.body.deferred).toBeFalsy();
  });

  it('answers an answer of an unexpected shape as UNAVAILABLE, never a throw', async () => {
    const rest = datastoreRest({ projectId: 'shapeless', emulatorHost: host, timeoutMs: 2000 });
    const result = await rest.lookup([{ namespace: 'pc', path: ['Organization', 'o', 'APIKey', 'ki_1'] }]);
    expect(result).toEqual({ ok: false, status: 'UNAVAILABLE', message: 'answer of an unexpected shape', reasons: [] });
  });

  it('answers no server as UNAVAILABLE, a value rather than an exception', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const rest = datastoreRest({ projectId: 'p', emulatorHost: `127.0.0.1:${port}`, timeoutMs: 2000 });
    expect(await rest.lookup([{ path: ['K', 'n'] }])).toMatchObject({ ok: false, status: 'UNAVAILABLE' });
  });
});
