/**
 * The benchmark's server processes: each in a process group of its own (so stopping it
 * stops everything it started), stdout drained through a pipe that is read and discarded
 * (as Cloud Run's log agent reads the container's stdout; only its size is counted),
 * stderr kept for error messages.
 */
import { connect } from 'node:net';
import { cpuMs } from '../coldStart';
import { spawnGroup } from '../../dev/processGroup';

export interface ServerOptions {
  readonly name: string;
  /** node options (e.g. --cpu-prof) */
  readonly nodeArgs?: readonly string[];
  /** The script and its arguments. */
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly port: number;
}

export interface ServerProcess {
  readonly name: string;
  readonly pid: number;
  readonly url: string;
  readonly port: number;
  /** Bytes the server wrote on stdout so far (ours: one JSON log line per request). */
  stdoutBytes(): number;
  stderr(): string;
  exited(): string | undefined;
  /** CPU ms (user + system) the process has used; 10 ms ticks. */
  cpuMs(): number;
  stop(): Promise<void>;
}

export function startServer(options: ServerOptions): ServerProcess {
  let bytes = 0;
  const group = spawnGroup(process.execPath, [...(options.nodeArgs ?? []), ...options.args], {
    cwd: options.cwd,
    env: options.env,
    onStdout: (chunk) => (bytes += chunk.length),
    stderrLimit: 50_000,
  });
  return {
    name: options.name,
    pid: group.pid,
    port: options.port,
    url: `http://127.0.0.1:${options.port}/`,
    stdoutBytes: () => bytes,
    stderr: () => group.stderr(),
    exited: () => group.exited(),
    cpuMs: () => cpuMs(group.pid) ?? Number.NaN,
    // --cpu-prof writes its profile on the way out: give it a moment before SIGKILL.
    stop: () => group.stop(5000),
  };
}

/** Waits until the server accepts TCP connections (no HTTP request: the floor answers only exchanges). */
export async function waitForPort(server: ServerProcess, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const ended = server.exited();
    if (ended !== undefined) throw new Error(`${server.name} ended (${ended}) before listening:\n${server.stderr()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(server.port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`${server.name} did not listen on ${server.port} within ${timeoutMs} ms:\n${server.stderr()}`);
}
