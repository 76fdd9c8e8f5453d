import { assert, describe, it } from "@effect/vitest"
import type { PairingConfig } from "../src/RunConfig.ts"
import { type Candidate, distinctPerPrompt, makePairs } from "../src/Pairing.ts"

const cfg = (over: Partial<PairingConfig> = {}): PairingConfig => ({
  strategy: "max_min", k: 2, minMargin: 0, lengthPenalty: 0, dropTies: true, dropDuplicates: true, ...over
})
const cand = (promptId: string, i: number, reward: number, tokens: number[]): Candidate =>
  ({ rolloutId: `${promptId}:${i}`, promptId, tokenIds: tokens, reward })

// prompt a: rewards 0.1, 0.9, 0.5, 0.3 (distinct completions); prompt b: two identical completions
const pool = [
  cand("a", 0, 0.1, [3]), cand("a", 1, 0.9, [4, 4]), cand("a", 2, 0.5, [5]), cand("a", 3, 0.3, [6, 6, 6]),
  cand("b", 0, 0.7, [3, 3]), cand("b", 1, 0.7, [3, 3])
]

describe("Pairing", () => {
  it("max_min pairs best with worst and counts the duplicate it drops", () => {
    const { pairs, counts } = makePairs(pool, cfg(), 1)
    assert.strictEqual(pairs.length, 1)
    assert.strictEqual(pairs[0]!.chosen.rolloutId, "a:1")
    assert.strictEqual(pairs[0]!.rejected.rolloutId, "a:0")
    assert.closeTo(pairs[0]!.margin, 0.8, 1e-12)
    assert.deepStrictEqual(counts, { prompts: 2, candidates: 2, duplicates: 1, ties: 0, margin: 0, kept: 1, prompts_without_pairs: 1 })
  })

  it("ties are counted separately when duplicates are kept", () => {
    const { counts } = makePairs(pool, cfg({ dropDuplicates: false }), 1)
    assert.strictEqual(counts.ties, 1)
    assert.strictEqual(counts.duplicates, 0)
  })

  it("max_max takes best vs runner-up; all_pairs makes n(n−1)/2; top_k_bottom_k zips the ends", () => {
    const a = pool.filter((c) => c.promptId === "a")
    const mm = makePairs(a, cfg({ strategy: "max_max" }), 1).pairs
    assert.deepStrictEqual([mm[0]!.chosen.rolloutId, mm[0]!.rejected.rolloutId], ["a:1", "a:2"])
    assert.strictEqual(makePairs(a, cfg({ strategy: "all_pairs" }), 1).pairs.length, 6)
    const tk = makePairs(a, cfg({ strategy: "top_k_bottom_k", k: 2 }), 1).pairs
    assert.deepStrictEqual(tk.map((p) => [p.chosen.rolloutId, p.rejected.rolloutId]), [["a:1", "a:0"], ["a:2", "a:3"]])
  })

  it("min margin drops close pairs; random and max_random are seeded and always order by score", () => {
    const a = pool.filter((c) => c.promptId === "a")
    const r = makePairs(a, cfg({ strategy: "all_pairs", minMargin: 0.35 }), 1)
    // margins: .4 .8 .6 .4 .2 .2 → three below .35? (.2,.2 and none else) → 4 kept
    assert.strictEqual(r.counts.margin, 2)
    assert.strictEqual(r.pairs.length, 4)
    for (const strategy of ["random", "max_random"] as const) {
      const x = makePairs(a, cfg({ strategy }), 7).pairs
      const y = makePairs(a, cfg({ strategy }), 7).pairs
      assert.deepStrictEqual(x, y)
      assert.isAbove(x[0]!.chosen.reward, x[0]!.rejected.reward)
    }
  })

  it("length-penalised ranking r − λ|y| can flip the preference toward the shorter sample", () => {
    const two = [cand("p", 0, 1.0, [1, 1, 1, 1, 1, 1]), cand("p", 1, 0.9, [1])]
    assert.strictEqual(makePairs(two, cfg(), 0).pairs[0]!.chosen.rolloutId, "p:0")
    const pen = makePairs(two, cfg({ lengthPenalty: 0.05 }), 0).pairs[0]!
    assert.strictEqual(pen.chosen.rolloutId, "p:1")
    assert.closeTo(pen.margin, (0.9 - 0.05) - (1.0 - 0.3), 1e-12)
  })

  it("distinct completions per prompt", () => {
    assert.strictEqual(distinctPerPrompt(pool), (4 + 1) / 2)
  })
})
