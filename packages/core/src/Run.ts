/**
 * A run: created from a validated config (nothing is written for a bad one), then run — or
 * resumed — round by round to completion, its status kept in the store.
 */
import { Effect } from "effect"
import { ConfigError } from "./Errors.ts"
import { initialCheckpoint, sftDemonstrations } from "./InitialPolicy.ts"
import { roundN, roundZero } from "./Round.ts"
import { decodeStoredConfig, type RunConfig, samplingWarnings } from "./RunConfig.ts"
import { type EngineInfo, type RunContext, taskContextChecked } from "./RunContext.ts"
import { RunStore } from "./RunStore.ts"

export type { EngineInfo } from "./RunContext.ts"

/** Checks that need the task: the context must hold the longest prompt plus maxNewTokens. */
const validateAgainstTask = (ctx: RunContext) => {
  const longest = Math.max(...[...ctx.prompts.values()].map((p) => p.tokenIds.length))
  const need = longest + ctx.config.sampling.maxNewTokens
  const m = ctx.config.policy.model
  if (ctx.config.policy.init === null && need > m.contextLength) {
    return Effect.fail(new ConfigError({
      message: `policy.model.contextLength ${m.contextLength} cannot hold the longest ${ctx.task.name} prompt (${longest} tokens) plus sampling.maxNewTokens ${ctx.config.sampling.maxNewTokens}: raise it to at least ${need}`,
      path: "$.policy.model.contextLength"
    }))
  }
  if (ctx.config.policy.init === null) {
    // SFT's demonstrations come from the task (their length does not depend on sampling.maxNewTokens).
    const longestDemo = Math.max(...sftDemonstrations(ctx.config, ctx.task).map((d) => d.promptTokenIds.length + d.completionTokenIds.length))
    if (longestDemo > m.contextLength) {
      return Effect.fail(new ConfigError({
        message: `policy.model.contextLength ${m.contextLength} cannot hold the longest of ${ctx.task.name}'s SFT demonstrations (${longestDemo} tokens): raise it to at least ${longestDemo}`,
        path: "$.policy.model.contextLength"
      }))
    }
  }
  if (ctx.config.policy.init === null && m.headDim === undefined && m.dModel % m.nHeads !== 0) {
    return Effect.fail(new ConfigError({
      message: `policy.model.nHeads ${m.nHeads} does not divide policy.model.dModel ${m.dModel}: choose heads that split the width evenly (e.g. ${[1, 2, 4, 8].filter((h) => m.dModel % h === 0).join(", ")})`,
      path: "$.policy.model.nHeads"
    }))
  }
  const kv = m.nKvHeads ?? m.nHeads
  if (ctx.config.policy.init === null && (m.architecture ?? "gpt2") !== "gpt2" && m.nHeads % kv !== 0) {
    return Effect.fail(new ConfigError({
      message: `policy.model.nKvHeads ${kv} does not divide policy.model.nHeads ${m.nHeads}: each key/value head serves an equal group of query heads`,
      path: "$.policy.model.nKvHeads"
    }))
  }
  if (ctx.config.sampling.promptsPerRound > ctx.config.task.trainPrompts) {
    return Effect.fail(new ConfigError({
      message: `sampling.promptsPerRound ${ctx.config.sampling.promptsPerRound} exceeds the task's train prompts (task.trainPrompts ${ctx.config.task.trainPrompts}): lower it or raise task.trainPrompts`,
      path: "$.sampling.promptsPerRound"
    }))
  }
  if (ctx.config.eval.prompts > [...ctx.prompts.values()].filter((p) => p.split === "heldout").length) {
    return Effect.fail(new ConfigError({
      message: `eval.prompts ${ctx.config.eval.prompts} exceeds the task's held-out prompts (task.heldoutPrompts ${ctx.config.task.heldoutPrompts})`,
      path: "$.eval.prompts"
    }))
  }
  return Effect.void
}

