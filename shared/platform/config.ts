/**
 * Configuration from the environment. Every variable is read and checked here, once, at
 * start-up: a bad value stops the instance with a message that names the variable, rather
 * than surfacing later as a confusing 500 on the hot path.
 */
import { ExpectedError } from './errors';

/** A setting that is missing, malformed or contradicts another. */
export class ConfigError extends ExpectedError {
  override readonly name = 'ConfigError';
  readonly code = 'invalid-config';
}

export type SigningKeyLocation =
  | { readonly source: 'file'; readonly path: string }
  | { readonly source: 'secret-manager'; readonly secret: string; readonly version: string };

export interface Config {
  /** PROJECT_ID; when unset the client libraries detect the project (as on Cloud Functions). */
  readonly projectId: string | undefined;
  /** CLIENT_INTEGRATION_NS, default `client-integration` (the Go service's). */
  readonly integrationNamespace: string;
  /** PLATFORM_NS, default `platform-credentials` (the Go service's). */
  readonly platformNamespace: string;
  /** SIGNING_KEY_FILE, or SIGNING_KEY_SECRET with SIGNING_KEY_VERSION (default `latest`). */
  readonly signingKey: SigningKeyLocation;
  /** TOKEN_ISSUER, default `token-exchange`. */
  readonly issuer: string;
  /** INTEGRATION_TOKEN_TTL in seconds, default 20. */
  readonly integrationTokenTtl: number;
  /** AUTOJOIN_TOKEN_TTL in seconds, default 3600. */
  readonly autojoinTokenTtl: number;
  /** DATASTORE_TIMEOUT_MS: deadline of one key lookup, default 2000; past it the answer is 503. */
  readonly datastoreTimeoutMs: number;
  /** VERIFIED_SECRET_CACHE_SIZE: verified secrets kept per instance, default 10000. */
  readonly verifiedSecretCacheSize: number;
  /** THROTTLE_MAX_FAILURES wrong secrets per key id and client address within THROTTLE_WINDOW_SECONDS, default 5. */
  readonly throttleMaxFailures: number;
  /** THROTTLE_ADDRESS_MAX_FAILURES wrong secrets per client address over all keys within the window, default 20. */
  readonly throttleAddressMaxFailures: number;
  /**
   * FORWARDED_FOR_HOP: the X-Forwarded-For entry, counted from the right, that is the client
   * address (clientAddress.ts), default 2: behind the external Application Load Balancer.
   * 1: the function's own URL; 0: ignore the header, use the connection's peer.
   */
  readonly forwardedForHop: number;
  /** DATASTORE_EMULATOR_HOST, `host:port` of a Datastore emulator, checked here; unset in production. */
  readonly datastoreEmulatorHost: string | undefined;
  /** THROTTLE_WINDOW_SECONDS, default 60. */
  readonly throttleWindowSeconds: number;
  /** BCRYPT_CONCURRENCY: bcrypt compares in flight per instance, default 2; more wait in line. */
  readonly bcryptConcurrency: number;
  /** JWKS_REFRESH_SECONDS: how often `jwks` re-reads the enabled key versions, default 300. */
  readonly jwksRefreshSeconds: number;
  /** SIGNING_KEY_REFRESH_SECONDS: how often signers re-read SIGNING_KEY_VERSION, default 300. */
  readonly signingKeyRefreshSeconds: number;
  /**
   * LEGACY_AUTOJOIN_FALLBACK: `on` (default) or `off`. On, a flat autojoin key with no
   * LegacyAPIKey record is looked up as the Go service did (one query) and recorded; off, it
   * is a 401 (for when autojoin mints scoped keys and every flat key is migrated).
   */
  readonly legacyAutojoinFallback: boolean;
  /** LEGACY_AUTOJOIN_FALLBACK_PER_MINUTE: fallback queries per instance per minute, default 60; past it 503. */
  readonly legacyAutojoinFallbackPerMinute: number;
}

type Env = Readonly<Record<string, string | undefined>>;

