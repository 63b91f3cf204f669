/**
 * The floor: the least an integration exchange can do, for `npm run bench` to compare ours
 * with. Exactly: read the JSON body, split the scoped key, one Datastore get by key path
 * (the same kinds and namespace as ours), a constant-time compare of the secret's SHA-256
 * with the stored hex `key_hash` (as the Go service stores it), sign the same claims with
 * the same private key via jose, respond JSON. No logging, no checks beyond that.
 *
 * Served two ways by the entry points beside it: floorFramework.ts (functions-framework)
 * and floorNodeHttp.ts (bare node:http). bench.ts bundles them with esbuild at run time.
 */
import { Datastore } from '@google-cloud/datastore';
import { importJWK, SignJWT, type CryptoKey, type JWK } from 'jose';
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface FloorResponse {
  readonly status: number;
  readonly body: string;
}

export type FloorExchange = (body: { api_key?: unknown }) => Promise<FloorResponse>;

const UNAUTHORIZED: FloorResponse = { status: 401, body: '{"title":"Invalid API key"}' };

/** The floor's exchange, configured from the same variables as ours. */
export function createFloorExchange(env: NodeJS.ProcessEnv = process.env): FloorExchange {
  const datastore = new Datastore({ projectId: env.PROJECT_ID as string });
  const namespace = env.CLIENT_INTEGRATION_NS || 'client-integration';
  const issuer = env.TOKEN_ISSUER || 'token-exchange';
  const ttl = Number(env.INTEGRATION_TOKEN_TTL || 20);
  const jwk = JSON.parse(readFileSync(env.SIGNING_KEY_FILE as string, 'utf8')) as JWK & { alg: string; kid: string };
  const signingKey = importJWK(jwk, jwk.alg) as Promise<CryptoKey>;
  const header = { alg: jwk.alg, kid: jwk.kid, typ: 'JWT' };

  return async (body) => {
    // mlabk.cii_<integrationId>.<keyId>.<secret>
    const [, owner = '', keyId = '', secret = ''] = String(body.api_key).split('.');
    const integrationId = owner.slice('cii_'.length);
    const [entity] = (await datastore.get(
      datastore.key({ namespace, path: ['IntegrationMeta', integrationId, 'IntegrationAPIKey', keyId] }),
    )) as [{ key_hash?: string; tier?: number } | undefined];
    const stored = Buffer.from(entity?.key_hash ?? '', 'hex');
    const presented = createHash('sha256').update(secret, 'utf8').digest();
    if (stored.length !== presented.length || !timingSafeEqual(stored, presented)) return UNAUTHORIZED;
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({
      iss: issuer,
      iat: now,
      nbf: now,
      exp: now + ttl,
      jti: randomUUID(),
      aud: 'integration',
      int_id: integrationId,
      key_id: keyId,
      tier: Number(entity?.tier ?? 0),
    })
      .setProtectedHeader(header)
      .sign(await signingKey);
    return { status: 200, body: JSON.stringify({ token, token_type: 'Bearer', expires_in: ttl }) };
  };
}
