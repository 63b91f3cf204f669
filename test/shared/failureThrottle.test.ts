import { FailureThrottle } from '../../shared/failureThrottle';

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('FailureThrottle', () => {
  it('allows guesses until the limit, then refuses them until the window closes', () => {
    const c = clock();
    const throttle = new FailureThrottle({ maxFailures: 3, windowSeconds: 60, now: c.now });
    for (let i = 0; i < 3; i++) {
      expect(throttle.retryAfter('k')).toBe(0);
      throttle.recordFailure('k');
    }
    expect(throttle.retryAfter('k')).toBe(60);
    c.advance(45_500);
    expect(throttle.retryAfter('k')).toBe(15);
    c.advance(14_500);
    expect(throttle.retryAfter('k')).toBe(0);
  });

  it('counts each key on its own', () => {
    const throttle = new FailureThrottle({ maxFailures: 1, windowSeconds: 60 });
    throttle.recordFailure('a');
    expect(throttle.retryAfter('a')).toBeGreaterThan(0);
    expect(throttle.retryAfter('b')).toBe(0);
  });

  it('tracks at most its capacity of keys', () => {
    const throttle = new FailureThrottle({ maxFailures: 1, windowSeconds: 60, capacity: 50 });
    for (let i = 0; i < 1000; i++) throttle.recordFailure(`k${i}`);
    expect(throttle.size).toBe(50);
    expect(throttle.retryAfter('k999')).toBeGreaterThan(0);
  });
});
