/**
 * Counts and timings, never content: what the runtime logs. Counters are by outcome
 * (`answered`, `token-refused`, `ohttp-decrypt-failed`…), timings are sums with counts, and a
 * summary line goes to stderr on request (periodically and at shutdown).
 */
export class Metrics {
  readonly counts = new Map<string, number>();
  readonly timings = new Map<string, { n: number; totalMs: number }>();

  count(name: string, by = 1): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + by);
  }

  time(name: string, ms: number): void {
    const t = this.timings.get(name) ?? { n: 0, totalMs: 0 };
    t.n++;
    t.totalMs += ms;
    this.timings.set(name, t);
  }

  /** One line: `answered=12 token-refused=1 gateway-ms(avg)=3.1`. */
  line(): string {
    const counts = [...this.counts].sort().map(([k, v]) => `${k}=${v}`);
    const times = [...this.timings].sort().map(([k, t]) =>
      `${k}(avg)=${(t.totalMs / t.n).toFixed(1)}`
    );
    return [...counts, ...times].join(" ") || "no requests";
  }
}
