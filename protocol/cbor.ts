/**
 * Deterministic CBOR (RFC 8949 §4.2.1, "core deterministic encoding") for the subset Cloister's
 * evidence bundle and key binding use, with a strict decoder that accepts exactly the encodings
 * the encoder produces: one value, one byte string. That uniqueness is what lets a verifier
 * recompute REPORT_DATA from decoded claims (protocol/evidence.ts).
 *
 * Data model:
 * | CBOR (major type)            | JavaScript                                                   |
 * | ---------------------------- | ------------------------------------------------------------ |
 * | unsigned / negative int (0,1) | `number` when a safe integer, else `bigint` (−2^64 .. 2^64−1) |
 * | byte string (2)              | `Uint8Array` (decoded: a view into the input, not a copy)     |
 * | text string (3)              | `string` (well-formed UTF-8 / no lone surrogates)             |
 * | array (4)                    | `CborValue[]`                                                 |
 * | map (5)                      | `Map` whose keys are integers or text strings                 |
 * | simple (7): false, true, null | `false`, `true`, `null`                                      |
 *
 * Deterministic rules (§4.2.1), enforced both ways: arguments (integers, lengths, counts) in the
 * shortest form; definite lengths only; map keys sorted by the bytewise lexicographic order of
 * their encodings, no duplicates. The decoder also refuses trailing bytes, nesting deeper than
 * `maxDepth` (default 16) and any length past the end of the input, and every refusal is a
 * `CborError` with a stable `code` and the byte offset of the offending item.
 *
 * Not supported (refused with `unsupported`, never misread): tags (major type 6), floats,
 * `undefined` and other simple values, map keys other than integers and text.
 *
 * Why our own codec rather than cbor-x: cbor-x's decoder is lenient by design (it accepts
 * non-shortest arguments, indefinite lengths and duplicate keys, last one wins) and its encoder
 * orders map keys by insertion, not by encoded bytes; making it strict would mean re-checking
 * every item after it, which is the whole decoder again. The subset is small enough to write out
 * and read in one sitting; cbor-x stays as the independent implementation the
 * tests cross-check against.
 */
import { ProtocolError } from "./errors.ts";

/** Input that is not deterministic CBOR of the supported subset, or a value that cannot be encoded. */
export class CborError extends ProtocolError {}

export type CborKey = number | bigint | string;
export type CborValue =
  | number
  | bigint
  | string
  | Uint8Array
  | boolean
  | null
  | readonly CborValue[]
  | ReadonlyMap<CborKey, CborValue>;

export interface CborOptions {
  /** Deepest nesting of arrays and maps accepted (a top-level map is depth 1). */
  maxDepth?: number;
}

export const CBOR_MAX_DEPTH = 16;

const UINT = 0, NINT = 1, BYTES = 2, TEXT = 3, ARRAY = 4, MAP = 5, TAG = 6, SIMPLE = 7;
const MAJOR_NAMES = ["integer", "negative integer", "byte string", "text string", "array", "map"];
const FALSE = 0xf4, TRUE = 0xf5, NULL = 0xf6;
const TWO_64 = 1n << 64n;

// ---------------------------------------------------------------------------------------------
// Encoding

class Out {
  buf = new Uint8Array(64);
  at = 0;

  room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(this.buf.length * 2, this.at + n));
    grown.set(this.buf.subarray(0, this.at));
    this.buf = grown;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.at);
    this.at += b.length;
  }

  /** The initial byte and argument of an item, in the shortest form (§4.2.1). */
  head(major: number, arg: number | bigint): void {
    this.room(9);
    const b = this.buf;
    const m = major << 5;
    if (arg < 24) b[this.at++] = m | Number(arg);
    else if (arg < 0x100) {
      b[this.at++] = m | 24;
      b[this.at++] = Number(arg);
    } else if (arg < 0x1_0000) {
      b[this.at++] = m | 25;
      b[this.at++] = Number(arg) >> 8;
      b[this.at++] = Number(arg);
    } else if (arg < 0x1_0000_0000) {
      b[this.at++] = m | 26;
      new DataView(b.buffer).setUint32(this.at, Number(arg));
      this.at += 4;
    } else {
      b[this.at++] = m | 27;
      new DataView(b.buffer).setBigUint64(this.at, BigInt(arg));
      this.at += 8;
    }
  }

  result(): Uint8Array {
    return this.buf.subarray(0, this.at);
  }
}

const textEncoder = new TextEncoder();

