/**
 * Binary HTTP messages (RFC 9292): the plaintext inside Oblivious HTTP (RFC 9458 §4).
 *
 * A message is a framing indicator (§3.3) and then, in order:
 *
 * ```
 * request  (0 known-length, 2 indeterminate-length):
 *   Method, Scheme, Authority, Path     each a varint length and bytes (§3.4)
 * response (1 known-length, 3 indeterminate-length):
 *   { Status 100..199, Field Section }*  informational responses (§3.5.1)
 *   Status 200..599                      final response control data (§3.5.2)
 * then, both:
 *   Header Field Section, Content, Trailer Field Section, Padding (zero bytes, §3.8)
 *
 * known-length field section:     Length (i), Field Line...                  (§3.6)
 * indeterminate field section:    Field Line..., 0                           (§3.6)
 * field line:                     Name Length (i) = 1.., Name, Value Length (i), Value
 * known-length content:           Length (i), Content                        (§3.7)
 * indeterminate content:          { Chunk Length (i) = 1.., Chunk }..., 0    (§3.7)
 * ```
 *
 * §3.8: trailing empty sections may be left out (truncation) and any number of zero bytes may
 * follow the message (padding); a non-zero padding byte makes the message invalid (§4). A decoded
 * message records its `framing` (indicator, truncation, padding, content chunks) so that encoding
 * it again gives the same bytes. The one thing not kept is a non-minimal varint: varints are
 * re-encoded in their shortest form (RFC 9000 §16).
 *
 * Validation (§4, RFC 9110 §5.1 and §5.5): field names are non-empty lowercase tokens (Binary
 * HTTP, like HTTP/2 and HTTP/3, carries names in lowercase; RFC 9113 §8.2.1); field values contain
 * no control character other than HTAB and neither start nor end with SP or HTAB; the method is a
 * token, the scheme an RFC 3986 §3.1 scheme (or empty), authority and path visible ASCII (or empty);
 * status codes are 100..199 for informational and 200..599 for final responses. Every refusal is a
 * `BhttpError` with a stable `code` and the byte offset where the problem starts.
 *
 * Plaintext handling: decoding copies nothing it does not have to. Content and field values are
 * `Uint8Array` views into the input (only an indeterminate-length content of several chunks is
 * joined into a new buffer), so wiping the input wipes them; `wipeMessage` zeroes every byte a
 * message references. Method, scheme, authority, path and field names are short strings (strings
 * cannot be wiped, so a caller keeps secrets in field values or content, never in those).
 *
 * Typical use (gateway side):
 *   const req = decodeRequest(plaintext);
 *   try { ... fieldText(req.headers, "authorization") ... req.content ... }
 *   finally { wipeMessage(req); wipe(plaintext); }
 */
import { ProtocolError } from "./errors.ts";
import { concat, utf8 } from "./bytes.ts";
import { Reader } from "./reader.ts";
import {
  type DecodedVarint,
  decodeVarint,
  VarintError,
  varintSize,
  writeVarint,
} from "./varint.ts";

/** A malformed or invalid Binary HTTP message, or a message that cannot be encoded. */
export class BhttpError extends ProtocolError {}

/** One field line. `name` is a lowercase token; `value` is the raw bytes of the field value. */
export interface Field {
  readonly name: string;
  readonly value: Uint8Array;
}

/** The sections a message can leave out at its end (§3.8), named by the first one left out. */
export type Truncation = "headers" | "content" | "trailers";

const SECTIONS = ["headers", "content", "trailers"] as const;

/** How a message is laid out on the wire, beyond its meaning; kept so re-encoding is exact. */
export interface Framing {
  /** Indeterminate-length (framing indicator 2 or 3) rather than known-length (0 or 1). */
  readonly indeterminate: boolean;
  /** The first of the trailing sections left out (it and all after it are empty), if any. */
  readonly truncated?: Truncation;
  /** Number of zero bytes after the message. */
  readonly padding: number;
  /**
   * Indeterminate-length content: the length of each chunk. Absent: one chunk holding all of the
   * content (none when it is empty).
   */
  readonly chunks?: readonly number[];
}

