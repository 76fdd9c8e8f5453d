/**
 * PPO-clip (Schulman et al. 2017, arXiv:1707.06347) with RLOO's leave-one-out advantage and no
 * value network, per token, summed over the completion:
 *   ρ_t = exp(log π_θ(y_t) − log π_old(y_t))
 *   loss = Σ_t max(−A ρ_t, −A clip(ρ_t, 1 − ε, 1 + ε)) + [klMode loss] β Σ_t k3_t
 * π_old is the rollouts' recorded log-probs (PolicyGradient.ts: temperature). Before the policy
 * has moved, ρ = 1 and ∇ = −A Σ_t ∇log π(y_t): RLOO's gradient. Later, a token whose ratio has moved past
 * 1 + ε (A > 0) or below 1 − ε (A < 0) takes the constant clipped branch and gets no gradient;
 * the max keeps the unclipped (pessimistic) branch in the other direction, so a step that made a
 * token worse is still undone. Summing over tokens (TRL's PPO averages them) keeps ρ = 1 equal to
 * RLOO's sequence-level loss.
 */
import * as tf from "@tensorflow/tfjs-core"
import { logRatio, maskedSum, type PolicyGradientLossFn, withKlTerm } from "./PolicyGradient.ts"

export const ppoClip: PolicyGradientLossFn = (x, config) => {
  const eps = config.ppoClipEpsilon
  const ratio = tf.exp(logRatio(x)) as tf.Tensor2D
  const A = tf.expandDims(x.advantages, 1)
  const unclipped = tf.neg(tf.mul(A, ratio))
  const clippedLoss = tf.neg(tf.mul(A, tf.clipByValue(ratio, 1 - eps, 1 + eps)))
  // tf.maximum sends the gradient to its first argument on ties (ρ inside the range): −A ρ ∇log π
  const perToken = tf.maximum(unclipped, clippedLoss) as tf.Tensor2D
  return {
    losses: withKlTerm(maskedSum(perToken, x.mask), x, config),
    ratio,
    clipped: tf.mul(tf.cast(tf.greater(clippedLoss, unclipped), "float32"), x.mask) as tf.Tensor2D
  }
}
