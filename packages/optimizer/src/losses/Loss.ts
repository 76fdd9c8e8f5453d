/** The shapes every loss shares: inputs are per-example log-probs, outputs per-example losses and implicit rewards. */
import * as tf from "@tensorflow/tfjs-core"
// Gradients are registered when the model package loads (model/src/TfSetup.ts; tfjs-core alone has none).
import "@odpo/model"
import type { RunConfig } from "@odpo/core"

export type LossConfig = RunConfig.LossConfig

/**
 * One batch of B pairs, all [B]: log-probs summed over completion tokens (prompt masked) under
 * the policy and the reference, and the completion lengths |y| (as float32).
 */
export interface PairLogps {
  readonly policyChosen: tf.Tensor1D
  readonly policyRejected: tf.Tensor1D
  readonly refChosen: tf.Tensor1D
  readonly refRejected: tf.Tensor1D
  readonly chosenLengths: tf.Tensor1D
  readonly rejectedLengths: tf.Tensor1D
}

/** Per-pair loss [B] (the trainer averages it) and the implicit rewards logged as rewards/chosen, rewards/rejected. */
export interface PairLoss {
  readonly losses: tf.Tensor1D
  readonly chosenRewards: tf.Tensor1D
  readonly rejectedRewards: tf.Tensor1D
}

export type PairLossFn = (x: PairLogps, config: LossConfig) => PairLoss

/** log σ(x) = −softplus(−x): stable for |x| large, and its gradient works (tf.logSigmoid's does not in tfjs 4.22). */
export const logSigmoid = (x: tf.Tensor): tf.Tensor => tf.neg(tf.softplus(tf.neg(x)))

/** The identity whose gradient is zero (tfjs has no stopGradient): KTO's z₀ must not be trained through. */
export const stopGradient = <T extends tf.Tensor>(x: T): T => detach(x) as T

const detach = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const input = args[0] as tf.Tensor
  return { value: tf.clone(input), gradFunc: (dy: tf.Tensor | Array<tf.Tensor>) => tf.zerosLike(dy as tf.Tensor) }
})

/** h_w − h_l with h = log π − log π_ref (summed log-probs): the DPO family's Δ. */
export const logRatioMargin = (x: PairLogps): tf.Tensor1D =>
  tf.sub(tf.sub(x.policyChosen, x.refChosen), tf.sub(x.policyRejected, x.refRejected)) as tf.Tensor1D

/** rewards/chosen = β h_w, rewards/rejected = β h_l (SCIENCE.md). */
export const implicitRewards = (x: PairLogps, beta: number) => ({
  chosenRewards: tf.mul(beta, tf.sub(x.policyChosen, x.refChosen)) as tf.Tensor1D,
  rejectedRewards: tf.mul(beta, tf.sub(x.policyRejected, x.refRejected)) as tf.Tensor1D
})

/** −log π(y_w|x) / |y_w|: the NLL term of `sft` and of `sftWeight`. */
export const chosenNll = (x: PairLogps): tf.Tensor1D => tf.div(tf.neg(x.policyChosen), x.chosenLengths) as tf.Tensor1D

/** Adds sftWeight · NLL(chosen) to any pairwise loss (RPO-style mixing); weight 0 returns it unchanged. */
export const withSftTerm = (out: PairLoss, x: PairLogps, weight: number): PairLoss =>
  weight === 0 ? out : { ...out, losses: tf.add(out.losses, tf.mul(weight, chosenNll(x))) as tf.Tensor1D }
