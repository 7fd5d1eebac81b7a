/**
 * The model folders the project can build, as lists of files (pure: no I/O). A folder has the
 * transformers.js/Optimum layout:
 *
 *   config.json  generation_config.json  tokenizer.json  tokenizer_config.json
 *   onnx/{encoder_model,decoder_model,decoder_with_past_model,decoder_model_merged}.onnx
 *   onnx/*_quantized.onnx   (with `int8`: the same graphs with int8 weights, transformers.js's
 *                            "q8" file names)
 *
 * Weights come from a seeded PRNG; the tokenizer's vocabulary from the given corpus text.
 */
import {
  BART_TINY,
  bartConfigJson,
  bartGenerationConfigJson,
  bartGraphs,
  bartParams,
} from "./bart.ts";
import { type GraphSet } from "./optimum.ts";
import {
  T5_SMALL,
  T5_TINY,
  t5ConfigJson,
  t5GenerationConfigJson,
  t5Graphs,
  t5Params,
} from "./t5.ts";
import { bpeTokenizer } from "./tokenizer_bpe.ts";
import { unigramTokenizer } from "./tokenizer_unigram.ts";

export const MODEL_KINDS = ["t5-tiny", "t5-small", "bart-tiny"] as const;
export type ModelKind = (typeof MODEL_KINDS)[number];

export interface BuildSpec {
  kind: ModelKind;
  /** Also write `*_quantized.onnx` (int8 weights, DynamicQuantizeMatMul). */
  int8?: boolean;
  /** PRNG seed of the weights (default 1). */
  seed?: number;
  /**
   * "fused" (default): attention as com.microsoft MultiHeadAttention, which ORT runs as one
   * kernel; "plain": standard ONNX ops only (any ONNX runtime). Same interface either way.
   */
  attention?: "fused" | "plain";
}

export interface ModelFile {
  /** Path inside the model folder. */
  path: string;
  /** Produced on demand, so only one large graph is in memory at a time. */
  bytes: () => Uint8Array;
}

const GRAPH_FILES: [keyof GraphSet, string][] = [
  ["encoder", "encoder_model"],
  ["decoder", "decoder_model"],
  ["decoderWithPast", "decoder_with_past_model"],
  ["merged", "decoder_model_merged"],
];

function json(path: string, value: unknown): ModelFile {
  return { path, bytes: () => new TextEncoder().encode(JSON.stringify(value, null, 2) + "\n") };
}

/** The files of a model folder. `corpus` is the text the tokenizer's vocabulary is learnt from. */
export function modelFiles(spec: BuildSpec, corpus: string): ModelFile[] {
  const seed = spec.seed ?? 1;
  const fused = (spec.attention ?? "fused") === "fused";
  let graphs: (int8: boolean) => GraphSet;
  let config: Record<string, unknown>;
  let generation: Record<string, unknown>;
  let tokenizer: ReturnType<typeof unigramTokenizer>;
  if (spec.kind === "bart-tiny") {
    const c = BART_TINY;
    const params = bartParams(c, seed);
    graphs = (int8) => bartGraphs(c, params, { int8, fused });
    config = bartConfigJson(c);
    generation = bartGenerationConfigJson();
    tokenizer = bpeTokenizer(corpus, c.vocab_size, c.max_position_embeddings);
  } else {
    const c = spec.kind === "t5-small" ? T5_SMALL : T5_TINY;
    const params = t5Params(c, seed);
    graphs = (int8) => t5Graphs(c, params, { int8, fused });
    config = t5ConfigJson(c);
    generation = t5GenerationConfigJson();
    // real t5 tokenizers hold 32000 pieces of the 32128 embedding rows
    tokenizer = unigramTokenizer(corpus, Math.min(c.vocab_size, 32000), c.n_positions);
  }
  const files = [
    json("config.json", config),
    json("generation_config.json", generation),
    json("tokenizer.json", tokenizer.tokenizer),
    json("tokenizer_config.json", tokenizer.config),
  ];
  for (const int8 of spec.int8 ? [false, true] : [false]) {
    const set = graphs(int8);
    for (const [key, name] of GRAPH_FILES) {
      files.push({ path: `onnx/${name}${int8 ? "_quantized" : ""}.onnx`, bytes: set[key] });
    }
  }
  return files;
}
