/**
 * A BART/RoBERTa-style byte-level BPE tokenizer (HF `tokenizers` JSON, as `BartTokenizerFast`
 * saves it) learnt from local text: GPT-2's pre-tokenisation regex and byte-to-unicode alphabet,
 * all 256 bytes in the base vocabulary (so any text encodes without `<unk>`), then the most
 * frequent adjacent pairs merged in order (ties broken by the pair's text, so the result is
 * deterministic). Special ids are BART's: `<s>` 0, `<pad>` 1, `</s>` 2, `<unk>` 3, `<mask>` last.
 */
import type { TokenizerFiles } from "./tokenizer_unigram.ts";

/** GPT-2's pre-tokeniser (what `ByteLevel(use_regex: true)` splits on). */
const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** GPT-2's `bytes_to_unicode`: printable bytes map to themselves, the rest to U+0100 onwards. */
export function byteAlphabet(): string[] {
  const printable = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out: string[] = [];
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    out.push(String.fromCharCode(printable(b) ? b : 256 + extra++));
  }
  return out;
}

export function bpeTokenizer(text: string, size: number, maxLength: number): TokenizerFiles {
  const alphabet = byteAlphabet();
  const utf8 = new TextEncoder();
  const counts = new Map<string, number>();
  for (const m of text.matchAll(GPT2_SPLIT)) {
    const w = [...utf8.encode(m[0])].map((b) => alphabet[b]).join("");
    counts.set(w, (counts.get(w) ?? 0) + 1);
  }
  const words = [...counts].map(([w, f]) => ({ symbols: [...w], f }));
  const specials = ["<s>", "<pad>", "</s>", "<unk>"];
  const vocab: string[] = [...specials, ...alphabet];
  const known = new Set(vocab);
  const merges: [string, string][] = [];
  // pair counts, and which words hold each pair, updated only where a merge changes a word
  const pairs = new Map<string, number>();
  const holders = new Map<string, Set<number>>();
  const count = (i: number, sign: 1 | -1) => {
    const { symbols: s, f } = words[i];
    for (let k = 0; k + 1 < s.length; k++) {
      const key = `${s[k]} ${s[k + 1]}`;
      pairs.set(key, (pairs.get(key) ?? 0) + sign * f);
      if (sign > 0) {
        let h = holders.get(key);
        if (!h) holders.set(key, h = new Set());
        h.add(i);
      }
    }
  };
  words.forEach((_, i) => count(i, 1));
  while (vocab.length < size - 1) {
    let best: string | undefined;
    let bestCount = 1; // a pair seen once is not worth a vocabulary entry
    for (const [key, c] of pairs) {
      if (c > bestCount || (c === bestCount && best !== undefined && key < best)) {
        best = key;
        bestCount = c;
      }
    }
    if (best === undefined) break;
    const [a, b] = best.split(" ");
    merges.push([a, b]);
    if (!known.has(a + b)) { // "ab"+"c" and "a"+"bc" may both be learnt
      known.add(a + b);
      vocab.push(a + b);
    }
    for (const i of holders.get(best)!) {
      count(i, -1);
      const s = words[i].symbols;
      for (let k = 0; k + 1 < s.length; k++) {
        if (s[k] === a && s[k + 1] === b) s.splice(k, 2, a + b);
      }
      count(i, 1);
    }
    holders.delete(best);
    pairs.delete(best);
  }
  vocab.push("<mask>");
  const special = (id: number, content: string) => ({
    id,
    content,
    single_word: false,
    lstrip: content === "<mask>",
    rstrip: false,
    normalized: false,
    special: true,
  });
  const byteLevel = {
    type: "ByteLevel",
    add_prefix_space: false,
    trim_offsets: true,
    use_regex: true,
  };
  const tokenizer = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [...specials.map((s, i) => special(i, s)), special(vocab.length - 1, "<mask>")],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: {
      type: "RobertaProcessing",
      sep: ["</s>", 2],
      cls: ["<s>", 0],
      trim_offsets: true,
      add_prefix_space: false,
    },
    decoder: { ...byteLevel, add_prefix_space: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: "",
      end_of_word_suffix: "",
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(vocab.map((t, i) => [t, i])),
      merges,
    },
  };
  const config = {
    tokenizer_class: "BartTokenizer",
    model_max_length: maxLength,
    bos_token: "<s>",
    eos_token: "</s>",
    sep_token: "</s>",
    cls_token: "<s>",
    unk_token: "<unk>",
    pad_token: "<pad>",
    mask_token: "<mask>",
    add_prefix_space: false,
    errors: "replace",
    clean_up_tokenization_spaces: true,
  };
  return { tokenizer, config };
}
