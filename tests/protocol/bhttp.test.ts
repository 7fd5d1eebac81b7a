import assert from "node:assert/strict";
import {
  BhttpError,
  type BhttpRequest,
  type BhttpResponse,
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  field,
  fieldText,
  fieldValue,
  wipeMessage,
} from "../../protocol/bhttp.ts";
import { concat, fromHex, isZero, toHex, utf8 } from "../../protocol/bytes.ts";
import { vectorPath } from "../vectors.ts";

const examples = JSON.parse(
  Deno.readTextFileSync(vectorPath("protocols/bhttp/rfc9292-examples.json")),
) as { cases: { name: string; hex: string }[] };
const example = (name: string) => fromHex(examples.cases.find((c) => c.name === name)!.hex);

/** Builds bytes from hex pieces and `"quoted"` ASCII pieces, each ASCII piece length-prefixed. */
function wire(...parts: string[]): Uint8Array {
  return concat(
    ...parts.map((p) =>
      p.startsWith('"') ? concat(Uint8Array.of(p.length - 2), utf8(p.slice(1, -1))) : fromHex(p)
    ),
  );
}

function refused(fn: () => unknown, code: string, offset?: number, text?: RegExp): void {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof BhttpError, `expected BhttpError, got ${e}`);
    assert.equal(e.code, code, e.message);
    assert.equal(e.offset, offset, e.message);
    if (text) assert.match(e.message, text);
    return true;
  });
}

const GET = ['"GET"', '"https"', '"example.com"', '"/"'];

function request(overrides: Partial<BhttpRequest> = {}): BhttpRequest {
  return {
    method: "POST",
    scheme: "https",
    authority: "gateway.example",
    path: "/v1/summarize",
    headers: [field("Content-Type", "application/json"), field("authorization", "PrivateToken x")],
    content: utf8('{"text":"hello"}'),
    trailers: [],
    ...overrides,
  };
}

function response(overrides: Partial<BhttpResponse> = {}): BhttpResponse {
  return {
    informational: [],
    status: 200,
    headers: [field("content-type", "application/json")],
    content: utf8('{"summary":"hi"}'),
    trailers: [field("server-timing", "total;dur=12")],
    ...overrides,
  };
}

Deno.test("requests round-trip in every framing: known, indeterminate, chunked, padded, truncated", () => {
  const framings = [
    undefined,
    { indeterminate: false, padding: 0 },
    { indeterminate: true, padding: 0 },
    { indeterminate: false, padding: 17 },
    { indeterminate: true, padding: 3, chunks: [1, 15] },
    { indeterminate: true, padding: 0, chunks: [4, 4, 4, 4] },
  ];
  for (const framing of framings) {
    const req = request({ framing });
    const bytes = encodeRequest(req);
    const back = decodeRequest(bytes);
    assert.deepEqual({ ...back, framing: undefined }, { ...req, framing: undefined });
    assert.deepEqual(back.framing, framing ?? { indeterminate: false, padding: 0 });
    assert.equal(toHex(encodeRequest(back)), toHex(bytes));
  }
  const empty = request({ headers: [], content: new Uint8Array(0) });
  for (const truncated of ["headers", "content", "trailers"] as const) {
    for (const indeterminate of [false, true]) {
      const m = {
        ...(truncated === "headers" ? empty : { ...empty, headers: request().headers }),
        framing: { indeterminate, padding: 0, truncated },
      };
      const bytes = encodeRequest(m);
      assert.deepEqual(decodeRequest(bytes), m);
    }
  }
});

Deno.test("responses round-trip with informational responses and trailers", () => {
  const res = response({
    informational: [
      { status: 100, headers: [] },
      { status: 103, headers: [field("link", "</a.css>; rel=preload")] },
    ],
  });
  for (const indeterminate of [false, true]) {
    const m = { ...res, framing: { indeterminate, padding: 2 } };
    const bytes = encodeResponse(m);
    assert.equal(bytes[0], indeterminate ? 3 : 1);
    assert.deepEqual(decodeResponse(bytes), m);
  }
});

Deno.test("RFC 9292 §3.8 truncation and padding of the examples (the vectors' notes)", () => {
  const bink = example("ex-bink-request");
  const bini = example("ex-bini-request");
  const whole = decodeRequest(bink);
  for (const cut of [1, 2]) {
    const m = decodeRequest(bink.subarray(0, bink.length - cut));
    assert.deepEqual(m.headers, whole.headers);
    assert.equal(m.framing?.truncated, cut === 1 ? "trailers" : "content");
  }
  refused(() => decodeRequest(bink.subarray(0, bink.length - 3)), "length-past-end", 23);
  assert.equal(decodeRequest(bini).framing?.padding, 10);
  for (let cut = 1; cut <= 12; cut++) {
    assert.deepEqual(decodeRequest(bini.subarray(0, bini.length - cut)).headers, whole.headers);
  }
  refused(() => decodeRequest(bini.subarray(0, bini.length - 13)), "truncated", 131);
});

