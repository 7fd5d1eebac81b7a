/**
 * Text into the units a summariser picks from: sentences of prose, utterances of a dialogue
 * (`Name: message` lines) and of a message list (`{from, text}`). An utterance keeps its speaker;
 * a long utterance is cut into sentences that each keep it too.
 *
 *   splitSentences("Dr. Smith paid $3.50. Really?! Yes… see https://x.org/a.b now.")
 *     → ["Dr. Smith paid $3.50.", "Really?!", "Yes… see https://x.org/a.b now."]
 *   parseDialogue("Ann: hi\nBob: hello\nthere") → [{speaker: "Ann", text: "hi"},
 *                                                 {speaker: "Bob", text: "hello\nthere"}]
 *
 * The sentence splitter is rule-based for English chat and prose: a boundary is `.`, `!`, `?` or
 * `…` (runs of them too) followed by optional closing quotes or brackets and whitespace, except
 * after a known abbreviation or an initial, before a lower-case word after an ellipsis, and
 * inside URLs, e-mail addresses and numbers. A blank line always ends a sentence; a single line
 * break does too unless the line looks hard-wrapped (long, no closing punctuation, the next line
 * continuing in lower case). Limits: no language model, so "Plan B. Then" stays one sentence (an
 * initial) and languages without spaces between sentences are not split.
 */
import { InputError } from "./errors.ts";

/** One turn of a conversation, or one sentence of prose (no speaker). */
export interface Utterance {
  speaker?: string;
  text: string;
}

/** A message as the runtime receives it; `from` is optional, a bare string is a message too. */
export interface Message {
  from?: string;
  text: string;
}

/** What the summariser picks from: a sentence or a whole utterance, with its origin. */
export interface Unit {
  text: string;
  speaker?: string;
  /** Index of the utterance (or prose paragraph sentence) the unit comes from. */
  utterance: number;
}

/** Never end a sentence after these: titles and Latin short forms ("Dr. Smith", "e.g. this"). */
const TITLES = new Set(
  "mr mrs ms dr prof sr jr st mt rev gen col lt sgt capt gov sen vs cf eg ie al approx".split(" "),
);
/** No end before a number ("No. 5", "Jan. 3", "p. 12"); elsewhere these are ordinary words. */
const BEFORE_NUMBER = new Set(
  "no nos vol p pp ch sec fig jan feb mar apr jun jul aug sep sept oct nov dec".split(" "),
);
/** End a sentence after these only before a capital ("…, etc. Then we", "at 5 p.m. see you"). */
const SOFT = new Set("etc am pm inc ltd corp co".split(" "));

/**
 * Spans never split: URLs, e-mail addresses, and dotted numbers or versions (3.50, v1.2.3). An
 * address's local part starts a run and is at most 64 characters (RFC 5321 §4.5.3.1.1): tried
 * from every position of a long run without "@", `[\w.+-]+@` was quadratic (a 262 144-character
 * token took minutes).
 */
const PROTECTED =
  /\b(?:https?:\/\/|www\.)[^\s<>"]*[^\s<>".,;:!?)\]'’”]|(?<![\w.+-])[\w.+-]{1,64}@[\w-]+(?:\.[\w-]+)+|\b[vV]?\d+(?:[.,]\d+)+/g;

const TERMINATOR = /[.!?…]/;
const CLOSERS = /["'”’)\]»]/;
const LETTER = /\p{L}/u;
const UPPER = /\p{Lu}/u;

/** Sentences of prose, trimmed, with runs of whitespace (line breaks included) made one space. */
export function splitSentences(text: string): string[] {
  const out: string[] = [];
  for (const block of paragraphs(text)) {
    for (const sentence of splitBlock(block)) {
      const s = sentence.replace(/\s+/g, " ").trim();
      if (s) out.push(s);
    }
  }
  return out;
}

/** Blank lines always separate; a single line break does unless the text is hard-wrapped. */
function paragraphs(text: string): string[] {
  const blocks: string[] = [];
  for (const para of text.split(/\r?\n[ \t]*\r?\n/)) {
    const lines = para.split(/\r?\n/);
    let current = "";
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i].trimEnd();
      current = current ? `${current}\n${line}` : line;
      const next = lines[i + 1]?.trimStart();
      if (next === undefined || !continues(line, next)) {
        blocks.push(current);
        current = "";
      }
    }
  }
  return blocks;
}

