/**
 * Loads an Optimum seq2seq export folder (T5 and BART families) once and runs its graphs:
 *
 *   DIR/config.json, DIR/generation_config.json (optional), DIR/tokenizer_config.json (optional)
 *   DIR/encoder_model.onnx, and DIR/decoder_model.onnx + DIR/decoder_with_past_model.onnx
 *   or DIR/decoder_model_merged.onnx; the .onnx files may instead sit in DIR/onnx/ (the
 *   transformers.js layout); `dtype: "int8"` reads the `*_quantized.onnx` files instead.
 *
 * Every graph's input and output names, element types and fixed dimensions are checked against
 * config.json (d_model, heads, head size, decoder layers, vocabulary) before the model is used;
 * anything missing or mismatched is a `ModelFolderError` naming the file and the tensor.
 *
 * Sessions are created once: graph optimisation "all", intra-op threads = the cores this process
 * may use, sequential execution, one inter-op thread. `memArena: false` turns off ORT's CPU
 * memory arena (and memory patterns), so tensor memory goes back to the allocator after each run
 * instead of living on in a pool: what the runtime's model process needs for wiping.
 *
 * The decoding API keeps the KV cache as ORT tensors: `start` runs decoder_model (or the merged
 * graph's no-cache branch) once and returns the cross-attention K/V, which `step` then feeds to
 * decoder_with_past (or the cache branch) unchanged every step; only logits and the growing
 * self-attention K/V come back per step. The model never sees text.
 *
 * Several new tokens per cached step (`multiTokenSteps`, what speculative decoding verifies
 * drafts with) need a cached graph whose input_ids length is not fixed at 1 — Optimum declares
 * decoder_with_past's as [batch_size, 1] and the merged decoder's as [batch_size,
 * decoder_sequence_length] — and that masks causally within the new tokens, which a graph traced
 * with one token need not do (the causal mask of a one-token step is a no-op a tracer may drop).
 * So it is not taken on trust: at load a probe compares one two-token step with two one-token
 * steps, and only a graph that agrees gets `multiTokenSteps`. `truncate` then rolls the
 * self-attention cache back to the tokens that were kept.
 */
import * as ort from "onnxruntime-node";
import { parseConfig, type Seq2SeqConfig } from "./config.ts";
import { InferenceError, ModelFolderError } from "./errors.ts";
import { isFile as exists, readJson } from "./folder.ts";

export interface LoadOptions {
  /** "fp32" (default): the plain files; "int8": the `*_quantized.onnx` files. */
  dtype?: "fp32" | "int8";
  /**
   * "auto" (default): the merged decoder when it exists (one session, so its weights are in
   * memory once, and its cache branch takes several tokens per step), else decoder_model +
   * decoder_with_past_model; "split" or "merged" insist on one.
   */
  decoder?: "auto" | "split" | "merged";
  /** ORT intra-op threads; default the cores available to this process. */
  threads?: number;
  /** ORT's CPU memory arena and memory patterns (default true; the runtime turns them off). */
  memArena?: boolean;
  /** ORT intra-op threads spin while waiting for work (default true). */
  spinning?: boolean;
}

/** Accumulates the wall time spent inside `session.run` (for the benchmark's glue ratio). */
export interface Clock {
  ortMs: number;
  runs: number;
}

/** The KV cache between decoding steps: per layer, K and V of self- and cross-attention. */
export interface KvCache {
  self: ort.Tensor[];
  cross: ort.Tensor[];
}

type Dtype = "int64" | "float32" | "bool";
/** An expected dimension: a number must match; "*" is anything. */
type Dim = number | "*";

interface TensorSpec {
  dtype: Dtype;
  dims: Dim[];
  optional?: boolean;
}

type Role = "encoder" | "decoder" | "withPast" | "merged";

const FILES: Record<Role, string> = {
  encoder: "encoder_model",
  decoder: "decoder_model",
  withPast: "decoder_with_past_model",
  merged: "decoder_model_merged",
};

function cacheNames(
  prefix: "past_key_values" | "present",
  layers: number,
  kind: "decoder" | "encoder",
): string[] {
  const out: string[] = [];
  for (let i = 0; i < layers; i++) {
    out.push(`${prefix}.${i}.${kind}.key`, `${prefix}.${i}.${kind}.value`);
  }
  return out;
}

