/**
 * Signs claim sets with the signing key, which is loaded once per instance. The first load
 * starts at cold start; a failed load is not remembered, so the next request tries again
 * (a Secret Manager hiccup at start-up must not leave an instance unable to sign for ever).
 */
import { SignJWT } from 'jose';
import type { TokenClaims } from './claims';
import { parseSigningKey, type SigningKey } from './signingKey';
import type { SigningKeySource } from './signingKeySource';

/** What an exchange handler needs: something that signs claims. */
export interface ClaimsSigner {
  sign(claims: TokenClaims): Promise<string>;
}

export class TokenSigner implements ClaimsSigner {
  private loading: Promise<SigningKey> | undefined;

  constructor(private readonly load: () => Promise<SigningKey>) {}

  static fromSource(source: SigningKeySource): TokenSigner {
    return new TokenSigner(async () => parseSigningKey(await source.signingKey()));
  }

  /** The signing key, loading it if no load is under way or done. */
  key(): Promise<SigningKey> {
    if (this.loading === undefined) {
      const loading = this.load();
      this.loading = loading;
      loading.catch(() => {
        if (this.loading === loading) this.loading = undefined;
      });
    }
    return this.loading;
  }

  async sign(claims: TokenClaims): Promise<string> {
    const key = await this.key();
    return new SignJWT({ ...claims }).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' }).sign(key.privateKey);
  }
}
