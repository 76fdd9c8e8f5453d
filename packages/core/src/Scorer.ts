/** The Scorer service: a reward (and the task's gold reward) per completion. */
import { Context, Effect, Layer } from "effect"
import type { Score, ScoreItem } from "./Domain.ts"
import type { ClusterUnavailable, ConfigError, InvalidInput, OnnxError, RewardError, TokenizerMismatch, WorkerRefused } from "./Errors.ts"
import type { RewardSpec, TaskName, TaskParams } from "./RunConfig.ts"

export interface ScoreRequest {
  /** Which reward to compute (RunConfig.reward). */
  readonly reward: RewardSpec
  /** A gold reward spec (RunConfig.gold) for a task without its own; null/absent = the task's gold, if any. */
  readonly gold?: RewardSpec | null
  /** The task, for its gold reward and the `task` source. */
  readonly task: TaskParams & { readonly name: TaskName }
  readonly items: ReadonlyArray<ScoreItem>
  readonly label?: string
}

export interface ScoreResult {
  /** A stable id of the reward source (stored in scores.source), e.g. "task:bandit". */
  readonly source: string
  /** One per item, in order. */
  readonly scores: ReadonlyArray<Score>
}

export type ScorerError = ConfigError | InvalidInput | OnnxError | TokenizerMismatch | RewardError | WorkerRefused | ClusterUnavailable

export class Scorer extends Context.Service<Scorer, {
  readonly score: (request: ScoreRequest) => Effect.Effect<ScoreResult, ScorerError>
}>()("@odpo/core/Scorer") {
  /** A scorer for testing the round loop: reward = gold = the first completion token id / 10. */
  static readonly layerTest: Layer.Layer<Scorer> = Layer.succeed(Scorer, Scorer.of({
    score: (request) =>
      Effect.succeed({
        source: "test",
        scores: request.items.map((item) => {
          const r = (item.completionTokenIds[0] ?? 0) / 10
          return { reward: r, goldReward: r }
        })
      })
  }))
}