/** The Optimum interface of each graph, sized by config.json. */
function interfaceOf(
  role: Role,
  c: Seq2SeqConfig,
): { inputs: Record<string, TensorSpec>; outputs: Record<string, TensorSpec> } {
  const ids: TensorSpec = { dtype: "int64", dims: ["*", "*"] };
  const hidden: TensorSpec = { dtype: "float32", dims: ["*", "*", c.dModel] };
  const kv: TensorSpec = { dtype: "float32", dims: ["*", c.heads, "*", c.headDim] };
  const logits: TensorSpec = { dtype: "float32", dims: ["*", "*", c.vocabSize] };
  const each = (names: string[], spec: TensorSpec) =>
    Object.fromEntries(names.map((n) => [n, spec]));
  const L = c.decoderLayers;
  const past = {
    ...each(cacheNames("past_key_values", L, "decoder"), kv),
    ...each(cacheNames("past_key_values", L, "encoder"), kv),
  };
  const presentSelf = each(cacheNames("present", L, "decoder"), kv);
  const presentCross = each(cacheNames("present", L, "encoder"), kv);
  switch (role) {
    case "encoder":
      return {
        inputs: { input_ids: ids, attention_mask: ids },
        outputs: { last_hidden_state: hidden },
      };
    case "decoder":
      return {
        inputs: { input_ids: ids, encoder_attention_mask: ids, encoder_hidden_states: hidden },
        outputs: { logits, ...presentSelf, ...presentCross },
      };
    case "withPast":
      return {
        inputs: {
          input_ids: ids,
          encoder_attention_mask: ids,
          // torch's export drops it (unused); some exporters keep it
          encoder_hidden_states: { ...hidden, optional: true },
          ...past,
        },
        outputs: { logits, ...presentSelf },
      };
    case "merged":
      return {
        inputs: {
          input_ids: ids,
          encoder_attention_mask: ids,
          encoder_hidden_states: hidden,
          ...past,
          use_cache_branch: { dtype: "bool", dims: [1] },
        },
        outputs: { logits, ...presentSelf, ...presentCross },
      };
  }
}

function checkTensor(
  path: string,
  what: string,
  meta: ort.InferenceSession.ValueMetadata,
  spec: TensorSpec,
): void {
  if (!meta.isTensor) throw new ModelFolderError("bad-dtype", `${what} is not a tensor`, path);
  if (meta.type !== spec.dtype) {
    throw new ModelFolderError(
      "bad-dtype",
      `${what} is ${meta.type}, expected ${spec.dtype}`,
      path,
    );
  }
  const shape = meta.shape;
  if (shape.length === 0) return; // rank not recorded in the graph: nothing to compare
  const show = (d: readonly (number | string)[]) => `[${d.join(", ")}]`;
  if (shape.length !== spec.dims.length) {
    throw new ModelFolderError(
      "bad-shape",
      `${what} has shape ${show(shape)}, expected rank ${spec.dims.length} ${show(spec.dims)}`,
      path,
    );
  }
  spec.dims.forEach((want, i) => {
    const got = shape[i];
    if (want !== "*" && typeof got === "number" && got !== want) {
      throw new ModelFolderError(
        "bad-shape",
        `${what} has dimension ${i} = ${got}, but config.json implies ${want} (shape ${
          show(shape)
        }, expected ${show(spec.dims)})`,
        path,
      );
    }
  });
}

/** Checks a session's inputs and outputs against the Optimum interface of `role`. */
function checkInterface(
  session: ort.InferenceSession,
  role: Role,
  c: Seq2SeqConfig,
  path: string,
): Set<string> {
  const want = interfaceOf(role, c);
  const inputs = new Map(session.inputMetadata.map((m) => [m.name, m]));
  const outputs = new Map(session.outputMetadata.map((m) => [m.name, m]));
  const layer = c.decoderLayers;
  if (
    outputs.has(`present.${layer}.decoder.key`) ||
    inputs.has(`past_key_values.${layer}.decoder.key`)
  ) {
    throw new ModelFolderError(
      "bad-shape",
      `has more than the ${layer} decoder layers config.json declares`,
      path,
    );
  }
  for (const name of inputs.keys()) {
    if (!(name in want.inputs)) {
      throw new ModelFolderError(
        "bad-interface",
        `unexpected input "${name}" (an Optimum ${FILES[role]} takes ${
          Object.keys(want.inputs).join(", ")
        })`,
        path,
      );
    }
  }
  for (
    const [kind, specs, have] of [["input", want.inputs, inputs], [
      "output",
      want.outputs,
      outputs,
    ]] as const
  ) {
    for (const [name, spec] of Object.entries(specs)) {
      const meta = have.get(name);
      if (meta === undefined) {
        if (spec.optional) continue;
        throw new ModelFolderError("bad-interface", `missing ${kind} "${name}"`, path);
      }
      checkTensor(path, `${kind} "${name}"`, meta, spec);
    }
  }
  return new Set(inputs.keys());
}

