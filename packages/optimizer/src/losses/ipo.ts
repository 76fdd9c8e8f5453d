/**
 * IPO (Azar et al. 2023): (Δ − 1/(2τ))², τ = β. As TRL does, log-probs are averaged over the
 * completion tokens (not summed) for IPO, and the logged rewards use those averages too.
 */
import * as tf from "@tensorflow/tfjs-core"
import { implicitRewards, logRatioMargin, type PairLossFn } from "./Loss.ts"

export const ipo: PairLossFn = (x, { beta }) => {
  const mean = {
    ...x,
    policyChosen: tf.div(x.policyChosen, x.chosenLengths) as tf.Tensor1D,
    refChosen: tf.div(x.refChosen, x.chosenLengths) as tf.Tensor1D,
    policyRejected: tf.div(x.policyRejected, x.rejectedLengths) as tf.Tensor1D,
    refRejected: tf.div(x.refRejected, x.rejectedLengths) as tf.Tensor1D
  }
  // IPO regresses the margin onto 1/(2τ) instead of pushing it to +∞ as DPO does
  const losses = tf.square(tf.sub(logRatioMargin(mean), 1 / (2 * beta))) as tf.Tensor1D
  return { losses, ...implicitRewards(mean, beta) }
}
