// The ONNX writer (core/OnnxWriter.ts) checked by running what it writes in onnxruntime-node (a scorer dependency).
import { assert, describe, it } from "@effect/vitest"
import * as ort from "onnxruntime-node"
import { encodeOnnxModel, type OnnxGraph } from "../src/OnnxWriter.ts"

const f32 = (name: string, dims: number[], values: number[]) => ({ name, dataType: "float32" as const, dims, data: Float32Array.from(values) })

describe("OnnxWriter", () => {
  it("writes a graph onnxruntime runs: Gemm, MatMul+Add, Gather, Pad, Constant, Cast, ReduceMean", async () => {
    // y = ReduceMean_axis1(Pad(Gather(E, ids) @ W + b)) ; z = Gemm(x, W2ᵀ, alpha=0.5) + c (c from a Constant node of value_floats)
    const E = [0.5, -1, 2, 0.25, -0.75, 1.5] // 3×2 embedding
    const W = [1, 2, -1, 0.5, 3, -2] // 2×3
    const b = [0.1, -0.2, 0.3]
    const W2 = [1, -1, 2, 0.5] // 2×2, used transposed
    const graph: OnnxGraph = {
      name: "t",
      initializers: [f32("E", [3, 2], E), f32("W", [2, 3], W), f32("b", [3], b), f32("W2", [2, 2], W2),
        { name: "pads", dataType: "int64", dims: [6], data: BigInt64Array.from([0n, 1n, 0n, 0n, 0n, 0n]) }],
      nodes: [
        { opType: "Cast", inputs: ["ids32"], outputs: ["ids"], attributes: { to: 7 } },
        { opType: "Gather", inputs: ["E", "ids"], outputs: ["emb"], attributes: { axis: 0 } },
        { opType: "MatMul", inputs: ["emb", "W"], outputs: ["h"] },
        { opType: "Add", inputs: ["h", "b"], outputs: ["hb"] },
        // one zero row before the sequence: the mean over seq+1 rows is sum/(seq+1)
        { opType: "Pad", inputs: ["hb", "pads"], outputs: ["padded"], attributes: { mode: "constant" } },
        { opType: "ReduceMean", inputs: ["padded"], outputs: ["y"], attributes: { axes: [-2], keepdims: 0 } },
        { opType: "Constant", inputs: [], outputs: ["c"], attributes: { value_floats: { floats: [10, -10] } } },
        { opType: "Gemm", inputs: ["x", "W2"], outputs: ["g"], attributes: { alpha: { float: 0.5 }, transB: 1 } },
        { opType: "Add", inputs: ["g", "c"], outputs: ["z"] },
        { opType: "Constant", inputs: [], outputs: ["k"], attributes: { value: f32("kv", [1], [7]) } },
        { opType: "Mul", inputs: ["z", "k"], outputs: ["z7"] }
      ],
      inputs: [
        { name: "ids32", dataType: "int32", shape: ["batch", "seq"] },
        { name: "x", dataType: "float32", shape: ["n", 2] }
      ],
      outputs: [
        { name: "y", dataType: "float32", shape: ["batch", 3] },
        { name: "z7", dataType: "float32", shape: ["n", 2] }
      ]
    }
    const bytes = encodeOnnxModel(graph, { docString: "test" })
    const session = await ort.InferenceSession.create(bytes)
    try {
      assert.deepStrictEqual([...session.inputNames], ["ids32", "x"])
      assert.deepStrictEqual([...session.outputNames], ["y", "z7"])
      const ids = [0, 2, 1, 2, 2, 0] // batch 2 × seq 3
      const x = [1, 2, -3, 0.5]
      const out = await session.run({
        ids32: new ort.Tensor("int32", Int32Array.from(ids), [2, 3]),
        x: new ort.Tensor("float32", Float32Array.from(x), [2, 2])
      })
      // Independent computation.
      const y: number[] = []
      for (let r = 0; r < 2; r++) {
        for (let j = 0; j < 3; j++) {
          let s = 0
          for (let t = 0; t < 3; t++) {
            const id = ids[r * 3 + t]!
            s += E[id * 2]! * W[j]! + E[id * 2 + 1]! * W[3 + j]! + b[j]!
          }
          y.push(s / 4)
        }
      }
      const z: number[] = []
      for (let r = 0; r < 2; r++) {
        for (let j = 0; j < 2; j++) z.push(7 * (0.5 * (x[r * 2]! * W2[j * 2]! + x[r * 2 + 1]! * W2[j * 2 + 1]!) + [10, -10][j]!))
      }
      assert.deepStrictEqual(out.y!.dims, [2, 3])
      const yo = out.y!.data as Float32Array
      y.forEach((v, i) => assert.closeTo(yo[i]!, v, 1e-5))
      const zo = out.z7!.data as Float32Array
      z.forEach((v, i) => assert.closeTo(zo[i]!, v, 1e-5))
    } finally {
      await session.release()
    }
  })

  it("rejects a tensor whose data does not fill its dims", () => {
    assert.throws(() =>
      encodeOnnxModel({ name: "g", nodes: [], inputs: [], outputs: [], initializers: [f32("w", [2, 2], [1, 2, 3])] }), /"w" has 3 values but dims \[2, 2\] need 4/)
  })
})
