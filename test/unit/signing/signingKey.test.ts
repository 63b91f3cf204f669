import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { calculateJwkThumbprint, decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import {
  espv2Warning,
  generateSigningKey,
  parseSigningKey,
  SigningKeyError,
  type SigningAlgorithm,
} from '../../../shared/signing/signingKey';
import { TokenSigner } from '../../../shared/signing/signer';
import { claimsFor } from '../../../shared/exchange/claims';

const GO_FIXTURE = join(__dirname, '../../fixtures/go-service-ed25519-private.jwk.json');
const settings = { issuer: 'token-exchange', integrationTokenTtl: 20, autojoinTokenTtl: 3600 };
const key = { kind: 'integration', ownerId: 'i', keyId: 'ki_0123456789abcdef', tier: 1 } as const;

describe('generateSigningKey', () => {
  it('makes an RS256 (RSA 2048) key by default', async () => {
    const jwk = await generateSigningKey();
    expect(jwk).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig', e: 'AQAB' });
    expect(Buffer.from(jwk.n as string, 'base64url')).toHaveLength(256);
    expect((await parseSigningKey(JSON.stringify(jwk))).alg).toBe('RS256');
  });

  it('warns, in one line, that ESPv2 cannot verify EdDSA or ES256, and not for RS256', () => {
    expect(espv2Warning('RS256')).toBeUndefined();
    for (const alg of ['EdDSA', 'ES256'] as const) {
      expect(espv2Warning(alg)).toMatch(
        new RegExp(`^warning: Locate's Cloud Endpoints \\(ESPv2\\) cannot verify ${alg} tokens`),
      );
      expect(espv2Warning(alg)).not.toContain('\n');
    }
  });
});

describe('parseSigningKey', () => {
  it.each(['EdDSA', 'ES256', 'RS256'] as const)(
    'reads a private %s JWK and signs tokens its public part verifies',
    async (alg: SigningAlgorithm) => {
      const jwk = await generateSigningKey(alg);
      const signingKey = await parseSigningKey(JSON.stringify(jwk));
      expect(signingKey.alg).toBe(alg);
      expect(signingKey.kid).toBe(jwk.kid);
      expect(JSON.stringify(signingKey.publicJwk)).not.toMatch(/"(d|p|q|dp|dq|qi)"/);
      const token = await new TokenSigner(() => Promise.resolve(signingKey)).sign(claimsFor(key, settings));
      expect(decodeProtectedHeader(token)).toEqual({ alg, kid: jwk.kid, typ: 'JWT' });
      const verified = await jwtVerify(token, await importJWK({ ...signingKey.publicJwk }, alg), {
        issuer: 'token-exchange',
        audience: 'integration',
      });
      expect(verified.payload).toMatchObject({ int_id: 'i', key_id: 'ki_0123456789abcdef', tier: 1 });
    },
  );

  it("reads the Go service's own Ed25519 secret, keeping its kid", async () => {
    const text = readFileSync(GO_FIXTURE, 'utf8');
    const signingKey = await parseSigningKey(text);
    expect(signingKey.alg).toBe('EdDSA');
    expect(signingKey.kid).toBe(JSON.parse(text).kid);
  });

  it('takes the RFC 7638 thumbprint as kid when the JWK has none', async () => {
    const { kid: _kid, ...jwk } = await generateSigningKey('ES256');
    const signingKey = await parseSigningKey(JSON.stringify(jwk));
    expect(signingKey.kid).toBe(await calculateJwkThumbprint(jwk));
  });

  it.each([
    ['text that is not JSON', () => 'not json', /not a JWK/],
    ['a JSON array', () => '[]', /not a JWK/],
    [
      'a public key',
      async () => JSON.stringify({ ...(await generateSigningKey('EdDSA')), d: undefined }),
      /public key/,
    ],
    ['a symmetric key', () => Promise.resolve(JSON.stringify({ kty: 'oct', k: 'c2VjcmV0' })), /unsupported key type/],
    [
      'a P-384 key',
      () => Promise.resolve(JSON.stringify({ kty: 'EC', crv: 'P-384', x: 'a', y: 'b', d: 'c' })),
      /unsupported key type/,
    ],
    [
      'an alg that does not fit the key',
      async () => JSON.stringify({ ...(await generateSigningKey('ES256')), alg: 'RS256' }),
      /does not fit/,
    ],
    ['an encryption key', async () => JSON.stringify({ ...(await generateSigningKey('ES256')), use: 'enc' }), /use/],
    [
      'a key with a broken d',
      async () => JSON.stringify({ ...(await generateSigningKey('EdDSA')), d: 'AAAA' }),
      /cannot be used/,
    ],
  ])('refuses %s with a SigningKeyError that says why', async (_, make, message) => {
    const promise = parseSigningKey(await make());
    await expect(promise).rejects.toThrow(SigningKeyError);
    await expect(parseSigningKey(await make())).rejects.toThrow(message);
  });
});

describe('TokenSigner', () => {
  it('loads the key once, and tries again after a failed load', async () => {
    const signingKey = await parseSigningKey(JSON.stringify(await generateSigningKey('EdDSA')));
    let calls = 0;
    const signer = new TokenSigner(() => {
      calls += 1;
      if (calls === 1) return Promise.reject(new Error('Secret Manager unavailable'));
      return Promise.resolve(signingKey);
    });
    await expect(signer.sign(claimsFor(key, settings))).rejects.toThrow('Secret Manager unavailable');
    await expect(signer.sign(claimsFor(key, settings))).resolves.toEqual(expect.any(String));
    await signer.sign(claimsFor(key, settings));
    expect(calls).toBe(2);
  });
});

describe('TokenSigner re-reading the key', () => {
  async function keys(): Promise<
    [Awaited<ReturnType<typeof parseSigningKey>>, Awaited<ReturnType<typeof parseSigningKey>>]
  > {
    return [
      await parseSigningKey(JSON.stringify(await generateSigningKey('EdDSA'))),
      await parseSigningKey(JSON.stringify(await generateSigningKey('ES256'))),
    ];
  }
  const kidOf = async (signer: TokenSigner): Promise<string> =>
    decodeProtectedHeader(await signer.sign(claimsFor(key, settings))).kid as string;
  const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

  it('keeps signing with the key in hand, switching once a background re-read brings a new one', async () => {
    const [first, second] = await keys();
    let now = 0;
    let current = first;
    let reads = 0;
    const signer = new TokenSigner(
      () => {
        reads += 1;
        return Promise.resolve(current);
      },
      { refreshMs: 1000, now: () => now },
    );
    expect(await kidOf(signer)).toBe(first.kid);
    current = second;
    now = 749;
    expect(await kidOf(signer)).toBe(first.kid);
    expect(reads).toBe(1);
    now = 750;
    expect(await kidOf(signer)).toBe(first.kid); // the re-read runs behind this request
    await settle();
    expect(await kidOf(signer)).toBe(second.kid);
    expect(reads).toBe(2);
  });

  it('an instance idle since before a promote signs its next token with the new key, not the retired one', async () => {
    const [first, second] = await keys();
    let now = 0;
    let current = first;
    const signer = new TokenSigner(() => Promise.resolve(current), { refreshMs: 300_000, now: () => now });
    expect(await kidOf(signer)).toBe(first.kid);
    current = second;
    now = 3_600_000;
    expect(await kidOf(signer)).toBe(second.kid);
  });

  it('keeps the key in hand when a re-read fails, says so, and tries again shortly', async () => {
    const [first, second] = await keys();
    let now = 0;
    let fail = true;
    const errors: string[] = [];
    let reads = 0;
    const signer = new TokenSigner(
      () => {
        reads += 1;
        if (reads > 1 && fail) return Promise.reject(new Error('Secret Manager unavailable'));
        return Promise.resolve(reads === 1 ? first : second);
      },
      { refreshMs: 300_000, now: () => now, onRefreshError: (e) => errors.push(e.message) },
    );
    await kidOf(signer);
    now = 300_000;
    expect(await kidOf(signer)).toBe(first.kid);
    expect(errors).toEqual(['Secret Manager unavailable']);
    expect(await kidOf(signer)).toBe(first.kid);
    expect(reads).toBe(2); // not again at once
    fail = false;
    now += 30_000;
    await kidOf(signer);
    await settle();
    expect(await kidOf(signer)).toBe(second.kid);
  });
});
