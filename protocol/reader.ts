/**
 * A cursor over wire bytes, shared by the decoders of protocol/ (OHTTP key configs and
 * encapsulated messages, Binary HTTP, Privacy Pass structures): big-endian fixed-size fields,
 * views into the input (never copies), and errors that name the structure, the field and the
 * absolute byte offset where the input fell short.
 *
 *   const r = new Reader(bytes, "key config", (failure, message, at) =>
 *     new OhttpError(failure, message, at));
 *   const keyId = r.u8("key identifier");
 *   const publicKey = r.take(32, "public key");
 *   r.end();
 *
 * Each codec passes the factory of its own typed error (a `ProtocolError` subclass with its
 * codes), so a decoder keeps its error family while the bounds checks live here once. A reader
 * over part of a larger input (`sub`) reports offsets in the whole input.
 */

/** Why a read failed: the input ended inside a field, or bytes follow the structure's end. */
export type ReadFailure = "truncated" | "trailing-data";

/** Builds the codec's error for a read that failed at absolute byte `offset`. */
export type ReadError = (failure: ReadFailure, message: string, offset: number) => Error;

export class Reader {
  /** Position in `bytes` of the next byte to read. */
  protected pos = 0;

  constructor(
    readonly bytes: Uint8Array,
    /** The structure read, named in every error message ("key config", "Token"). */
    readonly what: string,
    readonly error: ReadError,
    /** Offset of `bytes[0]` in the whole input, for errors. */
    readonly base = 0,
  ) {}

  /** Absolute offset of the next byte. */
  get at(): number {
    return this.base + this.pos;
  }

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  get done(): boolean {
    return this.pos >= this.bytes.length;
  }

  /** The next `n` bytes, as a view into the input. */
  take(n: number, field: string): Uint8Array {
    if (n > this.remaining) {
      throw this.error(
        "truncated",
        `${this.what}: ${field} needs ${n} bytes, ${this.remaining} left`,
        this.at,
      );
    }
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  u8(field: string): number {
    return this.take(1, field)[0];
  }

  /** A big-endian 16-bit unsigned integer. */
  u16(field: string): number {
    const b = this.take(2, field);
    return (b[0] << 8) | b[1];
  }

  /** A reader over the next `n` bytes, which this one skips. */
  sub(n: number, field: string): Reader {
    const at = this.at;
    return new Reader(this.take(n, field), field, this.error, at);
  }

  /** Refuses any byte after the structure. */
  end(): void {
    if (!this.done) {
      throw this.error(
        "trailing-data",
        `${this.what}: ${this.remaining} bytes after its end`,
        this.at,
      );
    }
  }
}
