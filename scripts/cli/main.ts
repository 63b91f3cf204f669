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
import { closestWord, UsageError } from './args';
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
import { explainServiceError } from './serviceErrors';

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

/**
 * One line for the operator, whatever went wrong; never a stack trace, never a bare gRPC
 * status. A command's own failures arrive already reworded with where its calls went
 * (runCommand); what is left is reworded here without that.
 */
export function describeError(error: unknown): string {
  if (isExpectedError(error)) return error.message;
  const explained = explainServiceError(error);
  if (explained !== undefined) return explained.message;
  if (error instanceof Error) {
    // google-auth-library's words for "no project": give the operator the two ways to name one.
    if (/Unable to detect a Project Id/i.test(error.message)) return NO_PROJECT;
    const code = (error as Error & { code?: unknown }).code;
    if (code === 'ENOENT' || code === 'EEXIST' || code === 'EACCES') return error.message;
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
    const nouns = [...new Set(COMMANDS.map((c) => c.noun))];
    throw new UsageError(`unknown command ${JSON.stringify(noun)}${didYouMean(noun, nouns)}; run token-admin --help`);
  }
  const command = COMMANDS.find((c) => c.noun === noun && c.verb === verb);
  if (!command) {
    const verbs = COMMANDS.filter((c) => c.noun === noun).map((c) => c.verb);
    const meant = closestWord(verb ?? '', verbs);
    throw new UsageError(
      `unknown command ${JSON.stringify(`${noun} ${verb}`)}${meant ? ` (did you mean ${noun} ${meant}?)` : ''}; ` +
        `run token-admin ${noun} --help`,
    );
  }

  const specs = { ...command.options, ...(command.secretManager ? SECRET_OPTIONS : {}), ...GLOBAL_OPTIONS };
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    const options = parseOptions(specs);
    parsed = parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (error) {
    throw optionError(error, command, Object.keys(specs), args);
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
  } catch (error) {
    // Reworded here, where it is known which service the call went to and what names it.
    throw explainServiceError(error, session.destination(command)) ?? error;
  } finally {
    await session.close().catch(() => undefined);
  }
}

function didYouMean(typed: string, known: readonly string[]): string {
  const meant = closestWord(typed, known);
  return meant === undefined ? '' : ` (did you mean ${meant}?)`;
}

/**
 * The one line for a command line node:util's parseArgs refused. An unknown option names
 * the command's option nearest to it (`--integraton` → `--integration`), and a Go-style
 * single-dash option (`-integration`, as the Go service's tools take them; parseArgs reads it
 * as `-i -n -t …`) is told it takes two dashes.
 */
function optionError(
  error: unknown,
  { noun, verb }: Command,
  known: readonly string[],
  args: readonly string[],
): Error {
  const help = `run token-admin ${noun} ${verb} --help`;
  // Not `instanceof Error`: node:util's errors may come from another realm (jest's, for one).
  const { message = String(error) } = error as { message?: string };
  if ((error as { code?: unknown }).code !== 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    return new UsageError(`${message.replace(/\. To specify a positional argument.*$/s, '')}; ${help}`);
  }
  const typed = /Unknown option '([^']+)'/.exec(message)?.[1] ?? '';
  const end = args.indexOf('--');
  const singleDash = (end === -1 ? args : args.slice(0, end)).find(
    (arg) => /^-[^-]{2,}/.test(arg) && typed.length === 2 && arg.startsWith(typed),
  );
  if (singleDash !== undefined) {
    const name = singleDash.slice(1).split('=')[0];
    const meant = known.includes(name) ? name : closestWord(name, known);
    return new UsageError(
      `Unknown option '-${name}' (options take two dashes${meant ? `: did you mean --${meant}?` : ''}); ${help}`,
    );
  }
  const meant = typed.startsWith('--') ? closestWord(typed.slice(2), known) : undefined;
  return new UsageError(
    meant !== undefined
      ? `Unknown option '${typed}' (did you mean --${meant}?); ${help}`
      : `Unknown option '${typed}'; ${help} for its options`,
  );
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

/**
 * google-auth-library warns (MetadataLookupWarning, two lines) when it looks for a metadata
 * server and finds none, as on every operator's machine without credentials. The line that
 * follows says what to do (`gcloud auth application-default login`): that warning only
 * buries it. Every other warning is printed as Node prints it.
 */
function quietMetadataLookupWarnings(): void {
  const printers = process.listeners('warning');
  process.removeAllListeners('warning');
  process.on('warning', (warning) => {
    if (warning.name === 'MetadataLookupWarning') return;
    for (const print of printers) print(warning);
  });
}

/** The `token-admin` binary: process arguments and streams in, exit code out. */
export function run(): void {
  quietMetadataLookupWarnings();
  const report = (error: unknown): number => {
    process.stderr.write(`token-admin: ${describeError(error).replace(/\s*\n\s*/g, ' ')}\n`);
    return exitCodeFor(error);
  };
  // google-gax builds a client's stubs from one promise and rejects every method's copy of it
  // when there are no credentials, though only the command's own call is awaited: the others
  // would crash the process with a stack trace after the one line that says what to do. They
  // share the command's cause; one is reported only if the command itself succeeded.
  // The Secret Manager client throws its copies from a callback instead: uncaught exceptions.
  let exitCode: number | undefined;
  let stray: { reason: unknown } | undefined;
  const onStray = (reason: unknown): void => {
    if (exitCode === undefined) stray ??= { reason };
    else if (exitCode === EXIT_OK) exitCode = process.exitCode = report(reason);
  };
  process.on('unhandledRejection', onStray);
  process.on('uncaughtException', (error) => {
    if (explainServiceError(error) !== undefined) return onStray(error);
    // Anything else is a bug: it still ends the process at once, in one line.
    process.exit(report(error));
  });
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env }).then(
    (code) => {
      exitCode = process.exitCode = code === EXIT_OK && stray !== undefined ? report(stray.reason) : code;
    },
    (error: unknown) => {
      exitCode = process.exitCode = report(error);
    },
  );
}

if (require.main === module) run();
