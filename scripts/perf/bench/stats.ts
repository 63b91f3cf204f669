/** Small, pure helpers for the benchmark's figures (unit-tested in test/unit/perf/benchStats.test.ts). */

/**
 * The p-th percentile (0 < p ≤ 100) of `values` by the nearest-rank method: the smallest
 * value such that at least p % of the values are at most it. NaN for no values.
 */
export function percentile(values: readonly number[], p: number): number {
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${p}`);
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.ceil((p / 100) * sorted.length) - 1];
}

/** The median: a measured value, so the lower middle for an even count (coldStart.ts reports it too). NaN for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

/** a ÷ b, or NaN when either is not a finite number or b is 0. */
export function ratio(a: number, b: number): number {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : Number.NaN;
}

/** A figure rounded to `digits` significant digits for the table (integers ≥ 10^digits kept whole). */
export function fmt(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return 'n/a';
  if (Math.abs(value) >= 10 ** digits) return Math.round(value).toString();
  return Number(value.toPrecision(digits)).toString();
}

export interface ColdStartFigures {
  readonly medianMs: number;
  readonly runsMs: number[];
  readonly medianCpuMs: number;
  /** medianMs ÷ hello-world's medianMs. */
  readonly timesHelloWorld: number;
}

/** One function's cold starts (wall-clock and CPU ms, in run order) beside hello-world's median wall-clock ms. */
export function coldStartFigures(
  wallMs: readonly number[],
  cpuMs: readonly number[],
  helloWorldMedianMs: number,
): ColdStartFigures {
  const medianMs = median(wallMs);
  return {
    medianMs,
    runsMs: wallMs.map((v) => Math.round(v)),
    medianCpuMs: median(cpuMs),
    timesHelloWorld: ratio(medianMs, helloWorldMedianMs),
  };
}
