import { ConfigError, SETTINGS, loadConfig } from '../../../shared/platform/config';

const SECRET = 'projects/mlab-sandbox/secrets/token-exchange-jwk';

describe('loadConfig', () => {
  it('uses the Go service defaults', () => {
    expect(loadConfig({ SIGNING_KEY_SECRET: SECRET })).toMatchObject({
      projectId: undefined,
      integrationNamespace: 'client-integration',
      platformNamespace: 'platform-credentials',
      signingKey: { source: 'secret-manager', secret: SECRET, version: 'latest' },
      issuer: 'token-exchange',
      integrationTokenTtl: 20,
      autojoinTokenTtl: 3600,
      legacyAutojoinFallback: true,
      legacyAutojoinFallbackPerMinute: 60,
      datastoreApiEndpoint: 'datastore.googleapis.com',
      secretManagerApiEndpoint: 'secretmanager.googleapis.com',
      datastoreEmulatorHost: undefined,
      secretManagerEmulatorHost: undefined,
    });
  });

  it.each(['datastore.example.com', 'datastore.example.com:8443', '10.0.0.7', '10.0.0.7:443', '[fd00::7]:8443'])(
    'takes %s as an API endpoint',
    (endpoint) => {
      const config = loadConfig({ SIGNING_KEY_SECRET: SECRET, DATASTORE_API_ENDPOINT: endpoint });
      expect(config.datastoreApiEndpoint).toBe(endpoint);
    },
  );

  // Every variable set to a value other than its default, by name (not through SETTINGS), so a
  // renamed or unread variable, or one read into the wrong field, fails here.
  const EVERY_VARIABLE = {
    PROJECT_ID: 'mlab-sandbox',
    CLIENT_INTEGRATION_NS: 'ci',
    PLATFORM_NS: 'pc',
    SIGNING_KEY_SECRET: SECRET,
    SIGNING_KEY_VERSION: 'current',
    TOKEN_ISSUER: 'https://auth.example',
    INTEGRATION_TOKEN_TTL: '30',
    AUTOJOIN_TOKEN_TTL: '60',
    DATASTORE_TIMEOUT_MS: '500',
    VERIFIED_SECRET_CACHE_SIZE: '7',
    THROTTLE_MAX_FAILURES: '3',
    THROTTLE_ADDRESS_MAX_FAILURES: '50',
    FORWARDED_FOR_HOP: '1',
    THROTTLE_WINDOW_SECONDS: '10',
    BCRYPT_CONCURRENCY: '4',
    JWKS_REFRESH_SECONDS: '11',
    JWKS_MAX_AGE_SECONDS: '600',
    SIGNING_KEY_REFRESH_SECONDS: '12',
    LEGACY_AUTOJOIN_FALLBACK: 'off',
    LEGACY_AUTOJOIN_FALLBACK_PER_MINUTE: '5',
    LAST_USED_RESOLUTION_SECONDS: '60',
    DATASTORE_API_ENDPOINT: 'datastore-psc.p.googleapis.com',
    SECRET_MANAGER_API_ENDPOINT: '10.1.2.3:8443',
    DATASTORE_EMULATOR_HOST: '127.0.0.1:8081',
    SECRET_MANAGER_EMULATOR_HOST: '127.0.0.1:8082',
  };

  it('reads every variable', () => {
    expect(loadConfig(EVERY_VARIABLE)).toEqual({
      projectId: 'mlab-sandbox',
      integrationNamespace: 'ci',
      platformNamespace: 'pc',
      signingKey: { source: 'secret-manager', secret: SECRET, version: 'current' },
      issuer: 'https://auth.example',
      integrationTokenTtl: 30,
      autojoinTokenTtl: 60,
      datastoreTimeoutMs: 500,
      verifiedSecretCacheSize: 7,
      throttleMaxFailures: 3,
      throttleAddressMaxFailures: 50,
      forwardedForHop: 1,
      throttleWindowSeconds: 10,
      bcryptConcurrency: 4,
      jwksRefreshSeconds: 11,
      jwksMaxAgeSeconds: 600,
      signingKeyRefreshSeconds: 12,
      legacyAutojoinFallback: false,
      legacyAutojoinFallbackPerMinute: 5,
      datastoreEmulatorHost: '127.0.0.1:8081',
      datastoreApiEndpoint: 'datastore-psc.p.googleapis.com',
      secretManagerApiEndpoint: '10.1.2.3:8443',
      secretManagerEmulatorHost: '127.0.0.1:8082',
      lastUsedResolutionSeconds: 60,
    });
    expect(loadConfig({ SIGNING_KEY_FILE: '/tmp/k.json' }).signingKey).toEqual({ source: 'file', path: '/tmp/k.json' });
  });

  it('covers every setting in that test, each with a value other than its default', () => {
    // SIGNING_KEY_FILE has its own line above.
    const elsewhere = ['SIGNING_KEY_FILE'];
    const names = Object.values(SETTINGS)
      .map((setting) => setting.name)
      .filter((name) => !elsewhere.includes(name));
    expect(Object.keys(EVERY_VARIABLE).sort()).toEqual(names.sort());
    for (const setting of Object.values(SETTINGS)) {
      const given = (EVERY_VARIABLE as Record<string, string | undefined>)[setting.name];
      if (given !== undefined) expect([setting.name, given]).not.toEqual([setting.name, setting.fallback]);
    }
  });

  it('reads the throttle and client-address settings, and a Datastore emulator as host:port', () => {
    expect(loadConfig({ SIGNING_KEY_SECRET: SECRET })).toMatchObject({
      throttleAddressMaxFailures: 20,
      forwardedForHop: 2,
      datastoreEmulatorHost: undefined,
    });
    expect(
      loadConfig({ SIGNING_KEY_SECRET: SECRET, THROTTLE_ADDRESS_MAX_FAILURES: '50', FORWARDED_FOR_HOP: '1' }),
    ).toMatchObject({ throttleAddressMaxFailures: 50, forwardedForHop: 1 });
    for (const host of ['127.0.0.1:8081', 'localhost:8081', '[::1]:8081', 'datastore-emulator.internal:443']) {
      expect(loadConfig({ SIGNING_KEY_SECRET: SECRET, DATASTORE_EMULATOR_HOST: host }).datastoreEmulatorHost).toBe(
        host,
      );
    }
  });

  it.each([
    [{}, /SIGNING_KEY_SECRET.*SIGNING_KEY_FILE/],
    [{ SIGNING_KEY_SECRET: SECRET, SIGNING_KEY_FILE: '/k' }, /SIGNING_KEY_FILE or SIGNING_KEY_SECRET/],
    [{ SIGNING_KEY_SECRET: 'token-exchange-jwk' }, /SIGNING_KEY_SECRET/],
    [{ SIGNING_KEY_SECRET: SECRET, SIGNING_KEY_VERSION: 'v/1' }, /SIGNING_KEY_VERSION/],
    [{ SIGNING_KEY_SECRET: SECRET, INTEGRATION_TOKEN_TTL: '20s' }, /INTEGRATION_TOKEN_TTL/],
    [{ SIGNING_KEY_SECRET: SECRET, AUTOJOIN_TOKEN_TTL: '0' }, /AUTOJOIN_TOKEN_TTL/],
    [{ SIGNING_KEY_SECRET: SECRET, AUTOJOIN_TOKEN_TTL: '-5' }, /AUTOJOIN_TOKEN_TTL/],
    [{ SIGNING_KEY_SECRET: SECRET, PLATFORM_NS: '__reserved__' }, /PLATFORM_NS/],
    [{ SIGNING_KEY_SECRET: SECRET, CLIENT_INTEGRATION_NS: 'a b' }, /CLIENT_INTEGRATION_NS/],
    [{ SIGNING_KEY_SECRET: SECRET, PROJECT_ID: 'Not A Project' }, /PROJECT_ID/],
    [{ SIGNING_KEY_SECRET: SECRET, TOKEN_ISSUER: ' spaced ' }, /TOKEN_ISSUER/],
    [{ SIGNING_KEY_SECRET: SECRET, DATASTORE_TIMEOUT_MS: '1' }, /DATASTORE_TIMEOUT_MS/],
    [{ SIGNING_KEY_SECRET: SECRET, LEGACY_AUTOJOIN_FALLBACK: 'false' }, /LEGACY_AUTOJOIN_FALLBACK must be on or off/],
    [{ SIGNING_KEY_SECRET: SECRET, LEGACY_AUTOJOIN_FALLBACK_PER_MINUTE: '0' }, /LEGACY_AUTOJOIN_FALLBACK_PER_MINUTE/],
    [{ SIGNING_KEY_SECRET: SECRET, DATASTORE_EMULATOR_HOST: 'localhost' }, /DATASTORE_EMULATOR_HOST must be host:port/],
    [{ SIGNING_KEY_SECRET: SECRET, DATASTORE_EMULATOR_HOST: 'localhost:' }, /DATASTORE_EMULATOR_HOST/],
    [{ SIGNING_KEY_SECRET: SECRET, DATASTORE_EMULATOR_HOST: '127.0.0.1:99999' }, /DATASTORE_EMULATOR_HOST/],
    [{ SIGNING_KEY_SECRET: SECRET, DATASTORE_EMULATOR_HOST: 'http://127.0.0.1:8081' }, /DATASTORE_EMULATOR_HOST/],
    [
      { SIGNING_KEY_SECRET: SECRET, DATASTORE_API_ENDPOINT: 'https://datastore.googleapis.com' },
      /DATASTORE_API_ENDPOINT/,
    ],
    [{ SIGNING_KEY_SECRET: SECRET, DATASTORE_API_ENDPOINT: 'datastore.googleapis.com/v1' }, /DATASTORE_API_ENDPOINT/],
    [{ SIGNING_KEY_SECRET: SECRET, SECRET_MANAGER_API_ENDPOINT: 'host:0' }, /SECRET_MANAGER_API_ENDPOINT/],
    [{ SIGNING_KEY_SECRET: SECRET, SECRET_MANAGER_API_ENDPOINT: 'host:70000' }, /SECRET_MANAGER_API_ENDPOINT/],
    [{ SIGNING_KEY_SECRET: SECRET, SECRET_MANAGER_EMULATOR_HOST: '10.0.0.1:9000' }, /SECRET_MANAGER_EMULATOR_HOST/],
    [{ SIGNING_KEY_SECRET: SECRET, FORWARDED_FOR_HOP: 'last' }, /FORWARDED_FOR_HOP/],
    [{ SIGNING_KEY_SECRET: SECRET, FORWARDED_FOR_HOP: '11' }, /FORWARDED_FOR_HOP/],
    [{ SIGNING_KEY_SECRET: SECRET, THROTTLE_ADDRESS_MAX_FAILURES: '0' }, /THROTTLE_ADDRESS_MAX_FAILURES/],
  ])('refuses %j naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});
