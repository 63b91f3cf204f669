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
 * The rules (roles, waits) are pure functions in rotationRules.ts; this module reads and
 * writes the secret. Expected refusals are AdminErrors; `force` overrides the time rules,
 * never the others.
 */
import { AdminError } from './adminError';
import {
  promotableAt,
  promotionRefusal,
  retirableAt,
  retirementRefusal,
  versionRole,
  type VersionRole,
  type VersionState,
} from './rotationRules';
import { espv2Warning, parseSigningKey, SigningKeyError, type SigningAlgorithm } from '../signing/signingKey';
import {
  aliasesOf,
  CALL_OPTIONS,
  dateOfTimestamp,
  getSecret,
  KEY_INFO,
  listVersions,
  nowOf,
  readKey,
  recordedKey,
  recordedStop,
  stateOf,
  STOPPED,
  updateAnnotations,
  versionNumber,
  type SigningKeyAdminContext,
} from './signingKeySecret';
import { MAX_PUBLISHED_VERSIONS } from '../signing/sources';

export type { SigningKeyAdminContext } from './signingKeySecret';
export { retirementDelaySeconds } from './rotationRules';

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
      const role = versionRole({ version: number, state, published: published.has(number), signing, stoppedSigningAt });
      return {
        version: number,
        kid: key?.kid,
        alg: key?.alg,
        state,
        aliases: [...aliases].filter(([, n]) => n === number).map(([alias]) => alias),
        role,
        createdAt,
        stoppedSigningAt,
        promotableAt: role === 'staged' && createdAt ? promotableAt(createdAt, ctx.timing) : undefined,
        retirableAt:
          role === 'stopped-signing' && stoppedSigningAt ? retirableAt(stoppedSigningAt, ctx.timing) : undefined,
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
export async function stageSigningKey(
  ctx: SigningKeyAdminContext,
  jwkText: string,
  options: { allowNonRsa?: boolean } = {},
): Promise<StagedKey> {
  let key;
  try {
    key = await parseSigningKey(jwkText);
  } catch (error) {
    if (error instanceof SigningKeyError) throw new AdminError(error.message, 'invalid-argument');
    throw error;
  }
  const warning = espv2Warning(key.alg);
  if (warning !== undefined && !options.allowNonRsa) {
    throw new AdminError(
      `refusing to stage an ${key.alg} key: ${warning.replace(/^warning: /, '')}; pass --allow-non-rsa to stage it anyway`,
      'failed-precondition',
    );
  }
  const [secret, versions] = await Promise.all([getSecret(ctx), listVersions(ctx)]);
  const annotations = secret.annotations ?? {};
  const enabled = versions.filter((v) => stateOf(v) === 'ENABLED').map((v) => versionNumber(v.name));
  if (enabled.length > 0 && !aliasesOf(secret).has(ctx.alias)) {
    throw new AdminError(
      `${ctx.secret} has no alias ${ctx.alias}: point it at the version that signs now ` +
        '(signing-key promote --version <n>) and deploy the functions with ' +
        `SIGNING_KEY_VERSION=${ctx.alias} before staging`,
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
    const existing =
      (stateOf(v) === 'ENABLED' ? await readKey(ctx, number) : undefined) ?? recordedKey(annotations, number);
    if (existing?.kid === key.kid)
      throw new AdminError(`version ${number} already has kid ${key.kid}`, 'already-exists');
  }
  const [added] = await ctx.client.addSecretVersion(
    { parent: ctx.secret, payload: { data: Buffer.from(jwkText, 'utf8') } },
    CALL_OPTIONS,
  );
  const version = versionNumber(added.name);
  await updateAnnotations(ctx, (current) => ({ ...current, [`${KEY_INFO}${version}`]: `${key.alg}:${key.kid}` }));
  const createdAt = dateOfTimestamp(added.createTime) ?? nowOf(ctx);
  return { version, kid: key.kid, alg: key.alg, promotableAt: promotableAt(createdAt, ctx.timing) };
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
export async function promoteSigningKey(
  ctx: SigningKeyAdminContext,
  options: { version?: number; force?: boolean } = {},
): Promise<PromotedKey> {
  const [secret, versions] = await Promise.all([getSecret(ctx), listVersions(ctx)]);
  const aliases = aliasesOf(secret);
  const previous = aliases.get(ctx.alias);
  const enabled = versions.filter((v) => stateOf(v) === 'ENABLED').map((v) => versionNumber(v.name));
  let target = options.version;
  if (target === undefined) {
    target = enabled.find((n) => previous === undefined || n > previous);
    if (target === undefined)
      throw new AdminError('no staged version newer than the one signing: stage one first', 'failed-precondition');
  }
  const stored = versions.find((v) => versionNumber(v.name) === target);
  if (!stored) throw new AdminError(`version ${target} does not exist`, 'not-found');
  if (target === previous)
    throw new AdminError(`version ${target} is already the ${ctx.alias} version`, 'failed-precondition');
  if (stateOf(stored) !== 'ENABLED')
    throw new AdminError(
      `version ${target} is ${stateOf(stored).toLowerCase()}, so not published`,
      'failed-precondition',
    );
  if (!enabled.slice(0, MAX_PUBLISHED_VERSIONS).includes(target)) {
    throw new AdminError(
      `version ${target} is not among the ${MAX_PUBLISHED_VERSIONS} newest enabled versions, so not published`,
      'failed-precondition',
    );
  }
  const key = await readKey(ctx, target);
  if (key === undefined)
    throw new AdminError(`version ${target} does not hold a usable private JWK`, 'failed-precondition');
  const now = nowOf(ctx);
  const early = promotionRefusal(target, dateOfTimestamp(stored.createTime), now, ctx.timing);
  if (early !== undefined && !options.force) throw new AdminError(`${early}, or pass --force`, 'failed-precondition');
  const annotations: Record<string, string> = { ...(secret.annotations ?? {}) };
  if (previous !== undefined) annotations[`${STOPPED}${previous}`] = now.toISOString();
  delete annotations[`${STOPPED}${target}`];
  // One update moves the alias and records when the previous version stopped signing.
  await ctx.client.updateSecret(
    {
      secret: {
        name: ctx.secret,
        versionAliases: { ...Object.fromEntries(aliases), [ctx.alias]: target },
        annotations,
      },
      updateMask: { paths: ['version_aliases', 'annotations'] },
    },
    CALL_OPTIONS,
  );
  return { version: target, kid: key.kid, previous, forced: early !== undefined };
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
export async function retireSigningKey(
  ctx: SigningKeyAdminContext,
  options: { version: number; force?: boolean },
): Promise<RetiredKey> {
  const { version } = options;
  const [secret, versions] = await Promise.all([getSecret(ctx), listVersions(ctx)]);
  const aliases = aliasesOf(secret);
  const stored = versions.find((v) => versionNumber(v.name) === version);
  if (!stored) throw new AdminError(`version ${version} does not exist`, 'not-found');
  const pointing = [...aliases].filter(([, n]) => n === version).map(([alias]) => alias);
  if (pointing.length > 0) {
    throw new AdminError(
      `version ${version} is the ${pointing.join(', ')} version and may be signing: promote another version first`,
      'failed-precondition',
    );
  }
  const state = stateOf(stored);
  if (state === 'DISABLED') return { version, alreadyDisabled: true, forced: false };
  if (state !== 'ENABLED') throw new AdminError(`version ${version} is ${state.toLowerCase()}`, 'failed-precondition');
  const now = nowOf(ctx);
  const stoppedAt = recordedStop(secret.annotations ?? {}, version);
  const signing = aliases.get(ctx.alias);
  const refusal = retirementRefusal({ version, stoppedAt, signing, alias: ctx.alias, now, timing: ctx.timing });
  if (refusal !== undefined && !options.force)
    throw new AdminError(`${refusal}, or pass --force`, 'failed-precondition');
  await ctx.client.disableSecretVersion({ name: `${ctx.secret}/versions/${version}` }, CALL_OPTIONS);
  return { version, alreadyDisabled: false, forced: refusal !== undefined };
}
