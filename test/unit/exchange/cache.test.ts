import { secretDigest as d } from '../../../shared/keys/secretHash';
import { VerifiedSecretCache } from '../../../shared/exchange/cache';

describe('VerifiedSecretCache', () => {
  it('hits for the secret it verified against the same stored hash', () => {
    const cache = new VerifiedSecretCache(10);
    cache.remember('ns/a', 'hash-1', d('secret'));
    expect(cache.has('ns/a', 'hash-1', d('secret'))).toBe(true);
  });

  it('misses for another secret, another path or a changed stored hash', () => {
    const cache = new VerifiedSecretCache(10);
    cache.remember('ns/a', 'hash-1', d('secret'));
    expect(cache.has('ns/a', 'hash-1', d('other'))).toBe(false);
    expect(cache.has('ns/b', 'hash-1', d('secret'))).toBe(false);
    expect(cache.has('ns/a', 'hash-2', d('secret'))).toBe(false);
    // A changed hash (a reroll) drops the entry for good.
    expect(cache.has('ns/a', 'hash-1', d('secret'))).toBe(false);
  });

  it('keeps at most its capacity, dropping the least recently used', () => {
    const cache = new VerifiedSecretCache(3);
    for (const path of ['a', 'b', 'c']) cache.remember(path, 'h', d('s'));
    expect(cache.has('a', 'h', d('s'))).toBe(true); // a is now the most recent
    cache.remember('d', 'h', d('s'));
    expect(cache.size).toBe(3);
    expect(cache.has('b', 'h', d('s'))).toBe(false);
    expect(cache.has('a', 'h', d('s'))).toBe(true);
    expect(cache.has('d', 'h', d('s'))).toBe(true);
  });

  it('stays bounded under many distinct keys', () => {
    const cache = new VerifiedSecretCache(100);
    for (let i = 0; i < 10_000; i++) cache.remember(`k${i}`, 'h', d('s'));
    expect(cache.size).toBe(100);
  });

  it('remembers nothing with capacity 0', () => {
    const cache = new VerifiedSecretCache(0);
    cache.remember('a', 'h', d('s'));
    expect(cache.has('a', 'h', d('s'))).toBe(false);
  });
});
