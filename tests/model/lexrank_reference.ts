/**
 * LexRank in plain JavaScript over the same features as the ONNX graph (model/centrality.ts):
 * an independent implementation for the tests to check the graph against, and the baseline of
 * the extractive speed benchmark. Sparse dot products, fp64, power iteration to convergence.
 */
import type { CentralityConfig } from "../../model/centrality.ts";
import type { Features } from "../../model/extractive.ts";

export interface Centrality {
  scores: Float64Array;
  /** [n, n] cosine similarity, zero diagonal. */
  similarity: Float64Array;
}

export function lexrank(f: Features, config: CentralityConfig, tolerance = 1e-9): Centrality {
  const n = f.prior.length;
  const v = f.v;
  // Sparse rows of the L2-normalised vectors.
  const cols: number[][] = [];
  const vals: number[][] = [];
  for (let i = 0; i < n; i++) {
    let norm2 = f.residual[i];
    const c: number[] = [];
    const w: number[] = [];
    for (let j = 0; j < v; j++) {
      const x = f.terms[i * v + j];
      if (x !== 0) {
        c.push(j);
        w.push(x);
        norm2 += x * x;
      }
    }
    const norm = Math.sqrt(norm2) || 1;
    cols.push(c);
    vals.push(w.map((x) => x / norm));
  }
  const similarity = new Float64Array(n * n);
  const dense = new Float64Array(v);
  for (let i = 0; i < n; i++) {
    cols[i].forEach((c, k) => dense[c] = vals[i][k]);
    for (let j = i + 1; j < n; j++) {
      let s = 0;
      cols[j].forEach((c, k) => s += dense[c] * vals[j][k]);
      similarity[i * n + j] = similarity[j * n + i] = s;
    }
    for (const c of cols[i]) dense[c] = 0;
  }
  // Transition matrix: thresholded or weighted edges, rows normalised, empty rows uniform.
  const p = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let j = 0; j < n; j++) {
      const s = similarity[i * n + j];
      const a = config.threshold > 0 ? (s > config.threshold ? 1 : 0) : s;
      p[i * n + j] = a;
      sum += a;
    }
    for (let j = 0; j < n; j++) p[i * n + j] = sum === 0 ? 1 / n : p[i * n + j] / sum;
  }
  let r = new Float64Array(n).fill(1 / n);
  for (let step = 0; step < 10_000; step++) {
    const next = new Float64Array(n).fill((1 - config.damping) / n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) next[j] += config.damping * p[i * n + j] * r[i];
    }
    let delta = 0;
    for (let i = 0; i < n; i++) delta += Math.abs(next[i] - r[i]);
    r = next;
    if (delta < tolerance) break;
  }
  return { scores: r.map((x, i) => x * f.prior[i]), similarity };
}
