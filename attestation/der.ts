/**
 * A strict, zero-copy DER reader (ITU-T X.690 §8 and §10) for the structures attestation needs:
 * X.509 certificates and CRLs (RFC 5280), AMD and Intel certificate extensions, ECDSA signature
 * values (RFC 5480 §2.2 / RFC 3279 §2.2.3).
 *
 * Gives `readTlv` (one tag-length-value at an offset), `children` (the TLVs inside a constructed
 * value) and decoders for the primitive types (INTEGER, OID, BIT STRING, strings, times). Every
 * value is a `subarray` of the input: nothing is copied, so parsing a certificate costs
 * microseconds, which matters on the cold path of a verifier that sees a chip for the first time.
 *
 * DER only, not BER: definite lengths in the shortest form, single-byte tags (X.509 needs no
 * others), INTEGERs in minimal two's complement, BOOLEAN as 0x00/0xFF, BIT STRING unused bits
 * zero. Anything else throws `DerError` with the byte offset; callers map it to their own error
 * family. For building structures (the emulated secure processor) use pkijs.
 */

/** A DER decoding failure at a byte offset of the decoded input. */
export class DerError extends Error {
  constructor(message: string, readonly offset: number) {
    super(`${message} (at byte ${offset})`);
    this.name = "DerError";
  }
}

/** Universal tags used here (X.690 §8.1.2; constructed forms carry bit 0x20). */
export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** One tag-length-value: `bytes` is the whole encoding, `value` the contents. */
export interface Tlv {
  tag: number;
  /** Offset of the tag byte in the buffer `readTlv` was given. */
  offset: number;
  bytes: Uint8Array;
  value: Uint8Array;
}

/** Reads the TLV at `offset` of `buf`; `base` is added to offsets in errors and `Tlv.offset`. */
export function readTlv(buf: Uint8Array, offset = 0, base = 0): Tlv {
  const at = base + offset;
  if (offset + 2 > buf.length) throw new DerError("truncated tag or length", at);
  const tag = buf[offset];
  if ((tag & 0x1f) === 0x1f) throw new DerError(`multi-byte tag 0x${hex2(tag)}`, at);
  let len = buf[offset + 1];
  let header = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0) throw new DerError("indefinite length is not DER", at + 1);
    if (n > 4) throw new DerError(`length of ${n} bytes`, at + 1);
    if (offset + 2 + n > buf.length) throw new DerError("truncated length", at + 1);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[offset + 2 + i];
    if (buf[offset + 2] === 0 || len < 0x80) {
      throw new DerError("length not in its shortest form", at + 1);
    }
    header += n;
  }
  const end = offset + header + len;
  if (end > buf.length) {
    throw new DerError(
      `value of ${len} bytes runs past the end (${buf.length - offset - header} left)`,
      at,
    );
  }
  return {
    tag,
    offset: at,
    bytes: buf.subarray(offset, end),
    value: buf.subarray(offset + header, end),
  };
}

/** Reads exactly one TLV spanning all of `buf` (no trailing bytes), optionally of one tag. */
export function readOne(buf: Uint8Array, tag?: number, what = "value", base = 0): Tlv {
  const tlv = readTlv(buf, 0, base);
  if (tlv.bytes.length !== buf.length) {
    throw new DerError(`${buf.length - tlv.bytes.length} trailing bytes after the ${what}`, base);
  }
  if (tag !== undefined) expectTag(tlv, tag, what);
  return tlv;
}

/** The TLVs inside a constructed value, in order; throws if they do not tile it exactly. */
export function children(tlv: Tlv): Tlv[] {
  if (!(tlv.tag & 0x20)) {
    throw new DerError(`tag 0x${hex2(tlv.tag)} is not constructed`, tlv.offset);
  }
  const out: Tlv[] = [];
  const base = tlv.offset + (tlv.bytes.length - tlv.value.length);
  for (let at = 0; at < tlv.value.length;) {
    const child = readTlv(tlv.value, at, base);
    out.push(child);
    at += child.bytes.length;
  }
  return out;
}

