import assert from "node:assert/strict";
import * as ort from "onnxruntime-node";
import { cachedModel } from "../../model/builders/cache.ts";
import { generate, type GenerateOptions } from "../../model/generate.ts";
import { type KvCache, Seq2SeqModel } from "../../model/seq2seq.ts";
import { nextDraftLength, promptLookup } from "../../model/speculative.ts";
import { Seq2SeqTokenizer } from "../../model/tokenizer.ts";
import { tinyModel } from "./fixtures.ts";

const i32 = (...xs: number[]) => Int32Array.from(xs);
const int64 = (xs: ArrayLike<number>) =>
  new ort.Tensor("int64", BigInt64Array.from(Array.from(xs), BigInt), [1, xs.length]);

/** promptLookup's draft as a list (`max` tokens at most, eos = 1). */
function lookup(seq: number[], input: number[], max = 4, ngram = 2): number[] {
  const out = new Int32Array(max);
  const k = promptLookup(i32(...seq), seq.length, i32(...input), ngram, (id) => id === 1, out);
  return [...out.subarray(0, k)];
}

Deno.test("prompt lookup: the longest n-gram first, the first match, input before output", () => {
  const input = [7, 8, 9, 10, 11, 12, 8, 9, 20, 21, 1];
  assert.deepEqual(lookup([0, 5, 8, 9], input), [10, 11, 12, 8], "2-gram 8 9: its first match");
  assert.deepEqual(lookup([0, 5, 8, 9], input, 2), [10, 11], "as many as asked for");
  assert.deepEqual(lookup([0, 5, 12], input), [8, 9, 20, 21], "1-gram");
  assert.deepEqual(lookup([0, 5, 20, 21], input), [], "an eos ends the draft: nothing left");
  assert.deepEqual(lookup([0, 5, 6], input), [], "no match");
  assert.deepEqual(lookup([0], input), [], "only the start token: nothing to match");
  // not in the input: the output's own earlier occurrence (never the suffix itself)
  assert.deepEqual(lookup([0, 30, 31, 32, 30, 31], input), [32, 30, 31]);
  assert.deepEqual(lookup([0, 30, 30], input), [30], "a repeated token predicts itself");
  assert.deepEqual(lookup([0, 30, 31, 8], input, 4, 1), [9, 10, 11, 12], "ngram 1 only");
  assert.deepEqual(lookup([0, 5, 8, 9], input, 0), []);
});

Deno.test("draft length: two more after a full acceptance, one fewer after a rejection", () => {
  assert.equal(nextDraftLength(2, 2, 2, 4), 4);
  assert.equal(nextDraftLength(4, 4, 4, 4), 4);
  assert.equal(nextDraftLength(4, 4, 1, 4), 3);
  assert.equal(nextDraftLength(1, 1, 0, 4), 1);
  assert.equal(nextDraftLength(3, 0, 0, 4), 3, "no draft, no change");
});

function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

for (const kind of ["t5-tiny", "bart-tiny"] as const) {
  for (const attention of ["fused", "plain"] as const) {
    Deno.test(`${kind} ${attention}: a cached step over k tokens gives the logits and cache of k one-token steps; truncate rolls it back`, async () => {
      const dir = await cachedModel({ kind, attention });
      const m = await Seq2SeqModel.load(dir, { decoder: "merged" });
      const split = await Seq2SeqModel.load(dir, { decoder: "split" });
      try {
        assert.ok(m.multiTokenSteps, "the merged decoder passes the load-time probe");
        // decoder_with_past declares input_ids [batch_size, 1], as Optimum exports it
        assert.ok(!split.multiTokenSteps);
        const input = [37, 208, 19, 55, 301, 12, 1];
        const mask = new BigInt64Array(input.length).fill(1n);
        const maskT = new ort.Tensor("int64", mask, [1, input.length]);
        const hidden = await m.encode(BigInt64Array.from(input, BigInt), mask, 1);
        let { cache } = await m.start(int64([m.config.decoderStartTokenId]), maskT, hidden);
        for (const t of [5, 17]) cache = (await m.step(int64([t]), maskT, hidden, cache)).cache;
        const past: KvCache = cache; // 3 positions
        const tokens = [99, 3, 42, 250, 7];
        const singles: Float32Array[] = [];
        const caches: KvCache[] = [];
        for (const t of tokens) {
          const r = await m.step(int64([t]), maskT, hidden, cache);
          singles.push(r.logits.data as Float32Array);
          caches.push(cache = r.cache);
        }
        const V = m.config.vocabSize;
        const all = await m.step(int64(tokens), maskT, hidden, past);
        const rows = all.logits.data as Float32Array;
        assert.deepEqual(all.logits.dims, [1, tokens.length, V]);
        singles.forEach((row, i) => {
          const d = maxDiff(row, rows.subarray(i * V, (i + 1) * V));
          assert.ok(d < 1e-4, `row ${i}: max |k-token − one-token| = ${d}`);
        });
        for (const keep of [2, 0]) { // keep `keep` of the k new positions
          const copy = all.cache.self.map((t) =>
            new ort.Tensor("float32", (t.data as Float32Array).slice(), t.dims)
          );
          const cut = m.truncate({ self: copy, cross: all.cache.cross }, 3 + keep);
          const want = keep === 0 ? past : caches[keep - 1];
          cut.self.forEach((t, i) => {
            assert.deepEqual(t.dims, want.self[i].dims);
            assert.ok(maxDiff(t.data as Float32Array, want.self[i].data as Float32Array) < 1e-5);
            const whole = copy[i].data as Float32Array;
            assert.ok(whole.subarray(t.data.length).every((x) => x === 0), "tail zeroed");
          });
          assert.equal(cut.cross, all.cache.cross, "cross-attention cache untouched");
        }
      } finally {
        await m.release();
        await split.release();
      }
    });
  }
}

