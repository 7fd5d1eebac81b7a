/**
 * ONNX protobuf writer: ModelProto, GraphProto, NodeProto, AttributeProto (subgraphs included),
 * TensorProto (raw_data only), ValueInfoProto with symbolic dimensions, opset imports.
 *
 * Field numbers are those of onnx/onnx.proto (IR version 10 schema; proto2, so repeated scalars
 * are written unpacked, which every protobuf parser accepts). Only what a model writer needs is
 * covered: no reading, no external data, no sparse tensors, no functions. The encoder never copies
 * tensor bytes until the final `encodeModel` concatenation, so a few hundred MB of weights cost
 * one allocation. Protobuf caps a message at 2 GiB; larger models need external data (refused).
 *
 *   const bytes = encodeModel({ graph, opsetImports: [{ domain: "", version: 17 }] });
 */

/** TensorProto.DataType (onnx.proto). */
export const DataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
} as const;
export type DataType = (typeof DataType)[keyof typeof DataType];

export interface TensorProto {
  name?: string;
  dataType: DataType;
  dims: readonly number[];
  /** Little-endian element bytes (TensorProto.raw_data). */
  raw: Uint8Array;
}

/** A dimension: a fixed size or a symbolic name (dim_param). */
export type Dim = number | string;

export interface ValueInfoProto {
  name: string;
  elemType: DataType;
  /** Omitted: rank unknown. */
  shape?: readonly Dim[];
}

/** AttributeProto value. A plain number is an INT, a plain array of numbers INTS. */
export type AttributeValue =
  | number
  | readonly number[]
  | string
  | { f: number }
  | { floats: readonly number[] }
  | TensorProto
  | GraphProto;

export interface NodeProto {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name?: string;
  domain?: string;
  attributes?: Readonly<Record<string, AttributeValue>>;
}

export interface GraphProto {
  name: string;
  nodes: readonly NodeProto[];
  initializers: readonly TensorProto[];
  inputs: readonly ValueInfoProto[];
  outputs: readonly ValueInfoProto[];
}

export interface OperatorSetId {
  domain: string;
  version: number;
}

export interface ModelProto {
  /** Default 8 (ONNX 1.10+, read by every ORT since 1.10). */
  irVersion?: number;
  opsetImports: readonly OperatorSetId[];
  producerName?: string;
  producerVersion?: string;
  graph: GraphProto;
  /** ModelProto.metadata_props. */
  metadata?: Readonly<Record<string, string>>;
}

const WIRE_VARINT = 0;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;
const MAX_MESSAGE = 2 ** 31 - 1;

/** A message under construction: a list of byte chunks, concatenated once at the end. */
class Writer {
  readonly parts: Uint8Array[] = [];
  length = 0;

  private push(b: Uint8Array): void {
    this.parts.push(b);
    this.length += b.length;
  }

  private varintBytes(v: number | bigint): Uint8Array {
    let x = typeof v === "bigint" ? BigInt.asUintN(64, v) : v;
    if (typeof x === "number" && (x < 0 || x > Number.MAX_SAFE_INTEGER)) {
      if (!Number.isInteger(x)) throw new RangeError(`varint: ${x} is not an integer`);
      x = BigInt.asUintN(64, BigInt(x));
    }
    const out: number[] = [];
    if (typeof x === "bigint") {
      while (x >= 0x80n) {
        out.push(Number(x & 0x7fn) | 0x80);
        x >>= 7n;
      }
      out.push(Number(x));
    } else {
      if (!Number.isInteger(x)) throw new RangeError(`varint: ${x} is not an integer`);
      while (x >= 0x80) {
        out.push((x % 0x80) | 0x80);
        x = Math.floor(x / 0x80);
      }
      out.push(x);
    }
    return Uint8Array.from(out);
  }

  private tag(field: number, wire: number): void {
    this.push(this.varintBytes(field * 8 + wire));
  }

  varint(field: number, v: number | bigint): void {
    this.tag(field, WIRE_VARINT);
    this.push(this.varintBytes(v));
  }

