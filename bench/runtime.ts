/**
 * `deno task bench runtime` (issue 5, "Benchmark"): what the privacy layers add to one
 * summarisation request. Ours: the request end to end at the client — BHTTP encode, OHTTP/HPKE
 * encapsulation, POST over loopback to the real runtime process (`runtime/main.ts`, emulated
 * evidence, `--issuer-key` with tokens issued beforehand), which decapsulates, hands the request
 * to a one-shot worker, redeems its Privacy Pass token, gets the summary, encapsulates and wipes —
 * then decapsulation and BHTTP/JSON decoding at the client. Baseline: the same summariser,
 * loaded the way the worker (or the model process) loads it, called directly in this process.
 * Both interleaved in the same run (bench/harness.ts compare).
 *
 * Realistic low load: before every sample (of either side) the runtime is let settle — its one
 * warm worker replaced and every runtime process idle — so no request meets a worker booting
 * (`--pool 1`; a busy runtime keeps more workers warm, see tests/runtime/load.slow.ts).
 *
 * Two models:
 * - the extractive default, on 20 real chat messages (SAMSum validation utterances), paid with the
 *   default token type 0x0001 (VOPRF P-384) and, for reference, with type 0x0002 (blind RSA,
 *   verified with the issuer's public key);
 * - the t5-small-shaped model (model/builders), up to 512 input tokens of local prose → exactly
 *   64 new tokens, plain greedy: the same generation settings on both sides, as both load the
 *   same model folder, a copy of the cached build whose config fixes them (config.json's
 *   summarisation task parameters), and the direct call turns speculative decoding off as the
 *   runtime's model process does.
 * Every call, on either side, summarises a text of its own (call k of both sides the same one).
 *
 * Ratios (names stable): `runtime-extractive-overhead-ms` = gateway median − direct median, in
 * milliseconds (goal < 2); `runtime-t5-overhead` = gateway median / direct median (goal < 1.01);
 * `runtime-extractive-overhead` = the extractive ratio, and `runtime-extractive-type2-overhead-ms`
 * the extractive request paid with a type 0x0002 token, for reference;
 * `runtime-floor-overhead-ms` the same request through bench/gateway_floor.ts, the runtime's
 * request path in one process without worker, frames or pool: what no design can avoid here;
 * `runtime-floor-unpaid-overhead-ms` the same floor without a token.
 * Values > 1 (or > 0 ms) are what the privacy layers cost.
 */
import { fileURLToPath } from "node:url";
import { compare, type Ratio, ratio, type Result } from "./harness.ts";
import type { BenchSuite } from "./main.ts";
import { chatMessages } from "./model_extractive.ts";
import { descendants, type RuntimeProcess, startRuntime } from "../tests/runtime/process.ts";
import { spawnDeno } from "../demo/spawn.ts";
import { keyConfig, sendBhttp, summarizeRequest } from "../tests/runtime/send.ts";
import { TestIssuer } from "../tests/runtime/issuer.ts";
import { cachedModel, localCorpus } from "../model/builders/cache.ts";
import { loadSummarizer, type SummarizeInput, type SummarizeOptions } from "../model/summarize.ts";
import { Seq2SeqTokenizer } from "../model/tokenizer.ts";
import { loadSeq2SeqConfig } from "../model/seq2seq.ts";

const GOALS = { extractiveMs: 2, t5Ratio: 1.01 };
const INPUT_TOKENS = 512;
const NEW_TOKENS = 64;
const BENCH_DIR = fileURLToPath(new URL("../.cache/bench/runtime/", import.meta.url));
const FLOOR = fileURLToPath(new URL("./gateway_floor.ts", import.meta.url));

const log = (line: string) => console.error(line);

/** CPU ticks (utime + stime) of each process, from /proc/PID/stat. */
function ticks(pids: number[]): number {
  let sum = 0;
  for (const pid of pids) {
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      sum += Number(fields[11]) + Number(fields[12]);
    } catch { /* exited */ }
  }
  return sum;
}