export interface StartOptions {
  readonly name?: string
  readonly seed?: number
  /** Checkpoints go under this directory (default: `checkpoints/` beside the database). */
  readonly checkpointRoot: string
  readonly codeVersion?: string
  /** The engine the run starts on (runs.backend, runs.device). */
  readonly engine?: EngineInfo
  /**
   * A run that is not a round loop (e.g. best-of-n sampling, BestOfN.ts): its name goes into
   * runs.loss and runs.pair_source, its options into the stored config; it cannot be resumed.
   */
  readonly method?: { readonly name: string; readonly options: unknown }
}

/** Create a run (validated up front: nothing is written for a bad config) and return its id. */
export const createRun = Effect.fn("Run.createRun")(function*(config: RunConfig, options: StartOptions) {
  const store = yield* RunStore
  const final: RunConfig = { ...config, ...(options.name ? { name: options.name } : {}), ...(options.seed !== undefined ? { seed: options.seed } : {}) }
  const ctx = yield* taskContextChecked("", final, options.checkpointRoot)
  yield* validateAgainstTask(ctx)
  // A corrupt or mismatched init checkpoint fails here, before the run row exists.
  if (final.policy.init !== null) yield* initialCheckpoint(final.policy.init, ctx.task, options.checkpointRoot)
  for (const warning of samplingWarnings(final)) yield* Effect.logWarning(warning)
  const stamp = new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14)
  const runId = `${final.name}-${stamp}-${Math.random().toString(36).slice(2, 6)}`
  const method = options.method
  yield* store.createRun({
    runId, name: final.name, experiment: final.experiment,
    config: { ...final, checkpointRoot: options.checkpointRoot, ...(method ? { method } : {}) },
    seed: final.seed, pairSource: method?.name ?? final.pairSource, loss: method?.name ?? final.loss.type, beta: final.loss.beta,
    status: "running", createdAt: new Date().toISOString(), codeVersion: options.codeVersion ?? "dev",
    backend: options.engine?.backend ?? null, device: options.engine?.device ?? null
  })
  return runId
})

/** A stored run's config and context, as its stages see them (`method` is StartOptions.method, if any). */
export const storedContext = Effect.fn("Run.storedContext")(function*(runId: string, engine?: EngineInfo) {
  const run = yield* (yield* RunStore).getRun(runId)
  const stored = run.config as RunConfig & { checkpointRoot: string; method?: StartOptions["method"] }
  const config = yield* decodeStoredConfig(Object.fromEntries(Object.entries(stored).filter(([k]) => k !== "checkpointRoot" && k !== "method")))
  const ctx = yield* taskContextChecked(run.runId, config, stored.checkpointRoot, engine?.backend ?? run.backend)
  return { run, ctx, method: stored.method }
})

/** Run (or resume) every unfinished stage of every round of a stored run. */
export const runToCompletion = Effect.fn("Run.runToCompletion")(function*(runId: string, engine?: EngineInfo) {
  const store = yield* RunStore
  const { run, ctx, method } = yield* storedContext(runId, engine)
  const config = ctx.config
  if (method) {
    return yield* new ConfigError({
      message: `run ${run.runId} is a ${method.name} run, not a round loop: there is nothing to resume; run it again as a new run`
    })
  }
  yield* store.setRunStatus(run.runId, "running")
  if (engine) yield* store.setRunEngine(run.runId, engine.backend, engine.device)
  const work = Effect.gen(function*() {
    yield* roundZero(ctx, (yield* store.listRounds(run.runId))[0])
    for (let r = 1; r <= config.rounds; r++) yield* roundN(ctx, r)
  })
  // Any end but success — a typed failure, a defect, an interruption — marks the run failed (resumable).
  yield* work.pipe(Effect.onError(() => store.setRunStatus(run.runId, "failed").pipe(Effect.ignore)))
  yield* store.setRunStatus(run.runId, "finished")
  return run.runId
})