export function expectTag(tlv: Tlv, tag: number, what: string): Tlv {
  if (tlv.tag !== tag) {
    throw new DerError(
      `${what}: expected tag 0x${hex2(tag)}, found 0x${hex2(tlv.tag)}`,
      tlv.offset,
    );
  }
  return tlv;
}

/** `children` of a SEQUENCE (or another constructed tag), checking the tag first. */
export function sequence(tlv: Tlv, what: string, tag: number = TAG.SEQUENCE): Tlv[] {
  return children(expectTag(tlv, tag, what));
}

/** The fields of a SEQUENCE that has `min` to `max` of them (a structure read by position). */
export function fields(tlv: Tlv, what: string, min: number, max = min): Tlv[] {
  const out = sequence(tlv, what);
  if (out.length < min || out.length > max) {
    const expected = min === max ? `${min}` : `${min} to ${max}`;
    throw new DerError(`${what}: ${out.length} fields, expected ${expected}`, tlv.offset);
  }
  return out;
}

/** INTEGER contents, checked minimal; returns the two's-complement bytes as encoded. */
export function integerBytes(tlv: Tlv, what = "INTEGER"): Uint8Array {
  expectTag(tlv, TAG.INTEGER, what);
  const v = tlv.value;
  if (v.length === 0) throw new DerError(`${what}: empty INTEGER`, tlv.offset);
  if (v.length > 1 && ((v[0] === 0 && !(v[1] & 0x80)) || (v[0] === 0xff && v[1] & 0x80))) {
    throw new DerError(`${what}: INTEGER not in its shortest form`, tlv.offset);
  }
  return v;
}

/** A non-negative INTEGER as big-endian magnitude bytes (leading sign byte removed). */
export function unsignedBytes(tlv: Tlv, what = "INTEGER"): Uint8Array {
  const v = integerBytes(tlv, what);
  if (v[0] & 0x80) throw new DerError(`${what}: negative INTEGER`, tlv.offset);
  return v.length > 1 && v[0] === 0 ? v.subarray(1) : v;
}

export function bigint(tlv: Tlv, what = "INTEGER"): bigint {
  const v = integerBytes(tlv, what);
  let n = 0n;
  for (const b of v) n = (n << 8n) | BigInt(b);
  return v[0] & 0x80 ? n - (1n << BigInt(8 * v.length)) : n;
}

/** A small non-negative INTEGER (SPLs, versions, path lengths) as a number. */
export function smallInt(tlv: Tlv, what = "INTEGER"): number {
  const n = bigint(tlv, what);
  if (n < 0n || n > 0xffffffffn) throw new DerError(`${what}: ${n} out of range`, tlv.offset);
  return Number(n);
}

export function boolean(tlv: Tlv, what = "BOOLEAN"): boolean {
  expectTag(tlv, TAG.BOOLEAN, what);
  if (tlv.value.length !== 1 || (tlv.value[0] !== 0 && tlv.value[0] !== 0xff)) {
    throw new DerError(`${what}: BOOLEAN must be one byte 0x00 or 0xFF`, tlv.offset);
  }
  return tlv.value[0] === 0xff;
}

/** OBJECT IDENTIFIER in dotted form (X.690 §8.19). */
export function oid(tlv: Tlv, what = "OBJECT IDENTIFIER"): string {
  expectTag(tlv, TAG.OID, what);
  const v = tlv.value;
  if (v.length === 0 || v[v.length - 1] & 0x80) {
    throw new DerError(`${what}: truncated OBJECT IDENTIFIER`, tlv.offset);
  }
  const arcs: number[] = [];
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    if (n === 0 && v[i] === 0x80) throw new DerError(`${what}: arc with leading 0x80`, tlv.offset);
    n = n * 128 + (v[i] & 0x7f);
    if (n > Number.MAX_SAFE_INTEGER / 128) throw new DerError(`${what}: arc too large`, tlv.offset);
    if (!(v[i] & 0x80)) {
      if (arcs.length === 0) arcs.push(n < 40 ? 0 : n < 80 ? 1 : 2, n < 80 ? n % 40 : n - 80);
      else arcs.push(n);
      n = 0;
    }
  }
  return arcs.join(".");
}

