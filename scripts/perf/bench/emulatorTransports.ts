/**
 * What the emulator itself serves over each transport: lookups per second of one key at the
 * benchmark's concurrency, over Datastore's REST API (what the exchange uses) and over gRPC
 * (what the floor's client library uses), interleaved. The emulator answers REST much more
 * slowly than gRPC, which caps "ours" below the floor on loopback whatever our own cost;
 * this puts that ceiling beside the phases, and the server CPU ms per request says the rest.
 */
import { v1 } from '@google-cloud/datastore';
import { grpc } from 'google-gax';
import { Agent, request } from 'node:http';
import { splitHostPort } from '../../../shared/platform/hostPort';

export interface TransportFigures {
  readonly restLookupsPerSec: number;
  readonly grpcLookupsPerSec: number;
}

async function rate(connections: number, ms: number, lookup: () => Promise<unknown>): Promise<number> {
  let done = 0;
  const end = performance.now() + ms;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < end) {
        await lookup();
        done += 1;
      }
    }),
  );
  return done / ((performance.now() - started) / 1000);
}

export async function measureEmulatorTransports(
  emulatorHost: string,
  projectId: string,
  key: { namespace: string; path: string[] },
  connections: number,
): Promise<TransportFigures> {
  const { host, port } = splitHostPort(emulatorHost);
  const keys = [
    {
      partitionId: { projectId, namespaceId: key.namespace },
      path: [
        { kind: key.path[0], name: key.path[1] },
        { kind: key.path[2], name: key.path[3] },
      ],
    },
  ];
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const body = JSON.stringify({ keys });
  const rest = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = request(
        {
          host,
          port,
          agent,
          method: 'POST',
          path: `/v1/projects/${projectId}:lookup`,
          headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
        },
        (res) => res.resume().once('end', resolve),
      );
      req.once('error', reject);
      req.end(body);
    });
  const client = new v1.DatastoreClient({
    projectId,
    servicePath: host,
    port,
    sslCreds: grpc.credentials.createInsecure(),
    universeDomain: 'googleapis.com',
  });
  const rpc = (): Promise<unknown> => client.lookup({ projectId, keys }, { retry: null });
  await Promise.all([rest(), rpc()]);
  const restRates: number[] = [];
  const grpcRates: number[] = [];
  for (let i = 0; i < 2; i++) {
    restRates.push(await rate(connections, 2000, rest));
    grpcRates.push(await rate(connections, 2000, rpc));
  }
  agent.destroy();
  await client.close();
  const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length;
  return { restLookupsPerSec: mean(restRates), grpcLookupsPerSec: mean(grpcRates) };
}
