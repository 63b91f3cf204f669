import { hashKind, hashSecret, matchesBcrypt, matchesSha256, sha256Hex } from '../../../shared/keys/secretHash';

describe('secret hashes', () => {
  it('bcrypt hashes made here verify the secret and nothing else', async () => {
    const hash = await hashSecret('the-secret', 4);
    expect(hashKind(hash)).toBe('bcrypt');
    expect(hash).not.toContain('the-secret');
    await expect(matchesBcrypt('the-secret', hash)).resolves.toBe(true);
    await expect(matchesBcrypt('the-secreT', hash)).resolves.toBe(false);
  });

  it('uses cost 10 unless told otherwise', async () => {
    expect(await hashSecret('s')).toMatch(/^\$2b\$10\$/);
  });

  it('Go-service SHA-256 hashes verify the secret and nothing else', () => {
    // hex SHA-256 of "secret", as the Go service stores it.
    const stored = '2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b';
    expect(sha256Hex('secret')).toBe(stored);
    expect(hashKind(stored)).toBe('sha256');
    expect(matchesSha256('secret', stored)).toBe(true);
    expect(matchesSha256('secreT', stored)).toBe(false);
  });

  it('reads any other stored form as unknown, which matches nothing', () => {
    const bcryptBody = 'N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy';
    expect(hashKind(`$2b$10$${bcryptBody}`)).toBe('bcrypt');
    expect(hashKind(`$2b$04$${bcryptBody}`)).toBe('bcrypt');
    expect(hashKind(`$2b$31$${bcryptBody}`)).toBe('bcrypt');
    // bcrypt's cost is 4 to 31: any other cannot be checked, so it is unknown too.
    for (const stored of [
      '',
      'plaintext',
      '2BB80D537B1DA3E38BD30361AA855686BDE0EACD7162FEF6A25FE97BF527A25B',
      '$2b$10$short',
      `$2b$03$${bcryptBody}`,
      `$2b$32$${bcryptBody}`,
      `$2b$99$${bcryptBody}`,
      `$2b$00$${bcryptBody}`,
    ]) {
      expect(hashKind(stored)).toBe('unknown');
      expect(matchesSha256('secret', stored)).toBe(false);
    }
  });
});