Deno.test("non-minimal varints are accepted anywhere, terminators included", () => {
  // framing indicator 2 as 0x4002, method length as 0x4003, header terminator as 0x4000,
  // content chunk terminator as 0x80000000, trailer terminator as 0x4000.
  const bytes = wire("4002", "4003", "474554", '"https"', '""', '"/"', "4000", "80000000", "4000");
  const m = decodeRequest(bytes);
  assert.equal(m.method, "GET");
  assert.deepEqual(m.headers, []);
  assert.deepEqual(m.framing, { indeterminate: true, padding: 0 });
  // Re-encoding writes the shortest forms (documented limit of byte-exactness).
  assert.equal(toHex(encodeRequest(m)), "020347455405687474707300012f000000");
});

Deno.test("decoding copies nothing: content and values are views of the input", () => {
  const bytes = encodeRequest(request());
  const m = decodeRequest(bytes);
  assert.equal(m.content.buffer, bytes.buffer);
  assert.equal(m.headers[1].value.buffer, bytes.buffer);
  assert.equal(fieldText(m.headers, "authorization"), "PrivateToken x");
  assert.equal(fieldValue(m.headers, "absent"), undefined);
});

Deno.test("wipeMessage zeroes content and every field value, joined chunks included", () => {
  const bytes = encodeRequest(
    request({
      trailers: [field("digest", "sha-256=abc")],
      framing: { indeterminate: true, padding: 0, chunks: [8, 8] },
    }),
  );
  const m = decodeRequest(bytes);
  const joined = m.content;
  assert.notEqual(joined.buffer, bytes.buffer);
  wipeMessage(m);
  assert.ok(isZero(joined));
  for (const f of [...m.headers, ...m.trailers]) assert.ok(isZero(f.value));
  const res = decodeResponse(
    encodeResponse(response({ informational: [{ status: 103, headers: [field("link", "<x>")] }] })),
  );
  wipeMessage(res);
  assert.ok(isZero(res.informational[0].headers[0].value));
  assert.ok(isZero(res.content));
});

Deno.test("framing indicators: wrong kind, undefined, missing", () => {
  refused(() => decodeRequest(fromHex("0140c8")), "bad-framing", 0, /is a response/);
  refused(() => decodeResponse(wire("00", ...GET)), "bad-framing", 0, /is a request/);
  refused(() => decodeRequest(fromHex("04")), "bad-framing", 0, /undefined/);
  refused(() => decodeRequest(new Uint8Array(0)), "truncated", 0, /framing indicator/);
  refused(() => decodeRequest(fromHex("c020000000000000")), "too-large", 0);
});

Deno.test("truncated and over-long lengths name the part and the byte", () => {
  // GET https://example.com/ takes bytes 1..24; the header section starts at 25.
  refused(() => decodeRequest(fromHex("0003474554")), "truncated", 5, /scheme length/);
  refused(() => decodeRequest(fromHex("00034745")), "length-past-end", 1, /method of 3 bytes/);
  refused(() => decodeRequest(wire("00", ...GET, "40")), "truncated", 25, /header section length/);
  refused(() => decodeRequest(wire("00", ...GET, "05", '"ab"')), "length-past-end", 25);
  // A field line may not run past the end of its known-length section.
  refused(
    () => decodeRequest(wire("00", ...GET, "04", '"ab"', "05", "68656c6c6f")),
    "length-past-end",
    29,
    /value of "ab" of 5 bytes runs past the end of its section \(0 left\)/,
  );
  refused(
    () => decodeRequest(wire("00", ...GET, "04", '"ab"', "4001")),
    "truncated",
    29,
    /section ends at byte 30/,
  );
  refused(() => decodeRequest(wire("00", ...GET, "00", "0a", "6869")), "length-past-end", 26);
  refused(() => decodeRequest(wire("02", ...GET, '"ab"', '"c"')), "truncated", 30, /no terminator/);
  refused(() => decodeRequest(wire("02", ...GET, "00", "03", "6869")), "length-past-end", 26);
  refused(
    () => decodeRequest(wire("02", ...GET, "00", "02", "6869")),
    "truncated",
    29,
    /content chunk 1 length/,
  );
});

Deno.test("field names: empty, uppercase, non-token characters", () => {
  refused(() => decodeRequest(wire("00", ...GET, "02", "00", "00")), "invalid-field-name", 26);
  refused(
    () => decodeRequest(wire("00", ...GET, "04", '"Ab"', "00")),
    "invalid-field-name",
    26,
    /uppercase "A"/,
  );
  refused(
    () => decodeRequest(wire("02", ...GET, '"a:b"', '"c"', "00")),
    "invalid-field-name",
    25,
    /":" at index 1/,
  );
  refused(() => decodeRequest(wire("02", ...GET, '"a b"', '""', "00")), "invalid-field-name", 25);
  refused(
    () => encodeRequest(request({ headers: [{ name: "X", value: utf8("y") }] })),
    "invalid-field-name",
  );
  refused(() => encodeRequest(request({ headers: [field("", "y")] })), "invalid-field-name");
});

