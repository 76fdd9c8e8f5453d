/** Writes ONNX model files by hand-encoding their protobuf messages (no dependency): enough of onnx.proto for small graphs with weights. */

export type OnnxDataType = "float32" | "int64" | "int32"

export interface OnnxTensor {
  readonly name: string
  readonly dataType: OnnxDataType
  readonly dims: ReadonlyArray<number>
  readonly data: Float32Array | BigInt64Array | Int32Array
}

/** Plain numbers are INT(S); use {float}/{floats} for FLOAT(S). */
export type OnnxAttribute =
  | number
  | ReadonlyArray<number>
  | string
  | OnnxTensor
  | { readonly float: number }
  | { readonly floats: ReadonlyArray<number> }

export interface OnnxNode {
  readonly opType: string
  /** Operator set domain; default "" (ONNX). e.g. "com.microsoft" for onnxruntime's contrib ops. */
  readonly domain?: string
  readonly inputs: ReadonlyArray<string>
  readonly outputs: ReadonlyArray<string>
  readonly name?: string
  readonly attributes?: Readonly<Record<string, OnnxAttribute>>
}

/** A graph input or output: element type and shape (numbers are fixed dims, strings are symbolic, e.g. "batch"). */
export interface OnnxValueInfo {
  readonly name: string
  readonly dataType: OnnxDataType
  readonly shape: ReadonlyArray<number | string>
}

export interface OnnxGraph {
  readonly name: string
  readonly nodes: ReadonlyArray<OnnxNode>
  readonly initializers: ReadonlyArray<OnnxTensor>
  readonly inputs: ReadonlyArray<OnnxValueInfo>
  readonly outputs: ReadonlyArray<OnnxValueInfo>
}

// TensorProto.DataType and AttributeProto.AttributeType enum values from onnx.proto.
const DATA_TYPE: Record<OnnxDataType, number> = { float32: 1, int32: 6, int64: 7 }
const ATTR = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const
const BYTES_PER: Record<OnnxDataType, number> = { float32: 4, int32: 4, int64: 8 }

// Protobuf wire types.
const VARINT = 0
const FIXED32 = 5
const LEN = 2

const utf8 = new TextEncoder()

/** Collects one message's fields as byte chunks; `finish` concatenates them. */
class Message {
  private readonly chunks: Array<Uint8Array> = []
  private size = 0

  private push(bytes: Uint8Array) {
    this.chunks.push(bytes)
    this.size += bytes.length
  }

  private tag(field: number, wire: number) {
    this.push(varint(BigInt((field << 3) | wire)))
  }

  int(field: number, value: number | bigint) {
    this.tag(field, VARINT)
    this.push(varint(BigInt(value)))
    return this
  }

  float(field: number, value: number) {
    this.tag(field, FIXED32)
    const b = new Uint8Array(4)
    new DataView(b.buffer).setFloat32(0, value, true)
    this.push(b)
    return this
  }

  bytes(field: number, value: Uint8Array) {
    this.tag(field, LEN)
    this.push(varint(BigInt(value.length)))
    this.push(value)
    return this
  }

  string(field: number, value: string) {
    return this.bytes(field, utf8.encode(value))
  }

  message(field: number, value: Message) {
    return this.bytes(field, value.finish())
  }

  /** A packed repeated int64 field (proto3 style; proto2 parsers accept it too). */
  packedInts(field: number, values: ReadonlyArray<number>) {
    const inner = new Message()
    for (const v of values) inner.push(varint(BigInt(v)))
    return this.bytes(field, inner.finish())
  }

  packedFloats(field: number, values: ReadonlyArray<number>) {
    const b = new Uint8Array(values.length * 4)
    const view = new DataView(b.buffer)
    values.forEach((v, i) => view.setFloat32(i * 4, v, true))
    return this.bytes(field, b)
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.size)
    let offset = 0
    for (const c of this.chunks) {
      out.set(c, offset)
      offset += c.length
    }
    return out
  }
}

/** Base-128 varint; negative int64 values take their 64-bit two's complement (10 bytes), as protobuf does. */
const varint = (value: bigint): Uint8Array => {
  let v = BigInt.asUintN(64, value)
  const out: Array<number> = []
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80)
    v >>= 7n
  }
  out.push(Number(v))
  return Uint8Array.from(out)
}

const checkTensor = (t: OnnxTensor) => {
  const n = t.dims.reduce((a, b) => a * b, 1)
  if (t.data.length !== n) {
    throw new Error(`OnnxWriter: tensor "${t.name}" has ${t.data.length} values but dims [${t.dims.join(", ")}] need ${n}`)
  }
  const ok = t.dataType === "float32" ? t.data instanceof Float32Array
    : t.dataType === "int64" ? t.data instanceof BigInt64Array
    : t.data instanceof Int32Array
  if (!ok) throw new Error(`OnnxWriter: tensor "${t.name}" is declared ${t.dataType} but its data is a ${t.data.constructor.name}`)
}

