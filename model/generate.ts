/**
 * Seq2seq generation over a loaded `Seq2SeqModel`: greedy search and beam search with
 * transformers' semantics (`GenerationMixin`, `BeamSearchScorer`, `BeamHypotheses` of
 * transformers 4.4x): max_new_tokens, min_length (decoder length with the start token),
 * min_new_tokens, no_repeat_ngram_size, length_penalty (score / generated_len^lp),
 * early_stopping (true, false, "never"), forced BOS/EOS (BART), decoder_start / eos / pad ids
 * from config.json and generation_config.json.
 *
 *   const out = await generate(model, inputIds, { maxNewTokens: 64, numBeams: 4 });
 *   out.ids        // Int32Array of new tokens (ending with eos when the model stopped)
 *   wipe(out.ids)  // after use
 *
 * Token ids in, token ids out: the runtime's model process never handles text
 * (`generateText` is the convenience wrapper for callers that hold a tokenizer).
 *
 * Greedy search is speculative by default where the model allows it (`Seq2SeqModel.multiTokenSteps`:
 * the merged decoder of an Optimum export, checked at load): prompt lookup (`speculative.ts`)
 * drafts up to `promptLookupNumTokens` tokens, one decoder pass over the last token and the draft
 * gives the model's logits at every position, and the loop keeps the draft's tokens while they
 * are what greedy would pick from those logits — after the same logits processors, with the
 * same prefix, so min_length, no_repeat_ngram_size and forced BOS/EOS act exactly as in plain
 * greedy — then takes the model's own token at the first disagreement and rolls the
 * self-attention cache back to it. The tokens are plain greedy's (up to float rounding: a pass
 * over several tokens may sum in another order, which can only flip an exact tie); what changes
 * is how many passes read the weights. `stats` counts passes, drafted and accepted tokens.
 *
 * Input over the model's context length is refused with `InputError("input-too-long")` by
 * default; `overflow: "truncate"` keeps the leading tokens (and a final eos), and says so in
 * `warnings`. Refusing is the default because a summary of a silently cut input looks complete
 * but is not.
 *
 * Wiping: every typed array this module fills (ids, masks, tensors that ORT returned: encoder
 * states, logits, KV cache) is zeroed as soon as it is superseded and, at the latest, before
 * `generate` returns or throws. The returned ids are the caller's to wipe.
 */
import * as ort from "onnxruntime-node";
import type { GenerationDefaults, Seq2SeqConfig } from "./config.ts";
import { InputError } from "./errors.ts";
import type { Clock, KvCache, Seq2SeqModel } from "./seq2seq.ts";
import { nextDraftLength, PROMPT_LOOKUP, promptLookup } from "./speculative.ts";
import type { Seq2SeqTokenizer } from "./tokenizer.ts";

export interface GenerateOptions extends GenerationDefaults {
  /** Most tokens generated (default: generation_config's, else max_length − 1, else 19). */
  maxNewTokens?: number;
  /** Least tokens generated before eos is allowed. */
  minNewTokens?: number;
  /** Input longer than the context: "refuse" (default, InputError) or "truncate". */
  overflow?: "refuse" | "truncate";
  /**
   * "greedy" needs numBeams 1; "beam" runs beam search even with one beam (which equals greedy
   * with earlyStopping); default: greedy for one beam, else beam.
   */
  search?: "greedy" | "beam";
  /**
   * Greedy search: most draft tokens proposed by prompt lookup per decoder pass (transformers'
   * prompt_lookup_num_tokens); 0 turns speculation off. Default `PROMPT_LOOKUP.draftTokens`.
   */
  promptLookupNumTokens?: number;
  /** Longest n-gram prompt lookup matches (transformers' max_matching_ngram_size, default 2). */
  maxMatchingNgramSize?: number;
}

