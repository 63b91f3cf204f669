/**
 * Rotating the signing key in Secret Manager, without a token that cannot be verified.
 *
 * The secret (SIGNING_KEY_SECRET) holds one private JWK per version. Signers read the version
 * a *version alias* names (SIGNING_KEY_VERSION, `current` here); `jwks` publishes every
 * enabled version (newest first, at most MAX_PUBLISHED_VERSIONS) and re-reads them every
 * JWKS_REFRESH_SECONDS; verifiers may cache the set for JWKS_MAX_AGE_SECONDS. So a rotation is
 *
 *   stage    add a version: published, not yet signing
 *   promote  move the alias to it, once it has been published longer than a verifier may
 *            cache the old set (max-age + refresh): every verifier then knows the new kid
 *   retire   disable the old version, once the longest token it signed has expired
 *
 * Secret Manager records when a version was created (the start of "published"), not when
 * the alias left a version (the end of "signing"). `promote` records that moment in the
 * secret's annotations, `token-admin-stopped-<version>`, in the same update that moves the
 * alias, and `retire` reads it back. `stage` also records each version's kid and alg
 * (`token-admin-key-<version>`) so `list` can name versions whose payload is disabled.
 *
 * Expected refusals are AdminErrors; `force` overrides the time rules, never the others.
 */
import type { SecretManagerServiceClient, protos } from '@google-cloud/secret-manager';
import type { TimingSettings } from '../platform/config';
import { JWKS_MAX_AGE_SECONDS } from '../signing/jwksHandler';
import { AdminError } from './adminError';
import { espv2Warning, parseSigningKey, SigningKeyError, type SigningAlgorithm } from '../signing/signingKey';
import { MAX_PUBLISHED_VERSIONS } from '../signing/sources';

type SecretVersion = protos.google.cloud.secretmanager.v1.ISecretVersion;
type Secret = protos.google.cloud.secretmanager.v1.ISecret;

export interface SigningKeyAdminContext {
  readonly client: SecretManagerServiceClient;
  /** `projects/<project>/secrets/<name>`. */
  readonly secret: string;
  /** The version alias signers read (SIGNING_KEY_VERSION), e.g. `current`. */
  readonly alias: string;
  readonly timing: TimingSettings;
  readonly now?: () => Date;
}

export type VersionState = 'ENABLED' | 'DISABLED' | 'DESTROYED' | 'UNKNOWN';

/** Where a version stands in the rotation. */
export type VersionRole = 'signing' | 'staged' | 'stopped-signing' | 'published' | 'disabled' | 'destroyed';

export interface SigningKeyVersion {
  readonly version: number;
  readonly kid: string | undefined;
  readonly alg: SigningAlgorithm | undefined;
  readonly state: VersionState;
  /** Aliases that point at this version. */
  readonly aliases: readonly string[];
  readonly role: VersionRole;
  readonly createdAt: Date | undefined;
  readonly stoppedSigningAt: Date | undefined;
  /** A staged version: when `promote` accepts it without `force`. */
  readonly promotableAt: Date | undefined;
  /** A version that stopped signing: when `retire` accepts it without `force`. */
  readonly retirableAt: Date | undefined;
}

const CALL_OPTIONS = { timeout: 30_000 };
const STOPPED = 'token-admin-stopped-';
const KEY_INFO = 'token-admin-key-';

/** How long a staged version must have been published before it may sign, in seconds. */
export function publicationDelaySeconds(timing: Pick<TimingSettings, 'jwksRefreshSeconds'>): number {
  // A verifier may hold the set fetched just before `jwks` re-read the versions.
  return JWKS_MAX_AGE_SECONDS + timing.jwksRefreshSeconds;
}

/**
 * How long a version must stay published after the alias left it, in seconds: instances keep
 * signing with it until their next re-read of the alias, and its last tokens then live on.
 */
export function retirementDelaySeconds(timing: Pick<TimingSettings, 'integrationTokenTtl' | 'autojoinTokenTtl' | 'signingKeyRefreshSeconds'>): number {
  return timing.signingKeyRefreshSeconds + Math.max(timing.integrationTokenTtl, timing.autojoinTokenTtl);
}

function nowOf(ctx: SigningKeyAdminContext): Date {
  return (ctx.now ?? (() => new Date()))();
}

function versionNumber(name: string | null | undefined): number {
  return Number((name ?? '').slice((name ?? '').lastIndexOf('/') + 1)) || 0;
}

function dateOfTimestamp(timestamp: protos.google.protobuf.ITimestamp | null | undefined): Date | undefined {
  if (!timestamp || timestamp.seconds === null || timestamp.seconds === undefined) return undefined;
  return new Date(Number(timestamp.seconds) * 1000 + Math.floor((timestamp.nanos ?? 0) / 1e6));
}

