/**
 * 100 000 random and mutated inputs to each protocol decoder (targets in fuzz_targets.ts): only
 * the decoder's typed errors may escape, every accepted input must keep its round-trip property,
 * and a decoder that stops making progress for 30 s fails the test as a hang. Targets run in two
 * reused workers (tests/fuzz.ts); the whole file takes about 30 s on this 2-core machine, most of
 * it the X25519 operations of OHTTP request decapsulation. The seed is random per run and printed
 * with any failure; set FUZZ_SEED to reproduce one, FUZZ_COUNT to run more or fewer inputs.
 */
import assert from "node:assert/strict";
import { FuzzPool, fuzzSeed } from "../fuzz.ts";
import targets from "./fuzz_targets.ts";

const SEED = fuzzSeed();
const COUNT = Number(Deno.env.get("FUZZ_COUNT") ?? 100_000);
const MODULE = new URL("./fuzz_targets.ts", import.meta.url);

Deno.test(`fuzz the protocol decoders: ${COUNT} inputs each (seed ${SEED})`, async (t) => {
  using pool = new FuzzPool(2);
  // Two workers at a time, one step per decoder; steps run side by side, so they cannot share
  // the op sanitizers.
  await Promise.all(
    Object.keys(targets).map((name) =>
      t.step({
        name: `${name}: typed errors only, round trips hold, no hang`,
        sanitizeOps: false,
        sanitizeResources: false,
        sanitizeExit: false,
        fn: async () => {
          const stats = await pool.run(MODULE, name, { count: COUNT, seed: SEED });
          const refused = Object.values(stats.refused).reduce((a, b) => a + b, 0);
          assert.equal(stats.accepted + refused, COUNT);
          const seconds = (stats.elapsedMs / 1000).toFixed(1);
          console.log(
            `fuzz ${name}: ${COUNT} inputs in ${seconds} s (seed ${SEED}): ${stats.accepted} ` +
              `accepted, refused ${JSON.stringify(stats.refused)}, slowest ${
                stats.slowestMs.toFixed(1)
              } ms`,
          );
        },
      })
    ),
  );
});
