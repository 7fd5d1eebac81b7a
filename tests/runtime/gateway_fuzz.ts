/**
 * Fuzzing the runtime's request path (issue 5, "Proofs: Fuzz") through the real `gateway()` in
 * this process, with a real KeyEpochs and a pool of real workers (`workerCommand()`):
 *
 * - outer: malformed requests — random bytes, mutations of valid Encapsulated Requests (bit
 *   flips, truncations, splices… `tests/fuzz.ts`), and valid ones under wrong media types. None
 *   may authenticate, so none may reach a worker: every answer must be a plain 4xx.
 * - inner: requests whose encryption is valid but whose Binary HTTP, or the JSON inside a
 *   well-formed one, is mutated.
 *   These reach workers; every answer must be an encrypted response that opens with the client's
 *   context, with status 4xx — or 200 when the mutation left a well-formed summarise request — and
 *   never a 5xx.
 *
 * A failure names the seed and the case; `FUZZ_SEED=<seed>` reproduces it.
 */
import assert from "node:assert/strict";
import { fuzzInput, fuzzSeed, mutate, Prng } from "../fuzz.ts";
import { gatewayRequest, type InProcessGateway, inProcessGateway } from "./inprocess.ts";
import { openAnswer, summarizeRequest } from "./send.ts";
import { workerCommand } from "../../runtime/main.ts";
import { equalBytes, toHex, utf8 } from "../../protocol/bytes.ts";
import { decodeRequest, encodeRequest, field, fieldText } from "../../protocol/bhttp.ts";
import { encapsulateRequest, type KeyConfig } from "../../protocol/ohttp.ts";
import { ALGORITHMS } from "../../runtime/epochs.ts";
import { SUMMARIZE_PATH } from "../../runtime/service.ts";
import { requestInput } from "../../model/summarize.ts";

export class GatewayFuzzFailure extends Error {}

/** Valid summarise request bodies (JSON) of several shapes. */
const JSON_CORPUS = [
  { text: "The meeting moved to Friday. Bring the slides." },
  {
    messages: [
      { from: "Ann", text: "Are we still on for lunch tomorrow?" },
      { from: "Bob", text: "Yes, noon at the usual place." },
      { from: "Ann", text: "Great, I will book a table for three." },
    ],
  },
  { dialogue: "Ann: hi\nBob: hello there\nAnn: see you" },
  { messages: ["one thing", "another thing", "a third"] },
].map((body) => utf8(JSON.stringify(body)));

/** A summarise request (Binary HTTP) with this body. */
function summarise(content: Uint8Array, extra: [string, string][] = []): Uint8Array {
  return encodeRequest({
    method: "POST",
    scheme: "https",
    authority: "cloister.test",
    path: SUMMARIZE_PATH,
    headers: [
      field("content-type", "application/json"),
      ...extra.map(([n, v]) => field(n, v)),
    ],
    content,
    trailers: [],
  });
}

/** Valid summarise requests (Binary HTTP) of several shapes and sizes. */
export function bhttpCorpus(): Uint8Array[] {
  return JSON_CORPUS.map((body, i) =>
    summarise(body, i === 1 ? [["authorization", "PrivateToken token=AAEAAQ"]] : [])
  );
}

/** A mutated request the service would still accept: decodes, right route, JSON, input. */
function wellFormed(bhttp: Uint8Array): boolean {
  try {
    const req = decodeRequest(bhttp);
    if (req.method !== "POST" || req.path.split("?")[0] !== SUMMARIZE_PATH) return false;
    const type = (fieldText(req.headers, "content-type") ?? "").split(";")[0].trim();
    if (type.toLowerCase() !== "application/json") return false;
    requestInput(JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(req.content)));
    return true;
  } catch {
    return false;
  }
}

const WRONG_TYPES = [
  null,
  "",
  "message/ohttp-res",
  "message/bhttp",
  "application/ohttp-keys",
  "application/octet-stream",
  "text/plain; charset=utf-8",
  "message/ohttp-req-",
  "message /ohttp-req",
];

export interface FuzzCounts {
  cases: number;
  /** Outer: answers by status. Inner: inner statuses. */
  statuses: Record<number, number>;
  elapsedMs: number;
}

function tally(counts: FuzzCounts, status: number): void {
  counts.statuses[status] = (counts.statuses[status] ?? 0) + 1;
}

/** `count` malformed requests; throws GatewayFuzzFailure on the first answer that is not 4xx. */
export async function fuzzOuter(
  g: InProcessGateway,
  options: { count: number; seed: number },
): Promise<FuzzCounts> {
  const started = performance.now();
  const prng = new Prng(options.seed);
  const config = g.epochs.current.key.config;
  const bodies = bhttpCorpus();
  // Both AEADs the key config offers, so mutations reach both decryptions.
  const corpus = ALGORITHMS.flatMap((algorithm) =>
    bodies.map((b) => encapsulateRequest(config, b, { algorithm }).encapsulatedRequest)
  );
  const counts: FuzzCounts = { cases: 0, statuses: {}, elapsedMs: 0 };
  while (counts.cases < options.count) {
    const i = counts.cases;
    let body: Uint8Array;
    let type: string | null = "message/ohttp-req";
    if (prng.int(64) === 0) {
      body = prng.pick(corpus);
      type = prng.pick(WRONG_TYPES);
    } else {
      body = fuzzInput(prng, corpus);
      // A mutation that changed nothing is a valid request, not a malformed one.
      if (corpus.some((c) => equalBytes(c, body))) continue;
    }
    counts.cases++;
    const res = await g.handler(gatewayRequest(body, type));
    await res.body?.cancel();
    tally(counts, res.status);
    if (res.status < 400 || res.status > 499) {
      throw new GatewayFuzzFailure(
        `outer case ${i} (seed ${options.seed}, content-type ${type}): status ${res.status} ` +
          `for ${toHex(body)}`,
      );
    }
  }
  counts.elapsedMs = performance.now() - started;
  return counts;
}