/** The framing encoders use when a message has none: known-length, complete, unpadded. */
export const KNOWN_LENGTH: Framing = { indeterminate: false, padding: 0 };

export interface BhttpRequest {
  method: string;
  scheme: string;
  authority: string;
  path: string;
  headers: Field[];
  content: Uint8Array;
  trailers: Field[];
  framing?: Framing;
}

export interface InformationalResponse {
  /** 100..199 */
  status: number;
  headers: Field[];
}

export interface BhttpResponse {
  informational: InformationalResponse[];
  /** 200..599 */
  status: number;
  headers: Field[];
  content: Uint8Array;
  trailers: Field[];
  framing?: Framing;
}

const REQUEST_KNOWN = 0;
const RESPONSE_KNOWN = 1;
const REQUEST_INDETERMINATE = 2;
const RESPONSE_INDETERMINATE = 3;

// ---------------------------------------------------------------------------------------------
// Helpers for callers

/** A field line; the name is lowercased, a string value is UTF-8 encoded. */
export function field(name: string, value: string | Uint8Array): Field {
  return { name: name.toLowerCase(), value: typeof value === "string" ? utf8(value) : value };
}

/** The value of the first field named `name` (lowercase), or undefined. */
export function fieldValue(fields: readonly Field[], name: string): Uint8Array | undefined {
  for (const f of fields) if (f.name === name) return f.value;
  return undefined;
}

const text = new TextDecoder();

/** The first field named `name` decoded as UTF-8 (for values that are not secret), or undefined. */
export function fieldText(fields: readonly Field[], name: string): string | undefined {
  const v = fieldValue(fields, name);
  return v === undefined ? undefined : text.decode(v);
}

/** Zeroes the content and every field value of a message (and so the input they are views of). */
export function wipeMessage(message: BhttpRequest | BhttpResponse): void {
  message.content.fill(0);
  for (const f of message.headers) f.value.fill(0);
  for (const f of message.trailers) f.value.fill(0);
  if ("informational" in message) {
    for (const r of message.informational) for (const f of r.headers) f.value.fill(0);
  }
}

// ---------------------------------------------------------------------------------------------
// Character rules

// RFC 9110 §5.6.2 tchar, minus uppercase letters (field names are lowercase).
const LOWER_TCHAR = charTable("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz");
const TCHAR = charTable(
  "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
);
// RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
const SCHEME_REST = charTable(
  "+-.0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
);
const VISIBLE = new Uint8Array(256).fill(1, 0x21, 0x7f);

function charTable(chars: string): Uint8Array {
  const t = new Uint8Array(256);
  for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)] = 1;
  return t;
}

type Chars = Uint8Array | string;

function codeAt(s: Chars, i: number): number {
  return typeof s === "string" ? s.charCodeAt(i) : s[i];
}

/** Index of the first character outside `table` (or above 0xFF), or -1. */
function firstOutside(s: Chars, table: Uint8Array, from = 0): number {
  for (let i = from; i < s.length; i++) {
    const c = codeAt(s, i);
    if (c > 0xff || table[c] === 0) return i;
  }
  return -1;
}

function describe(c: number): string {
  return c >= 0x21 && c < 0x7f ? `"${String.fromCharCode(c)}"` : `0x${c.toString(16)}`;
}

/** What is wrong with a field name, or undefined (RFC 9110 §5.1, lowercase per §3.6). */
function nameProblem(name: Chars): string | undefined {
  if (name.length === 0) return "is empty";
  const bad = firstOutside(name, LOWER_TCHAR);
  if (bad < 0) return undefined;
  const c = codeAt(name, bad);
  return c >= 0x41 && c <= 0x5a
    ? `has uppercase ${describe(c)} at index ${bad} (names are lowercase)`
    : `has ${describe(c)} at index ${bad}, not a token character`;
}

