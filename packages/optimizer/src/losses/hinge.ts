/** SLiC's hinge (Zhao et al. 2023): max(0, 1 − βΔ). */
import * as tf from "@tensorflow/tfjs-core"
import { implicitRewards, logRatioMargin, type PairLossFn } from "./Loss.ts"

export const hinge: PairLossFn = (x, { beta }) => ({
  losses: tf.relu(tf.sub(1, tf.mul(beta, logRatioMargin(x)))) as tf.Tensor1D,
  ...implicitRewards(x, beta)
})
