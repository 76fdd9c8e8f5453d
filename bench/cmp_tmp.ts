import * as tf from "@tensorflow/tfjs-core"
import "@tensorflow/tfjs-backend-cpu"
const A = (await import("../packages/core/src/Gpt.ts")).Gpt
const Bm = (await import("./gpt_fast_tmp.ts")).Gpt
await tf.setBackend("cpu")
const config = { vocabSize: 64, contextLength: 64, dModel: 128, nLayers: 4, nHeads: 4, dropout: 0 }
const B = 8, T = 64
const ids = tf.tensor2d(Int32Array.from({ length: B * T }, (_, i) => (i * 7 + (i >> 3)) % 64), [B, T], "int32")
const targets = tf.oneHot(tf.reshape(tf.slice(ids, [0, 1], [B, T - 1]), [B * (T - 1)]), 64)
const mk = (model: any) => () => {
  const logits = tf.slice(model.forward(ids).logits, [0, 0, 0], [B, T - 1, 64])
  const logp = tf.logSoftmax(tf.reshape(logits, [B * (T - 1), 64]), -1)
  return tf.neg(tf.mean(tf.sum(tf.mul(logp, targets), -1))) as tf.Scalar
}
const ma = A.init(config, 0), mb = Bm.init(config, 0)
const la = mk(ma), lb = mk(mb)
// same numbers?
const ga = tf.variableGrads(la), gb = tf.variableGrads(lb)
console.log("loss", ga.value.dataSync()[0], gb.value.dataSync()[0])
let maxd = 0
for (const [n, v] of ma.params) { const a = ga.grads[v.name]!.dataSync(), b = gb.grads[mb.params.get(n)!.name]!.dataSync(); for (let i = 0; i < a.length; i++) maxd = Math.max(maxd, Math.abs(a[i]! - b[i]!)) }
console.log("max grad diff", maxd)
const step = (l: () => tf.Scalar) => { const t0 = performance.now(); const { value, grads } = tf.variableGrads(l); value.dataSync(); tf.dispose([value, ...Object.values(grads)]); return performance.now() - t0 }
const ta: number[] = [], tb: number[] = []
for (let r = 0; r < 4; r++) { ta.push(step(la)); tb.push(step(lb)) }
const med = (x: number[]) => x.sort((a, b) => a - b)[x.length >> 1]!
console.log("orig ms", ta.map(Math.round), "fast ms", tb.map(Math.round), "ratio", med(ta) / med(tb))
