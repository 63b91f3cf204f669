/**
 * The last-use recorder with a fake store and clock: where and when it writes, how rarely,
 * and that a failure is logged once, never retried, never waited for.
 */
import type { DatastoreKey } from '../../../shared/exchange/datastoreRest';
import { LastUseRecorder } from '../../../shared/exchange/lastUse';
import type { LastUseStore, Write } from '../../../shared/exchange/lookup';
import type { VerifiedKey } from '../../../shared/exchange/verifier';
import type { LogEntry } from '../../../shared/platform/log';

const keyOf = (keyId: string): VerifiedKey => ({
  kind: 'integration',
  ownerId: 'speedtest',
  keyId,
  tier: 0,
  record: { namespace: 'ci', path: ['IntegrationMeta', 'speedtest', 'IntegrationAPIKey', keyId] },
});

function setUp(answer: () => Promise<Write> = () => Promise.resolve({ status: 'written' })) {
  const writes: Array<{ key: DatastoreKey; at: Date }> = [];
  const store: LastUseStore = {
    recordLastUse: (key, at) => {
      writes.push({ key, at });
      return answer();
    },
  };
  const logs: LogEntry[] = [];
  const clock = { t: Date.parse('2026-12-01T00:00:00Z') };
  const recorder = new LastUseRecorder(
    store,
    600_000,
    (entry) => logs.push(entry),
    () => new Date(clock.t),
  );
  return { recorder, writes, logs, clock };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('LastUseRecorder', () => {
  it("writes the time into the key's own usage record, a child of the record it was verified by", () => {
    const { recorder, writes, clock } = setUp();
    recorder.record(keyOf('ki_0000000000000001'), 'exchangeIntegration');
    expect(writes).toEqual([
      {
        key: {
          namespace: 'ci',
          path: ['IntegrationMeta', 'speedtest', 'IntegrationAPIKey', 'ki_0000000000000001', 'KeyUsage', 'last'],
        },
        at: new Date(clock.t),
      },
    ]);
  });

  it('writes a key at most once per resolution, and each key on its own', () => {
    const { recorder, writes, clock } = setUp();
    recorder.record(keyOf('ki_0000000000000001'), 'f');
    clock.t += 599_999;
    recorder.record(keyOf('ki_0000000000000001'), 'f');
    recorder.record(keyOf('ki_0000000000000002'), 'f');
    expect(writes.map((w) => w.key.path[3])).toEqual(['ki_0000000000000001', 'ki_0000000000000002']);
    clock.t += 1;
    recorder.record(keyOf('ki_0000000000000001'), 'f');
    expect(writes).toHaveLength(3);
  });

  it('returns at once, before the write is answered', () => {
    const { recorder, writes } = setUp(() => new Promise<Write>(() => undefined));
    recorder.record(keyOf('ki_0000000000000001'), 'f');
    expect(writes).toHaveLength(1);
  });

  it('logs a failed write once as a warning with the key id, and does not retry it', async () => {
    const { recorder, writes, logs } = setUp(() => Promise.resolve({ status: 'unavailable', cause: 'UNAVAILABLE: x' }));
    recorder.record(keyOf('ki_0000000000000001'), 'exchangeIntegration');
    recorder.record(keyOf('ki_0000000000000001'), 'exchangeIntegration');
    await settle();
    expect(writes).toHaveLength(1);
    expect(logs).toEqual([
      {
        severity: 'WARNING',
        message: "cannot record the key's last use: UNAVAILABLE: x",
        function: 'exchangeIntegration',
        owner: 'speedtest',
        key_id: 'ki_0000000000000001',
      },
    ]);
  });

  it('logs a write that throws, without an unhandled rejection', async () => {
    const { recorder, logs } = setUp(() => Promise.reject(new Error('boom')));
    recorder.record(keyOf('ki_0000000000000001'), 'f');
    await settle();
    expect(logs.map((l) => l.message)).toEqual(["cannot record the key's last use: boom"]);
  });
});