/**
 * `count` requests with valid encryption and mutated Binary HTTP, `parallel` at a time; throws
 * GatewayFuzzFailure on the first answer that is not an encrypted 4xx (or a 200 for a request
 * that is still well-formed).
 */
export async function fuzzInner(
  g: InProcessGateway,
  options: { count: number; seed: number; parallel?: number },
): Promise<FuzzCounts> {
  const started = performance.now();
  const prng = new Prng(options.seed);
  const corpus = bhttpCorpus();
  const counts: FuzzCounts = { cases: 0, statuses: {}, elapsedMs: 0 };
  const config: KeyConfig = g.epochs.current.key.config;
  const one = async (i: number, bhttp: Uint8Array) => {
    const { encapsulatedRequest, context } = encapsulateRequest(config, bhttp);
    const res = await g.handler(gatewayRequest(encapsulatedRequest));
    const where = `inner case ${i} (seed ${options.seed}) ${toHex(bhttp)}`;
    if (res.status !== 200 || res.headers.get("content-type") !== "message/ohttp-res") {
      throw new GatewayFuzzFailure(`${where}: outer status ${res.status}`);
    }
    const answer = openAnswer(new Uint8Array(await res.arrayBuffer()), context);
    tally(counts, answer.status);
    const ok = answer.status === 200
      ? typeof answer.json.summary === "string" && wellFormed(bhttp)
      : answer.status >= 400 && answer.status <= 499 &&
        typeof answer.json.error === "string" && !answer.json.error.includes("\n");
    if (!ok) {
      throw new GatewayFuzzFailure(
        `${where}: inner status ${answer.status} ${JSON.stringify(answer.json)}`,
      );
    }
  };
  // Half mutate the Binary HTTP, half only the JSON inside a well-formed one.
  const inputs: Uint8Array[] = [];
  while (inputs.length < options.count) {
    const input = inputs.length % 2 === 0
      ? mutate(prng, prng.pick(corpus), corpus)
      : summarise(mutate(prng, prng.pick(JSON_CORPUS), JSON_CORPUS));
    if (!corpus.some((c) => equalBytes(c, input))) inputs.push(input);
  }
  let next = 0;
  let failure: unknown;
  const lanes = Array.from({ length: options.parallel ?? 2 }, async () => {
    while (next < inputs.length && failure === undefined) {
      const i = next++;
      try {
        await one(i, inputs[i]);
        counts.cases++;
      } catch (e) {
        failure ??= e;
      }
    }
  });
  await Promise.all(lanes);
  if (failure !== undefined) throw failure;
  counts.elapsedMs = performance.now() - started;
  return counts;
}

/** The whole proof as a test: outer, inner, then a valid request; counts printed. */
export function gatewayFuzz(
  outerCount: number,
  innerCount: number,
): (t: Deno.TestContext) => Promise<void> {
  return async (t) => {
    const seed = fuzzSeed();
    const g = await inProcessGateway({ command: await workerCommand(), size: 2 });
    try {
      await t.step(
        `${outerCount} malformed requests: every answer a plain 4xx (seed ${seed})`,
        async () => {
          const outer = await fuzzOuter(g, { count: outerCount, seed });
          console.log(
            `outer: ${outer.cases} cases in ${(outer.elapsedMs / 1000).toFixed(1)} s`,
            outer.statuses,
          );
          assert.equal(outer.cases, outerCount);
          assert.equal(
            g.metrics.counts.get("answered") ?? 0,
            0,
            "a malformed request reached a worker",
          );
        },
      );

      await t.step(
        `${innerCount} mutated Binary HTTP requests: encrypted 4xx or 200 (seed ${seed})`,
        async () => {
          const inner = await fuzzInner(g, { count: innerCount, seed });
          console.log(
            `inner: ${inner.cases} cases in ${(inner.elapsedMs / 1000).toFixed(1)} s`,
            inner.statuses,
          );
          assert.equal(inner.cases, innerCount);
          assert.equal(g.metrics.counts.get("worker-failed") ?? 0, 0);
          assert.equal(g.metrics.counts.get("worker-timeout") ?? 0, 0);
        },
      );

      await t.step("a valid request is still answered", async () => {
        const { encapsulatedRequest, context } = encapsulateRequest(
          g.epochs.current.key.config,
          summarizeRequest({ text: "The fuzzing is over. The gateway still answers. Good." }),
        );
        const res = await g.handler(gatewayRequest(encapsulatedRequest));
        assert.equal(res.status, 200);
        const answer = openAnswer(new Uint8Array(await res.arrayBuffer()), context);
        assert.equal(answer.status, 200, JSON.stringify(answer.json));
        assert.match(answer.json.summary!, /\.$/);
      });
    } finally {
      await g.close();
    }
  };
}
