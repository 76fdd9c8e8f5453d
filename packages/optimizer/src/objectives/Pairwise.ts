/**
 * Every pairwise loss as an objective (DPO family, SimPO, R-DPO, RAFT/sft, + sftWeight): the
 * chosen and rejected of a micro-batch go through ONE forward (a 2B batch, split after).
 */
import type { Domain, RunConfig } from "@odpo/core"
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import type { PairLogps, PairLossFn } from "../losses/index.ts"
import { withSftTerm } from "../losses/index.ts"
import { checkPairs } from "../TrainingChecks.ts"
import type { RoundObjective } from "./Objective.ts"

export const pairwise = (lossFn: PairLossFn) => (config: RunConfig.LossConfig): RoundObjective<Domain.TrainingPair> => ({
  items: ({ pairs }, env) => Effect.as(checkPairs(pairs, env), pairs),
  sequences: (pairs) => [...pairs.map((p) => p.chosen), ...pairs.map((p) => p.rejected)],
  lossSum: (pairs, logps, metrics) => {
    const B = pairs.length
    const [policyChosen, policyRejected] = tf.split(logps.sums, [B, B]) as [tf.Tensor1D, tf.Tensor1D]
    const x: PairLogps = {
      policyChosen,
      policyRejected,
      refChosen: tf.tensor1d(pairs.map((p) => p.refChosenLogp)),
      refRejected: tf.tensor1d(pairs.map((p) => p.refRejectedLogp)),
      chosenLengths: tf.tensor1d(pairs.map((p) => p.chosen.completionTokenIds.length)),
      rejectedLengths: tf.tensor1d(pairs.map((p) => p.rejected.completionTokenIds.length))
    }
    const out = withSftTerm(lossFn(x, config), x, config.sftWeight)
    const margins = tf.sub(out.chosenRewards, out.rejectedRewards)
    metrics.add("loss", tf.sum(out.losses), B)
    metrics.add("rewards/chosen", tf.sum(out.chosenRewards), B)
    metrics.add("rewards/rejected", tf.sum(out.rejectedRewards), B)
    metrics.add("rewards/margins", tf.sum(margins), B)
    metrics.add("rewards/accuracies", tf.sum(tf.cast(tf.greater(margins, 0), "float32")), B)
    metrics.add("logps/chosen", tf.sum(policyChosen), B)
    metrics.add("logps/rejected", tf.sum(policyRejected), B)
    return tf.sum(out.losses) as tf.Scalar
  }
})
