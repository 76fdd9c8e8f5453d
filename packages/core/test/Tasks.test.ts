// The built-in tasks: gold rewards on hand-written examples, seeded disjoint splits, demonstrations.
import { assert, describe, it } from "vitest"
import { getTask } from "../src/tasks/index.ts"
import { countClauses, perClauseGold, reviewMetrics, sentimentGold } from "../src/tasks/Reviews.ts"
import type { BuiltinTaskConfig } from "../src/RunConfig.ts"

const cfg = (name: BuiltinTaskConfig["name"], over: Partial<BuiltinTaskConfig> = {}): BuiltinTaskConfig =>
  ({ name, mu: 70, sigma: 10, seed: 0, trainPrompts: 512, heldoutPrompts: 64, ...over })

describe("bandit", () => {
  const task = getTask(cfg("bandit", { mu: 70 }))
  const ids = (text: string) => task.tokenizer.encode(text)

  it("gold = mean over 8 positions of exp(−((a − μ)/σ)²)", () => {
    // all at μ → 1; all 10 away → e^{-1}
    assert.closeTo(task.goldReward("", "70 70 70 70 70 70 70 70", ids("70 70 70 70 70 70 70 70")), 1, 1e-12)
    assert.closeTo(task.goldReward("", "", ids("60 80 60 80 60 80 60 80")), Math.exp(-1), 1e-12)
    // 4 actions at μ then EOS: missing positions count 0 → 0.5
    assert.closeTo(task.goldReward("", "", [...ids("70 70 70 70"), 2]), 0.5, 1e-12)
    // one at 75 (e^{-0.25}), one at 20 (e^{-25}), rest missing
    assert.closeTo(task.goldReward("", "", ids("75 20")), (Math.exp(-0.25) + Math.exp(-25)) / 8, 1e-12)
    // positions beyond 8 do not count
    assert.closeTo(task.goldReward("", "", ids("00 00 00 00 00 00 00 00 70")), 8 * Math.exp(-49) / 8, 1e-15)
    assert.strictEqual(task.reward("", "", ids("70 70")), task.goldReward("", "", ids("70 70")))
    assert.closeTo(getTask(cfg("bandit", { mu: 20, sigma: 5 })).goldReward("", "", ids("25 20 20 20 20 20 20 20")), (Math.exp(-1) + 7) / 8, 1e-12)
  })

  it("prompts are BOS copies with distinct ids; demonstrations centre near 20", () => {
    const train = task.prompts(cfg("bandit", { trainPrompts: 5 }), "train")
    assert.deepStrictEqual(train.map((p) => p.promptId), ["bandit/train/0", "bandit/train/1", "bandit/train/2", "bandit/train/3", "bandit/train/4"])
    assert.deepStrictEqual(train[0]!.tokenIds, [1])
    assert.strictEqual(task.prompts(cfg("bandit"), "heldout").length, 64)
    const demos = task.demonstrations(cfg("bandit"), 500, 3)
    const actions = demos.flatMap((d) => d.completionTokenIds.slice(0, 8).map((id) => id - 3))
    assert.isTrue(demos.every((d) => d.completionTokenIds.length === 9 && d.completionTokenIds[8] === 2))
    const mean = actions.reduce((a, b) => a + b, 0) / actions.length
    assert.closeTo(mean, 20, 0.5)
    assert.isBelow(actions.filter((a) => a >= 50).length, 1) // none near 70
    assert.isAbove(actions.filter((a) => Math.abs(a - 20) <= 5).length / actions.length, 0.5)
    assert.deepStrictEqual(task.demonstrations(cfg("bandit"), 3, 3), demos.slice(0, 3))
  })
})

