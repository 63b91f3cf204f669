/** The CLI's one rule for exit codes, and the one line it prints for an expected error. */
import { AdminError } from '../../../shared/admin/adminError';
import { ConfigError } from '../../../shared/platform/config';
import { SigningKeyError } from '../../../shared/signing/signingKey';
import { UsageError } from '../../../scripts/cli/args';
import { describeError, exitCodeFor } from '../../../scripts/cli/main';
import { runCli } from '../../support/cli';
import { formatApiKey } from '../../../shared/keys/grammar';

describe('exitCodeFor', () => {
  it.each<[string, unknown, number]>([
    ['a command line that cannot be read', new UsageError('unknown option'), 2],
    ['a malformed id or value', new AdminError('integration id "bad/id" is not valid', 'invalid-argument'), 2],
    ['a missing owner', new AdminError('integration x does not exist', 'not-found'), 1],
    ['an owner that exists', new AdminError('integration x already exists', 'already-exists'), 1],
    ['a refused operation', new AdminError('key ki_1 is revoked', 'failed-precondition'), 1],
    ['a bad setting', new ConfigError('PROJECT_ID is not a valid project id'), 1],
    ['an unusable signing key', new SigningKeyError('the signing key is a public key'), 1],
    ['an outage', Object.assign(new Error('14 UNAVAILABLE: no connection'), { code: 14 }), 1],
    ['something thrown that is no Error', 'oops', 1],
  ])('ExitCodeFor_%s_Is%i', (_, error, code) => {
    expect(exitCodeFor(error)).toBe(code);
  });
});

describe('describeError', () => {
  it('DescribeError_AnExpectedError_IsItsMessage', () => {
    expect(describeError(new ConfigError('PLATFORM_NS is not a valid Datastore namespace: "__x__"'))).toBe(
      'PLATFORM_NS is not a valid Datastore namespace: "__x__"',
    );
  });

  it('DescribeError_AGrpcErrorOfNoKnownService_IsItsFirstLineWithoutTheRawStatus', () => {
    expect(describeError(new Error('14 UNAVAILABLE: no connection\n  at stack'))).toBe(
      'a Google API call failed (unavailable): no connection',
    );
  });

  it('DescribeError_AnErrorOfOurOwn_IsItsFirstLine', () => {
    expect(describeError(new TypeError('x is not a function\n  at stack'))).toBe('x is not a function');
  });
});

describe('an API key typed where an id belongs', () => {
  const secret = 'c2VjcmV0LXRoYXQtbXVzdC1ub3QtYmUtZWNob2Vk';
  const apiKey = formatApiKey({ kind: 'integration', ownerId: 'speedtest', keyId: 'ki_0123456789abcdef', secret });

  it.each([
    ['as the key id', ['key', 'show', apiKey, '--integration', 'speedtest']],
    ['as the owner', ['key', 'list', '--integration', apiKey]],
    ['in a description', ['key', 'create', '--integration', 'speedtest', '--description', apiKey]],
  ])('is refused %s (exit 2) without being quoted back', async (_, argv) => {
    const { code, stdout, stderr } = await runCli(argv, { inheritEnv: false });
    expect(code).toBe(2);
    expect(stderr).toMatch(/that is an API key, not an id/);
    expect(stdout + stderr).not.toContain(secret);
  });
});
