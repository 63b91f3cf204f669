/**
 * The bundled local stack (test/support/localStack.ts builds it) run as `npm start` runs it, in
 * a child process on a free loopback port: what it printed, its demo keys, and a stop that
 * waits for it to exit. Error messages never carry its output's keys.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from '../../scripts/dev/emulator';
import type { BuiltLocalStack } from './localStack';

export interface LocalStackProcess {
  readonly port: number;
  /** http://127.0.0.1:<port> */
  readonly base: string;
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once it serves the functions. */
  serving(): Promise<void>;
  /** Waits for stderr to hold `text`. */
  printed(text: string): Promise<void>;
  /** The demo keys it printed, once serving. */
  demoKeys(): { integration: string; autojoin: string };
  stop(): Promise<void>;
}

/** Keys and tokens out of anything a failure would print. */
export function redact(text: string): string {
  return text.replace(/mlabk\.\S+/g, 'mlabk.<redacted>').replace(/eyJ[\w-]+\.[\w-]+\.[\w-]+/g, '<token>');
}

async function until(what: string, done: () => boolean, child: ChildProcess, ms: number) {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (child.exitCode !== null) throw new Error(`the local stack exited (${child.exitCode}) before ${what}`);
    if (Date.now() > deadline) throw new Error(`the local stack did not reach ${what} within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Starts it with the run's environment plus `env` (SIGNING_KEY_FILE only when `env` sets it). */
export async function startLocalStackProcess(
  built: BuiltLocalStack,
  env: Readonly<Record<string, string | undefined>>,
): Promise<LocalStackProcess> {
  const port = await freePort();
  const full: Record<string, string | undefined> = { ...process.env, SIGNING_KEY_FILE: undefined, ...env };
  full.PORT = String(port);
  const child = spawn(process.execPath, [built.script], { env: full, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stack: LocalStackProcess = {
    port,
    base: `http://127.0.0.1:${port}`,
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    serving: () =>
      until('serving', () => stdout.includes('Ctrl-C stops everything'), child, 90_000).catch((error: Error) => {
        throw new Error(`${error.message}\n${redact(stderr)}`);
      }),
    printed: (text) => until(`printing ${JSON.stringify(text)}`, () => stderr.includes(text), child, 60_000),
    demoKeys: () => {
      const integration = /^ {2}(mlabk\.cii_\S+)$/m.exec(stdout)?.[1];
      const autojoin = /^ {2}(mlabk\.org_\S+)$/m.exec(stdout)?.[1];
      if (!integration || !autojoin) throw new Error('the local stack printed no demo keys');
      return { integration, autojoin };
    },
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
  return stack;
}
