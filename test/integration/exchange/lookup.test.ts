/**
 * The lookup reader's own logic, with a stand-in API client: decoding the value kinds the
 * exchange reads, telling found, missing, unavailable and refused apart, matching several
 * keys to their answers, the fallback's query and insert. (The integration tests run it
 * against the emulator.)
 */
import { Datastore } from '@google-cloud/datastore';
import { lookupReader, type EntityReader, type FlatKeyStore } from '../../../shared/exchange/lookup';

const datastore = new Datastore({ projectId: 'token-exchange-test' });
const key = datastore.key({ namespace: 'ns', path: ['IntegrationMeta', 'int', 'IntegrationAPIKey', 'ki_0123456789abcdef'] });
const keyPath = [
  { kind: 'IntegrationMeta', name: 'int' },
  { kind: 'IntegrationAPIKey', name: 'ki_0123456789abcdef' },
];
const other = datastore.key({ namespace: 'ns', path: ['LegacyAPIKey', 'abc'] });

type Answer = (request: unknown) => Promise<unknown>;

function reader(answer: Answer, timeoutMs = 1000): { reader: EntityReader & FlatKeyStore; requests: unknown[] } {
  const requests: unknown[] = [];
  const call = async (request: unknown): Promise<unknown[]> => {
    requests.push(request);
    return [await answer(request)];
  };
  const client = { getProjectId: async () => 'detected-project', lookup: call, runQuery: call, commit: call };
  return { reader: lookupReader(client as unknown as Parameters<typeof lookupReader>[0], timeoutMs), requests };
}

describe('lookupReader', () => {
  it('asks for exactly the key path, in its namespace and project', async () => {
    const { reader: r, requests } = reader(async () => ({ missing: [{}] }));
    await r.get(key);
    expect(requests).toEqual([
      {
        projectId: 'detected-project',
        keys: [
          {
            partitionId: { projectId: 'detected-project', namespaceId: 'ns' },
            path: [
              { kind: 'IntegrationMeta', name: 'int' },
              { kind: 'IntegrationAPIKey', name: 'ki_0123456789abcdef' },
            ],
          },
        ],
      },
    ]);
  });

  it('decodes strings, integers, doubles, booleans, timestamps and nulls; ignores other kinds', async () => {
    const { reader: r } = reader(async () => ({
      found: [
        {
          entity: {
            key: { path: keyPath },
            properties: {
              key_hash: { valueType: 'stringValue', stringValue: '$2b$10$abc' },
              tier: { valueType: 'integerValue', integerValue: '3' },
              probability_multiplier: { valueType: 'doubleValue', doubleValue: 1.5 },
              flag: { valueType: 'booleanValue', booleanValue: true },
              expires_at: { valueType: 'timestampValue', timestampValue: { seconds: '1800000000', nanos: 250_000_000 } },
              revoked_at: { valueType: 'nullValue', nullValue: 'NULL_VALUE' },
              blob: { valueType: 'blobValue', blobValue: Buffer.from('x') },
            },
          },
        },
      ],
    }));
    expect(await r.get(key)).toEqual({
      status: 'found',
      entity: {
        key_hash: '$2b$10$abc',
        tier: 3,
        probability_multiplier: 1.5,
        flag: true,
        expires_at: new Date(1_800_000_000_250),
        revoked_at: null,
        blob: undefined,
      },
    });
  });

  it.each([
    ['a missing key', async () => ({ missing: [{ entity: {} }] }), { status: 'missing' }],
    ['a deferred key', async () => ({ deferred: [{}] }), { status: 'unavailable', cause: 'lookup deferred' }],
    ['an error', async () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 14 })), { status: 'unavailable', cause: '14: connect ECONNREFUSED' }],
    ['INVALID_ARGUMENT', async () => Promise.reject(Object.assign(new Error('name too long'), { code: 3 })), { status: 'refused', cause: '3: name too long' }],
  ] as Array<[string, Answer, unknown]>)('reads %s as %j', async (_, answer, expected) => {
    expect(await reader(answer).reader.get(key)).toEqual(expected);
  });

  it('reads several keys in one RPC and answers them in the order asked, whatever order Datastore uses', async () => {
    const { reader: r, requests } = reader(async () => ({
      found: [{ entity: { key: { path: keyPath }, properties: { status: { valueType: 'stringValue', stringValue: 'active' } } } }],
      missing: [{ entity: { key: { path: [{ kind: 'LegacyAPIKey', name: 'abc' }] } } }],
    }));
    expect(await r.getMany([other, key])).toEqual({ status: 'read', entities: [undefined, { status: 'active' }] });
    expect(requests).toHaveLength(1);
  });

  it('reads an answer that leaves a key unanswered as unavailable', async () => {
    const { reader: r } = reader(async () => ({ found: [{ entity: { key: { path: [{ kind: 'X', name: 'y' }] }, properties: {} } }], missing: [{}] }));
    expect(await r.getMany([other, key])).toEqual({ status: 'unavailable', cause: 'lookup answered only part of the keys' });
    const { reader: refusing } = reader(async () => Promise.reject(Object.assign(new Error('empty name'), { code: 3 })));
    expect(await refusing.getMany([other, key])).toEqual({ status: 'refused', cause: '3: empty name' });
  });

  it("runs the Go service's query for a flat key and reads the organisation from the parent", async () => {
    const { reader: r, requests } = reader(async () => ({
      batch: {
        entityResults: [
          {
            entity: {
              key: { path: [{ kind: 'Organization', name: 'mlab' }, { kind: 'APIKey', name: 'flat' }] },
              properties: { created_at: { valueType: 'timestampValue', timestampValue: { seconds: '1700000000', nanos: 0 } } },
            },
          },
        ],
      },
    }));
    expect(await r.findFlatKey('pc', 'flat')).toEqual({ status: 'found', org: 'mlab', createdAt: new Date(1_700_000_000_000) });
    expect(requests).toEqual([
      {
        projectId: 'detected-project',
        partitionId: { projectId: 'detected-project', namespaceId: 'pc' },
        query: {
          kind: [{ name: 'APIKey' }],
          filter: { propertyFilter: { property: { name: 'key' }, op: 'EQUAL', value: { stringValue: 'flat' } } },
          limit: { value: 1 },
        },
      },
    ]);
    expect(await reader(async () => ({ batch: { entityResults: [] } })).reader.findFlatKey('pc', 'flat')).toEqual({ status: 'missing' });
  });

  it('inserts without overwriting: an existing entity is "exists", not an error', async () => {
    const { reader: r, requests } = reader(async () => ({}));
    expect(await r.insertIfAbsent(other, { org: 'mlab', twin: true, at: new Date(1500) })).toEqual({ status: 'inserted' });
    expect(requests[0]).toMatchObject({
      mode: 'NON_TRANSACTIONAL',
      mutations: [
        {
          insert: {
            key: { path: [{ kind: 'LegacyAPIKey', name: 'abc' }] },
            properties: { org: { stringValue: 'mlab' }, twin: { booleanValue: true }, at: { timestampValue: { seconds: 1, nanos: 500_000_000 } } },
          },
        },
      ],
    });
    const exists = reader(async () => Promise.reject(Object.assign(new Error('entity already exists'), { code: 6 })));
    expect(await exists.reader.insertIfAbsent(other, { org: 'mlab' })).toEqual({ status: 'exists' });
  });

  it('gives up at its deadline', async () => {
    const { reader: r } = reader(() => new Promise(() => undefined), 50);
    expect(await r.get(key)).toEqual({ status: 'unavailable', cause: 'no answer within 50 ms' });
  });
});
