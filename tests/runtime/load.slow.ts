/**
 * Load (issue 5, "Proofs"; `deno task test:soak`): 8 concurrent clients × 200 requests each
 * through the real runtime (`--pool 4`, Privacy Pass tokens from the real issuer key store): every
 * response opens under its own request's context and summarises its own request — each request's
 * messages carry a marker unique to it, and the extractive summary (made of input utterances)
 * must carry that marker — with no error of any kind; and the runtime process's memory after
 * the run is at most its memory after a warm-up + 10 %. Memory is read after a full garbage
 * collection, through the inspector the test (only) starts the runtime with: its live V8 heap and
 * its resident set (VmRSS). Without the collection a reading is a point on a saw: VmRSS moved by
 * a fifth between collections here (93–115 MB), and the peak (VmHWM) grew by a quarter on a
 * slower CI machine (112 → 141 MB) because V8 lets the heap grow further between collections
 * when it collects slowly. A leak survives the collection; garbage does not.
 * Prints the time it took.
 */
import assert from "node:assert/strict";
import { startRuntime } from "./process.ts";
import { keyConfig, sendBhttp, summarizeRequest } from "./send.ts";
import { TestIssuer } from "./issuer.ts";
import { Inspector, inspectorUrl } from "./inspector.ts";

const CLIENTS = 8;
const REQUESTS = 200;
const WARM_UP = 40;
const TOPICS = [
  "the storage unit keys are with the caretaker",
  "the release moved to Thursday after the review",
  "the van is booked from nine until noon",
  "the new gateway passed its attestation checks",
  "lunch is at the usual place near the station",
];

interface Memory {
  /** V8 heap in use after a full collection, kB. */
  heap: number;
  /** Resident set after that collection, kB (/proc/PID/status VmRSS). */
  rss: number;
}

async function memory(inspector: Inspector, pid: number): Promise<Memory> {
  const heap = Math.round(await inspector.liveHeap() / 1024);
  const m = Deno.readTextFileSync(`/proc/${pid}/status`).match(/^VmRSS:\s+(\d+) kB$/m);
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return { heap, rss: Number(m[1]) };
}

/** Three to five messages, every one carrying the request's marker. */
function messages(marker: string, n: number) {
  return {
    messages: Array.from({ length: 3 + (n % 3) }, (_, i) => ({
      from: ["Ann", "Bob", "Cy"][i % 3],
      text: `Ref ${marker}: ${TOPICS[(n + i) % TOPICS.length]}, message ${i + 1}.`,
    })),
  };
}

Deno.test(`load: ${CLIENTS} clients × ${REQUESTS} requests, no mix-ups, no errors, memory flat`, async () => {
  const issuer = await TestIssuer.open();
  let t0 = performance.now();
  const tokens = await issuer.tokens(CLIENTS * (REQUESTS + WARM_UP));
  console.log(
    `${tokens.length} tokens issued in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  const runtime = await startRuntime([
    "--emulated",
    "--issuer-key",
    issuer.keyFile,
    "--pool",
    "4",
  ], { denoFlags: ["--inspect=127.0.0.1:0"] });
  let inspector: Inspector | undefined;
  try {
    inspector = await Inspector.connect(inspectorUrl(runtime.stderr()));
    const config = await keyConfig(runtime.url);
    const latencies: number[] = [];
    const client = async (c: number, count: number, offset: number) => {
      for (let n = 0; n < count; n++) {
        const marker = `c${c}-r${offset + n}-${crypto.randomUUID().slice(0, 8)}`;
        const token = tokens[c * (REQUESTS + WARM_UP) + offset + n];
        const started = performance.now();
        const a = await sendBhttp(
          runtime.url,
          config,
          summarizeRequest(messages(marker, n), token),
        );
        latencies.push(performance.now() - started);
        assert.equal(a.outer, 200, `${marker}: ${a.outerBody}`);
        assert.equal(a.status, 200, `${marker}: ${JSON.stringify(a.json)}`);
        const lines = a.json!.summary!.split("\n");
        assert.ok(lines.length >= 1);
        for (const line of lines) {
          assert.ok(line.includes(`Ref ${marker}:`), `${marker} answered with "${line}"`);
        }
      }
    };
    const phase = (count: number, offset: number) =>
      Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c, count, offset)));

    await phase(WARM_UP, 0);
    const warm = await memory(inspector, runtime.pid);
    latencies.length = 0;
    t0 = performance.now();
    await phase(REQUESTS, WARM_UP);
    const seconds = (performance.now() - t0) / 1000;
    const after = await memory(inspector, runtime.pid);
    latencies.sort((a, b) => a - b);
    const q = (f: number) => latencies[Math.floor(f * (latencies.length - 1))].toFixed(0);
    console.log(
      `${CLIENTS * REQUESTS} requests in ${seconds.toFixed(1)} s ` +
        `(${((CLIENTS * REQUESTS) / seconds).toFixed(1)}/s); latency median ${q(0.5)} ms, ` +
        `p95 ${q(0.95)} ms, max ${
          q(1)
        } ms; runtime after a full collection: heap ${warm.heap} → ${after.heap} kB, ` +
        `RSS ${warm.rss} → ${after.rss} kB (warm-up → run)`,
    );
    assert.equal(latencies.length, CLIENTS * REQUESTS);
    assert.ok(
      after.heap <= warm.heap * 1.1,
      `live heap grew from ${warm.heap} kB to ${after.heap} kB`,
    );
    assert.ok(after.rss <= warm.rss * 1.1, `RSS grew from ${warm.rss} kB to ${after.rss} kB`);
    assert.doesNotMatch(runtime.stderr(), /internal error|worker: /);
  } catch (e) {
    // Counts and reasons only: the runtime logs no content.
    console.error(
      `runtime stderr (last lines):\n${runtime.stderr().split("\n").slice(-20).join("\n")}`,
    );
    throw e;
  } finally {
    inspector?.close();
    await runtime.stop();
    await issuer.close();
  }
});
