import {
  formatApiKey,
  generateKeyId,
  generateSecret,
  isLegacyAutojoinKey,
  isValidOwnerId,
  legacyKeyName,
  MAX_API_KEY_BYTES,
  parseApiKey,
} from '../../shared/apiKey';

const KEY_ID = 'ki_0123456789abcdef';
const SECRET = 'A'.repeat(43);

describe('parseApiKey accepts', () => {
  it.each([
    ['an integration key', `mlabk.cii_speedtest.${KEY_ID}.${SECRET}`, 'integration', 'speedtest'],
    ['an autojoin key', `mlabk.org_mlab-sandbox.${KEY_ID}.${SECRET}`, 'autojoin', 'mlab-sandbox'],
    ['ids of 64 characters', `mlabk.cii_${'a'.repeat(64)}.${KEY_ID}.${SECRET}`, 'integration', 'a'.repeat(64)],
    ['ids with _ and -', `mlabk.org_A_b-9.${KEY_ID}.${SECRET}`, 'autojoin', 'A_b-9'],
    ['a one-character id', `mlabk.cii_x.${KEY_ID}.${SECRET}`, 'integration', 'x'],
  ])('%s', (_, input, kind, ownerId) => {
    const parsed = parseApiKey(input);
    expect(parsed).toEqual({ ok: true, key: { kind, ownerId, keyId: KEY_ID, secret: SECRET } });
  });

  it('secrets of 1 and of 128 base64url characters', () => {
    for (const secret of ['x', 'a-_Z'.repeat(32)]) {
      expect(parseApiKey(`mlabk.cii_i.${KEY_ID}.${secret}`)).toMatchObject({ ok: true, key: { secret } });
    }
  });
});

describe('parseApiKey refuses', () => {
  it.each([
    ['a non-string', 42],
    ['undefined', undefined],
    ['the empty string', ''],
    ['no prefix', `cii_i.${KEY_ID}.${SECRET}`],
    ['a wrong prefix', `mlab.cii_i.${KEY_ID}.${SECRET}`],
    ['an upper-case prefix', `MLABK.cii_i.${KEY_ID}.${SECRET}`],
    ['an unknown owner prefix', `mlabk.xyz_i.${KEY_ID}.${SECRET}`],
    ['a missing part', `mlabk.cii_i.${KEY_ID}`],
    ['an extra dot', `mlabk.cii_i.${KEY_ID}.${SECRET}.x`],
    ['a trailing dot', `mlabk.cii_i.${KEY_ID}.${SECRET}.`],
    ['an empty id', `mlabk.cii_.${KEY_ID}.${SECRET}`],
    ['an id of 65 characters', `mlabk.cii_${'a'.repeat(65)}.${KEY_ID}.${SECRET}`],
    ['a reserved id', `mlabk.cii___x__.${KEY_ID}.${SECRET}`],
    ['a reserved id of underscores only', `mlabk.org_____.${KEY_ID}.${SECRET}`],
    ['a slash in the id', `mlabk.cii_a/b.${KEY_ID}.${SECRET}`],
    ['a space in the id', `mlabk.cii_a b.${KEY_ID}.${SECRET}`],
    ['unicode in the id', `mlabk.cii_café.${KEY_ID}.${SECRET}`],
    ['a key id without ki_', `mlabk.cii_i.0123456789abcdef.${SECRET}`],
    ['ki_ without hex', `mlabk.cii_i.ki_zzzzzzzzzzzzzzzz.${SECRET}`],
    ['upper-case hex', `mlabk.cii_i.ki_0123456789ABCDEF.${SECRET}`],
    ['a short key id', `mlabk.cii_i.ki_0123.${SECRET}`],
    ['a long key id', `mlabk.cii_i.ki_0123456789abcdef0.${SECRET}`],
    ['an empty secret', `mlabk.cii_i.${KEY_ID}.`],
    ['a secret with padding', `mlabk.cii_i.${KEY_ID}.${SECRET}=`],
    ['a secret with + and /', `mlabk.cii_i.${KEY_ID}.ab+c/d`],
    ['a secret of 129 characters', `mlabk.cii_i.${KEY_ID}.${'a'.repeat(129)}`],
    ['a NUL byte', `mlabk.cii_i.${KEY_ID}.${SECRET}\u0000`],
    ['surrounding spaces', ` mlabk.cii_i.${KEY_ID}.${SECRET} `],
    ['over 300 bytes', `mlabk.cii_${'a'.repeat(64)}.${KEY_ID}.${'a'.repeat(128)}${'b'.repeat(100)}`],
  ])('%s', (_, input) => {
    expect(parseApiKey(input)).toMatchObject({ ok: false });
  });

  it('over 300 bytes before looking at anything else', () => {
    expect(parseApiKey('m'.repeat(MAX_API_KEY_BYTES + 1))).toEqual({ ok: false, reason: 'too long' });
    expect(parseApiKey('é'.repeat(151))).toEqual({ ok: false, reason: 'too long' });
  });
});

describe('key generation', () => {
  it('makes 43-character base64url secrets from 32 random bytes, all different', () => {
    const secrets = new Set(Array.from({ length: 100 }, generateSecret));
    expect(secrets.size).toBe(100);
    for (const secret of secrets) {
      expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(secret, 'base64url')).toHaveLength(32);
    }
  });

  it('makes key ids of ki_ and 16 lowercase hex', () => {
    expect(generateKeyId()).toMatch(/^ki_[0-9a-f]{16}$/);
    expect(generateKeyId()).not.toBe(generateKeyId());
  });

  it('formats keys that parse back to the same parts', () => {
    for (const kind of ['integration', 'autojoin'] as const) {
      const key = { kind, ownerId: 'some_id-1', keyId: generateKeyId(), secret: generateSecret() };
      const text = formatApiKey(key);
      expect(text.startsWith(kind === 'integration' ? 'mlabk.cii_' : 'mlabk.org_')).toBe(true);
      expect(parseApiKey(text)).toEqual({ ok: true, key });
    }
  });
});

describe('owner ids', () => {
  it.each([['a', true], ['A-b_9', true], ['', false], ['__x__', false], ['a.b', false], ['a'.repeat(65), false]])(
    '%j is valid: %s',
    (id, valid) => expect(isValidOwnerId(id)).toBe(valid),
  );
});

describe('legacy autojoin keys', () => {
  it('recognises the Go service flat keys, not scoped keys or junk', () => {
    expect(isLegacyAutojoinKey(generateSecret())).toBe(true);
    expect(isLegacyAutojoinKey(`mlabk.org_o.${KEY_ID}.${SECRET}`)).toBe(false);
    expect(isLegacyAutojoinKey('short')).toBe(false);
    expect(isLegacyAutojoinKey(17)).toBe(false);
  });

  it('are named by the hex SHA-256 of the key as presented', () => {
    expect(legacyKeyName('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});
