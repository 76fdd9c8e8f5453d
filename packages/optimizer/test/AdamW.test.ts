// AdamW against a hand computation, global-norm clipping, and the learning-rate schedule.
import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs-core"
import { AdamW, clipByGlobalNorm, clipFactor, globalNorm, squaredNorms } from "../src/AdamW.ts"
import { learningRateAt } from "../src/Schedule.ts"

describe("AdamW", () => {
  it("the host path (cpu backend) takes bit-equal steps to the tensor path: decay, bias correction, clipping", () => {
    const shapes = [[5, 3], [3], [2, 4]]
    let seed = 7
    const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) - 0.5
    const start = shapes.map((s) => Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, rand))
    const make = () => shapes.map((s, i) => tf.variable(tf.tensor(start[i]!, s)))
    const [a, b] = [make(), make()]
    const o = { beta1: 0.9, beta2: 0.95, epsilon: 1e-8, weightDecay: 0.1 }
    const host = new AdamW(a, o, true)
    const tensors = new AdamW(b, o, false)
    assert.isTrue(host.onHost)
    assert.isFalse(tensors.onHost)
    for (let step = 0; step < 4; step++) {
      const grads = shapes.map((s) => tf.tensor(Float32Array.from({ length: s.reduce((x, y) => x * y, 1) }, rand), s))
      const clipped = clipByGlobalNorm(grads, globalNorm(grads), step % 2 === 1 ? 0.5 : 0)
      host.apply(clipped, 3e-3)
      tensors.apply(clipped, 3e-3)
      tf.dispose([...grads, ...(clipped !== grads ? clipped : [])])
    }
    a.forEach((x, i) => {
      assert.deepStrictEqual(x.dataSync(), b[i]!.dataSync())
      assert.notDeepEqual(Array.from(x.dataSync()), Array.from(start[i]!))
    })
    host.dispose(); tensors.dispose(); tf.dispose([...a, ...b])
  })

  it("two steps match the update written out by hand (decay on matrices only)", () => {
    const W = tf.variable(tf.tensor2d([[1, -2]]))
    const b = tf.variable(tf.tensor1d([0.5]))
    const o = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01 }
    const opt = new AdamW([W, b], o)
    const gs = [[[0.5, -0.1], [2]], [[-0.3, 0.4], [1]]] as const
    const lrs = [0.1, 0.05]
    // by hand, in float64
    let w = [1, -2], bb = [0.5]
    let mw = [0, 0], vw = [0, 0], mb = [0], vb = [0]
    gs.forEach(([gw, gb], k) => {
      const t = k + 1, lr = lrs[k]!
      const upd = (theta: number[], m: number[], v: number[], g: ReadonlyArray<number>, decay: boolean) =>
        theta.map((x, i) => {
          m[i] = 0.9 * m[i]! + 0.1 * g[i]!
          v[i] = 0.999 * v[i]! + 0.001 * g[i]! ** 2
          const mh = m[i]! / (1 - 0.9 ** t), vh = v[i]! / (1 - 0.999 ** t)
          return (decay ? x * (1 - lr * 0.01) : x) - (lr * mh) / (Math.sqrt(vh) + 1e-8)
        })
      w = upd(w, mw, vw, gw, true)
      bb = upd(bb, mb, vb, gb, false)
      const grads = [tf.tensor2d([gw as unknown as number[]]), tf.tensor1d(gb as unknown as number[])]
      opt.apply(grads, lr)
      tf.dispose(grads)
    })
    const gotW = W.dataSync(), gotB = b.dataSync()
    for (let i = 0; i < 2; i++) assert.closeTo(gotW[i]!, w[i]!, 1e-6)
    assert.closeTo(gotB[0]!, bb[0]!, 1e-6)
    // e.g. step 1 moves w₀ by lr·sign(g) = 0.1 (Adam's first step), plus decay 1·0.1·0.01
    assert.closeTo(w[0]!, 1 - 0.001 - 0.1 + (0.05 * 0.01 * -(1 - 0.001 - 0.1)) - 0.05 * ((0.9 * 0.05 - 0.03) / 0.19) / Math.sqrt((0.999 * 0.00025 + 0.00009) / (1 - 0.999 ** 2)), 1e-6)
    assert.strictEqual(opt.step, 2)
    opt.dispose(); W.dispose(); b.dispose()
  })
})

