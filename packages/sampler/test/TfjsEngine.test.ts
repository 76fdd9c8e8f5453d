import { assert, describe, it } from "@effect/vitest"
import { LogProbs } from "@odpo/model"
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import type { GeneratedRow, GenerationRow } from "../src/GenerationEngine.ts"
import { Seeds } from "@odpo/core"

const { rowSeed } = Seeds
import { sampleWith } from "../src/Sampling.ts"
import { generateRows, kvCacheSource, make, recomputeSource } from "../src/TfjsEngine.ts"
import { config, driveTogether, params, prompt, tinyPolicy, tokenizer } from "./fixtures.ts"

const rowsFor = (prompts: Record<string, Array<number>>, n: number, seed = 0): Array<GenerationRow> =>
  Object.entries(prompts).flatMap(([promptId, ids]) =>
    Array.from({ length: n }, (_, j) => ({ promptId, sampleIdx: j, promptTokenIds: ids, rngSeed: rowSeed(seed, promptId, j) }))
  )

/** Prompts of 1, 4 and 9 tokens: left padding differs for each. */
const mixed = { short: prompt(""), mid: prompt("abc"), long: prompt("hgfedcba") }

const assertSameRows = (a: ReadonlyArray<GeneratedRow>, b: ReadonlyArray<GeneratedRow>, what: string) => {
  assert.strictEqual(a.length, b.length)
  a.forEach((x, i) => {
    const y = b[i]!
    assert.deepStrictEqual(y.tokenIds, x.tokenIds, `${what}: tokens of ${x.promptId}/${x.sampleIdx}`)
    assert.strictEqual(y.finishReason, x.finishReason)
    assert.strictEqual(y.text, x.text)
    x.tokenLogprobs.forEach((lp, t) => assert.closeTo(y.tokenLogprobs[t]!, lp, 1e-5))
  })
}

