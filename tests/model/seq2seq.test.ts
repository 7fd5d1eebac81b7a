import assert from "node:assert/strict";
import { ModelFolderError } from "../../model/errors.ts";
import { generate } from "../../model/generate.ts";
import { GraphBuilder } from "../../model/onnx/graph.ts";
import { DataType } from "../../model/onnx/proto.ts";
import { type LoadOptions, Seq2SeqModel } from "../../model/seq2seq.ts";
import { Seq2SeqTokenizer } from "../../model/tokenizer.ts";
import { copyModel, tinyModel } from "./fixtures.ts";

/** The error code (and path) a load fails with. */
async function loadError(
  dir: string,
  options?: LoadOptions,
): Promise<{ code: string; message: string }> {
  try {
    const m = await Seq2SeqModel.load(dir, options);
    await m.release();
  } catch (e) {
    assert.ok(e instanceof ModelFolderError, `not a ModelFolderError: ${e}`);
    return { code: e.code, message: e.message };
  }
  assert.fail("the folder loaded");
}

async function editJson(path: string, edit: (j: Record<string, unknown>) => void): Promise<void> {
  const j = JSON.parse(await Deno.readTextFile(path));
  edit(j);
  await Deno.writeTextFile(path, JSON.stringify(j));
}

async function withCopy(
  kind: "t5-tiny" | "bart-tiny",
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await copyModel(await tinyModel(kind));
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("loads T5 and BART folders: merged decoder by default, split on request, sizes from config.json", async () => {
  for (const kind of ["t5-tiny", "bart-tiny"] as const) {
    const m = await Seq2SeqModel.load(await tinyModel(kind));
    const split = await Seq2SeqModel.load(await tinyModel(kind), { decoder: "split" });
    try {
      assert.equal(m.decoderKind, "merged");
      assert.equal(m.config.family, kind === "t5-tiny" ? "t5" : "bart");
      const names = (x: Seq2SeqModel) => x.files.map((f) => f.split("/").slice(-2).join("/"));
      assert.deepEqual(names(m), ["onnx/encoder_model.onnx", "onnx/decoder_model_merged.onnx"]);
      assert.deepEqual(
        names(split),
        ["onnx/encoder_model.onnx", "onnx/decoder_model.onnx", "onnx/decoder_with_past_model.onnx"],
      );
      assert.equal(m.contextLength, kind === "t5-tiny" ? 512 : 256);
    } finally {
      await m.release();
      await split.release();
    }
  }
});

Deno.test("a merged-only folder in the flat Optimum layout loads and decodes like the split one", async () => {
  await withCopy("t5-tiny", async (dir) => {
    for await (const e of Deno.readDir(`${dir}/onnx`)) {
      if (/^decoder(_with_past)?_model(_quantized)?\.onnx$/.test(e.name)) {
        await Deno.remove(`${dir}/onnx/${e.name}`);
      } else await Deno.rename(`${dir}/onnx/${e.name}`, `${dir}/${e.name}`);
    }
    const merged = await Seq2SeqModel.load(dir);
    const split = await Seq2SeqModel.load(await tinyModel("t5-tiny"));
    try {
      assert.equal(merged.decoderKind, "merged");
      assert.equal(merged.files[0], `${dir}/encoder_model.onnx`);
      const ids = [37, 208, 19, 55, 1];
      const a = await generate(merged, ids, { maxNewTokens: 8, noRepeatNgramSize: 1 });
      const b = await generate(split, ids, { maxNewTokens: 8, noRepeatNgramSize: 1 });
      assert.deepEqual([...a.ids], [...b.ids]);
      assert.equal((await loadError(dir, { decoder: "split" })).code, "missing-file");
    } finally {
      await merged.release();
      await split.release();
    }
  });
});

Deno.test("missing files give missing-file naming the file", async () => {
  await withCopy("bart-tiny", async (dir) => {
    await Deno.remove(`${dir}/onnx/decoder_with_past_model_quantized.onnx`);
    await Deno.remove(`${dir}/onnx/decoder_model_merged_quantized.onnx`);
    let e = await loadError(dir, { dtype: "int8" });
    assert.equal(e.code, "missing-file");
    assert.match(e.message, /decoder_model_merged_quantized\.onnx: not found/);
    e = await loadError(dir, { dtype: "int8", decoder: "split" });
    assert.match(e.message, /decoder_with_past_model_quantized\.onnx: not found/);
    await Deno.remove(`${dir}/onnx/encoder_model.onnx`);
    e = await loadError(dir);
    assert.equal(e.code, "missing-file");
    assert.match(e.message, /encoder_model\.onnx/);
    await Deno.remove(`${dir}/config.json`);
    e = await loadError(dir);
    assert.equal(e.code, "missing-file");
    assert.match(e.message, /config\.json: not found/);
  });
});

Deno.test("config.json that disagrees with the graphs, or is unusable, is refused with its reason", async () => {
  await withCopy("t5-tiny", async (dir) => {
    const config = `${dir}/config.json`;
    const original = await Deno.readTextFile(config);
    const cases: [string, (j: Record<string, unknown>) => void, string, RegExp][] = [
      [
        "d_model",
        (j) => j.d_model = 96,
        "bad-shape",
        /last_hidden_state" has dimension 2 = 64, but config\.json implies 96/,
      ],
      ["vocab", (j) => j.vocab_size = 4000, "bad-shape", /output "logits" has dimension 2 = 2048/],
      [
        "heads",
        (j) => j.num_heads = 8,
        "bad-shape",
        /(present|past_key_values)\.0\.decoder\.key" has dimension 1 = 4/,
      ],
      [
        "fewer layers",
        (j) => j.num_decoder_layers = 1,
        "bad-shape",
        /more than the 1 decoder layers/,
      ],
      [
        "more layers",
        (j) => j.num_decoder_layers = 3,
        "bad-interface",
        /missing (output "present|input "past_key_values)\.2\.decoder\.key"/,
      ],
      ["no d_kv", (j) => delete j.d_kv, "bad-config", /field "d_kv" is missing/],
      [
        "n_positions",
        (j) => j.n_positions = 0,
        "bad-config",
        /"n_positions" must be a positive integer, got 0/,
      ],
      ["gpt2", (j) => j.model_type = "gpt2", "unsupported-model", /"gpt2" is not supported/],
    ];
    for (const [what, edit, code, message] of cases) {
      await Deno.writeTextFile(config, original);
      await editJson(config, edit);
      const e = await loadError(dir);
      assert.equal(e.code, code, `${what}: ${e.message}`);
      assert.match(e.message, message, what);
    }
    await Deno.writeTextFile(config, "{ not json");
    assert.equal((await loadError(dir)).code, "bad-config");
  });
});

/** An encoder graph with the given input names and dtypes (and a plausible output). */
function fakeEncoder(inputs: [string, DataType][]): Uint8Array {
  const g = new GraphBuilder("encoder");
  for (const [name, type] of inputs) g.input(name, type, ["batch_size", "encoder_sequence_length"]);
  const ids = g.op("Cast", [inputs[0][0]], { to: DataType.FLOAT });
  const hidden = g.op("Expand", [
    g.op("Unsqueeze", [ids, g.int64("axes", [2])]),
    g.int64("to", [1, 1, 64]),
  ]);
  g.output(
    hidden,
    DataType.FLOAT,
    ["batch_size", "encoder_sequence_length", 64],
    "last_hidden_state",
  );
  return g.model();
}

Deno.test("wrong input names, wrong dtypes and corrupt ONNX files are typed errors", async () => {
  await withCopy("t5-tiny", async (dir) => {
    const encoder = `${dir}/onnx/encoder_model.onnx`;
    await Deno.writeFile(
      encoder,
      fakeEncoder([["ids", DataType.INT64], ["attention_mask", DataType.INT64]]),
    );
    let e = await loadError(dir);
    assert.equal(e.code, "bad-interface");
    assert.match(e.message, /encoder_model\.onnx: unexpected input "ids"/);

    await Deno.writeFile(encoder, fakeEncoder([["input_ids", DataType.INT64]]));
    e = await loadError(dir);
    assert.equal(e.code, "bad-interface");
    assert.match(e.message, /missing input "attention_mask"/);

    await Deno.writeFile(
      encoder,
      fakeEncoder([["input_ids", DataType.INT32], ["attention_mask", DataType.INT64]]),
    );
    e = await loadError(dir);
    assert.equal(e.code, "bad-dtype");
    assert.match(e.message, /input "input_ids" is int32, expected int64/);

    const good = await Deno.readFile(`${await tinyModel("t5-tiny")}/onnx/encoder_model.onnx`);
    await Deno.writeFile(encoder, good.subarray(0, good.length >> 1));
    e = await loadError(dir);
    assert.equal(e.code, "bad-onnx");
    assert.match(e.message, /encoder_model\.onnx: ONNX Runtime cannot load it/);
  });
});

Deno.test("a tokenizer that does not fit the model is refused", async () => {
  await withCopy("bart-tiny", async (dir) => {
    const m = await Seq2SeqModel.load(dir);
    await m.release();
    const small = { ...m.config, vocabSize: 500 };
    await assert.rejects(Seq2SeqTokenizer.load(dir, small), (e: unknown) => {
      assert.ok(e instanceof ModelFolderError);
      assert.equal(e.code, "bad-tokenizer");
      assert.match(
        e.message,
        /tokenizer\.json: has token id 1023 but config\.json's vocab_size is 500/,
      );
      return true;
    });
    await Deno.writeTextFile(`${dir}/tokenizer.json`, "[");
    await assert.rejects(Seq2SeqTokenizer.load(dir, m.config), /tokenizer\.json: not JSON/);
    await Deno.remove(`${dir}/tokenizer.json`);
    await assert.rejects(Seq2SeqTokenizer.load(dir, m.config), /tokenizer\.json: not found/);
  });
});
