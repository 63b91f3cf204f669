/**
 * A command line token-admin cannot read says what was meant: the nearest option or command
 * to a typo, two dashes for a Go-style option, and which option a key id needs. All before
 * any I/O (the environment names no emulator, and none would answer).
 */
import { closestWord, editDistance } from '../../../scripts/cli/args';
import { runCli, type CliResult } from '../../support/cli';

const cli = (...argv: string[]): Promise<CliResult> => runCli(argv, { inheritEnv: false });

describe('editDistance', () => {
  it.each([
    ['integration', 'integration', 0],
    ['integraton', 'integration', 1], // a letter left out
    ['integartion', 'integration', 1], // two letters swapped: one edit
    ['jsno', 'json', 1],
    ['forse', 'force', 1],
    ['org', 'json', 4],
    ['', 'org', 3],
  ])('EditDistance_%s_%s_Is%i', (a, b, distance) => {
    expect(editDistance(a, b)).toBe(distance);
    expect(editDistance(b, a)).toBe(distance);
  });
});

describe('closestWord', () => {
  const options = ['integration', 'org', 'status', 'integration-ns', 'platform-ns', 'json', 'help'];

  it.each([
    ['integraton', 'integration'],
    ['integartion', 'integration'],
    ['JSON', 'json'],
    ['stauts', 'status'],
    ['platform', 'platform-ns'], // the only option it begins
    ['orgs', 'org'],
  ])('ClosestWord_%s_Is%s', (typed, expected) => {
    expect(closestWord(typed, options)).toBe(expected);
  });

  it.each([['zzz'], ['tier'], ['i'], ['']])('ClosestWord_%j_IsNothingRatherThanAGuess', (typed) => {
    expect(closestWord(typed, options)).toBeUndefined();
  });
});

describe('an unknown option', () => {
  it('names the closest option of the command (exit 2), before any I/O', async () => {
    expect(await cli('key', 'list', '--integraton', 'speedtest')).toEqual({
      code: 2,
      stdout: '',
      stderr:
        "token-admin: Unknown option '--integraton' (did you mean --integration?); run token-admin key list --help\n",
    });
  });

  it('names it with a value attached, among the Secret Manager and global options too', async () => {
    expect((await cli('signing-key', 'promote', '--forse')).stderr).toBe(
      "token-admin: Unknown option '--forse' (did you mean --force?); run token-admin signing-key promote --help\n",
    );
    expect((await cli('signing-key', 'list', '--secrte=projects/p/secrets/s')).stderr).toMatch(
      /^token-admin: Unknown option '--secrte' \(did you mean --secret\?\);/,
    );
    expect((await cli('key', 'list', '--org', 'x', '--jsno')).stderr).toMatch(/\(did you mean --json\?\)/);
  });

  it('tells a Go-style single-dash option that options take two dashes', async () => {
    expect(await cli('key', 'list', '-integration', 'speedtest')).toMatchObject({
      code: 2,
      stderr:
        "token-admin: Unknown option '-integration' (options take two dashes: did you mean --integration?); " +
        'run token-admin key list --help\n',
    });
    expect((await cli('key', 'show', 'ki_0123456789abcdef', '-org=demo')).stderr).toMatch(
      /^token-admin: Unknown option '-org' \(options take two dashes: did you mean --org\?\);/,
    );
  });

  it('suggests nothing when nothing is close, and points at the help', async () => {
    expect(await cli('key', 'list', '--zzz')).toMatchObject({
      code: 2,
      stderr: "token-admin: Unknown option '--zzz'; run token-admin key list --help for its options\n",
    });
  });
});

describe('an unknown command', () => {
  it.each([
    [['kye', 'list'], 'token-admin: unknown command "kye" (did you mean key?); run token-admin --help\n'],
    [['key', 'lst'], 'token-admin: unknown command "key lst" (did you mean key list?); run token-admin key --help\n'],
    [
      ['signing-key', 'rotate'],
      'token-admin: unknown command "signing-key rotate"; run token-admin signing-key --help\n',
    ],
  ])('%j names the nearest command, if one is near', async (argv, stderr) => {
    expect(await cli(...argv)).toEqual({ code: 2, stdout: '', stderr });
  });
});

describe('a key id without its owner', () => {
  it.each([['show'], ['revoke'], ['reroll']])('key %s says which option is missing (exit 2)', async (verb) => {
    expect(await cli('key', verb, 'ki_0123456789abcdef')).toEqual({
      code: 2,
      stdout: '',
      stderr: 'token-admin: say whose key: --integration <id> or --org <name>\n',
    });
  });
});
