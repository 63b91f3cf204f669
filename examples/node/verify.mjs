// A verifier for M-Lab's exchanged tokens, in Node with jose (npm install jose). verifyToken is
// the part to copy; run as a script, it reads one token on stdin and prints the claims to
// trust, or why the token was refused (never the token itself).
//
//   MLAB_JWKS_URL=https://auth.mlab-oti.measurementlab.net/.well-known/jwks.json \
//   MLAB_TOKEN_AUDIENCE=integration node examples/node/verify.mjs < token.txt
//
// Environment: MLAB_JWKS_URL (required), MLAB_TOKEN_AUDIENCE (integration or autojoin; default
// integration), MLAB_TOKEN_ISSUER (default token-exchange, the functions' TOKEN_ISSUER).
import { createRemoteJWKSet, errors, jwtVerify } from 'jose';
import { pathToFileURL } from 'node:url';

/**
 * The key set, cached for the max-age its answer carries (3600 s) and re-fetched early when a
 * token names a kid it lacks, at most once per cooldown: that is how a newly promoted signing key
 * reaches this verifier before the cache expires, without tokens with made-up kids making it
 * hammer the JWKS URL.
 */
export function remoteKeySet(jwksUrl) {
  const keySet = createRemoteJWKSet(new URL(jwksUrl), { cacheMaxAge: 3600_000, cooldownDuration: 30_000 });
  // The tokens always name their key; a token without a kid is refused, not tried against every key.
  return (header, token) => {
    if (!header.kid) throw new errors.JWSInvalid('the token names no kid');
    return keySet(header, token);
  };
}

/** The claims to route and account by, or a thrown error saying why the token is refused. */
export async function verifyToken(token, keySet, { audience, issuer = 'token-exchange' }) {
  const { payload } = await jwtVerify(token, keySet, {
    issuer,
    audience,
    // RS256 only: what production signs with, and all ESPv2 (in front of Locate) verifies.
    algorithms: ['RS256'],
    typ: 'JWT',
    requiredClaims: ['exp', 'nbf', 'iat', 'jti'],
    // A few seconds of clock skew at most: the tokens live 20 s.
    clockTolerance: 2,
  });
  if (audience === 'integration') {
    const { int_id, key_id, tier } = payload;
    if (typeof int_id !== 'string' || typeof key_id !== 'string' || !Number.isInteger(tier)) {
      throw new errors.JWTClaimValidationFailed('the token lacks int_id, key_id or tier', payload);
    }
    return { int_id, key_id, tier };
  }
  if (typeof payload.org !== 'string') throw new errors.JWTClaimValidationFailed('the token lacks org', payload);
  return { org: payload.org };
}

async function main() {
  const jwksUrl = process.env.MLAB_JWKS_URL;
  if (!jwksUrl) {
    console.error('MLAB_JWKS_URL is not set');
    process.exit(2);
  }
  let token = '';
  for await (const chunk of process.stdin) token += chunk;
  try {
    const claims = await verifyToken(token.trim(), remoteKeySet(jwksUrl), {
      audience: process.env.MLAB_TOKEN_AUDIENCE || 'integration',
      issuer: process.env.MLAB_TOKEN_ISSUER || 'token-exchange',
    });
    console.log(JSON.stringify(claims));
  } catch (error) {
    // jose's codes say why (ERR_JWT_EXPIRED, ERR_JWT_CLAIM_VALIDATION_FAILED, ERR_JWKS_NO_MATCHING_KEY…).
    console.error(`refused: ${error.code ?? 'error'}: ${error.message}`);
    process.exit(1);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await main();
