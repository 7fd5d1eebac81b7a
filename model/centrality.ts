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
 *   similarity float [n, n]  cosine similarity (for the redundancy step); the diagonal holds a
 *                            unit's similarity to itself, which is below 1 when it has unshared
 *                            terms
 *
 * The walk: cosine similarity → adjacency A without self-loops (edges above `threshold`, or the
 * similarities themselves when `threshold` ≤ 0, "continuous LexRank") → row-normalised
 * transition matrix P (a unit with no edge jumps uniformly) → power iteration
 * r ← d·Pᵀr + (1−d)/n from the uniform vector, unrolled. Since P is stochastic the error shrinks
 * by d per step, so the graph unrolls ⌈log(1e-6)/log d⌉ steps (12 for d = 0.3). P is never
 * built: each step multiplies r/rowsum by A and subtracts the diagonal's share, so the only
 * O(n²) work is the similarity Gemm, the threshold and one MatMul per step. Limits: dense n×v
 * and n×n tensors (the Gemm costs n²·v), so the caller bounds n.
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
  const zero = g.scalar("zero", 0);
  const axis0 = g.int64("axis0", [0]);
  const axis1 = g.int64("axis1", [1]);

  // L2 normalisation over all of a unit's terms, shared or not; an empty unit stays zero.
  const squares = g.op("ReduceSumSquare", [terms], { axes: [1], keepdims: 0 });
  const norm2 = g.op("Max", [g.op("Add", [squares, residual]), g.scalar("tiny", 1e-24)]);
  const norm = g.op("Unsqueeze", [g.op("Sqrt", [norm2]), axis1]);
  const unit = g.op("Div", [terms, norm]);
  const similarity = g.op("Gemm", [unit, unit], { transB: 1 }, { outputs: ["similarity"] });
  const adjacency = config.threshold > 0
    ? g.op("Cast", [g.op("Greater", [similarity, g.scalar("threshold", config.threshold)])], {
      to: DataType.FLOAT,
    })
    : similarity;

  // The diagonal (self-loops) is gathered from the flattened matrix, never masked out of it: the
  // walk uses A and corrects for diag(A) with vector operations, so only the MatMuls are O(n²).
  const shape = g.op("Shape", [prior]);
  const n = g.op("Squeeze", [shape, axis0]);
  const diagonalIndex = g.op("Range", [
    g.int64("first", [0], []),
    g.op("Mul", [n, n]),
    g.op("Add", [n, g.int64("one", [1], [])]),
  ]);
  const flat = g.op("Reshape", [adjacency, g.int64("flat", [-1])]);
  const self = g.op("Gather", [flat, diagonalIndex], { axis: 0 });
  const rowSum = g.op("Sub", [g.op("ReduceSum", [adjacency, axis1], { keepdims: 0 }), self]);
  // A unit without edges jumps uniformly: its rank mass is spread over all n units.
  const empty = g.op("Cast", [g.op("Equal", [rowSum, zero])], { to: DataType.FLOAT });
  const inverse = g.op("Mul", [
    g.op("Reciprocal", [g.op("Add", [rowSum, empty])]),
    g.op("Sub", [g.scalar("unity", 1), empty]),
  ]);

  // r ← d·(w·A − w⊙diag(A) + Σ(r⊙empty)/n) + (1−d)/n with w = r⊙(1/rowsum): r·P without P.
  const count = g.op("Cast", [shape], { to: DataType.FLOAT });
  const uniform = g.op("Reciprocal", [count]);
  const jump = g.op("Mul", [uniform, g.scalar("teleport", 1 - config.damping)]);
  const spread = g.op("Mul", [uniform, g.scalar("spread", config.damping)]);
  const damping = g.scalar("damping", config.damping);
  let rank = g.op("Expand", [uniform, g.op("Concat", [g.int64("row", [1]), shape], { axis: 0 })]);
  for (let i = 0; i < steps; i++) {
    const w = g.op("Mul", [rank, inverse]);
    const walk = g.op("Sub", [g.op("MatMul", [w, adjacency]), g.op("Mul", [w, self])]);
    const stranded = g.op("ReduceSum", [g.op("Mul", [rank, empty]), axis1], { keepdims: 1 });
    rank = g.op("Add", [
      g.op("Add", [g.op("Mul", [walk, damping]), g.op("Mul", [stranded, spread])]),
      jump,
    ]);
  }
  const scores = g.op("Mul", [g.op("Squeeze", [rank, axis0]), prior]);

  g.output(scores, DataType.FLOAT, ["n"], "scores");
  g.output(similarity, DataType.FLOAT, ["n", "n"]);
  return g.model({
    "cloister.model": "extractive-lexrank",
    threshold: String(config.threshold),
    damping: String(config.damping),
    steps: String(steps),
  });
}
