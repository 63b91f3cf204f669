/**
 * Starts and stops the Cloud Datastore emulator that ships with the Google Cloud CLI.
 * Used by `npm start`, the test setup and the benchmark, so all three run Datastore
 * the same way.
 *
 * The gcloud wrapper starts a shell script that starts java: the emulator runs in its own
 * process group so that stopping it stops the java child too. Each emulator gets a fresh
 * data dir, or every emulator on the machine would share ~/.config/gcloud/emulators.
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
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export async function isEmulatorReady(host: string): Promise<boolean> {
  try {
    const response = await fetch(`http://${host}/`, { signal: AbortSignal.timeout(1000) });
    return response.ok && (await response.text()).trim() === 'Ok';
  } catch {
    return false;
  }
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const projectId = options.projectId ?? 'token-exchange-local';
  const port = options.port ?? (await freePort());
  const host = `127.0.0.1:${port}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'datastore-emulator-'));
  const args = [
    'beta', 'emulators', 'datastore', 'start',
    '--no-store-on-disk', '--consistency=1.0',
    `--host-port=${host}`, `--project=${projectId}`, `--data-dir=${dataDir}`,
  ];
  let child: ChildProcess;
  try {
    child = spawn('gcloud', args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
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
    child.once('error', (error) => reject(new Error(`cannot run gcloud (is the Google Cloud CLI installed?): ${error.message}`)));
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
      signalGroup('SIGTERM');
      const timer = setTimeout(() => signalGroup('SIGKILL'), 5000);
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
  for (const stream of [child.stdout, child.stderr]) (stream as unknown as { unref?: () => void } | null)?.unref?.();
  return { host, projectId, pid: child.pid as number, stop };
}
