import assert from "node:assert/strict";
import { PoolError, READY, WorkerPool } from "../../runtime/pool.ts";
import { readOwnedFrame, writeOwnedFrame } from "../../runtime/frames.ts";

// A worker that says ready, echoes one frame reversed, and exits: the pool's contract in miniature.
const ECHO = `
import { readOwnedFrame, writeOwnedFrame } from "${new URL(
  "../../runtime/frames.ts",
  import.meta.url,
)}";
await writeOwnedFrame(Deno.stdout, new TextEncoder().encode("ready"));
const req = await readOwnedFrame(Deno.stdin);
if (req) await writeOwnedFrame(Deno.stdout, req.reverse());
`;

function command(source: string): () => Deno.Command {
  return () =>
    new Deno.Command(Deno.execPath(), {
      args: ["eval", source],
      stdin: "piped",
      stdout: "piped",
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
