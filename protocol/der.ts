/**
 * DER encoding (ITU-T X.690 §8, §10) of the few structures protocol/ writes: a TLV with a definite
 * length, and a non-negative INTEGER in its minimal two's-complement form.
 *
 *   tlv(DER.SEQUENCE, derInteger(0), tlv(DER.OCTET_STRING, key))   // 30 .. 02 01 00 04 ..
 *
 * Limit: contents up to 65 535 bytes (lengths of one to three bytes); keys and certificates
 * protocol/ builds are far smaller. Parsing DER is left to the module that reads each structure.
 */
import { concat, i2osp } from "./bytes.ts";

/** Universal tags (X.690 §8.1.2, X.680 §8.4). */
export const DER = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  OBJECT_IDENTIFIER: 0x06,
  SEQUENCE: 0x30,
} as const;

/** tag || length || contents, the length in short form below 128 and long form above (§8.1.3). */
export function tlv(tag: number, ...contents: Uint8Array[]): Uint8Array {
  const body = concat(...contents);
  const n = body.length;
  if (n > 0xffff) throw new RangeError(`DER contents of ${n} bytes; at most 65535 supported`);
  const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return concat(Uint8Array.of(tag, ...length), body);
}

/** INTEGER of a non-negative value: minimal big-endian bytes, 0x00 first if the top bit is set. */
export function derInteger(value: bigint | number): Uint8Array {
  const x = BigInt(value);
  if (x < 0n) throw new RangeError(`negative DER INTEGER ${x}`);
  const b = i2osp(x, Math.max(1, Math.ceil(x.toString(16).length / 2)));
  return tlv(DER.INTEGER, ...(b[0] & 0x80 ? [Uint8Array.of(0), b] : [b]));
}
