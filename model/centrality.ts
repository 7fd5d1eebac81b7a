/**
 * The ONNX graph of the extractive summariser: LexRank sentence centrality (Erkan & Radev 2004,
 * "LexRank: Graph-based Lexical Centrality as Salience in Text Summarization", §3) weighted by a
 * prior, written with `onnx/graph.ts`. It has no weights: a few kB of nodes, built in memory.
 *
 * Inputs (n units, v terms; both dimensions symbolic):
 *   terms    float [n, v]  TF-IDF weights of the terms shared by at least two units
 *   residual float [n]     sum of the squared weights of each unit's other terms (they add to its
 *                          norm but to no similarity, so they need no column)
 *   prior    float [n]     a positive weight per unit (position and length, see extractive.ts)
 * Outputs:
 *   scores     float [n]     prior ⊙ r, where r is the stationary distribution of the LexRank walk
 *   similarity float [n, n]  cosine similarity with a zero diagonal (for the redundancy step)
 *
 * The walk: cosine similarity → adjacency (edges above `threshold`, or the similarities
 * themselves when `threshold` ≤ 0, "continuous LexRank") → row-normalised transition matrix P
 * (a unit with no edge jumps uniformly) → power iteration r ← d·Pᵀr + (1−d)/n from the uniform
 * vector, unrolled. Since P is stochastic the error shrinks by d per step, so the graph unrolls
 * ⌈log(1e-6)/log d⌉ steps (12 for d = 0.3). Limits: dense n×v and n×n tensors, so memory and time
 * grow with n²; the caller bounds n.
 */
import { GraphBuilder } from "./onnx/graph.ts";
import { DataType } from "./onnx/proto.ts";

export interface CentralityConfig {
  /** Cosine similarity above which two units are linked; ≤ 0 keeps weighted edges. */
  threshold: number;
  /** Probability d of following an edge rather than jumping uniformly, in [0, 1). */
  damping: number;
}

/** Power-iteration steps for an L1 error below `tolerance` (at least one). */
export function iterationsFor(damping: number, tolerance = 1e-6): number {
  if (!(damping >= 0 && damping < 1)) throw new RangeError(`damping ${damping} not in [0, 1)`);
  return damping === 0 ? 1 : Math.max(1, Math.ceil(Math.log(tolerance) / Math.log(damping)));
}

/** The serialised ModelProto for `config`. */
export function centralityGraph(config: CentralityConfig): Uint8Array {
  const steps = iterationsFor(config.damping);
  const g = new GraphBuilder("lexrank");
  const terms = g.input("terms", DataType.FLOAT, ["n", "v"]);
  const residual = g.input("residual", DataType.FLOAT, ["n"]);
  const prior = g.input("prior", DataType.FLOAT, ["n"]);

  // L2 normalisation over all of a unit's terms, shared or not; an empty unit stays zero.
  const squares = g.op("ReduceSumSquare", [terms], { axes: [1], keepdims: 0 });
  const norm2 = g.op("Max", [g.op("Add", [squares, residual]), g.scalar("tiny", 1e-24)]);
  const norm = g.op("Unsqueeze", [g.op("Sqrt", [norm2]), g.int64("axis1", [1])]);
  const unit = g.op("Div", [terms, norm]);

  const cosine = g.op("Gemm", [unit, unit], { transB: 1 });
  const offDiagonal = g.op("Sub", [g.scalar("one", 1), g.op("EyeLike", [cosine])]);
  const similarity = g.op("Mul", [cosine, offDiagonal]);
  const adjacency = config.threshold > 0
    ? g.op("Cast", [g.op("Greater", [similarity, g.scalar("threshold", config.threshold)])], {
      to: DataType.FLOAT,
    })
    : similarity;

  // P = (A + e) / (rowsum + e·n) with e = [rowsum = 0]: a row without edges becomes uniform.
  const rowSum = g.op("ReduceSum", [adjacency, g.int64("axes1", [1])], { keepdims: 1 });
  const empty = g.op("Cast", [g.op("Equal", [rowSum, g.scalar("zero", 0)])], {
    to: DataType.FLOAT,
  });
  const shape = g.op("Shape", [prior]);
  const count = g.op("Cast", [shape], { to: DataType.FLOAT });
  const transition = g.op("Div", [
    g.op("Add", [adjacency, empty]),
    g.op("Add", [rowSum, g.op("Mul", [empty, count])]),
  ]);

  const uniform = g.op("Reciprocal", [count]);
  const jump = g.op("Mul", [uniform, g.scalar("teleport", 1 - config.damping)]);
  const damping = g.scalar("damping", config.damping);
  let rank = g.op("Expand", [uniform, g.op("Concat", [g.int64("row", [1]), shape], { axis: 0 })]);
  for (let i = 0; i < steps; i++) {
    rank = g.op("Add", [g.op("Mul", [g.op("MatMul", [rank, transition]), damping]), jump]);
  }
  const scores = g.op("Mul", [g.op("Squeeze", [rank, g.int64("axis0", [0])]), prior]);

  g.output(scores, DataType.FLOAT, ["n"], "scores");
  g.output(similarity, DataType.FLOAT, ["n", "n"], "similarity");
  return g.model({
    "cloister.model": "extractive-lexrank",
    threshold: String(config.threshold),
    damping: String(config.damping),
    steps: String(steps),
  });
}
