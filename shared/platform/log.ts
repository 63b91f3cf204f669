/**
 * Structured logs: one JSON object per line on stdout, which Cloud Logging turns into a
 * structured entry (`severity`, `message`, and the rest as jsonPayload). Callers pass ids
 * and outcomes only: an API key, a secret or a token must never be handed to a logger.
 */

export type Severity = 'DEBUG' | 'INFO' | 'NOTICE' | 'WARNING' | 'ERROR' | 'CRITICAL';

export interface LogEntry {
  readonly severity: Severity;
  readonly message: string;
  readonly [field: string]: string | number | boolean | undefined;
}

export type Logger = (entry: LogEntry) => void;

export const stdoutLogger: Logger = (entry) => {
  process.stdout.write(`${JSON.stringify(entry)}\n`);
};
