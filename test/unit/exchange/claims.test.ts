import { claimsFor, tokenTtl } from '../../../shared/exchange/claims';

const settings = { issuer: 'token-exchange', integrationTokenTtl: 20, autojoinTokenTtl: 3600 };

describe('claimsFor', () => {
  it('an integration token: aud integration, 20 s, int_id, key_id and a numeric tier', () => {
    const claims = claimsFor(
      { kind: 'integration', ownerId: 'speedtest', keyId: 'ki_0123456789abcdef', tier: 2 },
      settings,
      1_800_000_000,
    );
    expect(claims).toEqual({
      iss: 'token-exchange',
      aud: 'integration',
      iat: 1_800_000_000,
      nbf: 1_800_000_000,
      exp: 1_800_000_020,
      jti: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
      int_id: 'speedtest',
      key_id: 'ki_0123456789abcdef',
      tier: 2,
    });
  });

  it('an autojoin token: aud autojoin, one hour, org and no integration claims', () => {
    const claims = claimsFor(
      { kind: 'autojoin', ownerId: 'mlab', keyId: 'ki_0123456789abcdef', tier: 0 },
      settings,
      1_800_000_000,
    );
    expect(claims).toEqual({
      iss: 'token-exchange',
      aud: 'autojoin',
      iat: 1_800_000_000,
      nbf: 1_800_000_000,
      exp: 1_800_003_600,
      jti: expect.any(String),
      org: 'mlab',
    });
  });

  it('takes issuer and lifetimes from the settings', () => {
    const custom = { issuer: 'other', integrationTokenTtl: 5, autojoinTokenTtl: 60 };
    const claims = claimsFor({ kind: 'integration', ownerId: 'i', keyId: 'ki_0123456789abcdef', tier: 0 }, custom, 100);
    expect(claims).toMatchObject({ iss: 'other', exp: 105 });
    expect(tokenTtl('autojoin', custom)).toBe(60);
  });

  it('gives every token its own jti and uses the current time by default', () => {
    const key = { kind: 'autojoin', ownerId: 'o', keyId: 'ki_0123456789abcdef', tier: 0 } as const;
    const before = Math.floor(Date.now() / 1000);
    const a = claimsFor(key, settings);
    const b = claimsFor(key, settings);
    expect(a.jti).not.toBe(b.jti);
    expect(a.iat).toBeGreaterThanOrEqual(before);
    expect(a.iat).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
  });
});
