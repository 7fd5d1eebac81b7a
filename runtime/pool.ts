/**
 * A warm pool of one-shot worker processes (DESIGN.md "Forward security and wiping"): each worker
 * starts, loads what it needs, says it is ready, serves exactly one request and exits, so no
 * request's plaintext outlives its process. The pool keeps `size` workers started ahead of time
 * so a request never waits for a process to boot, and starts each one's replacement once it has
 * exited (not while it serves: on a small machine a booting worker would slow the request down);
 * requests that find no ready worker get new ones started at once. Frames travel over a Unix
 * socket per worker (`channel.ts`).
 */
import { fileURLToPath } from "node:url";
import { readOwnedFrame, writeOwnedFrame } from "./frames.ts";
import { ChannelListener } from "./channel.ts";

export interface WorkerHandle {
  readonly pid: number;
  /** Sends one frame; the framed copy is wiped once written (the payload is the caller's). */
  send(payload: Uint8Array): Promise<void>;
  /** The worker's next frame (a buffer the caller owns and wipes), or null once it closed. */
  next(): Promise<Uint8Array | null>;
  kill(): void;
  readonly exited: Promise<Deno.CommandStatus>;
}

export interface PoolOptions {
  size: number;
  /**
   * Builds the command that starts one worker, given the socket it connects to once ready
   * (`channel.ts`: `connectToPool(path)`); the worker needs read and write permission on it.
   */
  command: (channel: string) => Deno.Command;
  /** How long a starting worker may take to say it is ready before it is killed. */
  readyTimeoutMs?: number;
  /** Consecutive start failures after which waiting requests are failed instead of held. */
  maxStartFailures?: number;
  /**
   * Workers starting at once (default: the CPUs this process may use). A start is CPU-bound:
   * on one CPU (the CVM image's default vCPU) two starts in parallel both finish as late as
   * two in a row would, and the first one ready is twice as late.
   */
  maxStarting?: number;
}

export class PoolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PoolError";
  }
}

/** A started worker process, before and after it connected. */
interface Process {
  readonly pid: number;
  kill(): void;
  readonly exited: Promise<Deno.CommandStatus>;
}

function handle(process: Process, conn: Deno.UnixConn): WorkerHandle {
  return {
    pid: process.pid,
    send: (payload) => writeOwnedFrame(conn, payload),
    next: () => readOwnedFrame(conn),
    kill: () => {
      process.kill();
      try {
        conn.close();
      } catch { /* closed */ }
    },
    exited: process.exited,
  };
}

export class WorkerPool {
  readonly #options: Required<PoolOptions>;
  readonly #ready: WorkerHandle[] = [];
  readonly #waiters: { resolve: (w: WorkerHandle) => void; reject: (e: Error) => void }[] = [];
  readonly #live = new Set<Process>();
  /** Handed out and not yet exited (by pid): each one's replacement starts when it exits. */
  readonly #busy = new Set<number>();
  readonly #channel: ChannelListener;
  #starting = 0;
  #failures = 0;
  #closed = false;
  #retry: ReturnType<typeof setTimeout> | undefined;

  constructor(options: PoolOptions) {
    if (!Number.isInteger(options.size) || options.size < 1) {
      throw new PoolError(`pool size must be a positive integer, not ${options.size}`);
    }
    this.#options = {
      readyTimeoutMs: 30_000,
      maxStartFailures: 5,
      maxStarting: navigator.hardwareConcurrency,
      ...options,
    };
    if (!Number.isInteger(this.#options.maxStarting) || this.#options.maxStarting < 1) {
      throw new PoolError(`maxStarting must be a positive integer, not ${options.maxStarting}`);
    }
    this.#channel = ChannelListener.open({ handshakeMs: this.#options.readyTimeoutMs });
    this.#refill();
  }

  /** Process ids of every worker alive now (tests scan their memory). */
  pids(): number[] {
    return [...this.#live].map((w) => w.pid);
  }

  /** A ready worker, now owned by the caller, who must let it finish or kill it. */
  acquire(): Promise<WorkerHandle> {
    if (this.#closed) return Promise.reject(new PoolError("pool is closed"));
    const worker = this.#ready.shift();
    if (worker) {
      this.#busy.add(worker.pid);
      return Promise.resolve(worker);
    }
    if (this.#failures >= this.#options.maxStartFailures) {
      return Promise.reject(new PoolError(`workers fail to start (${this.#failures} in a row)`));
    }
    const waiting = new Promise<WorkerHandle>((resolve, reject) =>
      this.#waiters.push({
        resolve: (w) => {
          this.#busy.add(w.pid);
          resolve(w);
        },
        reject,
      })
    );
    this.#refill();
    return waiting;
  }

