/**
 * T5 (v1.0: ReLU FFN, tied embeddings) seq2seq models with seeded weights, behind the Optimum
 * export interface of `optimum.ts` (encoder, decoder, decoder-with-past, merged; fp32 or int8),
 * plus the config.json and generation_config.json that transformers writes for them.
 *
 * The architecture follows HF `modeling_t5.py`: RMS norm without bias, unscaled attention,
 * bucketed relative position bias (computed by layer 0 of each stack and shared by the others;
 * the bucket table is computed here and gathered in-graph, clipped at max_distance where buckets
 * saturate), `(1 − mask) · finfo.min` padding masks, the tied LM head scaled by d_model^-0.5, and
 * HF's initialiser scales. Internal layout is free where the interface is not affected: Q, K and
 * V of self-attention are one fused matrix, and the LM head's scale is folded into its weight.
 * No torch cross-check exists (torch is not installed here); the tests check the graphs against
 * each other (cache vs no cache, padding) instead.
 */
import { mulberry32, Normal } from "../onnx/prng.ts";
import { MASK_VALUE, type Ops, Params } from "./layers.ts";
import { type GraphOptions, type GraphSet, type LayerCache, optimumGraphs } from "./optimum.ts";

/** The config.json fields of a T5 model that shape the graphs (HF names). */
export interface T5Config {
  vocab_size: number;
  d_model: number;
  d_kv: number;
  d_ff: number;
  num_heads: number;
  num_layers: number;
  num_decoder_layers: number;
  relative_attention_num_buckets: number;
  relative_attention_max_distance: number;
  layer_norm_epsilon: number;
  n_positions: number;
}

/** For tests: builds in well under a second. */
export const T5_TINY: T5Config = {
  vocab_size: 2048,
  d_model: 64,
  d_kv: 16,
  d_ff: 128,
  num_heads: 4,
  num_layers: 2,
  num_decoder_layers: 2,
  relative_attention_num_buckets: 32,
  relative_attention_max_distance: 128,
  layer_norm_epsilon: 1e-6,
  n_positions: 512,
};

/** The shape of Google's t5-small (60M parameters), for latency benchmarks. */
export const T5_SMALL: T5Config = {
  vocab_size: 32128,
  d_model: 512,
  d_kv: 64,
  d_ff: 2048,
  num_heads: 8,
  num_layers: 6,
  num_decoder_layers: 6,
  relative_attention_num_buckets: 32,
  relative_attention_max_distance: 128,
  layer_norm_epsilon: 1e-6,
  n_positions: 512,
};

/** T5's special ids (the sentencepiece vocabulary's first three pieces). */
export const T5_SPECIAL = { pad: 0, eos: 1, unk: 2 } as const;

/** HF `T5Attention._relative_position_bucket` for one relative position (key − query). */
export function relativeBucket(
  rel: number,
  bidirectional: boolean,
  numBuckets: number,
  maxDistance: number,
): number {
  let bucket = 0;
  let n = numBuckets;
  let r: number;
  if (bidirectional) {
    n = Math.floor(n / 2);
    if (rel > 0) bucket += n;
    r = Math.abs(rel);
  } else r = -Math.min(rel, 0);
  const maxExact = Math.floor(n / 2);
  if (r < maxExact) return bucket + r;
  // float32 arithmetic as torch does it, so boundary cases truncate the same way
  const f = Math.fround;
  const ratio = f(f(Math.log(f(r / maxExact))) / Math.log(maxDistance / maxExact));
  const large = maxExact + Math.trunc(f(ratio * (n - maxExact)));
  return bucket + Math.min(large, n - 1);
}

