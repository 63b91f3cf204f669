/** The one line that says a signing-key rotation's waits are not production's, and why. */
import { timingNote } from '../../../scripts/cli/commands/signingKey';
import { loadTimingSettings } from '../../../shared/platform/config';

describe('timingNote', () => {
  it('TimingNote_TheDefaults_IsNothing', () => {
    expect(timingNote(loadTimingSettings({}))).toBeUndefined();
  });

  it('TimingNote_TheLocalStacksSettings_NamesEachChangedSettingAndBothWaits', () => {
    const timing = loadTimingSettings({
      JWKS_REFRESH_SECONDS: '5',
      SIGNING_KEY_REFRESH_SECONDS: '5',
      INTEGRATION_TOKEN_TTL: '20',
      AUTOJOIN_TOKEN_TTL: '20',
    });
    expect(timingNote(timing)).toBe(
      'note: waits shortened by JWKS_REFRESH_SECONDS=5, SIGNING_KEY_REFRESH_SECONDS=5, AUTOJOIN_TOKEN_TTL=20: ' +
        'promote after 3605 s, retire after 25 s; production (the defaults) waits 3900 s and 3900 s',
    );
  });

  it('TimingNote_OneSettingLongerThanItsDefault_SaysChangedNotShortened', () => {
    expect(timingNote(loadTimingSettings({ SIGNING_KEY_REFRESH_SECONDS: '600', AUTOJOIN_TOKEN_TTL: '60' }))).toBe(
      'note: waits changed by SIGNING_KEY_REFRESH_SECONDS=600, AUTOJOIN_TOKEN_TTL=60: ' +
        'promote after 3900 s, retire after 660 s; production (the defaults) waits 3900 s and 3900 s',
    );
  });
});
