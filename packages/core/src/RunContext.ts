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
import { getTask, type Task } from "./tasks/index.ts"

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

/** Task prompts of both splits, by id. */
export const taskContext = (runId: string, config: RunConfig, checkpointRoot: string, backend: string | null = null): RunContext => {
  const task = getTask(config.task)
  const prompts = new Map<string, Prompt>()
  for (const split of ["train", "heldout"] as const) for (const p of task.prompts(config.task, split)) prompts.set(p.promptId, p)
  return { runId, config, task, prompts, checkpointRoot, backend }
}

/** The task's own complaints (e.g. more prompts asked for than it has) as ConfigErrors. */
export const taskContextChecked = (runId: string, config: RunConfig, checkpointRoot: string, backend: string | null = null) =>
  Effect.try({
    try: () => taskContext(runId, config, checkpointRoot, backend),
    catch: (e) => new ConfigError({ message: (e as Error).message, path: "$.task" })
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

