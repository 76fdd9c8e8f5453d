/**
 * The coordinator's side of the rollout workers: a Sampler and a Scorer that split each request
 * by prompt (by completion, to score) into shards, send every shard to the cluster as one
 * persisted message, and answer — in request order — once every shard has. The round loop is
 * unchanged: it records the stage after the whole answer, so a lost shard can only delay it.
 */
import { Context, Effect, Layer } from "effect"
import type { Sharding } from "effect/cluster"
import type { CheckpointRef } from "./Domain.ts"
import { ClusterUnavailable } from "./Errors.ts"
import { type Requirement, RolloutWorker } from "./RolloutWorker.ts"
import { Sampler } from "./Sampler.ts"
import { Scorer } from "./Scorer.ts"

export interface ClusterOptions {
  /** The odpo build and engine every worker must run (the run's). */
  readonly require: Requirement
  /** How many shards a request is split into (at most one per prompt or completion). */
  readonly shards: number
  /** The coordinator's checkpoint server (null: the workers read a shared checkpoint directory). */
  readonly checkpointUrl: string | null
  /** Called with each checkpoint a shard names, before it is sent, so the server can hand it out. */
  readonly offer: (ref: CheckpointRef) => Effect.Effect<void>
}

/** `items` in at most `k` contiguous, near-equal, non-empty chunks (their concatenation is `items`). */
export const split = <A>(items: ReadonlyArray<A>, k: number): Array<ReadonlyArray<A>> => {
  const n = Math.max(1, Math.min(k, items.length))
  return Array.from({ length: n }, (_, i) => items.slice(Math.floor((i * items.length) / n), Math.floor(((i + 1) * items.length) / n)))
    .filter((c) => c.length > 0)
}

/** Transport and storage failures of the cluster, as one error the user can act on. */
const clusterTags = new Set(["MailboxFull", "AlreadyProcessingMessage", "PersistenceError", "EntityNotAssignedToRunner"])
const orUnavailable = <A, E extends { readonly _tag: string }>(shard: string, effect: Effect.Effect<A, E>) =>
  Effect.mapError(effect, (e) =>
    clusterTags.has(e._tag)
      ? new ClusterUnavailable({ message: `${shard}: the cluster could not deliver the shard (${e._tag}): is PostgreSQL up?`, cause: e })
      : (e as Exclude<E, { readonly _tag: "MailboxFull" | "AlreadyProcessingMessage" | "PersistenceError" | "EntityNotAssignedToRunner" }>))

/** Each shard is its own entity (a fresh id), so the cluster spreads a request's shards over its runners. */
const entityId = (label: string, i: number) => `${label}#${i}#${crypto.randomUUID()}`

/** Sampler and Scorer on the cluster's rollout workers. */
export const layer = (options: ClusterOptions): Layer.Layer<Sampler | Scorer, never, Sharding.Sharding> =>
  Layer.effectContext(Effect.gen(function*() {
    const client = yield* RolloutWorker.client
    const sampler = Sampler.of({
      sample: Effect.fn("ClusterEngine.sample")(function*(request) {
        yield* options.offer(request.policy)
        const label = request.label ?? "sample"
        const chunks = split(request.prompts, options.shards)
        const answers = yield* Effect.forEach(chunks, (prompts, i) => {
          const shard = `${label} [${i + 1}/${chunks.length}]`
          return orUnavailable(shard, client(entityId(label, i)).Sample({
            shard, require: options.require, policy: { sha256: request.policy.id, url: options.checkpointUrl },
            prompts, n: request.n, params: request.params, seed: request.seed
          }))
        }, { concurrency: "unbounded" })
        return answers.flat()
      })
    })
    const scorer = Scorer.of({
      score: Effect.fn("ClusterEngine.score")(function*(request) {
        const label = request.label ?? "score"
        const chunks = split(request.items, options.shards)
        const { name, mu, sigma, seed, trainPrompts, heldoutPrompts } = request.task
        const answers = yield* Effect.forEach(chunks, (items, i) => {
          const shard = `${label} [${i + 1}/${chunks.length}]`
          return orUnavailable(shard, client(entityId(label, i)).Score({
            shard, require: options.require, reward: request.reward, gold: request.gold ?? null,
            task: { name, mu, sigma, seed, trainPrompts, heldoutPrompts },
            items
          }))
        }, { concurrency: "unbounded" })
        return { source: answers[0]?.source ?? "", scores: answers.flatMap((a) => a.scores) }
      })
    })
    return Context.make(Sampler, sampler).pipe(Context.add(Scorer, scorer))
  }))
