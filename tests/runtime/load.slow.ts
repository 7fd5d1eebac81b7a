/**
 * Load (issue 5, "Proofs"; `deno task test:soak`): 8 concurrent clients × 200 requests each
 * through the real runtime (`--pool 4`, Privacy Pass tokens from the real issuer key store): every
 * response opens under its own request's context and summarises its own request — each request's
 * messages carry a marker unique to it, and the extractive summary (made of input utterances)
 * must carry that marker — with no error of any kind; and the runtime process's resident memory
 * after the run is at most its memory after a warm-up + 10 %. Memory is the peak resident set
 * (VmHWM): the current one (VmRSS) saws up and down by a fifth between collections (93–115 MB
 * over 1280 requests here), so two single readings compare two points of the saw, not a trend;
 * a leak raises the peak. The warm-up (40 requests a client) is long enough to reach the saw's top.
 * Prints the time it took.
 */
import assert from "node:assert/strict";
import { startRuntime } from "./process.ts";
import { keyConfig, sendBhttp, summarizeRequest } from "./send.ts";
import { TestIssuer } from "./issuer.ts";

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

/** VmHWM (peak resident set) of a process, in kB (/proc/PID/status). */
function peakRss(pid: number): number {
  const m = Deno.readTextFileSync(`/proc/${pid}/status`).match(/^VmHWM:\s+(\d+) kB$/m);
  if (!m) throw new Error(`no VmHWM for ${pid}`);
  return Number(m[1]);
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
  const tokens = issuer.tokens(CLIENTS * (REQUESTS + WARM_UP));
  console.log(
    `${tokens.length} tokens issued in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  const runtime = await startRuntime([
    "--emulated",
    "--issuer-key",
    issuer.keyFile,
    "--pool",
    "4",
  ]);
  try {
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
    const warm = peakRss(runtime.pid);
    latencies.length = 0;
    t0 = performance.now();
    await phase(REQUESTS, WARM_UP);
    const seconds = (performance.now() - t0) / 1000;
    const after = peakRss(runtime.pid);
    latencies.sort((a, b) => a - b);
    const q = (f: number) => latencies[Math.floor(f * (latencies.length - 1))].toFixed(0);
    console.log(
      `${CLIENTS * REQUESTS} requests in ${seconds.toFixed(1)} s ` +
        `(${((CLIENTS * REQUESTS) / seconds).toFixed(1)}/s); latency median ${q(0.5)} ms, ` +
        `p95 ${q(0.95)} ms, max ${
          q(1)
        } ms; runtime peak RSS ${warm} kB after warm-up, ${after} kB after`,
    );
    assert.equal(latencies.length, CLIENTS * REQUESTS);
    assert.ok(after <= warm * 1.1, `peak RSS grew from ${warm} kB to ${after} kB`);
    assert.doesNotMatch(runtime.stderr(), /internal error|worker: /);
  } catch (e) {
    // Counts and reasons only: the runtime logs no content.
    console.error(
      `runtime stderr (last lines):\n${runtime.stderr().split("\n").slice(-20).join("\n")}`,
    );
    throw e;
  } finally {
    await runtime.stop();
    await issuer.close();
  }
});
