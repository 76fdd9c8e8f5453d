// The reward functions of this experiment, called as TRL calls reward_funcs: one object of named
// arrays — prompts, completions, and each other column of the prompt rows (here: target) — and
// one number back per completion (a Promise of them is fine too).

interface Batch {
  readonly prompts: ReadonlyArray<unknown>
  readonly completions: ReadonlyArray<string>
  readonly target: ReadonlyArray<string>
}

/** The proxy the pairs are ranked by: the target word anywhere in the completion, less 0.01 per character. */
export const reward = ({ completions, target }: Batch): Array<number> =>
  completions.map((c, i) => (c.includes(target[i]!) ? 1 : 0) - 0.01 * c.length)

/** The held-out gold: the completion is exactly the target word. */
export const gold = ({ completions, target }: Batch): Array<number> =>
  completions.map((c, i) => (c.trim() === target[i] ? 1 : 0))
