/**
 * ONNX reward-model throughput: a bag-of-words-and-pairs classifier (vocab 64, D 128) written by
 * the project, scored by onnxruntime-node at batch 64 × sequence 64, against the same computation
 * in plain TS (BagOfWords.bagOfWordsForward) on this machine. Both include tokenization.
 */
import { Tokenizer } from "@odpo/core"
import { Effect } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { bagOfWordsForward, randomBagOfWords, writeBagOfWordsRewardModel } from "../packages/scorer/src/BagOfWords.ts"
import { openOnnxRewardModel } from "../packages/scorer/src/OnnxRewardModel.ts"
import { decodeRewardSpec, type OnnxSpec } from "../packages/scorer/src/RewardSpec.ts"
import type { BenchFigure } from "./run.ts"

const BATCH = 64
const SEQ = 64
const ROUNDS = 30

// 61 symbols + PAD/BOS/EOS = 64 ids
const tokenizer = new Tokenizer.CharTokenizer({ symbols: Array.from({ length: 61 }, (_, i) => String.fromCodePoint(0x100 + i)) })
const weights = randomBagOfWords({ vocabSize: 64, dim: 128, labels: 1, pairs: true, seed: 1, scale: 0.1 })

const rand = (() => {
  let s = 12345
  return () => ((s = (s * 1103515245 + 12345) >>> 0) / 4294967296)
})()
// BOS + 63 symbols = 64 tokens per row
const items = Array.from({ length: BATCH }, (_, i) => ({
  promptId: `p${i}`,
  promptText: "",
  completionText: Array.from({ length: SEQ - 1 }, () => tokenizer.spec.symbols[Math.floor(rand() * 61)]!).join(""),
  completionTokenIds: [] as number[],
  finishReason: "eos" as const
}))

const timePerRound = async (f: () => Promise<unknown> | unknown): Promise<number> => {
  for (let i = 0; i < 3; i++) await f() // warm-up
  const t0 = performance.now()
  for (let i = 0; i < ROUNDS; i++) await f()
  return (performance.now() - t0) / 1000 / ROUNDS
}

export default async (): Promise<ReadonlyArray<BenchFigure>> => {
  const path = join(mkdtempSync(join(tmpdir(), "odpo-bench-rm-")), "model.onnx")
  await Effect.runPromise(writeBagOfWordsRewardModel(path, { tokenizer, weights }))
  const figures = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const spec = (threads: number) => decodeRewardSpec({ type: "onnx", path, batchSize: BATCH, threads }) as Effect.Effect<OnnxSpec, never>
    const all = yield* openOnnxRewardModel(yield* spec(0))
    const one = yield* openOnnxRewardModel(yield* spec(1))
    const onnxAll = yield* Effect.promise(() => timePerRound(() => Effect.runPromise(all.score(items))))
    const onnx1 = yield* Effect.promise(() => timePerRound(() => Effect.runPromise(one.score(items))))
    const plain = yield* Effect.promise(() => timePerRound(() => bagOfWordsForward(weights, items.map((it) => [1, ...tokenizer.encode(it.completionText)]))))
    // same numbers both ways
    const a = yield* all.score(items)
    const b = bagOfWordsForward(weights, items.map((it) => [1, ...tokenizer.encode(it.completionText)]))
    const maxDiff = Math.max(...a.map((v, i) => Math.abs(v - b[i]![0]!)))
    return { onnxAll, onnx1, plain, maxDiff }
  })))
  const rate = (s: number) => BATCH / s
  return [
    { name: "onnx rollouts/s (batch 64 × seq 64, default threads)", value: rate(figures.onnxAll), unit: "rollouts/s" },
    { name: "onnx rollouts/s (intraOpNumThreads 1)", value: rate(figures.onnx1), unit: "rollouts/s" },
    { name: "plain TS rollouts/s (same model)", value: rate(figures.plain), unit: "rollouts/s" },
    { name: "onnx / plain TS speed", value: figures.plain / figures.onnxAll, unit: "×", note: `max |Δ| ${figures.maxDiff.toExponential(1)}` }
  ]
}
