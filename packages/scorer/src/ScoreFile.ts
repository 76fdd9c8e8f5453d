/** `odpo score`: score a rollouts JSONL file with a reward spec and write it back with reward, gold_reward and source. */
import { Errors, Tasks, type Domain, type RunConfig, type Scorer } from "@odpo/core"
import { Effect } from "effect"
import { readFile, writeFile } from "node:fs/promises"
import { makeRewardSource, scoreWith } from "./RewardScorer.ts"
import { decodeRewardSpec, type RewardSpec } from "./RewardSpec.ts"

const { InvalidInput } = Errors

const first = (row: Record<string, unknown>, keys: ReadonlyArray<string>): unknown => {
  for (const k of keys) if (row[k] !== undefined && row[k] !== null) return row[k]
  return undefined
}

const isIds = (v: unknown): v is ReadonlyArray<number> => Array.isArray(v) && v.every((x) => Number.isInteger(x))

/**
 * One JSONL row → a ScoreItem. Accepts the sampler's camelCase and the store's snake_case names:
 * prompt text `prompt`/`promptText`/`prompt_text`; completion `text`/`completion`/`completionText`;
 * ids `tokenIds`/`token_ids`/`completionTokenIds` (else the task's tokenizer encodes the text);
 * `finishReason`/`finish_reason` (else "eos" when the ids end with the task's EOS, "length" otherwise).
 */
const toItem = (row: Record<string, unknown>, where: string, task: Tasks.Task | undefined): Effect.Effect<Domain.ScoreItem, Errors.InvalidInput> =>
  Effect.gen(function*() {
    const promptText = first(row, ["prompt", "promptText", "prompt_text"])
    if (typeof promptText !== "string") {
      return yield* new InvalidInput({ message: `${where}: no prompt text: add a "prompt" (or "promptText") string field` })
    }
    let ids = first(row, ["tokenIds", "token_ids", "completionTokenIds", "completion_token_ids"])
    let text = first(row, ["text", "completion", "completionText", "completion_text"])
    if (ids !== undefined && !isIds(ids)) return yield* new InvalidInput({ message: `${where}: "tokenIds" must be a list of integers` })
    if (typeof text !== "string") {
      if (ids === undefined || task === undefined) return yield* new InvalidInput({ message: `${where}: no completion: add a "text" string field` })
      text = task.tokenizer.decode(ids as ReadonlyArray<number>)
    }
    const finish = first(row, ["finishReason", "finish_reason"])
    if (finish !== undefined && finish !== "eos" && finish !== "length" && finish !== "stop") {
      return yield* new InvalidInput({ message: `${where}: finishReason must be "eos", "length" or "stop", got ${JSON.stringify(finish)}` })
    }
    if (ids === undefined) {
      if (task === undefined) return yield* new InvalidInput({ message: `${where}: no "tokenIds": include them or name the task so the text can be tokenized` })
      const encoded = yield* Effect.try({
        try: () => task.tokenizer.encode(text as string),
        catch: (e) => new InvalidInput({ message: `${where}: ${(e as Error).message}` })
      })
      ids = finish === "eos" ? [...encoded, task.tokenizer.eosId] : encoded
    }
    const tokenIds = ids as ReadonlyArray<number>
    const finishReason = (finish as Domain.FinishReason | undefined) ??
      (task !== undefined && tokenIds.at(-1) === task.tokenizer.eosId ? "eos" : "length")
    const promptId = first(row, ["promptId", "prompt_id"])
    return {
      promptId: typeof promptId === "string" ? promptId : where,
      promptText,
      completionText: text as string,
      completionTokenIds: tokenIds,
      finishReason
    }
  })

/**
 * Read rollouts from `input` (JSONL), score them, write `out` (JSONL: each input row plus
 * `reward`, `gold_reward` (null without a task) and `source`). Returns the row count and source id.
 */
export const scoreFile = (options: {
  readonly reward: RewardSpec | RunConfig.RewardSpec
  readonly task?: RunConfig.BuiltinTaskConfig
  readonly input: string
  readonly out: string
}): Effect.Effect<{ readonly rows: number; readonly source: string }, Scorer.ScorerError> =>
  Effect.scoped(
    Effect.gen(function*() {
      const spec = yield* decodeRewardSpec(options.reward, "$")
      const task = options.task ? Tasks.getTask(options.task) : undefined
      const text = yield* Effect.tryPromise({
        try: () => readFile(options.input, "utf8"),
        catch: (e) => new InvalidInput({ message: `cannot read rollouts file ${options.input}: ${(e as Error).message}` })
      })
      const rows: Array<Record<string, unknown>> = []
      const items: Array<Domain.ScoreItem> = []
      const lines = text.split("\n")
      for (let i = 0; i < lines.length; i++) {
        if (lines[i]!.trim() === "") continue
        const where = `${options.input}:${i + 1}`
        const row = yield* Effect.try({
          try: () => JSON.parse(lines[i]!) as unknown,
          catch: (e) => new InvalidInput({ message: `${where}: not valid JSON: ${(e as Error).message}` })
        })
        if (typeof row !== "object" || row === null || Array.isArray(row)) {
          return yield* new InvalidInput({ message: `${where}: expected a JSON object per line` })
        }
        rows.push(row as Record<string, unknown>)
        items.push(yield* toItem(row as Record<string, unknown>, where, task))
      }
      if (items.length === 0) return yield* new InvalidInput({ message: `${options.input} has no rollouts (expected JSON lines)` })
      const source = yield* makeRewardSource(spec, task)
      const result = yield* scoreWith(source, task, items)
      const out = rows.map((row, i) => JSON.stringify({ ...row, reward: result.scores[i]!.reward, gold_reward: result.scores[i]!.goldReward, source: result.source }))
      yield* Effect.tryPromise({
        try: () => writeFile(options.out, out.join("\n") + "\n"),
        catch: (e) => new InvalidInput({ message: `cannot write ${options.out}: ${(e as Error).message}` })
      })
      return { rows: rows.length, source: result.source }
    })
  )
