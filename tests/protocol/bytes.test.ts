import assert from "node:assert/strict";
import { concat, equalBytes, fromHex, i2osp, isZero, toHex, wipe } from "../../protocol/bytes.ts";

Deno.test("hex round trip and refusal of odd or non-hex input", () => {
  const b = Uint8Array.from({ length: 256 }, (_, i) => i);
  assert.deepEqual(fromHex(toHex(b)), b);
  assert.throws(() => fromHex("abc"), TypeError);
  assert.throws(() => fromHex("zz"), TypeError);
});

Deno.test("i2osp is big-endian and refuses values that do not fit", () => {
  assert.deepEqual(i2osp(0x0102, 2), Uint8Array.of(1, 2));
  assert.deepEqual(i2osp(2n ** 64n - 1n, 8), new Uint8Array(8).fill(0xff));
  assert.throws(() => i2osp(256, 1), RangeError);
  assert.throws(() => i2osp(-1, 4), RangeError);
});

Deno.test("concat, equalBytes and wipe", () => {
  const a = concat(Uint8Array.of(1), new Uint8Array(0), Uint8Array.of(2, 3));
  assert.deepEqual(a, Uint8Array.of(1, 2, 3));
  assert.equal(equalBytes(a, Uint8Array.of(1, 2, 3)), true);
  assert.equal(equalBytes(a, Uint8Array.of(1, 2, 4)), false);
  assert.equal(equalBytes(a, Uint8Array.of(1, 2)), false);
  wipe(a, undefined);
  assert.equal(isZero(a), true);
});
