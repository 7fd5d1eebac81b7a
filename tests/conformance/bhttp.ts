/**
 * Binary HTTP (RFC 9292) conformance: every example decodes to the message the vectors state and
 * encodes back to the same bytes; and every shorter prefix of it either decodes to the message
 * with its trailing sections left out (a truncation §3.8 allows) or is refused with a BhttpError.
 * `path` is a vectors file with `cases`, or a folder whose manifest.json lists such files.
 */
import {
  BhttpError,
  type BhttpRequest,
  type BhttpResponse,
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  type Field,
} from "../../protocol/bhttp.ts";
import { fromHex, toHex } from "../../protocol/bytes.ts";
import { type CaseResult, check, readJson, type Suite, vectorFiles } from "./harness.ts";
import { isDeepStrictEqual } from "node:util";

interface Expected {
  framing_indicator: number;
  control_data?: { method: string; scheme: string; authority: string; path: string };
  informational?: { status: number; fields: [string, string][] }[];
  status?: number;
  header_fields: [string, string][];
  content_utf8: string;
  trailer_fields: [string, string][];
  truncated_after?: string[];
  padding_bytes: number;
}

interface Case {
  name: string;
  framing: string;
  hex: string;
  length?: number;
  decoded: Expected;
}

type Message = BhttpRequest | BhttpResponse;

const utf8 = new TextDecoder();
const pairs = (fields: Field[]) => fields.map((f) => [f.name, utf8.decode(f.value)]);

/** The message in the vectors' terms, so the comparison is field by field. */
function asExpected(m: Message): Expected {
  const f = m.framing!;
  const isRequest = "method" in m;
  const omitted = ["header_fields", "content_utf8", "trailer_fields"];
  const out: Expected = {
    framing_indicator: (isRequest ? 0 : 1) + (f.indeterminate ? 2 : 0),
    header_fields: pairs(m.headers) as [string, string][],
    content_utf8: utf8.decode(m.content),
    trailer_fields: pairs(m.trailers) as [string, string][],
    padding_bytes: f.padding,
  };
  if (isRequest) {
    const { method, scheme, authority, path } = m;
    out.control_data = { method, scheme, authority, path };
  } else {
    out.informational = m.informational.map((r) => ({
      status: r.status,
      fields: pairs(r.headers) as [string, string][],
    }));
    out.status = m.status;
  }
  if (f.truncated) {
    out.truncated_after = omitted.slice(["headers", "content", "trailers"].indexOf(f.truncated));
  }
  return out;
}

/** The meaning of a message: what it says, not how it is framed. */
function meaning(m: Message): Record<string, unknown> {
  const { framing_indicator, padding_bytes: _p, truncated_after: _t, ...rest } = asExpected(m);
  return { kind: framing_indicator % 2, ...rest };
}

function differences(
  got: Record<string, unknown>,
  want: Record<string, unknown>,
): string | undefined {
  const keys = new Set([...Object.keys(got), ...Object.keys(want)]);
  const bad = [...keys].filter((k) => !isDeepStrictEqual(got[k], want[k]));
  return bad.length === 0
    ? undefined
    : bad.map((k) => `${k}: got ${JSON.stringify(got[k])}, want ${JSON.stringify(want[k])}`).join(
      "; ",
    );
}

function* runCase(c: Case, file: string): Iterable<CaseResult> {
  const isRequest = c.framing.includes("request");
  const decode = (b: Uint8Array): Message => isRequest ? decodeRequest(b) : decodeResponse(b);
  const encode = (m: Message) =>
    isRequest ? encodeRequest(m as BhttpRequest) : encodeResponse(m as BhttpResponse);
  const bytes = fromHex(c.hex);
  const label = `${file} ${c.name}`;

  yield check(`${label} decode`, () => {
    if (c.length !== undefined && c.length !== bytes.length) {
      return `vector says ${c.length} bytes, hex has ${bytes.length}`;
    }
    return differences({ ...asExpected(decode(bytes)) }, { ...c.decoded });
  });
  yield check(`${label} re-encode`, () => {
    const again = toHex(encode(decode(bytes)));
    if (again !== c.hex) return `re-encoded to ${again}`;
  });
  yield check(`${label} prefixes`, () => {
    const whole = meaning(decode(bytes));
    for (let n = bytes.length - 1; n >= 0; n--) {
      let m: Message;
      try {
        m = decode(bytes.subarray(0, n));
      } catch (e) {
        if (e instanceof BhttpError) continue;
        throw e;
      }
      const why = notATruncationOf(meaning(m), whole);
      if (why) return `first ${n} bytes decode to another message: ${why}`;
    }
  });
}

const TAIL = ["header_fields", "content_utf8", "trailer_fields"];

/**
 * A prefix that decodes must be the whole message with its trailing sections left out (§3.8):
 * the same up to some section, and empty from there on.
 */
function notATruncationOf(
  part: Record<string, unknown>,
  whole: Record<string, unknown>,
): string | undefined {
  const lost = TAIL.findIndex((k) => !isDeepStrictEqual(part[k], whole[k]));
  const expected = { ...whole };
  if (lost >= 0) { for (const k of TAIL.slice(lost)) expected[k] = k === "content_utf8" ? "" : []; }
  return differences(part, expected);
}

const suite: Suite = function* (path: string) {
  for (const file of vectorFiles(path)) {
    const { cases } = readJson(file) as { cases?: Case[] };
    if (!Array.isArray(cases)) throw new Error(`${file} has no "cases" list`);
    const name = file.slice(file.lastIndexOf("/") + 1);
    for (const c of cases) yield* runCase(c, name);
  }
};

export default suite;