export interface GenerateStats {
  inputTokens: number;
  newTokens: number;
  /** Wall time of the encoder run. */
  encoderMs: number;
  /** Wall time of the first decoder step (decoder_model: computes the cross-attention cache). */
  firstStepMs: number;
  /** Wall time of the later steps together (decoder_with_past). */
  stepsMs: number;
  /** Total wall time of `generate`. */
  wallMs: number;
  /** Time inside ORT `session.run` calls, all graphs. */
  ortMs: number;
  runs: number;
  /** Decoder passes (one per token without speculation). */
  passes: number;
  /** Draft tokens proposed, and those the model agreed with (speculative greedy). */
  drafted: number;
  accepted: number;
  /** Wall time spent rolling the self-attention cache back after rejected drafts. */
  truncateMs: number;
}

/** Stats of a generation that has not run yet (all counts zero). */
export function emptyStats(inputTokens: number): GenerateStats {
  return {
    inputTokens,
    newTokens: 0,
    encoderMs: 0,
    firstStepMs: 0,
    stepsMs: 0,
    wallMs: 0,
    ortMs: 0,
    runs: 0,
    passes: 0,
    drafted: 0,
    accepted: 0,
    truncateMs: 0,
  };
}

export interface GenerateResult {
  ids: Int32Array;
  warnings: string[];
  stats: GenerateStats;
}

/**
 * Ids in, ids out for a model with this config: the model in this process (`localGenerator`), or
 * a process that holds it (the runtime's model process), so text never has to travel there.
 */
export interface IdGenerator {
  readonly config: Seq2SeqConfig;
  generate(ids: Int32Array, options: GenerateOptions): Promise<GenerateResult>;
}

export function localGenerator(model: Seq2SeqModel): IdGenerator {
  return { config: model.config, generate: (ids, options) => generate(model, ids, options) };
}

/** Zeroes typed arrays (ids, tensor data) in place. */
export function wipe(...arrays: (ArrayBufferView | undefined)[]): void {
  for (const a of arrays) {
    if (a) new Uint8Array(a.buffer, a.byteOffset, a.byteLength).fill(0);
  }
}

function wipeTensors(tensors: Iterable<ort.Tensor | undefined>): void {
  for (const t of tensors) if (t) wipe(t.data as ArrayBufferView);
}

interface Settings {
  maxNewTokens: number;
  minLength: number;
  minNewTokens: number;
  numBeams: number;
  lengthPenalty: number;
  earlyStopping: boolean | "never";
  noRepeatNgramSize: number;
  start: number;
  eos: Set<number>;
  forcedBos?: number;
  forcedEos?: number;
  draftTokens: number;
  draftNgram: number;
}

/** Far past any summary; bounds the buffers a request can make the generator allocate. */
const MAX_NEW_TOKENS = 4096;
const MAX_BEAMS = 64;

function positiveInt(name: string, v: number | undefined, min: number, max = Infinity): void {
  if (v !== undefined && (!Number.isInteger(v) || v < min || v > max)) {
    throw new InputError(
      "bad-input",
      `${name} must be an integer ${max === Infinity ? `≥ ${min}` : `${min}..${max}`}, got ${v}`,
    );
  }
}