/** A wrapped line: long, no closing punctuation, and the next line goes on in lower case. */
function continues(line: string, next: string): boolean {
  if (line.trim().length < 40 || /[.!?…:;]["'”’)\]]*$/.test(line)) return false;
  const first = next[0];
  return first !== undefined && LETTER.test(first) && !UPPER.test(first);
}

function splitBlock(block: string): string[] {
  const guarded = new Uint8Array(block.length);
  for (const m of block.matchAll(PROTECTED)) guarded.fill(1, m.index, m.index + m[0].length);
  const out: string[] = [];
  let start = 0;
  let i = 0;
  while (i < block.length) {
    if (guarded[i] || !TERMINATOR.test(block[i])) {
      i++;
      continue;
    }
    const punctStart = i;
    while (i < block.length && TERMINATOR.test(block[i])) i++;
    const punctEnd = i;
    while (i < block.length && CLOSERS.test(block[i])) i++;
    if (i < block.length && !/\s/.test(block[i])) continue; // "a.b", "?!x": no boundary
    const end = i;
    while (i < block.length && /\s/.test(block[i])) i++;
    if (i === block.length) break;
    const before = block.slice(start, punctStart);
    if (!boundary(before, block.slice(punctStart, punctEnd), end > punctEnd, block[i])) continue;
    out.push(block.slice(start, end));
    start = i;
  }
  if (start < block.length) out.push(block.slice(start));
  return out;
}

/**
 * Whether punctuation `punct` after the text `before` ends a sentence, given the next
 * non-space character and whether a closing quote or bracket came between them.
 */
function boundary(before: string, punct: string, quoted: boolean, next: string): boolean {
  const capitalNext = UPPER.test(next) || /[\d"'“‘(\[]/.test(next);
  if (punct !== "." && /^[.…]+$/.test(punct)) return capitalNext; // an ellipsis
  if (punct === "." && !quoted) {
    // The word before the point; only its end matters, and a regex anchored at `$` would try
    // every start in `before` (quadratic over a block of "Dr. Dr. …").
    const word = before.slice(-64).match(/([\p{L}\p{N}.]+)$/u)?.[1] ?? "";
    const bare = word.replace(/^\p{N}+/u, "").replace(/\./g, "").toLowerCase();
    if (TITLES.has(bare)) return false;
    if (BEFORE_NUMBER.has(bare) && /\d/.test(next)) return false;
    if (SOFT.has(bare)) return capitalNext;
    // An initial or dotted capitals ("J. R. R. Tolkien", "U.S. Army") before a capital.
    if (/^(?:\p{Lu}|(?:\p{Lu}\.)+\p{Lu})$/u.test(word) && UPPER.test(next)) return false;
  }
  // Speech attribution goes on: `"Coming?" she asked.`
  if (quoted && /[!?]/.test(punct) && LETTER.test(next) && !UPPER.test(next)) return false;
  return true;
}

/** A `Name: message` line: a short name (at most 5 words, 40 characters), a colon, then text. */
const SPEAKER_LINE = /^\s*([^\s:][^:\n]{0,39}?)\s*:(?:\s+|$)(.*)$/;

function speakerOf(line: string): { speaker: string; text: string } | undefined {
  const m = SPEAKER_LINE.exec(line);
  if (!m) return undefined;
  const speaker = m[1];
  if (speaker.split(/\s+/).length > 5 || /^(?:https?|www|mailto)$/i.test(speaker)) {
    return undefined;
  }
  if (/^\d+$/.test(speaker)) return undefined; // "10: 30" is a time, not a speaker
  return { speaker, text: m[2] };
}

/**
 * Whether a text is a dialogue: at least two non-empty lines and at least 80 % of them start
 * with `Name: `, with at least one name used twice or two different names.
 */
export function looksLikeDialogue(text: string): boolean {
  const lines = text.split(/\r?\n/).filter((l) => l.trim());
  if (lines.length < 2) return false;
  const speakers = lines.map(speakerOf).filter((s) => s !== undefined).map((s) => s.speaker);
  return speakers.length >= 0.8 * lines.length && speakers.length >= 2;
}

/**
 * Utterances of a `Name: message` transcript. A line without a name continues the utterance
 * before it (a multi-line message); before the first named line it is an utterance of its own
 * with no speaker. Utterances with no text are dropped.
 */
export function parseDialogue(text: string): Utterance[] {
  const out: Utterance[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (!line.trim()) continue;
    const named = speakerOf(line);
    if (named) out.push({ speaker: named.speaker, text: named.text.trim() });
    else if (out.length > 0) {
      const last = out[out.length - 1];
      last.text = last.text ? `${last.text}\n${line.trim()}` : line.trim();
    } else out.push({ text: line.trim() });
  }
  return out.filter((u) => u.text);
}

/**
 * Utterances of a message list, checked: an array of strings or `{from?, text}` objects.
 * `field` names the list in errors (`messages[3].text must be a string`).
 */
export function fromMessages(messages: unknown, field = "messages"): Utterance[] {
  if (!Array.isArray(messages)) throw new InputError("bad-input", `${field} must be an array`);
  const out: Utterance[] = [];
  messages.forEach((m: unknown, i) => {
    if (typeof m === "string") {
      if (m.trim()) out.push({ text: m.trim() });
      return;
    }
    if (typeof m !== "object" || m === null || Array.isArray(m)) {
      throw new InputError("bad-input", `${field}[${i}] must be a string or {from, text}`);
    }
    const { from, text } = m as Record<string, unknown>;
    if (typeof text !== "string") {
      throw new InputError("bad-input", `${field}[${i}].text must be a string`);
    }
    if (from !== undefined && from !== null && typeof from !== "string") {
      throw new InputError("bad-input", `${field}[${i}].from must be a string`);
    }
    const speaker = typeof from === "string" && from.trim() ? from.trim() : undefined;
    if (text.trim()) out.push(speaker ? { speaker, text: text.trim() } : { text: text.trim() });
  });
  return out;
}

/**
 * The units of a list of utterances: each utterance is one unit, except that one longer than
 * `splitLongerThan` characters with several sentences gives one unit per sentence, each with
 * the utterance's speaker.
 */
export function unitsOf(utterances: readonly Utterance[], splitLongerThan: number): Unit[] {
  const units: Unit[] = [];
  utterances.forEach((u, i) => {
    const parts = u.text.length > splitLongerThan ? splitSentences(u.text) : [];
    if (parts.length > 1) {
      for (const text of parts) units.push({ text, speaker: u.speaker, utterance: i });
    } else units.push({ text: u.text.replace(/\s+/g, " "), speaker: u.speaker, utterance: i });
  });
  return units;
}

/** `Name: text`, or the text alone when there is no speaker. */
export function formatUnit(unit: { speaker?: string; text: string }): string {
  return unit.speaker === undefined ? unit.text : `${unit.speaker}: ${unit.text}`;
}
