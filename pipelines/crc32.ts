/**
 * CRC-32 (IEEE 802.3, the gzip and PNG checksum), slicing-by-4 table. Used to verify gzip
 * trailers and checkpoint payloads.
 *
 * @module
 */

/** The running value a CRC starts from. */
export const CRC_INIT = 0xffffffff;

const CRC_TABLE = makeCrcTable();

function makeCrcTable(): Int32Array {
  const t = new Int32Array(4 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n] as number;
    for (let s = 1; s < 4; s++) {
      c = (t[c & 0xff] as number) ^ (c >>> 8);
      t[s * 256 + n] = c;
    }
  }
  return t;
}

/**
 * The running CRC after `data`: start from `CRC_INIT`, feed the bytes in any number of chunks,
 * then `crc32Final`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CRC_INIT, crc32Final, crc32Update } from "./crc32.ts";
 * const bytes = new TextEncoder().encode("123456789");
 * const c = crc32Update(crc32Update(CRC_INIT, bytes.subarray(0, 4)), bytes.subarray(4));
 * assert.equal(crc32Final(c), 0xcbf43926); // the standard check value
 * ```
 */
export function crc32Update(crc: number, data: Uint8Array): number {
  const t = CRC_TABLE;
  let c = crc | 0;
  let i = 0;
  const end4 = data.length - (data.length & 3);
  for (; i < end4; i += 4) {
    c ^= (data[i] as number) | ((data[i + 1] as number) << 8) | ((data[i + 2] as number) << 16) |
      ((data[i + 3] as number) << 24);
    c = (t[768 + (c & 0xff)] as number) ^ (t[512 + ((c >>> 8) & 0xff)] as number) ^
      (t[256 + ((c >>> 16) & 0xff)] as number) ^ (t[c >>> 24] as number);
  }
  for (; i < data.length; i++) c = (t[(c ^ (data[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return c;
}

/** The CRC-32 of everything fed to `crc32Update`, as an unsigned 32-bit number. */
export function crc32Final(crc: number): number {
  return (crc ^ CRC_INIT) >>> 0;
}

/**
 * CRC-32 of a whole buffer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { crc32 } from "./crc32.ts";
 * assert(crc32(new TextEncoder().encode("123456789")) === 0xcbf43926);
 * ```
 */
export function crc32(data: Uint8Array): number {
  return crc32Final(crc32Update(CRC_INIT, data));
}