function encodeItem(out: Out, v: CborValue, depth: number, maxDepth: number): void {
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v)) {
      throw new CborError("invalid-value", `${v} is not a safe integer (floats are not supported)`);
    }
    if (v >= 0) out.head(UINT, v);
    else out.head(NINT, -1 - v);
  } else if (typeof v === "bigint") {
    if (v >= TWO_64 || v < -TWO_64) {
      throw new CborError("out-of-range", `${v} is outside the 64-bit CBOR integer range`);
    }
    if (v >= 0n) out.head(UINT, v);
    else out.head(NINT, -1n - v);
  } else if (typeof v === "string") {
    if (!v.isWellFormed()) {
      throw new CborError("invalid-value", "text string has a lone surrogate (not UTF-8)");
    }
    const bytes = textEncoder.encode(v);
    out.head(TEXT, bytes.length);
    out.bytes(bytes);
  } else if (v instanceof Uint8Array) {
    out.head(BYTES, v.length);
    out.bytes(v);
  } else if (v === false || v === true || v === null) {
    out.room(1);
    out.buf[out.at++] = v === null ? NULL : v ? TRUE : FALSE;
  } else if (Array.isArray(v) || v instanceof Map) {
    if (depth >= maxDepth) {
      throw new CborError("too-deep", `nesting deeper than ${maxDepth} arrays and maps`);
    }
    if (Array.isArray(v)) {
      out.head(ARRAY, v.length);
      for (const item of v) encodeItem(out, item, depth + 1, maxDepth);
    } else encodeMap(out, v, depth + 1, maxDepth);
  } else {
    throw new CborError("invalid-value", `cannot encode ${describeValue(v)}`);
  }
}

function encodeMap(
  out: Out,
  map: ReadonlyMap<CborKey, CborValue>,
  depth: number,
  maxDepth: number,
): void {
  const entries = [...map].map(([key, value]) => {
    if (typeof key !== "number" && typeof key !== "bigint" && typeof key !== "string") {
      throw new CborError(
        "unsupported-key",
        `map key ${describeValue(key)} is not an integer or text`,
      );
    }
    const k = new Out();
    encodeItem(k, key, depth, maxDepth);
    return { key: k.result(), value };
  });
  entries.sort((a, b) => compareBytes(a.key, b.key));
  for (let i = 1; i < entries.length; i++) {
    if (compareBytes(entries[i - 1].key, entries[i].key) === 0) {
      throw new CborError("duplicate-key", "two map keys have the same encoding (e.g. 1 and 1n)");
    }
  }
  out.head(MAP, entries.length);
  for (const { key, value } of entries) {
    out.bytes(key);
    encodeItem(out, value, depth, maxDepth);
  }
}

function describeValue(v: unknown): string {
  if (v === undefined) return "undefined";
  if (typeof v === "object") return `an object of type ${v?.constructor?.name ?? "null"}`;
  return `a ${typeof v}`;
}

/** Bytewise lexicographic order (§4.2.1): a shorter prefix sorts first. */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/** The deterministic encoding of `value` (RFC 8949 §4.2.1). */
export function encodeCbor(value: CborValue, options: CborOptions = {}): Uint8Array {
  const out = new Out();
  encodeItem(out, value, 0, options.maxDepth ?? CBOR_MAX_DEPTH);
  return out.result().slice();
}

// ---------------------------------------------------------------------------------------------
// Decoding

const textDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

class In {
  at = 0;
  constructor(readonly b: Uint8Array, readonly maxDepth: number) {}

  fail(code: string, message: string, offset = this.at): never {
    throw new CborError(code, message, offset);
  }

  /** Reads the argument that follows an initial byte at `start` (§3), refusing long forms. */
  argument(start: number, info: number): number | bigint {
    if (info < 24) return info;
    if (info > 27) {
      this.fail(
        info === 31 ? "indefinite-length" : "reserved",
        info === 31
          ? "indefinite length (additional information 31) is not deterministic"
          : `additional information ${info} is reserved`,
        start,
      );
    }
    const size = 1 << (info - 24);
    if (this.at + size > this.b.length) {
      this.fail(
        "truncated",
        `argument of ${size} bytes but only ${this.b.length - this.at} left`,
        start,
      );
    }
    const view = new DataView(this.b.buffer, this.b.byteOffset + this.at, size);
    this.at += size;
    const arg = size === 1
      ? view.getUint8(0)
      : size === 2
      ? view.getUint16(0)
      : size === 4
      ? view.getUint32(0)
      : view.getBigUint64(0);
    const floor = size === 1 ? 24 : size === 2 ? 0x100 : size === 4 ? 0x1_0000 : 0x1_0000_0000;
    if (arg < floor) {
      this.fail("non-minimal", `${arg} encoded in ${size + 1} bytes: a shorter form exists`, start);
    }
    return typeof arg === "bigint" && arg <= Number.MAX_SAFE_INTEGER ? Number(arg) : arg;
  }

