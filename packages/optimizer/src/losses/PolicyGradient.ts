/**
 * What the policy-gradient objectives (rloo.ts, ppoClip.ts) share: per-token log-prob tensors in,
 * per-sequence losses out, the KL-as-a-loss term, and the TRL-named metrics.
 *
 * Inputs are log-probs of the *sampled tokens only* ([B, T], masked), never logits, so that any
 * engine that can score tokens (tfjs, onnxruntime) can supply them.
 *
 * π_old and temperature. The rollouts record the log-probs of the *unprocessed* policy
 * (temperature 1, no top-k/top-p/min-p/repetition penalty; README "Log-probs in rollouts"). Those
 * are exactly the log-probs of the policy the loss differentiates, one optimiser step earlier, so
 * PPO's ratio π_θ/π_old is 1 at the first epoch and measures how far the *policy* has moved, which
 * is what the trust region is about. With sampling.temperature = 1 and every logits processor off,
 * the sampling distribution q is π_old and both objectives are on-policy, as their papers assume.
 * With T ≠ 1 or truncation, q ≠ π_old: the samples come from a sharpened (T < 1) or flattened
 * (T > 1) policy and neither objective corrects for it (that would need q's log-probs, which are
 * not recorded), so the gradient is that of E_q[A · log π], biased towards q. odpo allows it (it is
 * common practice) and warns at run creation; use T = 1 and no truncation for the unbiased estimator.
 */
import * as tf from "@tensorflow/tfjs-core"
import type { LossConfig } from "./Loss.ts"

/** One batch of B sampled completions, right-padded to T tokens. */
export interface TokenLogps {
  /** log π_θ(y_t | x, y_<t), [B, T]: the tensor the loss differentiates. */
  readonly policy: tf.Tensor2D
  /** log π_old of the same tokens, [B, T]: the rollouts' recorded log-probs (see above). */
  readonly old: tf.Tensor2D
  /** log π_ref of the same tokens, [B, T]. */
  readonly ref: tf.Tensor2D
  /** 1 on completion tokens, 0 on padding, [B, T]; masked entries of the log-prob tensors must be finite (0 is usual). */
  readonly mask: tf.Tensor2D
  /** Each completion's advantage, [B] (leaveOneOut.ts): fixed for the round, no gradient. */
  readonly advantages: tf.Tensor1D
}

export interface PolicyGradientLoss {
  /** Per-completion loss [B], summed over its tokens (the trainer averages over completions). */
  readonly losses: tf.Tensor1D
  /** Per-token ratio π_θ/π_old [B, T], 1 on padding. */
  readonly ratio: tf.Tensor2D
  /** 1 where the clipped branch is taken and stops the gradient, [B, T]; all 0 for RLOO. */
  readonly clipped: tf.Tensor2D
}

export type PolicyGradientLossFn = (x: TokenLogps, config: LossConfig) => PolicyGradientLoss

/** Σ over each row's completion tokens, [B]. */
export const maskedSum = (t: tf.Tensor2D, mask: tf.Tensor2D): tf.Tensor1D => tf.sum(tf.mul(t, mask), 1) as tf.Tensor1D

/** log π_θ − log π_old per token, 0 on padding (so exp gives ratio 1 there). */
export const logRatio = (x: TokenLogps): tf.Tensor2D => tf.mul(tf.sub(x.policy, x.old), x.mask) as tf.Tensor2D

/**
 * klMode "loss": β Σ_t k3_t with k3 = exp(ref − π) − (ref − π) − 1 ≥ 0, Schulman's estimator of
 * KL(π ‖ π_ref) on tokens sampled from π, as GRPO (Shao et al. 2024, arXiv:2402.03300) adds it.
 * Its gradient on on-policy samples is that of Σ_t KL(π_ref ‖ π) at the sampled prefixes: the
 * same second-order pull towards π_ref as the forward KL. klMode "reward" adds nothing here
 * (the KL went into the reward, leaveOneOut.ts).
 */
export const withKlTerm = (losses: tf.Tensor1D, x: TokenLogps, { beta, klMode }: LossConfig): tf.Tensor1D => {
  if (klMode !== "loss") return losses
  const d = tf.mul(tf.sub(x.ref, x.policy), x.mask)
  const k3 = tf.sub(tf.sub(tf.exp(d), d), 1) as tf.Tensor2D
  return tf.add(losses, tf.mul(beta, maskedSum(k3, x.mask))) as tf.Tensor1D
}

/** A metric accumulated over a step's micro-batches: its mean is sum / count. */
export interface MetricSum {
  readonly sum: number
  readonly count: number
}

const total = (t: tf.Tensor): number => tf.sum(t).dataSync()[0]!

/**
 * TRL's metric names, as sums and counts (per completion or per token) so that micro-batches add up:
 *   objective/kl     Σ_t (log π_old − log π_ref) per completion: the k1 estimate on the sampled tokens
 *   policy/clipfrac  share of tokens whose clipped branch is taken
 *   policy/approxkl  ½ (log π_θ − log π_old)² per token (TRL's approxkl)
 *   val/ratio        π_θ / π_old per token
 *   policy/entropy   −log π_θ per token: the sampled-token estimate of the entropy (exact on-policy in expectation)
 * `loss` and `objective/rlhf_reward` come from the trainer and the advantages.
 */
export const policyGradientMetrics = (x: TokenLogps, out: PolicyGradientLoss): Record<string, MetricSum> => {
  let metrics: Record<string, MetricSum> = {}
  tf.tidy(() => {
    const tokens = total(x.mask)
    metrics = {
      "objective/kl": { sum: total(maskedSum(tf.sub(x.old, x.ref) as tf.Tensor2D, x.mask)), count: x.policy.shape[0] },
      "policy/clipfrac": { sum: total(tf.mul(out.clipped, x.mask)), count: tokens },
      "policy/approxkl": { sum: 0.5 * total(tf.square(logRatio(x))), count: tokens },
      "val/ratio": { sum: total(tf.mul(out.ratio, x.mask)), count: tokens },
      "policy/entropy": { sum: -total(tf.mul(x.policy, x.mask)), count: tokens }
    }
  })
  return metrics
}
