/**
 * The policy on tfjs's webgpu backend (Dawn): training tokens/s on the reference model (V=64 D=128
 * L=4 H=4 T=64 B=32, −mean next-token log-prob) and, on a hardware adapter, on the ~90 M one
 * (V=8192 D=768 L=12 H=12 T=256 B=8); decoding tokens/s with the real sampler (KV cache,
 * temperature 1, seeded draws on the host: 512 rows × 32 new tokens); and the wall time of a full
 * online bandit round (`odpo run experiments/bandit/online.json --backend webgpu`, 2 rounds, from
 * stage_times); on a hardware adapter also a Llama at SmolLM2-135M's shape (train at T 128 B 8, and
 * decoding 512 rows × 32 with its 3-KV-head cache). Runs on a hardware adapter; `pnpm bench --backend webgpu` runs it on any adapter
 * (llvmpipe: correct, slow, smaller sizes). The PyTorch CUDA peers are bench/torch_*.py --device
 * cuda, run beside it by scripts/gpu/measure.sh.
 */
import { Tokenizer } from "@odpo/core"
import { Architectures, type CausalLm, type Gpt, type Llama, WebGpu, WebGpuKernels } from "@odpo/model"
import * as tf from "@tensorflow/tfjs-core"
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { defaultMaxBatchRows, requestRows } from "../packages/sampler/src/Sampling.ts"
import * as TfjsEngine from "../packages/sampler/src/TfjsEngine.ts"
import type { BenchFigure } from "./run.ts"
import { reference as referenceShape, smolLm2 as smolLm2Shape } from "./shapes.ts"

const reference = referenceShape.config
const large: Gpt.GptConfig = { vocabSize: 8192, contextLength: 256, dModel: 768, nLayers: 12, nHeads: 12, dropout: 0 }

/** SmolLM2-135M's shape (bench/shapes.ts), trained at T 128 and decoded as the reference model is. */
const smolLm2 = smolLm2Shape.config as Llama.LlamaConfig
/** A tiny Llama that runs the same code paths on a software adapter (ODPO_BENCH_WEBGPU_LLAMA=1). */
const tinyLlama: Llama.LlamaConfig = { ...smolLm2, vocabSize: 256, dModel: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 16, intermediateSize: 128 }

/** Seconds per training step (after one warm-up) of `config` at batch B and T tokens (default: its context). */
const trainStep = async (config: CausalLm.ModelConfig, B: number, steps: number, T = config.contextLength) => {
  const V = config.vocabSize
  const model = Architectures.init(config, 0)
  const ids = tf.tensor2d(Int32Array.from({ length: B * T }, (_, i) => (i * 7919) % V), [B, T], "int32")
  const targets = tf.oneHot(tf.reshape(tf.slice(ids, [0, 1], [B, T - 1]), [B * (T - 1)]), V)
  const loss = () => {
    const logits = tf.slice(model.forward(ids).logits, [0, 0, 0], [B, T - 1, V])
    return tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(tf.reshape(logits, [B * (T - 1), V]), -1), targets), -1))) as tf.Scalar
  }
  const step = async () => {
    const { value, grads } = tf.variableGrads(loss)
    await value.data() // one read-back per step, as the trainer does
    tf.dispose([value, ...Object.values(grads)])
  }
  await step()
  const before = tf.memory().numTensors
  const t0 = performance.now()
  for (let i = 0; i < steps; i++) await step()
  const seconds = (performance.now() - t0) / 1000 / steps
  if (tf.memory().numTensors !== before) throw new Error(`webgpu train bench leaked ${tf.memory().numTensors - before} tensors`)
  tf.dispose([ids, targets])
  model.dispose()
  return { seconds, tokensPerS: (B * T) / seconds }
}

/**
 * Decoding with the real sampler: prompts × samples rows, `newTokens` each (no EOS), batches of
 * `batch` rows. The sampler reads only the tokenizer's pad id and stop ids, so a small character
 * tokenizer serves any vocabulary (prompt ids stay below 64).
 */
const decode = async (prompts: number, samples: number, newTokens: number, batch: number, config: CausalLm.ModelConfig = reference) => {
  const chars = Array.from({ length: 61 }, (_, i) => String.fromCodePoint(0x100 + i))
  const tokenizer: Tokenizer.Tokenizer = { ...new Tokenizer.CharTokenizer({ symbols: chars }), eosId: null, vocabSize: config.vocabSize }
  const model = Architectures.init(config, 0)
  const params = { temperature: 1, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, maxNewTokens: newTokens, stop: [] }
  const promptList = Array.from({ length: prompts }, (_, i) => ({
    promptId: `p${i}`,
    tokenIds: [1, ...Array.from({ length: 4 + (i % 8) }, (_, t) => 3 + ((i * 7 + t * 13) % 61))]
  }))
  const rows = requestRows({ policy: { id: "bench", path: "" }, prompts: promptList, n: samples, params, seed: 0 })
  await TfjsEngine.generateRows(model, tokenizer, { rows: rows.slice(0, 8), params }) // warm-up: compile the shaders
  const t0 = performance.now()
  let tokens = 0
  for (let i = 0; i < rows.length; i += batch) {
    for (const r of await TfjsEngine.generateRows(model, tokenizer, { rows: rows.slice(i, i + batch), params })) tokens += r.tokenIds.length
  }
  const seconds = (performance.now() - t0) / 1000
  model.dispose()
  return { tokens, seconds, tokensPerS: tokens / seconds }
}

/** The `odpo` command: the bundle's sibling odpo.mjs (GPU pack), else the source checkout's bin. */
const odpoCommand = (): Array<string> => {
  const bundled = join(dirname(resolve(process.argv[1] ?? "")), "odpo.mjs")
  if (existsSync(bundled)) return [bundled]
  return [resolve("packages/cli/bin/odpo.js")]
}

