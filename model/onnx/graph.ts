/**
 * A small ONNX graph builder over `proto.ts`: name-unique node outputs, typed initializers and a
 * `model()` that serialises with the standard and com.microsoft opset imports.
 *
 *   const g = new GraphBuilder("mlp");
 *   const x = g.input("x", DataType.FLOAT, ["batch", 4]);
 *   const y = g.op("Softmax", [g.op("Add", [g.op("MatMul", [x, g.float("w", w, [4, 3])]), b])], { axis: -1 });
 *   g.output(y, DataType.FLOAT, ["batch", 3], "y");
 *   const bytes = g.model();
 *
 * Initializers hold the caller's typed arrays without copying, so one weight can appear in
 * several graphs (decoder and decoder-with-past) at the cost of one buffer.
 */
import {
  type AttributeValue,
  DataType,
  type Dim,
  encodeModel,
  type GraphProto,
  type NodeProto,
  type OperatorSetId,
  rawBytes,
  type TensorProto,
  type ValueInfoProto,
} from "./proto.ts";

/** ai.onnx opset the builders target (LayerNormalization needs 17). */
export const ONNX_OPSET = 17;
/** com.microsoft contrib opset (ORT's only version). */
export const MS_OPSET = 1;
export const MS_DOMAIN = "com.microsoft";

export interface OpOptions {
  /** Output names; a number asks for that many generated names. Default: one generated name. */
  outputs?: number | readonly string[];
  domain?: string;
}

export class GraphBuilder {
  private readonly nodes: NodeProto[] = [];
  private readonly inits: TensorProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly scope: { names: Set<string>; counter: number };

  /** `parent`: the graph whose values a subgraph sees (names stay unique across both). */
  constructor(readonly name: string, parent?: GraphBuilder) {
    this.scope = parent?.scope ?? { names: new Set(), counter: 0 };
  }

  /** A builder for an `If`/`Loop` body that may read this graph's values. */
  subgraph(name: string): GraphBuilder {
    return new GraphBuilder(name, this);
  }

  private claim(name: string): string {
    if (this.scope.names.has(name)) {
      throw new Error(`graph ${this.name}: duplicate value name ${name}`);
    }
    this.scope.names.add(name);
    return name;
  }

  /** A fresh value name with the given stem. */
  fresh(stem: string): string {
    let n: string;
    do n = `${stem}_${this.scope.counter++}`; while (this.scope.names.has(n));
    return this.claim(n);
  }

  input(name: string, elemType: DataType, shape?: readonly Dim[]): string {
    this.inputs.push({ name: this.claim(name), elemType, shape });
    return name;
  }

  /**
   * Declares `value` a graph output, under `name` if given: the node that makes `value` is
   * renamed (ORT keeps an Identity that feeds a graph output, and it costs a copy per run), or,
   * where it cannot be (a graph input, an output already, a graph with subgraphs that might read
   * it), an Identity gives the name.
   */
  output(value: string, elemType: DataType, shape?: readonly Dim[], name?: string): string {
    let out = value;
    if (name !== undefined && name !== value) {
      out = this.claim(name);
      const maker = this.nodes.findIndex((n) => n.outputs.includes(value));
      const renamable = maker >= 0 && !this.outputs.some((o) => o.name === value) &&
        !this.nodes.some((n) =>
          Object.values(n.attributes ?? {}).some((a) => typeof a === "object" && "nodes" in a)
        );
      if (renamable) {
        const swap = (names: readonly string[]) => names.map((x) => x === value ? out : x);
        this.nodes.forEach((n, i) => {
          this.nodes[i] = {
            ...n,
            inputs: swap(n.inputs),
            outputs: i === maker ? swap(n.outputs) : n.outputs,
          };
        });
      } else this.nodes.push({ opType: "Identity", inputs: [value], outputs: [out] });
    }
    this.outputs.push({ name: out, elemType, shape });
    return out;
  }

  /** An initializer; `name` is made unique if taken. */
  tensor(name: string, dataType: DataType, data: ArrayBufferView, dims: readonly number[]): string {
    const count = dims.reduce((a, b) => a * b, 1);
    const size = data.byteLength / count;
    if (!Number.isInteger(size) || count === 0 && data.byteLength !== 0) {
      throw new Error(`initializer ${name}: ${data.byteLength} bytes do not fit dims [${dims}]`);
    }
    const unique = this.scope.names.has(name) ? this.fresh(name) : this.claim(name);
    this.inits.push({ name: unique, dataType, dims, raw: rawBytes(data) });
    return unique;
  }

  float(name: string, data: Float32Array, dims: readonly number[]): string {
    return this.tensor(name, DataType.FLOAT, data, dims);
  }

  /** An int64 initializer (shapes, axes, indices); a scalar when `dims` is []. */
  int64(
    name: string,
    values: readonly number[],
    dims: readonly number[] = [values.length],
  ): string {
    return this.tensor(name, DataType.INT64, BigInt64Array.from(values.map(BigInt)), dims);
  }

  /** A float scalar initializer. */
  scalar(name: string, value: number): string {
    return this.float(name, Float32Array.of(value), []);
  }

  /** Adds a node and returns its output names. */
  ops(
    opType: string,
    inputs: readonly string[],
    attributes?: Readonly<Record<string, AttributeValue>>,
    options: OpOptions = {},
  ): string[] {
    const spec = options.outputs ?? 1;
    const stem = opType.toLowerCase();
    const outputs = typeof spec === "number"
      ? Array.from({ length: spec }, () => this.fresh(stem))
      : spec.map((n) => this.claim(n));
    this.nodes.push({ opType, inputs, outputs, attributes, domain: options.domain });
    return outputs;
  }

  /** Adds a node with one output and returns its name. */
  op(
    opType: string,
    inputs: readonly string[],
    attributes?: Readonly<Record<string, AttributeValue>>,
    options: OpOptions = {},
  ): string {
    return this.ops(opType, inputs, attributes, options)[0];
  }

  graph(): GraphProto {
    return {
      name: this.name,
      nodes: this.nodes,
      initializers: this.inits,
      inputs: this.inputs,
      outputs: this.outputs,
    };
  }

  /** The serialised ModelProto (opsets ai.onnx 17 and com.microsoft 1). */
  model(metadata?: Record<string, string>): Uint8Array {
    const opsetImports: OperatorSetId[] = [
      { domain: "", version: ONNX_OPSET },
      { domain: MS_DOMAIN, version: MS_OPSET },
    ];
    return encodeModel({ opsetImports, graph: this.graph(), metadata });
  }
}
