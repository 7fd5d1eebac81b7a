/**
 * BART seq2seq models with seeded weights, behind the Optimum export interface of `optimum.ts`,
 * plus config.json and generation_config.json as transformers writes them for BART.
 *
 * The architecture follows HF `modeling_bart.py`: learned positions with BART's offset of 2,
 * `layernorm_embedding`, post-norm layers (LayerNorm after each residual add), exact GELU,
 * biases on every projection, attention scaled by head_dim^-0.5 (folded into the Q projection),
 * causal and padding masks of `finfo.min`, and the LM head tied to the token embedding plus
 * `final_logits_bias`. Initialisation is HF's (`init_std` 0.02) except that biases get small
 * random values instead of zeros, so a bias the graph forgot would show in the tests.
 */
import { mulberry32, Normal } from "../onnx/prng.ts";
import { MASK_VALUE, type Ops, Params } from "./layers.ts";
import { type GraphOptions, type GraphSet, type LayerCache, optimumGraphs } from "./optimum.ts";

/** The config.json fields of a BART model that shape the graphs (HF names). */
export interface BartConfig {
  vocab_size: number;
  d_model: number;
  encoder_layers: number;
  decoder_layers: number;
  encoder_attention_heads: number;
  decoder_attention_heads: number;
  encoder_ffn_dim: number;
  decoder_ffn_dim: number;
  max_position_embeddings: number;
}

/** BART's learned-position offset (`BartLearnedPositionalEmbedding.offset`). */
const POSITION_OFFSET = 2;
const LN_EPS = 1e-5;
const INIT_STD = 0.02;

/** For tests. `vocab_size` must match the tokenizer built for it. */
export const BART_TINY: BartConfig = {
  vocab_size: 1024,
  d_model: 64,
  encoder_layers: 2,
  decoder_layers: 2,
  encoder_attention_heads: 4,
  decoder_attention_heads: 4,
  encoder_ffn_dim: 128,
  decoder_ffn_dim: 128,
  max_position_embeddings: 256,
};

export const BART_SPECIAL = { bos: 0, pad: 1, eos: 2, unk: 3 } as const;

export function bartParams(c: BartConfig, seed: number): Params {
  const p = new Params(new Normal(mulberry32(seed)));
  const D = c.d_model;
  const std = { q: INIT_STD, kv: INIT_STD, o: INIT_STD, bias: INIT_STD };
  p.normal("shared", [c.vocab_size, D], INIT_STD);
  const norm = (name: string) => {
    p.constant(`${name}.weight`, [D], 1);
    p.normal(`${name}.bias`, [D], INIT_STD);
  };
  for (const stack of ["encoder", "decoder"] as const) {
    const heads = stack === "encoder" ? c.encoder_attention_heads : c.decoder_attention_heads;
    const ffn = stack === "encoder" ? c.encoder_ffn_dim : c.decoder_ffn_dim;
    const scale = (D / heads) ** -0.5;
    p.normal(
      `${stack}.embed_positions`,
      [c.max_position_embeddings + POSITION_OFFSET, D],
      INIT_STD,
    );
    norm(`${stack}.layernorm_embedding`);
    const layers = stack === "encoder" ? c.encoder_layers : c.decoder_layers;
    for (let i = 0; i < layers; i++) {
      const l = `${stack}.layers.${i}`;
      p.attention(`${l}.self_attn`, "self", D, D, std, scale);
      norm(`${l}.self_attn_layer_norm`);
      if (stack === "decoder") {
        p.attention(`${l}.encoder_attn`, "cross", D, D, std, scale);
        norm(`${l}.encoder_attn_layer_norm`);
      }
      p.normal(`${l}.fc1`, [D, ffn], INIT_STD);
      p.normal(`${l}.fc1_bias`, [ffn], INIT_STD);
      p.normal(`${l}.fc2`, [ffn, D], INIT_STD);
      p.normal(`${l}.fc2_bias`, [D], INIT_STD);
      norm(`${l}.final_layer_norm`);
    }
  }
  p.transposed("lm_head", "shared");
  p.normal("final_logits_bias", [c.vocab_size], INIT_STD);
  return p;
}

function ln(o: Ops, x: string, name: string): string {
  return o.layerNorm(x, `${name}.weight`, `${name}.bias`, LN_EPS);
}

/** LayerNorm(embed(ids) + positions[start + i + 2]). */
function embed(o: Ops, stack: string, inputIds: string, start: string): string {
  const tokens = o.op("Gather", [o.param("shared"), inputIds]);
  const end = o.op("Add", [start, o.dim(inputIds, 1)]);
  const positions = o.op("Add", [
    o.op("Range", [start, end, o.ints([1], [])]),
    o.ints([POSITION_OFFSET], []),
  ]);
  const pos = o.op("Gather", [o.param(`${stack}.embed_positions`), positions]);
  return ln(o, o.op("Add", [tokens, pos]), `${stack}.layernorm_embedding`);
}

function ffn(o: Ops, x: string, l: string): string {
  const hidden = o.gelu(o.linear(x, `${l}.fc1`, `${l}.fc1_bias`));
  return ln(
    o,
    o.op("Add", [x, o.linear(hidden, `${l}.fc2`, `${l}.fc2_bias`)]),
    `${l}.final_layer_norm`,
  );
}

