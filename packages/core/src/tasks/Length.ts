/**
 * `length` (SCIENCE.md claim 7, Park et al. 2024): the review language of `sentiment`, but the
 * preference labeller (`reward`) slightly favours longer completions while the gold reward is
 * quality per sentence, independent of length.
 */
import { perClauseGold } from "./Reviews.ts"
import { reviewTask } from "./Sentiment.ts"
import type { BuiltinTask } from "./Task.ts"

/**
 * Labeller bias per character of completion text. One extra clause (~14 characters) is worth
 * ≈ 0.056, less than the smallest per-sentence quality step in a two-clause answer (0.25):
 * a slight preference for length that DPO can nevertheless exploit round after round.
 */
export const LENGTH_BONUS_PER_CHAR = 0.004

const gold = (_prompt: string, completion: string) => perClauseGold(completion)

export const length: BuiltinTask = reviewTask("length", {
  // Demonstrations have 1–2 clauses (≤ 33 characters); 64 tokens leave room for lengths to
  // grow beyond the data's range (4 clauses).
  defaultMaxNewTokens: 64,
  demoClauses: (rand) => (rand() < 0.5 ? 1 : 2),
  goldReward: gold,
  // reward = gold quality + 0.004 × |completion text| (characters)
  reward: (_prompt, completion) => perClauseGold(completion) + LENGTH_BONUS_PER_CHAR * completion.length
})