/** Seeded parameters with HF `T5PreTrainedModel._init_weights` scales (factor 1). */
export function t5Params(c: T5Config, seed: number): Params {
  const p = new Params(new Normal(mulberry32(seed)));
  const inner = c.num_heads * c.d_kv;
  const D = c.d_model;
  p.normal("shared", [c.vocab_size, D], 1);
  const std = { q: (D * c.d_kv) ** -0.5, kv: D ** -0.5, o: inner ** -0.5 };
  const ffn = (prefix: string) => {
    p.normal(`${prefix}.wi`, [D, c.d_ff], D ** -0.5);
    p.normal(`${prefix}.wo`, [c.d_ff, D], c.d_ff ** -0.5);
  };
  for (const stack of ["encoder", "decoder"]) {
    p.normal(
      `${stack}.relative_attention_bias`,
      [c.relative_attention_num_buckets, c.num_heads],
      D ** -0.5,
    );
    const layers = stack === "encoder" ? c.num_layers : c.num_decoder_layers;
    for (let i = 0; i < layers; i++) {
      const b = `${stack}.block.${i}`;
      p.constant(`${b}.layer.0.layer_norm`, [D], 1);
      p.attention(`${b}.layer.0.SelfAttention`, "self", D, inner, std);
      if (stack === "decoder") {
        p.constant(`${b}.layer.1.layer_norm`, [D], 1);
        p.attention(`${b}.layer.1.EncDecAttention`, "cross", D, inner, std);
      }
      const f = stack === "decoder" ? 2 : 1;
      p.constant(`${b}.layer.${f}.layer_norm`, [D], 1);
      ffn(`${b}.layer.${f}.DenseReluDense`);
    }
    p.constant(`${stack}.final_layer_norm`, [D], 1);
  }
  // tied LM head: logits = (h · d_model^-0.5) · sharedᵀ, the scale folded into the weight
  p.transposed("lm_head", "shared", D ** -0.5);
  return p;
}

/** [1, H, Q, K] relative position bias (plus the causal mask for the decoder). */
function positionBias(
  o: Ops,
  c: T5Config,
  stack: "encoder" | "decoder",
  queryStart: string,
  keyLength: string,
): string {
  const M = c.relative_attention_max_distance;
  const bidirectional = stack === "encoder";
  const zero = o.ints([0], []);
  const one = o.ints([1], []);
  const keys = o.op("Range", [zero, keyLength, one]);
  const queries = o.op("Range", [queryStart, keyLength, one]);
  const rel = o.op("Sub", [
    o.op("Unsqueeze", [keys, o.ints([0])]),
    o.op("Unsqueeze", [queries, o.ints([1])]),
  ]);
  // index = clip(rel) + M; past max_distance the bucket no longer changes
  const hi = bidirectional ? M : 1;
  const clipped = o.op("Min", [o.op("Max", [rel, o.ints([-M], [])]), o.ints([hi], [])]);
  const index = o.op("Add", [clipped, o.ints([M], [])]);
  const table: number[] = [];
  for (let r = -M; r <= hi; r++) {
    table.push(relativeBucket(r, bidirectional, c.relative_attention_num_buckets, M));
  }
  const buckets = o.op("Gather", [o.ints(table), index]);
  const perHead = o.op("Gather", [o.param(`${stack}.relative_attention_bias`), buckets]);
  let bias = o.op("Transpose", [perHead], { perm: [2, 0, 1] });
  if (!bidirectional) {
    // rel > 0 (a future key) has index M + 1: the last entry of the mask table
    const mask = new Float32Array(M + 2);
    mask[M + 1] = MASK_VALUE;
    const maskTable = o.once("t5-causal", () => o.root.float("causal_mask", mask, [M + 2]));
    bias = o.op("Add", [bias, o.op("Gather", [maskTable, index])]);
  }
  return o.op("Unsqueeze", [bias, o.ints([0])]);
}

function ffn(o: Ops, c: T5Config, h: string, prefix: string): string {
  const n = o.rmsNorm(h, `${prefix}.layer_norm`, c.layer_norm_epsilon);
  const act = o.op("Relu", [o.linear(n, `${prefix}.DenseReluDense.wi`)]);
  return o.op("Add", [h, o.linear(act, `${prefix}.DenseReluDense.wo`)]);
}

function shape(c: T5Config) {
  return { heads: c.num_heads, headDim: c.d_kv, biases: false };
}

