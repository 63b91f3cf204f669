/** Properties of the key grammar, over generated input (fast-check). */
import fc from 'fast-check';
import { formatApiKey, generateKeyId, generateSecret, parseApiKey, type KeyKind } from '../../../shared/keys/grammar';

/**
 * The oracle: the Go service's parseAPIKey (store/clientintegration.go), transcribed step by
 * step on UTF-8 bytes and written independently of the parser, for both owner prefixes, plus
 * our one addition: Datastore's reserved `__…__` names are refused.
 */
function goAccepts(input: string): boolean {
  const bytes = Buffer.from(input, 'utf8');
  if (bytes.length > 300) return false;
  const text = bytes.toString('utf8');
  if (!text.startsWith('mlabk.')) return false;
  const entries = text.slice('mlabk.'.length).split('.');
  if (entries.length !== 3) return false;
  const [owner, keyId, secret] = entries as [string, string, string];
  const prefix = owner.startsWith('cii_') ? 'cii_' : owner.startsWith('org_') ? 'org_' : undefined;
  if (prefix === undefined) return false;
  const id = owner.slice(prefix.length);
  const len = (s: string): number => Buffer.byteLength(s, 'utf8');
  if (id === '' || len(id) > 64) return false;
  if (id.length >= 4 && id.startsWith('__') && id.endsWith('__')) return false;
  if (!keyId.startsWith('ki_') || len(keyId) <= 3 || len(keyId) > 64) return false;
  if (secret === '' || len(secret) > 128) return false;
  return true;
}

const kind = fc.constantFrom<KeyKind>('integration', 'autojoin');
// Any text without a dot, of a bounded number of bytes, unicode included.
const unit = fc.oneof(
  fc.constantFrom('é', '🔑', ' ', ':', '/', '_', '-', '\u0000', '\n', '\ufffd'),
  fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
);
const noDot = (maxBytes: number): fc.Arbitrary<string> =>
  fc
    .string({ unit, minLength: 1, maxLength: maxBytes })
    .map((s) => {
      let text = s.replaceAll('.', '');
      while (Buffer.byteLength(text) > maxBytes) text = [...text].slice(0, -1).join('');
      return text;
    })
    .filter((s) => s !== '');
const ownerId = noDot(64).filter((id) => !(id.length >= 4 && id.startsWith('__') && id.endsWith('__')));
const keyId = fc.oneof(
  noDot(61).map((rest) => `ki_${rest}`),
  fc.constant(null).map(() => generateKeyId()),
);
const secret = fc.oneof(
  noDot(128),
  fc.constant(null).map(() => generateSecret()),
);
const goKey = fc.record({ kind, ownerId, keyId, secret });

// Exactly `bytes` bytes of ASCII without a dot, with `bytes` one either side of a limit.
const around = (limit: number): fc.Arbitrary<string> =>
  fc
    .integer({ min: limit - 1, max: limit + 1 })
    .chain((bytes) => fc.string({ unit: 'grapheme-ascii', minLength: bytes, maxLength: bytes }))
    .map((s) => s.replaceAll('.', 'x'));
// Parts at and just past each limit, and reserved names.
const edgeKey = fc
  .record({
    kind,
    ownerId: fc.oneof(
      around(64),
      noDot(60).map((mid) => `__${mid}__`),
      fc.constantFrom('__', '___', '____', '__\n__', 'x'),
    ),
    keyId: fc.oneof(
      around(61).map((rest) => `ki_${rest}`),
      fc.constantFrom('ki_', 'k', 'KI_x', 'ki_x'),
    ),
    secret: fc.oneof(around(128), fc.constant('s')),
  })
  .map(formatApiKey);

// Strings near the grammar find the edges far better than uniform noise.
const nearKey = fc.oneof(
  edgeKey,
  fc.string({ maxLength: 400 }),
  fc.string({ unit: 'grapheme', maxLength: 100 }),
  goKey.map(formatApiKey),
  fc.tuple(goKey.map(formatApiKey), fc.nat(), fc.string({ maxLength: 3 })).map(([key, at, insert]) => {
    const i = at % (key.length + 1);
    return key.slice(0, i) + insert + key.slice(i + 1);
  }),
  fc
    .tuple(
      fc.constantFrom('mlabk.cii_', 'mlabk.org_', 'mlabk.', 'mlabk.cii___', 'mlabk.cii_x.ki_', 'mlabk.org_o.ki_k.'),
      fc.string({ unit: 'binary', maxLength: 300 }),
    )
    .map(([a, b]) => a + b),
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

  it("accepts exactly the Go service's grammar", () => {
    fc.assert(
      fc.property(nearKey, (input) => {
        expect(parseApiKey(input).ok).toBe(goAccepts(input));
      }),
      { numRuns: 20_000 },
    );
  });

  it('round-trips with the formatter', () => {
    fc.assert(
      fc.property(goKey, (key) => {
        // The longest parts make 268 bytes, so every key of the grammar fits the 300-byte limit.
        const text = formatApiKey(key);
        const parsed = parseApiKey(text);
        expect(parsed).toEqual({ ok: true, key });
        if (parsed.ok) expect(formatApiKey(parsed.key)).toBe(text);
      }),
      { numRuns: 5000 },
    );
  });
});
