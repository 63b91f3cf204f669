/**
 * The lookup reader's own logic, with a stand-in REST transport: decoding the value kinds the
 * exchange reads, telling found, missing, unavailable and refused apart, matching several
 * keys to their answers, the fallback's query and insert. (The integration tests run it
 * against the emulator over the real REST transport.)
 */
import type { DatastoreKey, DatastoreRest, RestResult } from '../../../shared/exchange/datastoreRest';
import { lookupReader } from '../../../shared/exchange/lookup';

const key: DatastoreKey = {
  namespace: 'ns',
  path: ['IntegrationMeta', 'int', 'IntegrationAPIKey', 'ki_0123456789abcdef'],
};
const keyPath = [
  { kind: 'IntegrationMeta', name: 'int' },
  { kind: 'IntegrationAPIKey', name: 'ki_0123456789abcdef' },
];
const other: DatastoreKey = { namespace: 'ns', path: ['LegacyAPIKey', 'abc'] };
const partition = { projectId: 'p', namespaceId: 'ns' };

type Answer = () => Promise<RestResult<unknown>>;

function reader(answer: Answer) {
  const requests: Array<[string, ...unknown[]]> = [];
  const rest = {
    lookup: (keys: readonly DatastoreKey[]) => (requests.push(['lookup', keys]), answer()),
    runQuery: (namespace: string, query: unknown) => (requests.push(['runQuery', namespace, query]), answer()),
    insert: (k: DatastoreKey, properties: unknown) => (requests.push(['insert', k, properties]), answer()),
  } as DatastoreRest;
  return { reader: lookupReader(rest), requests };
}

const ok =
  (body: unknown): Answer =>
  () =>
    Promise.resolve({ ok: true, body });
const failed =
  (status: string, message: string): Answer =>
  () =>
    Promise.resolve({ ok: false, status, message, reasons: [] });