describe("sentiment and length", () => {
  it("the classifier parses well-formed clauses only", () => {
    assert.deepStrictEqual(countClauses("food is great. staff is slow."), { score: 0.5, wellFormed: 2, sentences: 2 })
    assert.deepStrictEqual(countClauses("great great great. food is"), { score: 0, wellFormed: 0, sentences: 2 })
    assert.deepStrictEqual(countClauses("bed is dirty"), { score: -1, wellFormed: 1, sentences: 1 }) // cut before its period
    assert.deepStrictEqual(countClauses(""), { score: 0, wellFormed: 0, sentences: 0 })
  })

  it("sentiment gold = tanh(Σ clause weights)", () => {
    const task = getTask(cfg("sentiment"))
    assert.closeTo(task.goldReward("food is ok. ", "room is great. view is superb.", []), Math.tanh(2), 1e-12)
    assert.closeTo(task.goldReward("", "room is awful. bar is nice.", []), Math.tanh(-0.5), 1e-12)
    assert.strictEqual(task.goldReward("", "room is new. bed is big.", []), 0)
    assert.strictEqual(task.goldReward("", "superb superb superb.", []), 0)
    assert.strictEqual(sentimentGold("staff is good."), Math.tanh(0.5))
    assert.strictEqual(task.reward("", "staff is good.", []), task.goldReward("", "staff is good.", []))
  })

  it("length gold is per-sentence quality; its labeller adds 0.004 per character", () => {
    const task = getTask(cfg("length"))
    const short = "food is great."
    const padded = "food is great. room is ok. bed is new."
    assert.strictEqual(task.goldReward("", short, []), 1)
    assert.closeTo(task.goldReward("", padded, []), 1 / 3, 1e-12) // neutral padding lowers quality
    assert.closeTo(task.goldReward("", "food is great. bar is bad.", []), 0.25, 1e-12)
    assert.strictEqual(perClauseGold("blah."), 0)
    assert.closeTo(task.reward("", short, []), 1 + 0.004 * 14, 1e-12)
    // same quality, longer → preferred by the labeller, not by gold
    const long2 = "food is great. view is superb."
    assert.isAbove(task.reward("", long2, []), task.reward("", short, []))
    assert.strictEqual(task.goldReward("", long2, []), task.goldReward("", short, []))
  })

  it("prompts are seeded, disjoint, and tokenised with BOS; demonstrations are mixed and end with EOS", () => {
    const task = getTask(cfg("sentiment"))
    const train = task.prompts(cfg("sentiment"), "train")
    const held = task.prompts(cfg("sentiment"), "heldout")
    assert.strictEqual(train.length, 512)
    assert.strictEqual(held.length, 64)
    const trainTexts = new Set(train.map((p) => p.text))
    assert.strictEqual(trainTexts.size, 512)
    assert.isTrue(held.every((p) => !trainTexts.has(p.text)))
    assert.strictEqual(train[17]!.promptId, "sentiment/train/17")
    assert.deepStrictEqual(train[0]!.tokenIds, [1, ...task.tokenizer.encode(train[0]!.text)])
    assert.deepStrictEqual(task.prompts(cfg("sentiment"), "train").map((p) => p.text), train.map((p) => p.text))
    assert.notDeepEqual(task.prompts(cfg("sentiment", { seed: 1 }), "train").map((p) => p.text), train.map((p) => p.text))
    // held-out prompts do not move when only trainPrompts changes
    assert.deepStrictEqual(task.prompts(cfg("sentiment", { trainPrompts: 10 }), "heldout").map((p) => p.text), held.map((p) => p.text))
    const demos = task.demonstrations(cfg("sentiment"), 400, 0)
    const texts = demos.map((d) => task.tokenizer.decode(d.completionTokenIds))
    assert.isTrue(demos.every((d) => d.completionTokenIds.at(-1) === 2 && d.completionTokenIds.length <= 40))
    const golds = texts.map((t) => task.goldReward("", t, []))
    const mean = golds.reduce((a, b) => a + b, 0) / golds.length
    assert.closeTo(mean, 0, 0.1) // balanced
    assert.isAbove(golds.filter((g) => g < 0.9).length / golds.length, 0.9) // room to improve
    const heldSet = new Set(held.map((p) => p.text))
    assert.isTrue(demos.every((d) => !heldSet.has(task.tokenizer.decode(d.promptTokenIds))))
    assert.throws(() => task.prompts(cfg("sentiment", { trainPrompts: 5000 }), "train"), /trainPrompts \(5000\) \+ heldoutPrompts \(64\) exceed the 4422/)
  })
})

describe("review metrics", () => {
  it("well_formed = well-formed sentences / sentences; clauses = well-formed clauses per completion", () => {
    const m = reviewMetrics(["food is great. staff is slow.", "great great. bed is", "room is ok"])
    // sentences: 2 + 2 + 1 = 5; well-formed: 2 + 0 + 1 = 3
    assert.closeTo(m["eval/well_formed"]!, 3 / 5, 1e-12)
    assert.closeTo(m["eval/clauses"]!, 3 / 3, 1e-12)
    assert.deepStrictEqual(reviewMetrics([""]), { "eval/well_formed": 0, "eval/clauses": 0 })
    assert.strictEqual(getTask(cfg("sentiment")).sampleMetrics, reviewMetrics)
    assert.strictEqual(getTask(cfg("length")).sampleMetrics, reviewMetrics)
  })
})

