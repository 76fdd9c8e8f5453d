/**
 * The token bandit (SCIENCE.md claim 5, Tajwar et al. 2024): a fixed prompt → 8 actions from a
 * 100-token vocabulary; reward peaks at μ. π₀ is made to centre near action 20, so μ = 70 lies
 * where π₀ has almost no mass and μ = 20 where it has most.
 */
import { CharTokenizer } from "../Tokenizer.ts"
import { bosOnlyPrompts, normal, rng, type BuiltinTask } from "./Task.ts"

/** Actions per completion. */
export const ACTIONS = 8
/** Where π₀'s demonstrations centre, and their spread (in actions). */
export const DEMO_MEAN = 20
export const DEMO_STD = 6

/** Symbols "00".."99", separated by spaces: a completion reads "20 23 17 …". Action a has id a + 3. */
const tokenizer = new CharTokenizer({ symbols: Array.from({ length: 100 }, (_, a) => String(a).padStart(2, "0")), separator: " " })
const actionOf = (id: number): number | null => (id >= 3 && id < 103 ? id - 3 : null)

/**
 * gold = (1/8) Σ_{t<8} exp(−((y_t − μ)/σ)²) over the first 8 completion tokens;
 * a missing position or a non-action token (EOS, PAD, BOS) counts 0.
 */
export const banditReward = (mu: number, sigma: number) => (completionTokenIds: ReadonlyArray<number>): number => {
  let sum = 0
  for (let t = 0; t < ACTIONS; t++) {
    const a = t < completionTokenIds.length ? actionOf(completionTokenIds[t]!) : null
    if (a !== null) sum += Math.exp(-(((a - mu) / sigma) ** 2))
  }
  return sum / ACTIONS
}

/** The bandit for a config's μ and σ (the reward depends on them, so the task is built per config). */
export const bandit = (mu: number, sigma: number): BuiltinTask => {
  const reward = banditReward(mu, sigma)
  const gold = (_prompt: string, _completion: string, ids: ReadonlyArray<number>) => reward(ids)
  return {
    name: "bandit",
    tokenizer,
    // 8 actions and room for EOS
    defaultMaxNewTokens: ACTIONS + 1,
    prompts: bosOnlyPrompts("bandit", tokenizer),
    goldReward: gold,
    reward: gold,
    // Each action ~ round(N(20, 6)) clipped to [0, 99]: real mass near 20, almost none near 70 (≈ 8σ away).
    demonstrations: (config, count, seed) => {
      const rand = rng("bandit", config.seed, "demos", seed)
      return Array.from({ length: count }, () => ({
        promptTokenIds: [tokenizer.bosId],
        completionTokenIds: [
          ...Array.from({ length: ACTIONS }, () => Math.min(99, Math.max(0, Math.round(DEMO_MEAN + DEMO_STD * normal(rand)))) + 3),
          tokenizer.eosId
        ]
      }))
    }
  }
}
