/**
 * Who is guessing: the client address the throttle counts wrong secrets by, so that
 * guesses from one place cannot lock out a key's owner elsewhere.
 *
 * It is taken from X-Forwarded-For, but only from an entry a Google proxy appended, never
 * one the client wrote: each proxy appends the address it received the request from, so
 * the entries at the right are trustworthy and those at the left are whatever the client
 * sent. `hop` names the entry, counted from the right: 2 behind the external Application
 * Load Balancer (it appends `<client>, <load balancer>`), 1 when Google's front end serves
 * the function's own URL (it appends `<client>`), 0 to ignore the header and use the
 * connection's peer (the local stack, where no proxy writes it). A header with fewer
 * entries than `hop` has none from the client: its leftmost entry is then the client.
 *
 * IPv6 addresses count per /64, the block one subscriber usually holds; IPv4 per address.
 */
import { isIPv4, isIPv6 } from 'node:net';

const MAX_UNPARSED = 64;

function expandIPv6(address: string): string[] | undefined {
  const [head, tail, extra] = address.split('::');
  if (extra !== undefined) return undefined;
  const left = head ? head.split(':') : [];
  const right = tail !== undefined && tail !== '' ? tail.split(':') : [];
  if (tail === undefined && left.length !== 8) return undefined;
  const missing = 8 - left.length - right.length;
  if (missing < 0) return undefined;
  return [...left, ...Array<string>(tail === undefined ? 0 : missing).fill('0'), ...right];
}

/** The throttle's bucket for one address: the IPv4 address itself, or an IPv6 /64. */
export function addressBucket(raw: string): string {
  const address = raw.trim().replace(/^\[(.*)\]$/, '$1');
  if (isIPv4(address)) return address;
  if (isIPv6(address)) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped && isIPv4(mapped[1])) return mapped[1];
    const groups = expandIPv6(address.replace(/%.*$/, ''));
    if (groups !== undefined && groups.length === 8)
      return `${groups
        .slice(0, 4)
        .map((g) => Number.parseInt(g, 16).toString(16))
        .join(':')}::/64`;
  }
  // Not an address (a proxy would not write one): still a bucket of its own, bounded in size.
  return address.slice(0, MAX_UNPARSED);
}

/** The entries of X-Forwarded-For, left to right (a repeated header counts as one list). */
export function forwardedForEntries(forwardedFor: string | string[] | undefined): string[] {
  if (forwardedFor === undefined) return [];
  return (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor)
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

/** The client address of a request, from the `hop`-th X-Forwarded-For entry from the right, else the peer. */
export function clientAddress(
  forwardedFor: string | string[] | undefined,
  peer: string | undefined,
  hop: number,
): string {
  if (hop > 0) {
    const entries = forwardedForEntries(forwardedFor);
    if (entries.length > 0) return addressBucket(entries[Math.max(0, entries.length - hop)]);
  }
  return addressBucket(peer ?? '');
}
