/**
 * Benchmark harness (DESIGN.md "Benchmark output"). Cases of one comparison run interleaved in
 * the same process, round by round, so machine drift hits ours and the baseline alike. Sub-
 * millisecond operations are timed in batches so the clock's resolution never dominates.
 */
import process from "node:process";

export interface Result {
  name: string;
  unit: string;
  median: number;
  p95: number;
  n: number;
}

export interface Ratio {
  name: string;
  value: number;
  numerator: string;
  denominator: string;
}

export interface Machine {
  cpu: string;
  cores: number;
  deno: string;
  ort: string;
}

export interface Report {
  suite: string;
  machine: Machine;
  results: Result[];
  ratios: Ratio[];
}

export interface Case {
  name: string;
  /** One operation; its time (per call) is what the result reports. */
  fn: () => unknown;
  /**
   * Untimed, awaited before every sample (and every warm-up and calibration call): for state an
   * operation needs but must not be timed doing, such as a server settling between requests.
   */
  before?: () => unknown;
}

export interface CompareOptions {
  /** Timed rounds; each round times every case once, in rotating order. */
  rounds?: number;
  /** Untimed calls per case before the first round. */
  warmup?: number;
  /** Smallest wall time of one sample; calls are batched until a sample takes this long. */
  minSampleMs?: number;
  /**
   * What a sample measures: elapsed `wall` time (default), or the `cpu` time the whole process
   * (every thread: workers, GC, WebCrypto's pool) spent, which other processes' load on a shared
   * machine barely disturbs. CPU results carry the unit "ms cpu".
   */
  clock?: "wall" | "cpu";
}

/** Sorted-sample quantile with linear interpolation. */
export function quantile(samples: number[], q: number): number {
  if (samples.length === 0) throw new Error("quantile of no samples");
  const s = [...samples].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

export function summarize(name: string, samples: number[], unit = "ms"): Result {
  return {
    name,
    unit,
    median: quantile(samples, 0.5),
    p95: quantile(samples, 0.95),
    n: samples.length,
  };
}

const clocks = {
  wall: () => performance.now(),
  cpu: () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1000;
  },
};

async function timeBatch(fn: () => unknown, batch: number, clock = clocks.wall): Promise<number> {
  const t0 = clock();
  for (let i = 0; i < batch; i++) {
    const r = fn();
    if (r instanceof Promise) await r;
  }
  return (clock() - t0) / batch;
}

async function sample(c: Case, batch: number, clock = clocks.wall): Promise<number> {
  await c.before?.();
  return await timeBatch(c.fn, batch, clock);
}

/** Runs the cases interleaved and returns one result (ms per call) per case, in order. */
export async function compare(cases: Case[], options: CompareOptions = {}): Promise<Result[]> {
  const { rounds = 30, warmup = 3, minSampleMs = 5, clock = "wall" } = options;
  const batches: number[] = [];
  for (const c of cases) {
    for (let i = 0; i < warmup; i++) await sample(c, 1);
    let batch = 1;
    while ((await sample(c, batch)) * batch < minSampleMs && batch < 1 << 20) batch *= 2;
    batches.push(batch);
  }
  const samples: number[][] = cases.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < cases.length; k++) {
      const i = (k + round) % cases.length;
      samples[i].push(await sample(cases[i], batches[i], clocks[clock]));
    }
  }
  return cases.map((c, i) => summarize(c.name, samples[i], clock === "cpu" ? "ms cpu" : "ms"));
}

/** `value = numerator.median / denominator.median`: > 1 means the denominator is faster. */
export function ratio(name: string, numerator: Result, denominator: Result): Ratio {
  return {
    name,
    value: numerator.median / denominator.median,
    numerator: numerator.name,
    denominator: denominator.name,
  };
}

export function machine(): Machine {
  let cpu = "unknown";
  try {
    cpu = Deno.readTextFileSync("/proc/cpuinfo").match(/^model name\s*:\s*(.+)$/m)?.[1] ?? cpu;
  } catch { /* not Linux: leave unknown */ }
  let ort = "not installed";
  try {
    const pkg = new URL("../node_modules/onnxruntime-node/package.json", import.meta.url);
    ort = JSON.parse(Deno.readTextFileSync(pkg)).version;
  } catch { /* onnxruntime-node missing */ }
  return { cpu, cores: navigator.hardwareConcurrency, deno: Deno.version.deno, ort };
}

function fmt(x: number): string {
  if (x >= 100) return x.toFixed(0);
  if (x >= 1) return x.toFixed(2);
  return x.toPrecision(3);
}

/** The table for people. */
export function printReport(report: Report): void {
  const m = report.machine;
  console.log(`\n${report.suite} — ${m.cpu}, ${m.cores} cores, deno ${m.deno}, ort ${m.ort}`);
  const width = Math.max(4, ...report.results.map((r) => r.name.length));
  console.log(`${"case".padEnd(width)}  ${"median".padStart(10)}  ${"p95".padStart(10)}  n`);
  for (const r of report.results) {
    console.log(
      `${r.name.padEnd(width)}  ${`${fmt(r.median)} ${r.unit}`.padStart(10)}  ${
        `${fmt(r.p95)} ${r.unit}`.padStart(10)
      }  ${r.n}`,
    );
  }
  for (const r of report.ratios) {
    console.log(`ratio ${r.name} = ${r.value.toFixed(2)}  (${r.numerator} / ${r.denominator})`);
  }
}
