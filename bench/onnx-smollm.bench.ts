/**
 * The onnx engine against PyTorch 1.13 (OpenBLAS) at SmolLM2-135M's shape (a Llama: V 49152,
 * D 576, 30 layers, 9 heads / 3 KV heads, SwiGLU 1536, tied; bench/shapes.ts), beside GPT-2
 * small's (onnx-gpt2.bench.ts): the masked log-prob forward over 8 sequences of 128 tokens
 * (bench/torch_model.py --arch llama), sampling with the KV cache through the real sampler
 * (bench/torch_sample.py --arch llama, the same prompts), and the DPO step over 4 pairs (forward,
 * VJP, clip, AdamW; bench/torch_dpo.py --arch llama) in a process of its own on each side, with
 * its peak RSS (bench/dpo-rss.ts, ru_maxrss). Engine and peer back to back in each round
 * (`--repeat N`), 2 threads each; the GFLOP/s each side reaches in model FLOPs beside
 * onnxruntime's own MatMul at the model's sizes; and where the engine's DPO step spends its time.
 */
import { Architectures, Onnx } from "@odpo/model"
import { spawnSync } from "node:child_process"
import { loadavg } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import * as OnnxEngine from "../packages/sampler/src/OnnxEngine.ts"
import { ortMatMul } from "./onnx-gpt2.bench.ts"
import { forwardLogps, sampling, type SamplingWorkload } from "./onnx.bench.ts"
import { addRound, type Blas, comparison, type Measured, measured, median, range, rounds, torch } from "./peer.ts"
import { profileDpoStep } from "./profile.ts"
import type { BenchFigure } from "./run.ts"
import { forwardFlops, smolLm2 as shape, torchShape } from "./shapes.ts"

const THREADS = 2
const here = dirname(fileURLToPath(import.meta.url))
/** 8 prompts × 4 samples × 32 new tokens: 1,024 sampled tokens, one batch (a 256-row batch is ~3 minutes a side here). */
const SAMPLING: SamplingWorkload = { prompts: 8, samples: 4, newTokens: 32 }

/** The engine's DPO step in a fresh process (bench/dpo-rss.ts): its rate and peak RSS. */
const dpoInChild = (): { best: number; mean: number; maxRssMb: number } => {
  const r = spawnSync(process.execPath, [...process.execArgv, join(here, "dpo-rss.ts"), "smollm2-135m", String(THREADS)], { encoding: "utf8" })
  if (r.status !== 0) throw new Error(`bench/dpo-rss.ts failed (${r.status}): ${r.stderr.slice(-2000)}`)
  return JSON.parse(r.stdout.trim().split("\n").pop()!)
}

