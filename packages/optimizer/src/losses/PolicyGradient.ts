/**
 * What the policy-gradient objectives (rloo.ts, ppoClip.ts) share: per-token log-prob tensors in,
 * per-sequence losses out, the KL-as-a-loss term, and the TRL-named metrics.
 *
 * Inputs are log-probs of the *sampled tokens only* ([B, T], masked), never logits, so that any
 * engine that can score tokens (tfjs, onnxruntime) can supply them.
 *
 * π_old and temperature. The rollouts record the log-probs of the *unprocessed* policy
 * (temperature 1, no top-k/top-p/min-p/repetition penalty; README "Log-probs in rollouts"). Those
 * are the log-probs of the very policy the loss differentiates, as it was when it sampled, so
 * PPO's ratio π_θ/π_old is 1 until the round's first optimiser step and then measures how far the
 * *policy* has moved, which is what the trust region is about. (With staleness or offline sampling
 * π_old is the older sampling policy: the ratio is then the importance weight to it.) With sampling.temperature = 1 and every logits processor off,
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
  /** Each completion's advantage, [B] (core Advantages.ts): fixed for the round, no gradient. */
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
 * (the KL went into the reward, core Advantages.ts).
 */
export const withKlTerm = (losses: tf.Tensor1D, x: TokenLogps, { beta, klMode }: LossConfig): tf.Tensor1D => {
  if (klMode !== "loss") return losses
  const d = tf.mul(tf.sub(x.ref, x.policy), x.mask)
  const k3 = tf.sub(tf.sub(tf.exp(d), d), 1) as tf.Tensor2D
  return tf.add(losses, tf.mul(beta, maskedSum(k3, x.mask))) as tf.Tensor1D
}

/** One metric of a batch: its sum, and whether it is averaged over completions or over completion tokens. */
export interface MetricSum {
  readonly sum: tf.Scalar
  readonly per: "completion" | "token"
}

/**
 * TRL's metric names, as sums (micro-batches add up; the trainer divides by completions or tokens):
 *   objective/kl     Σ_t (log π_old − log π_ref) per completion: the k1 estimate on the sampled tokens
 *   policy/clipfrac  share of tokens whose clipped branch is taken
 *   policy/approxkl  ½ (log π_θ − log π_old)² per token (TRL's approxkl)
 *   val/ratio        π_θ / π_old per token
 *   policy/entropy   −log π_θ per token: the sampled-token estimate of the entropy (exact on-policy in expectation)
 * `loss` and `objective/rlhf_reward` come from the losses and the advantages. Call inside a tidy.
 */
export const policyGradientMetrics = (x: TokenLogps, out: PolicyGradientLoss): Record<string, MetricSum> => ({
  "objective/kl": { sum: tf.sum(maskedSum(tf.sub(x.old, x.ref) as tf.Tensor2D, x.mask)), per: "completion" },
  "policy/clipfrac": { sum: tf.sum(tf.mul(out.clipped, x.mask)), per: "token" },
  "policy/approxkl": { sum: tf.mul(0.5, tf.sum(tf.square(logRatio(x)))) as tf.Scalar, per: "token" },
  "val/ratio": { sum: tf.sum(tf.mul(out.ratio, x.mask)), per: "token" },
  "policy/entropy": { sum: tf.neg(tf.sum(tf.mul(x.policy, x.mask))) as tf.Scalar, per: "token" }
})
