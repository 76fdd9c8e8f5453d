/**
 * The `Scorer` service: builds a reward source from a RewardSpec (once per spec and task; ONNX
 * sessions live as long as the layer) and scores items with it; gold always comes from the task.
 */
import { Errors, Progress, Scorer, Tasks, type Domain, type RunConfig, type Tokenizer } from "@odpo/core"
import { Effect, Layer, Scope, Semaphore } from "effect"
import { openOnnxRewardModel } from "./OnnxRewardModel.ts"
import { cached, lengthPenalty, missingEosPenalty, type RewardSource, taskReward, weightedSum } from "./RewardSource.ts"
import { decodeRewardSpec, type RewardSpec } from "./RewardSpec.ts"

/**
 * A reward source for a decoded spec. ONNX models are opened in the ambient scope and wrapped in
 * a score cache (they are the expensive part). `task` is needed by {type:"task"} and lends its
 * tokenizer to ONNX models that do not name one.
 */
export const makeRewardSource = (
  spec: RewardSpec,
  task: Tasks.Task | undefined
): Effect.Effect<RewardSource, Scorer.ScorerError, Scope.Scope> =>
  Effect.gen(function*() {
    switch (spec.type) {
      case "task":
        if (task === undefined) {
          return yield* new Errors.ConfigError({ message: `reward {"type": "task"} needs a task: name one (e.g. --task arith) or use another reward source`, path: "$.type" })
        }
        return taskReward(task)
      case "onnx":
        return cached(yield* openOnnxRewardModel(spec, task?.tokenizer as Tokenizer.Tokenizer | undefined))
      case "length_penalty":
        return lengthPenalty(spec.lambda)
      case "missing_eos_penalty":
        return missingEosPenalty(spec.penalty)
      case "sum": {
        const terms = yield* Effect.forEach(spec.terms, (t) => Effect.map(makeRewardSource(t.source, task), (source) => ({ weight: t.weight, source })))
        return weightedSum(terms)
      }
    }
  })

/** Gold rewards from the task (null without one). */
export const goldRewards = (task: Tasks.Task | undefined, items: ReadonlyArray<Domain.ScoreItem>): Array<number | null> =>
  items.map((it) => (task ? task.goldReward(it.promptText, it.completionText, it.completionTokenIds) : null))

/** Scores with a source and the task's gold, checking the source gave one finite reward per item. */
export const scoreWith = (source: RewardSource, task: Tasks.Task | undefined, items: ReadonlyArray<Domain.ScoreItem>) =>
  Effect.gen(function*() {
    const rewards = yield* source.score(items)
    if (rewards.length !== items.length) {
      return yield* new Errors.InvalidInput({ message: `reward source ${source.id} returned ${rewards.length} rewards for ${items.length} items` })
    }
    const bad = rewards.findIndex((r) => !Number.isFinite(r))
    if (bad >= 0) {
      return yield* new Errors.InvalidInput({ message: `reward source ${source.id} gave ${rewards[bad]} for item ${bad} (prompt ${items[bad]!.promptId})` })
    }
    const gold = goldRewards(task, items)
    return { source: source.id, scores: rewards.map((reward, i) => ({ reward, goldReward: gold[i]! })) } satisfies Scorer.ScoreResult
  })

/**
 * The Scorer layer. Sources are built on first use and kept (with their ONNX sessions and score
 * caches) until the layer's scope closes.
 */
export const layer: Layer.Layer<Scorer.Scorer> = Layer.effect(
  Scorer.Scorer,
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const sources = new Map<string, RewardSource>()
    const building = yield* Semaphore.make(1)

    const sourceFor = (spec: RewardSpec, task: Tasks.Task, key: string) =>
      Semaphore.withPermit(building)(
        Effect.gen(function*() {
          const known = sources.get(key)
          if (known) return known
          const source = yield* Scope.provide(scope)(makeRewardSource(spec, task))
          sources.set(key, source)
          return source
        })
      )

    const score = Effect.fn("Scorer.score")(function*(request: Scorer.ScoreRequest) {
      const spec = yield* decodeRewardSpec(request.reward, "$.reward")
      const task = Tasks.getTask(request.task as RunConfig.TaskConfig)
      const key = JSON.stringify([spec, request.task.name, request.task.mu, request.task.sigma])
      const source = yield* sourceFor(spec, task, key)
      // Score in chunks so a long stage (an ONNX model over thousands of rollouts) shows progress.
      const progress = yield* Progress.tracker(request.label ?? "score", request.items.length, "rollouts")
      const chunk = 1024
      const scores: Array<Domain.Score> = []
      for (let i = 0; i < request.items.length; i += chunk) {
        const part = request.items.slice(i, i + chunk)
        scores.push(...(yield* scoreWith(source, task, part)).scores)
        yield* progress.tick(part.length)
      }
      return { source: source.id, scores } satisfies Scorer.ScoreResult
    })

    return Scorer.Scorer.of({ score })
  })
)
