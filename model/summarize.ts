/**
 * The summariser API the runtime calls: `summarize(input, options)` where input is a text or a
 * list of messages.
 *
 * - Default, extractive (extractive.ts): the summary is made of the input's own units (utterances
 *   with their speaker, or sentences of prose), in input order, always fewer than the input has
 *   when it has two or more.
 * - With `model: DIR`, an Optimum seq2seq export (seq2seq.ts, tokenizer.ts, generate.ts): the
 *   input is given to the model as text (messages as `Name: text` lines) and the summary is what
 *   it generates; `units` is then empty.
 *
 *   const summarizer = await loadSummarizer();            // once per process (ORT sessions)
 *   const s = await summarizer.summarize([{ from: "Ann", text: "…" }, …]);
 *   s.text   // "Ann: …\nBob: …"
 *   await summarizer.release();
 *
 * or `await summarize(input)`, which loads the summariser at first use and keeps it.
 *
 * Limits (see `SummarizeOptions`): at most `maxChars` characters (default 262 144, the runtime's
 * body limit) and `maxUnits` units (default 2 000; the extractive model's time and memory grow
 * with units², about 0.1 s at the limit); a seq2seq model also refuses more tokens than its
 * context. Over a limit, the default is to refuse with `input-too-long`; `overflow: "truncate"`
 * keeps the leading units (or tokens) that fit and says so in `warnings`.
 *
 * Wiping: every typed array filled from the request (features, token ids, tensors, scores) is
 * zeroed before `summarize` returns or throws. Input, units and summary are JS strings, which
 * cannot be wiped: the runtime runs this in a one-shot worker process that exits afterwards.
 */
import { InputError } from "./errors.ts";
import {
  EXTRACTIVE_DEFAULTS,
  type ExtractiveConfig,
  ExtractiveModel,
  type SessionOptions,
} from "./extractive.ts";
import {
  type GenerateOptions,
  generateText,
  type IdGenerator,
  localGenerator,
} from "./generate.ts";
import { Seq2SeqModel } from "./seq2seq.ts";
import {
  formatUnit,
  fromMessages,
  looksLikeDialogue,
  type Message,
  parseDialogue,
  splitSentences,
  type Unit,
  unitsOf,
  type Utterance,
} from "./text.ts";
import { Seq2SeqTokenizer } from "./tokenizer.ts";

/** A text (prose or a `Name: message` transcript) or a list of messages. */
export type SummarizeInput = string | readonly (Message | string)[];

export interface SummarizeOptions {
  /** How a string is read; "auto" (default) takes it as a dialogue if `looksLikeDialogue`. */
  format?: "auto" | "prose" | "dialogue";
  /** Extractive: units to pick (default 3); never all of them when the input has two or more. */
  count?: number;
  /**
   * Extractive: a message longer than this many characters is split into sentences (default
   * 600: a few paragraphs, such as a pasted e-mail; chat messages stay whole). A lone message
   * always is.
   */
  splitLongerThan?: number;
  /** Most characters of text accepted (default 262 144). */
  maxChars?: number;
  /** Most units (sentences or messages) accepted (default 2 000). */
  maxUnits?: number;
  /** Over a limit: "refuse" (default) or "truncate" to the leading units (or tokens) that fit. */
  overflow?: "refuse" | "truncate";
  /** Seq2seq: generation settings over the model's own (generation_config.json). */
  generation?: Omit<GenerateOptions, "overflow">;
  /**
   * The model runs only once this resolves, and not at all if it rejects (summarize then
   * rejects with its reason): the input's parsing, splitting and tokenising go ahead of it. The
   * runtime's worker passes the token's verdict, so the redemption overlaps the text work.
   */
  gate?: Promise<unknown>;
}

export const LIMITS = { maxChars: 262_144, maxUnits: 2_000 } as const;

/** A unit of an extractive summary and where it came from. */
export interface SummaryUnit {
  /** Index among the input's units (sentences or utterances). */
  index: number;
  speaker?: string;
  text: string;
  score: number;
}

export interface Summary {
  /** Extractive: `Speaker: text` lines (dialogues, messages) or sentences joined by spaces. */
  text: string;
  /** Extractive: the picked units, in input order. Seq2seq: empty. */
  units: SummaryUnit[];
  /** How many units the input had (after truncation). */
  total: number;
  /** Things the caller should know, e.g. that the input was truncated. */
  warnings: string[];
}

