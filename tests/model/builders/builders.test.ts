import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as ort from "onnxruntime-node";
import { modelFiles } from "../../../model/builders/build.ts";
import { cachedModel, localCorpus } from "../../../model/builders/cache.ts";
import { relativeBucket } from "../../../model/builders/t5.ts";
import { Seq2SeqModel } from "../../../model/seq2seq.ts";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** HF `T5Attention._relative_position_bucket`, transcribed from the PyTorch (float64 here). */
function hfBucket(rel: number, bidirectional: boolean, numBuckets = 32, maxDistance = 128): number {
  let buckets = 0;
  let n = numBuckets;
  let r = rel;
  if (bidirectional) {
    n = Math.floor(n / 2);
    buckets += (r > 0 ? 1 : 0) * n;
    r = Math.abs(r);
  } else r = -Math.min(r, 0);
  const maxExact = Math.floor(n / 2);
  const large = Math.min(
    maxExact +
      Math.trunc(Math.log(r / maxExact) / Math.log(maxDistance / maxExact) * (n - maxExact)),
    n - 1,
  );
  return buckets + (r < maxExact ? r : large);
}

Deno.test("T5 relative position buckets match transformers' formula", () => {
  for (const bidirectional of [true, false]) {
    for (let rel = -400; rel <= 400; rel++) {
      assert.equal(
        relativeBucket(rel, bidirectional, 32, 128),
        hfBucket(rel, bidirectional),
        `rel ${rel}`,
      );
    }
  }
  assert.equal(relativeBucket(-1000, true, 32, 128), 15);
  assert.equal(relativeBucket(1000, true, 32, 128), 31);
  assert.equal(relativeBucket(5, false, 32, 128), 0); // the future: masked anyway
});

Deno.test("builds are deterministic for a seed, and the seed changes the weights", async () => {
  const corpus = await localCorpus();
  const a = modelFiles({ kind: "t5-tiny", int8: true }, corpus);
  const b = modelFiles({ kind: "t5-tiny" }, corpus);
  assert.deepEqual(a.map((f) => f.path), [
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "onnx/encoder_model.onnx",
    "onnx/decoder_model.onnx",
    "onnx/decoder_with_past_model.onnx",
    "onnx/decoder_model_merged.onnx",
    "onnx/encoder_model_quantized.onnx",
    "onnx/decoder_model_quantized.onnx",
    "onnx/decoder_with_past_model_quantized.onnx",
    "onnx/decoder_model_merged_quantized.onnx",
  ]);
  b.forEach((f, i) => assert.equal(sha(f.bytes()), sha(a[i].bytes()), f.path));
  const other = modelFiles({ kind: "t5-tiny", seed: 2 }, corpus);
  assert.notEqual(sha(other[4].bytes()), sha(a[4].bytes()));
  assert.equal(
    sha(other[2].bytes()),
    sha(a[2].bytes()),
    "the tokenizer does not depend on the seed",
  );

  const fp32 = a[5].bytes();
  const int8 = a[9].bytes();
  assert.ok(int8.length < 0.6 * fp32.length, `int8 decoder ${int8.length} vs fp32 ${fp32.length}`);
  const text = new TextDecoder("latin1");
  assert.ok(text.decode(int8).includes("DynamicQuantizeMatMul"));
  assert.ok(!text.decode(fp32).includes("DynamicQuantizeMatMul"));
});

type Io = [string, string, (string | number)[]][];

function io(meta: readonly ort.InferenceSession.ValueMetadata[]): Io {
  return meta.map((m) => m.isTensor ? [m.name, m.type, [...m.shape]] : [m.name, "?", []]);
}

