/**
 * Signs claim sets with the signing key.
 *
 * The key is read at cold start and then kept: reading Secret Manager per request would put
 * a network call on the hot path. It is re-read every SIGNING_KEY_REFRESH_SECONDS
 * (`refreshing.ts` says how, and when a request waits for it), so that moving the version
 * alias (`token-admin signing-key promote`) reaches every instance within that interval,
 * without a redeploy, idle instances included.
 */
import { SignJWT } from 'jose';
import type { TokenClaims } from '../exchange/claims';
import { Refreshing } from './refreshing';
import { parseSigningKey, type SigningKey } from './signingKey';
import type { SigningKeySource } from './sources';

/** What an exchange handler needs: something that signs claims. */
export interface ClaimsSigner {
  sign(claims: TokenClaims): Promise<string>;
}

export interface TokenSignerOptions {
  /** Re-read the key this often, in ms; 0 (the default) never re-reads. */
  readonly refreshMs?: number;
  /** Told about a failed re-read (the key in hand keeps signing). */
  readonly onRefreshError?: (error: Error) => void;
  readonly now?: () => number;
}

export class TokenSigner implements ClaimsSigner {
  private readonly signingKey: Refreshing<SigningKey>;

  constructor(load: () => Promise<SigningKey>, options: TokenSignerOptions = {}) {
    this.signingKey = new Refreshing(load, { ...options, refreshMs: options.refreshMs ?? 0 });
  }

  static fromSource(source: SigningKeySource, options: TokenSignerOptions = {}): TokenSigner {
    return new TokenSigner(async () => parseSigningKey(await source.signingKey()), options);
  }

  /** The signing key: the one in hand while fresh enough, else a new read. */
  key(): Promise<SigningKey> {
    return this.signingKey.get();
  }

  async sign(claims: TokenClaims): Promise<string> {
    const key = await this.key();
    return new SignJWT({ ...claims })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
      .sign(key.privateKey);
  }
}