describe("order (3 actions, a > b > c)", () => {
  const task = getTask(cfg("order", { trainPrompts: 6, heldoutPrompts: 2 }))
  const id = (a: string) => task.tokenizer.encode(a)

  it("gold by rank: a 1, b ½, c 0; EOS or nothing 0; only the first token counts", () => {
    assert.deepStrictEqual(["a", "b", "c"].map((a) => task.goldReward("", a, id(a))), [1, 0.5, 0])
    assert.strictEqual(task.goldReward("", "", [2]), 0)
    assert.strictEqual(task.goldReward("", "", []), 0)
    assert.strictEqual(task.goldReward("", "ac", [...id("a"), ...id("c")]), 1)
    assert.strictEqual(task.reward("", "b", id("b")), 0.5)
    assert.strictEqual(task.defaultMaxNewTokens, 1)
  })

  it("prompts are BOS copies; demonstrations are one action each, uniform; probes ask for a, b, c", () => {
    const train = task.prompts(cfg("order", { trainPrompts: 6 }), "train")
    assert.deepStrictEqual(train.map((p) => [p.promptId, p.tokenIds]), Array.from({ length: 6 }, (_, i) => [`order/train/${i}`, [1]]))
    const demos = task.demonstrations(cfg("order"), 3000, 1)
    assert.isTrue(demos.every((d) => d.completionTokenIds.length === 1 && d.promptTokenIds.length === 1))
    for (const a of ["a", "b", "c"]) {
      assert.closeTo(demos.filter((d) => d.completionTokenIds[0] === id(a)[0]).length / 3000, 1 / 3, 0.03)
    }
    assert.deepStrictEqual(task.probes!.map((p) => [p.name, p.completionTokenIds]), [["best", id("a")], ["middle", id("b")], ["worst", id("c")]])
  })
})

describe("arith", () => {
  const task = getTask(cfg("arith"))
  const enc = (s: string) => [...task.tokenizer.encode(s), 2]

  it("gold = 1 exactly for the sum", () => {
    assert.strictEqual(task.goldReward("47+38=", "85", enc("85")), 1)
    assert.strictEqual(task.goldReward("99+99=", "198", enc("198")), 1)
    assert.strictEqual(task.goldReward("47+38=", "75", enc("75")), 0)
    assert.strictEqual(task.goldReward("47+38=", "085", enc("085")), 0)
    assert.strictEqual(task.goldReward("47+38=", "85+", enc("85+")), 0)
    assert.strictEqual(task.goldReward("47+38=", "85", [...task.tokenizer.encode("85")]), 1) // no EOS
    assert.strictEqual(task.goldReward("47+38=", "85", [11, 1, 8, 2]), 0) // a stray BOS is not dropped
    assert.strictEqual(task.goldReward("47+38=", "", [2]), 0)
  })

  it("splits are disjoint; demonstrations are ~60% right and otherwise plausible", () => {
    const train = task.prompts(cfg("arith"), "train")
    const held = new Set(task.prompts(cfg("arith"), "heldout").map((p) => p.text))
    assert.isTrue(train.every((p) => !held.has(p.text) && /^\d\d\+\d\d=$/.test(p.text)))
    const demos = task.demonstrations(cfg("arith"), 1000, 7)
    let right = 0
    for (const d of demos) {
      const prompt = task.tokenizer.decode(d.promptTokenIds)
      assert.isFalse(held.has(prompt))
      const [a, b] = prompt.slice(0, -1).split("+").map(Number) as [number, number]
      const answer = Number(task.tokenizer.decode(d.completionTokenIds))
      assert.strictEqual(d.completionTokenIds.at(-1), 2)
      if (task.goldReward(prompt, "", d.completionTokenIds) === 1) right++
      else assert.include([10, 1], Math.abs(answer - (a + b))) // dropped carry or a digit off by one
    }
    assert.closeTo(right / 1000, 0.6, 0.05)
  })
})
