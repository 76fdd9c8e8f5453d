/**
 * R-DPO (Park et al. 2024), exactly as SCIENCE.md writes it: −log σ(βΔ + α(|y_w| − |y_l|)).
 * With α > 0 a longer chosen already has a larger logit, so less of the margin has to come from
 * the policy: the implicit reward earns nothing for length.
 */
import * as tf from "@tensorflow/tfjs-core"
import { implicitRewards, logRatioMargin, logSigmoid, type PairLossFn } from "./Loss.ts"

export const rdpo: PairLossFn = (x, { beta, rdpoAlpha }) => {
  const logits = tf.add(tf.mul(beta, logRatioMargin(x)), tf.mul(rdpoAlpha, tf.sub(x.chosenLengths, x.rejectedLengths)))
  return { losses: tf.neg(logSigmoid(logits)) as tf.Tensor1D, ...implicitRewards(x, beta) }
}