const int64 = (data: BigInt64Array, dims: number[]) => new ort.Tensor("int64", data, dims);

/**
 * A model folder's config.json and generation_config.json, and its context length (config's
 * position limit, or tokenizer_config.json's model_max_length if lower), without its weights:
 * what a process that holds only the tokenizer needs.
 */
export async function loadSeq2SeqConfig(
  dir: string,
): Promise<{ config: Seq2SeqConfig; contextLength: number }> {
  const configPath = `${dir}/config.json`;
  const config = parseConfig(
    await readJson(configPath, true, "bad-config"),
    await readJson(`${dir}/generation_config.json`, false, "bad-config"),
    { config: configPath, generation: `${dir}/generation_config.json` },
  );
  const tc = await readJson(`${dir}/tokenizer_config.json`, false, "bad-tokenizer") as {
    model_max_length?: unknown;
  } | undefined;
  const m = tc?.model_max_length;
  const contextLength = typeof m === "number" && Number.isInteger(m) && m > 0
    ? Math.min(m, config.contextLength)
    : config.contextLength;
  return { config, contextLength };
}

export class Seq2SeqModel {
  private constructor(
    readonly dir: string,
    readonly config: Seq2SeqConfig,
    /** Longest encoder input in tokens: config's position limit, or tokenizer_config's if lower. */
    readonly contextLength: number,
    private readonly encoder: ort.InferenceSession,
    private readonly decoders:
      | {
        kind: "split";
        first: ort.InferenceSession;
        next: ort.InferenceSession;
        nextInputs: Set<string>;
      }
      | { kind: "merged"; merged: ort.InferenceSession },
    /** The ONNX files in use. */
    readonly files: string[],
  ) {}

  /**
   * `step` takes several new tokens at once, with the result of as many one-token steps: the
   * cached graph declares a free input_ids length and passed the load-time probe.
   */
  multiTokenSteps = false;