/**
 * Waits until the runtime has `processes` processes (itself, its warm workers, the model
 * process) and none of them used CPU for 100 ms: the pool has refilled and settled.
 */
async function settle(pid: number, processes: number): Promise<void> {
  const until = Date.now() + 60_000;
  let quiet = 0;
  let last = -1;
  while (quiet < 2) {
    if (Date.now() > until) throw new Error("the runtime did not settle within 60 s");
    await new Promise((r) => setTimeout(r, 50));
    const pids = await descendants(pid);
    const now = ticks(pids);
    quiet = pids.length >= processes && now === last ? quiet + 1 : 0;
    last = now;
  }
}

/**
 * The cached t5-small-shaped build with generation fixed to exactly NEW_TOKENS greedy tokens
 * (min = max, one beam, no n-gram ban): the weights hard-linked, the configs rewritten.
 */
async function fixedLengthT5(): Promise<string> {
  const source = await cachedModel({ kind: "t5-small", int8: true }, { log });
  const dir = `${BENCH_DIR}t5-small-${NEW_TOKENS}-tokens`;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(`${dir}/onnx`, { recursive: true });
  for (const name of ["tokenizer.json", "tokenizer_config.json", "generation_config.json"]) {
    await Deno.link(`${source}/${name}`, `${dir}/${name}`);
  }
  for await (const e of Deno.readDir(`${source}/onnx`)) {
    await Deno.link(`${source}/onnx/${e.name}`, `${dir}/onnx/${e.name}`);
  }
  const config = JSON.parse(await Deno.readTextFile(`${source}/config.json`));
  config.task_specific_params.summarization = {
    prefix: config.task_specific_params.summarization.prefix,
    max_new_tokens: NEW_TOKENS,
    min_length: NEW_TOKENS + 1, // decoder length, counting the start token
    num_beams: 1,
    no_repeat_ngram_size: 0,
  };
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config, null, 2));
  return dir;
}

/**
 * `count` passages of local prose, one after another, each as long as fits in `tokens` tokens of
 * summarisation input (prefix, text, </s>); with their token counts.
 */
async function passages(
  dir: string,
  tokens: number,
  count: number,
): Promise<{ text: string; tokens: number }[]> {
  const { config } = await loadSeq2SeqConfig(dir);
  const tok = await Seq2SeqTokenizer.load(dir, config);
  const words = (await localCorpus()).split(/\s+/).filter(Boolean);
  const out: { text: string; tokens: number }[] = [];
  let at = 0;
  while (out.length < count) {
    const length = (n: number) =>
      tok.encode(config.summarizationPrefix + words.slice(at, at + n).join(" ")).length;
    let n = Math.round(tokens * 0.6);
    while (length(n + 1) <= tokens && at + n < words.length) n++;
    while (length(n) > tokens) n--;
    out.push({ text: words.slice(at, at + n).join(" "), tokens: length(n) });
    at += n;
    if (at >= words.length) throw new Error("the local corpus ran out of text");
  }
  return out;
}

type Server = Pick<RuntimeProcess, "url" | "pid" | "stderr" | "stop">;

/** bench/gateway_floor.ts: the runtime's request path in one process, without its isolation. */
async function startFloor(args: string[]): Promise<Server> {
  const child = await spawnDeno("floor", FLOOR, args);
  const m = child.first.match(/^ready (\S+)/);
  if (!m) {
    await child.stop();
    throw new Error(`the floor gateway did not start: ${child.first}\n${child.stderr()}`);
  }
  return { url: m[1], pid: child.pid, stderr: child.stderr, stop: child.stop };
}

