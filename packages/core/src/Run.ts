/**
 * A run: created from a validated config (nothing is written for a bad one), then run — or
 * resumed — round by round to completion, its status kept in the store.
 */
import { Effect } from "effect"
import { CodeBuild } from "./CodeBuild.ts"
import { ConfigError } from "./Errors.ts"
import { holdRunLock } from "./internal/RunLock.ts"
import { sizeIssue } from "./Limits.ts"
import { getTask, isBuiltin } from "./tasks/index.ts"
import { initialCheckpoint, sftDemonstrations } from "./InitialPolicy.ts"
import { roundN, roundZero } from "./Round.ts"
import { decodeStoredConfig, type RunConfig, samplingWarnings, withSeedInReward } from "./RunConfig.ts"
import { type EngineInfo, type RunContext, taskContextChecked } from "./RunContext.ts"
import { RunStore } from "./RunStore.ts"
import { Scorer } from "./Scorer.ts"

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
  const count = (split: string) => [...ctx.prompts.values()].filter((p) => p.split === split).length
  // The prompts task's counts come from its files, the built-in tasks' from task.trainPrompts / heldoutPrompts.
  const own = ctx.task.userPrompts !== undefined
  if (ctx.config.sampling.promptsPerRound > count("train")) {
    return Effect.fail(new ConfigError({
      message: own
        ? `sampling.promptsPerRound ${ctx.config.sampling.promptsPerRound} exceeds the ${count("train")} train prompts of ${ctx.config.task.train}: lower it`
        : `sampling.promptsPerRound ${ctx.config.sampling.promptsPerRound} exceeds the task's train prompts (task.trainPrompts ${ctx.config.task.trainPrompts}): lower it or raise task.trainPrompts`,
      path: "$.sampling.promptsPerRound"
    }))
  }
  if (ctx.config.eval.prompts > count("heldout")) {
    return Effect.fail(new ConfigError({
      message: own
        ? `eval.prompts ${ctx.config.eval.prompts} exceeds the ${count("heldout")} held-out prompts: lower it`
        : `eval.prompts ${ctx.config.eval.prompts} exceeds the task's held-out prompts (task.heldoutPrompts ${ctx.config.task.heldoutPrompts})`,
      path: "$.eval.prompts"
    }))
  }
  return Effect.void
}

/**
 * Open the reward source now (an ONNX model's file, its tokenizer against the task's text) by
 * scoring one of the task's own demonstrations, so that a reward a run cannot use fails before the
 * run's row exists. The scorer keeps the source it built: the run's score stages reuse it.
 */
const checkReward = (ctx: RunContext) =>
  Effect.gen(function*() {
    const prompt = [...ctx.prompts.values()][0]!
    const demo = ctx.task.demonstrations?.(ctx.config.task, 1, 0)[0]
    const completionTokenIds = demo?.completionTokenIds ?? []
    // The prompt's row as the rounds hand it over (a user file's prompt and other columns), so a
    // reward that reads a column (e.g. ground_truth) sees it here too.
    const data = ctx.task.userPrompts?.data.get(prompt.promptId)
    const row = data ? { prompt: data.prompt, columns: data.columns } : {}
    yield* (yield* Scorer).score({
      reward: ctx.config.reward, task: ctx.config.task, label: "reward check",
      items: [{ promptId: prompt.promptId, promptText: prompt.text, completionText: ctx.task.tokenizer.decode(completionTokenIds), completionTokenIds, finishReason: "eos", ...row }]
    })
  })

export interface StartOptions {
  readonly name?: string
  readonly seed?: number
  /** Checkpoints go under this directory (default: `checkpoints/` beside the database). */
  readonly checkpointRoot: string
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
  const final: RunConfig = withSeedInReward({ ...config, ...(options.name ? { name: options.name } : {}), ...(options.seed !== undefined ? { seed: options.seed } : {}) })
  // Before the task builds its prompts: a size the machine cannot hold must not get that far.
  // (A user's prompts task knows its vocabulary only once its tokenizer is loaded: checked again below.)
  const tooLarge = sizeIssue(final, final.policy.model.vocabSize || (isBuiltin(final.task) ? getTask(final.task).tokenizer.vocabSize : 0))
  if (tooLarge) return yield* new ConfigError(tooLarge)
  const ctx = yield* taskContextChecked("", final, options.checkpointRoot)
  const tooLargeModel = isBuiltin(final.task) ? null : sizeIssue(final, final.policy.model.vocabSize || ctx.task.tokenizer.vocabSize)
  if (tooLargeModel) return yield* new ConfigError(tooLargeModel)
  yield* validateAgainstTask(ctx)
  // A corrupt or mismatched init checkpoint fails here, before the run row exists.
  if (final.policy.init !== null) yield* initialCheckpoint(final.policy.init, ctx.task, options.checkpointRoot)
  yield* checkReward(ctx)
  for (const warning of samplingWarnings(final)) yield* Effect.logWarning(warning)
  const stamp = new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14)
  const runId = `${final.name}-${stamp}-${Math.random().toString(36).slice(2, 6)}`
  const method = options.method
  yield* store.createRun({
    runId, name: final.name, experiment: final.experiment,
    config: { ...final, checkpointRoot: store.storePath(options.checkpointRoot), ...(method ? { method } : {}) },
    seed: final.seed, pairSource: method?.name ?? final.pairSource, loss: method?.name ?? final.loss.type, beta: final.loss.beta,
    status: "running", createdAt: new Date().toISOString(), codeVersion: yield* CodeBuild,
    backend: options.engine?.backend ?? null, device: options.engine?.device ?? null
  })
  return runId
})

/** A stored run's config and context, as its stages see them (`method` is StartOptions.method, if any). */
export const storedContext = Effect.fn("Run.storedContext")(function*(runId: string, engine?: EngineInfo) {
  const store = yield* RunStore
  const run = yield* store.getRun(runId)
  const stored = run.config as RunConfig & { checkpointRoot: string; method?: StartOptions["method"] }
  const config = yield* decodeStoredConfig(Object.fromEntries(Object.entries(stored).filter(([k]) => k !== "checkpointRoot" && k !== "method")))
  const ctx = yield* taskContextChecked(run.runId, config, store.resolvePath(stored.checkpointRoot), engine?.backend ?? run.backend)
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
  // One process at a time: a second resume of a run still running elsewhere is refused, with nothing written.
  yield* Effect.scoped(Effect.gen(function*() {
    yield* holdRunLock(store.file, run.runId)
    yield* store.setRunStatus(run.runId, "running")
    if (engine) yield* store.setRunEngine(run.runId, engine.backend, engine.device)
    const work = Effect.gen(function*() {
      yield* roundZero(ctx, (yield* store.listRounds(run.runId))[0])
      for (let r = 1; r <= config.rounds; r++) yield* roundN(ctx, r)
    })
    // Any end but success — a typed failure, a defect, an interruption — marks the run failed (resumable).
    yield* work.pipe(Effect.onError(() => store.setRunStatus(run.runId, "failed").pipe(Effect.ignore)))
    yield* store.setRunStatus(run.runId, "finished")
  }))
  return run.runId
})
