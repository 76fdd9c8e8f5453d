import { assert, describe, it } from "@effect/vitest"
import type { PairingConfig } from "../src/RunConfig.ts"
import { type Candidate, distinctPerPrompt, makePairs } from "../src/Pairing.ts"

const cfg = (over: Partial<PairingConfig> = {}): PairingConfig => ({
  strategy: "max_min", k: 2, minMargin: 0, lengthPenalty: 0, dropTies: true, dropDuplicates: true, flipRate: 0, ...over
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
    assert.deepStrictEqual(counts, { prompts: 2, candidates: 2, duplicates: 1, ties: 0, margin: 0, kept: 1, flipped: 0, prompts_without_pairs: 1 })
    assert.isFalse(pairs[0]!.flipped)
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

  it("label noise flips a seeded fraction of the kept pairs, marks and counts them; the flips nest as ε grows", () => {
    // 200 prompts, each with two distinct samples: one kept pair per prompt
    const many = Array.from({ length: 200 }, (_, i) => [cand(`q${i}`, 0, 0.2, [3]), cand(`q${i}`, 1, 0.7, [4])]).flat()
    const at = (flipRate: number, flipSeed = 11) => makePairs(many, cfg({ flipRate }), 5, flipSeed)
    const clean = at(0)
    assert.strictEqual(clean.counts.flipped, 0)
    assert.isTrue(clean.pairs.every((p) => !p.flipped && p.chosen.reward === 0.7 && p.margin > 0))
    const all = at(1)
    assert.strictEqual(all.counts.flipped, 200)
    // flipped: the lower-ranked sample is chosen and the margin s(chosen) − s(rejected) is negative
    assert.isTrue(all.pairs.every((p) => p.flipped && p.chosen.rolloutId.endsWith(":0") && Math.abs(p.margin + 0.5) < 1e-12))
    const p2 = at(0.2)
    const p4 = at(0.4)
    assert.strictEqual(p2.counts.flipped, p2.pairs.filter((p) => p.flipped).length)
    assert.closeTo(p2.counts.flipped / 200, 0.2, 0.06)
    assert.closeTo(p4.counts.flipped / 200, 0.4, 0.07)
    assert.strictEqual(p4.counts.kept, 200)
    // every pair flipped at 0.2 is flipped at 0.4 (one draw per pair, whatever the rate)
    assert.isTrue(p2.pairs.every((p, i) => !p.flipped || p4.pairs[i]!.flipped))
    // the same seeds give the same flips; another flip seed gives others
    assert.deepStrictEqual(at(0.2).pairs.map((p) => p.flipped), p2.pairs.map((p) => p.flipped))
    assert.notDeepEqual(at(0.2, 12).pairs.map((p) => p.flipped), p2.pairs.map((p) => p.flipped))
  })

  it("distinct completions per prompt", () => {
    assert.strictEqual(distinctPerPrompt(pool), (4 + 1) / 2)
  })
})
