/**
 * KTO (Ethayarajh et al. 2024), unpaired: loss = λ_y − v(x, y) with r = log π(y|x) − log π_ref(y|x),
 *   v = λ_D σ(β(r − z₀))  if y is desirable,  λ_U σ(β(z₀ − r))  if not,
 *   z₀ = max(0, mean over the batch of r on mismatched (x, y′) pairs), with no gradient through z₀.
 * The mismatched pairs are completions put after *other* prompts of the batch: KTO's estimate
 * of KL(π ‖ π_ref) as a reference point.
 */
import * as tf from "@tensorflow/tfjs-core"
import type { RunConfig } from "@odpo/core"

type LossConfig = RunConfig.LossConfig
import { stopGradient } from "./Loss.ts"

/** All [N] except the mismatched ones [M]; desirable is 1 or 0 (float32). */
export interface KtoLogps {
  readonly policy: tf.Tensor1D
  readonly ref: tf.Tensor1D
  readonly desirable: tf.Tensor1D
  readonly policyMismatched: tf.Tensor1D
  readonly refMismatched: tf.Tensor1D
}

export interface KtoLoss {
  /** Per-example loss [N]. */
  readonly losses: tf.Tensor1D
  /** β r per example [N]. */
  readonly rewards: tf.Tensor1D
  /** The reference point z₀ (a scalar, gradient-free). */
  readonly z0: tf.Scalar
}

export const kto = (x: KtoLogps, { beta, ktoLambdaD, ktoLambdaU }: LossConfig): KtoLoss => {
  const z0 = stopGradient(tf.relu(tf.mean(tf.sub(x.policyMismatched, x.refMismatched)))) as tf.Scalar
  const r = tf.sub(x.policy, x.ref)
  const good = tf.mul(ktoLambdaD, tf.sub(1, tf.sigmoid(tf.mul(beta, tf.sub(r, z0)))))
  const bad = tf.mul(ktoLambdaU, tf.sub(1, tf.sigmoid(tf.mul(beta, tf.sub(z0, r)))))
  // λ_y − v = λ_y (1 − σ(·)): select per example by its label
  const losses = tf.add(tf.mul(x.desirable, good), tf.mul(tf.sub(1, x.desirable), bad)) as tf.Tensor1D
  return { losses, rewards: tf.mul(beta, r) as tf.Tensor1D, z0 }
}
