/**
 * The benchmark's server processes: each in a process group of its own (so stopping it
 * stops everything it started), stdout drained through a pipe that is read and discarded
 * (as Cloud Run's log agent reads the container's stdout; only its size is counted),
 * stderr kept for error messages.
 */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { cpuMs } from '../coldStart';

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
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), ...options.args], {
    cwd: options.cwd,
    env: options.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let bytes = 0;
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (bytes += chunk.length));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    if (stderr.length < 50_000) stderr += chunk;
  });
  let exited: string | undefined;
  const gone = new Promise<void>((done) => {
    child.once('exit', (code, signal) => {
      exited = signal ? `signal ${signal}` : `exit code ${code}`;
      done();
    });
    child.once('error', (error) => {
      exited = `spawn error: ${error.message}`;
      done();
    });
  });
  const signalGroup = (signal: NodeJS.Signals): void => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  };
  return {
    name: options.name,
    pid: child.pid as number,
    port: options.port,
    url: `http://127.0.0.1:${options.port}/`,
    stdoutBytes: () => bytes,
    stderr: () => stderr,
    exited: () => exited,
    cpuMs: () => cpuMs(child.pid as number) ?? Number.NaN,
    async stop() {
      if (exited !== undefined) return;
      signalGroup('SIGTERM');
      // --cpu-prof writes its profile on the way out: give it a moment before SIGKILL.
      const timer = setTimeout(() => signalGroup('SIGKILL'), 5000);
      await gone;
      clearTimeout(timer);
      signalGroup('SIGKILL'); // anything the server left behind in its group
    },
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