Deno.test("field values: CR, LF, NUL, other controls, surrounding whitespace", () => {
  for (const bad of ["a\rb", "a\nb", "a\0b", "a\x7fb", "\x01", " a", "a\t"]) {
    const bytes = wire("02", ...GET, '"x"', `"${bad}"`, "00");
    refused(() => decodeRequest(bytes), "invalid-field-value", 27, /value of "x"/);
    refused(() => encodeRequest(request({ headers: [field("x", bad)] })), "invalid-field-value");
  }
  // HTAB inside, obs-text and an empty value are valid.
  const ok = decodeRequest(wire("02", ...GET, '"x"', '"a\tb"', '"y"', "02c3a9", '"z"', '""', "00"));
  assert.deepEqual(ok.headers.map((f) => f.value.length), [3, 2, 0]);
});

Deno.test("request control data: method, scheme, authority and path", () => {
  refused(() => decodeRequest(wire("00", '""', '"https"', '""', '"/"')), "invalid-control-data", 1);
  refused(
    () => decodeRequest(wire("00", '"G T"', '"https"', '""', '"/"')),
    "invalid-control-data",
    1,
    /method has 0x20 at index 1/,
  );
  refused(
    () => decodeRequest(wire("00", '"GET"', '"1http"', '""', '"/"')),
    "invalid-control-data",
    5,
    /scheme/,
  );
  refused(
    () => decodeRequest(wire("00", '"GET"', '"https"', '"a b"', '"/"')),
    "invalid-control-data",
    11,
    /authority/,
  );
  refused(
    () => decodeRequest(wire("00", '"GET"', '"https"', '""', '"/\x7f"')),
    "invalid-control-data",
    12,
    /path/,
  );
  refused(() => encodeRequest(request({ path: "/a b" })), "invalid-control-data");
  refused(() => encodeRequest(request({ method: "" })), "invalid-control-data");
  refused(() => encodeRequest(request({ scheme: "h_t" })), "invalid-control-data");
  assert.equal(decodeRequest(wire("00", '"CONNECT"', '""', '"a:443"', '""')).authority, "a:443");
});

Deno.test("status codes: informational 100..199, final 200..599, final required", () => {
  refused(() => decodeResponse(fromHex("014063")), "invalid-status", 1, /99/);
  refused(() => decodeResponse(fromHex("014258")), "invalid-status", 1, /600/);
  refused(() => decodeResponse(fromHex("014064")), "truncated", 3, /informational response 0/);
  refused(() => decodeResponse(fromHex("01406400")), "truncated", 4, /before the final response/);
  refused(() => decodeResponse(fromHex("0340640140c8")), "invalid-field-name", 3);
  refused(() => decodeResponse(fromHex("01")), "truncated", 1, /status code/);
  refused(() => encodeResponse(response({ status: 199 })), "invalid-status");
  refused(() => encodeResponse(response({ status: 600 })), "invalid-status");
  refused(
    () => encodeResponse(response({ informational: [{ status: 200, headers: [] }] })),
    "invalid-status",
  );
  const m = decodeResponse(fromHex("0140640040c8"));
  assert.deepEqual(m.informational, [{ status: 100, headers: [] }]);
  assert.equal(m.framing?.truncated, "headers");
});

Deno.test("padding must be zero; the first non-zero byte is named", () => {
  const bytes = concat(
    encodeResponse(response({ framing: { indeterminate: true, padding: 0 } })),
    fromHex("000001"),
  );
  refused(() => decodeResponse(bytes), "nonzero-padding", bytes.length - 1, /0x1/);
});

Deno.test("encoding refuses framing that contradicts the message", () => {
  const trunc = (truncated: "headers" | "content" | "trailers", m: Partial<BhttpRequest> = {}) =>
    request({ ...m, framing: { indeterminate: false, padding: 0, truncated } });
  refused(
    () => encodeRequest(trunc("headers", { content: new Uint8Array(0) })),
    "invalid-framing",
    undefined,
    /headers is not empty/,
  );
  refused(
    () => encodeRequest(trunc("content")),
    "invalid-framing",
    undefined,
    /content is not empty/,
  );
  refused(
    () => encodeRequest(trunc("trailers", { trailers: [field("a", "b")] })),
    "invalid-framing",
  );
  refused(
    () =>
      encodeRequest(
        request({
          trailers: [],
          content: new Uint8Array(0),
          framing: { indeterminate: false, padding: 1, truncated: "trailers" },
        }),
      ),
    "invalid-framing",
    undefined,
    /cannot also be padded/,
  );
  refused(
    () => encodeRequest(request({ framing: { indeterminate: false, padding: 0, chunks: [16] } })),
    "invalid-framing",
  );
  refused(
    () => encodeRequest(request({ framing: { indeterminate: true, padding: 0, chunks: [15] } })),
    "invalid-framing",
    undefined,
    /add up to 15/,
  );
  refused(
    () => encodeRequest(request({ framing: { indeterminate: true, padding: 0, chunks: [0, 16] } })),
    "invalid-framing",
  );
  refused(
    () => encodeRequest(request({ framing: { indeterminate: true, padding: -1 } })),
    "invalid-framing",
  );
});
