/**
 * Round 0's policy π₀: the checkpoint `policy.init` names (verified, vocabulary checked), or a
 * fresh GPT-2-initialised model trained by SFT on the task's demonstrations. SFT is a pure function
 * of (model shape, SFT settings, task, seed, engine, code), so runs that share them — the arms of
 * a study — share one π₀ through the SFT cache.
 */
import { Effect } from "effect"
import { join } from "node:path"
import { Checkpoints } from "./Checkpoints.ts"
import { CodeBuild } from "./CodeBuild.ts"
import { ConfigError } from "./Errors.ts"
import { readSftCache, sftCacheKey, writeSftCache } from "./internal/SftCache.ts"
import type { ModelConfig, RunConfig } from "./RunConfig.ts"
import { checkpointRow, type RunContext } from "./RunContext.ts"
import { deriveSeed } from "./Seeds.ts"
import type { Task } from "./tasks/index.ts"
import { Trainer } from "./Trainer.ts"

/** What round 0's SFT trains π₀ on (when no policy.init is named). */
export const sftDemonstrations = (config: RunConfig, task: Task) => task.demonstrations?.(config.task, 4096, deriveSeed(config.seed, 0, "demonstrations")) ?? []

/** policy.init, verified (a Hugging Face GPT-2 directory converted once into the checkpoint store) and checked against the task. */
export const initialCheckpoint = Effect.fn("InitialPolicy.initialCheckpoint")(function*(init: string, task: Task, checkpointRoot: string) {
  const loaded = yield* (yield* Checkpoints).importPolicy(init, checkpointRoot)
  if (loaded.tokenizerVocabSize !== task.tokenizer.vocabSize) {
    return yield* new ConfigError({
      message: `policy.init ${init} has a vocabulary of ${loaded.tokenizerVocabSize} tokens; task ${task.name} needs ${task.tokenizer.vocabSize}`,
      path: "$.policy.init"
    })
  }
  return loaded
})

/** The first of `refs` that does not load whole (its SHA-256 checked), with why; null when all do. */
const firstDamaged = (refs: ReadonlyArray<{ id: string; path: string }>) =>
  Effect.gen(function*() {
    const checkpoints = yield* Checkpoints
    for (const r of refs) {
      const verified = yield* Effect.result(checkpoints.verify(r.path))
      if (verified._tag === "Failure") return { id: r.id, message: verified.failure.message }
    }
    return null
  })

/** π₀ and the checkpoint rows that record it (and, when made by SFT, its random initialisation). */
export const makeInitialPolicy = Effect.fn("InitialPolicy.make")(function*(ctx: RunContext) {
  const { config, task } = ctx
  if (config.policy.init !== null) {
    const loaded = yield* initialCheckpoint(config.policy.init, task, ctx.checkpointRoot)
    return { pi0: loaded.ref, rows: [yield* checkpointRow(ctx, loaded.ref, null, 0)] }
  }
  const m = config.policy.model
  const modelConfig: ModelConfig = { ...m, vocabSize: m.vocabSize === 0 ? task.tokenizer.vocabSize : m.vocabSize }
  // Another engine's π₀ differs in the last bits, and other code may train another π₀ altogether:
  // the same seed gives the same rows on ONE backend and ONE build, so both are in the key.
  const build = yield* CodeBuild
  // The prompts task's demonstrations are a file: π₀ depends on its content, not its name.
  const demos = task.userPrompts ? { demonstrations: task.userPrompts.demonstrationsSha256 } : {}
  const key = sftCacheKey({ model: modelConfig, sft: config.policy.sft, task: config.task, seed: config.seed, backend: ctx.backend ?? "cpu", build, ...demos })
  const cached = yield* readSftCache(ctx.checkpointRoot, key)
  const ref = (id: string) => ({ id, path: join(ctx.checkpointRoot, id) })
  // A cached checkpoint whose files no longer hash to its id (a disk error, an edit) is made again:
  // SFT is a pure function of its inputs, so the same π₀ lands in the same place.
  const damaged = cached ? yield* firstDamaged([cached.init, cached.pi0].map(ref)) : null
  if (cached && damaged) {
    yield* Effect.logWarning(`round 0: the SFT cache's checkpoint ${damaged.id.slice(0, 12)} is damaged (${damaged.message}): making π₀ again`)
  }
  if (cached && !damaged) {
    yield* Effect.logInfo(`round 0: π₀ ${cached.pi0.slice(0, 12)} reused (same model, SFT settings, task, seed, engine and build)`)
    return {
      pi0: ref(cached.pi0),
      rows: [yield* checkpointRow(ctx, ref(cached.init), null, 0), yield* checkpointRow(ctx, ref(cached.pi0), cached.init, 0)]
    }
  }
  const initRef = yield* (yield* Checkpoints).initialize(modelConfig, task.tokenizer, deriveSeed(config.seed, 0, "init"), ctx.checkpointRoot)
  const trainer = yield* Trainer
  const sft = yield* trainer.sft({
    policy: initRef,
    demonstrations: sftDemonstrations(config, task),
    sft: config.policy.sft,
    seed: deriveSeed(config.seed, 0, "sft"),
    checkpointRoot: ctx.checkpointRoot,
    label: "round 0 · sft"
  })
  yield* writeSftCache(ctx.checkpointRoot, key, { init: initRef.id, pi0: sft.checkpoint.id })
  return {
    pi0: sft.checkpoint,
    rows: [yield* checkpointRow(ctx, initRef, null, 0), yield* checkpointRow(ctx, sft.checkpoint, initRef.id, 0)]
  }
})

/**
 * `odpo sft`: π₀ made from the config's demonstrations by the round-0 SFT, outside a run. With no
 * policy.init it is exactly round 0's π₀ (the same trainer, seed and cache, so a run with this
 * config reuses it); with one, SFT starts from that checkpoint (a Hugging Face directory included).
 */
export const sftPolicy = Effect.fn("InitialPolicy.sft")(function*(ctx: RunContext) {
  const { config, task } = ctx
  const demonstrations = sftDemonstrations(config, task)
  if (demonstrations.length === 0) {
    return yield* new ConfigError({ message: `task ${task.name} has no demonstrations to train on: name a prompt/completion file in task.demonstrations`, path: "$.task.demonstrations" })
  }
  if (config.policy.init === null) return (yield* makeInitialPolicy(ctx)).pi0
  const start = yield* initialCheckpoint(config.policy.init, task, ctx.checkpointRoot)
  const sft = yield* (yield* Trainer).sft({
    policy: start.ref,
    demonstrations,
    sft: config.policy.sft,
    seed: deriveSeed(config.seed, 0, "sft"),
    checkpointRoot: ctx.checkpointRoot,
    label: "sft"
  })
  return sft.checkpoint
})