function settings(model: Seq2SeqModel, options: GenerateOptions): Settings {
  const c = model.config;
  const o = { ...c.generation, ...stripUndefined(options) };
  // BART's decoder positions end at its context; T5's relative positions do not.
  const most = c.family === "bart" ? Math.min(MAX_NEW_TOKENS, c.contextLength - 1) : MAX_NEW_TOKENS;
  positiveInt("maxNewTokens", o.maxNewTokens, 1, most);
  positiveInt("maxLength", o.maxLength, 2, most + 1);
  positiveInt("minLength", o.minLength, 0);
  positiveInt("minNewTokens", o.minNewTokens, 0);
  positiveInt("numBeams", o.numBeams, 1, MAX_BEAMS);
  positiveInt("noRepeatNgramSize", o.noRepeatNgramSize, 0);
  positiveInt("promptLookupNumTokens", o.promptLookupNumTokens, 0);
  positiveInt("maxMatchingNgramSize", o.maxMatchingNgramSize, 1);
  // From JavaScript callers without types: an unknown value must not fall back to a default.
  if (![undefined, "refuse", "truncate"].includes(options.overflow)) {
    throw new InputError(
      "bad-input",
      `overflow must be "refuse" or "truncate", got ${options.overflow}`,
    );
  }
  if (options.search !== undefined && options.search !== "greedy" && options.search !== "beam") {
    throw new InputError("bad-input", `search must be "greedy" or "beam", got ${options.search}`);
  }
  if (![undefined, true, false, "never"].includes(o.earlyStopping)) {
    throw new InputError("bad-input", `earlyStopping must be true, false or "never"`);
  }
  if (o.lengthPenalty !== undefined && !Number.isFinite(o.lengthPenalty)) {
    throw new InputError("bad-input", `lengthPenalty must be a finite number`);
  }
  // transformers: max_new_tokens wins over max_length (which counts the start token); default 20
  const maxNewTokens = o.maxNewTokens ?? (o.maxLength ?? 20) - 1;
  return {
    maxNewTokens,
    minLength: o.minLength ?? 0,
    minNewTokens: o.minNewTokens ?? 0,
    numBeams: o.numBeams ?? 1,
    lengthPenalty: o.lengthPenalty ?? 1,
    earlyStopping: o.earlyStopping ?? false,
    noRepeatNgramSize: o.noRepeatNgramSize ?? 0,
    start: c.decoderStartTokenId,
    eos: new Set(c.eosTokenIds),
    forcedBos: c.forcedBosTokenId,
    forcedEos: c.forcedEosTokenId,
    draftTokens: o.promptLookupNumTokens ?? PROMPT_LOOKUP.draftTokens,
    draftNgram: o.maxMatchingNgramSize ?? PROMPT_LOOKUP.maxNgram,
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * The logits processors of transformers, in its order, applied in place to one row of scores
 * for a hypothesis `seq` (decoder ids, start token included).
 */
function process(scores: Float32Array, seq: Int32Array, s: Settings): void {
  const len = seq.length;
  const banEos = () => {
    for (const e of s.eos) if (e < scores.length) scores[e] = -Infinity;
  };
  if (len < s.minLength) banEos(); // MinLengthLogitsProcessor
  if (len - 1 < s.minNewTokens) banEos(); // MinNewTokensLengthLogitsProcessor
  const n = s.noRepeatNgramSize; // NoRepeatNGramLogitsProcessor
  if (n > 0 && len + 1 >= n) {
    // ban every token that followed an earlier occurrence of the last n−1 tokens
    for (let i = 0; i + n <= len; i++) {
      let same = true;
      for (let k = 0; k < n - 1 && same; k++) same = seq[i + k] === seq[len - n + 1 + k];
      if (same) scores[seq[i + n - 1]] = -Infinity;
    }
  }
  const force = (id: number) => {
    const keep = scores[id];
    scores.fill(-Infinity);
    scores[id] = Number.isFinite(keep) ? keep : 0;
  };
  if (s.forcedBos !== undefined && len === 1) force(s.forcedBos); // ForcedBOSTokenLogitsProcessor
  if (s.forcedEos !== undefined && len === s.maxNewTokens) force(s.forcedEos); // ForcedEOS…: max_length − 1
}

/**
 * ids[i] = id (0 ≤ id < 2³¹) through the low 32-bit word: no BigInt is made, so no copy of a
 * token id lingers on the JS heap after the buffer is wiped.
 */
function setId(ids: BigInt64Array, i: number, id: number): void {
  const words = new Int32Array(ids.buffer, ids.byteOffset, ids.length * 2);
  words[2 * i] = id; // little-endian: the low word first (x86-64, arm64)
  words[2 * i + 1] = 0;
}

/** Checks and (with overflow "truncate") cuts the input; returns int64 ids. */
function prepareInput(
  model: Seq2SeqModel,
  input: ArrayLike<number>,
  overflow: "refuse" | "truncate",
  warnings: string[],
): BigInt64Array {
  if (input.length === 0) throw new InputError("empty-input", "no input tokens");
  const V = model.config.vocabSize;
  for (let i = 0; i < input.length; i++) {
    const id = input[i];
    if (!Number.isInteger(id) || id < 0 || id >= V) {
      throw new InputError("bad-input", `input token ${i} is not an id in [0, ${V})`);
    }
  }
  const max = model.contextLength;
  let n = input.length;
  const eos = model.config.eosTokenIds.includes(input[input.length - 1]);
  if (n > max) {
    if (overflow === "refuse") {
      throw new InputError(
        "input-too-long",
        `input has ${n} tokens; the model accepts at most ${max} (pass overflow: "truncate" to cut it)`,
      );
    }
    warnings.push(`input truncated from ${n} to ${max} tokens (the model's context length)`);
    n = max;
  }
  const ids = new BigInt64Array(n);
  for (let i = 0; i < n; i++) setId(ids, i, input[i]);
  if (n < input.length && eos) setId(ids, n - 1, input[input.length - 1]); // keep the final eos
  return ids;
}

/** Index of the largest score (the first on ties). */
function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/** Generates up to `maxNewTokens` tokens for one input sequence. */
export async function generate(
  model: Seq2SeqModel,
  input: ArrayLike<number>,
  options: GenerateOptions = {},
): Promise<GenerateResult> {
  const t0 = performance.now();
  const s = settings(model, options);
  const warnings: string[] = [];
  const ids = prepareInput(model, input, options.overflow ?? "refuse", warnings);
  const clock: Clock = { ortMs: 0, runs: 0 };
  const stats = emptyStats(ids.length);
  const mask = new BigInt64Array(ids.length).fill(1n);
  let hidden: ort.Tensor | undefined;
  try {
    const te = performance.now();
    hidden = await model.encode(ids, mask, 1, clock);
    stats.encoderMs = performance.now() - te;
    const search = options.search ?? (s.numBeams === 1 ? "greedy" : "beam");
    if (search === "greedy" && s.numBeams !== 1) {
      throw new InputError("bad-input", `greedy search takes one beam, not ${s.numBeams}`);
    }
    let out: Int32Array;
    if (search === "beam") out = await beam(model, hidden, mask, s, clock, stats);
    else if (s.draftTokens > 0 && model.multiTokenSteps) {
      out = await speculativeGreedy(model, hidden, mask, ids, s, clock, stats);
    } else out = await greedy(model, hidden, mask, s, clock, stats);
    stats.newTokens = out.length;
    return { ids: out, warnings, stats };
  } finally {
    wipe(ids, mask);
    wipeTensors([hidden]);
    stats.ortMs = clock.ortMs;
    stats.runs = clock.runs;
    stats.wallMs = performance.now() - t0;
  }
}

/** Decodes one hypothesis per batch row; the loop both searches share. */
async function decode(
  model: Seq2SeqModel,
  hidden: ort.Tensor,
  encoderMask: BigInt64Array,
  batch: number,
  clock: Clock,
  stats: GenerateStats,
  /** Picks the next tokens from logits [batch, vocab] (rows of `logits`); false: stop. */
  choose: (
    logits: Float32Array,
    step: number,
  ) => { tokens: Int32Array; reorder?: Int32Array } | false,
): Promise<void> {
  const S = encoderMask.length;
  let maskData = encoderMask;
  let hiddenT = hidden;
  if (batch > 1) { // every beam attends to the same encoder output
    maskData = new BigInt64Array(batch * S).fill(1n);
    const h = hidden.data as Float32Array;
    const wide = new Float32Array(batch * h.length);
    for (let b = 0; b < batch; b++) wide.set(h, b * h.length);
    hiddenT = new ort.Tensor("float32", wide, [batch, ...hidden.dims.slice(1)]);
  }
  const maskT = new ort.Tensor("int64", maskData, [batch, S]);
  const stepIds = new BigInt64Array(batch);
  let logits: ort.Tensor | undefined;
  let cache: KvCache | undefined;
  try {
    for (let b = 0; b < batch; b++) setId(stepIds, b, model.config.decoderStartTokenId);
    const idsT = new ort.Tensor("int64", stepIds, [batch, 1]);
    const tf = performance.now();
    ({ logits, cache } = await model.start(idsT, maskT, hiddenT, clock));
    stats.firstStepMs = performance.now() - tf;
    stats.passes++;
    for (let step = 0;; step++) {
      const choice = choose(logits.data as Float32Array, step);
      if (choice === false) break;
      for (let b = 0; b < batch; b++) setId(stepIds, b, choice.tokens[b]);
      if (choice.reorder) cache = { self: reorder(cache.self, choice.reorder), cross: cache.cross };
      const ts = performance.now();
      wipeTensors([logits]);
      const next = await model.step(idsT, maskT, hiddenT, cache, clock);
      stats.stepsMs += performance.now() - ts;
      stats.passes++;
      wipeTensors(cache.self);
      ({ logits, cache } = next);
    }
  } finally {
    wipe(stepIds);
    wipeTensors([logits, ...(cache?.self ?? []), ...(cache?.cross ?? [])]);
    if (batch > 1) {
      wipe(maskData);
      wipeTensors([hiddenT]);
    }
  }
}

/** Rows of each [batch, …] cache tensor taken in the order `from` (beam search's reindexing). */
function reorder(tensors: ort.Tensor[], from: Int32Array): ort.Tensor[] {
  if (from.every((b, i) => b === i)) return tensors;
  return tensors.map((t) => {
    const data = t.data as Float32Array;
    const row = data.length / t.dims[0];
    const out = new Float32Array(data.length);
    from.forEach((src, dst) => out.set(data.subarray(src * row, (src + 1) * row), dst * row));
    wipe(data);
    return new ort.Tensor("float32", out, t.dims);
  });
}

/** Greedy search: the most likely token each step. */
async function greedy(
  model: Seq2SeqModel,
  hidden: ort.Tensor,
  mask: BigInt64Array,
  s: Settings,
  clock: Clock,
  stats: GenerateStats,
): Promise<Int32Array> {
  const seq = new Int32Array(s.maxNewTokens + 1);
  seq[0] = s.start;
  let n = 1;
  const tokens = new Int32Array(1);
  try {
    await decode(model, hidden, mask, 1, clock, stats, (logits) => {
      const row = logits; // [1, 1, vocab]: the one row
      process(row, seq.subarray(0, n), s);
      const tok = argmax(row);
      seq[n++] = tok;
      if (s.eos.has(tok) || n > s.maxNewTokens) return false;
      tokens[0] = tok;
      return { tokens };
    });
    return seq.slice(1, n);
  } finally {
    wipe(seq, tokens);
  }
}

/**
 * Greedy search that verifies prompt-lookup drafts: each pass feeds the pending token (the last
 * one chosen, not yet in the cache) and up to `s.draftTokens` drafted ones; row i of its logits
 * decides the token after the i-th fed one. The cache always holds every token but the pending.
 */
async function speculativeGreedy(
  model: Seq2SeqModel,
  hidden: ort.Tensor,
  encoderMask: BigInt64Array,
  inputIds: BigInt64Array,
  s: Settings,
  clock: Clock,
  stats: GenerateStats,
): Promise<Int32Array> {
  const V = model.config.vocabSize;
  const seq = new Int32Array(s.maxNewTokens + 1);
  seq[0] = s.start;
  let n = 1;
  const draft = new Int32Array(Math.min(s.draftTokens, s.maxNewTokens));
  const feed = new BigInt64Array(draft.length + 1);
  // the input ids as int32 for the lookup: the low words of the int64 ids
  const words = new Int32Array(inputIds.buffer, inputIds.byteOffset, inputIds.length * 2);
  const source = new Int32Array(inputIds.length);
  for (let i = 0; i < source.length; i++) source[i] = words[2 * i];
  const isEos = (id: number) => s.eos.has(id);
  const maskT = new ort.Tensor("int64", encoderMask, [1, encoderMask.length]);
  let logits: ort.Tensor | undefined;
  let cache: KvCache | undefined;
  try {
    setId(feed, 0, s.start);
    const tf = performance.now();
    ({ logits, cache } = await model.start(
      new ort.Tensor("int64", feed.subarray(0, 1), [1, 1]),
      maskT,
      hidden,
      clock,
    ));
    stats.firstStepMs = performance.now() - tf;
    stats.passes++;
    let drafted = 0; // draft tokens fed in the last pass (its logits have drafted + 1 rows)
    let length = s.draftTokens; // how many the next draft may have
    for (;;) {
      const rows = logits.data as Float32Array;
      let i = 0;
      let done = false;
      for (;; i++) {
        const row = rows.subarray(i * V, (i + 1) * V);
        process(row, seq.subarray(0, n), s);
        const tok = argmax(row);
        seq[n++] = tok;
        if (s.eos.has(tok) || n > s.maxNewTokens) done = true;
        else if (i < drafted && tok === draft[i]) continue; // already in the cache
        break;
      }
      stats.accepted += i;
      length = nextDraftLength(length, drafted, i, s.draftTokens);
      wipeTensors([logits]);
      if (done) break;
      if (i < drafted) { // rejected drafts: keep the cache's first n − 1 positions
        const tt = performance.now();
        cache = model.truncate(cache, n - 1);
        stats.truncateMs += performance.now() - tt;
      }
      // a draft longer than the tokens left could never be used
      const room = draft.subarray(0, Math.min(length, s.maxNewTokens - n));
      drafted = promptLookup(seq, n, source, s.draftNgram, isEos, room);
      stats.drafted += drafted;
      setId(feed, 0, seq[n - 1]);
      for (let k = 0; k < drafted; k++) setId(feed, k + 1, draft[k]);
      const ts = performance.now();
      const ids = new ort.Tensor("int64", feed.subarray(0, drafted + 1), [1, drafted + 1]);
      const next = await model.step(ids, maskT, hidden, cache, clock);
      stats.stepsMs += performance.now() - ts;
      stats.passes++;
      wipeTensors(cache.self);
      ({ logits, cache } = next);
    }
    return seq.slice(1, n);
  } finally {
    wipe(seq, draft, feed, source);
    wipeTensors([logits, ...(cache?.self ?? []), ...(cache?.cross ?? [])]);
  }
}

/** Finished hypotheses of beam search (transformers' `BeamHypotheses`). */
class Hypotheses {
  readonly items: { tokens: Int32Array; score: number }[] = [];
  worst = Infinity;

  constructor(private readonly s: Settings) {}

  /** `tokens`: decoder ids after the start token; `generated`: how many count for the penalty. */
  add(tokens: Int32Array, sumLogprobs: number, generated: number): void {
    const score = sumLogprobs / Math.max(generated, 1) ** this.s.lengthPenalty;
    if (this.items.length < this.s.numBeams || score > this.worst) {
      this.items.push({ tokens, score });
      if (this.items.length > this.s.numBeams) {
        this.items.sort((a, b) => a.score - b.score);
        wipe(this.items.shift()!.tokens);
      }
      this.worst = Math.min(...this.items.map((h) => h.score));
    } else wipe(tokens);
  }

  /** transformers' `is_done`; `generated`: tokens generated so far (without the start token). */
  done(bestSumLogprobs: number, generated: number): boolean {
    if (this.items.length < this.s.numBeams) return false;
    if (this.s.earlyStopping === true) return true;
    const length = this.s.earlyStopping === "never" && this.s.lengthPenalty > 0
      ? this.s.maxNewTokens
      : generated;
    return this.worst >= bestSumLogprobs / Math.max(length, 1) ** this.s.lengthPenalty;
  }
}

/** Beam search with `s.numBeams` beams in one batch. */
async function beam(
  model: Seq2SeqModel,
  hidden: ort.Tensor,
  mask: BigInt64Array,
  s: Settings,
  clock: Clock,
  stats: GenerateStats,
): Promise<Int32Array> {
  const K = s.numBeams;
  const V = model.config.vocabSize;
  const width = s.maxNewTokens + 1;
  let seqs = new Int32Array(K * width).fill(s.start);
  let scores = new Float64Array(K).fill(-1e9);
  scores[0] = 0; // all beams start alike: only the first expands at step 0
  const hyps = new Hypotheses(s);
  const tokens = new Int32Array(K);
  const from = new Int32Array(K);
  const keep = Math.max(2, 1 + s.eos.size) * K; // transformers' n_tokens_to_keep
  const candScore = new Float64Array(keep);
  const candBeam = new Int32Array(keep);
  const candToken = new Int32Array(keep);
  let done = false;
  try {
    await decode(model, hidden, mask, K, clock, stats, (logits, step) => {
      const len = step + 1; // decoder length so far, start token included
      let found = 0;
      for (let b = 0; b < K; b++) {
        const row = logits.subarray(b * V, (b + 1) * V);
        logSoftmax(row);
        process(row, seqs.subarray(b * width, b * width + len), s);
        for (let v = 0; v < V; v++) {
          const sc = row[v] + scores[b];
          if (found === keep && !(sc > candScore[keep - 1])) continue;
          let i = found < keep ? found++ : keep - 1; // insertion into the sorted top `keep`
          while (i > 0 && candScore[i - 1] < sc) {
            candScore[i] = candScore[i - 1];
            candBeam[i] = candBeam[i - 1];
            candToken[i] = candToken[i - 1];
            i--;
          }
          candScore[i] = sc;
          candBeam[i] = b;
          candToken[i] = v;
        }
      }
      const next = new Float64Array(K);
      let chosen = 0;
      for (let r = 0; r < found && chosen < K; r++) {
        const b = candBeam[r];
        if (s.eos.has(candToken[r])) {
          if (r >= K) continue; // an eos outside the top K makes no hypothesis
          // generated_len counts the eos: transformers' cur_len − decoder_prompt_len
          hyps.add(seqs.slice(b * width + 1, b * width + len), candScore[r], len);
          continue;
        }
        next[chosen] = candScore[r];
        from[chosen] = b;
        tokens[chosen++] = candToken[r];
      }
      const grown = new Int32Array(K * width);
      for (let k = 0; k < K; k++) {
        grown.set(seqs.subarray(from[k] * width, from[k] * width + len), k * width);
        grown[k * width + len] = tokens[k];
      }
      wipe(seqs, scores);
      seqs = grown;
      scores = next;
      done = hyps.done(candScore[0], len);
      if (done || len === s.maxNewTokens) return false;
      return { tokens, reorder: from };
    });
    if (!done) {
      // out of length: the running beams are hypotheses too (transformers' finalize)
      for (let k = 0; k < K; k++) {
        hyps.add(seqs.slice(k * width + 1, (k + 1) * width), scores[k], s.maxNewTokens);
      }
    }
    const best = hyps.items.reduce((a, b) => (b.score > a.score ? b : a));
    // a hypothesis shorter than the length limit ended with eos, which it does not hold
    const ended = best.tokens.length < s.maxNewTokens;
    const out = new Int32Array(best.tokens.length + (ended ? 1 : 0));
    out.set(best.tokens);
    if (ended) out[best.tokens.length] = s.eos.values().next().value!;
    return out;
  } finally {
    wipe(seqs, scores, tokens, from, candScore, candBeam, candToken);
    for (const h of hyps.items) wipe(h.tokens);
  }
}

/** In-place log-softmax of one row (float64 accumulation). */
function logSoftmax(row: Float32Array): void {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  const lse = max + Math.log(sum);
  for (let i = 0; i < row.length; i++) row[i] -= lse;
}

/**
 * Text in, text out, as transformers' summarization pipeline does it: the model's summarisation
 * prefix and task settings (config.json's task_specific_params.summarization), then `options`.
 * The input and output ids are wiped before returning; the strings cannot be.
 */
export async function generateText(
  model: Seq2SeqModel | IdGenerator,
  tokenizer: Seq2SeqTokenizer,
  text: string,
  options: GenerateOptions & { prefix?: string } = {},
): Promise<{ text: string; warnings: string[]; stats: GenerateStats }> {
  if (text.trim() === "") throw new InputError("empty-input", "no text to summarise");
  const generator = "generate" in model ? model : localGenerator(model);
  const { prefix = generator.config.summarizationPrefix, ...rest } = options;
  const ids = tokenizer.encode(prefix + text);
  let out: GenerateResult | undefined;
  try {
    out = await generator.generate(ids, {
      ...generator.config.summarization,
      ...stripUndefined(rest),
    });
    return { text: tokenizer.decode(out.ids), warnings: out.warnings, stats: out.stats };
  } finally {
    wipe(ids, out?.ids);
  }
}
