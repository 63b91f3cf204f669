/** The kinds table agrees with the code that reads keys, paths and tokens. */
import { claimsFor, tokenTtl } from '../../../shared/exchange/claims';
import { apiKeyKey, KEY_PATHS, ownerKey } from '../../../shared/keys/entities';
import { formatApiKey, parseApiKey } from '../../../shared/keys/grammar';
import { KEY_KINDS, KINDS, namespaceFor } from '../../../shared/keys/kinds';

const namespaces = { integrationNamespace: 'client-integration', platformNamespace: 'platform-credentials' };
const settings = { issuer: 'token-exchange', integrationTokenTtl: 20, autojoinTokenTtl: 3600 };

describe.each(KEY_KINDS)('the %s row', (kind) => {
  const info = KINDS[kind];

  it('Prefix_FormatsAndParsesBackToTheKind', () => {
    const apiKey = formatApiKey({ kind, ownerId: 'owner', keyId: 'ki_0123456789abcdef', secret: 's3cret' });
    expect(apiKey.startsWith(`mlabk.${info.prefix}owner.`)).toBe(true);
    const key = { kind, ownerId: 'owner', keyId: 'ki_0123456789abcdef', secret: 's3cret' };
    expect(parseApiKey(apiKey)).toEqual({ ok: true, key });
  });

  it('EntityKindsAndNamespace_NameTheDatastorePath', () => {
    const namespace = namespaceFor(kind, namespaces);
    expect(namespace).toBe(namespaces[info.namespaceSetting]);
    expect(ownerKey(KEY_PATHS, kind, 'owner', namespaces)).toEqual({ namespace, path: [info.ownerKind, 'owner'] });
    expect(apiKeyKey(KEY_PATHS, kind, 'owner', 'ki_1', namespaces)).toEqual({
      namespace,
      path: [info.ownerKind, 'owner', info.keyKind, 'ki_1'],
    });
  });

  it('AudienceOwnerClaimAndTtl_AreWhatTheTokenCarries', () => {
    const key = { kind, ownerId: 'owner', keyId: 'ki_1', tier: 3 };
    const claims: Record<string, unknown> = { ...claimsFor(key, settings, 0) };
    expect(claims.aud).toBe(info.audience);
    expect(claims[info.ownerClaim]).toBe('owner');
    expect('tier' in claims).toBe(info.hasTier);
    expect(tokenTtl(kind, settings)).toBe(settings[info.tokenTtlSetting]);
  });
});

describe('the table', () => {
  it('Kinds_DifferInEveryField', () => {
    const [a, b] = KEY_KINDS.map((kind) => KINDS[kind]);
    for (const field of Object.keys(KINDS.integration) as (keyof typeof KINDS.integration)[]) {
      expect([field, a?.[field] === b?.[field]]).toEqual([field, false]);
    }
  });

  it('DatastoreNames_AreTheGoServices', () => {
    expect([KINDS.integration.ownerKind, KINDS.integration.keyKind]).toEqual(['IntegrationMeta', 'IntegrationAPIKey']);
    expect([KINDS.autojoin.ownerKind, KINDS.autojoin.keyKind]).toEqual(['Organization', 'APIKey']);
  });
});
