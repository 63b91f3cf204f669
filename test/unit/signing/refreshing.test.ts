import { Refreshing } from '../../../shared/signing/refreshing';

/** A load whose every call is answered by hand, on a clock set by hand. */
function harness(refreshMs: number, retryMs?: number) {
  let clock = 0;
  const calls: Array<{ resolve: (v: string) => void; reject: (e: Error) => void }> = [];
  const errors: string[] = [];
  const value = new Refreshing<string>(
    () =>
      new Promise<string>((resolve, reject) => {
        calls.push({ resolve, reject });
      }),
    { refreshMs, retryMs, now: () => clock, onRefreshError: (e) => errors.push(e.message) },
  );
  return {
    value,
    calls,
    errors,
    at: (ms: number) => (clock = ms),
  };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

async function primed(refreshMs: number, retryMs?: number) {
  const h = harness(refreshMs, retryMs);
  const first = h.value.get();
  h.calls[0].resolve('v1');
  await expect(first).resolves.toBe('v1');
  return h;
}

describe('Refreshing: a value re-read every refreshMs', () => {
  it('shares one read among concurrent first callers', async () => {
    const h = harness(1000);
    const both = Promise.all([h.value.get(), h.value.get()]);
    expect(h.calls).toHaveLength(1);
    h.calls[0].resolve('v1');
    await expect(both).resolves.toEqual(['v1', 'v1']);
  });

  it('does not remember a failed first read: the next caller reads again', async () => {
    const h = harness(1000);
    const first = h.value.get();
    h.calls[0].reject(new Error('down'));
    await expect(first).rejects.toThrow('down');
    const second = h.value.get();
    expect(h.calls).toHaveLength(2);
    h.calls[1].resolve('v1');
    await expect(second).resolves.toBe('v1');
    // A first read has nothing in hand to keep: it is the caller's failure, not a refresh error.
    expect(h.errors).toEqual([]);
  });

  it('answers from the value in hand, without reading, for the first three quarters of the interval', async () => {
    const h = await primed(1000);
    h.at(749);
    await expect(h.value.get()).resolves.toBe('v1');
    expect(h.calls).toHaveLength(1);
  });

  it('a busy instance never waits: from three quarters on, the re-read runs behind the answer', async () => {
    const h = await primed(1000);
    h.at(750);
    await expect(h.value.get()).resolves.toBe('v1');
    expect(h.calls).toHaveLength(2);
    await expect(h.value.get()).resolves.toBe('v1');
    expect(h.calls).toHaveLength(2);
    h.calls[1].resolve('v2');
    await settle();
    await expect(h.value.get()).resolves.toBe('v2');
  });

  it('an instance idle past the interval waits for the re-read: it never answers with a value that old', async () => {
    const h = await primed(1000);
    h.at(5000);
    const answer = h.value.get();
    expect(h.calls).toHaveLength(2);
    h.calls[1].resolve('v2');
    await expect(answer).resolves.toBe('v2');
  });

  it('times the interval from when the read started, so a slow read is not taken for a newer one', async () => {
    const h = harness(1000);
    const first = h.value.get();
    h.at(900);
    h.calls[0].resolve('v1');
    await first;
    h.at(1000);
    const answer = h.value.get();
    expect(h.calls).toHaveLength(2);
    h.calls[1].resolve('v2');
    await expect(answer).resolves.toBe('v2');
  });

  it('a failed re-read keeps the value in hand, says so, and is tried again after retryMs', async () => {
    const h = await primed(60_000, 5000);
    h.at(70_000);
    const answer = h.value.get();
    h.calls[1].reject(new Error('secret manager down'));
    await expect(answer).resolves.toBe('v1');
    expect(h.errors).toEqual(['secret manager down']);
    h.at(74_999);
    await expect(h.value.get()).resolves.toBe('v1');
    expect(h.calls).toHaveLength(2);
    h.at(75_000);
    const again = h.value.get();
    expect(h.calls).toHaveLength(3);
    h.calls[2].resolve('v2');
    await expect(again).resolves.toBe('v2');
  });

  it('a failed background re-read keeps the value in hand', async () => {
    const h = await primed(1000, 100);
    h.at(800);
    await expect(h.value.get()).resolves.toBe('v1');
    h.calls[1].reject(new Error('blip'));
    await settle();
    expect(h.errors).toEqual(['blip']);
    await expect(h.value.get()).resolves.toBe('v1');
    expect(h.calls).toHaveLength(2);
  });

  it('with refreshMs 0 never reads again', async () => {
    const h = await primed(0);
    h.at(10 ** 12);
    await expect(h.value.get()).resolves.toBe('v1');
    expect(h.calls).toHaveLength(1);
  });
});