function encoder(o: Ops, c: BartConfig, inputIds: string, mask: string): string {
  const shape = {
    heads: c.encoder_attention_heads,
    headDim: c.d_model / c.encoder_attention_heads,
    biases: true,
  };
  let h = embed(o, "encoder", inputIds, o.ints([0], []));
  const attend = { padding: mask };
  for (let i = 0; i < c.encoder_layers; i++) {
    const l = `encoder.layers.${i}`;
    const sa = o.selfAttention(h, `${l}.self_attn`, shape, attend);
    h = ln(o, o.op("Add", [h, sa.out]), `${l}.self_attn_layer_norm`);
    h = ffn(o, h, l);
  }
  return h;
}

/** [1, 1, T, P + T] causal mask: key j is hidden from query i when j > P + i. */
function causalMask(o: Ops, pastLength: string, total: string): string {
  const one = o.ints([1], []);
  const keys = o.op("Range", [o.ints([0], []), total, one]);
  const queries = o.op("Range", [pastLength, total, one]);
  const future = o.op("Greater", [
    o.op("Unsqueeze", [keys, o.ints([0])]),
    o.op("Unsqueeze", [queries, o.ints([1])]),
  ]);
  const mask = o.op("Where", [future, o.scalar(MASK_VALUE), o.scalar(0)]);
  return o.op("Unsqueeze", [mask, o.ints([0, 1])]);
}

function decoder(
  o: Ops,
  c: BartConfig,
  inputIds: string,
  encoderMask: string,
  encoderHidden: string | undefined,
  past: LayerCache[] | undefined,
): { logits: string; present: LayerCache[] } {
  const shape = {
    heads: c.decoder_attention_heads,
    headDim: c.d_model / c.decoder_attention_heads,
    biases: true,
  };
  const pastLength = past ? o.dim(past[0].selfKey, 2) : o.ints([0], []);
  let h = embed(o, "decoder", inputIds, pastLength);
  const selfMask = {
    bias: causalMask(o, pastLength, o.op("Add", [pastLength, o.dim(inputIds, 1)])),
  };
  const crossMask = { padding: encoderMask };
  const present: LayerCache[] = [];
  for (let i = 0; i < c.decoder_layers; i++) {
    const l = `decoder.layers.${i}`;
    const cache = past && { key: past[i].selfKey, value: past[i].selfValue };
    const sa = o.selfAttention(h, `${l}.self_attn`, shape, selfMask, {
      past: cache,
      present: true,
    });
    h = ln(o, o.op("Add", [h, sa.out]), `${l}.self_attn_layer_norm`);
    const source = past
      ? { key: past[i].crossKey, value: past[i].crossValue }
      : { encoderHidden: encoderHidden! };
    const ca = o.crossAttention(h, `${l}.encoder_attn`, shape, crossMask, source);
    h = ln(o, o.op("Add", [h, ca.out]), `${l}.encoder_attn_layer_norm`);
    h = ffn(o, h, l);
    present.push({ selfKey: sa.key, selfValue: sa.value, crossKey: ca.key, crossValue: ca.value });
  }
  return { logits: o.linear(h, "lm_head", "final_logits_bias"), present };
}

export function bartGraphs(c: BartConfig, params: Params, options: GraphOptions): GraphSet {
  return optimumGraphs(
    {
      dModel: c.d_model,
      heads: c.decoder_attention_heads,
      headDim: c.d_model / c.decoder_attention_heads,
      decoderLayers: c.decoder_layers,
      vocab: c.vocab_size,
      encoder: (o, ids, mask) => encoder(o, c, ids, mask),
      decoder: (o, ids, mask, hidden, past) => decoder(o, c, ids, mask, hidden, past),
    },
    params,
    options,
  );
}

/** config.json as transformers' BartConfig writes it (summarisation defaults of bart-large-cnn). */
export function bartConfigJson(c: BartConfig): Record<string, unknown> {
  return {
    architectures: ["BartForConditionalGeneration"],
    model_type: "bart",
    ...c,
    activation_function: "gelu",
    scale_embedding: false,
    normalize_before: false,
    add_final_layer_norm: false,
    is_encoder_decoder: true,
    tie_word_embeddings: true,
    init_std: INIT_STD,
    use_cache: true,
    bos_token_id: BART_SPECIAL.bos,
    pad_token_id: BART_SPECIAL.pad,
    eos_token_id: BART_SPECIAL.eos,
    decoder_start_token_id: BART_SPECIAL.eos,
    forced_bos_token_id: BART_SPECIAL.bos,
    forced_eos_token_id: BART_SPECIAL.eos,
  };
}

export function bartGenerationConfigJson(): Record<string, unknown> {
  return {
    bos_token_id: BART_SPECIAL.bos,
    decoder_start_token_id: BART_SPECIAL.eos,
    eos_token_id: BART_SPECIAL.eos,
    forced_bos_token_id: BART_SPECIAL.bos,
    forced_eos_token_id: BART_SPECIAL.eos,
    pad_token_id: BART_SPECIAL.pad,
  };
}
