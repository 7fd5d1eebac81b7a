/**
 * ROUGE-N and ROUGE-L F1 (Lin 2004, "ROUGE: A Package for Automatic Evaluation of Summaries",
 * §2 and §3.1) as the SAMSum vectors' reference scores were computed: tokens are lower-cased
 * runs of [a-z0-9] (no stemming, no stop words), one candidate against one reference, scores
 * macro-averaged over pairs; ROUGE-L is the sentence-level LCS F-measure with β = 1 over the
 * whole token sequences (not the summary-level ROUGE-Lsum). A pair with an empty side scores 0.
 */

export interface Rouge {
  rouge1: number;
  rouge2: number;
  rougeL: number;
}

export function tokens(text: string): string[] {
  return text.toLowerCase().match(/[a-z0-9]+/g) ?? [];
}

function f1(overlap: number, candidate: number, reference: number): number {
  if (overlap === 0) return 0;
  const p = overlap / candidate;
  const r = overlap / reference;
  return (2 * p * r) / (p + r);
}

function ngramCounts(t: readonly string[], n: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i + n <= t.length; i++) {
    const key = t.slice(i, i + n).join(" ");
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** ROUGE-N F1: clipped n-gram overlap. */
export function rougeN(candidate: readonly string[], reference: readonly string[], n: number) {
  const c = ngramCounts(candidate, n);
  const r = ngramCounts(reference, n);
  let overlap = 0;
  for (const [gram, count] of c) overlap += Math.min(count, r.get(gram) ?? 0);
  return f1(overlap, Math.max(0, candidate.length - n + 1), Math.max(0, reference.length - n + 1));
}

/** Length of the longest common subsequence, in O(|a|·|b|) time and O(|b|) memory. */
export function lcs(a: readonly string[], b: readonly string[]): number {
  const row = new Uint32Array(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = 0;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j];
      row[j] = a[i - 1] === b[j - 1] ? diagonal + 1 : Math.max(up, row[j - 1]);
      diagonal = up;
    }
  }
  return row[b.length];
}

export function rougeL(candidate: readonly string[], reference: readonly string[]): number {
  return f1(lcs(candidate, reference), candidate.length, reference.length);
}

/** All three F1 scores of one candidate against one reference, in [0, 1]. */
export function rouge(candidate: string, reference: string): Rouge {
  const c = tokens(candidate);
  const r = tokens(reference);
  return { rouge1: rougeN(c, r, 1), rouge2: rougeN(c, r, 2), rougeL: rougeL(c, r) };
}

/** Macro average of per-pair scores. */
export function mean(scores: readonly Rouge[]): Rouge {
  const sum = { rouge1: 0, rouge2: 0, rougeL: 0 };
  for (const s of scores) {
    sum.rouge1 += s.rouge1;
    sum.rouge2 += s.rouge2;
    sum.rougeL += s.rougeL;
  }
  const n = Math.max(1, scores.length);
  return { rouge1: sum.rouge1 / n, rouge2: sum.rouge2 / n, rougeL: sum.rougeL / n };
}
