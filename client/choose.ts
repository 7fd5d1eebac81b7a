/**
 * Node choice (DESIGN.md "non-targetability"): uniformly at random among the nodes whose evidence
 * verified, from a cryptographic random source, so that neither the operator nor the relay can
 * steer one user's request to a node of its choosing. The order of the fleet list does not
 * matter; nothing about the user or the request enters the choice.
 *
 * Uniform without modulo bias: a 32-bit draw is kept only below the largest multiple of n
 * (rejection sampling), so each index has probability exactly 1/n.
 */

/** Fills `bytes` with random bytes (the shape of `crypto.getRandomValues`). */
export type RandomSource = (bytes: Uint8Array) => Uint8Array;

export const cryptoRandom: RandomSource = (bytes) => crypto.getRandomValues(bytes);

const RANGE = 2 ** 32;

/** A uniform integer in [0, n), 1 ≤ n ≤ 2^32. */
export function uniformIndex(n: number, random: RandomSource = cryptoRandom): number {
  if (!Number.isSafeInteger(n) || n < 1 || n > RANGE) {
    throw new RangeError(`cannot choose among ${n}`);
  }
  const limit = RANGE - (RANGE % n);
  const draw = new Uint8Array(4);
  const view = new DataView(draw.buffer);
  for (;;) {
    random(draw);
    const x = view.getUint32(0);
    if (x < limit) return x % n;
  }
}

/** One of `items`, each with probability 1/length. */
export function chooseUniformly<T>(items: readonly T[], random: RandomSource = cryptoRandom): T {
  if (items.length === 0) throw new RangeError("nothing to choose from");
  return items[uniformIndex(items.length, random)];
}