export default async (): Promise<ReadonlyArray<BenchFigure>> => {
  const { config, T } = shape
  const weights = Architectures.entryOf(config).initialParameters(config, 0)
  const model = { config, weights }
  const [forward, sample, dpo] = [measured(), measured(), measured()]
  const rss: Array<{ ours: number; torch?: number }> = []
  const c = config as { nKvHeads: number; intermediateSize: number }
  for (let round = 0; round < rounds(); round++) {
    const ours = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const sessions = yield* Onnx.OnnxSessions.make({ provider: "cpu", threads: THREADS })
      const decode = yield* OnnxEngine.decodeSessions(sessions, config)
      return { forward: yield* forwardLogps(sessions, model, shape), sample: yield* sampling(decode, model, SAMPLING) }
    })))
    const oursDpo = dpoInChild()
    const loadNow = loadavg()[0]!
    const torchForward = torch<{ best_tokens_per_s: number }>("torch_model.py", [
      "--forward", "--json", "--threads", String(THREADS), "--steps", String(shape.forwardReps), ...torchShape(shape, shape.forwardBatch)
    ])
    const torchSample = torch<{ kv_best_batch_tokens_per_s: number }>("torch_sample.py", [
      "--json", "--threads", String(THREADS), "--prompts", String(SAMPLING.prompts), "--samples", String(SAMPLING.samples), "--new", String(SAMPLING.newTokens),
      "--arch", "llama", "--shape", [config.vocabSize, config.dModel, config.nLayers, config.nHeads, c.nKvHeads, c.intermediateSize].join(",")
    ])
    const torchDpo = torch<{ best_tokens_per_second: number; peak_rss_mb: number }>("torch_dpo.py", [
      "--steps", String(shape.dpoReps), "--threads", String(THREADS), ...torchShape(shape, shape.pairs)
    ])
    const add = (m: Measured, o: number, peer: { blas?: Blas } | undefined, best: number | undefined) => addRound(m, o, loadNow, peer, best)
    add(forward, ours.forward.best, torchForward, torchForward?.best_tokens_per_s)
    add(sample, ours.sample.best, torchSample, torchSample?.kv_best_batch_tokens_per_s)
    add(dpo, oursDpo.best, torchDpo, torchDpo?.best_tokens_per_second)
    rss.push({ ours: oursDpo.maxRssMb, ...(torchDpo ? { torch: torchDpo.peak_rss_mb } : {}) })
  }
  const perToken = forwardFlops(shape, 1) / T
  const gflops = (tokensPerS: number, passes: number) => (tokensPerS * perToken * passes) / 1e9
  const N = shape.forwardBatch * T
  const mlp = await ortMatMul(N, config.dModel, c.intermediateSize, THREADS)
  const head = await ortMatMul(N, config.dModel, config.vocabSize, THREADS)
  const name = shape.name
  const sizes = `V ${config.vocabSize}, D ${config.dModel}, ${config.nLayers} layers, 9/3 heads, I ${c.intermediateSize}, T ${T}`
  const oursRss = median(rss.map((r) => r.ours))
  const torchRss = rss.every((r) => r.torch !== undefined) ? median(rss.map((r) => r.torch!)) : undefined
  return [
    ...comparison(`${name} log-prob forward`, forward, "torch_model.py --forward --arch llama", 1.5).map((f, i) =>
      i === 0 ? { ...f, note: `${sizes}, ${shape.forwardBatch} sequences, best of ${shape.forwardReps}; ${THREADS} threads; ${f.note}` } : f
    ),
    ...comparison(`${name} sampling`, sample, "torch_sample.py --json --arch llama", 1.5).map((f, i) =>
      i === 0
        ? { ...f, note: `real sampler, ${SAMPLING.prompts} prompts × ${SAMPLING.samples} × ${SAMPLING.newTokens} tokens, KV cache (3 KV heads), one batch; ${THREADS} threads; ${f.note}` }
        : f
    ),
    ...comparison(`${name} DPO train step`, dpo, "torch_dpo.py --arch llama", 1).map((f, i) =>
      i === 0 ? { ...f, note: `${sizes}, ${shape.pairs} pairs: train forward, loss (tfjs), VJP, norm, AdamW with clipping (host); best of ${shape.dpoReps}; own process; ${f.note}` } : f
    ),
    { name: `${name} DPO step peak RSS, onnx`, value: oursRss, unit: "MB", note: `bench/dpo-rss.ts: the step's own node process (maxRSS), ${range(rss.map((r) => r.ours), 0)}` },
    ...(torchRss !== undefined
      ? [
        { name: `${name} DPO step peak RSS, torch`, value: torchRss, unit: "MB", note: "torch_dpo.py's ru_maxrss" },
        { name: `${name} DPO step peak RSS, onnx / torch`, value: oursRss / torchRss, unit: "×", note: "target ≤ 2×" }
      ]
      : []),
    { name: `${name} log-prob forward, onnx GFLOP/s`, value: gflops(median(forward.ours), 1), unit: "GFLOP/s", note: `matmul FLOPs of the forward (${range(forward.ours.map((r) => gflops(r, 1)), 1)})` },
    ...(forward.peer.length > 0 ? [{ name: `${name} log-prob forward, torch GFLOP/s`, value: gflops(median(forward.peer), 1), unit: "GFLOP/s", note: "same FLOPs" }] : []),
    { name: `${name} DPO train step, onnx GFLOP/s`, value: gflops(median(dpo.ours), 3), unit: "GFLOP/s", note: "model FLOPs: forward + backward (2× forward)" },
    ...(dpo.peer.length > 0 ? [{ name: `${name} DPO train step, torch GFLOP/s`, value: gflops(median(dpo.peer), 3), unit: "GFLOP/s", note: "model FLOPs: forward + backward (2× forward)" }] : []),
    { name: `onnxruntime MatMul [${N}, ${config.dModel}] × [${config.dModel}, ${c.intermediateSize}]`, value: mlp, unit: "GFLOP/s", note: `SwiGLU's gate/up at this shape, ${THREADS} threads, best of 3: the machine's limit` },
    { name: `onnxruntime MatMul [${N}, ${config.dModel}] × [${config.dModel}, ${config.vocabSize}]`, value: head, unit: "GFLOP/s", note: "the tied head" },
    ...(await profileDpoStep(shape))
  ]
}
