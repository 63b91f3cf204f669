/**
 * The JSON Web Key Set `jwks` serves: the public part of every published signing key.
 *
 * Re-read every JWKS_REFRESH_SECONDS so a newly staged key version appears without a
 * redeploy. A refresh runs in the background while the last good set keeps being served;
 * a failed refresh keeps the last good set (verifiers caching a shrunken set would reject
 * valid tokens). Only with no good set yet is a failure the caller's to answer (503).
 */
import { createHash } from 'node:crypto';
import type { LogEntry } from '../platform/log';
import { parseSigningKey, type PublicJwk } from './signingKey';
import type { SigningKeySource } from './sources';

export interface PublishedJwks {
  /** `{"keys":[...]}` as sent. */
  readonly body: string;
  /** Strong entity tag of the body. */
  readonly etag: string;
  readonly keys: readonly PublicJwk[];
}

export class JwksPublisher {
  private published: PublishedJwks | undefined;
  private loadedAt = 0;
  private refreshing: Promise<PublishedJwks> | undefined;

  constructor(
    private readonly source: SigningKeySource,
    private readonly refreshMs: number,
    private readonly log: (entry: LogEntry) => void,
    private readonly now: () => number = Date.now,
  ) {}

  async current(): Promise<PublishedJwks> {
    if (this.published === undefined) return this.refresh();
    if (this.now() - this.loadedAt >= this.refreshMs) {
      this.refresh().catch(() => undefined);
    }
    return this.published;
  }

  private refresh(): Promise<PublishedJwks> {
    if (this.refreshing === undefined) {
      this.refreshing = this.read().finally(() => {
        this.refreshing = undefined;
      });
    }
    return this.refreshing;
  }

  private async read(): Promise<PublishedJwks> {
    let versions: Array<{ version: string; jwk: string }>;
    try {
      versions = await this.source.publishedKeys();
    } catch (error) {
      this.log({ severity: 'ERROR', message: `cannot read the signing keys to publish: ${(error as Error).message}` });
      throw error;
    }
    const keys: PublicJwk[] = [];
    for (const { version, jwk } of versions) {
      try {
        const key = (await parseSigningKey(jwk)).publicJwk;
        if (!keys.some((k) => k.kid === key.kid)) keys.push(key);
      } catch (error) {
        // One unusable version must not unpublish the others.
        this.log({
          severity: 'ERROR',
          message: `signing key version ${version} is not published: ${(error as Error).message}`,
        });
      }
    }
    if (keys.length === 0) {
      throw new Error('no usable signing key to publish');
    }
    const body = JSON.stringify({ keys });
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
    this.published = { body, etag, keys };
    this.loadedAt = this.now();
    return this.published;
  }
}
