/**
 * Sampling throughput of the tfjs engine on the reference model (V=64, D=128, L=4, H=4, context 64):
 * 64 prompts × 8 samples × 32 new tokens with the KV cache; and, because full recompute on the cpu
 * backend takes ~20× longer, the KV-cache speed-up measured on 8 of those prompts (64 rows).
 * Rates are per wall second and per CPU second of this process (the cpu backend is one thread; the
 * CPU rate is the fairer figure on a shared machine). bench/torch_sample.py does the same work in
 * PyTorch (run by hand) for the tfjs/torch ratio.
 */
import { Tokenizer } from "@odpo/core"
import { Gpt } from "@odpo/model"
import type { BenchFigure } from "./run.ts"
import { defaultMaxBatchRows, requestRows } from "../packages/sampler/src/Sampling.ts"
import * as TfjsEngine from "../packages/sampler/src/TfjsEngine.ts"

const config: Gpt.GptConfig = { vocabSize: 64, contextLength: 64, dModel: 128, nLayers: 4, nHeads: 4, dropout: 0 }
const PROMPTS = 64
const SAMPLES = 8
const NEW_TOKENS = 32

// 61 symbols + PAD/BOS/EOS = 64 ids; no EOS, so every row makes exactly NEW_TOKENS tokens (as the torch script).
const chars = Array.from({ length: 61 }, (_, i) => String.fromCodePoint(0x100 + i))
const base = new Tokenizer.CharTokenizer({ symbols: chars })
const tokenizer: Tokenizer.Tokenizer = { ...base, eosId: null }

const prompts = Array.from({ length: PROMPTS }, (_, i) => ({
  promptId: `p${i}`,
  // BOS + 4…11 symbols
  tokenIds: [1, ...Array.from({ length: 4 + (i % 8) }, (_, t) => 3 + ((i * 7 + t * 13) % 61))]
}))

const params = { temperature: 1, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, maxNewTokens: NEW_TOKENS, stop: [] }

const run = async (model: Gpt.Gpt, kvCache: boolean, nPrompts: number) => {
  const rows = requestRows({ policy: { id: "bench", path: "" }, prompts: prompts.slice(0, nPrompts), n: SAMPLES, params, seed: 0 })
  const t0 = performance.now()
  const c0 = process.cpuUsage()
  let tokens = 0
  // As the Sampler service batches (256 rows); plain engine calls keep the bench free of Effect.
  for (let i = 0; i < rows.length; i += defaultMaxBatchRows) {
    const out = await TfjsEngine.generateRows(model, tokenizer, { rows: rows.slice(i, i + defaultMaxBatchRows), params }, { kvCache })
    for (const r of out) tokens += r.tokenIds.length
  }
  const cpu = process.cpuUsage(c0)
  const seconds = (performance.now() - t0) / 1000
  const cpuSeconds = (cpu.user + cpu.system) / 1e6
  return { wall: tokens / seconds, cpu: tokens / cpuSeconds, seconds, cpuSeconds }
}

export default async (): Promise<ReadonlyArray<BenchFigure>> => {
  const model = Gpt.Gpt.init(config, 0)
  await run(model, true, 1) // warm-up
  const cached = await run(model, true, PROMPTS)
  const small = await run(model, true, 8)
  const full = await run(model, false, 8)
  model.dispose()
  return [
    { name: "KV cache, tokens per wall s", value: cached.wall, unit: "tok/s", note: `${PROMPTS}×${SAMPLES}×${NEW_TOKENS} tokens in ${cached.seconds.toFixed(1)} s` },
    { name: "KV cache, tokens per CPU s", value: cached.cpu, unit: "tok/s", note: `${cached.cpuSeconds.toFixed(1)} CPU s` },
    { name: "KV cache, 8 prompts, tokens per CPU s", value: small.cpu, unit: "tok/s", note: `8×${SAMPLES}×${NEW_TOKENS}` },
    { name: "full recompute, 8 prompts, tokens per CPU s", value: full.cpu, unit: "tok/s", note: `8×${SAMPLES}×${NEW_TOKENS}; ${full.cpuSeconds.toFixed(1)} CPU s` },
    { name: "KV cache speed-up", value: small.cpu / full.cpu, unit: "×", note: "same rows, same tokens, per CPU s" }
  ]
}
