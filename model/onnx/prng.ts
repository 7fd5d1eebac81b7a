/**
 * Seeded pseudo-random numbers for reproducible model weights: mulberry32 (a 32-bit state
 * generator by Tommy Ettinger; fast, passes gjrand's tests at this size, NOT cryptographic) and
 * the Box-Muller transform for normal variates. Same seed, same weights, on every machine.
 */

/** Uniform floats in [0, 1) from a 32-bit seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A normal-variate source (mean 0, the given standard deviation) over a uniform source. */
export class Normal {
  private spare: number | undefined;

  constructor(private readonly uniform: () => number) {}

  /** One N(0, std²) sample (Box-Muller; the second variate of each pair is kept for the next call). */
  next(std = 1): number {
    if (this.spare !== undefined) {
      const z = this.spare;
      this.spare = undefined;
      return z * std;
    }
    const u1 = 1 - this.uniform(); // in (0, 1]: log stays finite
    const u2 = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2) * std;
  }

  /** `n` samples as float32. */
  fill(n: number, std = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.next(std);
    return out;
  }
}
