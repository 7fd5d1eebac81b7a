/**
 * Transformer building blocks shared by the T5 and BART builders: seeded parameters, linear
 * layers (fp32 MatMul, or int8 com.microsoft DynamicQuantizeMatMul with per-column symmetric
 * weight scales, as ORT's dynamic quantisation produces), RMS and layer norms (in the plain op
 * patterns ORT's optimiser fuses), and attention: one com.microsoft MultiHeadAttention node
 * (fused models) or the Transpose/MatMul/Softmax chain (plain models, any ONNX runtime).
 *
 * Parameters are generated once per model and shared: one `Params` feeds the encoder, decoder,
 * decoder-with-past and merged graphs, so a weight exists once in memory however many files use it.
 */
import { GraphBuilder, MS_DOMAIN } from "../onnx/graph.ts";
import { DataType } from "../onnx/proto.ts";
import { type Normal } from "../onnx/prng.ts";

/** float32's lowest value: what HF adds to masked attention scores (torch.finfo(float32).min). */
export const MASK_VALUE = -3.4028234663852886e38;

interface Param {
  dims: number[];
  data: Float32Array;
}

/** Row-wise concatenation of [rows, n_i] matrices into [rows, Σ n_i]. */
function columns(parts: Float32Array[], rows: number): Float32Array {
  const widths = parts.map((p) => p.length / rows);
  const total = widths.reduce((a, b) => a + b, 0);
  const out = new Float32Array(rows * total);
  for (let r = 0; r < rows; r++) {
    let off = r * total;
    parts.forEach((p, i) => {
      out.set(p.subarray(r * widths[i], (r + 1) * widths[i]), off);
      off += widths[i];
    });
  }
  return out;
}

/** Which keys a query may see: an int64 [B, T] padding mask (1 = attend) and/or an additive
 * float bias [1 or B, H or 1, S, T] (relative positions, causal mask). */
export interface AttentionMask {
  padding?: string;
  bias?: string;
}

export interface AttentionShape {
  heads: number;
  headDim: number;
  /** Projections have biases (BART) or not (T5). */
  biases: boolean;
}

/** A model's parameters, by name. */
export class Params {
  private readonly tensors = new Map<string, Param>();
  private readonly quantized = new Map<string, { q: Int8Array; scale: Float32Array }>();

  constructor(private readonly rng: Normal) {}

  /** N(0, std²) weights. */
  normal(name: string, dims: number[], std: number): void {
    this.set(name, dims, this.rng.fill(dims.reduce((a, b) => a * b, 1), std));
  }

  constant(name: string, dims: number[], value: number): void {
    this.set(name, dims, new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(value));
  }

  set(name: string, dims: number[], data: Float32Array): void {
    if (this.tensors.has(name)) throw new Error(`parameter ${name} defined twice`);
    this.tensors.set(name, { dims, data });
  }

  get(name: string): Param {
    const p = this.tensors.get(name);
    if (!p) throw new Error(`no parameter ${name}`);
    return p;
  }

  /**
   * One attention block's projections in the layout `Ops` reads: self-attention as a fused
   * `qkv` [d, 3·inner], cross-attention as `q` and a fused `kv`; `o` [inner, d]. `scale`
   * multiplies the Q weights and bias (BART's head_dim^-0.5, folded in as the interface allows).
   */
  attention(
    prefix: string,
    kind: "self" | "cross",
    d: number,
    inner: number,
    std: { q: number; kv: number; o: number; bias?: number },
    scale = 1,
  ): void {
    const fill = (n: number, s: number, k = 1) => this.rng.fill(n, s).map((x) => x * k);
    const q = fill(d * inner, std.q, scale);
    const k = fill(d * inner, std.kv);
    const v = fill(d * inner, std.kv);
    if (kind === "self") this.set(`${prefix}.qkv`, [d, 3 * inner], columns([q, k, v], d));
    else {
      this.set(`${prefix}.q`, [d, inner], q);
      this.set(`${prefix}.kv`, [d, 2 * inner], columns([k, v], d));
    }
    this.normal(`${prefix}.o`, [inner, d], std.o);
    if (std.bias === undefined) return;
    const [qb, kb, vb] = [
      fill(inner, std.bias, scale),
      fill(inner, std.bias),
      fill(inner, std.bias),
    ];
    if (kind === "self") this.set(`${prefix}.qkv_bias`, [3 * inner], columns([qb, kb, vb], 1));
    else {
      this.set(`${prefix}.q_bias`, [inner], qb);
      this.set(`${prefix}.kv_bias`, [2 * inner], columns([kb, vb], 1));
    }
    this.normal(`${prefix}.o_bias`, [d], std.bias);
  }

