/**
 * The summariser API the runtime calls: `summarize(input, options)` where input is a text or a
 * list of messages. The default model is extractive (extractive.ts): the summary is made of the
 * input's own units (utterances with their speaker, or sentences of prose), in input order,
 * always fewer than the input has when it has two or more. A model folder (`model: DIR`, an
 * Optimum seq2seq export) is not wired in yet: loading one fails with `model-unavailable`.
 *
 *   const summarizer = await loadSummarizer();            // once per process (ORT session)
 *   const s = await summarizer.summarize([{ from: "Ann", text: "…" }, …]);
 *   s.text   // "Ann: …\nBob: …"
 *   summarizer.release();
 *
 * or `await summarize(input)`, which loads the summariser at first use and keeps it.
 *
 * Limits (see `SummarizeOptions`): at most `maxChars` characters (default 262 144, the runtime's
 * body limit) and `maxUnits` units (default 2 000; time and memory grow with units², about
 * 0.1 s at the limit). Over either, the default is to refuse with `input-too-long`;
 * `overflow: "truncate"` keeps the leading units that fit and says so in `warnings`.
 *
 * Wiping: the summariser zeroes every typed array it fills from the request (features, tensors,
 * scores) before it returns. Input, units and summary are JS strings, which cannot be wiped;
 * the runtime runs this in a one-shot worker process that exits after one request.
 */
import { InputError, ModelUnavailableError } from "./errors.ts";
import {
  EXTRACTIVE_DEFAULTS,
  type ExtractiveConfig,
  ExtractiveModel,
  type SessionOptions,
} from "./extractive.ts";
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

/** A text (prose or a `Name: message` transcript) or a list of messages. */
export type SummarizeInput = string | readonly (Message | string)[];

export interface SummarizeOptions {
  /** How a string is read; "auto" (default) takes it as a dialogue if `looksLikeDialogue`. */
  format?: "auto" | "prose" | "dialogue";
  /** Units to pick (default 3); never all of them when the input has two or more. */
  count?: number;
  /**
   * A message longer than this many characters is split into sentences (default 600: a few
   * paragraphs, such as a pasted e-mail; chat messages stay whole). A lone message always is.
   */
  splitLongerThan?: number;
  /** Most characters of text accepted (default 262 144). */
  maxChars?: number;
  /** Most units (sentences or utterances) accepted (default 2 000). */
  maxUnits?: number;
  /** Over a limit: "refuse" (default) or "truncate" to the leading units that fit. */
  overflow?: "refuse" | "truncate";
}

export const LIMITS = { maxChars: 262_144, maxUnits: 2_000 } as const;

/** A unit of the summary and where it came from. */
export interface SummaryUnit {
  /** Index among the input's units (sentences or utterances). */
  index: number;
  speaker?: string;
  text: string;
  score: number;
}

export interface Summary {
  /** `Speaker: text` lines for dialogues and messages; sentences joined by spaces for prose. */
  text: string;
  /** The picked units, in input order. */
  units: SummaryUnit[];
  /** How many units the input had (after truncation). */
  total: number;
  /** Things the caller should know, e.g. that the input was truncated. */
  warnings: string[];
}

export interface Summarizer {
  readonly kind: "extractive";
  summarize(input: SummarizeInput, options?: SummarizeOptions): Promise<Summary>;
  release(): Promise<void>;
}

export interface LoadOptions extends SessionOptions {
  /** An Optimum seq2seq export folder; absent: the extractive model. */
  model?: string;
  /** Overrides of the extractive model's tuned defaults (for experiments and ablations). */
  extractive?: Partial<ExtractiveConfig>;
}

export async function loadSummarizer(options: LoadOptions = {}): Promise<Summarizer> {
  if (options.model !== undefined) {
    throw new ModelUnavailableError(
      "model-unavailable",
      `cannot load ${options.model}: seq2seq model folders are not supported by this build yet`,
    );
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

const loaded = new Map<string, Promise<Summarizer>>();

/** Summarises with this process's summariser for these load options, loaded once and kept. */
export function summarize(
  input: SummarizeInput,
  options: SummarizeOptions & LoadOptions = {},
): Promise<Summary> {
  const key = JSON.stringify([options.model, options.extractive, options.threads]);
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
  const {
    format = "auto",
    count = 3,
    splitLongerThan = 600,
    maxChars = LIMITS.maxChars,
    maxUnits = LIMITS.maxUnits,
    overflow = "refuse",
  } = options;
  for (const [name, value] of Object.entries({ count, splitLongerThan, maxChars, maxUnits })) {
    if (!Number.isInteger(value) || value < 1) {
      throw new InputError("bad-input", `${name} must be a positive integer, not ${value}`);
    }
  }
  const warnings: string[] = [];
  const parsed = unitsOfInput(input, format, splitLongerThan, maxChars, overflow);
  // A text cut at maxChars may end inside a unit: drop that one.
  const all = parsed.cut ? parsed.units.slice(0, -1) : parsed.units;
  if (all.length === 0) {
    if (parsed.cut) throw tooLong(input.length, maxChars);
    throw new InputError("empty-input", "nothing to summarise: the input has no text");
  }
  const units = bound(all, maxChars, maxUnits, overflow);
  if (parsed.cut || units.length < all.length) {
    warnings.push(
      `input truncated to its first ${units.length} units; the limits are ${maxUnits} units ` +
        `and ${maxChars} characters`,
    );
  }

  const want = units.length === 1 ? 1 : Math.min(count, units.length - 1);
  const picked = await model.pick(units, want);
  const out = picked.map(({ index, score }) => ({ index, ...units[index], score }));
  return {
    text: out.map(formatUnit).join(parsed.prose ? " " : "\n"),
    units: out.map(({ index, speaker, text, score }) =>
      speaker === undefined ? { index, text, score } : { index, speaker, text, score }
    ),
    total: units.length,
    warnings,
  };
}

function unitsOfInput(
  input: SummarizeInput,
  format: "auto" | "prose" | "dialogue",
  splitLongerThan: number,
  maxChars: number,
  overflow: "refuse" | "truncate",
): { units: Unit[]; prose: boolean; cut: boolean } {
  if (typeof input === "string") {
    // Refuse before parsing, or parse no more than could be kept.
    const cut = input.length > maxChars;
    if (cut && overflow === "refuse") throw tooLong(input.length, maxChars);
    const text = cut ? input.slice(0, maxChars) : input;
    const dialogue = format === "dialogue" || format === "auto" && looksLikeDialogue(text);
    if (dialogue) {
      return { units: unitsOf(parseDialogue(text), splitLongerThan), prose: false, cut };
    }
    const sentences: Utterance[] = splitSentences(text).map((s) => ({ text: s }));
    return { units: unitsOf(sentences, Infinity), prose: true, cut };
  }
  if (!Array.isArray(input)) {
    throw new InputError("bad-input", "input must be a string or a list of messages");
  }
  return { units: unitsOf(fromMessages(input), splitLongerThan), prose: false, cut: false };
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