  /** A length or count that must fit the bytes that are left (each item takes at least one). */
  length(start: number, arg: number | bigint, unit: number, what: string): number {
    const left = this.b.length - this.at;
    if (typeof arg === "bigint" || arg * unit > left) {
      this.fail(
        "length-past-end",
        `${what} of ${arg} runs past the end (${left} bytes left)`,
        start,
      );
    }
    return arg;
  }

  item(depth: number): CborValue {
    const start = this.at;
    if (start >= this.b.length) this.fail("truncated", "item expected but the input has ended");
    const initial = this.b[this.at++];
    const major = initial >> 5;
    const info = initial & 0x1f;
    if (major === SIMPLE) return this.simple(start, info);
    if (major === TAG) this.fail("unsupported", "tags (major type 6) are not supported", start);
    const arg = this.argument(start, info);
    switch (major) {
      case UINT:
        return arg;
      case NINT:
        return typeof arg === "bigint" || arg === Number.MAX_SAFE_INTEGER
          ? -1n - BigInt(arg)
          : -1 - arg;
      case BYTES: {
        const n = this.length(start, arg, 1, "byte string");
        this.at += n;
        return this.b.subarray(this.at - n, this.at);
      }
      case TEXT: {
        const n = this.length(start, arg, 1, "text string");
        this.at += n;
        try {
          return textDecoder.decode(this.b.subarray(this.at - n, this.at));
        } catch {
          return this.fail("invalid-utf8", "text string is not valid UTF-8", start);
        }
      }
    }
    if (depth >= this.maxDepth) {
      this.fail("too-deep", `nesting deeper than ${this.maxDepth} arrays and maps`, start);
    }
    if (major === ARRAY) {
      const n = this.length(start, arg, 1, "array count");
      const out: CborValue[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = this.item(depth + 1);
      return out;
    }
    return this.map(this.length(start, arg, 2, "map count"), depth + 1);
  }

  map(n: number, depth: number): Map<CborKey, CborValue> {
    const out = new Map<CborKey, CborValue>();
    let previous: Uint8Array | undefined;
    for (let i = 0; i < n; i++) {
      const keyAt = this.at;
      const major = this.b[keyAt] >> 5;
      if (major !== UINT && major !== NINT && major !== TEXT) {
        this.fail(
          "unsupported-key",
          `map key is a ${
            MAJOR_NAMES[major] ?? "tag or simple value"
          }; only integers and text are supported`,
          keyAt,
        );
      }
      const key = this.item(depth) as CborKey;
      // Keys in this decoder are already in their deterministic form, so their raw bytes are
      // exactly the encodings §4.2.1 orders by.
      const raw = this.b.subarray(keyAt, this.at);
      if (previous) {
        const order = compareBytes(previous, raw);
        if (order === 0) this.fail("duplicate-key", `map key ${String(key)} appears twice`, keyAt);
        if (order > 0) {
          this.fail(
            "unsorted-keys",
            `map key ${String(key)} is out of order (keys sort by their encoded bytes)`,
            keyAt,
          );
        }
      }
      previous = raw;
      out.set(key, this.item(depth));
    }
    return out;
  }

  simple(start: number, info: number): CborValue {
    if (info === 20) return false;
    if (info === 21) return true;
    if (info === 22) return null;
    if (info === 24) {
      if (this.at >= this.b.length) this.fail("truncated", "simple value byte missing", start);
      const v = this.b[this.at++];
      if (v < 32) {
        this.fail("non-minimal", `simple value ${v} in two bytes is not well-formed`, start);
      }
      this.fail("unsupported", `simple value ${v} is not supported`, start);
    }
    if (info >= 25 && info <= 27) {
      this.fail("unsupported", "floating-point numbers are not supported", start);
    }
    if (info === 31) {
      this.fail("indefinite-length", "break (0xff) outside an indefinite item", start);
    }
    if (info > 27) this.fail("reserved", `additional information ${info} is reserved`, start);
    return this.fail(
      "unsupported",
      `simple value ${info}${info === 23 ? " (undefined)" : ""} is not supported`,
      start,
    );
  }
}

/**
 * Decodes exactly one deterministically encoded item that fills `bytes`. Byte strings in the
 * result are views into `bytes`.
 */
export function decodeCbor(bytes: Uint8Array, options: CborOptions = {}): CborValue {
  const input = new In(bytes, options.maxDepth ?? CBOR_MAX_DEPTH);
  const value = input.item(0);
  if (input.at !== bytes.length) {
    input.fail("trailing-bytes", `${bytes.length - input.at} bytes after the item`);
  }
  return value;
}