  /** `name` = scale · `from`ᵀ: a tied LM head [d, vocab] over the [vocab, d] token embedding. */
  transposed(name: string, from: string, scale = 1): void {
    const { dims: [rows, cols], data } = this.get(from);
    const out = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c] * scale;
    }
    this.set(name, [cols, rows], out);
  }

  /** int8 weight with one symmetric scale per output column of a [K, N] matrix. */
  int8(name: string): { q: Int8Array; scale: Float32Array } {
    const hit = this.quantized.get(name);
    if (hit) return hit;
    const { dims: [k, n], data } = this.get(name);
    const scale = new Float32Array(n);
    for (let r = 0; r < k; r++) {
      for (let c = 0; c < n; c++) scale[c] = Math.max(scale[c], Math.abs(data[r * n + c]));
    }
    for (let c = 0; c < n; c++) scale[c] = scale[c] > 0 ? scale[c] / 127 : 1;
    const q = new Int8Array(k * n);
    for (let r = 0; r < k; r++) {
      for (let c = 0; c < n; c++) q[r * n + c] = Math.round(data[r * n + c] / scale[c]);
    }
    const out = { q, scale };
    this.quantized.set(name, out);
    return out;
  }
}

/**
 * Emits nodes into `g` (a graph or an If branch) and registers initializers once in `root`,
 * so both branches of a merged decoder share one copy of every weight.
 */
export class Ops {
  private readonly made = new Map<string, string>();

  constructor(
    readonly g: GraphBuilder,
    private readonly params: Params,
    private readonly int8: boolean,
    /** Attention as com.microsoft MultiHeadAttention (else plain ONNX ops). */
    private readonly fused: boolean,
    /** Where initializers live: the graph itself, or the parent of an If branch. */
    readonly root: GraphBuilder = g,
    private readonly registered = new Map<string, string>(),
  ) {}

  /** The same parameters and registry, emitting into a subgraph of `root`. */
  in(sub: GraphBuilder): Ops {
    return new Ops(sub, this.params, this.int8, this.fused, this.root, this.registered);
  }

  /** A root initializer made once per key (constants shared by both If branches). */
  once(key: string, make: () => string): string {
    let name = this.registered.get(key);
    if (name === undefined) {
      name = make();
      this.registered.set(key, name);
    }
    return name;
  }

  /** A float parameter as an initializer of the root graph. */
  param(name: string): string {
    return this.once(name, () => {
      const p = this.params.get(name);
      return this.root.float(name, p.data, p.dims);
    });
  }

  /** An int64 constant (shapes, axes, indices). */
  ints(values: readonly number[], dims?: readonly number[]): string {
    return this.once(`ints:${values}:${dims}`, () => this.root.int64("const", values, dims));
  }

  scalar(value: number): string {
    return this.once(`f32:${value}`, () => this.root.scalar("const", value));
  }

  op(type: string, inputs: readonly string[], attrs?: Parameters<GraphBuilder["op"]>[2]): string {
    return this.g.op(type, inputs, attrs);
  }

  /** x·W (+ b) for a [K, N] parameter `name`; int8 weights when the model is quantised. */
  linear(x: string, name: string, bias?: string): string {
    if (this.int8) {
      const w = this.once(`${name}:int8`, () => {
        const { q, scale } = this.params.int8(name);
        const [k, n] = this.params.get(name).dims;
        const qn = this.root.tensor(`${name}_quantized`, DataType.INT8, q, [k, n]);
        this.registered.set(`${name}:scale`, this.root.float(`${name}_scale`, scale, [n]));
        return qn;
      });
      const scale = this.registered.get(`${name}:scale`)!;
      const inputs = bias === undefined ? [x, w, scale] : [x, w, scale, "", this.param(bias)];
      return this.g.op("DynamicQuantizeMatMul", inputs, undefined, { domain: MS_DOMAIN });
    }
    const y = this.op("MatMul", [x, this.param(name)]);
    return bias === undefined ? y : this.op("Add", [y, this.param(bias)]);
  }

