/**
 * QUIC variable-length integers (RFC 9000 §16), the integer encoding of Binary HTTP (RFC 9292 §3)
 * and of HTTP/3.
 *
 * The two most significant bits of the first byte give the encoded length:
 *
 * | prefix | bytes | usable bits | largest value  |
 * | ------ | ----- | ----------- | -------------- |
 * | 0b00   | 1     | 6           | 63             |
 * | 0b01   | 2     | 14          | 16 383         |
 * | 0b10   | 4     | 30          | 1 073 741 823  |
 * | 0b11   | 8     | 62          | 2^62 − 1       |
 *
 * Decoding accepts any valid encoding, minimal or not: RFC 9000 §16 says values "do not need to
 * be encoded on the minimum number of bytes", and RFC 9292 inherits that. Encoding writes the
 * shortest form unless a caller asks for a wider one (useful to reserve room for a length that is
 * patched in later).
 *
 * Limit: values are JavaScript numbers, so a valid 8-byte varint above 2^53 − 1 is refused with
 * `too-large` instead of being rounded. Every varint in our formats is a length, a status code or a
 * framing indicator, and no buffer comes near that size.
 *
 * Typical use: `const { value, length } = decodeVarint(bytes, at); at += length;`.
 */
import { ProtocolError } from "./errors.ts";

/** A varint that cannot be decoded or encoded; `offset` is where its first byte is (or would be). */
export class VarintError extends ProtocolError {}

/** The widths RFC 9000 §16 allows. */
export type VarintSize = 1 | 2 | 4 | 8;

/** Largest value each width holds (RFC 9000 Table 4), clipped to the safe-integer range. */
const MAX_FOR_SIZE = { 1: 63, 2: 16_383, 4: 1_073_741_823, 8: Number.MAX_SAFE_INTEGER } as const;

/** Length in bytes of the varint whose first byte is `first` (the top two bits, §16). */
export function varintLength(first: number): VarintSize {
  return (1 << (first >> 6)) as VarintSize;
}

/** Length of the shortest encoding of `value`. */
export function varintSize(value: number): VarintSize {
  checkValue(value);
  return value <= 63 ? 1 : value <= 16_383 ? 2 : value <= 1_073_741_823 ? 4 : 8;
}

export interface DecodedVarint {
  value: number;
  /** Bytes the encoding took (1, 2, 4 or 8), minimal or not. */
  length: VarintSize;
}

/**
 * Decodes the varint that starts at `offset`, reading no byte at or after `end` (the end of the
 * enclosing structure; defaults to the end of `bytes`).
 */
export function decodeVarint(bytes: Uint8Array, offset = 0, end = bytes.length): DecodedVarint {
  if (offset >= end) {
    throw new VarintError("truncated", "varint expected but the input has ended", offset);
  }
  const first = bytes[offset];
  const length = varintLength(first);
  if (offset + length > end) {
    throw new VarintError(
      "truncated",
      `varint of ${length} bytes but only ${end - offset} left`,
      offset,
    );
  }
  let value = first & 0x3f;
  if (length === 8) {
    // 62 bits do not fit a 32-bit shift: split into the high 30 and low 32 bits.
    const hi = ((value << 24) | (bytes[offset + 1] << 16) | (bytes[offset + 2] << 8) |
      bytes[offset + 3]) >>> 0;
    const lo = ((bytes[offset + 4] << 24) | (bytes[offset + 5] << 16) |
      (bytes[offset + 6] << 8) | bytes[offset + 7]) >>> 0;
    if (hi >= 0x20_0000) {
      throw new VarintError(
        "too-large",
        `varint value ${(BigInt(hi) << 32n) | BigInt(lo)} is above 2^53 - 1`,
        offset,
      );
    }
    return { value: hi * 0x1_0000_0000 + lo, length };
  }
  for (let i = 1; i < length; i++) value = value * 256 + bytes[offset + i];
  return { value, length };
}

/**
 * Writes `value` at `offset` of `out` in `size` bytes (default: the shortest) and returns the
 * offset after it. The caller sized `out`; writing past its end is a programming error.
 */
export function writeVarint(
  out: Uint8Array,
  offset: number,
  value: number,
  size: VarintSize = varintSize(value),
): number {
  checkValue(value);
  if (value > MAX_FOR_SIZE[size]) {
    throw new VarintError("out-of-range", `${value} does not fit a ${size}-byte varint`);
  }
  if (offset + size > out.length) {
    throw new RangeError(`varint of ${size} bytes does not fit at ${offset} of ${out.length}`);
  }
  if (size === 8) {
    const hi = Math.floor(value / 0x1_0000_0000);
    const lo = value >>> 0;
    out[offset] = 0xc0 | (hi >>> 24);
    out[offset + 1] = hi >>> 16;
    out[offset + 2] = hi >>> 8;
    out[offset + 3] = hi;
    out[offset + 4] = lo >>> 24;
    out[offset + 5] = lo >>> 16;
    out[offset + 6] = lo >>> 8;
    out[offset + 7] = lo;
    return offset + 8;
  }
  let v = value;
  for (let i = size - 1; i > 0; i--) {
    out[offset + i] = v & 0xff;
    v = Math.floor(v / 256);
  }
  out[offset] = (size === 1 ? 0x00 : size === 2 ? 0x40 : 0x80) | v;
  return offset + size;
}

/** The encoding of `value` in `size` bytes (default: the shortest). */
export function encodeVarint(value: number, size?: VarintSize): Uint8Array {
  const out = new Uint8Array(size ?? varintSize(value));
  writeVarint(out, 0, value, size);
  return out;
}

function checkValue(value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new VarintError(
      "out-of-range",
      `varint value must be an integer from 0 to 2^53 - 1, got ${value}`,
    );
  }
}
