/**
 * The JSON Web Key Set `jwks` serves: the public part of every published signing key.
 *
 * Re-read every JWKS_REFRESH_SECONDS (`refreshing.ts` says how, and when a request waits for
 * it) so that a newly staged key version is served within that interval by every instance,
 * idle ones included: a verifier that fetched a stale set would keep it for max-age, past
 * the moment `promote` was told the new key is known everywhere. A failed refresh keeps the
 * last good set (verifiers caching a shrunken set would reject valid tokens). Only with no
 * good set yet is a failure the caller's to answer (503).
 */
import { createHash } from 'node:crypto';
import type { LogEntry } from '../platform/log';
import { Refreshing } from './refreshing';
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
  private readonly published: Refreshing<PublishedJwks>;

  constructor(
    private readonly source: SigningKeySource,
    refreshMs: number,
    private readonly log: (entry: LogEntry) => void,
    now: () => number = Date.now,
  ) {
    // read() logs its own failures.
    this.published = new Refreshing(() => this.read(), { refreshMs, now });
  }

  current(): Promise<PublishedJwks> {
    return this.published.get();
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
    return { body, etag, keys };
  }
}
