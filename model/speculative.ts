/**
 * Draft tokens for speculative greedy decoding by prompt lookup (A. Saxena, "Prompt Lookup
 * Decoding", 2023; transformers' `PromptLookupCandidateGenerator`, `prompt_lookup_num_tokens`
 * and `max_matching_ngram_size`): the last n tokens of the output (n from `maxNgram` down to 1)
 * are looked up in the input ids, then in the output itself, and the tokens that followed the
 * first match are proposed. A summary copies names and phrases from its input, so a match often
 * predicts the next few tokens; the decoder then checks them all in one pass (one read of the
 * weights) and keeps the prefix its own argmax agrees with, so the output is plain greedy's.
 *
 * How many to propose adapts as transformers' assisted generation does it ("heuristic"
 * schedule): two more after a pass that accepted its whole draft, one fewer (not below one)
 * after a rejection, so text the model does not copy costs little more than plain greedy, and
 * text it does copy is taken in long strides.
 *
 * As in transformers: the first match whose continuation is not empty (input before output, as
 * a decoder-only model's prompt precedes its output), and a draft ends before an eos (accepting
 * one would end the generation; drafting past it is wasted work). Pure and allocation-free: it
 * reads typed arrays and writes the draft into `out`, so no copy of a token id is left on the JS
 * heap.
 */

/**
 * Defaults: at most 4 draft tokens per pass, n-grams of up to 2 tokens (transformers' default
 * max_matching_ngram_size). bench/model.ts measures the pass costs and the projection they rest on.
 */
export const PROMPT_LOOKUP = { draftTokens: 4, maxNgram: 2 } as const;

/** The first i ≥ 0 with `src[i, i + size)` = `seq[n − size, n)` and i + size < `end`; else −1. */
function find(src: Int32Array, end: number, seq: Int32Array, n: number, size: number): number {
  for (let i = 0; i + size < end; i++) {
    let j = 0;
    while (j < size && src[i + j] === seq[n - size + j]) j++;
    if (j === size) return i;
  }
  return -1;
}

/**
 * Writes up to `out.length` tokens that may follow `seq[0, n)` (the decoder ids so far, start
 * token included) into `out`, looked up in `input` (the encoder ids) and in `seq` itself;
 * returns how many (0: no n-gram of 1..`maxNgram` tokens matched with a continuation).
 */
export function promptLookup(
  seq: Int32Array,
  n: number,
  input: Int32Array,
  maxNgram: number,
  isEos: (id: number) => boolean,
  out: Int32Array,
): number {
  // the start token is no output: n-grams are of generated tokens
  if (out.length === 0) return 0;
  for (let size = Math.min(maxNgram, n - 1); size >= 1; size--) {
    for (const [src, end] of [[input, input.length], [seq, n]] as const) {
      const at = find(src, end, seq, n, size);
      if (at < 0) continue;
      let k = 0;
      for (let i = at + size; k < out.length && i < end && !isEos(src[i]); i++) out[k++] = src[i];
      if (k > 0) return k;
    }
  }
  return 0;
}

/** The draft length after a pass that proposed `drafted` tokens and accepted `accepted`. */
export function nextDraftLength(
  current: number,
  drafted: number,
  accepted: number,
  max: number,
): number {
  if (drafted === 0) return current;
  return accepted === drafted ? Math.min(max, current + 2) : Math.max(1, current - 1);
}
