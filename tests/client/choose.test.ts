import assert from "node:assert/strict";
import { chooseUniformly, uniformIndex } from "../../client/choose.ts";

/** A random source that plays back 32-bit big-endian draws. */
function draws(...values: number[]) {
  let i = 0;
  return (bytes: Uint8Array) => {
    new DataView(bytes.buffer, bytes.byteOffset).setUint32(0, values[i++]);
    return bytes;
  };
}

Deno.test("choose: rejection sampling keeps every index exactly equally likely", () => {
  // 2^32 mod 3 = 1: the single draw 0xffffffff would favour index 0, so it is drawn again.
  assert.equal(uniformIndex(3, draws(0xffffffff, 5)), 2);
  assert.equal(uniformIndex(3, draws(0xfffffffe)), 0xfffffffe % 3);
  assert.equal(uniformIndex(1, draws(123)), 0);
  assert.throws(() => uniformIndex(0), RangeError);
  assert.throws(() => uniformIndex(1.5), RangeError);
  assert.throws(() => chooseUniformly([]), RangeError);
  // Three nodes, 3000 choices from the crypto source: each count within ±5σ of 1000.
  const counts = [0, 0, 0];
  for (let i = 0; i < 3000; i++) counts[chooseUniformly([0, 1, 2])]++;
  const sigma = Math.sqrt(3000 * (1 / 3) * (2 / 3));
  for (const c of counts) assert.ok(Math.abs(c - 1000) <= 5 * sigma, `counts ${counts}`);
});
