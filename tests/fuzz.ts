/**
 * A small fuzzer for decoders: a seeded PRNG (so every failure reproduces from its seed), a
 * mutator over a corpus of valid inputs (bit flips, interesting bytes, truncations, deletions,
 * insertions, duplications, splices of two inputs) plus purely random inputs, and a runner that
 * allows only the decoder's typed errors and checks a property of every accepted input.
 *
 * `FuzzPool` runs targets in workers with a watchdog, so a decoder that hangs fails the test
 * (naming the seed and the last case reached) instead of hanging it. Workers are reused across
 * runs because each new one costs a type check of its module graph under `deno test`.
 *
 * Use: a module's default export is a `Record<string, FuzzTarget>`; a test calls
 * `using pool = new FuzzPool(2); await pool.run(new URL("./targets.ts", import.meta.url),
 * "name", { count, seed })`. Reproduce a failure with `FUZZ_SEED=<seed>`.
 */
import { concat, toHex } from "../protocol/bytes.ts";

/** sfc32 (Chris Doty-Humphrey's Small Fast Counting generator): tiny, fast, good enough here. */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d = 1;

  constructor(readonly seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = seed >>> 0;
    for (let i = 0; i < 12; i++) this.next();
  }

  /** A uniformly random 32-bit unsigned integer. */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** An integer in [0, n), n ≤ 2^32. */
  int(n: number): number {
    return Math.floor((this.next() / 0x1_0000_0000) * n);
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.next() & 0xff;
    return out;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
}

/** Bytes that sit on boundaries of the formats we decode (varint prefixes, CBOR heads). */
const INTERESTING = [
  0x00,
  0x01,
  0x02,
  0x03,
  0x17,
  0x18,
  0x19,
  0x1a,
  0x1b,
  0x1f,
  0x20,
  0x3f,
  0x40,
  0x41,
  0x5f,
  0x60,
  0x7f,
  0x80,
  0x9f,
  0xa0,
  0xbf,
  0xc0,
  0xf4,
  0xf6,
  0xf7,
  0xff,
];

/** One to four mutations of `input`, drawing on `corpus` for splices. Never changes `input`. */
export function mutate(prng: Prng, input: Uint8Array, corpus: readonly Uint8Array[]): Uint8Array {
  let out: Uint8Array = input.slice();
  for (let n = 1 + prng.int(4); n > 0; n--) {
    const at = prng.int(out.length + 1);
    switch (prng.int(9)) {
      case 0: // flip one bit
        if (out.length > 0) out[at % out.length] ^= 1 << prng.int(8);
        break;
      case 1: // an interesting byte
        if (out.length > 0) out[at % out.length] = prng.pick(INTERESTING);
        break;
      case 2: // a random byte
        if (out.length > 0) out[at % out.length] = prng.int(256);
        break;
      case 3: // truncate
        out = out.slice(0, at);
        break;
      case 4: // delete a range
        out = concat(out.subarray(0, at), out.subarray(at + 1 + prng.int(8)));
        break;
      case 5: // insert random bytes
        out = concat(out.subarray(0, at), prng.bytes(1 + prng.int(8)), out.subarray(at));
        break;
      case 6: { // duplicate a range
        const from = prng.int(out.length + 1);
        const piece = out.slice(from, from + 1 + prng.int(16));
        out = concat(out.subarray(0, at), piece, out.subarray(at));
        break;
      }
      case 7: { // splice: this input's head, another's tail
        const other = prng.pick(corpus);
        out = concat(out.subarray(0, at), other.subarray(prng.int(other.length + 1)));
        break;
      }
      default: { // overwrite with a piece of another input
        const other = prng.pick(corpus);
        const from = prng.int(other.length + 1);
        const piece = other.subarray(from, from + 1 + prng.int(16));
        out = concat(out.subarray(0, at), piece, out.subarray(at + piece.length));
      }
    }
  }
  return out;
}

export interface FuzzTarget {
  /** Valid inputs to mutate (at least one). */
  corpus: Uint8Array[];
  /** The decoder under test. */
  decode(input: Uint8Array): unknown;
  /** Whether a thrown error is one of the decoder's typed errors. */
  allowed(error: unknown): boolean;
  /** A property every accepted input must have (e.g. re-encodes to itself); throws if not. */
  check?(input: Uint8Array, decoded: unknown): void;
}

export interface FuzzOptions {
  count: number;
  seed: number;
  /** Called every `every` cases with the number done (the worker's heartbeat). */
  progress?: (done: number) => void;
  every?: number;
}

export interface FuzzStats {
  count: number;
  accepted: number;
  /** Refusals by error code. */
  refused: Record<string, number>;
  /** Slowest single decode, in milliseconds. */
  slowestMs: number;
  /** The whole run, in milliseconds. */
  elapsedMs: number;
}

/** A case that broke the rules: carries everything needed to reproduce it. */
export class FuzzFailure extends Error {
  /** The worker that ran it hung or crashed and cannot run again. */
  constructor(message: string, readonly workerLost = false) {
    super(message);
  }
}

/** The i-th input of a run: 1 in 8 purely random, the rest mutations of the corpus. */
export function fuzzInput(prng: Prng, corpus: readonly Uint8Array[]): Uint8Array {
  if (prng.int(8) === 0) return prng.bytes(prng.int(4) === 0 ? prng.int(512) : prng.int(48));
  return mutate(prng, prng.pick(corpus), corpus);
}

