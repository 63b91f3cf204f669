/**
 * Signs claim sets with the signing key.
 *
 * The key is read at cold start and then kept: reading Secret Manager per request would put
 * a network call on the hot path. It is re-read in the background every
 * SIGNING_KEY_REFRESH_SECONDS, while the key in hand keeps signing, so that moving the
 * version alias (`token-admin signing-key promote`) reaches every instance without a
 * redeploy. A failed first read is not remembered: the next request tries again (a Secret
 * Manager hiccup at start-up must not leave an instance unable to sign for ever). A failed
 * re-read keeps the key in hand and is tried again shortly.
 */
import { SignJWT } from 'jose';
import type { TokenClaims } from '../exchange/claims';
import { parseSigningKey, type SigningKey } from './signingKey';
import type { SigningKeySource } from './sources';

/** What an exchange handler needs: something that signs claims. */
export interface ClaimsSigner {
  sign(claims: TokenClaims): Promise<string>;
}

export interface TokenSignerOptions {
  /** Re-read the key this often, in ms; 0 (the default) never re-reads. */
  readonly refreshMs?: number;
  /** Told about a failed background re-read (the key in hand keeps signing). */
  readonly onRefreshError?: (error: Error) => void;
  readonly now?: () => number;
}

/** After a failed re-read, try again after this long (or the refresh interval, if shorter). */
const RETRY_MS = 30_000;

export class TokenSigner implements ClaimsSigner {
  private inHand: { key: SigningKey; nextReadAt: number } | undefined;
  private loading: Promise<SigningKey> | undefined;
  private readonly now: () => number;

  constructor(
    private readonly load: () => Promise<SigningKey>,
    private readonly options: TokenSignerOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  static fromSource(source: SigningKeySource, options: TokenSignerOptions = {}): TokenSigner {
    return new TokenSigner(async () => parseSigningKey(await source.signingKey()), options);
  }

  /** The signing key: the one in hand (starting a re-read when due), else a fresh read. */
  key(): Promise<SigningKey> {
    if (this.inHand === undefined) return this.read();
    if (this.options.refreshMs && this.now() >= this.inHand.nextReadAt && this.loading === undefined) {
      this.read().catch((error: Error) => {
        if (this.inHand) this.inHand.nextReadAt = this.now() + Math.min(RETRY_MS, this.options.refreshMs ?? RETRY_MS);
        this.options.onRefreshError?.(error);
      });
    }
    return Promise.resolve(this.inHand.key);
  }

  private read(): Promise<SigningKey> {
    if (this.loading === undefined) {
      const loading = this.load().then((key) => {
        this.inHand = { key, nextReadAt: this.now() + (this.options.refreshMs ?? 0) };
        return key;
      });
      this.loading = loading;
      loading.then(
        () => (this.loading = undefined),
        () => (this.loading = undefined),
      );
    }
    return this.loading;
  }

  async sign(claims: TokenClaims): Promise<string> {
    const key = await this.key();
    return new SignJWT({ ...claims })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
      .sign(key.privateKey);
  }
}
