/**
 * The `Scorer` service: builds a reward source from a RewardSpec (once per spec and task; ONNX
 * sessions and loaded reward functions live as long as the layer) and scores items with it; gold
 * comes from the request's gold spec when it names one, else from the task (none for prompts).
 */
import { Errors, Progress, Scorer, Tasks, type Domain, type RunConfig, type Tokenizer } from "@odpo/core"
import { Effect, Layer, Scope, Semaphore } from "effect"
import { openOnnxRewardModel } from "./OnnxRewardModel.ts"
import { functionReward } from "./FunctionReward.ts"
import { httpReward } from "./HttpReward.ts"
import { cached, lengthPenalty, missingEosPenalty, type RewardSource, taskReward, weightedSum } from "./RewardSource.ts"
import { decodeRewardSpec, type RewardSpec, specId } from "./RewardSpec.ts"

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
        if (task.reward === undefined) {
          return yield* new Errors.ConfigError({ message: `task "${task.name}" has no reward of its own: use a function, http, onnx or sum reward`, path: "$.type" })
        }
        return taskReward({ ...task, reward: task.reward })
      case "function":
        return yield* functionReward(spec, specId(spec))
      case "http":
        return httpReward(spec, specId(spec))
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
  items.map((it) => (task?.goldReward ? task.goldReward(it.promptText, it.completionText, it.completionTokenIds) : null))

/** A source's rewards, checked: one per item, each finite; else a RewardError naming the source and the rollout. */
export const checkedRewards = (source: RewardSource, items: ReadonlyArray<Domain.ScoreItem>) =>
  Effect.gen(function*() {
    const rewards = yield* source.score(items)
    if (rewards.length !== items.length) {
      return yield* new Errors.RewardError({ source: source.id, message: `reward source ${source.id} returned ${rewards.length} rewards for ${items.length} items` })
    }
    const bad = rewards.findIndex((r) => typeof r !== "number" || !Number.isFinite(r))
    if (bad >= 0) {
      const item = items[bad]!
      const which = item.rolloutId ?? `item ${bad} (prompt ${item.promptId})`
      return yield* new Errors.RewardError({
        source: source.id,
        ...(item.rolloutId ? { rolloutId: item.rolloutId } : {}),
        message: `reward source ${source.id} gave ${rewards[bad] === undefined || rewards[bad] === null ? "no reward" : typeof rewards[bad] === "number" ? String(rewards[bad]) : JSON.stringify(rewards[bad])} for rollout ${which}: ` +
          `every reward must be a finite number (the stage is not recorded; fix the source and \`odpo resume\` scores it again)`
      })
    }
    return rewards
  })

/** Scores with a source and the gold (a gold source, else the task's), checking each gives one finite reward per item. */
export const scoreWith = (source: RewardSource, task: Tasks.Task | undefined, items: ReadonlyArray<Domain.ScoreItem>, gold?: RewardSource) =>
  Effect.gen(function*() {
    const rewards = yield* checkedRewards(source, items)
    const golds = gold ? yield* checkedRewards(gold, items) : goldRewards(task, items)
    return { source: source.id, scores: rewards.map((reward, i) => ({ reward, goldReward: golds[i]! })) } satisfies Scorer.ScoreResult
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

    const sourceFor = (spec: RewardSpec, task: Tasks.Task | undefined, key: string) =>
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
      const task = Tasks.isBuiltin(request.task) ? Tasks.getTask(request.task) : undefined
      const key = JSON.stringify([spec, request.task.name, request.task.mu, request.task.sigma])
      const source = yield* sourceFor(spec, task, key)
      const goldSpec = request.gold ? yield* decodeRewardSpec(request.gold, "$.gold") : null
      const gold = goldSpec ? yield* sourceFor(goldSpec, task, JSON.stringify(["gold", goldSpec, request.task.name, request.task.mu, request.task.sigma])) : undefined
      // Score in chunks so a long stage (an ONNX model over thousands of rollouts) shows progress.
      const progress = yield* Progress.tracker(request.label ?? "score", request.items.length, "rollouts")
      const chunk = 1024
      const scores: Array<Domain.Score> = []
      for (let i = 0; i < request.items.length; i += chunk) {
        const part = request.items.slice(i, i + chunk)
        scores.push(...(yield* scoreWith(source, task, part, gold)).scores)
        yield* progress.tick(part.length)
      }
      return { source: source.id, scores } satisfies Scorer.ScoreResult
    })

    return Scorer.Scorer.of({ score })
  })
)
