import assert from "node:assert/strict";
import { FuzzFailure, FuzzPool, mutate, Prng, runFuzz } from "./fuzz.ts";
import { toHex } from "../protocol/bytes.ts";

const SELFTEST = new URL("./fuzz_selftest_targets.ts", import.meta.url);

Deno.test("the PRNG and the mutator are reproducible from the seed and never change the input", () => {
  const a = new Prng(42), b = new Prng(42), c = new Prng(43);
  const seqA = Array.from({ length: 8 }, () => a.next());
  assert.deepEqual(seqA, Array.from({ length: 8 }, () => b.next()));
  assert.notDeepEqual(seqA, Array.from({ length: 8 }, () => c.next()));
  const input = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
  const corpus = [input, Uint8Array.of(9, 9, 9)];
  const x = new Prng(7), y = new Prng(7);
  for (let i = 0; i < 200; i++) {
    assert.equal(toHex(mutate(x, input, corpus)), toHex(mutate(y, input, corpus)));
  }
  assert.equal(toHex(input), "0102030405060708");
});

Deno.test("an untyped error or a broken property fails with the seed, case and input", () => {
  const target = {
    corpus: [Uint8Array.of(1, 2, 3)],
    decode: (input: Uint8Array) => {
      if (input.length > 4) throw new RangeError("boom");
      return input;
    },
    allowed: () => false,
  };
  assert.throws(() => runFuzz(target, { count: 1000, seed: 5 }), (e: Error) => {
    assert.ok(e instanceof FuzzFailure);
    assert.match(
      e.message,
      /untyped error \(seed 5, case \d+, input [0-9a-f]+\):\nRangeError: boom/,
    );
    return true;
  });
});

Deno.test("a FuzzPool reports a hang, an untyped error and a broken check", async () => {
  using pool = new FuzzPool(2);
  const run = (name: string, seed: number, stallMs?: number) =>
    pool.run(SELFTEST, name, { count: 1000, seed, stallMs });
  await Promise.all([
    assert.rejects(
      run("hangs", 1, 1000),
      /hangs: no progress for 1000 ms after case \d+ of 1000 \(seed 1\)/,
    ),
    (async () => {
      await assert.rejects(
        run("throws-untyped", 2),
        /throws-untyped: untyped error \(seed 2, case \d+, input [0-9a-f]+\)/,
      );
      await assert.rejects(
        run("fails-check", 3),
        /fails-check: accepted input fails its check \(seed 3/,
      );
      await assert.rejects(run("absent", 4), /no fuzz target/);
    })(),
  ]);
});
