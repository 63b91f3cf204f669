/**
 * The layout's rules about who may import whom, read from the sources: the hot path and the
 * signing side never reach operator code, and a function imports only its own wiring.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');

function sources(folder: string): string[] {
  return readdirSync(join(ROOT, folder), { recursive: true })
    .map(String)
    .filter((file) => file.endsWith('.ts'))
    .map((file) => join(folder, file));
}

/** The repository paths a source file imports or requires (relative specifiers only). */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const specifiers = [
    ...text.matchAll(/(?:from\s+|^import\s+|require\(\s*|import\(\s*)['"](\.{1,2}\/[^'"]+)['"]/gm),
  ].map((m) => m[1]);
  return specifiers.map((specifier) => relative(ROOT, resolve(ROOT, dirname(file), specifier)));
}

describe('the layout', () => {
  it.each(['shared/exchange', 'shared/signing', 'shared/keys', 'shared/platform'])(
    'nothing under %s imports shared/admin',
    (folder) => {
      const offenders = sources(folder).flatMap((file) =>
        importsOf(file)
          .filter((target) => target.startsWith('shared/admin'))
          .map((target) => `${file} → ${target}`),
      );
      expect(offenders).toEqual([]);
    },
  );

  it.each([
    ['exchangeIntegration', 'shared/exchange/wiring'],
    ['exchangeAutojoin', 'shared/exchange/wiring'],
    ['jwks', 'shared/signing/jwksFunction'],
  ])('functions/%s imports only %s', (name, wiring) => {
    expect(importsOf(`functions/${name}/index.ts`)).toEqual([wiring]);
  });

  it('the signing side never imports the exchange (the jwks bundle stays free of it)', () => {
    const offenders = sources('shared/signing').flatMap((file) =>
      importsOf(file)
        .filter((target) => target.startsWith('shared/exchange') && !target.endsWith('exchange/claims'))
        .map((target) => `${file} → ${target}`),
    );
    expect(offenders).toEqual([]);
  });
});
