/**
 * What the emulator itself does over each transport: lookups of one key per second at the
 * benchmark's concurrency, and its own CPU per lookup, over Datastore's REST API (what the
 * exchange uses) and over gRPC (what the floor's client library uses), interleaved. On this
 * machine the emulator's CPU comes out of the same two cores as the servers', so a transport
 * that costs it more per call lowers the rate any server behind it can reach.
 */
import { v1 } from '@google-cloud/datastore';
import { grpc } from 'google-gax';
import { datastoreRest } from '../../../shared/exchange/datastoreRest';
import { splitHostPort } from '../../../shared/platform/hostPort';

export interface TransportFigures {
  readonly restLookupsPerSec: number;
  readonly grpcLookupsPerSec: number;
  /** NaN when the emulator's CPU is unknown (a reused emulator). */
  readonly restEmulatorCpuMsPerLookup: number;
  readonly grpcEmulatorCpuMsPerLookup: number;
}

interface Rate {
  readonly lookups: number;
  readonly seconds: number;
  readonly emulatorCpuMs: number;
}

async function rate(
  connections: number,
  ms: number,
  lookup: () => Promise<unknown>,
  emulatorCpuMs: () => number,
): Promise<Rate> {
  let done = 0;
  const end = performance.now() + ms;
  const started = performance.now();
  const cpuBefore = emulatorCpuMs();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < end) {
        await lookup();
        done += 1;
      }
    }),
  );
  return { lookups: done, seconds: (performance.now() - started) / 1000, emulatorCpuMs: emulatorCpuMs() - cpuBefore };
}

export async function measureEmulatorTransports(
  emulatorHost: string,
  projectId: string,
  key: { namespace: string; path: string[] },
  connections: number,
  emulatorCpuMs: () => number,
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
  // The exchange's own REST call (datastoreRest.ts), so the emulator sees exactly what ours sends.
  const transport = datastoreRest({ projectId, emulatorHost, timeoutMs: 10_000 });
  const rest = async (): Promise<void> => {
    const answer = await transport.lookup([key]);
    if (!answer.ok) throw new Error(`REST lookup failed: ${answer.status} ${answer.message}`);
  };
  const client = new v1.DatastoreClient({
    projectId,
    servicePath: host,
    port,
    sslCreds: grpc.credentials.createInsecure(),
    universeDomain: 'googleapis.com',
  });
  const rpc = (): Promise<unknown> => client.lookup({ projectId, keys }, { retry: null });
  await Promise.all([rest(), rpc()]);
  const restRates: Rate[] = [];
  const grpcRates: Rate[] = [];
  for (let i = 0; i < 2; i++) {
    restRates.push(await rate(connections, 2000, rest, emulatorCpuMs));
    grpcRates.push(await rate(connections, 2000, rpc, emulatorCpuMs));
  }
  await client.close();
  const sum = (rates: Rate[], figure: keyof Rate): number => rates.reduce((total, r) => total + r[figure], 0);
  return {
    restLookupsPerSec: sum(restRates, 'lookups') / sum(restRates, 'seconds'),
    grpcLookupsPerSec: sum(grpcRates, 'lookups') / sum(grpcRates, 'seconds'),
    restEmulatorCpuMsPerLookup: sum(restRates, 'emulatorCpuMs') / sum(restRates, 'lookups'),
    grpcEmulatorCpuMsPerLookup: sum(grpcRates, 'emulatorCpuMs') / sum(grpcRates, 'lookups'),
  };
}
