/** The rotation's rules as pure functions: roles of versions, and the waits before promote and retire. */
import {
  promotableAt,
  promotionRefusal,
  publicationDelaySeconds,
  retirableAt,
  retirementDelaySeconds,
  retirementRefusal,
  versionRole,
  type VersionFacts,
} from '../../../shared/admin/rotationRules';

const timing = {
  integrationTokenTtl: 20,
  autojoinTokenTtl: 3600,
  jwksRefreshSeconds: 300,
  jwksMaxAgeSeconds: 3600,
  signingKeyRefreshSeconds: 300,
};
const T0 = new Date('2026-06-01T00:00:00Z');
const at = (seconds: number): Date => new Date(T0.getTime() + seconds * 1000);

describe('the waits', () => {
  it('PublicationDelay_IsTheJwksMaxAgePlusOneRefresh', () => {
    expect(publicationDelaySeconds(timing)).toBe(3600 + 300);
    expect(publicationDelaySeconds({ ...timing, jwksMaxAgeSeconds: 30, jwksRefreshSeconds: 5 })).toBe(35);
  });

  it('RetirementDelay_IsOneAliasRefreshPlusTheLongestTokenLifetime', () => {
    expect(retirementDelaySeconds(timing)).toBe(300 + 3600);
    expect(retirementDelaySeconds({ ...timing, integrationTokenTtl: 7200 })).toBe(300 + 7200);
  });

  it('PromotableAtAndRetirableAt_AddTheDelaysToTheirStart', () => {
    expect(promotableAt(T0, timing)).toEqual(at(3600 + 300));
    expect(retirableAt(T0, timing)).toEqual(at(3900));
  });
});

describe('versionRole', () => {
  const facts = (overrides: Partial<VersionFacts>): VersionFacts => ({
    version: 2,
    state: 'ENABLED',
    published: true,
    signing: 1,
    stoppedSigningAt: undefined,
    ...overrides,
  });

  it.each<[string, Partial<VersionFacts>, string]>([
    ['destroyed', { state: 'DESTROYED' }, 'destroyed'],
    ['disabled', { state: 'DISABLED' }, 'disabled'],
    ['enabled but beyond the published set', { published: false }, 'disabled'],
    ['named by the alias', { signing: 2 }, 'signing'],
    ['named by the alias, with an old stop record', { signing: 2, stoppedSigningAt: T0 }, 'signing'],
    ['moved off by promote', { version: 1, signing: 2, stoppedSigningAt: T0 }, 'stopped-signing'],
    ['newer than the signing version', { version: 3, signing: 2 }, 'staged'],
    ['any version while no alias is set', { version: 1, signing: undefined }, 'staged'],
    ['older, never moved off by promote', { version: 1, signing: 2 }, 'published'],
  ])('VersionRole_%s_Is%s', (_, overrides, role) => {
    expect(versionRole(facts(overrides))).toBe(role);
  });
});

describe('promotionRefusal', () => {
  const delay = publicationDelaySeconds(timing);

  it('PromotionRefusal_BeforeTheDelay_NamesWhenItWillBeAccepted', () => {
    const refusal = promotionRefusal(2, T0, at(delay - 1), timing);
    expect(refusal).toBe(
      `version 2 has been published since 2026-06-01T00:00:00Z; verifiers may cache the JWKS for ${delay} s, ` +
        `so promote it after ${at(delay).toISOString().replace('.000Z', 'Z')}`,
    );
  });

  it('PromotionRefusal_AtOrAfterTheDelay_IsNone', () => {
    expect(promotionRefusal(2, T0, at(delay), timing)).toBeUndefined();
    expect(promotionRefusal(2, T0, at(delay + 1), timing)).toBeUndefined();
  });

  it('PromotionRefusal_UnknownCreationTime_IsNone', () => {
    expect(promotionRefusal(2, undefined, T0, timing)).toBeUndefined();
  });
});

describe('retirementRefusal', () => {
  const base = { version: 1, signing: 2, alias: 'current', timing };

  it('RetirementRefusal_BeforeTheLastTokensExpire_SaysWhyAndWhen', () => {
    const refusal = retirementRefusal({ ...base, stoppedAt: T0, now: at(3899) });
    expect(refusal).toBe(
      'version 1 stopped signing at 2026-06-01T00:00:00Z; instances may sign with it for 300 s more and tokens ' +
        'live up to 3600 s: retire it after 2026-06-01T01:05:00Z',
    );
  });

  it('RetirementRefusal_OnceTheLastTokensExpired_IsNone', () => {
    expect(retirementRefusal({ ...base, stoppedAt: T0, now: at(3900) })).toBeUndefined();
  });

  it('RetirementRefusal_NoStopRecordAndOlderThanTheSigningVersion_IsRefused', () => {
    expect(retirementRefusal({ ...base, stoppedAt: undefined, now: at(1e6) })).toMatch(
      /^there is no record of when version 1 stopped signing \(it was not moved off current by promote\)/,
    );
  });

  it('RetirementRefusal_NoStopRecordAndNoAlias_IsRefused', () => {
    expect(retirementRefusal({ ...base, signing: undefined, stoppedAt: undefined, now: T0 })).toMatch(/no record/);
  });

  it('RetirementRefusal_NoStopRecordButNewerThanTheSigningVersion_IsNone', () => {
    expect(retirementRefusal({ ...base, version: 3, stoppedAt: undefined, now: T0 })).toBeUndefined();
  });
});
