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

/** What the environment says, checked; each field's variable, default and meaning are in SETTINGS. */
export interface Config {
  /** Undefined: the client libraries detect the project (as on Cloud Functions). */
  readonly projectId: string | undefined;
  readonly integrationNamespace: string;
  readonly platformNamespace: string;
  /** SIGNING_KEY_FILE, or SIGNING_KEY_SECRET with SIGNING_KEY_VERSION. */
  readonly signingKey: SigningKeyLocation;
  readonly issuer: string;
  readonly integrationTokenTtl: number;
  readonly autojoinTokenTtl: number;
  readonly datastoreTimeoutMs: number;
  readonly verifiedSecretCacheSize: number;
  readonly throttleMaxFailures: number;
  readonly throttleAddressMaxFailures: number;
  readonly forwardedForHop: number;
  /** Unset in production. */
  readonly datastoreEmulatorHost: string | undefined;
  /** `host[:port]` of Datastore's REST API over HTTPS. */
  readonly datastoreApiEndpoint: string;
  /** `host[:port]` of Secret Manager's REST API over HTTPS. */
  readonly secretManagerApiEndpoint: string;
  /** Unset in production: a loopback stand-in over plain HTTP (tests, the local stack). */
  readonly secretManagerEmulatorHost: string | undefined;
  readonly throttleWindowSeconds: number;
  readonly bcryptConcurrency: number;
  readonly jwksRefreshSeconds: number;
  readonly jwksMaxAgeSeconds: number;
  readonly signingKeyRefreshSeconds: number;
  /** Off when autojoin mints scoped keys and every flat key is migrated. */
  readonly legacyAutojoinFallback: boolean;
  readonly legacyAutojoinFallbackPerMinute: number;
  readonly lastUsedResolutionSeconds: number;
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * One environment variable: its name, default, check and meaning, declared once here. The
 * README's Configuration table and deploy.sh's pass-through list are tested against SETTINGS.
 */
export interface Setting<T> {
  readonly name: string;
  /** The value when unset or empty, as it would be written in the environment; undefined: none. */
  readonly fallback: string | undefined;
  /** The README's default cell when there is no fallback (`detected`, or none: `—`). */
  readonly unsetMeans?: string;
  readonly meaning: string;
  /**
   * How deploy.sh hands it to the functions: always (with its deploy default), when the
   * operator set it, or never (local and test use only).
   */
  readonly deploy: 'always' | 'when-set' | 'never';
  /** Checks a set value; throws a ConfigError naming the variable. */
  readonly parse: (value: string, name: string) => T;
}

function checkedText(value: string, name: string): string {
  if (value.trim() !== value) throw new ConfigError(`${name} must not start or end with spaces`);
  return value;
}

function wholeNumber(min: number, max: number): (value: string, name: string) => number {
  return (value, name) => {
    if (!/^\d+$/.test(value)) throw new ConfigError(`${name} must be a whole number, got ${JSON.stringify(value)}`);
    const parsed = Number(value);
    if (parsed < min || parsed > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${parsed}`);
    return parsed;
  };
}

function onOff(value: string, name: string): boolean {
  const checked = checkedText(value, name);
  if (checked !== 'on' && checked !== 'off') {
    throw new ConfigError(`${name} must be on or off, got ${JSON.stringify(value)}`);
  }
  return checked === 'on';
}

// Datastore namespaces: letters, digits, `.`, `-`, `_`; at most 100 bytes; not `__…__`.
const NAMESPACE = /^(?!__.*__$)[A-Za-z0-9._-]{1,100}$/;

function namespace(value: string, name: string): string {
  const checked = checkedText(value, name);
  if (!NAMESPACE.test(checked)) {
    throw new ConfigError(`${name} is not a valid Datastore namespace: ${JSON.stringify(value)}`);
  }
  return checked;
}

// A Google Cloud project id, optionally domain-scoped (`example.com:my-project`).
const PROJECT = /^(?:[a-z][a-z0-9.-]*:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
const SECRET_NAME = /^projects\/[^/\s]+\/secrets\/[A-Za-z0-9_-]{1,255}$/;
const SECRET_VERSION = /^(latest|[1-9]\d*|[A-Za-z][A-Za-z0-9_-]{0,62})$/;
const VERSION_ALIAS = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;
// host:port, the host a name, IPv4 or [IPv6]; the port 1 to 65535.
const HOST_PORT = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;
const LOOPBACK_HOST_PORT = /^(127\.0\.0\.1|localhost|\[::1\]):\d{1,5}$/;

/** `projects/<project>/secrets/<name>`, as SIGNING_KEY_SECRET holds it. */
export function isSecretName(value: string): boolean {
  return SECRET_NAME.test(value);
}

/** A Secret Manager version alias (not `latest`, which names no alias but the newest version). */
export function isVersionAlias(value: string): boolean {
  return VERSION_ALIAS.test(value) && value !== 'latest';
}

function projectId(value: string, name: string): string {
  if (!PROJECT.test(value)) throw new ConfigError(`${name} is not a valid project id: ${JSON.stringify(value)}`);
  return value;
}

function secretVersion(value: string, name: string): string {
  const checked = checkedText(value, name);
  if (!SECRET_VERSION.test(checked)) {
    throw new ConfigError(`${name} must be latest, a version number or an alias, got ${JSON.stringify(value)}`);
  }
  return checked;
}

function emulatorHost(value: string, name: string): string {
  const match = HOST_PORT.exec(value);
  const port = match ? Number(match[1]) : 0;
  if (!match || port < 1 || port > 65_535) {
    throw new ConfigError(`${name} must be host:port (e.g. 127.0.0.1:8081), got ${JSON.stringify(value)}`);
  }
  return value;
}

// An API endpoint: a host name, IPv4 or [IPv6], and optionally a port (443 when none).
const ENDPOINT = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)(?::(\d{1,5}))?$/;

function apiEndpoint(value: string, name: string): string {
  const match = ENDPOINT.exec(value);
  const port = match?.[1] === undefined ? 443 : Number(match[1]);
  if (!match || port < 1 || port > 65_535) {
    throw new ConfigError(`${name} must be host or host:port (HTTPS), got ${JSON.stringify(value)}`);
  }
  return value;
}

// Refused for any host but this machine's, so secrets can never be sent off it in plaintext.
function loopbackHostPort(value: string, name: string): string {
  if (!LOOPBACK_HOST_PORT.test(value)) {
    throw new ConfigError(`${name} must be a loopback host:port, got ${JSON.stringify(value)}`);
  }
  return value;
}

// Checked with the other signing-key variables, in signingKey(): which one applies depends on both.
const asIs = (value: string): string => value;

const DAY = 86_400;

/** Every environment variable the functions read, in the README's order. */
export const SETTINGS = {
  projectId: {
    name: 'PROJECT_ID',
    fallback: undefined,
    unsetMeans: 'detected',
    deploy: 'always',
    parse: projectId,
    meaning: 'Google Cloud project of Datastore',
  },
  integrationNamespace: {
    name: 'CLIENT_INTEGRATION_NS',
    fallback: 'client-integration',
    deploy: 'always',
    parse: namespace,
    meaning: 'Datastore namespace of integrations and their keys',
  },
  platformNamespace: {
    name: 'PLATFORM_NS',
    fallback: 'platform-credentials',
    deploy: 'always',
    parse: namespace,
    meaning: 'Datastore namespace of organisations and their keys',
  },
  signingKeySecret: {
    name: 'SIGNING_KEY_SECRET',
    fallback: undefined,
    deploy: 'always',
    parse: asIs,
    meaning: '`projects/<project>/secrets/<name>`: the Secret Manager secret holding the private JWK',
  },
  signingKeyVersion: {
    name: 'SIGNING_KEY_VERSION',
    fallback: 'latest',
    deploy: 'always',
    parse: secretVersion,
    meaning: 'the version that signs: a number, `latest`, or an alias',
  },
  signingKeyFile: {
    name: 'SIGNING_KEY_FILE',
    fallback: undefined,
    deploy: 'never',
    parse: asIs,
    meaning: 'a private JWK file instead of Secret Manager (local use); set one of the two',
  },
  issuer: {
    name: 'TOKEN_ISSUER',
    fallback: 'token-exchange',
    deploy: 'always',
    parse: checkedText,
    meaning: 'the `iss` claim',
  },
  integrationTokenTtl: {
    name: 'INTEGRATION_TOKEN_TTL',
    fallback: '20',
    deploy: 'when-set',
    parse: wholeNumber(1, DAY),
    meaning: 'integration token lifetime, seconds',
  },
  autojoinTokenTtl: {
    name: 'AUTOJOIN_TOKEN_TTL',
    fallback: '3600',
    deploy: 'when-set',
    parse: wholeNumber(1, DAY),
    meaning: 'autojoin token lifetime, seconds',
  },
  datastoreTimeoutMs: {
    name: 'DATASTORE_TIMEOUT_MS',
    fallback: '2000',
    deploy: 'when-set',
    parse: wholeNumber(50, 60_000),
    meaning: 'deadline of each Datastore call, the access token and the retry included; past it, 503',
  },
  verifiedSecretCacheSize: {
    name: 'VERIFIED_SECRET_CACHE_SIZE',
    fallback: '10000',
    deploy: 'when-set',
    parse: wholeNumber(0, 1_000_000),
    meaning:
      'verified secrets remembered per instance (0: off; concurrent requests with one key still share one compare)',
  },
  throttleMaxFailures: {
    name: 'THROTTLE_MAX_FAILURES',
    fallback: '5',
    deploy: 'when-set',
    parse: wholeNumber(1, 1000),
    meaning: 'wrong secrets per key id and client address per window before 429 (bcrypt keys only)',
  },
  throttleAddressMaxFailures: {
    name: 'THROTTLE_ADDRESS_MAX_FAILURES',
    fallback: '20',
    deploy: 'when-set',
    parse: wholeNumber(1, 100_000),
    meaning: 'wrong secrets per client address over all keys per window before 429',
  },
  forwardedForHop: {
    // 2 behind the external Application Load Balancer; 1 at the function's own URL (clientAddress.ts).
    name: 'FORWARDED_FOR_HOP',
    fallback: '2',
    deploy: 'when-set',
    parse: wholeNumber(0, 10),
    meaning:
      "which `X-Forwarded-For` entry, from the right, is the client address (0: the connection's peer); " +
      'see Brute force',
  },
  throttleWindowSeconds: {
    name: 'THROTTLE_WINDOW_SECONDS',
    fallback: '60',
    deploy: 'when-set',
    parse: wholeNumber(1, DAY),
    meaning: 'the throttle window',
  },
  bcryptConcurrency: {
    name: 'BCRYPT_CONCURRENCY',
    fallback: '2',
    deploy: 'when-set',
    parse: wholeNumber(1, 64),
    meaning: 'bcrypt compares at once per instance',
  },
  jwksRefreshSeconds: {
    name: 'JWKS_REFRESH_SECONDS',
    fallback: '300',
    deploy: 'when-set',
    parse: wholeNumber(1, DAY),
    meaning: 'how often `jwks` re-reads the enabled key versions',
  },
  jwksMaxAgeSeconds: {
    name: 'JWKS_MAX_AGE_SECONDS',
    fallback: '3600',
    deploy: 'when-set',
    parse: wholeNumber(1, DAY),
    meaning:
      'how long verifiers may cache the key set (`jwks` answers `Cache-Control: max-age=` this); ' +
      '`signing-key promote` waits this plus `JWKS_REFRESH_SECONDS`. ' +
      'Not below 300 in production: ESPv2 keeps the set 5 minutes, whatever it says',
  },
  signingKeyRefreshSeconds: {
    name: 'SIGNING_KEY_REFRESH_SECONDS',
    fallback: '300',
    deploy: 'when-set',
    parse: wholeNumber(1, DAY),
    meaning:
      'how often the exchange functions re-read `SIGNING_KEY_VERSION` ' +
      '(so a promoted key signs without a redeploy)',
  },
  legacyAutojoinFallback: {
    name: 'LEGACY_AUTOJOIN_FALLBACK',
    fallback: 'on',
    deploy: 'when-set',
    parse: onOff,
    meaning:
      '`on`: a flat autojoin key without a `LegacyAPIKey` record is looked up as the Go service did ' +
      '(one query) and recorded; `off`: it is a 401 (see API keys)',
  },
  legacyAutojoinFallbackPerMinute: {
    name: 'LEGACY_AUTOJOIN_FALLBACK_PER_MINUTE',
    fallback: '60',
    deploy: 'when-set',
    parse: wholeNumber(1, 100_000),
    meaning: 'fallback queries per instance per minute; past it, 503 with `Retry-After`',
  },
  lastUsedResolutionSeconds: {
    name: 'LAST_USED_RESOLUTION_SECONDS',
    fallback: '600',
    deploy: 'when-set',
    parse: wholeNumber(1, DAY),
    meaning: "how often, at most, an instance records a key's last use, seconds (see `token-admin key list`)",
  },
  datastoreApiEndpoint: {
    name: 'DATASTORE_API_ENDPOINT',
    fallback: 'datastore.googleapis.com',
    deploy: 'when-set',
    parse: apiEndpoint,
    meaning:
      "`host[:port]` of Datastore's REST API over HTTPS (e.g. a Private Service Connect endpoint); " +
      '`DATASTORE_EMULATOR_HOST` wins',
  },
  secretManagerApiEndpoint: {
    name: 'SECRET_MANAGER_API_ENDPOINT',
    fallback: 'secretmanager.googleapis.com',
    deploy: 'when-set',
    parse: apiEndpoint,
    meaning: "`host[:port]` of Secret Manager's REST API over HTTPS; `SECRET_MANAGER_EMULATOR_HOST` wins",
  },
  datastoreEmulatorHost: {
    name: 'DATASTORE_EMULATOR_HOST',
    fallback: undefined,
    deploy: 'never',
    parse: emulatorHost,
    meaning: '`host:port` of a Datastore emulator: plain HTTP, no credentials (the functions and token-admin)',
  },
  secretManagerEmulatorHost: {
    name: 'SECRET_MANAGER_EMULATOR_HOST',
    fallback: undefined,
    deploy: 'never',
    parse: loopbackHostPort,
    meaning:
      '`host:port` on loopback of a Secret Manager stand-in: plain HTTP, no credentials ' +
      '(the functions speak REST to it, token-admin gRPC)',
  },
} as const satisfies Readonly<Record<string, Setting<unknown>>>;

type Parsed<S> = S extends { readonly parse: (value: string, name: string) => infer T } ? T : never;
type Read<S> = S extends { readonly fallback: string } ? Parsed<S> : Parsed<S> | undefined;

/** One setting from the environment: an unset or empty variable takes the setting's fallback. */
export function readSetting<S extends Setting<unknown>>(env: Env, setting: S): Read<S> {
  const value = env[setting.name];
  const given = value === undefined || value === '' ? setting.fallback : value;
  return (given === undefined ? undefined : setting.parse(given, setting.name)) as Read<S>;
}

function signingKey(env: Env): SigningKeyLocation {
  const file = readSetting(env, SETTINGS.signingKeyFile);
  const secret = readSetting(env, SETTINGS.signingKeySecret);
  if (file && secret) throw new ConfigError('set SIGNING_KEY_FILE or SIGNING_KEY_SECRET, not both');
  if (file) return { source: 'file', path: file };
  if (!secret) {
    throw new ConfigError(
      'no signing key: set SIGNING_KEY_SECRET=projects/<project>/secrets/<name> (production) ' +
        'or SIGNING_KEY_FILE=<path to a private JWK> (local)',
    );
  }
  if (!SECRET_NAME.test(secret)) {
    throw new ConfigError(
      `SIGNING_KEY_SECRET must look like projects/<project>/secrets/<name>, got ${JSON.stringify(secret)}`,
    );
  }
  return { source: 'secret-manager', secret, version: readSetting(env, SETTINGS.signingKeyVersion) };
}

export type DatastoreSettings = Pick<
  Config,
  'projectId' | 'integrationNamespace' | 'platformNamespace' | 'datastoreEmulatorHost'
>;

/** Where the keys live: all the admin CLI needs of the configuration for Datastore. */
export function loadDatastoreSettings(env: Env = process.env): DatastoreSettings {
  return {
    projectId: readSetting(env, SETTINGS.projectId),
    integrationNamespace: readSetting(env, SETTINGS.integrationNamespace),
    platformNamespace: readSetting(env, SETTINGS.platformNamespace),
    datastoreEmulatorHost: readSetting(env, SETTINGS.datastoreEmulatorHost),
  };
}

export type TimingSettings = Pick<
  Config,
  'integrationTokenTtl' | 'autojoinTokenTtl' | 'jwksRefreshSeconds' | 'jwksMaxAgeSeconds' | 'signingKeyRefreshSeconds'
>;

/** The lifetimes a signing-key rotation must wait out. */
export function loadTimingSettings(env: Env = process.env): TimingSettings {
  return {
    integrationTokenTtl: readSetting(env, SETTINGS.integrationTokenTtl),
    autojoinTokenTtl: readSetting(env, SETTINGS.autojoinTokenTtl),
    jwksRefreshSeconds: readSetting(env, SETTINGS.jwksRefreshSeconds),
    jwksMaxAgeSeconds: readSetting(env, SETTINGS.jwksMaxAgeSeconds),
    signingKeyRefreshSeconds: readSetting(env, SETTINGS.signingKeyRefreshSeconds),
  };
}

export function loadConfig(env: Env = process.env): Config {
  const datastore = loadDatastoreSettings(env);
  const issuer = readSetting(env, SETTINGS.issuer);
  const timing = loadTimingSettings(env);
  return {
    ...datastore,
    ...timing,
    datastoreApiEndpoint: readSetting(env, SETTINGS.datastoreApiEndpoint),
    secretManagerApiEndpoint: readSetting(env, SETTINGS.secretManagerApiEndpoint),
    secretManagerEmulatorHost: readSetting(env, SETTINGS.secretManagerEmulatorHost),
    signingKey: signingKey(env),
    issuer,
    datastoreTimeoutMs: readSetting(env, SETTINGS.datastoreTimeoutMs),
    verifiedSecretCacheSize: readSetting(env, SETTINGS.verifiedSecretCacheSize),
    throttleMaxFailures: readSetting(env, SETTINGS.throttleMaxFailures),
    throttleAddressMaxFailures: readSetting(env, SETTINGS.throttleAddressMaxFailures),
    forwardedForHop: readSetting(env, SETTINGS.forwardedForHop),
    throttleWindowSeconds: readSetting(env, SETTINGS.throttleWindowSeconds),
    bcryptConcurrency: readSetting(env, SETTINGS.bcryptConcurrency),
    legacyAutojoinFallback: readSetting(env, SETTINGS.legacyAutojoinFallback),
    legacyAutojoinFallbackPerMinute: readSetting(env, SETTINGS.legacyAutojoinFallbackPerMinute),
    lastUsedResolutionSeconds: readSetting(env, SETTINGS.lastUsedResolutionSeconds),
  };
}