/** Mean wall seconds of rounds ≥ 1 (sample → score → pair → train → eval) of a 2-round online bandit run. */
const banditRound = (config: string) => {
  const dir = mkdtempSync(join(tmpdir(), "odpo-bench-webgpu-"))
  const cfg = JSON.parse(readFileSync(config, "utf8")) as Record<string, unknown>
  const file = join(dir, "bandit.json")
  writeFileSync(file, JSON.stringify({ ...cfg, rounds: 2 }))
  const db = join(dir, "runs.duckdb")
  const odpo = odpoCommand()
  const run = spawnSync(process.execPath, [...odpo, "run", file, "--db", db, "--backend", "webgpu"], { encoding: "utf8" })
  if (run.status !== 0) throw new Error(`odpo run failed: ${run.stderr.split("\n").filter(Boolean).slice(-3).join(" | ")}`)
  const q = spawnSync(process.execPath, [...odpo, "query", "SELECT round, sum(wall_s) AS s FROM stage_times WHERE round >= 1 GROUP BY round ORDER BY round", "--db", db, "--format", "json"], { encoding: "utf8" })
  const rows = JSON.parse(q.stdout) as Array<{ round: number; s: number }>
  if (rows.length === 0) throw new Error(`no stage_times for rounds ≥ 1: ${q.stderr}`)
  return rows.reduce((a, r) => a + Number(r.s), 0) / rows.length
}

export default async (): Promise<ReadonlyArray<BenchFigure>> => {
  const anyAdapter = process.env["ODPO_BENCH_WEBGPU"] !== undefined
  const activated = await WebGpu.activate(anyAdapter).catch((e: Error) => e)
  if (activated instanceof Error) {
    console.log(`  skipped: ${activated.message}${anyAdapter ? "" : " (pnpm bench --backend webgpu runs on a software adapter too)"}`)
    await tf.setBackend("cpu")
    return []
  }
  const { adapter } = activated
  const hw = !adapter.software
  const on = `${adapter.device || "adapter"}${hw ? "" : ", software"}`
  const figures: Array<BenchFigure> = []
  const train = await trainStep(reference, 32, hw ? 10 : 2)
  figures.push({ name: "train tokens/s (webgpu)", value: train.tokensPerS, unit: "tok/s", note: `V=64 D=128 L=4 H=4 T=64 B=32, ${(train.seconds * 1000).toFixed(0)} ms/step; ${on}` })
  if (hw) {
    // the fused GELU kernel's worth: the same step with the composite ops
    WebGpuKernels.useFusedKernels(false)
    const composite = await trainStep(reference, 32, 10)
    WebGpuKernels.useFusedKernels(true)
    figures.push({ name: "fused GELU speed-up (webgpu train)", value: composite.seconds / train.seconds, unit: "×", note: `${(composite.seconds * 1000).toFixed(0)} ms/step with tfjs's composite ops; ${on}` })
    const big = await trainStep(large, 8, 3)
    figures.push({ name: "train tokens/s, ~90 M (webgpu)", value: big.tokensPerS, unit: "tok/s", note: `V=8192 D=768 L=12 H=12 T=256 B=8, ${(big.seconds * 1000).toFixed(0)} ms/step; ${on}` })
  }
  // 512 rows × 32 tokens in one batch on a GPU; 64 rows in batches of 64 on llvmpipe
  const d = hw ? await decode(64, 8, 32, 512) : await decode(8, 8, 32, defaultMaxBatchRows)
  figures.push({ name: "decode tokens/s, real sampler (webgpu)", value: d.tokensPerS, unit: "tok/s", note: `${d.tokens} tokens (${hw ? "512 rows in one batch" : "64 rows"} × 32, KV cache, temperature 1) in ${d.seconds.toFixed(1)} s; ${on}` })
  // A Llama at SmolLM2-135M's shape (issue 23: the Llama family on the GPU); on a software adapter
  // only on request, at a tiny size, so the code path is checked there.
  const llama = hw ? smolLm2 : process.env["ODPO_BENCH_WEBGPU_LLAMA"] ? tinyLlama : undefined
  if (llama !== undefined) {
    const what = hw ? "SmolLM2-135M" : "tiny Llama"
    const shape = `V=${llama.vocabSize} D=${llama.dModel} L=${llama.nLayers} H=${llama.nHeads}/${llama.nKvHeads} I=${llama.intermediateSize}`
    const lt = await trainStep(llama, 8, hw ? 3 : 1, 128)
    figures.push({ name: `train tokens/s, ${what} (webgpu)`, value: lt.tokensPerS, unit: "tok/s", note: `${shape} T=128 B=8, ${(lt.seconds * 1000).toFixed(0)} ms/step; ${on}` })
    const ld = hw ? await decode(64, 8, 32, 512, llama) : await decode(4, 2, 4, 8, llama)
    figures.push({ name: `decode tokens/s, ${what}, real sampler (webgpu)`, value: ld.tokensPerS, unit: "tok/s", note: `${ld.tokens} tokens (${hw ? "512 rows in one batch × 32" : "8 rows × 4"}, KV cache of ${llama.nKvHeads} KV heads, temperature 1) in ${ld.seconds.toFixed(1)} s; ${on}` })
  }
  const config = resolve("experiments/bandit/online.json")
  if (existsSync(config)) {
    const seconds = banditRound(config)
    figures.push({ name: "online bandit round (webgpu)", value: seconds, unit: "s", note: `experiments/bandit/online.json, mean wall of rounds 1–2 (stage_times); ${on}` })
  }
  await tf.setBackend("cpu")
  return figures
}
