/**
 * Just enough of the Chrome DevTools Protocol to take a leak-proof memory reading of a process
 * started with `--inspect=127.0.0.1:0` (tests only; the runtime never listens for an inspector in
 * production): a full garbage collection, then the V8 heap in use. Peak or current RSS alone
 * depends on when V8 last collected and how far it let the heap grow (its growing factor follows
 * the machine's speed), so two single readings of a healthy process can differ by a quarter.
 */

/** The inspector's WebSocket URL, from the "Debugger listening on ws://…" line on stderr. */
export function inspectorUrl(stderr: string): string {
  const m = stderr.match(/Debugger listening on (ws:\/\/\S+)/);
  if (!m) throw new Error(`no inspector URL in the process's stderr`);
  return m[1];
}

export class Inspector {
  #next = 1;
  #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();

  private constructor(private readonly socket: WebSocket) {
    socket.onmessage = (event) => {
      const msg = JSON.parse(event.data as string);
      const waiter = this.#pending.get(msg.id);
      if (!waiter) return; // an event, not a reply
      this.#pending.delete(msg.id);
      if (msg.error) waiter.reject(new Error(`inspector: ${msg.error.message}`));
      else waiter.resolve(msg.result);
    };
    // A process that died mid-call must fail the call, not leave the test waiting forever.
    socket.onclose = () => {
      for (const waiter of this.#pending.values()) {
        waiter.reject(new Error("inspector: the connection closed"));
      }
      this.#pending.clear();
    };
  }

  static async connect(url: string): Promise<Inspector> {
    const socket = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = () => reject(new Error(`inspector: cannot connect to ${url}`));
    });
    return new Inspector(socket);
  }

  call<T = unknown>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    if (this.socket.readyState !== WebSocket.OPEN) {
      return Promise.reject(new Error("inspector: the connection is closed"));
    }
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.socket.send(JSON.stringify({ id, method, params }));
    });
  }

  /** V8 heap bytes in use after a full collection (HeapProfiler.collectGarbage). */
  async liveHeap(): Promise<number> {
    await this.call("HeapProfiler.collectGarbage");
    const usage = await this.call<{ usedSize: number }>("Runtime.getHeapUsage");
    return usage.usedSize;
  }

  close(): void {
    this.socket.close();
  }
}
