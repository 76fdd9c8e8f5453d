/**
 * Sampling throughput of the tfjs engine on the reference model (V=64, D=128, L=4, H=4, context 64):
 * 64 prompts × 8 samples × 32 new tokens, with the KV cache and with full recompute each step.
 * bench/torch_sample.py does the same work in PyTorch (run by hand) for the tfjs/torch ratio.
 */
import { Gpt, Tokenizer } from "../packages/core/src/index.ts"
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

const run = (model: Gpt.Gpt, kvCache: boolean, nPrompts: number) => {
  const params = { temperature: 1, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, maxNewTokens: NEW_TOKENS, stop: [] }
  const rows = requestRows({ policy: { id: "bench", path: "" }, prompts: prompts.slice(0, nPrompts), n: SAMPLES, params, seed: 0 })
  const t0 = performance.now()
  let tokens = 0
  // As the Sampler service batches (256 rows); plain engine calls keep the bench free of Effect.
  for (let i = 0; i < rows.length; i += defaultMaxBatchRows) {
    const out = TfjsEngine.generateRows(model, tokenizer, { rows: rows.slice(i, i + defaultMaxBatchRows), params }, { kvCache })
    for (const r of out) tokens += r.tokenIds.length
  }
  const seconds = (performance.now() - t0) / 1000
  return { tokensPerSecond: tokens / seconds, seconds, tokens }
}

export default async (): Promise<ReadonlyArray<BenchFigure>> => {
  const model = Gpt.Gpt.init(config, 0)
  run(model, true, 4) // warm-up
  const cached = run(model, true, PROMPTS)
  const full = run(model, false, PROMPTS)
  model.dispose()
  const shape = `${PROMPTS}×${SAMPLES}×${NEW_TOKENS} tokens, 256 rows per batch`
  return [
    { name: "tokens/s with KV cache", value: cached.tokensPerSecond, unit: "tok/s", note: `${shape}; ${cached.seconds.toFixed(1)} s` },
    { name: "tokens/s full recompute", value: full.tokensPerSecond, unit: "tok/s", note: `${full.seconds.toFixed(1)} s` },
    { name: "KV cache speed-up", value: cached.tokensPerSecond / full.tokensPerSecond, unit: "×", note: "same rows, same tokens" }
  ]
}
