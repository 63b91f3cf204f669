/**
 * The local stack's Secret Manager: the in-memory stand-in the tests use
 * (test/support/fakeSecretManager.ts), which answers Secret Manager's REST API (the
 * functions) and its gRPC API (token-admin) on one loopback port. The local stack signs
 * through it as production signs through Secret Manager: the functions read the version the
 * alias `current` names (SIGNING_KEY_VERSION) and `jwks` publishes the enabled versions, so
 * `token-admin signing-key stage`, `promote` and `retire` work here as they do there.
 *
 * The first key is made the way the README makes production's: staged, then promoted with
 * `force` (no verifier can hold an older set of a secret that had no key). Going through
 * the rotation's own code also writes the annotations token-admin keeps (each version's kid
 * and alg), so `signing-key list` still names version 1 once it is retired.
 */
import { promoteSigningKey, stageSigningKey } from '../../shared/admin/signingKeyRotation';
import type { TimingSettings } from '../../shared/platform/config';
import { generateSigningKey } from '../../shared/signing/signingKey';
import { startFakeSecretManager } from '../../test/support/fakeSecretManager';
import { SIGNING_KEY_ALIAS, signingKeySecret } from './signingSecret';

export interface LocalSecretManager {
  /** 127.0.0.1:<port>, for SECRET_MANAGER_EMULATOR_HOST. */
  readonly host: string;
  /** `projects/<project>/secrets/token-exchange-signing-key`, for SIGNING_KEY_SECRET. */
  readonly secret: string;
  readonly alias: string;
  /** The version that signs (1) and its kid. */
  readonly version: number;
  readonly kid: string;
  stop(): Promise<void>;
}

/** Starts the stand-in with one RS256 key, version 1, which the alias names. */
export async function startLocalSecretManager(projectId: string, timing: TimingSettings): Promise<LocalSecretManager> {
  const fake = await startFakeSecretManager();
  try {
    const secret = signingKeySecret(projectId);
    fake.createSecret(secret);
    const ctx = { client: fake.client(), secret, alias: SIGNING_KEY_ALIAS, timing };
    // RS256 (RSA 2048), as in production: Locate's Cloud Endpoints proxy (ESPv2) verifies RSA, not EdDSA.
    const staged = await stageSigningKey(ctx, JSON.stringify(await generateSigningKey('RS256')));
    await promoteSigningKey(ctx, { version: staged.version, force: true });
    return {
      host: fake.host,
      secret,
      alias: SIGNING_KEY_ALIAS,
      version: staged.version,
      kid: staged.kid,
      stop: () => fake.stop(),
    };
  } catch (error) {
    await fake.stop();
    throw error;
  }
}