/** TensorProto with raw_data: little-endian bytes of the values. */
const tensorProto = (t: OnnxTensor): Message => {
  checkTensor(t)
  const raw = new Uint8Array(t.data.length * BYTES_PER[t.dataType])
  const view = new DataView(raw.buffer)
  for (let i = 0; i < t.data.length; i++) {
    if (t.dataType === "float32") view.setFloat32(i * 4, t.data[i] as number, true)
    else if (t.dataType === "int32") view.setInt32(i * 4, t.data[i] as number, true)
    else view.setBigInt64(i * 8, t.data[i] as bigint, true)
  }
  const m = new Message()
  if (t.dims.length > 0) m.packedInts(1, t.dims) // dims
  m.int(2, DATA_TYPE[t.dataType]) // data_type
  m.string(8, t.name) // name
  m.bytes(9, raw) // raw_data
  return m
}

const isTensor = (a: OnnxAttribute): a is OnnxTensor =>
  typeof a === "object" && a !== null && "dataType" in a && "data" in a

const isIntArray = (a: OnnxAttribute): a is ReadonlyArray<number> => Array.isArray(a)

const attributeProto = (name: string, a: OnnxAttribute): Message => {
  const m = new Message().string(1, name)
  if (typeof a === "number") {
    if (!Number.isInteger(a)) throw new Error(`OnnxWriter: attribute "${name}" = ${a} is not an integer; write {float: ${a}} for a FLOAT`)
    m.int(3, a).int(20, ATTR.INT)
  } else if (typeof a === "string") {
    m.string(4, a).int(20, ATTR.STRING)
  } else if (isIntArray(a)) {
    const ints = a
    if (!ints.every(Number.isInteger)) throw new Error(`OnnxWriter: attribute "${name}" has non-integers; write {floats: [...]} for FLOATS`)
    m.packedInts(8, ints).int(20, ATTR.INTS)
  } else if (isTensor(a)) {
    m.message(5, tensorProto(a)).int(20, ATTR.TENSOR)
  } else if ("float" in a) {
    m.float(2, a.float).int(20, ATTR.FLOAT)
  } else if ("floats" in a) {
    m.packedFloats(7, a.floats).int(20, ATTR.FLOATS)
  }
  return m
}

const nodeProto = (n: OnnxNode, index: number): Message => {
  const m = new Message()
  for (const i of n.inputs) m.string(1, i)
  for (const o of n.outputs) m.string(2, o)
  m.string(3, n.name ?? `${n.opType}_${index}`)
  m.string(4, n.opType)
  for (const [k, v] of Object.entries(n.attributes ?? {})) m.message(5, attributeProto(k, v))
  if (n.domain) m.string(7, n.domain)
  return m
}

/** ValueInfoProto → TypeProto{tensor_type: {elem_type, shape{dim: dim_value | dim_param}}}. */
const valueInfoProto = (v: OnnxValueInfo): Message => {
  const shape = new Message()
  for (const d of v.shape) {
    const dim = typeof d === "number" ? new Message().int(1, d) : new Message().string(2, d)
    shape.message(1, dim)
  }
  const tensorType = new Message().int(1, DATA_TYPE[v.dataType]).message(2, shape)
  const type = new Message().message(1, tensorType)
  return new Message().string(1, v.name).message(2, type)
}

const graphProto = (g: OnnxGraph): Message => {
  const m = new Message()
  g.nodes.forEach((n, i) => m.message(1, nodeProto(n, i)))
  m.string(2, g.name)
  for (const t of g.initializers) m.message(5, tensorProto(t))
  for (const v of g.inputs) m.message(11, valueInfoProto(v))
  for (const v of g.outputs) m.message(12, valueInfoProto(v))
  return m
}

/**
 * The bytes of an ONNX ModelProto (IR version 8, default-domain opset `opset`, 17 unless given;
 * every other domain a node uses is imported at version 1, e.g. onnxruntime's "com.microsoft").
 * Throws on a tensor whose data does not match its dims or type: these are programming errors.
 */
export const encodeOnnxModel = (
  graph: OnnxGraph,
  options?: { opset?: number; producer?: string; docString?: string }
): Uint8Array => {
  const m = new Message()
  m.int(1, 8) // ir_version
  m.string(2, options?.producer ?? "odpo") // producer_name
  if (options?.docString !== undefined) m.string(6, options.docString)
  m.message(7, graphProto(graph))
  m.message(8, new Message().string(1, "").int(2, options?.opset ?? 17)) // opset_import
  const domains = new Set(graph.nodes.map((n) => n.domain ?? "").filter((d) => d !== ""))
  for (const domain of [...domains].sort()) m.message(8, new Message().string(1, domain).int(2, 1))
  return m.finish()
}