/** What is wrong with a field value, or undefined (RFC 9110 §5.5 field-value). */
function valueProblem(value: Uint8Array): string | undefined {
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) {
      return `has control character ${describe(c)} at index ${i}`;
    }
  }
  const last = value.length - 1;
  if (last >= 0 && (isWhitespace(value[0]) || isWhitespace(value[last]))) {
    return "starts or ends with whitespace";
  }
  return undefined;
}

function isWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** What is wrong with one of the request control data (§3.4), or undefined. */
function controlProblem(part: ControlPart, s: Chars): string | undefined {
  let bad: number;
  if (part === "method") {
    if (s.length === 0) return "is empty";
    bad = firstOutside(s, TCHAR);
  } else if (part === "scheme") {
    if (s.length === 0) return undefined;
    const c = codeAt(s, 0) | 0x20;
    bad = c >= 0x61 && c <= 0x7a ? firstOutside(s, SCHEME_REST, 1) : 0;
  } else bad = firstOutside(s, VISIBLE);
  return bad < 0 ? undefined : `has ${describe(codeAt(s, bad))} at index ${bad}`;
}

type ControlPart = "method" | "scheme" | "authority" | "path";
const CONTROL_PARTS: readonly ControlPart[] = ["method", "scheme", "authority", "path"];

// ---------------------------------------------------------------------------------------------
// Decoding

/**
 * Reads a message, or one known-length section of it, front to back on the shared Reader
 * (protocol/reader.ts); every read checks its bounds and names what it reads, and offsets are in
 * the whole message.
 */
class MessageReader extends Reader {
  /** `section`: the known-length section these bytes are, at `base` in the message. */
  constructor(bytes: Uint8Array, readonly section?: string, base = 0) {
    super(
      bytes,
      section ?? "message",
      (failure, message, at) => new BhttpError(failure, message, at),
      base,
    );
  }