export interface Summarizer {
  readonly kind: "extractive" | "seq2seq";
  summarize(input: SummarizeInput, options?: SummarizeOptions): Promise<Summary>;
  release(): Promise<void>;
}

export interface LoadOptions extends SessionOptions {
  /** An Optimum seq2seq export folder; absent: the extractive model. */
  model?: string;
  /** Seq2seq: "fp32" (default) or "int8" (the `*_quantized.onnx` files). */
  dtype?: "fp32" | "int8";
  /** Seq2seq: ORT's CPU memory arena (default on; a long-lived model process turns it off). */
  memArena?: boolean;
  /** Overrides of the extractive model's tuned defaults (for experiments and ablations). */
  extractive?: Partial<ExtractiveConfig>;
}

export async function loadSummarizer(options: LoadOptions = {}): Promise<Summarizer> {
  if (options.model !== undefined) {
    const model = await Seq2SeqModel.load(options.model, {
      dtype: options.dtype,
      threads: options.threads,
      memArena: options.memArena,
    });
    try {
      const tokenizer = await Seq2SeqTokenizer.load(options.model, model.config);
      return seq2seqSummarizer(tokenizer, localGenerator(model), () => model.release());
    } catch (e) {
      await model.release();
      throw e;
    }
  }
  const model = await ExtractiveModel.load(
    { ...EXTRACTIVE_DEFAULTS, ...options.extractive },
    options,
  );
  return {
    kind: "extractive",
    summarize: (input, opts) => extract(model, input, opts),
    release: () => model.release(),
  };
}

/**
 * A seq2seq summariser over any `IdGenerator`: the model in this process, or (in the runtime's
 * workers) the model process, which then sees ids only.
 */
export function seq2seqSummarizer(
  tokenizer: Seq2SeqTokenizer,
  generator: IdGenerator,
  release: () => Promise<void> = () => Promise.resolve(),
): Summarizer {
  return {
    kind: "seq2seq",
    summarize: (input, opts) => generate(generator, tokenizer, input, opts),
    release,
  };
}

const loaded = new Map<string, Promise<Summarizer>>();

/** Summarises with this process's summariser for these load options, loaded once and kept. */
export function summarize(
  input: SummarizeInput,
  options: SummarizeOptions & LoadOptions = {},
): Promise<Summary> {
  const { model, dtype, memArena, extractive, threads } = options;
  const key = JSON.stringify([model, dtype, memArena, extractive, threads]);
  let summarizer = loaded.get(key);
  if (!summarizer) {
    summarizer = loadSummarizer(options);
    loaded.set(key, summarizer);
    summarizer.catch(() => loaded.delete(key));
  }
  return summarizer.then((s) => s.summarize(input, options));
}

/**
 * The input of a request object with exactly one of `text` (a string), `dialogue` (a string of
 * `Name: message` lines) or `messages` (a list of strings or `{from, text}`). Other fields (such
 * as `id`) are ignored. Errors name the field.
 */
export function requestInput(request: unknown): SummarizeInput {
  if (typeof request !== "object" || request === null || Array.isArray(request)) {
    throw new InputError("bad-input", "the request must be a JSON object");
  }
  const r = request as Record<string, unknown>;
  const present = ["text", "dialogue", "messages"].filter((k) => r[k] !== undefined);
  if (present.length !== 1) {
    throw new InputError(
      "bad-input",
      present.length === 0
        ? "the request needs one of text, dialogue or messages"
        : `the request has ${present.join(" and ")}; give only one`,
    );
  }
  const [field] = present;
  if (field === "messages") {
    return fromMessages(r.messages).map((u) => ({ from: u.speaker, text: u.text }));
  }
  if (typeof r[field] !== "string") throw new InputError("bad-input", `${field} must be a string`);
  if (field === "text") return r.text as string;
  return parseDialogue(r.dialogue as string).map((u) => ({ from: u.speaker, text: u.text }));
}

async function extract(
  model: ExtractiveModel,
  input: SummarizeInput,
  options: SummarizeOptions = {},
): Promise<Summary> {
  const { count = 3 } = options;
  positive({ count });
  const { units, prose, warnings } = prepare(input, options, true);
  const want = units.length === 1 ? 1 : Math.min(count, units.length - 1);
  await options.gate;
  const picked = await model.pick(units, want);
  const out = picked.map(({ index, score }) => ({ index, ...units[index], score }));
  return {
    text: out.map(formatUnit).join(prose ? " " : "\n"),
    units: out.map(({ index, speaker, text, score }) =>
      speaker === undefined ? { index, text, score } : { index, speaker, text, score }
    ),
    total: units.length,
    warnings,
  };
}

