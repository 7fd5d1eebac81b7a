/**
 * Length-prefixed frames between the runtime and its one-shot workers (over `channel.ts`'s
 * socket) and its model process: a 4-byte big-endian length, then the payload. Frames carry
 * request plaintext, so every buffer a frame passes through is zeroed once consumed: readers read
 * straight into buffers they own (or, from a stream, wipe its chunks), and writers wipe the
 * framed copy after the write.
 */

/** Largest frame either side accepts; bounds memory before a single byte is buffered. */
export const MAX_FRAME = 16 << 20;

export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FrameError";
  }
}

export function frame(payload: Uint8Array): Uint8Array {
  if (payload.length > MAX_FRAME) {
    throw new FrameError(`frame of ${payload.length} bytes too large`);
  }
  const out = new Uint8Array(4 + payload.length);
  new DataView(out.buffer).setUint32(0, payload.length);
  out.set(payload, 4);
  return out;
}

/** Reads frames from a byte stream (the runtime reading the model process's stdout). */
export class FrameReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #pending: Uint8Array = new Uint8Array(0);

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  async #fill(n: number): Promise<boolean> {
    while (this.#pending.length < n) {
      const { value, done } = await this.#reader.read();
      if (done) return false;
      const joined = new Uint8Array(this.#pending.length + value.length);
      joined.set(this.#pending);
      joined.set(value, this.#pending.length);
      // A worker's frames carry plaintext (its answer): leave no copy behind in the chunks.
      this.#pending.fill(0);
      value.fill(0);
      this.#pending = joined;
    }
    return true;
  }

  /** The next frame, or null at a clean end of stream. */
  async next(): Promise<Uint8Array | null> {
    if (!(await this.#fill(4))) {
      if (this.#pending.length === 0) return null;
      throw new FrameError("stream ended inside a frame header");
    }
    const length = new DataView(this.#pending.buffer, this.#pending.byteOffset).getUint32(0);
    if (length > MAX_FRAME) throw new FrameError(`frame of ${length} bytes too large`);
    if (!(await this.#fill(4 + length))) throw new FrameError("stream ended inside a frame");
    const payload = this.#pending.slice(4, 4 + length);
    this.#pending.subarray(0, 4 + length).fill(0);
    this.#pending = this.#pending.subarray(4 + length);
    return payload;
  }

  release(): void {
    this.#reader.releaseLock();
  }
}

async function readFull(
  source: { read(p: Uint8Array): Promise<number | null> },
  buf: Uint8Array,
): Promise<boolean> {
  let got = 0;
  while (got < buf.length) {
    const n = await source.read(buf.subarray(got));
    if (n === null) {
      if (got === 0) return false;
      throw new FrameError("stream ended inside a frame");
    }
    got += n;
  }
  return true;
}

/**
 * Reads one frame from a raw reader (a socket) into a buffer the caller owns and must
 * wipe; no intermediate copy of the payload is made.
 */
export async function readOwnedFrame(
  source: { read(p: Uint8Array): Promise<number | null> },
): Promise<Uint8Array | null> {
  const header = new Uint8Array(4);
  if (!(await readFull(source, header))) return null;
  const length = new DataView(header.buffer).getUint32(0);
  if (length > MAX_FRAME) throw new FrameError(`frame of ${length} bytes too large`);
  const payload = new Uint8Array(length);
  try {
    await readFull(source, payload);
  } catch (e) {
    payload.fill(0); // a frame cut off (its writer crashed or was killed) held plaintext too
    throw e;
  }
  return payload;
}

/** Writes one frame to a raw writer (a socket), without keeping a copy. */
export async function writeOwnedFrame(
  sink: { write(p: Uint8Array): Promise<number> },
  payload: Uint8Array,
): Promise<void> {
  const out = frame(payload);
  try {
    let sent = 0;
    while (sent < out.length) sent += await sink.write(out.subarray(sent));
  } finally {
    out.fill(0);
  }
}
