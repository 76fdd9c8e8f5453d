import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs-core"
import "../src/TfSetup.ts"
import { Seeds } from "@odpo/core"

const { mulberry32 } = Seeds

// Reference semantics, written the slow obvious way (numpy broadcasting rules).
const at = (shape: number[], vals: Float32Array, loc: number[]) => {
  let off = 0
  let stride = 1
  for (let i = shape.length - 1, o = loc.length - 1; i >= 0; i--, o--) {
    off += (shape[i] === 1 ? 0 : loc[o]!) * stride
    stride *= shape[i]!
  }
  return vals[off]!
}
const locOf = (i: number, shape: number[]) => {
  const loc = new Array(shape.length).fill(0)
  for (let d = shape.length - 1; d >= 0; d--) {
    loc[d] = i % shape[d]!
    i = Math.floor(i / shape[d]!)
  }
  return loc
}

describe("CpuKernels (faster cpu-backend kernels)", () => {
  const rand = mulberry32(11)
  const tensor = (shape: number[]) => tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rand() * 4 - 2), shape)
  const cases: Array<[number[], number[]]> = [
    [[2, 3, 4], [2, 3, 1]], [[2, 3, 4], [4]], [[1, 1, 3, 3], [2, 4, 3, 3]], [[5, 1], [1, 6]],
    [[2, 1, 4], [3, 1]], [[3, 4], []], [[], [3, 4]], [[2, 3], [2, 3]], [[4, 1, 1], [1, 2, 3]]
  ]
  it("broadcasting add, sub, mul, div, max, squared difference equal the reference elementwise", () => {
    const ops: Array<[string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor, (x: number, y: number) => number]> = [
      ["add", tf.add, (x, y) => x + y], ["sub", tf.sub, (x, y) => x - y], ["mul", tf.mul, (x, y) => x * y],
      ["div", tf.div, (x, y) => x / y], ["maximum", tf.maximum, Math.max],
      ["squaredDifference", tf.squaredDifference, (x, y) => (x - y) * (x - y)]
    ]
    let checked = 0
    for (const [aShape, bShape] of cases) {
      const a = tensor(aShape)
      const b = tensor(bShape)
      const av = a.dataSync() as Float32Array
      const bv = b.dataSync() as Float32Array
      for (const [name, f, ref] of ops) {
        const y = f(a, b)
        const vals = y.dataSync()
        for (let i = 0; i < vals.length; i++) {
          const loc = locOf(i, y.shape)
          assert.strictEqual(vals[i], Math.fround(ref(at(aShape, av, loc), at(bShape, bv, loc))), `${name} ${aShape} ${bShape} @${i}`)
          checked++
        }
        y.dispose()
      }
      tf.dispose([a, b])
    }
    assert.isAbove(checked, 1000)
  })

  it("comparisons give bools; int32 stays int32", () => {
    const m = tf.lessEqual(tf.reshape(tf.range(0, 3, 1, "int32"), [1, 3]), tf.reshape(tf.range(0, 3, 1, "int32"), [3, 1]))
    assert.strictEqual(m.dtype, "bool")
    assert.deepStrictEqual(m.arraySync(), [[1, 0, 0], [1, 1, 0], [1, 1, 1]])
    const s = tf.add(tf.tensor1d([1, 2], "int32"), tf.tensor2d([[10], [20]], [2, 1], "int32"))
    assert.strictEqual(s.dtype, "int32")
    assert.deepStrictEqual(s.arraySync(), [[11, 12], [21, 22]])
  })

  it("transpose equals the reference for every permutation of a rank-4 tensor", () => {
    const shape = [2, 3, 4, 5]
    const x = tensor(shape)
    const xv = x.dataSync()
    const perms = [[0, 2, 1, 3], [3, 2, 1, 0], [1, 0, 3, 2], [0, 1, 2, 3], [2, 3, 0, 1]]
    for (const perm of perms) {
      const y = tf.transpose(x, perm)
      const yv = y.dataSync()
      for (let i = 0; i < yv.length; i++) {
        const loc = locOf(i, y.shape)
        const src = new Array(4)
        perm.forEach((p, d) => (src[p] = loc[d]))
        assert.strictEqual(yv[i], xv[((src[0] * 3 + src[1]) * 4 + src[2]) * 5 + src[3]], `perm ${perm} @${i}`)
      }
    }
  })

  it("softmax rows sum to 1 and match exp(x − logsumexp(x)); its gradient flows", () => {
    const x = tensor([3, 7])
    const y = tf.softmax(x).arraySync() as number[][]
    const xv = x.arraySync() as number[][]
    for (let r = 0; r < 3; r++) {
      const m = Math.max(...xv[r]!)
      const z = xv[r]!.reduce((s, v) => s + Math.exp(v - m), 0)
      for (let j = 0; j < 7; j++) assert.closeTo(y[r]![j]!, Math.exp(xv[r]![j]! - m) / z, 1e-6)
    }
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.softmax(t), tf.range(0, 7))))(x).arraySync() as number[][]
    // d/dx_j Σ_k p_k k = p_j (j − E[k])
    const mean = y[0]!.reduce((s, p, k) => s + p * k, 0)
    for (let j = 0; j < 7; j++) assert.closeTo(g[0]![j]!, y[0]![j]! * (j - mean), 1e-5)
  })

  it("unsortedSegmentSum (gather's gradient) adds rows by id and drops out-of-range ids", () => {
    const x = tf.tensor2d([[1, 2], [3, 4], [5, 6], [7, 8]])
    const y = tf.unsortedSegmentSum(x, tf.tensor1d([2, 0, 2, 5], "int32"), 3)
    assert.deepStrictEqual(y.arraySync(), [[3, 4], [0, 0], [6, 8]])
    // gather's gradient: d/dE Σ gather(E, ids) counts each id's uses
    const g = tf.grad((e: tf.Tensor) => tf.sum(tf.gather(e, tf.tensor1d([1, 1, 0], "int32"))))(tf.zeros([3, 2]))
    assert.deepStrictEqual(g.arraySync(), [[1, 1], [2, 2], [0, 0]])
  })

  it("batched matmul (all transpose flags, broadcast batch) and slice equal the reference", () => {
    const a = tensor([2, 3, 4])
    const b = tensor([4, 5])
    const av = a.arraySync() as number[][][]
    const bv = b.arraySync() as number[][]
    const ref = av.map((m) => m.map((row) => bv[0]!.map((_, j) => row.reduce((s, x, p) => s + x * bv[p]![j]!, 0))))
    const close = (x: unknown, y: unknown) => {
      const fx = (x as number[]).flat(3) as number[]
      const fy = (y as number[]).flat(3) as number[]
      assert.strictEqual(fx.length, fy.length)
      fx.forEach((v, i) => assert.closeTo(v, fy[i]!, 1e-5))
    }
    close(tf.matMul(a, tf.broadcastTo(b, [2, 4, 5])).arraySync(), ref)
    close(tf.matMul(tf.transpose(a, [0, 2, 1]), tf.broadcastTo(b, [2, 4, 5]), true, false).arraySync(), ref)
    close(tf.matMul(a, tf.broadcastTo(tf.transpose(b), [2, 5, 4]), false, true).arraySync(), ref)
    close(tf.matMul(tf.transpose(a, [0, 2, 1]), tf.broadcastTo(tf.transpose(b), [2, 5, 4]), true, true).arraySync(), ref)
    const x = tensor([3, 4, 5])
    const xv = x.arraySync() as number[][][]
    const sl = tf.slice(x, [1, 1, 2], [2, 2, 3]).arraySync() as number[][][]
    assert.deepStrictEqual(sl, [1, 2].map((i) => [1, 2].map((j) => [2, 3, 4].map((k) => xv[i]![j]![k]!))))
    const parts = tf.split(tf.reshape(x, [12, 5]), [1, 4], 1).map((t) => t.arraySync())
    assert.deepStrictEqual(parts[0], xv.flat().map((r) => [r[0]]))
  })

  it("sum over leading, middle, trailing and all axes equals the reference", () => {
    const x = tensor([3, 4, 5])
    const xv = x.arraySync() as number[][][]
    const s0 = tf.sum(x, 0).arraySync() as number[][]
    const s1 = tf.sum(x, 1, true).arraySync() as number[][][]
    const s02 = tf.sum(x, [0, 2]).arraySync() as number[]
    for (let j = 0; j < 4; j++) for (let k = 0; k < 5; k++) assert.closeTo(s0[j]![k]!, xv.reduce((a, m) => a + m[j]![k]!, 0), 1e-5)
    for (let i = 0; i < 3; i++) for (let k = 0; k < 5; k++) assert.closeTo(s1[i]![0]![k]!, xv[i]!.reduce((a, r) => a + r[k]!, 0), 1e-5)
    for (let j = 0; j < 4; j++) assert.closeTo(s02[j]!, xv.reduce((a, m) => a + m[j]!.reduce((b, v) => b + v, 0), 0), 1e-5)
    assert.closeTo(tf.sum(x).dataSync()[0]!, xv.flat(2).reduce((a, v) => a + v, 0), 1e-4)
    assert.deepStrictEqual(tf.sum(tf.tensor2d([[1, 2], [3, 4]], [2, 2], "int32"), 0).arraySync(), [4, 6])
  })
})
