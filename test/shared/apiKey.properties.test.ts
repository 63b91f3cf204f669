/** Properties of the key grammar, over generated input (fast-check). */
import fc from 'fast-check';
import { formatApiKey, MAX_API_KEY_BYTES, parseApiKey, type KeyKind } from '../../shared/apiKey';

const ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-'.split('');
const HEX = '0123456789abcdef'.split('');

const ownerId = fc
  .array(fc.constantFrom(...ID_CHARS), { minLength: 1, maxLength: 64 })
  .map((chars) => chars.join(''))
  .filter((id) => !/^__.*__$/.test(id));
const keyId = fc.array(fc.constantFrom(...HEX), { minLength: 16, maxLength: 16 }).map((chars) => `ki_${chars.join('')}`);
const secret = fc.array(fc.constantFrom(...ID_CHARS), { minLength: 1, maxLength: 128 }).map((chars) => chars.join(''));
const kind = fc.constantFrom<KeyKind>('integration', 'autojoin');
const scopedKey = fc.record({ kind, ownerId, keyId, secret });

/** DESIGN.md's grammar, written independently of the parser, as the oracle. */
const GRAMMAR = /^mlabk\.(cii|org)_([A-Za-z0-9_-]{1,64})\.ki_[0-9a-f]{16}\.[A-Za-z0-9_-]{1,128}$/;
function inGrammar(input: string): boolean {
  const match = GRAMMAR.exec(input);
  return match !== null && !/^__.*__$/.test(match[2] as string) && Buffer.byteLength(input) <= MAX_API_KEY_BYTES;
}

// Strings near the grammar find the edges far better than uniform noise.
const nearKey = fc.oneof(
  fc.string({ maxLength: 400 }),
  fc.string({ unit: 'grapheme', maxLength: 100 }),
  scopedKey.map(formatApiKey),
  fc.tuple(scopedKey.map(formatApiKey), fc.nat(), fc.string({ maxLength: 3 })).map(([key, at, insert]) => {
    const i = at % (key.length + 1);
    return key.slice(0, i) + insert + key.slice(i + 1);
  }),
  fc.tuple(fc.constantFrom('mlabk.cii_', 'mlabk.org_', 'mlabk.', 'mlabk.cii___'), fc.string({ maxLength: 300 })).map(([a, b]) => a + b),
);

describe('parseApiKey', () => {
  it('never throws, whatever it is given', () => {
    fc.assert(
      fc.property(fc.anything(), (input) => {
        parseApiKey(input);
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts exactly the strings of the grammar', () => {
    fc.assert(
      fc.property(nearKey, (input) => {
        expect(parseApiKey(input).ok).toBe(inGrammar(input));
      }),
      { numRuns: 20_000 },
    );
  });

  it('round-trips with the formatter', () => {
    fc.assert(
      fc.property(scopedKey, (key) => {
        // The longest parts make 223 bytes, so every well-formed key fits the 300-byte limit.
        const text = formatApiKey(key);
        const parsed = parseApiKey(text);
        expect(parsed).toEqual({ ok: true, key });
        if (parsed.ok) expect(formatApiKey(parsed.key)).toBe(text);
      }),
      { numRuns: 5000 },
    );
  });
});
