/**
 * The environment of a function measured in production's shape (unit-tested in
 * test/unit/perf/productionShape.test.ts): what deploy.sh gives it, with the stand-ins'
 * addresses (standIns.ts) in place of Google's. Pure, so the test can hold it to what makes it
 * production's shape: no emulator variable, no metadata-detection shortcut, nothing in HOME
 * to find credentials in, and the stand-ins' CA trusted the way a process trusts one.
 */

import { SIGNING_KEY_ALIAS, signingKeySecret } from '../../dev/signingSecret';

export interface StandInAddresses {
  /** GCE_METADATA_HOST: plain HTTP, as the real metadata server. */
  readonly metadataHost: string;
  /** DATASTORE_API_ENDPOINT: HTTPS with bearer tokens, in front of the emulator. */
  readonly datastoreHost: string;
  /** SECRET_MANAGER_API_ENDPOINT: HTTPS with bearer tokens. */
  readonly secretManagerHost: string;
  /** The CA that signed both fronts' certificate, for NODE_EXTRA_CA_CERTS. */
  readonly caFile: string;
}

export interface ProductionShapeSettings {
  readonly projectId: string;
  readonly integrationNamespace: string;
  readonly platformNamespace: string;
  /** An empty directory: gcloud's ADC file is the one credential google-auth-library would find there. */
  readonly home: string;
}

/**
 * Variables whose presence would make a run emulator-shaped, or spare google-auth-library
 * the work it does in production. The benchmark's own process sets some of them.
 */
export const NOT_IN_PRODUCTION = [
  'DATASTORE_EMULATOR_HOST',
  'SECRET_MANAGER_EMULATOR_HOST',
  'SIGNING_KEY_FILE',
  'METADATA_SERVER_DETECTION',
  'GOOGLE_APPLICATION_CREDENTIALS',
  'CLOUDSDK_CONFIG',
] as const;

/** The function's own variables (startFunction and cloudFunctionsEnv add the platform's). */
export function productionEnvironment(
  addresses: StandInAddresses,
  settings: ProductionShapeSettings,
): Record<string, string> {
  return {
    PROJECT_ID: settings.projectId,
    CLIENT_INTEGRATION_NS: settings.integrationNamespace,
    PLATFORM_NS: settings.platformNamespace,
    SIGNING_KEY_SECRET: signingKeySecret(settings.projectId),
    SIGNING_KEY_VERSION: SIGNING_KEY_ALIAS,
    DATASTORE_API_ENDPOINT: addresses.datastoreHost,
    SECRET_MANAGER_API_ENDPOINT: addresses.secretManagerHost,
    GCE_METADATA_HOST: addresses.metadataHost,
    NODE_EXTRA_CA_CERTS: addresses.caFile,
    HOME: settings.home,
  };
}
