/**
 * The signing key: a private JWK as the Go service's secret holds it (written by jose-util),
 * EdDSA (Ed25519), ES256 (P-256) or RS256. Its `kid` is the JWK's own, or its RFC 7638
 * thumbprint when it has none, so a verifier can always pick the key by `kid`.
 *
 * RS256 is the default everywhere a key is made: Locate's Cloud Endpoints proxy (ESPv2),
 * which checks autojoin and integration tokens before Locate sees them, verifies RSA (and
 * HMAC) only. EdDSA and ES256 keys still load and sign, for verifiers that take them.
 */
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { ExpectedError } from '../platform/errors';

export type SigningAlgorithm = 'EdDSA' | 'ES256' | 'RS256';

/** What `generateSigningKey`, `token-admin signing-key` and the local stack make by default. */
export const DEFAULT_SIGNING_ALGORITHM: SigningAlgorithm = 'RS256';

/**
 * The one-line warning for a key ESPv2 cannot verify (undefined for RS256), printed by every
 * tool that makes or stages such a key.
 */
export function espv2Warning(alg: SigningAlgorithm): string | undefined {
  if (alg === 'RS256') return undefined;
  return (
    `warning: Locate's Cloud Endpoints (ESPv2) cannot verify ${alg} tokens (it verifies RSA only): ` +
    'use RS256 for tokens that reach Locate'
  );
}

export interface PublicJwk {
  readonly kty: string;
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  readonly use: 'sig';
  readonly crv?: string;
  readonly x?: string;
  readonly y?: string;
  readonly n?: string;
  readonly e?: string;
}

export interface SigningKey {
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  readonly privateKey: CryptoKey;
  readonly publicJwk: PublicJwk;
}

/** A JWK that cannot be a signing key here: not JSON, public, of an unsupported type, … */
export class SigningKeyError extends ExpectedError {
  override readonly name = 'SigningKeyError';
  readonly code = 'invalid-signing-key';
}

function algorithmOf(jwk: JWK): SigningAlgorithm {
  let expected: SigningAlgorithm;
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') expected = 'EdDSA';
  else if (jwk.kty === 'EC' && jwk.crv === 'P-256') expected = 'ES256';
  else if (jwk.kty === 'RSA') expected = 'RS256';
  else
    throw new SigningKeyError(
      `unsupported key type ${JSON.stringify(jwk.kty)}` +
        `${jwk.crv ? ` (curve ${JSON.stringify(jwk.crv)})` : ''}: use Ed25519, P-256 or RSA`,
    );
  // jose-util writes `EdDSA`; RFC 9864 names the same algorithm `Ed25519`.
  const declared = jwk.alg === 'Ed25519' ? 'EdDSA' : jwk.alg;
  if (declared !== undefined && declared !== expected) {
    throw new SigningKeyError(`the key's alg ${JSON.stringify(jwk.alg)} does not fit its type (expected ${expected})`);
  }
  return expected;
}

const PUBLIC_MEMBERS = { OKP: ['crv', 'x'], EC: ['crv', 'x', 'y'], RSA: ['n', 'e'] } as const;

/** Reads a private JWK from JSON text; every problem is a SigningKeyError that names it. */
export async function parseSigningKey(jwkText: string): Promise<SigningKey> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(jwkText);
  } catch {
    // Not the parser's message: it quotes the text, which may be key material.
    throw new SigningKeyError('the signing key is not a JWK: not valid JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new SigningKeyError('the signing key is not a JWK: not a JSON object');
  }
  const jwk = parsed as JWK;
  const alg = algorithmOf(jwk);
  if (typeof jwk.d !== 'string' || jwk.d === '')
    throw new SigningKeyError('the signing key is a public key: a private JWK (with "d") is needed to sign');
  if (jwk.use !== undefined && jwk.use !== 'sig')
    throw new SigningKeyError(`the signing key's use is ${JSON.stringify(jwk.use)}, not "sig"`);
  const members = PUBLIC_MEMBERS[jwk.kty as keyof typeof PUBLIC_MEMBERS];
  const publicMembers: Record<string, string> = {};
  for (const member of members) {
    const value = jwk[member];
    if (typeof value !== 'string' || value === '') throw new SigningKeyError(`the signing key lacks "${member}"`);
    publicMembers[member] = value;
  }
  const kid =
    typeof jwk.kid === 'string' && jwk.kid !== ''
      ? jwk.kid
      : await calculateJwkThumbprint({ kty: jwk.kty, ...publicMembers });
  let privateKey: CryptoKey;
  try {
    const imported = await importJWK({ ...jwk, alg, ext: false }, alg);
    if (imported instanceof Uint8Array) throw new Error('a symmetric key');
    privateKey = imported;
  } catch (error) {
    throw new SigningKeyError(`the signing key cannot be used for ${alg}: ${(error as Error).message}`);
  }
  return { kid, alg, privateKey, publicJwk: { kty: jwk.kty as string, ...publicMembers, kid, alg, use: 'sig' } };
}

/**
 * A new private JWK with `kid` (its RFC 7638 thumbprint), `alg` and `use`, as the local stack
 * and the admin CLI make them: RS256 (RSA 2048) unless asked otherwise.
 */
export async function generateSigningKey(alg: SigningAlgorithm = DEFAULT_SIGNING_ALGORITHM): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg === 'EdDSA' ? 'Ed25519' : alg, { extractable: true });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { kid, alg, use: 'sig', ...jwk };
}
