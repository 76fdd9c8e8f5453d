/**
 * The round loop: sample → score → pair (+ reference log-probs) → train → evaluate, each stage
 * recorded in the run store as it finishes. Every stage reads its inputs back from the store,
 * so a resumed run takes exactly the path an uninterrupted one takes. A policy-gradient round
 * (rloo, ppo_clip) makes no pairs: it gives every sample its advantage, and trains on all of them.
 *
 * Rounds: round 0 makes and evaluates π₀; round r ≥ 1 trains π_{r−1} into π_r and evaluates π_r.
 * Creating and running a whole run is Run.ts; π₀ is InitialPolicy.ts.
 */
import { Context, Effect } from "effect"
import { leaveOneOut } from "./Advantages.ts"
import * as Diagnostics from "./Diagnostics.ts"
import type { CheckpointRef, PreferencePair, Rollout, SamplingParams, TrainingPair, TrainingSample } from "./Domain.ts"
import { ConfigError } from "./Errors.ts"
import { evaluationMetrics, probeSequences, taskMetrics } from "./Evaluation.ts"
import { makeInitialPolicy } from "./InitialPolicy.ts"
import { makePairs } from "./Pairing.ts"
import { isPolicyGradient, type RunConfig } from "./RunConfig.ts"
import { checkpointRef, checkpointRow, heldoutPrompts, roundPrompts, type RunContext, sequenceOf } from "./RunContext.ts"
import { type RolloutPurpose, type RolloutWrite, type RoundRow, RunStore, type Stage, type StageWrite, stages } from "./RunStore.ts"
import { Sampler } from "./Sampler.ts"
import { Scorer } from "./Scorer.ts"
import { deriveSeed } from "./Seeds.ts"
import { Trainer, type TrainResult } from "./Trainer.ts"

/**
 * Called when a stage's work is done, just before it is recorded. By default nothing happens;
 * crash tests provide one that pauses (so a process can be killed with the work done and nothing
 * committed) or fails.
 */
export const BeforeRecord = Context.Reference<(round: number, stage: Stage) => Effect.Effect<void>>("@odpo/core/Round/BeforeRecord", {
  defaultValue: () => () => Effect.void
})

/** A stage's clock: call it when the stage is done for its wall and CPU seconds (all threads of the process). */
export const startClock = () => {
  const t0 = performance.now()
  const c0 = process.cpuUsage()
  return () => {
    const cpu = process.cpuUsage(c0)
    return { wallSeconds: (performance.now() - t0) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6 }
  }
}
export type Clock = ReturnType<typeof startClock>

const stageIndex = (s: Stage) => stages.indexOf(s)
export const done = (row: RoundRow | undefined, stage: Stage) => row !== undefined && stageIndex(row.stage) >= stageIndex(stage)