Deno.test("the graphs have exactly the Optimum T5 export's inputs, outputs and dimension names", async () => {
  const dir = await cachedModel({ kind: "t5-tiny", int8: true });
  const open = (name: string) => ort.InferenceSession.create(`${dir}/onnx/${name}.onnx`);
  const B = "batch_size";
  const S = "encoder_sequence_length";
  const kv = (len: string) => ["float32", [B, 4, len, 16]] as const;
  const layers = (prefix: string, self: string, cross?: string): Io =>
    [0, 1].flatMap((i) => [
      [`${prefix}.${i}.decoder.key`, ...kv(self)],
      [`${prefix}.${i}.decoder.value`, ...kv(self)],
      ...(cross
        ? [[`${prefix}.${i}.encoder.key`, ...kv(cross)], [
          `${prefix}.${i}.encoder.value`,
          ...kv(cross),
        ]]
        : []),
    ]) as Io;
  const logits: Io = [["logits", "float32", [B, "decoder_sequence_length", 2048]]];

  const enc = await open("encoder_model");
  assert.deepEqual(io(enc.inputMetadata), [["input_ids", "int64", [B, S]], [
    "attention_mask",
    "int64",
    [B, S],
  ]]);
  assert.deepEqual(io(enc.outputMetadata), [["last_hidden_state", "float32", [B, S, 64]]]);

  const common: Io = [["encoder_attention_mask", "int64", [B, S]]];
  const dec = await open("decoder_model");
  assert.deepEqual(io(dec.inputMetadata), [
    ...common,
    ["input_ids", "int64", [B, "decoder_sequence_length"]],
    ["encoder_hidden_states", "float32", [B, S, 64]],
  ]);
  assert.deepEqual(
    io(dec.outputMetadata),
    [...logits, ...layers("present", "decoder_sequence_length", "encoder_sequence_length_out")],
  );

  const past = await open("decoder_with_past_model_quantized");
  assert.deepEqual(io(past.inputMetadata), [
    ...common,
    ["input_ids", "int64", [B, 1]],
    ...layers("past_key_values", "past_decoder_sequence_length", "encoder_sequence_length_out"),
  ]);
  // input_ids is [batch, 1] here, which ORT's shape inference carries into the logits
  assert.deepEqual(io(past.outputMetadata), [
    ["logits", "float32", [B, 1, 2048]],
    ...layers("present", "past_decoder_sequence_length + 1"),
  ]);

  const merged = await open("decoder_model_merged");
  assert.deepEqual(io(merged.inputMetadata), [
    ...common,
    ["input_ids", "int64", [B, "decoder_sequence_length"]],
    ["encoder_hidden_states", "float32", [B, S, 64]],
    ...layers("past_key_values", "past_decoder_sequence_length", "encoder_sequence_length_out"),
    ["use_cache_branch", "bool", [1]],
  ]);
  assert.deepEqual(
    io(merged.outputMetadata),
    [...logits, ...layers("present", "decoder_sequence_length", "encoder_sequence_length_out")],
  );
  await Promise.all([enc, dec, past, merged].map((s) => s.release()));
});

Deno.test("the model cache builds once per spec and reuses the folder", async () => {
  const root = await Deno.makeTempDir({ prefix: "cloister-cache-" });
  try {
    const lines: string[] = [];
    const a = await cachedModel({ kind: "bart-tiny" }, { root, log: (l) => lines.push(l) });
    assert.match(a, /\/bart-tiny-[0-9a-f]{16}$/);
    const built = lines.length;
    assert.ok(built > 0);
    assert.equal(await cachedModel({ kind: "bart-tiny" }, { root, log: (l) => lines.push(l) }), a);
    assert.equal(lines.length, built, "no second build");
    const b = await cachedModel({ kind: "bart-tiny", seed: 3 }, { root });
    assert.notEqual(a, b);
    const names = [];
    for await (const e of Deno.readDir(root)) names.push(e.name);
    assert.equal(names.length, 2, `no temporary folder left: ${names}`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("builder CLI: writes a loadable folder; bad usage exits 2 with one line", async () => {
  const out = await Deno.makeTempDir({ prefix: "cloister-cli-" });
  const cli = fileURLToPath(new URL("../../../model/builders/cli.ts", import.meta.url));
  const run = (...args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-write", cli, ...args],
    }).output();
  try {
    const ok = await run("bart-tiny", "--out", out);
    assert.equal(ok.code, 0, new TextDecoder().decode(ok.stderr));
    const m = await Seq2SeqModel.load(out);
    assert.equal(m.config.family, "bart");
    await m.release();
    for (
      const args of [["t5-huge", "--out", out], ["t5-tiny"], [
        "t5-tiny",
        "--out",
        out,
        "--seed",
        "x",
      ]]
    ) {
      const bad = await run(...args);
      assert.equal(bad.code, 2, args.join(" "));
      const err = new TextDecoder().decode(bad.stderr).trim();
      assert.equal(err.split("\n").length, 1, err);
      assert.match(err, /usage: cli\.ts/);
    }
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
