/**
 * config.json and generation_config.json of a Hugging Face seq2seq model, read into the sizes
 * and ids the loader validates graphs against and the generation loop uses. Families: T5 (`t5`,
 * `mt5`: d_model, num_heads, d_kv, num_decoder_layers, n_positions) and BART (`bart`: d_model,
 * decoder_attention_heads, decoder_layers, max_position_embeddings). generation_config.json
 * overrides config.json where both set a field, as transformers does.
 *
 * Pure: takes parsed JSON, returns a typed config or throws `ModelFolderError("bad-config")`
 * naming the field.
 */
import { ModelFolderError } from "./errors.ts";

export type Family = "t5" | "bart";

/** Generation settings a model folder may set (transformers' names, camel-cased). */
export interface GenerationDefaults {
  maxLength?: number;
  maxNewTokens?: number;
  minLength?: number;
  numBeams?: number;
  lengthPenalty?: number;
  noRepeatNgramSize?: number;
  earlyStopping?: boolean | "never";
}

export interface Seq2SeqConfig {
  family: Family;
  modelType: string;
  dModel: number;
  heads: number;
  headDim: number;
  decoderLayers: number;
  vocabSize: number;
  /** Longest input the position scheme supports (tokens). */
  contextLength: number;
  decoderStartTokenId: number;
  eosTokenIds: number[];
  padTokenId: number;
  forcedBosTokenId?: number;
  forcedEosTokenId?: number;
  /** Prepended to a text before summarising (T5's "summarize: "), from task_specific_params. */
  summarizationPrefix: string;
  /** generation_config.json's settings. */
  generation: GenerationDefaults;
  /** task_specific_params.summarization's settings (what HF's summarization pipeline applies). */
  summarization: GenerationDefaults;
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function field(path: string, obj: Json, name: string, min = 1): number {
  const v = obj[name];
  if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
    const want = min === 0
      ? "a non-negative integer"
      : min === 1
      ? "a positive integer"
      : `an integer ≥ ${min}`;
    throw new ModelFolderError(
      "bad-config",
      v === undefined
        ? `field "${name}" is missing`
        : `field "${name}" must be ${want}, got ${JSON.stringify(v)}`,
      path,
    );
  }
  return v;
}

function optionalId(path: string, obj: Json, name: string): number | undefined {
  return obj[name] === undefined || obj[name] === null ? undefined : field(path, obj, name, 0);
}

function ids(path: string, obj: Json, name: string): number[] {
  const v = obj[name];
  if (!Array.isArray(v)) return [field(path, obj, name, 0)];
  if (v.length === 0) {
    throw new ModelFolderError("bad-config", `field "${name}" is an empty list`, path);
  }
  return v.map((x, i) => field(path, { [`${name}[${i}]`]: x }, `${name}[${i}]`, 0));
}

function defaults(path: string, obj: Json): GenerationDefaults {
  const out: GenerationDefaults = {};
  const int = (name: string, min: number) =>
    obj[name] === undefined || obj[name] === null ? undefined : field(path, obj, name, min);
  const set = <K extends keyof GenerationDefaults>(k: K, v: GenerationDefaults[K] | undefined) => {
    if (v !== undefined) out[k] = v;
  };
  // max_length counts the decoder's start token: 1 would leave no room for a summary.
  set("maxLength", int("max_length", 2));
  set("maxNewTokens", int("max_new_tokens", 1));
  set("minLength", int("min_length", 0));
  set("numBeams", int("num_beams", 1));
  set("noRepeatNgramSize", int("no_repeat_ngram_size", 0));
  const lp = obj.length_penalty;
  if (lp !== undefined && lp !== null) {
    if (typeof lp !== "number" || !Number.isFinite(lp)) {
      throw new ModelFolderError("bad-config", `field "length_penalty" must be a number`, path);
    }
    out.lengthPenalty = lp;
  }
  const es = obj.early_stopping;
  if (es !== undefined && es !== null) {
    if (es !== true && es !== false && es !== "never") {
      throw new ModelFolderError(
        "bad-config",
        `field "early_stopping" must be true, false or "never"`,
        path,
      );
    }
    out.earlyStopping = es;
  }
  return out;
}

/**
 * Reads config.json (`config`, parsed) and generation_config.json (`generation`, parsed, or
 * undefined when the folder has none). `paths` name the files in errors.
 */
