import { fmt, median, percentile, ratio } from '../../../scripts/perf/bench/stats';

describe('benchmark statistics', () => {
  it('takes percentiles by nearest rank', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i); // 100 … 1, unsorted on purpose
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile(values, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 51)).toBe(3);
    expect(percentile([], 50)).toBeNaN();
    expect(() => percentile([1], 0)).toThrow(RangeError);
  });

  it('sorts numerically, not as strings', () => {
    expect(percentile([10, 9, 100, 2], 50)).toBe(9);
    expect(median([10, 9, 100])).toBe(10);
  });

  it('takes the lower middle as the median of an even count', () => {
    expect(median([4, 1, 3, 2])).toBe(2);
    expect(median([20, 10])).toBe(10);
    expect(median([5])).toBe(5);
    expect(median([])).toBeNaN();
  });

  it('takes ratios and formats figures', () => {
    expect(ratio(9, 10)).toBeCloseTo(0.9);
    expect(ratio(1, 0)).toBeNaN();
    expect(ratio(Number.NaN, 1)).toBeNaN();
    expect(fmt(1234.56)).toBe('1235');
    expect(fmt(12.345)).toBe('12.3');
    expect(fmt(0.0123456)).toBe('0.0123');
    expect(fmt(Number.NaN)).toBe('n/a');
  });
});
