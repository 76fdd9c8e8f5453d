/**
 * Policy-model speed on the cpu backend: forward + backward tokens/s for the reference config
 * (V=64, D=128, L=4, H=4, T=64, batch 32; loss = −mean next-token log-prob), forward alone, and
 * the same training step in PyTorch (bench/torch_model.py) when python3 can import torch.
 */
import * as tf from "@tensorflow/tfjs-core"
import { execFileSync } from "node:child_process"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { Gpt } from "../packages/model/src/Gpt.ts"
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

const torchTokensPerSecond = (): { tokensPerS: number; threads: number } | undefined => {
  const script = join(dirname(fileURLToPath(import.meta.url)), "torch_model.py")
  for (const python of ["/usr/bin/python3", "python3"]) {
    try {
      const out = execFileSync(python, [script, "--json", "--threads", "1", "--steps", String(STEPS)], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] })
      const j = JSON.parse(out.trim().split("\n").pop()!) as { tokens_per_s: number; threads: number }
      return { tokensPerS: j.tokens_per_s, threads: j.threads }
    } catch {
      // no python or no torch: leave the comparison out
    }
  }
  return undefined
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
  const torch = torchTokensPerSecond()
  if (torch) {
    figures.push(
      { name: "train tokens/s (torch)", value: torch.tokensPerS, unit: "tokens/s", note: `bench/torch_model.py, ${torch.threads} thread` },
      { name: "tfjs cpu / torch (train)", value: tokens / train / torch.tokensPerS, unit: "×", note: "same step, same machine; < 1 means tfjs is slower" }
    )
  }
  return figures
}
