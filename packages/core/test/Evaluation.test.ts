// A task's own held-out metrics: sample metrics of the texts, and exact probe probabilities averaged over prompts.
import { assert, describe, it } from "@effect/vitest"
import type { Prompt, Rollout } from "../src/Domain.ts"
import { evaluationMetrics, probeSequences, taskMetrics, winOf, winTolerance } from "../src/Evaluation.ts"
import { getTask } from "../src/tasks/index.ts"

const order = getTask({ name: "order", mu: 70, sigma: 10, seed: 0, trainPrompts: 4, heldoutPrompts: 2 })
const sentiment = getTask({ name: "sentiment", mu: 70, sigma: 10, seed: 0, trainPrompts: 4, heldoutPrompts: 2 })
const prompt = (i: number, tokenIds: Array<number>): Prompt => ({ promptId: `p${i}`, task: "order", split: "heldout", text: "", tokenIds })
const rollout = (text: string) => ({ text }) as Rollout
const stat = (p: number) => ({ kl: 0, entropy: 0, logp: Math.log(p) })

describe("task metrics", () => {
  it("probe sequences are prompt-major; eval/p_<name> is the probe's probability averaged over prompts", () => {
    const seqs = probeSequences(order.probes!, [prompt(0, [1]), prompt(1, [1, 1])])
    assert.deepStrictEqual(seqs.map((s) => [s.promptTokenIds.length, s.completionTokenIds[0]]), [[1, 3], [1, 4], [1, 5], [2, 3], [2, 4], [2, 5]])
    // prompt 0: (a, b, c) = (.5, .3, .2); prompt 1: (.7, .2, .1)
    const m = taskMetrics(order, [], [0.5, 0.3, 0.2, 0.7, 0.2, 0.1].map(stat))
    assert.closeTo(m["eval/p_best"]!, 0.6, 1e-12)
    assert.closeTo(m["eval/p_middle"]!, 0.25, 1e-12)
    assert.closeTo(m["eval/p_worst"]!, 0.15, 1e-12)
    assert.deepStrictEqual(Object.keys(m).sort(), ["eval/p_best", "eval/p_middle", "eval/p_worst"])
  })

  it("a task without probes reports its sample metrics only", () => {
    const m = taskMetrics(sentiment, [rollout("food is great."), rollout("bad bad.")], [])
    assert.deepStrictEqual(m, { "eval/well_formed": 0.5, "eval/clauses": 0.5 })
  })
})

describe("win rate", () => {
  const score = (reward: number) => ({ reward, goldReward: null })
  const own = [0, 1, 2, 3].map(() => ({ length: 1, finishReason: "eos", promptId: "p", tokenIds: [1] }) as unknown as Rollout)
  const stats = own.map(() => stat(0.5))

  it("rewards within the tolerance are a tie (½), beyond it a win or a loss; the tolerance is recorded", () => {
    // 1e-8 apart: ties (a strict > counted 1.0 here); 0.1 apart: one win, one loss
    const m = evaluationMetrics(own, [0.5 + 1e-8, 0.25 + 1e-8, 1.1, 0.9].map(score), [0.5, 0.25, 1, 1].map(score), stats)
    assert.strictEqual(m["eval/win_rate"], (0.5 + 0.5 + 1 + 0) / 4)
    assert.strictEqual(m["eval/win_tolerance"], winTolerance)
    // relative for large rewards: 1000 vs 1000.0005 is within 1e-6 × 1000.0005
    assert.strictEqual(winOf(1000.0005, 1000), 0.5)
    assert.strictEqual(winOf(1000.01, 1000), 1)
    assert.strictEqual(winOf(1e-7, 0), 0.5)
    assert.strictEqual(winOf(-2e-6, 0), 0)
  })
})
