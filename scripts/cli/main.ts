/**
 * `token-admin`: the operators' tool for the whole lifecycle of integrations, organisations,
 * API keys and the signing key. Every rule it applies lives in the core library (shared/);
 * this layer only reads arguments and prints results.
 *
 * Output: aligned tables, or JSON with --json. Errors: one line on stderr, exit code 1
 * (2 for a command line that cannot be understood). No stack traces for anything expected.
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '../../shared/platform/config';
import { AdminError } from '../../shared/admin/adminError';
import { SigningKeyError } from '../../shared/signing/signingKey';
import { UsageError } from './args';
import { autojoinCommands } from './commands/autojoin';
import { commandHelp, GLOBAL_OPTIONS, mainHelp, NO_PROJECT, nounHelp, SECRET_OPTIONS, Session, type CliIO, type Command, type OptionSpec } from './command';
import { integrationCommands } from './commands/integration';
import { keyCommands } from './commands/key';
import { orgCommands } from './commands/org';
import { signingKeyCommands } from './commands/signingKey';

export type { CliIO } from './command';

export const COMMANDS: readonly Command[] = [...integrationCommands, ...orgCommands, ...keyCommands, ...autojoinCommands, ...signingKeyCommands];

// Bundled at build time (a relative import): the version of the checkout that built the CLI.
const PACKAGE_VERSION = (require('../../package.json') as { version: string }).version;

const EXIT_OK = 0;
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

type ParseOptions = Record<string, { type: 'string' | 'boolean'; short?: string }>;

function parseOptions(options: Readonly<Record<string, OptionSpec>>): ParseOptions {
  return Object.fromEntries(Object.entries(options).map(([name, spec]) => [name, { type: spec.type, ...(spec.short && { short: spec.short }) }]));
}

/** One line for the operator, whatever went wrong; never a stack trace. */
export function describeError(error: unknown): string {
  if (error instanceof AdminError || error instanceof ConfigError || error instanceof SigningKeyError || error instanceof UsageError) return error.message;
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
  const fail = (message: string, code: number): number => {
    io.stderr.write(`token-admin: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
    return code;
  };
  const [noun, verb] = argv;
  if (noun === '--version') {
    // Names the Node it runs on: bin/token-admin.js runs the CLI on the project's Node 24.
    io.stdout.write(`token-admin ${PACKAGE_VERSION} (Node ${process.version})\n`);
    return EXIT_OK;
  }
  if (noun === undefined || noun === '--help' || noun === '-h' || noun === 'help') {
    io.stdout.write(mainHelp(COMMANDS));
    return noun === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (!COMMANDS.some((c) => c.noun === noun)) return fail(`unknown command ${JSON.stringify(noun)}; run token-admin --help`, EXIT_USAGE);
  if (verb === undefined || verb === '--help' || verb === '-h') {
    io.stdout.write(nounHelp(noun, COMMANDS));
    return verb === undefined ? EXIT_USAGE : EXIT_OK;
  }
  const command = COMMANDS.find((c) => c.noun === noun && c.verb === verb);
  if (!command) return fail(`unknown command ${JSON.stringify(`${noun} ${verb}`)}; run token-admin ${noun} --help`, EXIT_USAGE);

  const specs = { ...command.options, ...(command.secretManager ? SECRET_OPTIONS : {}), ...GLOBAL_OPTIONS };
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv.slice(2), options: parseOptions(specs), allowPositionals: true, strict: true }) as typeof parsed;
  } catch (error) {
    return fail(`${(error as Error).message.replace(/\. To specify a positional argument.*$/s, '')}; run token-admin ${noun} ${verb} --help`, EXIT_USAGE);
  }
  if (parsed.values.help === true) {
    io.stdout.write(commandHelp(command));
    return EXIT_OK;
  }
  const [min, max] = command.positionals;
  if (parsed.positionals.length < min || parsed.positionals.length > max) {
    const expected = command.usage ? `usage: token-admin ${noun} ${verb} ${command.usage}` : `${noun} ${verb} takes no arguments`;
    return fail(`${expected}; run token-admin ${noun} ${verb} --help`, EXIT_USAGE);
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
    return fail(describeError(error), error instanceof UsageError ? EXIT_USAGE : EXIT_FAILURE);
  } finally {
    await session.close().catch(() => undefined);
  }
}

/** The `token-admin` binary: process arguments and streams in, exit code out. */
export function run(): void {
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env }).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`token-admin: ${describeError(error)}\n`);
      process.exitCode = EXIT_FAILURE;
    },
  );
}

if (require.main === module) run();