async function generate(
  model: IdGenerator,
  tokenizer: Seq2SeqTokenizer,
  input: SummarizeInput,
  options: SummarizeOptions = {},
): Promise<Summary> {
  const { units, prose, warnings } = prepare(input, options, false);
  const text = units.map(formatUnit).join(prose ? " " : "\n");
  const { gate } = options;
  const gated: IdGenerator = gate === undefined ? model : {
    config: model.config,
    generate: async (ids, generation) => {
      await gate;
      return model.generate(ids, generation);
    },
  };
  const out = await generateText(gated, tokenizer, text, {
    ...options.generation,
    overflow: options.overflow,
  });
  return {
    text: out.text,
    units: [],
    total: units.length,
    warnings: [...warnings, ...out.warnings],
  };
}

function positive(values: Record<string, number>): void {
  for (const [name, value] of Object.entries(values)) {
    if (!Number.isInteger(value) || value < 1) {
      throw new InputError("bad-input", `${name} must be a positive integer, not ${value}`);
    }
  }
}

/**
 * The input's units within the limits, whether it is prose, and the warnings so far. `split`:
 * cut long (and lone) messages into sentences, for the extractive model.
 */
function prepare(
  input: SummarizeInput,
  options: SummarizeOptions,
  split: boolean,
): { units: Unit[]; prose: boolean; warnings: string[] } {
  const {
    format = "auto",
    splitLongerThan = 600,
    maxChars = LIMITS.maxChars,
    maxUnits = LIMITS.maxUnits,
    overflow = "refuse",
  } = options;
  positive({ splitLongerThan, maxChars, maxUnits });
  const unitsOfUtterances = (utterances: Utterance[]) =>
    unitsOf(utterances, !split ? Infinity : utterances.length === 1 ? 0 : splitLongerThan);

  let utterances: Utterance[];
  let prose = false;
  let cut = false;
  if (typeof input === "string") {
    // Refuse before parsing, or parse no more than could be kept.
    cut = input.length > maxChars;
    if (cut && overflow === "refuse") throw tooLong(input.length, maxChars);
    const text = cut ? input.slice(0, maxChars) : input;
    if (format === "dialogue" || format === "auto" && looksLikeDialogue(text)) {
      utterances = parseDialogue(text);
    } else {
      utterances = splitSentences(text).map((s) => ({ text: s }));
      prose = true;
    }
  } else if (Array.isArray(input)) utterances = fromMessages(input);
  else throw new InputError("bad-input", "input must be a string or a list of messages");

  // Prose is split already; a text cut at maxChars may end inside a unit: drop that one.
  const parsed = prose ? unitsOf(utterances, Infinity) : unitsOfUtterances(utterances);
  const all = cut ? parsed.slice(0, -1) : parsed;
  if (all.length === 0) {
    if (cut) throw tooLong(input.length, maxChars);
    throw new InputError("empty-input", "nothing to summarise: the input has no text");
  }
  const units = bound(all, maxChars, maxUnits, overflow);
  const warnings: string[] = [];
  if (cut || units.length < all.length) {
    warnings.push(
      `input truncated to its first ${units.length} units; the limits are ${maxUnits} units ` +
        `and ${maxChars} characters`,
    );
  }
  return { units, prose, warnings };
}

function tooLong(chars: number, maxChars: number): InputError {
  return new InputError(
    "input-too-long",
    `input has ${chars} characters, more than the limit of ${maxChars}`,
  );
}

/** The leading units within both limits; refuses instead unless `overflow` is "truncate". */
function bound(
  units: Unit[],
  maxChars: number,
  maxUnits: number,
  overflow: "refuse" | "truncate",
): Unit[] {
  let chars = 0;
  let keep = 0;
  while (keep < units.length && keep < maxUnits && chars + units[keep].text.length <= maxChars) {
    chars += units[keep].text.length;
    keep++;
  }
  if (keep === units.length) return units;
  if (overflow === "truncate" && keep > 0) return units.slice(0, keep);
  if (units.length > maxUnits) {
    throw new InputError(
      "input-too-long",
      `input has ${units.length} units (sentences or messages), more than the limit of ${maxUnits}`,
    );
  }
  throw tooLong(units.reduce((s, u) => s + u.text.length, 0), maxChars);
}
