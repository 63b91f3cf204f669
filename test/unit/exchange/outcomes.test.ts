import { refusalProblem, type Refusal } from '../../../shared/exchange/outcomes';
import { OUTCOMES, type Outcome } from '../../../shared/platform/outcomes';

describe('OUTCOMES', () => {
  it.each<[Refusal, number, string, string | undefined]>([
    [{ ok: false, outcome: 'invalid', reason: 'wrong secret' }, 401, 'invalid-api-key', undefined],
    [{ ok: false, outcome: 'throttled', retryAfter: 42 }, 429, 'too-many-attempts', '42'],
    [{ ok: false, outcome: 'busy' }, 503, 'unavailable', '1'],
    [{ ok: false, outcome: 'unavailable', cause: 'deadline' }, 503, 'unavailable', '2'],
  ])('answers a refused key (%j) with its status and problem', (refusal, status, code, retryAfter) => {
    const problem = refusalProblem(refusal);
    expect([problem.status, problem.code, problem.headers?.['Retry-After']]).toEqual([status, code, retryAfter]);
    expect(OUTCOMES[refusal.outcome].status).toBe(status);
  });

  it('sends the same 401 body whatever the reason', () => {
    const a = refusalProblem({ ok: false, outcome: 'invalid', reason: 'unknown key', keyId: 'ki_a' });
    const b = refusalProblem({ ok: false, outcome: 'invalid', reason: 'key expired', ownerId: 'o' });
    expect(a).toEqual(b);
  });

  it('logs a client mistake as NOTICE, a defence as WARNING, our failure as ERROR', () => {
    const severities = Object.fromEntries(Object.entries(OUTCOMES).map(([outcome, rule]) => [outcome, rule.severity]));
    expect(severities).toEqual({
      ok: 'INFO',
      'not-modified': 'INFO',
      health: 'INFO',
      'bad-request': 'NOTICE',
      invalid: 'NOTICE',
      throttled: 'WARNING',
      busy: 'WARNING',
      unavailable: 'ERROR',
      'signing-unavailable': 'ERROR',
    });
    expect(OUTCOMES['signing-unavailable'].problem()).toMatchObject({ status: 503, headers: { 'Retry-After': '2' } });
  });

  it('has no entry for a misspelt outcome (a compile error, checked by tsc)', () => {
    // @ts-expect-error -- 'unavailible' is not an Outcome
    const misspelt: Outcome = 'unavailible';
    expect(Object.keys(OUTCOMES)).not.toContain(misspelt);
  });
});
