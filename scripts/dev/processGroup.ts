/**
 * A child process in a process group of its own, so that stopping it stops everything it
 * started (functions-framework's node, the gcloud wrapper's java). Used by the cold-start
 * measurement and the benchmark's servers.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface GroupProcessOptions {
  readonly cwd?: string;
  readonly env: Readonly<Record<string, string>>;
  /** Given every chunk of stdout (the default drains and forgets it). */
  readonly onStdout?: (chunk: Buffer) => void;
  /** How much of stderr to keep for error messages (default 100 000 characters). */
  readonly stderrLimit?: number;
}

export interface GroupProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** What the process wrote on stderr so far (up to the limit). */
  stderr(): string;
  /** Why the process ended (`exit code 1`, `signal SIGKILL`), or undefined while it runs. */
  exited(): string | undefined;
  /** SIGTERM to the group, SIGKILL after `graceMs` (default 3000); waits for the process. */
  stop(graceMs?: number): Promise<void>;
}

export function spawnGroup(command: string, args: readonly string[], options: GroupProcessOptions): GroupProcess {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const limit = options.stderrLimit ?? 100_000;
  let stderr = '';
  child.stdout?.on('data', options.onStdout ?? (() => undefined));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    if (stderr.length < limit) stderr += chunk;
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
    child,
    pid: child.pid as number,
    stderr: () => stderr,
    exited: () => exited,
    async stop(graceMs = 3000) {
      if (exited === undefined) {
        signalGroup('SIGTERM');
        const timer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
        await gone;
        clearTimeout(timer);
      }
      // Anything the process left behind in its group.
      signalGroup('SIGKILL');
    },
  };
}
