/**
 * A TCP forwarder on loopback in front of the Datastore emulator, for tests that need the
 * local stack caught mid-start or its Datastore gone: while held it lets through only the
 * emulator's readiness probe (`GET /`) and keeps every other connection waiting, unread; once
 * released it forwards everything; once cut it refuses connections and drops those it had.
 */
import { connect, createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface GatedForwarder {
  /** host:port to give the local stack as DATASTORE_EMULATOR_HOST. */
  readonly host: string;
  /** Connections waiting while held. */
  waiting(): number;
  /** Forwards the waiting connections and every later one. */
  release(): void;
  /** Datastore gone: every connection dropped, new ones refused. */
  cut(): Promise<void>;
}

export async function gatedForwarder(upstream: string): Promise<GatedForwarder> {
  const [upstreamHost, upstreamPort] = [upstream.slice(0, upstream.lastIndexOf(':')), upstream.split(':').pop()];
  const sockets = new Set<Socket>();
  const waiting: Array<() => void> = [];
  let held = true;

  const forward = (client: Socket, first: Buffer): void => {
    const server = connect(Number(upstreamPort), upstreamHost);
    sockets.add(server);
    server.on('close', () => sockets.delete(server));
    server.on('error', () => client.destroy());
    client.on('error', () => server.destroy());
    server.write(first);
    client.pipe(server);
    server.pipe(client);
  };

  const listener = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    client.once('data', (first: Buffer) => {
      // Paused, so nothing more is read (and lost) before it is piped on.
      client.pause();
      const probe = first.toString('latin1').startsWith('GET / ');
      if (!held || probe) forward(client, first);
      else waiting.push(() => forward(client, first));
    });
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', () => resolve()));
  const { port } = listener.address() as AddressInfo;

  return {
    host: `127.0.0.1:${port}`,
    waiting: () => waiting.length,
    release: () => {
      held = false;
      for (const go of waiting.splice(0)) go();
    },
    cut: async () => {
      const closed = new Promise<void>((resolve) => listener.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
