/**
 * What every stage of a run needs to know about it — its config, task, prompts, checkpoint root
 * and engine — and the small lookups the stages share (round prompts, sequences, checkpoint rows).
 */
import { Effect } from "effect"
import { Checkpoints } from "./Checkpoints.ts"
import type { CheckpointRef, Prompt, Sequence } from "./Domain.ts"
import { ConfigError } from "./Errors.ts"
import type { RunConfig } from "./RunConfig.ts"
import { RunStore } from "./RunStore.ts"
import { deriveSeed, mulberry32, shuffled } from "./Seeds.ts"
import { asciiTokenizer, loadTask, type PromptsEnv, type Task } from "./tasks/index.ts"
import { readFileSync } from "node:fs"

/** What every stage needs to know about the run. */
export interface RunContext {
  readonly runId: string
  readonly config: RunConfig
  readonly task: Task
  readonly prompts: ReadonlyMap<string, Prompt>
  readonly checkpointRoot: string
  /** The engine this process runs the policy on (stage_times.backend). */
  readonly backend: string | null
}

/** The engine a run starts or resumes on, as Backend.selectBackend reports it. */
export interface EngineInfo {
  readonly backend: string
  readonly device: string
}

/**
 * What the prompts task reads its files with: the policy's tokenizer (policy.init's, else
 * task.tokenizer, else printable ASCII), the longest prompt the context leaves room for, the chat
 * template override, and — for a stored run — the prompts it recorded.
 */
const promptsEnv = Effect.fnUntraced(function*(runId: string, config: RunConfig, checkpointRoot: string) {
  const checkpoints = yield* Checkpoints
  const init = config.policy.init === null ? null : yield* checkpoints.importPolicy(config.policy.init, checkpointRoot)
  const tokenizer = init !== null
    ? yield* checkpoints.tokenizer(init.ref.path)
    : config.task.tokenizer !== null
    ? yield* checkpoints.tokenizer(config.task.tokenizer)
    : asciiTokenizer
  const contextLength = init?.model.contextLength ?? config.policy.model.contextLength
  const chatTemplate = config.task.chatTemplate === null ? undefined : yield* readTemplate(config.task.chatTemplate)
  const stored = runId === "" ? undefined : yield* (yield* RunStore).readRunPrompts(runId)
  return {
    tokenizer,
    maxPromptTokens: contextLength - config.sampling.maxNewTokens,
    ...(chatTemplate ? { chatTemplate } : {}),
    ...(stored ? { stored } : {})
  } satisfies PromptsEnv
})

const readTemplate = (file: string) =>
  Effect.try({
    try: () => ({ text: readFileSync(file, "utf8"), source: `chat template ${file}` }),
    catch: (e) => new ConfigError({ message: `task.chatTemplate ${file}: cannot read it: ${(e as Error).message}`, path: "$.task.chatTemplate" })
  })

/**
 * The run's task and its prompts of both splits, by id. A built-in task's own complaints (e.g.
 * more prompts asked for than it has) are ConfigErrors at $.task; a prompts task reads its files,
 * or, for a run that recorded them (`runId` given), the run store.
 */
export const taskContextChecked = Effect.fn("RunContext.load")(function*(runId: string, config: RunConfig, checkpointRoot: string, backend: string | null = null) {
  const task = yield* loadTask(config.task, () => promptsEnv(runId, config, checkpointRoot))
  const prompts = yield* Effect.try({
    try: () => {
      const byId = new Map<string, Prompt>()
      for (const split of ["train", "heldout"] as const) for (const p of task.prompts(config.task, split)) byId.set(p.promptId, p)
      return byId
    },
    catch: (e) => new ConfigError({ message: (e as Error).message, path: "$.task" })
  })
  return { runId, config, task, prompts, checkpointRoot, backend } satisfies RunContext
})

/** A rollout (prompt id + completion tokens) as the sequence the policy scores. */
export const sequenceOf = (ctx: RunContext, r: { promptId: string; tokenIds: ReadonlyArray<number> }): Sequence => ({
  promptTokenIds: ctx.prompts.get(r.promptId)!.tokenIds,
  completionTokenIds: r.tokenIds
})

/** The round's train prompts: a seeded permutation of the train split, taken P at a time, cycling. */
export const roundPrompts = (ctx: Pick<RunContext, "config" | "prompts">, round: number): Array<Prompt> => {
  const train = [...ctx.prompts.values()].filter((p) => p.split === "train")
  const P = ctx.config.sampling.promptsPerRound
  const order = shuffled(train, mulberry32(deriveSeed(ctx.config.seed, "prompt-order")))
  return Array.from({ length: Math.min(P, order.length) }, (_, i) => order[((round - 1) * P + i) % order.length]!)
}

/** The held-out prompts evaluated each round. */
export const heldoutPrompts = (ctx: RunContext): Array<Prompt> =>
  [...ctx.prompts.values()].filter((p) => p.split === "heldout").slice(0, ctx.config.eval.prompts)

/** A recorded checkpoint's ref (id and directory), by id. */
export const checkpointRef = Effect.fn("RunContext.checkpointRef")(function*(id: string) {
  const store = yield* RunStore
  const row = yield* store.readCheckpoint(id)
  if (!row) return yield* new ConfigError({ message: `checkpoint ${id} is not recorded in ${store.file}: the database is incomplete` })
  return { id: row.ckptId, path: row.path } satisfies CheckpointRef
})

/** A checkpoints-table row for `ref`, made in `round` from `parent`. */
export const checkpointRow = Effect.fn("RunContext.checkpointRow")(function*(ctx: RunContext, ref: CheckpointRef, parent: string | null, round: number) {
  const { nParams } = yield* (yield* Checkpoints).describe(ref.path)
  return { ckptId: ref.id, path: ref.path, parent, runId: ctx.runId, round, nParams }
})

