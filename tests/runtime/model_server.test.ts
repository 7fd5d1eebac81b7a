/**
 * The model process (runtime/model_server.ts) with the tiny seeded T5: it answers token ids with
 * the model's own settings whatever a worker asks, a connection that sends nothing holds up no
 * other, and a malformed answer is a typed error at the worker.
 */
import assert from "node:assert/strict";
import { startModelProcess } from "../../runtime/model_process.ts";
import { decodeModelAnswer, encodeModelRequest } from "../../runtime/model_server.ts";
import { readOwnedFrame, writeOwnedFrame } from "../../runtime/frames.ts";
import { ModelError } from "../../model/errors.ts";
import { cachedModel } from "../../model/builders/cache.ts";

/** One request on its own connection, as runtime/model_client.ts sends it. */
async function ask(socket: string, ids: number[], options: object) {
  const conn = await Deno.connect({ transport: "unix", path: socket });
  try {
    await writeOwnedFrame(conn, encodeModelRequest(Int32Array.from(ids), options));
    return decodeModelAnswer((await readOwnedFrame(conn))!);
  } finally {
    conn.close();
  }
}

Deno.test("model process: its own settings, and a silent connection blocks no one", async () => {
  const model = await startModelProcess({ model: await cachedModel({ kind: "t5-tiny" }) });
  try {
    const ids = [100, 200, 300, 400, 1];
    const plain = await ask(model.socket, ids, {});
    // A worker handles untrusted text: what it asks for beyond the overflow policy is ignored.
    const greedy = await ask(model.socket, ids, {
      numBeams: 64,
      maxNewTokens: 4096,
      minNewTokens: 4096,
    });
    assert.deepEqual([...greedy.ids], [...plain.ids]);
    // Half a frame header, then nothing: the next worker is served while it still hangs.
    const silent = await Deno.connect({ transport: "unix", path: model.socket });
    await silent.write(Uint8Array.of(0, 0));
    const ended = readOwnedFrame(silent).then(() => "closed", () => "closed");
    // (A guard, not a speed check: before the fix the request waited for the silent one forever.)
    let guard: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      ask(model.socket, ids, {}),
      new Promise((_, reject) => {
        guard = setTimeout(() => reject(new Error("queued behind the silent connection")), 20_000);
      }),
    ]).finally(() => clearTimeout(guard));
    assert.equal(await Promise.race([ended, Promise.resolve("open")]), "open");
    assert.equal(await ended, "closed", "dropped at its deadline");
    silent.close();
  } finally {
    await model.close();
  }
});

Deno.test("a malformed answer from the model process is a ModelError, not a RangeError", () => {
  const truncated = Uint8Array.of(0, 0, 0, 0, 9); // MODEL_OK, 9 ids, none there
  assert.throws(
    () => decodeModelAnswer(truncated),
    (e) => e instanceof ModelError && e.code === "inference-failed",
  );
  const badJson = Uint8Array.of(0, 0, 0, 0, 0, 0x7b);
  assert.throws(() => decodeModelAnswer(badJson), ModelError);
});
