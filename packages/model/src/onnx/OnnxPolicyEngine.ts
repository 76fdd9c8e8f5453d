/**
 * The PolicyEngine on onnxruntime. Log-probs and statistics come from the forward graphs; a loss's
 * gradient in three moves: the train graph gives the token log-probs (and keeps the activations
 * the backward needs), tfjs differentiates the loss with respect to them (a leaf [N, T−1] tensor:
 * cheap), and the VJP graph carries that upstream gradient back to every parameter. Weights stay in the Gpt's tfjs Variables, read at
 * each call, so AdamW, clipping and checkpoints are the same as on tfjs.
 */
import { Errors } from "@odpo/core"
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import { parameterShapes } from "../Architectures.ts"
import type { CausalLm } from "../CausalLm.ts"
import type { PolicyEngine } from "../PolicyEngine.ts"
import { gradients, hostModelOf, makeHostBatch, sequenceLogps, sequenceStats, sequenceTokenLogps, trainingLogps } from "./OnnxPolicy.ts"
import { OnnxSessionPool } from "./OnnxSessions.ts"

/** Sequences per forward when scoring without gradient (onnxruntime is faster on larger batches). */
const SCORE_BATCH = 64
const STATS_BATCH = 32

/**
 * Failures here are defects: the Trainer validates sequences first, and a graph that will not load
 * or run is a bug (the error still names the graph and onnxruntime's reason). Dropout is the one
 * thing a user can ask for that the graphs lack: it is refused with the field to change.
 */
const noDropout = (model: CausalLm) =>
  model.config.dropout > 0
    ? Effect.die(new Errors.OnnxError({
      message: `model.dropout is ${model.config.dropout}, but the onnx training graphs have no dropout: set policy.model.dropout to 0, or train on a tfjs backend (--backend cpu)`
    }))
    : Effect.void

/** The engine over the command's session pool. `backend` is what runs.backend records ("onnx" or "onnx-webgpu"). */
export const make = (backend: string): Effect.Effect<PolicyEngine, never, OnnxSessionPool> =>
  Effect.gen(function*() {
    const pool = yield* OnnxSessionPool
    return {
      backend,
      sequenceLogps: (model, seqs, padId) =>
        Effect.orDie(Effect.flatMap(hostModelOf(model), (host) => sequenceLogps(pool, host, seqs, padId, SCORE_BATCH))),
      tokenLogps: (model, seqs, padId) =>
        Effect.orDie(Effect.flatMap(hostModelOf(model), (host) => sequenceTokenLogps(pool, host, seqs, padId, SCORE_BATCH))),
      sequenceStats: (policy, reference, seqs, padId) =>
        Effect.orDie(Effect.gen(function*() {
          return yield* sequenceStats(pool, yield* hostModelOf(policy), yield* hostModelOf(reference), seqs, padId, STATS_BATCH)
        })),
      gradients: (model, seqs, loss, { padId }) =>
        Effect.orDie(Effect.gen(function*() {
          yield* noDropout(model)
          const host = yield* hostModelOf(model)
          const batch = yield* makeHostBatch(seqs, padId, model.config.contextLength)
          const { tokenLogps, saved } = yield* trainingLogps(pool, host, batch)
          const shape: [number, number] = [batch.B, batch.T - 1]
          const { value, upstream } = tf.tidy(() => {
            const mask = tf.tensor2d(batch.targetMask, shape)
            const lossOf = (tokens: tf.Tensor2D) => loss({ tokens, mask, sums: tf.sum(tokens, -1) as tf.Tensor1D })
            const { value, grad } = tf.valueAndGrad(lossOf)(tf.tensor2d(tokenLogps, shape))
            return { value, upstream: Float32Array.from(grad.dataSync()) }
          })
          const grads = yield* gradients(pool, host, batch, upstream, saved)
          return { value, grads: parameterShapes(model.config).map(([name, s]) => tf.tensor(grads.get(name)!, s)) }
        }))
    } satisfies PolicyEngine
  })
