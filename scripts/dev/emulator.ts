/**
 * Starts and stops the Cloud Datastore emulator that ships with the Google Cloud CLI.
 * Used by `npm start`, the test setup and the benchmark, so all three run Datastore
 * the same way.
 *
 * The gcloud wrapper starts a shell script that starts java: the emulator runs in a process
 * group of its own so that stopping it stops the java child too. Each emulator gets a fresh
 * data dir, or every emulator on the machine would share ~/.config/gcloud/emulators.
 *
 * The emulator is tied to our lifetime, however we end: the group is led by a small watchdog
 * (plain node, `WATCHDOG` below) that holds the read end of a pipe from us. When we exit —
 * cleanly, by a signal we never see (SIGKILL), or because a terminal closed — the kernel
 * closes our end, and the watchdog stops the whole group. Without it a java emulator outlived
 * every `npm start` that was not stopped by Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Emulator {
  /** host:port, the value for DATASTORE_EMULATOR_HOST. */
  readonly host: string;
  readonly projectId: string;
  /** The watchdog's pid, which is also the emulator's process group. */
  readonly pid: number;
  stop(): Promise<void>;
}

export interface EmulatorOptions {
  projectId?: string;
  /** Port on 127.0.0.1; a free one when omitted. */
  port?: number;
  /** How long to wait for the emulator to answer, in ms (default 60 000). */
  readyTimeoutMs?: number;
  /** Forward the emulator's own output (default: kept quiet, shown only if start-up fails). */
  verbose?: boolean;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

export async function isEmulatorReady(host: string, timeoutMs = 1000): Promise<boolean> {
  try {
    const response = await fetch(`http://${host}/`, { signal: AbortSignal.timeout(timeoutMs) });
    return response.ok && (await response.text()).trim() === 'Ok';
  } catch {
    return false;
  }
}

/**
 * The watchdog, run as `node -e WATCHDOG gcloud <args…>`: it is the leader of the group
 * that starts gcloud (which moves itself, its shell script and java into a group of its own:
 * the watchdog signals both groups). Stdin is a pipe from the process that
 * started it; when that pipe closes (an orderly stop, or that process died), it signals the
 * group SIGTERM, then SIGKILL once the wrapper is gone (java can outlive it) or after 5 s, and
 * removes the emulator's data dir (which its owner removes too, unless it died first).
 * It ignores SIGTERM/SIGINT/SIGHUP itself so that it is always the one that finishes the job.
 * Plain JavaScript with no imports, so it runs the same from dist/ and under jest.
 */
const WATCHDOG = `
const { spawn } = require('node:child_process');
const { rmSync } = require('node:fs');
const [command, ...args] = process.argv.slice(1);
// The emulator's data dir: removed here too, for when its owner died before it could.
const dataDir = (args.find((arg) => arg.startsWith('--data-dir=')) || '').slice('--data-dir='.length);
const removeDataDir = () => { if (dataDir) try { rmSync(dataDir, { recursive: true, force: true }); } catch {} };
let stopping = false;
let child;
// gcloud's python moves itself into a group of its own: signal that one and ours.
const group = (signal) => {
  for (const pgid of [child && child.pid, process.pid]) if (pgid) try { process.kill(-pgid, signal); } catch {}
};
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => undefined);
child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
child.on('error', (error) => {
  process.stderr.write('cannot run ' + command + ' (is it installed and on PATH?): ' + error.message + '\\n');
  process.exit(127);
});
child.on('exit', (code, signal) => {
  if (!stopping) process.stderr.write(command + ' exited with ' + (signal || code) + '\\n');
  try { process.kill(-child.pid, 'SIGKILL'); } catch {}
  removeDataDir();
  group('SIGKILL');
});
const stop = () => {
  if (stopping) return;
  stopping = true;
  group('SIGTERM');
  setTimeout(() => group('SIGKILL'), 5000);
};
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.on('error', stop);
process.stdin.resume();
`;

export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const projectId = options.projectId ?? 'token-exchange-local';
  const port = options.port ?? (await freePort());
  const host = `127.0.0.1:${port}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'datastore-emulator-'));
  const args = [
    'beta',
    'emulators',
    'datastore',
    'start',
    '--no-store-on-disk',
    '--consistency=1.0',
    `--host-port=${host}`,
    `--project=${projectId}`,
    `--data-dir=${dataDir}`,
  ];
  let child: ChildProcess;
  try {
    // detached: the watchdog leads a new process group (and session), so a terminal's
    // SIGINT or SIGHUP reaches us, not the emulator, and we decide how it stops.
    child = spawn(process.execPath, ['-e', WATCHDOG, 'gcloud', ...args], {
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
  let output = '';
  const collect = (chunk: Buffer): void => {
    if (options.verbose) process.stderr.write(chunk);
    else if (output.length < 20_000) output += chunk.toString();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let exited: string | undefined;
  const spawnError = new Promise<never>((_, reject) => {
    child.once('error', (error) =>
      reject(new Error(`cannot run gcloud (is the Google Cloud CLI installed?): ${error.message}`)),
    );
  });
  child.once('exit', (code, signal) => {
    exited = `exited with ${signal ?? code}`;
  });
  spawnError.catch(() => undefined);

  const signalGroup = (signal: NodeJS.Signals): void => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  };
  const stop = async (): Promise<void> => {
    if (child.pid !== undefined && exited === undefined) {
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      // Closing the watchdog's pipe is the same path as our dying: one way to stop.
      child.stdin?.end();
      const timer = setTimeout(() => signalGroup('SIGKILL'), 8000);
      await gone;
      clearTimeout(timer);
      // The wrapper can exit before its java child has let go of the port.
      for (let i = 0; i < 50 && (await isEmulatorReady(host)); i++) {
        if (i === 25) signalGroup('SIGKILL');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    rmSync(dataDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  const waitReady = async (): Promise<void> => {
    while (Date.now() < deadline) {
      if (exited !== undefined) throw new Error(`the Datastore emulator ${exited}:\n${output}`);
      if (await isEmulatorReady(host)) return;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`the Datastore emulator did not answer on ${host} in time:\n${output}`);
  };
  try {
    await Promise.race([waitReady(), spawnError]);
  } catch (error) {
    await stop();
    throw error;
  }
  child.stdout?.removeListener('data', collect);
  child.stderr?.removeListener('data', collect);
  child.stdout?.resume();
  child.stderr?.resume();
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr])
    (stream as unknown as { unref?: () => void } | null)?.unref?.();
  return { host, projectId, pid: child.pid as number, stop };
}
