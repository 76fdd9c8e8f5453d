/** DPO (Rafailov et al. 2023); with labelSmoothing ε it is cDPO: −(1−ε) log σ(βΔ) − ε log σ(−βΔ). */
import * as tf from "@tensorflow/tfjs-core"
import { implicitRewards, logRatioMargin, logSigmoid, type PairLossFn } from "./Loss.ts"

export const sigmoid: PairLossFn = (x, { beta, labelSmoothing: eps }) => {
  const logits = tf.mul(beta, logRatioMargin(x))
  // ε is the probability that the label is flipped: the target is (1−ε) on "chosen wins"
  const losses = tf.sub(tf.mul(-(1 - eps), logSigmoid(logits)), tf.mul(eps, logSigmoid(tf.neg(logits)))) as tf.Tensor1D
  return { losses, ...implicitRewards(x, beta) }
}