interface Side {
  name: string;
  /** Runtime arguments besides the common ones. */
  args: string[];
  /** Processes of a settled runtime: itself, one warm worker, a model process if any. */
  processes: number;
  /**
   * One input per call, as request body and as summarize() input: call k of either side gets
   * input k, so both see the same texts in the same order and neither sees a text twice (a
   * long-lived process's caches would make a repeated text unrealistically cheap).
   */
  inputs: { body: { messages: unknown } | { text: string }; input: SummarizeInput }[];
  load: () => ReturnType<typeof loadSummarizer>;
  /** Starts what the requests go through (default: the runtime with `args`). */
  start?: (issuerKeyFile: string) => Promise<Server>;
  /** Options of the direct call: the runtime's own, where it sets any. */
  options?: SummarizeOptions;
  rounds: number;
}

const WARM_UP = 3;

/** Inputs a side needs: the check, warm-up, calibration and timed calls of each case. */
const callsFor = (rounds: number) => 1 + WARM_UP + 1 + rounds;

async function measure(side: Side, issuer: TestIssuer): Promise<Result[]> {
  const tokens = await issuer.tokens(callsFor(side.rounds));
  const summarizer = await side.load();
  const runtime = await (side.start ??
    ((keyFile) =>
      startRuntime(["--emulated", "--issuer-key", keyFile, "--pool", "1", ...side.args])))(
      issuer.keyFile,
    );
  try {
    const config = await keyConfig(runtime.url);
    let gatewayCalls = 0;
    let directCalls = 0;
    const through = async () => {
      const { body } = side.inputs[gatewayCalls++];
      const a = await sendBhttp(runtime.url, config, summarizeRequest(body, tokens.pop()));
      if (a.status !== 200) throw new Error(`the runtime answered ${JSON.stringify(a)}`);
      return a.json!.summary!;
    };
    const direct = async () =>
      (await summarizer.summarize(side.inputs[directCalls++].input, side.options)).text;
    await settle(runtime.pid, side.processes);
    const [a, b] = [await through(), await direct()];
    if (a !== b) {
      throw new Error(`${side.name}: the runtime's summary differs from the direct call's`);
    }
    const before = () => settle(runtime.pid, side.processes);
    return await compare([
      { name: `${side.name}, through the gateway`, fn: through, before },
      { name: `${side.name}, summarize() directly`, fn: direct, before },
    ], { rounds: side.rounds, warmup: WARM_UP, minSampleMs: 0 });
  } finally {
    await runtime.stop();
    await summarizer.release();
    // Where the runtime's time went (its own counters: averages over every request above).
    const stopped = runtime.stderr().split("\n").find((l) => l.startsWith("runtime: stopped; "));
    if (stopped) {
      console.log(`${side.name}, runtime: ${stopped.slice("runtime: stopped; ".length)}`);
    }
  }
}

