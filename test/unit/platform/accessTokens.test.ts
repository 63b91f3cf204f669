/**
 * What accessTokens.ts adds to google-auth-library, with a fake library client: a bounded
 * wait, a fresh client after a hang, a failure or a refusal, and PROJECT_ID handed over.
 */
import { ApplicationDefaultCredentials } from '../../../shared/platform/accessTokens';

interface FakeAuth {
  readonly options: { scopes: string; projectId?: string };
  getAccessToken: jest.Mock<Promise<string | null | undefined>, []>;
  getProjectId: jest.Mock<Promise<string>, []>;
}

function library(behaviours: Array<() => Promise<string | null | undefined>>) {
  const made: FakeAuth[] = [];
  let issued = 0;
  const make = (options: { scopes: string; projectId?: string }): FakeAuth => {
    const behaviour = behaviours.shift();
    const auth: FakeAuth = {
      options,
      getAccessToken: jest.fn(behaviour ?? (() => Promise.resolve(`token-${(issued += 1)}`))),
      getProjectId: jest.fn(() => Promise.resolve('detected-project')),
    };
    made.push(auth);
    return auth;
  };
  return { made, make };
}

const never = () => new Promise<string>(() => undefined);

describe('ApplicationDefaultCredentials', () => {
  it('hands PROJECT_ID and one cloud-platform scope to the library, and never detects the project', async () => {
    const { made, make } = library([]);
    const credentials = new ApplicationDefaultCredentials('my-project', make);
    await credentials.token(1000);
    expect(await credentials.projectId(1000)).toBe('my-project');
    expect(made).toHaveLength(1);
    expect(made[0].options).toEqual({
      scopes: 'https://www.googleapis.com/auth/cloud-platform',
      projectId: 'my-project',
    });
    expect(made[0].getProjectId).not.toHaveBeenCalled();
  });

  it('keeps one client while its tokens are good', async () => {
    const { made, make } = library([]);
    const credentials = new ApplicationDefaultCredentials('my-project', make);
    await credentials.token(1000);
    await credentials.token(1000);
    expect(made).toHaveLength(1);
  });

  it('bounds the wait for a token, and starts a fresh client after a hang', async () => {
    const { made, make } = library([never]);
    const credentials = new ApplicationDefaultCredentials('my-project', make);
    await expect(credentials.token(50)).rejects.toThrow('the token took over 50 ms');
    expect(await credentials.token(1000)).toBe('token-1');
    expect(made).toHaveLength(2);
  });

  it("starts a fresh client after a failure, without quoting the library's message", async () => {
    const failure = Object.assign(new Error('metadata said: something private'), { code: 'ECONNREFUSED' });
    const { made, make } = library([() => Promise.reject(failure)]);
    const credentials = new ApplicationDefaultCredentials('my-project', make);
    await expect(credentials.token(1000)).rejects.toThrow('credentials failed (ECONNREFUSED)');
    await expect(credentials.token(1000)).resolves.toBe('token-1');
    expect(made).toHaveLength(2);
  });

  it('replaces the client whose token was refused, but not for an older token', async () => {
    const { made, make } = library([]);
    const credentials = new ApplicationDefaultCredentials('my-project', make);
    const first = await credentials.token(1000);
    credentials.refused(first);
    const second = await credentials.token(1000);
    expect(second).not.toBe(first);
    expect(made).toHaveLength(2);
    credentials.refused(first);
    await credentials.token(1000);
    expect(made).toHaveLength(2);
  });

  it('detects the project only without PROJECT_ID, and remembers it', async () => {
    const { made, make } = library([]);
    const credentials = new ApplicationDefaultCredentials(undefined, make);
    expect(await credentials.projectId(1000)).toBe('detected-project');
    expect(await credentials.projectId(1000)).toBe('detected-project');
    expect(made[0].options).toEqual({ scopes: 'https://www.googleapis.com/auth/cloud-platform' });
    expect(made[0].getProjectId).toHaveBeenCalledTimes(1);
  });
});
