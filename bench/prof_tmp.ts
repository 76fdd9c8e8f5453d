import * as tf from "@tensorflow/tfjs-core"
import "@tensorflow/tfjs-backend-cpu"
const { Gpt } = await import(process.env.FAST ? "./gpt_fast_tmp.ts" : "../packages/core/src/Gpt.ts")
await tf.setBackend("cpu")
const config = { vocabSize: 64, contextLength: 64, dModel: 128, nLayers: 4, nHeads: 4, dropout: 0 }
const B = 4, T = 64
const model = Gpt.init(config, 0)
const ids = tf.tensor2d(Int32Array.from({ length: B * T }, (_, i) => (i * 7) % 64), [B, T], "int32")
const targets = tf.oneHot(tf.reshape(tf.slice(ids, [0, 1], [B, T - 1]), [B * (T - 1)]), 64)
const loss = () => {
  const logits = tf.slice(model.forward(ids).logits, [0, 0, 0], [B, T - 1, 64])
  const logp = tf.logSoftmax(tf.reshape(logits, [B * (T - 1), 64]), -1)
  return tf.neg(tf.mean(tf.sum(tf.mul(logp, targets), -1))) as tf.Scalar
}
const mode = process.argv[2] ?? "train"
const f = () => { if (mode === "train") { const { value, grads } = tf.variableGrads(loss); value.dataSync(); tf.dispose([value, ...Object.values(grads)]) } else tf.tidy(() => loss().dataSync()) }
f()
const t0 = performance.now(); f(); console.log(mode, "ms", performance.now() - t0)
const info = await tf.profile(f)
const agg = new Map<string, number>()
for (const k of info.kernels) { const ms = await k.kernelTimeMs as number; const key = k.name + " " + JSON.stringify(k.inputShapes); agg.set(key, (agg.get(key) ?? 0) + ms) }
const byName = new Map<string, number>()
for (const k of info.kernels) byName.set(k.name, (byName.get(k.name) ?? 0) + (await k.kernelTimeMs as number))
console.log([...byName].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([k, v]) => `${v.toFixed(0)}\t${k}`).join("\n"))
console.log("---")
console.log([...agg].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([k, v]) => `${v.toFixed(0)}\t${k}`).join("\n"))
