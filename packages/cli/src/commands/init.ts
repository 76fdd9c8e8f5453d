/**
 * `odpo init DIR`: a small, complete experiment of your own to start from — prompts, a reward
 * function (and a gold one), demonstrations for π₀, online and offline arms — that runs as is in
 * minutes on two CPU cores. experiments/custom/ holds the same files (a test keeps them equal).
 */
import { Errors } from "@odpo/core"
import { Console, Effect } from "effect"
import { Argument, Command } from "effect/cli"
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"

const WORDS = ["cat", "dog", "sun", "sky", "red", "blue", "tree", "fish"]

/** A seeded generator (the files are the same every time). */
const lcg = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)

const jsonl = (rows: ReadonlyArray<unknown>) => rows.map((r) => JSON.stringify(r)).join("\n") + "\n"

const rewardModule = `// The reward functions of this experiment, called as TRL calls reward_funcs: one object of named
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
`

const online = {
  name: "custom-online",
  experiment: "custom",
  seed: 0,
  rounds: 4,
  pairSource: "online",
  task: {
    name: "prompts",
    train: "prompts.jsonl",
    evalFraction: 0.2,
    idColumn: "id",
    demonstrations: "demonstrations.jsonl"
  },
  policy: {
    model: { contextLength: 24, dModel: 32, nLayers: 1, nHeads: 2 },
    sft: { steps: 120, batchSize: 16, learningRate: 0.01 }
  },
  sampling: { promptsPerRound: 16, samplesPerPrompt: 4, maxNewTokens: 8 },
  reward: { type: "function", module: "rewards/reward.ts", export: "reward" },
  gold: { type: "function", module: "rewards/reward.ts", export: "gold" },
  pairing: { strategy: "max_min" },
  loss: { type: "sigmoid", beta: 0.1 },
  training: { epochs: 1, batchSize: 8, learningRate: 0.002 },
  eval: { prompts: 16, samplesPerPrompt: 2 },
  engine: { backend: "cpu" }
}

/** Every file of the starter experiment, by its path inside DIR. */
export const starterFiles = (): Record<string, string> => {
  const rand = lcg(7)
  const pick = () => WORDS[Math.floor(rand() * WORDS.length)]!
  const prompts = Array.from({ length: 80 }, (_, i) => {
    const target = WORDS[i % WORDS.length]!
    return { id: `p${i}`, prompt: `say ${target}:`, target }
  })
  // π₀ says the asked word a third of the time, another word otherwise: room to improve.
  const demonstrations = Array.from({ length: 400 }, (_, i) => {
    const target = WORDS[i % WORDS.length]!
    return { prompt: `say ${target}:`, completion: ` ${rand() < 0.33 ? target : pick()}` }
  })
  return {
    "prompts.jsonl": jsonl(prompts),
    "demonstrations.jsonl": jsonl(demonstrations),
    "rewards/reward.ts": rewardModule,
    "online.json": JSON.stringify(online, null, 2) + "\n",
    "offline.json": JSON.stringify({ extends: "online.json", name: "custom-offline", pairSource: "offline" }, null, 2) + "\n"
  }
}

export const init = Command.make(
  "init",
  { dir: Argument.String("dir").pipe(Argument.withDescription("directory to write the experiment into (new or empty)")) },
  Effect.fn(function*({ dir }) {
    if (existsSync(dir) && readdirSync(dir).length > 0) {
      return yield* new Errors.ConfigError({ message: `${dir} is not empty: name a new or empty directory, so that nothing of yours is overwritten` })
    }
    const files = starterFiles()
    yield* Effect.sync(() => {
      for (const [name, text] of Object.entries(files)) {
        mkdirSync(dirname(join(dir, name)), { recursive: true })
        writeFileSync(join(dir, name), text)
      }
    })
    yield* Console.log([
      `wrote ${Object.keys(files).join(", ")} into ${dir}`,
      `next:`,
      `  odpo run ${join(dir, "online.json")} --db ${join(dir, "runs.duckdb")}`,
      `  odpo run ${join(dir, "offline.json")} --db ${join(dir, "runs.duckdb")}`,
      `  odpo compare custom-online custom-offline --db ${join(dir, "runs.duckdb")}`
    ].join("\n"))
  })
).pipe(Command.withDescription("Write a small complete experiment of your own (prompts, reward function, demonstrations, online and offline arms)"))
