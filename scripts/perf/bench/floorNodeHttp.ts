/** The floor (floor.ts) served by bare node:http on PORT, without any framework. */
import { createServer } from 'node:http';
import { createFloorExchange } from './floor';

const exchange = createFloorExchange();

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    Promise.resolve(Buffer.concat(chunks))
      .then((raw) => exchange(JSON.parse(raw.toString('utf8')) as { api_key?: unknown }))
      .then(
        ({ status, body }) => {
          res.writeHead(status, {
            'Content-Type': 'application/json',
            'Cache-Control': 'no-store',
            'Content-Length': Buffer.byteLength(body),
          });
          res.end(body);
        },
        () => {
          res.writeHead(500).end();
        },
      );
  });
});
server.listen(Number(process.env.PORT), '127.0.0.1');

// Exit cleanly on SIGTERM, so that --cpu-prof writes its profile.
process.on('SIGTERM', () => process.exit(0));
