import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FUNCTIONS, FUNCTION_NAMES } from '../../../shared/platform/functions';

const ROOT = join(__dirname, '..', '..', '..');

describe('FUNCTION_NAMES', () => {
  it('names exactly the folders under functions/', () => {
    expect(readdirSync(join(ROOT, 'functions')).sort()).toEqual([...FUNCTION_NAMES].sort());
  });

  it.each(FUNCTION_NAMES)('%s: its index.ts registers that name with functions-framework', (name) => {
    expect(readFileSync(join(ROOT, 'functions', name, 'index.ts'), 'utf8')).toContain(`http('${name}', `);
  });

  it('gives each function its own Go service path', () => {
    const paths = FUNCTION_NAMES.map((name) => FUNCTIONS[name].goServicePath);
    expect(new Set(paths).size).toBe(FUNCTION_NAMES.length);
    expect(FUNCTIONS.exchangeIntegration).toEqual({ kind: 'integration', goServicePath: '/v0/token/integration' });
  });
});
