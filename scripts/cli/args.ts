/**
 * Reading what operators type: durations, times, numbers. A value that cannot be read is a
 * UsageError, which the CLI reports as one line with exit code 2.
 */
import { ExpectedError } from '../../shared/platform/errors';

/** A command line that cannot be understood: an unknown option, a missing or malformed value. */
export class UsageError extends ExpectedError {
  override readonly name = 'UsageError';
  readonly code = 'usage';
}

const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/** `90d`, `24h`, `30m`, `45s`, `2w`, or combined as `1h30m`: a duration in seconds. */
export function parseDuration(text: string, option: string): number {
  if (!/^(\d+[smhdw])+$/.test(text)) {
    throw new UsageError(`${option} takes a duration such as 90d, 24h, 30m or 1h30m, got ${JSON.stringify(text)}`);
  }
  let seconds = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+)([smhdw])/g)) seconds += Number(amount) * UNIT_SECONDS[unit];
  if (!Number.isSafeInteger(seconds)) throw new UsageError(`${option} is too long`);
  return seconds;
}

/**
 * An ISO 8601 date (midnight UTC) or date and time with `Z` or an offset: a time without a
 * zone would be read in this machine's zone, which is rarely what was meant.
 */
export function parseTime(text: string, option: string): Date {
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(text);
  const withZone = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.test(text);
  const date = new Date(dateOnly ? `${text}T00:00:00Z` : text);
  if ((!dateOnly && !withZone) || Number.isNaN(date.getTime())) {
    throw new UsageError(
      `${option} takes an ISO 8601 time such as 2026-12-31 or 2026-12-31T23:59:00Z, got ${JSON.stringify(text)}`,
    );
  }
  return date;
}

export function parseWholeNumber(text: string, option: string): number {
  if (!/^\d{1,15}$/.test(text)) throw new UsageError(`${option} takes a whole number ≥ 0, got ${JSON.stringify(text)}`);
  return Number(text);
}

/**
 * `--expires-in` or `--expires-at` (not both): the expiry of a new key, if any. Either one
 * that is not in the future is refused alike: a key born expired is always a typo.
 */
export function parseExpiry(
  values: { 'expires-in'?: string | boolean | undefined; 'expires-at'?: string | boolean | undefined },
  now: Date,
): Date | undefined {
  const expiresIn = values['expires-in'];
  const expiresAt = values['expires-at'];
  if (typeof expiresIn === 'string' && typeof expiresAt === 'string')
    throw new UsageError('give --expires-in or --expires-at, not both');
  if (typeof expiresIn === 'string') {
    const seconds = parseDuration(expiresIn, '--expires-in');
    if (seconds <= 0)
      throw new UsageError(`--expires-in ${expiresIn} is not in the future: a key must not be expired at birth`);
    return new Date(now.getTime() + seconds * 1000);
  }
  if (typeof expiresAt === 'string') {
    const date = parseTime(expiresAt, '--expires-at');
    if (date.getTime() <= now.getTime())
      throw new UsageError(`--expires-at ${expiresAt} is in the past: a key must not be expired at birth`);
    return date;
  }
  return undefined;
}

/**
 * Edits (insert, delete, replace, or swap two neighbours) that turn `a` into `b`: a swap
 * counts once, as the commonest typo (`--integartion`) should be the nearest.
 */
export function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, rows[i - 2][j - 2] + 1);
      rows[i][j] = best;
    }
  }
  return rows[a.length][b.length];
}

/**
 * The known word nearest to what was typed, if one is near enough to be what was meant:
 * within a third of its length in edits (at least one), or the only one it begins. Case is
 * ignored (`--JSON`). Undefined when nothing is close: a guess would mislead.
 */
export function closestWord(typed: string, known: readonly string[]): string | undefined {
  const word = typed.toLowerCase();
  if (word === '') return undefined;
  const starting = known.filter((candidate) => candidate.toLowerCase().startsWith(word));
  if (starting.length === 1 && word.length >= 2) return starting[0];
  let best: { word: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(word, candidate.toLowerCase());
    if (best === undefined || distance < best.distance) best = { word: candidate, distance };
  }
  if (best === undefined) return undefined;
  return best.distance <= Math.max(1, Math.floor(Math.max(word.length, best.word.length) / 3)) ? best.word : undefined;
}