  /** The varint at the cursor, without moving past it. */
  #peek(what: string): DecodedVarint {
    try {
      return decodeVarint(this.bytes, this.pos);
    } catch (e) {
      if (!(e instanceof VarintError)) throw e;
      const end = this.base + this.bytes.length;
      const where = this.section ? ` (its section ends at byte ${end})` : "";
      throw new BhttpError(e.code, `${what}: ${e.detail}${where}`, this.base + (e.offset ?? 0));
    }
  }

  varint(what: string): number {
    const { value, length } = this.#peek(what);
    this.pos += length;
    return value;
  }

  /**
   * A varint length and that many bytes (a view). A length that runs past the end of the message
   * or section is reported at the byte where the length itself starts.
   */
  prefixed(what: string): Uint8Array {
    const start = this.at;
    const length = this.varint(`${what} length`);
    if (length > this.remaining) {
      throw new BhttpError(
        "length-past-end",
        `${what} of ${length} bytes runs past the end of its ${
          this.section ? "section" : "message"
        } (${this.remaining} left)`,
        start,
      );
    }
    return this.take(length, what);
  }

  /** A length-prefixed string of control data or a field name (validated, short). */
  ascii(what: string, problem: (s: Uint8Array) => string | undefined): string {
    const start = this.at;
    const raw = this.prefixed(what);
    const p = problem(raw);
    if (p) {
      const code = what === "field name" ? "invalid-field-name" : "invalid-control-data";
      throw new BhttpError(code, `${what} ${p}`, start);
    }
    return text.decode(raw); // validated ASCII: UTF-8 decoding is the identity
  }

  fieldLine(section: string): Field {
    const start = this.at;
    const name = this.ascii("field name", nameProblem);
    const what = `${section}: value of "${name}"`;
    const valueAt = this.at;
    const value = this.prefixed(what);
    const p = valueProblem(value);
    if (p) {
      throw new BhttpError(
        "invalid-field-value",
        `${what} (field line at byte ${start}) ${p}`,
        valueAt,
      );
    }
    return { name, value };
  }

  fieldSection(section: string, indeterminate: boolean): Field[] {
    const fields: Field[] = [];
    if (indeterminate) {
      // Field lines until a Content Terminator, a name length of 0 in any encoding (§3.6).
      for (;;) {
        if (this.done) {
          throw new BhttpError(
            "truncated",
            `${section} has no terminator: the message ends inside it`,
            this.at,
          );
        }
        const { value, length } = this.#peek(`${section}: field name length`);
        if (value === 0) {
          this.pos += length;
          return fields;
        }
        fields.push(this.fieldLine(section));
      }
    }
    const lines = this.prefixed(section);
    const r = new MessageReader(lines, section, this.at - lines.length);
    while (!r.done) fields.push(r.fieldLine(section));
    return fields;
  }

  content(indeterminate: boolean): { content: Uint8Array; chunks?: number[] } {
    if (!indeterminate) return { content: this.prefixed("content") };
    const parts: Uint8Array[] = [];
    for (;;) {
      const { value, length } = this.#peek(`content chunk ${parts.length} length`);
      if (value === 0) {
        this.pos += length;
        break;
      }
      parts.push(this.prefixed(`content chunk ${parts.length}`));
    }
    const chunks = parts.map((p) => p.length);
    if (parts.length <= 1) return { content: parts[0] ?? new Uint8Array(0), chunks };
    return { content: concat(...parts), chunks };
  }

  padding(): number {
    const start = this.at;
    const rest = this.take(this.remaining, "padding");
    const bad = rest.findIndex((b) => b !== 0);
    if (bad >= 0) {
      throw new BhttpError(
        "nonzero-padding",
        `byte 0x${rest[bad].toString(16)} after the end of the message: padding must be zero`,
        start + bad,
      );
    }
    return rest.length;
  }

  /** Header section, content, trailers and padding: the common tail of every message. */
  body(indeterminate: boolean): Body {
    let truncated: Truncation | undefined;
    let headers: Field[] = [];
    let content: Uint8Array = new Uint8Array(0);
    let chunks: number[] | undefined;
    let trailers: Field[] = [];
    if (this.done) truncated = "headers";
    else {
      headers = this.fieldSection("header section", indeterminate);
      if (this.done) truncated = "content";
      else {
        ({ content, chunks } = this.content(indeterminate));
        if (this.done) truncated = "trailers";
        else trailers = this.fieldSection("trailer section", indeterminate);
      }
    }
    const framing: Framing = {
      indeterminate,
      padding: this.padding(),
      ...(truncated && { truncated }),
      ...(chunks && !isDefaultChunking(chunks, content.length) && { chunks }),
    };
    return { headers, content, trailers, framing };
  }
}

interface Body {
  headers: Field[];
  content: Uint8Array;
  trailers: Field[];
  framing: Framing;
}

function isDefaultChunking(chunks: readonly number[], length: number): boolean {
  return length === 0 ? chunks.length === 0 : chunks.length === 1;
}

function framingIndicator(
  r: MessageReader,
  known: number,
  indeterminate: number,
  kind: string,
): boolean {
  const fi = r.varint("framing indicator");
  if (fi !== known && fi !== indeterminate) {
    const other = fi <= 3 ? `a ${fi % 2 === 0 ? "request" : "response"}` : "undefined";
    throw new BhttpError(
      "bad-framing",
      `framing indicator ${fi} is ${other}; a ${kind} is ${known} (known-length) or ${indeterminate} (indeterminate-length)`,
      0,
    );
  }
  return fi === indeterminate;
}

