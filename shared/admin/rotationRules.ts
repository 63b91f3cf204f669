/**
 * The signing-key rotation's rules, as pure functions of what Secret Manager reports and the
 * clock: which role each version plays, and how long to wait before promoting or retiring
 * one. signingKeyRotation.ts reads the secret, asks these, and writes.
 *
 * Why the waits: `jwks` re-reads the versions every JWKS_REFRESH_SECONDS and verifiers may
 * cache the set for JWKS_MAX_AGE_SECONDS (its `max-age`), so a staged version may sign only once it has been
 * published for both (every verifier then knows its kid). Instances re-read the alias every
 * SIGNING_KEY_REFRESH_SECONDS and the longest token lives max(TTL), so a version that stopped
 * signing stays published for both, or a token it signed would fail verification.
 */
import type { TimingSettings } from '../platform/config';

export type VersionState = 'ENABLED' | 'DISABLED' | 'DESTROYED' | 'UNKNOWN';

/** Where a version stands in the rotation. */
export type VersionRole = 'signing' | 'staged' | 'stopped-signing' | 'published' | 'disabled' | 'destroyed';

export type PublicationTiming = Pick<TimingSettings, 'jwksRefreshSeconds' | 'jwksMaxAgeSeconds'>;

/** How long a staged version must have been published before it may sign, in seconds. */
export function publicationDelaySeconds(timing: PublicationTiming): number {
  // A verifier may hold the set fetched just before `jwks` re-read the versions.
  return timing.jwksMaxAgeSeconds + timing.jwksRefreshSeconds;
}

export type RetirementTiming = Pick<
  TimingSettings,
  'integrationTokenTtl' | 'autojoinTokenTtl' | 'signingKeyRefreshSeconds'
>;

/**
 * How long a version must stay published after the alias left it, in seconds: instances keep
 * signing with it until their next re-read of the alias, and its last tokens then live on.
 */
export function retirementDelaySeconds(timing: RetirementTiming): number {
  return timing.signingKeyRefreshSeconds + Math.max(timing.integrationTokenTtl, timing.autojoinTokenTtl);
}

export function later(date: Date, seconds: number): Date {
  return new Date(date.getTime() + seconds * 1000);
}

function iso(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** What decides a version's role. */
export interface VersionFacts {
  readonly version: number;
  readonly state: VersionState;
  /** Among the newest enabled versions `jwks` publishes. */
  readonly published: boolean;
  /** The version the signers' alias names, if it is set. */
  readonly signing: number | undefined;
  /** When promote moved the alias off this version, if it did. */
  readonly stoppedSigningAt: Date | undefined;
}

/**
 * A version the alias names signs; one the alias left (by promote) stopped signing; an
 * unpublished one newer than the signing version, or any while no alias is set, is staged;
 * an older one never moved off by promote is merely published.
 */
export function versionRole(facts: VersionFacts): VersionRole {
  if (facts.state === 'DESTROYED') return 'destroyed';
  if (facts.state !== 'ENABLED' || !facts.published) return 'disabled';
  if (facts.version === facts.signing) return 'signing';
  if (facts.stoppedSigningAt !== undefined) return 'stopped-signing';
  if (facts.signing === undefined || facts.version > facts.signing) return 'staged';
  return 'published';
}

/** When a version created (published) at `createdAt` may be promoted without force. */
export function promotableAt(createdAt: Date, timing: PublicationTiming): Date {
  return later(createdAt, publicationDelaySeconds(timing));
}

/** When a version that stopped signing at `stoppedAt` may be retired without force. */
export function retirableAt(stoppedAt: Date, timing: RetirementTiming): Date {
  return later(stoppedAt, retirementDelaySeconds(timing));
}

/**
 * Why promoting now would be early, or undefined when it is not. A version of unknown
 * creation time is taken as published long enough: Secret Manager always records one.
 */
export function promotionRefusal(
  version: number,
  createdAt: Date | undefined,
  now: Date,
  timing: PublicationTiming,
): string | undefined {
  if (createdAt === undefined) return undefined;
  const at = promotableAt(createdAt, timing);
  if (at.getTime() <= now.getTime()) return undefined;
  return (
    `version ${version} has been published since ${iso(createdAt)}; verifiers may cache the JWKS for ` +
    `${publicationDelaySeconds(timing)} s, so promote it after ${iso(at)}`
  );
}

/** What decides whether a version may be retired now. */
export interface RetirementFacts {
  readonly version: number;
  /** When promote moved the alias off it, if it did. */
  readonly stoppedAt: Date | undefined;
  readonly signing: number | undefined;
  /** The alias signers read, to name in the refusal. */
  readonly alias: string;
  readonly now: Date;
  readonly timing: RetirementTiming;
}

/**
 * Why retiring now could unpublish a key whose tokens are still alive, or undefined when it
 * cannot: a version retires once its last tokens have expired; one with no record of when
 * it stopped signing only if it is newer than the signing version (staged, never promoted).
 */
export function retirementRefusal(facts: RetirementFacts): string | undefined {
  const { version, stoppedAt, signing, timing } = facts;
  if (stoppedAt !== undefined) {
    const at = retirableAt(stoppedAt, timing);
    if (at.getTime() <= facts.now.getTime()) return undefined;
    return (
      `version ${version} stopped signing at ${iso(stoppedAt)}; instances may sign with it for ` +
      `${timing.signingKeyRefreshSeconds} s more and tokens live up to ` +
      `${retirementDelaySeconds(timing) - timing.signingKeyRefreshSeconds} s: retire it after ${iso(at)}`
    );
  }
  if (signing !== undefined && version > signing) return undefined;
  return (
    `there is no record of when version ${version} stopped signing (it was not moved off ${facts.alias} ` +
    'by promote): retire it once no token it signed can be unexpired'
  );
}
