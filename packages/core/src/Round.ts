/**
 * The round loop: sample → score → pair (+ reference log-probs) → train → evaluate, each stage
 * recorded in the run store as it finishes. Every stage reads its inputs back from the store,
 * so a resumed run takes exactly the path an uninterrupted one takes.
 *
 * Rounds: round 0 makes and evaluates π₀; round r ≥ 1 trains π_{r−1} into π_r and evaluates π_r.
 */
import { Effect } from "effect"
import { join } from "node:path"
import { Checkpoints } from "./Checkpoints.ts"
import type { CheckpointRef, PreferencePair, Prompt, Rollout, SamplingParams, Sequence, TrainingPair } from "./Domain.ts"
import { ConfigError } from "./Errors.ts"
import { makePairs } from "./Pairing.ts"
import { decodeRunConfig, type ModelConfig, type RunConfig } from "./RunConfig.ts"
import { type RolloutPurpose, type RolloutWrite, type RoundRow, RunStore, type Stage, type StageWrite, stages } from "./RunStore.ts"
import { Sampler } from "./Sampler.ts"
import { Scorer } from "./Scorer.ts"
import { deriveSeed, mulberry32, shuffled } from "./Seeds.ts"
import { getTask, type Task } from "./tasks/index.ts"
import { Trainer } from "./Trainer.ts"
import { evaluationMetrics } from "./Evaluation.ts"
import { pauseBeforeRecord } from "./internal/FaultInjection.ts"
import { readSftCache, sftCacheKey, writeSftCache } from "./internal/SftCache.ts"

/** What every stage needs to know about the run. */
interface RunContext {
  readonly runId: string
  readonly config: RunConfig
  readonly task: Task
  readonly prompts: ReadonlyMap<string, Prompt>
  readonly checkpointRoot: string
  /** The engine this process runs the policy on (stage_times.backend). */
  readonly backend: string | null
}

/** The engine a run starts or resumes on, as Engine.selectBackend reports it. */
export interface EngineInfo {
  readonly backend: string
  readonly device: string
}

/** A stage's clock: call it when the stage is done for its wall and CPU seconds (all threads of the process). */
const startClock = () => {
  const t0 = performance.now()
  const c0 = process.cpuUsage()
  return () => {
    const cpu = process.cpuUsage(c0)
    return { wallSeconds: (performance.now() - t0) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6 }
  }
}
type Clock = ReturnType<typeof startClock>

const stageIndex = (s: Stage) => stages.indexOf(s)
const done = (row: RoundRow | undefined, stage: Stage) => row !== undefined && stageIndex(row.stage) >= stageIndex(stage)

const samplingParams = (config: RunConfig, temperature = config.sampling.temperature): SamplingParams => ({
  temperature,
  topK: config.sampling.topK,
  topP: config.sampling.topP,
  minP: config.sampling.minP,
  repetitionPenalty: config.sampling.repetitionPenalty,
  maxNewTokens: config.sampling.maxNewTokens,
  stop: config.sampling.stop
})

const rolloutId = (runId: string, round: number, purpose: RolloutPurpose, r: Rollout) =>
  `${runId}/${round}/${purpose}/${r.promptId}/${r.sampleIdx}`

const toWrites = (ctx: RunContext, round: number, purpose: RolloutPurpose, rollouts: ReadonlyArray<Rollout>): Array<RolloutWrite> =>
  rollouts.map((r) => ({ ...r, rolloutId: rolloutId(ctx.runId, round, purpose, r), runId: ctx.runId, round, purpose }))

