/**
 * SETTINGS is the one declaration of every environment variable (config.test.ts: loadConfig
 * reads each of them); the README's Configuration table lists exactly them, with the same defaults.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SETTINGS, type Setting } from '../../../shared/platform/config';

const README = readFileSync(join(__dirname, '..', '..', '..', 'README.md'), 'utf8');
const ALL: readonly Setting<unknown>[] = Object.values(SETTINGS);

/** The rows of the table under `## Configuration`: variable → default cell. */
function readmeConfigurationTable(): Map<string, string> {
  const section = README.split(/^## Configuration$/m)[1]?.split(/^## /m)[0] ?? '';
  const rows = new Map<string, string>();
  for (const line of section.split('\n')) {
    const cells = /^\| `([A-Z0-9_]+)` \| ([^|]+) \|/.exec(line);
    if (cells) rows.set(cells[1], cells[2].trim());
  }
  return rows;
}

/** How the README shows a setting's default: the fallback in backticks, else what unset means. */
function shownDefault(setting: Setting<unknown>): string {
  return setting.fallback !== undefined ? `\`${setting.fallback}\`` : (setting.unsetMeans ?? '—');
}

describe('SETTINGS', () => {
  it('declares each variable once', () => {
    expect(new Set(ALL.map((setting) => setting.name)).size).toBe(ALL.length);
  });

  it('agrees with the README Configuration table, both ways, on names and defaults', () => {
    const readme = readmeConfigurationTable();
    expect([...readme.keys()]).toEqual(ALL.map((setting) => setting.name));
    for (const setting of ALL) {
      expect([setting.name, readme.get(setting.name)]).toEqual([setting.name, shownDefault(setting)]);
    }
  });

  it('has defaults that pass their own checks', () => {
    for (const setting of ALL) if (setting.fallback !== undefined) setting.parse(setting.fallback, setting.name);
  });
});
