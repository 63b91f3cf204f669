/**
 * The lookup batcher with a stand-in `lookup`: what goes out in one call, and which answer
 * reaches which asker. (The integration tests run it against the emulator, through the
 * exchange, with many keys at once: exchange.concurrency.test.ts.)
 */
import type { DatastoreKey, LookupResponse, RestResult } from '../../../shared/exchange/datastoreRest';
import { lookupBatcher, type KeyAnswer } from '../../../shared/exchange/lookupBatch';

const partitionId = { projectId: 'p', namespaceId: 'ns' };
const keyOf = (name: string): DatastoreKey => ({
  namespace: 'ns',
  path: ['IntegrationMeta', 'int', 'IntegrationAPIKey', name],
});
const restKeyOf = (name: string) => ({
  partitionId,
  path: [
    { kind: 'IntegrationMeta', name: 'int' },
    { kind: 'IntegrationAPIKey', name },
  ],
});
const nameOf = (key: DatastoreKey): string => String(key.path[3]);

/** A stand-in Datastore: `stored` names are found (properties: their name), the rest missing. */
function datastore(
  stored: readonly string[],
  answer?: (keys: readonly DatastoreKey[]) => RestResult<LookupResponse> | undefined,
) {
  const calls: string[][] = [];
  const lookup = (keys: readonly DatastoreKey[]): Promise<RestResult<LookupResponse>> => {
    calls.push(keys.map(nameOf));
    const special = answer?.(keys);
    if (special) return Promise.resolve(special);
    // Datastore's answers come in an order of its own: reversed here.
    const names = keys.map(nameOf).reverse();
    return Promise.resolve({
      ok: true,
      body: {
        found: names
          .filter((n) => stored.includes(n))
          .map((n) => ({ entity: { key: restKeyOf(n), properties: { name: { stringValue: n } } } })),
        missing: names.filter((n) => !stored.includes(n)).map((n) => ({ entity: { key: restKeyOf(n) } })),
      },
    });
  };
  return { lookup, calls };
}

const found = (name: string): KeyAnswer => ({
  status: 'found',
  entity: { key: restKeyOf(name), properties: { name: { stringValue: name } } },
});

