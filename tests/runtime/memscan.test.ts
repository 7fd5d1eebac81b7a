import assert from "node:assert/strict";
import { idPatterns, scanProcesses, textPatterns } from "./memscan.ts";

// The scan must be able to fail: a canary a process still holds (as text and as int32 ids, sent
// over a pipe, never on the command line) is found; one it never saw is not.
Deno.test("memory scan finds a canary a live process still holds", async () => {
  const canary = `canary-${crypto.randomUUID()}`;
  const ids = [31999, 7, 31998, 5, 31997];
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `const buf = new Uint8Array(4096);
       const n = await Deno.stdin.read(buf);
       const text = new TextDecoder().decode(buf.subarray(0, n));
       const ids = new Int32Array(${JSON.stringify(ids)});
       await Deno.stdout.write(Uint8Array.of(1));
       await new Promise((r) => setTimeout(r, 30000));
       console.log(text.length, ids.length);`,
    ],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  try {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(canary));
    const r = child.stdout.getReader();
    await r.read();
    const held = await scanProcesses([child.pid], [
      ...textPatterns("canary", canary),
      ...idPatterns("ids", ids),
    ]);
    assert.ok(held.hits.some((h) => h.pattern === "canary utf-8"), "utf-8 canary not found");
    assert.ok(held.hits.some((h) => h.pattern === "ids int32"), "int32 ids not found");
    const never = await scanProcesses([child.pid], textPatterns("other", crypto.randomUUID()));
    assert.equal(never.hits.length, 0);
    assert.ok(never.bytesScanned > 1 << 20);
    r.releaseLock();
    w.releaseLock();
  } finally {
    child.kill();
    await child.status;
    await child.stdin.close().catch(() => {});
    await child.stdout.cancel().catch(() => {});
  }
});
