/**
 * The signing key's secret and the alias that signs, as the README's deploy names them. The
 * local stack and the benchmark's production shape both sign through a stand-in under these
 * names, so that what they rehearse is what production runs.
 */
export const SIGNING_KEY_SECRET_ID = 'token-exchange-signing-key';
export const SIGNING_KEY_ALIAS = 'current';

/** `projects/<project>/secrets/token-exchange-signing-key`, for SIGNING_KEY_SECRET. */
export function signingKeySecret(projectId: string): string {
  return `projects/${projectId}/secrets/${SIGNING_KEY_SECRET_ID}`;
}