function text(env: Env, name: string, fallback: string): string {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  if (value.trim() !== value) throw new ConfigError(`${name} must not start or end with spaces`);
  return value;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  if (!/^\d+$/.test(value)) throw new ConfigError(`${name} must be a whole number, got ${JSON.stringify(value)}`);
  const parsed = Number(value);
  if (parsed < min || parsed > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${parsed}`);
  return parsed;
}

// Datastore namespaces: letters, digits, `.`, `-`, `_`; at most 100 bytes; not `__…__`.
const NAMESPACE = /^(?!__.*__$)[A-Za-z0-9._-]{1,100}$/;

function namespace(env: Env, name: string, fallback: string): string {
  const value = text(env, name, fallback);
  if (!NAMESPACE.test(value)) throw new ConfigError(`${name} is not a valid Datastore namespace: ${JSON.stringify(value)}`);
  return value;
}

// A Google Cloud project id, optionally domain-scoped (`example.com:my-project`).
const PROJECT = /^(?:[a-z][a-z0-9.-]*:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
const SECRET_NAME = /^projects\/[^/\s]+\/secrets\/[A-Za-z0-9_-]{1,255}$/;
const SECRET_VERSION = /^(latest|[1-9]\d*|[A-Za-z][A-Za-z0-9_-]{0,62})$/;
const VERSION_ALIAS = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;

/** `projects/<project>/secrets/<name>`, as SIGNING_KEY_SECRET holds it. */
export function isSecretName(value: string): boolean {
  return SECRET_NAME.test(value);
}

/** A Secret Manager version alias (not `latest`, which names no alias but the newest version). */
export function isVersionAlias(value: string): boolean {
  return VERSION_ALIAS.test(value) && value !== 'latest';
}

function signingKey(env: Env): SigningKeyLocation {
  const file = env.SIGNING_KEY_FILE || undefined;
  const secret = env.SIGNING_KEY_SECRET || undefined;
  if (file && secret) throw new ConfigError('set SIGNING_KEY_FILE or SIGNING_KEY_SECRET, not both');
  if (file) return { source: 'file', path: file };
  if (!secret) {
    throw new ConfigError(
      'no signing key: set SIGNING_KEY_SECRET=projects/<project>/secrets/<name> (production) or SIGNING_KEY_FILE=<path to a private JWK> (local)',
    );
  }
  if (!SECRET_NAME.test(secret)) {
    throw new ConfigError(`SIGNING_KEY_SECRET must look like projects/<project>/secrets/<name>, got ${JSON.stringify(secret)}`);
  }
  const version = text(env, 'SIGNING_KEY_VERSION', 'latest');
  if (!SECRET_VERSION.test(version)) {
    throw new ConfigError(`SIGNING_KEY_VERSION must be latest, a version number or an alias, got ${JSON.stringify(version)}`);
  }
  return { source: 'secret-manager', secret, version };
}

// host:port, the host a name, IPv4 or [IPv6]; the port 1 to 65535.
const HOST_PORT = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

function emulatorHost(env: Env): string | undefined {
  const value = env.DATASTORE_EMULATOR_HOST || undefined;
  if (value === undefined) return undefined;
  const match = HOST_PORT.exec(value);
  const port = match ? Number(match[1]) : 0;
  if (!match || port < 1 || port > 65_535) {
    throw new ConfigError(`DATASTORE_EMULATOR_HOST must be host:port (e.g. 127.0.0.1:8081), got ${JSON.stringify(value)}`);
  }
  return value;
}

export type DatastoreSettings = Pick<Config, 'projectId' | 'integrationNamespace' | 'platformNamespace' | 'datastoreEmulatorHost'>;

/** Where the keys live: all the admin CLI needs of the configuration for Datastore. */
export function loadDatastoreSettings(env: Env = process.env): DatastoreSettings {
  const projectId = env.PROJECT_ID || undefined;
  if (projectId !== undefined && !PROJECT.test(projectId)) {
    throw new ConfigError(`PROJECT_ID is not a valid project id: ${JSON.stringify(projectId)}`);
  }
  return {
    projectId,
    integrationNamespace: namespace(env, 'CLIENT_INTEGRATION_NS', 'client-integration'),
    platformNamespace: namespace(env, 'PLATFORM_NS', 'platform-credentials'),
    datastoreEmulatorHost: emulatorHost(env),
  };
}

export type TimingSettings = Pick<Config, 'integrationTokenTtl' | 'autojoinTokenTtl' | 'jwksRefreshSeconds' | 'signingKeyRefreshSeconds'>;

/** The lifetimes a signing-key rotation must wait out. */
export function loadTimingSettings(env: Env = process.env): TimingSettings {
  return {
    integrationTokenTtl: integer(env, 'INTEGRATION_TOKEN_TTL', 20, 1, 86_400),
    autojoinTokenTtl: integer(env, 'AUTOJOIN_TOKEN_TTL', 3600, 1, 86_400),
    jwksRefreshSeconds: integer(env, 'JWKS_REFRESH_SECONDS', 300, 1, 86_400),
    signingKeyRefreshSeconds: integer(env, 'SIGNING_KEY_REFRESH_SECONDS', 300, 1, 86_400),
  };
}

function onOff(env: Env, name: string, fallback: boolean): boolean {
  const value = text(env, name, fallback ? 'on' : 'off');
  if (value !== 'on' && value !== 'off') throw new ConfigError(`${name} must be on or off, got ${JSON.stringify(value)}`);
  return value === 'on';
}

export function loadConfig(env: Env = process.env): Config {
  const datastore = loadDatastoreSettings(env);
  const issuer = text(env, 'TOKEN_ISSUER', 'token-exchange');
  const timing = loadTimingSettings(env);
  return {
    ...datastore,
    ...timing,
    signingKey: signingKey(env),
    issuer,
    datastoreTimeoutMs: integer(env, 'DATASTORE_TIMEOUT_MS', 2000, 50, 60_000),
    verifiedSecretCacheSize: integer(env, 'VERIFIED_SECRET_CACHE_SIZE', 10_000, 0, 1_000_000),
    throttleMaxFailures: integer(env, 'THROTTLE_MAX_FAILURES', 5, 1, 1000),
    throttleAddressMaxFailures: integer(env, 'THROTTLE_ADDRESS_MAX_FAILURES', 20, 1, 100_000),
    forwardedForHop: integer(env, 'FORWARDED_FOR_HOP', 2, 0, 10),
    throttleWindowSeconds: integer(env, 'THROTTLE_WINDOW_SECONDS', 60, 1, 86_400),
    bcryptConcurrency: integer(env, 'BCRYPT_CONCURRENCY', 2, 1, 64),
    legacyAutojoinFallback: onOff(env, 'LEGACY_AUTOJOIN_FALLBACK', true),
    legacyAutojoinFallbackPerMinute: integer(env, 'LEGACY_AUTOJOIN_FALLBACK_PER_MINUTE', 60, 1, 100_000),
  };
}
