import { addressBucket, clientAddress } from '../../../shared/exchange/clientAddress';

describe('clientAddress', () => {
  it(
    'takes the entry the load balancer appended for the ' + 'client (2nd from the right), never one the client wrote',
    () => {
      expect(clientAddress('203.0.113.9, 130.211.0.1', '10.0.0.1', 2)).toBe('203.0.113.9');
      expect(clientAddress('6.6.6.6, 7.7.7.7, 203.0.113.9, 130.211.0.1', '10.0.0.1', 2)).toBe('203.0.113.9');
      expect(clientAddress(['6.6.6.6', '203.0.113.9, 130.211.0.1'], '10.0.0.1', 2)).toBe('203.0.113.9');
    },
  );

  it('takes the rightmost entry with hop 1, the peer with hop 0 or without the header', () => {
    expect(clientAddress('6.6.6.6, 203.0.113.9', '10.0.0.1', 1)).toBe('203.0.113.9');
    expect(clientAddress('6.6.6.6, 203.0.113.9', '10.0.0.1', 0)).toBe('10.0.0.1');
    expect(clientAddress(undefined, '::ffff:127.0.0.1', 2)).toBe('127.0.0.1');
    expect(clientAddress(' , ', '10.0.0.1', 2)).toBe('10.0.0.1');
  });

  it('with fewer entries than the hop, the leftmost (a proxy wrote it; the client wrote none)', () => {
    expect(clientAddress('203.0.113.9', '10.0.0.1', 2)).toBe('203.0.113.9');
  });
});

describe('addressBucket', () => {
  it('counts IPv6 per /64 and IPv4 per address', () => {
    expect(addressBucket('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressBucket('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(addressBucket('[2001:db8::5]')).toBe('2001:db8:0:0::/64');
    expect(addressBucket('::1')).toBe('0:0:0:0::/64');
    expect(addressBucket('203.0.113.9')).toBe('203.0.113.9');
    expect(addressBucket('203.0.113.10')).not.toBe(addressBucket('203.0.113.9'));
  });

  it('keeps anything else as a bucket of its own, bounded', () => {
    expect(addressBucket('x'.repeat(500))).toHaveLength(64);
  });
});