describe("clipping by global norm", () => {
  it("reports the pre-clip norm and scales to maxNorm only when above it", async () => {
    const g = [tf.tensor1d([3, 0]), tf.tensor2d([[0, 4]])]
    const norm = await globalNorm(g)
    assert.closeTo(norm, 5, 1e-6)
    const clipped = clipByGlobalNorm(g, norm, 1)
    assert.notStrictEqual(clipped, g)
    assert.closeTo(clipped[0]!.dataSync()[0]!, 3 / 5, 1e-6)
    assert.closeTo(clipped[1]!.dataSync()[1]!, 4 / 5, 1e-6)
    assert.closeTo(await globalNorm(clipped), 1, 1e-6)
    assert.strictEqual(clipByGlobalNorm(g, norm, 10), g)
    assert.strictEqual(clipByGlobalNorm(g, norm, 0), g) // 0 = off
    tf.dispose([...g, ...clipped])
  })

  it("clipping as AdamW's gradScale takes bit-equal steps to clipping the tensors first, on both paths", () => {
    const shapes = [[4, 3], [3]]
    let seed = 11
    const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) - 0.5
    const start = shapes.map((s) => Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, rand))
    const make = () => shapes.map((s, i) => tf.variable(tf.tensor(start[i]!, s)))
    const vars = [make(), make(), make()]
    const o = { beta1: 0.9, beta2: 0.95, epsilon: 1e-8, weightDecay: 0.1 }
    const [clipFirst, hostScaled, tensorScaled] = [new AdamW(vars[0]!, o, true), new AdamW(vars[1]!, o, true), new AdamW(vars[2]!, o, false)]
    for (let step = 0; step < 3; step++) {
      const grads = shapes.map((s) => tf.tensor(Float32Array.from({ length: s.reduce((x, y) => x * y, 1) }, () => 3 * rand()), s))
      const norm = globalNorm(grads)
      const factor = clipFactor(norm, 0.5)
      assert.isBelow(factor, 1)
      const clipped = clipByGlobalNorm(grads, norm, 0.5)
      clipFirst.apply(clipped, 1e-2)
      hostScaled.apply(grads, 1e-2, factor)
      tensorScaled.apply(grads, 1e-2, factor)
      tf.dispose([...grads, ...clipped])
    }
    vars[0]!.forEach((x, i) => {
      assert.deepStrictEqual(vars[1]![i]!.dataSync(), x.dataSync())
      assert.deepStrictEqual(vars[2]![i]!.dataSync(), x.dataSync())
    })
    assert.strictEqual(clipFactor(0.2, 1), 1)
    assert.strictEqual(clipFactor(5, 0), 1)
    assert.closeTo(clipFactor(4, 1), 1 / (4 + 1e-6), 1e-15)
    for (const x of [clipFirst, hostScaled, tensorScaled]) x.dispose()
    tf.dispose(vars.flat())
  })

  it("squared norms on the host equal tf.sum(tf.square(g)) bit for bit", () => {
    const g = tf.tensor2d(Float32Array.from({ length: 3000 }, (_, i) => Math.sin(i) * (1 + (i % 7))), [60, 50])
    const [host] = squaredNorms([g])
    const tensor = tf.sum(tf.square(g))
    assert.strictEqual(host!.dataSync()[0], tensor.dataSync()[0])
    assert.isAbove(host!.dataSync()[0]!, 1000)
    tf.dispose([g, host!, tensor])
  })
})

describe("schedule", () => {
  it("warms up linearly, then decays as asked", () => {
    const o = { learningRate: 1, warmupSteps: 4 }
    assert.deepStrictEqual([0, 1, 2, 3].map((s) => learningRateAt(s, 14, { ...o, schedule: "constant" })), [0.25, 0.5, 0.75, 1])
    assert.strictEqual(learningRateAt(10, 14, { ...o, schedule: "constant" }), 1)
    assert.closeTo(learningRateAt(9, 14, { ...o, schedule: "linear" }), 0.5, 1e-12)
    assert.closeTo(learningRateAt(9, 14, { ...o, schedule: "cosine" }), 0.5, 1e-12)
    assert.closeTo(learningRateAt(6, 14, { ...o, schedule: "cosine" }), 0.5 * (1 + Math.cos(Math.PI * 0.2)), 1e-12)
    assert.strictEqual(learningRateAt(0, 10, { learningRate: 0.3, warmupSteps: 0, schedule: "linear" }), 0.3)
  })
})
