import { assert, describe, it } from "@effect/vitest"
import {
  applyProcessors,
  argmax,
  drawToken,
  logSoftmaxAt,
  minP,
  processorsFor,
  repetitionPenalty,
  suppressTokens,
  temperature,
  topK,
  topP
} from "../src/LogitsProcessors.ts"
import { Seeds } from "@odpo/core"

const { rowSeed, splitmix32 } = Seeds
import { params } from "./fixtures.ts"

// A hand-built distribution: p = [0.4, 0.3, 0.15, 0.1, 0.05] as logits log p (+ a constant, which softmax ignores).
const probs = [0.4, 0.3, 0.15, 0.1, 0.05]
const logits = () => Float64Array.from(probs, (p) => Math.log(p) + 3)

/** Every token a processed row can yield, over a fine grid of uniforms, with its share of the grid. */
const drawable = (row: Float64Array): Map<number, number> => {
  const counts = new Map<number, number>()
  const N = 10_000
  for (let i = 0; i < N; i++) {
    const t = drawToken(row, (i + 0.5) / N)
    counts.set(t, (counts.get(t) ?? 0) + 1 / N)
  }
  return counts
}

const keys = (m: Map<number, number>) => [...m.keys()].sort((a, b) => a - b)

describe("LogitsProcessors", () => {
  it("drawToken follows softmax: each token's share of the uniforms is its probability", () => {
    const got = drawable(logits())
    assert.deepStrictEqual(keys(got), [0, 1, 2, 3, 4])
    probs.forEach((p, i) => assert.closeTo(got.get(i)!, p, 1e-4))
  })

  it("top-k keeps exactly the k most likely tokens, renormalised", () => {
    const row = logits()
    topK(2)(row, new Set())
    const got = drawable(row)
    assert.deepStrictEqual(keys(got), [0, 1])
    assert.closeTo(got.get(0)!, 0.4 / 0.7, 1e-4)
    topK(0)(logits(), new Set()) // off: no change
    const all = logits()
    topK(5)(all, new Set())
    assert.deepStrictEqual(keys(drawable(all)), [0, 1, 2, 3, 4])
  })

  it("top-p keeps the smallest most-likely prefix whose mass reaches p", () => {
    const cases: Array<[number, Array<number>]> = [
      [0.3, [0]], // 0.4 ≥ 0.3 already
      [0.65, [0, 1]], // 0.4 < 0.65 → add 0.3: 0.7 ≥ 0.65
      [0.75, [0, 1, 2]], // 0.7 < 0.75 → add 0.15
      [0.9, [0, 1, 2, 3]],
      [1, [0, 1, 2, 3, 4]]
    ]
    for (const [p, expected] of cases) {
      const row = logits()
      topP(p)(row, new Set())
      assert.deepStrictEqual(keys(drawable(row)), expected, `top_p ${p}`)
    }
  })

  it("min-p drops tokens below minP × p_max", () => {
    const cases: Array<[number, Array<number>]> = [
      [0.3, [0, 1, 2]], // floor 0.12: 0.15 stays, 0.1 goes
      [0.5, [0, 1]], // floor 0.2
      [0.2, [0, 1, 2, 3]], // floor 0.08
      [1, [0]]
    ]
    for (const [q, expected] of cases) {
      const row = logits()
      minP(q)(row, new Set())
      assert.deepStrictEqual(keys(drawable(row)), expected, `min_p ${q}`)
    }
  })

  it("temperature scales logits: T = 0.5 squares the odds, and suppressed ids are never drawn", () => {
    const row = logits()
    temperature(0.5)(row, new Set())
    suppressTokens([0])(row, new Set())
    const got = drawable(row)
    assert.deepStrictEqual(keys(got), [1, 2, 3, 4])
    const z = [0.3, 0.15, 0.1, 0.05].reduce((a, p) => a + p * p, 0)
    assert.closeTo(got.get(1)!, 0.09 / z, 1e-4)
  })

  it("repetition penalty divides positive and multiplies negative logits of seen tokens (CTRL)", () => {
    const row = Float64Array.from([2, -2, 1, 0.5])
    repetitionPenalty(2)(row, new Set([0, 1, 9]))
    assert.deepStrictEqual(Array.from(row), [1, -4, 1, 0.5])
  })

  it("processorsFor chains them in Hugging Face's order; greedy is the argmax of the penalised row", () => {
    const seen = new Set([0])
    // penalty 2 on token 0: logit 3 + log 0.4 ≈ 2.08 → 1.04 < token 1's 1.80; top-k 1 then keeps token 1 only
    const row = applyProcessors(processorsFor(params({ repetitionPenalty: 2, topK: 1 }), []), logits(), seen)
    assert.deepStrictEqual(keys(drawable(row)), [1])
    const greedy = applyProcessors(processorsFor(params({ temperature: 0, repetitionPenalty: 2 }), [1]), logits(), seen)
    assert.strictEqual(argmax(greedy), 2) // 0 penalised, 1 suppressed
    assert.strictEqual(argmax(Float64Array.from([1, 5, 5, 2])), 1) // ties go to the first id
  })

  it("logSoftmaxAt is log p of the raw row", () => {
    probs.forEach((p, i) => assert.closeTo(logSoftmaxAt(logits(), i), Math.log(p), 1e-12))
  })

  it("a draw survives float noise of 1e-6 in the logits (fixed id order, the row's own uniform)", () => {
    const rand = splitmix32(7)
    const row = Float64Array.from({ length: 64 }, () => 4 * rand())
    const noisy = Float64Array.from(row, (l) => l + (rand() - 0.5) * 2e-6)
    let same = 0
    for (let i = 0; i < 2000; i++) {
      const u = rand()
      if (drawToken(row, u) === drawToken(noisy, u)) same++
    }
    // A flip needs u within ~1e-6 of one of 64 bucket edges: expected 0 in 2,000 draws.
    assert.strictEqual(same, 2000)
  })

  it("row seeds are deterministic and distinct across seeds, prompts and sample indices", () => {
    assert.strictEqual(rowSeed(1, "p", 0), rowSeed(1, "p", 0))
    const seeds = new Set<number>()
    for (const s of [0, 1, 2]) for (const p of ["a", "b", "a1"]) for (let j = 0; j < 10; j++) seeds.add(rowSeed(s, p, j))
    assert.strictEqual(seeds.size, 90)
    assert.notStrictEqual(rowSeed(0, "a", 11), rowSeed(0, "a1", 1))
    const a = splitmix32(5)
    const b = splitmix32(5)
    const xs = Array.from({ length: 1000 }, () => a())
    assert.deepStrictEqual(xs.slice(0, 5), Array.from({ length: 5 }, () => b()))
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length
    assert.closeTo(mean, 0.5, 0.03)
    assert.isTrue(xs.every((x) => x >= 0 && x < 1))
  })
})
