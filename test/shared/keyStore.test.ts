/**
 * The lookup reader's own logic, with a stand-in API client: decoding the value kinds the
 * exchange reads, and telling found, missing and unavailable apart. (The integration tests
 * run it against the emulator.)
 */
import { Datastore } from '@google-cloud/datastore';
import { lookupReader, type EntityReader } from '../../shared/keyStore';

const datastore = new Datastore({ projectId: 'token-exchange-test' });
const key = datastore.key({ namespace: 'ns', path: ['IntegrationMeta', 'int', 'IntegrationAPIKey', 'ki_0123456789abcdef'] });

type Answer = () => Promise<unknown>;

function reader(answer: Answer, timeoutMs = 1000): { reader: EntityReader; requests: unknown[] } {
  const requests: unknown[] = [];
  const client = {
    getProjectId: async () => 'detected-project',
    lookup: async (request: unknown) => {
      requests.push(request);
      return [await answer()];
    },
  };
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
  ] as Array<[string, Answer, unknown]>)('reads %s as %j', async (_, answer, expected) => {
    expect(await reader(answer).reader.get(key)).toEqual(expected);
  });

  it('gives up at its deadline', async () => {
    const { reader: r } = reader(() => new Promise(() => undefined), 50);
    expect(await r.get(key)).toEqual({ status: 'unavailable', cause: 'no answer within 50 ms' });
  });
});
