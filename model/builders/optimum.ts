/**
 * The graph interface of an Optimum seq2seq export (`optimum-cli export onnx --task
 * text2text-generation-with-past`; Optimum's `TextSeq2SeqOnnxConfig` and `merge_decoders`), for
 * any encoder-decoder architecture that supplies its encoder and decoder stacks:
 *
 *   encoder_model.onnx            input_ids, attention_mask → last_hidden_state
 *   decoder_model.onnx            encoder_attention_mask, input_ids, encoder_hidden_states
 *                                 → logits, present.N.{decoder,encoder}.{key,value}
 *   decoder_with_past_model.onnx  encoder_attention_mask, input_ids [batch, 1],
 *                                 past_key_values.N.{decoder,encoder}.{key,value}
 *                                 → logits, present.N.decoder.{key,value}
 *                                 (torch's export drops the unused encoder_hidden_states)
 *   decoder_model_merged.onnx     all inputs of both + use_cache_branch (bool [1]); one `If`
 *                                 whose cache branch returns empty present.N.encoder.* (the
 *                                 dummies Optimum's `_unify_onnx_outputs` adds), weights shared
 *
 * Symbolic dimension names are Optimum's (batch_size, encoder_sequence_length,
 * past_decoder_sequence_length, encoder_sequence_length_out, …).
 */
import { GraphBuilder } from "../onnx/graph.ts";
import { DataType, type Dim } from "../onnx/proto.ts";
import { Ops, type Params } from "./layers.ts";

/** One decoder layer's K/V values (graph value names). */
export interface LayerCache {
  selfKey: string;
  selfValue: string;
  crossKey: string;
  crossValue: string;
}

/** What an architecture supplies: its sizes and its two stacks over `Ops`. */
export interface Seq2SeqArch {
  dModel: number;
  heads: number;
  headDim: number;
  decoderLayers: number;
  vocab: number;
  /** [B, S] ids and mask → [B, S, d_model]. */
  encoder(o: Ops, inputIds: string, mask: string): string;
  /**
   * Without `past`, cross-attention K/V come from `encoderHidden`; with it, from the cache, and
   * self-attention K/V are appended to the cached ones.
   */
  decoder(
    o: Ops,
    inputIds: string,
    encoderMask: string,
    encoderHidden: string | undefined,
    past: LayerCache[] | undefined,
  ): { logits: string; present: LayerCache[] };
}

/** The four graphs, each serialised on demand (so only one large buffer lives at a time). */
export interface GraphSet {
  encoder: () => Uint8Array;
  decoder: () => Uint8Array;
  decoderWithPast: () => Uint8Array;
  merged: () => Uint8Array;
}

const B = "batch_size";
const S = "encoder_sequence_length";

function decoderInputs(
  g: GraphBuilder,
  a: Seq2SeqArch,
  kind: "decoder" | "with-past" | "merged",
): { ids: string; mask: string; hidden?: string; past?: LayerCache[] } {
  const mask = g.input("encoder_attention_mask", DataType.INT64, [B, S]);
  const length = kind === "with-past" ? 1 : "decoder_sequence_length";
  const ids = g.input("input_ids", DataType.INT64, [B, length]);
  const hidden = kind === "with-past"
    ? undefined
    : g.input("encoder_hidden_states", DataType.FLOAT, [B, S, a.dModel]);
  if (kind === "decoder") return { ids, mask, hidden };
  const past: LayerCache[] = [];
  for (let i = 0; i < a.decoderLayers; i++) {
    const input = (s: string) => {
      const len = s.startsWith("decoder")
        ? "past_decoder_sequence_length"
        : "encoder_sequence_length_out";
      return g.input(`past_key_values.${i}.${s}`, DataType.FLOAT, [B, a.heads, len, a.headDim]);
    };
    past.push({
      selfKey: input("decoder.key"),
      selfValue: input("decoder.value"),
      crossKey: input("encoder.key"),
      crossValue: input("encoder.value"),
    });
  }
  return { ids, mask, hidden, past };
}

interface OutputSpec {
  name: string;
  shape: Dim[];
}