  /** T5's RMS norm: x / sqrt(mean(x²) + eps) · w (the pattern ORT fuses to SimplifiedLayerNorm). */
  rmsNorm(x: string, weight: string, eps: number): string {
    const sq = this.op("Pow", [x, this.scalar(2)]);
    const mean = this.op("ReduceMean", [sq], { axes: [-1], keepdims: 1 });
    const std = this.op("Sqrt", [this.op("Add", [mean, this.scalar(eps)])]);
    return this.op("Mul", [this.op("Div", [x, std]), this.param(weight)]);
  }

  layerNorm(x: string, weight: string, bias: string, eps: number): string {
    return this.op("LayerNormalization", [x, this.param(weight), this.param(bias)], {
      axis: -1,
      epsilon: { f: eps },
    });
  }

  /** Exact (erf) GELU, as torch exports it. */
  gelu(x: string): string {
    const erf = this.op("Erf", [this.op("Div", [x, this.scalar(Math.SQRT2)])]);
    const half = this.op("Mul", [x, this.scalar(0.5)]);
    return this.op("Mul", [half, this.op("Add", [erf, this.scalar(1)])]);
  }

  /** [B, T, H·D] → [B, H, T, D]. */
  heads(x: string, heads: number, dim: number): string {
    const r = this.op("Reshape", [x, this.ints([0, 0, heads, dim])]);
    return this.op("Transpose", [r], { perm: [0, 2, 1, 3] });
  }

  /** [B, H, T, D] → [B, T, H·D]. */
  merge(x: string, inner: number): string {
    const t = this.op("Transpose", [x], { perm: [0, 2, 1, 3] });
    return this.op("Reshape", [t, this.ints([0, 0, inner])]);
  }

  /** softmax(q·kᵀ + bias)·v over [B, H, T, D] heads (scaling, if any, is the caller's). */
  private attend(q: string, k: string, v: string, bias: string | undefined): string {
    const kt = this.op("Transpose", [k], { perm: [0, 1, 3, 2] });
    const qk = this.op("MatMul", [q, kt]);
    const scores = bias === undefined ? qk : this.op("Add", [qk, bias]);
    return this.op("MatMul", [this.op("Softmax", [scores], { axis: -1 }), v]);
  }

  /** A value made once per Ops (one graph or one If branch), by key. */
  private local(key: string, make: () => string): string {
    let v = this.made.get(key);
    if (v === undefined) this.made.set(key, v = make());
    return v;
  }

  /** The plain graph's additive bias for `mask`: its bias plus (1 − padding) · MASK_VALUE. */
  private maskBias(mask: AttentionMask): string | undefined {
    if (mask.padding === undefined) return mask.bias;
    const pad = this.local(`pad:${mask.padding}`, () => {
      const keep = this.op("Cast", [mask.padding!], { to: DataType.FLOAT });
      const drop = this.op("Mul", [
        this.op("Sub", [this.scalar(1), keep]),
        this.scalar(MASK_VALUE),
      ]);
      return this.op("Unsqueeze", [drop, this.ints([1, 2])]);
    });
    if (mask.bias === undefined) return pad;
    return this.local(`bias:${mask.bias}:${mask.padding}`, () => this.op("Add", [mask.bias!, pad]));
  }