const sequenceOf = (ctx: RunContext, r: { promptId: string; tokenIds: ReadonlyArray<number> }): Sequence => ({
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

const heldoutPrompts = (ctx: RunContext): Array<Prompt> =>
  [...ctx.prompts.values()].filter((p) => p.split === "heldout").slice(0, ctx.config.eval.prompts)

/** π_k: π₀ is round 0's policy; π_k (k ≥ 1) is round k's output. */
const policyAt = (rounds: ReadonlyArray<RoundRow>, k: number): string =>
  k === 0 ? rounds[0]!.policyCkpt : rounds[k]!.outputCkpt!

const checkpointRef = Effect.fn("Round.checkpointRef")(function*(id: string) {
  const store = yield* RunStore
  const row = yield* store.readCheckpoint(id)
  if (!row) return yield* new ConfigError({ message: `checkpoint ${id} is not recorded in ${store.file}: the database is incomplete` })
  return { id: row.ckptId, path: row.path } satisfies CheckpointRef
})

/** Record a finished stage: its rows, its timing and the round's new stage marker land in one transaction. */
const record = Effect.fnUntraced(function*(ctx: RunContext, clock: Clock, write: StageWrite) {
  yield* pauseBeforeRecord(write.round, write.stage)
  yield* (yield* RunStore).recordStage({ ...write, timing: { backend: ctx.backend, ...clock() } })
})

const checkpointRow = Effect.fn("Round.checkpointRow")(function*(ctx: RunContext, ref: CheckpointRef, parent: string | null, round: number) {
  const { nParams } = yield* (yield* Checkpoints).describe(ref.path)
  return { ckptId: ref.id, path: ref.path, parent, runId: ctx.runId, round, nParams }
})

// ── round 0: make π₀ (SFT when no initial checkpoint is named) and evaluate it ──────────────

const makeInitialPolicy = Effect.fn("Round.makeInitialPolicy")(function*(ctx: RunContext) {
  const { config, task } = ctx
  if (config.policy.init !== null) {
    const loaded = yield* (yield* Checkpoints).verify(config.policy.init)
    if (loaded.tokenizerVocabSize !== task.tokenizer.vocabSize) {
      return yield* new ConfigError({
        message: `policy.init ${config.policy.init} has a vocabulary of ${loaded.tokenizerVocabSize} tokens; task ${task.name} needs ${task.tokenizer.vocabSize}`,
        path: "$.policy.init"
      })
    }
    return { pi0: loaded.ref, rows: [yield* checkpointRow(ctx, loaded.ref, null, 0)] }
  }
  const m = config.policy.model
  const modelConfig: ModelConfig = { ...m, vocabSize: m.vocabSize === 0 ? task.tokenizer.vocabSize : m.vocabSize }
  // Another engine's π₀ differs in the last bits: the same seed gives the same rows on ONE backend
  // (cpu keys stay as they were, so existing caches still hit).
  const engine = ctx.backend && ctx.backend !== "cpu" ? { backend: ctx.backend } : {}
  const key = sftCacheKey({ model: modelConfig, sft: config.policy.sft, task: config.task, seed: config.seed, ...engine })
  const cached = readSftCache(ctx.checkpointRoot, key)
  if (cached) {
    const ref = (id: string) => ({ id, path: join(ctx.checkpointRoot, id) })
    yield* Effect.logInfo(`round 0: π₀ ${cached.pi0.slice(0, 12)} reused (same model, SFT settings, task and seed)`)
    return {
      pi0: ref(cached.pi0),
      rows: [yield* checkpointRow(ctx, ref(cached.init), null, 0), yield* checkpointRow(ctx, ref(cached.pi0), cached.init, 0)]
    }
  }
  const initRef = yield* (yield* Checkpoints).initialize(modelConfig, task.tokenizer, deriveSeed(config.seed, 0, "init"), ctx.checkpointRoot)
  const trainer = yield* Trainer
  const demos = task.demonstrations(config.task, 4096, deriveSeed(config.seed, 0, "demonstrations"))
  const sft = yield* trainer.sft({
    policy: initRef,
    demonstrations: demos,
    sft: config.policy.sft,
    seed: deriveSeed(config.seed, 0, "sft"),
    checkpointRoot: ctx.checkpointRoot,
    label: "round 0 · sft"
  })
  writeSftCache(ctx.checkpointRoot, key, { init: initRef.id, pi0: sft.checkpoint.id })
  return {
    pi0: sft.checkpoint,
    rows: [yield* checkpointRow(ctx, initRef, null, 0), yield* checkpointRow(ctx, sft.checkpoint, initRef.id, 0)]
  }
})

// ── the stages of a round ──────────────────────────────────────────────────────────────────

/** Rollouts: K completions per round prompt from the sampling policy (π_{r−1}, or older). */
const sampleStage = Effect.fn("Round.sample")(function*(ctx: RunContext, round: number, policy: CheckpointRef) {
  const clock = startClock()
  const sampler = yield* Sampler
  const prompts = roundPrompts(ctx, round)
  const rollouts = yield* sampler.sample({
    policy,
    prompts: prompts.map((p) => ({ promptId: p.promptId, tokenIds: p.tokenIds })),
    n: ctx.config.sampling.samplesPerPrompt,
    params: samplingParams(ctx.config),
    seed: deriveSeed(ctx.config.seed, round, "sample"),
    label: `round ${round} · sample`
  })
  yield* record(ctx, clock, {
    runId: ctx.runId, round, stage: "rollouts", rollouts: toWrites(ctx, round, "train", rollouts)
  })
})

/** The configured reward (and the task's gold reward) of each rollout, as score rows. */
const scoreRollouts = Effect.fn("Round.scoreRollouts")(function*(ctx: RunContext, rollouts: ReadonlyArray<RolloutWrite>, label: string) {
  const result = yield* (yield* Scorer).score({
    reward: ctx.config.reward,
    task: ctx.config.task,
    items: rollouts.map((r) => ({
      promptId: r.promptId,
      promptText: ctx.prompts.get(r.promptId)!.text,
      completionText: r.text,
      completionTokenIds: r.tokenIds,
      finishReason: r.finishReason
    })),
    label
  })
  return {
    scores: result.scores,
    rows: rollouts.map((r, i) => ({
      rolloutId: r.rolloutId, source: result.source, reward: result.scores[i]!.reward, goldReward: result.scores[i]!.goldReward
    }))
  }
})

/** Scores: every rollout of the round, scored. */
const scoreStage = Effect.fn("Round.score")(function*(ctx: RunContext, round: number) {
  const clock = startClock()
  const rollouts = yield* (yield* RunStore).readRollouts(ctx.runId, round, "train")
  const { rows } = yield* scoreRollouts(ctx, rollouts, `round ${round} · score`)
  yield* record(ctx, clock, { runId: ctx.runId, round, stage: "scores", scores: rows })
})

/** Pairs: strategy + filters over the round's scored rollouts, with π_ref log-probs of both sides. */
const pairStage = Effect.fn("Round.pair")(function*(ctx: RunContext, round: number, reference: CheckpointRef) {
  const clock = startClock()
  const store = yield* RunStore
  const rollouts = yield* store.readRollouts(ctx.runId, round, "train")
  const scores = new Map((yield* store.readScores(ctx.runId, round, "train")).map((s) => [s.rolloutId, s.reward]))
  const { pairs, counts } = makePairs(
    rollouts.map((r) => ({ rolloutId: r.rolloutId, promptId: r.promptId, tokenIds: r.tokenIds, reward: scores.get(r.rolloutId)! })),
    ctx.config.pairing,
    deriveSeed(ctx.config.seed, round, "pairs")
  )
  const byId = new Map(rollouts.map((r) => [r.rolloutId, r]))
  const refLogps = yield* (yield* Trainer).referenceLogps(
    reference,
    pairs.flatMap((p) => [sequenceOf(ctx, byId.get(p.chosen.rolloutId)!), sequenceOf(ctx, byId.get(p.rejected.rolloutId)!)])
  )
  const rows: Array<PreferencePair> = pairs.map((p, i) => ({
    pairId: `${ctx.runId}/${round}/pair/${i}`,
    runId: ctx.runId,
    round,
    promptId: p.promptId,
    chosenId: p.chosen.rolloutId,
    rejectedId: p.rejected.rolloutId,
    margin: p.margin,
    strategy: ctx.config.pairing.strategy,
    refChosenLogp: refLogps[2 * i]!,
    refRejectedLogp: refLogps[2 * i + 1]!
  }))
  yield* record(ctx, clock, {
    runId: ctx.runId, round, stage: "pairs", pairs: rows,
    pairFilters: Object.entries(counts).map(([filter, count]) => ({ runId: ctx.runId, round, filter, count }))
  })
})

/** Train: E epochs of the configured loss over the round's pairs → π_r (π_{r−1} kept when no pair survived). */
const trainStage = Effect.fn("Round.train")(function*(ctx: RunContext, round: number, policy: CheckpointRef, reference: CheckpointRef) {
  const clock = startClock()
  const store = yield* RunStore
  const pairs = yield* store.readPairs(ctx.runId, round)
  if (pairs.length === 0) {
    // Every pair was a tie or duplicate (a collapsed policy): nothing to learn from, and
    // pair_filters already says why. The policy carries over unchanged.
    yield* Effect.logWarning(`round ${round}: no preference pairs survived the filters; the policy is carried over untrained`)
    return yield* record(ctx, clock, { runId: ctx.runId, round, stage: "train", round_: { outputCkpt: policy.id } })
  }
  const rollouts = new Map((yield* store.readRollouts(ctx.runId, round, "train")).map((r) => [r.rolloutId, r]))
  const training: Array<TrainingPair> = pairs.map((p) => ({
    chosen: sequenceOf(ctx, rollouts.get(p.chosenId)!),
    rejected: sequenceOf(ctx, rollouts.get(p.rejectedId)!),
    refChosenLogp: p.refChosenLogp!,
    refRejectedLogp: p.refRejectedLogp!
  }))
  // KTO learns from pointwise labels: each pair's chosen is desirable, its rejected is not.
  const examples = ctx.config.loss.type === "kto"
    ? training.flatMap((p) => [
      { sequence: p.chosen, desirable: true, refLogp: p.refChosenLogp },
      { sequence: p.rejected, desirable: false, refLogp: p.refRejectedLogp }
    ])
    : undefined
  const result = yield* (yield* Trainer).train({
    policy,
    reference,
    pairs: training,
    ...(examples ? { examples } : {}),
    loss: ctx.config.loss,
    training: ctx.config.training,
    seed: deriveSeed(ctx.config.seed, round, "train"),
    checkpointRoot: ctx.checkpointRoot,
    label: `round ${round} · train`
  })
  yield* record(ctx, clock, {
    runId: ctx.runId, round, stage: "train",
    round_: { outputCkpt: result.checkpoint.id },
    checkpoints: [yield* checkpointRow(ctx, result.checkpoint, policy.id, round)],
    trainSteps: result.steps.map((s) => ({ ...s, runId: ctx.runId, round }))
  })
})

/**
 * Evaluate: held-out prompts sampled from the policy and from π_ref with the same seed every
 * round (common random numbers), scored, and compared: reward, gold reward, win rate vs π_ref,
 * sequence KL, entropy, length, EOS rate.
 */
const evalStage = Effect.fn("Round.evaluate")(function*(ctx: RunContext, round: number, policy: CheckpointRef, reference: CheckpointRef) {
  const clock = startClock()
  const sampler = yield* Sampler
  const prompts = heldoutPrompts(ctx).map((p) => ({ promptId: p.promptId, tokenIds: p.tokenIds }))
  const request = {
    prompts,
    n: ctx.config.eval.samplesPerPrompt,
    params: samplingParams(ctx.config, ctx.config.eval.temperature),
    seed: deriveSeed(ctx.config.seed, "eval")
  }
  const own = toWrites(ctx, round, "eval", yield* sampler.sample({ ...request, policy, label: `round ${round} · eval sample` }))
  const ref = toWrites(ctx, round, "eval_ref", yield* sampler.sample({ ...request, policy: reference, label: `round ${round} · eval ref sample` }))
  const ownScores = yield* scoreRollouts(ctx, own, `round ${round} · score eval`)
  const refScores = yield* scoreRollouts(ctx, ref, `round ${round} · score eval_ref`)
  const stats = yield* (yield* Trainer).sequenceStats(policy, reference, own.map((r) => sequenceOf(ctx, r)))
  yield* record(ctx, clock, {
    runId: ctx.runId, round, stage: "eval",
    rollouts: [...own, ...ref],
    scores: [...ownScores.rows, ...refScores.rows],
    evals: [{ runId: ctx.runId, round, split: "heldout", metrics: evaluationMetrics(own, ownScores.scores, refScores.scores, stats) }]
  })
})

// ── the loop ───────────────────────────────────────────────────────────────────────────────

/** Round 0: π₀ and its evaluation (π_ref = π₀, so KL 0 and win rate ½ by construction). */
const roundZero = Effect.fn("Round.zero")(function*(ctx: RunContext, row: RoundRow | undefined) {
  const store = yield* RunStore
  if (!done(row, "started")) {
    const clock = startClock()
    const { pi0, rows } = yield* makeInitialPolicy(ctx)
    yield* record(ctx, clock, {
      runId: ctx.runId, round: 0, stage: "started",
      round_: { policyCkpt: pi0.id, refCkpt: pi0.id, outputCkpt: pi0.id },
      prompts: [...ctx.prompts.values()],
      checkpoints: rows
    })
  }
  if (!done(row, "eval")) {
    const pi0 = yield* checkpointRef((yield* store.listRounds(ctx.runId))[0]!.policyCkpt)
    yield* evalStage(ctx, 0, pi0, pi0)
  }
})

/** Which reference round r uses: π₀ (fixed), π_{r−1} (previous_round) or the TR-DPO average (ema). */
const referenceFor = Effect.fn("Round.referenceFor")(function*(ctx: RunContext, rounds: ReadonlyArray<RoundRow>, r: number) {
  const { reference } = ctx.config
  if (reference.type === "fixed") return { id: rounds[0]!.policyCkpt, rows: [] }
  if (reference.type === "previous_round") return { id: policyAt(rounds, r - 1), rows: [] }
  const previousRef = yield* checkpointRef(rounds[r - 1]!.refCkpt)
  const policy = yield* checkpointRef(policyAt(rounds, r - 1))
  const ema = yield* (yield* Trainer).emaReference(policy, previousRef, reference.alpha, ctx.checkpointRoot)
  return { id: ema.id, rows: [yield* checkpointRow(ctx, ema, previousRef.id, r)] }
})

/** Round r ≥ 1, resumed at its first unfinished stage. */
const roundN = Effect.fn("Round.round")(function*(ctx: RunContext, r: number) {
  const store = yield* RunStore
  let rounds = yield* store.listRounds(ctx.runId)
  if (!done(rounds[r], "started")) {
    const clock = startClock()
    const ref = yield* referenceFor(ctx, rounds, r)
    yield* record(ctx, clock, {
      runId: ctx.runId, round: r, stage: "started",
      round_: { policyCkpt: policyAt(rounds, r - 1), refCkpt: ref.id },
      checkpoints: ref.rows
    })
    rounds = yield* store.listRounds(ctx.runId)
  }
  const row = rounds[r]!
  const policy = yield* checkpointRef(row.policyCkpt)
  const reference = yield* checkpointRef(row.refCkpt)
  // Online samples from π_{r−1}; `staleness: n` from π_{r−1−n}; offline always from π₀.
  const lag = ctx.config.pairSource === "offline" ? r - 1 : Math.min(ctx.config.staleness, r - 1)
  const sampling = yield* checkpointRef(policyAt(rounds, r - 1 - lag))

  if (!done(row, "rollouts")) yield* sampleStage(ctx, r, sampling)
  if (!done(row, "scores")) yield* scoreStage(ctx, r)
  if (!done(row, "pairs")) yield* pairStage(ctx, r, reference)
  if (!done(row, "train")) yield* trainStage(ctx, r, policy, reference)
  if (!done(row, "eval")) {
    const output = yield* checkpointRef((yield* store.listRounds(ctx.runId))[r]!.outputCkpt!)
    yield* evalStage(ctx, r, output, reference)
  }
})

/** Task prompts of both splits, by id. */
const taskContext = (runId: string, config: RunConfig, checkpointRoot: string, backend: string | null = null): RunContext => {
  const task = getTask(config.task)
  const prompts = new Map<string, Prompt>()
  for (const split of ["train", "heldout"] as const) for (const p of task.prompts(config.task, split)) prompts.set(p.promptId, p)
  return { runId, config, task, prompts, checkpointRoot, backend }
}

/** The task's own complaints (e.g. more prompts asked for than it has) as ConfigErrors. */
const taskContextChecked = (runId: string, config: RunConfig, checkpointRoot: string, backend: string | null = null) =>
  Effect.try({
    try: () => taskContext(runId, config, checkpointRoot, backend),
    catch: (e) => new ConfigError({ message: (e as Error).message, path: "$.task" })
  })

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
}

/** Create a run (validated up front: nothing is written for a bad config) and return its id. */
export const createRun = Effect.fn("Round.createRun")(function*(config: RunConfig, options: StartOptions) {
  const store = yield* RunStore
  const final: RunConfig = { ...config, ...(options.name ? { name: options.name } : {}), ...(options.seed !== undefined ? { seed: options.seed } : {}) }
  const ctx = yield* taskContextChecked("", final, options.checkpointRoot)
  yield* validateAgainstTask(ctx)
  const stamp = new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14)
  const runId = `${final.name}-${stamp}-${Math.random().toString(36).slice(2, 6)}`
  yield* store.createRun({
    runId, name: final.name, experiment: final.experiment, config: { ...final, checkpointRoot: options.checkpointRoot },
    seed: final.seed, pairSource: final.pairSource, loss: final.loss.type, beta: final.loss.beta,
    status: "running", createdAt: new Date().toISOString(), codeVersion: options.codeVersion ?? "dev",
    backend: options.engine?.backend ?? null, device: options.engine?.device ?? null
  })
  return runId
})

