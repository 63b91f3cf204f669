import { FairLimit } from '../../../shared/exchange/fairLimit';

/** A task that runs until released, recording the order tasks started in. */
function tasks(): { task: (name: string) => () => Promise<string>; started: string[]; releaseNext: () => void } {
  const started: string[] = [];
  const releases: Array<() => void> = [];
  return {
    started,
    task: (name) => () =>
      new Promise((resolve) => {
        started.push(name);
        releases.push(() => resolve(name));
      }),
    releaseNext: () => (releases.shift() as () => void)(),
  };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('FairLimit', () => {
  it(
    'runs at most `concurrency` at once and gives freed slots ' +
      'to the addresses in turn, not first come first served',
    async () => {
      const limit = new FairLimit(1, 100, 100);
      const t = tasks();
      const runs = [limit.run('flood', t.task('f0'))];
      for (let i = 1; i <= 5; i++) runs.push(limit.run('flood', t.task(`f${i}`)));
      runs.push(limit.run('owner', t.task('owner')));
      await tick();
      expect(t.started).toEqual(['f0']);
      expect(limit.queued).toBe(6);
      t.releaseNext();
      await tick();
      // The flood was first in line with five more, but the owner's compare is next.
      expect(t.started).toEqual(['f0', 'f1']);
      t.releaseNext();
      await tick();
      expect(t.started).toEqual(['f0', 'f1', 'owner']);
      for (let i = 0; i < 5; i++) {
        t.releaseNext();
        await tick();
      }
      await Promise.all(runs);
      expect(t.started).toEqual(['f0', 'f1', 'owner', 'f2', 'f3', 'f4', 'f5']);
      expect(limit.inFlight).toBe(0);
    },
  );

  it('refuses past the per-address line, while other addresses still get in line', async () => {
    const limit = new FairLimit(1, 100, 2);
    const t = tasks();
    const running = limit.run('a', t.task('a0'));
    const queued = [limit.run('a', t.task('a1')), limit.run('a', t.task('a2'))];
    expect(await limit.run('a', t.task('a3'))).toBeUndefined();
    const other = limit.run('b', t.task('b1'));
    expect(limit.queued).toBe(3);
    for (let i = 0; i < 4; i++) {
      await tick();
      t.releaseNext();
    }
    expect(await Promise.all([running, ...queued, other])).toEqual(['a0', 'a1', 'a2', 'b1']);
    expect(t.started).toEqual(['a0', 'a1', 'b1', 'a2']);
  });

  it('refuses past the whole queue', async () => {
    const limit = new FairLimit(1, 2, 10);
    const t = tasks();
    const runs = [limit.run('a', t.task('a')), limit.run('b', t.task('b')), limit.run('c', t.task('c'))];
    expect(await limit.run('d', t.task('d'))).toBeUndefined();
    for (let i = 0; i < 3; i++) {
      await tick();
      t.releaseNext();
    }
    expect(await Promise.all(runs)).toEqual(['a', 'b', 'c']);
  });
});
