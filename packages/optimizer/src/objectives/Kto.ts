/**
 * KTO as an objective: pointwise labels from the round's pairs (each chosen desirable, each
 * rejected not); each example gets a mismatched partner — its prompt followed by the completion
 * of the previous example, cut to fit the context, as TRL builds its KL dataset — with π_ref on
 * it. Matched and mismatched sequences go through one forward; z₀ is per micro-batch.
 */
import type { Domain, RunConfig } from "@odpo/core"
import { Errors } from "@odpo/core"
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import { kto } from "../losses/index.ts"
import { checkSequences } from "../TrainingChecks.ts"
import type { RoundObjective } from "./Objective.ts"

/** A KTO example with its mismatched partner and π_ref on both. */
export interface KtoItem {
  readonly example: Domain.LabelledExample
  readonly mismatched: Domain.Sequence
  readonly refMismatchedLogp: number
}

/** Labelled examples from pairs: chosen desirable, rejected not. */
export const labelledExamples = (pairs: ReadonlyArray<Domain.TrainingPair>): Array<Domain.LabelledExample> =>
  pairs.flatMap((p) => [
    { sequence: p.chosen, desirable: true, refLogp: p.refChosenLogp },
    { sequence: p.rejected, desirable: false, refLogp: p.refRejectedLogp }
  ])

export const ktoObjective = (config: RunConfig.LossConfig): RoundObjective<KtoItem> => ({
  items: ({ pairs }, env) =>
    Effect.gen(function*() {
      if (pairs.length === 0) {
        return yield* new Errors.InvalidInput({ message: "request.pairs is empty: loss.type \"kto\" takes its labelled examples from the round's pairs" })
      }
      const examples = labelledExamples(pairs)
      yield* checkSequences(examples.map((e) => e.sequence), env, (i) => `examples[${i}].sequence`)
      const mismatched = examples.map((e, i): Domain.Sequence => {
        const other = examples[(i + examples.length - 1) % examples.length]!.sequence.completionTokenIds
        const room = Math.max(1, env.contextLength - e.sequence.promptTokenIds.length)
        return { promptTokenIds: e.sequence.promptTokenIds, completionTokenIds: other.slice(0, room) }
      })
      const refs = yield* env.referenceLogps(mismatched)
      return examples.map((example, i): KtoItem => ({ example, mismatched: mismatched[i]!, refMismatchedLogp: refs[i]! }))
    }),
  sequences: (items) => [...items.map((k) => k.example.sequence), ...items.map((k) => k.mismatched)],
  lossSum: (items, logps, metrics) => {
    const N = items.length
    const [policy, policyMismatched] = tf.split(logps.sums, [N, N]) as [tf.Tensor1D, tf.Tensor1D]
    const desirable = tf.tensor1d(items.map((k) => (k.example.desirable ? 1 : 0)))
    const out = kto({
      policy,
      ref: tf.tensor1d(items.map((k) => k.example.refLogp)),
      desirable,
      policyMismatched,
      refMismatched: tf.tensor1d(items.map((k) => k.refMismatchedLogp))
    }, config)
    const nGood = items.filter((k) => k.example.desirable).length
    metrics.add("loss", tf.sum(out.losses), N)
    metrics.add("rewards/chosen", tf.sum(tf.mul(out.rewards, desirable)), nGood)
    metrics.add("rewards/rejected", tf.sum(tf.mul(out.rewards, tf.sub(1, desirable))), N - nGood)
    metrics.add("logps/chosen", tf.sum(tf.mul(policy, desirable)), nGood)
    metrics.add("logps/rejected", tf.sum(tf.mul(policy, tf.sub(1, desirable))), N - nGood)
    metrics.add("kl", out.z0, 1)
    return tf.sum(out.losses) as tf.Scalar
  }
})
