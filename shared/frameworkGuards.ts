/**
 * Guards around what functions-framework does before our code runs. It parses request
 * bodies with body-parser ahead of the function; a body it cannot parse (malformed JSON
 * sent as application/json, a client that hangs up mid-body) never reaches us: Express
 * answers it itself and logs the error object with console.error. That object carries the
 * raw body, which may hold an API key, and the framework offers no hook to stop it.
 *
 * So: NODE_ENV defaults to production (Express then answers without a stack trace, as on
 * Cloud Functions), and console.error turns body-parser's errors into one structured line
 * without the body. Everything else passes through untouched.
 */
import { stdoutLogger, type Logger } from './log';

interface BodyParserError {
  readonly type: string;
  readonly status?: number;
}

function isBodyParserError(value: unknown): value is BodyParserError {
  if (!(value instanceof Error)) return false;
  const type = (value as Error & { type?: unknown }).type;
  return typeof type === 'string' && /^(entity|request|charset|encoding|stream)\./.test(type);
}

let installed = false;

export function installFrameworkGuards(log: Logger = stdoutLogger): void {
  process.env.NODE_ENV ??= 'production';
  if (installed) return;
  installed = true;
  const consoleError = console.error.bind(console);
  console.error = (...args: unknown[]): void => {
    const [first] = args;
    if (args.length === 1 && isBodyParserError(first)) {
      log({
        severity: 'NOTICE',
        message: `request refused by functions-framework before the function ran: ${first.type}`,
        outcome: 'bad-request',
        status: first.status,
      });
      return;
    }
    consoleError(...args);
  };
}