describe('lookupBatcher', () => {
  it('sends the keys asked for in one turn as one call, and gives each asker its own answer', async () => {
    const { lookup, calls } = datastore(['a', 'c']);
    const get = lookupBatcher(lookup);
    const answers = await Promise.all(['a', 'b', 'c', 'd'].map((n) => get(keyOf(n))));
    expect(calls).toEqual([['a', 'b', 'c', 'd']]);
    expect(answers).toEqual([found('a'), { status: 'missing' }, found('c'), { status: 'missing' }]);
  });

  it('asks once for a key that several askers want in the same turn', async () => {
    const { lookup, calls } = datastore(['a']);
    const get = lookupBatcher(lookup);
    const answers = await Promise.all([get(keyOf('a')), get(keyOf('b')), get(keyOf('a')), get(keyOf('a'))]);
    expect(calls).toEqual([['a', 'b']]);
    expect(answers).toEqual([found('a'), { status: 'missing' }, found('a'), found('a')]);
  });

  it('sends a key asked for after the call left in a call of its own: no answer predates its question', async () => {
    const { lookup, calls } = datastore(['a']);
    const get = lookupBatcher(lookup);
    const first = get(keyOf('a'));
    await new Promise((resolve) => setImmediate(resolve));
    const second = get(keyOf('a'));
    expect(await Promise.all([first, second])).toEqual([found('a'), found('a')]);
    expect(calls).toEqual([['a'], ['a']]);
  });

  it('splits a turn with more keys than a call takes into calls of at most that many', async () => {
    const { lookup, calls } = datastore([]);
    const get = lookupBatcher(lookup, 3);
    await Promise.all(['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((n) => get(keyOf(n))));
    expect(calls).toEqual([['a', 'b', 'c'], ['d', 'e', 'f'], ['g']]);
  });

  it('fails every member of a failed call with its status', async () => {
    const outage = { ok: false, status: 'UNAVAILABLE', message: 'no answer within 2000 ms', reasons: [] } as const;
    const { lookup } = datastore(['a'], () => outage);
    const get = lookupBatcher(lookup);
    const answers = await Promise.all(['a', 'b'].map((n) => get(keyOf(n))));
    expect(answers).toEqual([
      { status: 'failed', result: outage },
      { status: 'failed', result: outage },
    ]);
  });

  it('reads a lookup that throws as an outage for each member', async () => {
    const get = lookupBatcher(() => Promise.reject(new Error('socket hang up')));
    expect(await Promise.all([get(keyOf('a')), get(keyOf('b'))])).toEqual([
      { status: 'failed', result: { ok: false, status: 'UNAVAILABLE', message: 'socket hang up', reasons: [] } },
      { status: 'failed', result: { ok: false, status: 'UNAVAILABLE', message: 'socket hang up', reasons: [] } },
    ]);
  });

  it('asks again key by key when Datastore refuses a call, so that only the refused key is refused', async () => {
    const refusal = { ok: false, status: 'INVALID_ARGUMENT', message: 'HTTP 400', reasons: [] } as const;
    const { lookup, calls } = datastore(['a', 'c'], (keys) =>
      keys.some((k) => nameOf(k) === 'bad') ? refusal : undefined,
    );
    const get = lookupBatcher(lookup);
    const answers = await Promise.all(['a', 'bad', 'c'].map((n) => get(keyOf(n))));
    expect(answers).toEqual([found('a'), { status: 'failed', result: refusal }, found('c')]);
    expect(calls).toEqual([['a', 'bad', 'c'], ['a'], ['bad'], ['c']]);
  });

  it('does not ask again for a lone refused key', async () => {
    const refusal = { ok: false, status: 'INVALID_ARGUMENT', message: 'HTTP 400', reasons: [] } as const;
    const { lookup, calls } = datastore([], () => refusal);
    expect(await lookupBatcher(lookup)(keyOf('bad'))).toEqual({ status: 'failed', result: refusal });
    expect(calls).toEqual([['bad']]);
  });

  it('tells a deferred key, and a key the answer does not name, from the keys it answered', async () => {
    const { lookup } = datastore([], () => ({
      ok: true,
      body: {
        found: [{ entity: { key: restKeyOf('a'), properties: { name: { stringValue: 'a' } } } }],
        deferred: [restKeyOf('b')],
        // The same path in another namespace is another key: it answers nothing asked.
        missing: [{ entity: { key: { ...restKeyOf('c'), partitionId: { projectId: 'p', namespaceId: 'other' } } } }],
      },
    }));
    const get = lookupBatcher(lookup);
    expect(await Promise.all(['a', 'b', 'c'].map((n) => get(keyOf(n))))).toEqual([
      found('a'),
      { status: 'deferred' },
      { status: 'unanswered' },
    ]);
  });

  it('takes the one answer to a call of one key as that key’s, however the answer spells the key', async () => {
    const get = lookupBatcher(() =>
      Promise.resolve({ ok: true, body: { found: [{ entity: { properties: { name: { stringValue: 'a' } } } }] } }),
    );
    expect(await get(keyOf('a'))).toEqual({ status: 'found', entity: { properties: { name: { stringValue: 'a' } } } });
  });

  it('matches keys whose answer leaves out the empty namespace or the whole partition, without a throw', async () => {
    const unpartitioned = (name: string) => ({ path: [{ kind: 'K', name }] });
    const get = lookupBatcher(() =>
      Promise.resolve({
        ok: true,
        body: {
          found: [{ entity: { key: unpartitioned('a') } }],
          missing: [{ entity: { key: { partitionId: { projectId: 'p' }, path: [{ kind: 'K', name: 'b' }] } } }],
        },
      }),
    );
    const answers = await Promise.all(['a', 'b', 'c'].map((name) => get({ path: ['K', name] })));
    expect(answers.map((a) => a.status)).toEqual(['found', 'missing', 'unanswered']);
  });

  it('answers every asker when the lookup throws, rather than leaving a rejection floating', async () => {
    const get = lookupBatcher(() => {
      throw new Error('boom');
    });
    const answers = await Promise.all(['a', 'b'].map((n) => get(keyOf(n))));
    expect(answers.map((a) => a.status)).toEqual(['failed', 'failed']);
  });
});
