/**
 * CRC-32 (IEEE 802.3, as zlib), bit by bit: no 1 KB table to keep in the XS heap. Records are a
 * few hundred bytes, written rarely, so the speed of a table buys nothing here.
 */
export function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) {
    crc ^= bytes[i];
    for (let bit = 0; bit < 8; bit++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return (crc ^ 0xffffffff) >>> 0;
}
