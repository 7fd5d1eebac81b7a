/**
 * The byte stream between the runtime and each one-shot worker: a Unix socket the pool listens
 * on, in a directory only this user can enter. A worker connects once it can take a request, and
 * its first frame (`frames.ts`) says so and which process it is — `READY ‖ u32 pid` — so the pool
 * hands each connection to the worker it started; after that, frames flow both ways.
 *
 * Why not the worker's stdin and stdout: Deno serves its standard streams from a blocking thread
 * pool, so every read or write there is a hand-off between threads, and a request crosses the
 * channel a dozen times (four frames, each a length header and a payload). A socket is read on
 * the worker's event loop. Connections that do not complete the handshake in time, or name no
 * process the pool is waiting for, are closed.
 */
import { readOwnedFrame, writeOwnedFrame } from "./frames.ts";

/** The first frame every worker sends once it can take a request (then its pid, u32). */
export const READY = new TextEncoder().encode("ready");

/** The pool's side: a listening socket and the workers it is waiting for, by pid. */
export class ChannelListener {
  readonly #dir: string;
  readonly #listener: Deno.Listener<Deno.UnixConn, Deno.UnixAddr>;
  readonly #waiting = new Map<number, (conn: Deno.UnixConn) => void>();
  readonly #handshakeMs: number;

  private constructor(dir: string, handshakeMs: number) {
    this.#dir = dir;
    this.#handshakeMs = handshakeMs;
    this.#listener = Deno.listen({ transport: "unix", path: this.path });
    this.#accept();
  }

  /** A listener in a new directory of mode 0700. */
  static open(options: { handshakeMs?: number } = {}): ChannelListener {
    const dir = Deno.makeTempDirSync({ prefix: "cloister-workers-" });
    Deno.chmodSync(dir, 0o700);
    return new ChannelListener(dir, options.handshakeMs ?? 10_000);
  }

  /** The socket a worker connects to. */
  get path(): string {
    return `${this.#dir}/pool.sock`;
  }

  /** The connection of process `pid` once it says it is ready; cancel() stops waiting. */
  expect(pid: number): { conn: Promise<Deno.UnixConn>; cancel(): void } {
    let cancel = () => {};
    const conn = new Promise<Deno.UnixConn>((resolve, reject) => {
      this.#waiting.set(pid, resolve);
      cancel = () => {
        if (this.#waiting.delete(pid)) reject(new Error(`worker ${pid} never connected`));
      };
    });
    conn.catch(() => {}); // a cancelled wait is the caller's to handle, or not
    return { conn, cancel };
  }

  close(): void {
    try {
      this.#listener.close();
    } catch { /* closed */ }
    Deno.removeSync(this.#dir, { recursive: true });
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) this.#handshake(conn);
    } catch { /* the listener was closed */ }
  }

  async #handshake(conn: Deno.UnixConn): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<null>((r) => timer = setTimeout(() => r(null), this.#handshakeMs));
    const hello = await Promise.race([readOwnedFrame(conn).catch(() => null), late]);
    clearTimeout(timer);
    const ok = hello?.length === READY.length + 4 && READY.every((b, i) => hello[i] === b);
    const pid = ok ? new DataView(hello.buffer).getUint32(READY.length) : -1;
    const resolve = this.#waiting.get(pid);
    if (!resolve) {
      try {
        conn.close();
      } catch { /* gone */ }
      return;
    }
    this.#waiting.delete(pid);
    resolve(conn);
  }
}

/** The worker's side: connects to the pool and says it is ready. */
export async function connectToPool(path: string): Promise<Deno.UnixConn> {
  const conn = await Deno.connect({ transport: "unix", path });
  const hello = new Uint8Array(READY.length + 4);
  hello.set(READY);
  new DataView(hello.buffer).setUint32(READY.length, Deno.pid);
  await writeOwnedFrame(conn, hello);
  return conn;
}
