/**
 * The Google APIs a function instance calls, from its configuration: Datastore and Secret
 * Manager over REST (googleRest.ts), each on its emulator or stand-in when one is named, else
 * on its HTTPS endpoint with the process's Application Default Credentials (one token cache
 * for both).
 */
import { applicationDefaultCredentials } from './accessTokens';
import type { Config } from './config';
import { googleApi, type GoogleApi } from './googleRest';

export function datastoreApi(config: Config): GoogleApi {
  return googleApi({
    endpoint: config.datastoreApiEndpoint,
    emulatorHost: config.datastoreEmulatorHost,
    tokens: config.datastoreEmulatorHost ? undefined : applicationDefaultCredentials(config.projectId),
  });
}

export function secretManagerApi(config: Config): GoogleApi {
  return googleApi({
    endpoint: config.secretManagerApiEndpoint,
    emulatorHost: config.secretManagerEmulatorHost,
    tokens: config.secretManagerEmulatorHost ? undefined : applicationDefaultCredentials(config.projectId),
  });
}
