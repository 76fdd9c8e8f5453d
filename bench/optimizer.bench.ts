/**
 * DPO training throughput on the reference model (V=64, D=128, L=4, H=4, T=64, 16 pairs a step:
 * one forward/backward over 32 sequences + AdamW), in tokens/s, against the same step in
 * PyTorch (bench/torch_dpo.py) when a python3 with torch is on this machine.
 */
import * as tf from "@tensorflow/tfjs-core"
import { type Domain, Seeds } from "@odpo/core"
import { register } from "node:module"
import { type Blas, torch, unfairBlas } from "./peer.ts"
import type { BenchFigure } from "./run.ts"

// As in model.bench.ts: under tsx, tfjs-core's register_all_gradients.js imports "./gradients"
// without an extension, which Node's ESM loader refuses; retry such imports with ".js". The
// optimizer modules are imported after the hook is in place.
const hook = `export async function resolve(spec, ctx, next) {
  try { return await next(spec, ctx) } catch (e) {
    if (spec.startsWith(".") && ctx.parentURL && ctx.parentURL.includes("tfjs-core/dist")) return next(spec + ".js", ctx)
    throw e
  }
}`
register("data:text/javascript," + encodeURIComponent(hook))

const V = 64, D = 128, L = 4, H = 4, T = 64, PAIRS = 16, PROMPT = 16
const STEPS = 3

/** The same step in PyTorch (bench/torch_dpo.py), with the BLAS it ran on. */
const torchFigure = (): { tokensPerS: number; blas?: Blas } | undefined => {
  const out = torch<{ tokens_per_second: number }>("torch_dpo.py", ["--steps", "5"])
  return out && { tokensPerS: out.tokens_per_second, ...(out.blas ? { blas: out.blas } : {}) }
}

export default async (): Promise<ReadonlyArray<BenchFigure>> => {
  const { Gpt, TfjsPolicyEngine } = await import("@odpo/model")
  const { AdamW, Objectives, TrainLoop } = await import("@odpo/optimizer")
  const { Effect } = await import("effect")
  const model = Gpt.Gpt.init({ vocabSize: V, contextLength: T, dModel: D, nLayers: L, nHeads: H, dropout: 0 }, 0)
  const rand = Seeds.mulberry32(1)
  const tokens = (n: number) => Array.from({ length: n }, () => 3 + Math.floor(rand() * (V - 3)))
  const seq = (): Domain.Sequence => ({ promptTokenIds: tokens(PROMPT), completionTokenIds: tokens(T - PROMPT) })
  const pairs = Array.from({ length: PAIRS }, (): Domain.TrainingPair => ({ chosen: seq(), rejected: seq(), refChosenLogp: -200, refRejectedLogp: -200 }))
  const loss = { type: "sigmoid", beta: 0.1, labelSmoothing: 0, simpoGamma: 1, rdpoAlpha: 0, ktoLambdaD: 1, ktoLambdaU: 1, ktoDesirableDrop: 0, sftWeight: 0, klMode: "reward", ppoClipEpsilon: 0.2 } as const
  const opt = new AdamW.AdamW(model.variables(), { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 })
  const gradients = TrainLoop.policyGradients(TfjsPolicyEngine.tfjsPolicyEngine, model, 0, Objectives.objectives.sigmoid(loss))
  const step = async () => {
    const { grads } = await Effect.runPromise(TrainLoop.stepGradients(gradients, [pairs], 0))
    opt.apply(grads, 1e-4)
    tf.dispose(grads)
  }
  await step() // warm-up
  const start = performance.now()
  for (let i = 0; i < STEPS; i++) await step()
  const seconds = (performance.now() - start) / 1000 / STEPS
  opt.dispose()
  model.dispose()
  const tfjs = (2 * PAIRS * T) / seconds
  const figures: Array<BenchFigure> = [
    { name: "dpo_train_tokens_per_s", value: tfjs, unit: "tok/s", note: `tfjs ${tf.getBackend()}, ${(seconds * 1000).toFixed(0)} ms/step of 2×${PAIRS}×${T} tokens` }
  ]
  const peer = torchFigure()
  if (peer !== undefined) {
    const unfair = unfairBlas(peer.blas)
    figures.push(
      { name: "torch_dpo_train_tokens_per_s", value: peer.tokensPerS, unit: "tok/s", note: `bench/torch_dpo.py, same step in PyTorch, ${peer.blas?.kind ?? "?"} BLAS` },
      unfair
        ? { name: "tfjs_over_torch", value: Number.NaN, unit: "ratio", note: unfair }
        : { name: "tfjs_over_torch", value: tfjs / peer.tokensPerS, unit: "ratio", note: "tfjs tokens/s ÷ PyTorch tokens/s" }
    )
  }
  return figures
}
