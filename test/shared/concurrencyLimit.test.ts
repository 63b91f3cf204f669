import { ConcurrencyLimit } from '../../shared/concurrencyLimit';

describe('ConcurrencyLimit', () => {
  it('runs at most `concurrency` tasks at once, queues the rest, refuses past the queue', async () => {
    const limit = new ConcurrencyLimit(2, 1);
    let running = 0;
    let peak = 0;
    const releases: Array<() => void> = [];
    const task = (): Promise<string> =>
      new Promise((resolve) => {
        running += 1;
        peak = Math.max(peak, running);
        releases.push(() => {
          running -= 1;
          resolve('done');
        });
      });
    const a = limit.run(task);
    const b = limit.run(task);
    const c = limit.run(task);
    const refused = await limit.run(task);
    expect(refused).toBeUndefined();
    expect(limit.inFlight).toBe(2);
    expect(limit.queued).toBe(1);
    releases.shift()?.();
    await a;
    await new Promise((resolve) => setImmediate(resolve));
    expect(running).toBe(2);
    releases.splice(0).forEach((release) => release());
    await b;
    await new Promise((resolve) => setImmediate(resolve));
    releases.splice(0).forEach((release) => release());
    await expect(c).resolves.toBe('done');
    expect(peak).toBe(2);
    expect(limit.inFlight).toBe(0);
  });

  it('frees the slot when a task fails', async () => {
    const limit = new ConcurrencyLimit(1, 0);
    await expect(limit.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(limit.run(() => Promise.resolve(7))).resolves.toBe(7);
  });
});