/** Decodes a request (framing indicator 0 or 2). The result's bytes are views into `bytes`. */
export function decodeRequest(bytes: Uint8Array): BhttpRequest {
  const r = new MessageReader(bytes);
  const indeterminate = framingIndicator(r, REQUEST_KNOWN, REQUEST_INDETERMINATE, "request");
  const control = {} as Record<ControlPart, string>;
  for (const part of CONTROL_PARTS) {
    control[part] = r.ascii(part, (s) => controlProblem(part, s));
  }
  return { ...control, ...r.body(indeterminate) };
}

/** Decodes a response (framing indicator 1 or 3). The result's bytes are views into `bytes`. */
export function decodeResponse(bytes: Uint8Array): BhttpResponse {
  const r = new MessageReader(bytes);
  const indeterminate = framingIndicator(r, RESPONSE_KNOWN, RESPONSE_INDETERMINATE, "response");
  const informational: InformationalResponse[] = [];
  for (;;) {
    const at = r.at;
    const status = r.varint("status code");
    if (status >= 200 && status <= 599) {
      return { informational, status, ...r.body(indeterminate) };
    }
    if (status < 100 || status > 599) {
      throw new BhttpError(
        "invalid-status",
        `status code ${status} is neither informational (100..199) nor final (200..599)`,
        at,
      );
    }
    const section = `informational response ${informational.length} (${status}) field section`;
    if (r.done) {
      throw new BhttpError("truncated", `${section} missing: the message ends after it`, r.at);
    }
    informational.push({ status, headers: r.fieldSection(section, indeterminate) });
    if (r.done) {
      throw new BhttpError(
        "truncated",
        "the message ends before the final response (status 200..599)",
        r.at,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding

/**
 * Writes into `out`, or only counts when `out` is undefined: each encoder runs twice, once to
 * size the output and once to fill it, so the plaintext is copied exactly once.
 */
class Writer {
  at = 0;
  constructor(readonly out?: Uint8Array) {}

  varint(value: number): void {
    if (this.out) this.at = writeVarint(this.out, this.at, value);
    else this.at += varintSize(value);
  }

  bytes(b: Uint8Array): void {
    this.out?.set(b, this.at);
    this.at += b.length;
  }

  /** A validated ASCII string with its length prefix. */
  ascii(s: string): void {
    this.varint(s.length);
    if (this.out) { for (let i = 0; i < s.length; i++) this.out[this.at + i] = s.charCodeAt(i); }
    this.at += s.length;
  }

  fields(fields: readonly Field[], indeterminate: boolean): void {
    if (!indeterminate) this.varint(fieldLinesSize(fields));
    for (const f of fields) {
      this.ascii(f.name);
      this.varint(f.value.length);
      this.bytes(f.value);
    }
    if (indeterminate) this.varint(0);
  }

  content(content: Uint8Array, framing: Framing): void {
    if (!framing.indeterminate) {
      this.varint(content.length);
      this.bytes(content);
      return;
    }
    let at = 0;
    for (const length of chunking(content, framing)) {
      this.varint(length);
      this.bytes(content.subarray(at, at + length));
      at += length;
    }
    this.varint(0);
  }

  body(m: Omit<BhttpRequest, "method" | "scheme" | "authority" | "path">, framing: Framing): void {
    const t = framing.truncated;
    if (t !== "headers") {
      this.fields(m.headers, framing.indeterminate);
      if (t !== "content") {
        this.content(m.content, framing);
        if (t !== "trailers") this.fields(m.trailers, framing.indeterminate);
      }
    }
    this.at += framing.padding; // a fresh buffer is already zero
  }
}

function fieldLinesSize(fields: readonly Field[]): number {
  let size = 0;
  for (const f of fields) {
    size += varintSize(f.name.length) + f.name.length + varintSize(f.value.length) +
      f.value.length;
  }
  return size;
}

function chunking(content: Uint8Array, framing: Framing): readonly number[] {
  return framing.chunks ?? (content.length === 0 ? [] : [content.length]);
}

function encode(emit: (w: Writer) => void): Uint8Array {
  const count = new Writer();
  emit(count);
  const w = new Writer(new Uint8Array(count.at));
  emit(w);
  return w.out!;
}

function checkFields(fields: readonly Field[], section: string): void {
  fields.forEach((f, i) => {
    const p = nameProblem(f.name);
    if (p) throw new BhttpError("invalid-field-name", `${section} field ${i}: name ${p}`);
    const v = valueProblem(f.value);
    if (v) throw new BhttpError("invalid-field-value", `${section} field "${f.name}": value ${v}`);
  });
}

/** Checks a message's sections and framing agree; returns the framing to encode with. */
function checkBody(
  m: Omit<BhttpRequest, "method" | "scheme" | "authority" | "path">,
): Framing {
  const framing = m.framing ?? KNOWN_LENGTH;
  checkFields(m.headers, "header section");
  checkFields(m.trailers, "trailer section");
  if (!Number.isSafeInteger(framing.padding) || framing.padding < 0) {
    throw new BhttpError("invalid-framing", `padding ${framing.padding} is not a byte count`);
  }
  const t = framing.truncated;
  if (t) {
    for (const section of SECTIONS.slice(SECTIONS.indexOf(t))) {
      if (m[section].length !== 0) {
        throw new BhttpError("invalid-framing", `truncated at ${t} but ${section} is not empty`);
      }
    }
    // Zero bytes after a truncated message would read as the sections it left out (§3.8).
    if (framing.padding > 0) {
      throw new BhttpError("invalid-framing", "a truncated message cannot also be padded");
    }
  }
  if (framing.chunks) {
    if (!framing.indeterminate) {
      throw new BhttpError("invalid-framing", "content chunks need indeterminate-length framing");
    }
    let sum = 0;
    for (const c of framing.chunks) {
      if (!Number.isSafeInteger(c) || c < 1) {
        throw new BhttpError("invalid-framing", `content chunk length ${c} is not 1 or more`);
      }
      sum += c;
    }
    if (sum !== m.content.length) {
      throw new BhttpError(
        "invalid-framing",
        `content chunks add up to ${sum} bytes but the content has ${m.content.length}`,
      );
    }
  }
  return framing;
}

/** Encodes a request; `framing` defaults to known-length, complete and unpadded. */
export function encodeRequest(req: BhttpRequest): Uint8Array {
  for (const part of CONTROL_PARTS) {
    const p = controlProblem(part, req[part]);
    if (p) throw new BhttpError("invalid-control-data", `${part} ${p}`);
  }
  const framing = checkBody(req);
  return encode((w) => {
    w.varint(framing.indeterminate ? REQUEST_INDETERMINATE : REQUEST_KNOWN);
    for (const part of CONTROL_PARTS) w.ascii(req[part]);
    w.body(req, framing);
  });
}

/** Encodes a response; `framing` defaults to known-length, complete and unpadded. */
export function encodeResponse(res: BhttpResponse): Uint8Array {
  res.informational.forEach((r, i) => {
    if (!Number.isInteger(r.status) || r.status < 100 || r.status > 199) {
      throw new BhttpError(
        "invalid-status",
        `informational response ${i} has status ${r.status}, not 100..199`,
      );
    }
    checkFields(r.headers, `informational response ${i}`);
  });
  if (!Number.isInteger(res.status) || res.status < 200 || res.status > 599) {
    throw new BhttpError("invalid-status", `final status ${res.status} is not 200..599`);
  }
  const framing = checkBody(res);
  return encode((w) => {
    w.varint(framing.indeterminate ? RESPONSE_INDETERMINATE : RESPONSE_KNOWN);
    for (const r of res.informational) {
      w.varint(r.status);
      w.fields(r.headers, framing.indeterminate);
    }
    w.varint(res.status);
    w.body(res, framing);
  });
}
