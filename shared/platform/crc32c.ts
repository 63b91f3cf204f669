/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): the checksum Secret Manager sends
 * with a secret's payload (`dataCrc32c`). node:zlib's crc32 is the other polynomial (IEEE),
 * so this is a table of our own; it runs once per signing-key read, never per request.
 */
const TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

export function crc32c(data: Uint8Array | string): number {
  let crc = 0xffffffff;
  for (const byte of typeof data === 'string' ? Buffer.from(data) : data) {
    crc = TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}