  /**
   * Attention of q [B, S, H·Dh] over keys and values [B, H, T, Dh] (or [B, T, H·Dh] for `key`
   * and `value` when `past` is given, which they extend); returns [B, S, H·Dh] and, with
   * `present`, the (extended) keys and values [B, H, T, Dh]. Unscaled: scales are folded into Q.
   * Fused models use com.microsoft MultiHeadAttention (scale 1, key_padding_mask, attention_bias,
   * past/present); plain ones the Transpose/MatMul/Softmax chain.
   */
  private attention(
    q: string,
    key: string,
    value: string,
    shape: { heads: number; headDim: number },
    mask: AttentionMask,
    past: { key: string; value: string } | undefined,
    present: boolean,
  ): { out: string; key: string; value: string } {
    const { heads, headDim } = shape;
    if (this.fused) {
      const padding = mask.padding &&
        this.local(
          `i32:${mask.padding}`,
          () => this.op("Cast", [mask.padding!], { to: DataType.INT32 }),
        );
      const inputs = [
        q,
        key,
        value,
        "",
        padding ?? "",
        mask.bias ?? "",
        past?.key ?? "",
        past?.value ?? "",
      ];
      while (inputs.at(-1) === "") inputs.pop();
      const [out, k, v] = this.g.ops("MultiHeadAttention", inputs, {
        num_heads: heads,
        scale: { f: 1 },
        mask_filter_value: { f: MASK_VALUE },
      }, { outputs: present ? 3 : 1, domain: MS_DOMAIN });
      return { out, key: k ?? key, value: v ?? value };
    }
    const qh = this.heads(q, heads, headDim);
    let k = key, v = value;
    if (past) {
      k = this.op("Concat", [past.key, this.heads(key, heads, headDim)], { axis: 2 });
      v = this.op("Concat", [past.value, this.heads(value, heads, headDim)], { axis: 2 });
    }
    const att = this.attend(qh, k, v, this.maskBias(mask));
    return { out: this.merge(att, heads * headDim), key: k, value: v };
  }

  /**
   * Self-attention over a fused `${prefix}.qkv` [D, 3·H·Dh] projection (scaling, if any, folded
   * into its Q columns), the new K/V appended to `past` when given; `${prefix}.o` projects back.
   * Optional biases are `${name}_bias`. `present`: also return the keys and values [B, H, T, Dh].
   */
  selfAttention(
    x: string,
    prefix: string,
    shape: AttentionShape,
    mask: AttentionMask,
    options: { past?: { key: string; value: string }; present?: boolean } = {},
  ): { out: string; key: string; value: string } {
    const b = (name: string) => shape.biases ? `${prefix}.${name}_bias` : undefined;
    const qkv = this.linear(x, `${prefix}.qkv`, b("qkv"));
    const [q, k, v] = this.g.ops("Split", [qkv], { axis: -1 }, { outputs: 3 });
    // plain attention wants [B, H, T, Dh] keys, unless it extends a cache (it splits them then)
    const split = !this.fused && !options.past;
    const key = split ? this.heads(k, shape.heads, shape.headDim) : k;
    const value = split ? this.heads(v, shape.heads, shape.headDim) : v;
    const att = this.attention(q, key, value, shape, mask, options.past, options.present ?? false);
    return { out: this.linear(att.out, `${prefix}.o`, b("o")), key: att.key, value: att.value };
  }

  /**
   * Cross-attention: `${prefix}.q` on `x`, K/V [B, H, S, Dh] from `${prefix}.kv` [D, 2·H·Dh] on
   * the encoder's output, or from the cache.
   */
  crossAttention(
    x: string,
    prefix: string,
    shape: AttentionShape,
    mask: AttentionMask,
    source: { encoderHidden: string } | { key: string; value: string },
  ): { out: string; key: string; value: string } {
    const b = (name: string) => shape.biases ? `${prefix}.${name}_bias` : undefined;
    const q = this.linear(x, `${prefix}.q`, b("q"));
    let key: string, value: string;
    if ("key" in source) ({ key, value } = source);
    else {
      const kv = this.linear(source.encoderHidden, `${prefix}.kv`, b("kv"));
      [key, value] = this.g.ops("Split", [kv], { axis: -1 }, { outputs: 2 })
        .map((t) => this.heads(t, shape.heads, shape.headDim));
    }
    const att = this.attention(q, key, value, shape, mask, undefined, false);
    return { out: this.linear(att.out, `${prefix}.o`, b("o")), key, value };
  }

  /** Size of axis `axis` of `x` as an int64 scalar. */
  dim(x: string, axis: number): string {
    return this.op("Gather", [this.op("Shape", [x]), this.ints([axis], [])], { axis: 0 });
  }
}
