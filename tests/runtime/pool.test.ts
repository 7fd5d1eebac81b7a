import assert from "node:assert/strict";
import { PoolError, WorkerPool } from "../../runtime/pool.ts";
import { ChannelListener, connectToPool, READY } from "../../runtime/channel.ts";
import { readOwnedFrame, writeOwnedFrame } from "../../runtime/frames.ts";

const CHANNEL = new URL("../../runtime/channel.ts", import.meta.url);
const FRAMES = new URL("../../runtime/frames.ts", import.meta.url);

// A worker that says ready, echoes one frame reversed, and exits: the pool's contract in miniature.
const ECHO = `
import { connectToPool } from "${CHANNEL}";
import { readOwnedFrame, writeOwnedFrame } from "${FRAMES}";
const conn = await connectToPool(Deno.args[0]);
const req = await readOwnedFrame(conn);
if (req) await writeOwnedFrame(conn, req.reverse());
`;

function command(source: string): (channel: string) => Deno.Command {
  return (channel) =>
    new Deno.Command(Deno.execPath(), {
      args: ["eval", source, channel],
      stdin: "null",
      stdout: "null",
      stderr: "inherit",
    });
}

Deno.test("the pool hands out ready one-shot workers and replaces each one", async () => {
  const pool = new WorkerPool({ size: 2, command: command(ECHO) });
  try {
    await pool.warm();
    const seen = new Set<number>();
    for (let i = 0; i < 4; i++) {
      const w = await pool.acquire();
      assert.equal(seen.has(w.pid), false, "a worker served twice");
      seen.add(w.pid);
      await w.send(Uint8Array.of(1, 2, i));
      assert.deepEqual(await w.next(), Uint8Array.of(i, 2, 1));
      assert.equal(await w.next(), null);
      assert.equal((await w.exited).code, 0);
    }
  } finally {
    await pool.close();
  }
});

Deno.test("workers that never become ready fail waiting requests instead of hanging", async () => {
  const pool = new WorkerPool({
    size: 1,
    command: command("Deno.exit(3)"),
    maxStartFailures: 2,
  });
  try {
    await assert.rejects(pool.acquire(), PoolError);
  } finally {
    await pool.close();
  }
});

Deno.test("a ready worker that dies idle is replaced, never handed out", async () => {
  const pool = new WorkerPool({ size: 1, command: command(ECHO) });
  try {
    await pool.warm();
    const [first] = pool.pids();
    Deno.kill(first, "SIGKILL");
    while (pool.pids().includes(first)) await new Promise((r) => setTimeout(r, 10));
    const w = await pool.acquire();
    assert.notEqual(w.pid, first);
    await w.send(Uint8Array.of(7, 8));
    assert.deepEqual(await w.next(), Uint8Array.of(8, 7));
  } finally {
    await pool.close();
  }
});

Deno.test("the channel hands a connection only to the process it waits for", async () => {
  const channel = ChannelListener.open({ handshakeMs: 500 });
  const refused = async (hello: Uint8Array | null) => {
    const conn = await Deno.connect({ transport: "unix", path: channel.path });
    if (hello) await writeOwnedFrame(conn, hello);
    const got = await readOwnedFrame(conn).catch(() => null);
    conn.close();
    return got === null;
  };
  try {
    const waiting = channel.expect(Deno.pid);
    const other = new Uint8Array(READY.length + 4);
    other.set(READY);
    new DataView(other.buffer).setUint32(READY.length, Deno.pid + 1);
    assert.ok(await refused(other), "a hello naming another process was accepted");
    assert.ok(await refused(Uint8Array.of(1, 2, 3)), "a hello that is no hello was accepted");
    assert.ok(await refused(null), "a silent connection was kept past the handshake time");
    const conn = await connectToPool(channel.path);
    const accepted = await waiting.conn;
    await writeOwnedFrame(accepted, Uint8Array.of(42));
    assert.deepEqual(await readOwnedFrame(conn), Uint8Array.of(42));
    conn.close();
    accepted.close();
  } finally {
    channel.close();
  }
});

Deno.test("frames round trip through owned buffers", async () => {
  const chunks: Uint8Array[] = [];
  const sink = {
    write: (p: Uint8Array) => {
      chunks.push(p.slice());
      return Promise.resolve(p.length);
    },
  };
  await writeOwnedFrame(sink, READY);
  await writeOwnedFrame(sink, new Uint8Array(0));
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) all.set(c, (at += c.length) - c.length);
  let pos = 0;
  const source = {
    read: (p: Uint8Array) => {
      if (pos >= all.length) return Promise.resolve(null);
      const n = Math.min(p.length, 3, all.length - pos);
      p.set(all.subarray(pos, pos + n));
      pos += n;
      return Promise.resolve(n);
    },
  };
  assert.deepEqual(await readOwnedFrame(source), READY);
  assert.deepEqual(await readOwnedFrame(source), new Uint8Array(0));
  assert.equal(await readOwnedFrame(source), null);
});

Deno.test("a frame cut off mid-payload is wiped before the error comes back", async () => {
  const secret = new TextEncoder().encode("the summary of someone's messages");
  const given: Uint8Array[] = [];
  let calls = 0;
  const source = {
    read: (p: Uint8Array) => {
      given.push(p);
      if (calls++ === 0) { // the length header
        new DataView(p.buffer, p.byteOffset).setUint32(0, 64);
        return Promise.resolve(4);
      }
      if (calls === 2) { // half the payload, then the writer dies
        p.set(secret);
        return Promise.resolve(secret.length);
      }
      return Promise.reject(new Deno.errors.ConnectionReset("the worker was killed"));
    },
  };
  await assert.rejects(readOwnedFrame(source), Deno.errors.ConnectionReset);
  const payload = given[1];
  assert.equal(payload.buffer.byteLength >= 64, true);
  assert.ok(new Uint8Array(payload.buffer).every((b) => b === 0), "the partial payload is zero");
});
