/** The built-in tasks (SCIENCE.md): look one up by its config. */
import type { TaskConfig } from "../RunConfig.ts"
import { arith } from "./Arith.ts"
import { bandit } from "./Bandit.ts"
import { length } from "./Length.ts"
import { order } from "./Order.ts"
import { sentiment } from "./Sentiment.ts"
import type { Task } from "./Task.ts"

export type { Probe, Task } from "./Task.ts"
export { ACTIONS, banditReward } from "./Bandit.ts"
export { arithGold, plausibleWrongSum } from "./Arith.ts"
export { LENGTH_BONUS_PER_CHAR } from "./Length.ts"
export { ORDER_ACTIONS, orderGold } from "./Order.ts"
export { ADJECTIVES, countClauses, perClauseGold, PROMPT_POOL, reviewMetrics, reviewTokenizer, sentimentGold, SUBJECTS } from "./Reviews.ts"

/** The task a config names; the bandit is built for the config's μ and σ. */
export const getTask = (config: TaskConfig): Task => {
  switch (config.name) {
    case "bandit":
      return bandit(config.mu, config.sigma)
    case "sentiment":
      return sentiment
    case "length":
      return length
    case "arith":
      return arith
    case "order":
      return order
  }
}
