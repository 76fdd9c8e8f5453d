import * as tf from "@tensorflow/tfjs-core"
import { register } from "node:module"
const hook = `export async function resolve(spec, ctx, next) {
  try { return await next(spec, ctx) } catch (e) {
    if (spec.startsWith(".") && ctx.parentURL && ctx.parentURL.includes("tfjs-core/dist")) return next(spec + ".js", ctx)
    throw e
  }
}`
register("data:text/javascript," + encodeURIComponent(hook))
const { Gpt, LogProbs } = await import("../../core/src/index.ts")
const V = 64, D = 128, L = 4, H = 4, T = 64
const model = Gpt.Gpt.init({ vocabSize: V, contextLength: T, dModel: D, nLayers: L, nHeads: H, dropout: 0 }, 0)
const rand = Gpt.mulberry32(1)
const tokens = (n: number) => Array.from({ length: n }, () => 3 + Math.floor(rand() * (V - 3)))
const seqs = Array.from({ length: 32 }, () => ({ promptTokenIds: tokens(16), completionTokenIds: tokens(48) }))
const batch = LogProbs.makeBatch(seqs, 0, T)
const time = (label: string, f: () => void) => { const t0 = performance.now(); f(); console.log(label, ((performance.now() - t0) / 1000).toFixed(2), "s") }
time("forward logits only", () => tf.tidy(() => model.forward(batch.ids, { keyMask: batch.keyMask }).logits.dataSync()))
time("forward logits only (no keyMask)", () => tf.tidy(() => model.forward(batch.ids).logits.dataSync()))
time("sequenceLogProbs fwd", () => tf.tidy(() => LogProbs.sequenceLogProbs(model, batch).dataSync()))
time("fwd+bwd", () => { const { value, grads } = tf.variableGrads(() => tf.sum(LogProbs.sequenceLogProbs(model, batch)) as tf.Scalar); value.dataSync(); tf.dispose([value, ...Object.values(grads)]) })
const prof = await tf.profile(() => { const { value, grads } = tf.variableGrads(() => tf.sum(LogProbs.sequenceLogProbs(model, batch)) as tf.Scalar); value.dataSync(); tf.dispose([value, ...Object.values(grads)]) })
const agg = new Map<string, number>()
for (const k of prof.kernels) agg.set(k.name, (agg.get(k.name) ?? 0) + (k.kernelTimeMs as number))
console.log([...agg.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([n, t]) => `${n} ${(t / 1000).toFixed(2)}s`).join("\n"))
