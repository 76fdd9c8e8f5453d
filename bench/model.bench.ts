/**
 * Policy-model speed on the cpu backend: forward + backward tokens/s for the reference config
 * (V=64, D=128, L=4, H=4, T=64, batch 32; loss = −mean next-token log-prob), forward alone, and
 * the same training step in PyTorch (bench/torch_model.py) when python3 can import torch.
 */
import * as tf from "@tensorflow/tfjs-core"
import { Gpt } from "../packages/model/src/Gpt.ts"
import { type Blas, torch, unfairBlas } from "./peer.ts"
import type { BenchFigure } from "./run.ts"

const config = { vocabSize: 64, contextLength: 64, dModel: 128, nLayers: 4, nHeads: 4, dropout: 0 }
const B = 32
const T = 64
// One B=32 step takes tens of seconds on the pure-JS backend: a warm-up and two timed steps.
const STEPS = 2

const time = (f: () => void, steps: number, warmup: number): number => {
  for (let i = 0; i < warmup; i++) f()
  const t0 = performance.now()
  for (let i = 0; i < steps; i++) f()
  return (performance.now() - t0) / 1000 / steps
}

/** The same training step in PyTorch (bench/torch_model.py, 1 thread), with the BLAS it ran on. */
const torchTokensPerSecond = (): { tokensPerS: number; threads: number; blas?: Blas } | undefined => {
  const out = torch<{ tokens_per_s: number; threads: number }>("torch_model.py", ["--json", "--threads", "1", "--steps", String(STEPS)])
  return out && { tokensPerS: out.tokens_per_s, threads: out.threads, ...(out.blas ? { blas: out.blas } : {}) }
}

export default async (): Promise<ReadonlyArray<BenchFigure>> => {
  const model = Gpt.init(config, 0)
  const rand = (() => { let s = 1; return () => (s = (s * 16807) % 2147483647) / 2147483647 })()
  const ids = tf.tensor2d(Int32Array.from({ length: B * T }, () => Math.floor(rand() * config.vocabSize)), [B, T], "int32")
  const targets = tf.oneHot(tf.reshape(tf.slice(ids, [0, 1], [B, T - 1]), [B * (T - 1)]), config.vocabSize)
  // loss = −mean_t log p(x_{t+1} | x_≤t)
  const loss = () => {
    const logits = tf.slice(model.forward(ids).logits, [0, 0, 0], [B, T - 1, config.vocabSize])
    const logp = tf.logSoftmax(tf.reshape(logits, [B * (T - 1), config.vocabSize]), -1)
    return tf.neg(tf.mean(tf.sum(tf.mul(logp, targets), -1))) as tf.Scalar
  }
  const before = tf.memory().numTensors
  const train = time(() => {
    const { value, grads } = tf.variableGrads(loss)
    value.dataSync()
    tf.dispose([value, ...Object.values(grads)])
  }, STEPS, 1)
  const forward = time(() => tf.tidy(() => loss().dataSync()), STEPS, 0)
  if (tf.memory().numTensors !== before) throw new Error(`model bench leaked ${tf.memory().numTensors - before} tensors`)
  tf.dispose([ids, targets])
  model.dispose()

  const tokens = B * T
  const figures: BenchFigure[] = [
    { name: "train tokens/s (tfjs cpu)", value: tokens / train, unit: "tokens/s", note: `fwd+bwd, V=64 D=128 L=4 H=4 T=64 B=32, ${(train * 1000).toFixed(0)} ms/step` },
    { name: "forward tokens/s (tfjs cpu)", value: tokens / forward, unit: "tokens/s", note: `${(forward * 1000).toFixed(0)} ms/batch` },
    { name: "backward / forward time", value: (train - forward) / forward, unit: "×" }
  ]
  const peer = torchTokensPerSecond()
  if (peer) {
    const torch = peer
    const unfair = unfairBlas(torch.blas)
    figures.push(
      { name: "train tokens/s (torch)", value: torch.tokensPerS, unit: "tokens/s", note: `bench/torch_model.py, ${torch.threads} thread, ${torch.blas?.kind ?? "?"} BLAS` },
      unfair
        ? { name: "tfjs cpu / torch (train)", value: Number.NaN, unit: "×", note: unfair }
        : { name: "tfjs cpu / torch (train)", value: tokens / train / torch.tokensPerS, unit: "×", note: "same step, same machine; < 1 means tfjs is slower" }
    )
  }
  return figures
}
