/** Per-round evaluation metrics (names as DESIGN.md gives them) from held-out samples. */
import type { Prompt, Rollout, Score, Sequence } from "./Domain.ts"
import type { Probe, Task } from "./tasks/index.ts"
import type { SequenceStats } from "./Trainer.ts"

const mean = (xs: ReadonlyArray<number>) => (xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length)

/**
 * Rewards this close count as a tie in the win rate: |r_π − r_ref| ≤ winTolerance · max(1, |r_π|, |r_ref|).
 * Matched draws of a policy that has barely moved differ in the last bits of float arithmetic
 * (1e-8), which is no win; recorded with each evaluation as eval/win_tolerance.
 */
export const winTolerance = 1e-6

/** 1 for a win of `own` over `ref` beyond the tolerance, 0 for a loss, ½ for a tie. */
export const winOf = (own: number, ref: number): number => {
  const tie = Math.abs(own - ref) <= winTolerance * Math.max(1, Math.abs(own), Math.abs(ref))
  return tie ? 0.5 : own > ref ? 1 : 0
}

/**
 * own[i] and ref[i] are the policy's and π_ref's i-th sample for the same prompt and sample
 * index (same seed), so the win rate compares matched draws: P(r_π > r_ref) + ½ P(tie), a tie
 * being rewards within winTolerance.
 */
export const evaluationMetrics = (
  own: ReadonlyArray<Rollout>,
  ownScores: ReadonlyArray<Score>,
  refScores: ReadonlyArray<Score>,
  stats: ReadonlyArray<SequenceStats>
): Record<string, number> => {
  const wins = ownScores.map((s, i) => winOf(s.reward, refScores[i]!.reward))
  const gold = ownScores.map((s) => s.goldReward).filter((g): g is number => g !== null)
  const refGold = refScores.map((s) => s.goldReward).filter((g): g is number => g !== null)
  const lengths = own.map((r) => r.length)
  const metrics: Record<string, number> = {
    "eval/reward": mean(ownScores.map((s) => s.reward)),
    "eval/win_rate": mean(wins),
    "eval/win_tolerance": winTolerance,
    "objective/kl": mean(stats.map((s) => s.kl)),
    "objective/entropy": mean(stats.map((s) => s.entropy)),
    "eval/length": mean(lengths),
    "eval/eos_rate": mean(own.map((r) => (r.finishReason === "eos" ? 1 : 0))),
    "eval/logp": mean(stats.map((s) => s.logp)),
    "eval/ref_reward": mean(refScores.map((s) => s.reward)),
    "eval/samples": own.length,
    "eval/distinct": new Set(own.map((r) => `${r.promptId}|${r.tokenIds.join(",")}`)).size / Math.max(1, new Set(own.map((r) => r.promptId)).size)
  }
  if (gold.length > 0) metrics["eval/gold_reward"] = mean(gold)
  if (refGold.length > 0) metrics["eval/ref_gold_reward"] = mean(refGold)
  return metrics
}

/** The sequences a task's probes ask about: every probe after every held-out prompt, prompt-major. */
export const probeSequences = (probes: ReadonlyArray<Probe>, prompts: ReadonlyArray<Prompt>): Array<Sequence> =>
  prompts.flatMap((p) => probes.map((probe) => ({ promptTokenIds: p.tokenIds, completionTokenIds: probe.completionTokenIds })))

/**
 * The task's own held-out metrics: its `sampleMetrics` of the evaluated texts, and for each probe
 * `eval/p_<name>` = mean over prompts of π(probe | prompt) = exp of its summed log-prob, exact
 * (read off the policy's distribution). `probeStats` are in probeSequences' order.
 */
export const taskMetrics = (
  task: Task,
  own: ReadonlyArray<Rollout>,
  probeStats: ReadonlyArray<SequenceStats>
): Record<string, number> => {
  const metrics: Record<string, number> = { ...task.sampleMetrics?.(own.map((r) => r.text)) }
  const probes = task.probes ?? []
  probes.forEach((probe, j) => {
    const ps = probeStats.filter((_, i) => i % probes.length === j).map((s) => Math.exp(s.logp))
    metrics[`eval/p_${probe.name}`] = mean(ps)
  })
  return metrics
}