/** BIT STRING contents with no unused bits (keys, signatures). */
export function bitStringBytes(tlv: Tlv, what = "BIT STRING"): Uint8Array {
  expectTag(tlv, TAG.BIT_STRING, what);
  if (tlv.value.length === 0) throw new DerError(`${what}: empty BIT STRING`, tlv.offset);
  if (tlv.value[0] !== 0) {
    throw new DerError(
      `${what}: ${tlv.value[0]} unused bits where whole bytes are required`,
      tlv.offset,
    );
  }
  return tlv.value.subarray(1);
}

/** BIT STRING as a bit list (named-bit types such as KeyUsage): bit 0 is the first bit. */
export function bitFlags(tlv: Tlv, what = "BIT STRING"): boolean[] {
  expectTag(tlv, TAG.BIT_STRING, what);
  const v = tlv.value;
  if (v.length === 0 || v[0] > 7 || (v.length === 1 && v[0] !== 0)) {
    throw new DerError(`${what}: bad unused-bits count`, tlv.offset);
  }
  const bits: boolean[] = [];
  const total = (v.length - 1) * 8 - v[0];
  for (let i = 0; i < total; i++) bits.push((v[1 + (i >> 3)] & (0x80 >> (i & 7))) !== 0);
  return bits;
}

const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder("utf-8", { fatal: true });
const utf16be = new TextDecoder("utf-16be", { fatal: true });

/** The directory-string types X.509 names and AMD extensions use, decoded to text. */
export function string(tlv: Tlv, what = "string"): string {
  switch (tlv.tag) {
    case TAG.UTF8_STRING:
      try {
        return utf8.decode(tlv.value);
      } catch {
        throw new DerError(`${what}: invalid UTF-8`, tlv.offset);
      }
    case TAG.BMP_STRING:
      try {
        return utf16be.decode(tlv.value);
      } catch {
        throw new DerError(`${what}: invalid BMPString`, tlv.offset);
      }
    case TAG.PRINTABLE_STRING:
    case TAG.IA5_STRING:
    case TAG.T61_STRING:
    case 0x1a /* VisibleString */:
      for (const b of tlv.value) {
        if (b > 0x7f && tlv.tag !== TAG.T61_STRING) {
          throw new DerError(`${what}: non-ASCII byte 0x${hex2(b)}`, tlv.offset);
        }
      }
      return latin1.decode(tlv.value);
    default:
      throw new DerError(`${what}: tag 0x${hex2(tlv.tag)} is not a string type`, tlv.offset);
  }
}

/** UTCTime (YYMMDDHHMMSSZ, RFC 5280 §4.1.2.5.1) or GeneralizedTime (YYYYMMDDHHMMSSZ). */
export function time(tlv: Tlv, what = "time"): Date {
  const s = latin1.decode(tlv.value);
  let m: RegExpMatchArray | null;
  let year: number;
  if (tlv.tag === TAG.UTC_TIME && (m = s.match(/^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/))) {
    year = Number(m[1]);
    year += year < 50 ? 2000 : 1900;
  } else if (
    tlv.tag === TAG.GENERALIZED_TIME &&
    (m = s.match(/^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/))
  ) {
    year = Number(m[1]);
  } else {
    throw new DerError(
      `${what}: "${s.slice(0, 20)}" is not a UTCTime/GeneralizedTime in Z`,
      tlv.offset,
    );
  }
  const [mo, d, h, mi, se] = m.slice(2).map(Number);
  const date = new Date(Date.UTC(2000, mo - 1, d, h, mi, se));
  date.setUTCFullYear(year); // Date.UTC reads years 0..99 as 1900..1999; GeneralizedTime does not
  if (date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d || h > 23 || mi > 59 || se > 59) {
    throw new DerError(`${what}: "${s}" is not a calendar time`, tlv.offset);
  }
  return date;
}

function hex2(b: number): string {
  return b.toString(16).padStart(2, "0");
}