function stateOf(version: SecretVersion): VersionState {
  const state = String(version.state ?? '');
  return state === 'ENABLED' || state === 'DISABLED' || state === 'DESTROYED' ? state : 'UNKNOWN';
}

function later(date: Date, seconds: number): Date {
  return new Date(date.getTime() + seconds * 1000);
}

function iso(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

async function getSecret(ctx: SigningKeyAdminContext): Promise<Secret> {
  const [secret] = await ctx.client.getSecret({ name: ctx.secret }, CALL_OPTIONS);
  return secret;
}

function aliasesOf(secret: Secret): Map<string, number> {
  return new Map(Object.entries(secret.versionAliases ?? {}).map(([alias, version]) => [alias, Number(version)]));
}

async function listVersions(ctx: SigningKeyAdminContext): Promise<SecretVersion[]> {
  const [versions] = await ctx.client.listSecretVersions({ parent: ctx.secret }, CALL_OPTIONS);
  return versions.sort((a, b) => versionNumber(b.name) - versionNumber(a.name));
}

async function readKey(ctx: SigningKeyAdminContext, version: number): Promise<{ kid: string; alg: SigningAlgorithm } | undefined> {
  try {
    const [response] = await ctx.client.accessSecretVersion({ name: `${ctx.secret}/versions/${version}` }, CALL_OPTIONS);
    const data = response.payload?.data;
    const text = data === null || data === undefined ? '' : typeof data === 'string' ? data : Buffer.from(data).toString('utf8');
    const key = await parseSigningKey(text);
    return { kid: key.kid, alg: key.alg };
  } catch (error) {
    if (error instanceof SigningKeyError) return undefined;
    throw error;
  }
}

function recordedKey(annotations: Record<string, string>, version: number): { kid: string; alg: SigningAlgorithm } | undefined {
  const value = annotations[`${KEY_INFO}${version}`];
  const colon = value?.indexOf(':') ?? -1;
  if (value === undefined || colon < 0) return undefined;
  const alg = value.slice(0, colon);
  if (alg !== 'EdDSA' && alg !== 'ES256' && alg !== 'RS256') return undefined;
  return { alg, kid: value.slice(colon + 1) };
}

function recordedStop(annotations: Record<string, string>, version: number): Date | undefined {
  const value = annotations[`${STOPPED}${version}`];
  const date = value === undefined ? undefined : new Date(value);
  return date === undefined || Number.isNaN(date.getTime()) ? undefined : date;
}

/** Every version of the secret, newest first, with its kid and its place in the rotation. */
export async function listSigningKeys(ctx: SigningKeyAdminContext): Promise<SigningKeyVersion[]> {
  const [secret, versions] = await Promise.all([getSecret(ctx), listVersions(ctx)]);
  const aliases = aliasesOf(secret);
  const annotations = secret.annotations ?? {};
  const signing = aliases.get(ctx.alias);
  const enabled = versions.filter((v) => stateOf(v) === 'ENABLED').map((v) => versionNumber(v.name));
  const published = new Set(enabled.slice(0, MAX_PUBLISHED_VERSIONS));
  return Promise.all(
    versions.map(async (v): Promise<SigningKeyVersion> => {
      const number = versionNumber(v.name);
      const state = stateOf(v);
      const key = (state === 'ENABLED' ? await readKey(ctx, number) : undefined) ?? recordedKey(annotations, number);
      const createdAt = dateOfTimestamp(v.createTime);
      const stoppedSigningAt = recordedStop(annotations, number);
      let role: VersionRole;
      if (state === 'DESTROYED') role = 'destroyed';
      else if (state !== 'ENABLED' || !published.has(number)) role = 'disabled';
      else if (number === signing) role = 'signing';
      else if (stoppedSigningAt !== undefined) role = 'stopped-signing';
      else if (signing === undefined || number > signing) role = 'staged';
      else role = 'published';
      return {
        version: number,
        kid: key?.kid,
        alg: key?.alg,
        state,
        aliases: [...aliases].filter(([, n]) => n === number).map(([alias]) => alias),
        role,
        createdAt,
        stoppedSigningAt,
        promotableAt: role === 'staged' && createdAt ? later(createdAt, publicationDelaySeconds(ctx.timing)) : undefined,
        retirableAt: role === 'stopped-signing' && stoppedSigningAt ? later(stoppedSigningAt, retirementDelaySeconds(ctx.timing)) : undefined,
      };
    }),
  );
}

export interface StagedKey {
  readonly version: number;
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  readonly promotableAt: Date;
}

/**
 * Adds a private JWK as a new version: `jwks` publishes it from its next re-read; it signs
 * only once promoted. Refused for anything that is not a usable private JWK, for a kid the
 * secret already has (verifiers pick keys by kid), when the alias signers read is not set
 * on a secret that already has keys (they would be reading `latest`, so the new key would
 * sign at once), and when every publishable slot is taken (the signing key would drop out
 * of the published set). A key that is not RS256 is refused unless `allowNonRsa`: ESPv2, in
 * front of Locate, could not verify its tokens.
 */
export async function stageSigningKey(ctx: SigningKeyAdminContext, jwkText: string, options: { allowNonRsa?: boolean } = {}): Promise<StagedKey> {
  let key;
  try {
    key = await parseSigningKey(jwkText);
  } catch (error) {
    if (error instanceof SigningKeyError) throw new AdminError(error.message, 'invalid-argument');
    throw error;
  }
  const warning = espv2Warning(key.alg);
  if (warning !== undefined && !options.allowNonRsa) {
    throw new AdminError(`refusing to stage an ${key.alg} key: ${warning.replace(/^warning: /, '')}; pass --allow-non-rsa to stage it anyway`, 'failed-precondition');
  }
  const [secret, versions] = await Promise.all([getSecret(ctx), listVersions(ctx)]);
  const annotations = secret.annotations ?? {};
  const enabled = versions.filter((v) => stateOf(v) === 'ENABLED').map((v) => versionNumber(v.name));
  if (enabled.length > 0 && !aliasesOf(secret).has(ctx.alias)) {
    throw new AdminError(
      `${ctx.secret} has no alias ${ctx.alias}: point it at the version that signs now (signing-key promote --version <n>) and deploy the functions with SIGNING_KEY_VERSION=${ctx.alias} before staging`,
      'failed-precondition',
    );
  }
  if (enabled.length >= MAX_PUBLISHED_VERSIONS) {
    throw new AdminError(
      `${enabled.length} versions are enabled and jwks publishes at most ${MAX_PUBLISHED_VERSIONS}: retire one first`,
      'failed-precondition',
    );
  }
  for (const v of versions) {
    const number = versionNumber(v.name);
    const existing = (stateOf(v) === 'ENABLED' ? await readKey(ctx, number) : undefined) ?? recordedKey(annotations, number);
    if (existing?.kid === key.kid) throw new AdminError(`version ${number} already has kid ${key.kid}`, 'already-exists');
  }
  const [added] = await ctx.client.addSecretVersion({ parent: ctx.secret, payload: { data: Buffer.from(jwkText, 'utf8') } }, CALL_OPTIONS);
  const version = versionNumber(added.name);
  await updateAnnotations(ctx, (current) => ({ ...current, [`${KEY_INFO}${version}`]: `${key.alg}:${key.kid}` }));
  const createdAt = dateOfTimestamp(added.createTime) ?? nowOf(ctx);
  return { version, kid: key.kid, alg: key.alg, promotableAt: later(createdAt, publicationDelaySeconds(ctx.timing)) };
}

async function updateAnnotations(ctx: SigningKeyAdminContext, change: (current: Record<string, string>) => Record<string, string>): Promise<void> {
  const secret = await getSecret(ctx);
  await ctx.client.updateSecret(
    { secret: { name: ctx.secret, annotations: change({ ...(secret.annotations ?? {}) }) }, updateMask: { paths: ['annotations'] } },
    CALL_OPTIONS,
  );
}

export interface PromotedKey {
  readonly version: number;
  readonly kid: string;
  /** The version that signed until now, if the alias was set. */
  readonly previous: number | undefined;
  readonly forced: boolean;
}

/**
 * Moves the alias to a staged version (the newest one unless `version` says otherwise).
 * Refused until the version has been published longer than a verifier may cache the JWKS,
 * unless `force`: before that, a verifier could meet the new kid with a set that lacks it.
 */
export async function promoteSigningKey(ctx: SigningKeyAdminContext, options: { version?: number; force?: boolean } = {}): Promise<PromotedKey> {
  const [secret, versions] = await Promise.all([getSecret(ctx), listVersions(ctx)]);
  const aliases = aliasesOf(secret);
  const previous = aliases.get(ctx.alias);
  const enabled = versions.filter((v) => stateOf(v) === 'ENABLED').map((v) => versionNumber(v.name));
  let target = options.version;
  if (target === undefined) {
    target = enabled.find((n) => previous === undefined || n > previous);
    if (target === undefined) throw new AdminError('no staged version newer than the one signing: stage one first', 'failed-precondition');
  }
  const stored = versions.find((v) => versionNumber(v.name) === target);
  if (!stored) throw new AdminError(`version ${target} does not exist`, 'not-found');
  if (target === previous) throw new AdminError(`version ${target} is already the ${ctx.alias} version`, 'failed-precondition');
  if (stateOf(stored) !== 'ENABLED') throw new AdminError(`version ${target} is ${stateOf(stored).toLowerCase()}, so not published`, 'failed-precondition');
  if (!enabled.slice(0, MAX_PUBLISHED_VERSIONS).includes(target)) {
    throw new AdminError(`version ${target} is not among the ${MAX_PUBLISHED_VERSIONS} newest enabled versions, so not published`, 'failed-precondition');
  }
  const key = await readKey(ctx, target);
  if (key === undefined) throw new AdminError(`version ${target} does not hold a usable private JWK`, 'failed-precondition');
  const now = nowOf(ctx);
  const createdAt = dateOfTimestamp(stored.createTime);
  const promotableAt = createdAt === undefined ? now : later(createdAt, publicationDelaySeconds(ctx.timing));
  const early = promotableAt.getTime() > now.getTime();
  if (early && !options.force) {
    throw new AdminError(
      `version ${target} has been published since ${createdAt ? iso(createdAt) : 'an unknown time'}; verifiers may cache the JWKS for ${publicationDelaySeconds(ctx.timing)} s, so promote it after ${iso(promotableAt)}, or pass --force`,
      'failed-precondition',
    );
  }
  const annotations: Record<string, string> = { ...(secret.annotations ?? {}) };
  if (previous !== undefined) annotations[`${STOPPED}${previous}`] = now.toISOString();
  delete annotations[`${STOPPED}${target}`];
  // One update moves the alias and records when the previous version stopped signing.
  await ctx.client.updateSecret(
    {
      secret: { name: ctx.secret, versionAliases: { ...Object.fromEntries(aliases), [ctx.alias]: target }, annotations },
      updateMask: { paths: ['version_aliases', 'annotations'] },
    },
    CALL_OPTIONS,
  );
  return { version: target, kid: key.kid, previous, forced: early };
}

export interface RetiredKey {
  readonly version: number;
  readonly alreadyDisabled: boolean;
  readonly forced: boolean;
}

/**
 * Disables a version that no longer signs, which unpublishes it. Refused for a version an
 * alias points at, and, unless `force`, until the longest token it may have signed has
 * expired; a version with no record of when it stopped signing is refused unless it is newer
 * than the signing version (staged, never promoted).
 */
export async function retireSigningKey(ctx: SigningKeyAdminContext, options: { version: number; force?: boolean }): Promise<RetiredKey> {
  const { version } = options;
  const [secret, versions] = await Promise.all([getSecret(ctx), listVersions(ctx)]);
  const aliases = aliasesOf(secret);
  const stored = versions.find((v) => versionNumber(v.name) === version);
  if (!stored) throw new AdminError(`version ${version} does not exist`, 'not-found');
  const pointing = [...aliases].filter(([, n]) => n === version).map(([alias]) => alias);
  if (pointing.length > 0) {
    throw new AdminError(`version ${version} is the ${pointing.join(', ')} version and may be signing: promote another version first`, 'failed-precondition');
  }
  const state = stateOf(stored);
  if (state === 'DISABLED') return { version, alreadyDisabled: true, forced: false };
  if (state !== 'ENABLED') throw new AdminError(`version ${version} is ${state.toLowerCase()}`, 'failed-precondition');
  const now = nowOf(ctx);
  const stoppedAt = recordedStop(secret.annotations ?? {}, version);
  const signing = aliases.get(ctx.alias);
  const neverSigned = stoppedAt === undefined && signing !== undefined && version > signing;
  let refusal: string | undefined;
  if (stoppedAt !== undefined) {
    const retirableAt = later(stoppedAt, retirementDelaySeconds(ctx.timing));
    if (retirableAt.getTime() > now.getTime()) {
      refusal = `version ${version} stopped signing at ${iso(stoppedAt)}; instances may sign with it for ${ctx.timing.signingKeyRefreshSeconds} s more and tokens live up to ${retirementDelaySeconds(ctx.timing) - ctx.timing.signingKeyRefreshSeconds} s: retire it after ${iso(retirableAt)}`;
    }
  } else if (!neverSigned) {
    refusal = `there is no record of when version ${version} stopped signing (it was not moved off ${ctx.alias} by promote): retire it once no token it signed can be unexpired`;
  }
  if (refusal !== undefined && !options.force) throw new AdminError(`${refusal}, or pass --force`, 'failed-precondition');
  await ctx.client.disableSecretVersion({ name: `${ctx.secret}/versions/${version}` }, CALL_OPTIONS);
  return { version, alreadyDisabled: false, forced: refusal !== undefined };
}
