import assert from "node:assert/strict";
import * as ort from "onnxruntime-node";
import { type CentralityConfig, centralityGraph, iterationsFor } from "../../model/centrality.ts";
import {
  EXTRACTIVE_DEFAULTS,
  type ExtractiveConfig,
  ExtractiveModel,
  features,
  select,
  words,
} from "../../model/extractive.ts";
import { parseDialogue, splitSentences, unitsOf } from "../../model/text.ts";
import { vectorPath } from "../vectors.ts";
import { lexrank } from "./lexrank_reference.ts";

/**
 * A star: the first sentence shares terms with each of four others, which share none among
 * themselves; three more share nothing with anything. Every sentence has 5–6 words, so with the
 * priors off the hub must come first and the four spokes next, whatever the tie-breaking.
 */
const STAR = [
  "My cat likes sardines a lot.",
  "The budget grows ten percent.",
  "The launch date is March.",
  "Budget, launch date, hiring plan, office move: agreed.",
  "Penguins cannot fly very far.",
  "Hiring plan adds two engineers.",
  "Volcanoes erupt with hot lava.",
  "The office move is summer.",
].map((text) => ({ text }));
const HUB = 3;
const SPOKES = [1, 2, 5, 7];

const CENTRALITY_ONLY: ExtractiveConfig = {
  ...EXTRACTIVE_DEFAULTS,
  lengthExponent: 0,
  positionWeight: 0,
  redundancy: 0,
};

Deno.test("the extractive model picks the hub of a star first and its spokes next", async () => {
  for (const threshold of [0.1, 0]) {
    const model = await ExtractiveModel.load({ ...CENTRALITY_ONLY, threshold, damping: 0.85 });
    try {
      assert.deepEqual((await model.pick(STAR, 1)).map((p) => p.index), [HUB]);
      assert.deepEqual((await model.pick(STAR, 5)).map((p) => p.index), [...SPOKES, HUB].sort());
    } finally {
      await model.release();
    }
  }
});

Deno.test("with the default priors the hub is still in a 3-unit summary", async () => {
  const model = await ExtractiveModel.load();
  try {
    const picked = await model.pick(STAR, 3);
    assert.equal(picked.length, 3);
    assert.ok(picked.some((p) => p.index === HUB), JSON.stringify(picked));
    assert.deepEqual(picked.map((p) => p.index), [...picked.map((p) => p.index)].sort());
  } finally {
    await model.release();
  }
});

/** Runs the centrality graph for `config` on units; one session per config, made on first use. */
const sessions = new Map<string, Promise<ort.InferenceSession>>();
async function runGraph(config: CentralityConfig, units: { text: string }[]) {
  const key = JSON.stringify(config);
  if (!sessions.has(key)) sessions.set(key, ort.InferenceSession.create(centralityGraph(config)));
  const session = await sessions.get(key)!;
  const f = features(units, { ...EXTRACTIVE_DEFAULTS, ...config });
  const n = units.length;
  const out = await session.run({
    terms: new ort.Tensor("float32", f.terms, [n, f.v]),
    residual: new ort.Tensor("float32", f.residual, [n]),
    prior: new ort.Tensor("float32", f.prior, [n]),
  });
  return {
    f,
    scores: out.scores.data as Float32Array,
    similarity: out.similarity.data as Float32Array,
  };
}

Deno.test("the ONNX graph matches a plain-JS LexRank on 60 real dialogues", async () => {
  const lines = Deno.readTextFileSync(
    vectorPath("summarization/samsum_validation.jsonl"),
  ).trim().split("\n");
  const configs: CentralityConfig[] = [
    { threshold: 0.1, damping: 0.3 },
    { threshold: 0, damping: 0.85 },
  ];
  for (const config of configs) {
    let worst = 0;
    for (const line of lines.slice(0, 60)) {
      const units = unitsOf(parseDialogue(JSON.parse(line).dialogue), 280);
      const { f, scores, similarity } = await runGraph(config, units);
      const ref = lexrank(f, config);
      const top = Math.max(...ref.scores);
      for (let i = 0; i < scores.length; i++) {
        worst = Math.max(worst, Math.abs(scores[i] - ref.scores[i]) / top);
      }
      const n = units.length;
      for (let i = 0; i < similarity.length; i++) {
        if (i % (n + 1) === 0) continue; // the diagonal is the unit with itself
        assert.ok(Math.abs(similarity[i] - ref.similarity[i]) < 1e-5, `similarity ${i}`);
      }
    }
    assert.ok(worst < 1e-5, `${JSON.stringify(config)}: worst relative error ${worst}`);
  }
});

