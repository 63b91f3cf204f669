/** Reading what operators type: each value either reads as meant or is a UsageError naming the option. */
import { parseDuration, parseExpiry, parseTime, parseWholeNumber, UsageError } from '../../../scripts/cli/args';
import { ExpectedError } from '../../../shared/platform/errors';

const NOW = new Date('2026-06-01T12:00:00Z');

function usageError(run: () => unknown): UsageError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return error as UsageError;
  }
  throw new Error('expected a UsageError');
}

describe('UsageError', () => {
  it('UsageError_IsAnExpectedErrorWithCodeUsage', () => {
    const error = new UsageError('bad');
    expect(error).toBeInstanceOf(ExpectedError);
    expect([error.name, error.code, error.message]).toEqual(['UsageError', 'usage', 'bad']);
  });
});

describe('parseDuration', () => {
  it.each([
    ['45s', 45],
    ['30m', 1800],
    ['24h', 86_400],
    ['90d', 90 * 86_400],
    ['2w', 2 * 604_800],
    ['1h30m', 5400],
    ['1d1s', 86_401],
    ['0s', 0],
  ])('ParseDuration_%s_Is%iSeconds', (text, seconds) => {
    expect(parseDuration(text, '--grace')).toBe(seconds);
  });

  it.each(['', '90', 'd', '1.5h', '-1h', '1H', '1h 30m', '1y', 'soon'])('ParseDuration_%j_IsAUsageError', (text) => {
    expect(usageError(() => parseDuration(text, '--grace')).message).toBe(
      `--grace takes a duration such as 90d, 24h, 30m or 1h30m, got ${JSON.stringify(text)}`,
    );
  });

  it('ParseDuration_BeyondSafeIntegers_IsTooLong', () => {
    const error = usageError(() => parseDuration('99999999999999999w', '--expires-in'));
    expect(error.message).toBe('--expires-in is too long');
  });
});

describe('parseTime', () => {
  it.each([
    ['2026-12-31', '2026-12-31T00:00:00.000Z'],
    ['2026-12-31T23:59Z', '2026-12-31T23:59:00.000Z'],
    ['2026-12-31T23:59:30Z', '2026-12-31T23:59:30.000Z'],
    ['2026-12-31T23:59:30.250Z', '2026-12-31T23:59:30.250Z'],
    ['2026-12-31T23:59:30+02:00', '2026-12-31T21:59:30.000Z'],
    ['2026-12-31T01:00:00-05:30', '2026-12-31T06:30:00.000Z'],
  ])('ParseTime_%s_IsThatInstant', (text, iso) => {
    expect(parseTime(text, '--expires-at').toISOString()).toBe(iso);
  });

  it.each(['2026-12-31T23:59:00', '2026-12-31 23:59Z', '31/12/2026', '2026-13-01', 'tomorrow', ''])(
    'ParseTime_%j_WithoutAZoneOrMalformed_IsAUsageError',
    (text) => {
      expect(usageError(() => parseTime(text, '--expires-at')).message).toMatch(/^--expires-at takes an ISO 8601 time/);
    },
  );
});

describe('parseWholeNumber', () => {
  it.each([
    ['0', 0],
    ['7', 7],
    ['007', 7],
    ['999999999999999', 999_999_999_999_999],
  ])('ParseWholeNumber_%s_Is%i', (text, value) => {
    expect(parseWholeNumber(text, '--tier')).toBe(value);
  });

  it.each(['-1', '1.5', '1e3', '', ' 1', 'one', '1000000000000000'])('ParseWholeNumber_%j_IsAUsageError', (text) => {
    expect(usageError(() => parseWholeNumber(text, '--tier')).message).toBe(
      `--tier takes a whole number ≥ 0, got ${JSON.stringify(text)}`,
    );
  });
});

describe('parseExpiry', () => {
  it('ParseExpiry_Neither_IsNoExpiry', () => {
    expect(parseExpiry({}, NOW)).toBeUndefined();
    expect(parseExpiry({ 'expires-in': undefined, 'expires-at': true }, NOW)).toBeUndefined();
  });

  it('ParseExpiry_ExpiresIn_CountsFromNow', () => {
    expect(parseExpiry({ 'expires-in': '90d' }, NOW)).toEqual(new Date(NOW.getTime() + 90 * 86_400_000));
  });

  it('ParseExpiry_ExpiresAtInTheFuture_IsThatTime', () => {
    expect(parseExpiry({ 'expires-at': '2026-06-01T12:00:01Z' }, NOW)).toEqual(new Date('2026-06-01T12:00:01Z'));
  });

  it('ParseExpiry_Both_IsAUsageError', () => {
    expect(usageError(() => parseExpiry({ 'expires-in': '1d', 'expires-at': '2027-01-01' }, NOW)).message).toBe(
      'give --expires-in or --expires-at, not both',
    );
  });

  it('ParseExpiry_ZeroDuration_IsExpiredAtBirth', () => {
    expect(usageError(() => parseExpiry({ 'expires-in': '0s' }, NOW)).message).toBe(
      '--expires-in 0s is not in the future: a key must not be expired at birth',
    );
  });

  it.each(['2026-06-01T12:00:00Z', '2020-01-01'])('ParseExpiry_ExpiresAt%s_NotInTheFuture_IsExpiredAtBirth', (text) => {
    expect(usageError(() => parseExpiry({ 'expires-at': text }, NOW)).message).toBe(
      `--expires-at ${text} is in the past: a key must not be expired at birth`,
    );
  });

  it('ParseExpiry_MalformedValue_NamesItsOption', () => {
    const duration = usageError(() => parseExpiry({ 'expires-in': 'soon' }, NOW));
    expect(duration.message).toMatch(/^--expires-in takes a duration/);
    const time = usageError(() => parseExpiry({ 'expires-at': 'soon' }, NOW));
    expect(time.message).toMatch(/^--expires-at takes an ISO 8601/);
  });
});
