/**
 * A T5-style Unigram tokenizer (HF `tokenizers` JSON format, as `T5TokenizerFast` saves it)
 * learnt from local text: the pieces are the most useful substrings of the corpus's words
 * (frequency × characters saved), every corpus character and all printable ASCII are single-
 * character pieces so no such text needs `<unk>`, and the scores are log-probabilities
 * re-estimated by two rounds of Viterbi segmentation of the corpus (a hard-EM stand-in for
 * sentencepiece's training). Special ids are T5's: `<pad>` 0, `</s>` 1, `<unk>` 2.
 *
 * Limits: T5's Precompiled (nmt_nfkc) normaliser is replaced by NFKC plus whitespace collapsing
 * and stripping; no `<extra_id_N>` sentinels (summarisation never uses them).
 */

export interface TokenizerFiles {
  /** tokenizer.json */
  tokenizer: Record<string, unknown>;
  /** tokenizer_config.json */
  config: Record<string, unknown>;
}

const SPACE = "\u2581"; // ▁, sentencepiece's meta space
const MAX_PIECE = 16;

/** The corpus as the tokenizer's normaliser sees it: NFKC, whitespace runs as one space. */
export function normalizeCorpus(text: string): string {
  return text.normalize("NFKC").replace(/\s+/g, " ").trim();
}

/** Word frequencies, each word with its meta-space prefix. */
function words(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const w of normalizeCorpus(text).split(" ")) {
    if (w) counts.set(SPACE + w, (counts.get(SPACE + w) ?? 0) + 1);
  }
  return counts;
}

/** Best segmentation of `word` under `scores` (Viterbi); undefined pieces are unreachable. */
function segment(word: string[], scores: Map<string, number>): string[] {
  const n = word.length;
  const best = new Float64Array(n + 1).fill(-Infinity);
  const from = new Int32Array(n + 1);
  best[0] = 0;
  for (let end = 1; end <= n; end++) {
    for (let start = Math.max(0, end - MAX_PIECE); start < end; start++) {
      if (best[start] === -Infinity) continue;
      const s = scores.get(word.slice(start, end).join(""));
      if (s !== undefined && best[start] + s > best[end]) {
        best[end] = best[start] + s;
        from[end] = start;
      }
    }
  }
  const pieces: string[] = [];
  for (let end = n; end > 0; end = from[end]) pieces.push(word.slice(from[end], end).join(""));
  return pieces.reverse();
}

/**
 * The tokenizer files for a vocabulary of `size` entries (specials included) learnt from `text`.
 * Deterministic: same text and size, same bytes.
 */
export function unigramTokenizer(text: string, size: number, maxLength: number): TokenizerFiles {
  const counts = words(text);
  const chars = new Set<string>([SPACE]);
  for (let c = 0x21; c < 0x7f; c++) chars.add(String.fromCharCode(c));
  const substrings = new Map<string, number>();
  for (const [w, f] of counts) {
    const cps = [...w];
    for (const c of cps) chars.add(c);
    for (let i = 0; i < cps.length; i++) {
      for (let j = i + 2; j <= Math.min(cps.length, i + MAX_PIECE); j++) {
        const s = cps.slice(i, j).join("");
        substrings.set(s, (substrings.get(s) ?? 0) + f);
      }
    }
  }
  const room = size - 3 - chars.size;
  if (room < 0) throw new Error(`vocabulary of ${size} cannot hold ${chars.size} characters`);
  const gain = (s: string, f: number) => f * ([...s].length - 1);
  const multi = [...substrings].filter(([, f]) => f >= 2)
    .sort((a, b) => gain(b[0], b[1]) - gain(a[0], a[1]) || (a[0] < b[0] ? -1 : 1))
    .slice(0, room)
    .map(([s]) => s);
  const pieces = [...[...chars].sort(), ...multi];

  // hard EM: segment the corpus, count how often each piece is used, re-score
  let scores = new Map(pieces.map((p) => [p, -Math.log(pieces.length)]));
  for (let round = 0; round < 2; round++) {
    const used = new Map<string, number>();
    let total = 0;
    for (const [w, f] of counts) {
      for (const p of segment([...w], scores)) {
        used.set(p, (used.get(p) ?? 0) + f);
        total += f;
      }
    }
    const denom = Math.log(total + 0.5 * pieces.length);
    scores = new Map(pieces.map((p) => [p, Math.log((used.get(p) ?? 0) + 0.5) - denom]));
  }

  const special = (id: number, content: string) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  const metaspace = {
    type: "Metaspace",
    replacement: SPACE,
    prepend_scheme: "always",
    split: true,
  };
  const seq = (id: string) => ({ Sequence: { id, type_id: 0 } });
  const eos = { SpecialToken: { id: "</s>", type_id: 0 } };
  const tokenizer = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [special(0, "<pad>"), special(1, "</s>"), special(2, "<unk>")],
    normalizer: {
      type: "Sequence",
      normalizers: [
        { type: "NFKC" },
        { type: "Replace", pattern: { Regex: "\\s+" }, content: " " },
        { type: "Strip", strip_left: true, strip_right: true },
      ],
    },
    pre_tokenizer: metaspace,
    post_processor: {
      type: "TemplateProcessing",
      single: [seq("A"), eos],
      pair: [seq("A"), eos, seq("B"), eos],
      special_tokens: { "</s>": { id: "</s>", ids: [1], tokens: ["</s>"] } },
    },
    decoder: metaspace,
    model: {
      type: "Unigram",
      unk_id: 2,
      vocab: [
        ["<pad>", 0],
        ["</s>", 0],
        ["<unk>", 0],
        ...pieces.map((p) => [p, Number(scores.get(p)!.toFixed(6))]),
      ],
      byte_fallback: false,
    },
  };
  const config = {
    tokenizer_class: "T5Tokenizer",
    model_max_length: maxLength,
    eos_token: "</s>",
    unk_token: "<unk>",
    pad_token: "<pad>",
    extra_ids: 0,
    additional_special_tokens: [],
    clean_up_tokenization_spaces: true,
  };
  return { tokenizer, config };
}
