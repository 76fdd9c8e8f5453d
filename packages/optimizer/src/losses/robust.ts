/** rDPO (Chowdhury et al. 2024): [−(1−ε) log σ(βΔ) + ε log σ(−βΔ)] / (1 − 2ε), unbiased under label flips at rate ε. */
import * as tf from "@tensorflow/tfjs-core"
import { implicitRewards, logRatioMargin, logSigmoid, type PairLossFn } from "./Loss.ts"

export const robust: PairLossFn = (x, { beta, labelSmoothing: eps }) => {
  const logits = tf.mul(beta, logRatioMargin(x))
  const losses = tf.div(tf.add(tf.mul(-(1 - eps), logSigmoid(logits)), tf.mul(eps, logSigmoid(tf.neg(logits)))), 1 - 2 * eps) as tf.Tensor1D
  return { losses, ...implicitRewards(x, beta) }
}
