/**
 * The signing side of an instance, from its configuration: where the signing key lives, the
 * signer the exchange functions use, and the whole `jwks` function. Nothing here touches
 * Datastore, so the jwks bundle carries no Datastore client.
 */
import type { HttpFunction } from '@google-cloud/functions-framework';
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { loadConfig, type Config } from '../platform/config';
import { installFrameworkGuards } from '../platform/frameworkGuards';
import { stdoutLogger, type Logger } from '../platform/log';
import { createJwksHandler } from './jwksHandler';
import { JwksPublisher } from './jwksPublisher';
import { TokenSigner } from './signer';
import { signingKeySource, type SigningKeySource } from './sources';

installFrameworkGuards();

export interface SigningOptions {
  /** Where log entries go (default: JSON lines on stdout). */
  readonly log?: Logger;
  /** Makes the Secret Manager client (default: from the environment). */
  readonly secretManager?: () => SecretManagerServiceClient;
}

function keySourceFor(config: Config, options: SigningOptions = {}): SigningKeySource {
  return signingKeySource(config.signingKey, options.secretManager);
}

/** The signer of an exchange instance; it starts reading the key at once (cold start). */
export function signerFor(config: Config, options: SigningOptions = {}): TokenSigner {
  const log = options.log ?? stdoutLogger;
  const signer = TokenSigner.fromSource(keySourceFor(config, options), {
    refreshMs: config.signingKeyRefreshSeconds * 1000,
    onRefreshError: (error) =>
      log({ severity: 'ERROR', message: `cannot re-read the signing key; still signing with the one in hand: ${error.message}` }),
  });
  // A failure is logged and retried by the first request, never remembered.
  signer.key().catch((error: Error) => log({ severity: 'ERROR', message: `cannot load the signing key: ${error.message}` }));
  return signer;
}

/** The jwks function of an instance: every enabled key version, refreshed in the background. */
export function jwksHandlerFor(config: Config, options: SigningOptions = {}, functionName = 'jwks'): HttpFunction {
  const log = options.log ?? stdoutLogger;
  const publisher = new JwksPublisher(keySourceFor(config, options), config.jwksRefreshSeconds * 1000, log);
  return createJwksHandler(publisher, log, functionName);
}

/** functions/jwks: the handler, from process.env (a bad variable stops the instance, named). */
export function jwksFunction(): HttpFunction {
  return jwksHandlerFor(loadConfig());
}
