/**
 * Base64 and base64url (RFC 4648 §4 and §5), strict. Signed notes and checkpoints (C2SP) use the
 * standard alphabet with padding; Privacy Pass headers (RFC 9577 §2.1, §2.2) use base64url, where
 * we write padding and accept its absence.
 *
 * Decoding refuses what lenient decoders (`atob`) let through — whitespace, characters from the
 * other alphabet, misplaced padding, non-zero trailing bits — so one value has one encoding and a
 * signature or digest can never be matched against two spellings of the same bytes.
 */
import { ProtocolError } from "./errors.ts";

/** A string that is not the canonical base64 of any byte string. */
export class Base64Error extends ProtocolError {}

const STD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

function reverse(alphabet: string): Int16Array {
  const table = new Int16Array(128).fill(-1);
  for (let i = 0; i < 64; i++) table[alphabet.charCodeAt(i)] = i;
  return table;
}
const STD_REV = reverse(STD);
const URL_REV = reverse(URL);

function encodeWith(alphabet: string, b: Uint8Array, pad: boolean): string {
  let s = "";
  let i = 0;
  for (; i + 2 < b.length; i += 3) {
    const n = (b[i] << 16) | (b[i + 1] << 8) | b[i + 2];
    s += alphabet[n >> 18] + alphabet[(n >> 12) & 63] + alphabet[(n >> 6) & 63] + alphabet[n & 63];
  }
  const rest = b.length - i;
  if (rest === 1) {
    const n = b[i] << 16;
    s += alphabet[n >> 18] + alphabet[(n >> 12) & 63] + (pad ? "==" : "");
  } else if (rest === 2) {
    const n = (b[i] << 16) | (b[i + 1] << 8);
    s += alphabet[n >> 18] + alphabet[(n >> 12) & 63] + alphabet[(n >> 6) & 63] + (pad ? "=" : "");
  }
  return s;
}

function decodeWith(rev: Int16Array, s: string, padding: "required" | "optional"): Uint8Array {
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 0x3d /* = */) end--;
  const padLength = s.length - end;
  const rest = end % 4;
  if (rest === 1) throw new Base64Error("invalid-base64", "base64 length is not valid", end);
  const expectedPad = rest === 0 ? 0 : 4 - rest;
  if (padLength > 0 && padLength !== expectedPad) {
    throw new Base64Error("invalid-base64", "base64 padding is misplaced", end);
  }
  if (padding === "required" && padLength !== expectedPad) {
    throw new Base64Error("invalid-base64", "base64 padding is missing", end);
  }
  const out = new Uint8Array(Math.floor((end * 3) / 4));
  let acc = 0;
  let bits = 0;
  let at = 0;
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    const v = c < 128 ? rev[c] : -1;
    if (v < 0) throw new Base64Error("invalid-base64", `invalid base64 character "${s[i]}"`, i);
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (acc >> bits) & 0xff;
    }
  }
  // RFC 4648 §3.5: the bits after the last whole byte must be zero in a canonical encoding.
  if ((acc & ((1 << bits) - 1)) !== 0) {
    throw new Base64Error("invalid-base64", "base64 has non-zero trailing bits", end - 1);
  }
  return out;
}

/** Standard base64 with padding (RFC 4648 §4). */
export function toBase64(b: Uint8Array): string {
  return encodeWith(STD, b, true);
}

/** Strict standard base64: padding required, no whitespace, zero trailing bits. */
export function fromBase64(s: string): Uint8Array {
  return decodeWith(STD_REV, s, "required");
}

/** base64url (RFC 4648 §5), with padding unless `pad` is false. */
export function toBase64Url(b: Uint8Array, pad = true): string {
  return encodeWith(URL, b, pad);
}

/** Strict base64url; padding may be present (then it must be right) or absent. */
export function fromBase64Url(s: string): Uint8Array {
  return decodeWith(URL_REV, s, "optional");
}