describe("TfjsEngine", () => {
  it("KV-cache logits equal full-recompute logits within 1e-5 at every step, as rows leave and padding is trimmed", async () => {
    const model = tinyPolicy(1)
    const C = config.contextLength
    const V = config.vocabSize
    const prompts = [prompt(""), prompt("ab"), prompt("abcdefgh"), prompt("abcdefghabcde")] // 1, 3, 9, 14 tokens
    const cached = kvCacheSource(model, tokenizer.padId)
    const full = recomputeSource(model, tokenizer.padId)
    // Next token: a fixed function of the step (never PAD); a row leaves when it fills the context, and row 1 leaves early.
    const { worst, steps, compared } = await driveTogether(cached, full, prompts, C, V)
    assert.isBelow(worst, 1e-5)
    // The 1-token prompt ran to the full context even though it shared a batch with a 14-token one.
    assert.strictEqual(steps, C - 1)
    // live rows per step: 4 at first; the 14-token row leaves after 2 steps, row 1 at step 2, the 9-token row after 7
    assert.strictEqual(compared, (16 + 3 + 8 + 3) * V)
    cached.dispose()
    full.dispose()
    model.dispose()
  })

  it("recorded log-probs equal a fresh forward pass over the completed sequence (raw policy, despite top-k and temperature)", async () => {
    const model = tinyPolicy(2)
    const rows = rowsFor(mixed, 3, 11)
    const out = await generateRows(model, tokenizer, { rows, params: params({ temperature: 0.7, topK: 3, maxNewTokens: 6 }) })
    const seqs = rows.map((r, i) => ({ promptTokenIds: r.promptTokenIds, completionTokenIds: out[i]!.tokenIds }))
    const batch = LogProbs.makeBatch(seqs, tokenizer.padId, config.contextLength)
    const fresh = tf.tidy(() => LogProbs.tokenLogProbs(model, batch).arraySync())
    LogProbs.disposeBatch(batch)
    let checked = 0
    out.forEach((g, b) => {
      const P = rows[b]!.promptTokenIds.length
      assert.strictEqual(g.tokenLogprobs.length, g.tokenIds.length)
      g.tokenLogprobs.forEach((lp, t) => {
        assert.closeTo(lp, fresh[b]![P - 1 + t]!, 1e-5)
        checked++
      })
    })
    assert.isAbove(checked, 20)
    model.dispose()
  })

  it("greedy (temperature 0) takes the argmax of the logits at every step, never PAD or BOS", async () => {
    const model = tinyPolicy(3)
    const rows = rowsFor(mixed, 2)
    const out = await generateRows(model, tokenizer, { rows, params: params({ temperature: 0, maxNewTokens: 6 }) })
    out.forEach((g, b) => {
      const seq = [...rows[b]!.promptTokenIds]
      for (const token of g.tokenIds) {
        const logits = tf.tidy(() => {
          const { logits } = model.forward(tf.tensor2d(seq, [1, seq.length], "int32"))
          return Array.from(tf.slice(logits, [0, seq.length - 1, 0], [1, 1, config.vocabSize]).dataSync())
        })
        logits[tokenizer.padId] = -Infinity
        logits[tokenizer.bosId] = -Infinity
        assert.strictEqual(token, logits.indexOf(Math.max(...logits)))
        seq.push(token)
      }
    })
    // Greedy ignores the seed: both samples of a prompt are the same.
    assert.deepStrictEqual(out[0]!.tokenIds, out[1]!.tokenIds)
    model.dispose()
  })

  it("a row's tokens do not depend on the batch: sizes 1, 3 and all, KV cache or not, give the same rollouts", async () => {
    const model = tinyPolicy(4)
    const rows = rowsFor(mixed, 4, 5)
    const p = params({ temperature: 1.2, topP: 0.95, repetitionPenalty: 1.3, maxNewTokens: 7 })
    const all = await generateRows(model, tokenizer, { rows, params: p })
    const alone = (await Promise.all(rows.map((r) => generateRows(model, tokenizer, { rows: [r], params: p })))).flat()
    // Batches of 3 in a shuffled order, so every row sits next to prompts of other lengths.
    const perm = [7, 0, 11, 3, 5, 9, 1, 10, 2, 8, 4, 6]
    const threes: Array<GeneratedRow> = []
    for (let i = 0; i < perm.length; i += 3) {
      const part = perm.slice(i, i + 3).map((j) => rows[j]!)
      ;(await generateRows(model, tokenizer, { rows: part, params: p })).forEach((g, k) => (threes[perm[i + k]!] = g))
    }
    const noCache = await generateRows(model, tokenizer, { rows, params: p }, { kvCache: false })
    assertSameRows(all, alone, "batch 1")
    assertSameRows(all, threes, "batch 3")
    assertSameRows(all, noCache, "no KV cache")
    // The samples of one prompt differ (own streams), and EOS ended some rows while others ran to the limit.
    assert.notDeepEqual(all[0]!.tokenIds, all[1]!.tokenIds)
    const reasons = all.map((g) => g.finishReason)
    assert.isTrue(reasons.includes("eos") && reasons.includes("length"), reasons.join(","))
    for (const g of all) {
      if (g.finishReason === "eos") {
        assert.strictEqual(g.tokenIds[g.tokenIds.length - 1], tokenizer.eosId)
        assert.isBelow(g.tokenIds.length, 8)
      } else {
        assert.strictEqual(g.tokenIds.length, 7)
        assert.notInclude(g.tokenIds, tokenizer.eosId)
      }
      assert.notInclude(g.tokenIds, tokenizer.padId)
      assert.notInclude(g.tokenIds, tokenizer.bosId)
      assert.strictEqual(g.text, tokenizer.decode(g.tokenIds))
    }
    model.dispose()
  })

  it("the same seed gives the same tokens; another seed other tokens", async () => {
    const model = tinyPolicy(5)
    const p = params({ maxNewTokens: 8 })
    const a = await generateRows(model, tokenizer, { rows: rowsFor(mixed, 3, 42), params: p })
    const b = await generateRows(model, tokenizer, { rows: rowsFor(mixed, 3, 42), params: p })
    const c = await generateRows(model, tokenizer, { rows: rowsFor(mixed, 3, 43), params: p })
    assert.deepStrictEqual(a.map((g) => g.tokenIds), b.map((g) => g.tokenIds))
    assert.notDeepEqual(a.map((g) => g.tokenIds), c.map((g) => g.tokenIds))
    model.dispose()
  })

  it("a stop string ends the row: text cut before it, tokens up to the one that completed it", async () => {
    const model = tinyPolicy(6)
    const rows = rowsFor({ x: prompt("a") }, 6, 3)
    const free = await generateRows(model, tokenizer, { rows, params: params({ maxNewTokens: 10 }) })
    const row = free.findIndex((g) => g.text.length >= 6)
    assert.isAtLeast(row, 0)
    const text = free[row]!.text
    const stop = text.slice(3, 5)
    const at = text.indexOf(stop)
    const stopped = (await generateRows(model, tokenizer, { rows, params: params({ maxNewTokens: 10, stop: ["zz", stop] }) }))[row]!
    assert.strictEqual(stopped.finishReason, "stop")
    assert.strictEqual(stopped.text, text.slice(0, at))
    assert.deepStrictEqual(stopped.tokenIds, free[row]!.tokenIds.slice(0, at + stop.length))
    model.dispose()
  })

  it("a prompt that nearly fills the context stops with finish 'length' when the context is full", async () => {
    const model = tinyPolicy(7)
    const long = prompt("abcdefghabcd") // 13 tokens of 16: room for 3
    const out = await generateRows(model, tokenizer, { rows: rowsFor({ long, short: prompt("a") }, 4, 1), params: params({ maxNewTokens: 8 }) })
    for (const g of out.slice(0, 4)) {
      assert.isAtMost(g.tokenIds.length, 3)
      if (g.finishReason !== "eos") assert.strictEqual(g.tokenIds.length, 3)
      if (g.tokenIds.length < 3) assert.strictEqual(g.finishReason, "eos")
    }
    assert.isTrue(out.slice(4).some((g) => g.tokenIds.length > 3))
    model.dispose()
  })

  it.effect("no tensor leaks: 1,000 samples leave tf.memory().numTensors where it was", () =>
    Effect.gen(function*() {
      const model = tinyPolicy(8)
      const engine = make(model, tokenizer)
      const before = tf.memory().numTensors
      const prompts = Array.from({ length: 10 }, (_, i) => ({ promptId: `p${i}`, tokenIds: prompt("abcdefgh".slice(0, i % 8)) }))
      const rollouts = yield* sampleWith(engine, "ckpt", {
        policy: { id: "ckpt", path: "" },
        prompts,
        n: 100,
        params: params({ maxNewTokens: 6, topK: 5 }),
        seed: 9
      })
      assert.strictEqual(rollouts.length, 1000)
      assert.strictEqual(tf.memory().numTensors, before)
      model.dispose()
    }))
})