export const samplingParams = (config: RunConfig, temperature = config.sampling.temperature): SamplingParams => ({
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

export const toWrites = (ctx: RunContext, round: number, purpose: RolloutPurpose, rollouts: ReadonlyArray<Rollout>): Array<RolloutWrite> =>
  rollouts.map((r) => ({ ...r, rolloutId: rolloutId(ctx.runId, round, purpose, r), runId: ctx.runId, round, purpose }))

/** π_k: π₀ is round 0's policy; π_k (k ≥ 1) is round k's output. */
const policyAt = (rounds: ReadonlyArray<RoundRow>, k: number): string =>
  k === 0 ? rounds[0]!.policyCkpt : rounds[k]!.outputCkpt!

/** Record a finished stage: its rows, its timing and the round's new stage marker land in one transaction. */
export const record = Effect.fnUntraced(function*(ctx: RunContext, clock: Clock, write: StageWrite) {
  yield* (yield* BeforeRecord)(write.round, write.stage)
  yield* (yield* RunStore).recordStage({ ...write, timing: { backend: ctx.backend, ...clock() } })
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

/** A user prompt's row (prompts task): the prompt as written and its other columns, for the reward. */
const promptRow = (ctx: RunContext, promptId: string) => {
  const data = ctx.task.userPrompts?.data.get(promptId)
  return data ? { prompt: data.prompt, columns: data.columns } : {}
}

/** The configured reward (and the task's gold reward) of each rollout, as score rows. */
export const scoreRollouts = Effect.fn("Round.scoreRollouts")(function*(ctx: RunContext, rollouts: ReadonlyArray<RolloutWrite>, label: string) {
  const result = yield* (yield* Scorer).score({
    reward: ctx.config.reward,
    gold: ctx.config.gold,
    task: ctx.config.task,
    items: rollouts.map((r) => ({
      ...promptRow(ctx, r.promptId),
      rolloutId: r.rolloutId,
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
    deriveSeed(ctx.config.seed, round, "pairs"),
    deriveSeed(ctx.config.seed, round, "flip")
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
    refRejectedLogp: refLogps[2 * i + 1]!,
    flipped: p.flipped
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
  const result = yield* (yield* Trainer).train({
    policy,
    reference,
    pairs: training,
    loss: ctx.config.loss,
    training: ctx.config.training,
    seed: deriveSeed(ctx.config.seed, round, "train"),
    checkpointRoot: ctx.checkpointRoot,
    label: `round ${round} · train`
  })
  // log π_r of the pairs just trained on (pair_rewards: did the round learn its own pairs?)
  const trainedLogps = yield* (yield* Trainer).referenceLogps(result.checkpoint, training.flatMap((t) => [t.chosen, t.rejected]))
  const pairLogps = pairs.map((p, i) => ({
    pairId: p.pairId, runId: ctx.runId, round, policyCkpt: result.checkpoint.id,
    chosenLogp: trainedLogps[2 * i]!, rejectedLogp: trainedLogps[2 * i + 1]!
  }))
  yield* record(ctx, clock, { ...(yield* trainedWrite(ctx, round, policy, result)), pairLogps })
})

/** What every train stage records: π_r as the round's output (a checkpoint whose parent is π_{r−1}) and the step metrics. */
const trainedWrite = Effect.fnUntraced(function*(ctx: RunContext, round: number, policy: CheckpointRef, result: TrainResult) {
  return {
    runId: ctx.runId, round, stage: "train",
    round_: { outputCkpt: result.checkpoint.id },
    checkpoints: [yield* checkpointRow(ctx, result.checkpoint, policy.id, round)],
    trainSteps: result.steps.map((s) => ({ ...s, runId: ctx.runId, round }))
  } satisfies StageWrite
})

/**
 * Advantages (rloo, ppo_clip, in place of pairs): each sample's reward against the mean of its
 * prompt's other K − 1 (Advantages.ts), after the KL penalty β·Σ_t(log π_old − log π_ref) when
 * loss.klMode is "reward". log π_old is the rollout's recorded log-prob; π_ref's is cached.
 */
const advantageStage = Effect.fn("Round.advantages")(function*(ctx: RunContext, round: number, reference: CheckpointRef) {
  const clock = startClock()
  const store = yield* RunStore
  const rollouts = yield* store.readRollouts(ctx.runId, round, "train")
  const scores = new Map((yield* store.readScores(ctx.runId, round, "train")).map((s) => [s.rolloutId, s.reward]))
  const refLogps = yield* (yield* Trainer).referenceLogps(reference, rollouts.map((r) => sequenceOf(ctx, r)))
  const scored = rollouts.map((r, i) => ({ group: r.promptId, reward: scores.get(r.rolloutId)!, kl: r.logprobSum - refLogps[i]! }))
  const advantages = yield* Effect.try({
    try: () => leaveOneOut(scored, ctx.config.loss),
    catch: (e) => new ConfigError({ message: `round ${round}: ${(e as Error).message}`, path: "$.sampling.samplesPerPrompt" })
  })
  yield* record(ctx, clock, {
    runId: ctx.runId, round, stage: "advantages",
    advantages: rollouts.map((r, i) => ({
      rolloutId: r.rolloutId, runId: ctx.runId, round, promptId: r.promptId, reward: scored[i]!.reward, kl: scored[i]!.kl, ...advantages[i]!
    }))
  })
})

/** Train (rloo, ppo_clip): E epochs over every sample with its advantage → π_r; which samples fed which step goes to step_samples. */
const policyGradientTrainStage = Effect.fn("Round.trainPolicyGradient")(function*(ctx: RunContext, round: number, policy: CheckpointRef, reference: CheckpointRef) {
  const clock = startClock()
  const store = yield* RunStore
  const rollouts = new Map((yield* store.readRollouts(ctx.runId, round, "train")).map((r) => [r.rolloutId, r]))
  const advantages = yield* store.readAdvantages(ctx.runId, round)
  const samples = advantages.map((a): TrainingSample => {
    const r = rollouts.get(a.rolloutId)!
    return { sequence: sequenceOf(ctx, r), advantage: a.advantage, oldTokenLogprobs: r.tokenLogprobs, rlhfReward: a.rlhfReward }
  })
  const result = yield* (yield* Trainer).train({
    policy,
    reference,
    pairs: [],
    samples,
    loss: ctx.config.loss,
    training: ctx.config.training,
    seed: deriveSeed(ctx.config.seed, round, "train"),
    checkpointRoot: ctx.checkpointRoot,
    label: `round ${round} · train`
  })
  yield* record(ctx, clock, {
    ...(yield* trainedWrite(ctx, round, policy, result)),
    stepSamples: (result.stepItems ?? []).flatMap((items, step) =>
      items.map((i) => ({ runId: ctx.runId, round, step, rolloutId: advantages[i]!.rolloutId })))
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
  const trainer = yield* Trainer
  const stats = yield* trainer.sequenceStats(policy, reference, own.map((r) => sequenceOf(ctx, r)))
  // A task with probes (e.g. `order`'s π(a)) gets their exact probabilities under the policy.
  const probes = probeSequences(ctx.task.probes ?? [], heldoutPrompts(ctx))
  const probeStats = probes.length === 0 ? [] : yield* trainer.sequenceStats(policy, reference, probes)
  const metrics = { ...evaluationMetrics(own, ownScores.scores, refScores.scores, stats), ...taskMetrics(ctx.task, own, probeStats) }
  yield* record(ctx, clock, {
    runId: ctx.runId, round, stage: "eval",
    rollouts: [...own, ...ref],
    scores: [...ownScores.rows, ...refScores.rows],
    evals: [{ runId: ctx.runId, round, split: "heldout", metrics }]
  })
})

// ── the loop ───────────────────────────────────────────────────────────────────────────────

/** Round 0's first stage: π₀ made (or reused) and recorded with the run's prompts. */
export const startRoundZero = Effect.fn("Round.startZero")(function*(ctx: RunContext) {
  const clock = startClock()
  const { pi0, rows } = yield* makeInitialPolicy(ctx)
  yield* record(ctx, clock, {
    runId: ctx.runId, round: 0, stage: "started",
    round_: { policyCkpt: pi0.id, refCkpt: pi0.id, outputCkpt: pi0.id },
    prompts: [...ctx.prompts.values()],
    ...(ctx.task.userPrompts
      ? {
        promptData: [...ctx.task.userPrompts.data.values()],
        promptFiles: ctx.task.userPrompts.files.map((f) => ({ ...f, runId: ctx.runId }))
      }
      : {}),
    checkpoints: rows
  })
  return pi0
})

/** Round 0: π₀ and its evaluation (π_ref = π₀, so KL 0 and win rate ½ by construction). */
export const roundZero = Effect.fn("Round.zero")(function*(ctx: RunContext, row: RoundRow | undefined) {
  const store = yield* RunStore
  if (!done(row, "started")) yield* startRoundZero(ctx)
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
export const roundN = Effect.fn("Round.round")(function*(ctx: RunContext, r: number) {
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

  const policyGradient = isPolicyGradient(ctx.config.loss.type)

  if (!done(row, "rollouts")) yield* sampleStage(ctx, r, sampling)
  if (!done(row, "scores")) yield* scoreStage(ctx, r)
  if (policyGradient) {
    if (!done(row, "advantages")) yield* advantageStage(ctx, r, reference)
    if (!done(row, "train")) yield* policyGradientTrainStage(ctx, r, policy, reference)
  } else {
    if (!done(row, "pairs")) yield* pairStage(ctx, r, reference)
    if (!done(row, "train")) yield* trainStage(ctx, r, policy, reference)
  }
  if (!done(row, "eval")) {
    const output = yield* checkpointRef((yield* store.listRounds(ctx.runId))[r]!.outputCkpt!)
    yield* evalStage(ctx, r, output, reference)
  }
  yield* Diagnostics.warnRound(ctx.runId, r)
})
