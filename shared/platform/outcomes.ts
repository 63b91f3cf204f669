/**
 * Every outcome a function logs, and what each answers: HTTP status, log severity and, for
 * a refused key, the problem sent. One table typed by Outcome, so a misspelt outcome is a
 * compile error rather than a line logged at the wrong severity. The log-based metrics count
 * by `outcome` (scripts/deploy/metrics/), so these names are an interface: rename none.
 */
import { INVALID_API_KEY, tooManyAttempts, unavailable, type Problem } from './http';
import type { LogEntry, Logger, Severity } from './log';

export type Outcome =
  | 'ok'
  | 'not-modified'
  | 'health'
  | 'bad-request'
  | 'invalid'
  | 'throttled'
  | 'busy'
  | 'unavailable'
  | 'signing-unavailable';

// R: what the problem is made from; never, so that any argument type satisfies the table's type.
export interface OutcomeRule<R = never> {
  /** Undefined for bad-request: the guard's problem decides (400, 405, 413 or 415). */
  readonly status: number | undefined;
  /** A client's mistake is NOTICE; a defence at work WARNING; our failure ERROR. */
  readonly severity: Severity;
  /** What an exchange answers, for the outcomes that are one answer whatever the request. */
  readonly problem?: (refusal: R) => Problem;
}

export const OUTCOMES = {
  ok: { status: 200, severity: 'INFO' },
  'not-modified': { status: 304, severity: 'INFO' },
  health: { status: 200, severity: 'INFO' },
  'bad-request': { status: undefined, severity: 'NOTICE' },
  // Every bad key, whatever the reason, gets the same body (the README's HTTP contract).
  invalid: { status: 401, severity: 'NOTICE', problem: () => INVALID_API_KEY },
  throttled: {
    status: 429,
    severity: 'WARNING',
    problem: (refusal: { readonly retryAfter: number }) => tooManyAttempts(refusal.retryAfter),
  },
  busy: { status: 503, severity: 'WARNING', problem: () => unavailable('The service is busy; try again shortly.', 1) },
  // An outage is never a 401: the client should come back, not drop its key.
  unavailable: {
    status: 503,
    severity: 'ERROR',
    problem: () => unavailable('The key store is unavailable; try again shortly.', 2),
  },
  'signing-unavailable': {
    status: 503,
    severity: 'ERROR',
    problem: () => unavailable('The signing key is unavailable; try again shortly.', 2),
  },
} as const satisfies Readonly<Record<Outcome, OutcomeRule>>;

export type RecordRequest = (status: number, outcome: Outcome, fields?: Omit<LogEntry, 'severity' | 'message'>) => void;

/**
 * The one log line of a request, started when the request arrives: its severity from the
 * outcome table, the function, outcome, status, the caller's fields, and the latency.
 */
export function requestRecorder(log: Logger, functionName: string): RecordRequest {
  const started = performance.now();
  return (status, outcome, fields = {}) =>
    log({
      severity: OUTCOMES[outcome].severity,
      message: `${functionName} ${status} ${outcome}`,
      function: functionName,
      outcome,
      status,
      ...fields,
      latency_ms: Math.round((performance.now() - started) * 100) / 100,
    });
}
