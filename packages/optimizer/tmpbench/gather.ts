import * as tf from "@tensorflow/tfjs-core"
import { register } from "node:module"
const hook = `export async function resolve(spec, ctx, next) {
  try { return await next(spec, ctx) } catch (e) {
    if (spec.startsWith(".") && ctx.parentURL && ctx.parentURL.includes("tfjs-core/dist")) return next(spec + ".js", ctx)
    throw e
  }
}`
register("data:text/javascript," + encodeURIComponent(hook))
await import("../../core/src/index.ts")
const W = tf.variable(tf.randomNormal([64, 128]))
const ids = tf.tensor1d(Array.from({ length: 2048 }, (_, i) => (i * 7) % 64), "int32")
const R = tf.randomNormal([2048, 128])
const time = (label: string, f: () => tf.Scalar) => {
  const t0 = performance.now()
  for (let k = 0; k < 3; k++) { const { value, grads } = tf.variableGrads(f, [W]); value.dataSync(); tf.dispose([value, ...Object.values(grads)]) }
  console.log(label, ((performance.now() - t0) / 3000).toFixed(3), "s/iter")
}
time("gather fwd+bwd", () => tf.sum(tf.mul(tf.gather(W, ids), R)) as tf.Scalar)
time("oneHot·W fwd+bwd", () => tf.sum(tf.mul(tf.matMul(tf.oneHot(ids, 64), W), R)) as tf.Scalar)
const a = tf.variableGrads(() => tf.sum(tf.mul(tf.gather(W, ids), R)) as tf.Scalar, [W]).grads[W.name]!
const b = tf.variableGrads(() => tf.sum(tf.mul(tf.matMul(tf.oneHot(ids, 64), W), R)) as tf.Scalar, [W]).grads[W.name]!
console.log("max |Δgrad|", tf.max(tf.abs(tf.sub(a, b))).dataSync()[0])
