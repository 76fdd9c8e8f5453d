/** The objective of every loss name: the one place a loss is chosen (a plain record, never an if-chain). */
import type { RunConfig } from "@odpo/core"
import { hinge, ipo, rdpo, robust, sft, sigmoid, simpo } from "../losses/index.ts"
import { ktoObjective } from "./Kto.ts"
import type { RoundObjective } from "./Objective.ts"
import { pairwise } from "./Pairwise.ts"

export const objectives: { readonly [K in RunConfig.LossName]: (config: RunConfig.LossConfig) => RoundObjective<any> } = {
  sigmoid: pairwise(sigmoid),
  ipo: pairwise(ipo),
  hinge: pairwise(hinge),
  robust: pairwise(robust),
  simpo: pairwise(simpo),
  rdpo: pairwise(rdpo),
  sft: pairwise(sft),
  kto: ktoObjective
}

export * from "./Objective.ts"
export { type KtoItem, ktoObjective, labelledExamples } from "./Kto.ts"
export { pairwise } from "./Pairwise.ts"
export { demonstrationObjective, heldOutNll, sftPlan, sftTraining } from "./Demonstrations.ts"
