/**
 * The signing cost alone, in this process: TokenSigner (shared/signing/signer.ts) over the
 * parsed signing key, signing the claims shared/exchange/claims.ts makes for an integration key,
 * one signature at a time, as the exchange does.
 */
import { claimsFor } from '../../../shared/exchange/claims';
import { parseSigningKey } from '../../../shared/signing/signingKey';
import { TokenSigner } from '../../../shared/signing/signer';
import { median } from './stats';

export interface SignCost {
  readonly signatures: number;
  /** Mean µs per signature. */
  readonly meanUs: number;
  /** Median µs per signature. */
  readonly medianUs: number;
}

export async function measureSignCost(jwkText: string, budgetMs = 700, maxSignatures = 5000): Promise<SignCost> {
  const key = await parseSigningKey(jwkText);
  const signer = new TokenSigner(() => Promise.resolve(key));
  const settings = { issuer: 'token-exchange', integrationTokenTtl: 20, autojoinTokenTtl: 3600 };
  const who = { kind: 'integration' as const, ownerId: 'bench', keyId: 'ki_0123456789abcdef', tier: 0 };
  for (let i = 0; i < 50; i++) await signer.sign(claimsFor(who, settings)); // warm-up (JIT, key in hand)
  const each: number[] = [];
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(budgetMs) * 1_000_000n;
  while (each.length < maxSignatures && process.hrtime.bigint() < deadline) {
    const t0 = process.hrtime.bigint();
    await signer.sign(claimsFor(who, settings));
    each.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  const totalUs = Number(process.hrtime.bigint() - started) / 1000;
  return { signatures: each.length, meanUs: totalUs / each.length, medianUs: median(each) };
}