const TEXTS = [
  "You may reproduce and distribute copies of the Work or Derivative Works thereof in any " +
  "medium, with or without modifications, and in Source or Object form.",
  "Amanda: I baked cookies. Do you want some?\nJerry: Sure!\nAmanda: I'll bring you tomorrow :-)",
  "You must give any other recipients of the Work a copy of this License; and You must cause " +
  "any modified files to carry prominent notices stating that You changed the files.",
];

const CASES: GenerateOptions[] = [
  { maxNewTokens: 40 },
  { maxNewTokens: 40, noRepeatNgramSize: 3, minLength: 20 },
  { maxNewTokens: 24, minNewTokens: 24 }, // forced length (BART: forced BOS and EOS too)
  { maxNewTokens: 16, noRepeatNgramSize: 1 }, // no token twice: drafts from the input only
  { maxNewTokens: 30, promptLookupNumTokens: 7, maxMatchingNgramSize: 3 },
];

Deno.test("speculative greedy gives plain greedy's tokens (T5 and BART, with the logits processors)", async () => {
  let accepted = 0, rejected = 0;
  for (const kind of ["t5-tiny", "bart-tiny"] as const) {
    const dir = await tinyModel(kind);
    const m = await Seq2SeqModel.load(dir);
    const tok = await Seq2SeqTokenizer.load(dir, m.config);
    try {
      assert.ok(m.multiTokenSteps);
      for (const text of TEXTS) {
        const ids = tok.encode(text);
        for (const o of CASES) {
          const what = `${kind} ${JSON.stringify(o)} on "${text.slice(0, 20)}…"`;
          const plain = await generate(m, ids, { ...o, promptLookupNumTokens: 0 });
          const fast = await generate(m, ids, o);
          assert.deepEqual([...fast.ids], [...plain.ids], what);
          const s = fast.stats;
          assert.equal(plain.stats.passes, plain.ids.length);
          assert.equal(plain.stats.drafted, 0);
          // every pass yields its accepted drafts and one token of the model's own
          assert.equal(s.passes + s.accepted, fast.ids.length, what);
          assert.equal(s.runs, 1 + s.passes);
          assert.ok(s.accepted <= s.drafted);
          accepted += s.accepted;
          rejected += s.drafted - s.accepted;
        }
      }
    } finally {
      await m.release();
    }
  }
  assert.ok(accepted > 0 && rejected > 0, "the cases take both paths: kept and rolled-back drafts");
});

Deno.test("a decoder that takes one token per step decodes plain greedy, no drafts", async () => {
  const dir = await tinyModel("t5-tiny");
  const split = await Seq2SeqModel.load(dir, { decoder: "split" });
  const merged = await Seq2SeqModel.load(dir);
  try {
    const ids = [37, 208, 19, 55, 1];
    const a = await generate(split, ids, { maxNewTokens: 20 });
    const b = await generate(merged, ids, { maxNewTokens: 20 });
    assert.deepEqual([...a.ids], [...b.ids]);
    assert.equal(a.stats.drafted, 0);
    assert.equal(a.stats.passes, a.ids.length);
    assert.ok(b.stats.passes < b.ids.length, "the merged decoder speculates");
  } finally {
    await split.release();
    await merged.release();
  }
});
