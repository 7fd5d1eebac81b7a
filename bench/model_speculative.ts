/**
 * The speculative-greedy part of `deno task bench model`: what one cached decoder pass costs as
 * it verifies more draft tokens, and what prompt lookup would gain on real summaries.
 *
 * Why the projection: the benchmark's t5-small-shaped model has seeded random weights, and its
 * greedy output on the benchmark input is one token repeated 64 times, which prompt lookup
 * predicts perfectly (every draft accepted). That measures the loop at full acceptance, not what
 * a trained model gets. So the same lookup (model/speculative.ts, same draft-length schedule and
 * defaults) is replayed on SAMSum's validation dialogues with the human reference summary standing
 * in for the model's greedy output, and the passes it would take are priced with the pass costs
 * measured in the same run: their medians, and their 10th percentiles (nearer what an idle
 * machine gives: on a loaded one the timings of every size swing with the neighbours). Human summaries paraphrase more than models do (models copy more of
 * their input), and the tokenizer is the project's own, learnt from license text, which splits
 * rare names into more pieces than a real T5 vocabulary would; read the projection as an
 * estimate, not a measurement.
 */
import * as ort from "onnxruntime-node";
import { quantile } from "./harness.ts";
import { loadSamsum } from "./quality.ts";
import { nextDraftLength, promptLookup } from "../model/speculative.ts";
import type { Seq2SeqModel } from "../model/seq2seq.ts";
import type { Seq2SeqTokenizer } from "../model/tokenizer.ts";

/** Tokens per pass measured (the pending token plus 0–7 drafts). */
export const PASS_TOKENS = [1, 2, 3, 4, 5, 6, 8];
/** Self-attention cache length the passes run at (mid-way through a 64-token summary). */
const CACHE_LENGTH = 32;
/** Passes of each size per call: a shared machine's noise needs many samples. */
const SWEEPS = 3;

const i64 = (ids: ArrayLike<number>) =>
  new ort.Tensor("int64", BigInt64Array.from(Array.from(ids), BigInt), [1, ids.length]);

/**
 * A benchmark case timing one cached pass for each size in PASS_TOKENS (encoder output of
 * `input`, a cache of CACHE_LENGTH tokens).
 */
export async function passCost(model: Seq2SeqModel, input: Int32Array) {
  const mask = new BigInt64Array(input.length).fill(1n);
  const maskT = new ort.Tensor("int64", mask, [1, input.length]);
  const hidden = await model.encode(BigInt64Array.from(Array.from(input), BigInt), mask, 1);
  let { cache } = await model.start(i64([model.config.decoderStartTokenId]), maskT, hidden);
  for (let i = 0; i < CACHE_LENGTH - 1; i++) {
    cache = (await model.step(i64([input[i]]), maskT, hidden, cache)).cache;
  }
  const samples = new Map(PASS_TOKENS.map((t) => [t, [] as number[]]));
  const truncate: number[] = [];
  const pass = (t: number) =>
    model.step(i64(input.subarray(CACHE_LENGTH, CACHE_LENGTH + t)), maskT, hidden, cache);
  let calls = 0;
  return {
    fn: async () => {
      await pass(1); // untimed: the case before this one left other weights in the caches
      const n = PASS_TOKENS.length;
      for (let i = 0; i < n * SWEEPS; i++) { // rotating order: no size always runs first
        const t = PASS_TOKENS[(i + calls) % n];
        const t0 = performance.now();
        const out = await pass(t);
        samples.get(t)!.push(performance.now() - t0);
        if (t === PASS_TOKENS[n - 1]) { // roll back all but one of its tokens
          const t1 = performance.now();
          model.truncate(out.cache, CACHE_LENGTH + 1);
          truncate.push(performance.now() - t1);
        }
      }
      calls++;
    },
    /** Median ms of rolling back the cache after the largest pass (all but one token). */
    truncateMs: () => quantile(truncate, 0.5),
    /** The `q` quantile (default the median) of a t-token pass's ms, linear between sizes. */
    cost: (t: number, q = 0.5): number => {
      const at = (k: number) => quantile(samples.get(k)!, q);
      const hi = PASS_TOKENS.findIndex((k) => k >= t);
      if (hi < 0) throw new RangeError(`no pass of ${t} tokens was measured`);
      if (PASS_TOKENS[hi] === t || hi === 0) return at(PASS_TOKENS[hi]);
      const [a, b] = [PASS_TOKENS[hi - 1], PASS_TOKENS[hi]];
      return at(a) + (at(b) - at(a)) * (t - a) / (b - a);
    },
  };
}

export interface Replay {
  summaries: number;
  tokens: number;
  passes: number;
  drafted: number;
  accepted: number;
  /** How many passes fed each number of tokens (the pending one plus the draft). */
  sizes: Map<number, number>;
}

/**
 * Replays speculative greedy with prompt lookup (`draftTokens`, `ngram`) over SAMSum validation,
 * each reference summary (and eos) as the output: the passes it would take, by size.
 */
export async function samsumReplay(
  tok: Seq2SeqTokenizer,
  prefix: string,
  start: number,
  eos: number,
  draftTokens: number,
  ngram: number,
): Promise<Replay> {
  const r: Replay = {
    summaries: 0,
    tokens: 0,
    passes: 0,
    drafted: 0,
    accepted: 0,
    sizes: new Map(),
  };
  const draft = new Int32Array(draftTokens);
  for (const d of await loadSamsum()) {
    const input = tok.encode(prefix + d.dialogue);
    const summary = tok.encode(d.summary); // ends with eos
    const seq = new Int32Array(summary.length + 1);
    seq[0] = start;
    seq.set(summary, 1);
    let n = 1, length = draftTokens;
    for (;;) {
      const room = draft.subarray(0, Math.min(length, seq.length - n - 1));
      const drafted = promptLookup(seq, n, input, ngram, (id) => id === eos, room);
      r.sizes.set(drafted + 1, (r.sizes.get(drafted + 1) ?? 0) + 1);
      r.passes++;
      r.drafted += drafted;
      let i = 0; // the model takes the reference's next token, and the draft while it agrees
      while (i < drafted && draft[i] === seq[n + i]) i++;
      r.accepted += i;
      n += i + 1;
      if (n >= seq.length) break;
      length = nextDraftLength(length, drafted, i, draftTokens);
    }
    r.tokens += summary.length;
    r.summaries++;
  }
  return r;
}

/** Decoder ms per token of a replay whose passes cost `cost(tokens)`, over plain greedy's. */
export function speedup(r: Replay, cost: (tokens: number) => number): number {
  let ms = 0;
  for (const [size, count] of r.sizes) ms += count * cost(size);
  return r.tokens * cost(1) / ms;
}
