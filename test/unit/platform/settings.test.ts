/**
 * SETTINGS is the one declaration of every environment variable (config.test.ts: loadConfig
 * reads each of them); the README's Configuration table lists exactly them, with the same
 * defaults and meanings.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SETTINGS, type Setting } from '../../../shared/platform/config';

const README = readFileSync(join(__dirname, '..', '..', '..', 'README.md'), 'utf8');
const ALL: readonly Setting<unknown>[] = Object.values(SETTINGS);

/** The rows of the table under `## Configuration`: variable → its default and meaning cells. */
function readmeConfigurationTable(): Map<string, { shown: string; meaning: string }> {
  const section = README.split(/^## Configuration$/m)[1]?.split(/^## /m)[0] ?? '';
  const rows = new Map<string, { shown: string; meaning: string }>();
  for (const line of section.split('\n')) {
    const cells = /^\| `([A-Z0-9_]+)` \| ([^|]+) \| (.*) \|$/.exec(line);
    if (cells) rows.set(cells[1], { shown: cells[2].trim(), meaning: cells[3].trim() });
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
      expect([setting.name, readme.get(setting.name)?.shown]).toEqual([setting.name, shownDefault(setting)]);
    }
  });

  it('says what each variable means in the words of the README Configuration table', () => {
    const readme = readmeConfigurationTable();
    for (const setting of ALL) {
      expect([setting.name, readme.get(setting.name)?.meaning]).toEqual([setting.name, setting.meaning]);
    }
  });

  it('has defaults that pass their own checks', () => {
    for (const setting of ALL) if (setting.fallback !== undefined) setting.parse(setting.fallback, setting.name);
  });
});
