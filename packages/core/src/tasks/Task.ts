/**
 * The task interface, one entry per task in tasks/index.ts (SCIENCE.md "The built-in tasks", and
 * `prompts`, the user's own file): prompts, demonstrations for π₀, and a gold reward when it has one.
 */
import type { Prompt, Sequence } from "../Domain.ts"
import type { TaskName, TaskParams } from "../RunConfig.ts"
import { deriveSeed, mulberry32, shuffled } from "../Seeds.ts"
import type { PromptDataRow, PromptFileRow } from "../StoreRows.ts"
import type { CharTokenizer, Tokenizer } from "../Tokenizer.ts"

/** A completion whose exact probability the evaluation records each round, as `eval/p_<name>`. */
export interface Probe {
  readonly name: string
  readonly completionTokenIds: ReadonlyArray<number>
}

/** The user's prompts as a prompts task loaded them: their rows of the file, and the files read (the run store keeps both). */
export interface UserPrompts {
  /** What the prompt ids are keyed on (files' SHA-256, tokenizer, limits). */
  readonly key: string
  readonly data: ReadonlyMap<string, PromptDataRow>
  /** prompt_files rows, without the run id (filled in when recorded). */
  readonly files: ReadonlyArray<Omit<PromptFileRow, "runId">>
  /** The demonstrations file's SHA-256 (the SFT cache keys on it), null without one. */
  readonly demonstrationsSha256: string | null
}

export interface Task {
  readonly name: TaskName
  /** The task's vocabulary. */
  readonly tokenizer: Tokenizer
  readonly defaultMaxNewTokens: number
  /** Deterministic by config.seed; ids like "arith/train/17"; tokenIds = [BOS, ...encode(text)]. */
  readonly prompts: (config: TaskParams, split: "train" | "heldout") => ReadonlyArray<Prompt>
  /** The task's gold reward; absent for a task that has none (prompts: RunConfig.gold may name one). */
  readonly goldReward?: (promptText: string, completionText: string, completionTokenIds: ReadonlyArray<number>) => number
  /** The reward the pairing uses when RunConfig.reward is {type:"task"} (= gold except for `length`, whose labeller is biased toward longer completions); absent when the task has none. */
  readonly reward?: (promptText: string, completionText: string, completionTokenIds: ReadonlyArray<number>) => number
  /** SFT demonstrations that make π₀ (SCIENCE.md): completion token ids end with EOS where the task has one; absent when it has none. */
  readonly demonstrations?: (config: TaskParams, count: number, seed: number) => ReadonlyArray<Sequence>
  /** The prompts task's rows and files (absent for the built-in tasks, whose prompts are generated). */
  readonly userPrompts?: UserPrompts
  /** Completions whose probability π(y|x) the evaluation reads off the policy, averaged over held-out prompts. */
  readonly probes?: ReadonlyArray<Probe>
  /** Task-specific held-out metrics of the evaluated completions' texts (names start with "eval/"). */
  readonly sampleMetrics?: (completionTexts: ReadonlyArray<string>) => Readonly<Record<string, number>>
}

/** A built-in task: generated prompts, a gold reward, demonstrations for π₀, a character vocabulary. */
export interface BuiltinTask extends Task {
  readonly name: Exclude<TaskName, "prompts">
  readonly tokenizer: CharTokenizer
  readonly goldReward: NonNullable<Task["goldReward"]>
  readonly reward: NonNullable<Task["reward"]>
  readonly demonstrations: NonNullable<Task["demonstrations"]>
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
export const splitPool = (task: Task["name"], pool: ReadonlyArray<string>, config: TaskParams) => {
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
