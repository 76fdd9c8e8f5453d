// The Scorer service: task rewards and gold, weighted sums and penalties on hand-computed cases, ONNX via the layer.
import { assert, describe, it } from "@effect/vitest"
import { Scorer, Tasks, type Domain, type RunConfig } from "@odpo/core"
import { Effect } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { bagOfWordsForward, randomBagOfWords, writeBagOfWordsRewardModel } from "../src/BagOfWords.ts"
import { layer } from "../src/RewardScorer.ts"
import { programmatic, weightedSum } from "../src/RewardSource.ts"

const arithCfg: RunConfig.BuiltinTaskConfig = { name: "arith", mu: 70, sigma: 10, seed: 0, trainPrompts: 8, heldoutPrompts: 8 }
const lengthCfg: RunConfig.BuiltinTaskConfig = { ...arithCfg, name: "length" }
const arith = Tasks.getTask(arithCfg)
const ids = (s: string, eos = true) => [...arith.tokenizer.encode(s), ...(eos ? [2] : [])]
const arithItems: Array<Domain.ScoreItem> = [
  { promptId: "a", promptText: "47+38=", completionText: "85", completionTokenIds: ids("85"), finishReason: "eos" }, // right, 3 tokens
  { promptId: "b", promptText: "47+38=", completionText: "75", completionTokenIds: ids("75"), finishReason: "eos" }, // wrong
  { promptId: "c", promptText: "10+10=", completionText: "2000", completionTokenIds: ids("2000", false), finishReason: "length" } // wrong, 4 tokens, no EOS
]

describe("RewardScorer", () => {
  it.effect("task reward and gold; sum of task, length and missing-EOS penalties", () =>
    Effect.gen(function*() {
      const scorer = yield* Scorer.Scorer
      const r1 = yield* scorer.score({ reward: { type: "task" }, task: arithCfg, items: arithItems })
      assert.strictEqual(r1.source, "task:arith")
      assert.deepStrictEqual(r1.scores, [{ reward: 1, goldReward: 1 }, { reward: 0, goldReward: 0 }, { reward: 0, goldReward: 0 }])
      const reward = {
        type: "sum",
        terms: [
          { weight: 2, source: { type: "task" } },
          { weight: 1, source: { type: "length_penalty", lambda: 0.1 } },
          { weight: 0.5, source: { type: "missing_eos_penalty", penalty: 3 } }
        ]
      } as unknown as RunConfig.RewardSpec
      const r2 = yield* scorer.score({ reward, task: arithCfg, items: arithItems })
      // a: 2·1 − 0.1·3 − 0 = 1.7;  b: 0 − 0.3 = −0.3;  c: 0 − 0.4 − 0.5·3 = −1.9
      const got = r2.scores.map((s) => s.reward)
      ;[1.7, -0.3, -1.9].forEach((v, i) => assert.closeTo(got[i]!, v, 1e-12))
      assert.deepStrictEqual(r2.scores.map((s) => s.goldReward), [1, 0, 0]) // gold is the task's whatever the source
      assert.strictEqual(r2.source, "sum(2*task:arith,1*length_penalty:0.1,0.5*missing_eos_penalty:3)")
    }).pipe(Effect.provide(layer)))

  it.effect("length task: reward is the biased labeller, gold the per-sentence quality", () =>
    Effect.gen(function*() {
      const scorer = yield* Scorer.Scorer
      const item: Domain.ScoreItem = { promptId: "p", promptText: "bar is ok. ", completionText: "food is great. room is ok.", completionTokenIds: [], finishReason: "eos" }
      const r = yield* scorer.score({ reward: { type: "task" }, task: lengthCfg, items: [item] })
      assert.closeTo(r.scores[0]!.goldReward!, 0.5, 1e-12)
      assert.closeTo(r.scores[0]!.reward, 0.5 + 0.004 * 26, 1e-12)
    }).pipe(Effect.provide(layer)))

  it.effect("an ONNX reward through the layer; bad specs are ConfigErrors with paths", () =>
    Effect.gen(function*() {
      const scorer = yield* Scorer.Scorer
      const tok = Tasks.reviewTokenizer
      const weights = randomBagOfWords({ vocabSize: tok.vocabSize, dim: 4, labels: 1, seed: 11 })
      const path = join(mkdtempSync(join(tmpdir(), "odpo-scorer-")), "model.onnx")
      yield* writeBagOfWordsRewardModel(path, { tokenizer: tok, weights })
      const items: Array<Domain.ScoreItem> = ["food is great.", "bed is awful."].map((c, i) => ({ promptId: `p${i}`, promptText: "bar is ok. ", completionText: c, completionTokenIds: [], finishReason: "eos" }))
      const r = yield* scorer.score({ reward: { type: "onnx", path } as RunConfig.RewardSpec, task: lengthCfg, items })
      const expected = bagOfWordsForward(weights, items.map((it) => [1, ...tok.encode(it.promptText + it.completionText)]))
      r.scores.forEach((s, i) => assert.closeTo(s.reward, expected[i]![0]!, 1e-5))
      assert.strictEqual(r.source, `onnx:${path}#0`)
      const e = yield* Effect.flip(scorer.score({ reward: { type: "onnx", path, outptu: {} } as RunConfig.RewardSpec, task: lengthCfg, items }))
      assert.strictEqual(e._tag, "ConfigError")
      assert.include(e.message, "$.reward.outptu: unknown field")
    }).pipe(Effect.provide(layer)))

  it.effect("programmatic sources and weighted sums for library users", () =>
    Effect.gen(function*() {
      const chars = programmatic("chars", (_p, c) => c.length)
      const echo = programmatic("prompt-len", (p) => p.length)
      const sum = weightedSum([{ weight: 0.5, source: chars }, { weight: -2, source: echo }])
      const got = yield* sum.score(arithItems)
      // a: 0.5·2 − 2·6 = −11;  c: 0.5·4 − 2·6 = −10
      assert.deepStrictEqual(got, [-11, -11, -10])
      assert.strictEqual(sum.id, "sum(0.5*chars,-2*prompt-len)")
    }))
})
