/**
 * Per-instance memory of secrets already verified against a bcrypt hash, so that a key in
 * use pays bcrypt once per instance rather than once per request.
 *
 * An entry is keyed by the key record's Datastore path and holds the stored hash it was
 * verified against plus the SHA-256 of the secret (never the secret; see secretDigest). It
 * counts only while the stored hash is unchanged: rerolling a secret invalidates it. The record itself is
 * still read on every request, so revocation and expiry bite on the next request whatever
 * this cache holds. Bounded: least recently used entries go first.
 */
import { timingSafeEqual } from 'node:crypto';

interface Entry {
  readonly keyHash: string;
  readonly secretDigest: Buffer;
}

export class VerifiedSecretCache {
  private readonly entries = new Map<string, Entry>();

  /** @param capacity most entries kept; 0 turns the cache off. */
  constructor(readonly capacity: number) {}

  get size(): number {
    return this.entries.size;
  }

  /** Whether the secret with this digest was verified against exactly `keyHash` at `path`. */
  has(path: string, keyHash: string, secretDigest: Buffer): boolean {
    const entry = this.entries.get(path);
    if (entry === undefined) return false;
    if (entry.keyHash !== keyHash) {
      this.entries.delete(path);
      return false;
    }
    if (!timingSafeEqual(entry.secretDigest, secretDigest)) return false;
    // Map iteration order is insertion order: re-inserting marks it most recently used.
    this.entries.delete(path);
    this.entries.set(path, entry);
    return true;
  }

  remember(path: string, keyHash: string, secretDigest: Buffer): void {
    if (this.capacity === 0) return;
    this.entries.delete(path);
    this.entries.set(path, { keyHash, secretDigest });
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }
}
