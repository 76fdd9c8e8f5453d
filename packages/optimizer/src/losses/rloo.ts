/**
 * RLOO, REINFORCE with a leave-one-out baseline (Ahmadian et al. 2024, arXiv:2402.14740):
 *   loss = −A · log π(y|x) + [klMode loss] β Σ_t k3_t,   log π(y|x) = Σ_t log π(y_t | x, y_<t),
 * with A = r − mean of the other K − 1 rewards of the prompt (core Advantages.ts). One gradient step
 * per sample is the paper's setting: A is not corrected for a policy that has moved since it
 * sampled (training.epochs > 1 reuses samples uncorrected; ppo_clip is the objective for that).
 */
import * as tf from "@tensorflow/tfjs-core"
import { logRatio, maskedSum, type PolicyGradientLossFn, withKlTerm } from "./PolicyGradient.ts"

export const rloo: PolicyGradientLossFn = (x, config) => {
  const losses = tf.neg(tf.mul(x.advantages, maskedSum(x.policy, x.mask))) as tf.Tensor1D
  return {
    losses: withKlTerm(losses, x, config),
    ratio: tf.exp(logRatio(x)) as tf.Tensor2D,
    clipped: tf.zerosLike(x.policy)
  }
}
