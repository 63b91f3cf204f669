import {
  formatApiKey,
  generateKeyId,
  generateSecret,
  isAcceptedKeyId,
  isAcceptedOwnerId,
  isLegacyAutojoinKey,
  isValidKeyId,
  isValidOwnerId,
  legacyKeyName,
  MAX_API_KEY_BYTES,
  parseApiKey,
} from '../../../shared/keys/grammar';

const KEY_ID = 'ki_0123456789abcdef';
const SECRET = 'A'.repeat(43);

describe('parseApiKey accepts', () => {
  it.each([
    ['an integration key', `mlabk.cii_speedtest.${KEY_ID}.${SECRET}`, 'integration', 'speedtest'],
    ['an autojoin key', `mlabk.org_mlab-sandbox.${KEY_ID}.${SECRET}`, 'autojoin', 'mlab-sandbox'],
    ['ids of 64 characters', `mlabk.cii_${'a'.repeat(64)}.${KEY_ID}.${SECRET}`, 'integration', 'a'.repeat(64)],
    ['ids with _ and -', `mlabk.org_A_b-9.${KEY_ID}.${SECRET}`, 'autojoin', 'A_b-9'],
    ['a one-character id', `mlabk.cii_x.${KEY_ID}.${SECRET}`, 'integration', 'x'],
    // The Go service accepted any id of 1 to 64 bytes without a dot, and its tool took any.
    [
      'a colon and a space in the id',
      `mlabk.cii_acme:speed test.${KEY_ID}.${SECRET}`,
      'integration',
      'acme:speed test',
    ],
    ['a slash in the id', `mlabk.org_a/b.${KEY_ID}.${SECRET}`, 'autojoin', 'a/b'],
    ['unicode in the id', `mlabk.cii_café.${KEY_ID}.${SECRET}`, 'integration', 'café'],
    [
      'an id of 64 bytes in 32 characters',
      `mlabk.cii_${'é'.repeat(32)}.${KEY_ID}.${SECRET}`,
      'integration',
      'é'.repeat(32),
    ],
    ['an id that only starts with __', `mlabk.cii___x.${KEY_ID}.${SECRET}`, 'integration', '__x'],
  ])('%s', (_, input, kind, ownerId) => {
    const parsed = parseApiKey(input);
    expect(parsed).toEqual({ ok: true, key: { kind, ownerId, keyId: KEY_ID, secret: SECRET } });
  });

  it.each([
    ['a custom key id, as the Go tool documents', 'ki_custom'],
    ['a key id with a dash', 'ki_2025-prod'],
    ['ki_ and one byte', 'ki_x'],
    ['ki_ and 61 bytes', `ki_${'z'.repeat(61)}`],
    ['upper-case hex', 'ki_0123456789ABCDEF'],
  ])('%s', (_, keyId) => {
    expect(parseApiKey(`mlabk.cii_i.${keyId}.${SECRET}`)).toEqual({
      ok: true,
      key: { kind: 'integration', ownerId: 'i', keyId, secret: SECRET },
    });
  });

  it('secrets of 1 and of 128 bytes, of any characters but a dot', () => {
    for (const secret of [
      'x',
      'a-_Z'.repeat(32),
      `${SECRET}=`,
      'ab+c/d',
      `${SECRET}\u0000`,
      `${SECRET} `,
      'é'.repeat(64),
    ]) {
      expect(parseApiKey(`mlabk.cii_i.${KEY_ID}.${secret}`)).toMatchObject({ ok: true, key: { secret } });
    }
  });

  it('a lone surrogate as U+FFFD, as Go decodes it', () => {
    expect(parseApiKey(`mlabk.cii_a\ud800b.${KEY_ID}.${SECRET}`)).toMatchObject({
      ok: true,
      key: { ownerId: 'a\ufffdb' },
    });
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
    ['a reserved id with a newline', `mlabk.cii___a\nb__.${KEY_ID}.${SECRET}`],
    ['an id of 65 bytes in 33 characters', `mlabk.cii_${'é'.repeat(32)}x.${KEY_ID}.${SECRET}`],
    ['a key id without ki_', `mlabk.cii_i.0123456789abcdef.${SECRET}`],
    ['an upper-case KI_', `mlabk.cii_i.KI_custom.${SECRET}`],
    ['ki_ alone', `mlabk.cii_i.ki_.${SECRET}`],
    ['a key id of 65 bytes', `mlabk.cii_i.ki_${'z'.repeat(62)}.${SECRET}`],
    ['an empty secret', `mlabk.cii_i.${KEY_ID}.`],
    ['a secret of 129 bytes', `mlabk.cii_i.${KEY_ID}.${'a'.repeat(129)}`],
    ['a secret of 130 bytes in 65 characters', `mlabk.cii_i.${KEY_ID}.${'é'.repeat(65)}`],
    ['a leading space', ` mlabk.cii_i.${KEY_ID}.${SECRET}`],
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
  it.each([
    ['a', true],
    ['A-b_9', true],
    ['', false],
    ['__x__', false],
    ['a.b', false],
    ['a'.repeat(65), false],
    ['a b', false],
    ['acme:x', false],
  ])('%j is one we would make: %s', (id, valid) => expect(isValidOwnerId(id)).toBe(valid));

  it.each([
    ['a', true],
    ['acme:speed test', true],
    ['é'.repeat(32), true],
    ['é'.repeat(33), false],
    ['', false],
    ['__x__', false],
    ['a.b', false],
    ['a\ud800', false],
  ])('%j is one the Go service accepted: %s', (id, valid) => expect(isAcceptedOwnerId(id)).toBe(valid));
});

describe('key ids', () => {
  it.each([
    ['ki_0123456789abcdef', true],
    ['ki_custom', false],
    ['ki_0123456789ABCDEF', false],
    ['legacy_0123456789abcdef', false],
  ])('%j is one we would make: %s', (id, valid) => expect(isValidKeyId(id)).toBe(valid));

  it.each([
    ['ki_0123456789abcdef', true],
    ['ki_custom', true],
    ['ki_2025-prod', true],
    ['ki_', false],
    [`ki_${'z'.repeat(61)}`, true],
    [`ki_${'z'.repeat(62)}`, false],
    ['ki_a.b', false],
    ['custom', false],
  ])('%j is one the Go service accepted: %s', (id, valid) => expect(isAcceptedKeyId(id)).toBe(valid));
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
