/**
 * Targets that misbehave on purpose, so tests/fuzz.test.ts can show the fuzzer reports a hang,
 * an untyped error and a failed property with the seed and the input that caused them.
 */
import type { FuzzTarget } from "./fuzz.ts";

class TypedError extends Error {}

const base = { corpus: [Uint8Array.of(1, 2, 3)], allowed: (e: unknown) => e instanceof TypedError };

const targets: Record<string, FuzzTarget> = {
  hangs: {
    ...base,
    decode(input) {
      // Blocks for good without spinning: Deno's Worker.terminate() does not stop a thread
      // that never yields, so a spinning self-test would burn a core until the process ends.
      if (input.length > 4) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
      throw new TypedError();
    },
  },
  "throws-untyped": {
    ...base,
    decode(input) {
      if (input.length > 4) throw new RangeError("not a typed error");
      throw new TypedError();
    },
  },
  "fails-check": {
    ...base,
    decode: (input) => input,
    check(input) {
      if (input.length > 4) throw new Error("property broken");
    },
  },
};

export default targets;
