import { assert, describe, it } from "@effect/vitest"
import { Seeds } from "@odpo/core"
import { Gpt, Onnx } from "@odpo/model"
import { Effect } from "effect"
import type { GenerationRow } from "../src/GenerationEngine.ts"
import * as OnnxEngine from "../src/OnnxEngine.ts"
import * as TfjsEngine from "../src/TfjsEngine.ts"
import { config, driveTogether, params, prompt, tinyPolicy, tokenizer } from "./fixtures.ts"

const { rowSeed } = Seeds


/** The prefill and decode sessions of `cfg`, released when the test's scope closes. */
const decodeSessions = (cfg: Gpt.GptConfig) =>
  Effect.gen(function*() {
    const pool = yield* Onnx.OnnxSessions.make({ provider: "cpu", threads: 1 })
    return yield* OnnxEngine.decodeSessions(pool, cfg)
  })

const rowsFor = (prompts: Record<string, Array<number>>, n: number, seed: number): Array<GenerationRow> =>
  Object.entries(prompts).flatMap(([promptId, ids]) =>
    Array.from({ length: n }, (_, j) => ({ promptId, sampleIdx: j, promptTokenIds: ids, rngSeed: rowSeed(seed, promptId, j) }))
  )

describe("OnnxEngine", () => {
  it.effect("logits equal tfjs's KV-cache logits within 1e-4 at every step, mixed prompt lengths, as rows leave and padding is trimmed", () =>
    Effect.gen(function*() {
      const model = tinyPolicy(1)
      const sessions = yield* decodeSessions(config)
      const C = config.contextLength
      const V = config.vocabSize
      // 1, 3, 9 and 14 tokens; two identical prompts share one prefill row
      const prompts = [prompt(""), prompt("ab"), prompt("abcdefgh"), prompt("abcdefghabcde"), prompt("ab")]
      const onnx = OnnxEngine.kvCacheSource(yield* Onnx.OnnxPolicy.hostModelOf(model), sessions, tokenizer.padId)
      const tfjs = TfjsEngine.kvCacheSource(model, tokenizer.padId)
      const { worst, steps, compared } = yield* Effect.promise(() => driveTogether(onnx, tfjs, prompts, C, V))
      assert.isBelow(worst, 1e-4)
      assert.strictEqual(steps, C - 1)
      // steps each row was compared at: to the full context from 1, 3 (the copy), 9 and 14 tokens; row 1 left at step 2
      assert.strictEqual(compared, (16 + 14 + 8 + 3 + 3) * V)
      onnx.dispose()
      tfjs.dispose()
      model.dispose()
    }).pipe(Effect.scoped))

  it.effect("logits stay within 1e-4 of tfjs as the slot cache grows (context 48, 40 steps) and rows leave", () =>
    Effect.gen(function*() {
      const cfg = { ...config, contextLength: 48 }
      const model = tinyPolicy(3, 20, cfg)
      const sessions = yield* decodeSessions(cfg)
      const prompts = [prompt(""), prompt("abcd"), prompt("ab")]
      const onnx = OnnxEngine.kvCacheSource(yield* Onnx.OnnxPolicy.hostModelOf(model), sessions, tokenizer.padId)
      const tfjs = TfjsEngine.kvCacheSource(model, tokenizer.padId)
      let a = yield* Effect.promise(() => onnx.start(prompts))
      let b = yield* Effect.promise(() => tfjs.start(prompts))
      let rows = prompts.length
      let worst = 0
      for (let step = 0; step < 40; step++) {
        for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!))
        // row 1 leaves after step 25: compaction and trimming mid-growth
        const keep = Array.from({ length: rows }, (_, r) => r).filter((r) => !(step === 25 && r === 1))
        const tokens = keep.map((r) => 3 + ((step * 3 + r) % 8))
        rows = keep.length
        a = yield* Effect.promise(() => onnx.next(keep, tokens))
        b = yield* Effect.promise(() => tfjs.next(keep, tokens))
      }
      assert.strictEqual(a.length, 2 * config.vocabSize)
      assert.isBelow(worst, 1e-4)
      onnx.dispose()
      tfjs.dispose()
      model.dispose()
    }).pipe(Effect.scoped))

  it.effect("same seed ⇒ the same tokens and log-probs as tfjs: 3 prompt lengths × 40 samples, with processors", () =>
    Effect.gen(function*() {
      const model = tinyPolicy(2, 8)
      const sessions = yield* decodeSessions(config)
      const rows = rowsFor({ short: prompt(""), mid: prompt("abc"), long: prompt("hgfedcba") }, 40, 7)
      const batch = { rows, params: params({ temperature: 0.9, topK: 6, topP: 0.95, repetitionPenalty: 1.1, maxNewTokens: 7 }) }
      const host = yield* Onnx.OnnxPolicy.hostModelOf(model)
      const onnx = yield* Effect.promise(() => OnnxEngine.generateRows(host, sessions, tokenizer, batch))
      const tfjs = yield* Effect.promise(() => TfjsEngine.generateRows(model, tokenizer, batch))
      let tokens = 0
      let divergent = 0
      onnx.forEach((row, i) => {
        const ref = tfjs[i]!
        const n = Math.min(row.tokenIds.length, ref.tokenIds.length)
        tokens += ref.tokenIds.length
        const first = row.tokenIds.findIndex((t, j) => t !== ref.tokenIds[j])
        if (first >= 0 || row.tokenIds.length !== ref.tokenIds.length) divergent += ref.tokenIds.length - (first >= 0 ? first : n)
        for (let t = 0; t < (first >= 0 ? first : n); t++) assert.closeTo(row.tokenLogprobs[t]!, ref.tokenLogprobs[t]!, 1e-4)
      })
      // Float-order differences could flip a draw that lands within ~1e-6 of a boundary: none here.
      assert.strictEqual(divergent, 0, `${divergent} of ${tokens} tokens diverged`)
      assert.isAbove(tokens, 120 * 3)
      // sampling really varied: many distinct completions
      assert.isAbove(new Set(onnx.map((r) => r.tokenIds.join(","))).size, 30)
      model.dispose()
    }).pipe(Effect.scoped))
})