const suite: BenchSuite = async () => {
  const issuer = await TestIssuer.open();
  const publicIssuer = await TestIssuer.open({ tokenType: 2 });
  try {
    const extractiveRounds = 60;
    const chat = await chatMessages(20 * callsFor(extractiveRounds));
    const extractiveSide = (name: string): Side => ({
      name,
      args: [],
      processes: 2,
      inputs: Array.from({ length: callsFor(extractiveRounds) }, (_, k) => {
        const messages = chat.slice(20 * k, 20 * k + 20);
        return { body: { messages }, input: messages };
      }),
      // as runtime/worker.ts loads it
      load: () => loadSummarizer({ memArena: false, threads: 1 }),
      rounds: extractiveRounds,
    });
    const extractive = await measure(extractiveSide("extractive, 20 messages"), issuer);
    // The same request through the floor: the runtime's request path without its isolation.
    const floor = await measure({
      ...extractiveSide("extractive, 20 messages, no isolation (floor)"),
      start: (keyFile) => startFloor(["--issuer-key", keyFile]),
      processes: 1,
    }, issuer);
    // ... and without a token: the floor of everything else.
    const floorUnpaid = await measure({
      ...extractiveSide("extractive, 20 messages, no isolation, no token (floor)"),
      start: () => startFloor(["--no-tokens"]),
      processes: 1,
    }, issuer);
    // The same request paid with a publicly verifiable token: what the design costs without the
    // VOPRF P-384 evaluation (for reference; the goal is the default token type's).
    const extractive2 = await measure(
      extractiveSide("extractive, 20 messages, token type 0x0002"),
      publicIssuer,
    );

    const t5Rounds = 30;
    const dir = await fixedLengthT5();
    const texts = await passages(dir, INPUT_TOKENS, callsFor(t5Rounds));
    const fewest = Math.min(...texts.map((t) => t.tokens));
    log(`t5-small inputs: ${fewest}..${INPUT_TOKENS} tokens; output: ${NEW_TOKENS} tokens`);
    const t5 = await measure({
      name: `t5-small fp32, ${fewest}-${INPUT_TOKENS} → ${NEW_TOKENS} tokens`,
      args: ["--model", dir],
      processes: 3,
      inputs: texts.map(({ text }) => ({ body: { text }, input: text })),
      // as runtime/model_server.ts loads it (arena off) and runs it (no speculative decoding)
      load: () => loadSummarizer({ model: dir, memArena: false }),
      options: { generation: { promptLookupNumTokens: 0 } },
      rounds: t5Rounds,
    }, issuer);

    /** Gateway median − direct median, in ms: what the privacy layers add to a request. */
    const addedMs = (name: string, [through, direct]: Result[]): Ratio => ({
      name,
      value: through.median - direct.median,
      numerator: through.name,
      denominator: direct.name,
    });
    const extractiveAdded = addedMs("runtime-extractive-overhead-ms", extractive);
    const type2Added = addedMs("runtime-extractive-type2-overhead-ms", extractive2);
    const floorAdded = addedMs("runtime-floor-overhead-ms", floor);
    const unpaidAdded = addedMs("runtime-floor-unpaid-overhead-ms", floorUnpaid);
    const ratios: Ratio[] = [
      extractiveAdded,
      ratio("runtime-extractive-overhead", extractive[0], extractive[1]),
      type2Added,
      floorAdded,
      unpaidAdded,
      ratio("runtime-t5-overhead", t5[0], t5[1]),
    ];
    const extractiveMs = extractiveAdded.value;
    const t5Ratio = t5[0].median / t5[1].median;
    console.log(
      `runtime-extractive-overhead-ms = ${extractiveMs.toFixed(2)} ms added to the extractive ` +
        `request (gateway median − direct median; goal < ${GOALS.extractiveMs} ms: ${
          extractiveMs < GOALS.extractiveMs ? "met" : "NOT met"
        })`,
    );
    console.log(
      `runtime-extractive-type2-overhead-ms = ${type2Added.value.toFixed(2)} ms with a type ` +
        `0x0002 token instead (for reference)`,
    );
    console.log(
      `runtime-floor-overhead-ms = ${floorAdded.value.toFixed(2)} ms added by the request path ` +
        `alone (HTTP, OHTTP/HPKE, BHTTP, the type 0x0001 redemption; no isolation, ` +
        `bench/gateway_floor.ts): the least any design adds; ${
          (100 * floorAdded.value / t5[1].median).toFixed(2)
        } % of the direct t5 median`,
    );
    console.log(
      `runtime-floor-unpaid-overhead-ms = ${unpaidAdded.value.toFixed(2)} ms by the same ` +
        `without a token`,
    );
    console.log(
      `runtime-t5-overhead = ${t5Ratio.toFixed(4)}: ${((t5Ratio - 1) * 100).toFixed(2)} % ` +
        `(${(t5[0].median - t5[1].median).toFixed(1)} ms) added to the t5-small request ` +
        `(gateway median / direct median; goal < ${((GOALS.t5Ratio - 1) * 100).toFixed(0)} %: ${
          t5Ratio < GOALS.t5Ratio ? "met" : "NOT met"
        })`,
    );
    return { results: [...extractive, ...extractive2, ...floor, ...floorUnpaid, ...t5], ratios };
  } finally {
    await issuer.close();
    await publicIssuer.close();
  }
};

export default suite;
