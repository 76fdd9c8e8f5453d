/**
 * SimPO (Meng et al. 2024): −log σ(β/|y_w| · log π(y_w) − β/|y_l| · log π(y_l) − γ), no reference.
 * The paper's defaults are β = 2.0 and γ = 1.0 (γ/β = 0.5), but LossConfig.beta defaults to
 * 0.1 for the whole DPO family: configure simpo explicitly, `{ "type": "simpo", "beta": 2.0,
 * "simpoGamma": 1.0 }`. simpoGamma is γ itself (not γ/β). Rewards logged: β · mean log π.
 */
import * as tf from "@tensorflow/tfjs-core"
import { logSigmoid, type PairLossFn } from "./Loss.ts"

export const simpo: PairLossFn = (x, { beta, simpoGamma }) => {
  const chosenRewards = tf.mul(beta, tf.div(x.policyChosen, x.chosenLengths)) as tf.Tensor1D
  const rejectedRewards = tf.mul(beta, tf.div(x.policyRejected, x.rejectedLengths)) as tf.Tensor1D
  const losses = tf.neg(logSigmoid(tf.sub(tf.sub(chosenRewards, rejectedRewards), simpoGamma))) as tf.Tensor1D
  return { losses, chosenRewards, rejectedRewards }
}
