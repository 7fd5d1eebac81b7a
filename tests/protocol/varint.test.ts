import assert from "node:assert/strict";
import {
  decodeVarint,
  encodeVarint,
  VarintError,
  varintLength,
  varintSize,
  writeVarint,
} from "../../protocol/varint.ts";
import { fromHex, toHex } from "../../protocol/bytes.ts";

function refused(fn: () => unknown, code: string, offset?: number): void {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof VarintError, `expected VarintError, got ${e}`);
    assert.equal(e.code, code);
    assert.equal(e.offset, offset);
    return true;
  });
}

Deno.test("RFC 9000 appendix A.1 examples, including the non-minimal 0x4025", () => {
  assert.deepEqual(decodeVarint(fromHex("9d7f3e7d")), { value: 494_878_333, length: 4 });
  assert.deepEqual(decodeVarint(fromHex("7bbd")), { value: 15_293, length: 2 });
  assert.deepEqual(decodeVarint(fromHex("25")), { value: 37, length: 1 });
  assert.deepEqual(decodeVarint(fromHex("4025")), { value: 37, length: 2 });
  // 151 288 809 941 952 652 is a valid varint but above 2^53 - 1: refused, never rounded.
  refused(() => decodeVarint(fromHex("c2197c5eff14e88c")), "too-large", 0);
});

Deno.test("every width decodes minimal and non-minimal forms alike", () => {
  for (const value of [0, 1, 63, 64, 16_383, 16_384, 1_073_741_823, 1_073_741_824, 2 ** 53 - 1]) {
    for (const size of [1, 2, 4, 8] as const) {
      if (size < varintSize(value)) continue;
      const bytes = encodeVarint(value, size);
      assert.equal(bytes.length, size);
      assert.equal(varintLength(bytes[0]), size);
      assert.deepEqual(decodeVarint(bytes), { value, length: size });
    }
  }
});

Deno.test("encoding picks the shortest width at each boundary", () => {
  assert.equal(toHex(encodeVarint(63)), "3f");
  assert.equal(toHex(encodeVarint(64)), "4040");
  assert.equal(toHex(encodeVarint(16_383)), "7fff");
  assert.equal(toHex(encodeVarint(16_384)), "80004000");
  assert.equal(toHex(encodeVarint(1_073_741_823)), "bfffffff");
  assert.equal(toHex(encodeVarint(1_073_741_824)), "c000000040000000");
  assert.equal(toHex(encodeVarint(2 ** 53 - 1)), "c01fffffffffffff");
  assert.equal(toHex(encodeVarint(494_878_333)), "9d7f3e7d");
});

Deno.test("the largest safe value decodes; one more is too large", () => {
  assert.equal(decodeVarint(fromHex("c01fffffffffffff")).value, Number.MAX_SAFE_INTEGER);
  refused(() => decodeVarint(fromHex("00c020000000000000"), 1), "too-large", 1);
  refused(() => decodeVarint(fromHex("ffffffffffffffff")), "too-large", 0);
});

Deno.test("truncated varints are refused at their first byte, honouring `end`", () => {
  refused(() => decodeVarint(new Uint8Array(0)), "truncated", 0);
  refused(() => decodeVarint(fromHex("40")), "truncated", 0);
  refused(() => decodeVarint(fromHex("0080000000"), 1, 4), "truncated", 1);
  refused(() => decodeVarint(fromHex("00c0000000000000"), 1), "truncated", 1);
  refused(() => decodeVarint(fromHex("2525"), 1, 1), "truncated", 1);
  assert.deepEqual(decodeVarint(fromHex("2525"), 1), { value: 37, length: 1 });
});

Deno.test("values that cannot be varints are refused when encoding", () => {
  refused(() => encodeVarint(-1), "out-of-range");
  refused(() => encodeVarint(1.5), "out-of-range");
  refused(() => encodeVarint(2 ** 53), "out-of-range");
  refused(() => encodeVarint(Number.NaN), "out-of-range");
  refused(() => encodeVarint(64, 1), "out-of-range");
  refused(() => encodeVarint(16_384, 2), "out-of-range");
  refused(() => encodeVarint(1_073_741_824, 4), "out-of-range");
  assert.throws(() => writeVarint(new Uint8Array(1), 0, 64), RangeError);
});

Deno.test("writeVarint writes in place and returns the next offset", () => {
  const out = new Uint8Array(7);
  let at = writeVarint(out, 0, 37);
  at = writeVarint(out, at, 15_293);
  at = writeVarint(out, at, 37, 4);
  assert.equal(at, 7);
  assert.equal(toHex(out), "257bbd80000025");
});

Deno.test("error messages name the problem and the byte", () => {
  assert.throws(
    () => decodeVarint(fromHex("0040"), 1),
    (e: VarintError) =>
      e.message === "varint of 2 bytes but only 1 left (at byte 1)" &&
      e.detail === "varint of 2 bytes but only 1 left",
  );
});
