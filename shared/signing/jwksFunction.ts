/**
 * The jwks function's wiring: every enabled signing-key version, published and refreshed in
 * the background. Nothing here touches Datastore, so the jwks bundle carries no Datastore client.
 */
import type { HttpFunction } from '@google-cloud/functions-framework';
import { loadConfig, type Config } from '../platform/config';
import { installFrameworkGuards } from '../platform/frameworkGuards';
import { stdoutLogger } from '../platform/log';
import { createJwksHandler } from './jwksHandler';
import { JwksPublisher } from './jwksPublisher';
import { secretManagerApi } from '../platform/googleApis';
import { signingKeySource } from './sources';
import type { SigningOptions } from './wiring';

installFrameworkGuards();

/** The jwks function of an instance: every enabled key version, refreshed in the background. */
export function jwksHandlerFor(config: Config, options: SigningOptions = {}, functionName = 'jwks'): HttpFunction {
  const log = options.log ?? stdoutLogger;
  const publisher = new JwksPublisher(
    signingKeySource(config.signingKey, options.secretManager ?? (() => secretManagerApi(config))),
    config.jwksRefreshSeconds * 1000,
    log,
  );
  // Read at cold start, as the exchange reads its signing key: the first request finds the set
  // made, or in the making. A failure is logged by the publisher and read again by that request.
  publisher.current().catch(() => undefined);
  return createJwksHandler(publisher, log, config.jwksMaxAgeSeconds, functionName);
}

/** functions/jwks: the handler, from process.env (a bad variable stops the instance, named). */
export function jwksFunction(): HttpFunction {
  return jwksHandlerFor(loadConfig());
}
