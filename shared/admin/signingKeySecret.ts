/**
 * The signing-key secret as the rotation reads it: its versions, aliases and the annotations
 * token-admin keeps on it (`token-admin-key-<version>`: kid and alg, so disabled versions
 * can still be named; `token-admin-stopped-<version>`: when promote moved the alias off it).
 */
import type { SecretManagerServiceClient, protos } from '@google-cloud/secret-manager';
import type { TimingSettings } from '../platform/config';
import { parseSigningKey, SigningKeyError, type SigningAlgorithm } from '../signing/signingKey';
import type { VersionState } from './rotationRules';

export type SecretVersion = protos.google.cloud.secretmanager.v1.ISecretVersion;
export type Secret = protos.google.cloud.secretmanager.v1.ISecret;

export interface SigningKeyAdminContext {
  readonly client: SecretManagerServiceClient;
  /** `projects/<project>/secrets/<name>`. */
  readonly secret: string;
  /** The version alias signers read (SIGNING_KEY_VERSION), e.g. `current`. */
  readonly alias: string;
  readonly timing: TimingSettings;
  readonly now?: () => Date;
}

export const CALL_OPTIONS = { timeout: 30_000 };
export const STOPPED = 'token-admin-stopped-';
export const KEY_INFO = 'token-admin-key-';

export function nowOf(ctx: SigningKeyAdminContext): Date {
  return (ctx.now ?? (() => new Date()))();
}

export function versionNumber(name: string | null | undefined): number {
  return Number((name ?? '').slice((name ?? '').lastIndexOf('/') + 1)) || 0;
}

export function dateOfTimestamp(timestamp: protos.google.protobuf.ITimestamp | null | undefined): Date | undefined {
  if (!timestamp || timestamp.seconds === null || timestamp.seconds === undefined) return undefined;
  return new Date(Number(timestamp.seconds) * 1000 + Math.floor((timestamp.nanos ?? 0) / 1e6));
}

export function stateOf(version: SecretVersion): VersionState {
  const state = String(version.state ?? '');
  return state === 'ENABLED' || state === 'DISABLED' || state === 'DESTROYED' ? state : 'UNKNOWN';
}

export async function getSecret(ctx: SigningKeyAdminContext): Promise<Secret> {
  const [secret] = await ctx.client.getSecret({ name: ctx.secret }, CALL_OPTIONS);
  return secret;
}

export function aliasesOf(secret: Secret): Map<string, number> {
  return new Map(Object.entries(secret.versionAliases ?? {}).map(([alias, version]) => [alias, Number(version)]));
}

export async function listVersions(ctx: SigningKeyAdminContext): Promise<SecretVersion[]> {
  const [versions] = await ctx.client.listSecretVersions({ parent: ctx.secret }, CALL_OPTIONS);
  return versions.sort((a, b) => versionNumber(b.name) - versionNumber(a.name));
}

export async function readKey(
  ctx: SigningKeyAdminContext,
  version: number,
): Promise<{ kid: string; alg: SigningAlgorithm } | undefined> {
  try {
    const [response] = await ctx.client.accessSecretVersion(
      { name: `${ctx.secret}/versions/${version}` },
      CALL_OPTIONS,
    );
    const data = response.payload?.data;
    const text =
      data === null || data === undefined ? '' : typeof data === 'string' ? data : Buffer.from(data).toString('utf8');
    const key = await parseSigningKey(text);
    return { kid: key.kid, alg: key.alg };
  } catch (error) {
    if (error instanceof SigningKeyError) return undefined;
    throw error;
  }
}

export function recordedKey(
  annotations: Record<string, string>,
  version: number,
): { kid: string; alg: SigningAlgorithm } | undefined {
  const value = annotations[`${KEY_INFO}${version}`];
  const colon = value?.indexOf(':') ?? -1;
  if (value === undefined || colon < 0) return undefined;
  const alg = value.slice(0, colon);
  if (alg !== 'EdDSA' && alg !== 'ES256' && alg !== 'RS256') return undefined;
  return { alg, kid: value.slice(colon + 1) };
}

export function recordedStop(annotations: Record<string, string>, version: number): Date | undefined {
  const value = annotations[`${STOPPED}${version}`];
  const date = value === undefined ? undefined : new Date(value);
  return date === undefined || Number.isNaN(date.getTime()) ? undefined : date;
}

export async function updateAnnotations(
  ctx: SigningKeyAdminContext,
  change: (current: Record<string, string>) => Record<string, string>,
): Promise<void> {
  const secret = await getSecret(ctx);
  await ctx.client.updateSecret(
    {
      secret: { name: ctx.secret, annotations: change({ ...(secret.annotations ?? {}) }) },
      updateMask: { paths: ['annotations'] },
    },
    CALL_OPTIONS,
  );
}
