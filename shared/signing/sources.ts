/**
 * Where the signing key lives: a file (local stack) or Secret Manager (production).
 *
 * Secret Manager holds one private JWK per secret version. The signers use the version
 * SIGNING_KEY_VERSION names (default `latest`; an alias lets operators stage a new key
 * before it signs); `jwks` publishes every enabled version, newest first, so a key is
 * published before it signs and stays published after it stops.
 */
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { readFile } from 'node:fs/promises';
import type { SigningKeyLocation } from '../platform/config';
import { readSetting, SETTINGS } from '../platform/config';
import { gaxClientOptions } from '../platform/googleClients';

/** At most this many versions are published, so an old key cannot linger for ever. */
export const MAX_PUBLISHED_VERSIONS = 5;

export interface SigningKeySource {
  /** The private JWK that signs, as JSON text. */
  signingKey(): Promise<string>;
  /** The private JWKs of the versions to publish, newest first, with their version names. */
  publishedKeys(): Promise<Array<{ version: string; jwk: string }>>;
}

function fileSource(path: string): SigningKeySource {
  return {
    signingKey: () => readFile(path, 'utf8'),
    publishedKeys: async () => [{ version: path, jwk: await readFile(path, 'utf8') }],
  };
}

/**
 * SECRET_MANAGER_EMULATOR_HOST (host:port on loopback) points the client at a local
 * Secret Manager stand-in over plaintext gRPC, as DATASTORE_EMULATOR_HOST does for
 * Datastore. Refused for any other host, so it can never send secrets off the machine.
 * The library is loaded here, on first use, not with the module (googleLibraries.ts).
 */
export function secretManagerClient(
  env: Readonly<Record<string, string | undefined>> = process.env,
): SecretManagerServiceClient {
  const emulator = readSetting(env, SETTINGS.secretManagerEmulatorHost);
  type Libraries = typeof import('../platform/googleLibraries');
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use (googleLibraries.ts)
  const { SecretManagerServiceClient } = require('../platform/googleLibraries') as Libraries;
  return new SecretManagerServiceClient(gaxClientOptions({ emulatorHost: emulator }));
}

function payloadText(data: Uint8Array | string | null | undefined): string {
  if (data === null || data === undefined) return '';
  return typeof data === 'string' ? data : Buffer.from(data).toString('utf8');
}

function versionNumber(name: string): number {
  return Number(name.slice(name.lastIndexOf('/') + 1)) || 0;
}

/**
 * One attempt per call, bounded: the client's default would retry UNAVAILABLE for up to
 * ten minutes while a request waits. A failure here is retried by the next request instead.
 */
const CALL_OPTIONS = { retry: null, timeout: 5000 };

export function secretManagerSource(
  client: SecretManagerServiceClient,
  secret: string,
  version: string,
): SigningKeySource {
  const access = async (name: string): Promise<string> => {
    const [response] = await client.accessSecretVersion({ name }, CALL_OPTIONS);
    return payloadText(response.payload?.data);
  };
  return {
    signingKey: () => access(`${secret}/versions/${version}`),
    async publishedKeys() {
      const [versions] = await client.listSecretVersions({ parent: secret, filter: 'state:ENABLED' }, CALL_OPTIONS);
      const names = versions
        .map((v) => v.name ?? '')
        .filter((name) => name !== '')
        .sort((a, b) => versionNumber(b) - versionNumber(a))
        .slice(0, MAX_PUBLISHED_VERSIONS);
      return Promise.all(names.map(async (name) => ({ version: name, jwk: await access(name) })));
    },
  };
}

export function signingKeySource(
  location: SigningKeyLocation,
  client?: () => SecretManagerServiceClient,
): SigningKeySource {
  if (location.source === 'file') return fileSource(location.path);
  return secretManagerSource((client ?? secretManagerClient)(), location.secret, location.version);
}