Deno.test("units without edges, a single unit and units without content words", async () => {
  const config = { threshold: 0.1, damping: 0.3 };
  const isolated = [{ text: "alpha beta" }, { text: "gamma delta" }, { text: "epsilon" }];
  const { f, scores } = await runGraph(config, isolated);
  const ref = lexrank(f, config);
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(scores[i] - ref.scores[i]) < 1e-6);
  const one = await runGraph(config, [{ text: "only one" }]);
  assert.ok(Number.isFinite(one.scores[0]) && one.scores[0] > 0);
  const empty = await runGraph(config, [{ text: "🎉" }, { text: "ok" }, { text: "the plan" }]);
  assert.ok(empty.scores.every(Number.isFinite));

  const model = await ExtractiveModel.load();
  try {
    // "🎉" and "ok" have no content words: only "the plan" can be picked.
    assert.deepEqual(
      (await model.pick([{ text: "🎉" }, { text: "ok" }, { text: "the plan" }], 2))
        .map((p) => p.index),
      [2],
    );
    assert.deepEqual((await model.pick([{ text: "🎉" }, { text: "ok" }], 1)).length, 1);
    assert.deepEqual(await model.pick([], 3), []);
  } finally {
    await model.release();
  }
});

Deno.test("iterationsFor bounds the power-iteration error by d^k", () => {
  assert.equal(iterationsFor(0), 1);
  assert.equal(iterationsFor(0.3), 12);
  assert.equal(iterationsFor(0.85), 86);
  assert.ok(0.3 ** iterationsFor(0.3) <= 1e-6);
  assert.throws(() => iterationsFor(1), RangeError);
});

Deno.test("features: shared terms get columns, others only add to the norm; priors", () => {
  const f = features(
    [{ text: "Budget meeting" }, { text: "the budget" }, { text: "cats" }],
    { ...EXTRACTIVE_DEFAULTS, lengthExponent: 1, positionWeight: 1 },
  );
  assert.equal(f.v, 1); // only "budget" is shared
  const idf1 = 1 + Math.log(4 / 1);
  const idf2 = 1 + Math.log(4 / 2);
  assert.ok(Math.abs(f.terms[0] - idf2) < 1e-6 && Math.abs(f.terms[1] - idf2) < 1e-6);
  assert.equal(f.terms[2], 0);
  assert.ok(Math.abs(f.residual[0] - idf1 * idf1) < 1e-5); // "meeting"
  assert.equal(f.residual[1], 0);
  assert.deepEqual([...f.content], [2, 1, 1]);
  // (words + 1) · (1 + (1 − i/n))
  assert.deepEqual(
    [...f.prior].map((x) => +x.toFixed(4)),
    [6, +(3 * (5 / 3)).toFixed(4), 2 * 4 / 3]
      .map((x) => +x.toFixed(4)),
  );
  assert.deepEqual(words("Don’t STOP — 3 cafés!"), ["don", "t", "stop", "3", "cafés"]);
});

Deno.test("select: MMR skips a near-duplicate of a picked unit", () => {
  // Units 0 and 1 are the same (similarity 1); 2 is different but scores lower.
  const scores = Float32Array.of(1, 0.99, 0.8);
  const similarity = Float32Array.of(0, 1, 0, 1, 0, 0, 0, 0, 0);
  const content = Uint32Array.of(1, 1, 1);
  assert.deepEqual(select(scores, similarity, content, 2, 0.3).map((p) => p.index), [0, 2]);
  assert.deepEqual(select(scores, similarity, content, 2, 0).map((p) => p.index), [0, 1]);
});

Deno.test("pick on prose: the central sentences of a text about one subject", async () => {
  const text = "The river flooded the town after three days of rain. " +
    "Officials closed the bridge over the river. " +
    "A bakery on the corner sold out of bread. " +
    "Rain is expected to stop tomorrow, and the river should fall. " +
    "The mayor thanked volunteers who filled sandbags along the river in the rain.";
  const units = splitSentences(text).map((t) => ({ text: t }));
  const model = await ExtractiveModel.load(CENTRALITY_ONLY);
  try {
    const picked = (await model.pick(units, 4)).map((p) => p.index);
    assert.ok(!picked.includes(2), `the bakery sentence is off-topic: ${picked}`);
  } finally {
    await model.release();
  }
});
