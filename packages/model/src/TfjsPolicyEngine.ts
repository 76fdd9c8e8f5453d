/** The PolicyEngine on tfjs (any backend: cpu, webgpu, tensorflow): autodiff through CausalLm. */
import type { Domain, Trainer } from "@odpo/core"
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import type { CausalLm } from "./CausalLm.ts"
import { disposeBatch, makeBatch, nextTokenLogProbs, scoreSequences, scoreTokens, tokenLogProbs } from "./LogProbs.ts"
import type { PolicyEngine } from "./PolicyEngine.ts"

/** Sequences per forward when scoring without gradient. */
const SCORE_BATCH = 64
const STATS_BATCH = 32

const sequenceStats = async (policy: CausalLm, reference: CausalLm, seqs: ReadonlyArray<Domain.Sequence>, padId: number): Promise<Array<Trainer.SequenceStats>> => {
  const contextLength = Math.min(policy.config.contextLength, reference.config.contextLength)
  const out: Array<Trainer.SequenceStats> = []
  for (let i = 0; i < seqs.length; i += STATS_BATCH) {
    const batch = makeBatch(seqs.slice(i, i + STATS_BATCH), padId, contextLength)
    // One forward of each model per batch serves all three statistics; one read-back.
    const stacked = tf.tidy(() => {
      const lp = nextTokenLogProbs(policy, batch)
      const lq = nextTokenLogProbs(reference, batch)
      const probs = tf.exp(lp)
      const [B, T1, V] = lp.shape
      const masked = (perToken: tf.Tensor) => tf.sum(tf.mul(perToken, batch.targetMask), -1)
      // KL = Σ_v π(v)(log π(v) − log π_ref(v)); H = −Σ_v π(v) log π(v); log π(y_t) by one-hot pick
      const targets = tf.reshape(tf.oneHot(tf.reshape(tf.slice(batch.ids, [0, 1], [B, T1]), [B * T1]), V), [B, T1, V])
      return tf.stack([
        masked(tf.sum(tf.mul(probs, tf.sub(lp, lq)), -1)),
        masked(tf.neg(tf.sum(tf.mul(probs, lp), -1))),
        masked(tf.sum(tf.mul(lp, targets), -1))
      ], 1)
    })
    disposeBatch(batch)
    const rows = (await stacked.array()) as Array<[number, number, number]>
    stacked.dispose()
    for (const [kl, entropy, logp] of rows) out.push({ kl, entropy, logp })
  }
  return out
}

export const tfjsPolicyEngine: PolicyEngine = {
  backend: "tfjs",
  sequenceLogps: (model, seqs, padId) => Effect.promise(() => scoreSequences(model, seqs, padId, SCORE_BATCH)),
  tokenLogps: (model, seqs, padId) => Effect.promise(() => scoreTokens(model, seqs, padId, SCORE_BATCH)),
  sequenceStats: (policy, reference, seqs, padId) => Effect.promise(() => sequenceStats(policy, reference, seqs, padId)),
  gradients: (model, seqs, loss, { padId, dropoutSeed }) =>
    Effect.sync(() => {
      const batch = makeBatch(seqs, padId, model.config.contextLength)
      try {
        const variables = model.variables()
        const { value, grads } = tf.variableGrads(() => {
          const tokens = tokenLogProbs(model, batch, { training: true, dropoutSeed })
          return loss({ tokens, mask: batch.targetMask, sums: tf.sum(tokens, -1) as tf.Tensor1D })
        }, variables)
        // A variable the loss does not reach (none in a GPT) gets a zero gradient.
        return { value, grads: variables.map((v) => grads[v.name] ?? tf.zerosLike(v)) }
      } finally {
        disposeBatch(batch)
      }
    })
}