  float(field: number, v: number): void {
    this.tag(field, WIRE_FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.push(b);
  }

  bytes(field: number, data: Uint8Array): void {
    this.tag(field, WIRE_BYTES);
    this.push(this.varintBytes(data.length));
    if (data.length > 0) this.push(data);
  }

  string(field: number, s: string): void {
    this.bytes(field, new TextEncoder().encode(s));
  }

  message(field: number, m: Writer): void {
    if (m.length > MAX_MESSAGE) {
      throw new RangeError(`protobuf message of ${m.length} bytes exceeds the 2 GiB limit`);
    }
    this.tag(field, WIRE_BYTES);
    this.push(this.varintBytes(m.length));
    for (const p of m.parts) this.push(p);
  }

  finish(): Uint8Array {
    if (this.length > MAX_MESSAGE) {
      throw new RangeError(`ONNX model of ${this.length} bytes exceeds protobuf's 2 GiB limit`);
    }
    const out = new Uint8Array(this.length);
    let off = 0;
    for (const p of this.parts) {
      out.set(p, off);
      off += p.length;
    }
    return out;
  }
}

// AttributeProto.AttributeType
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_TENSOR = 4;
const ATTR_GRAPH = 5;
const ATTR_FLOATS = 6;
const ATTR_INTS = 7;

function isInts(v: AttributeValue): v is readonly number[] {
  return Array.isArray(v);
}

function isGraph(v: AttributeValue): v is GraphProto {
  return typeof v === "object" && "nodes" in v;
}

function isTensor(v: AttributeValue): v is TensorProto {
  return typeof v === "object" && "raw" in v;
}

function tensor(t: TensorProto): Writer {
  const w = new Writer();
  for (const d of t.dims) w.varint(1, d); // dims
  w.varint(2, t.dataType); // data_type
  if (t.name !== undefined) w.string(8, t.name); // name
  w.bytes(9, t.raw); // raw_data
  return w;
}

function valueInfo(v: ValueInfoProto): Writer {
  const tt = new Writer(); // TypeProto.Tensor
  tt.varint(1, v.elemType); // elem_type
  if (v.shape !== undefined) {
    const shape = new Writer(); // TensorShapeProto
    for (const d of v.shape) {
      const dim = new Writer(); // TensorShapeProto.Dimension
      if (typeof d === "number") dim.varint(1, d); // dim_value
      else dim.string(2, d); // dim_param
      shape.message(1, dim);
    }
    tt.message(2, shape);
  }
  const type = new Writer(); // TypeProto
  type.message(1, tt); // tensor_type
  const w = new Writer();
  w.string(1, v.name);
  w.message(2, type);
  return w;
}

function attribute(name: string, v: AttributeValue): Writer {
  const w = new Writer();
  w.string(1, name);
  if (typeof v === "number") {
    w.varint(20, ATTR_INT);
    w.varint(3, v);
  } else if (typeof v === "string") {
    w.varint(20, ATTR_STRING);
    w.string(4, v);
  } else if (isInts(v)) {
    w.varint(20, ATTR_INTS);
    for (const x of v) w.varint(8, x);
  } else if (isGraph(v)) {
    w.varint(20, ATTR_GRAPH);
    w.message(6, graph(v));
  } else if (isTensor(v)) {
    w.varint(20, ATTR_TENSOR);
    w.message(5, tensor(v));
  } else if ("floats" in v) {
    w.varint(20, ATTR_FLOATS);
    for (const x of v.floats) w.float(7, x);
  } else {
    w.varint(20, ATTR_FLOAT);
    w.float(2, v.f);
  }
  return w;
}

function node(n: NodeProto): Writer {
  const w = new Writer();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name !== undefined) w.string(3, n.name);
  w.string(4, n.opType);
  for (const [k, v] of Object.entries(n.attributes ?? {})) w.message(5, attribute(k, v));
  if (n.domain) w.string(7, n.domain);
  return w;
}

function graph(g: GraphProto): Writer {
  const w = new Writer();
  for (const n of g.nodes) w.message(1, node(n));
  w.string(2, g.name);
  for (const t of g.initializers) w.message(5, tensor(t));
  for (const v of g.inputs) w.message(11, valueInfo(v));
  for (const v of g.outputs) w.message(12, valueInfo(v));
  return w;
}

/** Serialises a ModelProto. */
export function encodeModel(m: ModelProto): Uint8Array {
  const w = new Writer();
  w.varint(1, m.irVersion ?? 8); // ir_version
  w.string(2, m.producerName ?? "cloister"); // producer_name
  if (m.producerVersion !== undefined) w.string(3, m.producerVersion);
  w.message(7, graph(m.graph)); // graph
  for (const o of m.opsetImports) {
    const op = new Writer(); // OperatorSetIdProto
    if (o.domain) op.string(1, o.domain);
    op.varint(2, o.version);
    w.message(8, op);
  }
  for (const [k, v] of Object.entries(m.metadata ?? {})) {
    const e = new Writer(); // StringStringEntryProto
    e.string(1, k);
    e.string(2, v);
    w.message(14, e);
  }
  return w.finish();
}

/** The little-endian bytes of a typed array, without copying. */
export function rawBytes(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