  /** Loads and validates a model folder. */
  static async load(dir: string, options: LoadOptions = {}): Promise<Seq2SeqModel> {
    const { config, contextLength } = await loadSeq2SeqConfig(dir);

    const suffix = options.dtype === "int8" ? "_quantized" : "";
    const onnxDir = await exists(`${dir}/${FILES.encoder}${suffix}.onnx`) ? dir : `${dir}/onnx`;
    const path = (role: Role) => `${onnxDir}/${FILES[role]}${suffix}.onnx`;
    if (!await exists(path("encoder"))) {
      throw new ModelFolderError(
        "missing-file",
        `not found (nor in ${dir}/)`,
        path("encoder"),
      );
    }
    const split = await exists(path("decoder")) && await exists(path("withPast"));
    const merged = await exists(path("merged"));
    const want = options.decoder ?? "auto";
    let kind: "split" | "merged";
    if (want === "split" || (want === "auto" && split && !merged)) {
      if (!split) {
        const missing = await exists(path("decoder")) ? path("withPast") : path("decoder");
        throw new ModelFolderError(
          "missing-file",
          "not found (the split decoder needs both decoder files)",
          missing,
        );
      }
      kind = "split";
    } else if (merged) kind = "merged";
    else {
      throw new ModelFolderError(
        "missing-file",
        `not found, nor ${FILES.decoder}${suffix}.onnx + ${FILES.withPast}${suffix}.onnx`,
        path("merged"),
      );
    }

    const arena = options.memArena ?? true;
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      executionProviders: ["cpu"],
      graphOptimizationLevel: "all",
      intraOpNumThreads: options.threads ?? navigator.hardwareConcurrency,
      interOpNumThreads: 1,
      executionMode: "sequential",
      enableCpuMemArena: arena,
      enableMemPattern: arena,
      extra: { session: { intra_op: { allow_spinning: options.spinning === false ? "0" : "1" } } },
    };
    const opened: ort.InferenceSession[] = [];
    const open = async (role: Role) => {
      const p = path(role);
      let session: ort.InferenceSession;
      try {
        session = await ort.InferenceSession.create(p, sessionOptions);
      } catch (e) {
        throw new ModelFolderError(
          "bad-onnx",
          `ONNX Runtime cannot load it: ${(e as Error).message}`,
          p,
        );
      }
      opened.push(session);
      return { session, inputs: checkInterface(session, role, config, p) };
    };
    try {
      const encoder = (await open("encoder")).session;
      let model: Seq2SeqModel;
      let cached: ort.InferenceSession;
      if (kind === "split") {
        const first = (await open("decoder")).session;
        const next = await open("withPast");
        cached = next.session;
        model = new Seq2SeqModel(dir, config, contextLength, encoder, {
          kind,
          first,
          next: next.session,
          nextInputs: next.inputs,
        }, [path("encoder"), path("decoder"), path("withPast")]);
      } else {
        cached = (await open("merged")).session;
        model = new Seq2SeqModel(dir, config, contextLength, encoder, { kind, merged: cached }, [
          path("encoder"),
          path("merged"),
        ]);
      }
      const ids = cached.inputMetadata.find((m) => m.name === "input_ids");
      const fixedLength = ids?.isTensor && ids.shape.length === 2 ? ids.shape[1] : undefined;
      model.multiTokenSteps = fixedLength !== 1 && await model.probeMultiTokenSteps();
      return model;
    } catch (e) {
      await Promise.all(opened.map((s) => s.release()));
      throw e;
    }
  }

  /** "split" (decoder + decoder_with_past) or "merged". */
  get decoderKind(): "split" | "merged" {
    return this.decoders.kind;
  }

  private async run(
    session: ort.InferenceSession,
    feeds: Record<string, ort.Tensor>,
    fetches: string[],
    clock?: Clock,
  ): Promise<Record<string, ort.Tensor>> {
    const t0 = performance.now();
    let out: ort.InferenceSession.ReturnType;
    try {
      out = await session.run(feeds, fetches);
    } catch (e) {
      throw new InferenceError("inference-failed", `ONNX Runtime failed: ${(e as Error).message}`);
    }
    if (clock) {
      clock.ortMs += performance.now() - t0;
      clock.runs++;
    }
    return out as Record<string, ort.Tensor>;
  }

  /** Encoder output [batch, length, d_model] for int64 ids and mask of that shape. */
  async encode(
    ids: BigInt64Array,
    mask: BigInt64Array,
    batch: number,
    clock?: Clock,
  ): Promise<ort.Tensor> {
    const dims = [batch, ids.length / batch];
    const out = await this.run(
      this.encoder,
      {
        input_ids: int64(ids, dims),
        attention_mask: int64(mask, dims),
      },
      ["last_hidden_state"],
      clock,
    );
    return out.last_hidden_state;
  }

  private cacheOutputs(kind: "decoder" | "encoder"): string[] {
    return cacheNames("present", this.config.decoderLayers, kind);
  }

  private pastFeeds(cache: KvCache): Record<string, ort.Tensor> {
    const L = this.config.decoderLayers;
    const feeds: Record<string, ort.Tensor> = {};
    cacheNames("past_key_values", L, "decoder").forEach((n, i) => feeds[n] = cache.self[i]);
    cacheNames("past_key_values", L, "encoder").forEach((n, i) => feeds[n] = cache.cross[i]);
    return feeds;
  }

  /**
   * First decoder step over `ids` [batch, t] (the start tokens): logits [batch, t, vocab] and the
   * cache, whose cross-attention part is computed here once for the whole generation.
   */
  async start(
    ids: ort.Tensor,
    encoderMask: ort.Tensor,
    encoderHidden: ort.Tensor,
    clock?: Clock,
  ): Promise<{ logits: ort.Tensor; cache: KvCache }> {
    const feeds: Record<string, ort.Tensor> = {
      input_ids: ids,
      encoder_attention_mask: encoderMask,
      encoder_hidden_states: encoderHidden,
    };
    const self = this.cacheOutputs("decoder");
    const cross = this.cacheOutputs("encoder");
    let session: ort.InferenceSession;
    if (this.decoders.kind === "split") session = this.decoders.first;
    else {
      session = this.decoders.merged;
      // the no-cache branch ignores the past inputs, but the graph declares them: empty ones
      const { heads, headDim } = this.config;
      const empty = new ort.Tensor("float32", new Float32Array(0), [
        ids.dims[0],
        heads,
        0,
        headDim,
      ]);
      for (const n of cacheNames("past_key_values", this.config.decoderLayers, "decoder")) {
        feeds[n] = empty;
      }
      for (const n of cacheNames("past_key_values", this.config.decoderLayers, "encoder")) {
        feeds[n] = empty;
      }
      feeds.use_cache_branch = new ort.Tensor("bool", [false], [1]);
    }
    const out = await this.run(session, feeds, ["logits", ...self, ...cross], clock);
    return {
      logits: out.logits,
      cache: { self: self.map((n) => out[n]), cross: cross.map((n) => out[n]) },
    };
  }

  /**
   * One cached step over `ids` [batch, t] (t > 1 only with `multiTokenSteps`): logits [batch, t,
   * vocab] and the cache with this step's self-attention K/V appended (cross-attention K/V: the
   * same tensors, not copied).
   */
  async step(
    ids: ort.Tensor,
    encoderMask: ort.Tensor,
    encoderHidden: ort.Tensor,
    cache: KvCache,
    clock?: Clock,
  ): Promise<{ logits: ort.Tensor; cache: KvCache }> {
    const feeds: Record<string, ort.Tensor> = {
      input_ids: ids,
      encoder_attention_mask: encoderMask,
      ...this.pastFeeds(cache),
    };
    const self = this.cacheOutputs("decoder");
    let session: ort.InferenceSession;
    if (this.decoders.kind === "split") {
      session = this.decoders.next;
      if (this.decoders.nextInputs.has("encoder_hidden_states")) {
        feeds.encoder_hidden_states = encoderHidden;
      }
    } else {
      session = this.decoders.merged;
      feeds.encoder_hidden_states = encoderHidden;
      feeds.use_cache_branch = new ort.Tensor("bool", [true], [1]);
    }
    // only logits and the self-attention cache are fetched: the cross-attention cache stays put
    const out = await this.run(session, feeds, ["logits", ...self], clock);
    return { logits: out.logits, cache: { self: self.map((n) => out[n]), cross: cache.cross } };
  }

  /**
   * Whether one cached step over two tokens gives the logits and cache of two one-token steps
   * (1e-3 of the largest logit: a graph without a causal mask, or with positions fixed for one
   * token, is off by far more). Runs on made-up ids, never on request data.
   */
  private async probeMultiTokenSteps(): Promise<boolean> {
    const c = this.config;
    const id = (i: number) => BigInt((c.decoderStartTokenId + 3 + 7 * i) % c.vocabSize);
    const input = BigInt64Array.from({ length: 4 }, (_, i) => id(i));
    const mask = new BigInt64Array(input.length).fill(1n);
    const maskT = int64(mask, [1, input.length]);
    const tokens = (...xs: bigint[]) => int64(BigInt64Array.from(xs), [1, xs.length]);
    try {
      const hidden = await this.encode(input, mask, 1);
      const { cache } = await this.start(tokens(BigInt(c.decoderStartTokenId)), maskT, hidden);
      const one = await this.step(tokens(id(5)), maskT, hidden, cache);
      const two = await this.step(tokens(id(6)), maskT, hidden, one.cache);
      const both = await this.step(tokens(id(5), id(6)), maskT, hidden, cache);
      let scale = 1, diff = 0;
      const compare = (want: ort.Tensor, got: ort.Tensor, offset: number) => {
        const a = want.data as Float32Array, b = got.data as Float32Array;
        if (b.length < offset + a.length) diff = Infinity;
        for (let i = 0; i < a.length; i++) {
          scale = Math.max(scale, Math.abs(a[i]));
          diff = Math.max(diff, Math.abs(a[i] - b[offset + i]));
        }
      };
      compare(one.logits, both.logits, 0);
      compare(two.logits, both.logits, c.vocabSize);
      two.cache.self.forEach((k, i) => compare(k, both.cache.self[i], 0));
      return diff <= 1e-3 * scale;
    } catch {
      return false; // e.g. a graph that fixed one token's shapes inside
    }
  }

  /**
   * The cache with only the first `length` positions of each self-attention K/V [batch, heads,
   * T, head_dim] (speculative decoding's roll-back of rejected tokens). Compacts each tensor's
   * rows in place and zeroes the tail, so no copy of the rejected positions is left; the returned
   * tensors view the same memory. Cross-attention K/V are passed on untouched.
   */
  truncate(cache: KvCache, length: number): KvCache {
    const self = cache.self.map((t) => {
      const [batch, heads, T, dim] = t.dims;
      if (length === T) return t;
      if (!(length >= 0 && length < T)) {
        throw new RangeError(`cannot truncate a cache of ${T} positions to ${length}`);
      }
      const data = t.data as Float32Array;
      const from = T * dim, to = length * dim;
      for (let r = 1; r < batch * heads; r++) data.copyWithin(r * to, r * from, r * from + to);
      data.fill(0, batch * heads * to);
      return new ort.Tensor("float32", data.subarray(0, batch * heads * to), [
        batch,
        heads,
        length,
        dim,
      ]);
    });
    return { self, cross: cache.cross };
  }

  async release(): Promise<void> {
    const all = [this.encoder];
    if (this.decoders.kind === "split") all.push(this.decoders.first, this.decoders.next);
    else all.push(this.decoders.merged);
    await Promise.all(all.map((s) => s.release()));
  }
}
