/**
 * The rollout worker's protocol on Effect Cluster: one entity whose two RPCs take a stage's shard
 * (checkpoint hash, prompts with token ids, sampling parameters and the derived seed; or the
 * reward spec and the completions to score) and answer plain rollout and score records. Messages
 * are persisted (SQL message storage), so a shard whose worker dies is delivered again to the
 * runner that takes its cluster shard over.
 */
import { Effect, Schema } from "effect"
import { ClusterSchema, Entity } from "effect/cluster"
import { Rpc } from "effect/rpc"
import { Rollout, SamplingParams, ScoreItem } from "./Domain.ts"
import {
  CheckpointCorrupt, CheckpointNotFound, ClusterUnavailable, ConfigError, InvalidInput, OnnxError, RewardError, TokenizerMismatch, WorkerRefused
} from "./Errors.ts"
import { RewardSpec, TaskName } from "./RunConfig.ts"
import { SamplePrompt, Sampler } from "./Sampler.ts"
import { Scorer } from "./Scorer.ts"

/** What the coordinator asks of the worker: the same odpo build and the run's engine. */
export const Requirement = Schema.Struct({
  codeVersion: Schema.String,
  backend: Schema.String
})
export type Requirement = typeof Requirement.Type

/** Where a worker fetches a checkpoint it lacks: the coordinator's checkpoint server (null: the shared directory only). */
export const CheckpointSource = Schema.Struct({
  sha256: Schema.String,
  url: Schema.NullOr(Schema.String)
})
export type CheckpointSource = typeof CheckpointSource.Type

export const SampleShard = Schema.Struct({
  /** Names the shard in logs and errors, e.g. "round 2 · sample [1/3]". */
  shard: Schema.String,
  require: Requirement,
  policy: CheckpointSource,
  prompts: Schema.Array(SamplePrompt),
  n: Schema.Int,
  params: SamplingParams,
  /** The request seed: row (prompt, j) draws from rowSeed(seed, promptId, j), so a shard's rows are the whole request's. */
  seed: Schema.Int
})
export type SampleShard = typeof SampleShard.Type

export const ScoreShard = Schema.Struct({
  shard: Schema.String,
  require: Requirement,
  reward: RewardSpec,
  gold: Schema.NullOr(RewardSpec),
  task: Schema.Struct({
    name: TaskName, mu: Schema.Number, sigma: Schema.Number, seed: Schema.Int, trainPrompts: Schema.Int, heldoutPrompts: Schema.Int
  }),
  items: Schema.Array(ScoreItem)
})
export type ScoreShard = typeof ScoreShard.Type

export const ScoreRecords = Schema.Struct({
  source: Schema.String,
  scores: Schema.Array(Schema.Struct({ reward: Schema.Number, goldReward: Schema.NullOr(Schema.Number) }))
})

/** What a sampling shard can answer with: the sampler's own failures, and a refusal. */
export const SampleError = Schema.Union([WorkerRefused, ClusterUnavailable, InvalidInput, CheckpointNotFound, CheckpointCorrupt, TokenizerMismatch, OnnxError])
/** What a scoring shard can answer with: the scorer's own failures, and a refusal. */
export const ScoreError = Schema.Union([WorkerRefused, ClusterUnavailable, ConfigError, InvalidInput, OnnxError, TokenizerMismatch, RewardError])

export const Sample = Rpc.make("Sample", { payload: SampleShard, success: Schema.Array(Rollout), error: SampleError })
export const Score = Rpc.make("Score", { payload: ScoreShard, success: ScoreRecords, error: ScoreError })

export const RolloutWorker = Entity.make("RolloutWorker", [Sample, Score]).annotateRpcs(ClusterSchema.Persisted, true)

/** The worker's own build and engine, checked against each shard's requirement. */
export interface WorkerIdentity extends Requirement {
  /** host:port of the runner, for messages. */
  readonly address: string
}

/** A refusal when the worker is not what the shard requires; undefined when it is. */
export const refusal = (self: WorkerIdentity, shard: { readonly shard: string; readonly require: Requirement }): WorkerRefused | undefined => {
  const { codeVersion, backend } = shard.require
  if (self.codeVersion === codeVersion && self.backend === backend) return undefined
  const what = self.codeVersion !== codeVersion
    ? `it runs odpo ${self.codeVersion}, the coordinator odpo ${codeVersion}: start the worker from the coordinator's odpo build`
    : `it runs on backend ${self.backend}, the run on ${backend}: restart it with \`odpo worker --backend ${backend}\``
  return new WorkerRefused({ worker: self.address, message: `worker ${self.address} refused ${shard.shard}: ${what}` })
}

/**
 * The worker's entity: each shard checked against the worker's build and engine, its checkpoint
 * resolved by hash to a local directory (`resolve`: the shared directory or the download cache),
 * then sampled or scored by this process's own Sampler and Scorer. `onShard` runs as a shard is
 * taken (the CLI logs it; crash tests pause there).
 */
export const layer = (
  self: WorkerIdentity,
  resolve: (source: CheckpointSource) => Effect.Effect<string, CheckpointNotFound | CheckpointCorrupt>,
  onShard: (shard: string) => Effect.Effect<void> = () => Effect.void
) =>
  RolloutWorker.toLayer(Effect.gen(function*() {
    const sampler = yield* Sampler
    const scorer = yield* Scorer
    const check = (shard: SampleShard | ScoreShard) => {
      const refused = refusal(self, shard)
      return refused ? Effect.andThen(Effect.logWarning(refused.message), Effect.fail(refused)) : onShard(shard.shard)
    }
    return RolloutWorker.of({
      Sample: ({ payload }) =>
        Effect.gen(function*() {
          yield* check(payload)
          const path = yield* resolve(payload.policy)
          return yield* sampler.sample({
            policy: { id: payload.policy.sha256, path }, prompts: payload.prompts, n: payload.n, params: payload.params, seed: payload.seed
          })
        }),
      Score: ({ payload }) =>
        Effect.andThen(check(payload), scorer.score({ reward: payload.reward, gold: payload.gold, task: payload.task, items: payload.items }))
    })
  }))