export function parseConfig(
  config: unknown,
  generation: unknown,
  paths = { config: "config.json", generation: "generation_config.json" },
): Seq2SeqConfig {
  const p = paths.config;
  if (!isObject(config)) throw new ModelFolderError("bad-config", "not a JSON object", p);
  if (generation !== undefined && !isObject(generation)) {
    throw new ModelFolderError("bad-config", "not a JSON object", paths.generation);
  }
  const gen = generation ?? {};
  const modelType = config.model_type;
  if (typeof modelType !== "string") {
    throw new ModelFolderError("bad-config", `field "model_type" is missing`, p);
  }
  if (config.is_encoder_decoder === false) {
    throw new ModelFolderError(
      "unsupported-model",
      `model_type "${modelType}" is not an encoder-decoder`,
      p,
    );
  }
  let family: Family;
  let sizes: Pick<
    Seq2SeqConfig,
    "dModel" | "heads" | "headDim" | "decoderLayers" | "contextLength"
  >;
  if (modelType === "t5" || modelType === "mt5") {
    family = "t5";
    sizes = {
      dModel: field(p, config, "d_model"),
      heads: field(p, config, "num_heads"),
      headDim: field(p, config, "d_kv"),
      decoderLayers: config.num_decoder_layers === undefined || config.num_decoder_layers === null
        ? field(p, config, "num_layers")
        : field(p, config, "num_decoder_layers"),
      // relative positions have no hard limit; n_positions is what the model was trained for
      contextLength: config.n_positions === undefined ? 512 : field(p, config, "n_positions"),
    };
  } else if (modelType === "bart") {
    family = "bart";
    const dModel = field(p, config, "d_model");
    const heads = field(p, config, "decoder_attention_heads");
    if (dModel % heads !== 0) {
      throw new ModelFolderError(
        "bad-config",
        `d_model ${dModel} is not a multiple of decoder_attention_heads ${heads}`,
        p,
      );
    }
    sizes = {
      dModel,
      heads,
      headDim: dModel / heads,
      decoderLayers: field(p, config, "decoder_layers"),
      contextLength: field(p, config, "max_position_embeddings"),
    };
  } else {
    throw new ModelFolderError(
      "unsupported-model",
      `model_type "${modelType}" is not supported (supported: t5, mt5, bart)`,
      p,
    );
  }
  // generation_config.json wins over config.json, field by field
  const pick = (name: string): Json => gen[name] !== undefined && gen[name] !== null ? gen : config;
  const from = (name: string) => pick(name) === gen ? paths.generation : p;
  const tasks = isObject(config.task_specific_params) ? config.task_specific_params : {};
  const summarization = isObject(tasks.summarization) ? tasks.summarization : {};
  const prefix = summarization.prefix ?? config.prefix ?? "";
  if (typeof prefix !== "string") {
    throw new ModelFolderError("bad-config", `"prefix" must be a string`, p);
  }
  const parsed: Seq2SeqConfig = {
    family,
    modelType,
    ...sizes,
    vocabSize: field(p, config, "vocab_size"),
    decoderStartTokenId: field(
      from("decoder_start_token_id"),
      pick("decoder_start_token_id"),
      "decoder_start_token_id",
      0,
    ),
    eosTokenIds: ids(from("eos_token_id"), pick("eos_token_id"), "eos_token_id"),
    padTokenId: field(from("pad_token_id"), pick("pad_token_id"), "pad_token_id", 0),
    forcedBosTokenId: optionalId(
      from("forced_bos_token_id"),
      pick("forced_bos_token_id"),
      "forced_bos_token_id",
    ),
    forcedEosTokenId: optionalId(
      from("forced_eos_token_id"),
      pick("forced_eos_token_id"),
      "forced_eos_token_id",
    ),
    summarizationPrefix: prefix,
    generation: defaults(paths.generation, gen),
    summarization: defaults(p, summarization),
  };
  checkIds(parsed, from);
  checkLengths(parsed, paths);
  return parsed;
}

/** Every special token id names a row of the vocabulary (else argmax or ORT's Gather fails). */
function checkIds(c: Seq2SeqConfig, from: (name: string) => string): void {
  const named: [string, number | undefined][] = [
    ["decoder_start_token_id", c.decoderStartTokenId],
    ["pad_token_id", c.padTokenId],
    ["forced_bos_token_id", c.forcedBosTokenId],
    ["forced_eos_token_id", c.forcedEosTokenId],
    ...c.eosTokenIds.map((id, i): [string, number] => [`eos_token_id[${i}]`, id]),
  ];
  for (const [name, id] of named) {
    if (id !== undefined && id >= c.vocabSize) {
      const field = name.replace(/\[\d+\]$/, "");
      throw new ModelFolderError(
        "bad-config",
        `${name} ${id} is not below vocab_size ${c.vocabSize}`,
        from(field),
      );
    }
  }
}

/** BART's decoder has learned positions: no default may ask for more than it has. */
function checkLengths(
  c: Seq2SeqConfig,
  paths: { config: string; generation: string },
): void {
  if (c.family !== "bart") return;
  for (
    const [defaults, path] of [[c.generation, paths.generation], [
      c.summarization,
      paths.config,
    ]] as const
  ) {
    const asked = defaults.maxNewTokens ??
      (defaults.maxLength === undefined ? undefined : defaults.maxLength - 1);
    if (asked !== undefined && asked > c.contextLength - 1) {
      throw new ModelFolderError(
        "bad-config",
        `generation of ${asked} tokens is past the decoder's ${c.contextLength} positions ` +
          "(max_position_embeddings)",
        path,
      );
    }
  }
}