/** Optimum's decoder outputs, in order; `encoder` presents only when `withEncoder`. */
function decoderOutputs(a: Seq2SeqArch, decoderLength: string, withEncoder: boolean): OutputSpec[] {
  const out: OutputSpec[] = [{ name: "logits", shape: [B, "decoder_sequence_length", a.vocab] }];
  const self = [B, a.heads, decoderLength, a.headDim];
  const cross = [B, a.heads, "encoder_sequence_length_out", a.headDim];
  for (let i = 0; i < a.decoderLayers; i++) {
    out.push({ name: `present.${i}.decoder.key`, shape: self });
    out.push({ name: `present.${i}.decoder.value`, shape: self });
    if (withEncoder) {
      out.push({ name: `present.${i}.encoder.key`, shape: cross });
      out.push({ name: `present.${i}.encoder.value`, shape: cross });
    }
  }
  return out;
}

/** The values for `decoderOutputs`, same order. */
function decoderValues(logits: string, present: LayerCache[], withEncoder: boolean): string[] {
  return [
    logits,
    ...present.flatMap((p) =>
      withEncoder ? [p.selfKey, p.selfValue, p.crossKey, p.crossValue] : [p.selfKey, p.selfValue]
    ),
  ];
}

/** How the graphs are written: int8 weights; attention as com.microsoft MultiHeadAttention. */
export interface GraphOptions {
  int8: boolean;
  fused: boolean;
}

export function optimumGraphs(a: Seq2SeqArch, params: Params, options: GraphOptions): GraphSet {
  const { int8, fused } = options;
  const encoder = () => {
    const g = new GraphBuilder("encoder");
    const o = new Ops(g, params, int8, fused);
    const ids = g.input("input_ids", DataType.INT64, [B, S]);
    const mask = g.input("attention_mask", DataType.INT64, [B, S]);
    g.output(a.encoder(o, ids, mask), DataType.FLOAT, [B, S, a.dModel], "last_hidden_state");
    return g.model();
  };
  const single = (withPast: boolean) => () => {
    const g = new GraphBuilder(withPast ? "decoder_with_past" : "decoder");
    const o = new Ops(g, params, int8, fused);
    const io = decoderInputs(g, a, withPast ? "with-past" : "decoder");
    const { logits, present } = a.decoder(o, io.ids, io.mask, io.hidden, io.past);
    const length = withPast ? "past_decoder_sequence_length + 1" : "decoder_sequence_length";
    const values = decoderValues(logits, present, !withPast);
    decoderOutputs(a, length, !withPast).forEach(({ name, shape }, i) => {
      g.output(values[i], DataType.FLOAT, shape, name);
    });
    return g.model();
  };
  const merged = () => {
    const g = new GraphBuilder("decoder_merged");
    const o = new Ops(g, params, int8, fused);
    const io = decoderInputs(g, a, "merged");
    const useCache = g.input("use_cache_branch", DataType.BOOL, [1]);
    const specs = decoderOutputs(a, "decoder_sequence_length", true);
    const branch = (withPast: boolean) => {
      const sub = g.subgraph(withPast ? "with_past" : "no_past");
      const so = o.in(sub);
      const hidden = withPast ? undefined : io.hidden;
      const past = withPast ? io.past : undefined;
      const { logits, present } = a.decoder(so, io.ids, io.mask, hidden, past);
      const values = decoderValues(logits, present, true);
      const empty = [0, a.heads, 0, a.headDim];
      specs.forEach(({ name }, i) => {
        const dummy = withPast && name.includes(".encoder.");
        const v = dummy ? sub.op("ConstantOfShape", [so.ints(empty)]) : values[i];
        sub.output(v, DataType.FLOAT);
      });
      return sub.graph();
    };
    const outs = g.ops("If", [useCache], {
      then_branch: branch(true),
      else_branch: branch(false),
    }, { outputs: specs.map((s) => s.name) });
    outs.forEach((v, i) => g.output(v, DataType.FLOAT, specs[i].shape));
    return g.model();
  };
  return { encoder, decoder: single(false), decoderWithPast: single(true), merged };
}
