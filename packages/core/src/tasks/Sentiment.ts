/**
 * `sentiment` (SCIENCE.md claims 1, 2, 4 and proxy-vs-gold): a one- or two-clause prefix of a
 * synthetic review → a continuation; gold = tanh(Σ clause sentiment) (Reviews.ts).
 */
import type { BuiltinTask } from "./Task.ts"
import { makePrompt, pick, rng, splitPool } from "./Task.ts"
import { mixedContinuation, PROMPT_POOL, reviewMetrics, reviewTokenizer, sentimentGold } from "./Reviews.ts"

/** Demonstrations continue with two clauses (≤ 33 characters). */
export const DEMO_CLAUSES = 2

const gold = (_prompt: string, completion: string) => sentimentGold(completion)

/** Shared by `sentiment` and `length`: the prompts and demonstrations of the review language. */
export const reviewTask = (
  name: "sentiment" | "length",
  options: {
    readonly defaultMaxNewTokens: number
    readonly demoClauses: (rand: () => number) => number
    readonly goldReward: BuiltinTask["goldReward"]
    readonly reward: BuiltinTask["reward"]
  }
): BuiltinTask => ({
  name,
  tokenizer: reviewTokenizer,
  defaultMaxNewTokens: options.defaultMaxNewTokens,
  prompts: (config, split) => splitPool(name, PROMPT_POOL, config)[split].map((text, i) => makePrompt(name, reviewTokenizer, split, i, text)),
  goldReward: options.goldReward,
  reward: options.reward,
  demonstrations: (config, count, seed) => {
    const pool = splitPool(name, PROMPT_POOL, config).nonHeldout
    const rand = rng(name, config.seed, "demos", seed)
    return Array.from({ length: count }, () => {
      const prompt = pick(pool, rand)
      const completion = mixedContinuation(options.demoClauses(rand), rand)
      return {
        promptTokenIds: [reviewTokenizer.bosId, ...reviewTokenizer.encode(prompt)],
        completionTokenIds: [...reviewTokenizer.encode(completion), reviewTokenizer.eosId]
      }
    })
  },
  sampleMetrics: reviewMetrics
})

export const sentiment: BuiltinTask = reviewTask("sentiment", {
  // two clauses of at most 16 characters, a space, EOS, and slack
  defaultMaxNewTokens: 40,
  demoClauses: () => DEMO_CLAUSES,
  goldReward: gold,
  reward: gold
})