/** Run (or resume) every unfinished stage of every round of a stored run. */
export const runToCompletion = Effect.fn("Round.runToCompletion")(function*(runId: string, engine?: EngineInfo) {
  const store = yield* RunStore
  const run = yield* store.getRun(runId)
  const stored = run.config as RunConfig & { checkpointRoot: string }
  const config = yield* decodeRunConfig(Object.fromEntries(Object.entries(stored).filter(([k]) => k !== "checkpointRoot")))
  const ctx = yield* taskContextChecked(run.runId, config, stored.checkpointRoot, engine?.backend ?? run.backend)
  yield* store.setRunStatus(run.runId, "running")
  if (engine) yield* store.setRunEngine(run.runId, engine.backend, engine.device)
  const work = Effect.gen(function*() {
    yield* roundZero(ctx, (yield* store.listRounds(run.runId))[0])
    for (let r = 1; r <= config.rounds; r++) yield* roundN(ctx, r)
  })
  yield* work.pipe(
    Effect.tapError(() => store.setRunStatus(run.runId, "failed").pipe(Effect.ignore)),
    Effect.onInterrupt(() => store.setRunStatus(run.runId, "failed").pipe(Effect.ignore))
  )
  yield* store.setRunStatus(run.runId, "finished")
  return run.runId
})
