import assert from "node:assert/strict";
import * as ort from "onnxruntime-node";
import { InputError } from "../../model/errors.ts";
import { generate, generateText, wipe } from "../../model/generate.ts";
import { Seq2SeqModel } from "../../model/seq2seq.ts";
import { Seq2SeqTokenizer } from "../../model/tokenizer.ts";
import { tinyModel } from "./fixtures.ts";

const TEXT =
  "You may reproduce and distribute copies of the Work or Derivative Works thereof in any " +
  "medium, with or without modifications, and in Source or Object form.";

const int64 = (xs: ArrayLike<number>) => BigInt64Array.from(Array.from(xs, (x) => BigInt(x)));

async function withModel(
  kind: "t5-tiny" | "bart-tiny",
  options: Parameters<typeof Seq2SeqModel.load>[1],
  fn: (m: Seq2SeqModel, tok: Seq2SeqTokenizer) => Promise<void>,
): Promise<void> {
  const dir = await tinyModel(kind);
  const m = await Seq2SeqModel.load(dir, options);
  try {
    await fn(m, await Seq2SeqTokenizer.load(dir, m.config));
  } finally {
    await m.release();
  }
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

/** Decoder logits of every position of `prefix` in one pass, no cache. */
async function fullPass(
  m: Seq2SeqModel,
  hidden: ort.Tensor,
  mask: BigInt64Array,
  prefix: number[],
) {
  const out = await m.start(
    new ort.Tensor("int64", int64(prefix), [1, prefix.length]),
    new ort.Tensor("int64", mask, [1, mask.length]),
    hidden,
  );
  return out.logits.data as Float32Array;
}

/** Greedy decoding without the KV cache (the whole prefix each step), never repeating a token. */
async function greedyNoCache(m: Seq2SeqModel, input: Int32Array, steps: number): Promise<number[]> {
  const mask = new BigInt64Array(input.length).fill(1n);
  const hidden = await m.encode(int64(input), mask, 1);
  const V = m.config.vocabSize;
  const seq = [m.config.decoderStartTokenId];
  while (seq.length <= steps) {
    const logits = await fullPass(m, hidden, mask, seq);
    const row = logits.slice((seq.length - 1) * V);
    for (const t of seq) row[t] = -Infinity; // no_repeat_ngram_size 1
    let best = 0;
    for (let v = 1; v < V; v++) if (row[v] > row[best]) best = v;
    // BART's forced <s> first and </s> at the length limit
    if (seq.length === 1 && m.config.forcedBosTokenId !== undefined) {
      best = m.config.forcedBosTokenId;
    }
    if (seq.length === steps && m.config.forcedEosTokenId !== undefined) {
      best = m.config.forcedEosTokenId;
    }
    seq.push(best);
    if (m.config.eosTokenIds.includes(best)) break;
  }
  return seq.slice(1);
}

for (const kind of ["t5-tiny", "bart-tiny"] as const) {
  for (const decoder of ["split", "merged"] as const) {
    Deno.test(`${kind} ${decoder}: KV-cache steps give the logits of full decoding (1e-4) and the same tokens`, async () => {
      await withModel(kind, { decoder }, async (m, tok) => {
        const input = tok.encode(TEXT);
        const mask = new BigInt64Array(input.length).fill(1n);
        const maskT = new ort.Tensor("int64", mask, [1, input.length]);
        const hidden = await m.encode(int64(input), mask, 1);
        // teacher forcing with arbitrary tokens, so every step sees a different prefix
        const V = m.config.vocabSize;
        const prefix = [m.config.decoderStartTokenId, 17, 300, 5, 99, 1000, 42, 7, 640];
        const full = await fullPass(m, hidden, mask, prefix);
        const ids = new BigInt64Array(1);
        ids[0] = BigInt(prefix[0]);
        const idsT = new ort.Tensor("int64", ids, [1, 1]);
        let { logits, cache } = await m.start(idsT, maskT, hidden);
        let worst = 0;
        for (let t = 0; t < prefix.length; t++) {
          const row = full.subarray(t * V, (t + 1) * V);
          worst = Math.max(worst, maxDiff(logits.data as Float32Array, row));
          if (t + 1 === prefix.length) break;
          ids[0] = BigInt(prefix[t + 1]);
          const crossBefore = cache.cross;
          ({ logits, cache } = await m.step(idsT, maskT, hidden, cache));
          assert.equal(cache.cross, crossBefore, "the cross-attention cache is reused as is");
          assert.deepEqual(cache.self[0].dims.slice(2, 3), [t + 2]);
        }
        assert.ok(worst < 1e-4, `max |cached − full| = ${worst}`);

        const steps = 12;
        const reference = await greedyNoCache(m, input, steps);
        const out = await generate(m, input, { maxNewTokens: steps, noRepeatNgramSize: 1 });
        assert.deepEqual([...out.ids], reference);
        assert.ok(new Set(reference).size === reference.length && reference.length > 1);
      });
    });
  }
}

Deno.test("padding does not change the encoder's outputs nor the decoder's logits", async () => {
  for (const kind of ["t5-tiny", "bart-tiny"] as const) {
    await withModel(kind, {}, async (m, tok) => {
      const input = tok.encode(TEXT);
      const n = input.length;
      const pad = m.config.padTokenId;
      const extra = 7;
      // batch of two: the input, then the input right-padded with `extra` pad tokens
      const ids = new BigInt64Array(2 * (n + extra)).fill(BigInt(pad));
      const mask = new BigInt64Array(2 * (n + extra));
      for (let r = 0; r < 2; r++) {
        ids.set(int64(input), r * (n + extra));
        mask.fill(1n, r * (n + extra), r * (n + extra) + n);
      }
      const single = await m.encode(int64(input), new BigInt64Array(n).fill(1n), 1);
      const batched = await m.encode(ids, mask, 2);
      const D = m.config.dModel;
      const a = single.data as Float32Array;
      const b = (batched.data as Float32Array).subarray(0, n * D);
      assert.ok(maxDiff(a, b) < 1e-5, `${kind}: encoder changed by padding: ${maxDiff(a, b)}`);

      const start = [m.config.decoderStartTokenId, 11, 12];
      const unpadded = await fullPass(m, single, new BigInt64Array(n).fill(1n), start);
      const row0 = new ort.Tensor(
        "float32",
        (batched.data as Float32Array).slice(0, (n + extra) * D),
        [1, n + extra, D],
      );
      const padded = await fullPass(m, row0, mask.slice(0, n + extra), start);
      assert.ok(maxDiff(unpadded, padded) < 1e-4, `${kind}: logits changed by padding`);
    });
  }
});

Deno.test("beam search with one beam equals greedy search", async () => {
  for (const kind of ["t5-tiny", "bart-tiny"] as const) {
    await withModel(kind, {}, async (m, tok) => {
      const input = tok.encode(TEXT);
      for (
        const o of [{ maxNewTokens: 10 }, { maxNewTokens: 16, noRepeatNgramSize: 2 }, {
          maxNewTokens: 8,
          minNewTokens: 8,
        }]
      ) {
        const g = await generate(m, input, o);
        const b = await generate(m, input, {
          ...o,
          search: "beam",
          numBeams: 1,
          earlyStopping: true,
        });
        assert.deepEqual([...b.ids], [...g.ids], `${kind} ${JSON.stringify(o)}`);
      }
    });
  }
});

/** Plain beam search over full decoding passes (transformers' rules), to check the cached one. */
async function referenceBeam(
  m: Seq2SeqModel,
  input: Int32Array,
  o: { numBeams: number; maxNewTokens: number; lengthPenalty: number; earlyStopping: boolean },
): Promise<number[]> {
  const { numBeams: K, maxNewTokens: maxNew, lengthPenalty: lp } = o;
  const mask = new BigInt64Array(input.length).fill(1n);
  const hidden = await m.encode(int64(input), mask, 1);
  const V = m.config.vocabSize;
  const eos = new Set(m.config.eosTokenIds);
  const { forcedBosTokenId: bos, forcedEosTokenId: forcedEos } = m.config;
  let beams = [{ seq: [m.config.decoderStartTokenId], score: 0 }];
  const hyps: { seq: number[]; score: number }[] = [];
  for (let len = 1; len <= maxNew; len++) {
    const cands: { seq: number[]; score: number; tok: number }[] = [];
    for (const b of beams) {
      const logits = (await fullPass(m, hidden, mask, b.seq)).slice((len - 1) * V);
      let max = -Infinity;
      for (const x of logits) max = Math.max(max, x);
      let sum = 0;
      for (const x of logits) sum += Math.exp(x - max);
      const lse = max + Math.log(sum);
      const only = len === 1 && bos !== undefined ? bos : len === maxNew ? forcedEos : undefined;
      logits.forEach((x, v) => {
        if (only === undefined || v === only) {
          cands.push({ seq: b.seq, score: b.score + x - lse, tok: v });
        }
      });
    }
    cands.sort((a, b) => b.score - a.score);
    const next: typeof beams = [];
    for (let r = 0; r < cands.length && r < 2 * K && next.length < K; r++) {
      const c = cands[r];
      if (eos.has(c.tok)) {
        if (r < K) hyps.push({ seq: c.seq.slice(1).concat(c.tok), score: c.score / len ** lp });
      } else next.push({ seq: [...c.seq, c.tok], score: c.score });
    }
    beams = next;
    hyps.sort((a, b) => b.score - a.score).splice(K);
    const worst = hyps.at(-1)?.score ?? -Infinity;
    if (hyps.length === K && (o.earlyStopping || worst >= cands[0].score / len ** lp)) {
      return hyps[0].seq;
    }
  }
  for (const b of beams) hyps.push({ seq: b.seq.slice(1), score: b.score / maxNew ** lp });
  return hyps.sort((a, b) => b.score - a.score)[0].seq;
}

Deno.test("beam search (KV cache, reordered beams) agrees with a plain full-decoding beam search", async () => {
  const cases = [
    { kind: "t5-tiny", numBeams: 4, maxNewTokens: 20, lengthPenalty: 2, earlyStopping: false },
    { kind: "bart-tiny", numBeams: 3, maxNewTokens: 8, lengthPenalty: 1, earlyStopping: true },
    { kind: "bart-tiny", numBeams: 4, maxNewTokens: 12, lengthPenalty: 0.5, earlyStopping: false },
  ] as const;
  for (const { kind, ...o } of cases) {
    await withModel(kind, {}, async (m, tok) => {
      const input = tok.encode(TEXT);
      const want = await referenceBeam(m, input, o);
      const got = await generate(m, input, o);
      assert.deepEqual([...got.ids], want, `${kind} ${JSON.stringify(o)}`);
      const greedy = await generate(m, input, { maxNewTokens: o.maxNewTokens });
      assert.notDeepEqual([...got.ids], [...greedy.ids], "the case must tell beams from greedy");
    });
  }
});

Deno.test("min_new_tokens, max_new_tokens and forced BOS/EOS shape the output", async () => {
  await withModel("bart-tiny", {}, async (m, tok) => {
    const input = tok.encode(TEXT);
    const out = await generate(m, input, { maxNewTokens: 9, minNewTokens: 9 });
    assert.equal(out.ids.length, 9);
    assert.equal(out.ids[0], m.config.forcedBosTokenId); // BART forces <s> first
    assert.equal(out.ids[8], m.config.forcedEosTokenId); // and </s> at the length limit
    for (let i = 1; i < 8; i++) assert.ok(!m.config.eosTokenIds.includes(out.ids[i]));
    assert.equal(out.stats.newTokens, 9);
    // encoder, then decoder passes: each gives its accepted drafts and one token of its own
    assert.equal(out.stats.runs, 1 + out.stats.passes);
    assert.equal(out.stats.passes + out.stats.accepted, 9);
    assert.ok(out.stats.ortMs <= out.stats.wallMs);
  });
});

Deno.test("int8 files load and generate, with logits close to fp32", async () => {
  let fp32: Float32Array | undefined;
  for (const dtype of ["fp32", "int8"] as const) {
    await withModel("t5-tiny", { dtype }, async (m, tok) => {
      assert.equal(m.files.every((f) => f.endsWith("_quantized.onnx")), dtype === "int8");
      const input = tok.encode(TEXT);
      const mask = new BigInt64Array(input.length).fill(1n);
      const logits = await fullPass(m, await m.encode(int64(input), mask, 1), mask, [0, 9, 10]);
      if (fp32 === undefined) fp32 = logits;
      else {
        const range = Math.max(...fp32) - Math.min(...fp32);
        assert.ok(
          maxDiff(fp32, logits) < 0.05 * range,
          `int8 off by ${maxDiff(fp32, logits)} of ${range}`,
        );
      }
      const out = await generate(m, input, { maxNewTokens: 5, minNewTokens: 5 });
      assert.equal(out.ids.length, 5);
    });
  }
});

Deno.test("bad input gives typed errors; over-length input is refused or truncated with a warning", async () => {
  await withModel("t5-tiny", {}, async (m, tok) => {
    const code = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (e) {
        assert.ok(e instanceof InputError, String(e));
        return e.code;
      }
      assert.fail("no error");
    };
    assert.equal(await code(generate(m, new Int32Array(0))), "empty-input");
    assert.equal(await code(generateText(m, tok, "  \n ")), "empty-input");
    assert.equal(await code(generate(m, [5, m.config.vocabSize])), "bad-input");
    assert.equal(await code(generate(m, [5, -1])), "bad-input");
    assert.equal(await code(generate(m, [5, 1], { maxNewTokens: 0 })), "bad-input");
    assert.equal(await code(generate(m, [5, 1], { numBeams: 2, search: "greedy" })), "bad-input");
    // Bounded: these allocated buffers of the asked size and threw a raw RangeError.
    assert.equal(await code(generate(m, [5, 1], { maxNewTokens: 1e10 })), "bad-input");
    assert.equal(await code(generate(m, [5, 1], { maxLength: 2 ** 31 })), "bad-input");
    assert.equal(await code(generate(m, [5, 1], { numBeams: 1e9 })), "bad-input");
    const untyped = { numBeams: 4, search: "bogus", earlyStopping: "yes" } as unknown as object;
    assert.equal(
      await code(generate(m, [5, 1], { ...untyped, earlyStopping: false })),
      "bad-input",
    );
    assert.equal(await code(generate(m, [5, 1], { ...untyped, search: "beam" })), "bad-input");
    const overflow = { overflow: "whatever" } as unknown as object; // it cut the input before
    assert.equal(await code(generate(m, [5, 1], overflow)), "bad-input");

    const long = new Int32Array(m.contextLength + 40).fill(77);
    long[long.length - 1] = 1; // </s>
    assert.equal(await code(generate(m, long)), "input-too-long");
    const cut = await generate(m, long, { overflow: "truncate", maxNewTokens: 3 });
    assert.equal(cut.stats.inputTokens, m.contextLength);
    assert.match(cut.warnings[0], /truncated from 552 to 512 tokens/);
    assert.equal(cut.ids.length, 3);
  });
});

Deno.test("text in, text out, with the model's summarisation prefix; wipe zeroes", async () => {
  await withModel("t5-tiny", {}, async (m, tok) => {
    assert.equal(m.config.summarizationPrefix, "summarize: ");
    const out = await generateText(m, tok, TEXT, { maxNewTokens: 6, numBeams: 2 });
    assert.equal(typeof out.text, "string");
    assert.equal(out.stats.inputTokens, tok.encode("summarize: " + TEXT).length);
    const ids = Int32Array.of(1, 2, 3);
    wipe(ids);
    assert.deepEqual([...ids], [0, 0, 0]);
  });
});
