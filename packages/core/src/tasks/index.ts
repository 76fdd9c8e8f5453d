/** The built-in tasks (SCIENCE.md): look one up by its config. */
import { Effect } from "effect"
import type { ConfigError, InvalidInput } from "../Errors.ts"
import type { BuiltinTaskConfig, TaskConfig, TaskName } from "../RunConfig.ts"
import { arith } from "./Arith.ts"
import { bandit } from "./Bandit.ts"
import { length } from "./Length.ts"
import { order } from "./Order.ts"
import { sentiment } from "./Sentiment.ts"
import { loadPromptsTask, type PromptsEnv } from "./Prompts.ts"
import type { BuiltinTask, Task } from "./Task.ts"

export type { BuiltinTask, Probe, Task, UserPrompts } from "./Task.ts"
export { asciiTokenizer, type PromptsEnv } from "./Prompts.ts"
export { ACTIONS, banditReward } from "./Bandit.ts"
export { arithGold, plausibleWrongSum } from "./Arith.ts"
export { LENGTH_BONUS_PER_CHAR } from "./Length.ts"
export { ORDER_ACTIONS, orderGold } from "./Order.ts"
export { ADJECTIVES, countClauses, perClauseGold, PROMPT_POOL, reviewMetrics, reviewTokenizer, sentimentGold, SUBJECTS } from "./Reviews.ts"

/** The built-in tasks by name; the bandit is built for the config's μ and σ. */
const builtins: Record<BuiltinTaskConfig["name"], (config: BuiltinTaskConfig) => BuiltinTask> = {
  bandit: (config) => bandit(config.mu, config.sigma),
  sentiment: () => sentiment,
  length: () => length,
  arith: () => arith,
  order: () => order
}

/**
 * Every task, one entry each: the built-in tasks generate their prompts, `prompts` reads the
 * user's files (or, on resume, the run store) with the policy's tokenizer (PromptsEnv).
 */
type Entry = <E, R>(config: TaskConfig, env: () => Effect.Effect<PromptsEnv, E, R>) => Effect.Effect<Task, InvalidInput | ConfigError | E, R>
const generated = (name: BuiltinTaskConfig["name"]): Entry => (config) => Effect.sync(() => builtins[name]({ ...config, name }))
const tasks: Record<TaskName, Entry> = {
  bandit: generated("bandit"),
  sentiment: generated("sentiment"),
  length: generated("length"),
  arith: generated("arith"),
  order: generated("order"),
  prompts: (config, env) => Effect.flatMap(env(), (e) => loadPromptsTask(config, e))
}

/** A task by its config; `env` is asked for only by a task that reads files (prompts). */
export const loadTask = <E, R>(config: TaskConfig, env: () => Effect.Effect<PromptsEnv, E, R>) => tasks[config.name](config, env)

export const isBuiltin = (config: { readonly name: TaskName }): config is BuiltinTaskConfig => config.name !== "prompts"

/** A built-in task by its config (what the scorer, `odpo train-rm` and tests use). */
export const getTask = (config: BuiltinTaskConfig): BuiltinTask => builtins[config.name](config)
