/**
 * The signing side of an instance, from its configuration: where the signing key lives and
 * the signer the exchange functions use. The jwks function's wiring is jwksFunction.ts, so
 * that the exchange bundles carry no JWKS publisher. Each function's own wiring installs the
 * framework guards.
 */
import type { Config } from '../platform/config';
import { secretManagerApi } from '../platform/googleApis';
import type { GoogleApi } from '../platform/googleRest';
import { stdoutLogger, type Logger } from '../platform/log';
import { TokenSigner } from './signer';
import { signingKeySource } from './sources';

export interface SigningOptions {
  /** Where log entries go (default: JSON lines on stdout). */
  readonly log?: Logger;
  /** Secret Manager's REST API (default: from the configuration). */
  readonly secretManager?: () => GoogleApi;
}

/** The signer of an exchange instance; it starts reading the key at once (cold start). */
export function signerFor(config: Config, options: SigningOptions = {}): TokenSigner {
  const log = options.log ?? stdoutLogger;
  const signer = TokenSigner.fromSource(
    signingKeySource(config.signingKey, options.secretManager ?? (() => secretManagerApi(config))),
    {
      refreshMs: config.signingKeyRefreshSeconds * 1000,
      onRefreshError: (error) =>
        log({
          severity: 'ERROR',
          message: `cannot re-read the signing key; still signing with the one in hand: ${error.message}`,
        }),
    },
  );
  // A failure is logged and retried by the first request, never remembered.
  signer
    .key()
    .catch((error: Error) => log({ severity: 'ERROR', message: `cannot load the signing key: ${error.message}` }));
  return signer;
}
