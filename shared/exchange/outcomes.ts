/**
 * What an exchange answers a refused key with, from the outcome table (platform/outcomes.ts,
 * shared with jwks, whose bundle must not carry the exchange).
 */
import type { Problem } from '../platform/http';
import { OUTCOMES } from '../platform/outcomes';
import type { Verification } from './verifier';

/** A key the verifier refused, with why. */
export type Refusal = Exclude<Verification, { ok: true }>;

/** The problem an exchange answers a refused key with. */
export function refusalProblem(refusal: Refusal): Problem {
  switch (refusal.outcome) {
    case 'throttled':
      return OUTCOMES.throttled.problem(refusal);
    default:
      return OUTCOMES[refusal.outcome].problem();
  }
}
