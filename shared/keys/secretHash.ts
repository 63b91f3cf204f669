/**
 * Hashing and checking key secrets.
 *
 * Keys made here store bcrypt(secret): even if the Datastore contents leak, the secrets
 * cannot be recovered by brute force at any useful rate. bcrypt is slow on purpose
 * (≈ 85 ms at cost 10 with bcryptjs, on the event loop), so the exchange keeps a cache of
 * secrets it has already verified (shared/exchange/cache.ts) and throttles wrong guesses
 * (shared/exchange/throttle.ts) before they reach bcrypt.
 *
 * Keys made by the Go service store the lowercase hex SHA-256 of the secret; they keep
 * working, checked with a constant-time compare. The stored form tells which is which.
 */
import bcrypt from 'bcryptjs';
import { hash, timingSafeEqual } from 'node:crypto';

export const DEFAULT_BCRYPT_COST = 10;

export type HashKind = 'bcrypt' | 'sha256' | 'unknown';

// bcrypt's cost is 4 to 31: a stored hash with another cost cannot be checked (bcryptjs
// throws), so it reads as unknown, like any other unreadable hash.
const BCRYPT_HASH = /^\$2[aby]\$(?:0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;

export function hashKind(storedHash: string): HashKind {
  if (BCRYPT_HASH.test(storedHash)) return 'bcrypt';
  if (SHA256_HEX.test(storedHash)) return 'sha256';
  return 'unknown';
}

export async function hashSecret(secret: string, cost: number = DEFAULT_BCRYPT_COST): Promise<string> {
  return bcrypt.hash(secret, cost);
}

export function sha256Hex(secret: string): string {
  return hash('sha256', secret, 'hex');
}

/**
 * The SHA-256 of a secret, under which the exchange remembers it was verified: the
 * 256-bit random secret itself is never kept in memory longer than the request.
 */
export function secretDigest(secret: string): Buffer {
  return hash('sha256', secret, 'buffer');
}

/** Constant-time check of a secret against a Go-service SHA-256 hash. */
export function matchesSha256(secret: string, storedHash: string): boolean {
  const presented = Buffer.from(sha256Hex(secret), 'utf8');
  const stored = Buffer.from(storedHash, 'utf8');
  return presented.length === stored.length && timingSafeEqual(presented, stored);
}

export async function matchesBcrypt(secret: string, storedHash: string): Promise<boolean> {
  return bcrypt.compare(secret, storedHash);
}
