/** The objective of every loss name: the one place a loss is chosen (a plain record, never an if-chain). */
import type { RunConfig } from "@odpo/core"
import { hinge, ipo, ppoClip, rdpo, rloo, robust, sft, sigmoid, simpo } from "../losses/index.ts"
import { ktoObjective } from "./Kto.ts"
import type { RoundObjective } from "./Objective.ts"
import { pairwise } from "./Pairwise.ts"
import { policyGradient } from "./PolicyGradient.ts"

export const objectives: { readonly [K in RunConfig.LossName]: (config: RunConfig.LossConfig) => RoundObjective<any> } = {
  sigmoid: pairwise(sigmoid),
  ipo: pairwise(ipo),
  hinge: pairwise(hinge),
  robust: pairwise(robust),
  simpo: pairwise(simpo),
  rdpo: pairwise(rdpo),
  sft: pairwise(sft),
  kto: ktoObjective,
  rloo: policyGradient(rloo),
  ppo_clip: policyGradient(ppoClip)
}

export * from "./Objective.ts"
export { type KtoItem, ktoObjective, labelledExamples } from "./Kto.ts"
export { pairwise } from "./Pairwise.ts"
export { policyGradient, type PolicyGradientItem } from "./PolicyGradient.ts"
export { demonstrationObjective, heldOutNll, sftPlan, sftTraining } from "./Demonstrations.ts"