function encoder(o: Ops, c: T5Config, inputIds: string, mask: string): string {
  let h = o.op("Gather", [o.param("shared"), inputIds]);
  const attend = {
    padding: mask,
    bias: positionBias(o, c, "encoder", o.ints([0], []), o.dim(inputIds, 1)),
  };
  for (let i = 0; i < c.num_layers; i++) {
    const b = `encoder.block.${i}`;
    const n = o.rmsNorm(h, `${b}.layer.0.layer_norm`, c.layer_norm_epsilon);
    h = o.op("Add", [h, o.selfAttention(n, `${b}.layer.0.SelfAttention`, shape(c), attend).out]);
    h = ffn(o, c, h, `${b}.layer.1`);
  }
  return o.rmsNorm(h, "encoder.final_layer_norm", c.layer_norm_epsilon);
}

function decoder(
  o: Ops,
  c: T5Config,
  inputIds: string,
  encoderMask: string,
  encoderHidden: string | undefined,
  past: LayerCache[] | undefined,
): { logits: string; present: LayerCache[] } {
  let h = o.op("Gather", [o.param("shared"), inputIds]);
  const pastLength = past ? o.dim(past[0].selfKey, 2) : o.ints([0], []);
  const total = o.op("Add", [pastLength, o.dim(inputIds, 1)]);
  const selfMask = { bias: positionBias(o, c, "decoder", pastLength, total) };
  const crossMask = { padding: encoderMask };
  const present: LayerCache[] = [];
  for (let i = 0; i < c.num_decoder_layers; i++) {
    const b = `decoder.block.${i}`;
    let n = o.rmsNorm(h, `${b}.layer.0.layer_norm`, c.layer_norm_epsilon);
    const cache = past && { key: past[i].selfKey, value: past[i].selfValue };
    const sa = o.selfAttention(n, `${b}.layer.0.SelfAttention`, shape(c), selfMask, {
      past: cache,
      present: true,
    });
    h = o.op("Add", [h, sa.out]);
    n = o.rmsNorm(h, `${b}.layer.1.layer_norm`, c.layer_norm_epsilon);
    const source = past
      ? { key: past[i].crossKey, value: past[i].crossValue }
      : { encoderHidden: encoderHidden! };
    const ca = o.crossAttention(n, `${b}.layer.1.EncDecAttention`, shape(c), crossMask, source);
    h = o.op("Add", [h, ca.out]);
    h = ffn(o, c, h, `${b}.layer.2`);
    present.push({ selfKey: sa.key, selfValue: sa.value, crossKey: ca.key, crossValue: ca.value });
  }
  h = o.rmsNorm(h, "decoder.final_layer_norm", c.layer_norm_epsilon);
  return { logits: o.linear(h, "lm_head"), present };
}

/** The four Optimum graphs of a T5 model. */
export function t5Graphs(c: T5Config, params: Params, options: GraphOptions): GraphSet {
  return optimumGraphs(
    {
      dModel: c.d_model,
      heads: c.num_heads,
      headDim: c.d_kv,
      decoderLayers: c.num_decoder_layers,
      vocab: c.vocab_size,
      encoder: (o, ids, mask) => encoder(o, c, ids, mask),
      decoder: (o, ids, mask, hidden, past) => decoder(o, c, ids, mask, hidden, past),
    },
    params,
    options,
  );
}

/** config.json as transformers' T5Config writes it. */
export function t5ConfigJson(c: T5Config): Record<string, unknown> {
  return {
    architectures: ["T5ForConditionalGeneration"],
    model_type: "t5",
    ...c,
    feed_forward_proj: "relu",
    dense_act_fn: "relu",
    is_gated_act: false,
    is_encoder_decoder: true,
    tie_word_embeddings: true,
    initializer_factor: 1.0,
    dropout_rate: 0.1,
    use_cache: true,
    pad_token_id: T5_SPECIAL.pad,
    eos_token_id: T5_SPECIAL.eos,
    decoder_start_token_id: T5_SPECIAL.pad,
    task_specific_params: {
      summarization: {
        early_stopping: true,
        length_penalty: 2.0,
        max_length: 200,
        min_length: 30,
        no_repeat_ngram_size: 3,
        num_beams: 4,
        prefix: "summarize: ",
      },
    },
  };
}

export function t5GenerationConfigJson(): Record<string, unknown> {
  return {
    decoder_start_token_id: T5_SPECIAL.pad,
    eos_token_id: T5_SPECIAL.eos,
    pad_token_id: T5_SPECIAL.pad,
  };
}
