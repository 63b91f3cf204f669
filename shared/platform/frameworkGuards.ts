/**
 * Guards around what functions-framework does before and around our code.
 *
 * - The body guard (bodyGuard.ts): every request body is read, within 8 KiB and never
 *   inflated, before the framework's parsers could; they never run.
 * - NODE_ENV defaults to production, as on Cloud Functions: Express and the framework then
 *   answer their own errors without a stack trace.
 * - console.error writes one structured line. Express logs an error it handles with
 *   console.error(err), and util.inspect prints every property: body-parser's errors carry
 *   the raw body (an API key), and a stack spans many lines, each a separate log entry on
 *   Cloud Logging. So an Error becomes its name, its first message line (body-parser's, whose
 *   message can quote the body, only its type) and its stack as one JSON field; any other
 *   arguments are formatted into one line.
 */
import { format } from 'node:util';
import { installBodyGuard } from './bodyGuard';
import { stdoutLogger, type LogEntry, type Logger } from './log';

interface HttpError extends Error {
  readonly type?: unknown;
  readonly status?: unknown;
  readonly body?: unknown;
}

/** body-parser's and raw-body's errors (http-errors): a `type` like `entity.parse.failed`, often the body. */
function isHttpError(value: Error): boolean {
  const error = value as HttpError;
  return typeof error.type === 'string' || 'body' in error || typeof error.status === 'number';
}

const MAX_MESSAGE = 300;

function firstLine(text: string): string {
  const line = text.split('\n', 1)[0] ?? '';
  return line.length > MAX_MESSAGE ? `${line.slice(0, MAX_MESSAGE)}…` : line;
}

/** One log entry for what was passed to console.error; no error's own properties, no raw body. */
function consoleErrorEntry(args: readonly unknown[]): LogEntry {
  const error = args.find((arg): arg is Error => arg instanceof Error);
  const others = args
    .filter((arg) => !(arg instanceof Error))
    .map((arg) => (typeof arg === 'string' ? arg : format('%o', arg)));
  if (error !== undefined && isHttpError(error)) {
    const { type, status } = error as HttpError;
    return {
      severity: 'NOTICE',
      message: `request refused by functions-framework before the function ran: ${
        typeof type === 'string' ? type : error.name
      }`,
      outcome: 'bad-request',
      status: typeof status === 'number' ? status : undefined,
    };
  }
  if (error !== undefined) {
    const lines = (error.stack ?? '').split('\n');
    return {
      severity: 'ERROR',
      message: firstLine([...others, `${error.name}: ${error.message}`].join(' ')),
      // Frames only: the stack opens with the whole message, whose later lines are kept out.
      stack_trace:
        lines
          .filter((line) => /^\s+at /.test(line))
          .map((line) => line.trim())
          .join(' | ') || undefined,
    };
  }
  // The framework logs a crash as console.error(err.stack): the first line says what, the rest where.
  const text = others.join(' ');
  const [head, ...rest] = text.split('\n');
  return {
    severity: 'ERROR',
    message: firstLine(head ?? ''),
    stack_trace: rest.length ? rest.map((line) => line.trim()).join(' | ') : undefined,
  };
}

let installed = false;

export function installFrameworkGuards(log: Logger = stdoutLogger): void {
  process.env.NODE_ENV ??= 'production';
  installBodyGuard(log);
  if (installed) return;
  installed = true;
  console.error = (...args: unknown[]): void => log(consoleErrorEntry(args));
}
