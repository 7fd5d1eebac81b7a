/**
 * The forward-security proof of DESIGN.md "Forward security and wiping": a request carries a
 * random canary; once it is answered, the memory of every live runtime process (the runtime, its
 * warm workers, the model process) is searched for the canary as UTF-8 and UTF-16LE text and, for
 * a seq2seq model, for the canary's token ids as int32 and int64: none may be found. The scan is
 * first shown to find a canary a process still holds, so it can fail.
 */
import assert from "node:assert/strict";
import { idPatterns, type Pattern, scanProcesses, textPatterns } from "./memscan.ts";
import { startRuntime } from "./process.ts";
import { TestIssuer } from "./issuer.ts";
import { summarize } from "./send.ts";
import { toHex } from "../../protocol/bytes.ts";
import { loadSeq2SeqConfig } from "../../model/seq2seq.ts";
import { Seq2SeqTokenizer } from "../../model/tokenizer.ts";
import { cachedModel } from "../../model/builders/cache.ts";

function canary(): string {
  return toHex(crypto.getRandomValues(new Uint8Array(16))); // 32 bytes of text
}

/** A process that holds `text` (read from a pipe, as a worker would) until killed. */
async function holder(text: string): Promise<{ pid: number; kill: () => Promise<void> }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `const b = new Uint8Array(256); const n = await Deno.stdin.read(b);
       const held = new TextDecoder().decode(b.subarray(0, n));
       await Deno.stdout.write(Uint8Array.of(1));
       setInterval(() => held.length, 1000);`,
    ],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(text));
  const r = child.stdout.getReader();
  await r.read();
  return {
    pid: child.pid,
    kill: async () => {
      child.kill("SIGKILL");
      await child.status;
      r.releaseLock();
      w.releaseLock();
      await child.stdin.close().catch(() => {});
      await child.stdout.cancel().catch(() => {});
    },
  };
}

function messages(secret: string) {
  return {
    messages: [
      { from: "Ann", text: `The door code for the storage unit is ${secret} from tonight.` },
      { from: "Bob", text: "Thanks, I will pick up the boxes after work." },
      { from: "Ann", text: `Remember ${secret} is private, do not forward it to anyone.` },
      { from: "Bob", text: "Understood, I will delete the message once I am there." },
    ],
  };
}

async function proof(args: string[], extraPatterns: (secret: string) => Promise<Pattern[]>) {
  const secret = canary();
  const patterns = [...textPatterns("canary", secret), ...await extraPatterns(secret)];

  // The scan can fail: a live process holding the canary is caught.
  const held = await holder(secret);
  try {
    const found = await scanProcesses([held.pid], patterns);
    assert.ok(found.hits.length > 0, "the scan did not find a canary that is still held");
  } finally {
    await held.kill();
  }

  // Paid with a real token: the redemption runs while the worker reads the text (service.ts).
  const issuer = await TestIssuer.open();
  const runtime = await startRuntime([
    "--emulated",
    "--issuer-key",
    issuer.keyFile,
    "--pool",
    "1",
    ...args,
  ]);
  try {
    const answer = await summarize(runtime.url, messages(secret), await issuer.token());
    assert.equal(answer.status, 200, JSON.stringify(answer));
    // The worker that read the request exits after answering; give it a moment to be gone.
    await new Promise((r) => setTimeout(r, 500));
    const pids = await runtime.pids();
    assert.ok(pids.length >= 2, `expected the runtime and a warm worker, got ${pids}`);
    const scan = await scanProcesses(pids, patterns);
    assert.ok(scan.bytesScanned > 50 << 20, `scanned only ${scan.bytesScanned} bytes`);
    assert.deepEqual(
      scan.hits.map((h) =>
        `${h.pattern} in pid ${h.pid} at 0x${h.address.toString(16)} ${h.region}`
      ),
      [],
    );
  } finally {
    await runtime.stop();
    await issuer.close();
  }
}

Deno.test("no trace of a request's canary in any runtime process (extractive default)", async () => {
  await proof([], () => Promise.resolve([]));
});

Deno.test("no trace of a request's canary or its token ids (seq2seq model process)", async () => {
  const dir = await cachedModel({ kind: "t5-tiny" });
  const { config } = await loadSeq2SeqConfig(dir);
  const tokenizer = await Seq2SeqTokenizer.load(dir, config);
  await proof(["--model", dir], (secret) => {
    // Metaspace pre-tokenisation splits on spaces, so the canary's ids are the same inside the
    // request text as alone (minus the final </s>).
    const ids = Array.from(tokenizer.encode(secret)).slice(0, -1);
    assert.ok(ids.length >= 4, `canary encodes to only ${ids.length} ids`);
    return Promise.resolve(idPatterns("canary ids", ids));
  });
});
