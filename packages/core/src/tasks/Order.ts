/**
 * `order` (SCIENCE.md claim 6, Azar et al. 2023, arXiv:2310.12036 §5.1): a fixed prompt → one of
 * three actions with a total order a > b > c. With deterministic preferences DPO's optimum puts
 * π(a) → 1 whatever β; IPO's stays a bounded distance from π_ref, the closer the larger τ.
 * π₀ is SFT on uniform demonstrations, so π_ref ≈ uniform and π(a) starts near ⅓. The evaluation
 * records the exact probability of each action under the policy (`eval/p_best`, `eval/p_middle`,
 * `eval/p_worst`), read from the policy's next-token distribution, not estimated from samples.
 */
import { CharTokenizer } from "../Tokenizer.ts"
import { bosOnlyPrompts, pick, rng, type BuiltinTask } from "./Task.ts"

/** The actions, best first. */
export const ORDER_ACTIONS = ["a", "b", "c"] as const

const tokenizer = new CharTokenizer({ symbols: [...ORDER_ACTIONS] })

/** Gold by rank: a = 1, b = ½, c = 0; anything else (EOS first, no action) = 0, tied with c. */
export const orderGold = (completionTokenIds: ReadonlyArray<number>): number => {
  const rank = ORDER_ACTIONS.indexOf(tokenizer.decode(completionTokenIds.slice(0, 1)) as (typeof ORDER_ACTIONS)[number])
  return rank === -1 ? 0 : (ORDER_ACTIONS.length - 1 - rank) / (ORDER_ACTIONS.length - 1)
}

const gold = (_prompt: string, _completion: string, ids: ReadonlyArray<number>) => orderGold(ids)

export const order: BuiltinTask = {
  name: "order",
  tokenizer,
  // one action; the completion ends there (demonstrations carry no EOS, so π₀'s first token is an action)
  defaultMaxNewTokens: 1,
  prompts: bosOnlyPrompts("order", tokenizer),
  goldReward: gold,
  reward: gold,
  // Uniform over the three actions: π₀ ≈ π_ref ≈ uniform.
  demonstrations: (config, count, seed) => {
    const rand = rng("order", config.seed, "demos", seed)
    return Array.from({ length: count }, () => ({
      promptTokenIds: [tokenizer.bosId],
      completionTokenIds: tokenizer.encode(pick(ORDER_ACTIONS, rand))
    }))
  },
  probes: [
    { name: "best", completionTokenIds: tokenizer.encode("a") },
    { name: "middle", completionTokenIds: tokenizer.encode("b") },
    { name: "worst", completionTokenIds: tokenizer.encode("c") }
  ]
}