describe('lookupReader', () => {
  it('asks for exactly the key, once', async () => {
    const { reader: r, requests } = reader(ok({ missing: [{ entity: {} }] }));
    await r.get(key);
    expect(requests).toEqual([['lookup', [key]]]);
  });

  it('decodes strings, integers, doubles, booleans, timestamps and nulls; ignores other kinds', async () => {
    const { reader: r } = reader(
      ok({
        found: [
          {
            entity: {
              key: { partitionId: partition, path: keyPath },
              properties: {
                key_hash: { stringValue: '$2b$10$abc' },
                tier: { integerValue: '3' },
                probability_multiplier: { doubleValue: 1.5 },
                flag: { booleanValue: true },
                expires_at: { timestampValue: '2027-01-15T08:00:00.250Z' },
                revoked_at: { nullValue: null },
                blob: { blobValue: 'eA==' },
              },
            },
          },
        ],
      }),
    );
    expect(await r.get(key)).toEqual({
      status: 'found',
      entity: {
        key_hash: '$2b$10$abc',
        tier: 3,
        probability_multiplier: 1.5,
        flag: true,
        expires_at: new Date('2027-01-15T08:00:00.250Z'),
        revoked_at: null,
        blob: undefined,
      },
    });
  });

  it.each([
    ['a missing key', ok({ missing: [{ entity: {} }] }), { status: 'missing' }],
    ['a deferred key', ok({ deferred: [{}] }), { status: 'unavailable', cause: 'lookup deferred' }],
    [
      'no answer',
      failed('UNAVAILABLE', 'connect ECONNREFUSED'),
      { status: 'unavailable', cause: 'UNAVAILABLE: connect ECONNREFUSED' },
    ],
    [
      'a refused credential',
      failed('PERMISSION_DENIED', 'no'),
      { status: 'unavailable', cause: 'PERMISSION_DENIED: no' },
    ],
    [
      'INVALID_ARGUMENT',
      failed('INVALID_ARGUMENT', 'name too long'),
      { status: 'refused', cause: 'INVALID_ARGUMENT: name too long' },
    ],
  ] as Array<[string, Answer, unknown]>)('reads %s as %j', async (_, answer, expected) => {
    expect(await reader(answer).reader.get(key)).toEqual(expected);
  });

  it('reads several keys in one call and answers them in the order asked, whatever order Datastore uses', async () => {
    const { reader: r, requests } = reader(
      ok({
        found: [
          {
            entity: {
              key: { partitionId: partition, path: keyPath },
              properties: { status: { stringValue: 'active' } },
            },
          },
        ],
        missing: [{ entity: { key: { partitionId: partition, path: [{ kind: 'LegacyAPIKey', name: 'abc' }] } } }],
      }),
    );
    expect(await r.getMany([other, key])).toEqual({ status: 'read', entities: [undefined, { status: 'active' }] });
    expect(requests).toHaveLength(1);
  });

  it('tells keys of the same path in different namespaces apart', async () => {
    const { reader: r } = reader(
      ok({
        found: [
          {
            entity: {
              key: { partitionId: { projectId: 'p', namespaceId: 'elsewhere' }, path: keyPath },
              properties: {},
            },
          },
        ],
        missing: [{}],
      }),
    );
    expect(await r.getMany([key, other])).toEqual({
      status: 'unavailable',
      cause: 'lookup answered only part of the keys',
    });
  });

  it('reads an answer that leaves a key unanswered as unavailable, and a refusal as refused', async () => {
    const { reader: r } = reader(
      ok({
        found: [{ entity: { key: { partitionId: partition, path: [{ kind: 'X', name: 'y' }] }, properties: {} } }],
        missing: [{}],
      }),
    );
    expect(await r.getMany([other, key])).toEqual({
      status: 'unavailable',
      cause: 'lookup answered only part of the keys',
    });
    const { reader: refusing } = reader(failed('INVALID_ARGUMENT', 'empty name'));
    expect(await refusing.getMany([other, key])).toEqual({ status: 'refused', cause: 'INVALID_ARGUMENT: empty name' });
  });

  it("runs the Go service's query for a flat key and reads the organisation from the parent", async () => {
    const { reader: r, requests } = reader(
      ok({
        batch: {
          entityResults: [
            {
              entity: {
                key: {
                  partitionId: { projectId: 'p', namespaceId: 'pc' },
                  path: [
                    { kind: 'Organization', name: 'mlab' },
                    { kind: 'APIKey', name: 'flat' },
                  ],
                },
                properties: { created_at: { timestampValue: '2023-11-14T22:13:20Z' } },
              },
            },
          ],
        },
      }),
    );
    expect(await r.findFlatKey('pc', 'flat')).toEqual({
      status: 'found',
      org: 'mlab',
      createdAt: new Date(1_700_000_000_000),
    });
    expect(requests).toEqual([
      [
        'runQuery',
        'pc',
        {
          kind: [{ name: 'APIKey' }],
          filter: { propertyFilter: { property: { name: 'key' }, op: 'EQUAL', value: { stringValue: 'flat' } } },
          limit: 1,
        },
      ],
    ]);
    expect(await reader(ok({ batch: { entityResults: [] } })).reader.findFlatKey('pc', 'flat')).toEqual({
      status: 'missing',
    });
  });

  it('inserts without overwriting: an existing entity is "exists", not an error', async () => {
    const { reader: r, requests } = reader(ok({}));
    expect(await r.insertIfAbsent(other, { org: 'mlab', twin: true, at: new Date(1500) })).toEqual({
      status: 'inserted',
    });
    expect(requests[0]).toEqual([
      'insert',
      other,
      {
        org: { stringValue: 'mlab' },
        twin: { booleanValue: true },
        at: { timestampValue: '1970-01-01T00:00:01.500Z' },
      },
    ]);
    const exists = reader(failed('ALREADY_EXISTS', 'entity already exists'));
    expect(await exists.reader.insertIfAbsent(other, { org: 'mlab' })).toEqual({ status: 'exists' });
    const down = reader(failed('UNAVAILABLE', 'no answer within 300 ms'));
    expect(await down.reader.insertIfAbsent(other, { org: 'mlab' })).toEqual({
      status: 'unavailable',
      cause: 'UNAVAILABLE: no answer within 300 ms',
    });
  });
});
