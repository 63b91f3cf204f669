import { FailureThrottle, GuessThrottle, type Admission } from '../../../shared/exchange/throttle';

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

function guess(throttle: FailureThrottle, path: string, correct: boolean): Admission {
  const admission = throttle.admit(path);
  if (admission.admitted) admission.attempt.settle(correct);
  return admission;
}

describe('FailureThrottle', () => {
  it('admits wrong guesses up to the limit, then refuses them until the window closes', () => {
    const c = clock();
    const throttle = new FailureThrottle({ maxFailures: 3, windowSeconds: 60, now: c.now });
    for (let i = 0; i < 3; i++) expect(guess(throttle, 'k', false).admitted).toBe(true);
    expect(throttle.admit('k')).toEqual({ admitted: false, retryAfter: 60 });
    c.advance(45_500);
    expect(throttle.admit('k')).toEqual({ admitted: false, retryAfter: 15 });
    c.advance(14_500);
    expect(guess(throttle, 'k', true).admitted).toBe(true);
  });

  it('counts guesses still being checked, so a concurrent burst admits only the limit', () => {
    const throttle = new FailureThrottle({ maxFailures: 5, windowSeconds: 60 });
    const admissions = Array.from({ length: 50 }, () => throttle.admit('k'));
    expect(admissions.filter((a) => a.admitted)).toHaveLength(5);
    for (const a of admissions) if (a.admitted) a.attempt.settle(false);
    expect(throttle.admit('k').admitted).toBe(false);
  });

  it('frees the place of a correct guess, and keeps no window for keys used correctly', () => {
    const throttle = new FailureThrottle({ maxFailures: 1, windowSeconds: 60 });
    for (let i = 0; i < 10; i++) expect(guess(throttle, 'k', true).admitted).toBe(true);
    expect(throttle.size).toBe(0);
  });

  it('counts each key on its own', () => {
    const throttle = new FailureThrottle({ maxFailures: 1, windowSeconds: 60 });
    guess(throttle, 'a', false);
    expect(throttle.admit('a').admitted).toBe(false);
    expect(throttle.admit('b').admitted).toBe(true);
  });

  it('settling twice counts once', () => {
    // A second settle must not free a second place: with one guess still pending and one place
    // left, exactly one more guess is admitted.
    const throttle = new FailureThrottle({ maxFailures: 2, windowSeconds: 60 });
    const first = throttle.admit('k');
    const pending = throttle.admit('k');
    if (!first.admitted || !pending.admitted) throw new Error('not admitted');
    first.attempt.settle(true);
    first.attempt.settle(true);
    expect(throttle.admit('k').admitted).toBe(true);
    expect(throttle.admit('k').admitted).toBe(false);
  });

  it('tracks at most its capacity of keys', () => {
    const throttle = new FailureThrottle({ maxFailures: 1, windowSeconds: 60, capacity: 50 });
    for (let i = 0; i < 1000; i++) guess(throttle, `k${i}`, false);
    expect(throttle.size).toBe(50);
    expect(throttle.admit('k999').admitted).toBe(false);
  });
});

describe('GuessThrottle', () => {
  const settle = (a: Admission, correct: boolean): Admission => {
    if (a.admitted) a.attempt.settle(correct);
    return a;
  };

  it('counts a key id per client address: guesses from one address do not refuse another', () => {
    const throttle = new GuessThrottle({ maxFailuresPerKey: 3, maxFailuresPerAddress: 100, windowSeconds: 60 });
    for (let i = 0; i < 3; i++) expect(settle(throttle.admit('key', '203.0.113.9'), false).admitted).toBe(true);
    expect(throttle.admit('key', '203.0.113.9')).toEqual({ admitted: false, retryAfter: 60 });
    expect(throttle.admit('key', '198.51.100.1').admitted).toBe(true);
  });

  it('bounds one address over all key ids, and a guess refused there counts for no key', () => {
    const throttle = new GuessThrottle({ maxFailuresPerKey: 3, maxFailuresPerAddress: 5, windowSeconds: 60 });
    for (let i = 0; i < 5; i++) expect(settle(throttle.admit(`key${i}`, 'a'), false).admitted).toBe(true);
    expect(throttle.admit('key9', 'a').admitted).toBe(false);
    expect(settle(throttle.admit('key9', 'b'), false).admitted).toBe(true);
    // key9 from `a` was refused by the address count, not counted against key9: `b` still has 2 left.
    expect(settle(throttle.admit('key9', 'b'), false).admitted).toBe(true);
    expect(settle(throttle.admit('key9', 'b'), false).admitted).toBe(true);
    expect(throttle.admit('key9', 'b').admitted).toBe(false);
  });

  it('correct guesses count against nothing', () => {
    const throttle = new GuessThrottle({ maxFailuresPerKey: 1, maxFailuresPerAddress: 1, windowSeconds: 60 });
    for (let i = 0; i < 10; i++) expect(settle(throttle.admit('key', 'a'), true).admitted).toBe(true);
  });
});
