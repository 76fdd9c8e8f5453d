/**
 * AdamW's host update of every GPT-2-small parameter (the onnx engine's and tfjs cpu's DPO step
 * ends with it; 22 % of the onnx step at that size in the profile): the WebAssembly SIMD kernel
 * (packages/optimizer/src/adamw.wat) against the JavaScript loop it replaced, the same bit-equal
 * update (packages/optimizer/test/AdamWKernel.test.ts); best of 3 after a warm-up, decay and
 * clipping on, the host copies and tfjs's assign included on both sides.
 */
import * as tf from "@tensorflow/tfjs-core"
import { load } from "./peer.ts"
import type { BenchFigure } from "./run.ts"
import { gpt2Small } from "./shapes.ts"

export default async (): Promise<ReadonlyArray<BenchFigure>> => {
  const { Architectures } = await import("@odpo/model")
  const { AdamW } = await import("@odpo/optimizer")
  const model = Architectures.init(gpt2Small.config, 0)
  const variables = model.variables()
  const grads = variables.map((v) => tf.randomNormal(v.shape, 0, 1e-3, "float32", 1))
  const params = variables.reduce((a, v) => a + v.size, 0)
  const best = (simd: boolean) => {
    const opt = new AdamW.AdamW(variables, { beta1: 0.9, beta2: 0.95, epsilon: 1e-8, weightDecay: 0.1 }, true, simd)
    opt.apply(grads, 1e-4, 0.9)
    let ms = Infinity
    for (let k = 0; k < 3; k++) {
      const t = performance.now()
      opt.apply(grads, 1e-4, 0.9)
      ms = Math.min(ms, performance.now() - t)
    }
    opt.dispose()
    return ms
  }
  const loadNow = load()
  const [simd, loop] = [best(true), best(false)]
  tf.dispose(grads)
  model.dispose()
  const what = `${(params / 1e6).toFixed(1)} M parameters (GPT-2 small), best of 3; ${loadNow}`
  return [
    { name: "AdamW update, WebAssembly SIMD", value: simd, unit: "ms", note: what },
    { name: "AdamW update, JavaScript loop", value: loop, unit: "ms", note: what },
    { name: "AdamW update, loop / SIMD", value: loop / simd, unit: "×", note: "the same bit-equal update, same process, back to back" }
  ]
}
