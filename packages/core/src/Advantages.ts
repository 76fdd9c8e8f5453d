/**
 * The advantages a policy-gradient round trains on — its counterpart of pairing, made by the round
 * loop before training. RLOO's leave-one-out baseline (Ahmadian et al. 2024, arXiv:2402.14740),
 * per prompt with K ≥ 2 samples:
 *   rlhf_reward_i = r_i − β · KL_i,   KL_i = Σ_t (log π_old(y_t) − log π_ref(y_t))   (sampled tokens)
 *   trained_i     = rlhf_reward_i (klMode "reward", as TRL's RLOOTrainer)  or  r_i (klMode "loss")
 *   baseline_i    = (Σ_j trained_j − trained_i) / (K − 1)       the mean of the other K − 1
 *   A_i           = trained_i − baseline_i = K/(K−1) · (trained_i − mean_j trained_j)
 * The baseline uses no sample's own reward, so A is an unbiased REINFORCE weight; with K = 1 there
 * is no other sample and no baseline (the config rejects it). Plain numbers: no gradient flows
 * through an advantage. rlhf_reward (TRL's objective/rlhf_reward) is reported in both modes, so
 * that RL arms are compared on the same KL-regularised reward.
 */
import type { LossConfig } from "./RunConfig.ts"

export interface ScoredSample {
  /** Samples of one prompt share a group (the prompt id). */
  readonly group: string
  /** The configured reward of the completion. */
  readonly reward: number
  /** Σ_t (log π_old − log π_ref) over its completion tokens (rollout logprob_sum − π_ref's). */
  readonly kl: number
}

export interface Advantage {
  readonly rlhfReward: number
  readonly baseline: number
  readonly advantage: number
}

/** One Advantage per sample, in order. Throws if a group has fewer than 2 samples. */
export const leaveOneOut = (
  samples: ReadonlyArray<ScoredSample>,
  { beta, klMode }: Pick<LossConfig, "beta" | "klMode">
): Array<Advantage> => {
  const rlhf = samples.map((s) => s.reward - beta * s.kl)
  const trained = klMode === "reward" ? rlhf : samples.map((s) => s.reward)
  const sums = new Map<string, { sum: number; k: number }>()
  samples.forEach((s, i) => {
    const g = sums.get(s.group) ?? { sum: 0, k: 0 }
    sums.set(s.group, { sum: g.sum + trained[i]!, k: g.k + 1 })
  })
  return samples.map((s, i) => {
    const { sum, k } = sums.get(s.group)!
    if (k < 2) {
      throw new Error(`prompt ${s.group} has ${k} sample: a leave-one-out baseline needs at least 2 per prompt (sampling.samplesPerPrompt ≥ 2)`)
    }
    const baseline = (sum - trained[i]!) / (k - 1)
    return { rlhfReward: rlhf[i]!, baseline, advantage: trained[i]! - baseline }
  })
}
