/**
 * `token-admin`: the operators' tool for the whole lifecycle of integrations, organisations,
 * API keys and the signing key. Every rule it applies lives in the core library (shared/);
 * this layer only reads arguments and prints results.
 *
 * Output: aligned tables, or JSON with --json. Errors: one line on stderr, and an exit code
 * by one rule (exitCodeFor). No stack traces for anything expected.
 */
import { parseArgs } from 'node:util';
import { isExpectedError } from '../../shared/platform/errors';
import { parseApiKey } from '../../shared/keys/grammar';
import { UsageError } from './args';
import { autojoinCommands } from './commands/autojoin';
import {
  commandHelp,
  GLOBAL_OPTIONS,
  mainHelp,
  NO_PROJECT,
  nounHelp,
  SECRET_OPTIONS,
  Session,
  type CliIO,
  type Command,
  type OptionSpec,
} from './command';
import { integrationCommands } from './commands/integration';
import { keyCommands } from './commands/key';
import { orgCommands } from './commands/org';
import { signingKeyCommands } from './commands/signingKey';

export type { CliIO } from './command';

export const COMMANDS: readonly Command[] = [
  ...integrationCommands,
  ...orgCommands,
  ...keyCommands,
  ...autojoinCommands,
  ...signingKeyCommands,
];

// Bundled at build time (a relative import): the version of the checkout that built the CLI.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a JSON file, inlined by esbuild
const PACKAGE_VERSION = (require('../../package.json') as { version: string }).version;

const EXIT_OK = 0;
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

type ParseOptions = Record<string, { type: 'string' | 'boolean'; short?: string }>;

function parseOptions(options: Readonly<Record<string, OptionSpec>>): ParseOptions {
  return Object.fromEntries(
    Object.entries(options).map(([name, spec]) => [
      name,
      { type: spec.type, ...(spec.short && { short: spec.short }) },
    ]),
  );
}

/** Expected errors whose code means "what was typed cannot be used as given". */
const USAGE_CODES: ReadonlySet<string> = new Set(['usage', 'invalid-argument']);

/**
 * The CLI's one rule for exit codes: 2 when the command line cannot be understood, a
 * malformed id or value included (a UsageError, or an AdminError `invalid-argument`); 1 when
 * the operation failed (anything else: refused, not found, unreachable).
 */
export function exitCodeFor(error: unknown): number {
  return isExpectedError(error) && USAGE_CODES.has(error.code) ? EXIT_USAGE : EXIT_FAILURE;
}

/** One line for the operator, whatever went wrong; never a stack trace. */
export function describeError(error: unknown): string {
  if (isExpectedError(error)) return error.message;
  if (error instanceof Error) {
    // google-auth-library's words for "no project": give the operator the two ways to name one.
    if (/Unable to detect a Project Id/i.test(error.message)) return NO_PROJECT;
    const code = (error as Error & { code?: unknown }).code;
    if (code === 'ENOENT' || code === 'EEXIST' || code === 'EACCES') return error.message;
    // gRPC errors read "14 UNAVAILABLE: …", sometimes over several lines.
    return (error.message.split('\n')[0] ?? String(error)).trim();
  }
  return String(error);
}

export async function main(argv: readonly string[], io: CliIO): Promise<number> {
  const [noun, verb] = argv;
  if (noun === '--version') {
    // Names the Node it runs on: bin/token-admin.js runs the CLI on the project's Node 24.
    io.stdout.write(`token-admin ${PACKAGE_VERSION} (Node ${process.version})\n`);
    return EXIT_OK;
  }
  // Help asked for prints to stdout and succeeds; help given for want of a command is a usage error.
  if (noun === undefined || noun === '--help' || noun === '-h' || noun === 'help') {
    io.stdout.write(mainHelp(COMMANDS));
    return noun === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (COMMANDS.some((c) => c.noun === noun) && (verb === undefined || verb === '--help' || verb === '-h')) {
    io.stdout.write(nounHelp(noun, COMMANDS));
    return verb === undefined ? EXIT_USAGE : EXIT_OK;
  }
  try {
    return await runCommand(noun, verb, argv.slice(2), io);
  } catch (error) {
    io.stderr.write(`token-admin: ${describeError(error).replace(/\s*\n\s*/g, ' ')}\n`);
    return exitCodeFor(error);
  }
}

/** Finds the command, reads its command line (a UsageError if it cannot), and runs it. */
async function runCommand(noun: string, verb: string | undefined, args: readonly string[], io: CliIO): Promise<number> {
  if (!COMMANDS.some((c) => c.noun === noun)) {
    throw new UsageError(`unknown command ${JSON.stringify(noun)}; run token-admin --help`);
  }
  const command = COMMANDS.find((c) => c.noun === noun && c.verb === verb);
  if (!command) {
    throw new UsageError(`unknown command ${JSON.stringify(`${noun} ${verb}`)}; run token-admin ${noun} --help`);
  }

  const specs = { ...command.options, ...(command.secretManager ? SECRET_OPTIONS : {}), ...GLOBAL_OPTIONS };
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    const options = parseOptions(specs);
    parsed = parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (error) {
    const reason = (error as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    throw new UsageError(`${reason}; run token-admin ${noun} ${verb} --help`);
  }
  if (parsed.values.help === true) {
    io.stdout.write(commandHelp(command));
    return EXIT_OK;
  }
  refuseApiKeys(command, parsed);
  const [min, max] = command.positionals;
  if (parsed.positionals.length < min || parsed.positionals.length > max) {
    const expected = command.usage
      ? `usage: token-admin ${noun} ${verb} ${command.usage}`
      : `${noun} ${verb} takes no arguments`;
    throw new UsageError(`${expected}; run token-admin ${noun} ${verb} --help`);
  }

  const session = new Session(io, parsed.values);
  try {
    // Every noun but signing-key works on Datastore.
    if (command.noun !== 'signing-key') await session.checkDatastore();
    await command.run({
      values: parsed.values,
      positionals: parsed.positionals,
      io,
      session,
      asJson: parsed.values.json === true,
      out: (text) => io.stdout.write(text),
      note: (text) => io.stderr.write(text),
    });
    return EXIT_OK;
  } finally {
    await session.close().catch(() => undefined);
  }
}

/**
 * No command takes an API key, but a key pasted where its id (or its owner) belongs would be
 * quoted back by the error that names the malformed value, and an operator's terminal, shell
 * history of the output or CI log would hold the secret: refused here without quoting it.
 * (A flat autojoin key cannot be told from an ordinary name, so only scoped keys are caught.)
 */
function refuseApiKeys(
  { noun, verb }: Command,
  parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] },
): void {
  const typed = [...parsed.positionals, ...Object.values(parsed.values)];
  if (typed.some((value) => typeof value === 'string' && parseApiKey(value.trim()).ok))
    throw new UsageError(
      `that is an API key, not an id: give the key's id (ki_…), never the key; run token-admin ${noun} ${verb} --help`,
    );
}

/** The `token-admin` binary: process arguments and streams in, exit code out. */
export function run(): void {
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env }).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`token-admin: ${describeError(error)}\n`);
      process.exitCode = exitCodeFor(error);
    },
  );
}

if (require.main === module) run();
