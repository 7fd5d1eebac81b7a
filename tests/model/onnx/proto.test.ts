import assert from "node:assert/strict";
import * as ort from "onnxruntime-node";
import { GraphBuilder } from "../../../model/onnx/graph.ts";
import { DataType } from "../../../model/onnx/proto.ts";
import { mulberry32, Normal } from "../../../model/onnx/prng.ts";

function softmaxRows(x: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    let max = -Infinity;
    for (let c = 0; c < cols; c++) max = Math.max(max, x[r * cols + c]);
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += out[r * cols + c] = Math.exp(x[r * cols + c] - max);
    for (let c = 0; c < cols; c++) out[r * cols + c] /= sum;
  }
  return out;
}

Deno.test("MatMul+Add+Softmax written in TS runs in ORT and matches an fp64 reference", async () => {
  const [n, k, m] = [5, 16, 7];
  const rnd = new Normal(mulberry32(42));
  const w = rnd.fill(k * m, 0.5);
  const b = rnd.fill(m, 0.5);
  const x = rnd.fill(n * k);

  const g = new GraphBuilder("mlp");
  const xi = g.input("x", DataType.FLOAT, ["batch", k]);
  const mm = g.op("MatMul", [xi, g.float("w", w, [k, m])]);
  const add = g.op("Add", [mm, g.float("b", b, [m])]);
  g.output(g.op("Softmax", [add], { axis: -1 }), DataType.FLOAT, ["batch", m], "y");
  const session = await ort.InferenceSession.create(g.model());
  try {
    const meta = session.inputMetadata[0];
    assert.ok(meta.isTensor);
    assert.deepEqual([meta.name, meta.type, meta.shape], ["x", "float32", ["batch", k]]);
    const out = await session.run({ x: new ort.Tensor("float32", x, [n, k]) });
    const y = out.y.data as Float32Array;
    assert.deepEqual(out.y.dims, [n, m]);

    const logits = new Float64Array(n * m);
    for (let r = 0; r < n; r++) {
      for (let c = 0; c < m; c++) {
        let s = b[c];
        for (let i = 0; i < k; i++) s += x[r * k + i] * w[i * m + c];
        logits[r * m + c] = s;
      }
    }
    const ref = softmaxRows(logits, n, m);
    let maxErr = 0;
    for (let i = 0; i < ref.length; i++) maxErr = Math.max(maxErr, Math.abs(ref[i] - y[i]));
    assert.ok(maxErr < 1e-6, `max error ${maxErr}`);
  } finally {
    await session.release();
  }
});

Deno.test("If subgraphs read outer values; int64 initializers and negative ints encode", async () => {
  const g = new GraphBuilder("branch");
  const cond = g.input("cond", DataType.BOOL, []);
  const x = g.input("x", DataType.FLOAT, [2, 3]);
  const then = g.subgraph("then");
  then.output(then.op("Neg", [x]), DataType.FLOAT, [2, 3]);
  const otherwise = g.subgraph("else");
  const flat = otherwise.op("Reshape", [x, otherwise.int64("shape", [-1])]);
  const sum = otherwise.op("ReduceSum", [flat, otherwise.int64("axes", [-1])], { keepdims: 0 });
  otherwise.output(otherwise.op("Expand", [sum, otherwise.int64("to", [2, 3])]), DataType.FLOAT);
  const y = g.op("If", [cond], { then_branch: then.graph(), else_branch: otherwise.graph() });
  g.output(y, DataType.FLOAT, [2, 3], "y");
  const session = await ort.InferenceSession.create(g.model());
  try {
    const data = Float32Array.of(1, 2, 3, 4, 5, 6);
    const feed = (c: boolean) => ({
      cond: new ort.Tensor("bool", [c], []),
      x: new ort.Tensor("float32", data, [2, 3]),
    });
    assert.deepEqual([...(await session.run(feed(true))).y.data as Float32Array], [
      -1,
      -2,
      -3,
      -4,
      -5,
      -6,
    ]);
    assert.deepEqual(
      [...(await session.run(feed(false))).y.data as Float32Array],
      Array(6).fill(21),
    );
  } finally {
    await session.release();
  }
});

Deno.test("mulberry32 and Box-Muller are reproducible and roughly standard normal", () => {
  const a = new Normal(mulberry32(7)).fill(20000);
  const b = new Normal(mulberry32(7)).fill(20000);
  assert.deepEqual(a, b);
  const mean = a.reduce((s, v) => s + v, 0) / a.length;
  const variance = a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length;
  assert.ok(Math.abs(mean) < 0.03, `mean ${mean}`);
  assert.ok(Math.abs(variance - 1) < 0.05, `variance ${variance}`);
  assert.notDeepEqual(new Normal(mulberry32(8)).fill(4), a.subarray(0, 4));
});
