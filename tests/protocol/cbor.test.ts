import assert from "node:assert/strict";
import { Decoder } from "cbor-x";
import { CborError, type CborValue, decodeCbor, encodeCbor } from "../../protocol/cbor.ts";
import { fromHex, toHex } from "../../protocol/bytes.ts";
import { Prng } from "../fuzz.ts";
import { randomCbor } from "./fuzz_targets.ts";

function refused(hex: string, code: string, offset: number, options = {}): void {
  assert.throws(() => decodeCbor(fromHex(hex), options), (e) => {
    assert.ok(e instanceof CborError, `${hex}: expected CborError, got ${e}`);
    assert.equal(e.code, code, `${hex}: ${e.message}`);
    assert.equal(e.offset, offset, `${hex}: ${e.message}`);
    return true;
  }, `${hex} was accepted`);
}

function encodeRefused(value: unknown, code: string): void {
  assert.throws(() => encodeCbor(value as CborValue), (e) => {
    assert.ok(e instanceof CborError, `expected CborError, got ${e}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

const map = (...entries: [string | number | bigint, CborValue][]) => new Map(entries);

// RFC 8949 Appendix A, every example in the supported subset (no floats, tags or undefined).
const APPENDIX_A: [CborValue, string][] = [
  [0, "00"],
  [1, "01"],
  [10, "0a"],
  [23, "17"],
  [24, "1818"],
  [25, "1819"],
  [100, "1864"],
  [1000, "1903e8"],
  [1000000, "1a000f4240"],
  [1000000000000, "1b000000e8d4a51000"],
  [18446744073709551615n, "1bffffffffffffffff"],
  [-18446744073709551616n, "3bffffffffffffffff"],
  [-1, "20"],
  [-10, "29"],
  [-100, "3863"],
  [-1000, "3903e7"],
  [false, "f4"],
  [true, "f5"],
  [null, "f6"],
  [new Uint8Array(0), "40"],
  [Uint8Array.of(1, 2, 3, 4), "4401020304"],
  ["", "60"],
  ["a", "6161"],
  ["IETF", "6449455446"],
  ['"\\', "62225c"],
  ["\u00fc", "62c3bc"],
  ["\u6c34", "63e6b0b4"],
  ["\u{10151}", "64f0908591"],
  [[], "80"],
  [[1, 2, 3], "83010203"],
  [[1, [2, 3], [4, 5]], "8301820203820405"],
  [
    Array.from({ length: 25 }, (_, i) => i + 1),
    "98190102030405060708090a0b0c0d0e0f101112131415161718181819",
  ],
  [new Map(), "a0"],
  [map([1, 2], [3, 4]), "a201020304"],
  [map(["a", 1], ["b", [2, 3]]), "a26161016162820203"],
  [["a", map(["b", "c"])], "826161a161626163"],
  [
    map(["a", "A"], ["b", "B"], ["c", "C"], ["d", "D"], ["e", "E"]),
    "a56161614161626142616361436164614461656145",
  ],
];

Deno.test("RFC 8949 appendix A examples encode and strictly decode", () => {
  for (const [value, hex] of APPENDIX_A) {
    assert.equal(toHex(encodeCbor(value)), hex, `encode ${hex}`);
    assert.deepEqual(decodeCbor(fromHex(hex)), value, `decode ${hex}`);
  }
});

Deno.test("map keys sort by their encoded bytes (§4.2.1), not by insertion or value", () => {
  // §4.2.1's own ordering example, restricted to integer and text keys.
  const m = map(["aa", 5], ["z", 4], [-1, 3], [100, 2], [10, 1]);
  const bytes = encodeCbor(m);
  assert.equal(toHex(bytes), "a50a011864022003617a0462616105");
  assert.deepEqual([...(decodeCbor(bytes) as Map<unknown, unknown>).keys()], [
    10,
    100,
    -1,
    "z",
    "aa",
  ]);
  encodeRefused(map([1, 0], [1n, 0]), "duplicate-key");
});

Deno.test("integers: number while safe, bigint beyond, 64-bit limits both ways", () => {
  const cases: [number | bigint, string][] = [
    [2 ** 53 - 1, "1b001fffffffffffff"],
    [2n ** 53n, "1b0020000000000000"],
    [-(2 ** 53 - 1), "3b001ffffffffffffe"],
    [-(2n ** 53n), "3b001fffffffffffff"],
    [4294967295, "1affffffff"],
    [4294967296, "1b0000000100000000"],
    [65535, "19ffff"],
    [65536, "1a00010000"],
    [255, "18ff"],
    [256, "190100"],
  ];
  for (const [v, hex] of cases) {
    assert.equal(toHex(encodeCbor(v)), hex);
    assert.equal(decodeCbor(fromHex(hex)), v);
  }
  assert.equal(decodeCbor(encodeCbor(5n)), 5); // a small bigint decodes as a number
  encodeRefused(2n ** 64n, "out-of-range");
  encodeRefused(-(2n ** 64n) - 1n, "out-of-range");
  encodeRefused(1.5, "invalid-value");
  encodeRefused(2 ** 53, "invalid-value");
  encodeRefused(Number.NaN, "invalid-value");
});

Deno.test("text keeps a leading BOM and refuses lone surrogates", () => {
  assert.equal(decodeCbor(encodeCbor("\ufeffa")), "\ufeffa");
  encodeRefused("a\ud800", "invalid-value");
  refused("62c328", "invalid-utf8", 0);
  refused("63eda080", "invalid-utf8", 0); // an encoded surrogate is not UTF-8
});

Deno.test("values outside the subset are refused when encoding", () => {
  encodeRefused(undefined, "invalid-value");
  encodeRefused({ a: 1 }, "invalid-value");
  encodeRefused(new Uint16Array(2), "invalid-value");
  encodeRefused(new Map([[new Uint8Array(1), 1]]), "unsupported-key");
  encodeRefused(new Map([[true, 1]]), "unsupported-key");
  const deep: CborValue[] = [];
  let at = deep;
  for (let i = 0; i < 16; i++) at.push(at = []);
  encodeRefused(deep, "too-deep");
  assert.equal(encodeCbor(deep, { maxDepth: 17 }).length, 17);
});

Deno.test("the strict decoder refuses every non-deterministic or malformed form, at its offset", () => {
  // Arguments longer than needed (§4.2.1 preferred serialization).
  refused("1817", "non-minimal", 0);
  refused("190017", "non-minimal", 0);
  refused("1900ff", "non-minimal", 0);
  refused("1a0000ffff", "non-minimal", 0);
  refused("1b00000000ffffffff", "non-minimal", 0);
  refused("3817", "non-minimal", 0);
  refused("580100", "non-minimal", 0);
  refused("8278000000", "non-minimal", 1);
  refused("a1b80000", "unsupported-key", 1);
  refused("f800", "non-minimal", 0);
  // Indefinite lengths, break and reserved additional information.
  refused("5f4101ff", "indefinite-length", 0);
  refused("7fff", "indefinite-length", 0);
  refused("9fff", "indefinite-length", 0);
  refused("bfff", "indefinite-length", 0);
  refused("ff", "indefinite-length", 0);
  refused("1f", "indefinite-length", 0);
  refused("1c", "reserved", 0);
  refused("1d", "reserved", 0);
  refused("3e", "reserved", 0);
  refused("fc", "reserved", 0);
  // Outside the subset.
  refused("c074323031332d30332d32315432303a30343a30305a", "unsupported", 0);
  refused("f7", "unsupported", 0);
  refused("f0", "unsupported", 0);
  refused("f820", "unsupported", 0);
  refused("f93c00", "unsupported", 0);
  refused("fa47c35000", "unsupported", 0);
  refused("fb3ff199999999999a", "unsupported", 0);
  refused("a14100f6", "unsupported-key", 1);
  refused("a18000f6", "unsupported-key", 1);
  refused("a1f4f6", "unsupported-key", 1);
  // Map key order and duplicates.
  refused("a202000100", "unsorted-keys", 3);
  refused("a201000100", "duplicate-key", 3);
  refused("a2617a00200a", "unsorted-keys", 4);
  refused("a2626161006162", "unsorted-keys", 5);
  // Truncation, lengths past the end, trailing bytes.
  refused("", "truncated", 0);
  refused("18", "truncated", 0);
  refused("1900", "truncated", 0);
  refused("82010203", "trailing-bytes", 3);
  refused("8201", "length-past-end", 0);
  refused("a101", "length-past-end", 0);
  refused("811a0001", "truncated", 1);
  refused("6261", "length-past-end", 0);
  refused("43010203ff", "trailing-bytes", 4);
  refused("5affffffff00", "length-past-end", 0);
  refused("9affffffff00", "length-past-end", 0);
  refused("bb000000010000000000", "length-past-end", 0);
  refused("a3010203", "length-past-end", 0);
  refused("5b0000000100000000", "length-past-end", 0);
  refused("5bffffffffffffffff", "length-past-end", 0);
  refused("f8", "truncated", 0);
});

Deno.test("nesting is bounded by maxDepth", () => {
  const deep = "81".repeat(17) + "00";
  refused(deep, "too-deep", 16);
  assert.ok(decodeCbor(fromHex(deep), { maxDepth: 17 }));
  refused("a101a101a10100", "too-deep", 4, { maxDepth: 2 });
  assert.ok(decodeCbor(fromHex("a101a10100"), { maxDepth: 2 }));
});

Deno.test("byte strings decode as views of the input", () => {
  const bytes = fromHex("824201024103");
  const [a] = decodeCbor(bytes) as Uint8Array[];
  assert.equal(a.buffer, bytes.buffer);
  assert.deepEqual(a, Uint8Array.of(1, 2));
});

Deno.test("cross-check with cbor-x: it decodes our encodings to the same values", () => {
  const cborx = new Decoder({ mapsAsObjects: false, useRecords: false });
  const prng = new Prng(0xcb0c);
  for (let i = 0; i < 2000; i++) {
    const value = randomCbor(prng, 3);
    const bytes = encodeCbor(value);
    const decoded = decodeCbor(bytes);
    assert.deepEqual(decoded, value);
    assert.equal(toHex(encodeCbor(decoded)), toHex(bytes));
    assert.deepEqual(normalise(cborx.decode(bytes)), normalise(decoded), toHex(bytes));
  }
});

/** cbor-x returns 64-bit integers as bigint and byte strings as Buffer: compare by value. */
function normalise(v: unknown): unknown {
  if (typeof v === "bigint") return v >= -(2n ** 53n) && v < 2n ** 53n ? Number(v) : v;
  if (v instanceof Uint8Array) return toHex(v);
  if (Array.isArray(v)) return v.map(normalise);
  if (v instanceof Map) return [...v].map(([k, x]) => [normalise(k), normalise(x)]);
  return v;
}