/** Runs `count` inputs through `target` in this thread. */
export function runFuzz(target: FuzzTarget, options: FuzzOptions): FuzzStats {
  const { count, seed, progress, every = 1000 } = options;
  const prng = new Prng(seed);
  const runStarted = performance.now();
  const stats: FuzzStats = { count, accepted: 0, refused: {}, slowestMs: 0, elapsedMs: 0 };
  for (let i = 0; i < count; i++) {
    if (progress && i % every === 0) progress(i);
    const input = fuzzInput(prng, target.corpus);
    const started = performance.now();
    let decoded: unknown;
    let error: unknown;
    let threw = false;
    try {
      decoded = target.decode(input);
    } catch (e) {
      threw = true;
      error = e;
    }
    stats.slowestMs = Math.max(stats.slowestMs, performance.now() - started);
    const where = `seed ${seed}, case ${i}, input ${toHex(input)}`;
    if (threw) {
      if (!target.allowed(error)) {
        const detail = error instanceof Error ? error.stack ?? error.message : String(error);
        throw new FuzzFailure(`untyped error (${where}):\n${detail}`);
      }
      const code = (error as { code?: string }).code ?? "?";
      stats.refused[code] = (stats.refused[code] ?? 0) + 1;
      continue;
    }
    stats.accepted++;
    try {
      target.check?.(input, decoded);
    } catch (e) {
      throw new FuzzFailure(`accepted input fails its check (${where}):\n${e}`);
    }
  }
  stats.elapsedMs = performance.now() - runStarted;
  return stats;
}

/** The seed for this run: `$FUZZ_SEED`, else a fresh random one (printed on failure). */
export function fuzzSeed(): number {
  const fixed = Deno.env.get("FUZZ_SEED");
  return fixed ? Number(fixed) >>> 0 : crypto.getRandomValues(new Uint32Array(1))[0];
}

interface WorkerReport {
  done?: number;
  stats?: FuzzStats;
  failure?: string;
}

export interface PoolRunOptions {
  count: number;
  seed: number;
  /** No heartbeat for this long is a hang (heartbeats come every 1000 cases). */
  stallMs?: number;
  /** Allowed before the first heartbeat: loading a new worker's modules on a busy machine. */
  startMs?: number;
}

/**
 * Up to `size` fuzz workers, reused from run to run. A worker that hung or crashed is terminated
 * and replaced. (Deno's `Worker.terminate()` does not stop a thread that never yields; the failure is
 * reported all the same and the thread ends with the process.)
 */
export class FuzzPool implements Disposable {
  readonly #idle: Worker[] = [];
  readonly #queue: ((w: Worker) => void)[] = [];
  #live = 0;

  constructor(readonly size = 2) {}

  async run(module: URL, name: string, options: PoolRunOptions): Promise<FuzzStats> {
    const worker = await this.#acquire();
    try {
      const stats = await runOn(worker, module, name, options);
      this.#release(worker);
      return stats;
    } catch (e) {
      if (e instanceof FuzzFailure && !e.workerLost) this.#release(worker);
      else {
        worker.terminate();
        this.#live--;
        this.#queue.shift()?.(this.#spawn());
      }
      throw e;
    }
  }

  #spawn(): Worker {
    this.#live++;
    return new Worker(new URL("./fuzz_worker.ts", import.meta.url), { type: "module" });
  }

  #acquire(): Promise<Worker> {
    const idle = this.#idle.pop();
    if (idle) return Promise.resolve(idle);
    if (this.#live < this.size) return Promise.resolve(this.#spawn());
    return new Promise((resolve) => this.#queue.push(resolve));
  }

  #release(worker: Worker): void {
    const next = this.#queue.shift();
    if (next) next(worker);
    else this.#idle.push(worker);
  }

  [Symbol.dispose](): void {
    for (const w of this.#idle.splice(0)) w.terminate();
  }
}

function runOn(
  worker: Worker,
  module: URL,
  name: string,
  options: PoolRunOptions,
): Promise<FuzzStats> {
  const { count, seed, stallMs = 30_000, startMs = 120_000 } = options;
  return new Promise<FuzzStats>((resolve, reject) => {
    let reached: number | undefined;
    let watchdog: ReturnType<typeof setTimeout> | undefined;
    const finish = (fn: () => void) => {
      clearTimeout(watchdog);
      worker.onmessage = worker.onerror = null;
      fn();
    };
    const arm = (ms: number) => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() =>
        finish(() =>
          reject(
            new FuzzFailure(
              reached === undefined
                ? `${name}: the fuzz worker did not start within ${ms} ms`
                : `${name}: no progress for ${ms} ms after case ${reached} of ${count} ` +
                  `(seed ${seed}): a decoder hangs; reproduce with FUZZ_SEED=${seed}`,
              true,
            ),
          )
        ), ms);
    };
    worker.onmessage = ({ data }: MessageEvent<WorkerReport>) => {
      if (data.done !== undefined) {
        reached = data.done;
        arm(stallMs);
      } else if (data.stats) finish(() => resolve(data.stats!));
      else finish(() => reject(new FuzzFailure(`${name}: ${data.failure}`)));
    };
    worker.onerror = (e) => {
      e.preventDefault();
      finish(() =>
        reject(new FuzzFailure(`${name} (seed ${seed}): worker failed: ${e.message}`, true))
      );
    };
    arm(startMs);
    worker.postMessage({ module: module.href, name, count, seed });
  });
}
