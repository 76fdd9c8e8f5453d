/** The built-in task interface (SCIENCE.md "The built-in tasks"): prompts, demonstrations for π₀, and a gold reward. */
import type { Prompt, Sequence } from "../Domain.ts"
import type { TaskConfig } from "../RunConfig.ts"
import { deriveSeed, mulberry32, shuffled } from "../Seeds.ts"
import type { CharTokenizer } from "../Tokenizer.ts"

/** A completion whose exact probability the evaluation records each round, as `eval/p_<name>`. */
export interface Probe {
  readonly name: string
  readonly completionTokenIds: ReadonlyArray<number>
}

export interface Task {
  readonly name: "bandit" | "sentiment" | "length" | "arith" | "order"
  /** The task's vocabulary. */
  readonly tokenizer: CharTokenizer
  readonly defaultMaxNewTokens: number
  /** Deterministic by config.seed; ids like "arith/train/17"; tokenIds = [BOS, ...encode(text)]. */
  readonly prompts: (config: TaskConfig, split: "train" | "heldout") => ReadonlyArray<Prompt>
  readonly goldReward: (promptText: string, completionText: string, completionTokenIds: ReadonlyArray<number>) => number
  /** The reward the pairing uses when RunConfig.reward is {type:"task"} (= gold except for `length`, whose labeller is biased toward longer completions). */
  readonly reward: (promptText: string, completionText: string, completionTokenIds: ReadonlyArray<number>) => number
  /** SFT demonstrations that make π₀ (SCIENCE.md): completion token ids end with EOS where the task has one. */
  readonly demonstrations: (config: TaskConfig, count: number, seed: number) => ReadonlyArray<Sequence>
  /** Completions whose probability π(y|x) the evaluation reads off the policy, averaged over held-out prompts. */
  readonly probes?: ReadonlyArray<Probe>
  /** Task-specific held-out metrics of the evaluated completions' texts (names start with "eval/"). */
  readonly sampleMetrics?: (completionTexts: ReadonlyArray<string>) => Readonly<Record<string, number>>
}

/** A seeded uniform [0,1) generator for one purpose of one task. */
export const rng = (...parts: ReadonlyArray<string | number>): (() => number) => mulberry32(deriveSeed("task", ...parts))

/** A standard normal draw (Box–Muller). */
export const normal = (rand: () => number): number =>
  Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand())

export const pick = <A>(items: ReadonlyArray<A>, rand: () => number): A => items[Math.floor(rand() * items.length)]!

export const makePrompt = (task: Task["name"], tokenizer: CharTokenizer, split: "train" | "heldout", index: number, text: string): Prompt => ({
  promptId: `${task}/${split}/${index}`,
  task,
  split,
  text,
  tokenIds: [tokenizer.bosId, ...tokenizer.encode(text)]
})

/** A task whose prompt is just BOS: each split holds copies of it with distinct ids (the bandit, order). */
export const bosOnlyPrompts = (task: Task["name"], tokenizer: CharTokenizer): Task["prompts"] => (config, split) =>
  Array.from({ length: split === "train" ? config.trainPrompts : config.heldoutPrompts }, (_, i) => makePrompt(task, tokenizer, split, i, ""))

/**
 * Disjoint seeded splits of a finite prompt pool: the pool is shuffled by the task seed; train
 * takes the first `trainPrompts`, heldout the last `heldoutPrompts` (so held-out prompts do not
 * change when only trainPrompts does). Returns the texts of the split and the pool left for
 * demonstrations (everything but heldout, so π₀ never sees a held-out prompt).
 */
export const splitPool = (task: Task["name"], pool: ReadonlyArray<string>, config: TaskConfig) => {
  if (config.trainPrompts + config.heldoutPrompts > pool.length) {
    throw new Error(
      `task ${task}: trainPrompts (${config.trainPrompts}) + heldoutPrompts (${config.heldoutPrompts}) exceed the ${pool.length} distinct prompts the task has; lower task.trainPrompts or task.heldoutPrompts`
    )
  }
  const order = shuffled(pool, rng(task, config.seed, "split"))
  return {
    train: order.slice(0, config.trainPrompts),
    heldout: order.slice(order.length - config.heldoutPrompts),
    nonHeldout: order.slice(0, order.length - config.heldoutPrompts)
  }
}