  /**
   * Waits until `count` workers (default: the pool's size) are ready, or fails if they cannot
   * start; the pool goes on filling to its size either way.
   */
  async warm(count = this.#options.size): Promise<void> {
    const held: WorkerHandle[] = [];
    try {
      for (let i = 0; i < count; i++) held.push(await this.acquire());
    } finally {
      for (const w of held) this.#busy.delete(w.pid);
      this.#ready.unshift(...held);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    for (const w of this.#waiters.splice(0)) w.reject(new PoolError("pool is closed"));
    for (const w of this.#ready.splice(0)) w.kill(); // also closes their connections
    const live = [...this.#live];
    for (const w of live) w.kill();
    await Promise.allSettled(live.map((w) => w.exited));
    this.#channel.close();
  }

  #refill(): void {
    const wanted = Math.max(this.#options.size - this.#busy.size, this.#waiters.length);
    while (
      !this.#closed && this.#ready.length + this.#starting < wanted &&
      this.#starting < this.#options.maxStarting
    ) {
      this.#starting++;
      this.#spawnOne().finally(() => {
        this.#starting--;
        // the next start, when starts are capped (after a failure, #startFailed's back-off)
        if (this.#failures === 0) this.#refill();
      });
    }
  }

  async #spawnOne(): Promise<void> {
    let child: Deno.ChildProcess;
    try {
      child = this.#options.command(this.#channel.path).spawn();
    } catch (e) {
      this.#startFailed(e instanceof Error ? e.message : String(e));
      return;
    }
    const connected = this.#channel.expect(child.pid);
    const process: Process = {
      pid: child.pid,
      kill: () => {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
      },
      exited: child.status,
    };
    this.#live.add(process);
    process.exited.then(() => {
      this.#live.delete(process);
      connected.cancel();
      // A ready worker that died idle (killed, out of memory) must not be handed to a request.
      const idle = this.#ready.findIndex((w) => w.pid === process.pid);
      if (idle >= 0) this.#ready.splice(idle, 1)[0].kill();
      if (this.#busy.delete(process.pid) || idle >= 0) this.#refill();
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), this.#options.readyTimeoutMs);
    });
    let conn: Deno.UnixConn | null;
    try {
      conn = await Promise.race([connected.conn, timeout]);
    } catch {
      conn = null; // it exited first
    } finally {
      clearTimeout(timer);
      connected.cancel();
    }
    if (!conn) {
      process.kill();
      this.#startFailed("a worker exited or timed out before it was ready");
      return;
    }
    const worker = handle(process, conn);
    this.#failures = 0;
    if (this.#closed) return worker.kill();
    const waiter = this.#waiters.shift();
    if (waiter) waiter.resolve(worker);
    else this.#ready.push(worker);
  }

  #startFailed(why: string): void {
    this.#failures++;
    if (this.#failures >= this.#options.maxStartFailures) {
      for (const w of this.#waiters.splice(0)) {
        w.reject(new PoolError(`workers fail to start (${this.#failures} in a row): ${why}`));
      }
    }
    // Keep trying, backing off so a broken worker binary does not spin the CPU.
    clearTimeout(this.#retry);
    this.#retry = setTimeout(() => this.#refill(), Math.min(5_000, 100 * 2 ** this.#failures));
  }
}

/**
 * The path of the entry point `name` next to the module at `from`: `worker.ts` beside the
 * sources (`deno task runtime`), `worker.js` beside a bundle (the CVM image bundles each entry
 * point, enclave-image/build.ts).
 */
export function entryPoint(name: string, from: string): string {
  return fileURLToPath(new URL(`./${name}${from.endsWith(".js") ? ".js" : ".ts"}`, from));
}

/**
 * `--v8-flags` for every process that handles request data (workers, the model process): freed
 * memory is overwritten (`--clear-free-memory`), and on a single CPU (the CVM image's default
 * launch) V8 compiles and collects garbage on the main thread (`--single-threaded`): its helper
 * threads could only take turns with it there, and under emulation they cost a worker's start
 * more than a second (enclave-image/README.md "Measured here").
 */
export function v8Flags(extra: string[] = []): string {
  const single = navigator.hardwareConcurrency === 1 ? ["--single-threaded"] : [];
  return `--v8-flags=${["--clear-free-memory", ...single, ...extra].join(",")}`;
}

/**
 * The whole environment of a child that handles request data (workers, the model process):
 * glibc overwrites freed memory, Deno finds its cache, and nothing else of the parent's leaks in.
 * ORT_DISABLE_TELEMETRY: onnxruntime ≥ 1.2x on Linux otherwise starts a telemetry system in
 * native code, out of Deno's permissions: it runs `sh -c "blkid; hostname"` for a device id,
 * queues events in $HOME/.cache/Microsoft/DeveloperTools/.onnxruntime/onnxruntime.db and uploads
 * them over HTTPS. A process that holds plaintext must not phone anyone.
 */
export function childEnv(): Record<string, string> {
  const env: Record<string, string> = {
    MALLOC_PERTURB_: "165",
    NO_COLOR: "1",
    ORT_DISABLE_TELEMETRY: "1",
  };
  for (const name of ["HOME", "DENO_DIR", "PATH"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}
