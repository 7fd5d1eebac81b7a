import assert from "node:assert/strict";
import { lcs, mean, rouge, rougeL, rougeN, tokens } from "../../bench/rouge.ts";
import { evaluate, lead3, loadSamsum, longest3, referenceScores } from "../../bench/quality.ts";

const near = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} ≠ ${b}`);

Deno.test("rouge: tokens, n-gram clipping, LCS and F1 on hand-computed cases", () => {
  assert.deepEqual(tokens("Ann's 2 CATS—sat!"), ["ann", "s", "2", "cats", "sat"]);
  const ref = tokens("the cat sat on the mat");
  const cand = tokens("the cat the cat on mat");
  // unigrams: the×2 (ref has 2), cat×1, on, mat → 5 of 6 both ways.
  near(rougeN(cand, ref, 1), 5 / 6);
  // bigrams: "the cat" (ref 1, cand 2 → 1), "on mat" ✗ → 1 of 5.
  near(rougeN(cand, ref, 2), 1 / 5);
  // LCS: the cat on mat = 4 → P = R = 4/6.
  assert.equal(lcs(cand, ref), 4);
  near(rougeL(cand, ref), 4 / 6);
  assert.deepEqual(rouge("", "anything"), { rouge1: 0, rouge2: 0, rougeL: 0 });
  assert.deepEqual(rouge("a", "a"), { rouge1: 1, rouge2: 0, rougeL: 1 });
  assert.deepEqual(
    mean([{ rouge1: 1, rouge2: 0, rougeL: 0.5 }, { rouge1: 0, rouge2: 0, rougeL: 0 }]),
    {
      rouge1: 0.5,
      rouge2: 0,
      rougeL: 0.25,
    },
  );
});

Deno.test("rouge: Lead-3 and Longest-3 on SAMSum reproduce the manifest's reference scores", async () => {
  const data = await loadSamsum();
  const ref = await referenceScores();
  for (const [name, pick] of [["lead3", lead3], ["longest3", longest3]] as const) {
    const got = mean(data.map((d) => rouge(pick(d.dialogue), d.summary)));
    for (const metric of ["rouge1", "rouge2", "rougeL"] as const) {
      assert.ok(
        Math.abs(100 * got[metric] - ref[name][metric]) < 0.006,
        `${name} ${metric}: ${100 * got[metric]} vs ${ref[name][metric]}`,
      );
    }
  }
});

Deno.test("quality goal: the default summariser beats Longest-3 on ROUGE-1, shorter, own lines", async () => {
  const data = await loadSamsum();
  const [ours, , longest] = await evaluate(data);
  assert.equal(ours.name, "extractive");
  assert.equal(longest.name, "Longest-3");
  assert.ok(ours.rouge.rouge1 >= longest.rouge.rouge1, `${ours.rouge.rouge1}`);
  assert.equal(ours.own, data.length);
  assert.equal(ours.shorter, data.length);
});
