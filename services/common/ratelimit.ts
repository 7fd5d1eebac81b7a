/**
 * Per-key token buckets in bounded memory (the relay keys by client address, the issuer by
 * account). A bucket holds `burst` tokens and refills at `perSecond`. At most `maxKeys` buckets
 * exist: when full, idle (fully refilled) buckets are dropped first; if none is idle the new key
 * is refused — memory stays bounded and an attacker with many keys cannot reset others' buckets.
 */
export class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    readonly perSecond: number,
    readonly burst: number,
    readonly maxKeys = 10_000,
    readonly now: () => number = () => performance.now() / 1000,
  ) {}

  /** Takes `n` tokens for `key`; false when the key is over its rate (or no room is left). */
  take(key: string, n = 1): boolean {
    const t = this.now();
    let b = this.#buckets.get(key);
    if (b) {
      // A clock stepping back refills nothing (and takes nothing away).
      b.tokens = Math.min(this.burst, b.tokens + Math.max(0, t - b.at) * this.perSecond);
      b.at = t;
    } else {
      if (this.#buckets.size >= this.maxKeys && !this.#sweep(t)) return false;
      b = { tokens: this.burst, at: t };
      this.#buckets.set(key, b);
    }
    if (b.tokens < n) return false;
    b.tokens -= n;
    return true;
  }

  get size(): number {
    return this.#buckets.size;
  }

  /** Drops buckets that have refilled completely; true when room was made. */
  #sweep(t: number): boolean {
    for (const [key, b] of this.#buckets) {
      if (b.tokens + (t - b.at) * this.perSecond >= this.burst) this.#buckets.delete(key);
    }
    return this.#buckets.size < this.maxKeys;
  }
}
