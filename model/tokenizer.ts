/**
 * A seq2seq model's tokenizer from its own tokenizer.json and tokenizer_config.json (Unigram
 * for T5, byte-level BPE for BART; whatever @huggingface/tokenizers reads), local files only:
 * nothing is ever fetched. Ids come back as Int32Array so a caller can wipe them.
 *
 *   const tok = await Seq2SeqTokenizer.load(dir, config);
 *   const ids = tok.encode("summarize: …");   // with the model's special tokens (…</s>)
 *   tok.decode(outputIds);                    // special tokens dropped
 */
import { Tokenizer } from "@huggingface/tokenizers";
import type { Seq2SeqConfig } from "./config.ts";
import { ModelFolderError } from "./errors.ts";
import { readJson } from "./folder.ts";

/** Public text with unknown characters (an emoji) and numbers: what every request may hold. */
const PROBE = "Probe: the 2nd of May, 12.5 % more, café 🙂.";

/**
 * Encodes PROBE once at load: parts of a tokenizer (its post-processor, its unknown token) fail
 * only when used, and a request must not be the first to find out.
 */
function checkProbe(tokenizer: Tokenizer, config: Seq2SeqConfig, path: string): void {
  let ids: number[];
  try {
    ids = tokenizer.encode(PROBE).ids;
  } catch (e) {
    throw new ModelFolderError(
      "bad-tokenizer",
      `cannot encode text (${(e as Error).message})`,
      path,
    );
  }
  if (ids.length === 0) {
    throw new ModelFolderError("bad-tokenizer", "encodes text to no tokens", path);
  }
  const outside = ids.find((id) => !(id >= 0 && id < config.vocabSize));
  if (outside !== undefined) {
    throw new ModelFolderError(
      "bad-tokenizer",
      `encodes text to id ${outside}, outside config.json's vocab_size ${config.vocabSize}`,
      path,
    );
  }
}

/** model_max_length values above this are transformers' "no limit" sentinel (1e30). */
const NO_LIMIT = 1e9;

export class Seq2SeqTokenizer {
  private constructor(
    private readonly tokenizer: Tokenizer,
    /** tokenizer_config.json's model_max_length, when it sets a real limit. */
    readonly maxLength: number | undefined,
    /** Entries in the vocabulary, added tokens included. */
    readonly size: number,
  ) {}

  /** Reads `dir/tokenizer.json` and `dir/tokenizer_config.json` and checks them against `config`. */
  static async load(dir: string, config: Seq2SeqConfig): Promise<Seq2SeqTokenizer> {
    const path = `${dir}/tokenizer.json`;
    const json = await readJson(path, true, "bad-tokenizer");
    const tc = await readJson(`${dir}/tokenizer_config.json`, false, "bad-tokenizer") ?? {};
    return Seq2SeqTokenizer.from(json, tc, config, path);
  }

  /** From parsed tokenizer.json and tokenizer_config.json; `path` names the file in errors. */
  static from(
    json: unknown,
    tokenizerConfig: unknown,
    config: Seq2SeqConfig,
    path = "tokenizer.json",
  ): Seq2SeqTokenizer {
    if (
      typeof tokenizerConfig !== "object" || tokenizerConfig === null ||
      Array.isArray(tokenizerConfig)
    ) {
      const configPath = path.replace(/tokenizer\.json$/, "tokenizer_config.json");
      throw new ModelFolderError("bad-tokenizer", "not a JSON object", configPath);
    }
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(json as object, tokenizerConfig);
    } catch (e) {
      throw new ModelFolderError("bad-tokenizer", `cannot be read (${(e as Error).message})`, path);
    }
    const vocab = tokenizer.get_vocab(true);
    let top = -1;
    for (const id of vocab.values()) top = Math.max(top, id);
    if (top >= config.vocabSize) {
      throw new ModelFolderError(
        "bad-tokenizer",
        `has token id ${top} but config.json's vocab_size is ${config.vocabSize}`,
        path,
      );
    }
    for (const id of config.eosTokenIds) {
      if (tokenizer.id_to_token(id) === undefined) {
        throw new ModelFolderError("bad-tokenizer", `has no token for eos_token_id ${id}`, path);
      }
    }
    checkProbe(tokenizer, config, path);
    const m = (tokenizerConfig as { model_max_length?: unknown }).model_max_length;
    const maxLength = typeof m === "number" && Number.isInteger(m) && m > 0 && m < NO_LIMIT
      ? m
      : undefined;
    return new Seq2SeqTokenizer(tokenizer, maxLength, vocab.size);
  }

  /** Token ids of `text` with the model's special tokens (T5: …</s>; BART: <s>…</s>). */
  encode(text: string): Int32Array {
    const ids = this.tokenizer.encode(text).ids;
    const out = Int32Array.from(ids);
    ids.fill(0);
    return out;
  }

  /** The text of `ids`, special tokens skipped. */
  decode(
    ids: ArrayLike<number>,
    options: { skipSpecial?: boolean; cleanUp?: boolean } = {},
  ): string {
    const list = Array.from(ids);
    try {
      return this.tokenizer.decode(list, {
        skip_special_tokens: options.skipSpecial ?? true,
        clean_up_tokenization_spaces: options.cleanUp,
      });
    } finally {
      list.fill(0);
    }
  }

  /** The vocabulary entry of an id (undefined outside it). */
  token(id: number): string | undefined {
    return this.tokenizer.id_to_token(id);
  }

  /** All vocabulary entries, added tokens included. */
  vocabulary(): Map<string, number> {
    return this.tokenizer.get_vocab(true);
  }
}
