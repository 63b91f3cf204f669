/**
 * A child process in a process group of its own, so that stopping it stops everything it
 * started (functions-framework's node, the gcloud wrapper's java). Used by the cold-start
 * measurement and the benchmark's servers.
 *
 * The group does not outlive us, however we end: beside it runs a guard (plain node, `GUARD`
 * below) holding the read end of a pipe from us. When we exit — cleanly, by Ctrl-C, or by a
 * SIGKILL we never see — the pipe closes and the guard stops the group. The guard is a
 * sibling, not the parent, so `pid` stays the server's own (the benchmark reads its CPU time).
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

/**
 * Run as `node -e GUARD <pgid>`: on stdin's end, SIGTERM to the group, SIGKILL after 3 s,
 * exiting as soon as the group is gone. It ignores terminal signals: it is the one that
 * finishes the job.
 */
const GUARD = `
const pgid = Number(process.argv[1]);
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => undefined);
const kill = (signal) => { try { process.kill(-pgid, signal); return true; } catch { return false; } };
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  kill('SIGTERM');
  setInterval(() => { if (!kill(0)) process.exit(0); }, 100);
  setTimeout(() => { kill('SIGKILL'); process.exit(0); }, 3000);
};
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.on('error', stop);
process.stdin.resume();
`;

/** Starts the guard of group `pgid`; ending its stdin (or our death) stops the group. */
function guardGroup(pgid: number): ChildProcess {
  const guard = spawn(process.execPath, ['-e', GUARD, String(pgid)], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  guard.on('error', () => undefined);
  guard.stdin?.on('error', () => undefined);
  guard.unref();
  (guard.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  return guard;
}

export function spawnGroup(command: string, args: readonly string[], options: GroupProcessOptions): GroupProcess {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const limit = options.stderrLimit ?? 100_000;
  let stderr = '';
  child.stdout?.on('data', options.onStdout ?? (() => undefined));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    if (stderr.length < limit) stderr += chunk;
  });
  const guard = child.pid !== undefined ? guardGroup(child.pid) : undefined;
  let exited: string | undefined;
  const gone = new Promise<void>((done) => {
    child.once('exit', (code, signal) => {
      exited = signal ? `signal ${signal}` : `exit code ${code}`;
      // The leader is gone: the guard stops what it left in the group, then exits (a guard
      // kept until we exit could meet a reused group id).
      guard?.stdin?.end();
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
      // Anything the process left behind in its group; then the guard has nothing to guard.
      signalGroup('SIGKILL');
      guard?.stdin?.end();
    },
  };
}
