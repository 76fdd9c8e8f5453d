/** Builds an OnnxWriter graph one op at a time: every op returns the name of its output, so graph code reads like tensor code. */
import type { OnnxAttribute, OnnxDataType, OnnxGraph, OnnxNode, OnnxTensor, OnnxValueInfo } from "../OnnxWriter.ts"

/** ONNX TensorProto.DataType codes, for Cast's `to`. */
export const ONNX_TYPE = { float32: 1, int32: 6, int64: 7, bool: 9 } as const

export class GraphBuilder {
  private readonly nodes: Array<OnnxNode> = []
  private readonly initializers: Array<OnnxTensor> = []
  private readonly inputs: Array<OnnxValueInfo> = []
  private readonly outputs: Array<OnnxValueInfo> = []
  private readonly constants = new Map<string, string>()
  private readonly used = new Set<string>()
  private counter = 0

  constructor(readonly name: string) {}

  /** A fresh value name that starts with `hint` (readable in onnxruntime's profiles and errors). */
  private fresh(hint: string): string {
    let name = hint
    while (this.used.has(name)) name = `${hint}_${this.counter++}`
    this.used.add(name)
    return name
  }

  /** Declare a graph input; returns its name. */
  input(name: string, dataType: OnnxDataType, shape: ReadonlyArray<number | string>): string {
    this.used.add(name)
    this.inputs.push({ name, dataType, shape })
    return name
  }

  /** Declare `value` a graph output under its own name (the op that made it must have been given that name). */
  output(value: string, dataType: OnnxDataType, shape: ReadonlyArray<number | string>): void {
    this.outputs.push({ name: value, dataType, shape })
  }

  /**
   * One op with one output; `hint` names the output (exactly, when `exact`). An opType
   * "domain:Op" takes the op from that domain (onnxruntime's contrib ops: "com.microsoft:FastGelu").
   */
  op(opType: string, inputs: ReadonlyArray<string>, attributes?: Readonly<Record<string, OnnxAttribute>>, hint?: string, exact = false): string {
    return this.opN(opType, inputs, 1, attributes, hint, exact)[0]!
  }

  /** An op with several outputs (Split, LayerNormalization with mean and 1/σ). */
  opN(
    opType: string,
    inputs: ReadonlyArray<string>,
    count: number,
    attributes?: Readonly<Record<string, OnnxAttribute>>,
    hint?: string,
    exact = false
  ): Array<string> {
    const base = hint ?? opType.slice(opType.lastIndexOf(":") + 1).toLowerCase()
    const outputs = Array.from({ length: count }, (_, i) => {
      const want = count === 1 ? base : `${base}.${i}`
      if (exact) {
        if (this.used.has(want)) throw new Error(`GraphBuilder: value name "${want}" is taken`)
        this.used.add(want)
        return want
      }
      return this.fresh(want)
    })
    const colon = opType.lastIndexOf(":")
    const domain = colon < 0 ? {} : { domain: opType.slice(0, colon) }
    this.nodes.push({ opType: opType.slice(colon + 1), inputs, outputs, name: outputs[0]!, ...domain, ...(attributes ? { attributes } : {}) })
    return outputs
  }

  /** A float32 scalar constant (shared by every op that uses the same value). */
  scalar(value: number): string {
    return this.constant(`f:${value}`, () => ({ name: "", dataType: "float32", dims: [], data: Float32Array.of(value) }))
  }

  /** An int64 vector constant (shapes, axes, indices). */
  ints(values: ReadonlyArray<number>): string {
    return this.constant(`i:${values.join(",")}`, () => ({
      name: "",
      dataType: "int64",
      dims: [values.length],
      data: BigInt64Array.from(values.map((v) => BigInt(v)))
    }))
  }

  /** An int64 scalar constant. */
  int(value: number): string {
    return this.constant(`s:${value}`, () => ({ name: "", dataType: "int64", dims: [], data: BigInt64Array.of(BigInt(value)) }))
  }

  /** A named float32 initializer (weights baked into the graph). */
  initializer(name: string, dims: ReadonlyArray<number>, data: Float32Array): string {
    if (this.used.has(name)) throw new Error(`GraphBuilder: initializer "${name}" is taken`)
    this.used.add(name)
    this.initializers.push({ name, dataType: "float32", dims, data })
    return name
  }

  private constant(key: string, make: () => OnnxTensor): string {
    const hit = this.constants.get(key)
    if (hit !== undefined) return hit
    const name = this.fresh(`const_${this.constants.size}`)
    this.initializers.push({ ...make(), name })
    this.constants.set(key, name)
    return name
  }

  build(): OnnxGraph {
    return { name: this.name, nodes: this.nodes, initializers: this.initializers, inputs: this.inputs, outputs: this.outputs }
  }
}
