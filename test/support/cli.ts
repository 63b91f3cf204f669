/** Runs token-admin in-process, as `main(argv, io)`, capturing what it prints. */
import { main } from '../../scripts/cli/main';

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  readonly env?: Record<string, string | undefined>;
  /** Start from the test process's environment (default), or from `env` alone. */
  readonly inheritEnv?: boolean;
  readonly now?: () => Date;
  readonly stdoutIsTTY?: boolean;
}

export async function runCli(argv: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: { write: (chunk: string) => (stdout += chunk), isTTY: options.stdoutIsTTY ?? false },
    stderr: { write: (chunk: string) => (stderr += chunk) },
    env: options.inheritEnv === false ? { ...options.env } : { ...process.env, ...options.env },
    ...(options.now && { now: options.now }),
  });
  return { code, stdout, stderr };
}

/** The environment that points the CLI at a test's own namespaces. */
export { namespaceEnv } from './datastore';

/** A CLI bound to a test's namespaces (and any other environment). */
export function cliFor(
  env: Record<string, string | undefined>,
  now?: () => Date,
): (...argv: string[]) => Promise<CliResult> {
  return (...argv) => runCli(argv, { env, ...(now && { now }) });
}

export function parseJson<T = Record<string, unknown>>(result: CliResult): T {
  if (result.code !== 0) throw new Error(`token-admin failed (${result.code}): ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}
