/**
 * The claim set of each kind of token, in one place. Verifiers (Locate, NDT servers,
 * autojoin; go-jose) check iss, aud, exp and nbf with zero leeway, and read the custom
 * claims: int_id, key_id and tier for integrations; org for autojoin.
 */
import { randomUUID } from 'node:crypto';
import { KINDS, type KeyKind } from '../keys/kinds';
import type { VerifiedKey } from './verifier';

export interface TokenSettings {
  readonly issuer: string;
  readonly integrationTokenTtl: number;
  readonly autojoinTokenTtl: number;
}

interface CommonClaims {
  readonly iss: string;
  readonly aud: KeyKind;
  readonly iat: number;
  readonly nbf: number;
  readonly exp: number;
  readonly jti: string;
}

export interface IntegrationClaims extends CommonClaims {
  readonly aud: 'integration';
  readonly int_id: string;
  readonly key_id: string;
  readonly tier: number;
}

export interface AutojoinClaims extends CommonClaims {
  readonly aud: 'autojoin';
  readonly org: string;
}

export type TokenClaims = IntegrationClaims | AutojoinClaims;

export function tokenTtl(kind: KeyKind, settings: TokenSettings): number {
  return settings[KINDS[kind].tokenTtlSetting];
}

/** @param nowSeconds seconds since the epoch, whole. */
export function claimsFor(
  key: Omit<VerifiedKey, 'record'>,
  settings: TokenSettings,
  nowSeconds: number = Math.floor(Date.now() / 1000),
): TokenClaims {
  const common = {
    iss: settings.issuer,
    iat: nowSeconds,
    nbf: nowSeconds,
    exp: nowSeconds + tokenTtl(key.kind, settings),
    jti: randomUUID(),
  };
  // The one branch on the kind left: the claim sets differ in shape (key_id, tier), and the
  // typed union says so. The owner claim is KINDS[kind].ownerClaim, checked by the unit tests.
  if (key.kind === 'integration') {
    return { ...common, aud: 'integration', int_id: key.ownerId, key_id: key.keyId, tier: key.tier };
  }
  return { ...common, aud: 'autojoin', org: key.ownerId };
}
