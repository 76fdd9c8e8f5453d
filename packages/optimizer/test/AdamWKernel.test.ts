// AdamW's WebAssembly SIMD update: the committed bytes are adamw.wat's, and it takes bit-equal
// steps to the JavaScript loop (and so to tfjs's tensor ops: AdamW.test.ts), tails and all.
import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs-core"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import wabtInit from "wabt"
import { AdamW, clipFactor, globalNorm } from "../src/AdamW.ts"
import { adamwWasmBase64, WasmAdamW } from "../src/AdamWKernel.ts"

describe("AdamW in WebAssembly SIMD", () => {
  it("the committed bytes are wat2wasm's of adamw.wat", async () => {
    const wabt = await wabtInit()
    const source = readFileSync(join(import.meta.dirname, "../src/adamw.wat"), "utf8")
    const parsed = wabt.parseWat("adamw.wat", source, { simd: true })
    parsed.validate()
    const { buffer } = parsed.toBinary({ log: false, write_debug_names: false })
    assert.strictEqual(Buffer.from(buffer).toString("base64"), adamwWasmBase64)
  })

  it("steps bit-equal to the JavaScript loop: lengths off the 4-lane grid, decay, clipping, tiny and huge values", () => {
    // sizes with every remainder mod 4, a vector (not decayed) and matrices (decayed)
    const shapes = [[37, 11], [3], [1, 1], [129], [6, 7], [2, 2]]
    let seed = 11
    const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) - 0.5
    // magnitudes from subnormal to large, so every rounding path is met
    const spread = () => rand() * 10 ** Math.floor(rand() * 60 - 20)
    const start = shapes.map((s) => Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, spread))
    const make = () => shapes.map((s, i) => tf.variable(tf.tensor(start[i]!, s)))
    const [a, b] = [make(), make()]
    const o = { beta1: 0.9, beta2: 0.95, epsilon: 1e-8, weightDecay: 0.1 }
    const simd = new AdamW(a, o, true, true)
    const loop = new AdamW(b, o, true, false)
    assert.isTrue(simd.simd)
    assert.isFalse(loop.simd)
    for (let step = 0; step < 5; step++) {
      const grads = shapes.map((s) => tf.tensor(Float32Array.from({ length: s.reduce((x, y) => x * y, 1) }, spread), s))
      const scale = step % 2 === 1 ? clipFactor(globalNorm(grads), 0.5) : 1
      simd.apply(grads, 3e-3 * (step + 1), scale)
      loop.apply(grads, 3e-3 * (step + 1), scale)
      tf.dispose(grads)
    }
    let changed = 0
    a.forEach((x, i) => {
      const [got, want] = [x.dataSync(), b[i]!.dataSync()]
      for (let j = 0; j < got.length; j++) {
        if (!Object.is(got[j], want[j])) assert.fail(`parameter ${i} [${j}]: simd ${got[j]} ≠ loop ${want[j]}`)
        if (got[j] !== start[i]![j]) changed++
      }
    })
    assert.isAbove(changed, 500)
    simd.dispose(); loop.dispose(); tf.dispose([...a, ...b])
  })

  it("keeps each parameter's moments apart and refuses a gradient of the wrong size", () => {
    const kernel = WasmAdamW.create([5, 3])!
    const s = { scale: 1, b1: Math.fround(0.9), c1: Math.fround(0.1), b2: Math.fround(0.99), c2: Math.fround(0.01), d1: Math.fround(0.1), d2: Math.fround(0.01), eps: Math.fround(1e-8), rate: Math.fround(0.1) }
    const next = kernel.update(1, Float32Array.of(1, -2, 4), Float32Array.of(0, 0, 0), 1, s)
    // m = 0.1·g, v = 0.01·g², m/d1 = g, √(v/d2) = |g|: each value moves by −rate·sign(g)
    assert.deepStrictEqual(Array.from(next), [-0.1, 0.1, -0.1].map(Math.fround))
    assert.deepStrictEqual(Array.from(kernel.moments(1).m), [0.1, -0.2, 0.4].map(Math.fround))
    assert.deepStrictEqual(Array.from(kernel.moments(0).m), [0, 0, 0, 0, 0])
    assert.throws(() => kernel.update(0, new Float32Array(4), new Float32Array(5), 1, s), /parameter 0 has 5 values, its gradient 4/)
  })
})
